//! Functional execution: every instruction computes real values.
//!
//! A [`DataState`] holds the contents of every buffer of one run as flat row-major `f32` values,
//! each an exact value of its buffer's dtype. [`execute_instr`] gathers an instruction's input
//! tiles into contiguous `[P, F]` arrays, computes in `f32` (as the engines do; casting on input
//! and output is free in hardware), rounds the results to the destination's dtype and scatters
//! them back. Nothing is cached between instructions, so timing and functional execution can
//! interleave freely.
//!
//! Rounding: every value written is rounded with
//! `Cast::new(dst_dtype).rounding(opts.rounding).seed(opts.seed)`. Element `e` (row-major position
//! in the destination tile) of instruction `i` draws its stochastic bits from stream position
//! `(i << 32) | e`; a second output of the same instruction (the reduction of `activation`) uses
//! positions `(i << 32) | (1 << 31) | e`, so the two are independent. Results are therefore
//! reproducible and do not depend on how the work is chunked.
//!
//! Operand shapes: operands whose element counts match but whose `[P, F]` shapes differ are
//! paired in row-major order (as a DMA does). Where an operation depends on the position `(p, j)`
//! (per-partition scalars, `iota`, `affine_select`), `p` and `j` are positions in the source tile
//! (for `iota` and `affine_select`: the destination tile).
//!
//! Rooms: `operands` gathers tiles and stores results; `tensor` (matmul, transpose),
//! `elementwise` (Vector/Scalar arithmetic and copies), `gpsimd` (iota, affine_select) and
//! `stats` (bn_stats, bn_aggr) compute.

mod elementwise;
mod gpsimd;
mod mx;
mod operands;
mod stats;
mod store;
mod tensor;

use ndarray::{ArrayD, IxDyn};

use super::{Error, Result};
use crate::isa::{BufferId, Init, Op, Program, Tile};
use crate::numerics::{Cast, DType, Rounding, Tensor};
pub(crate) use elementwise::act_f64;
use store::Store;
pub use tensor::{GEMM_MAX_K, MatmulPath, matmul_f32, matmul_path};

/// Options of functional execution: how results are rounded into narrow dtypes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// Rounding of every value written to a buffer (the hardware default is round-to-nearest).
    pub rounding: Rounding,
    /// Seed of the stochastic-rounding stream (unused by round-to-nearest).
    pub seed: u64,
}

/// Per-run values of every buffer: flat row-major `f32` per buffer (indexed by [`BufferId`]),
/// in pages allocated on first write, so memory follows what the kernel touches.
///
/// Kept apart from the immutable [`Program`] so one program can be run many times, with
/// different inputs or rounding, and so the timing model never needs the values.
#[derive(Clone, Debug, PartialEq)]
pub struct DataState {
    buffers: Vec<Store>,
}

impl DataState {
    /// Initialize every buffer from its [`Init`]: zeros; seeded normal or uniform values rounded
    /// (to nearest) to the buffer dtype; `Input` from `inputs` when given, else zeros.
    ///
    /// Element `i` of a random buffer depends only on (seed, `i`). Inputs must have the
    /// buffer's exact shape and are rounded (to nearest) to the buffer's dtype; an input for a buffer not declared `Input`, for an unknown
    /// id, or given twice is an error.
    pub fn new(program: &Program, inputs: &[(BufferId, Tensor)]) -> Result<Self> {
        let mut buffers: Vec<Store> = program.buffers.iter().map(Store::new).collect();
        let mut given = vec![false; buffers.len()];
        for (id, tensor) in inputs {
            let i = id.0 as usize;
            let Some(buf) = program.buffers.get(i) else {
                return Err(Error::Input {
                    buffer: format!("#{}", id.0),
                    message: format!(
                        "no such buffer (the program declares {})",
                        program.buffers.len()
                    ),
                });
            };
            let input_err = |message: String| Error::Input {
                buffer: buf.name.clone(),
                message,
            };
            if buf.init != Init::Input {
                return Err(input_err(format!(
                    "buffer is not declared as an input (its init is {:?})",
                    buf.init
                )));
            }
            if given[i] {
                return Err(input_err("given more than once".into()));
            }
            given[i] = true;
            if tensor.shape() != buf.shape.as_slice() {
                return Err(input_err(format!(
                    "shape {:?} does not match the buffer's shape {:?}",
                    tensor.shape(),
                    buf.shape
                )));
            }
            let data = tensor.data().as_standard_layout();
            let src = data
                .as_slice()
                .ok_or_else(|| input_err("data is not contiguous".into()))?;
            buffers[i].round_from(Cast::new(buf.dtype), src)?;
        }
        Ok(DataState { buffers })
    }

    /// A buffer's contents as a [`Tensor`] of its dtype and shape (for output files and tests).
    ///
    /// An id the program does not declare, or a state built for another program, gives an empty
    /// tensor rather than a panic.
    pub fn tensor(&self, program: &Program, id: BufferId) -> Tensor {
        let empty = || Tensor::zeros(&[0], DType::Float32);
        let Some(buf) = program.buffers.get(id.0 as usize) else {
            return empty();
        };
        let Some(store) = self.buffers.get(id.0 as usize) else {
            return empty();
        };
        match ArrayD::from_shape_vec(IxDyn(&buf.shape), store.to_vec()) {
            // Values are already exact in the dtype: the cast only re-checks the invariant.
            Ok(data) => Tensor::from_f32(data, Cast::new(buf.dtype)),
            Err(_) => empty(),
        }
    }

    /// Write a buffer's values as a float32 `.npy` a page at a time: an output as large as the
    /// declared buffer (untouched pages included) never needs the whole buffer in memory.
    pub fn write_npy_f32(
        &self,
        program: &Program,
        id: BufferId,
        w: &mut impl std::io::Write,
    ) -> std::io::Result<()> {
        let (Some(buf), Some(store)) = (
            program.buffers.get(id.0 as usize),
            self.buffers.get(id.0 as usize),
        ) else {
            return Err(std::io::Error::other("no such buffer"));
        };
        w.write_all(&crate::numerics::npy::header_only_f32(&buf.shape))?;
        let (mut run, mut bytes) = (Vec::new(), Vec::new());
        for start in (0..store.len()).step_by(store::PAGE_ELEMS) {
            run.clear();
            store.read_run(start, store::PAGE_ELEMS.min(store.len() - start), &mut run);
            bytes.clear();
            bytes.extend(run.iter().flat_map(|v| v.to_le_bytes()));
            w.write_all(&bytes)?;
        }
        Ok(())
    }

    /// Raw values of a buffer, flat row-major (empty for an unknown id). The first call after a
    /// write holds the whole buffer in memory; [`DataState::tensor`] copies without keeping it.
    pub fn values(&self, id: BufferId) -> &[f32] {
        self.buffers.get(id.0 as usize).map_or(&[], Store::flat)
    }
}

/// Execute all instructions in program order.
pub fn execute(program: &Program, state: &mut DataState, opts: &ExecOptions) -> Result<()> {
    for i in 0..program.instrs.len() {
        execute_instr(program, i, state, opts)?;
        crate::progress::set(i as u64 + 1);
    }
    Ok(())
}

/// Execute instruction `index` of `program` on `state`.
///
/// Operands are expected to have passed the bounds checks; anything out of range is still
/// reported as an [`Error::Check`] on the instruction's line, never a panic.
pub fn execute_instr(
    program: &Program,
    index: usize,
    state: &mut DataState,
    opts: &ExecOptions,
) -> Result<()> {
    let Some(instr) = program.instrs.get(index) else {
        return Err(Error::Check {
            file: String::new(),
            line: 0,
            message: format!(
                "no instruction {index} (the program has {})",
                program.instrs.len()
            ),
        });
    };
    let mut ex = Exec {
        program,
        state,
        opts,
        line: instr.line,
        opcode: instr.op.opcode(),
        stream: (index as u64) << 32,
    };
    match &instr.op {
        Op::DmaCopy { dst, src, .. } | Op::TensorCopy { dst, src, .. } => ex.copy(dst, src),
        Op::Matmul {
            dst,
            stationary,
            moving,
            accumulate,
        } => ex.matmul(dst, stationary, moving, *accumulate),
        Op::MatmulTile(t) => ex.matmul(&t.dst, &t.stationary, &t.moving, t.accumulate),
        Op::MatmulMx(t) => ex.matmul_mx(t),
        Op::Transpose { dst, src, .. } | Op::TransposeBg { dst, src } => ex.transpose(dst, src),
        // Synchronization only: program order already has every value in place.
        Op::CoreBarrier { .. } => Ok(()),
        Op::Reciprocal { dst, src } => ex.reciprocal(dst, src),
        Op::TensorTensorScan(s) => ex.tensor_tensor_scan(s),
        Op::Exponential(e) => ex.exponential(e),
        Op::Activation(a) => {
            ex.activation(a.func, &a.dst, &a.src, &a.scale, &a.bias, a.reduce.as_ref())
        }
        Op::TensorTensor { op, dst, a, b, .. } => ex.tensor_tensor(*op, dst, a, b),
        Op::TensorScalar(ts) => {
            ex.tensor_scalar(&ts.dst, &ts.src, &ts.op0, ts.op1.as_ref(), ts.reverse)
        }
        Op::TensorReduce { op, dst, src, .. } => ex.tensor_reduce(*op, dst, src),
        Op::Memset { dst, value, .. } => ex.memset(dst, *value),
        Op::Iota {
            dst,
            base,
            channel_multiplier,
            step,
        } => ex.iota(dst, *base, *channel_multiplier, *step),
        Op::AffineSelect {
            dst,
            src,
            cmp,
            base,
            channel_multiplier,
            step,
            fill,
        } => ex.affine_select(dst, src, *cmp, (*base, *channel_multiplier, *step), *fill),
        Op::BnStats { dst, src } => ex.bn_stats(dst, src),
        Op::BnAggr { dst, src } => ex.bn_aggr(dst, src),
    }
}

/// One instruction's execution context.
struct Exec<'a> {
    program: &'a Program,
    state: &'a mut DataState,
    opts: &'a ExecOptions,
    line: u32,
    opcode: &'static str,
    /// Stochastic stream position of element 0 of this instruction's output.
    stream: u64,
}

impl Exec<'_> {
    fn err(&self, message: impl std::fmt::Display) -> Error {
        Error::Check {
            file: String::new(),
            line: self.line,
            message: format!("{}: {message}", self.opcode),
        }
    }

    fn buffer_name(&self, tile: &Tile) -> String {
        self.program
            .buffers
            .get(tile.buffer.0 as usize)
            .map_or_else(|| format!("#{}", tile.buffer.0), |b| b.name.clone())
    }
}
