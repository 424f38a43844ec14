//! The instruction set and kernel traces.
//!
//! Modeled on NKI's ISA: a program declares buffers in HBM, SBUF and PSUM, then lists instructions
//! in program order. Operands are [`Tile`]s: a buffer, a partition range and a free-dimension access
//! pattern. A trace names no dependencies: the simulator derives them from the regions each
//! instruction reads and writes, as the Neuron compiler inserts semaphores.
//!
//! The text form is documented in `traces/README.md`; [`parse::parse`] reads it and
//! [`print::print`] writes it
//! (printing then parsing gives the same [`Program`]).

mod error;
pub mod parse;
pub mod print;

pub use error::{Error, Result};

use arrayvec::ArrayVec;

use crate::numerics::DType;

/// The tiles an instruction reads or writes: at most four, without a heap allocation (these
/// lists are built several times per instruction on the simulator's hot path).
pub type TileList<'a> = ArrayVec<&'a Tile, 4>;

/// Version of the trace text format this build reads and writes.
pub const TRACE_VERSION: u32 = 1;

/// Most free-dimension access-pattern dimensions a tile may have (NKI: up to 4-D).
pub const MAX_AP_DIMS: usize = 4;

/// Where a buffer lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Memory {
    /// Device memory, shared by the chip's cores; reached only by DMA.
    Hbm,
    /// The state buffer: 128 partitions of on-chip SRAM, the engines' working memory.
    Sbuf,
    /// The partial-sum buffer: where matmul results accumulate in fp32, in banks.
    Psum,
}

impl Memory {
    /// Name in the trace text.
    pub const fn name(self) -> &'static str {
        match self {
            Memory::Hbm => "hbm",
            Memory::Sbuf => "sbuf",
            Memory::Psum => "psum",
        }
    }
}

/// How a buffer's contents are initialized before the first instruction.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// Seeded normal distribution, rounded to the buffer's dtype.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
        /// Seed.
        seed: u64,
    },
    /// Seeded uniform distribution on `[low, high)`, rounded to the buffer's dtype.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
        /// Seed.
        seed: u64,
    },
    /// Given at run time (`trnsim run --input NAME=file.npy`); zeros when none is given.
    Input,
}

/// Dense id of a buffer: its index in [`Program::buffers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferId(pub u32);

/// A buffer declaration.
#[derive(Clone, Debug, PartialEq)]
pub struct Buffer {
    /// Name, unique in the program.
    pub name: String,
    /// Memory it lives in.
    pub memory: Memory,
    /// Element dtype.
    pub dtype: DType,
    /// Shape; for SBUF and PSUM the first dimension is the partition dimension (at most 128).
    pub shape: Vec<usize>,
    /// Initial contents.
    pub init: Init,
    /// 1-based line of the declaration in the trace (0 when built in code).
    pub line: u32,
}

impl Buffer {
    /// Size of the first dimension: partitions for SBUF/PSUM, rows for HBM.
    pub fn partitions(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Elements per partition (per row in HBM): the product of all dimensions but the first.
    pub fn row_elems(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// All elements.
    pub fn elems(&self) -> usize {
        self.shape.iter().product()
    }

    /// Bytes per partition (per row in HBM).
    pub fn row_bytes(&self) -> usize {
        self.row_elems() * self.dtype.size_bytes()
    }
}

/// `(stride, size)` dimensions of an access pattern, held inline (no heap allocation per tile:
/// the simulator walks millions of them). 32-bit like every tile coordinate (see [`Tile`]).
pub type Dims = ArrayVec<(u32, u32), MAX_AP_DIMS>;

/// The free-dimension access pattern of a tile: an element offset within the partition (row)
/// and up to four `[stride, size]` dimensions, outermost first, strides in elements.
///
/// The fields are 32-bit (see [`Tile`]); the methods compute in `usize`, so no product or end
/// overflows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPattern {
    /// Element offset of the first element.
    pub offset: u32,
    /// `(stride, size)` per dimension, outermost first.
    pub dims: Dims,
}

impl AccessPattern {
    /// A contiguous run of `len` elements from `offset`.
    pub fn contiguous(offset: u32, len: u32) -> Self {
        Self::new(offset, &[(1, len)])
    }

    /// An access pattern from `(stride, size)` pairs, outermost first (at most [`MAX_AP_DIMS`];
    /// extra dimensions are dropped, so callers validate first).
    pub fn new(offset: u32, dims: &[(u32, u32)]) -> Self {
        AccessPattern {
            offset,
            dims: dims.iter().copied().take(MAX_AP_DIMS).collect(),
        }
    }

    /// Elements addressed (product of the sizes).
    pub fn len(&self) -> usize {
        self.dims.iter().map(|d| d.1 as usize).product()
    }

    /// Whether it addresses no element.
    pub fn is_empty(&self) -> bool {
        self.dims.iter().any(|d| d.1 == 0)
    }

    /// One past the largest element offset addressed (for bounds checks and dependency regions).
    pub fn end(&self) -> usize {
        let offset = self.offset as usize;
        if self.is_empty() {
            return offset;
        }
        offset
            + self
                .dims
                .iter()
                .map(|&(s, n)| s as usize * (n as usize - 1))
                .sum::<usize>()
            + 1
    }

    /// Whether the elements are one contiguous run in order.
    pub fn is_contiguous(&self) -> bool {
        let mut expect = 1usize;
        for &(s, n) in self.dims.iter().rev() {
            if n > 1 && s as usize != expect {
                return false;
            }
            expect *= n as usize;
        }
        true
    }

    /// Stride of the innermost dimension with more than one element (1 when none).
    pub fn inner_stride(&self) -> usize {
        self.dims
            .iter()
            .rev()
            .find(|d| d.1 > 1)
            .map_or(1, |d| d.0 as usize)
    }

    /// Element offsets in iteration order (outermost dimension slowest).
    pub fn offsets(&self) -> impl Iterator<Item = usize> + '_ {
        let n = self.len();
        let mut idx = [0usize; MAX_AP_DIMS];
        let mut cur = self.offset as usize;
        (0..n).map(move |k| {
            if k > 0 {
                // Odometer increment, innermost first.
                for d in (0..self.dims.len()).rev() {
                    let (s, size) = (self.dims[d].0 as usize, self.dims[d].1 as usize);
                    idx[d] += 1;
                    cur += s;
                    if idx[d] < size {
                        break;
                    }
                    cur -= s * size;
                    idx[d] = 0;
                }
            }
            cur
        })
    }
}

/// HBM only: elements between consecutive rows of a tile, or the buffer's row length (the
/// default, written without `:STEP` in a trace).
///
/// Four bytes rather than an `Option<u32>`'s eight (`u32::MAX` stands for the row length): a
/// program holds millions of tiles and the simulator streams through all of them, so every byte
/// of [`Tile`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PartitionStep(u32);

impl PartitionStep {
    /// The buffer's row length.
    pub const ROW: PartitionStep = PartitionStep(u32::MAX);
    /// The largest explicit step.
    pub const MAX: u32 = u32::MAX - 1;

    /// An explicit step (None when over [`Self::MAX`]).
    pub const fn new(step: u32) -> Option<Self> {
        if step <= Self::MAX {
            Some(PartitionStep(step))
        } else {
            None
        }
    }

    /// The explicit step, or None for the row length.
    pub const fn get(self) -> Option<u32> {
        if self.0 == u32::MAX {
            None
        } else {
            Some(self.0)
        }
    }

    /// The step in elements, given the buffer's row length.
    pub const fn or_row(self, row_elems: usize) -> usize {
        match self.get() {
            Some(s) => s as usize,
            None => row_elems,
        }
    }
}

impl Default for PartitionStep {
    fn default() -> Self {
        Self::ROW
    }
}

/// An operand: a rectangle of partitions times an access pattern over each partition's elements.
///
/// For SBUF and PSUM the partition index is the physical partition. For HBM a "partition" is a
/// row: element `(p, j)` of the tile is element `(partition_start + p) * partition_step + ap[j]`
/// of the flat buffer, where `partition_step` defaults to the row length; a step of 1 with an
/// access pattern striding by the row length reads a matrix transposed.
///
/// Coordinates are 32-bit (the parser rejects larger ones with a clear error): a tile is 56
/// bytes instead of 120, which keeps an instruction small; the simulator streams through
/// millions of them, so memory traffic is most of its cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tile {
    /// The buffer.
    pub buffer: BufferId,
    /// First partition (row).
    pub partition_start: u32,
    /// Number of partitions (rows).
    pub partition_count: u32,
    /// HBM only: elements between consecutive rows.
    pub partition_step: PartitionStep,
    /// Free-dimension access pattern.
    pub ap: AccessPattern,
}

impl Tile {
    /// Partitions (rows) `partitions` of `buffer`, each a contiguous run of `len` elements from
    /// `offset`: the common tile, for building programs in code.
    pub fn contiguous(
        buffer: BufferId,
        partitions: std::ops::Range<u32>,
        offset: u32,
        len: u32,
    ) -> Tile {
        Tile {
            buffer,
            partition_start: partitions.start,
            partition_count: partitions.end - partitions.start,
            partition_step: PartitionStep::ROW,
            ap: AccessPattern::contiguous(offset, len),
        }
    }

    /// Elements per partition.
    pub fn free_size(&self) -> usize {
        self.ap.len()
    }

    /// Elements in all.
    pub fn elems(&self) -> usize {
        self.partition_count as usize * self.free_size()
    }

    /// First partition (row), as an index.
    pub fn p0(&self) -> usize {
        self.partition_start as usize
    }

    /// Number of partitions (rows), as a count.
    pub fn np(&self) -> usize {
        self.partition_count as usize
    }

    /// One past the last partition (row).
    pub fn p_end(&self) -> usize {
        self.p0() + self.np()
    }
}

/// Engines that execute instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Engine {
    /// The PE array: matmul and transpose.
    Tensor,
    /// Vector engine.
    Vector,
    /// Scalar (activation) engine.
    Scalar,
    /// GpSimd engine.
    GpSimd,
    /// DMA engines (which one is the instruction's [`DmaQueue`]).
    Dma,
}

impl Engine {
    /// Name in the trace text and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Engine::Tensor => "tensor",
            Engine::Vector => "vector",
            Engine::Scalar => "scalar",
            Engine::GpSimd => "gpsimd",
            Engine::Dma => "dma",
        }
    }
}

/// A DMA engine and one of its queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DmaQueue {
    /// DMA engine index (0-based).
    pub engine: u16,
    /// Queue index within the engine (0-based).
    pub queue: u16,
}

/// Activation functions of the Scalar engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActFunc {
    /// x
    Identity,
    /// max(x, 0)
    Relu,
    /// GELU, tanh approximation.
    Gelu,
    /// x * sigmoid(x)
    Silu,
    /// 1 / (1 + e^-x)
    Sigmoid,
    /// tanh(x)
    Tanh,
    /// e^x
    Exp,
    /// x^2
    Square,
    /// 1 / sqrt(x)
    Rsqrt,
    /// 1 / x
    Reciprocal,
}

/// Binary ALU operations of `tensor_tensor` and `tensor_scalar`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// a + b
    Add,
    /// a - b
    Sub,
    /// a * b
    Mul,
    /// max(a, b)
    Max,
    /// min(a, b)
    Min,
    /// a / b
    Div,
}

/// Reductions along the free axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// Sum.
    Sum,
    /// Maximum.
    Max,
}

/// Comparisons of `affine_select`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// >= 0
    Ge,
    /// > 0
    Gt,
    /// <= 0
    Le,
    /// < 0
    Lt,
    /// == 0
    Eq,
    /// != 0
    Ne,
}

/// A scalar operand: an immediate, or one value per partition from a `[P, 1]` tile.
#[derive(Clone, Debug, PartialEq)]
pub enum Scalar {
    /// The same value for every element.
    Imm(f32),
    /// Element `(p, 0)` of the tile for partition `p`.
    PerPartition(Tile),
}

/// Operands of [`Op::Activation`]: `dst = func(src * scale + bias)`, optionally also reducing
/// the result along the free axis into a `[P, 1]` tile.
#[derive(Clone, Debug, PartialEq)]
pub struct Activation {
    /// The function.
    pub func: ActFunc,
    /// Destination.
    pub dst: Tile,
    /// Source.
    pub src: Tile,
    /// Multiplier.
    pub scale: Scalar,
    /// Addend.
    pub bias: Scalar,
    /// Optional reduction of the result.
    pub reduce: Option<(ReduceOp, Tile)>,
}

/// Operands of [`Op::TensorScalar`]: `dst = (src op0 scalar0) op1 scalar1`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorScalar {
    /// Engine (vector, scalar or gpsimd).
    pub engine: Engine,
    /// Destination.
    pub dst: Tile,
    /// Source.
    pub src: Tile,
    /// First operation and operand.
    pub op0: (AluOp, Scalar),
    /// Optional second operation and operand.
    pub op1: Option<(AluOp, Scalar)>,
}

/// One instruction's operation and operands.
///
/// Kept small (the common variants hold at most three tiles inline; the rare wide ones are
/// boxed): a million-instruction program is streamed several times per simulation.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Copy between HBM and SBUF (either way) or SBUF to SBUF, casting through fp32.
    DmaCopy {
        /// Destination.
        dst: Tile,
        /// Source (same element count).
        src: Tile,
        /// The queue that carries it.
        queue: DmaQueue,
    },
    /// `dst[m, n] (+)= sum_k stationary[k, m] * moving[k, n]`, fp32 accumulation in PSUM.
    /// K is the partition count of both inputs (up to 128, 256 in fp8 double-row mode).
    Matmul {
        /// PSUM tile `[M, N]`.
        dst: Tile,
        /// SBUF tile `[K, M]` (the weights loaded into the array).
        stationary: Tile,
        /// SBUF tile `[K, N]` (streamed through the array).
        moving: Tile,
        /// Add to `dst` (true) or overwrite it (false).
        accumulate: bool,
    },
    /// `dst[f, p] = src[p, f]` through the PE array, into PSUM.
    Transpose {
        /// PSUM tile `[F, P]`.
        dst: Tile,
        /// SBUF tile `[P, F]`.
        src: Tile,
    },
    /// Scalar engine: `dst = func(src * scale + bias)`, optionally also reducing the result along
    /// the free axis into `reduce_dst` (`[P, 1]`). Boxed: its five tiles would otherwise size
    /// every instruction.
    Activation(Box<Activation>),
    /// `dst = a op b`, elementwise.
    TensorTensor {
        /// Engine (vector or gpsimd).
        engine: Engine,
        /// Operation.
        op: AluOp,
        /// Destination.
        dst: Tile,
        /// First input.
        a: Tile,
        /// Second input.
        b: Tile,
    },
    /// `dst = (src op0 scalar0) op1 scalar1`; the second stage is optional. Boxed: its four
    /// tiles would otherwise size every instruction.
    TensorScalar(Box<TensorScalar>),
    /// `dst[p, 0] = reduce_j src[p, j]`.
    TensorReduce {
        /// Engine (vector or gpsimd).
        engine: Engine,
        /// Reduction.
        op: ReduceOp,
        /// `[P, 1]` destination.
        dst: Tile,
        /// Source.
        src: Tile,
    },
    /// `dst = src` with a cast (PSUM evacuation).
    TensorCopy {
        /// Engine (vector, scalar or gpsimd).
        engine: Engine,
        /// Destination.
        dst: Tile,
        /// Source.
        src: Tile,
    },
    /// `dst = value`.
    Memset {
        /// Engine (vector or gpsimd).
        engine: Engine,
        /// Destination.
        dst: Tile,
        /// Value.
        value: f32,
    },
    /// GpSimd: `dst[p, j] = base + channel_multiplier * p + step * j`.
    Iota {
        /// Destination.
        dst: Tile,
        /// Value at (0, 0).
        base: i64,
        /// Increment per partition.
        channel_multiplier: i64,
        /// Increment per free element (in access-pattern order).
        step: i64,
    },
    /// GpSimd: `dst[p, j] = src[p, j]` where `(base + channel_multiplier * p + step * j) cmp 0`,
    /// else `fill` (causal masks).
    AffineSelect {
        /// Destination.
        dst: Tile,
        /// Source.
        src: Tile,
        /// Comparison against zero.
        cmp: CmpOp,
        /// Affine expression constant.
        base: i64,
        /// Per-partition coefficient.
        channel_multiplier: i64,
        /// Per-element coefficient.
        step: i64,
        /// Value where the predicate is false.
        fill: f32,
    },
    /// Vector: per-partition statistics of `src`: `dst[p] = (count, mean, m2)` with
    /// `m2 = sum (x - mean)^2`, so chunks can be combined exactly by `bn_aggr`.
    BnStats {
        /// `[P, 3]` destination.
        dst: Tile,
        /// Source chunk.
        src: Tile,
    },
    /// Vector: combine `k` `(count, mean, m2)` triples per partition (`src` is `[P, 3k]`) into
    /// `dst[p] = (mean, variance)` (population variance).
    BnAggr {
        /// `[P, 2]` destination.
        dst: Tile,
        /// `[P, 3k]` source.
        src: Tile,
    },
}

impl Op {
    /// Trace opcode.
    pub fn opcode(&self) -> &'static str {
        match self {
            Op::DmaCopy { .. } => "dma_copy",
            Op::Matmul { .. } => "matmul",
            Op::Transpose { .. } => "transpose",
            Op::Activation(_) => "activation",
            Op::TensorTensor { .. } => "tensor_tensor",
            Op::TensorScalar(_) => "tensor_scalar",
            Op::TensorReduce { .. } => "tensor_reduce",
            Op::TensorCopy { .. } => "tensor_copy",
            Op::Memset { .. } => "memset",
            Op::Iota { .. } => "iota",
            Op::AffineSelect { .. } => "affine_select",
            Op::BnStats { .. } => "bn_stats",
            Op::BnAggr { .. } => "bn_aggr",
        }
    }

    /// The engine that executes it.
    pub fn engine(&self) -> Engine {
        match self {
            Op::DmaCopy { .. } => Engine::Dma,
            Op::Matmul { .. } | Op::Transpose { .. } => Engine::Tensor,
            Op::Activation(_) => Engine::Scalar,
            Op::TensorScalar(ts) => ts.engine,
            Op::TensorTensor { engine, .. }
            | Op::TensorReduce { engine, .. }
            | Op::TensorCopy { engine, .. }
            | Op::Memset { engine, .. } => *engine,
            Op::Iota { .. } | Op::AffineSelect { .. } => Engine::GpSimd,
            Op::BnStats { .. } | Op::BnAggr { .. } => Engine::Vector,
        }
    }

    /// Tiles it reads (a matmul with `accumulate` also reads its destination).
    pub fn reads(&self) -> TileList<'_> {
        fn list<'a>(tiles: &[&'a Tile]) -> TileList<'a> {
            tiles.iter().copied().collect()
        }
        fn scalar(s: &Scalar) -> Option<&Tile> {
            match s {
                Scalar::PerPartition(t) => Some(t),
                Scalar::Imm(_) => None,
            }
        }
        match self {
            Op::DmaCopy { src, .. } | Op::Transpose { src, .. } | Op::TensorCopy { src, .. } => {
                list(&[src])
            }
            Op::Matmul {
                dst,
                stationary,
                moving,
                accumulate,
            } => {
                let mut v = list(&[stationary, moving]);
                if *accumulate {
                    v.push(dst);
                }
                v
            }
            Op::Activation(a) => {
                let mut v = list(&[&a.src]);
                v.extend(scalar(&a.scale));
                v.extend(scalar(&a.bias));
                v
            }
            Op::TensorTensor { a, b, .. } => list(&[a, b]),
            Op::TensorScalar(ts) => {
                let mut v = list(&[&ts.src]);
                v.extend(scalar(&ts.op0.1));
                if let Some((_, s)) = &ts.op1 {
                    v.extend(scalar(s));
                }
                v
            }
            Op::TensorReduce { src, .. }
            | Op::AffineSelect { src, .. }
            | Op::BnStats { src, .. }
            | Op::BnAggr { src, .. } => list(&[src]),
            Op::Memset { .. } | Op::Iota { .. } => TileList::new(),
        }
    }

    /// Tiles it writes.
    pub fn writes(&self) -> TileList<'_> {
        fn list<'a>(tiles: &[&'a Tile]) -> TileList<'a> {
            tiles.iter().copied().collect()
        }
        match self {
            Op::Activation(a) => {
                let mut v = list(&[&a.dst]);
                if let Some((_, r)) = &a.reduce {
                    v.push(r);
                }
                v
            }
            Op::TensorScalar(ts) => list(&[&ts.dst]),
            Op::DmaCopy { dst, .. }
            | Op::Matmul { dst, .. }
            | Op::Transpose { dst, .. }
            | Op::TensorTensor { dst, .. }
            | Op::TensorReduce { dst, .. }
            | Op::TensorCopy { dst, .. }
            | Op::Memset { dst, .. }
            | Op::Iota { dst, .. }
            | Op::AffineSelect { dst, .. }
            | Op::BnStats { dst, .. }
            | Op::BnAggr { dst, .. } => list(&[dst]),
        }
    }
}

/// An instruction: an operation and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Instr {
    /// What it does.
    pub op: Op,
    /// 1-based trace line (0 when built in code).
    pub line: u32,
}

/// A kernel: buffers and instructions in program order. Immutable once built; a simulation keeps
/// its per-run state elsewhere.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Program {
    /// Kernel name.
    pub name: String,
    /// Buffers; [`BufferId`] indexes this.
    pub buffers: Vec<Buffer>,
    /// Instructions in program order.
    pub instrs: Vec<Instr>,
}

impl Program {
    /// The buffer behind an id.
    pub fn buffer(&self, id: BufferId) -> &Buffer {
        &self.buffers[id.0 as usize]
    }

    /// The id of a named buffer.
    pub fn buffer_id(&self, name: &str) -> Option<BufferId> {
        self.buffers
            .iter()
            .position(|b| b.name == name)
            .map(|i| BufferId(i as u32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The simulator streams through every instruction several times per run: keep them small.
    #[test]
    fn instructions_stay_small() {
        assert_eq!(std::mem::size_of::<Tile>(), 56);
        assert!(
            std::mem::size_of::<Instr>() <= 184,
            "{}",
            std::mem::size_of::<Instr>()
        );
    }

    #[test]
    fn access_pattern_offsets_and_extent() {
        let ap = AccessPattern {
            offset: 3,
            dims: [(10, 2), (1, 3)].into_iter().collect(),
        };
        assert_eq!(ap.offsets().collect::<Vec<_>>(), vec![3, 4, 5, 13, 14, 15]);
        assert_eq!(ap.end(), 16);
        assert!(!ap.is_contiguous());
        assert!(
            AccessPattern {
                offset: 0,
                dims: [(4, 2), (1, 4)].into_iter().collect()
            }
            .is_contiguous()
        );
        assert_eq!(AccessPattern::contiguous(5, 0).end(), 5);
        assert_eq!(ap.inner_stride(), 1);
    }
}
