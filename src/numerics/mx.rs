//! OCP microscaling (MX) formats of NeuronCore-v4's MX matmul: elements in fp8 e4m3fn, fp8 e5m2
//! or fp4 e2m1fn, 32 of them along the contraction sharing one e8m0 power-of-two scale.
//!
//! The fp8 element formats are [`DType`]s (decoded by the crate's fp8 codec); fp4 e2m1fn and
//! e8m0 are decoded here, small enough to write by hand, and tested code point by code point
//! against `ml_dtypes`' `float4_e2m1fn` and `float8_e8m0fnu`.

use super::DType;

/// Elements that share one scale (OCP MX block size; NKI: 8 partitions x 4 packed values).
pub const MX_GROUP: usize = 32;
/// Values packed in one element of an MX operand (NKI's `_x4` dtypes): along the contraction.
pub const MX_PACK: usize = 4;
/// Partitions one scale covers: a group of [`MX_GROUP`] values is 8 partitions x [`MX_PACK`].
pub const MX_GROUP_PARTITIONS: usize = MX_GROUP / MX_PACK;

/// The element format of an MX matmul's operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MxFormat {
    /// MXFP8 with OCP fp8 e4m3fn elements (NKI `float8_e4m3fn_x4`).
    Fp8E4M3,
    /// MXFP8 with fp8 e5m2 elements (NKI `float8_e5m2_x4`).
    Fp8E5M2,
    /// MXFP4 with fp4 e2m1fn elements (NKI `float4_e2m1fn_x4`).
    Fp4E2M1,
}

impl MxFormat {
    /// Every format, with its trace name.
    pub const ALL: [(&'static str, MxFormat); 3] = [
        ("mxfp8_e4m3", MxFormat::Fp8E4M3),
        ("mxfp8_e5m2", MxFormat::Fp8E5M2),
        ("mxfp4_e2m1", MxFormat::Fp4E2M1),
    ];

    /// The trace name.
    pub fn name(self) -> &'static str {
        MxFormat::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| n)
    }

    /// The dtype of the buffers that hold the elements: the fp8 format itself, and for fp4
    /// e2m1fn (no 4-bit storage in the simulator) fp8 e4m3fn, which holds every e2m1 value exactly.
    pub fn storage(self) -> DType {
        match self {
            MxFormat::Fp8E4M3 | MxFormat::Fp4E2M1 => DType::Float8E4M3Fn,
            MxFormat::Fp8E5M2 => DType::Float8E5M2,
        }
    }

    /// Whether `x` (a value of a [`MxFormat::storage`] buffer) is an element of this format.
    pub fn holds(self, x: f32) -> bool {
        match self {
            MxFormat::Fp4E2M1 => e2m1_code(x).is_some(),
            _ => true,
        }
    }
}

/// The value of fp4 e2m1fn code `code` (low 4 bits): sign, 2 exponent bits (bias 1), 1 mantissa
/// bit; exponent 0 is subnormal (`m * 0.5`); no infinities or NaN (`ml_dtypes.float4_e2m1fn`).
pub fn decode_e2m1(code: u8) -> f32 {
    let (s, e, m) = ((code >> 3) & 1, (code >> 1) & 3, code & 1);
    let mag = if e == 0 {
        m as f32 * 0.5
    } else {
        (1.0 + m as f32 * 0.5) * (1u32 << (e - 1)) as f32
    };
    if s == 1 { -mag } else { mag }
}

/// The fp4 e2m1fn code of `x`, if `x` is one of its values (`-0.0` is code 8).
pub fn e2m1_code(x: f32) -> Option<u8> {
    (0..16u8).find(|&c| decode_e2m1(c).to_bits() == x.to_bits())
}

/// The value of e8m0 code `code` (`ml_dtypes.float8_e8m0fnu`): `2^(code - 127)`, unsigned, no
/// zero, `0xFF` is NaN.
pub fn decode_e8m0(code: u8) -> f32 {
    if code == 0xff {
        return f32::NAN;
    }
    2f32.powi(code as i32 - 127)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every fp4 e2m1fn code point, as `ml_dtypes.float4_e2m1fn` decodes it.
    #[test]
    fn e2m1_decodes_all_16_codes() {
        let want = [
            0.0f32, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0,
            -6.0,
        ];
        for (c, w) in want.iter().enumerate() {
            assert_eq!(decode_e2m1(c as u8).to_bits(), w.to_bits(), "code {c}");
            assert_eq!(e2m1_code(*w), Some(c as u8));
        }
        assert_eq!(e2m1_code(2.5), None);
        assert_eq!(e2m1_code(f32::NAN), None);
        assert_eq!(e2m1_code(8.0), None);
    }

    /// Every e8m0 code point: 2^(c-127) is the f32 with biased exponent field `c` (c >= 1), and
    /// 2^-127 the f32 subnormal 0x0040_0000; 0xFF is NaN.
    #[test]
    fn e8m0_decodes_all_256_codes() {
        for c in 0..=255u8 {
            let got = decode_e8m0(c);
            match c {
                255 => assert!(got.is_nan()),
                0 => assert_eq!(got.to_bits(), 0x0040_0000),
                _ => assert_eq!(got.to_bits(), (c as u32) << 23, "code {c}"),
            }
        }
        assert_eq!(decode_e8m0(127), 1.0);
        assert_eq!(decode_e8m0(128), 2.0);
        assert_eq!(decode_e8m0(126), 0.5);
        assert_eq!(decode_e8m0(254), 2f32.powi(127));
    }

    #[test]
    fn formats_store_in_fp8_and_name_themselves() {
        for (n, f) in MxFormat::ALL {
            assert_eq!(f.name(), n);
            assert!(f.storage().is_fp8());
        }
        assert!(MxFormat::Fp4E2M1.holds(6.0) && !MxFormat::Fp4E2M1.holds(448.0));
        assert!(MxFormat::Fp8E4M3.holds(448.0));
    }
}
