//! Building a program in code: buffers within the preset's SBUF and PSUM, DMA spread over the
//! engines, and the small tile helpers every lowering needs.

use crate::arch::Hardware;
use crate::isa::{
    AccessPattern, ActFunc, Activation, AluOp, Buffer, BufferId, DmaQueue, Engine, Init, Instr,
    Memory, Op, PartitionStep, Program, ReduceOp, Scalar, TensorScalar, Tile,
};
use crate::numerics::DType;

use super::{Error, Result};

/// What a DMA is for: each role gets its own queue on every engine, so a load that waits for its
/// slot to be free never blocks a store behind it (queues are in order, engines serve their
/// queues round-robin).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// Streamed operand loads.
    Load = 0,
    /// Resident (reused) operand loads.
    Resident = 1,
    /// Results back to HBM.
    Store = 2,
    /// Anything else.
    Other = 3,
}

/// A program under construction, with what it has taken of the core's memories.
pub(super) struct Builder<'h> {
    hw: &'h Hardware,
    kernel: String,
    program: Program,
    sbuf_bytes_per_partition: u64,
    psum_banks: u32,
    /// Seeds of the inputs' initializers, one per input in declaration order.
    seed: u64,
    /// Set when the program outgrew [`MAX_INSTRS`].
    truncated: bool,
}

/// Most instructions a lowering may emit (about 700 MB of program): absurd shapes are an error,
/// not an out-of-memory kill.
pub(super) const MAX_INSTRS: usize = 4_000_000;

impl<'h> Builder<'h> {
    /// A new program named `kernel` for `hw`; inputs are seeded from `seed`.
    pub(super) fn new(kernel: &str, hw: &'h Hardware, seed: u64) -> Builder<'h> {
        Builder {
            hw,
            kernel: kernel.to_string(),
            program: Program {
                name: kernel.to_string(),
                ..Default::default()
            },
            sbuf_bytes_per_partition: 0,
            psum_banks: 0,
            seed,
            truncated: false,
        }
    }

    pub(super) fn hw(&self) -> &'h Hardware {
        self.hw
    }

    /// SBUF bytes per partition not yet taken.
    pub(super) fn sbuf_free_bytes(&self) -> u64 {
        self.hw
            .sbuf
            .bytes_per_partition
            .saturating_sub(self.sbuf_bytes_per_partition)
    }

    /// An error saying the shape does not fit.
    pub(super) fn does_not_fit(&self, message: String) -> Error {
        Error::DoesNotFit {
            kernel: self.kernel.clone(),
            message,
        }
    }

    fn buffer(
        &mut self,
        name: &str,
        memory: Memory,
        dtype: DType,
        shape: &[usize],
        init: Init,
    ) -> BufferId {
        let id = BufferId(self.program.buffers.len() as u32);
        self.program.buffers.push(Buffer {
            name: name.to_string(),
            memory,
            dtype,
            shape: shape.to_vec(),
            init,
            line: 0,
            core: 0,
        });
        id
    }

    /// An HBM input `[rows, cols]`, seeded normal(0, 1) values (or given at run time).
    pub(super) fn input(&mut self, name: &str, dtype: DType, shape: &[usize]) -> BufferId {
        self.seed += 1;
        let init = Init::Normal {
            mean: 0.0,
            std: 1.0,
            seed: self.seed,
        };
        self.buffer(name, Memory::Hbm, dtype, shape, init)
    }

    /// An HBM input with a chosen initializer.
    pub(super) fn input_with(
        &mut self,
        name: &str,
        dtype: DType,
        shape: &[usize],
        init: Init,
    ) -> BufferId {
        self.buffer(name, Memory::Hbm, dtype, shape, init)
    }

    /// An HBM output (zeros until written).
    pub(super) fn output(&mut self, name: &str, dtype: DType, shape: &[usize]) -> BufferId {
        self.buffer(name, Memory::Hbm, dtype, shape, Init::Zeros)
    }

    /// An SBUF buffer of `free` elements on each of `partitions` partitions, if it fits beside
    /// what is already taken (every buffer is live for the whole kernel).
    pub(super) fn sbuf(
        &mut self,
        name: &str,
        dtype: DType,
        partitions: usize,
        free: usize,
    ) -> Result<BufferId> {
        let bytes = (free * dtype.size_bytes()) as u64;
        if bytes > self.sbuf_free_bytes() {
            return Err(self.does_not_fit(format!(
                "SBUF buffer '{name}' needs {bytes} bytes per partition; {} of {} are left",
                self.sbuf_free_bytes(),
                self.hw.sbuf.bytes_per_partition
            )));
        }
        self.sbuf_bytes_per_partition += bytes;
        Ok(self.buffer(
            name,
            Memory::Sbuf,
            dtype,
            &[partitions, free.max(1)],
            Init::Zeros,
        ))
    }

    /// A PSUM buffer of `banks` whole banks (fp32), if they are free.
    pub(super) fn psum(&mut self, name: &str, partitions: usize, banks: u32) -> Result<BufferId> {
        self.psum_typed(name, DType::Float32, partitions, banks)
    }

    /// A PSUM buffer of `banks` whole banks holding `dtype`: PE transposes write their input's
    /// dtype (bf16 into PSUM takes half the bank space and half the evacuation time of fp32).
    pub(super) fn psum_typed(
        &mut self,
        name: &str,
        dtype: DType,
        partitions: usize,
        banks: u32,
    ) -> Result<BufferId> {
        if self.psum_banks + banks > self.hw.psum.banks {
            return Err(self.does_not_fit(format!(
                "PSUM buffer '{name}' needs {banks} banks; {} of {} are left",
                self.hw.psum.banks - self.psum_banks,
                self.hw.psum.banks
            )));
        }
        self.psum_banks += banks;
        let bank_bytes = (self.hw.psum.bytes_per_partition / self.hw.psum.banks as u64) as usize;
        let free = banks as usize * bank_bytes / dtype.size_bytes();
        Ok(self.buffer(name, Memory::Psum, dtype, &[partitions, free], Init::Zeros))
    }

    /// Give a buffer's SBUF bytes or PSUM banks back, for buffers declared after this call: the
    /// caller uses `id` no more (a kernel in phases, such as mlp's two GEMMs). The chip's check
    /// still measures peak liveness, so a buffer used after its release is an error there, never
    /// a silent overcommit.
    pub(super) fn release(&mut self, id: BufferId) {
        let buf = self.program.buffer(id);
        match buf.memory {
            Memory::Sbuf => {
                self.sbuf_bytes_per_partition = self
                    .sbuf_bytes_per_partition
                    .saturating_sub(buf.row_bytes() as u64)
            }
            Memory::Psum => {
                let bank_bytes = self.hw.psum.bytes_per_partition / self.hw.psum.banks as u64;
                let banks = (buf.row_bytes() as u64).div_ceil(bank_bytes) as u32;
                self.psum_banks = self.psum_banks.saturating_sub(banks);
            }
            Memory::Hbm => {}
        }
    }

    /// fp32 elements per partition in one PSUM bank.
    pub(super) fn bank_elems(&self) -> usize {
        (self.hw.psum.bytes_per_partition / self.hw.psum.banks as u64) as usize / 4
    }

    /// Append an instruction.
    pub(super) fn push(&mut self, op: Op) {
        // A bound on memory before it is spent: past it, stop recording and fail at `finish`.
        if self.program.instrs.len() >= MAX_INSTRS {
            self.truncated = true;
            return;
        }
        let line = self.program.instrs.len() as u32 + 1;
        self.program.instrs.push(Instr { op, line });
    }

    /// A DMA copy spread over the DMA engines the way NKI kernels move a `[P, F]` tile (the DMA
    /// overview's example: a `[128, F]` transfer runs on all 16 engines, 8 partitions each):
    /// `min(engines, P)` transfers over consecutive partition ranges as even as possible, the
    /// first ones one partition larger, transfer `e` on engine `e`, on the role's queue. One
    /// queue would serve a tile's descriptors in order, so small tiles would be overhead-bound.
    pub(super) fn dma(&mut self, role: Role, dst: Tile, src: Tile) {
        for (e, (p0, n)) in dma_split(src.np(), self.hw.dma.engines as usize)
            .into_iter()
            .enumerate()
        {
            let (mut d, mut s) = (dst.clone(), src.clone());
            d.partition_start += p0 as u32;
            d.partition_count = n as u32;
            s.partition_start += p0 as u32;
            s.partition_count = n as u32;
            self.dma_on(role, e as u16, d, s);
        }
    }

    /// One DMA on engine `engine`, on the role's queue (loads, resident loads and stores on
    /// different queues so they overlap: queues run in order, engines serve them round-robin).
    fn dma_on(&mut self, role: Role, engine: u16, dst: Tile, src: Tile) {
        let queue = (role as u16).min((self.hw.dma.queues_per_engine as u16).max(1) - 1);
        self.push(Op::DmaCopy {
            dst,
            src,
            queue: DmaQueue { engine, queue },
        });
    }

    /// Run `f`, returning the instructions it emitted instead of appending them, so a lowering
    /// can software-pipeline: emit a stage of the next tile before the last stage of this one
    /// (engine queues are in order; a stage waiting on another engine would block its queue).
    pub(super) fn capture(&mut self, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<Vec<Op>> {
        let before = self.program.instrs.len();
        f(self)?;
        Ok(self.program.instrs.drain(before..).map(|i| i.op).collect())
    }

    /// Append captured instructions.
    pub(super) fn extend(&mut self, ops: Vec<Op>) {
        for op in ops {
            self.push(op);
        }
    }

    /// The program.
    pub(super) fn finish(self) -> Result<Program> {
        if self.truncated {
            return Err(self.does_not_fit(format!(
                "the lowered program would exceed {MAX_INSTRS} instructions; choose smaller shapes"
            )));
        }
        Ok(self.program)
    }
}

/// The partition ranges `(first, count)` a DMA of `np` partitions is split into over `engines`
/// DMA engines: `min(engines, np)` ranges, consecutive, as even as possible, the first
/// `np % parts` one larger (as the NKI front end splits them).
pub(super) fn dma_split(np: usize, engines: usize) -> Vec<(usize, usize)> {
    let parts = engines.max(1).min(np.max(1));
    let (q, extra) = (np / parts, np % parts);
    let mut p0 = 0;
    (0..parts)
        .map(|e| {
            let n = q + usize::from(e < extra);
            let r = (p0, n);
            p0 += n;
            r
        })
        .collect()
}

/// Partitions `p0..p0 + np`, elements `off..off + len` of each.
pub(super) fn tile(b: BufferId, p0: usize, np: usize, off: usize, len: usize) -> Tile {
    Tile::contiguous(b, p0 as u32..(p0 + np) as u32, off as u32, len as u32)
}

/// An HBM tile of a row-major `[rows, cols]` matrix: rows `r0..r0 + nr`, columns `c0..c0 + nc`.
pub(super) fn hbm_block(b: BufferId, r0: usize, nr: usize, c0: usize, nc: usize) -> Tile {
    tile(b, r0, nr, c0, nc)
}

/// The transpose of an HBM block of a row-major `[rows, cols]` matrix: partition `p` holds
/// column `c0 + p`, its elements rows `r0..r0 + nr` (a DMA transpose).
pub(super) fn hbm_block_t(
    b: BufferId,
    cols: usize,
    r0: usize,
    nr: usize,
    c0: usize,
    nc: usize,
) -> Tile {
    Tile {
        buffer: b,
        partition_start: c0 as u32,
        partition_count: nc as u32,
        partition_step: PartitionStep::new(1).expect("1 is a valid step"),
        ap: AccessPattern::new((r0 * cols) as u32, &[(cols as u32, nr as u32)]),
    }
}

/// fp8 double-row rows of an HBM `[rows, cols]` matrix: partition `p` holds rows
/// `r0 + 2p` and `r0 + 2p + 1`, columns `c0..c0 + nc` of each (`[2, nc]` row-major), for
/// `np` partitions. `r0` must be even.
pub(super) fn hbm_double_rows(
    b: BufferId,
    cols: usize,
    r0: usize,
    np: usize,
    c0: usize,
    nc: usize,
) -> Tile {
    debug_assert!(r0 % 2 == 0);
    Tile {
        buffer: b,
        partition_start: (r0 / 2) as u32,
        partition_count: np as u32,
        partition_step: PartitionStep::new((2 * cols) as u32).expect("step fits"),
        ap: AccessPattern::new(c0 as u32, &[(cols as u32, 2), (1, nc as u32)]),
    }
}

/// An SBUF tile whose partitions hold `[2, width]` rows and take `nc` columns from `c0` of each
/// row, `step` apart (the stationary operand of a double-row matmul out of a wider block).
pub(super) fn sbuf_double_rows(
    b: BufferId,
    np: usize,
    off: usize,
    width: usize,
    (c0, step): (usize, usize),
    nc: usize,
) -> Tile {
    Tile {
        buffer: b,
        partition_start: 0,
        partition_count: np as u32,
        partition_step: PartitionStep::ROW,
        ap: AccessPattern::new(
            (off + c0) as u32,
            &[(width as u32, 2), (step as u32, nc as u32)],
        ),
    }
}

/// `dst = (src op0 scalar0) op1 scalar1` on `engine`.
pub(super) fn tensor_scalar(
    engine: Engine,
    dst: Tile,
    src: Tile,
    op0: (AluOp, Scalar),
    op1: Option<(AluOp, Scalar)>,
) -> Op {
    Op::TensorScalar(Box::new(TensorScalar {
        engine,
        dst,
        src,
        op0,
        op1,
        reverse: [false; 2],
    }))
}

/// `dst = func(src * scale + bias)` on the Scalar engine, with an optional reduction.
pub(super) fn activation(
    func: ActFunc,
    dst: Tile,
    src: Tile,
    (scale, bias): (Scalar, Scalar),
    reduce: Option<(ReduceOp, Tile)>,
) -> Op {
    Op::Activation(Box::new(Activation {
        func,
        dst,
        src,
        scale,
        bias,
        reduce,
    }))
}

/// Which compute engine evacuates the `k`-th result: Vector and Scalar take turns, so both
/// drain PSUM while the tensor engine runs.
pub(super) fn evac_engine(k: usize) -> Engine {
    if k % 2 == 0 {
        Engine::Vector
    } else {
        Engine::Scalar
    }
}
