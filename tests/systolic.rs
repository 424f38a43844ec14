//! The systolic design-space mode against SCALE-Sim v3.0.0, layer by layer.
//!
//! Expected numbers: `tests/golden/systolic/<config>__<topology>.csv` are SCALE-Sim's own
//! `COMPUTE_REPORT.csv` files, obtained with `pip install scalesim==3.0.0 numpy==1.26.4
//! pandas==2.2.3 numba==0.60.0` under CPython 3.11.7 by running, for each pair below,
//!
//! ```text
//! python -c 'from scalesim.scale_sim import scalesim; scalesim(save_disk_space=True,
//!     verbose=False, config=CFG, topology=CSV, layout=CSV, input_type_gemm=GEMM).run_scale(OUT)'
//! ```
//!
//! with CFG and CSV the files of `tests/data/systolic/` named by the golden file
//! (`input_type_gemm` true for the `Layer, M, N, K` files; the layout argument is only read, not
//! used, with custom layouts off). Every config runs in the CALC bandwidth mode, SCALE-Sim's
//! stall-free mode. The square GEMMs were run one layer per topology (SCALE-Sim simulates layers
//! independently) and their rows gathered into one file, LayerID renumbered. Details and timings:
//! `tests/golden/systolic/README.md`.
//!
//! Every column compared is exact: integers equal, floating-point numbers bit-identical. trnsim
//! reports utilisations as fractions and SCALE-Sim as percents; each is converted the one way
//! that is exact by construction (see `trnsim::systolic::scalesim`): SCALE-Sim's Overall Util %
//! divided by 100, trnsim's mapping efficiency and compute utilization times 100.

use std::path::PathBuf;

use trnsim::systolic::{
    Array, Dataflow, Gemm, Memory, TrainiumParams, config, scalesim, topology, trainium,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn data(name: &str) -> String {
    let p = root().join("tests/data/systolic").join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// One row of SCALE-Sim's COMPUTE_REPORT.csv.
#[derive(Debug)]
struct Row {
    id: usize,
    total_cycles: u64,
    stall_cycles: u64,
    overall_util: f64,
    mapping_eff: f64,
    compute_util: f64,
}

fn golden(name: &str) -> Vec<Row> {
    let p = root().join("tests/golden/systolic").join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("LayerID, Total Cycles (incl. prefetch)")
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').map(str::trim).collect();
            Row {
                id: f[0].parse().unwrap(),
                total_cycles: f[2].parse().unwrap(),
                stall_cycles: f[3].parse().unwrap(),
                overall_util: f[4].parse().unwrap(),
                mapping_eff: f[5].parse().unwrap(),
                compute_util: f[6].parse().unwrap(),
            }
        })
        .collect()
}

/// Every SCALE-Sim run recorded: (config, topology).
const RUNS: &[(&str, &str)] = &[
    // Square GEMMs 128..2048 on a 128x128 array.
    ("scalesim_128x128_ws.cfg", "gemm_square.csv"),
    ("scalesim_128x128_os.cfg", "gemm_square.csv"),
    ("scalesim_128x128_is.cfg", "gemm_square.csv"),
    // Non-square GEMMs, on a square and on a non-square array.
    ("scalesim_128x128_ws.cfg", "gemm_nonsquare.csv"),
    ("scalesim_128x128_os.cfg", "gemm_nonsquare.csv"),
    ("scalesim_128x128_is.cfg", "gemm_nonsquare.csv"),
    ("scalesim_16x64_ws.cfg", "gemm_nonsquare.csv"),
    ("scalesim_16x64_os.cfg", "gemm_nonsquare.csv"),
    ("scalesim_16x64_is.cfg", "gemm_nonsquare.csv"),
    // Full CNNs (convolution form) and a GEMM-form LLM from SCALE-Sim's repositories.
    ("scalesim_128x128_ws.cfg", "Resnet18.csv"),
    ("scalesim_128x128_os.cfg", "Resnet18.csv"),
    ("scalesim_128x128_is.cfg", "Resnet18.csv"),
    ("scale.cfg", "alexnet.csv"),
    ("scale_ws.cfg", "alexnet.csv"),
    ("scale_is.cfg", "alexnet.csv"),
    ("scale.cfg", "tiny_llm.csv"),
    ("scale_ws.cfg", "tiny_llm.csv"),
    ("scale_is.cfg", "tiny_llm.csv"),
    // MobileNet (with its `#dw` notes after the last comma) on a non-square array.
    ("scalesim_16x64_ws.cfg", "mobilnet_paper.csv"),
    ("scalesim_16x64_os.cfg", "mobilnet_paper.csv"),
    ("scalesim_16x64_is.cfg", "mobilnet_paper.csv"),
    // Tiny YOLO on SCALE-Sim's 32x32 example array.
    ("scale.cfg", "yolo_tiny.csv"),
    ("scale_ws.cfg", "yolo_tiny.csv"),
    ("scale_is.cfg", "yolo_tiny.csv"),
];

fn stem(f: &str) -> &str {
    f.rsplit_once('.').map_or(f, |(s, _)| s)
}

#[test]
fn matches_scalesim_stall_free_reports_exactly() {
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for (cfg_name, topo_name) in RUNS {
        let cfg = config::parse(&data(cfg_name), cfg_name).unwrap();
        let topo = topology::parse(&data(topo_name), topo_name).unwrap();
        let expected = golden(&format!("{}__{}.csv", stem(cfg_name), stem(topo_name)));
        assert_eq!(
            expected.len(),
            topo.layers.len(),
            "{cfg_name} {topo_name}: one report row per layer"
        );
        for (row, layer) in expected.iter().zip(&topo.layers) {
            let ours = scalesim::layer(&layer.gemm, cfg.array, cfg.dataflow).unwrap();
            // (cycles, stalls, overall util as a fraction, mapping and compute as percents)
            let theirs = (
                row.total_cycles,
                row.stall_cycles,
                row.overall_util / 100.0,
                row.mapping_eff,
                row.compute_util,
            );
            let mine = (
                ours.total_cycles,
                ours.stall_cycles,
                ours.overall_util,
                ours.mapping_eff * 100.0,
                ours.compute_util * 100.0,
            );
            if theirs != mine {
                mismatches.push(format!(
                    "{cfg_name} {topo_name} layer {} ({}): SCALE-Sim {theirs:?}, trnsim {mine:?}",
                    row.id, layer.name
                ));
            }
            compared += 1;
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(compared >= 288, "compared {compared} layers");
}

#[test]
fn every_dataflow_is_covered_on_gemms_and_a_cnn() {
    for df in ["ws", "os", "is"] {
        for topo in [
            "gemm_square.csv",
            "gemm_nonsquare.csv",
            "Resnet18.csv",
            "alexnet.csv",
        ] {
            let covered = RUNS.iter().any(|(c, t)| {
                *t == topo && config::parse(&data(c), c).unwrap().dataflow.name() == df
            });
            assert!(covered, "{topo} under {df}");
        }
    }
}

#[test]
fn one_fold_closed_forms() {
    // One fold: ws and is take 2R + C + T - 2 lines, os R + C + T - 2; Total Cycles is the
    // index of the last line.
    let a = Array::new(32, 16).unwrap();
    let g = Gemm::new(100, 16, 32).unwrap();
    let ws = scalesim::layer(&g, a, Dataflow::Ws).unwrap();
    assert_eq!(ws.total_cycles, 2 * 32 + 16 + 100 - 2 - 1);
    let os = scalesim::layer(&Gemm::new(32, 16, 100).unwrap(), a, Dataflow::Os).unwrap();
    assert_eq!(os.total_cycles, 32 + 16 + 100 - 2 - 1);
    let is = scalesim::layer(&Gemm::new(16, 100, 32).unwrap(), a, Dataflow::Is).unwrap();
    assert_eq!(is.total_cycles, ws.total_cycles);
    // Utilization: M*N*K*100 / (total * R * C).
    assert_eq!(
        ws.overall_util,
        (100 * 16 * 32 * 100) as f64 / (ws.total_cycles * 512) as f64 / 100.0
    );
    assert_eq!(ws.mapping_eff, 1.0);
}

#[test]
fn trainium_setting_hides_weight_loads() {
    // The Trainium-style setting on every SCALE-Sim square GEMM: never slower than the textbook
    // model, and for ws exactly first load + streams + one fill/drain.
    let a = Array::new(128, 128).unwrap();
    for n in [128u64, 256, 512, 1024, 2048, 4096] {
        let g = Gemm::new(n, n, n).unwrap();
        let folds = (n / 128) * (n / 128);
        let t = trainium::layer(
            &g,
            a,
            Dataflow::Ws,
            Memory::default(),
            &TrainiumParams::default(),
        )
        .unwrap();
        assert_eq!(t.total_cycles, 32 + folds * n + 128);
        let s = scalesim::layer(&g, a, Dataflow::Ws).unwrap();
        assert!(t.total_cycles < s.total_cycles);
    }
}

/// Runs the locally installed SCALE-Sim on a few layers and compares. Needs `SCALESIM_PYTHON`,
/// a Python with `scalesim==3.0.0` (and numpy 1.26, pandas 2.2, numba 0.60) installed:
/// `SCALESIM_PYTHON=/path/to/venv/bin/python cargo test --release --test systolic -- --ignored`.
#[test]
#[ignore = "needs SCALE-Sim 3.0.0 (set SCALESIM_PYTHON)"]
fn cross_check_with_installed_scalesim() {
    let python = std::env::var("SCALESIM_PYTHON").expect("SCALESIM_PYTHON");
    let dir = tempfile::tempdir().unwrap();
    let topo_text = "Layer, M, N, K,\na, 300, 70, 90,\nb, 64, 1, 257,\nc, 129, 129, 129,\n";
    let topo_path = dir.path().join("t.csv");
    std::fs::write(&topo_path, topo_text).unwrap();
    let topo = topology::parse(topo_text, "t.csv").unwrap();
    for cfg_name in [
        "scalesim_16x64_ws.cfg",
        "scalesim_16x64_os.cfg",
        "scalesim_16x64_is.cfg",
    ] {
        let cfg_path = root().join("tests/data/systolic").join(cfg_name);
        let cfg = config::parse(&data(cfg_name), cfg_name).unwrap();
        let out = dir.path().join(stem(cfg_name));
        let script = format!(
            "from scalesim.scale_sim import scalesim\n\
             scalesim(save_disk_space=True, verbose=False, config={:?}, topology={:?}, \
             layout={:?}, input_type_gemm=True).run_scale(top_path={:?})\n",
            cfg_path.display().to_string(),
            topo_path.display().to_string(),
            topo_path.display().to_string(),
            out.display().to_string()
        );
        let st = std::process::Command::new(&python)
            .args(["-c", &script])
            .current_dir(dir.path())
            .status()
            .unwrap();
        assert!(st.success());
        let report = out.join(&cfg.run_name).join("COMPUTE_REPORT.csv");
        let text = std::fs::read_to_string(&report).unwrap();
        for (line, layer) in text.lines().skip(1).zip(&topo.layers) {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let ours = scalesim::layer(&layer.gemm, cfg.array, cfg.dataflow).unwrap();
            assert_eq!(
                ours.total_cycles,
                f[2].parse::<u64>().unwrap(),
                "{cfg_name} {line}"
            );
            // SCALE-Sim's percents, converted as in `matches_scalesim_stall_free_reports_exactly`.
            assert_eq!(
                ours.overall_util,
                f[4].parse::<f64>().unwrap() / 100.0,
                "{cfg_name}"
            );
            assert_eq!(
                ours.mapping_eff * 100.0,
                f[5].parse::<f64>().unwrap(),
                "{cfg_name}"
            );
            assert_eq!(
                ours.compute_util * 100.0,
                f[6].parse::<f64>().unwrap(),
                "{cfg_name}"
            );
        }
    }
}
