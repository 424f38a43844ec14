//! The engine: one run of a scenario. Events (arrivals, completions, evictions, deliveries,
//! quota updates, failures, repairs, samples) are processed in (time, sequence) order; after
//! the events of one instant, one scheduling round admits, places and preempts.
//!
//! The engine owns placement, backfill and reclaim pacing; the policy answers quota and order
//! questions (`Policy`); the recorder (`Account`) keeps the books through its hooks. All
//! state is per run: [`run_with`] is a pure function of the scenario, the seed and the run-time
//! provider.
//!
//! Rooms: this file (the state, the event loop and its handlers), `job.rs` (a job's
//! transitions), `admission.rs` (rounds, placement, backfill), `preemption.rs` (victims,
//! reclaim modes, nominations), `invariants.rs` (checks for tests), `state.rs` (the engine's
//! parts and what the recorder may read), `probe.rs` ("time to N chips" probes, answered
//! between events without changing the run).

mod admission;
mod blocks;
mod invariants;
mod job;
mod preemption;
mod probe;
mod state;

use std::cmp::Reverse;
use std::collections::BTreeSet;

use self::blocks::BlockRun;
use self::probe::ProbeState;
use self::state::{Books, Capacity, PreemptMemos, Queues, ReclaimState, Snapshot};
use super::account::{Account, JobEnd, Phase};
use super::blocks::BlockPlan;
use super::calendar::Calendar;
use super::demand;
use super::error::Result;
use super::event::{EventKind, EventQueue};
use super::hardware::{GenId, Placement, for_parts};
use super::job::{JobId, JobSpec, RunTime};
use super::job_log::JobSink;
use super::metrics::Outcome;
use super::policy::{Policy, RunningSets, View};
use super::rng::Rng;
use super::scenario::Scenario;
use super::tenant::{quota_epochs, quotas_with_blocks};

/// Options of a run that do not change its results.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunOptions {
    /// Check capacity, quota and accounting invariants after every round (slow; for tests).
    pub check_invariants: bool,
    /// Return one record per job in [`Outcome::jobs`] (for job-level analysis).
    pub record_jobs: bool,
    /// Rounds walk each queue job by job and try every head in full, instead of through the
    /// class index with its capacity pre-check: slow, and the same results (the reference the
    /// property tests hold the indexed rounds to).
    pub exhaustive_rounds: bool,
}

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

impl JobState {
    fn new(j: &JobSpec) -> Self {
        JobState {
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
        }
    }

    /// Where the job is at horizon `h`, for the recorder's final books; `work_chip_s` is its
    /// reference work and `done_now` the work units its current run has done.
    fn end<'a>(&self, spec: &'a JobSpec, work_chip_s: f64, done_now: f64) -> JobEnd<'a> {
        let phase = match self.status {
            Status::Future => Phase::Unsubmitted,
            Status::Waiting => Phase::Waiting,
            Status::Running | Status::Evicting => Phase::Running {
                start_s: self.start_s,
            },
            Status::Done => Phase::Done,
            Status::Rejected => Phase::Rejected,
            Status::Taken => unreachable!("victims are taken only inside a round"),
        };
        JobEnd {
            spec,
            phase,
            spent_chip_s: self.spent_chip_s,
            generation: (self.first_start_s != NO_TIME).then_some(self.gen_ as GenId),
            first_start_s: (self.first_start_s != NO_TIME).then_some(self.first_start_s),
            end_s: (self.end_s != NO_TIME).then_some(self.end_s),
            work_chip_s,
            done_share: match spec.work {
                0 => 1.0,
                w => (1.0 - (self.remaining - done_now).max(0.0) / w as f64).clamp(0.0, 1.0),
            },
        }
    }
}

/// Queue order inside a queue: higher priority first, then submission order.
type QKey = (Reverse<i32>, u64, JobId);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Completed,
    Preempted,
    Killed,
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
    fail_rng: Rng,
    /// Something changed in this instant: a round is due.
    dirty: bool,
    /// Rounds so far (names the round a class is passed over in).
    round_no: u64,
    cap: Capacity,
    books: Books,
    queues: Queues,
    /// Preemptible running jobs, for victim selection.
    running: RunningSets,
    /// Per generation: (end time, job) of the running jobs, for EASY backfill's shadow time.
    ends: Vec<BTreeSet<(u64, JobId)>>,
    reclaim: ReclaimState,
    memo: PreemptMemos,
    account: Account<'a>,
    /// Capacity Blocks booked for the run.
    blocks: BlockRun,
    /// The provider's calendar of promises (reservations; blocks as they are booked).
    calendar: Calendar,
    /// What probes need between events ([`probe`]).
    probes: ProbeState,
}

/// Run a scenario with a seed and a run-time provider.
pub fn run_with(s: &Scenario, seed: u64, rt: &dyn RunTime, opts: &RunOptions) -> Result<Outcome> {
    run_with_log(s, seed, rt, opts, None)
}

/// [`run_with`], telling `log` each job's fate as it is known (`fleet::job_log`).
pub(crate) fn run_with_log<'a>(
    s: &'a Scenario,
    seed: u64,
    rt: &'a dyn RunTime,
    opts: &RunOptions,
    log: Option<&'a mut dyn JobSink>,
) -> Result<Outcome> {
    let mut sim;
    if let Some(log) = log {
        let (jobs, streams) = demand::generate_streams(&s.demand, seed);
        sim = Sim::new(s, seed, rt, *opts, jobs);
        log.streams(streams);
        sim.account.set_job_sink(log);
    } else {
        sim = Sim::new(s, seed, rt, *opts, demand::generate(&s.demand, seed));
    }
    sim.run()?;
    Ok(sim.outcome(seed))
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
        let policy = super::policy::fair::build(s.policy.kind, &s.policy.fair_strategies);
        let nq = if policy.single_queue() { 1 } else { nt };
        let st = jobs.iter().map(JobState::new).collect();
        let plan = BlockPlan::new(s, seed);
        let mut account = Account::new(s, opts.record_jobs);
        account.blocks_booked(s, &plan.bookings);
        let regular = quota_epochs(&s.fleet, &s.tenants, s.policy.quota_step_s, s.horizon_s);
        let mut sim = Sim {
            s,
            rt,
            policy,
            opts,
            gens,
            now: 0,
            cap: Capacity::new(s),
            books: Books::new(s, &jobs),
            jobs,
            st,
            next_arrival: 0,
            events: EventQueue::new(),
            fail_rng: Rng::new(seed, 7),
            dirty: false,
            round_no: 0,
            queues: Queues::new(nq, opts.exhaustive_rounds),
            running: RunningSets::new(nt, gens),
            ends: vec![BTreeSet::new(); gens],
            reclaim: ReclaimState::new(gens),
            memo: PreemptMemos::new(nt, gens),
            account,
            blocks: BlockRun::new(plan, nt, gens, regular),
            calendar: Calendar::new(&s.fleet, &s.tenants, s.policy.quota_step_s, s.horizon_s),
            probes: ProbeState::new(s),
        };
        sim.compute_ceilings();
        sim
    }

    /// Call a recorder hook with what it may read of the engine now.
    #[inline]
    fn record<R>(&mut self, hook: impl FnOnce(&mut Account<'_>, &Snapshot<'_>) -> R) -> R {
        let state = Snapshot {
            books: &self.books,
            pools: &self.cap.pools,
            blocks: &self.blocks.held,
        };
        hook(&mut self.account, &state)
    }

    /// Time passes to `t`: the recorder integrates up to it.
    #[inline]
    fn advance(&mut self, t: u64) {
        self.record(|a, state| a.advance(t, state));
        self.now = t;
    }

    /// The recorder's outcome from the jobs as they are at the horizon.
    fn outcome(self, seed: u64) -> Outcome {
        let (rt, s) = (self.rt, self.s);
        let ends = self.jobs.iter().zip(&self.st).map(move |(j, st)| {
            let g = st.gen_ as usize;
            let done_now = match st.status {
                Status::Running | Status::Evicting => {
                    rt.work_done(j, g, &s.fleet.generations[g], s.horizon_s - st.start_s)
                }
                _ => 0.0,
            };
            st.end(j, j.chips as f64 * rt.reference_s(j), done_now)
        });
        self.account
            .finish(self.s, seed, self.policy.name(), ends, &self.cap.pools)
    }
}

impl Sim<'_> {
    /// Move job `id`'s claim (quota counted for it while it waits for its victims) to `g`, or
    /// drop it.
    fn set_claim(&mut self, id: JobId, g: Option<GenId>) {
        let t = self.jobs[id as usize].tenant;
        let chips = self.jobs[id as usize].chips as u64;
        let old = self.st[id as usize].claim;
        if old > 0 {
            let og = old as usize - 1;
            self.books.quota.add_usage(t, og, -(chips as i64));
            self.books.claims[(t, og)] -= chips;
        }
        self.st[id as usize].claim = 0;
        if let Some(g) = g {
            self.books.quota.add_usage(t, g, chips as i64);
            self.books.claims[(t, g)] += chips;
            self.st[id as usize].claim = g as u8 + 1;
        }
    }

    /// The policy's view of the whole fleet.
    fn view(&self) -> View<'_> {
        self.view_in(None)
    }

    /// The policy's view, with victims restricted to one cluster when `cluster` is set.
    fn view_in(&self, cluster: Option<usize>) -> View<'_> {
        View {
            quota: &self.books.quota,
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
        self.cap.pools[st.gen_ as usize].cluster_of(us)
    }

    /// Quota epochs: every time a nominal quota or reservation may change, or a booked
    /// Capacity Block starts or ends.
    fn epochs(&self) -> Vec<u64> {
        let s = self.s;
        let regular = quota_epochs(&s.fleet, &s.tenants, s.policy.quota_step_s, s.horizon_s);
        self.blocks.epochs(regular, s.horizon_s)
    }

    /// Set every tenant's quota for time `t_s` from its base quota, share and reservation.
    fn set_quotas(&mut self, t_s: u64) {
        let s = self.s;
        let g_n = self.gens;
        for g in 0..g_n {
            let installed = s.fleet.installed_chips(g, t_s);
            let aside = self.blocks.plan.aside(g, t_s);
            let res_t = self.blocks.reservation_time(t_s);
            for (ti, q) in quotas_with_blocks(&s.tenants, g, installed, res_t, aside)
                .into_iter()
                .enumerate()
            {
                self.books.reserved[(ti, g)] = q.reserved;
                self.books
                    .quota
                    .set_quota(ti, g, q.nominal, q.borrowing_limit, q.lending_limit);
            }
            let nt = s.tenants.len();
            for (ci, c) in s.cohorts.iter().enumerate() {
                let q = &c.quota[g];
                let (bl, ll) = (q.borrowing_limit, q.lending_limit);
                self.books
                    .quota
                    .set_quota(nt + ci, g, q.nominal_chips, bl, ll);
            }
        }
        self.books.quota.recompute();
    }

    /// The most a tenant could ever be admitted per generation (for rejecting impossible jobs).
    fn compute_ceilings(&mut self) {
        let g_n = self.gens;
        for t_s in self.epochs() {
            self.set_quotas(t_s);
            for t in 0..self.s.tenants.len() {
                for g in 0..g_n {
                    let c = self.policy.admission_ceiling(&self.books.quota, t, g);
                    let ceiling = &mut self.books.ceiling[(t, g)];
                    *ceiling = (*ceiling).max(c);
                }
            }
        }
    }

    /// The event loop: each instant's events, then one round if anything changed.
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
        self.schedule_blocks();
        if let Some(j) = self.jobs.first()
            && j.submit_s < h
        {
            self.events.push(j.submit_s, EventKind::Arrival);
        }
        for (g, gen_) in s.fleet.generations.iter().enumerate() {
            if gen_.mtbf_s > 0 && self.cap.peak_us[g] > 0 {
                self.cap.us_jobs[g] = vec![Vec::new(); self.cap.peak_us[g] as usize];
                let dt = self
                    .fail_rng
                    .exponential(gen_.mtbf_s as f64 / self.cap.peak_us[g] as f64);
                self.events
                    .push(dt.round() as u64, EventKind::Failure(g as u32));
            }
        }
        self.events.push(0, EventKind::Report);
        while let Some(t) = self.events.peek_time() {
            if t >= h {
                break;
            }
            if self.probes.due_s < t {
                self.answer_probes(t);
            }
            crate::progress::set(t);
            self.advance(t);
            while self.events.peek_time() == Some(t) {
                let e = self.events.pop().expect("peeked");
                self.account.event();
                self.handle(e.kind);
                if !self.reclaim.ready.is_empty() {
                    self.start_ready();
                }
            }
            if self.dirty {
                self.retry_blocks();
                self.dirty = false;
                self.round();
                if self.opts.check_invariants {
                    self.check()?;
                }
            }
            self.record(|a, state| a.settle(state));
        }
        if self.probes.due_s < h {
            self.answer_probes(h);
        }
        self.advance(h);
        self.blocks_at_horizon();
        if self.opts.check_invariants {
            self.check()?;
        }
        Ok(())
    }

    /// One event.
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
                self.cap.pools[d.generation].add_ultraservers(d.ultraservers);
                self.memo.epoch += 1;
                self.queues.wake();
                self.dirty = true;
            }
            EventKind::QuotaUpdate => {
                self.memo.epoch += 1;
                self.queues.wake();
                self.set_quotas(self.now);
                self.dirty = true;
            }
            EventKind::Failure(g) => self.failure(g as usize),
            EventKind::BlockStart(k) => self.block_start(k as usize),
            EventKind::BlockTerminate(k) => self.block_terminate(k as usize),
            EventKind::BlockEnd(k) => self.block_end(k as usize),
            EventKind::Repair(id) => {
                let (g, us) = ((id >> 24) as usize, id & 0xFF_FFFF);
                self.cap.pools[g].repair(us);
                self.probes.repair(g, us);
                self.memo.epoch += 1;
                self.queues.wake();
                self.dirty = true;
            }
            EventKind::Report => {
                let tenants = &self.s.tenants;
                self.record(|a, state| a.sample(state, tenants.iter().map(|t| t.name.clone())));
                let next = self.now + self.s.report_interval_s.max(1);
                if next < self.s.horizon_s {
                    self.events.push(next, EventKind::Report);
                }
            }
        }
    }

    /// A job is submitted: queued, or rejected when no capacity or quota could ever hold it.
    fn arrive(&mut self, id: JobId) {
        let j = &self.jobs[id as usize];
        self.account
            .arrive(j.tenant, j.chips as f64 * self.rt.reference_s(j));
        let g_n = self.gens;
        let possible = match j.generation {
            Some(g) => g..g + 1,
            None => 0..g_n,
        }
        .any(|g| {
            let gen_ = &self.s.fleet.generations[g];
            let cluster = gen_.ultraserver_chips as u64 * gen_.ultraservers_per_cluster as u64;
            j.chips as u64 <= self.cap.peak_capacity[g].min(cluster)
                && j.chips as u64 <= self.books.ceiling[(j.tenant, g)]
        });
        if !possible {
            self.st[id as usize].status = Status::Rejected;
            self.account.reject(j.tenant);
            return;
        }
        self.enqueue(id);
        self.dirty = true;
    }

    /// An UltraServer of `g` may fail (thinning): its jobs are killed and requeued, the jobs
    /// nominated onto it lose their target; the next candidate failure and the repair are
    /// scheduled.
    fn failure(&mut self, g: GenId) {
        let gen_ = &self.s.fleet.generations[g];
        let dt = self
            .fail_rng
            .exponential(gen_.mtbf_s as f64 / self.cap.peak_us[g] as f64)
            .round() as u64;
        self.events
            .push(self.now + dt.max(1), EventKind::Failure(g as u32));
        // Thinning: a candidate failure hits an UltraServer index among every one that will
        // ever be installed; only an installed, working one fails.
        let us = self.fail_rng.below(self.cap.peak_us[g]) as u32;
        if us as usize >= self.cap.pools[g].ultraservers() || self.cap.pools[g].is_down(us) {
            return;
        }
        // Jobs nominated onto this UltraServer lose their target (they are started, or tried
        // again, once their victims are gone).
        let hit: Vec<JobId> = self
            .reclaim
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
            let n = self.reclaim.nominations.remove(&id).expect("listed");
            for (u, k) in n.held {
                self.cap.pools[g].release_part(u, k);
            }
        }
        let victims = std::mem::take(&mut self.cap.us_jobs[g][us as usize]);
        for id in victims.iter().copied() {
            if matches!(
                self.st[id as usize].status,
                Status::Running | Status::Evicting
            ) {
                self.detach(id);
                self.stop(id, Stop::Killed);
            }
        }
        self.blocks_hit(g, us);
        self.cap.pools[g].fail(us);
        self.queues.wake(); // nominations lost their chips
        self.account.failure();
        let due_s = self.now + gen_.repair_s.max(1);
        self.probes.fail(g, us, due_s);
        self.events
            .push(due_s, EventKind::Repair(((g as u32) << 24) | us));
        self.dirty = true;
    }
}
