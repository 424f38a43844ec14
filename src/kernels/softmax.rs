//! `softmax`: numerically stable row softmax of `[rows, cols]`, a whole row per partition:
//! row max on Vector, exp(x - max) with the row sum in the same Scalar instruction, reciprocal,
//! then a per-partition multiply on GpSimd (each engine one full pass), with loads and stores
//! double-buffered.

use super::builder::{activation, tensor_scalar};
use ndarray::{ArrayD, Axis};

use super::builder::{Builder, Role, hbm_block, tile};
use super::rows::{Ring, tiles};
use super::{Kernel, Params, Result, unit_roundoff};
use crate::arch::Hardware;
use crate::isa::{ActFunc, AluOp, Engine, Op, Program, ReduceOp, Scalar};
use crate::numerics::DType;

pub(super) struct Softmax;

impl Kernel for Softmax {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/softmax.toml")
    }

    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        let (rows, cols, dtype) = (p.int("rows"), p.int("cols"), p.dtype("dtype"));
        let mut b = Builder::new("softmax", hw, p.int("seed") as u64);
        let x = b.input("x", dtype, &[rows, cols]);
        let y = b.output("y", dtype, &[rows, cols]);
        let mut rx = Ring::new(&mut b, "x_s", dtype, 3, cols)?;
        // exp(x - max) kept in the storage dtype: 16-bit operands get the wide Scalar lanes.
        let mut re = Ring::new(&mut b, "e_s", dtype, 2, cols)?;
        let mut ry = Ring::new(&mut b, "y_s", dtype, 3, cols)?;
        // Per-partition statistics: max, -max, sum, 1/sum; two sets alternate.
        let st = b.sbuf("stats", DType::Float32, 128, 8)?;
        for (k, t) in tiles(rows, cols, cols).into_iter().enumerate() {
            let (ox, oe, oy) = (rx.take(), re.take(), ry.take());
            let s = (k % 2) * 4;
            let stat = |i: usize| tile(st, 0, t.nr, s + i, 1);
            b.dma(
                Role::Load,
                rx.tile(ox, t.nr, 0, cols),
                hbm_block(x, t.r0, t.nr, 0, cols),
            );
            b.push(Op::TensorReduce {
                engine: Engine::Vector,
                op: ReduceOp::Max,
                dst: stat(0),
                src: rx.tile(ox, t.nr, 0, cols),
            });
            b.push(tensor_scalar(
                Engine::Vector,
                stat(1),
                stat(0),
                (AluOp::Mul, Scalar::Imm(-1.0)),
                None,
            ));
            b.push(activation(
                ActFunc::Exp,
                re.tile(oe, t.nr, 0, cols),
                rx.tile(ox, t.nr, 0, cols),
                (Scalar::Imm(1.0), Scalar::PerPartition(stat(1))),
                Some((ReduceOp::Sum, stat(2))),
            ));
            b.push(activation(
                ActFunc::Reciprocal,
                stat(3),
                stat(2),
                (Scalar::Imm(1.0), Scalar::Imm(0.0)),
                None,
            ));
            // The last pass on GpSimd: Vector already took the max, Scalar the exp.
            b.push(tensor_scalar(
                Engine::GpSimd,
                ry.tile(oy, t.nr, 0, cols),
                re.tile(oe, t.nr, 0, cols),
                (AluOp::Mul, Scalar::PerPartition(stat(3))),
                None,
            ));
            b.dma(
                Role::Store,
                hbm_block(y, t.r0, t.nr, 0, cols),
                ry.tile(oy, t.nr, 0, cols),
            );
        }
        b.finish()
    }

    fn reference(
        &self,
        _: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        let mut x = input("x");
        for mut row in x.axis_iter_mut(Axis(0)) {
            let m = row.fold(f64::NEG_INFINITY, |a, &v| a.max(v));
            row.mapv_inplace(|v| (v - m).exp());
            let s = row.sum();
            row.mapv_inplace(|v| v / s);
        }
        vec![("y".into(), x)]
    }

    fn tolerance(&self, p: &Params) -> f64 {
        // ... plus fp32 exp and a sum over the row.
        // The output rounding and the stored exponentials' ...
        4.0 * unit_roundoff(p.dtype("dtype"))
            + (p.int("cols") as f64).sqrt() * 4.0 * unit_roundoff(DType::Float32)
    }
}
