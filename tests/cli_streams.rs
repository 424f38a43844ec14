//! The binary's streams and exit codes: errors keep exit 2 whatever happens to stderr, a broken
//! pipe ends quietly with 141, a closed or full stdout is an error, and logging (`-v`) goes to
//! stderr without touching stdout.

mod common;

use std::fs::File;
use std::process::{Command, Output, Stdio};

use common::{root, text, trnsim};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trnsim"));
    c.current_dir(root()).env_remove("RUST_LOG");
    c
}

/// Bad input with stderr on /dev/full: the message cannot be written, the exit code is still 2
/// (it was 101: `eprintln!` panicked).
#[test]
fn bad_input_exits_2_with_stderr_full() {
    for args in [
        &["run", "traces/no-such.trace"][..],
        &["hw", "show", "--hw", "trn9"],
        &["plan", "scenarios/no-such.toml"],
    ] {
        let o = bin()
            .args(args)
            .stderr(File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
}

/// A warning on a full stderr is lost quietly: the run succeeds.
#[test]
fn warnings_on_full_stderr_do_not_fail() {
    let o = bin()
        .args(["-v", "hw", "list"])
        .stderr(File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o.stdout).contains("trn2"));
}

/// stdout on a pipe whose reader has gone (`trnsim ... | head` once head exits).
#[cfg(target_os = "linux")]
fn to_broken_pipe(args: &[&str]) -> Output {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: pipe() fills two new descriptors, each then owned once.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    bin()
        .args(args)
        .stdout(Stdio::from(write))
        .output()
        .unwrap()
}

/// A broken pipe ends the process quietly with 141 (128 + SIGPIPE, what a shell shows for a
/// filter SIGPIPE ended): `completions` used to panic (exit 101), table output too.
#[cfg(target_os = "linux")]
#[test]
fn broken_pipe_exits_141_quietly() {
    for args in [
        &["completions", "bash"][..],
        &["hw", "list"],
        &["run", "traces/gelu.trace", "--no-data"],
    ] {
        let o = to_broken_pipe(args);
        assert_eq!(o.status.code(), Some(141), "{args:?}: {}", text(&o.stderr));
        assert_eq!(text(&o.stderr), "", "{args:?}");
    }
}

/// stdout closed (`>&-`): an error naming stdout, exit 2 (it was 0 with the output lost).
#[cfg(target_os = "linux")]
#[test]
fn closed_stdout_is_an_error() {
    let o = Command::new("sh")
        .args([
            "-c",
            "exec \"$0\" hw list >&-",
            env!("CARGO_BIN_EXE_trnsim"),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("trnsim: error: ") && err.contains("stdout"),
        "{err}"
    );
}

/// stdout on a full device: an error naming stdout, exit 2.
#[test]
fn full_stdout_is_an_error() {
    let o = bin()
        .args(["hw", "list"])
        .stdout(File::create("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("writing to stdout"),
        "{}",
        text(&o.stderr)
    );
}

/// `-v` logs one line per stage (what it handled, how long) on stderr; stdout is unchanged, and
/// without `-v` stderr stays empty.
#[test]
fn verbose_run_logs_each_stage() {
    let args = ["run", "traces/matmul_k_accumulate.trace"];
    let quiet = trnsim(&args);
    assert!(quiet.status.success());
    assert_eq!(text(&quiet.stderr), "");
    let o = trnsim(&[&["-v"][..], &args].concat());
    assert!(o.status.success());
    assert_eq!(o.stdout, quiet.stdout, "-v changed stdout");
    let err = text(&o.stderr);
    for stage in [
        "read: ",
        "parse: ",
        "check: ",
        "plan: ",
        "simulate: ",
        "execute: ",
        "write: ",
    ] {
        let line = err
            .lines()
            .find(|l| l.contains(&format!("INFO trnsim: {stage}")));
        let line = line.unwrap_or_else(|| panic!("no '{stage}' line in:\n{err}"));
        assert!(line.ends_with(" ms"), "{line}");
    }
    assert!(err.contains("instructions"), "{err}");
    assert!(!err.contains("DEBUG"), "{err}");
    let vv = text(&trnsim(&[&["-vv"][..], &args].concat()).stderr);
    assert!(vv.contains("DEBUG") && vv.contains("hw=trn2"), "{vv}");
}

/// `-v plan`: the fleet pipeline's stages (file -> resolved scenario -> engine -> report).
#[test]
fn verbose_plan_logs_each_stage() {
    let o = trnsim(&["-v", "plan", "scenarios/demo-small.toml"]);
    assert!(o.status.success());
    let err = text(&o.stderr);
    for stage in [
        "read",
        "resolve",
        "workloads",
        "simulate",
        "write",
        "report",
    ] {
        assert!(
            err.contains(&format!("INFO trnsim: {stage}: ")),
            "{stage}: {err}"
        );
    }
    assert!(err.contains(" events in "), "{err}");
    // -q keeps the scenario's warning and the stage lines off stderr.
    let q = trnsim(&["-q", "plan", "scenarios/demo-small.toml"]);
    assert_eq!(text(&q.stderr), "");
    assert_eq!(q.stdout, o.stdout);
}

/// `hw show` keeps every preset number's citation: as a comment in the TOML (which stays a
/// valid --hw file) and as `sources` in the JSON; --hw-set fields say so.
#[test]
fn hw_show_keeps_the_sources() {
    let toml = text(&trnsim(&["hw", "show", "--hw", "trn2"]).stdout);
    assert!(toml.starts_with("# Trn2: "), "{toml}");
    let rows = toml.lines().find(|l| l.starts_with("rows = ")).unwrap();
    assert!(rows.ends_with("# PE array 128 x 128 [ARCH-V3]"), "{rows}");
    for l in toml.lines().filter(|l| l.contains(" = ")) {
        assert!(l.contains(" # "), "no source: {l}");
    }
    let o = trnsim(&[
        "hw",
        "show",
        "--hw",
        "trn2",
        "--hw-set",
        "pe.rows=256",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pe"]["rows"], 256);
    assert_eq!(v["sources"]["pe.rows"], "--hw-set");
    assert_eq!(
        v["sources"]["pe.clock_mhz"],
        "tensor engine 2.4 GHz [ARCH-V3]"
    );
    let legend = v["sources_legend"].as_array().unwrap();
    assert!(
        legend
            .iter()
            .any(|l| l.as_str().unwrap().contains("[ARCH-V3]"))
    );
}

/// Utilisations: fractions (0..1) in JSON and CSV, percents in tables with `%` in the header.
#[test]
fn utilisation_is_a_fraction_in_json_and_a_percent_in_tables() {
    let args = ["run", "traces/matmul_k_accumulate.trace", "--no-data"];
    let j = trnsim(&[&args[..], &["--format", "json"]].concat());
    let v: serde_json::Value = serde_json::from_slice(&j.stdout).unwrap();
    let dma = v["engines"]["dma"]["active"].as_f64().unwrap();
    assert!(dma > 0.01 && dma <= 1.0, "{dma}");
    assert!(v["engines"]["dma"].get("active_pct").is_none());
    let csv = text(&trnsim(&[&args[..], &["--format", "csv"]].concat()).stdout);
    assert!(
        csv.contains(",dma_active,") && !csv.contains("_pct"),
        "{csv}"
    );
    let table = text(&trnsim(&args).stdout);
    let cells: Vec<&str> = (table.lines())
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|c| c.len() == 4 && c[0] == "dma" && c[1].parse::<f64>().is_ok())
        .unwrap();
    let shown: f64 = cells[2].parse().unwrap();
    assert!((shown - 100.0 * dma).abs() <= 0.051, "{shown} vs {dma}");
    assert!(table.contains("active_%"), "{table}");
    let m = [
        "model",
        "run",
        "llama3-8b",
        "--phase",
        "decode",
        "--batch",
        "1",
        "--context",
        "128",
    ];
    let csv = text(&trnsim(&[&m[..], &["--format", "csv"]].concat()).stdout);
    let header = csv.lines().next().unwrap();
    assert!(header.contains(",share,mfu,mbu,"), "{header}");
    let table = text(&trnsim(&m).stdout);
    assert!(
        table.contains("mfu_%") && !table.contains("_pct"),
        "{table}"
    );
}

/// Run `trnsim FLAG ARGS` with stderr on a terminal (a pty from `script`), progress drawn at
/// once; what the terminal showed. Stdout must be `plain`'s, byte for byte.
fn on_tty(args: &[&str], flag: &str, plain: &Output) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let cmd = format!(
        "TRNSIM_PROGRESS_DELAY_MS=0 '{}' {flag} {} > '{}'",
        env!("CARGO_BIN_EXE_trnsim"),
        args.join(" "),
        out.display()
    );
    let o = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .current_dir(root())
        .output()
        .expect("script (util-linux) runs");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        std::fs::read(&out).unwrap(),
        plain.stdout,
        "progress changed stdout"
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A run with values draws a progress bar on a terminal's stderr, none when stderr is not a
/// terminal or with -q; stdout is the same either way.
#[cfg(target_os = "linux")]
#[test]
fn progress_bar_only_on_a_terminal_and_stdout_unchanged() {
    let args = ["kernel", "run", "matmul", "--param", "m=512,k=1024,n=1024"];
    let plain = trnsim(&args);
    assert!(plain.status.success());
    assert_eq!(text(&plain.stderr), "", "a bar without a terminal");
    let tty = on_tty(&args, "", &plain);
    assert!(tty.contains("instructions executed"), "{tty:?}");
    // Lowering comes before the bar; the stages under it show no spinner.
    assert!(tty.contains("lower, "), "{tty:?}");
    assert!(
        !tty.contains("execute, ") && !tty.contains("check, "),
        "{tty:?}"
    );
    let quiet = on_tty(&args, "-q", &plain);
    assert!(!quiet.contains("instructions executed"), "{quiet:?}");
}

/// Work without a count (a `--no-data` run) shows a spinner naming each stage on a terminal;
/// not with `-q`, not with `-v` (whose stage lines are the progress), and never on stdout.
#[cfg(target_os = "linux")]
#[test]
fn stages_without_a_count_show_a_spinner_naming_them() {
    let args = ["run", "traces/layernorm.trace", "--no-data"];
    let plain = trnsim(&args);
    assert!(plain.status.success());
    let tty = on_tty(&args, "", &plain);
    for stage in ["read, ", "parse, ", "check, ", "plan, ", "simulate, "] {
        assert!(tty.contains(stage), "{stage} in {tty:?}");
    }
    assert!(!on_tty(&args, "-q", &plain).contains("parse, "));
    let verbose = on_tty(&args, "-v", &plain);
    assert!(
        !verbose.contains("parse, ") && verbose.contains("parse: "),
        "{verbose:?}"
    );
}
