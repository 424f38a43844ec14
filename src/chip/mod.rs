//! The chip simulator: resource checks, the timing model and functional execution.
//!
//! [`check::check`] validates a [`Program`] against a [`Hardware`] preset (and, as it goes, puts
//! each instruction on its `queue`); [`plan::build`] derives the immutable timing plan (queues,
//! costs, dependencies); [`sim::simulate`] runs it in integer picoseconds; [`exec`] computes the
//! values. Timing never looks at values, so a run with and without data has the same timing by
//! construction.

pub mod check;
mod error;
pub mod exec;
pub(crate) mod features;
mod pages;
pub mod plan;
pub(crate) mod queue;
pub mod report;
pub mod schedule;
pub mod sim;
pub(crate) mod timeline;

pub use error::{Error, Result};

use crate::arch::Hardware;
use crate::isa::{BufferId, Program};
use crate::numerics::Tensor;

/// How to run a kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// Compute values (false: timing only, `--no-data`).
    pub data: bool,
    /// Rounding of the values written.
    pub exec: exec::ExecOptions,
    /// Whether planning and simulation overlap on two threads.
    pub pipeline: Pipeline,
}

/// How [`run`] schedules its timing work. Every choice gives the same checks, plan and schedule,
/// bit for bit: the checks of two halves of the program merge in order, and the simulator only
/// ever waits for plan entries, it never runs ahead of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pipeline {
    /// Two threads for programs of at least [`PIPELINE_MIN_INSTRS`] instructions when the machine
    /// has two cores; one otherwise.
    #[default]
    Auto,
    /// Plan, then simulate, on the calling thread.
    Serial,
    /// Build the plan on a second thread in parts of this many instructions (rounded up to a
    /// power of two) while the calling thread simulates (any size; tests use small parts).
    Threaded(usize),
}

/// Below this many instructions a second thread costs more than it saves.
pub const PIPELINE_MIN_INSTRS: usize = 1 << 16;

/// Everything one run produced.
pub struct RunResult {
    /// Capacity the program needed.
    pub usage: check::Usage,
    /// The timing plan.
    pub plan: plan::Plan,
    /// When everything ran.
    pub schedule: sim::Schedule,
    /// Final buffer values (None when run without data).
    pub state: Option<exec::DataState>,
}

/// The program in the order a compiler's list scheduling issues it ([`schedule`]): checked and
/// planned once as given, then permuted. `file` names the trace in errors.
pub fn compiler_order(
    program: &Program,
    hw: &Hardware,
    file: &str,
    window: usize,
) -> Result<Program> {
    let (usage, queue) = check::check_split(program, hw, file, 1)?;
    let plan = plan::build_on(program, hw, &usage.liveness, queue);
    Ok(schedule::reorder(
        program,
        &schedule::list_order(&plan, hw, window),
    ))
}

/// Check, plan, simulate and (with data) execute `program` on `hw`. `file` names the trace in errors.
pub fn run(
    program: &Program,
    hw: &Hardware,
    file: &str,
    inputs: &[(BufferId, Tensor)],
    opts: &RunOptions,
) -> Result<RunResult> {
    let part = match opts.pipeline {
        Pipeline::Serial => None,
        Pipeline::Threaded(k) => Some(k),
        Pipeline::Auto => (program.instrs.len() >= PIPELINE_MIN_INSTRS
            && std::thread::available_parallelism().is_ok_and(|c| c.get() >= 2))
        .then_some(plan::CHUNK_INSTRS),
    };
    // With two threads the checks split the program in halves too. Either way they work out
    // the queues as they go (a pass over a million instructions is mostly memory traffic).
    let n = format!("{} instructions", program.instrs.len());
    tracing::debug!(hw = %hw.name, threads = if part.is_some() { 2 } else { 1 }, "chip run");
    let stage = crate::stage::Stage::start("check");
    let (usage, queue) = check::check_split(program, hw, file, if part.is_some() { 2 } else { 1 })?;
    stage.done(&n);
    let barriers = barriers(program);
    let (plan, schedule) = match part {
        None => {
            let stage = crate::stage::Stage::start("plan");
            let plan = plan::build_on(program, hw, &usage.liveness, queue);
            stage.done(&n);
            let stage = crate::stage::Stage::start("simulate");
            let schedule = sim::simulate_with_barriers(&plan, hw, &barriers);
            stage.done(format_args!("{n}, {} ps simulated", schedule.total_ps));
            (plan, schedule)
        }
        Some(k) => {
            let stage = crate::stage::Stage::start("plan+simulate");
            let r = plan_and_simulate(program, hw, &usage.liveness, queue, k, &barriers);
            stage.done(format_args!("{n}, {} ps simulated", r.1.total_ps));
            r
        }
    };
    let state = if opts.data {
        let stage = crate::stage::Stage::start("execute");
        let mut state = exec::DataState::new(program, inputs)?;
        exec::execute(program, &mut state, &opts.exec)?;
        stage.done(format_args!("{n}, {} buffers", program.buffers.len()));
        Some(state)
    } else {
        None
    };
    Ok(RunResult {
        usage,
        plan,
        schedule,
        state,
    })
}

/// The `core_barrier` instructions, in program order (the simulator puts each in every physical
/// core's GpSimd queue).
pub fn barriers(program: &Program) -> Vec<u32> {
    program
        .instrs
        .iter()
        .enumerate()
        .filter(|(_, ins)| matches!(ins.op, crate::isa::Op::CoreBarrier { .. }))
        .map(|(i, _)| i as u32)
        .collect()
}

/// Build the plan on a second thread, in parts of `part` instructions, while this thread
/// simulates what has arrived.
fn plan_and_simulate(
    program: &Program,
    hw: &Hardware,
    live: &check::Liveness,
    queue: Vec<u16>,
    part: usize,
    barriers: &[u32],
) -> (plan::Plan, sim::Schedule) {
    use std::sync::mpsc;
    // The builder runs ahead as far as it can: the parts become the plan, so a bounded channel
    // would only make it wait.
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        let builder = s.spawn(move || plan::build_streamed(program, hw, live, part, tx));
        let (mut plan, schedule) =
            sim::simulate_streamed(plan::Plan::streamed(queue, part, hw), hw, rx, barriers);
        let totals = match builder.join() {
            Ok(t) => t,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        plan.set_totals(totals);
        (plan, schedule)
    })
}

/// `f` over `threads` contiguous slices of `0..n` at once (the first on this thread), results
/// in slice order; each call also gets its slice of `out` (`out` is empty or `n` long). One
/// slice (`0..n`, even when empty) for one thread.
pub(crate) fn in_slices<T: Send, O: Send>(
    n: usize,
    threads: usize,
    out: &mut [O],
    f: impl Fn(std::ops::Range<usize>, &mut [O]) -> T + Sync,
) -> Vec<T> {
    debug_assert!(out.is_empty() || out.len() == n);
    let threads = threads.clamp(1, n.max(1));
    if threads == 1 {
        return vec![f(0..n, out)];
    }
    let per = n.div_ceil(threads);
    let range = |t: usize| t * per..((t + 1) * per).min(n);
    let mut outs: Vec<&mut [O]> = if out.is_empty() {
        (0..threads).map(|_| <&mut [O]>::default()).collect()
    } else {
        out.chunks_mut(per).collect()
    };
    let first = std::mem::take(&mut outs[0]);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = outs
            .into_iter()
            .enumerate()
            .skip(1)
            .map(|(t, o)| s.spawn(move || f(range(t), o)))
            .collect();
        let mut results = vec![f(range(0), first)];
        results.extend(handles.into_iter().map(|h| match h.join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }));
        results
    })
}
