//! `trnsim kernel` as a user runs it: the real binary. Golden timing reports live in
//! `tests/golden/kernels/`; after a deliberate change to the model or a lowering, regenerate
//! them with `TRNSIM_BLESS=1 cargo test --release --test cli_kernel` and review the diff (they
//! are never rewritten otherwise).

mod common;

use common::{text, trnsim};

use std::path::PathBuf;

use serde_json::Value;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/kernels")
}

#[test]
fn list_and_show() {
    let o = trnsim(&["kernel", "list"]);
    assert!(o.status.success());
    let s = text(&o.stdout);
    for k in ["matmul", "softmax", "conv2d", "quantize"] {
        assert!(s.contains(k), "{s}");
    }
    let o = trnsim(&["kernel", "show", "matmul", "--format", "json"]);
    assert!(o.status.success());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v.as_array().unwrap();
    let m = rows.iter().find(|r| r["parameter"] == "m").unwrap();
    assert_eq!(m["default"], "4096");
    assert_eq!(m["valid"], "1..=65536");
}

/// A lowered trace run by `trnsim run` gives the report `kernel run` gives.
#[test]
fn lower_then_run_is_kernel_run() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("mm.trace");
    let spec = "m=256,k=384,n=640,dtype=bfloat16";
    let o = trnsim(&[
        "kernel",
        "lower",
        "matmul",
        "--param",
        spec,
        "--hw",
        "trn1",
        "-o",
        trace.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let a: Value = serde_json::from_slice(
        &trnsim(&[
            "run",
            trace.to_str().unwrap(),
            "--hw",
            "trn1",
            "--no-data",
            "--format",
            "json",
        ])
        .stdout,
    )
    .unwrap();
    let b: Value = serde_json::from_slice(
        &trnsim(&[
            "kernel",
            "run",
            "matmul",
            "--param",
            spec,
            "--hw",
            "trn1",
            "--no-data",
            "--format",
            "json",
        ])
        .stdout,
    )
    .unwrap();
    assert_eq!(a["time_ns"], b["time_ns"]);
    assert_eq!(a["flops"], b["flops"]);
    assert_eq!(b["params"]["k"], "384");
}

#[test]
fn check_passes_and_reports_errors() {
    let o = trnsim(&[
        "kernel",
        "run",
        "softmax",
        "--param",
        "rows=200,cols=300",
        "--check",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["check"]["passed"], true);
    assert!(
        v["check"]["max_rel_err"].as_f64().unwrap() <= v["check"]["tolerance"].as_f64().unwrap()
    );
    let o = trnsim(&["kernel", "run", "softmax", "--check", "--no-data"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn bad_input_exits_2_naming_it() {
    for (args, want) in [
        (vec!["kernel", "run", "matmul", "--param", "m=0"], "'m'"),
        (
            vec!["kernel", "run", "matmul", "--param", "zz=1"],
            "unknown parameter",
        ),
        (
            vec!["kernel", "run", "matmul", "--param", "m"],
            "expected NAME=VALUE",
        ),
        (vec!["kernel", "show", "nope"], "unknown kernel 'nope'"),
        (
            vec![
                "kernel",
                "lower",
                "matmul",
                "--param",
                "m=512,k=65536,n=512,dtype=float32",
                "--hw",
                "trn1",
            ],
            "SBUF",
        ),
        (
            vec!["kernel", "run", "matmul", "--hw-set", "pe.rows=0"],
            "pe.rows",
        ),
    ] {
        let o = trnsim(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = text(&o.stderr);
        assert!(e.contains(want), "{args:?}: {e}");
        assert!(o.stdout.is_empty());
    }
}

/// Golden timing reports: a few kernels on every preset.
#[test]
fn golden_timing_reports() {
    let bless = std::env::var_os("TRNSIM_BLESS").is_some();
    let cases = [
        ("matmul", "m=512,k=1024,n=1024"),
        ("matmul", "m=512,k=1024,n=1024,dtype=float8_e4m3"),
        ("softmax", "rows=512,cols=2048"),
        ("rmsnorm", "rows=512,cols=4096"),
        ("conv2d", "height=28,width=28,channels=128,filters=128"),
    ];
    let mut mismatches = Vec::new();
    for (name, spec) in cases {
        for hw in ["trn1", "trn2", "trn3"] {
            let o = trnsim(&[
                "kernel",
                "run",
                name,
                "--param",
                spec,
                "--hw",
                hw,
                "--no-data",
                "--format",
                "json",
            ]);
            assert!(o.status.success(), "{}", text(&o.stderr));
            let file = golden_dir().join(format!(
                "{name}_{}_{hw}.json",
                spec.replace([',', '='], "_")
            ));
            let got = text(&o.stdout);
            if bless {
                std::fs::create_dir_all(golden_dir()).unwrap();
                std::fs::write(&file, &got).unwrap();
            } else {
                let want = std::fs::read_to_string(&file).unwrap_or_else(|_| {
                    panic!("{} missing: run with TRNSIM_BLESS=1", file.display())
                });
                if want != got {
                    mismatches.push(file.display().to_string());
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "reports changed (TRNSIM_BLESS=1 to accept): {mismatches:?}"
    );
}
