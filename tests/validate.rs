//! `trnsim validate`, run as the real binary: every published measurement runs and gives a model
//! value, the rows cover trainium.md section 7, `docs/validation.md` is the command's current
//! output, and one independent check per kind of row (a trace's DMA transfer and ScalarE chain
//! against the preset's figures, an NKI row against `trnsim nki` run on the repository's example
//! of the same loop nest).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Run the binary from the repository root; its stdout (it must exit 0).
fn trnsim(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "trnsim {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The rows of `trnsim validate --format json`, by id, with the report.
fn validate_json(args: &[&str]) -> Value {
    let mut all = vec!["validate", "--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&trnsim(&all)).expect("the report is JSON")
}

fn model(report: &Value, id: &str) -> f64 {
    report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|o| o["row"]["id"] == id)
        .unwrap_or_else(|| panic!("no row '{id}'"))["model"]
        .as_f64()
        .expect("a number")
}

/// A number of a preset file, `[section] key`.
fn preset(hw: &str, section: &str, key: &str) -> f64 {
    let path = root().join(format!("src/arch/presets/{hw}.toml"));
    let text = std::fs::read_to_string(&path).expect("the preset reads");
    let v: toml::Value = toml::from_str(&text).expect("the preset parses");
    let x = &v[section][key];
    x.as_float()
        .or_else(|| x.as_integer().map(|i| i as f64))
        .unwrap_or_else(|| panic!("{hw}.toml [{section}] {key}"))
}

#[test]
fn every_row_runs_covers_section_7_and_the_page_is_current() {
    let report = validate_json(&[]);
    let rows = report["rows"].as_array().expect("rows");
    let ids: Vec<&str> = rows
        .iter()
        .map(|o| o["row"]["id"].as_str().expect("id"))
        .collect();
    // One row per number of trainium.md section 7's table.
    let section_7 = [
        "tut-opt3",
        "tut-opt2",
        "tut-opt1",
        "autocomp-gemm",
        "attention-fwd-4096",
        "scalar-chain-interval",
        "dma-one-engine-32k",
        "kopt-naive-tensor",
        "kopt-naive-dma",
        "kopt-final-tensor",
        "kopt-final-dma",
        "kopt-final-vector",
    ];
    // Read off the same guide's profile screenshots: device times and the PE's active time.
    let screenshots = [
        "kopt-naive-time",
        "kopt-hoisted-time",
        "kopt-hoisted-tensor",
        "kopt-hoisted-dma",
        "kopt-final-time",
        "kopt-final-tensor-time",
    ];
    assert_eq!(ids, [&section_7[..], &screenshots[..]].concat());
    for o in rows {
        let m = o["model"].as_f64().expect("model");
        assert!(
            m.is_finite() && m > 0.0,
            "row {}: model {m}",
            o["row"]["id"]
        );
    }
    // The compiler-scheduled naive kernels are flagged, the rest judged.
    let flagged: Vec<&str> = rows
        .iter()
        .filter(|o| o["status"] == "flagged")
        .map(|o| o["row"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        flagged,
        [
            "tut-opt2",
            "tut-opt1",
            "kopt-naive-tensor",
            "kopt-naive-dma",
            "kopt-naive-time"
        ]
    );
    let page = std::fs::read_to_string(root().join("docs/validation.md")).expect("page reads");
    let now = trnsim(&["validate", "--format", "markdown"]);
    assert!(
        page == now,
        "docs/validation.md is not the current output; regenerate it with \
         `cargo run --release -- validate --format markdown > docs/validation.md`"
    );
}

#[test]
fn the_32k_dma_row_is_the_analytic_transfer_on_trn2() {
    let report = validate_json(&["--row", "dma-one-engine-32k"]);
    // [4, 4096] bf16: 8 KiB per partition, split into 4 KiB descriptors: 8 descriptors. Each
    // costs the time the achievable rate loses against the peak rate over a full descriptor.
    let peak = preset("trn2", "dma", "peak_bytes_per_ns");
    let achievable = preset("trn2", "dma", "achievable_bytes_per_ns");
    let desc = preset("trn2", "dma", "descriptor_bytes_max");
    let descriptors = 4.0 * (8192.0 / desc).ceil();
    let overhead_ns = desc / achievable - desc / peak;
    let want_ns = 32768.0 / peak + descriptors * overhead_ns;
    let got = model(&report, "dma-one-engine-32k");
    assert!(
        (got - want_ns).abs() < 0.01,
        "model {got} ns, analytic {want_ns} ns"
    );
}

#[test]
fn the_scalar_chain_interval_is_the_dependent_activation_cost_on_trn1() {
    let report = validate_json(&["--row", "scalar-chain-interval", "--hw-only", "trn1"]);
    // 256 activations; each costs the minimum interval and the access latency, and all but the
    // first the dependent-instruction overhead, in Scalar cycles at the Scalar clock.
    let min = preset("trn1", "scalar", "min_cycles");
    let access = preset("trn1", "scalar", "access_latency_cycles");
    let dependent = preset("trn1", "scalar", "dependent_overhead_cycles");
    let clock_ghz = preset("trn1", "scalar", "clock_mhz") / 1000.0;
    let total_cycles = 256.0 * (min + access) + 255.0 * dependent;
    let want_ns = total_cycles / clock_ghz / 256.0;
    let got = model(&report, "scalar-chain-interval");
    assert!(
        (got - want_ns).abs() / want_ns < 1e-4,
        "model {got} ns, analytic {want_ns} ns"
    );
}

/// A header-only float32 `.npy` (the run is timing-only).
fn npy_header(path: &Path, shape: &[usize]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let mut h = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}",
        dims.join(", ")
    );
    while (10 + h.len() + 1) % 64 != 0 {
        h.push(' ');
    }
    h.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(h.len() as u16).to_le_bytes());
    bytes.extend_from_slice(h.as_bytes());
    std::fs::write(path, bytes).expect("header writes");
}

#[test]
fn the_tutorial_row_is_trnsim_nki_on_the_repository_example() {
    let report = validate_json(&["--row", "tut-opt3"]);
    let got_ms = model(&report, "tut-opt3");
    // kernels/nki/matmul_optimized.py is the same loop nest written separately.
    let dir = tempfile::tempdir().expect("temp dir");
    let (a, b) = (dir.path().join("a.npy"), dir.path().join("b.npy"));
    npy_header(&a, &[8192, 4096]);
    npy_header(&b, &[8192, 8192]);
    let text = trnsim(&[
        "nki",
        "kernels/nki/matmul_optimized.py",
        "--hw",
        "trn1",
        "--no-data",
        "--format",
        "json",
        "--input",
        &format!("lhsT={}", a.display()),
        "--input",
        &format!("rhs={}", b.display()),
        "--dtype",
        "lhsT=bf16",
        "--dtype",
        "rhs=bf16",
    ]);
    let v: Value = serde_json::from_str(&text).expect("JSON");
    let want_ms = v["time_ns"].as_f64().expect("time_ns") / 1e6;
    assert!(
        (got_ms - want_ms).abs() / want_ms < 1e-9,
        "validate {got_ms} ms, trnsim nki {want_ms} ms"
    );
    // The error is the signed percent of the published 6.97 ms.
    let rows = report["rows"].as_array().expect("rows");
    let err = rows[0]["error"].as_f64().expect("error");
    assert!((err - (got_ms - 6.97) / 6.97 * 100.0).abs() < 1e-9);
}

#[test]
fn strict_exits_1_only_when_a_judged_row_is_out_of_tolerance() {
    let code = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_trnsim"))
            .args(args)
            .current_dir(root())
            .output()
            .expect("the binary runs")
            .status
            .code()
    };
    // The 32 KiB transfer is within 10 %; the final kernel's DMA active percentage is not
    // (-7.4 points at this commit: when a cost change fixes it, point `fail` at a row still out
    // of tolerance).
    let pass = ["validate", "--row", "dma-one-engine-32k", "--strict"];
    assert_eq!(code(&pass), Some(0));
    let fail = ["validate", "--row", "kopt-final-dma", "--strict"];
    assert_eq!(code(&fail), Some(1));
    assert_eq!(
        code(&fail[..3]),
        Some(0),
        "without --strict the report exits 0"
    );
    assert_eq!(code(&["validate", "--row", "no-such-row"]), Some(2));
}
