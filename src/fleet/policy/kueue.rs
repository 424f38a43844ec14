//! `kueue`: Kueue's ClusterQueue semantics (scheduling.md sections 1 and 2).
//!
//! - Admission: a job fits when its gang fits the tenant's `available` quota (unused nominal,
//!   or the cohort's unused lendable quota within the borrowing limit).
//! - Order among queue heads: lowest borrowing height first (0 within nominal; else the height
//!   of the lowest cohort whose subtree holds the job, so borrowing less comes first), then
//!   higher priority, then earlier submission (Kueue's scheduler sort on `Borrows()`).
//! - Preemption: Kueue's `classicalPreemptions`. Candidates are the tenant's own jobs its
//!   `within_queue` allows, and, when `reclaim_within_cohort` is not `never`, the jobs its rule
//!   allows of other queues of the cohort tree that are above nominal, with every cohort on
//!   the way up to the lowest common ancestor above nominal too. Another queue's job is a
//!   hierarchical-reclaim candidate when the preemptor's request fits the subtree quota of
//!   some ancestor below that common ancestor (or its own nominal); else it may be taken
//!   while the preemptor borrows only when `borrow_within_cohort` allows it, it is of lower
//!   priority and at most the threshold (`ReclaimWhileBorrowing`), otherwise only without
//!   borrowing (`ReclaimWithoutBorrowing`). Order: hierarchical-reclaim candidates, then other
//!   queues', then own, each lowest priority then most recently started first. Attempts:
//!   with borrowing only when no other queue has a candidate or borrowing is forbidden and the
//!   queue is not under nominal; without then with borrowing when it is forbidden and no
//!   hierarchical candidate exists; else with then without. Victims are taken until the job
//!   fits, then given back latest first while it still fits (Kueue's `fillBackWorkloads`).

use std::cmp::Reverse;

use super::{
    Attempt, Candidate, Classical, CrossTenant, Fit, Policy, VictimKey, View, quota_fit, reach_of,
};
use crate::fleet::hardware::GenId;
use crate::fleet::job::JobId;
use crate::fleet::quota::QuotaTree;
use crate::fleet::tenant::{BorrowWithinCohort, ReclaimWithinCohort, TenantId, WithinQueue};

/// Kueue quotas and preemption.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Kueue;

/// Kueue's classical preemption attempts for `c` on `g` (`classicalPreemptions`), in order.
pub(crate) fn kueue_attempts(v: &View, c: &Candidate, g: GenId) -> Vec<Attempt> {
    let p = v.tenants[c.tenant].preemption;
    let q = v.quota;
    let reclaim_on =
        p.reclaim_within_cohort != ReclaimWithinCohort::Never && q.parent(c.tenant).is_some();
    let mut rules = Classical {
        reclaim: p.reclaim_within_cohort,
        borrow_forbidden: p.borrow_within_cohort == BorrowWithinCohort::Never,
        max_priority: p.borrow_max_priority,
        advantage_level: advantage_level(q, c.tenant, g, c.chips),
        borrowing: false,
    };
    // Which kinds of other queues' candidates exist now (Kueue's NoCandidateFromOtherQueues
    // and NoCandidateForHierarchicalReclaim), and whether any may be taken only without
    // borrowing.
    let (mut other, mut hierarchical, mut without_only) = (false, false, false);
    if reclaim_on {
        for t in (0..v.tenants.len()).filter(|&t| t != c.tenant) {
            let Some(key) = v.first_victim(t, g) else {
                continue;
            };
            match other_queue_class(v, &rules, c, t, g, key) {
                Some(HIERARCHICAL) => hierarchical = true,
                Some(_) => without_only |= has_reclaim_without_borrowing(v, &rules, c, t, g),
                None => continue,
            }
            other = true;
        }
    }
    if !other && p.within_queue == WithinQueue::Never {
        return Vec::new();
    }
    let under_nominal = q.usage(c.tenant, g) < q.quota(c.tenant, g);
    let order: &[bool] = if !other || (rules.borrow_forbidden && !under_nominal) {
        &[true]
    } else if rules.borrow_forbidden && !hierarchical {
        &[false, true]
    } else if without_only {
        &[true, false]
    } else {
        // Without borrowing the same candidates would be taken in the same order against a
        // stricter fit: that attempt fails whenever this one does.
        &[true]
    };
    order
        .iter()
        .map(|&borrowing| {
            rules.borrowing = borrowing;
            Attempt {
                allow_borrowing: borrowing,
                own: p.within_queue,
                cross: if reclaim_on {
                    CrossTenant::Classical(rules)
                } else {
                    CrossTenant::None
                },
            }
        })
        .collect()
}

/// Kueue's borrowing height of `c` (`FindHeightOfLowestSubtreeThatFits`) on the generation
/// where it is lowest: 0 within nominal or without a cohort, else the height of the lowest
/// ancestor whose subtree holds the request (the whole tree's when none does).
fn borrowing_height(v: &View, c: &Candidate) -> u32 {
    let q = v.quota;
    let Some(cohort) = q.parent(c.tenant) else {
        return 0;
    };
    let t = c.tenant;
    if c.gens(v.gens)
        .any(|g| q.usage(t, g) + c.chips <= q.quota(t, g))
    {
        return 0;
    }
    if q.parent(cohort).is_none() {
        return q.height(cohort); // the root is the only subtree above the queue
    }
    c.gens(v.gens)
        .map(|g| {
            let mut node = t;
            for _ in 0..advantage_level(q, t, g, c.chips) {
                match q.parent(node) {
                    Some(p) => node = p,
                    None => break,
                }
            }
            q.height(node)
        })
        .min()
        .unwrap_or(0)
}

/// Candidate classes in Kueue's order: hierarchical reclaim, other queues, own queue.
const HIERARCHICAL: u8 = 0;
const OTHER_QUEUE: u8 = 1;
const OWN_QUEUE: u8 = 2;

/// Kueue's hierarchical-advantage walk (`QuantitiesFitInQuota` from the queue up): the first
/// level (0: the queue, 1: its cohort, ...) whose subtree quota holds the request on top of its
/// usage, the request shrinking at each level by the guaranteed quota left unused below it;
/// `u32::MAX` when none does.
pub(crate) fn advantage_level(q: &QuotaTree, tenant: TenantId, g: GenId, chips: u64) -> u32 {
    let (mut node, mut rest, mut level) = (tenant, chips, 0);
    loop {
        if q.usage(node, g) + rest <= q.quota(node, g) {
            return level;
        }
        rest = rest.saturating_sub(q.guaranteed(node, g).saturating_sub(q.usage(node, g)));
        match q.parent(node) {
            Some(p) => {
                node = p;
                level += 1;
            }
            None => return u32::MAX,
        }
    }
}

/// The class of another queue's job (its first in victim order) for a classical attempt, or
/// `None` when it may not be taken now: the rule's priority test, its queue and every cohort
/// below the lowest common ancestor with the preemptor above nominal (Kueue's
/// `candidateIsValid`), and in a borrowing attempt not a `ReclaimWithoutBorrowing` candidate.
/// Victim order is lowest priority first, so a tenant's first job answers for all of them.
pub(crate) fn other_queue_class(
    v: &View,
    r: &Classical,
    c: &Candidate,
    t: TenantId,
    g: GenId,
    key: &VictimKey,
) -> Option<u8> {
    let q = v.quota;
    let allowed = match r.reclaim {
        ReclaimWithinCohort::Never => false,
        ReclaimWithinCohort::LowerPriority => key.0 < c.priority,
        ReclaimWithinCohort::Any => true,
    };
    if !allowed || q.root(t) != q.root(c.tenant) || !q.is_borrowing(t, g) {
        return None;
    }
    let lca = lca_level(q, c.tenant, t, g)?;
    if r.advantage_level < lca {
        return Some(HIERARCHICAL);
    }
    let without_borrowing = r.borrow_forbidden || key.0 >= c.priority || key.0 > r.max_priority;
    if r.borrowing && without_borrowing {
        return None;
    }
    Some(OTHER_QUEUE)
}

/// Whether another queue (not a hierarchical-reclaim one) has a job its rule allows that the
/// preemptor may take only without borrowing (`ReclaimWithoutBorrowing`: borrowing within the
/// cohort forbidden, or of priority at least the preemptor's or above the threshold).
fn has_reclaim_without_borrowing(
    v: &View,
    r: &Classical,
    c: &Candidate,
    t: TenantId,
    g: GenId,
) -> bool {
    if r.borrow_forbidden {
        return true;
    }
    // Jobs above this priority are ReclaimWithoutBorrowing candidates.
    let above = r.max_priority.min(c.priority.saturating_sub(1));
    if above == i32::MAX {
        return false;
    }
    let from = (above + 1, Reverse(u64::MAX), 0, 0);
    v.running
        .of(t, g)
        .range(from..)
        .next()
        .is_some_and(|k| r.reclaim == ReclaimWithinCohort::Any || k.0 < c.priority)
}

/// The level above `tenant` (1: its cohort) of its lowest common ancestor with `other`, or
/// `None` when a cohort between `other` and that ancestor is within its nominal quota on `g`.
fn lca_level(q: &QuotaTree, tenant: TenantId, other: TenantId, g: GenId) -> Option<u32> {
    let mut node = other;
    while let Some(p) = q.parent(node) {
        let (mut a, mut level) = (tenant, 0);
        while let Some(up) = q.parent(a) {
            level += 1;
            if up == p {
                return Some(level);
            }
            a = up;
        }
        if !q.is_borrowing(p, g) {
            return None;
        }
        node = p;
    }
    None
}

impl Policy for Kueue {
    fn name(&self) -> &'static str {
        "kueue"
    }

    fn fit(&self, v: &View, tenant: TenantId, g: GenId, chips: u64) -> Fit {
        quota_fit(v, tenant, g, chips)
    }

    /// Own jobs when `within_queue` allows, the cohort tree's when `reclaim_within_cohort`
    /// does (Kueue looks at other queues' jobs only then).
    fn reach(&self, v: &View, tenant: TenantId, g: GenId) -> u64 {
        let p = v.tenants[tenant].preemption;
        let cohort = p.reclaim_within_cohort != ReclaimWithinCohort::Never;
        reach_of(v, tenant, g, p.within_queue != WithinQueue::Never, cohort)
    }

    fn pick(&self, v: &View, heads: &[Candidate]) -> usize {
        // A plain loop: this runs once per job tried in a round (millions of times in a
        // trace replay), and the iterator form compiled to a much slower generic fold.
        let key = |c: &Candidate| {
            (
                borrowing_height(v, c),
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

    fn preemption(&self, v: &View, c: &Candidate, g: GenId) -> Vec<Attempt> {
        kueue_attempts(v, c, g)
    }

    /// The first valid candidate in Kueue's order (classes, then lowest priority, then most
    /// recently started): the candidates' validity only ever ends as victims are taken, so
    /// this is Kueue's walk down its candidate list.
    fn next_victim(&self, v: &View, c: &Candidate, g: GenId, a: &Attempt) -> Option<JobId> {
        let mut best: Option<(u8, VictimKey)> = None;
        for t in 0..v.tenants.len() {
            let found = if t == c.tenant {
                v.first_own_victim(a.own, c, g).map(|k| (OWN_QUEUE, *k))
            } else {
                let CrossTenant::Classical(r) = a.cross else {
                    continue;
                };
                v.first_victim(t, g)
                    .and_then(|k| other_queue_class(v, &r, c, t, g, k).map(|cl| (cl, *k)))
            };
            if let Some(f) = found
                && best.is_none_or(|b| f < b)
            {
                best = Some(f);
            }
        }
        best.map(|b| b.1.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tenants 0 and 1 in cohort A (node 4, with 4 chips of its own), 2 and 3 in cohort B
    /// (node 5), both under R (node 6); nominal 2, 2, 4, 4. `lend0`: tenant 0's lending limit.
    fn tree(lend0: Option<u64>, usage: [u64; 4]) -> QuotaTree {
        let parents = [Some(4), Some(4), Some(5), Some(5), Some(6), Some(6), None];
        let mut q = QuotaTree::new(4, &parents, &[1.0; 7], 1);
        for (t, nominal) in [2, 2, 4, 4].into_iter().enumerate() {
            q.set_quota(t, 0, nominal, None, if t == 0 { lend0 } else { None });
        }
        q.set_quota(4, 0, 4, None, None);
        q.recompute();
        for (t, u) in usage.into_iter().enumerate() {
            q.add_usage(t, 0, u as i64);
        }
        q
    }

    #[test]
    fn hierarchical_advantage_walks_up_the_cohorts() {
        // A: quota 4 + 2 + 2 = 8, usage 2 + 4 = 6. Tenant 0 (full) asks 2: not within its
        // nominal, but within A's: advantage over queues met at R (level 2), not at A.
        let q = tree(None, [2, 4, 6, 4]);
        assert_eq!(q.quota(4, 0), 8);
        assert_eq!(advantage_level(&q, 0, 0, 2), 1);
        // 3 more overflow A (9 > 8) and R (quota 16, usage 6 + 10).
        assert_eq!(advantage_level(&q, 0, 0, 3), u32::MAX);
        // Within its own nominal: advantage over every other queue.
        let q = tree(None, [0, 4, 6, 4]);
        assert_eq!(advantage_level(&q, 0, 0, 2), 0);
        // Lending limit 0: tenant 0's 2 chips are guaranteed, 1 used; asking 2, the unused 1
        // is met locally and only 1 must fit A (quota 4 + 0 + 2 = 6, usage 5): 5 + 1 <= 6.
        let q = tree(Some(0), [1, 5, 0, 0]);
        assert_eq!((q.quota(4, 0), q.usage(4, 0)), (6, 5));
        assert_eq!(advantage_level(&q, 0, 0, 2), 1);
    }

    #[test]
    fn other_queues_count_up_to_the_common_ancestor_above_nominal() {
        // Tenant 2 borrows (6 of 4) but B (quota 8) uses 6 + 2 = 8: within nominal, so no
        // candidate of B for tenant 0; tenant 1 shares A with tenant 0: level 1.
        let q = tree(None, [2, 4, 6, 2]);
        assert!(q.is_borrowing(2, 0) && !q.is_borrowing(5, 0));
        assert_eq!(lca_level(&q, 0, 2, 0), None);
        assert_eq!(lca_level(&q, 0, 1, 0), Some(1));
        // B at 6 + 4 = 10 > 8: tenant 2 meets tenant 0 at R, level 2.
        let q = tree(None, [2, 4, 6, 4]);
        assert_eq!(lca_level(&q, 0, 2, 0), Some(2));
        // From tenant 2's side, A (6 of 8) is within nominal: nothing of tenant 0's.
        assert_eq!(lca_level(&q, 2, 0, 0), None);
    }
}
