//! The public conversion API: a [`Cast`] names a target dtype, a rounding mode, an overflow mode
//! and (for stochastic rounding) a seed, and converts scalars or whole slices.

use serde::{Deserialize, Serialize};

use super::codec::{self, Fmt, dispatch};
use super::{DType, Error, Overflow, Result, Rounding};

/// The random bits for element `index` of the stream `seed`: SplitMix64 evaluated at position
/// `index`. Counter-based, so a slice gives the same bits however it is chunked or parallelized.
#[inline(always)]
pub fn random_u32(seed: u64, index: u64) -> u32 {
    let mut z = mix64(seed).wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 32) as u32
}

#[inline(always)]
const fn mix64(seed: u64) -> u64 {
    let mut z = seed ^ 0x6A09_E667_F3BC_C909;
    z = (z ^ (z >> 33)).wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    z = (z ^ (z >> 33)).wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    z ^ (z >> 33)
}

/// A conversion to one dtype with fixed rounding and overflow rules.
///
/// Stochastic rounding draws element `i`'s random bits from position `first_index + i` of the
/// seed's stream, so results depend only on (seed, position, value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cast {
    /// Target format.
    pub dtype: DType,
    /// Rounding mode.
    pub rounding: Rounding,
    /// Overflow mode.
    pub overflow: Overflow,
    /// Seed of the stochastic-rounding stream (unused by round-to-nearest).
    pub seed: u64,
}

impl Cast {
    /// Round to nearest even, overflow as `ml_dtypes`.
    pub const fn new(dtype: DType) -> Self {
        Cast {
            dtype,
            rounding: Rounding::Nearest,
            overflow: Overflow::Ieee,
            seed: 0,
        }
    }

    /// The same cast with another rounding mode.
    pub const fn rounding(mut self, rounding: Rounding) -> Self {
        self.rounding = rounding;
        self
    }

    /// The same cast with another overflow mode.
    pub const fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }

    /// The same cast with another stochastic-rounding seed.
    pub const fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    #[inline]
    fn random(&self, index: u64) -> u32 {
        match self.rounding {
            Rounding::Nearest => 0,
            Rounding::Stochastic => random_u32(self.seed, index),
        }
    }

    /// Encode one `f32`; `index` is its position in the stochastic stream.
    #[inline]
    pub fn encode(&self, x: f32, index: u64) -> u32 {
        codec::encode_f32(
            self.dtype,
            self.rounding,
            self.overflow,
            x,
            self.random(index),
        )
    }

    /// Encode one `f64`, correctly rounded (no double rounding through `f32`).
    pub fn encode_f64(&self, x: f64, index: u64) -> u32 {
        codec::encode_f64(
            self.dtype,
            self.rounding,
            self.overflow,
            x,
            self.random(index),
        )
    }

    /// Round one `f32` to the nearest value of the format (per the modes), returned as `f32`.
    #[inline]
    pub fn round(&self, x: f32, index: u64) -> f32 {
        self.dtype.decode(self.encode(x, index))
    }

    /// Encode a slice into 8-bit patterns; the dtype must be an 8-bit format.
    pub fn encode_slice_u8(&self, src: &[f32], first_index: u64, dst: &mut [u8]) -> Result<()> {
        self.check_slices(8, src.len(), dst.len())?;
        dispatch!(self.dtype, F => self.encode_loop::<F, u8>(src, first_index, dst),
            f32 => unreachable!("checked: 8-bit format"));
        Ok(())
    }

    /// Encode a slice into 16-bit patterns; the dtype must be a 16-bit format.
    pub fn encode_slice_u16(&self, src: &[f32], first_index: u64, dst: &mut [u16]) -> Result<()> {
        self.check_slices(16, src.len(), dst.len())?;
        let nearest_ieee = self.rounding == Rounding::Nearest && self.overflow == Overflow::Ieee;
        if self.dtype == DType::BFloat16 && nearest_ieee {
            // `half`'s conversion is the fastest we measured (benches/numerics.rs); it keeps NaN
            // payloads, where ml_dtypes gives the canonical quiet NaN.
            for (d, &s) in dst.iter_mut().zip(src) {
                let h = half::bf16::from_f32(s).to_bits();
                *d = if s.is_nan() { (h & 0x8000) | 0x7fc0 } else { h };
            }
            return Ok(());
        }
        if self.dtype == DType::Float16 && nearest_ieee {
            // `half` converts with the F16C instructions when the CPU has them.
            use half::slice::HalfFloatSliceExt;
            half::slice::HalfBitsSliceExt::reinterpret_cast_mut::<half::f16>(dst)
                .convert_from_f32_slice(src);
            // F16C keeps NaN payloads; ml_dtypes (numpy) gives the canonical quiet NaN.
            for (d, s) in dst.iter_mut().zip(src) {
                if s.is_nan() {
                    *d = (*d & 0x8000) | 0x7e00;
                }
            }
            return Ok(());
        }
        dispatch!(self.dtype, F => self.encode_loop::<F, u16>(src, first_index, dst),
            f32 => unreachable!("checked: 16-bit format"));
        Ok(())
    }

    /// Round a slice to the format's values, kept as `f32` (how tensors are stored).
    pub fn round_slice(&self, src: &[f32], first_index: u64, dst: &mut [f32]) -> Result<()> {
        if src.len() != dst.len() {
            return Err(Error::LengthMismatch {
                src: src.len(),
                dst: dst.len(),
            });
        }
        let sat = self.overflow == Overflow::Saturate;
        match self.dtype {
            DType::Float32 => {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = if sat && s.is_infinite() {
                        f32::MAX.copysign(s)
                    } else {
                        s
                    };
                }
            }
            DType::BFloat16 | DType::Float16 => {
                // Chunked through a stack buffer so the encoder's loop stays vectorized.
                let mut buf = [0u16; 1024];
                for (k, (s, d)) in src.chunks(1024).zip(dst.chunks_mut(1024)).enumerate() {
                    let b = &mut buf[..s.len()];
                    self.encode_slice_u16(s, first_index + (k * 1024) as u64, b)?;
                    for (o, &bits) in d.iter_mut().zip(b.iter()) {
                        *o = self.dtype.decode(bits as u32);
                    }
                }
            }
            _ => {
                let table = codec::fp8_table(self.dtype);
                let mut buf = [0u8; 1024];
                for (k, (s, d)) in src.chunks(1024).zip(dst.chunks_mut(1024)).enumerate() {
                    let b = &mut buf[..s.len()];
                    self.encode_slice_u8(s, first_index + (k * 1024) as u64, b)?;
                    for (o, &bits) in d.iter_mut().zip(b.iter()) {
                        *o = table[bits as usize];
                    }
                }
            }
        }
        Ok(())
    }

    fn check_slices(&self, bits: u32, src: usize, dst: usize) -> Result<()> {
        if self.dtype.bits() != bits {
            return Err(Error::WidthMismatch {
                dtype: self.dtype,
                bits,
            });
        }
        if src != dst {
            return Err(Error::LengthMismatch { src, dst });
        }
        Ok(())
    }

    fn encode_loop<F: Fmt, T: Narrow>(&self, src: &[f32], first: u64, dst: &mut [T]) {
        let sat = self.overflow == Overflow::Saturate;
        match (self.rounding, sat) {
            (Rounding::Nearest, false) => nearest_loop::<F, T, false>(src, dst),
            (Rounding::Nearest, true) => nearest_loop::<F, T, true>(src, dst),
            (Rounding::Stochastic, false) => {
                stochastic_loop::<F, T, false>(src, self.seed, first, dst)
            }
            (Rounding::Stochastic, true) => {
                stochastic_loop::<F, T, true>(src, self.seed, first, dst)
            }
        }
    }
}

/// Storage integer of a narrow format.
trait Narrow: Copy {
    fn from_bits(b: u32) -> Self;
}
impl Narrow for u8 {
    #[inline(always)]
    fn from_bits(b: u32) -> Self {
        b as u8
    }
}
impl Narrow for u16 {
    #[inline(always)]
    fn from_bits(b: u32) -> Self {
        b as u16
    }
}

fn nearest_loop<F: Fmt, T: Narrow, const SAT: bool>(src: &[f32], dst: &mut [T]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = T::from_bits(codec::encode_nearest::<F, SAT>(s));
    }
}

fn stochastic_loop<F: Fmt, T: Narrow, const SAT: bool>(
    src: &[f32],
    seed: u64,
    first: u64,
    dst: &mut [T],
) {
    for (i, (d, &s)) in dst.iter_mut().zip(src).enumerate() {
        let r = random_u32(seed, first.wrapping_add(i as u64));
        *d = T::from_bits(codec::encode_stochastic::<F, SAT>(s, r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_stream_depends_on_seed_and_index_only() {
        assert_eq!(random_u32(1, 5), random_u32(1, 5));
        assert_ne!(random_u32(1, 5), random_u32(2, 5));
        assert_ne!(random_u32(1, 5), random_u32(1, 6));
        // Roughly uniform: mean of 100k draws within 1 % of 2^31.
        let mean: f64 = (0..100_000).map(|i| random_u32(9, i) as f64).sum::<f64>() / 100_000.0;
        assert!((mean / 2f64.powi(31) - 1.0).abs() < 0.01, "{mean}");
    }

    #[test]
    fn slices_agree_with_scalars_in_every_mode() {
        let src: Vec<f32> = (0..5000)
            .map(|i| ((i as f32) * 0.731).sin() * 300.0 + 1e-3 * i as f32)
            .collect();
        for dtype in DType::ALL {
            for rounding in [Rounding::Nearest, Rounding::Stochastic] {
                for overflow in [Overflow::Ieee, Overflow::Saturate] {
                    let c = Cast::new(dtype)
                        .rounding(rounding)
                        .overflow(overflow)
                        .seed(42);
                    let mut rounded = vec![0.0; src.len()];
                    c.round_slice(&src, 100, &mut rounded).unwrap();
                    for (i, (&s, &r)) in src.iter().zip(&rounded).enumerate() {
                        let e = c.round(s, 100 + i as u64);
                        assert!(
                            e.to_bits() == r.to_bits() || (e.is_nan() && r.is_nan()),
                            "{dtype} {rounding:?} {overflow:?} {s}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn width_and_length_are_checked() {
        let c = Cast::new(DType::BFloat16);
        assert!(matches!(
            c.encode_slice_u8(&[1.0], 0, &mut [0u8]),
            Err(Error::WidthMismatch { .. })
        ));
        assert!(matches!(
            c.encode_slice_u16(&[1.0, 2.0], 0, &mut [0u16]),
            Err(Error::LengthMismatch { .. })
        ));
    }
}
