//! What a run reports: per-tenant job counts, chip-hours, delays, preemptions, reservation
//! honour, borrowing and lending, reclaim times; fleet utilization, idle reserved capacity and
//! fragmentation; and a time series. Keys are documented in `scenarios/README.md`.

use serde::Serialize;
use serde_json::Value;

use super::workload::WorkloadReport;

/// Percentiles of a sample (nearest rank), in the sample's unit.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Number of values.
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// Of a list of values (sorted here).
    pub fn of(values: &mut [f64]) -> Percentiles {
        if values.is_empty() {
            return Percentiles::default();
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let at = |p: f64| values[((p / 100.0 * n as f64).ceil() as usize).clamp(1, n) - 1];
        Percentiles {
            count: n as u64,
            mean: values.iter().sum::<f64>() / n as f64,
            p50: at(50.0),
            p90: at(90.0),
            p99: at(99.0),
            max: values[n - 1],
        }
    }
}

/// Per-tenant results.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TenantMetrics {
    pub tenant: String,
    /// Jobs submitted before the horizon.
    pub jobs_submitted: u64,
    /// Jobs that started at least once.
    pub jobs_started: u64,
    /// Jobs that completed.
    pub jobs_completed: u64,
    /// Jobs rejected at submission (larger than any capacity or quota they could ever get).
    pub jobs_rejected: u64,
    /// Jobs waiting at the horizon.
    pub jobs_queued: u64,
    /// Jobs running at the horizon.
    pub jobs_running: u64,
    /// Chip-hours of work submitted (on the reference generation).
    pub chip_hours_demanded: f64,
    /// Chip-hours allocated (integral of the tenant's allocated chips; includes lost work).
    pub chip_hours_served: f64,
    /// Chip-hours allocated, summed job by job (equals `chip_hours_served`: a conservation check).
    pub chip_hours_accounted: f64,
    /// Queueing delay: first start minus submission (s), started jobs.
    pub queue_delay_s: Percentiles,
    /// Job completion time: completion minus submission (s), completed jobs.
    pub jct_s: Percentiles,
    /// Bounded slowdown: completion time / max(uninterrupted run time, 10 s).
    pub slowdown: Percentiles,
    /// Uninterrupted run time of completed jobs on the generation they finished on (s).
    pub run_time_s: Percentiles,
    /// Preemptions suffered (including kills by hardware failures).
    pub preemptions: u64,
    /// Of which by hardware failures.
    pub failure_kills: u64,
    /// Chip-hours of work lost to preemptions and failures (since the last checkpoint).
    pub chip_hours_lost: f64,
    /// Share of the time with a reservation in force in which the tenant had
    /// min(demand, reservation) (`null` without a reservation).
    pub reservation_honoured: Option<f64>,
    /// Reservation in force, time-averaged over its window (chips).
    pub reserved_chips_mean: f64,
    /// Chip-hours used beyond nominal quota.
    pub chip_hours_borrowed: f64,
    /// Chip-hours of this tenant's idle lendable quota used by borrowers (borrowed chips
    /// attributed to lenders in proportion to their idle lendable quota).
    pub chip_hours_lent: f64,
    /// Time from the moment a job first needed preemptions to its start (s).
    pub reclaim_s: Percentiles,
}

/// Fleet-wide results.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FleetMetrics {
    /// Chips installed at the horizon.
    pub chips_installed: u64,
    /// Facility gigawatts of the chips installed at the horizon.
    pub gw_installed: f64,
    /// Chip-hours installed over the run.
    pub chip_hours_installed: f64,
    /// Chip-hours up (installed and not failed).
    pub chip_hours_up: f64,
    /// Chip-hours allocated to jobs.
    pub chip_hours_allocated: f64,
    /// Allocated / up.
    pub utilization: f64,
    /// Chip-hours of reserved capacity neither used by its owner nor lent out.
    pub chip_hours_idle_reserved: f64,
    /// Time-mean of free chips that cannot host the smallest waiting gang (sampled).
    pub fragmented_chips_mean: f64,
    /// Time-mean of fragmented / free chips when some job waits (sampled).
    pub fragmentation: f64,
    /// Hardware failures.
    pub failures: u64,
    /// Events processed.
    pub events: u64,
}

/// One row of the time series.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Sample {
    pub time_s: u64,
    /// Tenant name, or `*fleet*`.
    pub series: String,
    /// Chips installed (fleet rows).
    pub chips_installed: u64,
    /// Chips up (fleet rows).
    pub chips_up: u64,
    pub chips_allocated: u64,
    /// Nominal quota, reservation included (tenant rows).
    pub chips_nominal: u64,
    /// Reservation in force.
    pub chips_reserved: u64,
    /// Chips used beyond nominal.
    pub chips_borrowed: u64,
    /// Jobs waiting.
    pub jobs_queued: u64,
    /// Chips waiting jobs ask for.
    pub chips_queued: u64,
    /// Free chips that cannot host the smallest waiting gang (fleet rows).
    pub chips_fragmented: u64,
}

/// Everything a run reports.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Outcome {
    /// Scenario name: the file's `name`, else the file's stem.
    pub scenario: String,
    /// Name of the policy that scheduled the run (`fair`, `kueue`, ...).
    pub policy: String,
    /// Seed of the run.
    pub seed: u64,
    /// Simulated time span (s); rates and utilizations are over it.
    pub horizon_s: u64,
    /// Per tenant, in scenario order.
    pub tenants: Vec<TenantMetrics>,
    /// Totals over the whole fleet, every tenant and generation.
    pub fleet: FleetMetrics,
    /// Per workload (`[workloads.NAME]`), its step and run time on each generation, as the
    /// chip simulator gave them (absent without workloads).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "super::workload::by_name"
    )]
    pub workloads: Vec<WorkloadReport>,
    /// The time series (not part of `summary.json`).
    #[serde(skip)]
    pub timeseries: Vec<Sample>,
    /// Per-job records, when asked for ([`super::RunOptions::record_jobs`]).
    #[serde(skip)]
    pub jobs: Vec<JobRecord>,
}

/// What happened to one submitted job.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct JobRecord {
    pub tenant: usize,
    /// Submit time (s).
    pub submit_s: u64,
    /// Gang size.
    pub chips: u32,
    pub priority: i32,
    /// First start (s), if it started.
    pub first_start_s: Option<u64>,
    /// Completion (s), if it completed.
    pub end_s: Option<u64>,
    /// Rejected at submission.
    pub rejected: bool,
}

impl Outcome {
    /// The summary as JSON (tenants and fleet, no time series).
    pub fn summary_json(&self) -> Value {
        serde_json::to_value(self).expect("outcome serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_and_means() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&mut v);
        assert_eq!(
            (p.p50, p.p90, p.p99, p.max, p.mean),
            (50.0, 90.0, 99.0, 100.0, 50.5)
        );
    }
}
