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
        .args(["-c", "exec \"$0\" hw list >&-", env!("CARGO_BIN_EXE_trnsim")])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(err.contains("trnsim: error: ") && err.contains("stdout"), "{err}");
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
    assert!(text(&o.stderr).contains("writing to stdout"), "{}", text(&o.stderr));
    let _ = trnsim;
}
