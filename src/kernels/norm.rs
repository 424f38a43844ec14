//! `layernorm` and `rmsnorm` over the last axis of `[rows, cols]`, a row per partition, with a
//! learned `gamma` (and `beta`) read once into every partition. Layernorm takes its statistics
//! with `bn_stats` over 512-element chunks and `bn_aggr`; rmsnorm squares and sums in one Scalar
//! instruction. Each full pass over a row runs on a different engine (Scalar, Vector, GpSimd),
//! and intermediates stay in the storage dtype so 16-bit data takes the engines' fast paths.
//! Rows too long for whole-row SBUF rings (8192 fp32 columns on trn1) stream in column chunks
//! over two passes (see [`lower_streamed`]).

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

/// Column chunks a streamed row is cut into, largest first (multiples of [`BN_FMAX`]; 4096
/// 16-bit elements are 8 KiB per partition, past the 4 KiB where DMA saturates [DMA]).
const STREAM_CHUNKS: [usize; 4] = [4096, 2048, 1024, 512];

/// Slots of the x, normalized and y rings.
const RING_SLOTS: [usize; 3] = [4, 3, 3];

/// SBUF bytes per partition of a lowering with ring slots of `slot` elements and `stat_cols`
/// fp32 statistics per row tile (three tiles in flight), beside gamma (and beta) of `cols`.
fn sbuf_bytes(cols: usize, es: usize, layer: bool, slot: usize, stat_cols: usize) -> usize {
    let resident = (1 + usize::from(layer)) * cols * es;
    resident + RING_SLOTS.iter().sum::<usize>() * slot * es + 3 * stat_cols * 4
}

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

/// The buffers of one norm lowering that every row tile reads.
struct NormBufs {
    x: BufferId,
    y: BufferId,
    gamma: BufferId,
    beta: Option<BufferId>,
    stats: BufferId,
    cols: usize,
    /// `bn_stats` chunks per row; the aggregate statistics start at `3 * chunks`.
    chunks: usize,
}

/// The statistics slots of one row tile: a third of `stats`, so three tiles can be in flight.
#[derive(Clone, Copy)]
struct StatSlots {
    buf: BufferId,
    nr: usize,
    base: usize,
}

impl StatSlots {
    fn at(&self, i: usize, len: usize) -> Tile {
        tile(self.buf, 0, self.nr, self.base + i, len)
    }
}

fn lower_norm(p: &Params, hw: &Hardware, name: &str, layer: bool) -> Result<Program> {
    let (rows, cols, dtype) = (p.int("rows"), p.int("cols"), p.dtype("dtype"));
    let mut b = Builder::new(name, hw, p.int("seed") as u64);
    let chunks = cols.div_ceil(BN_FMAX);
    let whole = sbuf_bytes(cols, dtype.size_bytes(), layer, cols, 3 * chunks + 4);
    if whole as u64 > b.sbuf_free_bytes() {
        lower_streamed(&mut b, rows, cols, dtype, layer)?;
        return b.finish();
    }
    let (bufs, [mut rx, mut rt, mut ry]) =
        declare(&mut b, (rows, cols), dtype, layer, (cols, 3 * chunks + 4))?;
    // A software pipeline: stage A (load, statistics) of tile k, stage B (normalize) of tile
    // k - 1 and stage C (gamma, beta, store) of tile k - 2 are emitted together, so no engine's
    // in-order queue waits behind another engine's work on the same tile.
    let mut stages: Vec<(Vec<Op>, Vec<Op>)> = Vec::new();
    for (k, t) in tiles(rows, cols, cols).into_iter().enumerate() {
        let (ox, ot, oy) = (rx.take(), rt.take(), ry.take());
        let stat = StatSlots {
            buf: bufs.stats,
            nr: t.nr,
            base: (k % 3) * (3 * bufs.chunks + 4),
        };
        let xs = rx.tile(ox, t.nr, 0, cols);
        let tmp = rt.tile(ot, t.nr, 0, cols);
        b.dma(
            Role::Load,
            xs.clone(),
            hbm_block(bufs.x, t.r0, t.nr, 0, cols),
        );
        push_statistics(&mut b, &bufs, stat, &rx, ox, &xs, &tmp, layer);
        let stage_b = b.capture(|b| {
            push_normalize(b, &bufs, stat, &xs, &tmp, layer);
            Ok(())
        })?;
        let ys = ry.tile(oy, t.nr, 0, cols);
        let stage_c = b.capture(|b| {
            push_scale_store(b, &bufs, (t.r0, t.nr), (0, cols), &tmp, ys);
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

/// The inputs, the output, gamma (and beta) resident in every partition, the rings of x, the
/// normalized rows and y (slots of `slot` elements), and `stat_cols` statistics per row tile
/// (declared in this order: it fixes the addresses).
fn declare(
    b: &mut Builder,
    (rows, cols): (usize, usize),
    dtype: DType,
    layer: bool,
    (slot, stat_cols): (usize, usize),
) -> Result<(NormBufs, [Ring; 3])> {
    let normal = |mean, seed| Init::Normal {
        mean,
        std: 0.1,
        seed,
    };
    let x = b.input("x", dtype, &[rows, cols]);
    let gamma = b.input_with("gamma", dtype, &[1, cols], normal(1.0, 101));
    let beta = layer.then(|| b.input_with("beta", dtype, &[1, cols], normal(0.0, 102)));
    let y = b.output("y", dtype, &[rows, cols]);
    let g_s = b.sbuf("gamma_s", dtype, 128, cols)?;
    let b_s = match beta {
        Some(_) => Some(b.sbuf("beta_s", dtype, 128, cols)?),
        None => None,
    };
    let rings = [
        Ring::new(b, "x_s", dtype, RING_SLOTS[0], slot)?,
        Ring::new(b, "t_s", dtype, RING_SLOTS[1], slot)?,
        Ring::new(b, "y_s", dtype, RING_SLOTS[2], slot)?,
    ];
    let chunks = cols.div_ceil(BN_FMAX);
    let stats = b.sbuf("stats", DType::Float32, 128, 3 * stat_cols)?;
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
    let bufs = NormBufs {
        x,
        y,
        gamma: g_s,
        beta: b_s,
        stats,
        cols,
        chunks,
    };
    Ok((bufs, rings))
}

/// Stage A's statistics: (mean, var) by bn_stats/bn_aggr, or the sum of squares in one Scalar
/// pass (the squares are scratch); then rstd = 1 / sqrt(var + eps) (or ss / cols + eps).
#[allow(clippy::too_many_arguments)]
fn push_statistics(
    b: &mut Builder,
    bufs: &NormBufs,
    stat: StatSlots,
    rx: &Ring,
    ox: usize,
    xs: &Tile,
    tmp: &Tile,
    layer: bool,
) {
    let (cols, chunks) = (bufs.cols, bufs.chunks);
    let agg = 3 * chunks;
    if layer {
        for c in 0..chunks {
            let len = BN_FMAX.min(cols - c * BN_FMAX);
            b.push(Op::BnStats {
                dst: stat.at(3 * c, 3),
                src: rx.tile(ox, stat.nr, c * BN_FMAX, len),
            });
        }
        push_moments(b, stat, chunks);
    } else {
        let sq = Some((ReduceOp::Sum, stat.at(agg, 1)));
        b.push(act(ActFunc::Square, tmp.clone(), xs.clone(), 1.0, 0.0, sq));
        push_rstd_rms(b, stat, chunks, cols);
    }
}

/// Mean and variance from all `chunks` bn_stats triples (one bn_aggr), then rstd = 1 /
/// sqrt(var + eps) and shift = -mean * rstd.
fn push_moments(b: &mut Builder, stat: StatSlots, chunks: usize) {
    let agg = 3 * chunks;
    b.push(Op::BnAggr {
        dst: stat.at(agg, 2),
        src: stat.at(0, 3 * chunks),
    });
    let (mean, var, rstd) = (stat.at(agg, 1), stat.at(agg + 1, 1), stat.at(agg + 2, 1));
    b.push(act(ActFunc::Rsqrt, rstd.clone(), var, 1.0, EPS, None));
    // shift = -mean * rstd
    b.push(ts(
        stat.at(agg + 3, 1),
        mean,
        (AluOp::Mul, Scalar::PerPartition(rstd)),
        Some((AluOp::Mul, Scalar::Imm(-1.0))),
    ));
}

/// rstd = 1 / sqrt(ss / cols + eps) from the sum of squares at the aggregate slot.
fn push_rstd_rms(b: &mut Builder, stat: StatSlots, chunks: usize, cols: usize) {
    let agg = 3 * chunks;
    let inv_n = 1.0 / cols as f32;
    let (ss, rstd) = (stat.at(agg, 1), stat.at(agg + 2, 1));
    b.push(act(ActFunc::Rsqrt, rstd, ss, inv_n, EPS, None));
}

/// Stage B: normalized rows in the storage dtype (16-bit operands take the fast paths).
fn push_normalize(
    b: &mut Builder,
    bufs: &NormBufs,
    stat: StatSlots,
    xs: &Tile,
    tmp: &Tile,
    layer: bool,
) {
    let agg = 3 * bufs.chunks;
    let rstd = Scalar::PerPartition(stat.at(agg + 2, 1));
    if layer {
        let shift = Scalar::PerPartition(stat.at(agg + 3, 1));
        let op = activation(
            ActFunc::Identity,
            tmp.clone(),
            xs.clone(),
            (rstd, shift),
            None,
        );
        b.push(op);
    } else {
        b.push(ts(tmp.clone(), xs.clone(), (AluOp::Mul, rstd), None));
    }
}

/// Stage C: gamma (and beta) over columns `c0..c0 + nc`, each full pass on its own engine, then
/// the store. Layernorm's gamma pass is split by columns: its first [`GPSIMD_GAMMA_SHARE`] on
/// GpSimd (before beta there), the rest on Vector, which also takes the statistics.
fn push_scale_store(
    b: &mut Builder,
    bufs: &NormBufs,
    (r0, nr): (usize, usize),
    (c0, cols): (usize, usize),
    tmp: &Tile,
    ys: Tile,
) {
    let gs = tile(bufs.gamma, 0, nr, c0, cols);
    let tt = |engine, op, dst: Tile, a: Tile, bb: Tile| Op::TensorTensor {
        engine,
        op,
        dst,
        a,
        b: bb,
    };
    match bufs.beta {
        Some(bs) => {
            let split = gpsimd_gamma_cols(cols);
            for (engine, a, n) in [
                (Engine::GpSimd, 0, split),
                (Engine::Vector, split, cols - split),
            ] {
                if n > 0 {
                    let t = narrow(tmp, a, n);
                    b.push(tt(engine, AluOp::Mul, t.clone(), t, narrow(&gs, a, n)));
                }
            }
            let beta = tile(bs, 0, nr, c0, cols);
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
    b.dma(Role::Store, hbm_block(bufs.y, r0, nr, c0, cols), ys);
}

/// The share of layernorm's gamma multiply that runs on GpSimd: Vector's `bn_stats` is a full
/// pass at one element per partition per cycle (NeuronCore-v3's performance mode does not lift
/// it [ARCH-V3]), so Vector's whole gamma pass beside it would bind the kernel, while GpSimd's
/// only other pass is beta. 3/8 roughly evens the two engines on trn1-trn3.
const GPSIMD_GAMMA_SHARE: (usize, usize) = (3, 8);

/// Columns of a `cols`-wide gamma multiply on GpSimd: [`GPSIMD_GAMMA_SHARE`] of them, in whole
/// 64-element runs (none for short rows).
fn gpsimd_gamma_cols(cols: usize) -> usize {
    let (num, den) = GPSIMD_GAMMA_SHARE;
    cols * num / den / 64 * 64
}

/// Columns `a..a + n` of a tile whose rows are contiguous.
fn narrow(t: &Tile, a: usize, n: usize) -> Tile {
    debug_assert!(t.ap.is_contiguous() && a + n <= t.ap.len());
    Tile {
        ap: AccessPattern::contiguous(t.ap.offset + a as u32, n as u32),
        ..t.clone()
    }
}

/// Rows too long for whole-row rings: each row tile in two passes over column chunks of `w`
/// (the largest of [`STREAM_CHUNKS`] that fits). The first takes the statistics chunk by chunk
/// (bn_stats per 512 elements, then one bn_aggr over them all, as NKI's layernorm does for long
/// rows; or a partial sum of squares per chunk, then their sum); the second reloads each chunk
/// to normalize, scale and store it. x is read from HBM twice: the price of rows that do not
/// fit. The first pass of the next tile is emitted before the second of this one, so loads and
/// statistics run ahead of the normalization.
fn lower_streamed(
    b: &mut Builder,
    rows: usize,
    cols: usize,
    dtype: DType,
    layer: bool,
) -> Result<()> {
    let (es, chunks) = (dtype.size_bytes(), cols.div_ceil(BN_FMAX));
    let stat_cols = |w: usize| 3 * chunks + 4 + cols.div_ceil(w);
    let free = b.sbuf_free_bytes() as usize;
    let fits = |w: usize| sbuf_bytes(cols, es, layer, w, stat_cols(w)) <= free;
    let Some(w) = STREAM_CHUNKS
        .into_iter()
        .map(|w| w.min(cols))
        .find(|&w| fits(w))
    else {
        return Err(b.does_not_fit(format!(
            "gamma{} of {cols} columns take {} bytes per partition, too many to stream rows              in {}-column chunks beside them; SBUF has {free}",
            if layer { " and beta" } else { "" },
            (1 + usize::from(layer)) * cols * es,
            BN_FMAX
        )));
    };
    let (bufs, mut rings) = declare(b, (rows, cols), dtype, layer, (w, stat_cols(w)))?;
    let mut pending: Vec<Op> = Vec::new();
    for (k, t) in tiles(rows, cols, cols).into_iter().enumerate() {
        let stat = StatSlots {
            buf: bufs.stats,
            nr: t.nr,
            base: (k % 3) * stat_cols(w),
        };
        push_stream_statistics(b, &bufs, stat, &mut rings, (t.r0, w), layer);
        b.extend(std::mem::take(&mut pending));
        pending = b.capture(|b| {
            push_stream_normalize(b, &bufs, stat, &mut rings, (t.r0, w), layer);
            Ok(())
        })?;
    }
    b.extend(pending);
    Ok(())
}

/// The streamed first pass over one row tile: load each chunk, take its statistics, then
/// rstd (and shift) from all of them.
fn push_stream_statistics(
    b: &mut Builder,
    bufs: &NormBufs,
    stat: StatSlots,
    [rx, rt, _]: &mut [Ring; 3],
    (r0, w): (usize, usize),
    layer: bool,
) {
    let (cols, chunks, nr) = (bufs.cols, bufs.chunks, stat.nr);
    let agg = 3 * chunks;
    for (ci, c0) in (0..cols).step_by(w).enumerate() {
        let nc = w.min(cols - c0);
        let ox = rx.take();
        let xs = rx.tile(ox, nr, 0, nc);
        b.dma(Role::Load, xs.clone(), hbm_block(bufs.x, r0, nr, c0, nc));
        if layer {
            for s0 in (0..nc).step_by(BN_FMAX) {
                b.push(Op::BnStats {
                    dst: stat.at(3 * ((c0 + s0) / BN_FMAX), 3),
                    src: rx.tile(ox, nr, s0, BN_FMAX.min(nc - s0)),
                });
            }
        } else {
            let oscratch = rt.take();
            let scratch = rt.tile(oscratch, nr, 0, nc);
            let sq = Some((ReduceOp::Sum, stat.at(agg + 4 + ci, 1)));
            b.push(act(ActFunc::Square, scratch, xs, 1.0, 0.0, sq));
        }
    }
    if layer {
        push_moments(b, stat, chunks);
    } else {
        b.push(Op::TensorReduce {
            engine: Engine::Vector,
            op: ReduceOp::Sum,
            dst: stat.at(agg, 1),
            src: stat.at(agg + 4, cols.div_ceil(w)),
        });
        push_rstd_rms(b, stat, chunks, cols);
    }
}

/// The streamed second pass over one row tile: reload each chunk, normalize, scale, store.
fn push_stream_normalize(
    b: &mut Builder,
    bufs: &NormBufs,
    stat: StatSlots,
    [rx, rt, ry]: &mut [Ring; 3],
    (r0, w): (usize, usize),
    layer: bool,
) {
    let (cols, nr) = (bufs.cols, stat.nr);
    for c0 in (0..cols).step_by(w) {
        let nc = w.min(cols - c0);
        let oxs = rx.take();
        let xs = rx.tile(oxs, nr, 0, nc);
        b.dma(Role::Load, xs.clone(), hbm_block(bufs.x, r0, nr, c0, nc));
        let otmp = rt.take();
        let tmp = rt.tile(otmp, nr, 0, nc);
        push_normalize(b, bufs, stat, &xs, &tmp, layer);
        let oys = ry.take();
        let ys = ry.tile(oys, nr, 0, nc);
        push_scale_store(b, bufs, (r0, nr), (c0, nc), &tmp, ys);
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
