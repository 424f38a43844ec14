//! The immutable timing plan of a program on a preset: which queue runs each instruction, what it
//! costs, and what it must wait for.
//!
//! Second stage of a run: built after the checks (which measured each buffer's liveness and
//! found each instruction's queue), in chunks of instructions that the simulator reads in place,
//! on the same thread or as they arrive from a second one. Costs are `cost`'s; the regions
//! each instruction touches go through the interval index of `index`.
//!
//! Dependencies (RAW, WAR, WAW) are derived from the regions instructions read and write, the way
//! the Neuron compiler inserts semaphores, so a trace needs only program order. Regions are
//! intervals (partition range x element range), kept per buffer in an interval index; accesses that
//! a later write covers are dropped (the write already orders everything after it), and accesses
//! that nothing later can conflict with are never recorded.

mod cost;
mod index;

use arrayvec::ArrayVec;

use super::check::Liveness;
pub(crate) use super::queue::{core_of, queue_on, queues};
use crate::arch::Hardware;
use crate::isa::{Memory, Op, Program, Tile};
use crate::numerics::DType;
use cost::{Consts, PackedCost, QueueCosts, instr_cost};
pub use cost::{Cost, PeCells};
pub(crate) use cost::{PeOccupancy, Picos, cycles_to_ps};
use index::{Access, BufIndex, Region};

/// The plan: per instruction its queue, cost and dependencies.
///
/// Entries live in chunks of a power-of-two number of instructions, each a `Parts` with its
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
pub(crate) const CHUNK_INSTRS: usize = 4096;

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
pub(crate) fn build_on(program: &Program, hw: &Hardware, live: &Liveness, queue: Vec<u16>) -> Plan {
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
/// `sim::simulate_streamed`). Returns the totals.
pub(crate) fn build_streamed(
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
pub(crate) struct Parts {
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
pub(crate) struct Totals {
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
                None => queue_on(&ins.op, self.hw, core_of(program, &ins.op)),
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
        let matmul = op.matmul_operands().is_some();
        let mut stationary_writer: Option<u32> = None;
        let mut read_regions = ArrayVec::<Region, 5>::new();
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
        let f = self.matmul_flops(op);
        self.flops += f;
        if let Cost::Dma { hbm_bytes: h, .. } = c {
            self.hbm_bytes += h;
        }
        let packed = PackedCost::of(&c);
        debug_assert_eq!(self.queue_costs.unpack(q, packed), c);
        out.costs.push(packed);
        self.last_on_queue[q as usize] = Some(i as u32);
    }

    /// A matmul's FLOPs (0 for other instructions), adding its time at the preset's peak for its
    /// dtype to the ideal compute time.
    #[inline(always)]
    fn matmul_flops(&mut self, op: &Op) -> f64 {
        let mut f = 0.0;
        // MX: K = 4P at 4x the bf16 peak when the PE array has MX matmul [ARCH-V4].
        if let Op::MatmulMx(t) = op {
            let k = (t.stationary.np() * crate::numerics::mx::MX_PACK) as f64;
            f = 2.0 * k * t.dst.partition_count as f64 * t.dst.free_size() as f64;
            let peak = self.hw.peak_flops(crate::numerics::DType::BFloat16) * 4.0;
            self.ideal_compute_ps += f / peak * 1e12;
            return f;
        }
        if let Some((dst, stationary, moving)) = op.matmul_operands() {
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
        f
    }
}

impl Plan {
    /// An empty plan for `queue` (one entry per instruction) whose chunks of `chunk`
    /// instructions (rounded up to a power of two, as [`build_streamed`] sends them) are added
    /// by [`Plan::push_part`]; then [`Plan::set_totals`].
    pub(crate) fn streamed(queue: Vec<u16>, chunk: usize, hw: &Hardware) -> Plan {
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
    pub(crate) fn planned(&self) -> usize {
        (self.chunks.len() << self.chunk_shift).min(self.queue.len())
    }

    /// Add the next chunk.
    pub(crate) fn push_part(&mut self, part: Parts) {
        self.chunks.push(part);
    }

    /// Set the whole-program sums once the build is done.
    pub(crate) fn set_totals(&mut self, t: Totals) {
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
    pub(crate) fn dep_count(&self) -> usize {
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
