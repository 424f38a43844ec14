//! Elementwise work of the Vector, Scalar and GpSimd engines, and copies (`dma_copy`,
//! `tensor_copy`): activation functions, ALU operations, reductions and fills, computed in f32
//! (activation functions in f64, rounded once).

use super::{Exec, Result};
use crate::isa::{ActFunc, AluOp, Exponential, ReduceOp, Scalar, TensorTensorScan, Tile};
use crate::numerics::erf;

impl Exec<'_> {
    pub(super) fn copy(&mut self, dst: &Tile, src: &Tile) -> Result<()> {
        let (_, mut v) = self.read(src, "src")?;
        self.write(dst, &mut v)
    }

    pub(super) fn activation(
        &mut self,
        func: ActFunc,
        dst: &Tile,
        src: &Tile,
        scale: &Scalar,
        bias: &Scalar,
        reduce: Option<&(ReduceOp, Tile)>,
    ) -> Result<()> {
        let (l, mut v) = self.read(src, "src")?;
        let (p, f) = (l.partitions(), l.free());
        let sc = self.scalar(scale, p, "scale")?;
        let bi = self.scalar(bias, p, "bias")?;
        let mut red = Vec::new();
        for (i, row) in v.chunks_mut(f.max(1)).enumerate() {
            for x in row.iter_mut() {
                *x = act(func, *x * sc[i] + bi[i]);
            }
            if let Some((op, _)) = reduce {
                red.push(reduce_row(*op, row));
            }
        }
        if f == 0 && reduce.is_some() {
            red = vec![reduce_row(reduce.map_or(ReduceOp::Sum, |r| r.0), &[]); p];
        }
        self.write(dst, &mut v)?;
        if let Some((_, rdst)) = reduce {
            self.write_cols(rdst, "reduce dst", p, 1, &mut red, self.stream | (1 << 31))?;
        }
        Ok(())
    }

    pub(super) fn tensor_tensor(
        &mut self,
        op: AluOp,
        dst: &Tile,
        a: &Tile,
        b: &Tile,
    ) -> Result<()> {
        let (_, mut va) = self.read(a, "a")?;
        let (_, vb) = self.read(b, "b")?;
        if va.len() != vb.len() {
            return Err(self.err(format_args!(
                "a '{}' has {} elements but b '{}' has {}",
                self.buffer_name(a),
                va.len(),
                self.buffer_name(b),
                vb.len()
            )));
        }
        for (x, &y) in va.iter_mut().zip(&vb) {
            *x = alu(op, *x, y);
        }
        self.write(dst, &mut va)
    }

    pub(super) fn tensor_scalar(
        &mut self,
        dst: &Tile,
        src: &Tile,
        op0: &(AluOp, Scalar),
        op1: Option<&(AluOp, Scalar)>,
        reverse: [bool; 2],
    ) -> Result<()> {
        let (l, mut v) = self.read(src, "src")?;
        // Stage k: `x op s`, or `s op x` when reversed.
        let stage = |op: AluOp, x: f32, s: f32, rev: bool| {
            if rev { alu(op, s, x) } else { alu(op, x, s) }
        };
        let (p, f) = (l.partitions(), l.free());
        let s0 = self.scalar(&op0.1, p, "scalar0")?;
        let s1 = match op1 {
            Some((_, s)) => Some(self.scalar(s, p, "scalar1")?),
            None => None,
        };
        for (i, row) in v.chunks_mut(f.max(1)).enumerate() {
            for x in row.iter_mut() {
                *x = stage(op0.0, *x, s0[i], reverse[0]);
                if let (Some((op, _)), Some(s1)) = (op1, &s1) {
                    *x = stage(*op, *x, s1[i], reverse[1]);
                }
            }
        }
        self.write(dst, &mut v)
    }

    /// `dst = 1 / src` in f32 (one correctly rounded division), then the dtype's rounding.
    pub(super) fn reciprocal(&mut self, dst: &Tile, src: &Tile) -> Result<()> {
        let (_, mut v) = self.read(src, "src")?;
        for x in v.iter_mut() {
            *x = 1.0 / *x;
        }
        self.write(dst, &mut v)
    }

    /// The scan along each partition's free axis, in f32 with each step rounded to f32 (the
    /// running value is the engine's fp32 accumulator; only `dst` is rounded to its dtype).
    pub(super) fn tensor_tensor_scan(&mut self, s: &TensorTensorScan) -> Result<()> {
        let (l, mut va) = self.read(&s.a, "a")?;
        let (_, vb) = self.read(&s.b, "b")?;
        if va.len() != vb.len() {
            return Err(self.err(format_args!(
                "a '{}' has {} elements but b '{}' has {}",
                self.buffer_name(&s.a),
                va.len(),
                self.buffer_name(&s.b),
                vb.len()
            )));
        }
        let (p, f) = (l.partitions(), l.free());
        let init = self.scalar(&s.initial, p, "initial")?;
        for (i, (row, brow)) in va.chunks_mut(f.max(1)).zip(vb.chunks(f.max(1))).enumerate() {
            let mut acc = init[i];
            for (x, &y) in row.iter_mut().zip(brow) {
                acc = alu(s.op1, alu(s.op0, acc, *x), y);
                *x = acc;
            }
        }
        self.write(&s.dst, &mut va)
    }

    /// `dst = exp(src - max_value)`: the difference in f32 (the Vector engine computes in fp32),
    /// the exponential in f64 rounded once to f32 (as the Scalar engine's `exp`), the optional
    /// per-partition sum in f32, in order, of those f32 results.
    pub(super) fn exponential(&mut self, e: &Exponential) -> Result<()> {
        let (l, mut v) = self.read(&e.src, "src")?;
        let (p, f) = (l.partitions(), l.free());
        let mx = self.scalar(&e.max_value, p, "max_value")?;
        let mut red = Vec::with_capacity(p);
        for (i, row) in v.chunks_mut(f.max(1)).enumerate() {
            for x in row.iter_mut() {
                *x = act(ActFunc::Exp, *x - mx[i]);
            }
            red.push(reduce_row(ReduceOp::Sum, row));
        }
        red.resize(p, 0.0);
        self.write(&e.dst, &mut v)?;
        if let Some(rdst) = &e.reduce_dst {
            self.write_cols(rdst, "reduce dst", p, 1, &mut red, self.stream | (1 << 31))?;
        }
        Ok(())
    }

    pub(super) fn tensor_reduce(&mut self, op: ReduceOp, dst: &Tile, src: &Tile) -> Result<()> {
        let (l, v) = self.read(src, "src")?;
        let (p, f) = (l.partitions(), l.free());
        let mut red: Vec<f32> = if f == 0 {
            vec![reduce_row(op, &[]); p]
        } else {
            v.chunks(f).map(|row| reduce_row(op, row)).collect()
        };
        self.write_cols(dst, "dst", p, 1, &mut red, self.stream)
    }

    pub(super) fn memset(&mut self, dst: &Tile, value: f32) -> Result<()> {
        let l = self.layout(dst, "dst")?;
        let mut v = vec![value; l.elems()];
        self.store(&l, &mut v, self.stream)
    }
}

/// A Scalar-engine function at one point: computed in f64 from the f32 input and rounded once to
/// f32 (f64 carries more than twice f32's precision, so the basic operations are correctly
/// rounded; the transcendental ones are within an ulp of f32). NaN propagates.
fn act(func: ActFunc, x: f32) -> f32 {
    act_f64(func, x as f64) as f32
}

/// A Scalar-engine function in f64 (the kernels' references use it for format 2's functions).
pub(crate) fn act_f64(func: ActFunc, v: f64) -> f64 {
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    match func {
        ActFunc::Identity => v,
        ActFunc::Relu => {
            if v > 0.0 || v.is_nan() {
                v
            } else {
                0.0
            }
        }
        ActFunc::Gelu => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * v * (1.0 + (c * (v + 0.044715 * v * v * v)).tanh())
        }
        ActFunc::Silu => v * sigmoid(v),
        ActFunc::Sigmoid => sigmoid(v),
        ActFunc::Tanh => v.tanh(),
        ActFunc::Exp => v.exp(),
        ActFunc::Square => v * v,
        ActFunc::Rsqrt => 1.0 / v.sqrt(),
        ActFunc::Reciprocal => 1.0 / v,
        ActFunc::Sqrt => v.sqrt(),
        ActFunc::Log => v.ln(),
        ActFunc::Abs => v.abs(),
        ActFunc::Sign => {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v // 0, -0 and NaN stay as they are (NumPy's np.sign)
            }
        }
        ActFunc::Sin => v.sin(),
        ActFunc::Cos => v.cos(),
        // ln(1 + e^x) without overflow: max(x, 0) + ln(1 + e^-|x|).
        ActFunc::Softplus => v.max(0.0) + (-v.abs()).exp().ln_1p(),
        ActFunc::Erf => erf(v),
        ActFunc::GeluExact => 0.5 * v * (1.0 + erf(v / std::f64::consts::SQRT_2)),
    }
}

/// A binary ALU operation in f32; `max` and `min` propagate NaN (IEEE `max` would drop it).
/// `pow` and `mod` are computed in f64 and rounded once; `mod` takes the divisor's sign
/// (`np.mod`, Python's `%`: `mod(-1, 3) = 2`, `mod(1, -3) = -2`; NaN for a zero divisor).
/// Comparisons give 1.0 or 0.0 (false with a NaN, except `ne`).
pub(super) fn alu(op: AluOp, a: f32, b: f32) -> f32 {
    let flag = |c: bool| if c { 1.0 } else { 0.0 };
    match op {
        AluOp::Pow => (a as f64).powf(b as f64) as f32,
        AluOp::Mod => {
            let (x, y) = (a as f64, b as f64);
            let r = x % y;
            (if r == 0.0 {
                0.0f64.copysign(y)
            } else if (r < 0.0) != (y < 0.0) {
                r + y
            } else {
                r
            }) as f32
        }
        AluOp::Ge => flag(a >= b),
        AluOp::Gt => flag(a > b),
        AluOp::Le => flag(a <= b),
        AluOp::Lt => flag(a < b),
        AluOp::Eq => flag(a == b),
        AluOp::Ne => flag(a != b),
        AluOp::Add => a + b,
        AluOp::Sub => a - b,
        AluOp::Mul => a * b,
        AluOp::Div => a / b,
        AluOp::Max | AluOp::Min if a.is_nan() => a,
        AluOp::Max | AluOp::Min if b.is_nan() => b,
        AluOp::Max => a.max(b),
        AluOp::Min => a.min(b),
    }
}

/// Reduce a row in f32, in order: the sum starts at 0, the max at -inf, the min at +inf; NaN
/// propagates.
fn reduce_row(op: ReduceOp, row: &[f32]) -> f32 {
    match op {
        ReduceOp::Sum => row.iter().fold(0.0, |acc, &x| acc + x),
        ReduceOp::Max => row.iter().fold(f32::NEG_INFINITY, |acc, &x| {
            if x > acc || (x.is_nan() && !acc.is_nan()) {
                x
            } else {
                acc
            }
        }),
        ReduceOp::Min => row.iter().fold(f32::INFINITY, |acc, &x| {
            if x < acc || (x.is_nan() && !acc.is_nan()) {
                x
            } else {
                acc
            }
        }),
    }
}
