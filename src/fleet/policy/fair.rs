//! `fair`: Kueue's quotas with fair sharing (scheduling.md section 3). Among queue heads the
//! job whose tenant (and cohorts above it) would have the lowest weighted dominant resource
//! share after admission goes first, compared level by level from the top of the cohort tree
//! (Kueue's tournament). Preemption reclaims nominal quota like `kueue`, and otherwise takes
//! jobs from the tenants with the highest share, only while the preemptor's share after
//! admission stays at or below the victim tenant's share after the preemption
//! (`LessThanOrEqualToFinalShare`).

use std::cmp::Reverse;

use super::{Attempt, Candidate, CrossTenant, Fit, Policy, View, best_victim, quota_fit, reach_of};
use crate::fleet::hardware::GenId;
use crate::fleet::job::JobId;
use crate::fleet::quota::Share;
use crate::fleet::tenant::{ReclaimWithinCohort, TenantId, WithinQueue};

#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Fair;

/// Shares along the path from the top of the tree down to the tenant, each with the job's
/// chips added (on the generation where its tenant's share grows least).
fn path_shares(v: &View, c: &Candidate) -> Vec<Share> {
    let q = v.quota;
    let mut path = vec![c.tenant];
    while let Some(p) = q.parent(*path.last().expect("non-empty")) {
        path.push(p);
    }
    path.pop(); // the root has no siblings to compare with
    let mut out = Vec::with_capacity(path.len());
    for &node in path.iter().rev() {
        let best = c
            .gens(v.gens)
            .map(|g| {
                let grow = q.usage_change(c.tenant, g, c.chips as i64, node);
                q.share_with(node, |h| if h == g { grow } else { 0 })
            })
            .min()
            .unwrap_or(Share::ZERO);
        out.push(best);
    }
    if out.is_empty() {
        // A tenant outside any cohort: its own share.
        out.push(
            c.gens(v.gens)
                .map(|g| q.share_with(c.tenant, |h| if h == g { c.chips as i64 } else { 0 }))
                .min()
                .unwrap_or(Share::ZERO),
        );
    }
    out
}

impl Policy for Fair {
    fn name(&self) -> &'static str {
        "fair"
    }

    fn fit(&self, v: &View, tenant: TenantId, g: GenId, chips: u64) -> Fit {
        quota_fit(v, tenant, g, chips)
    }

    /// Own jobs when `within_queue` allows; the cohort tree's when it may reclaim.
    fn reach(&self, v: &View, tenant: TenantId, g: GenId) -> u64 {
        let p = v.tenants[tenant].preemption;
        let cohort = p.reclaim_within_cohort != ReclaimWithinCohort::Never;
        reach_of(v, tenant, g, p.within_queue != WithinQueue::Never, cohort)
    }

    fn pick(&self, v: &View, heads: &[Candidate]) -> usize {
        (0..heads.len())
            .min_by_key(|&i| {
                let c = &heads[i];
                (path_shares(v, c), Reverse(c.priority), c.submit_s, c.job)
            })
            .expect("heads is not empty")
    }

    fn preemption(&self, v: &View, c: &Candidate, _: GenId) -> Vec<Attempt> {
        let p = v.tenants[c.tenant].preemption;
        let reclaim = match p.reclaim_within_cohort {
            ReclaimWithinCohort::Never => CrossTenant::None,
            ReclaimWithinCohort::LowerPriority => CrossTenant::ReclaimLowerPriority,
            ReclaimWithinCohort::Any => CrossTenant::ReclaimAny,
        };
        let mut out = vec![Attempt {
            allow_borrowing: false,
            own: p.within_queue,
            cross: reclaim,
        }];
        // Fair-sharing preemption across tenants only where the queue may reclaim at all.
        out.push(Attempt {
            allow_borrowing: true,
            own: p.within_queue,
            cross: if reclaim == CrossTenant::None {
                CrossTenant::None
            } else {
                CrossTenant::FairShare
            },
        });
        out
    }

    fn next_victim(&self, v: &View, c: &Candidate, g: GenId, a: &Attempt) -> Option<JobId> {
        let q = v.quota;
        best_victim(v, c, g, a, |t, own, k| {
            if own {
                return Some((true, Reverse(Share::ZERO), *k));
            }
            // Compare where the two tenants' paths meet: the preemptor's side with the job
            // admitted against the victim's side without the victim.
            let (mine_node, their_node) = sides(v, c.tenant, t)?;
            let grow = q.usage_change(c.tenant, g, c.chips as i64, mine_node);
            let mine = q.share_with(mine_node, |h| if h == g { grow } else { 0 });
            let theirs = q.share(their_node);
            if a.cross == CrossTenant::FairShare {
                let drop = q.usage_change(t, g, -i64::from(k.3), their_node);
                let after = q.share_with(their_node, |h| if h == g { drop } else { 0 });
                if after < mine {
                    return None;
                }
            }
            // Other tenants before own jobs, highest share first.
            Some((false, Reverse(theirs), *k))
        })
    }
}

/// The children of the lowest common ancestor of tenants `a` and `b` on each side, or `None`
/// when they share no cohort.
fn sides(v: &View, a: TenantId, b: TenantId) -> Option<(usize, usize)> {
    let q = v.quota;
    let mut up_a = vec![a];
    while let Some(p) = q.parent(*up_a.last().expect("non-empty")) {
        up_a.push(p);
    }
    let mut prev = b;
    let mut cur = q.parent(b);
    while let Some(n) = cur {
        if let Some(pos) = up_a.iter().position(|&x| x == n) {
            return Some((up_a[pos - 1], prev));
        }
        prev = n;
        cur = q.parent(n);
    }
    None
}
