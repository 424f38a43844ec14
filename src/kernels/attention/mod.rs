//! `attention`: flash-attention forward, O = softmax(Q K^T * scale [+ causal mask]) V, lowered
//! the way NKI's flash-attention sample is (layouts in `kernels/attention.toml`).
//!
//! The tensor engine contracts over partitions, so Q^T and K^T arrive with head_dim on
//! partitions and S = Q K^T needs no transpose. The softmax runs along S's rows (query positions
//! on partitions) with per-partition scalars. P V contracts over kv positions, which must then be
//! on partitions: P is transposed on the PE in 128-column blocks. To load V in long rows, each
//! kv step's V is stored with `r = ceil(width / 128)` consecutive positions per partition
//! (position `c0 + p * r + i` on partition `p`), so transpose block `i` takes P's columns
//! `i, i + r, ...` (a strided read, free on the PE) and pairs with V's `i`-th position of every
//! partition.
//!
//! Per item (a query tile against a kv step) the dependent chain is long (S, row max, running
//! max, exp, transpose, evacuation, P V) while each engine's share is short, and each engine is
//! an in-order queue, so the items are software-pipelined: step t of the program emits the
//! softmax of item t + 3, the output rescale of t - 1, the transposes of t interleaved with the
//! P V matmuls of t - 1, and Q K^T of t + 4. Every instruction then reaches the head of its
//! queue with its inputs (nearly always) ready; the rings each stage writes are deep enough that
//! no stage waits for a later one, and K/V slots are only reloaded once the last P V that reads
//! them is behind in program order. Query tiles are interleaved in groups (`q_group`) so
//! consecutive items rarely share a running max. The PE also transposes P (a third of its time
//! at head_dim 128), so 2/3 is this design's MFU ceiling; it reaches 65 % at seq 4096 on trn2.

mod emit;
mod reference;
mod schedule;
mod shape;

use ndarray::ArrayD;

use super::builder::{Builder, tile};
use super::{Kernel, Params, Result, unit_roundoff};
use crate::arch::Hardware;
use crate::isa::{Engine, Op, Program};
use crate::numerics::DType;
use emit::{Bufs, Emitter};
use schedule::kv_layout;
use shape::{Shape, out_dtype, p_dtype};

pub(super) struct Attention;
/// Steps Q K^T runs ahead of the transposes that need its softmax: the chain from S to P (row
/// max, running max, exp, each with its access latency) takes about 1.7 steps of PE work. 4
/// rather than 3 is 1 % faster causal at seq 4096 on trn2 (3122 against 3153 us), the same
/// without the mask; it takes the fifth S bank (5 + 1 for P^T + 2 for O = all 8).
const LOOKAHEAD: usize = 4;
/// PSUM banks of scores: an item's S lives from its Q K^T to its exp, up to LOOKAHEAD steps.
const S_SLOTS: usize = LOOKAHEAD + 1;
/// SBUF slots of probabilities P (exp to transposes).
const P_SLOTS: usize = LOOKAHEAD + 2;
/// PSUM slots of transposed P (bf16: two in one bank).
const PT_SLOTS: usize = 2;
/// SBUF slots of transposed P (evacuation to P V, one step apart).
const PTSB_SLOTS: usize = 4;
/// SBUF slots of Q^T tiles: loads run up to this many tiles ahead.
const Q_SLOTS: usize = 8;
/// Items whose per-row statistics are kept (a tile's next item is at most `q_group` items on).
const STAT_SLOTS: usize = 32;
/// SBUF slots of finished output tiles waiting for their store.
const OUT_SLOTS: usize = 4;
/// Tiles at most in flight: two query groups.
const O_SLOTS: usize = 8;

/// Per-row statistics of an item, columns of the stats buffer: the block's row max, the running
/// max negated and scaled (the exp's bias), the rescale factor of the previous running values,
/// the block's row sum, the running row sum, and its reciprocal.
const MBLK: usize = 0;
const NM: usize = 1;
const ALPHA: usize = 2;
const LBLK: usize = 3;
const L: usize = 4;
const RL: usize = 5;
const FIELDS: usize = 6;

impl Kernel for Attention {
    fn definition(&self) -> &'static str {
        include_str!("../../../kernels/attention.toml")
    }

    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        let s = Shape::of(p)?;
        let mut b = Builder::new("attention", hw, p.int("seed") as u64);
        let (bh, bkv) = (s.batch * s.heads, s.batch * s.kv_heads);
        let q = b.input("q", s.dtype, &[bh * s.d, s.sq]);
        let k = b.input("k", s.dtype, &[bkv * s.d, s.skv]);
        let v = b.input("v", s.dtype, &[bkv * s.skv, s.d]);
        let o = b.output("o", s.out, &[bh * s.sq, s.d]);
        let bank = b.bank_elems();
        if s.w > bank || s.w > hw.pe.moving_free_max as usize {
            return Err(b.does_not_fit(format!(
                "kv_tile = {} scores exceed one PSUM bank ({bank} fp32) or the moving free size ({})",
                s.w, hw.pe.moving_free_max
            )));
        }
        let parts = hw.sbuf.partitions as usize;
        if hw.pe.contraction_max < 128 || hw.pe.stationary_free_max < 128 || parts < 128 {
            return Err(b.does_not_fit(
                "the lowering needs 128-row query tiles and 128-position transposes \
                 (pe.contraction_max, pe.stationary_free_max and sbuf.partitions of at least 128)"
                    .into(),
            ));
        }
        let o_stride = s.d.next_power_of_two().max(1);
        let o_per_bank = bank / o_stride;
        let o_banks = O_SLOTS.div_ceil(o_per_bank) as u32;
        let s_ps = b.psum("s_psum", 128, S_SLOTS as u32)?;
        let pt_banks = ((PT_SLOTS * s.w * s.pdtype.size_bytes()) as u64)
            .div_ceil(hw.psum.bytes_per_partition / hw.psum.banks as u64)
            as u32;
        let pt_ps = b.psum_typed("pt_psum", s.pdtype, 128, pt_banks)?;
        let o_ps = b.psum("o_psum", 128, o_banks)?;
        let q_ring = b.sbuf("q_ring", s.dtype, s.d, Q_SLOTS * 128)?;
        let p_ring = b.sbuf("p_ring", s.pdtype, 128, P_SLOTS * s.w)?;
        let ptsb = b.sbuf("pt_sbuf", s.pdtype, 128, PTSB_SLOTS * s.w)?;
        let stats = b.sbuf("stats", DType::Float32, 128, STAT_SLOTS * FIELDS)?;
        let ones = b.sbuf("ones", DType::Float32, 128, 1)?;
        let out_ring = b.sbuf("o_ring", s.out, 128, OUT_SLOTS * s.d)?;
        // K/V: resident per kv head in two slots when the whole sequence fits (the next head loads
        // while this one computes), else the largest segments that fit twice, reloaded per group.
        let (kv, tiles, items) =
            kv_layout(&s, b.sbuf_free_bytes()).map_err(|m| b.does_not_fit(m))?;
        let (seg, v_slot_elems) = (kv.seg, kv.v_slot_elems);
        let k_slots = b.sbuf("k_slots", s.dtype, s.d, kv.slots * seg)?;
        let v_slots = b.sbuf("v_slots", s.dtype, 128, kv.slots * v_slot_elems)?;
        let bufs = Bufs {
            q,
            k,
            v,
            o,
            q_ring,
            k_slots,
            v_slots,
            p_ring,
            ptsb,
            stats,
            ones,
            out_ring,
            s_ps,
            pt_ps,
            o_ps,
            seg,
            v_slot_elems,
            o_stride,
        };
        let e = Emitter {
            s: &s,
            bufs: &bufs,
            tiles: &tiles,
            items: &items,
        };
        b.push(Op::Memset {
            engine: Engine::GpSimd,
            dst: tile(ones, 0, 128, 0, 1),
            value: 1.0,
        });
        // Step t emits, in this order: the output rescale of item t - 1, the softmax of
        // t + a - 1, the running sum of t - 1, the transposes of t interleaved with the P V of
        // t - 1, the evacuation of t, the end of t - 1's tile if it is its last item, Q K^T of
        // t + a. The queues then read: PE T(t) PV(t - 1) ... QK(t + a); Vector rescale(t - 1),
        // max(t + a - 1), evacuation(t); Scalar alpha and exp(t + a - 1). The rescale goes first
        // because the PE's next P V waits for it: behind a row max it would stall the PE.
        let a = LOOKAHEAD as isize;
        let n = items.len() as isize;
        let live = |i: isize| (0..n).contains(&i).then_some(i as usize);
        for t in -a..n + 1 {
            if let Some(i) = live(t - 1) {
                e.rescale(&mut b, i);
            }
            if let Some(i) = live(t + a - 1) {
                e.softmax(&mut b, i);
            }
            // The P V matmuls of an item accumulate into one PSUM tile, each waiting for the one
            // before to drain: the next item's transposes (independent) fill those gaps.
            let prev = live(t - 1);
            if let Some(i) = prev {
                e.running_sum(&mut b, i);
            }
            let tr = live(t).map_or(Vec::new(), |i| e.transposes(i));
            let pv = prev.map_or(Vec::new(), |i| e.pv(i));
            for k in 0..tr.len().max(pv.len()) {
                for op in [tr.get(k), pv.get(k)].into_iter().flatten() {
                    b.push(op.clone());
                }
            }
            if let Some(i) = live(t) {
                e.evacuate(&mut b, i);
            }
            if let Some(i) = prev {
                e.finish(&mut b, i);
            }
            if let Some(i) = live(t + a) {
                e.scores(&mut b, i);
            }
        }
        b.finish()
    }

    /// f64 reference: per head, softmax(Q K^T * scale [+ mask]) V.
    fn reference(
        &self,
        p: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        let s = Shape::of(p).expect("validated when lowered");
        reference::outputs(&s, input)
    }

    /// Output rounding, P's rounding before P V, and fp32 accumulation over head_dim and seq_kv.
    /// P's roundings are independent (each to nearest), so their error in an output is about
    /// u_p / sqrt(3) * sqrt(sum_j p_j^2 v_j^2) / l, while the output itself is about
    /// sqrt(sum_j p_j^2) / l (the kernel's inputs are normal(0, 1)): relative to the largest output
    /// a six-sigma error is about 1.2 u_p at any length, taken here as 3 u_p. (Aligned errors would
    /// allow u_p * sum_j p_j |v_j| / l, which grows like sqrt(seq_kv) relative to the outputs;
    /// round to nearest does not align them.)
    fn tolerance(&self, p: &Params) -> f64 {
        let dtype = p.dtype("dtype");
        let (skv, d) = (p.int("seq_kv") as f64, p.int("head_dim") as f64);
        2.0 * unit_roundoff(out_dtype(dtype))
            + 3.0 * unit_roundoff(p_dtype(dtype))
            + 8.0 * (d + skv).sqrt() * unit_roundoff(DType::Float32)
    }
}
