//! The mlp kernel: values against the f64 reference (both orientations, each dtype family,
//! shapes that leave partial tiles), the orientation choice that keeps decode streaming the
//! weights at HBM speed, and bad parameters rejected by the binary.

mod common;

use common::{rejects, timing};

fn check(spec: &str) -> trnsim::kernels::CheckReport {
    common::check("mlp", spec)
}

#[test]
fn matches_the_reference_in_both_orientations() {
    for stationary in ["weights", "tokens"] {
        for shape in [
            "tokens=100,hidden=300,intermediate=256",
            "tokens=600,hidden=200,intermediate=640",
            "tokens=1,hidden=130,intermediate=384",
        ] {
            let spec = format!("{shape},stationary={stationary}");
            let c = check(&spec);
            assert!(c.passed, "{spec}: {c:?}");
            assert!(c.max_rel_err < 4e-3, "{spec}: {c:?}");
        }
    }
}

#[test]
fn matches_the_reference_in_each_dtype_family() {
    for dtype in ["float16", "float8_e4m3", "float8_e5m2"] {
        let spec = format!("tokens=64,hidden=512,intermediate=384,dtype={dtype}");
        let c = check(&spec);
        assert!(c.passed, "{spec}: {c:?}");
    }
}

#[test]
fn decode_streams_the_weights_and_prefill_is_compute_bound() {
    // Llama-3-8B's MLP: one token reads 352 MB of weights; auto holds the token stationary.
    let decode = timing("mlp", "tokens=1,hidden=4096,intermediate=14336");
    assert_eq!(decode.bound, "memory");
    assert!(decode.mbu > 0.9, "mbu {}", decode.mbu);
    let weights = timing(
        "mlp",
        "tokens=1,hidden=4096,intermediate=14336,stationary=weights",
    );
    assert!(decode.time_ns < 0.5 * weights.time_ns);
    let prefill = timing("mlp", "tokens=1024,hidden=2048,intermediate=4096");
    assert_eq!(prefill.bound, "compute");
    assert!(prefill.mfu > 0.9, "mfu {}", prefill.mfu);
}

#[test]
fn bad_parameters_exit_2_naming_them() {
    for (set, name) in [
        ("intermediate=200", "intermediate"),
        ("tokens=0", "tokens"),
        ("stationary=both", "stationary"),
        ("experts=8", "experts"),
    ] {
        rejects("mlp", set, name);
    }
}
