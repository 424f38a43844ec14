//! Golden traces (`tests/golden/traces/`) whose times were computed by hand from the published
//! cost formulas; each file's header shows the arithmetic.

use std::path::PathBuf;

use trnsim::arch::{Hardware, parse_overrides};
use trnsim::chip::{self, RunOptions, report};
use trnsim::isa::parse::parse;

fn run(name: &str, preset: &str, set: &str) -> (chip::RunResult, report::Report) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/traces")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let program = parse(&text, name).unwrap();
    let hw = Hardware::preset(preset)
        .unwrap()
        .with_overrides(&parse_overrides(set).unwrap())
        .unwrap();
    let r = chip::run(
        &program,
        &hw,
        name,
        &[],
        &RunOptions {
            data: true,
            ..Default::default()
        },
    )
    .unwrap();
    let rep = report::report(&program, &hw, &r);
    (r, rep)
}

/// ceil(cycles * 1e6 / MHz): one engine phase in picoseconds.
fn ps(cycles: u64, mhz: u64) -> u64 {
    (cycles * 1_000_000).div_ceil(mhz)
}

#[test]
fn matmul_chain_matches_the_hand_computed_times() {
    let (r, rep) = run("matmul_chain.trace", "trn2", "pe.throttle.enabled=false");
    let s = &r.schedule;
    let mm_visible = ps(32, 2400) + ps(512, 2400) + ps(128, 2400);
    assert_eq!(s.visible_ps[0], 280_002);
    assert_eq!(mm_visible, 280_002);
    assert_eq!(s.visible_ps[1], 280_002 + ps(512, 960) + ps(60, 960));
    assert_eq!(s.total_ps, 1_352_503);
    assert_eq!(rep.time_ns, 1352.503);
    assert_eq!(rep.engines["vector"].instructions, 1);
    assert_eq!(rep.bound, "compute");
    assert_eq!(rep.hbm_bytes, 0);
}

#[test]
fn matmul_dtypes_cost_4x_for_fp32_and_double_rate_for_fp8() {
    let (r, rep) = run("matmul_dtypes.trace", "trn2", "pe.throttle.enabled=false");
    let s = &r.schedule;
    let (load, mm) = (ps(32, 2400), ps(512, 2400));
    assert_eq!(
        s.end_ps,
        vec![
            load + mm,
            load + mm + ps(2048, 2400),
            load + mm + ps(2048, 2400) + mm
        ]
    );
    assert_eq!(s.total_ps, 1_346_670);
    // FLOPs: 2*128*128*512 for bf16 and fp32, 2*256*128*512 for fp8 double row.
    assert_eq!(rep.flops, 2.0 * 128.0 * 128.0 * 512.0 * 4.0);
    // MFU: time at each dtype's peak over the time: (512 + 2048 + 512) / 3232 cycles.
    assert!((rep.mfu - 3072.0 / 3232.0).abs() < 1e-4, "{}", rep.mfu);
}

#[test]
fn double_row_is_trn2_and_trn3_only() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/traces/matmul_dtypes.trace");
    let program = parse(
        &std::fs::read_to_string(path).unwrap(),
        "matmul_dtypes.trace",
    )
    .unwrap();
    let trn1 = Hardware::preset("trn1").unwrap();
    let err = chip::run(
        &program,
        &trn1,
        "matmul_dtypes.trace",
        &[],
        &RunOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.starts_with("matmul_dtypes.trace:21:") && err.contains("needs stationary [128, 128]"),
        "{err}"
    );
    let (_, rep3) = run("matmul_dtypes.trace", "trn3", "pe.throttle.enabled=false");
    assert_eq!(rep3.time_ns, 1346.67);
}

#[test]
fn functional_result_of_the_chain_matches_f64() {
    let (r, _) = run("matmul_chain.trace", "trn2", "");
    let state = r.state.unwrap();
    let (w, x, z) = (
        state.values(trnsim::isa::BufferId(0)),
        state.values(trnsim::isa::BufferId(1)),
        state.values(trnsim::isa::BufferId(4)),
    );
    let mut worst = 0.0f64;
    for m in 0..128 {
        for n in 0..512 {
            let acc: f64 = (0..128)
                .map(|k| w[k * 128 + m] as f64 * x[k * 512 + n] as f64)
                .sum();
            // y = bf16(acc); z = bf16(gelu(y)).
            let y = half::bf16::from_f64(acc).to_f64();
            let g = 0.5
                * y
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (y + 0.044715 * y.powi(3))).tanh());
            let got = z[m * 512 + n] as f64;
            // Two bf16 roundings (y, z) plus the fp32 accumulation of 128 products.
            let tol = 2.0 * 2f64.powi(-8) * g.abs().max(1e-3) + 128.0 * 2f64.powi(-24) * 128.0;
            worst = worst.max((got - g).abs() / tol);
        }
    }
    assert!(worst <= 1.0, "worst error / tolerance = {worst}");
}
