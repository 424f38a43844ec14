//! Costs: what each instruction costs on its queue, from the preset's engine figures.
//!
//! The plan builder asks [`instr_cost`] once per instruction, in program order (a matmul's cost
//! depends on whether the previous one left its weights in the PE array); the plan keeps the
//! variable half of each cost packed ([`PackedCost`]) and [`QueueCosts`] restores the rest when the
//! simulator asks.

use crate::arch::{CostConfig, EngineConfig, Hardware, PeConfig};
use crate::isa::{AluOp, Engine, Memory, Op, PeTile, ReduceOp, Tile, TileList};
use crate::numerics::DType;

use super::BufInfo;
use crate::chip::queue::{FIRST_DMA, TENSOR};

/// Integer picoseconds, the simulator's unit of time.
pub(crate) type Picos = u64;

/// Convert engine cycles at `mhz` to picoseconds, rounding up.
pub(crate) fn cycles_to_ps(cycles: u64, mhz: u32) -> Picos {
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
        /// The parts of the PE array it occupies ([`PeCells`]).
        cells: PeCells,
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
pub(super) struct PackedCost(u64, u64);

/// Bit of a tensor cost's second word: the matmul reuses the loaded weights.
const REUSE: u64 = 1 << 63;
/// Where a tensor cost's second word keeps its [`PeCells`] (bits 40..57; the cycles below).
const CELLS_SHIFT: u32 = 40;

/// The parts of the PE array a tensor-engine instruction occupies while it multiplies: bit
/// `4 r + c` is the block of rows `r` and columns `c` in a 4 x 4 grid of quarter-array blocks
/// (32 x 32 PEs on a 128 x 128 array), and bit 16 the background transpose path. A matmul on a
/// tile occupies its tile's blocks, so matmuls on disjoint tiles overlap in time [NKI
/// `nc_matmul` tiling: "run in parallel"]; a background transpose occupies only its path, so it
/// overlaps the matmuls [ARCH-V4].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeCells(pub u32);

impl PeCells {
    /// The whole array: untiled matmuls and transposes.
    pub const ALL: PeCells = PeCells(0xffff);
    /// The background transpose path.
    pub const BACKGROUND: PeCells = PeCells(1 << 16);

    /// The blocks of tile `t` of an array of `rows` x `cols` PEs.
    pub(crate) fn of_tile(t: &PeTile, rows: u32, cols: u32) -> PeCells {
        let blocks = |pos: u16, size: u16, total: u32| {
            let q = (total / 4).max(1);
            let (a, b) = (
                pos as u32 / q,
                (pos as u32 + size as u32).div_ceil(q).min(4),
            );
            (a.min(4), b)
        };
        let (r0, r1) = blocks(t.row, t.rows, rows);
        let (c0, c1) = blocks(t.col, t.cols, cols);
        let mut m = 0;
        for r in r0..r1 {
            for c in c0..c1 {
                m |= 1 << (4 * r + c);
            }
        }
        PeCells(m)
    }
}

/// When each part of the PE array is next free ([`PeCells`]): an instruction starts once every
/// part it occupies is free.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PeOccupancy {
    free_ps: [Picos; 17],
}

impl PeOccupancy {
    /// The earliest time every part of `cells` is free.
    pub(crate) fn free_at(&self, cells: PeCells) -> Picos {
        (0..17)
            .filter(|b| cells.0 & (1 << b) != 0)
            .map(|b| self.free_ps[b])
            .max()
            .unwrap_or(0)
    }

    /// `cells` are busy until `end`.
    pub(crate) fn occupy(&mut self, cells: PeCells, end: Picos) {
        for b in 0..17 {
            if cells.0 & (1 << b) != 0 {
                self.free_ps[b] = end;
            }
        }
    }
}

impl PackedCost {
    pub(super) fn of(c: &Cost) -> PackedCost {
        match *c {
            Cost::Compute { busy_ps, .. } => PackedCost(busy_ps, 0),
            Cost::Tensor {
                load_cycles,
                mm_cycles,
                reuse_weights,
                cells,
                ..
            } => {
                debug_assert!(mm_cycles < 1 << CELLS_SHIFT);
                PackedCost(
                    load_cycles,
                    mm_cycles
                        | (cells.0 as u64) << CELLS_SHIFT
                        | if reuse_weights { REUSE } else { 0 },
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
pub(super) struct QueueCosts {
    /// Access latency of the vector, scalar and gpsimd queues (indexed by queue).
    compute_latency_ps: [Picos; FIRST_DMA as usize],
    /// Tensor engine fill and drain.
    tensor_latency_cycles: u64,
    /// DMA fixed latency.
    dma_latency_ps: Picos,
    /// DMA queues per engine (queue `FIRST_DMA + e * per + k` is queue `k` of engine `e`).
    dma_queues_per_engine: u16,
    /// Queues of one physical core, and its DMA engines (core `c`'s queues and engines follow
    /// core `c - 1`'s).
    per_core: u16,
    dma_engines: u16,
}

impl QueueCosts {
    pub(super) fn of(hw: &Hardware) -> QueueCosts {
        let lat =
            |cfg: &EngineConfig| cycles_to_ps(cfg.access_latency_cycles as u64, cfg.clock_mhz);
        QueueCosts {
            compute_latency_ps: [0, lat(&hw.vector), lat(&hw.scalar), lat(&hw.gpsimd)],
            tensor_latency_cycles: hw.pe.fill_drain_cycles as u64,
            dma_latency_ps: hw.dma.fixed_latency_ns * 1000,
            dma_queues_per_engine: hw.dma.queues_per_engine as u16,
            per_core: crate::chip::queue::per_core(hw) as u16,
            dma_engines: hw.dma.engines as u16,
        }
    }

    /// The cost of an instruction on queue `q`.
    pub(super) fn unpack(&self, q: u16, p: PackedCost) -> Cost {
        let PackedCost(a, b) = p;
        let qc = self;
        let (core, q) = (q / qc.per_core, q % qc.per_core);
        if q == TENSOR {
            Cost::Tensor {
                load_cycles: a,
                mm_cycles: b & ((1 << CELLS_SHIFT) - 1),
                latency_cycles: qc.tensor_latency_cycles,
                reuse_weights: b & REUSE != 0,
                cells: PeCells(((b & !REUSE) >> CELLS_SHIFT) as u32),
            }
        } else if q < FIRST_DMA {
            Cost::Compute {
                busy_ps: a,
                latency_ps: qc.compute_latency_ps[q as usize],
            }
        } else {
            Cost::Dma {
                engine: core * qc.dma_engines + (q - FIRST_DMA) / qc.dma_queues_per_engine,
                work_bytes: f64::from_bits(a),
                hbm_bytes: b,
                latency_ps: qc.dma_latency_ps,
            }
        }
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

/// What `op` costs on its queue. `rw` is its (reads, writes); `prev_dep` whether it waits for
/// the previous instruction of its queue; `loaded` the weights in the PE array (a matmul loads
/// them, a transpose clears them); `stationary_writer` the newest writer of a matmul's
/// stationary tile.
pub(super) fn instr_cost(
    info: &[BufInfo],
    k: &Consts,
    op: &Op,
    rw: (&TileList, &TileList),
    prev_dep: bool,
    loaded: &mut Option<(Tile, Option<u32>)>,
    stationary_writer: Option<u32>,
) -> Cost {
    match op {
        Op::Matmul {
            stationary, dst, ..
        } => matmul_cost(info, &k.hw.pe, stationary, dst, loaded, stationary_writer),
        // On a tile: the same issue interval and weight load as on the whole array (the
        // formulas depend on M and N, which fit the tile), occupying only the tile.
        Op::MatmulTile(t) => {
            let pe = &k.hw.pe;
            let mut c = matmul_cost(info, pe, &t.stationary, &t.dst, loaded, stationary_writer);
            if let Cost::Tensor { cells, .. } = &mut c {
                *cells = PeCells::of_tile(&t.tile, pe.rows, pe.cols);
            }
            c
        }
        // MX: K = 4P values stream through P rows in the issue interval and weight load of a
        // bf16 matmul of the same [P, M] x [P, N] shape: 4x the bf16 K-throughput [ARCH-V4: "K =
        // 512 per instruction", "4x"]. assumption: its weights (with their scales) are always
        // loaded, never reused from the previous matmul, and a later plain matmul reloads.
        Op::MatmulMx(t) => {
            *loaded = None;
            let c = matmul_cost(
                info,
                &k.hw.pe,
                &t.stationary,
                &t.dst,
                loaded,
                stationary_writer,
            );
            *loaded = None;
            c
        }
        Op::Transpose {
            engine: Engine::Tensor,
            src,
            ..
        } => pe_transpose_cost(&k.hw.pe, src, loaded, PeCells::ALL),
        // In the background: the transpose formula [COST], on the background path [ARCH-V4].
        Op::TransposeBg { src, .. } => {
            pe_transpose_cost(&k.hw.pe, src, loaded, PeCells::BACKGROUND)
        }
        Op::DmaCopy { dst, src, queue } => dma_cost(info, k, dst, src, queue.engine),
        Op::Transpose { .. }
        | Op::Reciprocal { .. }
        | Op::TensorTensorScan(_)
        | Op::Exponential(_)
        | Op::Activation(_)
        | Op::TensorTensor { .. }
        | Op::TensorScalar(_)
        | Op::TensorReduce { .. }
        | Op::TensorCopy { .. }
        | Op::Memset { .. }
        | Op::Iota { .. }
        | Op::AffineSelect { .. }
        | Op::BnStats { .. }
        | Op::BnAggr { .. }
        | Op::CoreBarrier { .. } => compute_cost(info, k, op, rw, prev_dep),
    }
}

/// A PE transpose of `src`: `max(P, min(transpose_min_cycles, F))` [COST], occupying `cells`.
/// It replaces the weights in the array (a background one too: assumption, the conservative
/// choice; no source says whether the background path keeps them).
fn pe_transpose_cost(
    pe: &PeConfig,
    src: &Tile,
    loaded: &mut Option<(Tile, Option<u32>)>,
    cells: PeCells,
) -> Cost {
    *loaded = None;
    let (p, f) = (src.np() as u64, src.free_size() as u64);
    Cost::Tensor {
        load_cycles: 0,
        mm_cycles: p.max(f.min(pe.transpose_min_cycles as u64)),
        latency_cycles: pe.fill_drain_cycles as u64,
        reuse_weights: false,
        cells,
    }
}

/// A matmul: the multiply, and the weight load unless the array still holds `stationary` as
/// the same writer left it.
#[inline]
fn matmul_cost(
    info: &[BufInfo],
    pe: &PeConfig,
    stationary: &Tile,
    dst: &Tile,
    loaded: &mut Option<(Tile, Option<u32>)>,
    stationary_writer: Option<u32>,
) -> Cost {
    let fp32 = info[stationary.buffer.0 as usize].dtype == DType::Float32;
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
        cells: PeCells::ALL,
    }
}

/// An instruction of the Vector, Scalar or GpSimd engine: its cycles at the engine's lanes for
/// its widest dtype, slowed by strided access, plus the overhead of waiting for the previous
/// instruction of its queue.
#[inline]
fn compute_cost(
    info: &[BufInfo],
    k: &Consts,
    op: &Op,
    (reads, writes): (&TileList, &TileList),
    prev_dep: bool,
) -> Cost {
    let dtype = |t: &Tile| info[t.buffer.0 as usize].dtype;
    let hw = k.hw;
    let (cfg, latency_ps) = match op.engine() {
        Engine::Vector => (&hw.vector, k.access_latency_ps[0]),
        Engine::Scalar => (&hw.scalar, k.access_latency_ps[1]),
        Engine::GpSimd => (&hw.gpsimd, k.access_latency_ps[2]),
        Engine::Tensor | Engine::Dma => {
            unreachable!("the checks allow compute ops no other engine")
        }
    };
    let tiles: TileList = reads.iter().chain(writes).copied().take(4).collect();
    let widest = tiles
        .iter()
        .map(|t| dtype(t).size_bytes())
        .max()
        .unwrap_or(4);
    let mut per_cycle = (lanes(cfg, widest) as f64 / hw.sbuf.partitions as f64).max(1e-9);
    if cfg.perf_mode {
        per_cycle = per_cycle.min(perf_mode_speedup(info, op, reads, writes));
    }
    let c = &hw.costs;
    let main = reads.first().copied().unwrap_or_else(|| writes[0]);
    let n = main.free_size() as f64 / per_cycle;
    let mut cycles = compute_cycles(info, hw, op, &tiles, n, cfg.min_cycles as f64);
    // Bandwidth halves when the innermost stride is over the threshold [ARCH-V2].
    if tiles
        .iter()
        .any(|t| (t.ap.inner_stride() * dtype(t).size_bytes()) as u32 > c.strided_threshold_bytes)
    {
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

/// The Vector performance mode's lift over one element per partition per cycle [ARCH-V3]:
/// `tensor_copy`/`tensor_scalar` with bf16/fp16 operands 4x in SBUF with contiguous inner
/// dimensions, 2x when one is in PSUM or not contiguous; `tensor_tensor` 2x with bf16/fp16
/// operands all in SBUF; every other instruction and dtype 1x.
fn perf_mode_speedup(info: &[BufInfo], op: &Op, reads: &TileList, writes: &TileList) -> f64 {
    let tiles = || reads.iter().chain(writes);
    let half = tiles().all(|t| {
        matches!(
            info[t.buffer.0 as usize].dtype,
            DType::BFloat16 | DType::Float16
        )
    });
    if !half {
        return 1.0;
    }
    let in_sbuf = |t: &Tile| info[t.buffer.0 as usize].memory == Memory::Sbuf;
    let psum = tiles().filter(|t| !in_sbuf(t)).count();
    let contiguous = tiles().all(|t| t.ap.inner_stride() <= 1);
    match op {
        Op::TensorCopy { .. } | Op::TensorScalar(_) => match (psum, contiguous) {
            (0, true) => 4.0,
            (0, false) | (1, true) => 2.0,
            _ => 1.0,
        },
        Op::TensorTensor { .. } if psum == 0 => 2.0,
        _ => 1.0,
    }
}

/// Cycles of a compute op over `n` elements' worth of lane cycles (`min`: the engine's
/// shortest instruction), before strides and dependencies; `tiles` are its operands.
#[inline]
fn compute_cycles(
    info: &[BufInfo],
    hw: &Hardware,
    op: &Op,
    tiles: &TileList,
    n: f64,
    min: f64,
) -> f64 {
    let c = &hw.costs;
    let dtype = |t: &Tile| info[t.buffer.0 as usize].dtype;
    let mem = |t: &Tile| info[t.buffer.0 as usize].memory;
    match op {
        Op::Activation(a) => {
            n.max(min)
                + if a.reduce.is_some() {
                    c.activation_reduce_cycles as f64
                } else {
                    0.0
                }
        }
        Op::TensorScalar(ts) => {
            let div = ts.op0.0 == AluOp::Div || ts.op1.as_ref().is_some_and(|o| o.0 == AluOp::Div);
            if div {
                (n * c.reciprocal_cycles_per_elem as f64).max(min)
            } else {
                n.max(min)
            }
        }
        // A vector transpose (at most 32 x 32) moves its elements as a Vector copy would.
        Op::TensorCopy { .. } | Op::BnStats { .. } | Op::Transpose { .. } => n.max(min),
        // Vector `exponential` (NeuronCore-v4): the Scalar engine's `exp` over the same
        // elements, `vector_exp_speedup` times faster [ARCH-V4: "4x the Scalar exp
        // throughput"]; with the running sum, +`activation_reduce_cycles` as an activation's
        // reduce (assumption: no source gives it).
        Op::Exponential(e) => {
            let scalar = exp_on_scalar_cycles(hw, tiles, &dtype);
            let vector = &hw.vector;
            let speedup = c.vector_exp_speedup.max(1) as f64;
            let clocks = vector.clock_mhz as f64 / hw.scalar.clock_mhz as f64;
            (scalar * clocks / speedup).max(min)
                + if e.reduce_dst.is_some() {
                    c.activation_reduce_cycles as f64
                } else {
                    0.0
                }
        }
        // `reciprocal` at the preset's reciprocal rate: max(min, N * reciprocal_cycles_per_elem).
        Op::Reciprocal { .. } => (n * c.reciprocal_cycles_per_elem as f64).max(min),
        Op::TensorTensor { op: alu, a, b, .. } => {
            let fast = tensor_tensor_fast(&[*alu], mem(a), mem(b), tiles, &dtype, &mem);
            let per = tensor_tensor_per_elem(c, &[*alu], fast);
            (n * per as f64).max(min)
        }
        // A scan costs a tensor_tensor over the same elements (both of its operations decide
        // the rate: a divide makes it the reciprocal rate, the fast path needs both fast).
        Op::TensorTensorScan(s) => {
            let ops = [s.op0, s.op1];
            let fast = tensor_tensor_fast(&ops, mem(&s.a), mem(&s.b), tiles, &dtype, &mem);
            let per = tensor_tensor_per_elem(c, &ops, fast);
            (n * per as f64).max(min)
        }
        Op::TensorReduce { op: r, src, .. } => {
            let fast = dtype(src) == DType::BFloat16 && matches!(r, ReduceOp::Sum | ReduceOp::Max);
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
        // assumption: a barrier's semaphore update and wait take one shortest instruction on
        // its engine (no source gives the cost); the waiting for the other core is simulated.
        Op::CoreBarrier { .. } => min,
        Op::DmaCopy { .. }
        | Op::Matmul { .. }
        | Op::MatmulTile(_)
        | Op::MatmulMx(_)
        | Op::TransposeBg { .. } => {
            unreachable!("DMA and tensor ops have costs of their own")
        }
    }
}

/// Scalar-engine cycles of an `exp` activation over `tiles` (the first read is the source): its
/// free size at the Scalar engine's lanes for the widest dtype, before the minimum.
fn exp_on_scalar_cycles(hw: &Hardware, tiles: &TileList, dtype: &dyn Fn(&Tile) -> DType) -> f64 {
    let widest = tiles
        .iter()
        .map(|t| dtype(t).size_bytes())
        .max()
        .unwrap_or(4);
    let per_cycle = (lanes(&hw.scalar, widest) as f64 / hw.sbuf.partitions as f64).max(1e-9);
    tiles.first().map_or(0.0, |t| t.free_size() as f64) / per_cycle
}

/// Whether a `tensor_tensor` with operations `ops` (one; a scan's two) whose inputs are in
/// `mem_a` and `mem_b` runs at the fast rate: an input in PSUM, or add/sub/mul on contiguous
/// bf16 in SBUF.
fn tensor_tensor_fast(
    ops: &[AluOp],
    mem_a: Memory,
    mem_b: Memory,
    tiles: &TileList,
    dtype: &dyn Fn(&Tile) -> DType,
    mem: &dyn Fn(&Tile) -> Memory,
) -> bool {
    let all_bf16_sbuf = tiles
        .iter()
        .all(|t| dtype(t) == DType::BFloat16 && mem(t) == Memory::Sbuf && t.ap.is_contiguous());
    let simple = ops
        .iter()
        .all(|o| matches!(o, AluOp::Add | AluOp::Sub | AluOp::Mul));
    mem_a == Memory::Psum || mem_b == Memory::Psum || (all_bf16_sbuf && simple)
}

/// Cycles per element of a `tensor_tensor` with operations `ops`: the reciprocal rate with a
/// divide, else the fast or the ordinary rate.
fn tensor_tensor_per_elem(c: &CostConfig, ops: &[AluOp], fast: bool) -> u32 {
    if ops.contains(&AluOp::Div) {
        c.reciprocal_cycles_per_elem
    } else if fast {
        c.tensor_tensor_fast_cycles_per_elem
    } else {
        c.tensor_tensor_cycles_per_elem
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
pub(super) struct Consts<'a> {
    hw: &'a Hardware,
    /// `hw.dma.descriptor_overhead_ns()`.
    descriptor_overhead_ns: f64,
    /// Access latency of each compute engine config in picoseconds: vector, scalar, gpsimd.
    access_latency_ps: [Picos; 3],
}

impl Consts<'_> {
    pub(super) fn of(hw: &Hardware) -> Consts<'_> {
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
