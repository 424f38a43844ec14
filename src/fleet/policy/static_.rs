//! `static`: hard partitions. Each tenant runs only inside its own nominal quota (plus its
//! reservation); nothing is lent, nothing borrowed, cohorts are ignored. Preemption only inside
//! a tenant's own queue, by its `within_queue` setting.

use super::{Attempt, Candidate, CrossTenant, Fit, Policy, View, best_victim, reach_of};
use crate::fleet::hardware::GenId;
use crate::fleet::job::JobId;
use crate::fleet::quota::QuotaTree;
use crate::fleet::tenant::{TenantId, WithinQueue};

/// Hard partitions.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Static;

impl Policy for Static {
    fn name(&self) -> &'static str {
        "static"
    }

    /// Hard partitions: never more than the nominal quota.
    fn admission_ceiling(&self, quota: &QuotaTree, tenant: TenantId, g: GenId) -> u64 {
        quota.quota(tenant, g)
    }

    fn fit(&self, v: &View, tenant: TenantId, g: GenId, chips: u64) -> Fit {
        if v.quota.usage(tenant, g) + chips <= v.quota.quota(tenant, g) {
            Fit::Nominal
        } else {
            Fit::No
        }
    }

    /// Own jobs only, when `within_queue` allows.
    fn reach(&self, v: &View, tenant: TenantId, g: GenId) -> u64 {
        let own = v.tenants[tenant].preemption.within_queue != WithinQueue::Never;
        reach_of(v, tenant, g, own, false)
    }

    fn pick(&self, _: &View, heads: &[Candidate]) -> usize {
        (0..heads.len())
            .min_by_key(|&i| (heads[i].submit_s, heads[i].job))
            .expect("heads is not empty")
    }

    fn preemption(&self, v: &View, c: &Candidate, _: GenId) -> Vec<Attempt> {
        let own = v.tenants[c.tenant].preemption.within_queue;
        if own == WithinQueue::Never {
            return vec![];
        }
        vec![Attempt {
            allow_borrowing: false,
            own,
            cross: CrossTenant::None,
        }]
    }

    fn next_victim(&self, v: &View, c: &Candidate, g: GenId, a: &Attempt) -> Option<JobId> {
        best_victim(v, c, g, a, |_, _, k| Some(*k))
    }
}
