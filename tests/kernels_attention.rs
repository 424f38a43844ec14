//! The attention kernel: values against the f64 reference at small shapes (causal or not, GQA,
//! partial tiles, decode-style packing, each dtype family), the timing trends that make it a
//! flash-attention kernel (MFU rising with the sequence until compute-bound, causal about half
//! the time, MFU proportional to head_dim), and bad parameters rejected by the binary.

mod common;

use common::{check, check_on, rejects, timing, trnsim};
use trnsim::arch::Hardware;
use trnsim::kernels;

#[test]
fn every_kernel_definition_parses() {
    for &k in kernels::all() {
        let d = kernels::definition(k);
        assert!(kernels::find(&d.name).is_ok());
    }
    for name in ["attention", "mlp"] {
        assert!(kernels::find(name).is_ok(), "{name} is in the library");
    }
}

#[test]
fn matches_the_reference_causal_and_not() {
    for spec in [
        // Whole tiles; GQA (two query heads per kv head).
        "batch=1,heads=2,kv_heads=1,seq_q=256,seq_kv=256,head_dim=64",
        "batch=1,heads=2,kv_heads=1,seq_q=256,seq_kv=256,head_dim=64,causal=true",
        // Partial query tiles and kv steps, a narrower step, fewer interleaved tiles.
        "batch=2,heads=2,seq_q=130,seq_kv=300,head_dim=40,causal=true,kv_tile=256,q_group=3",
        "batch=1,heads=3,seq_q=200,seq_kv=700,head_dim=128",
        // Decode: one position per head, the group's heads packed into one tile.
        "batch=2,heads=8,kv_heads=2,seq_q=1,seq_kv=700,causal=true",
        // A few positions per head, packed (no mask).
        "batch=1,heads=4,kv_heads=1,seq_q=5,seq_kv=333",
        // Causal with fewer queries than keys: the mask is bottom-right aligned.
        "batch=3,heads=2,seq_q=5,seq_kv=300,causal=true",
    ] {
        let c = check("attention", spec);
        assert!(c.passed, "{spec}: {c:?}");
        // bf16 output and P: the error is an output rounding or two, far below the tolerance.
        assert!(c.max_rel_err < 6e-3, "{spec}: {c:?}");
    }
}

#[test]
fn matches_the_reference_in_each_dtype_family() {
    for dtype in ["float16", "float8_e4m3", "float8_e5m2"] {
        for causal in [false, true] {
            let spec = format!(
                "heads=4,kv_heads=2,seq_q=200,seq_kv=300,head_dim=48,causal={causal},dtype={dtype}"
            );
            let c = check("attention", &spec);
            assert!(c.passed, "{spec}: {c:?}");
        }
    }
}

#[test]
fn matches_the_reference_with_kv_in_segments() {
    // A small SBUF forces K/V out of residency: segments reloaded per query group.
    let hw = Hardware::preset("trn2")
        .unwrap()
        .with_overrides(&[("sbuf.bytes_per_partition".into(), "40000".into())])
        .unwrap();
    let c = check_on(
        &hw,
        "attention",
        "heads=2,seq_q=300,seq_kv=3000,causal=true",
    );
    assert!(c.passed, "{c:?}");
}

#[test]
fn mfu_rises_with_sequence_length_until_compute_bound() {
    let mut last = 0.0;
    for seq in [512, 1024, 2048, 4096] {
        let r = timing(
            "attention",
            &format!("heads=4,seq_q={seq},seq_kv={seq},head_dim=128"),
        );
        assert!(r.mfu > last, "seq {seq}: mfu {} after {last}", r.mfu);
        last = r.mfu;
        if seq == 4096 {
            assert_eq!(r.bound, "compute");
            // The PE also transposes P (a third of its time), so 2/3 is the ceiling; the Vector
            // engine's fp32 softmax work (one element per partition per cycle outside the
            // performance mode, [ARCH-V3]) binds first on trn2: the kernel runs within 5 % of
            // its busiest engine's busy time.
            assert!(r.mfu > 0.3 && r.mfu < 0.67, "mfu {}", r.mfu);
            let busiest = r.engines.values().map(|e| e.busy_ns).fold(0.0, f64::max);
            assert!(
                r.time_ns <= busiest * 1.05,
                "{} ns vs {busiest} ns",
                r.time_ns
            );
        }
    }
}

#[test]
fn causal_takes_about_half_the_time_at_long_sequences() {
    let spec = "heads=4,seq_q=4096,seq_kv=4096,head_dim=128";
    let full = timing("attention", spec);
    let causal = timing("attention", &format!("{spec},causal=true"));
    let ratio = causal.time_ns / full.time_ns;
    // Causal computes 53 % of the scores here (whole 128 x 512 blocks up to the diagonal).
    assert!((0.5..0.65).contains(&ratio), "causal / full = {ratio}");
    assert!(causal.flops < 0.55 * full.flops);
}

#[test]
fn mfu_scales_with_head_dim() {
    // The PE's time per block does not depend on the contraction (head_dim): the FLOPs do.
    let at = |d: usize| {
        timing(
            "attention",
            &format!("heads=4,seq_q=2048,seq_kv=2048,head_dim={d}"),
        )
    };
    let (half, full) = (at(64), at(128));
    let ratio = half.mfu / full.mfu;
    assert!(
        (0.45..0.65).contains(&ratio),
        "mfu(64) / mfu(128) = {ratio}"
    );
    assert!(half.time_ns <= full.time_ns);
}

#[test]
fn decode_is_memory_bound_and_streams_the_kv_cache() {
    let r = timing(
        "attention",
        "batch=4,heads=32,kv_heads=8,seq_q=1,seq_kv=4096,causal=true",
    );
    assert_eq!(r.bound, "memory");
    assert!(r.mbu > 0.7, "mbu {}", r.mbu);
}

#[test]
fn bad_parameters_exit_2_naming_them() {
    for (set, names) in [
        ("heads=8,kv_heads=3", "kv_heads"),
        ("seq_q=512,seq_kv=256,causal=true", "seq_q"),
        ("head_dim=256", "head_dim"),
        ("kv_tile=200", "kv_tile"),
        ("heads=0", "heads"),
        ("window=4", "window"),
        ("dtype=float32", "dtype"),
    ] {
        rejects("attention", set, names);
    }
}

#[test]
fn check_runs_from_the_command_line() {
    let o = trnsim(&[
        "kernel",
        "run",
        "attention",
        "--check",
        "--param",
        "heads=2,seq_q=128,seq_kv=384,causal=true",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["check"]["passed"], true);
    assert_eq!(v["params"]["causal"], "true");
}
