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

use super::plan::{Cost, FIRST_DMA, INDEX, LOAD, Picos, Plan, TENSOR, WAR, cycles_to_ps};

const UNKNOWN: Picos = Picos::MAX;

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
    /// Time from the first start to the last result.
    pub total_ps: Picos,
}

struct Active {
    instr: u32,
    engine: u16,
    remaining: f64,
    hbm_ratio: f64,
    rate: f64,
}

struct Sim<'a> {
    plan: &'a Plan,
    hw: &'a Hardware,
    s: Schedule,
    waiting: Vec<u32>,
    queue_instrs: Vec<u32>,
    queue_start: Vec<u32>,
    head: Vec<u32>,
    queue_free: Vec<Picos>,
    in_flight: Vec<bool>,
    prev_issue: Vec<Picos>,
    work: VecDeque<u16>,
    queued: Vec<bool>,
    // Tensor engine.
    prev_load_end: Picos,
    prev_mm_start: Picos,
    prev_mm_end: Picos,
    warm_start: Picos,
    ran_before: bool,
    tensor_busy_end: Picos,
    // DMA fluid model. Events are ordered by (time, sequence number); a transfer's start is an
    // event in `starts`, and the earliest completion under the current rates is the one pending
    // `check` (rates change at every event, so an earlier check is void once a new one is due).
    starts: BinaryHeap<Reverse<(Picos, u64, u32)>>,
    check: Option<(Picos, u64)>,
    active: Vec<Active>,
    /// Active transfers per DMA engine, kept as transfers start and finish.
    per_engine: Vec<u32>,
    now: Picos,
    seq: u64,
    hbm_share: f64,
}

/// Simulate the plan on `hw`.
pub fn simulate(plan: &Plan, hw: &Hardware) -> Schedule {
    let n = plan.queue.len();
    let nq = plan.queues;
    let mut count = vec![0u32; nq + 1];
    for &q in &plan.queue {
        count[q as usize + 1] += 1;
    }
    for q in 0..nq {
        count[q + 1] += count[q];
    }
    let mut fill = count.clone();
    let mut queue_instrs = vec![0u32; n];
    for (i, &q) in plan.queue.iter().enumerate() {
        queue_instrs[fill[q as usize] as usize] = i as u32;
        fill[q as usize] += 1;
    }
    let waiting = (0..n)
        .map(|i| plan.dep_start[i + 1] - plan.dep_start[i])
        .collect();
    let mut sim = Sim {
        plan,
        hw,
        s: Schedule {
            start_ps: vec![UNKNOWN; n],
            end_ps: vec![UNKNOWN; n],
            visible_ps: vec![UNKNOWN; n],
            queue_busy_ps: vec![0; nq],
            dma_busy_ps: 0,
            total_ps: 0,
        },
        waiting,
        queue_instrs,
        queue_start: count,
        head: vec![0; nq],
        queue_free: vec![0; nq],
        in_flight: vec![false; nq],
        prev_issue: vec![0; nq],
        work: (0..nq as u16).collect(),
        queued: vec![true; nq],
        prev_load_end: 0,
        prev_mm_start: 0,
        prev_mm_end: 0,
        warm_start: 0,
        ran_before: false,
        tensor_busy_end: 0,
        starts: BinaryHeap::new(),
        check: None,
        active: Vec::new(),
        per_engine: vec![0; hw.dma.engines as usize],
        now: 0,
        seq: 0,
        hbm_share: hw.core_hbm_bytes_per_ns(),
    };
    sim.run();
    let mut s = sim.s;
    s.total_ps = s.visible_ps.iter().copied().max().unwrap_or(0);
    s
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

impl Sim<'_> {
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
                self.advance(t);
                self.complete_finished();
            } else {
                let Reverse((t, _, i)) = self.starts.pop().expect("chosen");
                self.advance(t);
                let Cost::Dma {
                    engine,
                    work_bytes,
                    hbm_bytes,
                    ..
                } = self.plan.cost[i as usize]
                else {
                    unreachable!("only DMA instructions start as events")
                };
                self.per_engine[engine as usize] += 1;
                self.active.push(Active {
                    instr: i,
                    engine,
                    remaining: work_bytes,
                    hbm_ratio: if work_bytes > 0.0 {
                        hbm_bytes as f64 / work_bytes
                    } else {
                        0.0
                    },
                    rate: 0.0,
                });
            }
            self.rates_and_check();
            self.resolve();
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// Move the fluid model forward to `t`.
    fn advance(&mut self, t: Picos) {
        if t > self.now {
            let dt_ns = (t - self.now) as f64 / 1000.0;
            for a in &mut self.active {
                a.remaining -= a.rate * dt_ns;
            }
            if !self.active.is_empty() {
                self.s.dma_busy_ps += t - self.now;
            }
            self.now = t;
        }
    }

    /// New rates, and the check at the earliest completion under them.
    ///
    /// Each DMA engine serves its active transfers round-robin (an equal share of its peak
    /// rate); transfers touching HBM are slowed together when they would exceed the core's share.
    fn rates_and_check(&mut self) {
        let peak = self.hw.dma.peak_bytes_per_ns;
        let mut hbm = 0.0;
        for a in &mut self.active {
            a.rate = peak / self.per_engine[a.engine as usize] as f64;
            hbm += a.rate * a.hbm_ratio;
        }
        let scale = (hbm > self.hbm_share).then(|| self.hbm_share / hbm);
        let mut next_ns = f64::INFINITY;
        for a in &mut self.active {
            if let Some(f) = scale
                && a.hbm_ratio > 0.0
            {
                a.rate *= f;
            }
            next_ns = next_ns.min((a.remaining / a.rate).max(0.0));
        }
        self.check = None;
        if next_ns.is_finite() {
            let t = self.now + ceil_ps(next_ns * 1000.0);
            let seq = self.next_seq();
            self.check = Some((t, seq));
        }
    }

    fn complete_finished(&mut self) {
        let mut k = 0;
        while k < self.active.len() {
            let a = &self.active[k];
            // Finished, up to the rounding of event times to whole picoseconds.
            if a.remaining <= a.rate * 1e-3 + 1e-9 {
                let i = a.instr as usize;
                self.per_engine[a.engine as usize] -= 1;
                self.active.swap_remove(k);
                let q = self.plan.queue[i] as usize;
                self.s.end_ps[i] = self.now;
                self.s.visible_ps[i] = self.now;
                self.s.queue_busy_ps[q] += self.now - self.s.start_ps[i];
                self.queue_free[q] = self.now;
                self.in_flight[q] = false;
                self.head[q] += 1;
                self.enqueue(q as u16);
                self.notify(i);
            } else {
                k += 1;
            }
        }
    }

    fn enqueue(&mut self, q: u16) {
        if !self.queued[q as usize] {
            self.queued[q as usize] = true;
            self.work.push_back(q);
        }
    }

    fn head_instr(&self, q: usize) -> Option<usize> {
        let pos = self.queue_start[q] + self.head[q];
        (pos < self.queue_start[q + 1]).then(|| self.queue_instrs[pos as usize] as usize)
    }

    fn notify(&mut self, j: usize) {
        let (a, b) = (
            self.plan.dependent_start[j] as usize,
            self.plan.dependent_start[j + 1] as usize,
        );
        for k in a..b {
            let i = self.plan.dependents[k] as usize;
            self.waiting[i] -= 1;
            if self.waiting[i] == 0 {
                let q = self.plan.queue[i] as usize;
                if self.head_instr(q) == Some(i) {
                    self.enqueue(q as u16);
                }
            }
        }
    }

    /// (ready for the weight load, ready for everything else) from the producers' times.
    fn ready(&self, i: usize) -> (Picos, Picos) {
        let (mut load, mut all) = (0, 0);
        for &d in
            &self.plan.deps[self.plan.dep_start[i] as usize..self.plan.dep_start[i + 1] as usize]
        {
            let p = (d & INDEX) as usize;
            let t = if d & WAR != 0 {
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
                if self.waiting[i] > 0 {
                    break;
                }
                if q >= FIRST_DMA as usize {
                    if !self.in_flight[q] {
                        self.issue_dma(q, i);
                    }
                    break;
                }
                if q == TENSOR as usize {
                    self.run_tensor(i);
                } else {
                    self.run_compute(q, i);
                }
                self.head[q] += 1;
                self.notify(i);
            }
        }
    }

    fn issue_dma(&mut self, q: usize, i: usize) {
        let Cost::Dma { latency_ps, .. } = self.plan.cost[i] else {
            unreachable!("DMA queue holds DMA")
        };
        let (_, ready) = self.ready(i);
        let issue = ready.max(self.prev_issue[q]);
        self.prev_issue[q] = issue;
        // The fixed latency overlaps with the previous transfer of the same queue.
        let data = (issue + latency_ps).max(self.queue_free[q]).max(self.now);
        self.s.start_ps[i] = data;
        self.in_flight[q] = true;
        let seq = self.next_seq();
        self.starts.push(Reverse((data, seq, i as u32)));
    }

    fn run_compute(&mut self, q: usize, i: usize) {
        let Cost::Compute {
            busy_ps,
            latency_ps,
        } = self.plan.cost[i]
        else {
            unreachable!("compute queue")
        };
        let (_, ready) = self.ready(i);
        let start = ready.max(self.queue_free[q]);
        let end = start + busy_ps;
        self.s.start_ps[i] = start;
        self.s.end_ps[i] = end;
        self.s.visible_ps[i] = end + latency_ps;
        self.queue_free[q] = end;
        self.s.queue_busy_ps[q] += busy_ps;
    }

    fn run_tensor(&mut self, i: usize) {
        let Cost::Tensor {
            load_cycles,
            mm_cycles,
            latency_cycles,
            ..
        } = self.plan.cost[i]
        else {
            unreachable!("tensor queue")
        };
        let pe = &self.hw.pe;
        let ps = |c: u64| cycles_to_ps(c, pe.clock_mhz);
        let (load_ready, ready) = self.ready(i);
        let (start, load_end) = if load_cycles > 0 {
            // With fast weight load the next weights stream in while the current multiply runs
            // (two weight buffers): the load may begin once the previous multiply has started.
            let s = if pe.fast_weight_load {
                load_ready.max(self.prev_load_end).max(self.prev_mm_start)
            } else {
                load_ready.max(self.prev_mm_end)
            };
            (s, s + ps(load_cycles))
        } else {
            (UNKNOWN, self.prev_load_end)
        };
        let mm_start = ready.max(load_end).max(self.prev_mm_end);
        let th = &pe.throttle;
        let mut mm_ps = ps(mm_cycles);
        if th.enabled {
            if !self.ran_before || mm_start.saturating_sub(self.prev_mm_end) >= th.idle_ns * 1000 {
                self.warm_start = mm_start;
            }
            let ramp = (th.ramp_ns * 1000) as f64;
            let x = if ramp > 0.0 {
                ((mm_start - self.warm_start) as f64 / ramp).min(1.0)
            } else {
                1.0
            };
            let speed = th.start_fraction + (1.0 - th.start_fraction) * x;
            mm_ps = (mm_ps as f64 / speed).ceil() as Picos;
        }
        let end = mm_start + mm_ps;
        let start = start.min(mm_start);
        self.ran_before = true;
        self.s.start_ps[i] = start;
        self.s.end_ps[i] = end;
        self.s.visible_ps[i] = end + ps(latency_cycles);
        self.prev_load_end = load_end;
        self.prev_mm_start = mm_start;
        self.prev_mm_end = end;
        // Busy is the union of the engine's intervals (a background load overlaps a multiply).
        let busy_from = start.max(self.tensor_busy_end);
        self.s.queue_busy_ps[TENSOR as usize] += end.saturating_sub(busy_from);
        self.tensor_busy_end = self.tensor_busy_end.max(end);
    }
}
