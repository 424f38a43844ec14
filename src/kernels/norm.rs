//! `layernorm` and `rmsnorm` over the last axis of `[rows, cols]`, a row per partition, with a
//! learned `gamma` (and `beta`) read once into every partition. Layernorm takes its statistics
//! with `bn_stats` over 512-element chunks and `bn_aggr`; rmsnorm squares and sums in one Scalar
//! instruction. Each full pass over a row runs on a different engine (Scalar, Vector, GpSimd),
//! and intermediates stay in the storage dtype so 16-bit data takes the engines' fast paths.

use ndarray::{ArrayD, Axis, Ix2};

use super::builder::{Builder, Role, hbm_block, tile};
use super::rows::{Ring, tiles};
use super::{Kernel, Params, Result, unit_roundoff};
use crate::arch::Hardware;
use crate::isa::{
    AccessPattern, ActFunc, AluOp, BufferId, Engine, Init, Op, PartitionStep, Program, ReduceOp,
    Scalar, Tile,
};
use crate::numerics::DType;

pub(super) struct LayerNorm;
pub(super) struct RmsNorm;

/// The epsilon added to the variance (mean square).
pub(super) const EPS: f32 = 1e-5;

/// `bn_stats` reduces at most this many elements per call (NKI's `BN_STATS_FMAX`).
const BN_FMAX: usize = 512;

/// Row 0 of an HBM `[1, cols]` vector read into `np` partitions (a zero partition step).
fn broadcast_row(v: BufferId, np: usize, cols: usize) -> Tile {
    Tile {
        buffer: v,
        partition_start: 0,
        partition_count: np as u32,
        partition_step: PartitionStep::new(0).expect("0 is a valid step"),
        ap: AccessPattern::contiguous(0, cols as u32),
    }
}

use super::builder::{activation, tensor_scalar};

fn ts(dst: Tile, src: Tile, op0: (AluOp, Scalar), op1: Option<(AluOp, Scalar)>) -> Op {
    tensor_scalar(Engine::Vector, dst, src, op0, op1)
}

fn act(
    func: ActFunc,
    dst: Tile,
    src: Tile,
    scale: f32,
    bias: f32,
    reduce: Option<(ReduceOp, Tile)>,
) -> Op {
    activation(
        func,
        dst,
        src,
        (Scalar::Imm(scale), Scalar::Imm(bias)),
        reduce,
    )
}

fn lower_norm(p: &Params, hw: &Hardware, name: &str, layer: bool) -> Result<Program> {
    let (rows, cols, dtype) = (p.int("rows"), p.int("cols"), p.dtype("dtype"));
    let mut b = Builder::new(name, hw, p.int("seed") as u64);
    let x = b.input("x", dtype, &[rows, cols]);
    let gamma = b.input_with(
        "gamma",
        dtype,
        &[1, cols],
        Init::Normal {
            mean: 1.0,
            std: 0.1,
            seed: 101,
        },
    );
    let beta = layer.then(|| {
        b.input_with(
            "beta",
            dtype,
            &[1, cols],
            Init::Normal {
                mean: 0.0,
                std: 0.1,
                seed: 102,
            },
        )
    });
    let y = b.output("y", dtype, &[rows, cols]);
    let g_s = b.sbuf("gamma_s", dtype, 128, cols)?;
    let b_s = match beta {
        Some(_) => Some(b.sbuf("beta_s", dtype, 128, cols)?),
        None => None,
    };
    let mut rx = Ring::new(&mut b, "x_s", dtype, 4, cols)?;
    let mut rt = Ring::new(&mut b, "t_s", dtype, 3, cols)?;
    let mut ry = Ring::new(&mut b, "y_s", dtype, 3, cols)?;
    let chunks = cols.div_ceil(BN_FMAX);
    let st = b.sbuf("stats", DType::Float32, 128, 3 * (3 * chunks + 4))?;
    let np = rows.min(128);
    b.dma(
        Role::Resident,
        tile(g_s, 0, np, 0, cols),
        broadcast_row(gamma, np, cols),
    );
    if let (Some(bv), Some(bs)) = (beta, b_s) {
        b.dma(
            Role::Resident,
            tile(bs, 0, np, 0, cols),
            broadcast_row(bv, np, cols),
        );
    }
    // A software pipeline: stage A (load, statistics) of tile k, stage B (normalize) of tile
    // k - 1 and stage C (gamma, beta, store) of tile k - 2 are emitted together, so no engine's
    // in-order queue waits behind another engine's work on the same tile.
    let agg = 3 * chunks;
    let mut stages: Vec<(Vec<Op>, Vec<Op>)> = Vec::new();
    for (k, t) in tiles(rows, cols, cols).into_iter().enumerate() {
        let (ox, ot, oy) = (rx.take(), rt.take(), ry.take());
        let base = (k % 3) * (3 * chunks + 4);
        let stat = |i: usize, len: usize| tile(st, 0, t.nr, base + i, len);
        let xs = rx.tile(ox, t.nr, 0, cols);
        let tmp = rt.tile(ot, t.nr, 0, cols);
        b.dma(Role::Load, xs.clone(), hbm_block(x, t.r0, t.nr, 0, cols));
        // Statistics: (mean, var) by bn_stats/bn_aggr, or the sum of squares in one Scalar pass
        // (the squares are scratch); then rstd = 1 / sqrt(var + eps) (or ss / cols + eps).
        let x_cols = |c0: usize, len: usize| rx.tile(ox, t.nr, c0, len);
        row_stats(&mut b, layer, &xs, &tmp, &stat, &x_cols, cols);
        // Stage B: normalized rows in the storage dtype (16-bit operands take the fast
        // paths); stage C: gamma (and beta), each full pass on its own engine.
        let stage_b = b.capture(|b| {
            let rstd = Scalar::PerPartition(stat(agg + 2, 1));
            if layer {
                b.push(activation(
                    ActFunc::Identity,
                    tmp.clone(),
                    xs.clone(),
                    (rstd, Scalar::PerPartition(stat(agg + 3, 1))),
                    None,
                ));
            } else {
                b.push(ts(tmp.clone(), xs.clone(), (AluOp::Mul, rstd), None));
            }
            Ok(())
        })?;
        let stage_c = b.capture(|b| {
            let ys = ry.tile(oy, t.nr, 0, cols);
            let gs = tile(g_s, 0, t.nr, 0, cols);
            let tt = |engine, op, dst: Tile, a: Tile, bb: Tile| Op::TensorTensor {
                engine,
                op,
                dst,
                a,
                b: bb,
            };
            match b_s {
                Some(bs) => {
                    b.push(tt(Engine::Vector, AluOp::Mul, tmp.clone(), tmp.clone(), gs));
                    let beta = tile(bs, 0, t.nr, 0, cols);
                    b.push(tt(
                        Engine::GpSimd,
                        AluOp::Add,
                        ys.clone(),
                        tmp.clone(),
                        beta,
                    ));
                }
                None => b.push(tt(Engine::GpSimd, AluOp::Mul, ys.clone(), tmp.clone(), gs)),
            }
            b.dma(Role::Store, hbm_block(y, t.r0, t.nr, 0, cols), ys);
            Ok(())
        })?;
        stages.push((stage_b, stage_c));
        if k >= 1 {
            b.extend(std::mem::take(&mut stages[k - 1].0));
        }
        if k >= 2 {
            b.extend(std::mem::take(&mut stages[k - 2].1));
        }
    }
    let t = stages.len();
    if t >= 1 {
        b.extend(std::mem::take(&mut stages[t - 1].0));
    }
    for s in stages.iter_mut().skip(t.saturating_sub(2)) {
        b.extend(std::mem::take(&mut s.1));
    }
    b.finish()
}

/// A tile's per-row statistics into its stats slot (`stat(i, len)`): rstd at `agg + 2` and, for
/// layernorm, the shift -mean * rstd at `agg + 3` (agg = 3 x chunks). Layernorm takes (mean, var)
/// from bn_stats/bn_aggr over `x_cols` chunks; rmsnorm the sum of squares in one Scalar pass, with
/// `tmp` as scratch for the squares.
fn row_stats(
    b: &mut Builder,
    layer: bool,
    xs: &Tile,
    tmp: &Tile,
    stat: &dyn Fn(usize, usize) -> Tile,
    x_cols: &dyn Fn(usize, usize) -> Tile,
    cols: usize,
) {
    let chunks = cols.div_ceil(BN_FMAX);
    let agg = 3 * chunks;
    if layer {
        for c in 0..chunks {
            let len = BN_FMAX.min(cols - c * BN_FMAX);
            b.push(Op::BnStats {
                dst: stat(3 * c, 3),
                src: x_cols(c * BN_FMAX, len),
            });
        }
        b.push(Op::BnAggr {
            dst: stat(agg, 2),
            src: stat(0, 3 * chunks),
        });
        b.push(act(
            ActFunc::Rsqrt,
            stat(agg + 2, 1),
            stat(agg + 1, 1),
            1.0,
            EPS,
            None,
        ));
        // shift = -mean * rstd
        b.push(ts(
            stat(agg + 3, 1),
            stat(agg, 1),
            (AluOp::Mul, Scalar::PerPartition(stat(agg + 2, 1))),
            Some((AluOp::Mul, Scalar::Imm(-1.0))),
        ));
    } else {
        let sq = Some((ReduceOp::Sum, stat(agg, 1)));
        b.push(act(ActFunc::Square, tmp.clone(), xs.clone(), 1.0, 0.0, sq));
        let inv_n = 1.0 / cols as f32;
        b.push(act(
            ActFunc::Rsqrt,
            stat(agg + 2, 1),
            stat(agg, 1),
            inv_n,
            EPS,
            None,
        ));
    }
}

fn reference_norm(input: &dyn Fn(&str) -> ArrayD<f64>, layer: bool) -> Vec<(String, ArrayD<f64>)> {
    let mut x = input("x").into_dimensionality::<Ix2>().expect("2-D");
    let gamma = input("gamma").into_dimensionality::<Ix2>().expect("2-D");
    let beta = layer.then(|| input("beta").into_dimensionality::<Ix2>().expect("2-D"));
    let eps = EPS as f64;
    for mut row in x.axis_iter_mut(Axis(0)) {
        let n = row.len() as f64;
        let (shift, scale) = if layer {
            let mean = row.sum() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
            (mean, 1.0 / (var + eps).sqrt())
        } else {
            let ms = row.iter().map(|v| v * v).sum::<f64>() / n;
            (0.0, 1.0 / (ms + eps).sqrt())
        };
        for (j, v) in row.iter_mut().enumerate() {
            *v = (*v - shift) * scale * gamma[[0, j]] + beta.as_ref().map_or(0.0, |b| b[[0, j]]);
        }
    }
    vec![("y".into(), x.into_dyn())]
}

fn tolerance_norm(p: &Params) -> f64 {
    // Output and intermediate roundings; fp32 statistics over the row.
    4.0 * unit_roundoff(p.dtype("dtype"))
        + (p.int("cols") as f64).sqrt() * 8.0 * unit_roundoff(DType::Float32)
}

impl Kernel for LayerNorm {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/layernorm.toml")
    }
    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        lower_norm(p, hw, "layernorm", true)
    }
    fn reference(
        &self,
        _: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        reference_norm(input, true)
    }
    fn tolerance(&self, p: &Params) -> f64 {
        tolerance_norm(p)
    }
}

impl Kernel for RmsNorm {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/rmsnorm.toml")
    }
    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        lower_norm(p, hw, "rmsnorm", false)
    }
    fn reference(
        &self,
        _: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        reference_norm(input, false)
    }
    fn tolerance(&self, p: &Params) -> f64 {
        tolerance_norm(p)
    }
}
