//! The timing simulation: in-order engine queues, region-derived dependencies, and DMA transfers
//! that share their engines and the core's share of HBM bandwidth (processor sharing).
//!
//! Compute engines are deterministic: once every producer of an instruction has a known time, its
//! own start and end follow at once (list scheduling). Only DMA completions depend on what else is
//! in flight, so a discrete-event loop over DMA starts and completions, ordered by (time, sequence),
//! drives the rest. Time is integer picoseconds.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use crate::arch::Hardware;

use std::sync::mpsc::Receiver;

use super::plan::{Cost, INDEX, LOAD, Parts, Picos, Plan, WAR, cycles_to_ps};
use super::queue::{FIRST_DMA, GPSIMD, TENSOR};

/// Not yet known: the instruction has not run (or not finished).
const UNKNOWN: Picos = Picos::MAX;
/// A visible time of `WAITED - q` (for queue `q`; queues are `u16`) is also unknown, and says
/// that the head of queue `q` waits for the instruction (then `wait_next[q]` the next queue
/// waiting for it). No simulated time comes near these values (they are 584 years).
const WAITED: Picos = Picos::MAX - 1;
/// Below every `WAITED - q`.
const WAITED_MIN: Picos = WAITED - u16::MAX as Picos;
/// No queue.
const NONE: u32 = u32::MAX;

/// When every instruction ran, and how busy each queue was.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schedule {
    /// Start of each instruction (a matmul's weight load, a DMA's first byte).
    pub start_ps: Vec<Picos>,
    /// End of each instruction on its engine.
    pub end_ps: Vec<Picos>,
    /// When each instruction's result is visible to others.
    pub visible_ps: Vec<Picos>,
    /// Busy time of each queue.
    pub queue_busy_ps: Vec<Picos>,
    /// Time during which at least one DMA transfer was moving data.
    pub dma_busy_ps: Picos,
    /// Per physical core, the time during which one of its DMA transfers was moving data
    /// (empty with one core: it is `dma_busy_ps`).
    pub core_dma_busy_ps: Vec<Picos>,
    /// Time from the first start to the last result.
    pub total_ps: Picos,
}

/// The tensor engine of one physical core: its pipeline and throttle state.
#[derive(Clone, Copy, Default)]
struct Pe {
    prev_load_end: Picos,
    prev_mm_start: Picos,
    prev_mm_end: Picos,
    /// When each part of the PE array is free (tiled matmuls, background transposes).
    cells: super::plan::PeOccupancy,
    warm_start: Picos,
    ran_before: bool,
    busy_end: Picos,
}

/// The multiplies of the last utilization window, oldest first, with their total length: the
/// PE array's busy share of the window is kept in O(1) amortized per multiply.
#[derive(Clone, Default)]
struct Recent {
    spans: std::collections::VecDeque<(Picos, Picos)>,
    busy_ps: Picos,
}

impl Recent {
    /// Record a multiply `[start, end)`, forgetting those that ended a window before `start`.
    fn push(&mut self, start: Picos, end: Picos, window_ps: Picos) {
        while let Some(&(s, e)) = self.spans.front() {
            if e + window_ps > start {
                break;
            }
            self.busy_ps -= e - s;
            self.spans.pop_front();
        }
        self.spans.push_back((start, end));
        self.busy_ps += end - start;
    }

    /// The busy share of `[at - window, at)` (multiplies in order do not overlap).
    fn utilization(&self, at: Picos, window_ps: Picos) -> f64 {
        if window_ps == 0 {
            return 1.0;
        }
        let from = at.saturating_sub(window_ps);
        let mut busy = self.busy_ps;
        for &(s, e) in &self.spans {
            if e <= from {
                busy -= e - s;
            } else {
                busy -= from.saturating_sub(s).min(e - s);
                break;
            }
        }
        // A multiply reaching past `at` (a background one) counts up to `at`.
        if let Some(&(s, e)) = self.spans.back()
            && e > at
        {
            busy -= e - at.max(s);
        }
        busy as f64 / window_ps as f64
    }
}

/// A DMA transfer. Its rate changes only when its engine gains or loses a transfer or the
/// HBM cap's scale changes, so the work left is brought up to date then, not at every event.
#[derive(Clone, Copy)]
struct Active {
    instr: u32,
    engine: u16,
    hbm_ratio: f64,
    /// Work left at `since` (bytes at the engine's peak rate).
    remaining: f64,
    /// When `remaining` was last brought up to date.
    since: Picos,
    /// Rate since then (bytes per ns); 0 before its first rate.
    rate: f64,
    /// When it completes at this rate.
    finish: Picos,
}

struct Sim<'a, S> {
    src: S,
    hw: &'a Hardware,
    s: Schedule,
    queue_instrs: Vec<u32>,
    queue_start: Vec<u32>,
    head: Vec<u32>,
    queue_free: Vec<Picos>,
    in_flight: Vec<bool>,
    prev_issue: Vec<Picos>,
    work: VecDeque<u16>,
    queued: Vec<bool>,
    // Readiness. A queue's head is examined when it becomes the head: its dependencies are
    // scanned in order, and at the first producer that has not run the queue waits for that
    // producer alone (no per-instruction counters or reverse edges: only heads ever wait).
    /// Per queue: the instruction `scan` belongs to.
    scan_for: Vec<u32>,
    /// Per queue: position in the head's dependency list of the first not known met.
    scan: Vec<u32>,
    /// Per queue: whether its head waits for a producer.
    waiting: Vec<bool>,
    /// Per queue: the next queue waiting for the same producer (`NONE`: the last).
    wait_next: Vec<u32>,
    /// Heads made ready by one producer: (instruction, queue).
    woken: Vec<(u32, u16)>,
    /// Tensor engine of each physical core.
    pe: Vec<Pe>,
    /// Per physical core: its recent multiplies, for the throttle's utilization window.
    recent: Vec<Recent>,
    /// Queues of one physical core (queue `q` is local queue `q % per_core` of core
    /// `q / per_core`).
    per_core: usize,
    /// `core_barrier` instructions, ascending: each sits in every core's GpSimd queue.
    barriers: &'a [u32],
    /// Per queue: its head is a barrier it has reached (waiting for the other cores).
    arrived: Vec<bool>,
    /// GpSimd queues at the pending barrier.
    arrivals: u32,
    // DMA fluid model. Events are ordered by (time, sequence number); a transfer's start is an
    // event in `starts` (by queue), and the earliest completion under the current rates is the
    // one pending `check` (rates change at every event, so an earlier check is void once a new
    // one is due).
    starts: BinaryHeap<Reverse<(Picos, u64, u32)>>,
    /// Per queue, the transfer issued and waiting for its start event (read from the plan at
    /// issue, where the access overlaps other work).
    pending: Vec<Active>,
    check: Option<(Picos, u64)>,
    active: Vec<Active>,
    /// Active transfers per DMA engine, kept as transfers start and finish.
    per_engine: Vec<u32>,
    /// Active transfers per physical core (kept with more than one core).
    per_core_active: Vec<u32>,
    /// Engines whose count changed since the last rates (their transfers' rates change).
    engine_changed: Vec<bool>,
    changed: Vec<u16>,
    /// The factor HBM transfers are slowed by (1: under the core's share).
    scale: f64,
    /// `share_of[c]`: the engine's peak rate divided by `c` (the same division, done once).
    share_of: Vec<f64>,
    now: Picos,
    seq: u64,
    hbm_share: f64,
    /// The largest `hbm_ratio` of any transfer issued so far (bounds the HBM demand).
    ratio_max: f64,
}

/// Where the simulator reads the plan: whole, or streamed in while it is being built.
trait Source {
    fn plan(&self) -> &Plan;
    /// Make instruction `i`'s entries available (a streamed plan waits for them).
    fn ensure(&mut self, i: usize);
}

struct Whole<'a>(&'a Plan);

impl Source for Whole<'_> {
    #[inline]
    fn plan(&self) -> &Plan {
        self.0
    }

    #[inline]
    fn ensure(&mut self, _: usize) {}
}

/// A plan assembled from the chunks a builder thread sends, in order.
struct Streamed {
    plan: Plan,
    rx: Receiver<Parts>,
}

impl Source for Streamed {
    #[inline]
    fn plan(&self) -> &Plan {
        &self.plan
    }

    #[inline]
    fn ensure(&mut self, i: usize) {
        while self.plan.planned() <= i {
            let part = self
                .rx
                .recv()
                .expect("the builder sends every instruction before it stops");
            self.plan.push_part(part);
        }
    }
}

/// Simulate the plan on `hw`.
pub fn simulate(plan: &Plan, hw: &Hardware) -> Schedule {
    simulate_from_with(Whole(plan), hw, &[])
}

/// [`simulate`] with the `core_barrier` instructions (ascending), where every physical core's
/// GpSimd queue meets.
pub fn simulate_with_barriers(plan: &Plan, hw: &Hardware, barriers: &[u32]) -> Schedule {
    simulate_from_with(Whole(plan), hw, barriers)
}

/// Simulate a plan while it is being built: `plan` holds the queues (see [`Plan::streamed`]),
/// the rest arrives in order on `rx` (from [`super::plan::build_streamed`]). The schedule is the one [`simulate`] gives for the whole plan: the simulator
/// only ever waits for entries, it never guesses. Returns the assembled plan too.
pub(crate) fn simulate_streamed(
    plan: Plan,
    hw: &Hardware,
    rx: Receiver<Parts>,
    barriers: &[u32],
) -> (Plan, Schedule) {
    let n = plan.len();
    let mut src = Streamed { plan, rx };
    let s = simulate_from_with(&mut src, hw, barriers);
    if n > 0 {
        src.ensure(n - 1);
    }
    (src.plan, s)
}

impl<S: Source> Source for &mut S {
    #[inline]
    fn plan(&self) -> &Plan {
        (**self).plan()
    }

    #[inline]
    fn ensure(&mut self, i: usize) {
        (**self).ensure(i)
    }
}

fn simulate_from_with<'a, S: Source>(src: S, hw: &'a Hardware, barriers: &'a [u32]) -> Schedule {
    let plan = src.plan();
    let n = plan.queue.len();
    let nq = plan.queues;
    let per_core = super::queue::per_core(hw);
    let cores = nq / per_core;
    // A barrier is in core 0's GpSimd queue in the plan, and in every other core's here.
    let extra = |c: usize| GPSIMD as usize + c * per_core;
    let mut count = vec![0u32; nq + 1];
    for &q in &plan.queue {
        count[q as usize + 1] += 1;
    }
    for c in 1..cores {
        count[extra(c) + 1] += barriers.len() as u32;
    }
    for q in 0..nq {
        count[q + 1] += count[q];
    }
    let mut fill = count.clone();
    let mut queue_instrs = super::pages::filled(n + barriers.len() * (cores - 1), 0u32);
    let mut next_barrier = barriers.iter().peekable();
    for (i, &q) in plan.queue.iter().enumerate() {
        queue_instrs[fill[q as usize] as usize] = i as u32;
        fill[q as usize] += 1;
        if next_barrier.next_if(|&&b| b as usize == i).is_some() {
            for c in 1..cores {
                queue_instrs[fill[extra(c)] as usize] = i as u32;
                fill[extra(c)] += 1;
            }
        }
    }
    let mut sim = Sim {
        src,
        hw,
        s: Schedule {
            // Every instruction runs (dependencies point back in program order and queues run
            // in it), so each start and end is written: zeroed memory comes from the OS without
            // the fill pass a marker value would take. Visible times keep their marker.
            start_ps: super::pages::filled(n, 0),
            end_ps: super::pages::filled(n, 0),
            visible_ps: super::pages::filled(n, UNKNOWN),
            queue_busy_ps: vec![0; nq],
            dma_busy_ps: 0,
            core_dma_busy_ps: if cores > 1 {
                vec![0; cores]
            } else {
                Vec::new()
            },
            total_ps: 0,
        },
        queue_instrs,
        queue_start: count,
        head: vec![0; nq],
        queue_free: vec![0; nq],
        in_flight: vec![false; nq],
        prev_issue: vec![0; nq],
        work: (0..nq as u16).collect(),
        queued: vec![true; nq],
        scan_for: vec![NONE; nq],
        scan: vec![0; nq],
        waiting: vec![false; nq],
        wait_next: vec![NONE; nq],
        woken: Vec::new(),
        pe: vec![Pe::default(); cores],
        recent: vec![Recent::default(); cores],
        per_core,
        barriers,
        arrived: vec![false; nq],
        arrivals: 0,
        starts: BinaryHeap::new(),
        pending: (0..nq)
            .map(|_| Active {
                instr: NONE,
                engine: 0,
                hbm_ratio: 0.0,
                remaining: 0.0,
                since: 0,
                rate: 0.0,
                finish: UNKNOWN,
            })
            .collect(),
        check: None,
        active: Vec::new(),
        per_engine: vec![0; hw.dma.engines as usize * cores],
        per_core_active: vec![0; if cores > 1 { cores } else { 0 }],
        engine_changed: vec![false; hw.dma.engines as usize * cores],
        changed: Vec::new(),
        scale: 1.0,
        share_of: (0..=hw.dma.queues_per_engine)
            .map(|c| hw.dma.peak_bytes_per_ns / c as f64)
            .collect(),
        now: 0,
        seq: 0,
        // The physical cores of a logical core contend for their shares of HBM together.
        hbm_share: hw.core_hbm_bytes_per_ns() * cores as f64,
        ratio_max: 0.0,
    };
    sim.run();
    sim.s
}

/// `x.ceil() as Picos` for finite `x >= 0`, without a libm call (baseline x86-64 has no rounding
/// instruction, and this runs at every DMA event).
#[inline]
fn ceil_ps(x: f64) -> Picos {
    let t = x as Picos;
    if (t as f64) < x {
        t.saturating_add(1)
    } else {
        t
    }
}

impl<S: Source> Sim<'_, S> {
    fn run(&mut self) {
        self.resolve();
        loop {
            let start = self.starts.peek().map(|r| (r.0.0, r.0.1));
            let take_check = match (self.check, start) {
                (Some(c), Some(s)) => c < s,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_check {
                let (t, _) = self.check.take().expect("chosen");
                self.advance_to(t);
                self.complete_due();
            } else {
                let Reverse((t, _, q)) = self.starts.pop().expect("chosen");
                self.advance_to(t);
                let p = &mut self.pending[q as usize];
                debug_assert!(p.instr != NONE, "issued");
                let a = Active { since: t, ..*p };
                p.instr = NONE;
                let e = a.engine;
                self.active.push(a);
                self.count_change(e, 1);
            }
            self.rates_and_check();
            self.resolve();
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Move the clock to `t` (the busy time counts while any transfer moves data).
    #[inline]
    fn advance_to(&mut self, t: Picos) {
        if t > self.now {
            if !self.active.is_empty() {
                self.s.dma_busy_ps += t - self.now;
                for (c, &n) in self.per_core_active.iter().enumerate() {
                    if n > 0 {
                        self.s.core_dma_busy_ps[c] += t - self.now;
                    }
                }
            }
            self.now = t;
        }
    }

    /// Engine `e` gains (`+1`) or loses (`-1`) a transfer.
    #[inline]
    fn count_change(&mut self, e: u16, d: i32) {
        let c = &mut self.per_engine[e as usize];
        *c = c.wrapping_add_signed(d);
        if !self.per_core_active.is_empty() {
            let c = &mut self.per_core_active[e as usize / self.hw.dma.engines as usize];
            *c = c.wrapping_add_signed(d);
        }
        if !self.engine_changed[e as usize] {
            self.engine_changed[e as usize] = true;
            self.changed.push(e);
        }
    }

    /// Finish the transfers complete by now: one pass, a finished transfer swap-removed and the
    /// one moved into its place visited next.
    fn complete_due(&mut self) {
        let mut k = 0;
        while k < self.active.len() {
            if self.active[k].finish <= self.now {
                let a = self.active.swap_remove(k);
                self.count_change(a.engine, -1);
                self.finish_dma(a.instr as usize);
            } else {
                k += 1;
            }
        }
    }

    fn finish_dma(&mut self, i: usize) {
        let q = self.src.plan().queue[i] as usize;
        self.s.end_ps[i] = self.now;
        let waited = self.set_visible(i, self.now);
        self.s.queue_busy_ps[q] += self.now - self.s.start_ps[i];
        self.queue_free[q] = self.now;
        self.in_flight[q] = false;
        self.head[q] += 1;
        self.enqueue(q as u16);
        if let Some(first) = waited {
            self.wake(first);
        }
    }

    /// New rates where they changed, and the check at the earliest completion under them.
    ///
    /// Each DMA engine serves its active transfers round-robin (an equal share of its peak
    /// rate); transfers touching HBM are slowed together when they would exceed the core's share.
    fn rates_and_check(&mut self) {
        let share = |c: u32| match self.share_of.get(c as usize) {
            Some(&r) => r,
            None => self.hw.dma.peak_bytes_per_ns / c as f64,
        };
        // Each engine moves at most its peak rate, so the demand is at most (engines with
        // transfers) x peak x the largest ratio. Under the share (with room for the sum's
        // rounding) the sum cannot be over it either, and the scale is 1 without it.
        let busy = self.active.len().min(self.per_engine.len()) as f64;
        let bound = busy * self.hw.dma.peak_bytes_per_ns * self.ratio_max;
        let scale = if bound * (1.0 + 1e-9) <= self.hbm_share {
            1.0
        } else {
            let mut hbm = 0.0;
            for a in &self.active {
                hbm += share(self.per_engine[a.engine as usize]) * a.hbm_ratio;
            }
            if hbm > self.hbm_share {
                self.hbm_share / hbm
            } else {
                1.0
            }
        };
        let rescale = scale != self.scale;
        self.scale = scale;
        let now = self.now;
        let mut next = UNKNOWN;
        for a in &mut self.active {
            if self.engine_changed[a.engine as usize] || (rescale && a.hbm_ratio > 0.0) {
                let base = share(self.per_engine[a.engine as usize]);
                let rate = if a.hbm_ratio > 0.0 {
                    base * scale
                } else {
                    base
                };
                if rate != a.rate {
                    a.remaining -= a.rate * ((now - a.since) as f64 / 1000.0);
                    a.since = now;
                    a.rate = rate;
                    a.finish = now + ceil_ps((a.remaining / rate).max(0.0) * 1000.0);
                }
            }
            next = next.min(a.finish);
        }
        for e in self.changed.drain(..) {
            self.engine_changed[e as usize] = false;
        }
        self.check = None;
        if next != UNKNOWN {
            let seq = self.next_seq();
            self.check = Some((next, seq));
        }
    }

    fn enqueue(&mut self, q: u16) {
        if !self.queued[q as usize] {
            self.queued[q as usize] = true;
            self.work.push_back(q);
        }
    }

    /// The head of queue `q`, its plan entries available.
    fn head_instr(&mut self, q: usize) -> Option<usize> {
        let pos = self.queue_start[q] + self.head[q];
        let i =
            (pos < self.queue_start[q + 1]).then(|| self.queue_instrs[pos as usize] as usize)?;
        self.src.ensure(i);
        Some(i)
    }

    /// Set the time `i`'s result is visible; the first queue whose head waited for it.
    fn set_visible(&mut self, i: usize, t: Picos) -> Option<u16> {
        let old = std::mem::replace(&mut self.s.visible_ps[i], t);
        // The total is the latest result: kept here, not found by a pass over the array.
        self.s.total_ps = self.s.total_ps.max(t);
        (WAITED_MIN..=WAITED)
            .contains(&old)
            .then(|| (WAITED - old) as u16)
    }

    /// Whether every dependency of `i`, the head of queue `q`, has run. If not, `q` waits for
    /// the first producer that has not.
    fn deps_met(&mut self, q: usize, i: usize) -> bool {
        if self.waiting[q] {
            return false;
        }
        if self.scan_for[q] != i as u32 {
            self.scan_for[q] = i as u32;
            self.scan[q] = 0;
        }
        let deps = self.src.plan().deps_of(i);
        let end = deps.len() as u32;
        let mut k = self.scan[q];
        while k < end {
            let p = (deps[k as usize] & INDEX) as usize;
            let v = self.s.visible_ps[p];
            if v >= WAITED_MIN {
                self.wait_next[q] = if v == UNKNOWN {
                    NONE
                } else {
                    (WAITED - v) as u32
                };
                self.s.visible_ps[p] = WAITED - q as Picos;
                self.scan[q] = k;
                self.waiting[q] = true;
                return false;
            }
            k += 1;
        }
        self.scan[q] = end;
        true
    }

    /// An instruction has run, and queue `first` (then the others linked from it) waited for
    /// it: those whose heads are now ready are queued, in the order of their heads (as a count
    /// of met dependencies per instruction would find them).
    fn wake(&mut self, first: u16) {
        let mut woken = std::mem::take(&mut self.woken);
        woken.clear();
        let mut q = first as u32;
        while q != NONE {
            let next = self.wait_next[q as usize];
            self.waiting[q as usize] = false;
            let i = self
                .head_instr(q as usize)
                .expect("a waiting queue has a head");
            if self.deps_met(q as usize, i) {
                woken.push((i as u32, q as u16));
            }
            q = next;
        }
        woken.sort_unstable();
        for &(_, q) in &woken {
            self.enqueue(q);
        }
        self.woken = woken;
    }

    /// (ready for the weight load, ready for everything else) from the producers' times. A
    /// producer's results are visible after its latency, but the PE array takes its own earlier results (a matmul accumulating into the PSUM tile the
    /// previous one wrote) in pipeline order, without waiting for the drain (trainium.md
    /// section 7: nothing published charges a drain between accumulating matmuls, and the
    /// tutorial reaches 85 % of peak accumulating 8 deep into one bank).
    fn ready(&self, i: usize) -> (Picos, Picos) {
        let (mut load, mut all) = (0, 0);
        let plan = self.src.plan();
        let q = plan.queue[i];
        let tensor = q as usize % self.per_core == TENSOR as usize;
        for &d in plan.deps_of(i) {
            let p = (d & INDEX) as usize;
            let t = if d & WAR != 0 || (tensor && plan.queue[p] == q) {
                self.s.end_ps[p]
            } else {
                self.s.visible_ps[p]
            };
            debug_assert!(t != UNKNOWN);
            if d & LOAD != 0 {
                load = load.max(t);
            }
            all = all.max(t);
        }
        (load, all)
    }

    fn resolve(&mut self) {
        while let Some(q) = self.work.pop_front() {
            let q = q as usize;
            self.queued[q] = false;
            while let Some(i) = self.head_instr(q) {
                if !self.deps_met(q, i) {
                    break;
                }
                let local = q % self.per_core;
                if local >= FIRST_DMA as usize {
                    if !self.in_flight[q] {
                        self.issue_dma(q, i);
                    }
                    break;
                }
                if local == GPSIMD as usize && self.barriers.binary_search(&(i as u32)).is_ok() {
                    if !self.arrive(q, i) {
                        break;
                    }
                    continue;
                }
                let waited = if local == TENSOR as usize {
                    self.run_tensor(q, i)
                } else {
                    self.run_compute(q, i)
                };
                self.head[q] += 1;
                if let Some(first) = waited {
                    self.wake(first);
                }
            }
        }
    }

    fn issue_dma(&mut self, q: usize, i: usize) {
        let Cost::Dma {
            engine,
            work_bytes,
            hbm_bytes,
            latency_ps,
        } = self.src.plan().cost(i)
        else {
            unreachable!("DMA queue holds DMA")
        };
        let hbm_ratio = if work_bytes > 0.0 {
            hbm_bytes as f64 / work_bytes
        } else {
            0.0
        };
        self.ratio_max = self.ratio_max.max(hbm_ratio);
        self.pending[q] = Active {
            instr: i as u32,
            engine,
            remaining: work_bytes,
            hbm_ratio,
            since: 0,
            rate: 0.0,
            finish: UNKNOWN,
        };
        let (_, ready) = self.ready(i);
        let issue = ready.max(self.prev_issue[q]);
        self.prev_issue[q] = issue;
        // The fixed latency overlaps with the previous transfer of the same queue.
        let data = (issue + latency_ps).max(self.queue_free[q]).max(self.now);
        self.s.start_ps[i] = data;
        self.in_flight[q] = true;
        let seq = self.next_seq();
        self.starts.push(Reverse((data, seq, q as u32)));
    }

    /// Run compute instruction `i` of queue `q`; the first queue whose head waited for it.
    fn run_compute(&mut self, q: usize, i: usize) -> Option<u16> {
        let Cost::Compute {
            busy_ps,
            latency_ps,
        } = self.src.plan().cost(i)
        else {
            unreachable!("compute queue")
        };
        let (_, ready) = self.ready(i);
        let start = ready.max(self.queue_free[q]);
        let end = start + busy_ps;
        self.s.start_ps[i] = start;
        self.s.end_ps[i] = end;
        let waited = self.set_visible(i, end + latency_ps);
        self.queue_free[q] = end;
        self.s.queue_busy_ps[q] += busy_ps;
        waited
    }

    /// GpSimd queue `q` reaches barrier `i` (its dependencies met); when it is the last core's
    /// to, the barrier runs at once on every core's GpSimd queue and they all go on past it
    /// (true), else `q` waits (false).
    fn arrive(&mut self, q: usize, i: usize) -> bool {
        if !self.arrived[q] {
            self.arrived[q] = true;
            self.arrivals += 1;
        }
        if (self.arrivals as usize) < self.pe.len() {
            return false;
        }
        let Cost::Compute {
            busy_ps,
            latency_ps,
        } = self.src.plan().cost(i)
        else {
            unreachable!("a barrier runs on GpSimd")
        };
        let gpsimd: Vec<usize> = (0..self.pe.len())
            .map(|c| GPSIMD as usize + c * self.per_core)
            .collect();
        let (_, ready) = self.ready(i);
        let start = gpsimd.iter().fold(ready, |t, &g| t.max(self.queue_free[g]));
        let end = start + busy_ps;
        self.s.start_ps[i] = start;
        self.s.end_ps[i] = end;
        for &g in &gpsimd {
            self.queue_free[g] = end;
            self.s.queue_busy_ps[g] += busy_ps;
            self.head[g] += 1;
            self.arrived[g] = false;
            if g != q {
                self.enqueue(g as u16);
            }
        }
        self.arrivals = 0;
        if let Some(first) = self.set_visible(i, end + latency_ps) {
            self.wake(first);
        }
        true
    }

    /// Run tensor-engine instruction `i` of queue `q`; the first queue whose head waited for it.
    fn run_tensor(&mut self, q: usize, i: usize) -> Option<u16> {
        let Cost::Tensor {
            load_cycles,
            mm_cycles,
            latency_cycles,
            cells,
            ..
        } = self.src.plan().cost(i)
        else {
            unreachable!("tensor queue")
        };
        let pe = &self.hw.pe;
        let ps = |c: u64| cycles_to_ps(c, pe.clock_mhz);
        let (load_ready, ready) = self.ready(i);
        let core = q / self.per_core;
        let mut st = self.pe[core];
        let (start, load_end) = if load_cycles > 0 {
            // With fast weight load the next weights stream in while the current multiply runs
            // (two weight buffers): the load may begin once the previous multiply has started.
            let s = if pe.fast_weight_load {
                load_ready.max(st.prev_load_end).max(st.prev_mm_start)
            } else {
                load_ready.max(st.prev_mm_end)
            };
            (s, s + ps(load_cycles))
        } else {
            (UNKNOWN, st.prev_load_end)
        };
        // In order, each once the parts of the array it occupies are free (all of it unless
        // tiled or in the background: then after the previous multiply).
        let mm_start = ready
            .max(load_end)
            .max(st.prev_mm_start)
            .max(st.cells.free_at(cells));
        let th = &pe.throttle;
        let mut mm_ps = ps(mm_cycles);
        if th.enabled {
            let window = th.idle_ns * 1000;
            let util = self.recent[core].utilization(mm_start, window);
            let warm = mm_start.saturating_sub(st.warm_start) >= window;
            if !st.ran_before
                || mm_start.saturating_sub(st.prev_mm_end) >= window
                || (warm && util < th.reengage_below)
            {
                st.warm_start = mm_start;
            }
            let ramp = (th.ramp_ns * 1000) as f64;
            let x = if ramp > 0.0 {
                ((mm_start - st.warm_start) as f64 / ramp).min(1.0)
            } else {
                1.0
            };
            let mut speed = th.start_fraction + (1.0 - th.start_fraction) * x;
            if util > th.tdp_max_utilization {
                speed = speed.min(th.tdp_max_utilization);
            }
            mm_ps = (mm_ps as f64 / speed).ceil() as Picos;
        }
        let end = mm_start + mm_ps;
        if th.enabled {
            self.recent[core].push(mm_start, end, th.idle_ns * 1000);
        }
        st.ran_before = true;
        // The slice is the multiply; the weight load ran before it, possibly in the background.
        self.s.start_ps[i] = mm_start;
        self.s.end_ps[i] = end;
        let waited = self.set_visible(i, end + ps(latency_cycles));
        st.prev_load_end = load_end;
        st.prev_mm_start = mm_start;
        st.prev_mm_end = st.prev_mm_end.max(end);
        st.cells.occupy(cells, end);
        // Busy is the union of the load and multiply intervals (a background load overlaps the
        // previous multiply; waiting for operands is not busy).
        if start != UNKNOWN {
            self.add_tensor_busy(q, &mut st, start, load_end);
        }
        self.add_tensor_busy(q, &mut st, mm_start, end);
        self.pe[core] = st;
        waited
    }

    fn add_tensor_busy(&mut self, q: usize, st: &mut Pe, from: Picos, to: Picos) {
        let from = from.max(st.busy_end);
        self.s.queue_busy_ps[q] += to.saturating_sub(from);
        st.busy_end = st.busy_end.max(to);
    }
}
