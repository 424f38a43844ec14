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

use ndarray::ArrayD;

use super::builder::{Builder, Role, hbm_block, tile};
use super::{Error, Kernel, Params, Result, unit_roundoff};
use crate::arch::Hardware;
use crate::isa::{
    AccessPattern, ActFunc, AluOp, BufferId, CmpOp, Engine, Op, PartitionStep, Program, ReduceOp,
    Scalar, Tile,
};
use crate::numerics::DType;

/// `attention`.
pub(super) struct Attention;

/// What the causal mask writes into a score: far below any real score, yet finite, so the
/// exponential gives an exact 0 and a running max never meets inf - inf.
const MASK_FILL: f32 = -1.0e30;

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

/// The problem, validated.
#[derive(Clone, Debug)]
struct Shape {
    batch: usize,
    heads: usize,
    kv_heads: usize,
    /// Query heads per kv head.
    group: usize,
    sq: usize,
    skv: usize,
    d: usize,
    causal: bool,
    dtype: DType,
    /// Dtype of P (and its transposes).
    pdtype: DType,
    out: DType,
    /// kv positions per step.
    w: usize,
    q_group: usize,
}

/// The output dtype for inputs of `d` (fp8 gives bf16).
fn out_dtype(d: DType) -> DType {
    if d.is_fp8() { DType::BFloat16 } else { d }
}

/// P's dtype: the 16-bit matmul format of the inputs' family.
fn p_dtype(d: DType) -> DType {
    if d == DType::Float16 {
        DType::Float16
    } else {
        DType::BFloat16
    }
}

fn param_err(param: &str, message: String) -> Error {
    Error::Param {
        kernel: "attention".into(),
        param: param.into(),
        message,
    }
}

impl Shape {
    fn of(p: &Params) -> Result<Shape> {
        let heads = p.int("heads");
        let kv_heads = match p.int("kv_heads") {
            0 => heads,
            k => k,
        };
        if heads % kv_heads != 0 {
            return Err(param_err(
                "kv_heads",
                format!("{kv_heads} does not divide heads = {heads}"),
            ));
        }
        let (sq, skv) = (p.int("seq_q"), p.int("seq_kv"));
        let causal = p.flag("causal");
        if causal && sq > skv {
            return Err(param_err(
                "seq_q",
                format!(
                    "causal attention needs seq_q <= seq_kv (the mask is bottom-right aligned: \
                     the first {} queries would see no key); seq_q = {sq}, seq_kv = {skv}",
                    sq - skv
                ),
            ));
        }
        let w = p.int("kv_tile");
        if w % 128 != 0 {
            return Err(param_err(
                "kv_tile",
                format!("{w} is not a multiple of 128"),
            ));
        }
        let dtype = p.dtype("dtype");
        let s = Shape {
            batch: p.int("batch"),
            heads,
            kv_heads,
            group: heads / kv_heads,
            sq,
            skv,
            d: p.int("head_dim"),
            causal,
            dtype,
            pdtype: p_dtype(dtype),
            out: out_dtype(dtype),
            w,
            q_group: p.int("q_group"),
        };
        // Tile coordinates are 32-bit: every HBM buffer must be addressable.
        let largest = [
            ("q", s.batch * heads * s.d * sq),
            ("k", s.batch * kv_heads * s.d * skv),
            ("v", s.batch * kv_heads * skv * s.d),
            ("o", s.batch * heads * sq * s.d),
        ];
        for (name, elems) in largest {
            if elems > u32::MAX as usize {
                return Err(Error::DoesNotFit {
                    kernel: "attention".into(),
                    message: format!(
                        "buffer '{name}' would hold {elems} elements; tiles address at most \
                         2^32 (reduce batch, heads, seq_q or seq_kv)"
                    ),
                });
            }
        }
        Ok(s)
    }

    /// Softmax scale, 1 / sqrt(head_dim).
    fn scale(&self) -> f32 {
        (1.0 / (self.d as f64).sqrt()) as f32
    }

    /// Offset of the causal diagonal: query i sees keys j <= i + off.
    fn off(&self) -> usize {
        self.skv - self.sq
    }
}

/// A query tile: up to 128 rows, positions `s0..s0 + ns` of heads `h0..h0 + nh` (several heads
/// only when each has fewer than 128 positions and no mask, as in decoding).
#[derive(Clone, Debug)]
struct QTile {
    b: usize,
    h0: usize,
    nh: usize,
    s0: usize,
    ns: usize,
    /// kv positions any row sees: `0..limit`.
    limit: usize,
    /// Causal: the last key row 0 sees (row p sees `diag + p`).
    diag: Option<usize>,
}

impl QTile {
    fn rows(&self) -> usize {
        self.nh * self.ns
    }
}

/// A DMA issued just before an item's first stage.
#[derive(Clone, Debug)]
enum Load {
    /// K^T and V of kv head `kvh` of sequence `b`, positions `c0..c0 + len`, into slot `slot`.
    Kv {
        b: usize,
        kvh: usize,
        c0: usize,
        len: usize,
        slot: usize,
    },
    /// Q^T of a group of tiles (one DMA per run of tiles contiguous in HBM and in the ring).
    Q(Vec<usize>),
}

/// One query tile against one kv step.
#[derive(Clone, Debug)]
struct Item {
    tile: usize,
    /// First kv position.
    c0: usize,
    /// kv positions used (the tile's limit may cut the step short).
    w: usize,
    /// Positions per partition in this step's V layout.
    r: usize,
    /// Column of the step in the K^T slots buffer.
    k_col: usize,
    /// Element offset of the step in the V slots buffer.
    v_off: usize,
    /// Index of the K/V load it reads.
    kv: usize,
    first: bool,
    last: bool,
    /// Stats slot.
    st: usize,
    /// The tile's previous item's stats slot and the column holding its running sum.
    prev: Option<(usize, usize)>,
    /// Column of this item's running sum.
    l_col: usize,
    loads: Vec<Load>,
}

/// The buffers of a lowering.
struct Bufs {
    q: BufferId,
    k: BufferId,
    v: BufferId,
    o: BufferId,
    q_ring: BufferId,
    k_slots: BufferId,
    v_slots: BufferId,
    p_ring: BufferId,
    ptsb: BufferId,
    stats: BufferId,
    /// A column of ones (the dividend of 1 / l).
    ones: BufferId,
    out_ring: BufferId,
    s_ps: BufferId,
    pt_ps: BufferId,
    o_ps: BufferId,
    /// kv positions per K/V slot.
    seg: usize,
    /// V elements per partition per slot.
    v_slot_elems: usize,
    /// PSUM elements per O slot.
    o_stride: usize,
}

/// The query tiles of kv head `kvh` of sequence `b`.
fn tiles_of(s: &Shape, b: usize, kvh: usize, out: &mut Vec<QTile>) {
    let pack = if s.sq < 128 && (!s.causal || s.sq == 1) {
        (128 / s.sq).clamp(1, s.group)
    } else {
        1
    };
    let mut g = 0;
    while g < s.group {
        let nh = pack.min(s.group - g);
        let h0 = kvh * s.group + g;
        let mut s0 = 0;
        while s0 < s.sq {
            let ns = if nh > 1 { s.sq } else { 128.min(s.sq - s0) };
            let (limit, diag) = if s.causal {
                (s.skv.min(s0 + ns + s.off()), Some(s0 + s.off()))
            } else {
                (s.skv, None)
            };
            out.push(QTile {
                b,
                h0,
                nh,
                s0,
                ns,
                limit,
                diag,
            });
            s0 += ns;
        }
        g += nh;
    }
}

/// K^T and V bytes per partition of one slot holding `seg` kv positions (a multiple of the step).
fn slot_bytes(s: &Shape, seg: usize) -> u64 {
    let es = s.dtype.size_bytes();
    let v = seg.div_ceil(s.w) * (s.w / 128) * s.d;
    ((seg + v) * es) as u64
}

/// Where K and V live in SBUF: a ring of slots, each holding `seg` kv positions.
#[derive(Clone, Copy, Debug)]
struct KvLayout {
    /// The whole sequence per slot, loaded once per kv head (else segments, per query group).
    resident: bool,
    seg: usize,
    /// V elements per partition per slot.
    v_slot_elems: usize,
    slots: usize,
}

impl KvLayout {
    fn new(s: &Shape, resident: bool, seg: usize, slots: usize) -> KvLayout {
        KvLayout {
            resident,
            seg,
            v_slot_elems: seg.div_ceil(s.w) * (s.w / 128) * s.d,
            slots,
        }
    }
}

/// Slots the loads need so that a load is emitted only after the last read of what it
/// overwrites: P V reads V up to LOOKAHEAD + 1 steps after Q K^T reads K, so the first item of
/// the load `slots` on must come at least LOOKAHEAD + 2 items after the last item of this one.
fn slots_needed(items: &[Item]) -> usize {
    let loads = items.last().map_or(0, |it| it.kv + 1);
    let (mut first, mut last) = (vec![usize::MAX; loads], vec![0; loads]);
    for (i, it) in items.iter().enumerate() {
        first[it.kv] = first[it.kv].min(i);
        last[it.kv] = i;
    }
    (2..loads.max(2))
        .find(|&n| (0..loads - n).all(|i| first[i + n] >= last[i] + LOOKAHEAD + 2))
        .unwrap_or(loads.max(2))
}

/// The K/V layout that fits `free` bytes per partition: the whole sequence resident when the
/// slots it needs fit, else the longest segments that do; with the tiles and items for it.
fn kv_layout(
    s: &Shape,
    free: u64,
) -> std::result::Result<(KvLayout, Vec<QTile>, Vec<Item>), String> {
    let whole = s.skv.div_ceil(s.w) * s.w;
    let mut kv = KvLayout::new(s, true, whole, 2);
    // Each try either fits, or shrinks the segments (the slot count needed only grows as they
    // shrink, so this ends).
    loop {
        let (_, items) = plan(s, &kv);
        let slots = slots_needed(&items);
        if slots as u64 * slot_bytes(s, kv.seg) <= free {
            kv.slots = slots;
            let (tiles, items) = plan(s, &kv);
            return Ok((kv, tiles, items));
        }
        let steps = (free / slots as u64 / slot_bytes(s, s.w)) as usize;
        let seg = steps * s.w;
        if seg == 0 || (!kv.resident && seg >= kv.seg) {
            return Err(format!(
                "{slots} K/V slots of one kv step ({} positions) need {} bytes per partition; \
                 {free} are left",
                s.w,
                slots as u64 * slot_bytes(s, s.w)
            ));
        }
        kv = KvLayout::new(s, false, seg.min(whole), slots);
    }
}

/// The query tiles and the items in program order, with the loads each item needs first.
fn plan(s: &Shape, kv: &KvLayout) -> (Vec<QTile>, Vec<Item>) {
    let resident = kv.resident;
    let mut tiles = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut pending = Vec::new();
    // Per tile: (stats slot, running-sum column) of its latest item.
    let mut last: Vec<Option<(usize, usize)>> = Vec::new();
    let mut kv_loads = 0;
    for b in 0..s.batch {
        for kvh in 0..s.kv_heads {
            let first_tile = tiles.len();
            tiles_of(s, b, kvh, &mut tiles);
            last.resize(tiles.len(), None);
            if resident {
                pending.push(Load::Kv {
                    b,
                    kvh,
                    c0: 0,
                    len: s.skv,
                    slot: kv_loads % kv.slots,
                });
                kv_loads += 1;
            }
            let ids: Vec<usize> = (first_tile..tiles.len()).collect();
            for group in ids.chunks(s.q_group) {
                pending.push(Load::Q(group.to_vec()));
                let reach = group.iter().map(|&t| tiles[t].limit).max().unwrap_or(0);
                let mut seg0 = 0;
                while seg0 < reach {
                    let (slot, loaded_end) = if resident {
                        ((kv_loads - 1) % kv.slots, s.skv)
                    } else {
                        let slot = kv_loads % kv.slots;
                        kv_loads += 1;
                        let len = kv.seg.min(reach - seg0);
                        pending.push(Load::Kv {
                            b,
                            kvh,
                            c0: seg0,
                            len,
                            slot,
                        });
                        (slot, seg0 + len)
                    };
                    let base = if resident { 0 } else { seg0 };
                    let mut c0 = seg0;
                    while c0 < reach.min(seg0 + kv.seg) {
                        let loaded = s.w.min(loaded_end - c0);
                        for &t in group {
                            let qt = &tiles[t];
                            if c0 >= qt.limit {
                                continue;
                            }
                            let idx = items.len();
                            let st = idx % STAT_SLOTS;
                            let prev = last[t];
                            let l_col = if prev.is_none() { LBLK } else { L };
                            last[t] = Some((st, l_col));
                            items.push(Item {
                                tile: t,
                                c0,
                                w: s.w.min(qt.limit - c0),
                                r: loaded.div_ceil(128),
                                k_col: slot * kv.seg + (c0 - base),
                                v_off: slot * kv.v_slot_elems
                                    + (c0 - base) / s.w * (s.w / 128) * s.d,
                                kv: kv_loads - 1,
                                first: prev.is_none(),
                                last: c0 + s.w >= qt.limit,
                                st,
                                prev,
                                l_col,
                                loads: std::mem::take(&mut pending),
                            });
                        }
                        c0 += s.w;
                    }
                    seg0 += kv.seg;
                }
            }
        }
    }
    (tiles, items)
}

/// Emits the stages of the items.
struct Emitter<'a> {
    s: &'a Shape,
    bufs: &'a Bufs,
    tiles: &'a [QTile],
    items: &'a [Item],
}

fn scalar_col(stats: BufferId, rows: usize, st: usize, field: usize) -> Scalar {
    Scalar::PerPartition(stat(stats, rows, st, field))
}

fn stat(stats: BufferId, rows: usize, st: usize, field: usize) -> Tile {
    tile(stats, 0, rows, st * FIELDS + field, 1)
}

use super::builder::{activation, tensor_scalar as ts};

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
                    dma(b, Role::Load, dst, src);
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
    fn scores(&self, b: &mut Builder, t: usize) {
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
    fn softmax(&self, b: &mut Builder, t: usize) {
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
    fn transposes(&self, t: usize) -> Vec<Op> {
        let (s, bu) = (self.s, self.bufs);
        let it = &self.items[t];
        let rows = self.rows(it);
        let p_off = (t % P_SLOTS) * s.w;
        let pt_off = (t % PT_SLOTS) * s.w;
        (0..Self::blocks(it))
            .map(|i| {
                let n = Self::block_rows(it, i);
                Op::Transpose {
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
    fn evacuate(&self, b: &mut Builder, t: usize) {
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
    fn rescale(&self, b: &mut Builder, t: usize) {
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
    fn running_sum(&self, b: &mut Builder, t: usize) {
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
    fn pv(&self, t: usize) -> Vec<Op> {
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
    fn finish(&self, b: &mut Builder, t: usize) {
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
        dma(b, Role::Store, hbm_block(bu.o, row, rows, 0, s.d), out);
    }
}

/// A DMA split over the engines by bytes and, for short rows (under 2 KiB, where each row is a
/// slow descriptor [DMA]), at most 32 rows per engine: a tile's Q^T or output would otherwise
/// take several microseconds on one engine.
fn dma(b: &mut Builder, role: Role, dst: Tile, src: Tile) {
    let es = b
        .dtype(src.buffer)
        .size_bytes()
        .max(b.dtype(dst.buffer).size_bytes());
    let bytes = src.elems() * es;
    let mut parts = bytes / super::DMA_PART_BYTES;
    if src.free_size() * es < 2048 {
        parts = parts.max(src.np().div_ceil(32));
    }
    b.dma_parts(role, dst, src, parts);
}

impl Kernel for Attention {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/attention.toml")
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
        let (q, k, v) = (input("q"), input("k"), input("v"));
        let (q, k, v) = (
            q.as_slice().expect("standard layout"),
            k.as_slice().expect("standard layout"),
            v.as_slice().expect("standard layout"),
        );
        let (d, sq, skv) = (s.d, s.sq, s.skv);
        let scale = 1.0 / (d as f64).sqrt();
        let mut o = vec![0.0f64; s.batch * s.heads * sq * d];
        let mut scores = vec![0.0f64; skv];
        for b in 0..s.batch {
            for h in 0..s.heads {
                let kvh = h / s.group;
                let (qh, kh) = ((b * s.heads + h) * d, (b * s.kv_heads + kvh) * d);
                let vh = (b * s.kv_heads + kvh) * skv;
                for i in 0..sq {
                    let lim = if s.causal {
                        skv.min(i + s.off() + 1)
                    } else {
                        skv
                    };
                    let mut m = f64::NEG_INFINITY;
                    for (j, sc) in scores.iter_mut().enumerate().take(lim) {
                        let mut acc = 0.0;
                        for x in 0..d {
                            acc += q[(qh + x) * sq + i] * k[(kh + x) * skv + j];
                        }
                        *sc = acc * scale;
                        m = m.max(*sc);
                    }
                    let mut l = 0.0;
                    for sc in scores.iter_mut().take(lim) {
                        *sc = (*sc - m).exp();
                        l += *sc;
                    }
                    let row = ((b * s.heads + h) * sq + i) * d;
                    for (j, &pj) in scores.iter().enumerate().take(lim) {
                        for c in 0..d {
                            o[row + c] += pj * v[(vh + j) * d + c];
                        }
                    }
                    for c in 0..d {
                        o[row + c] /= l;
                    }
                }
            }
        }
        let shape = vec![s.batch * s.heads * sq, d];
        vec![(
            "o".into(),
            ArrayD::from_shape_vec(shape, o).expect("sized to the shape"),
        )]
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
