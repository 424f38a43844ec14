//! Fuzzing every input surface on the stable toolchain: proptest-driven mutation of the shipped
//! examples (traces, scenarios, hardware TOML, SCALE-Sim config and topology, `.npy`, a sweep
//! shard's `runs.json`), each mutant run through the real binary as a user would.
//!
//! Lifecycle of one case: the surface's seed files are copied into a fresh directory, one of them
//! is mutated by a short list of edits (bit flips, byte edits, deletions, insertions of tokens
//! that break parsers and limits: huge integers, NaN, invalid UTF-8, deep dotted keys, duplicated
//! or dropped lines), the command runs with a time limit, and the outcome is judged. A mutant may
//! be valid or not; whatever it is, trnsim must end by itself within the limit with exit 0, 1 or
//! 2, never panic or die of a signal (an abort on a huge allocation is a signal), and an exit 2
//! must say `trnsim: error:` and name the file it could not take.
//!
//! The mutation sequence is deterministic (a fixed ChaCha seed), so CI runs the same cases every
//! time; `TRNSIM_FUZZ_CASES=N` runs N cases per surface (default 12) and `TRNSIM_FUZZ_SEED=S`
//! another sequence, for longer campaigns by hand. A failure is shrunk to its smallest edit list
//! and printed; pin it as a named test in the test file of the module that failed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// How long a mutant may run: valid inputs here are small, so anything near this is a defect
/// (an unbounded loop or allocation), not a slow machine.
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// Tokens that break parsers and size checks.
const TOKENS: &[&str] = &[
    "18446744073709551615",
    "9223372036854775808",
    "4294967296",
    "99999999999",
    "-1",
    "0",
    "-0",
    "1e308",
    "nan",
    "inf",
    "\"",
    "[",
    "]",
    "[[",
    "=",
    ".",
    ",",
    "\n",
    "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a",
    "\u{0}",
    "\u{feff}",
    "é",
];

/// One edit of a file's bytes. Positions are taken modulo the length, so any edit applies to
/// any file.
#[derive(Debug, Clone)]
enum Edit {
    Flip {
        at: usize,
        bit: u8,
    },
    Byte {
        at: usize,
        value: u8,
    },
    Delete {
        at: usize,
        len: usize,
    },
    Insert {
        at: usize,
        token: usize,
    },
    /// Replace the `k`-th run of digits with a token.
    Number {
        k: usize,
        token: usize,
    },
    /// Invalid UTF-8 at a position.
    BadUtf8 {
        at: usize,
    },
    DuplicateLine {
        line: usize,
    },
    DropLine {
        line: usize,
    },
    Truncate {
        at: usize,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    let at = 0..1_000_000usize;
    let token = 0..TOKENS.len();
    prop_oneof![
        (at.clone(), 0..8u8).prop_map(|(at, bit)| Edit::Flip { at, bit }),
        (at.clone(), any::<u8>()).prop_map(|(at, value)| Edit::Byte { at, value }),
        (at.clone(), 1..64usize).prop_map(|(at, len)| Edit::Delete { at, len }),
        (at.clone(), token.clone()).prop_map(|(at, token)| Edit::Insert { at, token }),
        (0..64usize, token).prop_map(|(k, token)| Edit::Number { k, token }),
        at.clone().prop_map(|at| Edit::BadUtf8 { at }),
        (0..400usize).prop_map(|line| Edit::DuplicateLine { line }),
        (0..400usize).prop_map(|line| Edit::DropLine { line }),
        at.prop_map(|at| Edit::Truncate { at }),
    ]
}

fn apply(bytes: &mut Vec<u8>, e: &Edit) {
    let n = bytes.len().max(1);
    match *e {
        Edit::Flip { at, bit } if !bytes.is_empty() => bytes[at % n] ^= 1 << bit,
        Edit::Byte { at, value } if !bytes.is_empty() => bytes[at % n] = value,
        Edit::Delete { at, len } if !bytes.is_empty() => {
            let a = at % n;
            bytes.drain(a..(a + len).min(bytes.len()));
        }
        Edit::Insert { at, token } => {
            let a = at % (bytes.len() + 1);
            bytes.splice(a..a, TOKENS[token].bytes());
        }
        Edit::Number { k, token } => {
            let runs: Vec<(usize, usize)> = digit_runs(bytes).collect();
            if let Some(&(a, b)) = runs.get(k % runs.len().max(1)) {
                bytes.splice(a..b, TOKENS[token].bytes());
            }
        }
        Edit::BadUtf8 { at } => {
            let a = at % (bytes.len() + 1);
            bytes.splice(a..a, [0xff, 0xc3]);
        }
        Edit::DuplicateLine { line } | Edit::DropLine { line } => {
            let lines: Vec<&[u8]> = bytes.split_inclusive(|&c| c == b'\n').collect();
            if lines.is_empty() {
                return;
            }
            let l = line % lines.len();
            let mut out: Vec<u8> = Vec::with_capacity(bytes.len() + lines[l].len());
            for (i, x) in lines.iter().enumerate() {
                let copies = match (e, i == l) {
                    (_, false) => 1,
                    (Edit::DuplicateLine { .. }, true) => 2,
                    _ => 0,
                };
                for _ in 0..copies {
                    out.extend_from_slice(x);
                }
            }
            *bytes = out;
        }
        Edit::Truncate { at } => bytes.truncate(at % n),
        _ => {}
    }
}

fn digit_runs(bytes: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() && !bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i >= bytes.len() {
            return None;
        }
        let a = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        Some((a, i))
    })
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// An input surface: the files a command reads, the one the fuzzer mutates, and the command.
struct Surface {
    name: &'static str,
    /// (name in the case directory, contents).
    files: Vec<(&'static str, Vec<u8>)>,
    /// Index into `files` of the file to mutate.
    target: usize,
    /// The command's arguments, run in the case directory.
    args: Vec<String>,
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// A valid little-endian `.npy` (version 1.0) of `shape` float32 values.
fn npy_f32(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({},), }}",
        dims.join(", ")
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    let count: usize = shape.iter().product();
    for i in 0..count {
        out.extend_from_slice(&((i % 17) as f32 * 0.25 - 2.0).to_le_bytes());
    }
    out
}

const INPUT_TRACE: &str = "trnsim-trace 1\nkernel scale\n\
buffer x hbm fp32 [128, 64] input\nbuffer y hbm fp32 [128, 64] zeros\n\
buffer t sbuf fp32 [128, 64] zeros\n\
dma_copy dst=t[0:128, 0:64] src=x[0:128, 0:64]\n\
activation func=exp dst=t[0:128, 0:64] src=t[0:128, 0:64] scale=1 bias=0\n\
dma_copy dst=y[0:128, 0:64] src=t[0:128, 0:64]\n";

fn read(rel: &str) -> Vec<u8> {
    fs::read(repo(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn surfaces() -> Vec<Surface> {
    let matmul = read("traces/matmul_tile.trace");
    vec![
        Surface {
            name: "trace",
            files: vec![("k.trace", read("traces/softmax_rows.trace"))],
            target: 0,
            args: args(&["run", "k.trace", "--hw", "trn2"]),
        },
        Surface {
            name: "scenario",
            files: vec![("s.toml", read("scenarios/demo-small.toml"))],
            target: 0,
            args: args(&["plan", "s.toml"]),
        },
        Surface {
            name: "hardware",
            files: vec![
                ("hw.toml", read("src/arch/presets/trn2.toml")),
                ("k.trace", matmul),
            ],
            target: 0,
            args: args(&["run", "k.trace", "--hw", "hw.toml", "--no-data"]),
        },
        Surface {
            name: "scalesim-config",
            files: vec![
                ("a.cfg", read("tests/data/systolic/scale.cfg")),
                ("t.csv", read("tests/data/systolic/gemm_square.csv")),
            ],
            target: 0,
            args: args(&["systolic", "--config", "a.cfg", "--topology", "t.csv"]),
        },
        Surface {
            name: "scalesim-topology",
            files: vec![
                ("a.cfg", read("tests/data/systolic/scale.cfg")),
                ("t.csv", read("tests/data/systolic/yolo_tiny.csv")),
            ],
            target: 1,
            args: args(&["systolic", "--config", "a.cfg", "--topology", "t.csv"]),
        },
        Surface {
            name: "npy",
            files: vec![
                ("x.npy", npy_f32(&[128, 64])),
                ("k.trace", INPUT_TRACE.as_bytes().to_vec()),
            ],
            target: 0,
            args: args(&["run", "k.trace", "--input", "x=x.npy"]),
        },
    ]
}

/// How one run ended.
struct Outcome {
    code: Option<i32>,
    stderr: String,
    took: Duration,
}

fn run_in(dir: &Path, args: &[String]) -> Outcome {
    let err_path = dir.join(".stderr");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("spawn trnsim");
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break Some(s);
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Outcome {
        code: status.and_then(|s| s.code()),
        stderr: String::from_utf8_lossy(&fs::read(&err_path).unwrap_or_default()).into_owned(),
        took: started.elapsed(),
    }
}

/// The judgement of one outcome (None: acceptable).
fn defect(o: &Outcome, mutated: &str) -> Option<String> {
    if o.took > TIME_LIMIT {
        return Some(format!("still running after {TIME_LIMIT:?}"));
    }
    if o.stderr.contains("panicked") {
        return Some(format!("panicked: {}", o.stderr));
    }
    match o.code {
        None => Some(format!("killed by a signal; stderr: {}", o.stderr)),
        Some(0 | 1) => None,
        Some(2) if !o.stderr.contains("trnsim: error:") => {
            Some(format!("exit 2 without an error line: {}", o.stderr))
        }
        Some(2) if !o.stderr.contains(mutated) => Some(format!(
            "exit 2 without naming the file '{mutated}': {}",
            o.stderr
        )),
        Some(2) => None,
        Some(c) => Some(format!("exit {c}; stderr: {}", o.stderr)),
    }
}

fn cases() -> u32 {
    std::env::var("TRNSIM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12)
}

fn runner(salt: u64) -> TestRunner {
    let seed = std::env::var("TRNSIM_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        ^ salt;
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 64,
        ..Config::default()
    };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
}

/// Fuzz one surface: every case in a fresh directory; a defect fails the test with the shrunk
/// edit list.
fn fuzz(s: &Surface, salt: u64) {
    let root = tempfile::tempdir().expect("tempdir");
    let mut runner = runner(salt);
    let strategy = proptest::collection::vec(edit(), 1..4);
    let result = runner.run(&strategy, |edits| {
        let dir = tempfile::tempdir_in(root.path()).expect("case dir");
        for (i, (name, bytes)) in s.files.iter().enumerate() {
            let mut b = bytes.clone();
            if i == s.target {
                for e in &edits {
                    apply(&mut b, e);
                }
            }
            fs::write(dir.path().join(name), b).expect("write case file");
        }
        let o = run_in(dir.path(), &s.args);
        match defect(&o, s.files[s.target].0) {
            None => Ok(()),
            Some(why) => Err(TestCaseError::fail(why)),
        }
    });
    if let Err(e) = result {
        panic!(
            "fuzzing the {} surface (trnsim {}): {e}",
            s.name,
            s.args.join(" ")
        );
    }
}

#[test]
fn mutants_of_every_shipped_input_end_cleanly() {
    for (salt, s) in surfaces().iter().enumerate() {
        fuzz(s, salt as u64);
    }
}

/// A sweep shard's `runs.json`, mutated, through `sweep merge`.
#[test]
fn mutated_shards_are_refused_or_merged_never_crash() {
    let base = tempfile::tempdir().expect("tempdir");
    for i in 0..2 {
        let out = base.path().join(format!("shard{i}"));
        let status = Command::new(env!("CARGO_BIN_EXE_trnsim"))
            .args(["-q", "sweep"])
            .arg(repo("scenarios/demo-small.toml"))
            .args(["--vary", "tenants.anchor.reservation.trn2.chips=256,512"])
            .args(["--seeds", "2", "--shard", &format!("{i}/2"), "--out"])
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .expect("run sweep");
        assert!(status.success(), "sweep shard {i}: {status}");
    }
    let runs = fs::read(base.path().join("shard0/runs.json")).expect("runs.json");
    let other = base.path().join("shard1");
    let mut runner = runner(99);
    let strategy = proptest::collection::vec(edit(), 1..4);
    let result = runner.run(&strategy, |edits| {
        let dir = tempfile::tempdir_in(base.path()).expect("case dir");
        let shard = dir.path().join("mutated");
        fs::create_dir(&shard).expect("shard dir");
        let mut b = runs.clone();
        for e in &edits {
            apply(&mut b, e);
        }
        fs::write(shard.join("runs.json"), b).expect("write runs.json");
        let args = vec![
            "sweep".to_string(),
            "merge".to_string(),
            shard.display().to_string(),
            other.display().to_string(),
        ];
        let o = run_in(dir.path(), &args);
        match defect(&o, "mutated") {
            None => Ok(()),
            Some(why) => Err(TestCaseError::fail(why)),
        }
    });
    if let Err(e) = result {
        panic!("fuzzing sweep merge: {e}");
    }
}

#[test]
fn the_edits_do_what_they_say() {
    let mut b = b"a = 12\nb = 7\n".to_vec();
    apply(&mut b, &Edit::Number { k: 1, token: 0 });
    assert_eq!(b, b"a = 12\nb = 18446744073709551615\n");
    apply(&mut b, &Edit::DropLine { line: 0 });
    assert_eq!(b, b"b = 18446744073709551615\n");
    apply(&mut b, &Edit::DuplicateLine { line: 0 });
    assert_eq!(
        b,
        b"b = 18446744073709551615\nb = 18446744073709551615\n".to_vec()
    );
    let mut c = b"xy".to_vec();
    apply(&mut c, &Edit::BadUtf8 { at: 1 });
    assert_eq!(c, [b'x', 0xff, 0xc3, b'y']);
    apply(&mut c, &Edit::Truncate { at: 2 });
    assert_eq!(c, [b'x', 0xff]);
    let npy = npy_f32(&[2, 3]);
    assert_eq!(&npy[..6], b"\x93NUMPY");
    assert_eq!((npy.len() - 24) % 64, 0, "header padded to 64 bytes");
}
