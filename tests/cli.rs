//! The real `trnsim` binary on real inputs: output, exit codes, and error messages.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn trnsim(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn cast_500_to_e4m3fn_saturates_or_gives_nan() {
    let o = trnsim(
        &[
            "dtype",
            "cast",
            "--to",
            "float8_e4m3fn",
            "--overflow",
            "saturate",
            "500",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "0x7e 448\n");
    let o = trnsim(
        &[
            "dtype",
            "cast",
            "--to",
            "float8_e4m3fn",
            "--overflow",
            "ieee",
            "500",
        ],
        None,
    );
    assert_eq!(stdout(&o), "0x7f nan\n");
}

#[test]
fn cast_accepts_negative_values_hex_bits_and_short_names() {
    let o = trnsim(
        &[
            "dtype",
            "cast",
            "--to",
            "bf16",
            "-1.5",
            "0x3f800001",
            "-inf",
        ],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "0xbfc0 -1.5\n0x3f80 1\n0xff80 -inf\n");
    let o = trnsim(&["dtype", "cast", "--to", "fp32", "0.1"], None);
    assert_eq!(stdout(&o), "0x3dcccccd 0.1\n");
}

#[test]
fn cast_streams_stdin_and_reports_the_bad_line() {
    let o = trnsim(
        &["dtype", "cast", "--to", "fp8_e5m2"],
        Some("1\n0.3\n57344\n1e6\n"),
    );
    assert!(o.status.success());
    assert_eq!(stdout(&o), "0x3c 1\n0x35 0.3125\n0x7b 57344\n0x7c inf\n");
    let o = trnsim(&["dtype", "cast", "--to", "fp8_e5m2"], Some("1\n2\nabc\n"));
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("stdin:3: expected a decimal number"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn stochastic_cast_is_seeded() {
    let input = "1.1\n".repeat(200);
    let run = |seed: &str| {
        stdout(&trnsim(
            &[
                "dtype",
                "cast",
                "--to",
                "fp8_e4m3",
                "--rounding",
                "stochastic",
                "--seed",
                seed,
            ],
            Some(&input),
        ))
    };
    assert_eq!(run("3"), run("3"));
    assert_ne!(run("3"), run("4"));
}

#[test]
fn unknown_dtype_lists_the_valid_ones() {
    let o = trnsim(&["dtype", "cast", "--to", "fp7", "1"], None);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("unknown dtype 'fp7'") && e.contains("float8_e3m4 (fp8_e3m4)"),
        "{e}"
    );
    let o = trnsim(&["dtype", "info", "int4"], None);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(trnsim(&["dtype", "cast", "1"], None).status.code(), Some(2));
    assert_eq!(trnsim(&["frobnicate"], None).status.code(), Some(2));
    assert_eq!(
        trnsim(&["dtype", "info", "--format", "xml"], None)
            .status
            .code(),
        Some(2)
    );
}

/// `dtype info --format json` against ml_dtypes.finfo (tests/golden/numerics/finfo.json).
#[test]
fn dtype_info_matches_ml_dtypes_finfo() {
    let golden: Value = serde_json::from_str(include_str!("golden/numerics/finfo.json")).unwrap();
    let o = trnsim(&["dtype", "info", "--format", "json"], None);
    assert!(o.status.success());
    let rows: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 7);
    for row in rows {
        let name = row["name"].as_str().unwrap();
        let want = &golden[name];
        for key in ["bits", "exponent_bits", "mantissa_bits", "exponent_bias"] {
            assert_eq!(row[key], want[key], "{name}.{key}");
        }
        for key in ["max", "smallest_normal", "smallest_subnormal", "eps"] {
            let (got, want) = (row[key].as_f64().unwrap(), want[key].as_f64().unwrap());
            // Ours is the shortest decimal of the f32; finfo's is the f64 of the same f32 value.
            assert_eq!(got as f32, want as f32, "{name}.{key}");
        }
    }
    let one = trnsim(&["dtype", "info", "fp8_e4m3fn", "--format", "json"], None);
    let v: Value = serde_json::from_str(&stdout(&one)).unwrap();
    assert_eq!(v["has_inf"], Value::Bool(false));
    assert_eq!(v["nan_count"], Value::from(2));
    let csv = stdout(&trnsim(&["dtype", "info", "--format", "csv"], None));
    assert!(csv.starts_with("name,short_name,bits,"), "{csv}");
}

#[test]
fn demo_runs_and_completions_generate() {
    let o = trnsim(&["demo"], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Stochastic rounding"));
    for shell in ["bash", "zsh", "fish"] {
        let o = trnsim(&["completions", shell], None);
        assert!(o.status.success());
        assert!(stdout(&o).contains("trnsim"));
    }
}

#[test]
fn logs_go_to_stderr_only() {
    let o = trnsim(&["-vv", "dtype", "cast", "--to", "bf16"], Some("1\n"));
    assert_eq!(stdout(&o), "0x3f80 1\n");
    assert!(stderr(&o).contains("cast done"), "{}", stderr(&o));
    let o = trnsim(&["-q", "dtype", "cast", "--to", "bf16"], Some("1\n"));
    assert!(stderr(&o).is_empty());
}
