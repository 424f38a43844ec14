//! The chip simulator: resource checks, the timing model and functional execution.
//!
//! [`check::check`] validates a [`Program`] against a [`Hardware`] preset; [`plan::build`] derives
//! the immutable timing plan (queues, costs, dependencies); [`sim::simulate`] runs it in integer
//! picoseconds; [`exec`] computes the values. Timing never looks at values, so a run with and
//! without data has the same timing by construction.

pub mod check;
mod error;
pub mod exec;
pub mod plan;
pub mod report;
pub mod sim;
pub mod timeline;

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

/// How [`run`] schedules its timing work. Every choice gives the same plan and schedule, bit for
/// bit: the simulator only ever waits for plan entries, it never runs ahead of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Pipeline {
    /// Two threads for programs of at least [`PIPELINE_MIN_INSTRS`] instructions when the machine
    /// has two cores; one otherwise.
    #[default]
    Auto,
    /// Plan, then simulate, on the calling thread.
    Serial,
    /// Build the plan on a second thread in parts of this many instructions while the calling
    /// thread simulates (any size; tests use small parts).
    Threaded(usize),
}

/// Below this many instructions a second thread costs more than it saves.
pub const PIPELINE_MIN_INSTRS: usize = 1 << 16;

/// Instructions per part of a streamed plan: large enough that handing parts over costs
/// nothing measurable, small enough that the simulator starts at once.
const PART_INSTRS: usize = 4096;

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

/// Check, plan, simulate and (with data) execute `program` on `hw`. `file` names the trace in errors.
pub fn run(
    program: &Program,
    hw: &Hardware,
    file: &str,
    inputs: &[(BufferId, Tensor)],
    opts: &RunOptions,
) -> Result<RunResult> {
    let usage = check::check(program, hw, file)?;
    let part = match opts.pipeline {
        Pipeline::Serial => None,
        Pipeline::Threaded(k) => Some(k),
        Pipeline::Auto => (program.instrs.len() >= PIPELINE_MIN_INSTRS
            && std::thread::available_parallelism().is_ok_and(|c| c.get() >= 2))
        .then_some(PART_INSTRS),
    };
    let (plan, schedule) = match part {
        None => {
            let plan = plan::build(program, hw, &usage.liveness);
            let schedule = sim::simulate(&plan, hw);
            (plan, schedule)
        }
        Some(k) => plan_and_simulate(program, hw, &usage.liveness, k),
    };
    let state = if opts.data {
        let mut state = exec::DataState::new(program, inputs)?;
        exec::execute(program, &mut state, &opts.exec)?;
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

/// Build the plan on a second thread, in parts of `part` instructions, while this thread
/// simulates what has arrived.
fn plan_and_simulate(
    program: &Program,
    hw: &Hardware,
    live: &check::Liveness,
    part: usize,
) -> (plan::Plan, sim::Schedule) {
    use std::sync::mpsc;
    let queue = plan::queues(program, hw);
    // A few parts in flight keep both threads busy; recycled parts bound the memory.
    let (tx, rx) = mpsc::sync_channel(4);
    let (recycle_tx, recycle_rx) = mpsc::channel();
    std::thread::scope(|s| {
        let q = &queue;
        let builder =
            s.spawn(move || plan::build_streamed(program, hw, live, q, part, tx, recycle_rx));
        let (mut plan, schedule) =
            sim::simulate_streamed(plan::Plan::streamed(queue.clone(), hw), hw, rx, recycle_tx);
        let totals = match builder.join() {
            Ok(t) => t,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        plan.set_totals(totals);
        (plan, schedule)
    })
}
