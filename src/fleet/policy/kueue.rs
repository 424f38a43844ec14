//! `kueue`: Kueue's ClusterQueue semantics (scheduling.md sections 1 and 2).
//!
//! - Admission: a job fits when its gang fits the tenant's `available` quota (unused nominal,
//!   or the cohort's unused lendable quota within the borrowing limit).
//! - Order among queue heads: jobs that fit within nominal before jobs that must borrow, then
//!   higher priority, then earlier submission (Kueue's scheduler sort).
//! - Preemption: first try to fit within nominal by taking own lower-priority jobs
//!   (`within_queue`) and jobs of borrowing tenants (`reclaim_within_cohort`); failing that, let
//!   the job borrow and take only own jobs, plus lower-priority jobs of borrowing tenants when
//!   `borrow_within_cohort` allows. Victims: other (borrowing) tenants first, then lowest
//!   priority, then most recently started; the engine trims the set to the minimum that works.

use std::cmp::Reverse;

use super::{
    Attempt, Candidate, CrossTenant, Fit, Policy, View, best_victim, fits_nominal_somewhere,
    quota_fit, reach_of,
};
use crate::fleet::hardware::GenId;
use crate::fleet::job::JobId;
use crate::fleet::tenant::{BorrowWithinCohort, ReclaimWithinCohort, TenantId, WithinQueue};

/// Kueue quotas and preemption.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Kueue;

/// Kueue's two attempts for a tenant's settings.
pub(crate) fn kueue_attempts(v: &View, c: &Candidate) -> Vec<Attempt> {
    let p = v.tenants[c.tenant].preemption;
    let mut out = Vec::with_capacity(2);
    let reclaim = match p.reclaim_within_cohort {
        ReclaimWithinCohort::Never => CrossTenant::None,
        ReclaimWithinCohort::LowerPriority => CrossTenant::ReclaimLowerPriority,
        ReclaimWithinCohort::Any => CrossTenant::ReclaimAny,
    };
    out.push(Attempt {
        allow_borrowing: false,
        own: p.within_queue,
        cross: reclaim,
    });
    let borrow = match p.borrow_within_cohort {
        BorrowWithinCohort::Never => CrossTenant::None,
        BorrowWithinCohort::LowerPriority => {
            CrossTenant::BorrowLowerPriority(p.borrow_max_priority)
        }
    };
    out.push(Attempt {
        allow_borrowing: true,
        own: p.within_queue,
        cross: borrow,
    });
    out.retain(|a| a.cross != CrossTenant::None || a.own != Default::default());
    out
}

impl Policy for Kueue {
    fn name(&self) -> &'static str {
        "kueue"
    }

    fn fit(&self, v: &View, tenant: TenantId, g: GenId, chips: u64) -> Fit {
        quota_fit(v, tenant, g, chips)
    }

    /// Own jobs when `within_queue` allows, the cohort tree's when either cohort rule does.
    fn reach(&self, v: &View, tenant: TenantId, g: GenId) -> u64 {
        let p = v.tenants[tenant].preemption;
        let cohort = p.reclaim_within_cohort != ReclaimWithinCohort::Never
            || p.borrow_within_cohort != BorrowWithinCohort::Never;
        reach_of(v, tenant, g, p.within_queue != WithinQueue::Never, cohort)
    }

    fn pick(&self, v: &View, heads: &[Candidate]) -> usize {
        // A plain loop: this runs once per job tried in a round (millions of times in a
        // trace replay), and the iterator form compiled to a much slower generic fold.
        let key = |c: &Candidate| {
            (
                !fits_nominal_somewhere(self, v, c),
                Reverse(c.priority),
                c.submit_s,
                c.job,
            )
        };
        let mut best = 0;
        let mut best_key = key(&heads[0]);
        for (i, c) in heads.iter().enumerate().skip(1) {
            let k = key(c);
            if k < best_key {
                best = i;
                best_key = k;
            }
        }
        best
    }

    fn preemption(&self, v: &View, c: &Candidate, _: GenId) -> Vec<Attempt> {
        kueue_attempts(v, c)
    }

    fn next_victim(&self, v: &View, c: &Candidate, g: GenId, a: &Attempt) -> Option<JobId> {
        best_victim(v, c, g, a, |_, own, k| Some((own, *k)))
    }
}
