//! What a run reports: per-tenant job counts, chip-hours, delays, preemptions, reservation
//! honour, borrowing and lending, reclaim times; fleet utilization, idle reserved capacity and
//! fragmentation; and a time series. Keys are documented in `scenarios/README.md`.

use std::collections::BTreeMap;

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

/// Waits over every submitted job, unstarted ones censored at the horizon (a job submitted at
/// `s` and not started by the horizon `h` has waited at least `h - s`). Percentiles come from
/// the Kaplan-Meier (product-limit) estimate of the wait distribution: at each observed start
/// the surviving share is multiplied by 1 - (weight starting) / (weight still waiting then),
/// censored jobs leaving the risk set at their censoring time. A percentile the curve does not
/// reach (too many jobs still waiting) is reported as the largest wait observed, started or
/// censored, with its `_lower_bound` flag set: the true percentile is beyond it. Without
/// censoring the estimate is the nearest-rank percentile of `queue_delay_s`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CensoredWaits {
    /// Submitted jobs counted (rejected ones included, censored: they never start).
    pub jobs: u64,
    /// Of which not started by the horizon (their waits censored).
    pub censored: u64,
    /// Share (job-counted, or weighted like the percentiles) of jobs that waited at all:
    /// started after their submission, or not started.
    pub waited_share: f64,
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// `p50` is a lower bound (the estimate does not reach half the jobs).
    pub p50_lower_bound: bool,
    /// `p90` is a lower bound.
    pub p90_lower_bound: bool,
    /// `p99` is a lower bound.
    pub p99_lower_bound: bool,
}

impl CensoredWaits {
    /// Of `(wait_s, weight, started)` triples (sorted here); `started = false` marks a wait
    /// censored at the horizon.
    pub fn of(waits: &mut [(u64, f64, bool)]) -> CensoredWaits {
        let mut out = CensoredWaits {
            jobs: waits.len() as u64,
            censored: waits.iter().filter(|w| !w.2).count() as u64,
            ..Default::default()
        };
        let total: f64 = waits.iter().map(|w| w.1).sum();
        if waits.is_empty() || total <= 0.0 {
            return out;
        }
        let waited: f64 = waits.iter().filter(|w| w.0 > 0 || !w.2).map(|w| w.1).sum();
        out.waited_share = waited / total;
        waits.sort_by_key(|w| w.0);
        let curve = km_curve(waits, total);
        let last = waits[waits.len() - 1].0 as f64;
        let at = |p: f64| {
            // Smallest wait at which the distribution reaches p (tolerant of rounding).
            curve
                .iter()
                .find(|(_, surv)| *surv <= 1.0 - p + 1e-12)
                .map_or((last, true), |&(t, _)| (t as f64, false))
        };
        (out.p50, out.p50_lower_bound) = at(0.5);
        (out.p90, out.p90_lower_bound) = at(0.9);
        (out.p99, out.p99_lower_bound) = at(0.99);
        out
    }
}

/// The Kaplan-Meier survival curve of sorted `(wait_s, weight, started)`: (wait, surviving
/// share just after it) at each distinct wait with a start.
fn km_curve(waits: &[(u64, f64, bool)], total: f64) -> Vec<(u64, f64)> {
    let mut curve = Vec::new();
    let mut at_risk = total;
    let mut surv = 1.0;
    let mut i = 0;
    while i < waits.len() {
        let t = waits[i].0;
        let (mut started, mut leaving) = (0.0, 0.0);
        while i < waits.len() && waits[i].0 == t {
            if waits[i].2 {
                started += waits[i].1;
            }
            leaving += waits[i].1;
            i += 1;
        }
        if started > 0.0 && at_risk > 0.0 {
            surv *= 1.0 - started / at_risk;
            curve.push((t, surv));
        }
        at_risk -= leaving;
    }
    curve
}

/// Censored waits by gang size (chips), so big gangs are not drowned by small jobs. Classes
/// by chips, the same on every generation: up to 64 (one Trn2 UltraServer), 512 (8), 4,096
/// (64), and larger. An empty class has `jobs = 0`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WaitsByGang {
    /// Gangs of 1 to 64 chips.
    pub le_64: CensoredWaits,
    /// 65 to 512 chips.
    pub le_512: CensoredWaits,
    /// 513 to 4,096 chips.
    pub le_4096: CensoredWaits,
    /// More than 4,096 chips.
    pub gt_4096: CensoredWaits,
}

impl WaitsByGang {
    /// Upper chip bounds of the classes but the last, in order.
    pub const BOUNDS: [u32; 3] = [64, 512, 4096];

    /// The class index (0..4) of a gang of `chips`.
    pub fn class(chips: u32) -> usize {
        Self::BOUNDS.iter().take_while(|&&b| chips > b).count()
    }

    /// The classes in order, with their labels (`<=64`, ..., `>4096`).
    pub fn classes(&self) -> [(&'static str, &CensoredWaits); 4] {
        [
            ("<=64", &self.le_64),
            ("<=512", &self.le_512),
            ("<=4,096", &self.le_4096),
            (">4,096", &self.gt_4096),
        ]
    }

    /// The largest class with jobs, with its label.
    pub fn largest(&self) -> Option<(&'static str, &CensoredWaits)> {
        self.classes().into_iter().rev().find(|c| c.1.jobs > 0)
    }
}

/// Reservation delivery as its owner reads it. At each instant the owner *asks* for
/// min(reservation, held + waiting chips) (only held chips when its smallest waiting gang does
/// not fit in the unused reservation); the part of that it does not hold is its shortfall.
/// Shortfall increases are queued with the time they were asked for and paid back oldest
/// first. `within_L` is 1 - (chip-hours of shortfall older than L) / (chip-hours asked): the
/// share of what it asked for that it got within L of asking.
///
/// Unlike `reservation_honoured` (the share of *time* in which the owner held everything it
/// asked for), a short wait on a few chips does not count a whole interval as failed: in
/// anchor-reservation at 2 GW honour reads 26.9 % because each anchor job waits the 1 h reclaim
/// grace for the chips lent out of its reservation, and with a new job every half hour or so
/// some ask is nearly always pending; the same run delivers 98.5 % of the reserved chip-hours
/// it asked for at once and 99.996 % within the grace.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReservationDelivery {
    /// Chip-hours the owner asked for within its reservation.
    pub chip_hours_asked: f64,
    /// The grace period used for `within_grace` (the reclaim grace, s).
    pub grace_s: u64,
    /// Share delivered at once.
    pub within_0: f64,
    /// Share delivered within the grace period.
    pub within_grace: f64,
    /// Share delivered within an hour.
    pub within_1h: f64,
    /// Share delivered within a day.
    pub within_1d: f64,
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
    #[serde(flatten)]
    pub work: Work,
    /// Jobs submitted that never started (rejected ones included).
    pub jobs_never_started: u64,
    /// Queued work still growing over the last quarter of the horizon: over the tenant's
    /// samples in the last quarter, the least-squares slope of `work_queued` is positive with a
    /// t statistic of at least 2, and the last sample is above the first (false with fewer
    /// than three samples there).
    pub backlog_growing: bool,
    /// That slope (reference chip-hours queued per hour of simulated time).
    pub backlog_slope_chip_hours_per_h: f64,
    /// Waits over every submitted job, unstarted ones censored at the horizon (s).
    pub wait_s: CensoredWaits,
    /// The same, each job weighted by its work (reference chip-hours): what share of the
    /// demanded work waited how long.
    pub wait_weighted_s: CensoredWaits,
    /// Censored waits by gang size class.
    pub wait_by_gang_s: WaitsByGang,
    /// Reservation delivery (`null` without a reservation).
    pub reservation_delivered: Option<ReservationDelivery>,
    /// The censored-wait distribution as a fixed-size summary, for the delay CDF chart (not
    /// part of `summary.json`).
    #[serde(skip)]
    pub wait_quantiles_s: WaitQuantiles,
    /// Capacity Blocks per generation name (absent without block requests).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub capacity_blocks: BTreeMap<String, CapacityBlockMetrics>,
}

/// The Kaplan-Meier wait distribution of [`CensoredWaits`] (job-counted) at a fixed grid of
/// [`WaitQuantiles::STEPS`] probabilities: `(p, wait_s)` for p = 1/STEPS, 2/STEPS, ... up to
/// the last one the curve reaches (jobs still waiting at the horizon keep it below 1). Its
/// size does not grow with the jobs, so a chart of it stays small whatever the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WaitQuantiles {
    /// `(p, wait_s)`: the smallest wait by which a share `p` of the jobs had started.
    pub points: Vec<(f64, u64)>,
}

impl WaitQuantiles {
    /// Probabilities in the grid.
    pub const STEPS: usize = 200;

    /// Of `(wait_s, weight, started)` triples (in any order; weights ignored: every job
    /// counts once).
    pub fn of(waits: &[(u64, f64, bool)]) -> WaitQuantiles {
        let mut w: Vec<(u64, f64, bool)> = waits.iter().map(|x| (x.0, 1.0, x.2)).collect();
        w.sort_by_key(|x| x.0);
        let curve = km_curve(&w, w.len() as f64);
        let mut points = Vec::new();
        let mut k = 1;
        for &(t, surv) in &curve {
            while k <= Self::STEPS && surv <= 1.0 - k as f64 / Self::STEPS as f64 + 1e-12 {
                points.push((k as f64 / Self::STEPS as f64, t));
                k += 1;
            }
        }
        WaitQuantiles { points }
    }
}

/// One tenant's Capacity Blocks on one generation (trainium.md section 8). Block-hours are
/// chip-hours: a block's chips times the hours its instances may run (start to termination,
/// 30 minutes before its end), within the horizon.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CapacityBlockMetrics {
    /// Requests made before the horizon.
    pub requested: u64,
    /// Requests booked (a start in their lead window where the whole block fits).
    pub accepted: u64,
    /// Requests refused (no such start).
    pub refused: u64,
    /// Booked start minus request time, over the accepted requests (s).
    pub lead_time_s: Percentiles,
    /// Chip-hours the accepted blocks entitle their holder to (start to termination).
    pub block_hours_booked: f64,
    /// Chip-hours the holder's instances ran (late starts and failures deliver less).
    pub block_hours_delivered: f64,
    /// Blocks placed after their booked start (their chips were not free and could not be
    /// freed then).
    pub late_starts: u64,
}

/// Work in one unit, reference chip-hours (a job's chips x its run time on the reference
/// generation, whatever generation runs it). Conserved: `work_served + work_unserved =
/// work_demanded`. Work lost to preemption is not served (`chip_hours_lost` reports it).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Work {
    /// Work submitted before the horizon (equals `chip_hours_demanded`).
    pub work_demanded: f64,
    /// Work completed by the horizon: finished jobs, and the kept progress of running and
    /// requeued ones.
    pub work_served: f64,
    /// Work not completed by the horizon: jobs never started, and the rest of the others.
    pub work_unserved: f64,
    /// work_served / work_demanded (1 when nothing was demanded: nothing is missing).
    pub served_share: f64,
}

impl Work {
    /// From reference chip-seconds demanded, served and unserved.
    pub(crate) fn of(demanded_chip_s: f64, served_chip_s: f64, unserved_chip_s: f64) -> Work {
        let h = super::time::HOUR_S_F64;
        Work {
            work_demanded: demanded_chip_s / h,
            work_served: served_chip_s / h,
            work_unserved: unserved_chip_s / h,
            served_share: if demanded_chip_s > 0.0 {
                served_chip_s / demanded_chip_s
            } else {
                1.0
            },
        }
    }
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
    /// Work over every tenant (reference chip-hours).
    #[serde(flatten)]
    pub work: Work,
    /// Jobs submitted that never started, every tenant.
    pub jobs_never_started: u64,
}

/// One row of the time series.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Sample {
    pub time_s: u64,
    /// Tenant name, `*fleet*`, or `*gen:NAME*` / `*gen:any*` for the jobs waiting for one
    /// generation / for any (queue columns only; each waiting job counted once).
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
    /// Work the waiting jobs have left (reference chip-hours).
    pub work_queued: f64,
    /// Free chips that cannot host the smallest waiting gang (fleet rows).
    pub chips_fragmented: u64,
    /// Work submitted so far (reference chip-hours, cumulative; tenant and fleet rows).
    pub work_demanded: f64,
    /// Work done so far by runs that ended: completed jobs, and the progress preempted jobs
    /// kept (reference chip-hours, cumulative; tenant and fleet rows). A run in progress counts
    /// when it ends, so `work_served / work_demanded` lags the summary's `served_share` by the
    /// runs in progress.
    pub work_served: f64,
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
    /// Per probe (`[probes.NAME]`, `fleet::probe`), in scenario order (absent without
    /// probes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<ProbeMetrics>,
    /// The time series (not part of `summary.json`): every sample, or past a bounded number
    /// of rows adjacent samples merged (`timeseries_samples_per_row`).
    #[serde(skip)]
    pub timeseries: Vec<Sample>,
    /// Samples merged into each time-series row (the last row may hold fewer): 1 when every
    /// sample is kept; a power of two past the bound, each column then the maximum over the
    /// samples merged and `time_s` the last one's time (`scenarios/README.md`).
    #[serde(skip)]
    pub timeseries_samples_per_row: u64,
    /// Per-job records, when asked for ([`super::RunOptions::record_jobs`]).
    #[serde(skip)]
    pub jobs: Vec<JobRecord>,
}

/// The answers of one "time to N chips" probe ([`super::probe`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProbeMetrics {
    /// The probe's name (`[probes.NAME]`).
    pub name: String,
    pub generation: String,
    /// Chips asked for.
    pub chips: u64,
    /// How long they are wanted (s).
    pub duration_s: u64,
    /// Probe times before the horizon.
    pub probe_times: u64,
    /// Waits (earliest start minus probe time, s) over the probe times that got a start
    /// before the horizon, nearest rank; `null` when none did.
    pub wait_s: Option<ProbeWaits>,
    /// Probe times with no start before the horizon.
    pub unserved: u64,
    /// `[probe time (s), wait (s) or null]` per probe time, in time order.
    pub series: Vec<(u64, Option<u64>)>,
}

/// Percentiles of a probe's waits (s).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProbeWaits {
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    pub max: f64,
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
    /// The start of the run in progress at the horizon (`None` when not running): later than
    /// `first_start_s` when the job was evicted and restarted.
    pub running_since_s: Option<u64>,
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

    #[test]
    fn kaplan_meier_ties_weights_and_bounds() {
        // Starts at 1, 2, 2, 4; censored at 2 (at risk at 2: ties start first) and 3.
        // S(1) = 5/6, S(2) = 5/6 * (1 - 2/5) = 1/2, S(4) = 1/2 * (1 - 1/1) = 0.
        let mut w = [
            (2, 1.0, true),
            (1, 1.0, true),
            (2, 1.0, false),
            (2, 1.0, true),
            (3, 1.0, false),
            (4, 1.0, true),
        ];
        let k = CensoredWaits::of(&mut w);
        assert_eq!((k.jobs, k.censored), (6, 2));
        assert_eq!((k.p50, k.p90, k.p99), (2.0, 4.0, 4.0));
        assert!(!k.p99_lower_bound);
        // Weighted: the job starting at 1 carries 5 of 10: S(1) = 1/2, so p50 = 1.
        let mut w = [(1, 5.0, true), (2, 1.0, true), (3, 4.0, false)];
        let k = CensoredWaits::of(&mut w);
        assert_eq!((k.p50, k.p50_lower_bound), (1.0, false));
        // S(2) = 1/2 * (1 - 1/5) = 0.4: p90 unreached, bounded by the largest wait (3).
        assert_eq!((k.p90, k.p90_lower_bound), (3.0, true));
        assert_eq!(CensoredWaits::of(&mut []), CensoredWaits::default());
    }

    #[test]
    fn wait_quantiles_on_a_fixed_grid() {
        // Four jobs: starts at 0 and 10, one censored at 5, one at 20. KM: S(0) = 3/4,
        // S(10) = 3/4 * (1 - 1/2) = 3/8, then no more starts: the curve stops at 1 - 3/8.
        let q = WaitQuantiles::of(&[
            (10, 9.0, true),
            (0, 1.0, true),
            (5, 1.0, false),
            (20, 1.0, false),
        ]);
        assert_eq!(q.points.len(), 125);
        assert_eq!(q.points[0], (0.005, 0));
        assert_eq!(q.points[49], (0.25, 0));
        assert_eq!(q.points[50], (0.255, 10));
        assert_eq!(q.points[124], (0.625, 10));
        // Everyone started: the whole grid, whatever the number of jobs.
        let many: Vec<(u64, f64, bool)> = (0..100_000).map(|i| (i, 1.0, true)).collect();
        let q = WaitQuantiles::of(&many);
        assert_eq!(q.points.len(), WaitQuantiles::STEPS);
        assert_eq!(q.points[99], (0.5, 49_999));
        assert_eq!(q.points[199], (1.0, 99_999));
    }

    #[test]
    fn gang_classes_by_chips() {
        let c: Vec<usize> = [1, 64, 65, 512, 513, 4096, 4097]
            .map(WaitsByGang::class)
            .to_vec();
        assert_eq!(c, [0, 0, 1, 1, 2, 2, 3]);
    }
}
