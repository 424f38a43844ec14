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
}

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
    let plan = plan::build(program, hw, &usage.liveness);
    let schedule = sim::simulate(&plan, hw);
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
