//! Resource and rule checks before a kernel runs: what the hardware cannot do is an error naming
//! the trace line and the limit, never a silent wrong answer.
//!
//! Capacity is checked at peak liveness: a buffer occupies SBUF (or PSUM banks) from its first to
//! its last use in program order, as a compiler's allocator would place it.

use crate::arch::Hardware;
use crate::isa::{
    Activation, Buffer, DmaQueue, Engine, Memory, Op, OpKind, Program, Scalar, TensorScalar, Tile,
    TileList,
};
use crate::numerics::DType;

use super::{Error, Result, features};

/// When each buffer is used, in program order (computed once, used by the capacity check and
/// by the timing plan to skip recording accesses that nothing later can conflict with).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Liveness {
    /// First instruction touching each buffer (`usize::MAX`: never used).
    pub first: Vec<usize>,
    /// Last instruction touching each buffer.
    pub last: Vec<usize>,
    /// Last instruction writing each buffer (None: never written).
    pub last_write: Vec<Option<usize>>,
}

/// What the checks measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Usage {
    /// Peak SBUF bytes per partition over the program (live buffers).
    pub sbuf_peak_bytes_per_partition: u64,
    /// Peak SBUF bytes over all partitions (live buffers).
    pub sbuf_peak_bytes: u64,
    /// Peak PSUM banks in use (live buffers).
    pub psum_peak_banks: u32,
    /// Buffer liveness.
    pub liveness: Liveness,
}

struct Ctx<'a> {
    program: &'a Program,
    hw: &'a Hardware,
    file: &'a str,
    /// Per buffer, what the checks ask of it for every tile (a [`Buffer`] keeps its shape on
    /// the heap, and a million-instruction trace has millions of tiles).
    info: Vec<BufInfo>,
}

#[derive(Clone, Copy)]
struct BufInfo {
    memory: Memory,
    dtype: DType,
    partitions: usize,
    row_elems: usize,
    elems: usize,
}

impl Ctx<'_> {
    fn err(&self, line: u32, message: String) -> Error {
        Error::Check {
            file: self.file.to_string(),
            line,
            message,
        }
    }

    fn buf(&self, t: &Tile) -> &Buffer {
        self.program.buffer(t.buffer)
    }

    fn info(&self, t: &Tile) -> &BufInfo {
        &self.info[t.buffer.0 as usize]
    }
}

/// Check every buffer and instruction of `program` against `hw`.
pub fn check(program: &Program, hw: &Hardware, file: &str) -> Result<Usage> {
    check_slices(program, hw, file, 1, &mut [])
}

/// [`check`] with the instructions split into `threads` contiguous slices checked at once (the
/// checks of one instruction never look at another's), also returning each instruction's queue
/// ([`super::queue::queues`]). The result, error included, is [`check`]'s: the first failing
/// instruction in program order is the one reported.
pub(crate) fn check_split(
    program: &Program,
    hw: &Hardware,
    file: &str,
    threads: usize,
) -> Result<(Usage, Vec<u16>)> {
    let mut queue = super::pages::filled(program.instrs.len(), 0);
    let usage = check_slices(program, hw, file, threads, &mut queue)?;
    Ok((usage, queue))
}

/// The checks, on `threads` slices; `queue` is empty or gets the queue of every instruction.
fn check_slices(
    program: &Program,
    hw: &Hardware,
    file: &str,
    threads: usize,
    queue: &mut [u16],
) -> Result<Usage> {
    let info = program
        .buffers
        .iter()
        .map(|b| BufInfo {
            memory: b.memory,
            dtype: b.dtype,
            partitions: b.partitions(),
            row_elems: b.row_elems(),
            elems: b.elems(),
        })
        .collect();
    let cx = Ctx {
        program,
        hw,
        file,
        info,
    };
    for b in &program.buffers {
        check_buffer(&cx, b)?;
    }
    check_hbm_total(&cx)?;
    let n = program.instrs.len();
    let live = super::in_slices(n, threads, queue, |r, q| check_instrs(&cx, r, q))
        .into_iter()
        .try_fold(None, |acc: Option<Liveness>, part| {
            let part = part?;
            Ok::<_, Error>(Some(match acc {
                None => part,
                Some(mut l) => {
                    l.merge_later(&part);
                    l
                }
            }))
        })?
        .unwrap_or_else(|| Liveness::new(program.buffers.len()));
    capacity(&cx, live)
}

impl Liveness {
    fn new(buffers: usize) -> Liveness {
        Liveness {
            first: vec![usize::MAX; buffers],
            last: vec![0; buffers],
            last_write: vec![None; buffers],
        }
    }

    /// Fold in the liveness of the instructions that follow.
    fn merge_later(&mut self, later: &Liveness) {
        for b in 0..self.first.len() {
            self.first[b] = self.first[b].min(later.first[b]);
            if later.first[b] != usize::MAX {
                self.last[b] = later.last[b];
            }
            if later.last_write[b].is_some() {
                self.last_write[b] = later.last_write[b];
            }
        }
    }
}

/// Check instructions `range`, measuring their liveness; fill `queue` (empty, or one entry per
/// instruction of the range) with their queues.
fn check_instrs(cx: &Ctx, range: std::ops::Range<usize>, queue: &mut [u16]) -> Result<Liveness> {
    let nb = cx.program.buffers.len();
    // Written at every tile while the other slice does the same on the other core. Three small
    // arrays here made the checks three times slower after a process had run many small
    // kernels (measured; where the allocator put them, most likely on cache lines the other
    // thread writes). One array, padded so no other allocation can share its lines, is immune.
    let mut track = vec![(usize::MAX, 0usize, usize::MAX); nb + 2 * PAD];
    let first = range.start;
    for (k, ins) in cx.program.instrs[range].iter().enumerate() {
        let i = first + k;
        let reads = ins.op.reads();
        let writes = ins.op.writes();
        // The partition-start rules are the engines' SBUF/PSUM ports'; DMA reaches any partition.
        let port = ins.op.engine() != Engine::Dma;
        for &t in reads.iter().chain(&writes) {
            check_tile(cx, ins.line, t, port)?;
            let e = &mut track[PAD + t.buffer.0 as usize];
            e.0 = e.0.min(i);
            e.1 = i;
        }
        for t in &writes {
            track[PAD + t.buffer.0 as usize].2 = i;
        }
        check_op(cx, ins.line, &ins.op, (&reads, &writes))?;
        let core = check_core(cx, ins.line, &ins.op, (&reads, &writes))?;
        if let Some(q) = queue.get_mut(k) {
            *q = super::queue::queue_on(&ins.op, cx.hw, core);
        }
    }
    let track = &track[PAD..PAD + nb];
    Ok(Liveness {
        first: track.iter().map(|e| e.0).collect(),
        last: track.iter().map(|e| e.1).collect(),
        last_write: track
            .iter()
            .map(|e| (e.2 != usize::MAX).then_some(e.2))
            .collect(),
    })
}

/// Elements of padding on each side of a slice's liveness array (3 x 8 x 8 = 192 bytes: more
/// than a cache line and its prefetched neighbour).
const PAD: usize = 8;

/// The core that runs an instruction ([`super::queue::core_of`]): its on-chip operands all on
/// one core, but for a `dma_copy` from one core's SBUF to the other's (NKI's `sendrecv`).
fn check_core(cx: &Ctx, line: u32, op: &Op, rw: (&TileList, &TileList)) -> Result<u8> {
    let core = super::queue::core_of(cx.program, op);
    if matches!(op, Op::DmaCopy { .. }) {
        return Ok(core);
    }
    for &t in rw.0.iter().chain(rw.1) {
        let b = cx.buf(t);
        if b.memory != Memory::Hbm && b.core != core {
            return Err(cx.err(line, format!(
                "{} mixes on-chip buffers of cores {core} and {} ('{}'); only a dma_copy moves data between cores",
                op.opcode(), b.core, b.name
            )));
        }
    }
    Ok(core)
}

/// All HBM buffers together fit the chip's HBM (each alone is checked by [`check_buffer`]); the
/// error is at the declaration that goes over.
fn check_hbm_total(cx: &Ctx) -> Result<()> {
    let mut total = 0u64;
    for b in cx
        .program
        .buffers
        .iter()
        .filter(|b| b.memory == Memory::Hbm)
    {
        let bytes = (b.elems() as u64).saturating_mul(b.dtype.size_bytes() as u64);
        total = total.saturating_add(bytes);
        if total > cx.hw.chip.hbm_bytes {
            return Err(cx.err(
                b.line,
                format!(
                    "buffer '{}' brings the HBM buffers to {total} bytes; the chip has {} \
                     (chip.hbm_bytes; --hw-set chip.hbm_bytes=N to model a larger one)",
                    b.name, cx.hw.chip.hbm_bytes
                ),
            ));
        }
    }
    Ok(())
}

fn check_buffer(cx: &Ctx, b: &Buffer) -> Result<()> {
    if b.core as u32 >= cx.hw.lnc {
        return Err(cx.err(
            b.line,
            format!(
                "buffer '{}' is on core {}, but the kernel runs on {} physical core(s) (lnc = {} on {}; --hw-set lnc=2 where chip.lnc_max allows)",
                b.name, b.core, cx.hw.lnc, cx.hw.lnc, cx.hw.name
            ),
        ));
    }
    let (limit, what) = match b.memory {
        Memory::Sbuf => (cx.hw.sbuf.partitions as usize, "sbuf.partitions"),
        Memory::Psum => (cx.hw.psum.partitions as usize, "psum.partitions"),
        Memory::Hbm => {
            let bytes = b.elems() as u64 * b.dtype.size_bytes() as u64;
            if bytes > cx.hw.chip.hbm_bytes {
                return Err(cx.err(
                    b.line,
                    format!(
                        "buffer '{}' needs {bytes} bytes of HBM; the chip has {} (chip.hbm_bytes)",
                        b.name, cx.hw.chip.hbm_bytes
                    ),
                ));
            }
            return Ok(());
        }
    };
    if b.partitions() > limit {
        return Err(cx.err(
            b.line,
            format!(
                "buffer '{}' has {} partitions; the limit is {limit} ({what})",
                b.name,
                b.partitions()
            ),
        ));
    }
    Ok(())
}

fn check_tile(cx: &Ctx, line: u32, t: &Tile, port: bool) -> Result<()> {
    let bi = cx.info(t);
    if t.np() == 0 || t.ap.is_empty() {
        return Err(cx.err(line, format!("tile of '{}' is empty", cx.buf(t).name)));
    }
    match bi.memory {
        Memory::Hbm => {
            let step = t.partition_step.or_row(bi.row_elems);
            let last = (t.p0() + t.np() - 1) * step + t.ap.end();
            if last > bi.elems {
                let b = cx.buf(t);
                return Err(cx.err(
                    line,
                    format!(
                        "tile of '{}' reaches element {last} but the buffer has {} elements",
                        b.name,
                        b.elems()
                    ),
                ));
            }
        }
        Memory::Sbuf | Memory::Psum => {
            let b = || cx.buf(t);
            if t.p0() + t.np() > bi.partitions {
                let b = b();
                return Err(cx.err(
                    line,
                    format!(
                        "tile of '{}' covers partitions {}..{} but the buffer has {}",
                        b.name,
                        t.p0(),
                        t.p0() + t.np(),
                        b.partitions()
                    ),
                ));
            }
            if t.ap.end() > bi.row_elems {
                let b = b();
                return Err(cx.err(line, format!(
                    "tile of '{}' reaches element {} of a partition but the buffer has {} per partition",
                    b.name, t.ap.end(), b.row_elems()
                )));
            }
            // Partition-start rules of the engines' SBUF/PSUM ports [ARCH-V2].
            let (s, n) = (t.p0(), t.np());
            let ok = match n {
                65.. => s == 0,
                33..=64 => s == 0 || s == 64,
                _ => s % 32 == 0,
            };
            if port && !ok {
                let b = b();
                return Err(cx.err(line, format!(
                    "tile of '{}' starts at partition {s} with {n} partitions; a tile over 64 partitions must start at 0, 33-64 at 0 or 64, up to 32 at 0/32/64/96",
                    b.name
                )));
            }
        }
    }
    Ok(())
}

fn mem_of(cx: &Ctx, t: &Tile) -> Memory {
    cx.info(t).memory
}

fn dtype_of(cx: &Ctx, t: &Tile) -> DType {
    cx.info(t).dtype
}

/// Whether `t` is in one of the `allowed` memories. Runs for every operand of every
/// instruction: the check is inlined, the error (rare) built out of line.
#[inline]
fn need_mem(cx: &Ctx, line: u32, op: &str, role: &str, t: &Tile, allowed: &[Memory]) -> Result<()> {
    if allowed.contains(&mem_of(cx, t)) {
        Ok(())
    } else {
        wrong_mem(cx, line, op, role, t, allowed)
    }
}

#[cold]
#[inline(never)]
fn wrong_mem(
    cx: &Ctx,
    line: u32,
    op: &str,
    role: &str,
    t: &Tile,
    allowed: &[Memory],
) -> Result<()> {
    let m = mem_of(cx, t);
    let names: Vec<&str> = allowed.iter().map(|m| m.name()).collect();
    Err(cx.err(
        line,
        format!(
            "{op} {role} '{}' is in {}; expected {}",
            cx.buf(t).name,
            m.name(),
            names.join(" or ")
        ),
    ))
}

fn same_shape(cx: &Ctx, line: u32, op: &str, a: &Tile, b: &Tile) -> Result<()> {
    if a.np() != b.np() || a.free_size() != b.free_size() {
        return Err(cx.err(
            line,
            format!(
                "{op}: '{}' is [{}, {}] but '{}' is [{}, {}]",
                cx.buf(a).name,
                a.np(),
                a.free_size(),
                cx.buf(b).name,
                b.np(),
                b.free_size()
            ),
        ));
    }
    Ok(())
}

fn per_partition(cx: &Ctx, line: u32, op: &str, s: &Scalar, parts: usize) -> Result<()> {
    if let Scalar::PerPartition(t) = s
        && (t.free_size() != 1 || t.np() != parts)
    {
        return Err(cx.err(
            line,
            format!(
                "{op}: per-partition scalar '{}' must be [{parts}, 1], found [{}, {}]",
                cx.buf(t).name,
                t.np(),
                t.free_size()
            ),
        ));
    }
    Ok(())
}

/// `rw` is the instruction's (reads, writes).
fn check_op(cx: &Ctx, line: u32, op: &Op, rw: (&TileList, &TileList)) -> Result<()> {
    use Memory::*;
    let name = op.opcode();
    let onchip = [Sbuf, Psum];
    let engine = op.engine();
    // Operands of the compute engines are on chip (a barrier's is the HBM it guards).
    if engine != Engine::Dma && !matches!(op, Op::CoreBarrier { .. }) {
        for &t in rw.0.iter().chain(rw.1) {
            need_mem(cx, line, name, "operand", t, &onchip)?;
        }
    }
    if !op.kind().engines().contains(&engine) {
        return Err(cx.err(
            line,
            format!("{name} cannot run on the {} engine", engine.name()),
        ));
    }
    match op {
        Op::DmaCopy { dst, src, queue } => check_dma(cx, line, dst, src, queue)?,
        Op::Matmul {
            dst,
            stationary,
            moving,
            ..
        } => check_matmul(cx, line, dst, stationary, moving)?,
        Op::Transpose { engine, dst, src } => check_transpose(cx, line, *engine, dst, src)?,
        Op::MatmulTile(t) => {
            let rows = double_rows(cx.program, cx.hw, &t.stationary, &t.moving, &t.dst);
            let (k, m) = (t.stationary.np(), t.dst.np());
            features::check_tile(cx.hw, &t.tile, k, m, rows == 2).map_err(|e| cx.err(line, e))?;
            check_matmul(cx, line, &t.dst, &t.stationary, &t.moving)?
        }
        Op::MatmulMx(t) => features::check_mx(cx.hw, cx.program, t).map_err(|e| cx.err(line, e))?,
        Op::TransposeBg { dst, src } => {
            features::check_background(cx.hw).map_err(|e| cx.err(line, e))?;
            check_transpose(cx, line, Engine::Tensor, dst, src)?
        }
        Op::Reciprocal { dst, src } => same_shape(cx, line, name, dst, src)?,
        Op::Exponential(e) => {
            features::check_exponential(cx.hw).map_err(|m| cx.err(line, m))?;
            same_shape(cx, line, name, &e.dst, &e.src)?;
            per_partition(cx, line, name, &e.max_value, e.src.np())?;
            if let Some(r) = &e.reduce_dst
                && (r.np() != e.src.np() || r.free_size() != 1)
            {
                let msg = format!("exponential reduce_dst must be [{}, 1]", e.src.np());
                return Err(cx.err(line, msg));
            }
        }
        Op::TensorTensorScan(s) => {
            same_shape(cx, line, name, &s.dst, &s.a)?;
            same_shape(cx, line, name, &s.dst, &s.b)?;
            per_partition(cx, line, name, &s.initial, s.a.np())?;
        }
        Op::Activation(a) => {
            let Activation {
                dst,
                src,
                scale,
                bias,
                reduce,
                ..
            } = &**a;
            same_shape(cx, line, name, dst, src)?;
            per_partition(cx, line, name, scale, src.np())?;
            per_partition(cx, line, name, bias, src.np())?;
            if let Some((_, r)) = reduce
                && (r.np() != src.np() || r.free_size() != 1)
            {
                return Err(cx.err(
                    line,
                    format!("activation reduce destination must be [{}, 1]", src.np()),
                ));
            }
        }
        Op::TensorTensor { dst, a, b, .. } => {
            same_shape(cx, line, name, dst, a)?;
            same_shape(cx, line, name, dst, b)?;
        }
        Op::TensorScalar(ts) => {
            let TensorScalar {
                dst, src, op0, op1, ..
            } = &**ts;
            same_shape(cx, line, name, dst, src)?;
            per_partition(cx, line, name, &op0.1, src.np())?;
            if let Some((_, s)) = op1 {
                per_partition(cx, line, name, s, src.np())?;
            }
        }
        Op::TensorReduce { dst, src, .. } => reduced_shape(cx, line, name, dst, src, 1)?,
        Op::TensorCopy { dst, src, .. } | Op::AffineSelect { dst, src, .. } => {
            same_shape(cx, line, name, dst, src)?
        }
        Op::BnStats { dst, src } => reduced_shape(cx, line, name, dst, src, 3)?,
        Op::BnAggr { dst, src } => {
            if src.free_size() % 3 != 0 {
                return Err(cx.err(
                    line,
                    format!(
                        "bn_aggr source free size {} is not a multiple of 3 (count, mean, m2)",
                        src.free_size()
                    ),
                ));
            }
            reduced_shape(cx, line, name, dst, src, 2)?;
        }
        Op::CoreBarrier { data } => need_mem(cx, line, name, "data", data, &[Hbm])?,
        Op::Memset { .. } | Op::Iota { .. } => {}
    }
    Ok(())
}

/// `dma_copy`: HBM or SBUF on both sides, as many elements out as in, a queue the core has.
fn check_dma(cx: &Ctx, line: u32, dst: &Tile, src: &Tile, queue: &DmaQueue) -> Result<()> {
    use Memory::*;
    let name = OpKind::DmaCopy.name();
    need_mem(cx, line, name, "source", src, &[Hbm, Sbuf])?;
    need_mem(cx, line, name, "destination", dst, &[Hbm, Sbuf])?;
    if src.elems() != dst.elems() {
        return Err(cx.err(
            line,
            format!(
                "dma_copy moves {} elements from '{}' into {} of '{}'",
                src.elems(),
                cx.buf(src).name,
                dst.elems(),
                cx.buf(dst).name
            ),
        ));
    }
    let d = &cx.hw.dma;
    if queue.engine as u32 >= d.engines || queue.queue as u32 >= d.queues_per_engine {
        return Err(cx.err(line, format!(
            "dma queue {}.{} does not exist; the core has {} engines (dma.engines) of {} queues (dma.queues_per_engine)",
            queue.engine, queue.queue, d.engines, d.queues_per_engine
        )));
    }

    Ok(())
}

/// `matmul`: inputs in SBUF of compatible dtypes, the PE array's limits on K, M and N, and a
/// destination within one PSUM bank.
fn check_matmul(cx: &Ctx, line: u32, dst: &Tile, stationary: &Tile, moving: &Tile) -> Result<()> {
    use Memory::*;
    let name = OpKind::Matmul.name();
    need_mem(cx, line, name, "stationary", stationary, &[Sbuf])?;
    need_mem(cx, line, name, "moving", moving, &[Sbuf])?;
    need_mem(cx, line, name, "destination", dst, &[Psum])?;
    let (ds, dm) = (dtype_of(cx, stationary), dtype_of(cx, moving));
    if (ds == DType::Float32) != (dm == DType::Float32) {
        return Err(cx.err(
            line,
            format!("matmul mixes {ds} and {dm}; fp32 inputs go only with fp32"),
        ));
    }
    if matches!(
        (ds, dm),
        (DType::Float8E4M3, DType::Float8E4M3Fn) | (DType::Float8E4M3Fn, DType::Float8E4M3)
    ) {
        return Err(cx.err(
            line,
            "matmul mixes float8_e4m3 and float8_e4m3fn; they cannot share a matmul".into(),
        ));
    }
    let pe = &cx.hw.pe;
    let k = stationary.np();
    if moving.np() != k {
        let msg = format!(
            "matmul contracts over partitions: stationary has {k}, moving has {}",
            moving.np()
        );
        return Err(cx.err(line, msg));
    }
    if k > pe.contraction_max as usize {
        let msg = format!(
            "matmul contraction K = {k} partitions exceeds {} (pe.contraction_max)",
            pe.contraction_max
        );
        return Err(cx.err(line, msg));
    }
    // The product is the destination's [M, N]; in fp8 double-row mode each partition of
    // the inputs carries two K-rows, so their free sizes are 2M and 2N.
    let (m, n) = (dst.np(), dst.free_size());
    let rows = double_rows(cx.program, cx.hw, stationary, moving, dst);
    if stationary.free_size() != rows * m || moving.free_size() != rows * n {
        let how = if rows == 2 {
            " in fp8 double-row mode (two K-rows per partition)"
        } else {
            ""
        };
        let msg = format!(
            "matmul into a [{m}, {n}] destination needs stationary [{k}, {}] and moving [{k}, {}]{how}, found [{k}, {}] and [{k}, {}]",
            rows * m,
            rows * n,
            stationary.free_size(),
            moving.free_size()
        );
        return Err(cx.err(line, msg));
    }
    if m > pe.stationary_free_max as usize {
        let msg = format!(
            "matmul stationary free size {m} exceeds {} (pe.stationary_free_max)",
            pe.stationary_free_max
        );
        return Err(cx.err(line, msg));
    }
    features::check_moving_free(cx.hw, n, dtype_of(cx, dst)).map_err(|m| cx.err(line, m))?;
    let bank_elems = cx.hw.psum.bytes_per_partition as usize
        / cx.hw.psum.banks as usize
        / dtype_of(cx, dst).size_bytes();
    let wide = features::wide_moving(cx.hw);
    if !wide && dst.ap.offset as usize / bank_elems != (dst.ap.end() - 1) / bank_elems {
        return Err(cx.err(line, format!("matmul destination spans two PSUM banks; a bank holds {bank_elems} {} per partition", dtype_of(cx, dst))));
    }

    Ok(())
}

/// Most partitions, and elements per partition, of a vector-engine transpose (NKI's
/// `nc_transpose(engine=vector)`: 32 x 32 blocks).
const VECTOR_TRANSPOSE_MAX: usize = 32;

/// `transpose`: the destination the source's shape turned; on the tensor engine SBUF into PSUM
/// within the PE array, on the vector engine SBUF to SBUF within 32 x 32.
fn check_transpose(cx: &Ctx, line: u32, engine: Engine, dst: &Tile, src: &Tile) -> Result<()> {
    use Memory::*;
    let name = OpKind::Transpose.name();
    let vector = engine == Engine::Vector;
    need_mem(cx, line, name, "source", src, &[Sbuf])?;
    need_mem(
        cx,
        line,
        name,
        "destination",
        dst,
        if vector { &[Sbuf] } else { &[Psum] },
    )?;
    if dst.np() != src.free_size() || dst.free_size() != src.np() {
        return Err(cx.err(
            line,
            format!(
                "transpose of [{}, {}] needs a [{}, {}] destination, found [{}, {}]",
                src.np(),
                src.free_size(),
                src.free_size(),
                src.np(),
                dst.np(),
                dst.free_size()
            ),
        ));
    }
    if vector && (src.np() > VECTOR_TRANSPOSE_MAX || src.free_size() > VECTOR_TRANSPOSE_MAX) {
        return Err(cx.err(
            line,
            format!(
                "vector transpose of [{}, {}] exceeds {VECTOR_TRANSPOSE_MAX} x \
                 {VECTOR_TRANSPOSE_MAX} (the vector engine transposes 32 partitions by 32 \
                 elements at most)",
                src.np(),
                src.free_size()
            ),
        ));
    }
    let lim = cx.hw.pe.stationary_free_max as usize;
    if src.free_size() > lim {
        return Err(cx.err(
            line,
            format!(
                "transpose free size {} exceeds {lim} (pe.stationary_free_max)",
                src.free_size()
            ),
        ));
    }

    Ok(())
}

/// K-rows per partition of a matmul's inputs: 2 in fp8 double-row mode (both inputs fp8, the
/// preset has the mode, and the inputs are twice as wide as the destination), else 1.
pub(crate) fn double_rows(
    p: &Program,
    hw: &Hardware,
    stationary: &Tile,
    moving: &Tile,
    dst: &Tile,
) -> usize {
    let fp8 = |t: &Tile| p.buffer(t.buffer).dtype.is_fp8();
    let wide = stationary.free_size() == 2 * dst.np() && moving.free_size() == 2 * dst.free_size();
    if hw.pe.fp8_double_row && fp8(stationary) && fp8(moving) && wide {
        2
    } else {
        1
    }
}

fn reduced_shape(cx: &Ctx, line: u32, op: &str, dst: &Tile, src: &Tile, free: usize) -> Result<()> {
    if dst.np() != src.np() || dst.free_size() != free {
        return Err(cx.err(
            line,
            format!(
                "{op} destination must be [{}, {free}], found [{}, {}]",
                src.np(),
                dst.np(),
                dst.free_size()
            ),
        ));
    }
    Ok(())
}

/// Peak live SBUF bytes per partition and PSUM banks of every physical core (each has its own),
/// checked against the preset; the peaks reported are the largest core's.
fn capacity(cx: &Ctx, live: Liveness) -> Result<Usage> {
    let mut usage = Usage::default();
    for core in 0..cx.hw.lnc as u8 {
        capacity_of(cx, &live, core, &mut usage)?;
    }
    usage.liveness = live;
    Ok(usage)
}

/// [`capacity`] of the buffers of one core.
fn capacity_of(cx: &Ctx, live: &Liveness, core: u8, usage: &mut Usage) -> Result<()> {
    let p = cx.program;
    let (first, last) = (&live.first, &live.last);
    let on = if cx.hw.lnc > 1 {
        format!(" on core {core}")
    } else {
        String::new()
    };
    let bank_bytes = cx.hw.psum.bytes_per_partition / cx.hw.psum.banks as u64;
    let mut sbuf_events: Vec<(usize, i64, i64, u32)> = Vec::new(); // (instr, +/-bytes/partition, +/-bytes, line)
    let mut psum_events: Vec<(usize, i64, u32)> = Vec::new();
    for (b, buf) in p.buffers.iter().enumerate() {
        if first[b] == usize::MAX || buf.core != core {
            continue;
        }
        match buf.memory {
            Memory::Sbuf => {
                let pp = buf.row_bytes() as i64;
                let all = pp * buf.partitions() as i64;
                sbuf_events.push((first[b], pp, all, buf.line));
                sbuf_events.push((last[b] + 1, -pp, -all, buf.line));
            }
            Memory::Psum => {
                let banks = (buf.row_bytes() as u64).div_ceil(bank_bytes) as i64;
                psum_events.push((first[b], banks, buf.line));
                psum_events.push((last[b] + 1, -banks, buf.line));
            }
            Memory::Hbm => {}
        }
    }
    // Frees sort before allocations at the same instruction index.
    sbuf_events.sort_by_key(|e| (e.0, e.1));
    psum_events.sort_by_key(|e| (e.0, e.1));
    let (mut pp, mut all) = (0i64, 0i64);
    let cap = cx.hw.sbuf.bytes_per_partition as i64;
    for (i, d_pp, d_all, line) in sbuf_events {
        pp += d_pp;
        all += d_all;
        if pp > cap {
            let at = p.instrs.get(i).map_or(line, |ins| ins.line);
            return Err(cx.err(at, format!("SBUF{on} needs {pp} bytes per partition here (live buffers); the limit is {cap} (sbuf.bytes_per_partition)")));
        }
        usage.sbuf_peak_bytes_per_partition = usage.sbuf_peak_bytes_per_partition.max(pp as u64);
        usage.sbuf_peak_bytes = usage.sbuf_peak_bytes.max(all as u64);
    }
    let mut banks = 0i64;
    for (i, d, line) in psum_events {
        banks += d;
        if banks > cx.hw.psum.banks as i64 {
            let at = p.instrs.get(i).map_or(line, |ins| ins.line);
            return Err(cx.err(
                at,
                format!(
                    "PSUM{on} needs {banks} banks here (live buffers); the limit is {} (psum.banks)",
                    cx.hw.psum.banks
                ),
            ));
        }
        usage.psum_peak_banks = usage.psum_peak_banks.max(banks as u32);
    }
    Ok(())
}
