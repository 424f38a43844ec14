//! The immutable timing plan of a program on a preset: which queue runs each instruction, what it
//! costs, and what it must wait for.
//!
//! Dependencies (RAW, WAR, WAW) are derived from the regions instructions read and write, the way
//! the Neuron compiler inserts semaphores, so a trace needs only program order. Regions are
//! intervals (partition range x element range), kept per buffer in an interval index; accesses that
//! a later write covers are dropped (the write already orders everything after it), and accesses
//! that nothing later can conflict with are never recorded.

use arrayvec::ArrayVec;

use super::check::Liveness;
pub use super::queue::{FIRST_DMA, GPSIMD, SCALAR, TENSOR, VECTOR, queue_of, queues};
use crate::arch::{EngineConfig, Hardware};
use crate::isa::{AluOp, Engine, Memory, Op, Program, ReduceOp, Tile, TileList};
use crate::numerics::DType;

/// Integer picoseconds, the simulator's unit of time.
pub type Picos = u64;

/// Convert engine cycles at `mhz` to picoseconds, rounding up.
pub fn cycles_to_ps(cycles: u64, mhz: u32) -> Picos {
    (cycles * 1_000_000).div_ceil(mhz as u64)
}

/// What an instruction costs on its queue.
#[derive(Clone, Debug, PartialEq)]
pub enum Cost {
    /// Vector/Scalar/GpSimd: busy time, then `latency_ps` until the result is visible.
    Compute {
        /// Engine busy time (including the dependent-instruction overhead).
        busy_ps: Picos,
        /// Access latency after the busy time.
        latency_ps: Picos,
    },
    /// Tensor engine: an optional weight load, then the multiply (or a transpose).
    Tensor {
        /// LoadStationary cycles (0: weights already in the array).
        load_cycles: u64,
        /// MultiplyMoving (or transpose) cycles at full speed.
        mm_cycles: u64,
        /// Cycles from the last issue to a readable result.
        latency_cycles: u64,
        /// Whether it reuses the weights loaded by the previous matmul.
        reuse_weights: bool,
    },
    /// DMA: work in bytes at the engine's peak rate (payload plus descriptor overheads).
    Dma {
        /// DMA engine index.
        engine: u16,
        /// Bytes of work at peak rate.
        work_bytes: f64,
        /// Bytes moved to or from HBM.
        hbm_bytes: u64,
        /// Fixed latency before the first byte.
        latency_ps: Picos,
    },
}

/// The variable part of an instruction's [`Cost`] in 16 bytes (the kind follows from its queue,
/// the latencies from the preset): half a `Cost`. A million-instruction plan writes all of it
/// on fresh pages, so every byte per instruction is page-fault time.
#[derive(Clone, Copy, Debug, PartialEq)]
struct PackedCost(u64, u64);

/// Bit of a tensor cost's second word: the matmul reuses the loaded weights.
const REUSE: u64 = 1 << 63;

impl PackedCost {
    fn of(c: &Cost) -> PackedCost {
        match *c {
            Cost::Compute { busy_ps, .. } => PackedCost(busy_ps, 0),
            Cost::Tensor {
                load_cycles,
                mm_cycles,
                reuse_weights,
                ..
            } => {
                debug_assert!(mm_cycles < REUSE);
                PackedCost(
                    load_cycles,
                    mm_cycles | if reuse_weights { REUSE } else { 0 },
                )
            }
            Cost::Dma {
                work_bytes,
                hbm_bytes,
                ..
            } => PackedCost(work_bytes.to_bits(), hbm_bytes),
        }
    }
}

/// The parts of costs that depend only on the queue.
#[derive(Clone, Copy, Debug, PartialEq)]
struct QueueCosts {
    /// Access latency of the vector, scalar and gpsimd queues (indexed by queue).
    compute_latency_ps: [Picos; FIRST_DMA as usize],
    /// Tensor engine fill and drain.
    tensor_latency_cycles: u64,
    /// DMA fixed latency.
    dma_latency_ps: Picos,
    /// DMA queues per engine (queue `FIRST_DMA + e * per + k` is queue `k` of engine `e`).
    dma_queues_per_engine: u16,
}

impl QueueCosts {
    fn of(hw: &Hardware) -> QueueCosts {
        let lat =
            |cfg: &EngineConfig| cycles_to_ps(cfg.access_latency_cycles as u64, cfg.clock_mhz);
        QueueCosts {
            compute_latency_ps: [0, lat(&hw.vector), lat(&hw.scalar), lat(&hw.gpsimd)],
            tensor_latency_cycles: hw.pe.fill_drain_cycles as u64,
            dma_latency_ps: hw.dma.fixed_latency_ns * 1000,
            dma_queues_per_engine: hw.dma.queues_per_engine as u16,
        }
    }

    /// The cost of an instruction on queue `q`.
    fn unpack(&self, q: u16, p: PackedCost) -> Cost {
        let PackedCost(a, b) = p;
        let qc = self;
        if q == TENSOR {
            Cost::Tensor {
                load_cycles: a,
                mm_cycles: b & !REUSE,
                latency_cycles: qc.tensor_latency_cycles,
                reuse_weights: b & REUSE != 0,
            }
        } else if q < FIRST_DMA {
            Cost::Compute {
                busy_ps: a,
                latency_ps: qc.compute_latency_ps[q as usize],
            }
        } else {
            Cost::Dma {
                engine: (q - FIRST_DMA) / qc.dma_queues_per_engine,
                work_bytes: f64::from_bits(a),
                hbm_bytes: b,
                latency_ps: qc.dma_latency_ps,
            }
        }
    }
}

/// The plan: per instruction its queue, cost and dependencies.
///
/// Entries live in chunks of a power-of-two number of instructions, each a [`Parts`] with its
/// own CSR arrays: a builder on another thread hands each chunk over whole, and the simulator
/// reads it in place (no copy into one array, no second set of fresh pages to fault in).
#[derive(Clone, Debug)]
pub struct Plan {
    /// Queue of each instruction.
    pub queue: Vec<u16>,
    /// The entries, `1 << chunk_shift` instructions per chunk (the last may be shorter).
    chunks: Vec<Parts>,
    chunk_shift: u32,
    queue_costs: QueueCosts,
    /// Number of queues (4 compute + DMA engines x queues).
    pub queues: usize,
    /// Matmul FLOPs of the whole program (summed in program order).
    pub flops: f64,
    /// Time each instruction would take at the preset's peak for its dtype (matmul only).
    pub ideal_compute_ps: f64,
    /// Bytes moved to or from HBM in all.
    pub hbm_bytes: u64,
}

/// Instructions per chunk of a plan built in one go: large enough that the per-chunk work is
/// nothing, small enough that a streamed simulator starts at once.
pub const CHUNK_INSTRS: usize = 4096;

/// Flag: dependency satisfied at the reader's end (write after read).
pub const WAR: u32 = 1 << 31;
/// Flag: dependency that gates a matmul's weight load (a write of its stationary tile).
pub const LOAD: u32 = 1 << 30;
/// Mask of the instruction index.
pub const INDEX: u32 = LOAD - 1;

/// What the plan needs of a buffer, gathered once per build: a [`crate::isa::Buffer`] keeps its
/// shape on the heap, and the plan asks for these for every tile of every instruction.
#[derive(Clone, Copy, Debug)]
struct BufInfo {
    memory: Memory,
    dtype: DType,
    /// Elements per partition (row), at least 1.
    row: u64,
}

impl BufInfo {
    fn table(program: &Program) -> Vec<BufInfo> {
        program
            .buffers
            .iter()
            .map(|b| BufInfo {
                memory: b.memory,
                dtype: b.dtype,
                row: b.row_elems().max(1) as u64,
            })
            .collect()
    }
}

#[derive(Clone, Copy, Debug)]
struct Region {
    p0: u32,
    p1: u32,
    e0: u64,
    e1: u64,
}

impl Region {
    fn of(info: &[BufInfo], t: &Tile) -> Region {
        let b = &info[t.buffer.0 as usize];
        let (p0, np) = (t.partition_start as u64, t.partition_count as u64);
        match b.memory {
            // HBM is viewed as [rows, row_elems] like SBUF, so 2-D tiles of one matrix are told
            // apart; a tile that does not map onto a range of rows gets its bounding box of rows.
            Memory::Hbm => {
                let row = b.row;
                let step = t.partition_step.get().map_or(row, |s| s as u64);
                let (off, end) = (t.ap.offset as u64, t.ap.end() as u64);
                if step == row {
                    // Most tiles start in their first row: skip the division then.
                    let k = if off < row { 0 } else { off / row };
                    if end - k * row <= row {
                        let r0 = p0 + k;
                        return Region {
                            p0: r0 as u32,
                            p1: (r0 + np) as u32,
                            e0: off - k * row,
                            e1: end - k * row,
                        };
                    }
                }
                let lo = p0 * step + off;
                let hi = (p0 + np - 1) * step + end;
                let (r0, r1) = (lo / row, (hi - 1) / row + 1);
                if r1 - r0 == 1 {
                    Region {
                        p0: r0 as u32,
                        p1: r1 as u32,
                        e0: lo - r0 * row,
                        e1: hi - r0 * row,
                    }
                } else {
                    Region {
                        p0: r0 as u32,
                        p1: r1 as u32,
                        e0: 0,
                        e1: row,
                    }
                }
            }
            _ => Region {
                p0: p0 as u32,
                p1: (p0 + np) as u32,
                e0: t.ap.offset as u64,
                e1: t.ap.end() as u64,
            },
        }
    }

    fn overlaps(&self, o: &Region) -> bool {
        self.p0 < o.p1 && o.p0 < self.p1 && self.e0 < o.e1 && o.e0 < self.e1
    }

    fn covers(&self, o: &Region) -> bool {
        self.p0 <= o.p0 && o.p1 <= self.p1 && self.e0 <= o.e0 && o.e1 <= self.e1
    }
}

#[derive(Clone, Copy, Debug)]
struct Access {
    region: Region,
    instr: u32,
    queue: u16,
    write: bool,
}

/// Accesses of one buffer. Few live accesses (the usual double-buffered SBUF tile) are scanned
/// linearly; past [`SMALL`] they move to a vector sorted by (element start, instruction), queried
/// by range using the longest access seen. A write usually replaces the access it covers in
/// place, so the sorted vector rarely moves its tail (a tree allocates and rebalances instead).
#[derive(Default)]
struct BufIndex {
    small: Vec<Access>,
    sorted: Vec<Access>,
    max_len: u64,
}

const SMALL: usize = 32;

/// Order of [`BufIndex::sorted`].
#[inline]
fn key(a: &Access) -> (u64, u32) {
    (a.region.e0, a.instr)
}

impl BufIndex {
    /// Positions in `sorted` of the accesses whose element start is in `lo..hi` (the keys in
    /// `(lo, 0)..(hi, 0)`: comparing the starts alone finds the same positions, cheaper).
    #[inline]
    fn range(&self, lo: u64, hi: u64) -> std::ops::Range<usize> {
        let a = self.sorted.partition_point(|b| b.region.e0 < lo);
        let b = a + self.sorted[a..].partition_point(|b| b.region.e0 < hi);
        a..b
    }

    /// Call `f` on every access overlapping `r` (in insertion order while small, else in
    /// (element start, instruction) order).
    #[inline]
    fn overlapping(&self, r: &Region, mut f: impl FnMut(&Access)) {
        if self.sorted.is_empty() {
            for a in &self.small {
                if a.region.overlaps(r) {
                    f(a);
                }
            }
            return;
        }
        let lo = r.e0.saturating_sub(self.max_len);
        for a in &self.sorted[self.range(lo, r.e1)] {
            if a.region.overlaps(r) {
                f(a);
            }
        }
    }

    /// Drop the accesses that `a` covers (but those `keep` keeps), then add `a` (replacing an
    /// access with the same key, as a map would).
    fn record(&mut self, a: Access, keep: impl Fn(&Access) -> bool) {
        let r = &a.region;
        self.max_len = self.max_len.max(r.e1 - r.e0);
        if self.sorted.is_empty() {
            self.small.retain(|b| !r.covers(&b.region) || keep(b));
            if self.small.len() < SMALL {
                self.small.push(a);
                return;
            }
            let mut all = std::mem::take(&mut self.small);
            all.push(a);
            // Stable, so of equal keys the last recorded wins below (as map inserts would).
            all.sort_by_key(key);
            for b in all {
                insert_sorted(&mut self.sorted, b);
            }
            return;
        }
        // Keep the survivors of the covered range at its front; the doomed gap follows.
        let range = self.range(r.e0, r.e1);
        let mut w = range.start;
        for j in range.clone() {
            let b = &self.sorted[j];
            if !r.covers(&b.region) || keep(b) {
                self.sorted.swap(w, j);
                w += 1;
            }
        }
        if w == 0 && range == (0..self.sorted.len()) {
            // All dropped: back to the small list, as the tree emptied by removals was.
            self.sorted.clear();
            self.small.push(a);
            return;
        }
        let k = key(&a);
        // Every key in the range is at least (e0, 0): `a` goes among the survivors.
        let pos = range.start + self.sorted[range.start..w].partition_point(|b| key(b) < k);
        if pos < w && key(&self.sorted[pos]) == k {
            self.sorted[pos] = a;
            self.sorted.drain(w..range.end);
        } else if w < range.end {
            // Move the first doomed slot to `pos` and fill it.
            self.sorted[pos..=w].rotate_right(1);
            self.sorted[pos] = a;
            self.sorted.drain(w + 1..range.end);
        } else {
            self.sorted.insert(pos, a);
        }
    }
}

/// Insert `a` in `v` by (element start, instruction), replacing an access with the same key.
fn insert_sorted(v: &mut Vec<Access>, a: Access) {
    let k = key(&a);
    match v.binary_search_by(|b| key(b).cmp(&k)) {
        Ok(pos) => v[pos] = a,
        Err(pos) => v.insert(pos, a),
    }
}

/// Add dependency `d` to the list `deps[first..]` of one instruction: one entry per producer,
/// the strictest kind winning (visible over end; load gating kept). Lists are a handful long: a
/// linear merge beats sorting.
#[inline]
fn add_dep(deps: &mut Vec<u32>, first: usize, d: u32) {
    match deps[first..].iter_mut().find(|p| **p & INDEX == d & INDEX) {
        Some(prev) => *prev = (*prev & !WAR & !LOAD) | (*prev & d & WAR) | ((*prev | d) & LOAD),
        None => deps.push(d),
    }
}

/// Build the plan. The program must have passed [`super::check::check`], which measured `live`.
///
/// One pass over the instructions; each tile's region is computed once and serves both the
/// dependency queries and the recording.
pub fn build(program: &Program, hw: &Hardware, live: &Liveness) -> Plan {
    build_on(program, hw, live, queues(program, hw))
}

/// [`build`] with the instructions' queues already worked out ([`queues`], or
/// [`super::check::check_split`], which finds them as it checks).
pub fn build_on(program: &Program, hw: &Hardware, live: &Liveness, queue: Vec<u16>) -> Plan {
    debug_assert_eq!(queue.len(), program.instrs.len());
    let mut b = Builder::new(program, hw, live);
    let shift = CHUNK_INSTRS.trailing_zeros();
    let chunks = queue
        .chunks(CHUNK_INSTRS)
        .enumerate()
        .map(|(c, qs)| b.part(c << shift, qs.len(), Some(qs)))
        .collect();
    b.totals().into_plan(queue, chunks, shift, hw)
}

/// Build the plan in chunks of `chunk` instructions (rounded up to a power of two) sent to `tx`
/// (the simulator, running meanwhile on another thread, reads them in place: see
/// [`super::sim::simulate_streamed`]). Returns the totals.
pub fn build_streamed(
    program: &Program,
    hw: &Hardware,
    live: &Liveness,
    chunk: usize,
    tx: std::sync::mpsc::Sender<Parts>,
) -> Totals {
    let chunk = chunk.max(1).next_power_of_two();
    let mut b = Builder::new(program, hw, live);
    let n = program.instrs.len();
    for first in (0..n).step_by(chunk) {
        let part = b.part(first, chunk.min(n - first), None);
        if tx.send(part).is_err() {
            // The simulator stopped early (it only does on a panic, which the scope reports).
            break;
        }
    }
    b.totals()
}

/// A run of consecutive instructions' plan entries: their packed costs and dependency lists
/// (`dep_start` relative to this part's `deps`, closing entry included).
#[derive(Clone, Debug, Default)]
pub struct Parts {
    costs: Vec<PackedCost>,
    deps: Vec<u32>,
    dep_start: Vec<u32>,
}

impl Parts {
    /// Dependencies of the part's `l`-th instruction.
    #[inline]
    fn deps_of(&self, l: usize) -> &[u32] {
        &self.deps[self.dep_start[l] as usize..self.dep_start[l + 1] as usize]
    }
}

/// The whole-program sums of a plan.
#[derive(Clone, Copy, Debug)]
pub struct Totals {
    flops: f64,
    ideal_compute_ps: f64,
    hbm_bytes: u64,
    queues: usize,
}

impl Totals {
    fn into_plan(
        self,
        queue: Vec<u16>,
        chunks: Vec<Parts>,
        chunk_shift: u32,
        hw: &Hardware,
    ) -> Plan {
        Plan {
            queue,
            chunks,
            chunk_shift,
            queue_costs: QueueCosts::of(hw),
            queues: self.queues,
            flops: self.flops,
            ideal_compute_ps: self.ideal_compute_ps,
            hbm_bytes: self.hbm_bytes,
        }
    }
}

/// The per-build state: interval indexes, running sums, the weights in the PE array.
struct Builder<'a> {
    program: &'a Program,
    hw: &'a Hardware,
    live: &'a Liveness,
    info: Vec<BufInfo>,
    index: Vec<BufIndex>,
    queue_costs: QueueCosts,
    consts: Consts<'a>,
    /// `hw.peak_flops` of the last matmul's dtype (programs use one or two).
    peak: Option<(DType, f64)>,
    flops: f64,
    ideal_compute_ps: f64,
    hbm_bytes: u64,
    last_on_queue: Vec<Option<u32>>,
    /// Weights currently in the PE array: (stationary tile, newest writer of its region).
    loaded: Option<(Tile, Option<u32>)>,
}

impl<'a> Builder<'a> {
    fn new(program: &'a Program, hw: &'a Hardware, live: &'a Liveness) -> Builder<'a> {
        let info = BufInfo::table(program);
        Builder {
            program,
            hw,
            live,
            index: (0..info.len()).map(|_| BufIndex::default()).collect(),
            info,
            queue_costs: QueueCosts::of(hw),
            consts: Consts::of(hw),
            peak: None,
            // Summed as the per-instruction list it replaces was (from -0.0, zeros included), so
            // the total is the same bit for bit.
            flops: -0.0,
            ideal_compute_ps: 0.0,
            hbm_bytes: 0,
            last_on_queue: vec![None; super::queue::count(hw)],
            loaded: None,
        }
    }

    fn totals(&self) -> Totals {
        Totals {
            flops: self.flops,
            ideal_compute_ps: self.ideal_compute_ps,
            hbm_bytes: self.hbm_bytes,
            queues: self.last_on_queue.len(),
        }
    }

    /// The entries of instructions `first..first + len`, on `queues` (or each on
    /// [`queue_of`]): the one loop both builds share, so the per-instruction work inlines into
    /// a single copy.
    #[inline(never)]
    fn part(&mut self, first: usize, len: usize, queues: Option<&[u16]>) -> Parts {
        let mut out = Parts {
            costs: Vec::with_capacity(len),
            deps: Vec::with_capacity(len * 3),
            dep_start: Vec::with_capacity(len + 1),
        };
        let program = self.program;
        for (k, ins) in program.instrs[first..first + len].iter().enumerate() {
            let q = match queues {
                Some(qs) => qs[k],
                None => queue_of(&ins.op, self.hw),
            };
            self.step(first + k, &ins.op, q, &mut out);
        }
        out.dep_start.push(out.deps.len() as u32);
        out
    }

    /// Plan instruction `i` (on queue `q`), appending its entries to `out`.
    #[inline(always)]
    fn step(&mut self, i: usize, op: &Op, q: u16, out: &mut Parts) {
        let first = out.deps.len();
        out.dep_start.push(first as u32);
        let reads = op.reads();
        let writes = op.writes();
        // A matmul's stationary tile is its first read; writers of it gate the weight load.
        let matmul = matches!(op, Op::Matmul { .. });
        let mut stationary_writer: Option<u32> = None;
        let mut read_regions = ArrayVec::<Region, 4>::new();
        for (k, t) in reads.iter().enumerate() {
            let r = Region::of(&self.info, t);
            read_regions.push(r);
            let gate = matmul && k == 0;
            self.index[t.buffer.0 as usize].overlapping(&r, |a| {
                if a.write {
                    if gate {
                        stationary_writer =
                            Some(stationary_writer.map_or(a.instr, |w| w.max(a.instr)));
                    }
                    add_dep(&mut out.deps, first, a.instr | if gate { LOAD } else { 0 });
                }
            });
        }
        let mut write_regions = ArrayVec::<Region, 4>::new();
        for t in &writes {
            let r = Region::of(&self.info, t);
            write_regions.push(r);
            self.index[t.buffer.0 as usize].overlapping(&r, |a| {
                add_dep(
                    &mut out.deps,
                    first,
                    a.instr | if a.write { 0 } else { WAR },
                );
            });
        }
        // Record this instruction's accesses where something later could conflict with them.
        for (t, r) in reads.iter().zip(&read_regions) {
            let b = t.buffer.0 as usize;
            if self.live.last_write[b].is_some_and(|w| i < w) {
                let a = Access {
                    region: *r,
                    instr: i as u32,
                    queue: q,
                    write: false,
                };
                self.index[b].record(a, |a| a.write || a.queue != q);
            }
        }
        for (t, r) in writes.iter().zip(&write_regions) {
            let b = t.buffer.0 as usize;
            if i < self.live.last[b] {
                let a = Access {
                    region: *r,
                    instr: i as u32,
                    queue: q,
                    write: true,
                };
                self.index[b].record(a, |_| false);
            }
        }
        let prev_dep = self.last_on_queue[q as usize].is_some_and(|p| {
            out.deps[first..]
                .iter()
                .any(|&d| d & INDEX == p && d & WAR == 0)
        });
        let c = instr_cost(
            &self.info,
            &self.consts,
            op,
            (&reads, &writes),
            prev_dep,
            &mut self.loaded,
            stationary_writer,
        );
        let mut f = 0.0;
        if let Op::Matmul {
            stationary,
            moving,
            dst,
            ..
        } = op
        {
            let rows = super::check::double_rows(self.program, self.hw, stationary, moving, dst);
            let (k, m, nn) = (
                (stationary.np() * rows) as f64,
                dst.partition_count as f64,
                dst.free_size() as f64,
            );
            f = 2.0 * k * m * nn;
            let dt = self.info[moving.buffer.0 as usize].dtype;
            let flops_per_s = match self.peak {
                Some((d, v)) if d == dt => v,
                _ => {
                    let v = self.hw.peak_flops(dt);
                    self.peak = Some((dt, v));
                    v
                }
            };
            self.ideal_compute_ps += f / flops_per_s * 1e12;
        }
        self.flops += f;
        if let Cost::Dma { hbm_bytes: h, .. } = c {
            self.hbm_bytes += h;
        }
        let packed = PackedCost::of(&c);
        debug_assert_eq!(self.queue_costs.unpack(q, packed), c);
        out.costs.push(packed);
        self.last_on_queue[q as usize] = Some(i as u32);
    }
}

impl Plan {
    /// An empty plan for `queue` (one entry per instruction) whose chunks of `chunk`
    /// instructions (rounded up to a power of two, as [`build_streamed`] sends them) are added
    /// by [`Plan::push_part`]; then [`Plan::set_totals`].
    pub fn streamed(queue: Vec<u16>, chunk: usize, hw: &Hardware) -> Plan {
        let chunk = chunk.max(1).next_power_of_two();
        Plan {
            chunks: Vec::with_capacity(queue.len().div_ceil(chunk)),
            queue,
            chunk_shift: chunk.trailing_zeros(),
            queue_costs: QueueCosts::of(hw),
            queues: super::queue::count(hw),
            flops: 0.0,
            ideal_compute_ps: 0.0,
            hbm_bytes: 0,
        }
    }

    /// Instructions whose entries are in (all of them once built).
    #[inline]
    pub fn planned(&self) -> usize {
        (self.chunks.len() << self.chunk_shift).min(self.queue.len())
    }

    /// Add the next chunk.
    pub fn push_part(&mut self, part: Parts) {
        self.chunks.push(part);
    }

    /// Set the whole-program sums once the build is done.
    pub fn set_totals(&mut self, t: Totals) {
        debug_assert_eq!(self.queues, t.queues);
        self.flops = t.flops;
        self.ideal_compute_ps = t.ideal_compute_ps;
        self.hbm_bytes = t.hbm_bytes;
    }

    /// The chunk of instruction `i`, and `i`'s position in it.
    #[inline]
    fn at(&self, i: usize) -> (&Parts, usize) {
        (
            &self.chunks[i >> self.chunk_shift],
            i & ((1 << self.chunk_shift) - 1),
        )
    }

    /// The instructions `i` waits for: the high bit ([`WAR`]) marks a write-after-read
    /// dependency, satisfied when the reader ends (others: when the result is visible); [`LOAD`]
    /// marks one that gates a matmul's weight load; [`INDEX`] masks the instruction.
    #[inline]
    pub fn deps_of(&self, i: usize) -> &[u32] {
        let (c, l) = self.at(i);
        c.deps_of(l)
    }

    /// Number of dependencies in all.
    pub fn dep_count(&self) -> usize {
        self.chunks.iter().map(|c| c.deps.len()).sum()
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether the program has no instruction.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// What instruction `i` costs on its queue.
    pub fn cost(&self, i: usize) -> Cost {
        let (c, l) = self.at(i);
        self.queue_costs.unpack(self.queue[i], c.costs[l])
    }

    /// Reverse edges, computed on demand (the simulator needs none): `(dependents,
    /// dependent_start)` where `dependents[dependent_start[j]..dependent_start[j+1]]` are the
    /// instructions that wait for `j`, in program order.
    pub fn dependents(&self) -> (Vec<u32>, Vec<u32>) {
        let n = self.queue.len();
        let mut count = vec![0u32; n + 1];
        for i in 0..n {
            for &d in self.deps_of(i) {
                count[(d & INDEX) as usize + 1] += 1;
            }
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let mut fill = count.clone();
        let mut out = vec![0u32; self.dep_count()];
        for i in 0..n {
            for &d in self.deps_of(i) {
                let p = (d & INDEX) as usize;
                out[fill[p] as usize] = i as u32;
                fill[p] += 1;
            }
        }
        (out, count)
    }

    /// The dependency lists as one CSR pair `(deps, dep_start)`, `deps[dep_start[i] ..
    /// dep_start[i + 1]]` being [`Plan::deps_of`]`(i)` (for tools and tests; the simulator reads
    /// the chunks in place).
    pub fn csr(&self) -> (Vec<u32>, Vec<u32>) {
        let mut deps = Vec::with_capacity(self.dep_count());
        let mut start = Vec::with_capacity(self.len() + 1);
        for i in 0..self.len() {
            start.push(deps.len() as u32);
            deps.extend_from_slice(self.deps_of(i));
        }
        start.push(deps.len() as u32);
        (deps, start)
    }
}

/// Plans are equal when their entries are, however they are chunked.
impl PartialEq for Plan {
    fn eq(&self, o: &Plan) -> bool {
        self.queue == o.queue
            && self.queue_costs == o.queue_costs
            && self.queues == o.queues
            && self.flops.to_bits() == o.flops.to_bits()
            && self.ideal_compute_ps.to_bits() == o.ideal_compute_ps.to_bits()
            && self.hbm_bytes == o.hbm_bytes
            && self.planned() == o.planned()
            && (0..self.planned()).all(|i| {
                let ((a, k), (b, l)) = (self.at(i), o.at(i));
                a.costs[k] == b.costs[l] && a.deps_of(k) == b.deps_of(l)
            })
    }
}

/// Lanes of `e` for operands whose widest dtype is `widest`.
fn lanes(e: &EngineConfig, widest: usize) -> u32 {
    match widest {
        1 => e.lanes_8bit,
        2 => e.lanes_16bit,
        _ => e.lanes_other,
    }
}

/// `rw` is the instruction's (reads, writes).
fn instr_cost(
    info: &[BufInfo],
    k: &Consts,
    op: &Op,
    rw: (&TileList, &TileList),
    prev_dep: bool,
    loaded: &mut Option<(Tile, Option<u32>)>,
    stationary_writer: Option<u32>,
) -> Cost {
    let dtype = |t: &Tile| info[t.buffer.0 as usize].dtype;
    let mem = |t: &Tile| info[t.buffer.0 as usize].memory;
    let (reads, writes) = rw;
    let hw = k.hw;
    let pe = &hw.pe;
    match op {
        Op::Matmul {
            stationary, dst, ..
        } => {
            let fp32 = dtype(stationary) == DType::Float32;
            let factor = if fp32 { pe.fp32_cost_factor as u64 } else { 1 };
            // [M, N] is the destination's shape; in fp8 double-row mode two K-rows stream per
            // cycle, so the issue interval is that of one row.
            let m = dst.partition_count as u64;
            let n = dst.free_size() as u64;
            let mm = (m.min(pe.min_issue_cycles as u64)).max(n) * factor;
            let key = (stationary.clone(), stationary_writer);
            let reuse = loaded.as_ref() == Some(&key);
            *loaded = Some(key);
            let load = if reuse {
                0
            } else {
                (m * factor)
                    .div_ceil(pe.load_stationary_divisor as u64)
                    .max(1)
            };
            Cost::Tensor {
                load_cycles: load,
                mm_cycles: mm,
                latency_cycles: pe.fill_drain_cycles as u64,
                reuse_weights: reuse,
            }
        }
        Op::Transpose { src, .. } => {
            *loaded = None;
            let (p, f) = (src.np() as u64, src.free_size() as u64);
            let c = p.max(f.min(pe.transpose_min_cycles as u64));
            Cost::Tensor {
                load_cycles: 0,
                mm_cycles: c,
                latency_cycles: pe.fill_drain_cycles as u64,
                reuse_weights: false,
            }
        }
        Op::DmaCopy { dst, src, queue } => dma_cost(info, k, dst, src, queue.engine),
        _ => {
            let (cfg, latency_ps) = match op.engine() {
                Engine::Vector => (&hw.vector, k.access_latency_ps[0]),
                Engine::Scalar => (&hw.scalar, k.access_latency_ps[1]),
                _ => (&hw.gpsimd, k.access_latency_ps[2]),
            };
            let tiles: TileList = reads.iter().chain(writes).copied().take(4).collect();
            let widest = tiles
                .iter()
                .map(|t| dtype(t).size_bytes())
                .max()
                .unwrap_or(4);
            let per_cycle = (lanes(cfg, widest) as f64 / hw.sbuf.partitions as f64).max(1e-9);
            let c = &hw.costs;
            let main = reads.first().copied().unwrap_or_else(|| writes[0]);
            let n = main.free_size() as f64 / per_cycle;
            let min = cfg.min_cycles as f64;
            let all_bf16_sbuf = tiles.iter().all(|t| {
                dtype(t) == DType::BFloat16 && mem(t) == Memory::Sbuf && t.ap.is_contiguous()
            });
            let mut cycles = match op {
                Op::Activation(a) => {
                    n.max(min)
                        + if a.reduce.is_some() {
                            c.activation_reduce_cycles as f64
                        } else {
                            0.0
                        }
                }
                Op::TensorScalar(ts) => {
                    let div = ts.op0.0 == AluOp::Div
                        || ts.op1.as_ref().is_some_and(|o| o.0 == AluOp::Div);
                    if div {
                        (n * c.reciprocal_cycles_per_elem as f64).max(min)
                    } else {
                        n.max(min)
                    }
                }
                Op::TensorCopy { .. } | Op::BnStats { .. } => n.max(min),
                Op::TensorTensor { op: alu, a, b, .. } => {
                    let fast = mem(a) == Memory::Psum
                        || mem(b) == Memory::Psum
                        || (all_bf16_sbuf && matches!(alu, AluOp::Add | AluOp::Sub | AluOp::Mul));
                    let per = if *alu == AluOp::Div {
                        c.reciprocal_cycles_per_elem
                    } else if fast {
                        c.tensor_tensor_fast_cycles_per_elem
                    } else {
                        c.tensor_tensor_cycles_per_elem
                    };
                    (n * per as f64).max(min)
                }
                Op::TensorReduce { op: r, src, .. } => {
                    let fast =
                        dtype(src) == DType::BFloat16 && matches!(r, ReduceOp::Sum | ReduceOp::Max);
                    (if fast {
                        n / c.reduce_fast_divisor as f64
                    } else {
                        n
                    })
                    .max(min)
                }
                Op::BnAggr { .. } => {
                    (n * c.bn_aggr_numerator as f64 / c.bn_aggr_denominator as f64).max(min)
                }
                Op::Memset { value, dst, .. } => {
                    let fast = *value == 0.0 && dtype(dst).size_bytes() == 2;
                    (if fast {
                        n / c.memset_fast_divisor as f64
                    } else {
                        n
                    })
                    .max(min)
                }
                Op::Iota { .. } | Op::AffineSelect { .. } => c.gpsimd_fixed_cycles as f64 + n,
                _ => n.max(min),
            };
            // Bandwidth halves when the innermost stride is over the threshold [ARCH-V2].
            if tiles.iter().any(|t| {
                (t.ap.inner_stride() * dtype(t).size_bytes()) as u32 > c.strided_threshold_bytes
            }) {
                cycles *= c.strided_bandwidth_divisor as f64;
            }
            if prev_dep {
                cycles += cfg.dependent_overhead_cycles as f64;
            }
            Cost::Compute {
                busy_ps: cycles_to_ps(cycles.ceil() as u64, cfg.clock_mhz),
                latency_ps,
            }
        }
    }
}

/// Elements in the longest runs that are contiguous in memory, innermost first.
fn run_elems(t: &Tile) -> usize {
    let mut run = 1usize;
    for &(s, n) in t.ap.dims.iter().rev() {
        if n == 1 {
            continue;
        }
        if s as usize == run {
            run *= n as usize;
        } else {
            break;
        }
    }
    run
}

/// Per-build constants of the cost model: preset values that take divisions to compute and
/// would otherwise be recomputed for every instruction.
#[derive(Clone, Copy, Debug)]
struct Consts<'a> {
    /// The preset.
    hw: &'a Hardware,
    /// `hw.dma.descriptor_overhead_ns()`.
    descriptor_overhead_ns: f64,
    /// Access latency of each compute engine config in picoseconds: vector, scalar, gpsimd.
    access_latency_ps: [Picos; 3],
}

impl Consts<'_> {
    fn of(hw: &Hardware) -> Consts<'_> {
        let lat =
            |cfg: &EngineConfig| cycles_to_ps(cfg.access_latency_cycles as u64, cfg.clock_mhz);
        Consts {
            hw,
            descriptor_overhead_ns: hw.dma.descriptor_overhead_ns(),
            access_latency_ps: [lat(&hw.vector), lat(&hw.scalar), lat(&hw.gpsimd)],
        }
    }
}

fn dma_cost(info: &[BufInfo], k: &Consts, dst: &Tile, src: &Tile, engine: u16) -> Cost {
    let hw = k.hw;
    let bd = &info[dst.buffer.0 as usize];
    let bs = &info[src.buffer.0 as usize];
    let elems = src.elems() as u64;
    let bytes = elems * bs.dtype.size_bytes().max(bd.dtype.size_bytes()) as u64;
    // A descriptor is contiguous on both sides and within one partition.
    let run = run_elems(src).min(run_elems(dst)).max(1) as u64;
    let run_bytes = run * bs.dtype.size_bytes().max(bd.dtype.size_bytes()) as u64;
    // The common cases (one run; runs within one descriptor) without a 64-bit division.
    let runs = if run == elems { 1 } else { elems.div_ceil(run) };
    let per_run = if run_bytes <= hw.dma.descriptor_bytes_max {
        1
    } else {
        run_bytes.div_ceil(hw.dma.descriptor_bytes_max)
    };
    let descs = runs * per_run;
    // A tile that walks the partition dimension contiguously (an HBM tile with partition step 1
    // whose free dimension strides) is a transpose: the DMA engine's transpose mode moves it at a
    // fixed fraction of peak instead of in element-sized descriptors.
    let transposing = |t: &Tile, b: &BufInfo| {
        b.memory == Memory::Hbm && t.partition_step.get() == Some(1) && t.ap.inner_stride() != 1
    };
    let work = if transposing(src, bs) || transposing(dst, bd) {
        let eff = if bs.memory == Memory::Hbm || bd.memory == Memory::Hbm {
            hw.dma.transpose_efficiency_hbm
        } else {
            hw.dma.transpose_efficiency_sbuf
        };
        bytes as f64 / eff
    } else {
        bytes as f64 + descs as f64 * k.descriptor_overhead_ns * hw.dma.peak_bytes_per_ns
    };
    let mut hbm = 0;
    if bs.memory == Memory::Hbm {
        hbm += elems * bs.dtype.size_bytes() as u64;
    }
    if bd.memory == Memory::Hbm {
        hbm += elems * bd.dtype.size_bytes() as u64;
    }
    Cost::Dma {
        engine,
        work_bytes: work,
        hbm_bytes: hbm,
        latency_ps: hw.dma.fixed_latency_ns * 1000,
    }
}
