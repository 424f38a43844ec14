//! Output sets are all or nothing (src/atomic.rs), checked on the real binary: a kill at any
//! moment of `plan --out DIR` leaves the previous complete set or the new one; a failure
//! (a name taken by a directory, a directory holding the user's files) exits 2 with every
//! previous file intact and no temporary left.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{root, text, trnsim};

/// Every file of a directory by name, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let bytes = std::fs::read(e.path()).unwrap();
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

/// The names in `dir` besides `keep`.
fn others(dir: &Path, keep: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != keep)
        .collect();
    v.sort();
    v
}

/// `run --output c=a.npy --timeline T` with T taken by a directory: exit 2 naming T, the
/// previous a.npy intact, no temporary; then both written.
#[test]
fn run_outputs_move_together() {
    let dir = tempfile::tempdir().unwrap();
    let (npy, timeline) = (dir.path().join("a.npy"), dir.path().join("t.json"));
    std::fs::write(&npy, "previous").unwrap();
    std::fs::create_dir(&timeline).unwrap();
    let trace = root().join("traces/matmul_tile.trace");
    let args = [
        "run",
        trace.to_str().unwrap(),
        "--output",
        &format!("c={}", npy.display()),
        "--timeline",
        timeline.to_str().unwrap(),
    ];
    let o = trnsim(&args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert!(e.contains("t.json: is a directory"), "{e}");
    assert_eq!(std::fs::read(&npy).unwrap(), b"previous");
    assert_eq!(others(dir.path(), ""), ["a.npy", "t.json"]);
    std::fs::remove_dir(&timeline).unwrap();
    let o = trnsim(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(std::fs::read(&npy).unwrap().starts_with(b"\x93NUMPY"));
    let t: serde_json::Value = serde_json::from_slice(&std::fs::read(&timeline).unwrap()).unwrap();
    assert!(t.is_object() || t.is_array());
    assert_eq!(others(dir.path(), ""), ["a.npy", "t.json"]);
}

/// `--out DIR` replaces DIR as a whole, so a DIR holding anything trnsim did not write (a
/// note, a directory where summary.json goes) is refused, exit 2, and left as it was.
#[test]
fn plan_out_never_removes_the_users_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(out.join("summary.json")).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let scenario = root().join("scenarios/demo-small.toml");
    let args = [
        "-q",
        "plan",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let o = trnsim(&args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let e = text(&o.stderr);
    assert!(
        e.contains("out: holds entries this command did not write (notes.txt, summary.json/)"),
        "{e}"
    );
    assert_eq!(others(&out, ""), ["notes.txt", "summary.json"]);
    assert_eq!(others(dir.path(), ""), ["out"]);
    // Emptied, it is replaced; a second run replaces the first's set (its manifest lists it).
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::create_dir(&out).unwrap();
    for _ in 0..2 {
        let o = trnsim(&args);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(out.join("report.html").is_file());
        assert_eq!(others(dir.path(), ""), ["out"]);
    }
}

#[cfg(target_os = "linux")]
mod kills {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    const SCENARIO: &str = "scenarios/demo-small.toml";

    fn plan(seed: u64, out: &Path) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_trnsim"));
        c.current_dir(root())
            .args(["-q", "plan", SCENARIO, "--seed", &seed.to_string(), "--out"])
            .arg(out)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    fn complete(seed: u64, out: &Path) -> Duration {
        let t = Instant::now();
        assert!(plan(seed, out).status().unwrap().success());
        t.elapsed()
    }

    /// Where a kill landed, told by what it left.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Landed {
        Before,
        Writing,
        After,
    }

    /// 20 kills (SIGINT and SIGKILL alternately) of a real `plan --out DIR` at pseudo-random
    /// delays, the window narrowing onto the write phase (a kill before it moves the window
    /// later, a finished run earlier). After each: DIR is the previous set or the new one byte
    /// for byte (each the output of a reference run); after SIGINT no temporary remains; after
    /// SIGKILL only the killed PID's, removed by the next run.
    #[test]
    fn kills_during_plan_out_leave_the_previous_set_or_the_new_one() {
        let start = Instant::now();
        let refs = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let out = work.path().join("out");
        let sets = [refs.path().join("s1"), refs.path().join("s2")];
        let mut run_ns = 0;
        for (i, s) in sets.iter().enumerate() {
            run_ns += complete(i as u64 + 1, s).as_nanos() as u64;
        }
        run_ns += complete(1, &out).as_nanos() as u64;
        run_ns /= 3;
        let sets = sets.map(|s| files(&s));
        assert_ne!(sets[0], sets[1]);
        assert_eq!(files(&out), sets[0]);
        let (mut lo, mut hi) = (run_ns / 3, run_ns * 3 / 2);
        let mut rng: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut landed = Vec::new();
        let mut dead = Vec::new();
        for i in 0..20 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let delay_ns = lo + rng % (hi - lo).max(1);
            let prev = if files(&out) == sets[0] { 0 } else { 1 };
            let mut child = plan(2 - prev as u64, &out).spawn().unwrap();
            std::thread::sleep(Duration::from_nanos(delay_ns));
            let sig = if i % 2 == 0 {
                libc::SIGINT
            } else {
                libc::SIGKILL
            };
            // SAFETY: a signal to our own child, not yet reaped.
            unsafe { libc::kill(child.id() as i32, sig) };
            let status = child.wait().unwrap();
            let now = files(&out);
            assert!(
                now == sets[prev] || now == sets[1 - prev],
                "kill {i} ({sig} after {delay_ns} ns, {status:?}) left a mix: {:?}",
                now.keys().collect::<Vec<_>>()
            );
            // What SIGKILLed runs left stays until a later run reaches its write phase.
            let left: Vec<String> = others(work.path(), "out")
                .into_iter()
                .filter(|n| !dead.contains(n))
                .collect();
            let pid = child.id();
            if sig == libc::SIGINT || status.code().is_some() {
                assert!(left.is_empty(), "kill {i} ({status:?}) left {left:?}");
            } else {
                let ok = [format!(".out.tmp{pid}"), format!(".out.old{pid}")];
                dead.extend(ok.iter().cloned());
                assert!(
                    left.iter().all(|n| ok.contains(n)),
                    "kill {i} left {left:?}"
                );
            }
            let code = status.code();
            assert!(
                matches!(code, Some(0 | 130)) || status.signal() == Some(sig),
                "kill {i}: {status:?}"
            );
            let l = if code == Some(0) {
                Landed::After
            } else if code == Some(130) || !left.is_empty() || now != sets[prev] {
                Landed::Writing
            } else {
                Landed::Before
            };
            match l {
                Landed::Before => lo = delay_ns,
                Landed::After => hi = delay_ns,
                Landed::Writing => {}
            }
            (lo, hi) = (lo * 9 / 10, hi * 11 / 10);
            landed.push(l);
        }
        // A complete run removes what the SIGKILLed runs left.
        complete(1, &out);
        assert_eq!(files(&out), sets[0]);
        assert_eq!(others(work.path(), "out"), Vec::<String>::new());
        let count = |l| landed.iter().filter(|&&x| x == l).count();
        let summary = format!(
            "kills: {} before the write phase, {} during, {} after; {:?}",
            count(Landed::Before),
            count(Landed::Writing),
            count(Landed::After),
            start.elapsed()
        );
        eprintln!("{summary}");
        // Without a kill inside the write phase the test would prove nothing.
        assert!(count(Landed::Writing) >= 1, "{summary}");
    }
}

/// A target that is a device (here a symlink to /dev/null, so a regression replaces the link,
/// not the machine's /dev/null) is written in place: renaming a temporary over it would turn
/// the device node into a regular file, as it once did to /dev/null.
#[cfg(unix)]
#[test]
fn a_device_target_is_written_in_place_not_replaced() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("null");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    let trace = root().join("traces/gelu.trace");
    let o = trnsim(&[
        "run",
        trace.to_str().unwrap(),
        "--timeline",
        link.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let m = std::fs::symlink_metadata(&link).unwrap();
    assert!(m.file_type().is_symlink(), "the link was replaced: {m:?}");
    let dev = std::fs::metadata(&link).unwrap();
    assert!(dev.file_type().is_char_device(), "{dev:?}");
    assert_eq!(others(dir.path(), "null"), Vec::<String>::new());
}
