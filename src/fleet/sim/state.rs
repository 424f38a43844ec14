//! The engine's state in parts, each with the few questions asked of it: the hardware
//! ([`Capacity`]), the quota books ([`Books`]), the queues ([`Queues`]), reclaim in flight
//! ([`ReclaimState`]) and failed preemption attempts ([`PreemptMemos`]); and the
//! [`Snapshot`] the recorder reads.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Unbounded};

use super::QKey;
use crate::fleet::account::State;
use crate::fleet::hardware::{GenId, Placement, Pool};
use crate::fleet::job::{JobId, JobSpec};
use crate::fleet::policy::Candidate;
use crate::fleet::quota::QuotaTree;
use crate::fleet::scenario::Scenario;
use crate::fleet::table::PerTenantGen;
use crate::fleet::tenant::TenantId;

/// The hardware: a pool per generation, and which jobs run on each UltraServer.
pub(super) struct Capacity {
    pub(super) pools: Vec<Pool>,
    /// Per generation and UltraServer, the jobs on it (only for generations that fail).
    pub(super) us_jobs: Vec<Vec<Vec<JobId>>>,
    /// UltraServers each generation will ever have installed (failures are drawn among them).
    pub(super) peak_us: Vec<u64>,
    pub(super) peak_capacity: Vec<u64>,
    /// Largest gang a generation can place (one cluster).
    pub(super) max_gang: Vec<u64>,
}

impl Capacity {
    pub(super) fn new(s: &Scenario) -> Self {
        let gens = s.fleet.generations.len();
        let pools = s
            .fleet
            .generations
            .iter()
            .map(|g| Pool::new(g.ultraserver_chips, g.ultraservers_per_cluster))
            .collect();
        let peak_capacity: Vec<u64> = (0..gens).map(|g| s.fleet.peak_chips(g)).collect();
        let peak_us = (0..gens)
            .map(|g| peak_capacity[g] / s.fleet.generations[g].ultraserver_chips as u64)
            .collect();
        Capacity {
            pools,
            us_jobs: vec![Vec::new(); gens],
            peak_us,
            peak_capacity,
            max_gang: s
                .fleet
                .generations
                .iter()
                .map(|g| g.ultraserver_chips as u64 * g.ultraservers_per_cluster as u64)
                .collect(),
        }
    }
}

/// The quota books: the cohort tree's quotas and usage, and what the engine adds to them.
pub(super) struct Books {
    pub(super) quota: QuotaTree,
    /// Reservation in force.
    pub(super) reserved: PerTenantGen<u64>,
    /// The most a tenant could ever be admitted ([`crate::fleet::policy::Policy::admission_ceiling`]
    /// over every quota epoch).
    pub(super) ceiling: PerTenantGen<u64>,
    /// Quota claimed by jobs waiting for evictions (counted in the quota tree's usage so later
    /// jobs do not evict for the same entitlement twice).
    pub(super) claims: PerTenantGen<u64>,
    /// Chips of evicting victims whose quota moved to a claim.
    pub(super) overlap_chips: PerTenantGen<u64>,
    /// Largest job of each tenant (bounds what reclaim can take from a borrowing tenant).
    pub(super) max_job: Vec<u64>,
}

impl Books {
    pub(super) fn new(s: &Scenario, jobs: &[JobSpec]) -> Self {
        let gens = s.fleet.generations.len();
        let nt = s.tenants.len();
        let mut parents: Vec<Option<usize>> =
            s.tenants.iter().map(|t| t.cohort.map(|c| nt + c)).collect();
        parents.extend(s.cohorts.iter().map(|c| c.parent.map(|p| nt + p)));
        let mut weights: Vec<f64> = s.tenants.iter().map(|t| t.weight).collect();
        weights.extend(s.cohorts.iter().map(|c| c.weight));
        let mut max_job = vec![0u64; nt];
        for j in jobs {
            max_job[j.tenant] = max_job[j.tenant].max(j.chips as u64);
        }
        Books {
            quota: QuotaTree::new(nt, &parents, &weights, gens),
            reserved: PerTenantGen::new(nt, gens, 0),
            ceiling: PerTenantGen::new(nt, gens, 0),
            claims: PerTenantGen::new(nt, gens, 0),
            overlap_chips: PerTenantGen::new(nt, gens, 0),
            max_job,
        }
    }

    /// Chips a tenant's jobs count against its quota on `g` (quota usage without claims: the
    /// running jobs, and the evicting ones except the chips already claimed by their
    /// preemptors).
    #[inline]
    pub(super) fn alloc(&self, t: TenantId, g: GenId) -> u64 {
        self.quota.usage(t, g) - self.claims[(t, g)]
    }

    /// Chips a tenant's running and evicting jobs hold on `g` (what it is served).
    #[inline]
    pub(super) fn held(&self, t: TenantId, g: GenId) -> u64 {
        self.alloc(t, g) + self.overlap_chips[(t, g)]
    }
}

/// A waiting job's class: the jobs of one queue alike in everything admission looks at but
/// run time and submission (tenant, required generation + 1 or 0 for any, gang, priority).
/// When one of them cannot start, none of those waiting with it can until capacity changes
/// (Kueue's scheduling equivalence), so they are set aside together.
pub(super) type Class = (u32, u8, u32, Reverse<i32>);

/// The waiting jobs of one class, in queue order.
#[derive(Default)]
struct ClassQueue {
    jobs: BTreeSet<QKey>,
    /// Jobs up to this one are set aside (inadmissible, Kueue's BestEffortFIFO) until capacity
    /// changes; later arrivals (always later in queue order within a class) are tried.
    aside_through: Option<QKey>,
    /// Passed over for the rest of the round with this number (EASY backfill).
    skipped_round: u64,
}

/// The waiting jobs: one queue per tenant, or one for all (a single-queue policy), each
/// indexed by [`Class`], so that a round looks at one job per class that may start instead of
/// walking the backlog.
pub(super) struct Queues {
    classes: Vec<BTreeMap<Class, ClassQueue>>,
    /// Every waiting job per queue, only for the job-by-job reference walk
    /// ([`super::RunOptions::exhaustive_rounds`]).
    all: Option<Vec<BTreeSet<QKey>>>,
    /// Some class is set aside.
    any_aside: bool,
    /// Waiting jobs per queue.
    waiting: Vec<usize>,
}

impl Queues {
    pub(super) fn new(n: usize, exhaustive: bool) -> Self {
        Queues {
            classes: (0..n).map(|_| BTreeMap::new()).collect(),
            all: exhaustive.then(|| vec![BTreeSet::new(); n]),
            any_aside: false,
            waiting: vec![0; n],
        }
    }

    /// Number of queues.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.classes.len()
    }

    /// The queue of tenant `t`.
    #[inline]
    pub(super) fn of(&self, t: TenantId) -> usize {
        if self.classes.len() == 1 { 0 } else { t }
    }

    /// A job starts waiting (in its class, set aside if the class is).
    pub(super) fn insert(&mut self, class: Class, key: QKey) {
        let q = self.of(class.0 as usize);
        if self.classes[q].entry(class).or_default().jobs.insert(key) {
            self.waiting[q] += 1;
        }
        if let Some(all) = &mut self.all {
            all[q].insert(key);
        }
    }

    /// A job stops waiting.
    pub(super) fn remove(&mut self, class: Class, key: &QKey) {
        let q = self.of(class.0 as usize);
        // An emptied class keeps its entry (classes are few; a round skips empty ones).
        if let Some(e) = self.classes[q].get_mut(&class)
            && e.jobs.remove(key)
        {
            self.waiting[q] -= 1;
        }
        if let Some(all) = &mut self.all {
            all[q].remove(key);
        }
    }

    /// Capacity changed (a job stopped, chips were delivered or repaired, quotas moved): every
    /// class set aside may be tried again.
    pub(super) fn wake(&mut self) {
        if !std::mem::take(&mut self.any_aside) {
            return;
        }
        for q in &mut self.classes {
            for e in q.values_mut() {
                e.aside_through = None;
            }
        }
    }

    /// Set the waiting jobs of a class of queue `q` aside until capacity changes.
    pub(super) fn set_aside(&mut self, q: usize, class: Class) {
        if let Some(e) = self.classes[q].get_mut(&class) {
            e.aside_through = e.jobs.last().copied();
            self.any_aside = true;
        }
    }

    /// Pass over a class of queue `q` for the rest of round `round`.
    pub(super) fn skip(&mut self, q: usize, class: Class, round: u64) {
        if let Some(e) = self.classes[q].get_mut(&class) {
            e.skipped_round = round;
        }
    }

    /// The first job of queue `q` after `after` neither set aside nor in a class passed over
    /// in round `round`: the earliest such job over the classes, or (exhaustive) the jobs
    /// walked one by one.
    pub(super) fn head(
        &self,
        q: usize,
        after: Option<QKey>,
        round: u64,
        class_of: impl Fn(JobId) -> Class,
    ) -> Option<JobId> {
        if let Some(all) = &self.all {
            let from = after.map_or(Unbounded, Excluded);
            return all[q]
                .range((from, Unbounded))
                .find(|k| {
                    let e = &self.classes[q][&class_of(k.2)];
                    e.skipped_round != round && e.aside_through.is_none_or(|w| **k > w)
                })
                .map(|k| k.2);
        }
        if self.waiting[q] == 0 {
            return None;
        }
        let mut best: Option<&QKey> = None;
        for e in self.classes[q].values() {
            if e.jobs.is_empty() || e.skipped_round == round {
                continue;
            }
            let k = match (after, e.aside_through) {
                (None, None) => e.jobs.first(),
                (Some(a), Some(w)) => e.jobs.range((Excluded(a.max(w)), Unbounded)).next(),
                (Some(k), None) | (None, Some(k)) => e.jobs.range((Excluded(k), Unbounded)).next(),
            };
            if let Some(k) = k
                && best.is_none_or(|b| k < b)
            {
                best = Some(k);
            }
        }
        best.map(|k| k.2)
    }
}

/// Reclaim in flight: throttling budgets, nominated preemptors and the chips their victims
/// hand over.
pub(super) struct ReclaimState {
    /// Per generation: chips booked for throttled eviction per reclaim round (rounds before
    /// the current one are dropped as time passes).
    pub(super) booked: Vec<BTreeMap<u64, u64>>,
    /// Per evicting victim (throttled): the (round, chips) it booked, refunded if it stops
    /// before it is due.
    pub(super) bookings: BTreeMap<JobId, Vec<(u64, u64)>>,
    /// Waiting jobs with chips set aside for them, by job.
    pub(super) nominations: BTreeMap<JobId, Nomination>,
    /// Per evicting victim: the parts of its placement its preemptor's target takes. Their
    /// quota moved to the preemptor's claim at the decision; the victim's tenant keeps only
    /// the rest, so the quota tree counts every chip once.
    pub(super) overlap: BTreeMap<JobId, Vec<(u32, u32)>>,
    /// Preemptors whose last victim stopped during the current event (started after it).
    pub(super) ready: Vec<JobId>,
}

impl ReclaimState {
    pub(super) fn new(gens: usize) -> Self {
        ReclaimState {
            booked: vec![BTreeMap::new(); gens],
            bookings: BTreeMap::new(),
            nominations: BTreeMap::new(),
            overlap: BTreeMap::new(),
            ready: Vec::new(),
        }
    }
}

/// Failed preemption attempts: per (tenant, generation), the last one; it is not retried for
/// a job it covers until a job starts or stops or quotas change (the epoch moves).
pub(super) struct PreemptMemos {
    pub(super) failed: PerTenantGen<PreemptMemo>,
    pub(super) epoch: u64,
}

impl PreemptMemos {
    pub(super) fn new(tenants: usize, gens: usize) -> Self {
        PreemptMemos {
            failed: PerTenantGen::new(tenants, gens, PreemptMemo::NONE),
            epoch: 0,
        }
    }
}

/// What the recorder reads of the engine at a hook.
pub(super) struct Snapshot<'a> {
    pub(super) books: &'a Books,
    pub(super) pools: &'a [Pool],
    /// Chips each (tenant, generation) holds in running Capacity Blocks.
    pub(super) blocks: &'a PerTenantGen<u64>,
}

impl State for Snapshot<'_> {
    #[inline]
    fn held(&self, t: TenantId, g: GenId) -> u64 {
        self.books.held(t, g)
    }

    #[inline]
    fn nominal(&self, t: TenantId, g: GenId) -> u64 {
        self.books.quota.quota(t, g)
    }

    #[inline]
    fn guaranteed(&self, t: TenantId, g: GenId) -> u64 {
        self.books.quota.guaranteed(t, g)
    }

    #[inline]
    fn reserved(&self, t: TenantId) -> &[u64] {
        self.books.reserved.row(t)
    }

    #[inline]
    fn pools(&self) -> &[Pool] {
        self.pools
    }

    #[inline]
    fn block_held(&self, t: TenantId, g: GenId) -> u64 {
        self.blocks[(t, g)]
    }
}

/// A waiting job whose victims are still running their grace period (graceful and throttled
/// reclaim). Its gang's chips are set aside at the decision, so that nothing admitted in the
/// meantime can take them: it starts on `target` the moment its last victim stops, which is
/// what makes the wait bound of the reclaim mode hold (scenarios/README.md).
pub(super) struct Nomination {
    pub(super) gen_: GenId,
    /// Where the job will run.
    pub(super) target: Placement,
    /// The parts of `target` it holds in the pool already: the free chips at the decision,
    /// then the chips of each victim that stops.
    pub(super) held: Vec<(u32, u32)>,
}

/// A preemption attempt that found no room: any job of the same tenant on the same generation
/// at least as large and of no higher priority has no more victims to choose from (every
/// eligibility rule is monotone in both), so it would fail too. Under
/// `lower_or_newer_equal_priority` an earlier submission may take more of its own tenant's
/// jobs, so there the job must also be submitted no earlier.
#[derive(Clone, Copy, Debug)]
pub(super) struct PreemptMemo {
    chips: u64,
    priority: i32,
    submit_s: u64,
    pub(super) epoch: u64,
}

impl PreemptMemo {
    pub(super) const NONE: PreemptMemo = PreemptMemo {
        chips: u64::MAX,
        priority: i32::MIN,
        submit_s: u64::MAX,
        epoch: u64::MAX,
    };

    pub(super) fn of(c: &Candidate, epoch: u64) -> Self {
        PreemptMemo {
            chips: c.chips,
            priority: c.priority,
            submit_s: c.submit_s,
            epoch,
        }
    }

    pub(super) fn covers(&self, c: &Candidate, by_submission: bool) -> bool {
        c.chips >= self.chips
            && c.priority <= self.priority
            && (!by_submission || c.submit_s >= self.submit_s)
    }
}
