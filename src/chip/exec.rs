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

use arrayvec::ArrayVec;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayD, ArrayView2, IxDyn};

use super::{Error, Result};
use crate::isa::{
    AccessPattern, ActFunc, AluOp, Buffer, BufferId, CmpOp, Init, MAX_AP_DIMS, Memory, Op, Program,
    ReduceOp, Scalar, Tile,
};
use crate::numerics::{Cast, DType, Rounding, Tensor, random_u32};

/// Options of functional execution: how results are rounded into narrow dtypes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// Rounding of every value written to a buffer (the hardware default is round-to-nearest).
    pub rounding: Rounding,
    /// Seed of the stochastic-rounding stream (unused by round-to-nearest).
    pub seed: u64,
}

/// Per-run values of every buffer: flat row-major `f32` per buffer (indexed by [`BufferId`]).
///
/// Kept apart from the immutable [`Program`] so one program can be run many times, with
/// different inputs or rounding, and so the timing model never needs the values.
#[derive(Clone, Debug, PartialEq)]
pub struct DataState {
    buffers: Vec<Vec<f32>>,
}

impl DataState {
    /// Initialize every buffer from its [`Init`]: zeros; seeded normal or uniform values rounded
    /// (to nearest) to the buffer dtype; `Input` from `inputs` when given, else zeros.
    ///
    /// Element `i` of a random buffer depends only on (seed, `i`): its uniform is
    /// `(random_u32(seed, 2i) + 0.5) / 2^32`, and normals use Box-Muller with a second uniform
    /// from position `2i + 1`. Inputs must have the buffer's exact shape and are rounded (to
    /// nearest) to the buffer's dtype; an input for a buffer not declared `Input`, for an unknown
    /// id, or given twice is an error.
    pub fn new(program: &Program, inputs: &[(BufferId, Tensor)]) -> Result<Self> {
        let mut buffers: Vec<Vec<f32>> = program.buffers.iter().map(init_values).collect();
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
            Cast::new(buf.dtype).round_slice(src, 0, &mut buffers[i])?;
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
        match ArrayD::from_shape_vec(IxDyn(&buf.shape), self.values(id).to_vec()) {
            // Values are already exact in the dtype: the cast only re-checks the invariant.
            Ok(data) => Tensor::from_f32(data, Cast::new(buf.dtype)),
            Err(_) => empty(),
        }
    }

    /// Raw values of a buffer, flat row-major (empty for an unknown id).
    pub fn values(&self, id: BufferId) -> &[f32] {
        self.buffers
            .get(id.0 as usize)
            .map_or(&[], |v| v.as_slice())
    }
}

/// Uniform on (0, 1) from one position of the seed's stream (never exactly 0 or 1).
fn unit(seed: u64, index: u64) -> f64 {
    (random_u32(seed, index) as f64 + 0.5) / 4_294_967_296.0
}

/// Round an `f64` correctly (once) to a dtype, to nearest.
fn round_f64(dtype: DType, x: f64) -> f32 {
    dtype.decode(Cast::new(dtype).encode_f64(x, 0))
}

/// Initial contents of a buffer (inputs are filled in later).
fn init_values(buf: &Buffer) -> Vec<f32> {
    let n = buf.elems();
    match buf.init {
        Init::Zeros | Init::Input => vec![0.0; n],
        Init::Uniform { low, high, seed } => (0..n as u64)
            .map(|i| round_f64(buf.dtype, low + (high - low) * unit(seed, 2 * i)))
            .collect(),
        Init::Normal { mean, std, seed } => (0..n as u64)
            .map(|i| {
                let (u1, u2) = (unit(seed, 2 * i), unit(seed, 2 * i + 1));
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                round_f64(buf.dtype, mean + std * z)
            })
            .collect(),
    }
}

/// Execute all instructions in program order.
pub fn execute(program: &Program, state: &mut DataState, opts: &ExecOptions) -> Result<()> {
    for i in 0..program.instrs.len() {
        execute_instr(program, i, state, opts)?;
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
        Op::Transpose { dst, src } => ex.transpose(dst, src),
        Op::Activation(a) => {
            ex.activation(a.func, &a.dst, &a.src, &a.scale, &a.bias, a.reduce.as_ref())
        }
        Op::TensorTensor { op, dst, a, b, .. } => ex.tensor_tensor(*op, dst, a, b),
        Op::TensorScalar(ts) => ex.tensor_scalar(&ts.dst, &ts.src, &ts.op0, ts.op1.as_ref()),
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

/// Largest tile (elements) execution accepts: element positions must fit the low 32 bits of the
/// stochastic stream index.
const MAX_TILE_ELEMS: usize = 1 << 31;

/// Where a tile's elements live in its buffer's flat storage.
struct Layout {
    /// Index into [`DataState::buffers`].
    buffer: usize,
    /// Element dtype of the buffer.
    dtype: DType,
    /// Flat index of each partition's (row's) origin, to which the access-pattern offsets add.
    starts: Vec<usize>,
    /// Access-pattern offsets in iteration order.
    offs: Vec<usize>,
    /// Whether `offs` is one ascending run, so rows copy as slices.
    contiguous: bool,
}

impl Layout {
    fn partitions(&self) -> usize {
        self.starts.len()
    }

    fn free(&self) -> usize {
        self.offs.len()
    }

    fn elems(&self) -> usize {
        self.partitions() * self.free()
    }

    /// Keep only the first `n` free elements (destinations written one column at a time).
    fn first_cols(mut self, n: usize) -> Self {
        self.offs.truncate(n);
        self
    }

    /// Copy the tile out into a row-major `[P, F]` vector. Bounds were checked by [`layout`].
    fn gather(&self, data: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.elems());
        let f = self.free();
        for &s in &self.starts {
            if self.contiguous {
                if let Some(&o) = self.offs.first() {
                    out.extend_from_slice(&data[s + o..s + o + f]);
                }
            } else {
                out.extend(self.offs.iter().map(|&o| data[s + o]));
            }
        }
        out
    }

    /// Write a row-major `[P, F]` vector into the tile. Bounds were checked by [`layout`].
    fn scatter(&self, values: &[f32], data: &mut [f32]) {
        let f = self.free();
        if f == 0 {
            return;
        }
        for (&s, row) in self.starts.iter().zip(values.chunks(f)) {
            if self.contiguous {
                let o = s + self.offs[0];
                data[o..o + f].copy_from_slice(row);
            } else {
                for (&o, &v) in self.offs.iter().zip(row) {
                    data[s + o] = v;
                }
            }
        }
    }
}

/// Access-pattern offsets with checked arithmetic (`None` on overflow), and one past the largest.
fn ap_offsets(ap: &AccessPattern) -> Option<(Vec<usize>, usize)> {
    let n = ap
        .dims
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(d.1 as usize))?;
    let offset = ap.offset as usize;
    if n == 0 {
        return Some((Vec::new(), offset));
    }
    if n > MAX_TILE_ELEMS {
        return None;
    }
    let dims: ArrayVec<(usize, usize), MAX_AP_DIMS> = ap
        .dims
        .iter()
        .map(|&(s, n)| (s as usize, n as usize))
        .collect();
    let mut last = offset;
    for &(stride, size) in &dims {
        last = last.checked_add(stride.checked_mul(size - 1)?)?;
    }
    let end = last.checked_add(1)?;
    let mut out = Vec::with_capacity(n);
    fn fill(dims: &[(usize, usize)], base: usize, out: &mut Vec<usize>) {
        match dims {
            [] => out.push(base),
            [(stride, size)] => out.extend((0..*size).map(|i| base + i * stride)),
            [(stride, size), rest @ ..] => {
                for i in 0..*size {
                    fill(rest, base + i * stride, out);
                }
            }
        }
    }
    // No overflow: every offset is at most `last`.
    fill(&dims, offset, &mut out);
    Some((out, end))
}

/// Whether `a` and `b` both hold bf16/fp16/fp8 values whose every pairwise product is exact in
/// `f32` (so a fused multiply-add gives the same result as a rounded product then an add).
///
/// The products have at most `pa + pb <= 24` significant bits; they are exact when no product
/// underflows below f32's subnormal step (every nonzero magnitude at least `2^lo`) or overflows
/// (every magnitude below `2^63`). Infinities and NaNs fail the check.
fn products_exact(a: &[f32], a_dtype: DType, b: &[f32], b_dtype: DType) -> bool {
    let bits = (a_dtype.mantissa_bits() + 1 + b_dtype.mantissa_bits() + 1) as i32;
    if bits > 24 {
        return false;
    }
    // A value of magnitude >= 2^lo with p significant bits has its lowest bit at >= 2^(lo-p+1),
    // so a product's lowest bit is >= 2^(2 lo - bits + 2) >= 2^-149 (f32's smallest subnormal).
    let lo = (bits - 151 + 1).div_euclid(2);
    let lo_bits = ((lo + 127) as u32) << 23;
    let hi_bits = ((63 + 127) as u32) << 23;
    let in_range = |v: &[f32]| {
        let bad = v.iter().fold(0u32, |acc, &x| {
            let m = x.to_bits() & 0x7fff_ffff;
            acc | (m != 0 && (m < lo_bits || m >= hi_bits)) as u32
        });
        bad == 0
    };
    in_range(a) && in_range(b)
}

/// Which kernel computes a matmul; both give the same bits wherever [`MatmulPath::Gemm`] is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatmulPath {
    /// `ndarray::linalg::general_mat_mul` (matrixmultiply's sgemm): fast, and bit-exact with the
    /// sequential-k sum when K fits one of its K blocks ([`GEMM_MAX_K`]) and every product is
    /// exact in f32, since each output then accumulates its products in increasing k from zero.
    Gemm,
    /// A plain loop: `sum = 0; for k { sum += s[k, m] * x[k, n] }` in f32, products rounded.
    Sequential,
}

/// Largest K for which [`MatmulPath::Gemm`] accumulates in one block, in increasing k order
/// (matrixmultiply's sgemm `KC`; tests/chip_exec.rs checks the agreement at K = 128 and 256).
pub const GEMM_MAX_K: usize = 256;

/// The kernel [`execute_instr`] uses for a matmul of stationary `s` (`[K, M]`, dtype `s_dtype`)
/// and moving `x` (`[K, N]`).
pub fn matmul_path(s: &[f32], s_dtype: DType, x: &[f32], x_dtype: DType, k: usize) -> MatmulPath {
    if k <= GEMM_MAX_K && products_exact(s, s_dtype, x, x_dtype) {
        MatmulPath::Gemm
    } else {
        MatmulPath::Sequential
    }
}

/// `out[m, n] = sum_k s[k, m] * x[k, n]` in f32, sum from zero in increasing k; row-major
/// `[M, N]`. `s` is row-major `[K, M]` and `x` row-major `[K, N]`. Public so tests and benches can
/// compare the two kernels.
///
/// Returns `None` when the slice lengths do not match the dimensions.
pub fn matmul_f32(
    s: &[f32],
    x: &[f32],
    k: usize,
    m: usize,
    n: usize,
    path: MatmulPath,
) -> Option<Vec<f32>> {
    if s.len() != k.checked_mul(m)? || x.len() != k.checked_mul(n)? {
        return None;
    }
    match path {
        MatmulPath::Gemm => {
            let sv = ArrayView2::from_shape((k, m), s).ok()?;
            let xv = ArrayView2::from_shape((k, n), x).ok()?;
            let mut out = Array2::<f32>::zeros((m, n));
            // beta = 0: matrixmultiply writes alpha * (A B) without reading C; alpha = 1 is exact.
            general_mat_mul(1.0, &sv.t(), &xv, 0.0, &mut out);
            Some(out.into_raw_vec_and_offset().0)
        }
        MatmulPath::Sequential => Some(matmul_sequential(s, x, k, m, n)),
    }
}

/// The sequential-k kernel: four output rows at a time share each row of `x`; every output keeps
/// its own running f32 sum in increasing k (Rust never fuses the multiply and add).
fn matmul_sequential(s: &[f32], x: &[f32], k: usize, m: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; m * n];
    if n == 0 {
        return out;
    }
    const ROWS: usize = 4;
    for (block, rows) in out.chunks_mut(ROWS * n).enumerate() {
        let m0 = block * ROWS;
        for kk in 0..k {
            let xr = &x[kk * n..(kk + 1) * n];
            for (r, row) in rows.chunks_mut(n).enumerate() {
                let sv = s[kk * m + m0 + r];
                for (o, &xv) in row.iter_mut().zip(xr) {
                    *o += sv * xv;
                }
            }
        }
    }
    out
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

    /// Resolve a tile to flat indices, checking every one is inside the buffer.
    fn layout(&self, tile: &Tile, role: &str) -> Result<Layout> {
        let b = tile.buffer.0 as usize;
        let (Some(buf), Some(data)) = (self.program.buffers.get(b), self.state.buffers.get(b))
        else {
            return Err(self.err(format_args!(
                "{role} names buffer #{b}, which the program (or run state) does not have"
            )));
        };
        let oob = || {
            self.err(format_args!(
                "{role} tile of '{}' is out of range of its {} elements (partitions {}+{}, \
                 access pattern {:?})",
                buf.name,
                data.len(),
                tile.partition_start,
                tile.partition_count,
                tile.ap
            ))
        };
        let (offs, end) = ap_offsets(&tile.ap).ok_or_else(oob)?;
        let step = match buf.memory {
            Memory::Hbm => tile.partition_step.or_row(buf.row_elems()),
            Memory::Sbuf | Memory::Psum => buf.row_elems(),
        };
        let p = tile.np();
        if p > MAX_TILE_ELEMS || p.checked_mul(offs.len()).is_none_or(|n| n > MAX_TILE_ELEMS) {
            return Err(oob());
        }
        if p > 0 && !offs.is_empty() {
            let last = tile
                .p0()
                .checked_add(p - 1)
                .and_then(|r| r.checked_mul(step))
                .and_then(|s| s.checked_add(end))
                .ok_or_else(oob)?;
            if last > data.len() {
                return Err(oob());
            }
        }
        let contiguous = offs.windows(2).all(|w| w[1] == w[0] + 1);
        let starts = if offs.is_empty() {
            vec![0; p]
        } else {
            (0..p).map(|i| (tile.p0() + i) * step).collect()
        };
        Ok(Layout {
            buffer: b,
            dtype: buf.dtype,
            starts,
            offs,
            contiguous,
        })
    }

    /// Gather a tile as row-major `[P, F]` values, with its layout.
    fn read(&self, tile: &Tile, role: &str) -> Result<(Layout, Vec<f32>)> {
        let l = self.layout(tile, role)?;
        let v = l.gather(&self.state.buffers[l.buffer]);
        Ok((l, v))
    }

    /// Round row-major values to the layout's dtype (stream positions from `stream`) and store.
    fn store(&mut self, l: &Layout, values: &mut [f32], stream: u64) -> Result<()> {
        if values.len() != l.elems() {
            return Err(self.err(format_args!(
                "internal: {} values for a tile of {} elements",
                values.len(),
                l.elems()
            )));
        }
        let cast = Cast::new(l.dtype)
            .rounding(self.opts.rounding)
            .seed(self.opts.seed);
        if l.dtype != DType::Float32 {
            // round_slice wants distinct source and destination: go through a stack buffer.
            let mut buf = [0.0f32; 1024];
            for (c, chunk) in values.chunks_mut(1024).enumerate() {
                let src = &mut buf[..chunk.len()];
                src.copy_from_slice(chunk);
                cast.round_slice(src, stream + (c * 1024) as u64, chunk)?;
            }
        }
        l.scatter(values, &mut self.state.buffers[l.buffer]);
        Ok(())
    }

    /// Write a whole destination tile from `values` in row-major order (counts must match).
    fn write(&mut self, dst: &Tile, values: &mut [f32]) -> Result<()> {
        let l = self.layout(dst, "dst")?;
        if l.elems() != values.len() {
            return Err(self.err(format_args!(
                "dst '{}' has {} elements ([{}, {}]) but the result has {}",
                self.buffer_name(dst),
                l.elems(),
                l.partitions(),
                l.free(),
                values.len()
            )));
        }
        self.store(&l, values, self.stream)
    }

    /// Write the first `cols` columns of a `[P, >= cols]` destination from row-major `[P, cols]`.
    fn write_cols(
        &mut self,
        dst: &Tile,
        role: &str,
        partitions: usize,
        cols: usize,
        values: &mut [f32],
        stream: u64,
    ) -> Result<()> {
        let l = self.layout(dst, role)?;
        if l.partitions() != partitions || l.free() < cols {
            return Err(self.err(format_args!(
                "{role} '{}' is [{}, {}] but must be [{partitions}, {cols}] (at least {cols} \
                 elements per partition)",
                self.buffer_name(dst),
                l.partitions(),
                l.free(),
            )));
        }
        let l = l.first_cols(cols);
        self.store(&l, values, stream)
    }

    /// Per-partition values of a scalar operand for `partitions` partitions.
    fn scalar(&self, s: &Scalar, partitions: usize, role: &str) -> Result<Vec<f32>> {
        match s {
            Scalar::Imm(v) => Ok(vec![*v; partitions]),
            Scalar::PerPartition(tile) => {
                let l = self.layout(tile, role)?;
                if l.partitions() < partitions || l.free() == 0 {
                    return Err(self.err(format_args!(
                        "{role} '{}' is [{}, {}] but must give one value to each of {partitions} \
                         partitions",
                        self.buffer_name(tile),
                        l.partitions(),
                        l.free()
                    )));
                }
                let buffer = l.buffer;
                let mut v = l.first_cols(1).gather(&self.state.buffers[buffer]);
                v.truncate(partitions);
                Ok(v)
            }
        }
    }

    fn copy(&mut self, dst: &Tile, src: &Tile) -> Result<()> {
        let (_, mut v) = self.read(src, "src")?;
        self.write(dst, &mut v)
    }

    fn matmul(&mut self, dst: &Tile, st: &Tile, mv: &Tile, accumulate: bool) -> Result<()> {
        let (sl, s) = self.read(st, "stationary")?;
        let (xl, x) = self.read(mv, "moving")?;
        let dl = self.layout(dst, "dst")?;
        // The product is [M, N] = the destination's shape. In fp8 double-row mode each partition
        // carries two K-rows (stationary [P, 2, M], moving [P, 2, N]): row-major, that is exactly
        // [2P, M] and [2P, N], so K = 2P with no data movement.
        let (m, n) = (dl.partitions(), dl.free());
        let rows = sl.free().checked_div(m).unwrap_or(1);
        let k = sl.partitions() * rows;
        if rows == 0 || sl.free() != rows * m || xl.free() != rows * n {
            return Err(self.err(format_args!(
                "operands [{}, {}] and [{}, {}] do not give the [{m}, {n}] destination",
                sl.partitions(),
                sl.free(),
                xl.partitions(),
                xl.free()
            )));
        }
        if xl.partitions() != sl.partitions() {
            return Err(self.err(format_args!(
                "stationary '{}' has {} partitions but moving '{}' has {}",
                self.buffer_name(st),
                sl.partitions(),
                self.buffer_name(mv),
                xl.partitions()
            )));
        }
        let path = matmul_path(&s, sl.dtype, &x, xl.dtype, k);
        let mut out =
            matmul_f32(&s, &x, k, m, n, path).ok_or_else(|| self.err("internal: operand sizes"))?;
        if accumulate {
            let prev = dl.gather(&self.state.buffers[dl.buffer]);
            for (o, p) in out.iter_mut().zip(prev) {
                *o += p;
            }
        }
        self.store(&dl, &mut out, self.stream)
    }

    fn transpose(&mut self, dst: &Tile, src: &Tile) -> Result<()> {
        let (l, v) = self.read(src, "src")?;
        let (p, f) = (l.partitions(), l.free());
        let mut out = vec![0.0f32; v.len()];
        for (i, row) in v.chunks(f.max(1)).enumerate() {
            for (j, &x) in row.iter().enumerate() {
                out[j * p + i] = x;
            }
        }
        self.write(dst, &mut out)
    }

    fn activation(
        &mut self,
        func: ActFunc,
        dst: &Tile,
        src: &Tile,
        scale: &Scalar,
        bias: &Scalar,
        reduce: Option<&(ReduceOp, Tile)>,
    ) -> Result<()> {
        let (l, mut v) = self.read(src, "src")?;
        let (p, f) = (l.partitions(), l.free());
        let sc = self.scalar(scale, p, "scale")?;
        let bi = self.scalar(bias, p, "bias")?;
        let mut red = Vec::new();
        for (i, row) in v.chunks_mut(f.max(1)).enumerate() {
            for x in row.iter_mut() {
                *x = act(func, *x * sc[i] + bi[i]);
            }
            if let Some((op, _)) = reduce {
                red.push(reduce_row(*op, row));
            }
        }
        if f == 0 && reduce.is_some() {
            red = vec![reduce_row(reduce.map_or(ReduceOp::Sum, |r| r.0), &[]); p];
        }
        self.write(dst, &mut v)?;
        if let Some((_, rdst)) = reduce {
            self.write_cols(rdst, "reduce dst", p, 1, &mut red, self.stream | (1 << 31))?;
        }
        Ok(())
    }

    fn tensor_tensor(&mut self, op: AluOp, dst: &Tile, a: &Tile, b: &Tile) -> Result<()> {
        let (_, mut va) = self.read(a, "a")?;
        let (_, vb) = self.read(b, "b")?;
        if va.len() != vb.len() {
            return Err(self.err(format_args!(
                "a '{}' has {} elements but b '{}' has {}",
                self.buffer_name(a),
                va.len(),
                self.buffer_name(b),
                vb.len()
            )));
        }
        for (x, &y) in va.iter_mut().zip(&vb) {
            *x = alu(op, *x, y);
        }
        self.write(dst, &mut va)
    }

    fn tensor_scalar(
        &mut self,
        dst: &Tile,
        src: &Tile,
        op0: &(AluOp, Scalar),
        op1: Option<&(AluOp, Scalar)>,
    ) -> Result<()> {
        let (l, mut v) = self.read(src, "src")?;
        let (p, f) = (l.partitions(), l.free());
        let s0 = self.scalar(&op0.1, p, "scalar0")?;
        let s1 = match op1 {
            Some((_, s)) => Some(self.scalar(s, p, "scalar1")?),
            None => None,
        };
        for (i, row) in v.chunks_mut(f.max(1)).enumerate() {
            for x in row.iter_mut() {
                *x = alu(op0.0, *x, s0[i]);
                if let (Some((op, _)), Some(s1)) = (op1, &s1) {
                    *x = alu(*op, *x, s1[i]);
                }
            }
        }
        self.write(dst, &mut v)
    }

    fn tensor_reduce(&mut self, op: ReduceOp, dst: &Tile, src: &Tile) -> Result<()> {
        let (l, v) = self.read(src, "src")?;
        let (p, f) = (l.partitions(), l.free());
        let mut red: Vec<f32> = if f == 0 {
            vec![reduce_row(op, &[]); p]
        } else {
            v.chunks(f).map(|row| reduce_row(op, row)).collect()
        };
        self.write_cols(dst, "dst", p, 1, &mut red, self.stream)
    }

    fn memset(&mut self, dst: &Tile, value: f32) -> Result<()> {
        let l = self.layout(dst, "dst")?;
        let mut v = vec![value; l.elems()];
        self.store(&l, &mut v, self.stream)
    }

    fn iota(&mut self, dst: &Tile, base: i64, cm: i64, step: i64) -> Result<()> {
        let l = self.layout(dst, "dst")?;
        let (p, f) = (l.partitions(), l.free());
        let mut v = Vec::with_capacity(l.elems());
        for i in 0..p {
            for j in 0..f {
                v.push(affine((base, cm, step), i, j) as f32);
            }
        }
        self.store(&l, &mut v, self.stream)
    }

    fn affine_select(
        &mut self,
        dst: &Tile,
        src: &Tile,
        cmp: CmpOp,
        coef: (i64, i64, i64),
        fill: f32,
    ) -> Result<()> {
        let (_, mut v) = self.read(src, "src")?;
        let l = self.layout(dst, "dst")?;
        if l.elems() != v.len() {
            return Err(self.err(format_args!(
                "dst '{}' has {} elements but src has {}",
                self.buffer_name(dst),
                l.elems(),
                v.len()
            )));
        }
        let f = l.free();
        for (e, x) in v.iter_mut().enumerate() {
            let a = affine(coef, e / f, e % f);
            let keep = match cmp {
                CmpOp::Ge => a >= 0,
                CmpOp::Gt => a > 0,
                CmpOp::Le => a <= 0,
                CmpOp::Lt => a < 0,
                CmpOp::Eq => a == 0,
                CmpOp::Ne => a != 0,
            };
            if !keep {
                *x = fill;
            }
        }
        self.store(&l, &mut v, self.stream)
    }

    /// Round f64 statistics to a destination's dtype once (no double rounding through f32), then
    /// store them in its first `cols` columns.
    fn write_stats(&mut self, dst: &Tile, p: usize, cols: usize, stats: &[f64]) -> Result<()> {
        let dtype = self
            .program
            .buffers
            .get(dst.buffer.0 as usize)
            .map_or(DType::Float32, |b| b.dtype);
        let cast = Cast::new(dtype)
            .rounding(self.opts.rounding)
            .seed(self.opts.seed);
        let stream = self.stream;
        let mut v: Vec<f32> = stats
            .iter()
            .enumerate()
            .map(|(e, &x)| dtype.decode(cast.encode_f64(x, stream + e as u64)))
            .collect();
        // Already rounded: rounding again to the same dtype changes nothing (same stream).
        self.write_cols(dst, "dst", p, cols, &mut v, stream)
    }

    fn bn_stats(&mut self, dst: &Tile, src: &Tile) -> Result<()> {
        let (l, v) = self.read(src, "src")?;
        let (p, f) = (l.partitions(), l.free());
        let mut stats = Vec::with_capacity(3 * p);
        for i in 0..p {
            let row = &v[i * f..(i + 1) * f];
            let (mean, m2) = if f == 0 {
                (0.0, 0.0)
            } else {
                let mean = row.iter().map(|&x| x as f64).sum::<f64>() / f as f64;
                let m2 = row.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>();
                (mean, m2)
            };
            stats.extend([f as f64, mean, m2]);
        }
        self.write_stats(dst, p, 3, &stats)
    }

    fn bn_aggr(&mut self, dst: &Tile, src: &Tile) -> Result<()> {
        let (l, v) = self.read(src, "src")?;
        let (p, f) = (l.partitions(), l.free());
        if f % 3 != 0 {
            return Err(self.err(format_args!(
                "src '{}' has {f} elements per partition, not a multiple of 3 (count, mean, m2)",
                self.buffer_name(src)
            )));
        }
        let mut out = Vec::with_capacity(2 * p);
        for i in 0..p {
            let row = &v[i * f..(i + 1) * f];
            // Chan, Golub and LeVeque's pairwise combination, in f64.
            let (mut n, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
            for t in row.chunks_exact(3) {
                let (nb, mb, m2b) = (t[0] as f64, t[1] as f64, t[2] as f64);
                if nb == 0.0 {
                    continue;
                }
                let total = n + nb;
                let delta = mb - mean;
                mean += delta * nb / total;
                m2 += m2b + delta * delta * n * nb / total;
                n = total;
            }
            let var = if n > 0.0 { m2 / n } else { 0.0 };
            out.extend([mean, var]);
        }
        self.write_stats(dst, p, 2, &out)
    }
}

/// `base + cm * p + step * j`, without overflow.
fn affine((base, cm, step): (i64, i64, i64), p: usize, j: usize) -> i128 {
    base as i128 + cm as i128 * p as i128 + step as i128 * j as i128
}

/// A Scalar-engine function at one point: computed in f64 from the f32 input and rounded once to
/// f32 (f64 carries more than twice f32's precision, so the basic operations are correctly
/// rounded; the transcendental ones are within an ulp of f32). NaN propagates.
fn act(func: ActFunc, x: f32) -> f32 {
    let v = x as f64;
    let sigmoid = |v: f64| 1.0 / (1.0 + (-v).exp());
    let y = match func {
        ActFunc::Identity => v,
        ActFunc::Relu => {
            if v > 0.0 || v.is_nan() {
                v
            } else {
                0.0
            }
        }
        ActFunc::Gelu => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            0.5 * v * (1.0 + (c * (v + 0.044715 * v * v * v)).tanh())
        }
        ActFunc::Silu => v * sigmoid(v),
        ActFunc::Sigmoid => sigmoid(v),
        ActFunc::Tanh => v.tanh(),
        ActFunc::Exp => v.exp(),
        ActFunc::Square => v * v,
        ActFunc::Rsqrt => 1.0 / v.sqrt(),
        ActFunc::Reciprocal => 1.0 / v,
    };
    y as f32
}

/// A binary ALU operation in f32; `max` and `min` propagate NaN (IEEE `max` would drop it).
fn alu(op: AluOp, a: f32, b: f32) -> f32 {
    match op {
        AluOp::Add => a + b,
        AluOp::Sub => a - b,
        AluOp::Mul => a * b,
        AluOp::Div => a / b,
        AluOp::Max | AluOp::Min if a.is_nan() => a,
        AluOp::Max | AluOp::Min if b.is_nan() => b,
        AluOp::Max => a.max(b),
        AluOp::Min => a.min(b),
    }
}

/// Reduce a row in f32, in order: the sum starts at 0, the max at -inf; NaN propagates.
fn reduce_row(op: ReduceOp, row: &[f32]) -> f32 {
    match op {
        ReduceOp::Sum => row.iter().fold(0.0, |acc, &x| acc + x),
        ReduceOp::Max => row.iter().fold(f32::NEG_INFINITY, |acc, &x| {
            if x > acc || (x.is_nan() && !acc.is_nan()) {
                x
            } else {
                acc
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_match_the_isa_iterator() {
        let ap = AccessPattern {
            offset: 3,
            dims: [(10, 2), (1, 3), (100, 2)].into_iter().collect(),
        };
        let (offs, end) = ap_offsets(&ap).unwrap();
        assert_eq!(offs, ap.offsets().collect::<Vec<_>>());
        assert_eq!(end, ap.end());
        let huge = AccessPattern {
            offset: 0,
            dims: [(1, u32::MAX), (1, u32::MAX), (1, u32::MAX)]
                .into_iter()
                .collect(),
        };
        assert!(ap_offsets(&huge).is_none());
        let single = AccessPattern {
            offset: 1,
            dims: [(u32::MAX, 1), (1, 2)].into_iter().collect(),
        };
        assert_eq!(ap_offsets(&single).unwrap().0, vec![1, 2]);
    }

    #[test]
    fn exactness_check_follows_the_ranges() {
        let bf = DType::BFloat16;
        assert!(products_exact(
            &[1.0, -0.0, 3.0e10],
            bf,
            &[0.5, 2.0e-20],
            bf
        ));
        // 2^-70 is below the bf16 x bf16 bound (2^-67).
        assert!(!products_exact(&[2f32.powi(-70)], bf, &[1.0], bf));
        assert!(!products_exact(&[2f32.powi(64)], bf, &[1.0], bf));
        assert!(!products_exact(&[f32::INFINITY], bf, &[1.0], bf));
        assert!(!products_exact(&[1.0], DType::Float32, &[1.0], bf));
        let e5 = DType::Float8E5M2;
        assert!(products_exact(
            &[e5.smallest_subnormal()],
            e5,
            &[e5.max()],
            e5
        ));
    }
}
