//! The Tensor engine: matmul and transpose through the PE array.
//!
//! A matmul sums its products in f32 in increasing k from zero, as the PE array accumulates;
//! [`matmul_path`] picks sgemm where it gives the same bits, the sequential kernel elsewhere.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2};

use super::{Exec, Result};
use crate::isa::Tile;
use crate::numerics::DType;

/// Whether `a` and `b` both hold bf16/fp16/fp8 values whose every pairwise product is exact in
/// `f32` (so a fused multiply-add gives the same result as a rounded product then an add).
///
/// The products have at most `pa + pb <= 24` significant bits; they are exact when no product
/// underflows below f32's subnormal step (every nonzero magnitude at least `2^lo`) or overflows
/// (every magnitude below `2^63`). Infinities and NaNs fail the check.
fn products_exact(a: &[f32], a_dtype: DType, b: &[f32], b_dtype: DType) -> bool {
    let bits = (a_dtype.mantissa_bits() + 1 + b_dtype.mantissa_bits() + 1) as i32;
    if bits > 24 {
        return false;
    }
    // A value of magnitude >= 2^lo with p significant bits has its lowest bit at >= 2^(lo-p+1),
    // so a product's lowest bit is >= 2^(2 lo - bits + 2) >= 2^-149 (f32's smallest subnormal).
    let lo = (bits - 151 + 1).div_euclid(2);
    let lo_bits = ((lo + 127) as u32) << 23;
    let hi_bits = ((63 + 127) as u32) << 23;
    let in_range = |v: &[f32]| {
        let bad = v.iter().fold(0u32, |acc, &x| {
            let m = x.to_bits() & 0x7fff_ffff;
            acc | (m != 0 && (m < lo_bits || m >= hi_bits)) as u32
        });
        bad == 0
    };
    in_range(a) && in_range(b)
}

/// Which kernel computes a matmul; both give the same bits wherever [`MatmulPath::Gemm`] is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulPath {
    /// `ndarray::linalg::general_mat_mul` (matrixmultiply's sgemm): fast, and bit-exact with the
    /// sequential-k sum when K fits one of its K blocks ([`GEMM_MAX_K`]) and every product is
    /// exact in f32, since each output then accumulates its products in increasing k from zero.
    Gemm,
    /// A plain loop: `sum = 0; for k { sum += s[k, m] * x[k, n] }` in f32, products rounded.
    Sequential,
}

/// Largest K for which [`MatmulPath::Gemm`] accumulates in one block, in increasing k order
/// (matrixmultiply's sgemm `KC`; tests/chip_exec.rs checks the agreement at K = 128 and 256).
pub const GEMM_MAX_K: usize = 256;

/// The kernel [`super::execute_instr`] uses for a matmul of stationary `s` (`[K, M]`, dtype `s_dtype`)
/// and moving `x` (`[K, N]`).
pub fn matmul_path(s: &[f32], s_dtype: DType, x: &[f32], x_dtype: DType, k: usize) -> MatmulPath {
    if k <= GEMM_MAX_K && products_exact(s, s_dtype, x, x_dtype) {
        MatmulPath::Gemm
    } else {
        MatmulPath::Sequential
    }
}

/// `out[m, n] = sum_k s[k, m] * x[k, n]` in f32, sum from zero in increasing k; row-major
/// `[M, N]`. `s` is row-major `[K, M]` and `x` row-major `[K, N]`. Public so tests and benches can
/// compare the two kernels.
///
/// Returns `None` when the slice lengths do not match the dimensions.
pub fn matmul_f32(
    s: &[f32],
    x: &[f32],
    k: usize,
    m: usize,
    n: usize,
    path: MatmulPath,
) -> Option<Vec<f32>> {
    if s.len() != k.checked_mul(m)? || x.len() != k.checked_mul(n)? {
        return None;
    }
    match path {
        MatmulPath::Gemm => {
            let sv = ArrayView2::from_shape((k, m), s).ok()?;
            let xv = ArrayView2::from_shape((k, n), x).ok()?;
            let mut out = Array2::<f32>::zeros((m, n));
            // beta = 0: matrixmultiply writes alpha * (A B) without reading C; alpha = 1 is exact.
            general_mat_mul(1.0, &sv.t(), &xv, 0.0, &mut out);
            Some(out.into_raw_vec_and_offset().0)
        }
        MatmulPath::Sequential => Some(matmul_sequential(s, x, k, m, n)),
    }
}

/// The sequential-k kernel: four output rows at a time share each row of `x`; every output keeps
/// its own running f32 sum in increasing k (Rust never fuses the multiply and add).
fn matmul_sequential(s: &[f32], x: &[f32], k: usize, m: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; m * n];
    if n == 0 {
        return out;
    }
    const ROWS: usize = 4;
    for (block, rows) in out.chunks_mut(ROWS * n).enumerate() {
        let m0 = block * ROWS;
        for kk in 0..k {
            let xr = &x[kk * n..(kk + 1) * n];
            for (r, row) in rows.chunks_mut(n).enumerate() {
                let sv = s[kk * m + m0 + r];
                for (o, &xv) in row.iter_mut().zip(xr) {
                    *o += sv * xv;
                }
            }
        }
    }
    out
}

impl Exec<'_> {
    pub(super) fn matmul(
        &mut self,
        dst: &Tile,
        st: &Tile,
        mv: &Tile,
        accumulate: bool,
    ) -> Result<()> {
        let (sl, s) = self.read(st, "stationary")?;
        let (xl, x) = self.read(mv, "moving")?;
        let dl = self.layout(dst, "dst")?;
        // The product is [M, N] = the destination's shape. In fp8 double-row mode each partition
        // carries two K-rows (stationary [P, 2, M], moving [P, 2, N]): row-major, that is exactly
        // [2P, M] and [2P, N], so K = 2P with no data movement.
        let (m, n) = (dl.partitions(), dl.free());
        let rows = sl.free().checked_div(m).unwrap_or(1);
        let k = sl.partitions() * rows;
        if rows == 0 || sl.free() != rows * m || xl.free() != rows * n {
            return Err(self.err(format_args!(
                "operands [{}, {}] and [{}, {}] do not give the [{m}, {n}] destination",
                sl.partitions(),
                sl.free(),
                xl.partitions(),
                xl.free()
            )));
        }
        if xl.partitions() != sl.partitions() {
            return Err(self.err(format_args!(
                "stationary '{}' has {} partitions but moving '{}' has {}",
                self.buffer_name(st),
                sl.partitions(),
                self.buffer_name(mv),
                xl.partitions()
            )));
        }
        let path = matmul_path(&s, sl.dtype, &x, xl.dtype, k);
        let mut out =
            matmul_f32(&s, &x, k, m, n, path).ok_or_else(|| self.err("internal: operand sizes"))?;
        if accumulate {
            let prev = dl.gather(&self.state.buffers[dl.buffer]);
            for (o, p) in out.iter_mut().zip(prev) {
                *o += p;
            }
        }
        self.store(&dl, &mut out, self.stream)
    }

    pub(super) fn transpose(&mut self, dst: &Tile, src: &Tile) -> Result<()> {
        let (l, v) = self.read(src, "src")?;
        let (p, f) = (l.partitions(), l.free());
        let mut out = vec![0.0f32; v.len()];
        for (i, row) in v.chunks(f.max(1)).enumerate() {
            for (j, &x) in row.iter().enumerate() {
                out[j * p + i] = x;
            }
        }
        self.write(dst, &mut out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactness_check_follows_the_ranges() {
        let bf = DType::BFloat16;
        assert!(products_exact(
            &[1.0, -0.0, 3.0e10],
            bf,
            &[0.5, 2.0e-20],
            bf
        ));
        // 2^-70 is below the bf16 x bf16 bound (2^-67).
        assert!(!products_exact(&[2f32.powi(-70)], bf, &[1.0], bf));
        assert!(!products_exact(&[2f32.powi(64)], bf, &[1.0], bf));
        assert!(!products_exact(&[f32::INFINITY], bf, &[1.0], bf));
        assert!(!products_exact(&[1.0], DType::Float32, &[1.0], bf));
        let e5 = DType::Float8E5M2;
        assert!(products_exact(
            &[e5.smallest_subnormal()],
            e5,
            &[e5.max()],
            e5
        ));
    }
}
