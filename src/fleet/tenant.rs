//! Tenants as the scheduler knows them: a quota per generation in a cohort tree (Kueue's
//! nominal, borrowing limit and lending limit), a reservation in time, a priority, a fair-share
//! weight, and the Kueue preemption settings of their queue.

use serde::Serialize;

use super::hardware::{FleetPlan, GenId};

/// Dense id of a tenant.
pub(crate) type TenantId = usize;

/// A reservation of one generation over a time window, ramping linearly from its start.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reservation {
    /// Chips reserved once the ramp is done.
    pub chips: u64,
    /// Window start (s).
    pub start_s: u64,
    /// Window end (s, exclusive).
    pub end_s: u64,
    /// Time to ramp from 0 to `chips` (s); 0 = all at once.
    pub ramp_s: u64,
    /// Fraction of the reservation never lent to anyone (0 = all lendable, 1 = all exclusive).
    pub exclusive: f64,
}

impl Reservation {
    /// Chips reserved at time `t_s`.
    pub fn chips_at(&self, t_s: u64) -> u64 {
        if t_s < self.start_s || t_s >= self.end_s {
            0
        } else if self.ramp_s > 0 && t_s < self.start_s + self.ramp_s {
            (self.chips as u128 * (t_s - self.start_s) as u128 / self.ramp_s as u128) as u64
        } else {
            self.chips
        }
    }

    /// The exclusive (never lent) part of `chips` reserved.
    pub fn exclusive_chips(&self, chips: u64) -> u64 {
        (chips as f64 * self.exclusive).round() as u64
    }
}

/// A tenant's base quota on one generation (before its reservation is added).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Quota {
    /// Fixed nominal chips (given in chips or converted from GW).
    pub nominal_chips: u64,
    /// Share of the generation's unreserved installed chips, added to the nominal as the fleet
    /// grows (0 to 1).
    pub nominal_share: f64,
    /// Kueue `borrowingLimit` in chips (`None`: may borrow up to the whole cohort).
    pub borrowing_limit: Option<u64>,
    /// Kueue `lendingLimit` in chips (`None`: all unused nominal may be lent).
    pub lending_limit: Option<u64>,
}

/// Kueue `withinClusterQueue`: preemption inside the tenant's own queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithinQueue {
    /// Never preempt the tenant's own jobs.
    #[default]
    Never,
    /// Preempt own jobs of lower priority.
    LowerPriority,
    /// Preempt own jobs of lower priority, or of equal priority submitted after this job (Kueue
    /// compares creation times, never admission times).
    LowerOrNewerEqualPriority,
}

/// Kueue `reclaimWithinCohort`: taking back lent quota from tenants above their nominal.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReclaimWithinCohort {
    Never,
    /// Only jobs of lower priority than the reclaiming job.
    LowerPriority,
    /// Any job of a borrowing tenant.
    #[default]
    Any,
}

/// Kueue `borrowWithinCohort`: preempting elsewhere in the cohort while borrowing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BorrowWithinCohort {
    #[default]
    Never,
    /// Jobs of lower priority, at or below `max_priority_threshold`.
    LowerPriority,
}

/// The three Kueue preemption settings of a tenant's queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Preemption {
    pub within_queue: WithinQueue,
    /// Reclaiming lent quota.
    pub reclaim_within_cohort: ReclaimWithinCohort,
    /// Preempting while borrowing.
    pub borrow_within_cohort: BorrowWithinCohort,
    /// Highest victim priority `borrow_within_cohort` may preempt.
    pub borrow_max_priority: i32,
}

/// A tenant after its scenario entry was resolved against the fleet.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TenantPlan {
    pub name: String,
    /// Cohort it belongs to (index into the scenario's cohorts), if any.
    pub cohort: Option<usize>,
    /// Priority of its jobs unless a job says otherwise.
    pub priority: i32,
    /// Fair-share weight (Kueue `fairSharing.weight`).
    pub weight: f64,
    /// Spot tenant: every job preemptible, at the lowest priority.
    pub spot: bool,
    /// Base quota per generation.
    pub quota: Vec<Quota>,
    /// Reservation per generation.
    pub reservation: Vec<Option<Reservation>>,
    /// Preemption settings of its queue.
    pub preemption: Preemption,
}

/// A cohort: a node of the quota tree that aggregates its children and may hold quota of its
/// own (Kueue's hierarchical cohorts), lent to its subtree.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CohortPlan {
    pub name: String,
    /// Parent cohort, if nested.
    pub parent: Option<usize>,
    /// Fair-share weight among its siblings.
    pub weight: f64,
    /// Own quota per generation (fixed chips: `nominal_share` is 0; no reservation).
    pub quota: Vec<Quota>,
}

/// Priority given to spot jobs (below every class a scenario can name).
pub(crate) const SPOT_PRIORITY: i32 = i32::MIN / 2;

/// One tenant's quota on one generation at one time, as the quota tree is given it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct QuotaAt {
    /// Nominal quota: fixed chips, plus the share of the unreserved chips, plus the
    /// reservation in force.
    pub nominal: u64,
    /// The reservation in force.
    pub reserved: u64,
    /// Kueue `borrowingLimit`.
    pub borrowing_limit: Option<u64>,
    /// Kueue `lendingLimit`, with the exclusive part of the reservation kept back.
    pub lending_limit: Option<u64>,
}

/// Every tenant's quota on generation `g` at `t_s`, when `installed` chips of it are in. The
/// engine sets its quota tree from this, and `load` demand streams size their arrival rates by
/// it, so both always agree.
pub(crate) fn quotas_at(
    tenants: &[TenantPlan],
    g: GenId,
    installed: u64,
    t_s: u64,
) -> Vec<QuotaAt> {
    quotas_with_blocks(tenants, g, installed, t_s, 0)
}

/// [`quotas_at`] with `aside` chips of `g` booked as Capacity Blocks (set aside like
/// reservations: share-based quotas shrink, reservations stay whole), the reservations taken
/// at `reservation_t_s` (the last quota epoch, so a block edge between two steps of a ramp
/// does not sample the ramp anew).
pub(crate) fn quotas_with_blocks(
    tenants: &[TenantPlan],
    g: GenId,
    installed: u64,
    reservation_t_s: u64,
    aside: u64,
) -> Vec<QuotaAt> {
    let t_s = reservation_t_s;
    let reserved: Vec<u64> = tenants
        .iter()
        .map(|t| t.reservation[g].as_ref().map_or(0, |r| r.chips_at(t_s)))
        .collect();
    let unreserved = installed.saturating_sub(reserved.iter().sum::<u64>() + aside);
    tenants
        .iter()
        .zip(reserved)
        .map(|(t, r)| {
            let q = &t.quota[g];
            let nominal =
                q.nominal_chips + (q.nominal_share * unreserved as f64).floor() as u64 + r;
            let exclusive = t.reservation[g]
                .as_ref()
                .map_or(0, |res| res.exclusive_chips(r));
            let lending_limit = match q.lending_limit {
                Some(l) => Some(l + (r - exclusive)),
                None if exclusive > 0 => Some(nominal - exclusive),
                None => None,
            };
            QuotaAt {
                nominal,
                reserved: r,
                borrowing_limit: q.borrowing_limit,
                lending_limit,
            }
        })
        .collect()
}

/// Every time before `horizon_s` at which a quota may change: time 0, deliveries, reservation
/// window edges, and every `step_s` along a reservation's ramp (sorted, no duplicates).
pub(crate) fn quota_epochs(
    fleet: &FleetPlan,
    tenants: &[TenantPlan],
    step_s: u64,
    horizon_s: u64,
) -> Vec<u64> {
    let mut e = vec![0];
    e.extend(fleet.deliveries.iter().map(|d| d.at_s));
    let step = step_s.max(1);
    for t in tenants {
        for r in t.reservation.iter().flatten() {
            e.push(r.start_s);
            e.push(r.end_s);
            if r.ramp_s > 0 {
                let mut x = r.start_s + step;
                while x < r.start_s + r.ramp_s && x < horizon_s {
                    e.push(x);
                    x += step;
                }
                e.push(r.start_s + r.ramp_s);
            }
        }
    }
    e.retain(|&x| x < horizon_s);
    e.sort_unstable();
    e.dedup();
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservation_ramps_inside_its_window() {
        let r = Reservation {
            chips: 1000,
            start_s: 100,
            end_s: 1000,
            ramp_s: 400,
            exclusive: 0.25,
        };
        assert_eq!(r.chips_at(99), 0);
        assert_eq!(r.chips_at(300), 500);
        assert_eq!(r.chips_at(500), 1000);
        assert_eq!(r.chips_at(1000), 0);
        assert_eq!(r.exclusive_chips(1000), 250);
    }
}
