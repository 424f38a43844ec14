//! `priority`: one queue for every tenant, strict priority (then submission order), and a
//! waiting job preempts running jobs of strictly lower priority anywhere: lowest priority
//! first, then the most recently started (never by remaining work, so preemptive-resume
//! queueing results hold). Quotas, cohorts and reservations do not restrict admission.

use std::cmp::Reverse;

use super::{Attempt, Candidate, CrossTenant, Fit, Policy, View, best_victim};
use crate::fleet::hardware::GenId;
use crate::fleet::job::JobId;
use crate::fleet::quota::QuotaTree;
use crate::fleet::tenant::{TenantId, WithinQueue};

/// Strict priority with preemption.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Priority;

impl Policy for Priority {
    fn name(&self) -> &'static str {
        "priority"
    }

    fn single_queue(&self) -> bool {
        true
    }

    /// No quotas: only capacity bounds a job.
    fn admission_ceiling(&self, _: &QuotaTree, _: TenantId, _: GenId) -> u64 {
        u64::MAX
    }

    fn fit(&self, _: &View, _: TenantId, _: GenId, _: u64) -> Fit {
        Fit::Nominal
    }

    fn pick(&self, _: &View, heads: &[Candidate]) -> usize {
        (0..heads.len())
            .min_by_key(|&i| (Reverse(heads[i].priority), heads[i].submit_s, heads[i].job))
            .expect("heads is not empty")
    }

    fn preemption(&self, _: &View, _: &Candidate, _: GenId) -> Vec<Attempt> {
        vec![Attempt {
            allow_borrowing: true,
            own: WithinQueue::LowerPriority,
            cross: CrossTenant::AnyLowerPriority,
        }]
    }

    fn next_victim(&self, v: &View, c: &Candidate, g: GenId, a: &Attempt) -> Option<JobId> {
        best_victim(v, c, g, a, |_, _, k| Some(*k))
    }
}
