//! `trnsim systolic` as a user runs it: the real binary on real SCALE-Sim files.
//!
//! The `cli_*.txt` goldens are the binary's table output; after a deliberate change regenerate
//! them with `TRNSIM_BLESS=1 cargo test --release --test cli_systolic golden_output` and review
//! the diff.

mod common;

use common::{root, text, trnsim};

use serde_json::Value;

fn ok(args: &[&str]) -> String {
    let o = trnsim(args);
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

const D: &str = "tests/data/systolic";

/// `trnsim systolic --config D/cfg --topology topo EXTRA...` (topology paths are taken as given
/// when they contain a '/', else from `D`).
fn run_files(cfg: &str, topo: &str, extra: &[&str]) -> String {
    let cfg = format!("{D}/{cfg}");
    let topo = if topo.contains('/') {
        topo.to_string()
    } else {
        format!("{D}/{topo}")
    };
    let mut args = vec!["systolic", "--config", &cfg, "--topology", &topo];
    args.extend_from_slice(extra);
    ok(&args)
}

fn golden(name: &str) -> String {
    std::fs::read_to_string(root().join("tests/golden/systolic").join(name)).unwrap()
}

/// `out` equals the golden `name`, or (with `TRNSIM_BLESS=1`) becomes it.
fn assert_golden(out: &str, name: &str) {
    if std::env::var_os("TRNSIM_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(root().join("tests/golden/systolic").join(name), out).unwrap();
    }
    assert_eq!(
        out,
        golden(name),
        "{name} changed (TRNSIM_BLESS=1 to accept)"
    );
}

#[test]
fn topology_table_matches_its_golden_output() {
    let out = run_files("scale.cfg", "alexnet.csv", &[]);
    assert_golden(&out, "cli_alexnet_scale.txt");
}

#[test]
fn gemm_table_matches_its_golden_output() {
    let out = ok(&[
        "systolic",
        "gemm",
        "1024",
        "1024",
        "1024",
        "--rows",
        "128",
        "--cols",
        "128",
        "--dataflow",
        "ws",
    ]);
    assert_golden(&out, "cli_gemm_1024_ws.txt");
    // Utilisations are percents in the table, and say so in the header.
    let header = out.lines().nth(2).unwrap();
    for c in ["overall_util_%", "mapping_eff_%", "trn_compute_util_%"] {
        assert!(header.split_whitespace().any(|h| h == c), "{c}: {header}");
    }
    assert!(!header.contains("_pct"), "{header}");
}

#[test]
fn csv_output_carries_scalesims_numbers_exactly() {
    // SCALE-Sim 3.0.0's COMPUTE_REPORT for alexnet on its scale.cfg (tests/golden/systolic).
    let expected = golden("scale__alexnet.csv");
    let out = run_files(
        "scale.cfg",
        "alexnet.csv",
        &["--mode", "scalesim", "--format", "csv"],
    );
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "id,layer,m,n,k,total_cycles,stall_cycles,overall_util,mapping_eff,compute_util"
    );
    let ours: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    let theirs: Vec<Vec<String>> = expected
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|f| f.trim().to_string()).collect())
        .collect();
    assert_eq!(ours.len(), theirs.len());
    for (o, t) in ours.iter().zip(&theirs) {
        assert_eq!(o[0], t[0]);
        assert_eq!(o[5], t[2], "total cycles");
        assert_eq!(o[6], t[3], "stall cycles");
        // trnsim's fractions against SCALE-Sim's percents, converted exactly as tests/systolic.rs
        // does: the overall utilization's reference divided by 100, the other two ours times 100.
        let ours = |i: usize| o[i].parse::<f64>().unwrap();
        let theirs = |i: usize| t[i].parse::<f64>().unwrap();
        assert_eq!(ours(7), theirs(4) / 100.0, "overall util");
        assert_eq!(ours(8) * 100.0, theirs(5), "mapping efficiency");
        assert_eq!(ours(9) * 100.0, theirs(6), "compute util");
    }
}

#[test]
fn json_reports_both_settings_side_by_side() {
    let out = run_files(
        "scalesim_128x128_ws.cfg",
        "kernels/llama2_7b_layer.csv",
        &["--format", "json"],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), 71);
    for r in rows {
        for k in [
            "id",
            "layer",
            "m",
            "n",
            "k",
            "total_cycles",
            "stall_cycles",
            "overall_util",
            "mapping_eff",
            "compute_util",
            "trn_total_cycles",
            "trn_stall_cycles",
            "trn_overall_util",
            "trn_compute_util",
            "trn_speedup",
        ] {
            assert!(r.get(k).is_some(), "{k}");
        }
        assert!(r["trn_total_cycles"].as_u64().unwrap() < r["total_cycles"].as_u64().unwrap());
        assert_eq!(r["stall_cycles"], 0);
        // Utilisations are fractions in JSON, as everywhere in trnsim.
        for k in [
            "overall_util",
            "mapping_eff",
            "compute_util",
            "trn_overall_util",
            "trn_compute_util",
        ] {
            let x = r[k].as_f64().unwrap();
            assert!(x > 0.0 && x <= 1.0, "{k} = {x}");
        }
        assert!(r.as_object().unwrap().keys().all(|k| !k.ends_with("_pct")));
    }
}

#[test]
fn every_shipped_topology_runs_under_every_dataflow() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("kernels")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "csv") {
            continue;
        }
        for df in ["ws", "os", "is"] {
            let cfg = format!("scalesim_128x128_{df}.cfg");
            let out = run_files(&cfg, path.to_str().unwrap(), &["--format", "csv"]);
            assert!(out.lines().count() > 2, "{}", path.display());
        }
        n += 1;
    }
    assert!(n >= 3, "the shipped topologies");
}

#[test]
fn bandwidth_adds_stalls_in_the_trainium_setting_only() {
    let json = |extra: &[&str]| -> Value {
        let mut args = vec![
            "systolic", "gemm", "2048", "2048", "2048", "--format", "json",
        ];
        args.extend_from_slice(extra);
        serde_json::from_str(&ok(&args)).unwrap()
    };
    let free = json(&[]);
    let narrow = json(&["--bandwidth", "4", "--sram-kb", "64,64,64"]);
    assert_eq!(free[0]["trn_stall_cycles"], 0);
    let stalls = narrow[0]["trn_stall_cycles"].as_u64().unwrap();
    assert!(stalls > 0);
    assert_eq!(
        narrow[0]["trn_total_cycles"].as_u64().unwrap() - stalls,
        free[0]["trn_total_cycles"].as_u64().unwrap()
    );
    // SCALE-Sim's setting is stall-free by definition.
    assert_eq!(narrow[0]["total_cycles"], free[0]["total_cycles"]);
    assert_eq!(narrow[0]["stall_cycles"], 0);
    // A USER-bandwidth config (SCALE-Sim's google.cfg, 10 words/cycle).
    let out = run_files(
        "google.cfg",
        "Resnet18.csv",
        &["--mode", "trainium", "--format", "json"],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|r| r["stall_cycles"].as_u64().unwrap() > 0)
    );
}

#[test]
fn the_array_comes_from_the_preset_unless_given() {
    let json = |args: &[&str]| -> Value { serde_json::from_str(&ok(args)).unwrap() };
    let a = json(&[
        "systolic", "gemm", "512", "512", "512", "--hw", "trn1", "--format", "json",
    ]);
    let b = json(&[
        "systolic", "gemm", "512", "512", "512", "--rows", "128", "--cols", "128", "--format",
        "json",
    ]);
    assert_eq!(a, b);
    let c = json(&[
        "systolic",
        "gemm",
        "512",
        "512",
        "512",
        "--hw-set",
        "pe.rows=64,pe.contraction_max=64",
        "--format",
        "json",
    ]);
    assert!(c[0]["total_cycles"].as_u64() != a[0]["total_cycles"].as_u64());
}

#[test]
fn unknown_config_keys_warn_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("odd.cfg");
    let good = std::fs::read_to_string(root().join(D).join("scale.cfg")).unwrap();
    std::fs::write(&cfg, good.replace("MemoryBanks", "MemoryBankz")).unwrap();
    let o = trnsim(&[
        "systolic",
        "--config",
        cfg.to_str().unwrap(),
        "--topology",
        &format!("{D}/tiny_llm.csv"),
    ]);
    assert!(o.status.success());
    let e = text(&o.stderr);
    assert!(
        e.contains("odd.cfg:15: MemoryBankz: unknown key in [architecture_presets]"),
        "{e}"
    );
}

/// Bad inputs: each gives `file:line: field:` on stderr, exit 2, nothing on stdout.
#[test]
fn bad_inputs_name_file_line_and_field() {
    let cases: &[(&str, &str)] = &[
        ("bad_value.cfg", "5: ArrayHeight: expected an integer"),
        (
            "bad_dataflow.cfg",
            "14: Dataflow: expected ws, os or is, found 'WS'",
        ),
        (
            "missing_key.cfg",
            "4: [architecture_presets]: missing key ArrayWidth",
        ),
        (
            "bad_bandwidth.cfg",
            "13: Bandwidth: expected words per cycle",
        ),
        (
            "no_section.cfg",
            "1: ArrayHeight: key before any [section] header",
        ),
        (
            "sparsity.cfg",
            "29: SparsitySupport: sparse (N:M) layers are not modelled",
        ),
        (
            "bad_mode.cfg",
            "36: InterfaceBandwidth: expected CALC or USER, found 'MAYBE'",
        ),
        (
            "duplicate_section.cfg",
            "39: [general]: duplicate section (first at line 1)",
        ),
        ("bad_number.csv", "3: N: expected an integer"),
        ("missing_comma.csv", "3: Strides: missing"),
        ("zero.csv", "2: K: expected an integer from 1"),
        (
            "filter_too_big.csv",
            "2: Filter Height: the filter (9) is larger than the input (7)",
        ),
        ("extra_field.csv", "2: field 6: unexpected '7'"),
        ("header_is_data.csv", "1: header: line 1 holds numbers"),
        ("no_layers.csv", "1: layers: no layers after the header"),
        (
            "bad_sparsity.csv",
            "2: sparsity: expected an N:M sparsity ratio",
        ),
    ];
    for (file, want) in cases {
        let path = format!("{D}/bad/{file}");
        let (cfg, topo) = if file.ends_with(".cfg") {
            (path.clone(), format!("{D}/tiny_llm.csv"))
        } else {
            (format!("{D}/scale.cfg"), path.clone())
        };
        let o = trnsim(&["systolic", "--config", &cfg, "--topology", &topo]);
        assert_eq!(o.status.code(), Some(2), "{file}");
        assert!(o.stdout.is_empty(), "{file}: no partial output");
        let e = text(&o.stderr);
        assert!(
            e.starts_with(&format!("trnsim: error: {path}:{want}")),
            "{file}: {e}"
        );
    }
}

#[test]
fn bad_command_lines_exit_2() {
    let cases: &[&[&str]] = &[
        &["systolic"],
        &["systolic", "--config", "tests/data/systolic/scale.cfg"],
        &[
            "systolic",
            "--config",
            "nosuch.cfg",
            "--topology",
            "nosuch.csv",
        ],
        &["systolic", "gemm", "0", "1", "1"],
        &["systolic", "gemm", "1", "x", "1"],
        &["systolic", "gemm", "8", "8", "8", "--rows", "0"],
        &["systolic", "gemm", "8", "8", "8", "--dataflow", "rs"],
        &["systolic", "gemm", "8", "8", "8", "--bandwidth", "1,2"],
        &["systolic", "gemm", "8", "8", "8", "--sram-kb", "64"],
        &["systolic", "gemm", "8", "8", "8", "--hw", "trn9"],
        // Far too many cycles for 64 bits: an error, not a wrap or a panic.
        &[
            "systolic",
            "gemm",
            "1099511627776",
            "1099511627776",
            "1099511627776",
            "--rows",
            "1",
            "--cols",
            "1",
            "--bandwidth",
            "1",
        ],
    ];
    for args in cases {
        let o = trnsim(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    let e = text(&trnsim(&["systolic", "--config", "nosuch.cfg", "--topology", "x.csv"]).stderr);
    assert!(e.starts_with("trnsim: error: nosuch.cfg: "), "{e}");
}
