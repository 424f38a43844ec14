//! The fleet capacity scheduler: "when an anchor customer reserves gigawatts of the fleet,
//! what happens to everyone else?"
//!
//! A discrete-event simulation of a Trainium fleet (generations, UltraServers, clusters,
//! deliveries, failures) in which a scheduler allocates chips to tenants with quotas in a
//! cohort tree (Kueue's nominal, borrowing and lending limits), reservations in time with a ramp
//! and an exclusive part, priorities and spot usage. Jobs are gangs placed inside one
//! UltraServer or on whole UltraServers of one cluster. Policies: `policy::static_`,
//! `policy::kueue`, `policy::fair`, `policy::priority`, each with optional backfill, and
//! three ways of reclaiming lent capacity ([`reclaim`]). Demand comes from seeded generators or
//! trace replay. The semantics follow Kueue, Slurm and YARN as summarised in the scenario
//! format's documentation (`scenarios/README.md`).
//!
//! A run goes through five stages, each one room:
//!
//! 1. **File**: a scenario TOML as written, checked, with `--set` overrides ([`scenario`]).
//! 2. **Resolved scenario**: [`Scenario`], immutable and shared across seeds: the fleet
//!    ([`hardware`]), tenants and their quotas (`tenant`), demand streams ([`demand`],
//!    `trace`), workload run times (`workload`) and the policy (`policy`).
//! 3. **Engine**: [`sim::run_with`] draws the jobs (`demand::generate`, seeded by `rng`),
//!    books the Capacity Blocks requested ([`blocks`], against the `calendar`) and
//!    runs the event loop
//!    (`event`): admission, placement, preemption and reclaim ([`reclaim`]), asking the
//!    `policy::Policy` every policy question and keeping quota usage in the cohort tree
//!    ([`quota`]); per-(tenant, generation) state lives in `table::PerTenantGen`.
//! 4. **Recorder**: `account::Account`, fed by the engine's hooks (enqueue, start, stop,
//!    advance, sample), keeps the books and holds no scheduling state.
//! 5. **Report**: `account::Account::finish` gives the [`Outcome`] (`metrics`): per-tenant
//!    and fleet metrics and a time series, which the CLI writes as `summary.json` and
//!    `metrics.csv`.
//!
//! [`run`] is a pure function of a [`Scenario`] and a seed: same inputs, same bytes.
//!
//! ```
//! use trnsim::fleet::{self, Scenario};
//!
//! let text = r#"
//! horizon = "1d"
//! [fleet.generations.trn2]
//! [[fleet.deliveries]]
//! at = 0
//! generation = "trn2"
//! chips = 128
//! [tenants.a.quota.trn2]
//! nominal_chips = 128
//! [demand.a]
//! kind = "jobs"
//! tenant = "a"
//! jobs = [{ at = 0, chips = 64, run_time = "1h", count = 3 }]
//! "#;
//! let s = Scenario::from_toml(text, "doc.toml", ".".as_ref(), &[], &|_| unreachable!())?;
//! let out = fleet::run(&s, s.seed)?;
//! let a = &out.tenants[0];
//! // Two gangs of 64 run at once; the third waits an hour.
//! assert_eq!((a.jobs_completed, a.queue_delay_s.max), (3, 3600.0));
//! # Ok::<(), trnsim::fleet::Error>(())
//! ```

pub(crate) mod account;
pub mod blocks;
pub(crate) mod calendar;
pub mod demand;
pub mod error;
pub(crate) mod event;
pub mod hardware;
pub mod import;
pub(crate) mod job;
pub(crate) mod job_log;
pub(crate) mod metrics;
pub(crate) mod policy;
pub(crate) mod probe;
pub mod quota;
pub mod reclaim;
pub(crate) mod report;
pub(crate) mod rng;
pub mod scenario;
pub mod sim;
pub(crate) mod table;
pub(crate) mod tenant;
pub(crate) mod time;
pub(crate) mod trace;
pub(crate) mod workload;

pub use error::{Error, Result};
pub use job::{RunTime, SpeedupRunTime, WorkloadId};
pub use metrics::Outcome;
pub use scenario::Scenario;
pub use sim::RunOptions;
pub use workload::WorkloadRunTime;

/// Run a scenario with a seed: jobs given as run times run at the generations' speed-ups,
/// workload jobs as the chip simulator times them (a fresh memo: see [`run_timed`] to share
/// one).
pub fn run(scenario: &Scenario, seed: u64) -> Result<Outcome> {
    let table = WorkloadRunTime::build(scenario, &crate::workload::CostModel::new())?;
    run_timed(scenario, seed, &table, &RunOptions::default())
}

/// Run a scenario with a seed and its workload table ([`WorkloadRunTime::build`], once per
/// scenario however many seeds): the outcome reports the table it used.
pub fn run_timed(
    scenario: &Scenario,
    seed: u64,
    table: &WorkloadRunTime,
    opts: &RunOptions,
) -> Result<Outcome> {
    let mut out = sim::run_with(scenario, seed, table, opts)?;
    out.workloads = table.reports().to_vec();
    Ok(out)
}
