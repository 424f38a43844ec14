//! The run's books, kept apart from the engine (as dslab's energy meter is kept apart from its
//! placement): the engine calls a hook at each step of a job's life and as time passes, and
//! the recorder turns them into the [`Outcome`]. It holds no scheduling state, so a new metric
//! touches this file, [`super::metrics`] and the report, never the engine.
//!
//! Lifecycle of one run:
//!
//! 1. [`Account::new`] with the number of tenants and generations;
//! 2. per job: [`Account::arrive`] (or [`Account::reject`]), [`Account::enqueue`] and
//!    [`Account::dequeue`] around each wait, [`Account::start`], [`Account::stop`];
//! 3. as time passes: [`Account::advance`] integrates the time-weighted metrics up to the next
//!    instant, [`Account::settle`] notes the state the instant left behind, [`Account::sample`]
//!    adds a time-series row, [`Account::event`] and [`Account::failure`] count;
//! 4. [`Account::finish`] turns the books and the jobs' final state into the [`Outcome`].
//!
//! Hooks that read the fleet get it as a [`State`]: borrowed for the call, never kept.

mod blocks;
mod delivery;
mod series;

use std::collections::BTreeMap;

use super::hardware::{GenId, Pool};
use super::job::{JobId, JobSpec};
use super::job_log::{JobSink, Ran};
use super::metrics::{
    CensoredWaits, FleetMetrics, JobRecord, Outcome, Percentiles, Sample, TenantMetrics,
    WaitQuantiles, WaitsByGang, Work,
};
use super::scenario::Scenario;
use super::tenant::TenantId;
use super::time::HOUR_S_F64;
use delivery::Delivery;

/// What the recorder may read of the engine at a hook.
pub(crate) trait State {
    /// Chips a tenant's running and evicting jobs hold on `g` (what it is served).
    fn held(&self, t: TenantId, g: GenId) -> u64;
    /// A tenant's nominal quota on `g` now (its reservation included).
    fn nominal(&self, t: TenantId, g: GenId) -> u64;
    /// The part of a tenant's nominal quota on `g` it does not lend.
    fn guaranteed(&self, t: TenantId, g: GenId) -> u64;
    /// A tenant's reservation in force, per generation.
    fn reserved(&self, t: TenantId) -> &[u64];
    /// Each generation's pool.
    fn pools(&self) -> &[Pool];
    /// Chips a tenant holds on `g` in running Capacity Blocks (served to it, never borrowed).
    fn block_held(&self, _t: TenantId, _g: GenId) -> u64 {
        0
    }
}

/// Why a job stopped, with what the books need of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// It completed: `jct_s` after its submission; `ideal_run_s` is its uninterrupted run time
    /// on the generation it finished on.
    Completed {
        /// Completion minus submission.
        jct_s: u64,
        /// Uninterrupted run time.
        ideal_run_s: u64,
    },
    /// Preempted, losing the chip-seconds since its last checkpoint.
    Preempted {
        /// Chip-seconds of work lost.
        lost_chip_s: u64,
    },
    /// Killed by a hardware failure, losing the chip-seconds since its last checkpoint.
    Killed {
        /// Chip-seconds of work lost.
        lost_chip_s: u64,
    },
}

/// Where a job is at the horizon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Not submitted before the horizon.
    Unsubmitted,
    /// Waiting in a queue.
    Waiting,
    /// Running (or evicting) since `start_s`.
    Running {
        /// Its last start.
        start_s: u64,
    },
    Done,
    /// Rejected at submission.
    Rejected,
}

/// One job at the horizon, for [`Account::finish`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct JobEnd<'a> {
    /// The job as submitted.
    pub spec: &'a JobSpec,
    pub phase: Phase,
    /// Chip-seconds of its runs that ended.
    pub spent_chip_s: u64,
    /// Its first start, if it started.
    pub first_start_s: Option<u64>,
    /// The generation it last ran on, if it started.
    pub generation: Option<GenId>,
    /// Its completion, if it completed.
    pub end_s: Option<u64>,
    /// Its work: chips x run time on the reference generation (chip-seconds).
    pub work_chip_s: f64,
    /// The share of its work completed by the horizon (0..1; progress lost to preemption
    /// excluded).
    pub done_share: f64,
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
    /// Whether the reservation was honoured at the last instant ([`Account::settle`]).
    honoured_now: bool,
    waiting_jobs: u64,
    waiting_chips: u64,
    /// Gang sizes of the waiting jobs, with their counts.
    waiting_sizes: BTreeMap<u32, u32>,
    /// Reference chip-seconds the waiting jobs have left.
    waiting_work_chip_s: u64,
    /// Whether a reservation was ever in force.
    ever_reserved: bool,
    delivery: Delivery,
}

/// Waiting jobs, chips and work (reference chip-seconds) of one backlog series.
#[derive(Default, Clone, Copy)]
struct Backlog {
    jobs: u64,
    chips: u64,
    work_chip_s: u64,
}

impl Backlog {
    fn add(&mut self, j: &JobSpec, work_chip_s: u64, sign: i64) {
        let step = |x: &mut u64, d: u64| {
            *x = if sign > 0 { *x + d } else { *x - d };
        };
        step(&mut self.jobs, 1);
        step(&mut self.chips, j.chips as u64);
        step(&mut self.work_chip_s, work_chip_s);
    }
}

/// The recorder of one run (`'a`: the run's, for the per-job sink it may borrow).
pub(crate) struct Account<'a> {
    now_s: u64,
    tenants: Vec<TenantAcc>,
    /// Per generation: gang sizes of the jobs that may wait for it (for fragmentation).
    gen_waiting: Vec<BTreeMap<u32, u32>>,
    fleet: FleetMetrics,
    frag_sum: f64,
    frag_share_sum: f64,
    frag_samples: u64,
    /// The time series, bounded (`series`).
    samples: series::Series,
    /// Samples from this time on feed the tenants' backlog trends.
    trend_from_s: u64,
    /// Per tenant, its backlog trend over every sample of the last quarter.
    trends: Vec<series::Trend>,
    record_jobs: bool,
    /// Per generation, then one for jobs that may run on any: what waits for it.
    gen_backlog: Vec<Backlog>,
    /// Series names of `gen_backlog`.
    gen_series: Vec<String>,
    /// The reclaim grace (s), the first delivery age threshold.
    grace_s: u64,
    /// Per tenant: reference chip-seconds of work done by runs that ended (completed jobs'
    /// last runs, the kept progress of preempted ones), for the time series' `work_served`.
    ended_work_chip_s: Vec<f64>,
    /// Where per-job records go, when asked for (`fleet::job_log`).
    job_sink: Option<&'a mut dyn JobSink>,
    /// Capacity Blocks requested, booked and delivered.
    blocks: blocks::BlockBooks,
    /// Per probe, its answers so far: (probe time, wait or `None` for no start in the horizon).
    probes: Vec<Vec<(u64, Option<u64>)>>,
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

impl<'a> Account<'a> {
    /// Empty books for the tenants and generations of `sc`; `record_jobs` keeps one record
    /// per job.
    pub(crate) fn new(sc: &Scenario, record_jobs: bool) -> Self {
        let gens = sc.fleet.generations.len();
        let mut gen_series: Vec<String> = sc
            .fleet
            .generations
            .iter()
            .map(|g| format!("*gen:{}*", g.name))
            .collect();
        gen_series.push("*gen:any*".into());
        Account {
            now_s: 0,
            tenants: vec![TenantAcc::default(); sc.tenants.len()],
            gen_waiting: vec![BTreeMap::new(); gens],
            gen_backlog: vec![Backlog::default(); gens + 1],
            gen_series,
            grace_s: sc.policy.reclaim.grace(),
            fleet: FleetMetrics::default(),
            frag_sum: 0.0,
            frag_share_sum: 0.0,
            frag_samples: 0,
            samples: series::Series::default(),
            trend_from_s: sc.horizon_s - sc.horizon_s / 4,
            trends: vec![series::Trend::default(); sc.tenants.len()],
            record_jobs,
            ended_work_chip_s: vec![0.0; sc.tenants.len()],
            job_sink: None,
            blocks: blocks::BlockBooks::default(),
            probes: vec![Vec::new(); sc.probes.len()],
        }
    }

    /// Tell `sink` each job's fate as it is known: completion and preemptions during the run,
    /// the unfinished jobs at [`Account::finish`].
    pub(crate) fn set_job_sink(&mut self, sink: &'a mut dyn JobSink) {
        self.job_sink = Some(sink);
    }

    /// Job `id` completed now on `ran.0` (first started at `ran.1`, `ran.2` reference seconds of
    /// work per chip); its last run did `left` of its work.
    pub(crate) fn job_completed(
        &mut self,
        id: JobId,
        j: &JobSpec,
        ran: (GenId, u64, f64),
        left: f64,
    ) {
        let work_chip_s = j.chips as f64 * ran.2;
        self.ended_work_chip_s[j.tenant] += work_chip_s * left;
        if let Some(sink) = self.job_sink.as_mut() {
            let run = Ran {
                generation: ran.0,
                first_start_s: ran.1,
                end_s: self.now_s,
                work_chip_s,
            };
            sink.completed(id, j, run);
        }
    }

    /// Job `id` (`ref_s` reference seconds of work per chip) was preempted or killed now,
    /// keeping `kept` of its work and losing `lost_chip_s` held chip-seconds.
    pub(crate) fn job_preempted(
        &mut self,
        id: JobId,
        j: &JobSpec,
        ref_s: f64,
        kept: f64,
        lost_chip_s: u64,
    ) {
        self.ended_work_chip_s[j.tenant] += j.chips as f64 * ref_s * kept;
        if let Some(sink) = self.job_sink.as_mut() {
            sink.preempted(id, lost_chip_s);
        }
    }

    /// The run's Capacity Block requests and their bookings (before the run).
    pub(crate) fn blocks_booked(
        &mut self,
        sc: &Scenario,
        bookings: &[crate::fleet::blocks::Booking],
    ) {
        self.blocks.booked(sc, bookings);
    }

    /// A booked block was placed for the first time (`late`: after its booked start).
    pub(crate) fn block_started(&mut self, t: TenantId, g: GenId, late: bool) {
        self.blocks.started(t, g, late);
    }

    /// A block delivered `chip_s` chip-seconds to its holder `t` on `g`.
    pub(crate) fn block_delivered(&mut self, t: TenantId, g: GenId, chip_s: u64) {
        self.blocks.delivered(t, g, chip_s);
    }

    /// Probe `i` answered at probe time `t_s`: wait `wait_s`, or no start in the horizon.
    pub(crate) fn probe(&mut self, i: usize, t_s: u64, wait_s: Option<u64>) {
        self.probes[i].push((t_s, wait_s));
    }

    /// An event was processed.
    #[inline]
    pub(crate) fn event(&mut self) {
        self.fleet.events += 1;
    }

    /// An UltraServer failed.
    pub(crate) fn failure(&mut self) {
        self.fleet.failures += 1;
    }

    /// A job was submitted, asking for `demanded_chip_s` on the reference generation.
    #[inline]
    pub(crate) fn arrive(&mut self, t: TenantId, demanded_chip_s: f64) {
        let a = &mut self.tenants[t];
        a.submitted += 1;
        a.demanded_chip_s += demanded_chip_s;
    }

    /// A submitted job was rejected: no capacity or quota could ever hold it.
    #[inline]
    pub(crate) fn reject(&mut self, t: TenantId) {
        self.tenants[t].rejected += 1;
    }

    /// The delivery age thresholds: the grace, an hour, a day.
    fn ages_s(&self) -> [u64; 3] {
        [self.grace_s, 3600, 86_400]
    }

    /// A job started waiting with `work_chip_s` reference chip-seconds left.
    #[inline]
    pub(crate) fn enqueue(&mut self, j: &JobSpec, work_chip_s: u64) {
        self.gen_backlog[j.generation.unwrap_or(self.gen_series.len() - 1)].add(j, work_chip_s, 1);
        let a = &mut self.tenants[j.tenant];
        a.waiting_work_chip_s += work_chip_s;
        a.waiting_jobs += 1;
        a.waiting_chips += j.chips as u64;
        add_size(&mut a.waiting_sizes, j.chips);
        match j.generation {
            Some(g) => add_size(&mut self.gen_waiting[g], j.chips),
            None => self
                .gen_waiting
                .iter_mut()
                .for_each(|m| add_size(m, j.chips)),
        }
    }

    /// A job stopped waiting (with the work it was enqueued with).
    #[inline]
    pub(crate) fn dequeue(&mut self, j: &JobSpec, work_chip_s: u64) {
        self.gen_backlog[j.generation.unwrap_or(self.gen_series.len() - 1)].add(j, work_chip_s, -1);
        let a = &mut self.tenants[j.tenant];
        a.waiting_work_chip_s -= work_chip_s;
        a.waiting_jobs -= 1;
        a.waiting_chips -= j.chips as u64;
        remove_size(&mut a.waiting_sizes, j.chips);
        match j.generation {
            Some(g) => remove_size(&mut self.gen_waiting[g], j.chips),
            None => self
                .gen_waiting
                .iter_mut()
                .for_each(|m| remove_size(m, j.chips)),
        }
    }

    /// A job started: `queue_delay_s` on its first start, `reclaim_s` when it waited for
    /// preemptions since it first needed them.
    #[inline]
    pub(crate) fn start(
        &mut self,
        t: TenantId,
        queue_delay_s: Option<u64>,
        reclaim_s: Option<u64>,
    ) {
        let a = &mut self.tenants[t];
        if let Some(d) = queue_delay_s {
            a.started += 1;
            a.delays.push(d as f64);
        }
        if let Some(r) = reclaim_s {
            a.reclaims.push(r as f64);
        }
    }

    /// A job stopped.
    #[inline]
    pub(crate) fn stop(&mut self, t: TenantId, why: Stopped) {
        let a = &mut self.tenants[t];
        match why {
            Stopped::Completed { jct_s, ideal_run_s } => {
                let jct = jct_s as f64;
                a.completed += 1;
                a.jcts.push(jct);
                a.slowdowns.push(jct / (ideal_run_s.max(10) as f64));
                a.run_times.push(ideal_run_s as f64);
            }
            Stopped::Preempted { lost_chip_s } | Stopped::Killed { lost_chip_s } => {
                a.preemptions += 1;
                if matches!(why, Stopped::Killed { .. }) {
                    a.failure_kills += 1;
                }
                a.lost_chip_s += lost_chip_s as f64;
            }
        }
    }

    /// A tenant's chips on `g` now: (held, borrowed beyond nominal, idle lendable nominal).
    #[inline]
    fn usage_now(s: &impl State, t: TenantId, g: GenId) -> (u64, u64, u64) {
        let u = s.held(t, g);
        let nominal = s.nominal(t, g);
        (
            u,
            u.saturating_sub(nominal),
            nominal.saturating_sub(u.max(s.guaranteed(t, g))),
        )
    }

    /// Time passes to `to_s` in state `s`: integrate the time-weighted metrics.
    pub(crate) fn advance(&mut self, to_s: u64, s: &impl State) {
        let dt = to_s.saturating_sub(self.now_s);
        if dt > 0 {
            let dtf = dt as f64;
            let mut allocated = 0u64;
            for (g, pool) in s.pools().iter().enumerate() {
                allocated += self.advance_gen(s, g, pool, dtf);
            }
            self.fleet.chip_hours_allocated += allocated as f64 * dtf;
            let ages_s = self.ages_s();
            for (ti, a) in self.tenants.iter_mut().enumerate() {
                if a.ever_reserved {
                    a.delivery.advance(self.now_s, to_s, ages_s);
                }
                let r: u64 = s.reserved(ti).iter().sum();
                if r > 0 {
                    a.reserved_time_s += dt;
                    a.reserved_chip_s += r as f64 * dtf;
                    if a.honoured_now {
                        a.honoured_time_s += dt;
                    }
                }
            }
        }
        self.now_s = to_s;
    }

    /// One generation's share of [`Account::advance`]; returns its allocated chips.
    #[inline]
    fn advance_gen(&mut self, s: &impl State, g: GenId, pool: &Pool, dtf: f64) -> u64 {
        let mut allocated = 0u64;
        let mut borrowed_total = 0u64;
        let mut idle_total = 0u64;
        let mut idle_reserved = 0u64;
        for ti in 0..self.tenants.len() {
            let (u, b, idle) = Self::usage_now(s, ti, g);
            allocated += u + s.block_held(ti, g);
            borrowed_total += b;
            idle_total += idle;
            idle_reserved += s.reserved(ti)[g].saturating_sub(u);
        }
        self.fleet.chip_hours_idle_reserved += idle_reserved.min(pool.free_chips()) as f64 * dtf;
        let lent = borrowed_total.min(idle_total) as f64;
        for (ti, a) in self.tenants.iter_mut().enumerate() {
            let (u, b, idle) = Self::usage_now(s, ti, g);
            a.served_chip_s += (u + s.block_held(ti, g)) as f64 * dtf;
            a.borrowed_chip_s += b as f64 * dtf;
            if borrowed_total > 0 && idle_total > 0 {
                a.lent_chip_s += lent * idle as f64 / idle_total as f64 * dtf;
            }
        }
        self.fleet.chip_hours_installed += pool.installed_chips() as f64 * dtf;
        self.fleet.chip_hours_up += pool.up_chips() as f64 * dtf;
        allocated
    }

    /// An instant's events and round are done: note whether each reservation owner has
    /// min(demand, reservation) until the next instant (up to gang size: a waiting job larger
    /// than the unused reservation does not count against it).
    /// The same instant feeds reservation delivery: what the owner asks for (min(demand,
    /// reservation), its held chips when its smallest waiting gang does not fit) and its
    /// shortfall.
    pub(crate) fn settle(&mut self, s: &impl State) {
        let g_n = s.pools().len();
        let now = self.now_s;
        for (ti, a) in self.tenants.iter_mut().enumerate() {
            let r: u64 = s.reserved(ti).iter().sum();
            if r == 0 {
                if a.ever_reserved {
                    a.delivery.set(now, 0, 0);
                }
                continue;
            }
            a.ever_reserved = true;
            let alloc: u64 = (0..g_n).map(|g| s.held(ti, g)).sum();
            let want = r.min(alloc + a.waiting_chips);
            let fits = alloc < want
                && a.waiting_sizes
                    .keys()
                    .next()
                    .is_some_and(|&k| k as u64 <= r - alloc);
            a.honoured_now = !fits;
            let asked = if fits { want } else { alloc.min(r) };
            a.delivery.set(now, asked, asked - alloc.min(asked));
        }
    }

    /// Add the time-series rows of now: one per tenant, one for the fleet.
    pub(crate) fn sample(&mut self, s: &impl State, names: impl Iterator<Item = String>) {
        let g_n = s.pools().len();
        let now = self.now_s;
        for ((ti, a), name) in self.tenants.iter().enumerate().zip(names) {
            let work_queued = a.waiting_work_chip_s as f64 / HOUR_S_F64;
            if now >= self.trend_from_s {
                self.trends[ti].add(now as f64 / HOUR_S_F64, work_queued);
            }
            self.samples.push(Sample {
                time_s: now,
                series: name,
                chips_allocated: (0..g_n).map(|g| s.held(ti, g) + s.block_held(ti, g)).sum(),
                chips_nominal: (0..g_n).map(|g| s.nominal(ti, g)).sum(),
                chips_reserved: s.reserved(ti).iter().sum(),
                chips_borrowed: (0..g_n)
                    .map(|g| s.held(ti, g).saturating_sub(s.nominal(ti, g)))
                    .sum(),
                jobs_queued: a.waiting_jobs,
                chips_queued: a.waiting_chips,
                work_queued,
                work_demanded: a.demanded_chip_s / HOUR_S_F64,
                work_served: self.ended_work_chip_s[ti] / HOUR_S_F64,
                ..Default::default()
            });
        }
        self.sample_fleet(s.pools());
        for (b, name) in self.gen_backlog.iter().zip(&self.gen_series) {
            self.samples.push(Sample {
                time_s: now,
                series: name.clone(),
                jobs_queued: b.jobs,
                chips_queued: b.chips,
                work_queued: b.work_chip_s as f64 / HOUR_S_F64,
                ..Default::default()
            });
        }
        self.samples.close();
    }

    fn sample_fleet(&mut self, pools: &[Pool]) {
        let mut fragmented = 0u64;
        let mut free = 0u64;
        let mut waiting = false;
        for (pool, sizes) in pools.iter().zip(&self.gen_waiting) {
            if let Some(&smallest) = sizes.keys().next() {
                waiting = true;
                fragmented += pool.fragmented_chips(smallest);
                free += pool.free_chips();
            }
        }
        let queued: u64 = self.tenants.iter().map(|a| a.waiting_jobs).sum();
        self.samples.push(Sample {
            time_s: self.now_s,
            series: "*fleet*".into(),
            chips_installed: pools.iter().map(|p| p.installed_chips()).sum(),
            chips_up: pools.iter().map(|p| p.up_chips()).sum(),
            chips_allocated: pools.iter().map(|p| p.up_chips() - p.free_chips()).sum(),
            jobs_queued: queued,
            chips_queued: self.tenants.iter().map(|a| a.waiting_chips).sum(),
            work_queued: self
                .tenants
                .iter()
                .map(|a| a.waiting_work_chip_s as f64)
                .sum::<f64>()
                / HOUR_S_F64,
            chips_fragmented: fragmented,
            work_demanded: self.tenants.iter().map(|a| a.demanded_chip_s).sum::<f64>() / HOUR_S_F64,
            work_served: self.ended_work_chip_s.iter().sum::<f64>() / HOUR_S_F64,
            ..Default::default()
        });
        self.frag_samples += 1;
        self.frag_sum += fragmented as f64;
        if waiting && free > 0 {
            self.frag_share_sum += fragmented as f64 / free as f64;
        }
    }

    /// The run is over (time advanced to the horizon): the outcome of scenario `sc` with
    /// `seed` under `policy`, from the books, the jobs at the horizon and the fleet's pools.
    pub(crate) fn finish<'j>(
        mut self,
        sc: &Scenario,
        seed: u64,
        policy: &str,
        jobs: impl Iterator<Item = JobEnd<'j>> + Clone,
        pools: &[Pool],
    ) -> Outcome {
        if let Some(sink) = self.job_sink.as_mut() {
            for (id, j) in jobs.clone().enumerate() {
                sink.unfinished(id as JobId, &j);
            }
        }
        let tenants = self.tenant_metrics(sc, jobs.clone());
        let mut fleet = std::mem::take(&mut self.fleet);
        let sum = |f: fn(&TenantMetrics) -> f64| tenants.iter().map(f).sum::<f64>() * HOUR_S_F64;
        fleet.work = Work::of(
            sum(|t| t.work.work_demanded),
            sum(|t| t.work.work_served),
            sum(|t| t.work.work_unserved),
        );
        fleet.jobs_never_started = tenants.iter().map(|t| t.jobs_never_started).sum();
        for x in [
            &mut fleet.chip_hours_installed,
            &mut fleet.chip_hours_up,
            &mut fleet.chip_hours_allocated,
            &mut fleet.chip_hours_idle_reserved,
        ] {
            *x /= HOUR_S_F64;
        }
        fleet.utilization = if fleet.chip_hours_up > 0.0 {
            fleet.chip_hours_allocated / fleet.chip_hours_up
        } else {
            0.0
        };
        fleet.chips_installed = pools.iter().map(|p| p.installed_chips()).sum();
        fleet.gw_installed = pools
            .iter()
            .zip(&sc.fleet.generations)
            .map(|(p, g)| g.gw_for_chips(p.installed_chips()))
            .sum();
        if self.frag_samples > 0 {
            fleet.fragmented_chips_mean = self.frag_sum / self.frag_samples as f64;
            fleet.fragmentation = self.frag_share_sum / self.frag_samples as f64;
        }
        let jobs = if self.record_jobs {
            jobs.filter(|j| j.phase != Phase::Unsubmitted)
                .map(|j| JobRecord {
                    tenant: j.spec.tenant,
                    submit_s: j.spec.submit_s,
                    chips: j.spec.chips,
                    priority: j.spec.priority,
                    first_start_s: j.first_start_s,
                    end_s: j.end_s,
                    rejected: j.phase == Phase::Rejected,
                    running_since_s: match j.phase {
                        Phase::Running { start_s } => Some(start_s),
                        _ => None,
                    },
                })
                .collect()
        } else {
            Vec::new()
        };
        Outcome {
            jobs,
            scenario: sc.name.clone(),
            policy: policy.to_string(),
            seed,
            horizon_s: sc.horizon_s,
            tenants,
            fleet,
            timeseries: self.samples.take(),
            timeseries_samples_per_row: self.samples.samples_per_row(),
            workloads: Vec::new(),
            probes: (sc.probes.iter().zip(std::mem::take(&mut self.probes)))
                .map(|(p, series)| {
                    let g = &sc.fleet.generations[p.generation].name;
                    super::probe::metrics(p, g, series)
                })
                .collect(),
        }
    }

    /// Per-tenant results; the chip-hours accounted job by job count running jobs up to the
    /// horizon. Work and waits are taken job by job here, at the end, from the jobs' final
    /// state (no cost per event).
    fn tenant_metrics<'j>(
        &mut self,
        sc: &Scenario,
        jobs: impl Iterator<Item = JobEnd<'j>>,
    ) -> Vec<TenantMetrics> {
        let h = sc.horizon_s;
        let n = sc.tenants.len();
        let mut ends = vec![TenantEnd::default(); n];
        for j in jobs {
            if j.phase == Phase::Unsubmitted {
                continue;
            }
            let e = &mut ends[j.spec.tenant];
            let mut spent = j.spent_chip_s as f64;
            match j.phase {
                Phase::Running { start_s } => {
                    e.running += 1;
                    spent += ((h - start_s) * j.spec.chips as u64) as f64;
                }
                Phase::Waiting => e.queued += 1,
                _ => {}
            }
            e.accounted_chip_s += spent;
            e.served_chip_s += j.work_chip_s * j.done_share;
            e.unserved_chip_s += j.work_chip_s * (1.0 - j.done_share);
            let wait = match j.first_start_s {
                Some(s) => (s - j.spec.submit_s, true),
                None => {
                    e.never_started += 1;
                    (h - j.spec.submit_s, false)
                }
            };
            e.waits.push((wait.0, j.work_chip_s / HOUR_S_F64, wait.1));
            e.classes.push(WaitsByGang::class(j.spec.chips) as u8);
        }
        let slopes = self.backlog_slopes(sc);
        let hours = |x: f64| x / HOUR_S_F64;
        let grace_s = self.grace_s;
        sc.tenants
            .iter()
            .zip(&mut self.tenants)
            .zip(ends)
            .zip(slopes)
            .enumerate()
            .map(|(ti, (((t, a), mut e), slope))| TenantMetrics {
                tenant: t.name.clone(),
                jobs_submitted: a.submitted,
                jobs_started: a.started,
                jobs_completed: a.completed,
                jobs_rejected: a.rejected,
                jobs_queued: e.queued,
                jobs_running: e.running,
                chip_hours_demanded: hours(a.demanded_chip_s),
                chip_hours_served: hours(a.served_chip_s),
                chip_hours_accounted: hours(e.accounted_chip_s + self.blocks.delivered_chip_s(ti)),
                work: Work::of(a.demanded_chip_s, e.served_chip_s, e.unserved_chip_s),
                jobs_never_started: e.never_started,
                backlog_growing: slope.1,
                backlog_slope_chip_hours_per_h: slope.0,
                wait_by_gang_s: e.by_gang(),
                wait_s: CensoredWaits::of(
                    &mut e.waits.iter().map(|w| (w.0, 1.0, w.2)).collect::<Vec<_>>(),
                ),
                wait_weighted_s: CensoredWaits::of(&mut e.waits),
                wait_quantiles_s: WaitQuantiles::of(&e.waits),
                reservation_delivered: a.ever_reserved.then(|| a.delivery.metrics(grace_s)),
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
                capacity_blocks: self.blocks.metrics(sc, ti),
            })
            .collect()
    }

    /// Per tenant, the least-squares slope of its queued work over its samples in the last
    /// quarter of the horizon (reference chip-hours per hour), and whether the backlog is
    /// growing: the slope is positive and significant (t statistic of the slope at least 2, so
    /// a stable queue's noise is not read as growth), and the last sample is above the first.
    /// Not growing with under three samples in the last quarter.
    fn backlog_slopes(&self, sc: &Scenario) -> Vec<(f64, bool)> {
        if self.samples.samples_per_row() > 1 {
            return (self.trends.iter())
                .map(|t| {
                    let (slope, t_stat, rising) = t.slope();
                    (slope, slope > 0.0 && t_stat >= 2.0 && rising)
                })
                .collect();
        }
        let from_s = self.trend_from_s;
        sc.tenants
            .iter()
            .map(|t| {
                let pts: Vec<(f64, f64)> = self
                    .samples
                    .rows()
                    .iter()
                    .filter(|s| s.series == t.name && s.time_s >= from_s)
                    .map(|s| (s.time_s as f64 / HOUR_S_F64, s.work_queued))
                    .collect();
                let (slope, t_stat) = least_squares_slope(&pts);
                let rising = pts.len() >= 3 && pts[pts.len() - 1].1 > pts[0].1;
                (slope, slope > 0.0 && t_stat >= 2.0 && rising)
            })
            .collect()
    }
}

/// The least-squares slope of y over x and its t statistic (slope / standard error; infinite
/// when the points lie on the line). (0, 0) with under two distinct x.
pub(crate) fn least_squares_slope(pts: &[(f64, f64)]) -> (f64, f64) {
    let n = pts.len() as f64;
    if pts.len() < 2 {
        return (0.0, 0.0);
    }
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx) * (p.0 - mx)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    if sxx <= 0.0 {
        return (0.0, 0.0);
    }
    let slope = sxy / sxx;
    if pts.len() < 3 {
        return (slope, 0.0);
    }
    let ssr: f64 = pts
        .iter()
        .map(|p| (p.1 - my - slope * (p.0 - mx)).powi(2))
        .sum();
    (slope, slope_t(slope, ssr, n, sxx))
}

/// The t statistic of a least-squares `slope` over `n` points with residual sum of squares
/// `ssr` and x spread `sxx` (infinite, signed, for an exact fit of a nonzero slope).
pub(crate) fn slope_t(slope: f64, ssr: f64, n: f64, sxx: f64) -> f64 {
    let se = (ssr / (n - 2.0) / sxx).sqrt();
    if se > 0.0 {
        slope / se
    } else if slope != 0.0 {
        f64::INFINITY.copysign(slope)
    } else {
        0.0
    }
}

/// One tenant's books taken job by job at the horizon.
#[derive(Default, Clone)]
struct TenantEnd {
    queued: u64,
    running: u64,
    never_started: u64,
    accounted_chip_s: f64,
    served_chip_s: f64,
    unserved_chip_s: f64,
    /// Per job: (wait or censored wait (s), work (reference chip-hours), started).
    waits: Vec<(u64, f64, bool)>,
    /// Per job: its gang class ([`WaitsByGang::class`]).
    classes: Vec<u8>,
}

impl TenantEnd {
    /// Job-counted censored waits per gang class.
    fn by_gang(&self) -> WaitsByGang {
        let of = |c: u8| {
            let mut w: Vec<(u64, f64, bool)> = self
                .waits
                .iter()
                .zip(&self.classes)
                .filter(|x| *x.1 == c)
                .map(|(w, _)| (w.0, 1.0, w.2))
                .collect();
            CensoredWaits::of(&mut w)
        };
        WaitsByGang {
            le_64: of(0),
            le_512: of(1),
            le_4096: of(2),
            gt_4096: of(3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_and_its_t_statistic() {
        let line = [(0.0, 1.0), (1.0, 3.0), (2.0, 5.0)];
        assert_eq!(least_squares_slope(&line), (2.0, f64::INFINITY));
        // Residuals -1/6, 1/3, -1/6 around slope 1: se = sqrt((1/6) / 1 / 2), t = 2 sqrt(3).
        let (b, t) = least_squares_slope(&[(0.0, 0.0), (1.0, 1.5), (2.0, 2.0)]);
        assert!(
            (b - 1.0).abs() < 1e-12 && (t - 12f64.sqrt()).abs() < 1e-9,
            "{b} {t}"
        );
        assert_eq!(least_squares_slope(&[(1.0, 1.0)]), (0.0, 0.0));
    }
}
