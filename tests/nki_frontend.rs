//! The NKI front end's own tests (`python/tests`, standard-library unittest) run from the crate
//! root, so `cargo test` covers the Python side too. Needs `python3` (or `$TRNSIM_PYTHON`).

use std::process::Command;

#[test]
fn python_unit_tests_pass() {
    let root = env!("CARGO_MANIFEST_DIR");
    let python = std::env::var("TRNSIM_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let out = Command::new(&python)
        .args([
            "-m",
            "unittest",
            "discover",
            "-s",
            "python/tests",
            "-t",
            "python",
        ])
        .current_dir(root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        out.status.success(),
        "python unit tests failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // unittest prints "Ran N tests" on stderr; a discovery that finds nothing is a failure too.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("Ran 0 tests"),
        "no python tests were discovered:\n{err}"
    );
}
