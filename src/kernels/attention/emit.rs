//! The instructions of each pipeline stage of an item (loads, Q K^T, softmax, transposes, P V,
//! rescale, running sum, output), emitted into the builder in the order the lowering's pipeline
//! loop asks for.

use super::super::builder::{Builder, Role, activation, hbm_block, tensor_scalar as ts, tile};
use super::schedule::{Item, Load, QTile};
use super::shape::Shape;
use super::{
    ALPHA, FIELDS, L, LBLK, MBLK, NM, O_SLOTS, OUT_SLOTS, P_SLOTS, PT_SLOTS, PTSB_SLOTS, Q_SLOTS,
    RL, S_SLOTS,
};
use crate::isa::{
    AccessPattern, ActFunc, AluOp, BufferId, CmpOp, Engine, Op, PartitionStep, ReduceOp, Scalar,
    Tile,
};

/// What the causal mask writes into a score: far below any real score, yet finite, so the
/// exponential gives an exact 0 and a running max never meets inf - inf.
const MASK_FILL: f32 = -1.0e30;

/// The buffers of a lowering.
pub(super) struct Bufs {
    pub(super) q: BufferId,
    pub(super) k: BufferId,
    pub(super) v: BufferId,
    pub(super) o: BufferId,
    pub(super) q_ring: BufferId,
    pub(super) k_slots: BufferId,
    pub(super) v_slots: BufferId,
    pub(super) p_ring: BufferId,
    pub(super) ptsb: BufferId,
    pub(super) stats: BufferId,
    /// A column of ones (the dividend of 1 / l).
    pub(super) ones: BufferId,
    pub(super) out_ring: BufferId,
    pub(super) s_ps: BufferId,
    pub(super) pt_ps: BufferId,
    pub(super) o_ps: BufferId,
    /// kv positions per K/V slot.
    pub(super) seg: usize,
    /// V elements per partition per slot.
    pub(super) v_slot_elems: usize,
    /// PSUM elements per O slot.
    pub(super) o_stride: usize,
}

/// Emits the stages of the items.
pub(super) struct Emitter<'a> {
    pub(super) s: &'a Shape,
    pub(super) bufs: &'a Bufs,
    pub(super) tiles: &'a [QTile],
    pub(super) items: &'a [Item],
}

fn scalar_col(stats: BufferId, rows: usize, st: usize, field: usize) -> Scalar {
    Scalar::PerPartition(stat(stats, rows, st, field))
}

fn stat(stats: BufferId, rows: usize, st: usize, field: usize) -> Tile {
    tile(stats, 0, rows, st * FIELDS + field, 1)
}

fn act(func: ActFunc, dst: Tile, src: Tile, scale: Scalar, bias: Scalar) -> Op {
    activation(func, dst, src, (scale, bias), None)
}

impl Emitter<'_> {
    fn rows(&self, it: &Item) -> usize {
        self.tiles[it.tile].rows()
    }

    fn s_tile(&self, t: usize) -> Tile {
        let it = &self.items[t];
        tile(
            self.bufs.s_ps,
            0,
            self.rows(it),
            (t % S_SLOTS) * self.s.w,
            it.w,
        )
    }

    fn o_tile(&self, it: &Item) -> Tile {
        tile(
            self.bufs.o_ps,
            0,
            self.rows(it),
            (it.tile % O_SLOTS) * self.bufs.o_stride,
            self.s.d,
        )
    }

    fn load(&self, b: &mut Builder, l: &Load) {
        let (s, bu) = (self.s, self.bufs);
        match *l {
            Load::Kv {
                b: seq,
                kvh,
                c0,
                len,
                slot,
            } => {
                let pair = seq * s.kv_heads + kvh;
                // Slot columns count from the load's first position.
                let base = c0;
                b.dma(
                    Role::Resident,
                    tile(bu.k_slots, 0, s.d, slot * bu.seg + (c0 - base), len),
                    hbm_block(bu.k, pair * s.d, s.d, c0, len),
                );
                // V, one kv step at a time, r consecutive positions per partition.
                let mut c = c0;
                while c < c0 + len {
                    let wl = s.w.min(c0 + len - c);
                    let r = wl.div_ceil(128);
                    let off = slot * bu.v_slot_elems + (c - base) / s.w * (s.w / 128) * s.d;
                    let row = pair * s.skv + c;
                    let full = wl / r;
                    b.dma(
                        Role::Resident,
                        tile(bu.v_slots, 0, full, off, r * s.d),
                        Tile {
                            buffer: bu.v,
                            partition_start: 0,
                            partition_count: full as u32,
                            partition_step: PartitionStep::new((r * s.d) as u32)
                                .expect("step fits"),
                            ap: AccessPattern::contiguous((row * s.d) as u32, (r * s.d) as u32),
                        },
                    );
                    let rem = wl - full * r;
                    if rem > 0 {
                        b.dma(
                            Role::Resident,
                            tile(bu.v_slots, full, 1, off, rem * s.d),
                            Tile {
                                buffer: bu.v,
                                partition_start: 0,
                                partition_count: 1,
                                partition_step: PartitionStep::ROW,
                                ap: AccessPattern::contiguous(
                                    ((row + full * r) * s.d) as u32,
                                    (rem * s.d) as u32,
                                ),
                            },
                        );
                    }
                    c += wl;
                }
            }
            Load::Q(ref group) => {
                let mut k = 0;
                while k < group.len() {
                    // Extend the run while the next tile continues this head in the next slot.
                    let t = group[k];
                    let mut end = k + 1;
                    while end < group.len() {
                        let (a, z) = (&self.tiles[group[end - 1]], &self.tiles[group[end]]);
                        let next_slot = (group[end - 1] + 1) % Q_SLOTS == group[end] % Q_SLOTS;
                        if a.nh == 1
                            && z.nh == 1
                            && a.h0 == z.h0
                            && a.b == z.b
                            && a.s0 + a.ns == z.s0
                            && a.ns == 128
                            && next_slot
                            && group[end] % Q_SLOTS != 0
                        {
                            end += 1;
                        } else {
                            break;
                        }
                    }
                    let (first, lastt) = (&self.tiles[t], &self.tiles[group[end - 1]]);
                    let cols = lastt.s0 + lastt.ns - first.s0;
                    let src = self.q_src(t, cols);
                    let dst = tile(
                        bu.q_ring,
                        0,
                        s.d,
                        (t % Q_SLOTS) * 128,
                        if first.nh == 1 { cols } else { first.rows() },
                    );
                    b.dma(Role::Load, dst, src);
                    k = end;
                }
            }
        }
    }

    /// Q^T of tile `t` in HBM (`cols` positions from its first when it is one head's).
    fn q_src(&self, t: usize, cols: usize) -> Tile {
        let (s, bu) = (self.s, self.bufs);
        let qt = &self.tiles[t];
        let row0 = (qt.b * s.heads + qt.h0) * s.d;
        if qt.nh == 1 {
            hbm_block(bu.q, row0, s.d, qt.s0, cols)
        } else if s.sq == 1 {
            // One position per head: Q^T of the group's heads is a DMA transpose.
            Tile {
                buffer: bu.q,
                partition_start: row0 as u32,
                partition_count: s.d as u32,
                partition_step: PartitionStep::new(1).expect("1 is a valid step"),
                ap: AccessPattern::new(0, &[(s.d as u32, qt.nh as u32)]),
            }
        } else {
            Tile {
                buffer: bu.q,
                partition_start: row0 as u32,
                partition_count: s.d as u32,
                partition_step: PartitionStep::ROW,
                ap: AccessPattern::new(0, &[((s.d * s.sq) as u32, qt.nh as u32), (1, s.sq as u32)]),
            }
        }
    }

    /// Loads, S = Q K^T, the causal mask.
    pub(super) fn scores(&self, b: &mut Builder, t: usize) {
        let (s, bu) = (self.s, self.bufs);
        let it = &self.items[t];
        for l in &it.loads {
            self.load(b, l);
        }
        let qt = &self.tiles[it.tile];
        let rows = qt.rows();
        let sdst = self.s_tile(t);
        b.push(Op::Matmul {
            dst: sdst.clone(),
            stationary: tile(bu.q_ring, 0, s.d, (it.tile % Q_SLOTS) * 128, rows),
            moving: tile(bu.k_slots, 0, s.d, it.k_col, it.w),
            accumulate: false,
        });
        if let Some(diag) = qt.diag
            && it.c0 + it.w > diag + 1
        {
            // Row p sees keys up to diag + p: mask columns a.. of the step where that ends.
            let a = (diag + 1).saturating_sub(it.c0);
            let mut m = sdst.clone();
            m.ap = AccessPattern::contiguous(sdst.ap.offset + a as u32, (it.w - a) as u32);
            b.push(Op::AffineSelect {
                dst: m.clone(),
                src: m,
                cmp: CmpOp::Ge,
                base: diag as i64 - (it.c0 + a) as i64,
                channel_multiplier: 1,
                step: -1,
                fill: MASK_FILL,
            });
        }
    }

    /// The softmax: row max, running max, rescale factor, exp with the block's row sums.
    pub(super) fn softmax(&self, b: &mut Builder, t: usize) {
        let (s, bu) = (self.s, self.bufs);
        let it = &self.items[t];
        let rows = self.rows(it);
        let st = |f| stat(bu.stats, rows, it.st, f);
        let sc = |slot, f| scalar_col(bu.stats, rows, slot, f);
        let src = self.s_tile(t);
        b.push(Op::TensorReduce {
            engine: Engine::Vector,
            op: ReduceOp::Max,
            dst: st(MBLK),
            src: src.clone(),
        });
        // nm = min(nm_prev, -scale * mblk) = -scale * (running max): the exp's bias directly.
        let neg = (AluOp::Mul, Scalar::Imm(-s.scale()));
        let op1 = it.prev.map(|(ps, _)| (AluOp::Min, sc(ps, NM)));
        b.push(ts(Engine::GpSimd, st(NM), st(MBLK), neg, op1));
        if let Some((ps, _)) = it.prev {
            // alpha = exp(nm - nm_prev) = exp(scale * (m_prev - m)).
            b.push(act(
                ActFunc::Exp,
                st(ALPHA),
                stat(bu.stats, rows, ps, NM),
                Scalar::Imm(-1.0),
                sc(it.st, NM),
            ));
        }
        let p = tile(bu.p_ring, 0, rows, (t % P_SLOTS) * s.w, it.w);
        b.push(activation(
            ActFunc::Exp,
            p,
            src,
            (Scalar::Imm(s.scale()), sc(it.st, NM)),
            Some((ReduceOp::Sum, st(LBLK))),
        ));
    }

    /// Positions (partitions) of transpose block `i` of an item: those `p` with `p * r + i < w`.
    fn block_rows(it: &Item, i: usize) -> usize {
        (it.w - i).div_ceil(it.r)
    }

    fn blocks(it: &Item) -> usize {
        it.r.min(it.w)
    }

    /// P^T blocks on the PE.
    pub(super) fn transposes(&self, t: usize) -> Vec<Op> {
        let (s, bu) = (self.s, self.bufs);
        let it = &self.items[t];
        let rows = self.rows(it);
        let p_off = (t % P_SLOTS) * s.w;
        let pt_off = (t % PT_SLOTS) * s.w;
        (0..Self::blocks(it))
            .map(|i| {
                let n = Self::block_rows(it, i);
                Op::Transpose {
                    engine: Engine::Tensor,
                    dst: tile(bu.pt_ps, 0, n, pt_off + i * rows, rows),
                    src: Tile {
                        buffer: bu.p_ring,
                        partition_start: 0,
                        partition_count: rows as u32,
                        partition_step: PartitionStep::ROW,
                        ap: AccessPattern::new((p_off + i) as u32, &[(it.r as u32, n as u32)]),
                    },
                }
            })
            .collect()
    }

    /// P^T from PSUM to SBUF, where the P V matmuls read it.
    pub(super) fn evacuate(&self, b: &mut Builder, t: usize) {
        let (s, bu) = (self.s, self.bufs);
        let it = &self.items[t];
        let n0 = Self::block_rows(it, 0);
        let width = Self::blocks(it) * self.rows(it);
        b.push(Op::TensorCopy {
            engine: Engine::Vector,
            dst: tile(bu.ptsb, 0, n0, (t % PTSB_SLOTS) * s.w, width),
            src: tile(bu.pt_ps, 0, n0, (t % PT_SLOTS) * s.w, width),
        });
    }

    /// The running output times alpha, before this item's P V accumulates into it.
    pub(super) fn rescale(&self, b: &mut Builder, t: usize) {
        let it = &self.items[t];
        if !it.first {
            let o = self.o_tile(it);
            b.push(ts(
                Engine::Vector,
                o.clone(),
                o,
                (
                    AluOp::Mul,
                    scalar_col(self.bufs.stats, self.rows(it), it.st, ALPHA),
                ),
                None,
            ));
        }
    }

    /// l = l_prev * alpha + lblk (on GpSimd: off the softmax chain).
    pub(super) fn running_sum(&self, b: &mut Builder, t: usize) {
        let it = &self.items[t];
        let rows = self.rows(it);
        if let Some((ps, pl)) = it.prev {
            let sc = |f| scalar_col(self.bufs.stats, rows, it.st, f);
            b.push(ts(
                Engine::GpSimd,
                stat(self.bufs.stats, rows, it.st, L),
                stat(self.bufs.stats, rows, ps, pl),
                (AluOp::Mul, sc(ALPHA)),
                Some((AluOp::Add, sc(LBLK))),
            ));
        }
    }

    /// The P V matmuls, accumulating into the tile's running output.
    pub(super) fn pv(&self, t: usize) -> Vec<Op> {
        let (s, bu) = (self.s, self.bufs);
        let it = &self.items[t];
        let rows = self.rows(it);
        let o = self.o_tile(it);
        let pt_off = (t % PTSB_SLOTS) * s.w;
        (0..Self::blocks(it))
            .map(|i| {
                let n = Self::block_rows(it, i);
                Op::Matmul {
                    dst: o.clone(),
                    stationary: tile(bu.ptsb, 0, n, pt_off + i * rows, rows),
                    moving: tile(bu.v_slots, 0, n, it.v_off + i * s.d, s.d),
                    accumulate: !(it.first && i == 0),
                }
            })
            .collect()
    }

    /// After a tile's last item: the divide by the row sums and the store.
    pub(super) fn finish(&self, b: &mut Builder, t: usize) {
        let (s, bu) = (self.s, self.bufs);
        let it = &self.items[t];
        if !it.last {
            return;
        }
        let qt = &self.tiles[it.tile];
        let rows = qt.rows();
        // 1 / l as ones / l on GpSimd: on Scalar it would queue behind a whole exp.
        let rl = stat(bu.stats, rows, it.st, RL);
        b.push(ts(
            Engine::GpSimd,
            rl.clone(),
            tile(bu.ones, 0, rows, 0, 1),
            (AluOp::Div, scalar_col(bu.stats, rows, it.st, it.l_col)),
            None,
        ));
        let out = tile(bu.out_ring, 0, rows, (it.tile % OUT_SLOTS) * s.d, s.d);
        b.push(ts(
            Engine::Vector,
            out.clone(),
            self.o_tile(it),
            (AluOp::Mul, Scalar::PerPartition(rl)),
            None,
        ));
        let row = (qt.b * s.heads + qt.h0) * s.sq + qt.s0;
        b.dma(Role::Store, hbm_block(bu.o, row, rows, 0, s.d), out);
    }
}
