//! `fair`: Kueue's quotas with fair sharing (scheduling.md section 3). Among queue heads the
//! job whose tenant (and cohorts above it) would have the lowest weighted dominant resource
//! share after admission goes first, compared level by level from the top of the cohort tree
//! (Kueue's tournament). Preemption reclaims nominal quota like `kueue`, and otherwise takes
//! jobs from the tenants with the highest share, only while the preemptor's share after
//! admission stays at or below the victim tenant's share after the preemption
//! (`LessThanOrEqualToFinalShare`).

use std::cmp::Reverse;

use super::{Attempt, Candidate, CrossTenant, Fit, Policy, View, best_victim, quota_fit};
use crate::fleet::fleet::GenId;
use crate::fleet::job::JobId;
use crate::fleet::quota::Share;
use crate::fleet::tenant::{ReclaimWithinCohort, TenantId};

/// Fair sharing.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fair;

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
                let grow = q.usage_growth(c.tenant, g, c.chips, node);
                q.share_with(node, |h| if h == g { grow as i64 } else { 0 })
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
        vec![
            Attempt {
                allow_borrowing: false,
                own: p.within_queue,
                cross: reclaim,
            },
            Attempt {
                allow_borrowing: true,
                own: p.within_queue,
                cross: CrossTenant::FairShare,
            },
        ]
    }

    fn next_victim(&self, v: &View, c: &Candidate, g: GenId, a: &Attempt) -> Option<JobId> {
        let q = v.quota;
        let mine = q.share_with(c.tenant, |h| if h == g { c.chips as i64 } else { 0 });
        best_victim(v, c, g, a, |t, own, k| {
            let share = q.share(t);
            if !own && a.cross == CrossTenant::FairShare {
                let after = q.share_with(t, |h| if h == g { -i64::from(k.3) } else { 0 });
                if after < mine {
                    return None;
                }
            }
            // Other tenants before own jobs, highest share first.
            Some((own, Reverse(share), *k))
        })
    }
}
