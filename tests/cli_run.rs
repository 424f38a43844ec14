//! `trnsim run` and `trnsim hw` as a user runs them: real binary, real files.

mod common;

use common::{root, text, trnsim};

use std::path::Path;

use ndarray::{Array2, ArrayD};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use serde_json::Value;

fn json_report(args: &[&str]) -> Value {
    let o = trnsim(args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn every_shipped_trace_runs_on_every_preset_with_the_documented_keys() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("traces")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "trace") {
            continue;
        }
        for hw in ["trn1", "trn2", "trn3"] {
            let r = json_report(&[
                "run",
                path.to_str().unwrap(),
                "--hw",
                hw,
                "--format",
                "json",
            ]);
            for key in [
                "time_ns",
                "cycles",
                "engines",
                "flops",
                "achieved_tflops",
                "mfu",
                "hbm_bytes",
                "hbm_bandwidth_gbps",
                "mbu",
                "arithmetic_intensity",
                "bound",
                "sbuf_peak_bytes",
                "psum_peak_banks",
            ] {
                assert!(r.get(key).is_some(), "{key} missing for {}", path.display());
            }
            for e in ["tensor", "vector", "scalar", "gpsimd", "dma"] {
                for f in ["busy_ns", "active", "instructions"] {
                    assert!(r["engines"][e][f].is_number(), "{e}.{f}");
                }
            }
            let mfu = r["mfu"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&mfu) && r["time_ns"].as_f64().unwrap() > 0.0);
            assert!(["compute", "memory"].contains(&r["bound"].as_str().unwrap()));
        }
        n += 1;
    }
    assert!(n >= 5, "expected the shipped example traces");
}

#[test]
fn timing_is_the_same_without_data() {
    let t = root().join("traces/layernorm.trace");
    let a = trnsim(&["run", t.to_str().unwrap(), "--format", "json"]);
    let b = trnsim(&["run", t.to_str().unwrap(), "--format", "json", "--no-data"]);
    assert!(a.status.success() && b.status.success());
    assert_eq!(a.stdout, b.stdout);
}

#[test]
fn inputs_and_outputs_round_trip_through_npy_and_compute_the_product() {
    let dir = tempfile::tempdir().unwrap();
    let (k, m, n) = (128usize, 128usize, 512usize);
    // Exactly representable bf16 inputs: small integers over 8.
    let at = Array2::from_shape_fn((k, m), |(i, j)| ((i * 7 + j * 3) % 17) as f32 / 8.0 - 1.0);
    let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j * 11) % 13) as f32 / 8.0 - 0.75);
    let (pa, pb, pc) = (
        dir.path().join("at.npy"),
        dir.path().join("b.npy"),
        dir.path().join("c.npy"),
    );
    at.write_npy(std::fs::File::create(&pa).unwrap()).unwrap();
    b.write_npy(std::fs::File::create(&pb).unwrap()).unwrap();
    let trace = root().join("tests/golden/traces/matmul_io.trace");
    let o = trnsim(&[
        "run",
        trace.to_str().unwrap(),
        "--input",
        &format!("at={}", pa.display()),
        "--input",
        &format!("b={}", pb.display()),
        "--output",
        &format!("c={}", pc.display()),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let c = ArrayD::<f32>::read_npy(std::fs::File::open(&pc).unwrap()).unwrap();
    assert_eq!(c.shape(), &[m, n]);
    // Products of these values are multiples of 1/64 and sums stay far below 2^24 / 64, so fp32
    // accumulation is exact: the result must equal the f64 reference exactly.
    for i in 0..m {
        for j in 0..n {
            let want: f64 = (0..k)
                .map(|kk| at[[kk, i]] as f64 * b[[kk, j]] as f64)
                .sum();
            assert_eq!(c[[i, j]] as f64, want, "c[{i}, {j}]");
        }
    }
}

#[test]
fn timeline_is_perfetto_trace_event_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.json");
    let t = root().join("traces/matmul_k_accumulate.trace");
    let o = trnsim(&[
        "run",
        t.to_str().unwrap(),
        "--timeline",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let events = v["traceEvents"].as_array().unwrap();
    let tracks: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    for want in ["tensor", "vector", "scalar", "gpsimd", "dma 0.0", "dma 3.0"] {
        assert!(tracks.contains(&want), "track {want} missing: {tracks:?}");
    }
    let slices: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(slices.len(), 14, "one slice per instruction");
    let mm = slices.iter().find(|e| e["name"] == "matmul").unwrap();
    assert_eq!(mm["args"]["src0"], "at_sb[0:128, 0:128]");
    assert!(mm["dur"].as_f64().unwrap() > 0.0 && mm["ts"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_input_is_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.trace");
    std::fs::write(&bad, "trnsim-trace 1\nkernel k\nbuffer a sbuf bf16 [128, 8] zeros\nmemset dst=a[0:128, 0:8] valeu=1\n").unwrap();
    let o = trnsim(&["run", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(
        e.contains("bad.trace:4:") && e.contains("unknown key 'valeu'"),
        "{e}"
    );

    let t = root().join("traces/gelu.trace");
    let t = t.to_str().unwrap();
    let e = text(&trnsim(&["run", t, "--hw", "trn9"]).stderr);
    assert!(e.contains("unknown hardware preset 'trn9'"), "{e}");
    let o = trnsim(&["run", t, "--hw-set", "pe.clock_mhz=0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("pe.clock_mhz: 0 is out of range"));
    let o = trnsim(&["run", t, "--input", "nosuch=x.npy"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("buffer 'nosuch'"));
    let o = trnsim(&["run", t, "--output", "y=out.npy", "--no-data"]);
    assert_eq!(o.status.code(), Some(2));
    // A timeline into a missing directory fails without leaving a partial file behind.
    let missing = dir.path().join("no/such/dir/t.json");
    let o = trnsim(&["run", t, "--timeline", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!Path::new(&missing).exists());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp"))
    );
}

#[test]
fn hw_list_and_show() {
    let o = trnsim(&["hw", "list", "--format", "csv"]);
    let s = text(&o.stdout);
    assert!(s.starts_with("name,pe,pe_clock_mhz,bf16_tflops"), "{s}");
    assert!(s.contains("trn2,128x128,2400,78.64,157.29"), "{s}");
    let o = trnsim(&[
        "hw",
        "show",
        "--hw",
        "trn3",
        "--hw-set",
        "pe.rows=256,dma.engines=8",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["pe"]["rows"].as_u64(), v["dma"]["engines"].as_u64()),
        (Some(256), Some(8))
    );
    // A preset copied to a file and edited is a valid --hw.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("chip.toml");
    let toml = text(&trnsim(&["hw", "show", "--hw", "trn2"]).stdout)
        .replace("clock_mhz = 2400", "clock_mhz = 3000");
    std::fs::write(&f, toml).unwrap();
    let v: Value = serde_json::from_slice(
        &trnsim(&["hw", "show", "--hw", f.to_str().unwrap(), "--json"]).stdout,
    )
    .unwrap();
    assert_eq!(v["pe"]["clock_mhz"], 3000);
}
