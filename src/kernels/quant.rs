//! `quantize` and `dequantize` between a 16-bit matrix and fp8 with scales.
//!
//! Per row (dynamic): each row's absolute maximum (max of the row and of its negation, on
//! Vector), scale = amax / fp8 max, q = x / scale, stored with the scales. Per tensor (static,
//! as calibrated inference does): one scale given as an input, read into every partition.
//! Dequantize multiplies back (per-partition scale on Vector).

use super::builder::activation;
use ndarray::{ArrayD, Axis, Ix2};

use super::builder::{Builder, Role, hbm_block, tile};
use super::rows::{Ring, tiles};
use super::{Kernel, Params, Result, unit_roundoff};
use crate::arch::Hardware;
use crate::isa::{
    AccessPattern, ActFunc, AluOp, Engine, Init, Op, PartitionStep, Program, ReduceOp, Scalar, Tile,
};
use crate::numerics::DType;

pub(super) struct Quantize;
pub(super) struct Dequantize;

use super::builder::tensor_scalar as ts;

/// The per-tensor scale (HBM `[1, 1]`) read into `np` partitions.
fn broadcast_scalar(s: crate::isa::BufferId, np: usize) -> Tile {
    Tile {
        buffer: s,
        partition_start: 0,
        partition_count: np as u32,
        partition_step: PartitionStep::new(0).expect("valid"),
        ap: AccessPattern::contiguous(0, 1),
    }
}

fn per_row(p: &Params) -> bool {
    p.choice("granularity") == "row"
}

impl Kernel for Quantize {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/quantize.toml")
    }

    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        let (rows, cols) = (p.int("rows"), p.int("cols"));
        let (src, fp8) = (p.dtype("dtype"), p.dtype("fp8"));
        let fmax = fp8.max();
        let mut b = Builder::new("quantize", hw, p.int("seed") as u64);
        let x = b.input("x", src, &[rows, cols]);
        let q = b.output("q", fp8, &[rows, cols]);
        let rowwise = per_row(p);
        let scale = if rowwise {
            b.output("scale", DType::Float32, &[rows, 1])
        } else {
            // A calibrated scale: 4 standard deviations of the normal(0, 1) input over fp8 max.
            b.input_with(
                "scale",
                DType::Float32,
                &[1, 1],
                Init::Uniform {
                    low: 4.0 / fmax as f64,
                    high: 4.0 / fmax as f64,
                    seed: 0,
                },
            )
        };
        let mut rx = Ring::new(&mut b, "x_s", src, 3, cols)?;
        let mut rq = Ring::new(&mut b, "q_s", fp8, 3, cols)?;
        // x / scale clamped in fp32 before the one rounding to fp8.
        let mut rs = Ring::new(&mut b, "s_s", DType::Float32, 2, cols)?;
        let st = b.sbuf("stats", DType::Float32, 128, 3 * 5)?;
        if !rowwise {
            // 1 / scale once, in every partition.
            let np = rows.min(128);
            b.dma(
                Role::Resident,
                tile(st, 0, np, 0, 1),
                broadcast_scalar(scale, np),
            );
            b.push(activation(
                ActFunc::Reciprocal,
                tile(st, 0, np, 1, 1),
                tile(st, 0, np, 0, 1),
                (Scalar::Imm(1.0), Scalar::Imm(0.0)),
                None,
            ));
        }
        for (k, t) in tiles(rows, cols, cols).into_iter().enumerate() {
            let (ox, oq, os) = (rx.take(), rq.take(), rs.take());
            let xs = rx.tile(ox, t.nr, 0, cols);
            b.dma(Role::Load, xs.clone(), hbm_block(x, t.r0, t.nr, 0, cols));
            let inv = if rowwise {
                let s = 2 + (k % 3) * 4;
                let stat = |i: usize| tile(st, 0, t.nr, s + i, 1);
                let red = |dst, src| Op::TensorReduce {
                    engine: Engine::Vector,
                    op: ReduceOp::Max,
                    dst,
                    src,
                };
                // amax = max(max(x), -min(x)) = max(max(x), max(-x)); scale = amax / fmax.
                b.push(red(stat(0), xs.clone()));
                b.push(ts(
                    Engine::GpSimd,
                    rs.tile(os, t.nr, 0, cols),
                    xs.clone(),
                    (AluOp::Mul, Scalar::Imm(-1.0)),
                    None,
                ));
                b.push(red(stat(1), rs.tile(os, t.nr, 0, cols)));
                b.push(Op::TensorTensor {
                    engine: Engine::Vector,
                    op: AluOp::Max,
                    dst: stat(2),
                    a: stat(0),
                    b: stat(1),
                });
                b.push(ts(
                    Engine::Vector,
                    stat(2),
                    stat(2),
                    (AluOp::Max, Scalar::Imm(f32::MIN_POSITIVE)),
                    Some((AluOp::Mul, Scalar::Imm(1.0 / fmax))),
                ));
                b.dma(Role::Other, hbm_block(scale, t.r0, t.nr, 0, 1), stat(2));
                b.push(activation(
                    ActFunc::Reciprocal,
                    stat(3),
                    stat(2),
                    (Scalar::Imm(1.0), Scalar::Imm(0.0)),
                    None,
                ));
                stat(3)
            } else {
                tile(st, 0, t.nr, 1, 1)
            };
            // Saturate to the fp8 range (production kernels clamp before the cast [trainium.md 6]).
            b.push(ts(
                Engine::Scalar,
                rs.tile(os, t.nr, 0, cols),
                xs,
                (AluOp::Mul, Scalar::PerPartition(inv)),
                Some((AluOp::Min, Scalar::Imm(fmax))),
            ));
            b.push(ts(
                Engine::GpSimd,
                rq.tile(oq, t.nr, 0, cols),
                rs.tile(os, t.nr, 0, cols),
                (AluOp::Max, Scalar::Imm(-fmax)),
                None,
            ));
            b.dma(
                Role::Store,
                hbm_block(q, t.r0, t.nr, 0, cols),
                rq.tile(oq, t.nr, 0, cols),
            );
        }
        b.finish()
    }

    fn reference(
        &self,
        p: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        // q against x / scale (clamped to the fp8 range), with per-row scales from the inputs'
        // row maxima, or the given per-tensor scale.
        let x = input("x").into_dimensionality::<Ix2>().expect("2-D");
        let fmax = p.dtype("fp8").max() as f64;
        let scales: Vec<f64> = if per_row(p) {
            x.axis_iter(Axis(0))
                .map(|r| {
                    r.fold(0.0f64, |a, &v| a.max(v.abs()))
                        .max(f32::MIN_POSITIVE as f64)
                        / fmax
                })
                .collect()
        } else {
            vec![input("scale")[[0, 0]]; x.nrows()]
        };
        let mut q = x.clone();
        for (mut row, s) in q.axis_iter_mut(Axis(0)).zip(&scales) {
            row.mapv_inplace(|v| (v / s).clamp(-fmax, fmax));
        }
        vec![("q".into(), q.into_dyn())]
    }

    fn tolerance(&self, p: &Params) -> f64 {
        // One fp8 rounding (relative to the largest |q| = fp8 max), the fp32 scale arithmetic.
        2.0 * unit_roundoff(p.dtype("fp8")) + 1e-5
    }
}

impl Kernel for Dequantize {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/dequantize.toml")
    }

    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        let (rows, cols) = (p.int("rows"), p.int("cols"));
        let (out, fp8) = (p.dtype("dtype"), p.dtype("fp8"));
        let mut b = Builder::new("dequantize", hw, p.int("seed") as u64);
        let q = b.input("q", fp8, &[rows, cols]);
        let rowwise = per_row(p);
        let srows = if rowwise { rows } else { 1 };
        let scale = b.input_with(
            "scale",
            DType::Float32,
            &[srows, 1],
            Init::Uniform {
                low: 0.001,
                high: 0.01,
                seed: 7,
            },
        );
        let y = b.output("y", out, &[rows, cols]);
        let mut rq = Ring::new(&mut b, "q_s", fp8, 4, cols)?;
        let mut ry = Ring::new(&mut b, "y_s", out, 4, cols)?;
        let st = b.sbuf("scales", DType::Float32, 128, 4)?;
        if !rowwise {
            let np = rows.min(128);
            b.dma(
                Role::Resident,
                tile(st, 0, np, 0, 1),
                broadcast_scalar(scale, np),
            );
        }
        for (k, t) in tiles(rows, cols, cols).into_iter().enumerate() {
            let (oq, oy) = (rq.take(), ry.take());
            let s = if rowwise {
                let s = tile(st, 0, t.nr, k % 4, 1);
                b.dma(Role::Other, s.clone(), hbm_block(scale, t.r0, t.nr, 0, 1));
                s
            } else {
                tile(st, 0, t.nr, 0, 1)
            };
            b.dma(
                Role::Load,
                rq.tile(oq, t.nr, 0, cols),
                hbm_block(q, t.r0, t.nr, 0, cols),
            );
            b.push(ts(
                Engine::Vector,
                ry.tile(oy, t.nr, 0, cols),
                rq.tile(oq, t.nr, 0, cols),
                (AluOp::Mul, Scalar::PerPartition(s)),
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
        p: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        let q = input("q").into_dimensionality::<Ix2>().expect("2-D");
        let s = input("scale").into_dimensionality::<Ix2>().expect("2-D");
        let mut y = q.clone();
        for (i, mut row) in y.axis_iter_mut(Axis(0)).enumerate() {
            let f = if per_row(p) { s[[i, 0]] } else { s[[0, 0]] };
            row.mapv_inplace(|v| v * f);
        }
        vec![("y".into(), y.into_dyn())]
    }

    fn tolerance(&self, p: &Params) -> f64 {
        2.0 * unit_roundoff(p.dtype("dtype"))
    }
}
