//! A tensor that knows its dtype and holds only values representable in it.

use ndarray::{ArrayD, IxDyn};

use super::{Cast, DType, Error, Result};

/// An n-dimensional array of values of one dtype, stored as exact `f32` values (every format here
/// is a subset of `f32`). The invariant "every element is a value of `dtype`" is kept by all
/// constructors, so functional simulation never sees a value the hardware could not hold.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    dtype: DType,
    data: ArrayD<f32>,
}

impl Tensor {
    /// All zeros.
    pub fn zeros(shape: &[usize], dtype: DType) -> Self {
        Tensor {
            dtype,
            data: ArrayD::zeros(IxDyn(shape)),
        }
    }

    /// Round arbitrary `f32` data to `cast.dtype` (stochastic positions follow row-major order).
    pub fn from_f32(data: ArrayD<f32>, cast: Cast) -> Self {
        let mut data = data.as_standard_layout().into_owned();
        if cast.dtype != DType::Float32 || cast.overflow == super::Overflow::Saturate {
            let src = data.as_slice().expect("standard layout").to_vec();
            cast.round_slice(&src, 0, data.as_slice_mut().expect("standard layout"))
                .expect("same length, any dtype");
        }
        Tensor {
            dtype: cast.dtype,
            data,
        }
    }

    /// Wrap values that must already be exact values of `dtype`; the first that is not is an error.
    pub fn from_values(data: ArrayD<f32>, dtype: DType) -> Result<Self> {
        let cast = Cast::new(dtype);
        for (index, &v) in data.iter().enumerate() {
            let r = cast.round(v, 0);
            if !(r.to_bits() == v.to_bits() || (r.is_nan() && v.is_nan())) {
                return Err(Error::NotRepresentable {
                    index,
                    value: v,
                    dtype,
                });
            }
        }
        Ok(Tensor { dtype, data })
    }

    /// Decode raw bit patterns (low bits of each element) of `dtype`.
    pub fn from_bits(bits: &ArrayD<u32>, dtype: DType) -> Self {
        Tensor {
            dtype,
            data: bits.mapv(|b| dtype.decode(b)),
        }
    }

    /// The raw bit patterns of every element.
    pub fn to_bits(&self) -> ArrayD<u32> {
        let cast = Cast::new(self.dtype);
        self.data.mapv(|v| cast.encode(v, 0))
    }

    /// Convert to another dtype.
    pub fn cast(&self, cast: Cast) -> Tensor {
        Tensor::from_f32(self.data.clone(), cast)
    }

    /// The element dtype.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Dimensions, outermost first (row-major).
    pub fn shape(&self) -> &[usize] {
        self.data.shape()
    }

    /// The values (exact, as `f32`).
    pub fn data(&self) -> &ArrayD<f32> {
        &self.data
    }

    /// Take the values out.
    pub fn into_data(self) -> ArrayD<f32> {
        self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::{Overflow, Rounding};

    #[test]
    fn construction_keeps_values_representable() {
        let raw = ArrayD::from_shape_vec(IxDyn(&[2, 2]), vec![1.0, 0.1, 300.0, -7.3]).unwrap();
        let t = Tensor::from_f32(raw.clone(), Cast::new(DType::Float8E4M3Fn));
        assert_eq!(t.data().as_slice().unwrap(), &[1.0, 0.1015625, 288.0, -7.5]);
        assert!(Tensor::from_values(t.data().clone(), DType::Float8E4M3Fn).is_ok());
        let err = Tensor::from_values(raw, DType::BFloat16).unwrap_err();
        assert!(
            matches!(err, Error::NotRepresentable { index: 1, .. }),
            "{err}"
        );
        let sat = Tensor::from_f32(
            ArrayD::from_elem(IxDyn(&[3]), 1e6),
            Cast::new(DType::Float8E5M2)
                .overflow(Overflow::Saturate)
                .rounding(Rounding::Nearest),
        );
        assert!(sat.data().iter().all(|&v| v == 57344.0));
    }

    #[test]
    fn bits_round_trip() {
        let bits = ArrayD::from_shape_vec(IxDyn(&[256]), (0..256u32).collect()).unwrap();
        let t = Tensor::from_bits(&bits, DType::Float8E5M2);
        let back = t.to_bits();
        for (a, b) in bits.iter().zip(back.iter()) {
            let (va, vb) = (t.dtype().decode(*a), t.dtype().decode(*b));
            assert!(a == b || (va.is_nan() && vb.is_nan()), "{a:#x} -> {b:#x}");
        }
    }
}
