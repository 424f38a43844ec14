//! Instructions: what each operation does, on which engine, with which operands.
//!
//! A parsed trace line becomes an [`Instr`]; the checks, the timing plan and functional execution
//! each match on its [`Op`] exhaustively, so a new operation does not compile until every stage
//! handles it. [`OpKind`] is an operation without its operands: its trace name and the engines
//! it may run on, the one table the parser and the checks share.

use super::{Tile, TileList};

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
    /// sqrt(x) (format 2).
    Sqrt,
    /// ln(x) (format 2).
    Log,
    /// |x| (format 2).
    Abs,
    /// -1, 0 or 1 by the sign of x; NaN stays NaN (format 2).
    Sign,
    /// sin(x) (format 2).
    Sin,
    /// cos(x) (format 2).
    Cos,
    /// ln(1 + e^x) (format 2).
    Softplus,
    /// The error function (format 2).
    Erf,
    /// GELU by the error function: x * (1 + erf(x / sqrt 2)) / 2 (format 2).
    GeluExact,
}

impl ActFunc {
    /// The trace format version that introduced it.
    pub const fn version(self) -> u32 {
        match self {
            ActFunc::Identity
            | ActFunc::Relu
            | ActFunc::Gelu
            | ActFunc::Silu
            | ActFunc::Sigmoid
            | ActFunc::Tanh
            | ActFunc::Exp
            | ActFunc::Square
            | ActFunc::Rsqrt
            | ActFunc::Reciprocal => 1,
            _ => 2,
        }
    }
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
    /// a to the power b (NumPy's `np.power`; format 2).
    Pow,
    /// a modulo b with the sign of b (NumPy's `np.mod`, Python's `%`; format 2).
    Mod,
    /// 1.0 if a >= b, else 0.0 (format 2).
    Ge,
    /// 1.0 if a > b, else 0.0 (format 2).
    Gt,
    /// 1.0 if a <= b, else 0.0 (format 2).
    Le,
    /// 1.0 if a < b, else 0.0 (format 2).
    Lt,
    /// 1.0 if a == b, else 0.0 (format 2).
    Eq,
    /// 1.0 if a != b, else 0.0 (format 2; true when either is NaN).
    Ne,
}

impl AluOp {
    /// The trace format version that introduced it.
    pub const fn version(self) -> u32 {
        match self {
            AluOp::Add | AluOp::Sub | AluOp::Mul | AluOp::Max | AluOp::Min | AluOp::Div => 1,
            _ => 2,
        }
    }
}

/// Reductions along the free axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    /// Sum in f32, in row order, from 0.
    Sum,
    /// Maximum, from -inf; a NaN propagates.
    Max,
    /// Minimum, from +inf; a NaN propagates (format 2).
    Min,
}

impl ReduceOp {
    /// The trace format version that introduced it.
    pub const fn version(self) -> u32 {
        match self {
            ReduceOp::Sum | ReduceOp::Max => 1,
            ReduceOp::Min => 2,
        }
    }
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
    /// Output tile, written in its buffer's dtype.
    pub dst: Tile,
    /// Input tile (same shape as `dst`).
    pub src: Tile,
    /// Multiplier applied to `src` before `bias`.
    pub scale: Scalar,
    /// Added to `src * scale` before `func`.
    pub bias: Scalar,
    /// Optional reduction of the result.
    pub reduce: Option<(ReduceOp, Tile)>,
}

/// Operands of [`Op::TensorScalar`]: `dst = (src op0 scalar0) op1 scalar1`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorScalar {
    /// Engine (vector, scalar or gpsimd).
    pub engine: Engine,
    /// Output tile, written in its buffer's dtype.
    pub dst: Tile,
    /// Input tile (same shape as `dst`).
    pub src: Tile,
    /// First operation and operand.
    pub op0: (AluOp, Scalar),
    /// Optional second operation and operand.
    pub op1: Option<(AluOp, Scalar)>,
    /// Per stage: compute `scalar op x` instead of `x op scalar` (format 2's `reverse0`,
    /// `reverse1`; NKI's operand order for the non-commutative operations).
    pub reverse: [bool; 2],
}

/// Operands of [`Op::TensorTensorScan`]: per partition, along the free axis,
/// `dst[p, j] = (dst[p, j - 1] op0 a[p, j]) op1 b[p, j]`, with `initial` before `j = 0`.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorTensorScan {
    /// Engine (vector or gpsimd).
    pub engine: Engine,
    /// Output tile, written in its buffer's dtype.
    pub dst: Tile,
    /// First input (same shape as `dst`).
    pub a: Tile,
    /// Second input (same shape as `dst`).
    pub b: Tile,
    /// The value before the first element: an immediate or one per partition.
    pub initial: Scalar,
    /// Combines the running value with `a`.
    pub op0: AluOp,
    /// Combines that with `b`.
    pub op1: AluOp,
}

/// Operands of [`Op::Exponential`]: `dst = exp(src - max_value)` on the Vector engine
/// (NeuronCore-v4; NKI's `nisa.exponential`), optionally also summing each partition's results
/// into a `[P, 1]` tile.
#[derive(Clone, Debug, PartialEq)]
pub struct Exponential {
    /// Output tile, written in its buffer's dtype.
    pub dst: Tile,
    /// Input tile (same shape as `dst`).
    pub src: Tile,
    /// Subtracted before the exponential: an immediate or one per partition.
    pub max_value: Scalar,
    /// Where each partition's sum of the results goes (`[P, 1]`), if anywhere.
    pub reduce_dst: Option<Tile>,
}

/// A part of the PE array a matmul runs on (NKI's `tile_position` and `tile_size`): rows carry
/// the contraction, columns the stationary free size. Offsets and sizes count PEs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PeTile {
    /// First PE row.
    pub row: u16,
    /// First PE column.
    pub col: u16,
    /// Rows (32, 64 or 128).
    pub rows: u16,
    /// Columns (32, 64 or 128).
    pub cols: u16,
}

/// Operands of [`Op::MatmulTile`]: a matmul on a tile of the PE array, which runs beside
/// matmuls on disjoint tiles (format 2; NKI's `nc_matmul(tile_position=, tile_size=)`).
#[derive(Clone, Debug, PartialEq)]
pub struct TiledMatmul {
    /// PSUM tile `[M, N]`.
    pub dst: Tile,
    /// SBUF tile `[K, M]`, K at most the tile's rows and M its columns.
    pub stationary: Tile,
    /// SBUF tile `[K, N]`.
    pub moving: Tile,
    /// Add to `dst` (true) or overwrite it (false).
    pub accumulate: bool,
    /// The part of the array it occupies.
    pub tile: PeTile,
}

/// Operands of [`Op::MatmulMx`]: an MX matmul with integrated dequantization (format 2;
/// NeuronCore-v4; NKI's `nc_matmul_mx`). Each operand partition packs [`MX_PACK`] contraction
/// values per element (`[P, F, 4]` row-major, so K = 4P); 32 values (8 partitions x 4) share
/// one e8m0 scale, the scales `[P / 8, F]`.
///
/// [`MX_PACK`]: crate::numerics::mx::MX_PACK
#[derive(Clone, Debug, PartialEq)]
pub struct MxMatmul {
    /// PSUM tile `[M, N]`, fp32 or bf16.
    pub dst: Tile,
    /// SBUF tile `[P, 4M]` of elements.
    pub stationary: Tile,
    /// SBUF tile `[P, 4N]` of elements.
    pub moving: Tile,
    /// SBUF tile `[P / 8, M]` of e8m0 codes (0..=255, as NKI's uint8 scales).
    pub stationary_scale: Tile,
    /// SBUF tile `[P / 8, N]` of e8m0 codes.
    pub moving_scale: Tile,
    /// The element format of both operands.
    pub format: crate::numerics::mx::MxFormat,
    /// Add to `dst` (true) or overwrite it (false).
    pub accumulate: bool,
}

/// One instruction's operation and operands.
///
/// Kept small (the common variants hold at most three tiles inline; the rare wide ones are
/// boxed): a million-instruction program is streamed several times per simulation.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// Copy between HBM and SBUF (either way) or SBUF to SBUF, casting through fp32.
    DmaCopy {
        /// Destination (same element count as `src`).
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
    /// `dst[f, p] = src[p, f]`: on the tensor engine through the PE array into PSUM; on the
    /// vector engine (format 2) SBUF to SBUF, at most 32 by 32.
    Transpose {
        /// Engine (tensor or vector).
        engine: Engine,
        /// `[F, P]` destination (PSUM on the tensor engine, SBUF on the vector engine).
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
        /// Elementwise operation applied as `a op b`.
        op: AluOp,
        /// Output tile (same shape as `a` and `b`).
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
        /// Reduction applied along the free axis.
        op: ReduceOp,
        /// `[P, 1]` destination.
        dst: Tile,
        /// `[P, F]` input, reduced over F.
        src: Tile,
    },
    /// `dst = src` with a cast (PSUM evacuation).
    TensorCopy {
        /// Engine (vector, scalar or gpsimd).
        engine: Engine,
        /// Output tile, in its buffer's dtype.
        dst: Tile,
        /// Input tile (same shape as `dst`).
        src: Tile,
    },
    /// `dst = value`.
    Memset {
        /// Engine (vector or gpsimd).
        engine: Engine,
        /// Tile filled.
        dst: Tile,
        /// Value written, rounded to `dst`'s dtype.
        value: f32,
    },
    /// GpSimd: `dst[p, j] = base + channel_multiplier * p + step * j`.
    Iota {
        /// Tile filled with the affine sequence.
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
        /// Output tile.
        dst: Tile,
        /// Input tile, copied where the condition holds.
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
    /// Vector: `dst = 1 / src`, elementwise (format 2; NKI's `nisa.reciprocal`).
    Reciprocal {
        /// Output tile, in its buffer's dtype.
        dst: Tile,
        /// Input tile (same shape as `dst`).
        src: Tile,
    },
    /// A scan along the free axis (format 2; NKI's `nisa.tensor_tensor_scan`). Boxed: its four
    /// tiles would otherwise size every instruction.
    TensorTensorScan(Box<TensorTensorScan>),
    /// A matmul on a tile of the PE array (format 2). Boxed: rare, and wider than the others.
    MatmulTile(Box<TiledMatmul>),
    /// An MX matmul (format 2; NeuronCore-v4). Boxed: rare, and wider than the others.
    MatmulMx(Box<MxMatmul>),
    /// A PE transpose in the background of the matmuls (format 2; NeuronCore-v4): `dst[f, p] =
    /// src[p, f]` from SBUF into PSUM, overlapping matmuls instead of queueing behind them.
    TransposeBg {
        /// `[F, P]` PSUM destination.
        dst: Tile,
        /// SBUF tile `[P, F]`.
        src: Tile,
    },
    /// Vector: `dst = exp(src - max_value)` (format 2; NKI's `nisa.exponential`, NeuronCore-v4).
    /// Boxed: its three tiles and a scalar would otherwise size every instruction.
    Exponential(Box<Exponential>),
    /// GpSimd: the physical cores of a logical core wait for each other here (format 3; NKI's
    /// `nki.lnc.core_barrier`), then go on; ordered with the accesses to `data` before and after.
    CoreBarrier {
        /// The shared HBM tile the cores synchronize on.
        data: Tile,
    },
}

/// An operation without its operands (one per [`Op`] variant): its trace opcode and the engines
/// it may run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// [`Op::DmaCopy`].
    DmaCopy,
    /// [`Op::Matmul`].
    Matmul,
    /// [`Op::Transpose`].
    Transpose,
    /// [`Op::Activation`].
    Activation,
    /// [`Op::TensorTensor`].
    TensorTensor,
    /// [`Op::TensorScalar`].
    TensorScalar,
    /// [`Op::TensorReduce`].
    TensorReduce,
    /// [`Op::TensorCopy`].
    TensorCopy,
    /// [`Op::Memset`].
    Memset,
    /// [`Op::Iota`].
    Iota,
    /// [`Op::AffineSelect`].
    AffineSelect,
    /// [`Op::BnStats`].
    BnStats,
    /// [`Op::BnAggr`].
    BnAggr,
    /// [`Op::Reciprocal`].
    Reciprocal,
    /// [`Op::TensorTensorScan`].
    TensorTensorScan,
    /// [`Op::Exponential`].
    Exponential,
    /// [`Op::CoreBarrier`].
    CoreBarrier,
}

/// Vector (the default) or GpSimd.
const VG: &[Engine] = &[Engine::Vector, Engine::GpSimd];
/// Tensor (the default) or Vector.
const TV: &[Engine] = &[Engine::Tensor, Engine::Vector];
/// Vector (the default), Scalar or GpSimd.
const VSG: &[Engine] = &[Engine::Vector, Engine::Scalar, Engine::GpSimd];

impl OpKind {
    /// Trace opcode.
    pub const fn name(self) -> &'static str {
        match self {
            OpKind::DmaCopy => "dma_copy",
            OpKind::Matmul => "matmul",
            OpKind::Transpose => "transpose",
            OpKind::Activation => "activation",
            OpKind::TensorTensor => "tensor_tensor",
            OpKind::TensorScalar => "tensor_scalar",
            OpKind::TensorReduce => "tensor_reduce",
            OpKind::TensorCopy => "tensor_copy",
            OpKind::Memset => "memset",
            OpKind::Iota => "iota",
            OpKind::AffineSelect => "affine_select",
            OpKind::BnStats => "bn_stats",
            OpKind::BnAggr => "bn_aggr",
            OpKind::Reciprocal => "reciprocal",
            OpKind::TensorTensorScan => "tensor_tensor_scan",
            OpKind::Exponential => "exponential",
            OpKind::CoreBarrier => "core_barrier",
        }
    }

    /// The engines it may run on, the default first. Where there are several, a trace picks one
    /// with the `engine=` key (the parser refuses the others, and the checks refuse them in
    /// programs built in code); [`Op::engine`] is always one of them.
    pub const fn engines(self) -> &'static [Engine] {
        match self {
            OpKind::DmaCopy => &[Engine::Dma],
            OpKind::Matmul => &[Engine::Tensor],
            OpKind::Transpose => TV,
            OpKind::Activation => &[Engine::Scalar],
            OpKind::TensorTensor
            | OpKind::TensorReduce
            | OpKind::Memset
            | OpKind::TensorTensorScan => VG,
            OpKind::TensorScalar | OpKind::TensorCopy => VSG,
            OpKind::Iota | OpKind::AffineSelect | OpKind::CoreBarrier => &[Engine::GpSimd],
            OpKind::BnStats | OpKind::BnAggr | OpKind::Reciprocal | OpKind::Exponential => {
                &[Engine::Vector]
            }
        }
    }

    /// The trace format version that introduced it.
    pub const fn version(self) -> u32 {
        match self {
            OpKind::Reciprocal | OpKind::TensorTensorScan | OpKind::Exponential => 2,
            OpKind::CoreBarrier => 3,
            _ => 1,
        }
    }
}

impl Op {
    /// The operation without its operands.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::DmaCopy { .. } => OpKind::DmaCopy,
            Op::Matmul { .. } | Op::MatmulTile(_) | Op::MatmulMx(_) => OpKind::Matmul,
            Op::Transpose { .. } | Op::TransposeBg { .. } => OpKind::Transpose,
            Op::Activation(_) => OpKind::Activation,
            Op::TensorTensor { .. } => OpKind::TensorTensor,
            Op::TensorScalar(_) => OpKind::TensorScalar,
            Op::TensorReduce { .. } => OpKind::TensorReduce,
            Op::TensorCopy { .. } => OpKind::TensorCopy,
            Op::Memset { .. } => OpKind::Memset,
            Op::Iota { .. } => OpKind::Iota,
            Op::AffineSelect { .. } => OpKind::AffineSelect,
            Op::BnStats { .. } => OpKind::BnStats,
            Op::BnAggr { .. } => OpKind::BnAggr,
            Op::Reciprocal { .. } => OpKind::Reciprocal,
            Op::TensorTensorScan(_) => OpKind::TensorTensorScan,
            Op::Exponential(_) => OpKind::Exponential,
            Op::CoreBarrier { .. } => OpKind::CoreBarrier,
        }
    }

    /// Trace opcode.
    pub fn opcode(&self) -> &'static str {
        self.kind().name()
    }

    /// The engine that executes it.
    pub fn engine(&self) -> Engine {
        match self {
            Op::DmaCopy { .. } => Engine::Dma,
            Op::Matmul { .. } | Op::MatmulTile(_) | Op::MatmulMx(_) | Op::TransposeBg { .. } => {
                Engine::Tensor
            }
            Op::Transpose { engine, .. } => *engine,
            Op::Activation(_) => Engine::Scalar,
            Op::TensorScalar(ts) => ts.engine,
            Op::TensorTensorScan(s) => s.engine,
            Op::TensorTensor { engine, .. }
            | Op::TensorReduce { engine, .. }
            | Op::TensorCopy { engine, .. }
            | Op::Memset { engine, .. } => *engine,
            Op::Iota { .. } | Op::AffineSelect { .. } | Op::CoreBarrier { .. } => Engine::GpSimd,
            Op::BnStats { .. } | Op::BnAggr { .. } | Op::Reciprocal { .. } | Op::Exponential(_) => {
                Engine::Vector
            }
        }
    }

    /// The trace format version it needs: 2 when it uses anything format 2 added (a new opcode,
    /// function, ALU operation or reduction, a reversed `tensor_scalar` stage, a vector
    /// transpose), else 1.
    pub fn version(&self) -> u32 {
        let alu = |o: &AluOp| o.version();
        let v = match self {
            Op::Activation(a) => a
                .func
                .version()
                .max(a.reduce.as_ref().map_or(1, |r| r.0.version())),
            Op::TensorTensor { op, .. } => alu(op),
            Op::TensorScalar(ts) => {
                let rev = if ts.reverse.contains(&true) { 2 } else { 1 };
                rev.max(alu(&ts.op0.0))
                    .max(ts.op1.as_ref().map_or(1, |o| alu(&o.0)))
            }
            Op::TensorReduce { op, .. } => op.version(),
            Op::MatmulTile(_) | Op::MatmulMx(_) | Op::TransposeBg { .. } => 2,
            Op::Transpose { engine, .. } => {
                if *engine == Engine::Tensor {
                    1
                } else {
                    2
                }
            }
            _ => 1,
        };
        v.max(self.kind().version())
    }

    /// A matmul's (dst, stationary, moving), whatever its form (`None` for other operations).
    pub fn matmul_operands(&self) -> Option<(&Tile, &Tile, &Tile)> {
        match self {
            Op::Matmul {
                dst,
                stationary,
                moving,
                ..
            } => Some((dst, stationary, moving)),
            Op::MatmulTile(t) => Some((&t.dst, &t.stationary, &t.moving)),
            Op::MatmulMx(t) => Some((&t.dst, &t.stationary, &t.moving)),
            _ => None,
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
            Op::DmaCopy { src, .. }
            | Op::Transpose { src, .. }
            | Op::TransposeBg { src, .. }
            | Op::TensorCopy { src, .. }
            | Op::Reciprocal { src, .. } => list(&[src]),
            Op::TensorTensorScan(s) => {
                let mut v = list(&[&s.a, &s.b]);
                v.extend(scalar(&s.initial));
                v
            }
            Op::Exponential(e) => {
                let mut v = list(&[&e.src]);
                v.extend(scalar(&e.max_value));
                v
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
            Op::MatmulTile(t) => {
                let mut v = list(&[&t.stationary, &t.moving]);
                if t.accumulate {
                    v.push(&t.dst);
                }
                v
            }
            // The stationary tile first (its writers gate the weight load), then the moving one.
            Op::MatmulMx(t) => {
                let mut v = list(&[
                    &t.stationary,
                    &t.moving,
                    &t.stationary_scale,
                    &t.moving_scale,
                ]);
                if t.accumulate {
                    v.push(&t.dst);
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
            Op::CoreBarrier { data } => list(&[data]),
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
            Op::TensorTensorScan(s) => list(&[&s.dst]),
            Op::MatmulTile(t) => list(&[&t.dst]),
            Op::MatmulMx(t) => list(&[&t.dst]),
            Op::Exponential(e) => {
                let mut v = list(&[&e.dst]);
                v.extend(e.reduce_dst.as_ref());
                v
            }
            Op::DmaCopy { dst, .. }
            | Op::Matmul { dst, .. }
            | Op::Transpose { dst, .. }
            | Op::TransposeBg { dst, .. }
            | Op::TensorTensor { dst, .. }
            | Op::TensorReduce { dst, .. }
            | Op::TensorCopy { dst, .. }
            | Op::Memset { dst, .. }
            | Op::Iota { dst, .. }
            | Op::AffineSelect { dst, .. }
            | Op::BnStats { dst, .. }
            | Op::BnAggr { dst, .. }
            | Op::Reciprocal { dst, .. }
            | Op::CoreBarrier { data: dst } => list(&[dst]),
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
