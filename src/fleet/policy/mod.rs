//! Scheduling policies behind one trait. The engine ([`super::sim`]) owns placement, the event
//! loop, backfill and reclaim pacing; a policy answers every other question, so the engine
//! never asks which policy it runs:
//!
//! 1. does a job fit its tenant's quota on a generation now, within nominal or by borrowing
//!    ([`Policy::fit`]);
//! 2. which waiting job goes next among the heads of the tenants' queues ([`Policy::pick`]);
//! 3. which running jobs may be preempted for it, in what order ([`Policy::preemption`] and
//!    [`Policy::next_victim`]);
//! 4. how many queues there are ([`Policy::single_queue`]) and the most a tenant could ever be
//!    admitted, which rejects impossible jobs at submission ([`Policy::admission_ceiling`]).
//!
//! One file per policy: [`static_`] (hard partitions), [`kueue`] (quotas, cohorts, borrowing,
//! lending, Kueue's three preemption settings), [`fair`] (Kueue with weighted dominant resource
//! share ordering and fair-sharing preemption), [`priority`] (one queue, strict priority with
//! preemption).

pub(crate) mod fair;
pub(crate) mod kueue;
pub(crate) mod priority;
pub(crate) mod static_;

use std::cmp::Reverse;
use std::collections::BTreeSet;

use serde::Serialize;

use super::hardware::GenId;
use super::job::JobId;
use super::quota::QuotaTree;
use super::table::PerTenantGen;
use super::tenant::{ReclaimWithinCohort, TenantId, TenantPlan, WithinQueue};

/// A running, preemptible job as victim selection sees it: (priority, start time, job, chips),
/// ordered lowest priority first, then most recently started first (Kueue's order; it never
/// looks at remaining work).
pub(crate) type VictimKey = (i32, Reverse<u64>, JobId, u32);

/// Preemptible running jobs per (tenant, generation), with their chips per cluster and each
/// job's cluster, so that preemption for a gang can look for victims inside the one cluster the
/// gang will be placed in (a gang never spans clusters). Per-cluster chip counts are enough to
/// choose a cluster; the victims in it are found by filtering the tenant's set, which costs
/// only when such a preemption runs.
#[derive(Clone, Debug, Default)]
pub struct RunningSets {
    tenants: usize,
    sets: PerTenantGen<BTreeSet<VictimKey>>,
    chips: PerTenantGen<u64>,
    /// Per generation, indexed `cluster * tenants + tenant` (grown as clusters appear).
    cluster_chips: Vec<Vec<u64>>,
    /// The sets by cluster, indexed as `cluster_chips`: a tenant's first victim in one cluster
    /// without walking its jobs in the others.
    cluster_sets: Vec<Vec<BTreeSet<VictimKey>>>,
    /// Cluster of each running job, by job id (grown as jobs run).
    job_cluster: Vec<u32>,
    /// Submit time of each running job, by job id: Kueue's queue-order timestamp (the
    /// workload's creation), which `lower_or_newer_equal_priority` compares.
    job_submit: Vec<u64>,
}

impl RunningSets {
    /// Empty sets for `tenants` x `gens`.
    pub fn new(tenants: usize, gens: usize) -> Self {
        RunningSets {
            tenants,
            sets: PerTenantGen::new(tenants, gens, BTreeSet::new()),
            chips: PerTenantGen::new(tenants, gens, 0),
            cluster_chips: vec![Vec::new(); gens],
            cluster_sets: vec![Vec::new(); gens],
            job_cluster: Vec::new(),
            job_submit: Vec::new(),
        }
    }

    /// The submit time of a job in the sets.
    pub fn submit_of(&self, job: JobId) -> u64 {
        self.job_submit[job as usize]
    }

    /// The set of (tenant, generation), in one cluster when given.
    fn set_in(
        &self,
        tenant: TenantId,
        g: GenId,
        cluster: Option<usize>,
    ) -> Option<&BTreeSet<VictimKey>> {
        match cluster {
            Some(c) => self.cluster_sets[g].get(c * self.tenants + tenant),
            None => Some(&self.sets[(tenant, g)]),
        }
    }

    /// The set of (tenant, generation).
    pub fn of(&self, tenant: TenantId, g: GenId) -> &BTreeSet<VictimKey> {
        &self.sets[(tenant, g)]
    }

    /// The cluster a job in the sets runs in.
    pub fn cluster_of(&self, job: JobId) -> usize {
        self.job_cluster[job as usize] as usize
    }

    /// A tenant's first preemptible running job on `g` in one cluster, in victim order.
    pub fn first_in_cluster(
        &self,
        tenant: TenantId,
        g: GenId,
        cluster: usize,
    ) -> Option<&VictimKey> {
        self.cluster_sets[g]
            .get(cluster * self.tenants + tenant)
            .and_then(|s| s.first())
    }

    /// Chips of a tenant's preemptible running jobs on `g`.
    pub fn chips(&self, tenant: TenantId, g: GenId) -> u64 {
        self.chips[(tenant, g)]
    }

    /// Chips of a tenant's preemptible running jobs in one cluster of `g`.
    pub fn cluster_chips(&self, tenant: TenantId, g: GenId, cluster: usize) -> u64 {
        self.cluster_chips[g]
            .get(cluster * self.tenants + tenant)
            .copied()
            .unwrap_or(0)
    }

    /// Add a job running in `cluster`, submitted at `submit_s`.
    pub fn insert(
        &mut self,
        tenant: TenantId,
        g: GenId,
        cluster: usize,
        key: VictimKey,
        submit_s: u64,
    ) {
        self.sets[(tenant, g)].insert(key);
        self.chips[(tenant, g)] += key.3 as u64;
        let i = cluster * self.tenants + tenant;
        if self.cluster_chips[g].len() <= i {
            self.cluster_chips[g].resize((cluster + 1) * self.tenants, 0);
        }
        self.cluster_chips[g][i] += key.3 as u64;
        if self.cluster_sets[g].len() <= i {
            self.cluster_sets[g].resize((cluster + 1) * self.tenants, BTreeSet::new());
        }
        self.cluster_sets[g][i].insert(key);
        let j = key.2 as usize;
        if self.job_cluster.len() <= j {
            self.job_cluster.resize(j + 1, 0);
            self.job_submit.resize(j + 1, 0);
        }
        self.job_cluster[j] = cluster as u32;
        self.job_submit[j] = submit_s;
    }

    /// Remove a job.
    pub fn remove(&mut self, tenant: TenantId, g: GenId, key: &VictimKey) -> bool {
        let removed = self.sets[(tenant, g)].remove(key);
        if removed {
            self.chips[(tenant, g)] -= key.3 as u64;
            let i = self.cluster_of(key.2) * self.tenants + tenant;
            self.cluster_chips[g][i] -= key.3 as u64;
            self.cluster_sets[g][i].remove(key);
        }
        removed
    }
}

/// What a policy may look at.
#[derive(Clone, Copy)]
pub struct View<'a> {
    /// Quotas and usage.
    pub quota: &'a QuotaTree,
    pub tenants: &'a [TenantPlan],
    /// Preemptible running jobs.
    pub running: &'a RunningSets,
    /// Number of generations.
    pub gens: usize,
    /// When set, victims are looked for in this cluster only (placement-aware preemption).
    pub cluster: Option<usize>,
}

impl View<'_> {
    /// A tenant's first preemptible running job on `g` in victim order (within the view's
    /// cluster when it has one).
    pub fn first_victim(&self, tenant: TenantId, g: GenId) -> Option<&VictimKey> {
        match self.cluster {
            Some(c) => self.running.first_in_cluster(tenant, g, c),
            None => self.running.of(tenant, g).first(),
        }
    }

    /// The candidate's tenant's first own running job on `g` in victim order that `rule`
    /// lets it take. Under `lower_or_newer_equal_priority` the first job of equal priority in
    /// victim order (most recently started) may have been submitted earlier than the candidate
    /// and a later one not, so the equal-priority jobs are scanned.
    pub fn first_own_victim(
        &self,
        rule: WithinQueue,
        c: &Candidate,
        g: GenId,
    ) -> Option<&VictimKey> {
        let first = self.first_victim(c.tenant, g)?;
        if own_eligible(self, rule, c, first) {
            return Some(first);
        }
        if rule != WithinQueue::LowerOrNewerEqualPriority || first.0 != c.priority {
            return None;
        }
        let set = self.running.set_in(c.tenant, g, self.cluster)?;
        set.range((c.priority, Reverse(u64::MAX), 0, 0)..)
            .take_while(|k| k.0 == c.priority)
            .find(|k| self.running.submit_of(k.2) > c.submit_s)
    }
}

/// A waiting job being considered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub job: JobId,
    pub tenant: TenantId,
    /// Gang size.
    pub chips: u64,
    pub priority: i32,
    /// Submit time (its place in FIFO order; kept across preemptions, as Kueue requeues).
    pub submit_s: u64,
    /// Required generation, if any.
    pub generation: Option<GenId>,
}

impl Candidate {
    /// Generations the job may run on, in preference order.
    pub fn gens(&self, n: usize) -> std::ops::Range<usize> {
        match self.generation {
            Some(g) => g..g + 1,
            None => 0..n,
        }
    }
}

/// Whether a job fits its quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// It does not.
    No,
    /// It fits within the tenant's nominal quota.
    Nominal,
    /// It fits by borrowing from the cohort.
    Borrow,
}

/// Which jobs of other tenants an attempt may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrossTenant {
    None,
    /// Any job of a borrowing tenant in the same cohort tree.
    ReclaimAny,
    /// Lower-priority jobs of a borrowing tenant in the same cohort tree.
    ReclaimLowerPriority,
    /// Jobs of borrowing tenants whose share, after losing the job, stays at least the
    /// preemptor's share after admission (Kueue's `LessThanOrEqualToFinalShare`).
    FairShare,
    /// Any lower-priority job anywhere (strict priority).
    AnyLowerPriority,
    /// Kueue's classical preemption of other queues' jobs (`reclaimWithinCohort`,
    /// `borrowWithinCohort`, hierarchical advantage): see [`kueue`].
    Classical(Classical),
}

/// The rules of one classical preemption attempt for other queues' jobs (Kueue's
/// `classicalPreemptions`), fixed when the attempts are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classical {
    /// `reclaimWithinCohort` of the preemptor's queue (never `Never` here).
    pub reclaim: ReclaimWithinCohort,
    /// `borrowWithinCohort` is `Never`.
    pub borrow_forbidden: bool,
    /// `borrowWithinCohort.maxPriorityThreshold`.
    pub max_priority: i32,
    /// The lowest level above the preemptor's queue (0: the queue itself, 1: its cohort, ...)
    /// whose subtree quota holds its request (Kueue's `QuantitiesFitInQuota` walk), or
    /// `u32::MAX`: jobs of queues whose lowest common ancestor with it is higher are
    /// hierarchical-reclaim candidates.
    pub advantage_level: u32,
    /// The attempt lets the preemptor borrow: candidates it may only take without borrowing
    /// (`ReclaimWithoutBorrowing`) are skipped.
    pub borrowing: bool,
}

/// One preemption attempt: which victims, and whether the job may borrow once they are gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The preemptor may end up borrowing.
    pub allow_borrowing: bool,
    /// Own jobs that may be taken.
    pub own: WithinQueue,
    /// Other tenants' jobs that may be taken.
    pub cross: CrossTenant,
}

/// A scheduling policy.
pub trait Policy: Send + Sync + std::fmt::Debug {
    /// Its name in scenarios and reports.
    fn name(&self) -> &'static str;

    /// One queue for all tenants (strict priority) instead of one per tenant.
    fn single_queue(&self) -> bool {
        false
    }

    /// The most a tenant could be admitted on `g` under the current quotas, so that a job no
    /// quota epoch would ever admit is rejected at submission instead of waiting forever.
    /// Kueue's: its available quota (nominal plus what the cohort may lend).
    fn admission_ceiling(&self, quota: &QuotaTree, tenant: TenantId, g: GenId) -> u64 {
        quota.available(tenant, g).max(0) as u64
    }

    /// Chips on `g` that preemption could ever free for a job of `tenant`: the preemptible
    /// running chips of every tenant it may take victims from (default: all). A bound that no
    /// admission in a round raises (a started job takes free chips at least as many as it adds
    /// here), so a round passes over a gang above the free chips plus this without trying it.
    fn reach(&self, v: &View, tenant: TenantId, g: GenId) -> u64 {
        let _ = tenant;
        (0..v.tenants.len()).map(|t| v.running.chips(t, g)).sum()
    }

    /// Whether `chips` more chips fit the tenant's quota on `g`.
    fn fit(&self, v: &View, tenant: TenantId, g: GenId, chips: u64) -> Fit;

    /// Index (into `heads`, one waiting job per queue) of the job to try next.
    fn pick(&self, v: &View, heads: &[Candidate]) -> usize;

    /// Preemption attempts for a job that does not fit on `g`, in the order to try.
    fn preemption(&self, v: &View, c: &Candidate, g: GenId) -> Vec<Attempt>;

    /// The next victim for an attempt, or `None` when there is none left. The engine removes
    /// each victim it takes (tentatively) before asking again, so the sets and the quota usage
    /// always describe the state after the victims so far.
    fn next_victim(&self, v: &View, c: &Candidate, g: GenId, a: &Attempt) -> Option<JobId>;
}

/// Policy names, for scenarios and errors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyKind {
    /// Hard partitions, nothing lent.
    Static,
    /// Kueue quotas, cohorts, borrowing, lending and preemption.
    #[default]
    Kueue,
    /// Kueue with dominant-resource-share fair sharing.
    Fair,
    /// Strict priority with preemption, one queue.
    Priority,
}

impl PolicyKind {
    /// The policy object.
    pub fn build(self) -> Box<dyn Policy> {
        match self {
            PolicyKind::Static => Box::new(static_::Static),
            PolicyKind::Kueue => Box::new(kueue::Kueue),
            PolicyKind::Fair => Box::new(fair::Fair::default()),
            PolicyKind::Priority => Box::new(priority::Priority),
        }
    }
}

/// Whether an own job with this key may be taken under `rule`. Kueue's
/// `LowerOrNewerEqualPriority` compares queue-order timestamps (creation times: submit times
/// here), never admission times: a rule on start times would let two equal-priority jobs
/// preempt each other in turn forever.
pub(crate) fn own_eligible(v: &View, rule: WithinQueue, c: &Candidate, key: &VictimKey) -> bool {
    match rule {
        WithinQueue::Never => false,
        WithinQueue::LowerPriority => key.0 < c.priority,
        WithinQueue::LowerOrNewerEqualPriority => {
            key.0 < c.priority || (key.0 == c.priority && v.running.submit_of(key.2) > c.submit_s)
        }
    }
}

/// Whether another tenant's job with this key may be taken under `rule` (share-based rules are
/// checked by the fair policy itself).
pub(crate) fn cross_eligible(
    v: &View,
    rule: CrossTenant,
    c: &Candidate,
    t: TenantId,
    g: GenId,
    key: &VictimKey,
) -> bool {
    let same_tree = v.quota.root(t) == v.quota.root(c.tenant);
    match rule {
        CrossTenant::None => false,
        CrossTenant::AnyLowerPriority => key.0 < c.priority,
        CrossTenant::ReclaimAny | CrossTenant::FairShare => same_tree && v.quota.is_borrowing(t, g),
        CrossTenant::ReclaimLowerPriority => {
            same_tree && v.quota.is_borrowing(t, g) && key.0 < c.priority
        }
        CrossTenant::Classical(cl) => kueue::other_queue_class(v, &cl, c, t, g, key).is_some(),
    }
}

/// The victim minimising `order` over every tenant's first eligible running job. `order` gets
/// (tenant, is own tenant, key) and returns a sort key (smaller goes first), or `None` to skip.
pub(crate) fn best_victim<K: Ord>(
    v: &View,
    c: &Candidate,
    g: GenId,
    a: &Attempt,
    mut order: impl FnMut(TenantId, bool, &VictimKey) -> Option<K>,
) -> Option<JobId> {
    let mut best: Option<(K, JobId)> = None;
    for t in 0..v.tenants.len() {
        let own = t == c.tenant;
        let key = if own {
            v.first_own_victim(a.own, c, g)
        } else {
            v.first_victim(t, g)
                .filter(|key| cross_eligible(v, a.cross, c, t, g, key))
        };
        let Some(key) = key else {
            continue;
        };
        let Some(k) = order(t, own, key) else {
            continue;
        };
        if best.as_ref().is_none_or(|(bk, _)| k < *bk) {
            best = Some((k, key.2));
        }
    }
    best.map(|b| b.1)
}

/// Preemptible running chips on `g` of the tenant itself (`own`) and of the other tenants of
/// its cohort tree (`cohort`).
pub(crate) fn reach_of(v: &View, tenant: TenantId, g: GenId, own: bool, cohort: bool) -> u64 {
    let root = v.quota.root(tenant);
    (0..v.tenants.len())
        .filter(|&t| {
            if t == tenant {
                own
            } else {
                cohort && v.quota.root(t) == root
            }
        })
        .map(|t| v.running.chips(t, g))
        .sum()
}

/// Kueue's quota fit on `g`.
pub(crate) fn quota_fit(v: &View, tenant: TenantId, g: GenId, chips: u64) -> Fit {
    match v.quota.fits(tenant, g, chips) {
        (false, _) => Fit::No,
        (true, true) => Fit::Nominal,
        (true, false) => Fit::Borrow,
    }
}
