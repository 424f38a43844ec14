//! Queues: which in-order queue of the core runs each instruction.
//!
//! The checks work out every instruction's queue as they pass over the program (see
//! `check::check_split`); the plan takes them from there (or from [`queues`]), and the
//! simulator runs each queue in program order. Queues `0..FIRST_DMA` are the compute engines;
//! DMA queue `k` of engine `e` is `FIRST_DMA + e * dma.queues_per_engine + k`. With `lnc`
//! physical cores the queues of core `c` are those numbers plus `c * per_core(hw)`; an
//! instruction runs on the core of its on-chip operands (a cross-core `dma_copy` on the sender's).

use crate::arch::Hardware;
use crate::isa::{Engine, Memory, Op, Program};

/// Tensor engine queue (compute queues come first; DMA queues follow them).
pub(crate) const TENSOR: u16 = 0;
/// Vector engine queue.
pub(crate) const VECTOR: u16 = 1;
/// Scalar engine queue.
pub(crate) const SCALAR: u16 = 2;
/// GpSimd engine queue.
pub(crate) const GPSIMD: u16 = 3;
/// First DMA queue.
pub(crate) const FIRST_DMA: u16 = 4;

/// Number of queues of one physical core of `hw`: the compute engines' and every DMA engine's.
pub(crate) fn per_core(hw: &Hardware) -> usize {
    FIRST_DMA as usize + (hw.dma.engines * hw.dma.queues_per_engine) as usize
}

/// Number of queues of all `hw.lnc` physical cores running the kernel.
pub(crate) fn count(hw: &Hardware) -> usize {
    per_core(hw) * hw.lnc as usize
}

/// The core that runs an instruction: the core of its first on-chip operand (a cross-core
/// `dma_copy` reads the sender's SBUF first), 0 without one (a barrier, or HBM only).
pub(crate) fn core_of(program: &Program, op: &Op) -> u8 {
    op.reads()
        .iter()
        .chain(&op.writes())
        .map(|t| program.buffer(t.buffer))
        .find(|b| b.memory != Memory::Hbm)
        .map_or(0, |b| b.core)
}

/// The queue of an instruction that runs on `core`.
pub(crate) fn queue_on(op: &Op, hw: &Hardware, core: u8) -> u16 {
    queue_of(op, hw) + core as u16 * per_core(hw) as u16
}

/// The queue an instruction runs on, on core 0.
pub(crate) fn queue_of(op: &Op, hw: &Hardware) -> u16 {
    match op {
        Op::DmaCopy { queue, .. } => {
            FIRST_DMA + queue.engine * hw.dma.queues_per_engine as u16 + queue.queue
        }
        Op::Matmul { .. }
        | Op::MatmulTile(_)
        | Op::MatmulMx(_)
        | Op::TransposeBg { .. }
        | Op::Transpose { .. }
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
        | Op::Reciprocal { .. }
        | Op::TensorTensorScan(_)
        | Op::Exponential(_)
        | Op::CoreBarrier { .. } => match op.engine() {
            Engine::Tensor => TENSOR,
            Engine::Vector => VECTOR,
            Engine::Scalar => SCALAR,
            Engine::GpSimd => GPSIMD,
            Engine::Dma => unreachable!("only dma_copy runs on DMA"),
        },
    }
}

/// The queue of every instruction (the simulator needs them all before it starts, to know each
/// queue's order; a streamed plan sends the rest later).
pub(crate) fn queues(program: &Program, hw: &Hardware) -> Vec<u16> {
    program
        .instrs
        .iter()
        .map(|ins| queue_on(&ins.op, hw, core_of(program, &ins.op)))
        .collect()
}
