//! Properties of the conversions against independent references: an exact f64 reference for
//! correct rounding, the `float8` crate for saturating e4m3fn/e5m2, and statistics for stochastic
//! rounding.

use proptest::prelude::*;
use trnsim::numerics::{Cast, DType, Overflow, Rounding};

const NARROW: [DType; 6] = [
    DType::BFloat16,
    DType::Float16,
    DType::Float8E4M3,
    DType::Float8E4M3Fn,
    DType::Float8E5M2,
    DType::Float8E3M4,
];

/// The representable neighbours below and above |x| (x finite, within range), by scanning
/// encodings: an independent reference built only from `decode`.
fn neighbours(d: DType, x: f64) -> (f64, f64) {
    let a = x.abs();
    let mut lo = 0.0f64;
    let max_bits = (1u32 << (d.bits() - 1)) - 1;
    // Binary search over positive bit patterns (monotonic in value for finite values).
    let (mut l, mut h) = (0u32, max_bits);
    while l < h {
        let m = (l + h).div_ceil(2);
        let v = d.decode(m) as f64;
        if v.is_finite() && v <= a {
            l = m;
        } else {
            h = m - 1;
        }
    }
    lo = lo.max(d.decode(l) as f64);
    let hi = if lo == a { lo } else { d.decode(l + 1) as f64 };
    (lo, hi)
}

/// Round-to-nearest-even reference in f64: exact, since every value and midpoint here is exact in f64.
fn reference_nearest(d: DType, x: f64) -> f64 {
    let (lo, hi) = neighbours(d, x);
    let a = x.abs();
    let mid = (lo + hi) / 2.0;
    let lo_even = Cast::new(d).encode(lo as f32, 0) & 1 == 0;
    let r = if a < mid || (a == mid && lo_even) {
        lo
    } else {
        hi
    };
    r.copysign(x)
}

/// Finite values within the format's range, spread evenly over its binades (subnormals included).
fn finite_in_range(d: DType) -> impl Strategy<Value = f64> {
    let m = d.max() as f64;
    let lo_exp = d.smallest_subnormal().log2() as i32 - 2;
    let hi_exp = m.log2().ceil() as i32;
    prop_oneof![
        -m..m,
        (lo_exp..hi_exp, -2.0f64..2.0).prop_map(move |(e, f)| (f * 2f64.powi(e)).clamp(-m, m)),
    ]
}

fn any_dtype_and_value() -> impl Strategy<Value = (DType, f64)> {
    (0usize..6).prop_flat_map(|i| (Just(NARROW[i]), finite_in_range(NARROW[i])))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn f64_nearest_is_correctly_rounded(x in any_dtype_and_value()) {
        let (d, x) = x;
        let got = d.decode(Cast::new(d).encode_f64(x, 0)) as f64;
        let want = reference_nearest(d, x);
        prop_assert!(got == want || (got == 0.0 && want == 0.0), "{d}: {x:e} -> {got:e}, reference {want:e}");
    }

    #[test]
    fn f32_nearest_is_correctly_rounded(x in any_dtype_and_value()) {
        let (d, x) = x;
        let x = (x as f32).clamp(-d.max(), d.max());
        let got = Cast::new(d).round(x, 0) as f64;
        let want = reference_nearest(d, x as f64);
        prop_assert!(got == want || (got == 0.0 && want == 0.0), "{d}: {x:e} -> {got:e}, reference {want:e}");
    }

    #[test]
    fn saturate_equals_clamp_then_cast(i in 0usize..6, bits in any::<u32>()) {
        let d = NARROW[i];
        let x = f32::from_bits(bits);
        let sat = Cast::new(d).overflow(Overflow::Saturate).encode(x, 0);
        let clamped = if x.is_nan() { x } else { x.clamp(-d.max(), d.max()) };
        let want = Cast::new(d).encode(clamped, 0);
        prop_assert!(sat == want || (d.decode(sat).is_nan() && d.decode(want).is_nan()));
    }

    #[test]
    fn saturating_e4m3fn_and_e5m2_agree_with_float8_crate(bits in any::<u32>()) {
        let x = f32::from_bits(bits);
        prop_assume!(!x.is_nan());
        let ours = Cast::new(DType::Float8E4M3Fn).overflow(Overflow::Saturate).encode(x, 0);
        prop_assert_eq!(ours, float8::F8E4M3::from_f32(x).to_bits() as u32, "e4m3fn {:e}", x);
        let ours = Cast::new(DType::Float8E5M2).overflow(Overflow::Saturate).encode(x, 0);
        prop_assert_eq!(ours, float8::F8E5M2::from_f32(x).to_bits() as u32, "e5m2 {:e}", x);
    }

    #[test]
    fn stochastic_result_is_a_neighbour(x in any_dtype_and_value(), seed in any::<u64>(), index in any::<u64>()) {
        let (d, x) = x;
        let x = (x as f32).clamp(-d.max(), d.max());
        let got = Cast::new(d).rounding(Rounding::Stochastic).seed(seed).round(x, index) as f64;
        let (lo, hi) = neighbours(d, x as f64);
        prop_assert!(got.abs() == lo || got.abs() == hi, "{d}: {x} -> {got}, neighbours {lo} {hi}");
    }
}

/// For values strictly between two neighbours, the mean of 1,000,000 stochastic roundings is
/// within 4 standard errors of the input.
#[test]
fn stochastic_rounding_is_unbiased() {
    const N: usize = 1_000_000;
    for d in NARROW {
        let sub = d.smallest_subnormal() as f64;
        let one_ulp = d.epsilon() as f64;
        let cases = [
            1.0 + 0.3 * one_ulp,
            -(3.0 + 0.71 * 2.0 * one_ulp),
            0.37 * sub,
            2.0 * sub + 0.9 * sub,
            d.max() as f64 * (1.0 - 0.2 * one_ulp / 2.0),
        ];
        for x in cases {
            let x32 = x as f32;
            let x = x32 as f64; // the input as the cast sees it
            let (lo, hi) = neighbours(d, x);
            assert!(
                lo < x.abs() && x.abs() < hi,
                "{d}: {x:e} is not strictly between neighbours"
            );
            let cast = Cast::new(d).rounding(Rounding::Stochastic).seed(12345);
            let src = vec![x32; N];
            let mut out = vec![0.0f32; N];
            cast.round_slice(&src, 0, &mut out).unwrap();
            let mean = out.iter().map(|&v| v as f64).sum::<f64>() / N as f64;
            let p = (x.abs() - lo) / (hi - lo);
            let se = (p * (1.0 - p)).sqrt() * (hi - lo) / (N as f64).sqrt();
            assert!(
                (mean - x).abs() <= 4.0 * se,
                "{d}: input {x:e}, mean {mean:e}, 4 SE = {:e}",
                4.0 * se
            );
        }
    }
}

#[test]
fn stochastic_rounding_is_deterministic_per_seed() {
    let src: Vec<f32> = (0..10_000).map(|i| 1.0 + i as f32 * 1e-5).collect();
    let run = |seed| {
        let mut out = vec![0u8; src.len()];
        Cast::new(DType::Float8E4M3)
            .rounding(Rounding::Stochastic)
            .seed(seed)
            .encode_slice_u8(&src, 0, &mut out)
            .unwrap();
        out
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1), run(2));
    // Chunking does not change the stream: positions carry the randomness.
    let c = Cast::new(DType::Float8E4M3)
        .rounding(Rounding::Stochastic)
        .seed(1);
    let mut halves = vec![0u8; src.len()];
    let (a, b) = halves.split_at_mut(4321);
    c.encode_slice_u8(&src[..4321], 0, a).unwrap();
    c.encode_slice_u8(&src[4321..], 4321, b).unwrap();
    assert_eq!(halves, run(1));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    /// Values a hair above or below a tie must not be pulled onto the tie by an intermediate f32
    /// rounding (the double-rounding error `ml_dtypes` makes for f64 inputs).
    #[test]
    fn f64_near_ties_round_away_from_the_tie(i in 0usize..6, frac in 0.0f64..1.0, above in any::<bool>(), negative in any::<bool>()) {
        let d = NARROW[i];
        let max_bits = Cast::new(d).encode(d.max(), 0);
        let b = (frac * max_bits as f64) as u32;
        let (lo, hi) = (d.decode(b) as f64, d.decode(b + 1) as f64);
        let mid = (lo + hi) / 2.0;
        let nudge = mid.abs().max(d.smallest_subnormal() as f64) * 2f64.powi(-35);
        let x = if above { mid + nudge } else { mid - nudge };
        let x = if negative { -x } else { x };
        let got = d.decode(Cast::new(d).encode_f64(x, 0)) as f64;
        let want = if above { hi } else { lo };
        prop_assert_eq!(got.abs(), want, "{}: {:e}", d, x);
    }
}

/// Pinned from a shrunk proptest case: a value beyond float8_e4m3's range (max 240) overflows to
/// -inf under the ieee mode and saturates to -240.
#[test]
fn pinned_f64_beyond_e4m3_range_overflows() {
    let x = -489.0347057178515;
    assert_eq!(Cast::new(DType::Float8E4M3).encode_f64(x, 0), 0xf8);
    assert_eq!(
        Cast::new(DType::Float8E4M3)
            .overflow(Overflow::Saturate)
            .encode_f64(x, 0),
        0xf7
    );
}
