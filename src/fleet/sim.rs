//! The engine: one run of a scenario. Events (arrivals, completions, evictions, deliveries,
//! quota updates, failures, repairs, samples) are processed in (time, sequence) order; after
//! the events of one instant, one scheduling round admits, places and preempts.
//!
//! The engine owns placement, backfill and reclaim pacing; the policy answers quota and order
//! questions. All state is per run: [`run_with`] is a pure function of the scenario, the seed
//! and the run-time provider.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound::{Excluded, Unbounded};

use super::demand;
use super::error::{Error, Result};
use super::event::{EventKind, EventQueue};
use super::hardware::{GenId, Placement, Pool, for_parts};
use super::job::{JobId, JobSpec, RunTime};
use super::metrics::{FleetMetrics, JobRecord, Outcome, Percentiles, Sample, TenantMetrics};
use super::policy::{Attempt, Candidate, CrossTenant, Fit, Policy, PolicyKind, RunningSets, View};
use super::quota::QuotaTree;
use super::reclaim::ReclaimMode;
use super::rng::Rng;
use super::scenario::{Backfill, Scenario};
use super::tenant::{TenantId, WithinQueue, quota_epochs, quotas_at};

/// Options of a run that do not change its results.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// Check capacity, quota and accounting invariants after every round (slow; for tests).
    pub check_invariants: bool,
    /// Return one [`JobRecord`] per job in [`Outcome::jobs`] (for job-level analysis).
    pub record_jobs: bool,
}

/// Most victims one preemption attempt may take before giving up (a bound on work per attempt).
const MAX_VICTIMS: usize = 2048;

/// Most clusters one preemption attempt tries for a gang that cannot be placed now (a bound on
/// work per attempt; clusters are tried most promising first).
const MAX_CLUSTERS: usize = 4;

const NO_TIME: u64 = u64::MAX;

const NO_JOB: JobId = JobId::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Future,
    Waiting,
    Running,
    /// Tentatively taken as a victim while a preemption is worked out (detached).
    Taken,
    /// Chosen as a victim, running until its eviction is due.
    Evicting,
    Done,
    Rejected,
}

#[derive(Clone, Debug)]
struct JobState {
    status: Status,
    gen_: u8,
    epoch: u32,
    start_s: u64,
    first_start_s: u64,
    remaining: f64,
    placement: Placement,
    spent_chip_s: u64,
    awaiting: u32,
    evicted_for: JobId,
    reclaim_since: u64,
    /// Completion time ([`NO_TIME`] until it completes).
    end_s: u64,
    /// Generation + 1 of the quota claimed while waiting for evictions (0: none).
    claim: u8,
}

/// Queue order inside a queue: higher priority first, then submission order.
type QKey = (Reverse<i32>, u64, JobId);

enum TryResult {
    Started,
    /// Waiting; `Some(g)` when the quota allowed generation `g` but the capacity did not.
    Waiting(Option<GenId>),
    /// Waiting for its victims to stop, with its chips already set aside (not tried again).
    Nominated,
}

/// A waiting job whose victims are still running their grace period (graceful and throttled
/// reclaim). Its gang's chips are set aside at the decision, so that nothing admitted in the
/// meantime can take them: it starts on `target` the moment its last victim stops, which is
/// what makes the wait bound of the reclaim mode hold (scenarios/README.md).
struct Nomination {
    gen_: GenId,
    /// Where the job will run.
    target: Placement,
    /// The parts of `target` it holds in the pool already: the free chips at the decision,
    /// then the chips of each victim that stops.
    held: Vec<(u32, u32)>,
}

#[derive(Default, Clone)]
struct TenantAcc {
    submitted: u64,
    started: u64,
    completed: u64,
    rejected: u64,
    demanded_chip_s: f64,
    served_chip_s: f64,
    borrowed_chip_s: f64,
    lent_chip_s: f64,
    lost_chip_s: f64,
    preemptions: u64,
    failure_kills: u64,
    delays: Vec<f64>,
    jcts: Vec<f64>,
    slowdowns: Vec<f64>,
    run_times: Vec<f64>,
    reclaims: Vec<f64>,
    reserved_time_s: u64,
    honoured_time_s: u64,
    reserved_chip_s: f64,
    honoured_now: bool,
    waiting_jobs: u64,
    waiting_chips: u64,
    waiting_sizes: BTreeMap<u32, u32>,
}

struct Easy {
    job: JobId,
    shadow_s: u64,
    extra: u64,
}

struct Sim<'a> {
    s: &'a Scenario,
    rt: &'a dyn RunTime,
    policy: Box<dyn Policy>,
    opts: RunOptions,
    gens: usize,
    now: u64,
    jobs: Vec<JobSpec>,
    st: Vec<JobState>,
    next_arrival: usize,
    events: EventQueue,
    pools: Vec<Pool>,
    us_jobs: Vec<Vec<Vec<JobId>>>,
    peak_us: Vec<u64>,
    quota: QuotaTree,
    reserved: Vec<u64>,
    ceiling: Vec<u64>,
    peak_capacity: Vec<u64>,
    /// Largest gang a generation can place (one cluster).
    max_gang: Vec<u64>,
    /// Largest job of each tenant (bounds what reclaim can take from a borrowing tenant).
    max_job: Vec<u64>,
    running: RunningSets,
    queues: Vec<BTreeSet<QKey>>,
    ends: Vec<BTreeSet<(u64, JobId)>>,
    gen_waiting: Vec<BTreeMap<u32, u32>>,
    acc: Vec<TenantAcc>,
    /// Per generation: chips booked for throttled eviction per reclaim round (rounds before
    /// the current one are dropped as time passes).
    booked: Vec<BTreeMap<u64, u64>>,
    /// Per evicting victim (throttled): the (round, chips) it booked, refunded if it stops
    /// before it is due.
    bookings: BTreeMap<JobId, Vec<(u64, u64)>>,
    /// Per (tenant, generation): quota claimed by jobs waiting for evictions (counted in the
    /// quota tree's usage so later jobs do not evict for the same entitlement twice).
    claims: Vec<u64>,
    /// Waiting jobs with chips set aside for them, by job.
    nominations: BTreeMap<JobId, Nomination>,
    /// Per evicting victim: the parts of its placement its preemptor's target takes. Their
    /// quota moved to the preemptor's claim at the decision; the victim's tenant keeps only
    /// the rest, so the quota tree counts every chip once.
    overlap: BTreeMap<JobId, Vec<(u32, u32)>>,
    /// Per (tenant, generation): chips of evicting victims whose quota moved to a claim.
    overlap_chips: Vec<u64>,
    /// Preemptors whose last victim stopped during the current event (started after it).
    ready: Vec<JobId>,
    /// Per (tenant, generation): the last preemption attempt that failed; it is not retried
    /// for a job it covers until a job starts or stops or quotas change (the epoch moves).
    preempt_failed: Vec<PreemptMemo>,
    preempt_epoch: u64,
    dirty: bool,
    fleet: FleetMetrics,
    frag_sum: f64,
    frag_share_sum: f64,
    frag_samples: u64,
    samples: Vec<Sample>,
    fail_rng: Rng,
}

/// A preemption attempt that found no room: any job of the same tenant on the same generation
/// at least as large and of no higher priority has no more victims to choose from (every
/// eligibility rule is monotone in both), so it would fail too. Under
/// `lower_or_newer_equal_priority` an earlier submission may take more of its own tenant's
/// jobs, so there the job must also be submitted no earlier.
#[derive(Clone, Copy, Debug)]
struct PreemptMemo {
    chips: u64,
    priority: i32,
    submit_s: u64,
    epoch: u64,
}

impl PreemptMemo {
    const NONE: PreemptMemo = PreemptMemo {
        chips: u64::MAX,
        priority: i32::MIN,
        submit_s: u64::MAX,
        epoch: u64::MAX,
    };

    fn of(c: &Candidate, epoch: u64) -> Self {
        PreemptMemo {
            chips: c.chips,
            priority: c.priority,
            submit_s: c.submit_s,
            epoch,
        }
    }

    fn covers(&self, c: &Candidate, by_submission: bool) -> bool {
        c.chips >= self.chips
            && c.priority <= self.priority
            && (!by_submission || c.submit_s >= self.submit_s)
    }
}

/// Run a scenario with a seed and a run-time provider.
pub fn run_with(s: &Scenario, seed: u64, rt: &dyn RunTime, opts: &RunOptions) -> Result<Outcome> {
    let jobs = demand::generate(&s.demand, seed);
    let mut sim = Sim::new(s, seed, rt, *opts, jobs);
    sim.run()?;
    Ok(sim.outcome(seed))
}

fn add_size(m: &mut BTreeMap<u32, u32>, k: u32) {
    *m.entry(k).or_insert(0) += 1;
}

fn remove_size(m: &mut BTreeMap<u32, u32>, k: u32) {
    if let Some(c) = m.get_mut(&k) {
        *c -= 1;
        if *c == 0 {
            m.remove(&k);
        }
    }
}

impl<'a> Sim<'a> {
    fn new(
        s: &'a Scenario,
        seed: u64,
        rt: &'a dyn RunTime,
        opts: RunOptions,
        jobs: Vec<JobSpec>,
    ) -> Self {
        let gens = s.fleet.generations.len();
        let nt = s.tenants.len();
        let policy = s.policy.kind.build();
        let mut parents: Vec<Option<usize>> =
            s.tenants.iter().map(|t| t.cohort.map(|c| nt + c)).collect();
        parents.extend(s.cohorts.iter().map(|c| c.parent.map(|p| nt + p)));
        let mut weights: Vec<f64> = s.tenants.iter().map(|t| t.weight).collect();
        weights.extend(s.cohorts.iter().map(|c| c.weight));
        let quota = QuotaTree::new(nt, &parents, &weights, gens);
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
        let nq = if policy.single_queue() { 1 } else { nt };
        let mut max_job = vec![0u64; nt];
        for j in &jobs {
            max_job[j.tenant] = max_job[j.tenant].max(j.chips as u64);
        }
        let st = jobs
            .iter()
            .map(|j| JobState {
                status: Status::Future,
                gen_: 0,
                epoch: 0,
                start_s: 0,
                first_start_s: NO_TIME,
                remaining: j.work as f64,
                placement: Placement::None,
                spent_chip_s: 0,
                awaiting: 0,
                evicted_for: NO_JOB,
                reclaim_since: NO_TIME,
                end_s: NO_TIME,
                claim: 0,
            })
            .collect();
        let mut sim = Sim {
            s,
            rt,
            policy,
            opts,
            gens,
            now: 0,
            jobs,
            st,
            next_arrival: 0,
            events: EventQueue::new(),
            pools,
            us_jobs: vec![Vec::new(); gens],
            peak_us,
            quota,
            reserved: vec![0; nt * gens],
            ceiling: vec![0; nt * gens],
            max_job,
            max_gang: s
                .fleet
                .generations
                .iter()
                .map(|g| g.ultraserver_chips as u64 * g.ultraservers_per_cluster as u64)
                .collect(),
            peak_capacity,
            running: RunningSets::new(nt, gens),
            queues: vec![BTreeSet::new(); nq],
            ends: vec![BTreeSet::new(); gens],
            gen_waiting: vec![BTreeMap::new(); gens],
            acc: vec![TenantAcc::default(); nt],
            booked: vec![BTreeMap::new(); gens],
            bookings: BTreeMap::new(),
            preempt_failed: vec![PreemptMemo::NONE; nt * gens],
            preempt_epoch: 0,
            claims: vec![0; nt * gens],
            nominations: BTreeMap::new(),
            overlap: BTreeMap::new(),
            overlap_chips: vec![0; nt * gens],
            ready: Vec::new(),
            dirty: false,
            fleet: FleetMetrics::default(),
            frag_sum: 0.0,
            frag_share_sum: 0.0,
            frag_samples: 0,
            samples: Vec::new(),
            fail_rng: Rng::new(seed, 7),
        };
        sim.compute_ceilings();
        sim
    }

    /// Chips a tenant's jobs count against its quota on `g` (quota usage without claims: the
    /// running jobs, and the evicting ones except the chips already claimed by their
    /// preemptors).
    fn alloc(&self, t: TenantId, g: GenId) -> u64 {
        self.quota.usage(t, g) - self.claims[t * self.gens + g]
    }

    /// Chips a tenant's running and evicting jobs hold on `g` (what it is served).
    fn held(&self, t: TenantId, g: GenId) -> u64 {
        self.alloc(t, g) + self.overlap_chips[t * self.gens + g]
    }

    /// Chips a tenant's jobs hold beyond its nominal on `g`.
    fn borrowed(&self, t: TenantId, g: GenId) -> u64 {
        self.held(t, g).saturating_sub(self.quota.quota(t, g))
    }

    fn set_claim(&mut self, id: JobId, g: Option<GenId>) {
        let t = self.jobs[id as usize].tenant;
        let chips = self.jobs[id as usize].chips as u64;
        let old = self.st[id as usize].claim;
        if old > 0 {
            let og = old as usize - 1;
            self.quota.add_usage(t, og, -(chips as i64));
            self.claims[t * self.gens + og] -= chips;
        }
        self.st[id as usize].claim = 0;
        if let Some(g) = g {
            self.quota.add_usage(t, g, chips as i64);
            self.claims[t * self.gens + g] += chips;
            self.st[id as usize].claim = g as u8 + 1;
        }
    }

    fn view(&self) -> View<'_> {
        self.view_in(None)
    }

    /// The policy's view, with victims restricted to one cluster when `cluster` is set.
    fn view_in(&self, cluster: Option<usize>) -> View<'_> {
        View {
            quota: &self.quota,
            tenants: &self.s.tenants,
            running: &self.running,
            gens: self.gens,
            cluster,
        }
    }

    /// The cluster a running job is in (a gang never spans clusters).
    fn cluster_of_job(&self, id: JobId) -> usize {
        let st = &self.st[id as usize];
        let us = match &st.placement {
            Placement::None => 0,
            Placement::One { us, .. } => *us,
            Placement::Many(parts) => parts.first().map_or(0, |p| p.0),
        };
        self.pools[st.gen_ as usize].cluster_of(us)
    }

    fn queue_of(&self, t: TenantId) -> usize {
        if self.queues.len() == 1 { 0 } else { t }
    }

    /// Quota epochs: every time a nominal quota or reservation may change.
    fn epochs(&self) -> Vec<u64> {
        let s = self.s;
        quota_epochs(&s.fleet, &s.tenants, s.policy.quota_step_s, s.horizon_s)
    }

    /// Set every tenant's quota for time `t_s` from its base quota, share and reservation.
    fn set_quotas(&mut self, t_s: u64) {
        let s = self.s;
        let g_n = self.gens;
        for g in 0..g_n {
            let installed = s.fleet.installed_chips(g, t_s);
            for (ti, q) in quotas_at(&s.tenants, g, installed, t_s)
                .into_iter()
                .enumerate()
            {
                self.reserved[ti * g_n + g] = q.reserved;
                self.quota
                    .set_quota(ti, g, q.nominal, q.borrowing_limit, q.lending_limit);
            }
        }
        self.quota.recompute();
    }

    /// The most a tenant could ever be admitted per generation (for rejecting impossible jobs).
    fn compute_ceilings(&mut self) {
        let g_n = self.gens;
        for t_s in self.epochs() {
            self.set_quotas(t_s);
            for t in 0..self.s.tenants.len() {
                for g in 0..g_n {
                    let c = match self.s.policy.kind {
                        PolicyKind::Priority => u64::MAX,
                        PolicyKind::Static => self.quota.quota(t, g),
                        _ => self.quota.available(t, g).max(0) as u64,
                    };
                    let i = t * g_n + g;
                    self.ceiling[i] = self.ceiling[i].max(c);
                }
            }
        }
    }

    fn run(&mut self) -> Result<()> {
        let s = self.s;
        let h = s.horizon_s;
        for (i, d) in s.fleet.deliveries.iter().enumerate() {
            if d.at_s < h {
                self.events.push(d.at_s, EventKind::Delivery(i as u32));
            }
        }
        for t in self.epochs() {
            self.events.push(t, EventKind::QuotaUpdate);
        }
        if let Some(j) = self.jobs.first()
            && j.submit_s < h
        {
            self.events.push(j.submit_s, EventKind::Arrival);
        }
        for (g, gen_) in s.fleet.generations.iter().enumerate() {
            if gen_.mtbf_s > 0 && self.peak_us[g] > 0 {
                self.us_jobs[g] = vec![Vec::new(); self.peak_us[g] as usize];
                let dt = self
                    .fail_rng
                    .exponential(gen_.mtbf_s as f64 / self.peak_us[g] as f64);
                self.events
                    .push(dt.round() as u64, EventKind::Failure(g as u32));
            }
        }
        self.events.push(0, EventKind::Report);
        while let Some(t) = self.events.peek_time() {
            if t >= h {
                break;
            }
            self.advance(t);
            while self.events.peek_time() == Some(t) {
                let e = self.events.pop().expect("peeked");
                self.fleet.events += 1;
                self.handle(e.kind);
                if !self.ready.is_empty() {
                    self.start_ready();
                }
            }
            if self.dirty {
                self.dirty = false;
                self.round();
                if self.opts.check_invariants {
                    self.check()?;
                }
            }
            self.evaluate_honour();
        }
        self.advance(h);
        if self.opts.check_invariants {
            self.check()?;
        }
        Ok(())
    }

    fn handle(&mut self, kind: EventKind) {
        match kind {
            EventKind::Arrival => {
                let t = self.now;
                while self.next_arrival < self.jobs.len()
                    && self.jobs[self.next_arrival].submit_s <= t
                {
                    let id = self.next_arrival as JobId;
                    self.next_arrival += 1;
                    self.arrive(id);
                }
                if let Some(j) = self.jobs.get(self.next_arrival)
                    && j.submit_s < self.s.horizon_s
                {
                    self.events.push(j.submit_s, EventKind::Arrival);
                }
            }
            EventKind::Finish { job, epoch } => {
                let st = &self.st[job as usize];
                if st.epoch == epoch && matches!(st.status, Status::Running | Status::Evicting) {
                    self.detach(job);
                    self.stop(job, Stop::Completed);
                    self.dirty = true;
                }
            }
            EventKind::EvictDue { job, epoch } => {
                let st = &self.st[job as usize];
                if st.epoch == epoch && st.status == Status::Evicting {
                    // Its chips go to the preemptor (`start_ready`).
                    self.detach(job);
                    self.stop(job, Stop::Preempted);
                    self.dirty = true;
                }
            }
            EventKind::Delivery(i) => {
                let d = &self.s.fleet.deliveries[i as usize];
                self.pools[d.generation].add_ultraservers(d.ultraservers);
                self.preempt_epoch += 1;
                self.dirty = true;
            }
            EventKind::QuotaUpdate => {
                self.preempt_epoch += 1;
                self.set_quotas(self.now);
                self.dirty = true;
            }
            EventKind::Failure(g) => self.failure(g as usize),
            EventKind::Repair(id) => {
                let (g, us) = ((id >> 24) as usize, id & 0xFF_FFFF);
                self.pools[g].repair(us);
                self.preempt_epoch += 1;
                self.dirty = true;
            }
            EventKind::Report => {
                self.sample();
                let next = self.now + self.s.report_interval_s.max(1);
                if next < self.s.horizon_s {
                    self.events.push(next, EventKind::Report);
                }
            }
        }
    }

    fn arrive(&mut self, id: JobId) {
        let j = &self.jobs[id as usize];
        let a = &mut self.acc[j.tenant];
        a.submitted += 1;
        a.demanded_chip_s += j.chips as f64 * self.rt.reference_s(j);
        let g_n = self.gens;
        let possible = match j.generation {
            Some(g) => g..g + 1,
            None => 0..g_n,
        }
        .any(|g| {
            let gen_ = &self.s.fleet.generations[g];
            let cluster = gen_.ultraserver_chips as u64 * gen_.ultraservers_per_cluster as u64;
            j.chips as u64 <= self.peak_capacity[g].min(cluster)
                && j.chips as u64 <= self.ceiling[j.tenant * g_n + g]
        });
        if !possible {
            self.st[id as usize].status = Status::Rejected;
            self.acc[j.tenant].rejected += 1;
            return;
        }
        self.enqueue(id);
        self.dirty = true;
    }

    fn qkey(&self, id: JobId) -> QKey {
        let j = &self.jobs[id as usize];
        (Reverse(j.priority), j.submit_s, id)
    }

    fn enqueue(&mut self, id: JobId) {
        let j = &self.jobs[id as usize];
        let (t, chips, gen_) = (j.tenant, j.chips, j.generation);
        let key = self.qkey(id);
        let q = self.queue_of(t);
        self.queues[q].insert(key);
        self.st[id as usize].status = Status::Waiting;
        let a = &mut self.acc[t];
        a.waiting_jobs += 1;
        a.waiting_chips += chips as u64;
        add_size(&mut a.waiting_sizes, chips);
        match gen_ {
            Some(g) => add_size(&mut self.gen_waiting[g], chips),
            None => self.gen_waiting.iter_mut().for_each(|m| add_size(m, chips)),
        }
    }

    fn dequeue(&mut self, id: JobId) {
        let j = &self.jobs[id as usize];
        let (t, chips, gen_) = (j.tenant, j.chips, j.generation);
        let key = self.qkey(id);
        let q = self.queue_of(t);
        self.queues[q].remove(&key);
        let a = &mut self.acc[t];
        a.waiting_jobs -= 1;
        a.waiting_chips -= chips as u64;
        remove_size(&mut a.waiting_sizes, chips);
        match gen_ {
            Some(g) => remove_size(&mut self.gen_waiting[g], chips),
            None => self
                .gen_waiting
                .iter_mut()
                .for_each(|m| remove_size(m, chips)),
        }
    }

    fn victim_key(&self, id: JobId) -> super::policy::VictimKey {
        let j = &self.jobs[id as usize];
        (
            j.priority,
            Reverse(self.st[id as usize].start_s),
            id,
            j.chips,
        )
    }

    /// Start a waiting job on `g` at `p` (already taken from the pool).
    fn start(&mut self, id: JobId, g: GenId, p: Placement) {
        self.preempt_epoch += 1;
        self.dequeue(id);
        self.set_claim(id, None);
        let now = self.now;
        let j = &self.jobs[id as usize];
        let (t, chips, preemptible) = (j.tenant, j.chips, j.preemptible);
        let run_s = self
            .rt
            .run_s(
                j,
                g,
                &self.s.fleet.generations[g],
                self.st[id as usize].remaining,
            )
            .max(1);
        let st = &mut self.st[id as usize];
        st.status = Status::Running;
        st.gen_ = g as u8;
        st.start_s = now;
        let first = st.first_start_s == NO_TIME;
        if first {
            st.first_start_s = now;
        }
        let reclaim = std::mem::replace(&mut st.reclaim_since, NO_TIME);
        let epoch = st.epoch;
        if !self.us_jobs[g].is_empty() {
            for_parts(&p, |us, _| self.us_jobs[g][us as usize].push(id));
        }
        self.st[id as usize].placement = p;
        self.events
            .push(now + run_s, EventKind::Finish { job: id, epoch });
        self.quota.add_usage(t, g, chips as i64);
        if preemptible {
            let key = self.victim_key(id);
            let cl = self.cluster_of_job(id);
            self.running.insert(t, g, cl, key);
        }
        if self.s.policy.backfill == Backfill::Easy {
            self.ends[g].insert((now + run_s, id));
        }
        let a = &mut self.acc[t];
        if first {
            a.started += 1;
            a.delays
                .push((now - self.jobs[id as usize].submit_s) as f64);
        }
        if reclaim != NO_TIME {
            a.reclaims.push((now - reclaim) as f64);
        }
    }

    /// Give back a running or evicting job's chips and quota, and take it out of the victim
    /// sets (the first half of stopping it; for a running job undone exactly by
    /// [`Sim::attach`]). An evicting job's chips that its preemptor's target takes go to the
    /// preemptor's hold instead of the free pool (their quota is the preemptor's claim already).
    fn detach(&mut self, id: JobId) {
        let g = self.st[id as usize].gen_ as usize;
        let t = self.jobs[id as usize].tenant;
        let chips = self.jobs[id as usize].chips as u64;
        self.pools[g].release(&self.st[id as usize].placement);
        match self.st[id as usize].status {
            Status::Evicting => {
                let parts = self.overlap.remove(&id).unwrap_or_default();
                let moved: u64 = parts.iter().map(|p| p.1 as u64).sum();
                self.quota.add_usage(t, g, -((chips - moved) as i64));
                self.overlap_chips[t * self.gens + g] -= moved;
                let p = self.st[id as usize].evicted_for;
                if let Some(n) = self.nominations.get_mut(&p) {
                    for &(us, k) in &parts {
                        self.pools[g].occupy_part(us, k);
                    }
                    n.held.extend(parts);
                }
            }
            status => {
                self.quota.add_usage(t, g, -(chips as i64));
                if self.jobs[id as usize].preemptible && status == Status::Running {
                    let key = self.victim_key(id);
                    self.running.remove(t, g, &key);
                }
            }
        }
    }

    fn attach(&mut self, id: JobId) {
        let g = self.st[id as usize].gen_ as usize;
        let t = self.jobs[id as usize].tenant;
        let chips = self.jobs[id as usize].chips;
        self.pools[g].occupy(&self.st[id as usize].placement);
        self.quota.add_usage(t, g, chips as i64);
        if self.jobs[id as usize].preemptible && self.st[id as usize].status == Status::Running {
            let key = self.victim_key(id);
            let cl = self.cluster_of_job(id);
            self.running.insert(t, g, cl, key);
        }
    }

    /// The second half of stopping a detached job: accounting, and a requeue unless completed.
    fn stop(&mut self, id: JobId, why: Stop) {
        self.preempt_epoch += 1;
        let now = self.now;
        let g = self.st[id as usize].gen_ as usize;
        let (t, chips) = (
            self.jobs[id as usize].tenant,
            self.jobs[id as usize].chips as u64,
        );
        let st = &mut self.st[id as usize];
        let elapsed = now - st.start_s;
        st.spent_chip_s += elapsed * chips;
        let placement = std::mem::take(&mut st.placement);
        if st.status == Status::Evicting && st.evicted_for != NO_JOB {
            let p = std::mem::replace(&mut st.evicted_for, NO_JOB);
            let pa = &mut self.st[p as usize].awaiting;
            *pa = pa.saturating_sub(1);
            if *pa == 0 {
                self.ready.push(p);
            }
        }
        if self.s.policy.reclaim.mode == ReclaimMode::Throttled
            && let Some(pieces) = self.bookings.remove(&id)
            && why != Stop::Preempted
        {
            // Stopped before its eviction was due: give back the budget it had booked.
            let current = self.s.policy.reclaim.round_of(now);
            for (round, k) in pieces {
                if round >= current
                    && let Some(b) = self.booked[g].get_mut(&round)
                {
                    *b -= k;
                }
            }
        }
        let j = &self.jobs[id as usize];
        let st = &mut self.st[id as usize];
        st.epoch += 1;
        if !self.us_jobs[g].is_empty() {
            for_parts(&placement, |us, _| {
                let v = &mut self.us_jobs[g][us as usize];
                if let Some(k) = v.iter().position(|&x| x == id) {
                    v.swap_remove(k);
                }
            });
        }
        if self.s.policy.backfill == Backfill::Easy {
            // Its key in the end list: the run time as computed at its start (the remaining
            // work is still the one it started with).
            let run_s = self
                .rt
                .run_s(j, g, &self.s.fleet.generations[g], st.remaining)
                .max(1);
            self.ends[g].remove(&(st.start_s + run_s, id));
        }
        match why {
            Stop::Completed => {
                st.status = Status::Done;
                st.remaining = 0.0;
                st.end_s = now;
                let j = &self.jobs[id as usize];
                let jct = (now - j.submit_s) as f64;
                let ideal = self
                    .rt
                    .run_s(j, g, &self.s.fleet.generations[g], j.work as f64);
                let a = &mut self.acc[t];
                a.completed += 1;
                a.jcts.push(jct);
                a.slowdowns.push(jct / (ideal.max(10) as f64));
                a.run_times.push(ideal as f64);
            }
            Stop::Preempted | Stop::Killed => {
                let ck = j.checkpoint_s;
                let kept_s = elapsed.checked_div(ck).map_or(0, |n| n * ck);
                let done = self
                    .rt
                    .work_done(j, g, &self.s.fleet.generations[g], kept_s);
                st.remaining = (st.remaining - done).max(0.0);
                let a = &mut self.acc[t];
                a.preemptions += 1;
                if why == Stop::Killed {
                    a.failure_kills += 1;
                }
                a.lost_chip_s += ((elapsed - kept_s) * chips) as f64;
                self.enqueue(id);
            }
        }
    }

    fn failure(&mut self, g: GenId) {
        let gen_ = &self.s.fleet.generations[g];
        let dt = self
            .fail_rng
            .exponential(gen_.mtbf_s as f64 / self.peak_us[g] as f64)
            .round() as u64;
        self.events
            .push(self.now + dt.max(1), EventKind::Failure(g as u32));
        // Thinning: a candidate failure hits an UltraServer index among every one that will
        // ever be installed; only an installed, working one fails.
        let us = self.fail_rng.below(self.peak_us[g]) as u32;
        if us as usize >= self.pools[g].ultraservers() || self.pools[g].is_down(us) {
            return;
        }
        // Jobs nominated onto this UltraServer lose their target (they are started, or tried
        // again, once their victims are gone).
        let hit: Vec<JobId> = self
            .nominations
            .iter()
            .filter(|(_, n)| {
                let mut on = false;
                for_parts(&n.target, |u, _| on |= u == us);
                n.gen_ == g && on
            })
            .map(|(&id, _)| id)
            .collect();
        for id in hit {
            let n = self.nominations.remove(&id).expect("listed");
            for (u, k) in n.held {
                self.pools[g].release_part(u, k);
            }
        }
        let victims = std::mem::take(&mut self.us_jobs[g][us as usize]);
        for id in victims.iter().copied() {
            if matches!(
                self.st[id as usize].status,
                Status::Running | Status::Evicting
            ) {
                self.detach(id);
                self.stop(id, Stop::Killed);
            }
        }
        self.pools[g].fail(us);
        self.fleet.failures += 1;
        self.events.push(
            self.now + gen_.repair_s.max(1),
            EventKind::Repair(((g as u32) << 24) | us),
        );
        self.dirty = true;
    }

    fn fits_after(&self, c: &Candidate, g: GenId, allow_borrowing: bool) -> bool {
        let fit = self.policy.fit(&self.view(), c.tenant, g, c.chips);
        (fit == Fit::Nominal || (allow_borrowing && fit == Fit::Borrow))
            && self.pools[g].can_place(c.chips as u32)
    }

    fn candidate(&self, id: JobId) -> Candidate {
        let j = &self.jobs[id as usize];
        Candidate {
            job: id,
            tenant: j.tenant,
            chips: j.chips as u64,
            priority: j.priority,
            submit_s: j.submit_s,
            generation: j.generation,
        }
    }

    fn run_s_on(&self, id: JobId, g: GenId) -> u64 {
        self.rt.run_s(
            &self.jobs[id as usize],
            g,
            &self.s.fleet.generations[g],
            self.st[id as usize].remaining,
        )
    }

    /// EASY: when may the blocked job `id` start on `g`, and how many chips are spare then.
    fn shadow(&self, id: JobId, g: GenId) -> Option<Easy> {
        let need = self.jobs[id as usize].chips as u64;
        let mut free = self.pools[g].free_chips();
        if free >= need {
            return None; // blocked by placement, not by count: no count-based promise to make
        }
        for &(end, j) in &self.ends[g] {
            free += self.jobs[j as usize].chips as u64;
            if free >= need {
                return Some(Easy {
                    job: id,
                    shadow_s: end,
                    extra: free - need,
                });
            }
        }
        None
    }

    fn round(&mut self) {
        let g_n = self.gens;
        let nt = self.s.tenants.len();
        let backfill = self.s.policy.backfill;
        let max_scan = self.s.policy.max_scan.max(1);
        let mut heads: Vec<Candidate> = Vec::new();
        let mut head_q: Vec<usize> = Vec::new();
        for q in 0..self.queues.len() {
            if let Some(&(_, _, id)) = self.queues[q].first() {
                heads.push(self.candidate(id));
                head_q.push(q);
            }
        }
        if heads.is_empty() {
            return;
        }
        let mut scanned = vec![0u32; self.queues.len()];
        let mut easy: Vec<Option<Easy>> = (0..g_n).map(|_| None).collect();
        let mut failed_preempt = vec![PreemptMemo::NONE; nt * g_n];
        let mut failed_place = vec![u64::MAX; g_n];
        while !heads.is_empty() {
            let i = self.policy.pick(&self.view(), &heads);
            let c = heads[i];
            let q = head_q[i];
            let key = self.qkey(c.job);
            match self.try_start(&c, &mut easy, &mut failed_preempt, &mut failed_place) {
                TryResult::Started | TryResult::Nominated => {}
                TryResult::Waiting(capacity_gen) => {
                    match backfill {
                        Backfill::None => {
                            heads.swap_remove(i);
                            head_q.swap_remove(i);
                            continue;
                        }
                        Backfill::BestEffort => {}
                        Backfill::Easy => {
                            if let Some(g) = capacity_gen
                                && easy[g].is_none()
                            {
                                easy[g] = self.shadow(c.job, g);
                            }
                        }
                    }
                    scanned[q] += 1;
                    if scanned[q] >= max_scan {
                        heads.swap_remove(i);
                        head_q.swap_remove(i);
                        continue;
                    }
                }
            }
            match self.queues[q].range((Excluded(key), Unbounded)).next() {
                Some(&(_, _, next)) => heads[i] = self.candidate(next),
                None => {
                    heads.swap_remove(i);
                    head_q.swap_remove(i);
                }
            }
        }
    }

    fn easy_allows(&self, easy: &mut [Option<Easy>], c: &Candidate, g: GenId) -> bool {
        let Some(e) = &easy[g] else { return true };
        if e.job == c.job {
            return true;
        }
        if self.now + self.run_s_on(c.job, g) <= e.shadow_s {
            return true;
        }
        if c.chips <= e.extra {
            if let Some(e) = easy[g].as_mut() {
                e.extra -= c.chips;
            }
            return true;
        }
        false
    }

    /// Try to start a waiting job: place it, else preempt for it. A job waiting for its
    /// victims is not tried: its chips are set aside and it starts when they are gone.
    fn try_start(
        &mut self,
        c: &Candidate,
        easy: &mut [Option<Easy>],
        failed_preempt: &mut [PreemptMemo],
        failed_place: &mut [u64],
    ) -> TryResult {
        if self.st[c.job as usize].awaiting > 0 {
            return TryResult::Nominated;
        }
        let g_n = self.gens;
        let mut quota_gen = None;
        for g in c.gens(g_n) {
            if self.pools[g].up_chips() == 0 || c.chips > self.max_gang[g] {
                continue;
            }
            if self.policy.fit(&self.view(), c.tenant, g, c.chips) == Fit::No {
                continue;
            }
            quota_gen.get_or_insert(g);
            if !self.easy_allows(easy, c, g) {
                continue;
            }
            if c.chips >= failed_place[g] {
                continue;
            }
            if let Some(p) = self.pools[g].place(c.chips as u32) {
                self.start(c.job, g, p);
                return TryResult::Started;
            }
            failed_place[g] = c.chips;
        }
        let by_submission = self.s.tenants[c.tenant].preemption.within_queue
            == WithinQueue::LowerOrNewerEqualPriority;
        for g in c.gens(g_n) {
            let i = c.tenant * g_n + g;
            let memo = self.preempt_failed[i];
            if self.pools[g].up_chips() == 0
                || c.chips > self.max_gang[g]
                || failed_preempt[i].covers(c, by_submission)
                || (memo.epoch == self.preempt_epoch && memo.covers(c, by_submission))
            {
                continue;
            }
            match self.try_preempt(c, g) {
                Some(r) => {
                    // Chips were freed (or are about to be): placement may succeed again.
                    failed_place.iter_mut().for_each(|f| *f = u64::MAX);
                    return r;
                }
                None => {
                    failed_preempt[i] = PreemptMemo::of(c, self.preempt_epoch);
                    self.preempt_failed[i] = failed_preempt[i];
                }
            }
        }
        TryResult::Waiting(quota_gen)
    }

    /// Kueue-style preemption on `g`: take victims in the policy's order until the job fits,
    /// trim the set to a minimal one, then evict per the reclaim mode. `None` when no attempt
    /// can make room.
    ///
    /// When the gang cannot be placed now, victims are looked for inside one cluster at a time
    /// (a gang never spans clusters): those where the free chips and the chips the attempt may
    /// take could hold it, fewest chips to free first, at most [`MAX_CLUSTERS`]. Taking victims
    /// across the whole generation in policy order would evict jobs in every cluster before
    /// one cluster had room, and the trim cannot give back what a gang of a different shape
    /// needed on the way.
    fn try_preempt(&mut self, c: &Candidate, g: GenId) -> Option<TryResult> {
        let attempts = self.policy.preemption(&self.view(), c, g);
        let mut placeable = None;
        for a in attempts {
            if !self.could_preempt(c, g, &a) {
                continue;
            }
            if *placeable.get_or_insert_with(|| self.pools[g].can_place(c.chips as u32)) {
                if let Some(r) = self.preempt_with(c, g, &a, None) {
                    return Some(r);
                }
                continue;
            }
            for cl in self.preempt_clusters(c, g, &a) {
                if let Some(r) = self.preempt_with(c, g, &a, Some(cl)) {
                    return Some(r);
                }
            }
        }
        None
    }

    /// Clusters of `g` worth a preemption attempt for `c`: the free chips plus the most the
    /// attempt could take there ([`Sim::takeable`]) cover the gang. Fewest chips to free first,
    /// then cluster order.
    fn preempt_clusters(&self, c: &Candidate, g: GenId, a: &Attempt) -> Vec<usize> {
        let pool = &self.pools[g];
        let nt = self.s.tenants.len();
        let mut out: Vec<(u64, usize)> = (0..pool.clusters())
            .filter_map(|cl| {
                let free = pool.cluster_free(cl);
                let take: u64 = (0..nt).map(|t| self.takeable(c, g, a, t, Some(cl))).sum();
                (free + take >= c.chips && take > 0).then(|| (c.chips.saturating_sub(free), cl))
            })
            .collect();
        out.sort_unstable();
        out.truncate(MAX_CLUSTERS);
        out.into_iter().map(|x| x.1).collect()
    }

    /// The most an attempt could take of tenant `t`'s preemptible chips on `g` (in `cluster`
    /// when given): nothing when even its lowest-priority job on `g` is not eligible by priority;
    /// else all of them for own jobs and under strict priority, and for rules that take only
    /// from borrowing tenants what it borrows plus less than one job (a tenant stops being a
    /// victim once it no longer borrows). An upper bound: the policy applies the job-level
    /// rules.
    fn takeable(
        &self,
        c: &Candidate,
        g: GenId,
        a: &Attempt,
        t: TenantId,
        cluster: Option<usize>,
    ) -> u64 {
        let held = match cluster {
            Some(cl) => self.running.cluster_chips(t, g, cl),
            None => self.running.chips(t, g),
        };
        if held == 0 {
            return 0;
        }
        // The tenant's lowest priority on the whole generation (a bound for one cluster too),
        // looked up only for rules that depend on priority.
        let lowest = || self.running.of(t, g).first().map_or(i32::MAX, |k| k.0);
        let lower = || lowest() < c.priority;
        if t == c.tenant {
            let ok = match a.own {
                WithinQueue::Never => false,
                WithinQueue::LowerPriority => lower(),
                WithinQueue::LowerOrNewerEqualPriority => lowest() <= c.priority,
            };
            return if ok { held } else { 0 };
        }
        let borrowing =
            || self.quota.root(t) == self.quota.root(c.tenant) && self.quota.is_borrowing(t, g);
        let cap = || held.min(self.quota.borrowed(t, g) + self.max_job[t].saturating_sub(1));
        match a.cross {
            CrossTenant::None => 0,
            CrossTenant::AnyLowerPriority if lower() => held,
            CrossTenant::ReclaimAny | CrossTenant::FairShare if borrowing() => cap(),
            CrossTenant::ReclaimLowerPriority | CrossTenant::BorrowLowerPriority(_)
                if borrowing() && lower() =>
            {
                cap()
            }
            _ => 0,
        }
    }

    /// One preemption attempt: victims in the policy's order (inside `cluster` when given,
    /// then anywhere if the gang has room there but the quota still needs more) until the job
    /// fits; trimmed to a minimal set (latest taken first) and evicted.
    fn preempt_with(
        &mut self,
        c: &Candidate,
        g: GenId,
        a: &Attempt,
        cluster: Option<usize>,
    ) -> Option<TryResult> {
        let mut victims: Vec<JobId> = Vec::new();
        let mut ok = false;
        let mut scope = cluster;
        loop {
            if self.fits_after(c, g, a.allow_borrowing) {
                ok = true;
                break;
            }
            if victims.len() >= MAX_VICTIMS {
                break;
            }
            match self.policy.next_victim(&self.view_in(scope), c, g, a) {
                Some(v) => {
                    self.detach(v);
                    self.st[v as usize].status = Status::Taken;
                    victims.push(v);
                }
                None if scope.is_some() && self.pools[g].can_place(c.chips as u32) => scope = None,
                None => break,
            }
        }
        if !ok || victims.is_empty() {
            self.restore(&victims);
            if ok {
                // Fits without preemption (cannot happen after try_start; be safe).
                let p = self.pools[g].place(c.chips as u32)?;
                self.start(c.job, g, p);
                return Some(TryResult::Started);
            }
            return None;
        }
        // Trim: give back every victim the job can do without (latest taken first).
        let mut needed = Vec::with_capacity(victims.len());
        for &v in victims.iter().rev() {
            self.st[v as usize].status = Status::Running;
            self.attach(v);
            if !self.fits_after(c, g, a.allow_borrowing) {
                self.detach(v);
                self.st[v as usize].status = Status::Taken;
                needed.push(v);
            }
        }
        needed.reverse();
        Some(self.evict(c, g, needed))
    }

    /// Start a waiting job at once if it fits its quota and the pool on some generation.
    fn start_if_fits(&mut self, id: JobId) {
        let c = self.candidate(id);
        for g in c.gens(self.gens) {
            if self.policy.fit(&self.view(), c.tenant, g, c.chips) == Fit::No {
                continue;
            }
            if let Some(p) = self.pools[g].place(c.chips as u32) {
                self.start(id, g, p);
                return;
            }
        }
    }

    /// A cheap necessary condition for an attempt: the most it could take
    /// ([`Sim::takeable`]) plus the free chips cover the job, and (without borrowing) the job
    /// fits the nominal quota once the tenant's own takeable jobs are gone.
    fn could_preempt(&self, c: &Candidate, g: GenId, a: &Attempt) -> bool {
        let own = self.takeable(c, g, a, c.tenant, None);
        if !a.allow_borrowing
            && self.alloc(c.tenant, g) - own + c.chips > self.quota.quota(c.tenant, g)
        {
            return false;
        }
        let take: u64 = (0..self.s.tenants.len())
            .map(|t| self.takeable(c, g, a, t, None))
            .sum();
        self.pools[g].free_chips() + take >= c.chips
    }

    fn restore(&mut self, victims: &[JobId]) {
        for &v in victims.iter().rev() {
            self.st[v as usize].status = Status::Running;
            self.attach(v);
        }
    }

    /// Carry out a preemption decision (`victims` are detached) per the reclaim mode:
    /// immediate evictions start the job now; otherwise the victims keep running until a due
    /// time (the grace period; for throttled reclaim, the start of the round in which the
    /// per-round budget has room for the last of their chips, plus the grace) and the job is
    /// nominated: its gang's target placement is chosen now, the free chips of it are held at
    /// once and each victim's chips in it are handed over when the victim stops, so it starts
    /// on its target when its last victim stops, whatever was admitted meanwhile.
    fn evict(&mut self, c: &Candidate, g: GenId, victims: Vec<JobId>) -> TryResult {
        let r = self.s.policy.reclaim;
        let now = self.now;
        if self.st[c.job as usize].reclaim_since == NO_TIME {
            self.st[c.job as usize].reclaim_since = now;
        }
        let due = match r.mode {
            ReclaimMode::Immediate => now,
            ReclaimMode::Graceful => now + r.grace(),
            ReclaimMode::Throttled => self.book(g, &victims),
        };
        if due == now {
            for &v in &victims {
                self.bookings.remove(&v);
                self.st[v as usize].status = Status::Running;
                self.stop(v, Stop::Preempted);
            }
            let p = self.pools[g]
                .place(c.chips as u32)
                .expect("the preemption made room");
            self.start(c.job, g, p);
            return TryResult::Started;
        }
        let target = self.pools[g]
            .place(c.chips as u32)
            .expect("the preemption made room");
        // Victims back in the pool (they run until due); the target's free chips held now.
        self.pools[g].release(&target);
        for &v in &victims {
            self.pools[g].occupy(&self.st[v as usize].placement);
        }
        let mut held = Vec::new();
        let mut from_victims: Vec<(u32, u32)> = Vec::new();
        for_parts(&target, |us, k| {
            let f = self.pools[g].free_of(us).min(k);
            if f > 0 {
                held.push((us, f));
            }
            if k > f {
                from_victims.push((us, k - f));
            }
        });
        for &(us, k) in &held {
            self.pools[g].occupy_part(us, k);
        }
        for &v in &victims {
            // The chips of this victim the target takes: their quota moves to the claim.
            let mut parts = Vec::new();
            for_parts(&self.st[v as usize].placement, |us, k| {
                if let Some(n) = from_victims.iter_mut().find(|n| n.0 == us && n.1 > 0) {
                    let take = k.min(n.1);
                    n.1 -= take;
                    parts.push((us, take));
                }
            });
            let moved: u64 = parts.iter().map(|p| p.1 as u64).sum();
            let t = self.jobs[v as usize].tenant;
            let chips = self.jobs[v as usize].chips as u64;
            self.quota.add_usage(t, g, (chips - moved) as i64);
            self.overlap_chips[t * self.gens + g] += moved;
            if !parts.is_empty() {
                self.overlap.insert(v, parts);
            }
            let st = &mut self.st[v as usize];
            st.status = Status::Evicting;
            st.evicted_for = c.job;
            let epoch = st.epoch;
            self.events.push(due, EventKind::EvictDue { job: v, epoch });
        }
        debug_assert!(from_victims.iter().all(|n| n.1 == 0));
        self.st[c.job as usize].awaiting += victims.len() as u32;
        self.set_claim(c.job, Some(g));
        self.nominations.insert(
            c.job,
            Nomination {
                gen_: g,
                target,
                held,
            },
        );
        TryResult::Nominated
    }

    /// Throttled reclaim: book the victims' chips against the per-round budget, earliest
    /// round with room first (a victim larger than the room left spills into the next
    /// rounds), and return when the set is due: now plus the grace when it all fits the
    /// current round, else the start of the last round it needs plus the grace.
    fn book(&mut self, g: GenId, victims: &[JobId]) -> u64 {
        let r = self.s.policy.reclaim;
        let now = self.now;
        let current = r.round_of(now);
        let budget = r.budget(self.pools[g].up_chips());
        let rounds = &mut self.booked[g];
        while rounds.first_key_value().is_some_and(|(&k, _)| k < current) {
            rounds.pop_first();
        }
        let mut last = current;
        for &v in victims {
            let mut left = self.jobs[v as usize].chips as u64;
            let mut pieces = Vec::new();
            let mut round = current;
            while left > 0 {
                let used = rounds.entry(round).or_insert(0);
                let take = budget.saturating_sub(*used).min(left);
                if take > 0 {
                    *used += take;
                    left -= take;
                    pieces.push((round, take));
                    last = round;
                }
                round += 1;
            }
            self.bookings.insert(v, pieces);
        }
        if last == current {
            now + r.grace()
        } else {
            last * r.round_s.max(1) + r.grace()
        }
    }

    /// Start the preemptors whose last victim stopped: a nominated one on its target (whose
    /// chips it holds by now), one that lost its target to a failure wherever it fits.
    fn start_ready(&mut self) {
        for p in std::mem::take(&mut self.ready) {
            if self.st[p as usize].status != Status::Waiting || self.st[p as usize].awaiting > 0 {
                continue;
            }
            match self.nominations.remove(&p) {
                Some(n) => {
                    for &(us, k) in &n.held {
                        self.pools[n.gen_].release_part(us, k);
                    }
                    self.pools[n.gen_].occupy(&n.target);
                    self.start(p, n.gen_, n.target);
                }
                None => {
                    self.set_claim(p, None);
                    self.start_if_fits(p);
                }
            }
            self.dirty = true;
        }
    }

    /// A tenant's chips on `g` now: (held, borrowed beyond nominal, idle lendable nominal).
    #[inline]
    fn usage_now(&self, t: TenantId, g: GenId) -> (u64, u64, u64) {
        let u = self.held(t, g);
        let nominal = self.quota.quota(t, g);
        (
            u,
            u.saturating_sub(nominal),
            nominal.saturating_sub(u.max(self.quota.guaranteed(t, g))),
        )
    }

    /// Integrate the time-weighted metrics from `self.now` to `t`.
    fn advance(&mut self, t: u64) {
        let dt = t.saturating_sub(self.now);
        if dt > 0 {
            let g_n = self.gens;
            let dtf = dt as f64;
            let mut allocated = 0u64;
            let nt = self.s.tenants.len();
            for g in 0..g_n {
                let mut borrowed_total = 0u64;
                let mut idle_total = 0u64;
                let mut idle_reserved = 0u64;
                for ti in 0..nt {
                    let (u, b, idle) = self.usage_now(ti, g);
                    allocated += u;
                    borrowed_total += b;
                    idle_total += idle;
                    idle_reserved += self.reserved[ti * g_n + g].saturating_sub(u);
                }
                self.fleet.chip_hours_idle_reserved +=
                    idle_reserved.min(self.pools[g].free_chips()) as f64 * dtf;
                let lent = borrowed_total.min(idle_total) as f64;
                for ti in 0..nt {
                    let (u, b, idle) = self.usage_now(ti, g);
                    let a = &mut self.acc[ti];
                    a.served_chip_s += u as f64 * dtf;
                    a.borrowed_chip_s += b as f64 * dtf;
                    if borrowed_total > 0 && idle_total > 0 {
                        a.lent_chip_s += lent * idle as f64 / idle_total as f64 * dtf;
                    }
                }
                self.fleet.chip_hours_installed += self.pools[g].installed_chips() as f64 * dtf;
                self.fleet.chip_hours_up += self.pools[g].up_chips() as f64 * dtf;
            }
            self.fleet.chip_hours_allocated += allocated as f64 * dtf;
            for ti in 0..self.s.tenants.len() {
                let r: u64 = (0..g_n).map(|g| self.reserved[ti * g_n + g]).sum();
                if r > 0 {
                    let a = &mut self.acc[ti];
                    a.reserved_time_s += dt;
                    a.reserved_chip_s += r as f64 * dtf;
                    if a.honoured_now {
                        a.honoured_time_s += dt;
                    }
                }
            }
        }
        self.now = t;
    }

    /// Whether each reservation owner has min(demand, reservation) now (up to gang size: a
    /// waiting job larger than the unused reservation does not count against it).
    fn evaluate_honour(&mut self) {
        let g_n = self.gens;
        for ti in 0..self.s.tenants.len() {
            let r: u64 = (0..g_n).map(|g| self.reserved[ti * g_n + g]).sum();
            if r == 0 {
                continue;
            }
            let alloc: u64 = (0..g_n).map(|g| self.held(ti, g)).sum();
            let a = &mut self.acc[ti];
            let want = r.min(alloc + a.waiting_chips);
            a.honoured_now = alloc >= want
                || a.waiting_sizes
                    .keys()
                    .next()
                    .is_none_or(|&k| k as u64 > r - alloc);
        }
    }

    fn sample(&mut self) {
        let g_n = self.gens;
        let now = self.now;
        for (ti, t) in self.s.tenants.iter().enumerate() {
            let a = &self.acc[ti];
            self.samples.push(Sample {
                time_s: now,
                series: t.name.clone(),
                chips_allocated: (0..g_n).map(|g| self.held(ti, g)).sum(),
                chips_nominal: (0..g_n).map(|g| self.quota.quota(ti, g)).sum(),
                chips_reserved: (0..g_n).map(|g| self.reserved[ti * g_n + g]).sum(),
                chips_borrowed: (0..g_n).map(|g| self.borrowed(ti, g)).sum(),
                jobs_queued: a.waiting_jobs,
                chips_queued: a.waiting_chips,
                ..Default::default()
            });
        }
        let mut fragmented = 0u64;
        let mut free = 0u64;
        let mut waiting = false;
        for g in 0..g_n {
            if let Some(&smallest) = self.gen_waiting[g].keys().next() {
                waiting = true;
                fragmented += self.pools[g].fragmented_chips(smallest);
                free += self.pools[g].free_chips();
            }
        }
        let queued: u64 = self.acc.iter().map(|a| a.waiting_jobs).sum();
        self.samples.push(Sample {
            time_s: now,
            series: "*fleet*".into(),
            chips_installed: self.pools.iter().map(|p| p.installed_chips()).sum(),
            chips_up: self.pools.iter().map(|p| p.up_chips()).sum(),
            chips_allocated: (0..g_n)
                .map(|g| self.pools[g].up_chips() - self.pools[g].free_chips())
                .sum(),
            jobs_queued: queued,
            chips_queued: self.acc.iter().map(|a| a.waiting_chips).sum(),
            chips_fragmented: fragmented,
            ..Default::default()
        });
        self.frag_samples += 1;
        self.frag_sum += fragmented as f64;
        if waiting && free > 0 {
            self.frag_share_sum += fragmented as f64 / free as f64;
        }
    }

    fn check(&self) -> Result<()> {
        let err = |message: String| Error::Invariant {
            time_s: self.now,
            message,
        };
        let g_n = self.gens;
        let mut used = vec![0u64; g_n];
        let mut per_tenant = vec![0u64; self.s.tenants.len() * g_n];
        let mut per_us: Vec<Vec<u64>> = self
            .pools
            .iter()
            .map(|p| vec![0; p.ultraservers()])
            .collect();
        for (id, st) in self.st.iter().enumerate() {
            if matches!(st.status, Status::Running | Status::Evicting) {
                let j = &self.jobs[id];
                let g = st.gen_ as usize;
                used[g] += j.chips as u64;
                per_tenant[j.tenant * g_n + g] += j.chips as u64;
                let mut placed = 0u64;
                for_parts(&st.placement, |us, k| {
                    per_us[g][us as usize] += k as u64;
                    placed += k as u64;
                });
                if placed != j.chips as u64 {
                    return Err(err(format!("job {id} holds {placed} chips of {}", j.chips)));
                }
            }
        }
        // Chips set aside for nominated jobs: what they hold now plus what their victims will
        // hand over is exactly their target.
        let mut handed: BTreeMap<JobId, u64> = BTreeMap::new();
        for (&v, parts) in &self.overlap {
            let st = &self.st[v as usize];
            if st.status != Status::Evicting {
                return Err(err(format!(
                    "job {v} has handed-over chips but is not evicting"
                )));
            }
            *handed.entry(st.evicted_for).or_default() +=
                parts.iter().map(|p| p.1 as u64).sum::<u64>();
        }
        for (&id, n) in &self.nominations {
            let mut held = 0u64;
            for &(us, k) in &n.held {
                per_us[n.gen_][us as usize] += k as u64;
                held += k as u64;
            }
            used[n.gen_] += held;
            let chips = self.jobs[id as usize].chips as u64;
            let st = &self.st[id as usize];
            if st.status != Status::Waiting
                || st.awaiting == 0
                || st.claim == 0
                || held + handed.get(&id).copied().unwrap_or(0) != chips
            {
                return Err(err(format!(
                    "nominated job {id} ({:?}, awaiting {}) holds {held} chips of {chips}",
                    st.status, st.awaiting
                )));
            }
        }
        for (g, p) in self.pools.iter().enumerate() {
            p.check().map_err(err)?;
            if used[g] != p.up_chips() - p.free_chips() {
                return Err(err(format!(
                    "generation {g}: jobs hold {} chips, the pool says {} allocated",
                    used[g],
                    p.up_chips() - p.free_chips()
                )));
            }
            if used[g] > p.installed_chips() {
                return Err(err(format!(
                    "generation {g}: more chips allocated than exist"
                )));
            }
            for (us, &k) in per_us[g].iter().enumerate() {
                let cap = p.ultraserver_chips() as u64;
                if k > cap
                    || k + p.free_of(us as u32) as u64 != if p.is_down(us as u32) { k } else { cap }
                {
                    return Err(err(format!(
                        "generation {g} UltraServer {us}: {k} chips held, {} free, {cap} in all",
                        p.free_of(us as u32)
                    )));
                }
            }
        }
        for t in 0..self.s.tenants.len() {
            for g in 0..g_n {
                if per_tenant[t * g_n + g] != self.held(t, g) {
                    return Err(err(format!(
                        "tenant {t} generation {g}: jobs hold {} chips, quota usage {}",
                        per_tenant[t * g_n + g],
                        self.quota.usage(t, g)
                    )));
                }
            }
        }
        Ok(())
    }

    fn outcome(mut self, seed: u64) -> Outcome {
        let s = self.s;
        let h = s.horizon_s;
        let mut tenants = Vec::with_capacity(s.tenants.len());
        let mut accounted = vec![0f64; s.tenants.len()];
        let mut queued = vec![0u64; s.tenants.len()];
        let mut running = vec![0u64; s.tenants.len()];
        for (id, st) in self.st.iter().enumerate() {
            let j = &self.jobs[id];
            let mut spent = st.spent_chip_s as f64;
            match st.status {
                Status::Running | Status::Evicting => {
                    running[j.tenant] += 1;
                    spent += ((h - st.start_s) * j.chips as u64) as f64;
                }
                Status::Waiting => queued[j.tenant] += 1,
                _ => {}
            }
            accounted[j.tenant] += spent;
        }
        for (ti, t) in s.tenants.iter().enumerate() {
            let a = &mut self.acc[ti];
            let hours = |x: f64| x / 3600.0;
            tenants.push(TenantMetrics {
                tenant: t.name.clone(),
                jobs_submitted: a.submitted,
                jobs_started: a.started,
                jobs_completed: a.completed,
                jobs_rejected: a.rejected,
                jobs_queued: queued[ti],
                jobs_running: running[ti],
                chip_hours_demanded: hours(a.demanded_chip_s),
                chip_hours_served: hours(a.served_chip_s),
                chip_hours_accounted: hours(accounted[ti]),
                queue_delay_s: Percentiles::of(&mut a.delays),
                jct_s: Percentiles::of(&mut a.jcts),
                slowdown: Percentiles::of(&mut a.slowdowns),
                run_time_s: Percentiles::of(&mut a.run_times),
                preemptions: a.preemptions,
                failure_kills: a.failure_kills,
                chip_hours_lost: hours(a.lost_chip_s),
                reservation_honoured: (a.reserved_time_s > 0)
                    .then(|| a.honoured_time_s as f64 / a.reserved_time_s as f64),
                reserved_chips_mean: if a.reserved_time_s > 0 {
                    a.reserved_chip_s / a.reserved_time_s as f64
                } else {
                    0.0
                },
                chip_hours_borrowed: hours(a.borrowed_chip_s),
                chip_hours_lent: hours(a.lent_chip_s),
                reclaim_s: Percentiles::of(&mut a.reclaims),
            });
        }
        let mut fleet = std::mem::take(&mut self.fleet);
        for x in [
            &mut fleet.chip_hours_installed,
            &mut fleet.chip_hours_up,
            &mut fleet.chip_hours_allocated,
            &mut fleet.chip_hours_idle_reserved,
        ] {
            *x /= 3600.0;
        }
        fleet.utilization = if fleet.chip_hours_up > 0.0 {
            fleet.chip_hours_allocated / fleet.chip_hours_up
        } else {
            0.0
        };
        fleet.chips_installed = self.pools.iter().map(|p| p.installed_chips()).sum();
        fleet.gw_installed = self
            .pools
            .iter()
            .zip(&s.fleet.generations)
            .map(|(p, g)| g.gw_for_chips(p.installed_chips()))
            .sum();
        if self.frag_samples > 0 {
            fleet.fragmented_chips_mean = self.frag_sum / self.frag_samples as f64;
            fleet.fragmentation = self.frag_share_sum / self.frag_samples as f64;
        }
        let jobs = if self.opts.record_jobs {
            self.jobs
                .iter()
                .zip(&self.st)
                .filter(|(_, st)| st.status != Status::Future)
                .map(|(j, st)| JobRecord {
                    tenant: j.tenant,
                    submit_s: j.submit_s,
                    chips: j.chips,
                    priority: j.priority,
                    first_start_s: (st.first_start_s != NO_TIME).then_some(st.first_start_s),
                    end_s: (st.end_s != NO_TIME).then_some(st.end_s),
                    rejected: st.status == Status::Rejected,
                })
                .collect()
        } else {
            Vec::new()
        };
        Outcome {
            jobs,
            scenario: s.name.clone(),
            policy: self.policy.name().to_string(),
            seed,
            horizon_s: h,
            tenants,
            fleet,
            timeseries: std::mem::take(&mut self.samples),
            workloads: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Completed,
    Preempted,
    Killed,
}
