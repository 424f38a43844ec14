//! The storage formats trnsim knows, their names and their `finfo`-style facts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{Error, Result};

/// A storage data type. Every value of every format is exactly representable in `f32`, which is why
/// the simulator keeps tensors as `f32` values restricted to the format's value set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    /// IEEE binary32.
    Float32,
    /// bfloat16: f32's exponent, 7 mantissa bits.
    BFloat16,
    /// IEEE binary16.
    Float16,
    /// IEEE-style fp8 e4m3 (bias 7, has infinities, max 240): Trn1/Trn2's fp8.
    Float8E4M3,
    /// OCP fp8 e4m3fn (bias 7, no infinities, one NaN per sign, max 448): Trn3's fp8.
    Float8E4M3Fn,
    /// fp8 e5m2 (IEEE-style, bias 15, max 57344).
    Float8E5M2,
    /// fp8 e3m4 (IEEE-style, bias 3, max 15.5).
    Float8E3M4,
}

/// How a format encodes its special values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Specials {
    /// The all-ones exponent holds infinity (mantissa 0) and NaN (mantissa non-zero).
    Ieee,
    /// "Finite" (fn): no infinity; only all-ones exponent and mantissa is NaN.
    FiniteOnly,
}

impl DType {
    /// Every dtype, in the order tables list them.
    pub const ALL: [DType; 7] = [
        DType::Float32,
        DType::BFloat16,
        DType::Float16,
        DType::Float8E4M3,
        DType::Float8E4M3Fn,
        DType::Float8E5M2,
        DType::Float8E3M4,
    ];

    /// The `ml_dtypes` / numpy name.
    pub const fn name(self) -> &'static str {
        match self {
            DType::Float32 => "float32",
            DType::BFloat16 => "bfloat16",
            DType::Float16 => "float16",
            DType::Float8E4M3 => "float8_e4m3",
            DType::Float8E4M3Fn => "float8_e4m3fn",
            DType::Float8E5M2 => "float8_e5m2",
            DType::Float8E3M4 => "float8_e3m4",
        }
    }

    /// The short alias (`bf16`, `fp8_e4m3`, ...).
    pub const fn short_name(self) -> &'static str {
        match self {
            DType::Float32 => "fp32",
            DType::BFloat16 => "bf16",
            DType::Float16 => "fp16",
            DType::Float8E4M3 => "fp8_e4m3",
            DType::Float8E4M3Fn => "fp8_e4m3fn",
            DType::Float8E5M2 => "fp8_e5m2",
            DType::Float8E3M4 => "fp8_e3m4",
        }
    }

    /// Storage width in bits.
    pub const fn bits(self) -> u32 {
        match self {
            DType::Float32 => 32,
            DType::BFloat16 | DType::Float16 => 16,
            _ => 8,
        }
    }

    /// Storage width in bytes.
    pub const fn size_bytes(self) -> usize {
        (self.bits() / 8) as usize
    }

    /// Explicitly stored mantissa (fraction) bits.
    pub const fn mantissa_bits(self) -> u32 {
        match self {
            DType::Float32 => 23,
            DType::BFloat16 => 7,
            DType::Float16 => 10,
            DType::Float8E4M3 | DType::Float8E4M3Fn => 3,
            DType::Float8E5M2 => 2,
            DType::Float8E3M4 => 4,
        }
    }

    /// Exponent field bits.
    pub const fn exponent_bits(self) -> u32 {
        self.bits() - 1 - self.mantissa_bits()
    }

    /// Exponent bias: `2^(exponent_bits - 1) - 1` (IEEE-style).
    pub const fn exponent_bias(self) -> i32 {
        (1 << (self.exponent_bits() - 1)) - 1
    }

    pub(crate) const fn specials(self) -> Specials {
        match self {
            DType::Float8E4M3Fn => Specials::FiniteOnly,
            _ => Specials::Ieee,
        }
    }

    /// Whether the format has infinities (`float8_e4m3fn` has none: overflow gives NaN).
    pub const fn has_inf(self) -> bool {
        matches!(self.specials(), Specials::Ieee)
    }

    /// Whether this is one of the 8-bit formats.
    pub const fn is_fp8(self) -> bool {
        self.bits() == 8
    }

    /// Magnitude bits of the largest finite value.
    pub(crate) const fn max_finite_bits(self) -> u32 {
        let m = self.mantissa_bits();
        let e = self.exponent_bits();
        match self.specials() {
            Specials::Ieee => (((1 << e) - 2) << m) | ((1 << m) - 1),
            Specials::FiniteOnly => (((1 << e) - 1) << m) | ((1 << m) - 2),
        }
    }

    /// Magnitude bits of +inf (ieee formats) or of the NaN that overflow produces (fn formats).
    pub(crate) const fn overflow_bits(self) -> u32 {
        let m = self.mantissa_bits();
        let e = self.exponent_bits();
        match self.specials() {
            Specials::Ieee => ((1 << e) - 1) << m,
            Specials::FiniteOnly => (1 << (e + m)) - 1,
        }
    }

    /// Magnitude bits of the canonical (quiet) NaN, as `ml_dtypes` produces it.
    pub(crate) const fn nan_bits(self) -> u32 {
        let m = self.mantissa_bits();
        let e = self.exponent_bits();
        match self.specials() {
            Specials::Ieee => (((1 << e) - 1) << m) | (1 << (m - 1)),
            Specials::FiniteOnly => (1 << (e + m)) - 1,
        }
    }

    /// Largest finite value.
    pub fn max(self) -> f32 {
        self.decode(self.max_finite_bits())
    }

    /// Smallest positive normal value.
    pub fn smallest_normal(self) -> f32 {
        self.decode(1 << self.mantissa_bits())
    }

    /// Smallest positive subnormal value.
    pub fn smallest_subnormal(self) -> f32 {
        self.decode(1)
    }

    /// Machine epsilon: the distance from 1.0 to the next larger value.
    pub fn epsilon(self) -> f32 {
        (-(self.mantissa_bits() as f32)).exp2()
    }

    /// Unit roundoff of round-to-nearest: half of epsilon.
    pub fn unit_roundoff(self) -> f32 {
        self.epsilon() / 2.0
    }

    /// How many bit patterns are NaN.
    pub const fn nan_count(self) -> u64 {
        match self.specials() {
            Specials::Ieee => 2 * ((1u64 << self.mantissa_bits()) - 1),
            Specials::FiniteOnly => 2,
        }
    }

    /// The NaN encodings described for a person.
    pub fn nan_encodings(self) -> String {
        let width = (self.bits() / 4) as usize;
        match self.specials() {
            Specials::Ieee => format!(
                "exponent all ones, mantissa non-zero ({} patterns; canonical 0x{:0w$x})",
                self.nan_count(),
                self.nan_bits(),
                w = width
            ),
            Specials::FiniteOnly => {
                let all = self.nan_bits();
                let neg = all | (1 << (self.bits() - 1));
                format!("0x{all:0width$x} and 0x{neg:0width$x} (all bits set but the sign)")
            }
        }
    }

    /// Decode a bit pattern (in the low bits) to its exact `f32` value.
    pub fn decode(self, bits: u32) -> f32 {
        super::codec::decode(self, bits)
    }

    /// The facts a person asks `finfo` for.
    pub fn info(self) -> DTypeInfo {
        DTypeInfo {
            name: self.name(),
            short_name: self.short_name(),
            bits: self.bits(),
            exponent_bits: self.exponent_bits(),
            mantissa_bits: self.mantissa_bits(),
            exponent_bias: self.exponent_bias(),
            max: self.max(),
            smallest_normal: self.smallest_normal(),
            smallest_subnormal: self.smallest_subnormal(),
            eps: self.epsilon(),
            has_inf: self.has_inf(),
            nan_count: self.nan_count(),
            nan_encodings: self.nan_encodings(),
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DType {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        DType::ALL
            .into_iter()
            .find(|d| d.name() == lower || d.short_name() == lower)
            .ok_or_else(|| Error::UnknownDType {
                name: s.to_string(),
                valid: valid_names(),
            })
    }
}

/// All accepted names, long and short, for error messages.
pub fn valid_names() -> String {
    DType::ALL
        .iter()
        .map(|d| format!("{} ({})", d.name(), d.short_name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `finfo`-like description of a dtype.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DTypeInfo {
    /// `ml_dtypes` name.
    pub name: &'static str,
    /// Short alias.
    pub short_name: &'static str,
    /// Storage width.
    pub bits: u32,
    /// Exponent field width.
    pub exponent_bits: u32,
    /// Stored mantissa width.
    pub mantissa_bits: u32,
    /// Exponent bias: stored exponent minus true exponent.
    pub exponent_bias: i32,
    /// Largest finite value.
    pub max: f32,
    /// Smallest positive normal.
    pub smallest_normal: f32,
    /// Smallest positive subnormal.
    pub smallest_subnormal: f32,
    /// Machine epsilon.
    pub eps: f32,
    /// Whether infinities exist.
    pub has_inf: bool,
    /// Number of NaN bit patterns.
    pub nan_count: u64,
    /// NaN encodings, for a person.
    pub nan_encodings: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_match_finfo() {
        // Values from ml_dtypes.finfo / numpy.finfo.
        assert_eq!(DType::Float8E4M3.max(), 240.0);
        assert_eq!(DType::Float8E4M3Fn.max(), 448.0);
        assert_eq!(DType::Float8E5M2.max(), 57344.0);
        assert_eq!(DType::Float8E3M4.max(), 15.5);
        assert_eq!(DType::Float16.max(), 65504.0);
        assert_eq!(DType::BFloat16.max(), 3.389_531_4e38);
        assert_eq!(DType::Float32.max(), f32::MAX);
        assert_eq!(DType::Float8E4M3.smallest_subnormal(), 2f32.powi(-9));
        assert_eq!(DType::Float8E5M2.smallest_subnormal(), 2f32.powi(-16));
        assert_eq!(DType::Float8E3M4.smallest_subnormal(), 2f32.powi(-6));
        assert_eq!(DType::BFloat16.smallest_subnormal(), (-133f32).exp2());
        assert_eq!(DType::Float32.smallest_subnormal(), f32::from_bits(1));
        assert_eq!(DType::Float16.smallest_normal(), 2f32.powi(-14));
        assert_eq!(DType::Float32.smallest_normal(), f32::MIN_POSITIVE);
        assert_eq!(DType::Float8E4M3Fn.epsilon(), 0.125);
        assert_eq!(DType::Float32.epsilon(), f32::EPSILON);
        assert_eq!(DType::Float8E4M3Fn.nan_count(), 2);
        assert_eq!(DType::Float8E4M3.nan_count(), 14);
        assert!(!DType::Float8E4M3Fn.has_inf());
    }

    #[test]
    fn names_parse_both_ways() {
        for d in DType::ALL {
            assert_eq!(d.name().parse::<DType>().unwrap(), d);
            assert_eq!(d.short_name().parse::<DType>().unwrap(), d);
            assert_eq!(d.name().to_uppercase().parse::<DType>().unwrap(), d);
        }
        let err = "fp7".parse::<DType>().unwrap_err().to_string();
        assert!(
            err.contains("fp7") && err.contains("float8_e4m3fn") && err.contains("bf16"),
            "{err}"
        );
    }
}
