//! Bit-exact encoding of `f32`/`f64` values into the narrow formats, and exact decoding.
//!
//! One generic, branch-free encoder serves every narrow format: the format's geometry is a set of
//! compile-time constants (through [`Fmt`]), so each format gets its own monomorphized loop that the
//! compiler vectorizes. Round-to-nearest-even matches `ml_dtypes` bit for bit (checked exhaustively by
//! `tests/numerics_golden.rs`); overflow follows `ml_dtypes` (inf, or NaN where the format has none) or
//! saturates; NaN becomes the canonical quiet NaN with the input's sign, as `ml_dtypes` does.
//!
//! `float8` (the crate) does e4m3fn and e5m2 with saturation only and through `f64` with branches;
//! it serves as an independent oracle in the tests and a baseline in `benches/numerics.rs`.

use std::sync::LazyLock;

use super::DType;

/// Round-to-nearest-even or stochastic rounding.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Round to nearest, ties to even (the hardware default).
    #[default]
    Nearest,
    /// Round up with probability equal to the distance from the lower neighbour, in ulps
    /// (unbiased: the expected result is the input).
    Stochastic,
}

/// What happens to finite values beyond the largest finite value (and to infinities).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Overflow {
    /// As `ml_dtypes`: to infinity, or to NaN where the format has no infinity.
    #[default]
    Ieee,
    /// To the largest finite value of the same sign; infinities too. NaN stays NaN.
    Saturate,
}

/// Marker types for the narrow formats: each carries its geometry as constants.
pub(crate) trait Fmt {
    const DTYPE: DType;
    const MAN: u32 = Self::DTYPE.mantissa_bits();
    const BIAS: u32 = Self::DTYPE.exponent_bias() as u32;
    const SIGN_SHIFT: u32 = Self::DTYPE.bits() - 1;
    /// Bits of f32 mantissa dropped when encoding a normal value.
    const SHIFT: u32 = 23 - Self::MAN;
    /// Subtracting this from f32 bits re-biases the exponent to the target's bias.
    const REBIAS: u32 = (127 - Self::BIAS) << 23;
    /// f32 bits of the target's smallest normal: below it the result is subnormal.
    const MIN_NORMAL_F32: u32 = (127 + 1 - Self::BIAS) << 23;
    /// f32 bits of 2^(24 - bias - man): adding it aligns the target's subnormal steps with f32 ulps.
    const MAGIC_F32: u32 = (127 + 24 - Self::BIAS - Self::MAN) << 23;
    const MAX_FINITE: u32 = Self::DTYPE.max_finite_bits();
    const OVERFLOW: u32 = Self::DTYPE.overflow_bits();
    const NAN: u32 = Self::DTYPE.nan_bits();
}

macro_rules! fmt_marker {
    ($name:ident, $dtype:expr) => {
        pub(crate) struct $name;
        impl Fmt for $name {
            const DTYPE: DType = $dtype;
        }
    };
}
fmt_marker!(Bf16, DType::BFloat16);
fmt_marker!(F16, DType::Float16);
fmt_marker!(E4M3, DType::Float8E4M3);
fmt_marker!(E4M3Fn, DType::Float8E4M3Fn);
fmt_marker!(E5M2, DType::Float8E5M2);
fmt_marker!(E3M4, DType::Float8E3M4);

/// Run `$body` with `$F` bound to the marker type of a narrow `$dtype` (Float32 goes to `$f32`).
macro_rules! dispatch {
    ($dtype:expr, $F:ident => $body:expr, f32 => $f32:expr) => {
        match $dtype {
            DType::Float32 => $f32,
            DType::BFloat16 => {
                type $F = $crate::numerics::codec::Bf16;
                $body
            }
            DType::Float16 => {
                type $F = $crate::numerics::codec::F16;
                $body
            }
            DType::Float8E4M3 => {
                type $F = $crate::numerics::codec::E4M3;
                $body
            }
            DType::Float8E4M3Fn => {
                type $F = $crate::numerics::codec::E4M3Fn;
                $body
            }
            DType::Float8E5M2 => {
                type $F = $crate::numerics::codec::E5M2;
                $body
            }
            DType::Float8E3M4 => {
                type $F = $crate::numerics::codec::E3M4;
                $body
            }
        }
    };
}
pub(crate) use dispatch;

/// Apply NaN and overflow rules to a rounded magnitude and attach the sign.
#[inline(always)]
fn finish<F: Fmt, const SAT: bool>(bits: u32, abs: u32, mag: u32) -> u32 {
    let sign = (bits >> 31) << F::SIGN_SHIFT;
    let over = if SAT { F::MAX_FINITE } else { F::OVERFLOW };
    let mag = if mag > F::MAX_FINITE { over } else { mag };
    let mag = if abs > 0x7f80_0000 { F::NAN } else { mag };
    sign | mag
}

/// Round-to-nearest-even encoding of one `f32` (branch-free, so slice loops vectorize).
#[inline(always)]
pub(crate) fn encode_nearest<F: Fmt, const SAT: bool>(x: f32) -> u32 {
    let bits = x.to_bits();
    let abs = bits & 0x7fff_ffff;
    // Normal result: re-bias, add half an ulp minus one plus the kept lsb (ties to even), truncate.
    let lsb = (abs >> F::SHIFT) & 1;
    let normal = abs
        .wrapping_sub(F::REBIAS)
        .wrapping_add((1 << (F::SHIFT - 1)) - 1 + lsb)
        >> F::SHIFT;
    // Subnormal result: the FPU's own round-to-nearest-even does the work when the value is added
    // to a power of two whose ulp is the target's smallest subnormal. A result of 2^man steps is
    // exactly the encoding of the smallest normal, so rounding up across the boundary is free.
    let magic = f32::from_bits(F::MAGIC_F32);
    let sub = (f32::from_bits(abs) + magic)
        .to_bits()
        .wrapping_sub(F::MAGIC_F32);
    let mag = if abs < F::MIN_NORMAL_F32 { sub } else { normal };
    finish::<F, SAT>(bits, abs, mag)
}

/// Stochastic-rounding encoding of one `f32` with 32 random bits `r`.
///
/// Exactly unbiased whenever at most 32 bits are dropped (every normal result, and subnormal
/// results of inputs within 2^(32 - 24) steps of the subnormal range); deeper underflow keeps the
/// top 32 dropped bits, a bias below 2^-32 of the smallest subnormal.
#[inline(always)]
pub(crate) fn encode_stochastic<F: Fmt, const SAT: bool>(x: f32, r: u32) -> u32 {
    let bits = x.to_bits();
    let abs = bits & 0x7fff_ffff;
    let mag = if abs >= F::MIN_NORMAL_F32 {
        let mask = (1u32 << F::SHIFT) - 1;
        // Cannot overflow u32: abs <= 0x7fff_ffff and the addend < 2^20.
        (abs - F::REBIAS + (r & mask)) >> F::SHIFT
    } else {
        let e = abs >> 23;
        let sig = (abs & 0x7f_ffff) | ((e != 0) as u32) << 23;
        // The value is sig * 2^(max(e,1) - 150); in subnormal steps of 2^(1 - bias - man) that is
        // sig / 2^d with d as below (always >= 24 - man > 0 here).
        let d = 151 - F::BIAS - F::MAN - e.max(1);
        let (sig, d) = if d > 32 {
            // Keep the top bits that 32 random bits can resolve.
            let s = d - 32;
            (if s >= 32 { 0 } else { sig >> s }, 32)
        } else {
            (sig, d)
        };
        let mask = if d == 32 {
            u32::MAX as u64
        } else {
            (1u64 << d) - 1
        };
        ((sig as u64 + (r as u64 & mask)) >> d) as u32
    };
    finish::<F, SAT>(bits, abs, mag)
}

/// `f64` to `f32` rounding to odd: a later round-to-nearest to any format with at least two fewer
/// significand bits than `f32` is then correctly rounded (no double-rounding error).
#[inline]
pub(crate) fn f64_to_f32_round_to_odd(x: f64) -> f32 {
    let f = x as f32;
    if f.is_nan() || f as f64 == x {
        return f;
    }
    let mut b = f.to_bits();
    if (f as f64).abs() > x.abs() {
        b -= 1; // step toward zero; from inf this lands on MAX, itself odd
    }
    f32::from_bits(b | 1)
}

/// Stochastic rounding of an `f64` to `f32`.
fn f64_to_f32_stochastic(x: f64, r: u32) -> f32 {
    let t = f64_to_f32_round_to_odd(x);
    if t.is_nan() || t.is_infinite() || t as f64 == x {
        return x as f32;
    }
    // Lower (toward zero) and upper neighbours in magnitude.
    let lo = f32::from_bits(t.to_bits() & !1);
    let lo = if (lo as f64).abs() > x.abs() {
        f32::from_bits(lo.to_bits() - 1)
    } else {
        lo
    };
    let hi = f32::from_bits(lo.to_bits() + 1);
    let frac = (x.abs() - (lo as f64).abs()) / ((hi as f64).abs() - (lo as f64).abs());
    if (r as f64) < frac * 4_294_967_296.0 {
        hi
    } else {
        lo
    }
}

/// Encode one value: `index` selects the random stream position for stochastic rounding.
#[inline]
pub(crate) fn encode_f32(
    dtype: DType,
    rounding: Rounding,
    overflow: Overflow,
    x: f32,
    r: u32,
) -> u32 {
    let sat = overflow == Overflow::Saturate;
    dispatch!(dtype, F => match (rounding, sat) {
        (Rounding::Nearest, false) => encode_nearest::<F, false>(x),
        (Rounding::Nearest, true) => encode_nearest::<F, true>(x),
        (Rounding::Stochastic, false) => encode_stochastic::<F, false>(x, r),
        (Rounding::Stochastic, true) => encode_stochastic::<F, true>(x, r),
    }, f32 => saturate_f32(x, sat).to_bits())
}

/// Encode one `f64`: correctly rounded (not through a rounded `f32`).
pub(crate) fn encode_f64(
    dtype: DType,
    rounding: Rounding,
    overflow: Overflow,
    x: f64,
    r: u32,
) -> u32 {
    let sat = overflow == Overflow::Saturate;
    match (dtype, rounding) {
        (DType::Float32, Rounding::Nearest) => saturate_f32(x as f32, sat).to_bits(),
        (DType::Float32, Rounding::Stochastic) => {
            saturate_f32(f64_to_f32_stochastic(x, r), sat).to_bits()
        }
        // Rounding to odd keeps the sticky information, so the f32 step cannot change the result.
        (_, Rounding::Nearest) => {
            encode_f32(dtype, rounding, overflow, f64_to_f32_round_to_odd(x), r)
        }
        // The odd f32 is within 2^-24 relative of x: stochastic rounding of it is unbiased to that.
        (_, Rounding::Stochastic) => {
            encode_f32(dtype, rounding, overflow, f64_to_f32_round_to_odd(x), r)
        }
    }
}

#[inline(always)]
fn saturate_f32(x: f32, sat: bool) -> f32 {
    if sat && x.is_infinite() {
        f32::MAX.copysign(x)
    } else {
        x
    }
}

/// Decode tables of the 8-bit formats, in `DType::ALL` order of the fp8 formats.
static FP8_TABLES: LazyLock<[[f32; 256]; 4]> = LazyLock::new(|| {
    let mut t = [[0.0f32; 256]; 4];
    for (k, d) in FP8_ORDER.iter().enumerate() {
        for b in 0..256u32 {
            t[k][b as usize] = decode_generic(*d, b);
        }
    }
    t
});

const FP8_ORDER: [DType; 4] = [
    DType::Float8E4M3,
    DType::Float8E4M3Fn,
    DType::Float8E5M2,
    DType::Float8E3M4,
];

#[inline]
pub(crate) fn fp8_table(dtype: DType) -> &'static [f32; 256] {
    let k = match dtype {
        DType::Float8E4M3 => 0,
        DType::Float8E4M3Fn => 1,
        DType::Float8E5M2 => 2,
        DType::Float8E3M4 => 3,
        _ => panic!("fp8_table: {dtype} is not an 8-bit format"),
    };
    &FP8_TABLES[k]
}

/// Exact decoding of any bit pattern of any narrow format, from the format's geometry.
fn decode_generic(dtype: DType, bits: u32) -> f32 {
    let m = dtype.mantissa_bits();
    let e_bits = dtype.exponent_bits();
    let sign_bit = dtype.bits() - 1;
    let negative = (bits >> sign_bit) & 1 == 1;
    let mag = bits & ((1 << sign_bit) - 1);
    let exp = mag >> m;
    let man = mag & ((1 << m) - 1);
    let all_ones = (1 << e_bits) - 1;
    let v = if mag > dtype.max_finite_bits() {
        if dtype.has_inf() && exp == all_ones && man == 0 {
            f32::INFINITY
        } else {
            f32::NAN
        }
    } else if exp == 0 {
        man as f32 * (1.0 - dtype.exponent_bias() as f32 - m as f32).exp2()
    } else {
        f32::from_bits(((exp + 127 - dtype.exponent_bias() as u32) << 23) | (man << (23 - m)))
    };
    if negative { -v } else { v }
}

/// Decode a bit pattern of `dtype` held in the low bits of `bits`; exact.
#[inline]
pub(crate) fn decode(dtype: DType, bits: u32) -> f32 {
    match dtype {
        DType::Float32 => f32::from_bits(bits),
        DType::BFloat16 => half::bf16::from_bits(bits as u16).to_f32(),
        DType::Float16 => half::f16::from_bits(bits as u16).to_f32(),
        _ => fp8_table(dtype)[(bits & 0xff) as usize],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(d: DType, x: f32) -> u32 {
        encode_f32(d, Rounding::Nearest, Overflow::Ieee, x, 0)
    }

    #[test]
    fn decode_matches_half_for_every_16_bit_pattern() {
        for b in 0..=u16::MAX as u32 {
            let ours = decode_generic(DType::BFloat16, b);
            let theirs = half::bf16::from_bits(b as u16).to_f32();
            assert!(
                ours.to_bits() == theirs.to_bits() || (ours.is_nan() && theirs.is_nan()),
                "{b:#x}"
            );
            let ours = decode_generic(DType::Float16, b);
            let theirs = half::f16::from_bits(b as u16).to_f32();
            assert!(
                ours.to_bits() == theirs.to_bits() || (ours.is_nan() && theirs.is_nan()),
                "{b:#x}"
            );
        }
    }

    #[test]
    fn decode_matches_float8_crate() {
        for b in 0..=255u8 {
            let a = decode(DType::Float8E4M3Fn, b as u32);
            let e = float8::F8E4M3::from_bits(b).to_f32();
            assert!(
                a == e || (a.is_nan() && e.is_nan()),
                "e4m3fn {b:#x}: {a} vs {e}"
            );
            let a = decode(DType::Float8E5M2, b as u32);
            let e = float8::F8E5M2::from_bits(b).to_f32();
            assert!(
                a == e || (a.is_nan() && e.is_nan()),
                "e5m2 {b:#x}: {a} vs {e}"
            );
        }
    }

    #[test]
    fn hand_checked_encodings() {
        // 500 overflows e4m3fn: NaN (0x7f) under ieee, 448 (0x7e) saturated.
        assert_eq!(enc(DType::Float8E4M3Fn, 500.0), 0x7f);
        assert_eq!(
            encode_f32(
                DType::Float8E4M3Fn,
                Rounding::Nearest,
                Overflow::Saturate,
                500.0,
                0
            ),
            0x7e
        );
        // 248 is the tie between 240 (0x77) and the would-be 256: to even, i.e. inf (0x78).
        assert_eq!(enc(DType::Float8E4M3, 248.0), 0x78);
        assert_eq!(enc(DType::Float8E4M3, 247.9), 0x77);
        // 1 + 2^-4 is the tie between 1 (0x38) and 1.125 (0x39): to even.
        assert_eq!(enc(DType::Float8E4M3Fn, 1.0625), 0x38);
        // Half the smallest subnormal ties to zero; a hair above goes up.
        assert_eq!(enc(DType::Float8E4M3, 2f32.powi(-10)), 0x00);
        assert_eq!(
            enc(
                DType::Float8E4M3,
                f32::from_bits(2f32.powi(-10).to_bits() + 1)
            ),
            0x01
        );
        assert_eq!(enc(DType::BFloat16, 1.0), 0x3f80);
        assert_eq!(enc(DType::Float16, -2.0), 0xc000);
        assert_eq!(enc(DType::Float8E5M2, f32::NEG_INFINITY), 0xfc);
        assert_eq!(enc(DType::Float8E3M4, 15.5), 0x6f);
    }

    #[test]
    fn f64_is_correctly_rounded_not_double_rounded() {
        // 1 + 2^-4 + 2^-40 is above the tie; via f32 it would become the tie and round down.
        let x = 1.0 + 2f64.powi(-4) + 2f64.powi(-40);
        assert_eq!(
            encode_f64(DType::Float8E4M3Fn, Rounding::Nearest, Overflow::Ieee, x, 0),
            0x39
        );
        let x = 1.0 + 2f64.powi(-8) + 2f64.powi(-40);
        assert_eq!(
            encode_f64(DType::BFloat16, Rounding::Nearest, Overflow::Ieee, x, 0),
            0x3f81
        );
        let x = 1.0 + 2f64.powi(-8);
        assert_eq!(
            encode_f64(DType::BFloat16, Rounding::Nearest, Overflow::Ieee, x, 0),
            0x3f80
        );
        assert_eq!(
            encode_f64(
                DType::Float32,
                Rounding::Nearest,
                Overflow::Saturate,
                1e300,
                0
            ),
            f32::MAX.to_bits()
        );
    }

    #[test]
    fn round_to_odd_sets_sticky_bit() {
        let x = 1.0f64 + 2f64.powi(-30);
        assert_eq!(f64_to_f32_round_to_odd(x).to_bits(), 1.0f32.to_bits() | 1);
        assert_eq!(f64_to_f32_round_to_odd(1e-300).to_bits(), 1);
        assert_eq!(
            f64_to_f32_round_to_odd(-1e300).to_bits(),
            (-f32::MAX).to_bits()
        );
        assert_eq!(f64_to_f32_round_to_odd(0.5).to_bits(), 0.5f32.to_bits());
    }

    #[test]
    fn stochastic_extremes_of_random_bits() {
        // With r = 0 stochastic rounding truncates; with r = all ones it rounds any inexact value up.
        let x = 1.0 + 2f32.powi(-6); // between 1.0 and 1.125 in e4m3
        assert_eq!(
            encode_f32(
                DType::Float8E4M3,
                Rounding::Stochastic,
                Overflow::Ieee,
                x,
                0
            ),
            0x38
        );
        assert_eq!(
            encode_f32(
                DType::Float8E4M3,
                Rounding::Stochastic,
                Overflow::Ieee,
                x,
                u32::MAX
            ),
            0x39
        );
        // Exact values never move.
        assert_eq!(
            encode_f32(
                DType::Float8E4M3,
                Rounding::Stochastic,
                Overflow::Ieee,
                1.0,
                u32::MAX
            ),
            0x38
        );
        let tiny = 2f32.powi(-12); // 1/8 of e4m3's smallest subnormal
        assert_eq!(
            encode_f32(
                DType::Float8E4M3,
                Rounding::Stochastic,
                Overflow::Ieee,
                tiny,
                u32::MAX
            ),
            0x01
        );
        assert_eq!(
            encode_f32(
                DType::Float8E4M3,
                Rounding::Stochastic,
                Overflow::Ieee,
                tiny,
                0
            ),
            0x00
        );
        // Just above max: may round to inf, saturates to max.
        assert_eq!(
            encode_f32(
                DType::Float8E4M3,
                Rounding::Stochastic,
                Overflow::Ieee,
                241.0,
                u32::MAX
            ),
            0x78
        );
        assert_eq!(
            encode_f32(
                DType::Float8E4M3,
                Rounding::Stochastic,
                Overflow::Saturate,
                241.0,
                u32::MAX
            ),
            0x77
        );
        assert_eq!(
            encode_f32(
                DType::Float8E4M3,
                Rounding::Stochastic,
                Overflow::Ieee,
                f32::NAN,
                7
            ) & 0x7f,
            0x7c
        );
    }
}
