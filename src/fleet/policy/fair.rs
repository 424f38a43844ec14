//! `fair`: Kueue's quotas with fair sharing (scheduling.md section 3). Among queue heads the
//! job whose tenant (and cohorts above it) would have the lowest weighted dominant resource
//! share after admission goes first, compared level by level from the top of the cohort tree
//! (Kueue's tournament).
//!
//! Preemption is Kueue's fair-sharing preemption (`fairPreemptions`): target tenants are
//! visited in Kueue's order (the highest share at each level of the tree, ties by the first
//! candidate), the preemptor's own queue taken by priority, every candidate taken while the
//! preemptor stays within its nominal quota, and otherwise a candidate only when the first
//! strategy holds (by default `LessThanOrEqualToFinalShare`); a target whose candidate fails
//! is walked on to its next one. When nothing passes, the second rule (S2-b) takes, per
//! target, its first failed candidate if `LessThanInitialShare` holds. The engine asks for one
//! victim at a time and fills back (latest taken first) as Kueue does; each victim is chosen
//! afresh from the state with the earlier victims gone.

use std::cmp::Reverse;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::{
    Attempt, Candidate, CrossTenant, Fit, Policy, PolicyKind, VictimKey, View, own_eligible,
    quota_fit, reach_of,
};
use crate::fleet::hardware::GenId;
use crate::fleet::job::JobId;
use crate::fleet::quota::Share;
use crate::fleet::tenant::{ReclaimWithinCohort, TenantId, WithinQueue};

/// A fair-sharing preemption strategy (Kueue `fairSharing.preemptionStrategies`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsStrategy {
    /// The preemptor's share after admission is at most the target's after the preemption.
    LessThanOrEqualToFinalShare,
    /// The preemptor's share after admission is below the target's before the preemption.
    LessThanInitialShare,
}

/// Kueue's default strategies (`parseStrategies`).
pub(crate) const DEFAULT_STRATEGIES: [FsStrategy; 2] = [
    FsStrategy::LessThanOrEqualToFinalShare,
    FsStrategy::LessThanInitialShare,
];

/// The fair-sharing policy with its preemption strategies: the first is tried on every
/// candidate; a second turns on rule S2-b (always `LessThanInitialShare`, as in Kueue).
#[derive(Debug)]
pub(crate) struct Fair {
    strategies: Vec<FsStrategy>,
    /// The preemption search in progress (one run uses one policy object).
    progress: Mutex<Option<Progress>>,
}

impl Default for Fair {
    fn default() -> Self {
        Fair::new(&DEFAULT_STRATEGIES)
    }
}

impl Fair {
    fn new(strategies: &[FsStrategy]) -> Self {
        Fair {
            strategies: strategies.to_vec(),
            progress: Mutex::new(None),
        }
    }
}

/// The policy object of `kind`, with the fair-sharing strategies when it is `fair`.
pub(crate) fn build(kind: PolicyKind, strategies: &[FsStrategy]) -> Box<dyn Policy> {
    match kind {
        PolicyKind::Fair => Box::new(Fair::new(strategies)),
        k => k.build(),
    }
}

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
        out.push(Share::ZERO);
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

    /// One attempt, borrowing allowed (Kueue's fair preemption has no nominal-only pass):
    /// own jobs by `within_queue`, other tenants' only where the queue may reclaim.
    fn preemption(&self, v: &View, c: &Candidate, _: GenId) -> Vec<Attempt> {
        let p = v.tenants[c.tenant].preemption;
        vec![Attempt {
            allow_borrowing: true,
            own: p.within_queue,
            cross: if p.reclaim_within_cohort == ReclaimWithinCohort::Never {
                CrossTenant::None
            } else {
                CrossTenant::FairShare
            },
        }]
    }

    fn next_victim(&self, v: &View, c: &Candidate, g: GenId, a: &Attempt) -> Option<JobId> {
        self.victim(v, c, g, a)
    }
}

/// Where a preemption search stands between the engine's calls for victims (Kueue runs it as
/// one loop; the engine asks one victim at a time): for the job, generation and cluster scope
/// it is for, the victims returned so far and the total usage expected once they are gone,
/// so that a new search (another job, round or attempt) starts afresh.
#[derive(Debug)]
struct Progress {
    job: JobId,
    g: GenId,
    scope: Option<usize>,
    taken: Vec<(TenantId, VictimKey)>,
    usage_total: u64,
    lists: Lists,
}

/// The candidates per node (tenants first; empty for cohorts) in Kueue's candidate order,
/// the target ordering over them, the retry candidates, and whether rule S2-b runs.
#[derive(Debug)]
struct Lists {
    cands: Vec<Vec<VictimKey>>,
    o: Ordering,
    retry: Vec<Vec<VictimKey>>,
    second: bool,
}

/// Target ordering state: pruned nodes (Kueue's prunedClusterQueues and prunedCohorts) and
/// how many of each tenant's candidates were used up.
#[derive(Debug)]
struct Ordering {
    pruned: Vec<bool>,
    used: Vec<usize>,
}

impl Ordering {
    fn new(n: usize) -> Self {
        Ordering {
            pruned: vec![false; n],
            used: vec![0; n],
        }
    }
}

impl Fair {
    /// The next victim of the search for `c` on `g`, resumed when the engine took every
    /// victim returned so far.
    fn victim(&self, v: &View, c: &Candidate, g: GenId, a: &Attempt) -> Option<JobId> {
        let search = Search { v, c, g };
        let total = search.usage_total();
        let mut guard = self.progress.lock().unwrap_or_else(|e| e.into_inner());
        let resume = guard.as_ref().is_some_and(|p| {
            p.job == c.job
                && p.g == g
                && p.scope == v.cluster
                && !p.taken.is_empty()
                && p.usage_total == total
                && p.taken
                    .iter()
                    .all(|(t, k)| !v.running.of(*t, g).contains(k))
        });
        if !resume {
            *guard = Some(Progress {
                job: c.job,
                g,
                scope: v.cluster,
                taken: Vec::new(),
                usage_total: total,
                lists: search.lists(a),
            });
        }
        let p = guard.as_mut().expect("set above");
        let found = search.resume(&mut p.lists, &self.strategies)?;
        p.taken.push(found);
        p.usage_total -= u64::from(found.1.3);
        Some(found.1.2)
    }
}

/// One victim choice for candidate `c` on `g`.
struct Search<'a> {
    v: &'a View<'a>,
    c: &'a Candidate,
    g: GenId,
}

impl Search<'_> {
    /// Chips used on `g` by the tenants of the preemptor's tree.
    fn usage_total(&self) -> u64 {
        let q = self.v.quota;
        let root = q.root(self.c.tenant);
        (0..self.v.tenants.len())
            .filter(|&t| q.root(t) == root)
            .map(|t| q.usage(t, self.g))
            .sum()
    }

    /// Kueue's candidates (`findCandidates`): own jobs by `within_queue`; when the queue may
    /// reclaim, the jobs of borrowing tenants of its tree, by `reclaim_within_cohort`.
    fn lists(&self, a: &Attempt) -> Lists {
        let (v, c, g) = (self.v, self.c, self.g);
        let q = v.quota;
        let root = q.root(c.tenant);
        let mut cands = vec![Vec::new(); q.nodes()];
        let reclaim = v.tenants[c.tenant].preemption.reclaim_within_cohort;
        for (t, list) in cands.iter_mut().enumerate().take(v.tenants.len()) {
            let own = t == c.tenant;
            if !own && (a.cross != CrossTenant::FairShare || q.root(t) != root) {
                continue;
            }
            if !own && (q.parent(t).is_none() || !q.is_borrowing(t, g)) {
                continue;
            }
            let in_scope =
                |k: &&VictimKey| v.cluster.is_none_or(|cl| v.running.cluster_of(k.2) == cl);
            let ok = |k: &&VictimKey| {
                if own {
                    own_eligible(v, a.own, c, k)
                } else {
                    reclaim == ReclaimWithinCohort::Any || k.0 < c.priority
                }
            };
            list.extend(
                v.running
                    .of(t, g)
                    .iter()
                    .filter(in_scope)
                    .filter(ok)
                    .copied(),
            );
        }
        let n = cands.len();
        Lists {
            cands,
            o: Ordering::new(n),
            retry: vec![Vec::new(); n],
            second: false,
        }
    }

    /// A node's share and whether it borrows, with the preemptor's chips added where they
    /// count, less `minus` chips of tenant `t` (a candidate taken).
    fn drs(&self, node: usize, minus: Option<(TenantId, u32)>) -> (bool, Share) {
        let q = self.v.quota;
        let (c, g) = (self.c, self.g);
        let add = if q.is_under(c.tenant, node) {
            q.usage_change(c.tenant, g, c.chips as i64, node)
        } else {
            0
        };
        let sub = match minus {
            Some((t, chips)) if q.is_under(t, node) => {
                q.usage_change(t, g, -i64::from(chips), node)
            }
            _ => 0,
        };
        q.drs_with(node, |h| if h == g { add + sub } else { 0 })
    }

    /// Kueue's `nextTarget` below `cohort`: the tenant to take from next, or `None` when the
    /// cohort is pruned.
    fn next_target(
        &self,
        cands: &[Vec<VictimKey>],
        o: &mut Ordering,
        cohort: usize,
    ) -> Option<TenantId> {
        let q = self.v.quota;
        let nt = self.v.tenants.len();
        let mut best_cq: Option<(Share, TenantId)> = None;
        let mut best_cohort: Option<(Share, usize)> = None;
        for n in 0..q.nodes() {
            if q.parent(n) != Some(cohort) || o.pruned[n] {
                continue;
            }
            let (borrowing, share) = self.drs(n, None);
            if n < nt {
                if (!borrowing && n != self.c.tenant) || o.used[n] >= cands[n].len() {
                    o.pruned[n] = true;
                    continue;
                }
                let head = |t: usize| (t == self.c.tenant, cands[t][o.used[t]]);
                match best_cq {
                    Some((s, b)) if share < s || (share == s && head(n) >= head(b)) => {}
                    _ => best_cq = Some((share, n)),
                }
            } else if !borrowing && !q.is_under(self.c.tenant, n) {
                o.pruned[n] = true;
            } else if best_cohort.is_none_or(|(s, _)| share >= s) {
                best_cohort = Some((share, n));
            }
        }
        match (best_cohort, best_cq) {
            (None, None) => {
                o.pruned[cohort] = true;
                None
            }
            (Some((cs, ch)), cq) if cq.is_none_or(|(s, _)| cs >= s) => {
                self.next_target(cands, o, ch)
            }
            (_, cq) => cq.map(|(_, t)| t),
        }
    }

    /// The next target tenant in Kueue's order, or `None` when every one is pruned.
    fn next(&self, cands: &[Vec<VictimKey>], o: &mut Ordering) -> Option<TenantId> {
        let t = self.c.tenant;
        let q = self.v.quota;
        if q.parent(t).is_none() {
            return (o.used[t] < cands[t].len()).then_some(t);
        }
        let root = q.root(t);
        while !o.pruned[root] {
            if let Some(x) = self.next_target(cands, o, root) {
                return Some(x);
            }
        }
        None
    }

    /// The preemptor's and the target's shares at their almost-least-common ancestors, and
    /// the target's without `minus` chips.
    fn shares(&self, target: TenantId, minus: Option<u32>) -> (Share, Share, Share) {
        let (mine, theirs) = almost_lcas(self.v, self.c.tenant, target);
        let after = self.drs(theirs, minus.map(|m| (target, m))).1;
        (self.drs(mine, None).1, self.drs(theirs, None).1, after)
    }

    /// Go on with the search: the next victim, or `None` when both rules are exhausted.
    fn resume(&self, l: &mut Lists, strategies: &[FsStrategy]) -> Option<(TenantId, VictimKey)> {
        if !l.second {
            if let Some(found) = self.first_strategy(l, strategies[0]) {
                return Some(found);
            }
            if strategies.len() < 2 {
                return None;
            }
            l.second = true;
            l.cands = std::mem::take(&mut l.retry);
            l.o = Ordering::new(l.cands.len());
        }
        self.second_strategy(l)
    }

    /// Kueue's `runFirstFsStrategy` up to its next victim; the candidates that fail go to the
    /// retry lists.
    fn first_strategy(&self, l: &mut Lists, strategy: FsStrategy) -> Option<(TenantId, VictimKey)> {
        let q = self.v.quota;
        let (c, g) = (self.c, self.g);
        let within_nominal = q.usage(c.tenant, g) + c.chips <= q.quota(c.tenant, g);
        while let Some(t) = self.next(&l.cands, &mut l.o) {
            let list = &l.cands[t];
            if t == c.tenant || within_nominal {
                let k = list[l.o.used[t]];
                l.o.used[t] += 1;
                return Some((t, k));
            }
            let (mine, old, _) = self.shares(t, None);
            if mine.is_infinite() && !old.is_infinite() {
                l.retry[t].extend_from_slice(&list[l.o.used[t]..]);
                l.o.used[t] = list.len();
                continue;
            }
            while l.o.used[t] < list.len() {
                let k = list[l.o.used[t]];
                l.o.used[t] += 1;
                let new = self.shares(t, Some(k.3)).2;
                let passed = match strategy {
                    FsStrategy::LessThanOrEqualToFinalShare => mine <= new,
                    FsStrategy::LessThanInitialShare => mine < old,
                };
                if passed {
                    return Some((t, k));
                }
                l.retry[t].push(k);
            }
        }
        None
    }

    /// Kueue's `runSecondFsStrategy` (rule S2-b) up to its next victim: per target, its first
    /// retry candidate when the preemptor's share stays below the target's; then the target
    /// is dropped either way.
    fn second_strategy(&self, l: &mut Lists) -> Option<(TenantId, VictimKey)> {
        while let Some(t) = self.next(&l.cands, &mut l.o) {
            let (mine, old, _) = self.shares(t, None);
            l.o.pruned[t] = true;
            if mine < old {
                let k = l.cands[t][l.o.used[t]];
                l.o.used[t] += 1;
                return Some((t, k));
            }
        }
        None
    }
}

/// The children of the lowest common ancestor of tenants `a` and `b` on each side (`a` itself
/// twice when they are the same tenant or share no cohort).
fn almost_lcas(v: &View, a: TenantId, b: TenantId) -> (usize, usize) {
    sides(v, a, b).unwrap_or((a, b))
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
