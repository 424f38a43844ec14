//! Jobs: what a tenant submits (an immutable [`JobSpec`]), and how long it runs on a generation
//! (the [`RunTime`] hook: [`SpeedupRunTime`] for jobs given as run times,
//! [`super::workload::WorkloadRunTime`] for jobs given as workloads, timed by the chip simulator).

use super::hardware::{GenId, Generation};
use super::tenant::TenantId;

/// Dense id of a job (its index in the run's arrival order).
pub(crate) type JobId = u32;

/// Dense id of a workload (its index in the scenario's `[workloads]`, file order).
pub type WorkloadId = u32;

/// A submitted job. Gang-scheduled: all `chips` at once or nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    pub tenant: TenantId,
    /// Submit time (s).
    pub submit_s: u64,
    /// Chips of the gang.
    pub chips: u32,
    /// The work: for a job given as a run time, its run time on the reference generation (s),
    /// i.e. work in chip-seconds / chips; for a workload job, its steps.
    pub work: u64,
    /// The workload it runs, if it was given as one (then `work` counts steps).
    pub workload: Option<WorkloadId>,
    /// Priority (higher runs first; preempts lower).
    pub priority: i32,
    /// May be preempted.
    pub preemptible: bool,
    /// Checkpoint interval (s): a preemption loses the work since the last one. 0 = never
    /// checkpoints (a preemption loses everything).
    pub checkpoint_s: u64,
    /// The generation it must run on, or any (tried in fleet order).
    pub generation: Option<GenId>,
}

/// Run time of (the rest of) a job on a generation. Work is counted in the job's own unit
/// (`JobSpec::work`: reference-seconds, or steps for a workload job), so a job that is
/// preempted on one generation and resumed on another keeps its progress.
pub trait RunTime: Send + Sync {
    /// Seconds to run `remaining` units of work of `job` on generation `gen_` (at least 1 for
    /// any positive work).
    fn run_s(&self, job: &JobSpec, gen_: GenId, generation: &Generation, remaining: f64) -> u64;

    /// Units of work done by running `elapsed_s` on generation `gen_` (the inverse).
    fn work_done(&self, job: &JobSpec, gen_: GenId, generation: &Generation, elapsed_s: u64)
    -> f64;

    /// The whole job's run time on the reference generation (s), for the demand a tenant
    /// submits (`chip_hours_demanded`).
    fn reference_s(&self, job: &JobSpec) -> f64 {
        job.work as f64
    }
}

/// Run time scales with the generation's speed-up.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpeedupRunTime;

impl RunTime for SpeedupRunTime {
    fn run_s(&self, _: &JobSpec, _: GenId, generation: &Generation, remaining: f64) -> u64 {
        if remaining <= 0.0 {
            return 0;
        }
        // Round to the nearest second (an exact reference run time stays exact at speed-up 1),
        // at least one second.
        ((remaining / generation.speedup).round() as u64).max(1)
    }

    fn work_done(&self, _: &JobSpec, _: GenId, generation: &Generation, elapsed_s: u64) -> f64 {
        elapsed_s as f64 * generation.speedup
    }
}
