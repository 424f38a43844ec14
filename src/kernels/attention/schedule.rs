//! The order of work: query tiles, the items (a query tile against a kv step) in program order,
//! the K/V and Q loads each item needs first, and the K/V layout in SBUF that fits.

use super::shape::Shape;
use super::{L, LBLK, LOOKAHEAD, STAT_SLOTS};

/// A query tile: up to 128 rows, positions `s0..s0 + ns` of heads `h0..h0 + nh` (several heads
/// only when each has fewer than 128 positions and no mask, as in decoding).
#[derive(Clone, Debug)]
pub(super) struct QTile {
    pub(super) b: usize,
    pub(super) h0: usize,
    pub(super) nh: usize,
    pub(super) s0: usize,
    pub(super) ns: usize,
    /// kv positions any row sees: `0..limit`.
    pub(super) limit: usize,
    /// Causal: the last key row 0 sees (row p sees `diag + p`).
    pub(super) diag: Option<usize>,
}

impl QTile {
    pub(super) fn rows(&self) -> usize {
        self.nh * self.ns
    }
}

/// A DMA issued just before an item's first stage.
#[derive(Clone, Debug)]
pub(super) enum Load {
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
pub(super) struct Item {
    pub(super) tile: usize,
    /// First kv position.
    pub(super) c0: usize,
    /// kv positions used (the tile's limit may cut the step short).
    pub(super) w: usize,
    /// Positions per partition in this step's V layout.
    pub(super) r: usize,
    /// Column of the step in the K^T slots buffer.
    pub(super) k_col: usize,
    /// Element offset of the step in the V slots buffer.
    pub(super) v_off: usize,
    /// Index of the K/V load it reads.
    pub(super) kv: usize,
    pub(super) first: bool,
    pub(super) last: bool,
    /// Stats slot.
    pub(super) st: usize,
    /// The tile's previous item's stats slot and the column holding its running sum.
    pub(super) prev: Option<(usize, usize)>,
    /// Column of this item's running sum.
    pub(super) l_col: usize,
    pub(super) loads: Vec<Load>,
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
pub(super) struct KvLayout {
    /// The whole sequence per slot, loaded once per kv head (else segments, per query group).
    pub(super) resident: bool,
    pub(super) seg: usize,
    /// V elements per partition per slot.
    pub(super) v_slot_elems: usize,
    pub(super) slots: usize,
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
pub(super) fn kv_layout(
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
