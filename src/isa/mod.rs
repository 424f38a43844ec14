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
mod op;
pub mod parse;
pub mod print;

pub use error::{Error, Result};
pub use op::{
    ActFunc, Activation, AluOp, CmpOp, DmaQueue, Engine, Exponential, Instr, MxMatmul, Op, OpKind,
    PeTile, ReduceOp, Scalar, TensorScalar, TensorTensorScan, TiledMatmul,
};

use arrayvec::ArrayVec;

use crate::numerics::DType;

/// The tiles an instruction reads or writes: at most five (an accumulating MX matmul reads two
/// operands, two scales and its destination), without a heap allocation (these lists are built
/// several times per instruction on the simulator's hot path).
pub(crate) type TileList<'a> = ArrayVec<&'a Tile, 5>;

/// Newest version of the trace text format this build reads and writes (it reads every version
/// from 1; the printer writes the oldest that holds the program, [`Program::version`]).
pub(crate) const TRACE_VERSION: u32 = 3;

/// Most free-dimension access-pattern dimensions a tile may have (NKI: up to 4-D).
pub(crate) const MAX_AP_DIMS: usize = 4;

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
    pub(crate) const fn name(self) -> &'static str {
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
        /// Mean before rounding to the dtype.
        mean: f64,
        /// Standard deviation.
        std: f64,
        /// Seed of the generator: the same seed gives the same values.
        seed: u64,
    },
    /// Seeded uniform distribution on `[low, high)`, rounded to the buffer's dtype.
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
        /// Seed of the generator: the same seed gives the same values.
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
    /// The physical core whose SBUF or PSUM holds it (format 3's `core=`; 0 for HBM, which the
    /// cores share). Below the preset's `lnc`.
    pub core: u8,
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
pub(crate) type Dims = ArrayVec<(u32, u32), MAX_AP_DIMS>;

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

    /// An access pattern from `(stride, size)` pairs, outermost first (at most `MAX_AP_DIMS`;
    /// extra dimensions are dropped, so callers validate first).
    pub fn new(offset: u32, dims: &[(u32, u32)]) -> Self {
        AccessPattern {
            offset,
            dims: dims.iter().copied().take(MAX_AP_DIMS).collect(),
        }
    }

    /// Elements addressed (product of the sizes).
    pub(crate) fn len(&self) -> usize {
        self.dims.iter().map(|d| d.1 as usize).product()
    }

    /// Whether it addresses no element.
    pub(crate) fn is_empty(&self) -> bool {
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
    pub(crate) fn is_contiguous(&self) -> bool {
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
    pub(crate) fn inner_stride(&self) -> usize {
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
    /// Buffer the tile is a view of.
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
    pub(crate) fn elems(&self) -> usize {
        self.partition_count as usize * self.free_size()
    }

    /// First partition (row), as an index.
    pub(crate) fn p0(&self) -> usize {
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
    /// The oldest trace format version that holds it: 3 when a buffer sits on a core other
    /// than 0, else the newest its instructions need (so programs of format 1 still print as
    /// format 1).
    pub fn version(&self) -> u32 {
        let cores = if self.buffers.iter().any(|b| b.core != 0) {
            3
        } else {
            1
        };
        self.instrs
            .iter()
            .map(|i| i.op.version())
            .max()
            .unwrap_or(1)
            .max(cores)
    }

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
