//! Capacity Blocks in the engine: a booked block ([`crate::fleet::blocks`]) is placed at its
//! start as a gang of its chips, held until its end, and delivered to its holder until its
//! instances are terminated 30 minutes before the end (trainium.md section 8).
//!
//! A block is not a job: it has no work, sits in no queue, is never preempted and never
//! borrows, so it keeps its own small state here rather than a job kind that every job path
//! would have to skip. Its only paths into the engine are three events (start, terminate, end),
//! the quota epochs at its booked edges (its chips set aside from what the quota tree divides:
//! `tenant::quotas_with_blocks`), a retry before each round while one waits to be placed, and a
//! failure hitting its chips. Placement is the jobs' (`Pool::place`: inside one UltraServer or
//! on whole UltraServers of one cluster), free chips first; when no free set holds it, running
//! jobs of its generation are evicted, lowest priority first (then preemptible before not,
//! then the latest started), until it fits, and the set is trimmed to the jobs it needs. The
//! evicted jobs are preempted as by the scheduler (requeued, losing the work since their last
//! checkpoint). A block that cannot be placed even so (failed UltraServers) waits, is retried
//! at every later change, and delivers late; a failure under a running block moves it.

use std::cmp::Reverse;

use super::{Sim, Status, Stop};
use crate::fleet::blocks::{BlockPlan, Booking};
use crate::fleet::event::EventKind;
use crate::fleet::hardware::{GenId, Placement, for_parts};
use crate::fleet::job::JobId;
use crate::fleet::table::PerTenantGen;

/// Where a booked block is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Before its start.
    Booked,
    /// Started but not placed (waiting for chips).
    Waiting,
    /// Placed and delivered to its holder.
    Running,
    /// Its instances are terminated; its chips are held until its end.
    Terminated,
    Done,
}

struct BlockState {
    booking: Booking,
    phase: Phase,
    placement: Placement,
    /// Delivered since (while running).
    since_s: u64,
    /// Placed at least once.
    placed: bool,
}

/// The run's blocks: the booked ones' states, and what the engine asks of them.
pub(super) struct BlockRun {
    pub(super) plan: BlockPlan,
    blocks: Vec<BlockState>,
    /// Chips each (tenant, generation) holds in running blocks (delivered to it).
    pub(super) held: PerTenantGen<u64>,
    /// The quota epochs without the blocks' edges (reservations are sampled there).
    regular_epochs: Vec<u64>,
    waiting: usize,
}

impl BlockRun {
    /// The blocks booked in `plan`; `regular_epochs` are the run's quota epochs without them.
    pub(super) fn new(
        plan: BlockPlan,
        tenants: usize,
        gens: usize,
        regular_epochs: Vec<u64>,
    ) -> Self {
        let blocks = plan
            .bookings
            .iter()
            .filter(|b| b.start_s.is_some())
            .map(|&booking| BlockState {
                booking,
                phase: Phase::Booked,
                placement: Placement::None,
                since_s: 0,
                placed: false,
            })
            .collect();
        BlockRun {
            plan,
            blocks,
            held: PerTenantGen::new(tenants, gens, 0),
            regular_epochs,
            waiting: 0,
        }
    }

    /// The quota epochs of the run: `regular` plus the booked blocks' edges (kept apart).
    pub(super) fn epochs(&self, regular: Vec<u64>, horizon_s: u64) -> Vec<u64> {
        if self.blocks.is_empty() {
            return regular;
        }
        let mut e = regular;
        e.extend(self.plan.edges(horizon_s));
        e.sort_unstable();
        e.dedup();
        e
    }

    /// When reservations are sampled for a quota update at `t_s`: the last regular epoch (a
    /// block edge is not a step of a ramp).
    pub(super) fn reservation_time(&self, t_s: u64) -> u64 {
        match self.regular_epochs.partition_point(|&e| e <= t_s) {
            0 => t_s,
            i => self.regular_epochs[i - 1],
        }
    }

    /// Placed blocks' chips per generation (for the invariants).
    pub(super) fn placed(&self) -> impl Iterator<Item = (GenId, &Placement)> {
        self.blocks
            .iter()
            .filter(|b| matches!(b.phase, Phase::Running | Phase::Terminated))
            .map(|b| (b.booking.generation, &b.placement))
    }
}

impl Sim<'_> {
    /// Schedule every booked block's start, termination and end before the horizon.
    pub(super) fn schedule_blocks(&mut self) {
        let h = self.s.horizon_s;
        for (k, b) in self.blocks.blocks.iter().enumerate() {
            let k = k as u32;
            let bk = &b.booking;
            let (start, term, end) = (
                bk.start_s.expect("booked"),
                bk.terminate_s().expect("booked"),
                bk.end_s().expect("booked"),
            );
            for (t, e) in [
                (start, EventKind::BlockStart(k)),
                (term, EventKind::BlockTerminate(k)),
                (end, EventKind::BlockEnd(k)),
            ] {
                if t < h {
                    self.events.push(t, e);
                }
            }
        }
    }

    /// A block's start: placed now, or waiting for chips.
    pub(super) fn block_start(&mut self, k: usize) {
        self.blocks.blocks[k].phase = Phase::Waiting;
        self.blocks.waiting += 1;
        self.try_place_block(k);
    }

    /// Before a round: the blocks waiting for chips are tried again.
    pub(super) fn retry_blocks(&mut self) {
        if self.blocks.waiting == 0 {
            return;
        }
        for k in 0..self.blocks.blocks.len() {
            if self.blocks.blocks[k].phase == Phase::Waiting {
                self.try_place_block(k);
            }
        }
    }

    /// Place a waiting block on free chips, else by evicting running jobs.
    fn try_place_block(&mut self, k: usize) {
        let b = self.blocks.blocks[k].booking;
        let (g, chips) = (b.generation, b.chips as u32);
        let p = match self.cap.pools[g].place(chips) {
            Some(p) => p,
            None => match self.evict_for_block(g, chips) {
                Some(p) => p,
                None => return,
            },
        };
        let now = self.now;
        let late = now > b.start_s.expect("booked");
        let st = &mut self.blocks.blocks[k];
        st.phase = Phase::Running;
        st.placement = p;
        st.since_s = now;
        let first = !std::mem::replace(&mut st.placed, true);
        self.blocks.waiting -= 1;
        self.blocks.held[(b.tenant, g)] += b.chips;
        if first {
            self.account.block_started(b.tenant, g, late);
        }
    }

    /// Evict running jobs of `g` (lowest priority first, then preemptible before not, then
    /// the latest started) until a gang of `chips` can be placed, trimmed to the jobs it needs;
    /// the placement, or `None` (nothing evicted) when even every running job would not do.
    fn evict_for_block(&mut self, g: GenId, chips: u32) -> Option<Placement> {
        let mut cands: Vec<JobId> = (0..self.st.len() as JobId)
            .filter(|&id| {
                let st = &self.st[id as usize];
                st.status == Status::Running && st.gen_ as usize == g
            })
            .collect();
        cands.sort_by_key(|&id| {
            let j = &self.jobs[id as usize];
            (
                j.priority,
                !j.preemptible,
                Reverse(self.st[id as usize].start_s),
                id,
            )
        });
        let mut taken = Vec::new();
        for id in cands {
            if self.cap.pools[g].can_place(chips) {
                break;
            }
            self.detach(id);
            self.st[id as usize].status = Status::Taken;
            taken.push(id);
        }
        if !self.cap.pools[g].can_place(chips) {
            self.restore(&taken, false);
            return None;
        }
        let mut needed = Vec::new();
        for &v in taken.iter().rev() {
            self.st[v as usize].status = Status::Running;
            self.attach(v);
            if !self.cap.pools[g].can_place(chips) {
                self.detach(v);
                self.st[v as usize].status = Status::Taken;
                needed.push(v);
            }
        }
        let p = self.cap.pools[g]
            .place(chips)
            .expect("the evictions made room");
        for v in needed.into_iter().rev() {
            self.st[v as usize].status = Status::Running;
            self.stop(v, Stop::Preempted);
        }
        self.dirty = true;
        Some(p)
    }

    /// The holder's delivery of running block `k` stops now.
    fn undeliver(&mut self, k: usize) {
        let now = self.now;
        let st = &self.blocks.blocks[k];
        let b = st.booking;
        let chip_s = b.chips * (now - st.since_s);
        self.blocks.held[(b.tenant, b.generation)] -= b.chips;
        self.account.block_delivered(b.tenant, b.generation, chip_s);
    }

    /// 30 minutes before its end: the holder's instances are terminated (a block still waiting
    /// for chips is given up).
    pub(super) fn block_terminate(&mut self, k: usize) {
        match self.blocks.blocks[k].phase {
            Phase::Running => {
                self.undeliver(k);
                self.blocks.blocks[k].phase = Phase::Terminated;
            }
            Phase::Waiting => {
                self.blocks.waiting -= 1;
                self.blocks.blocks[k].phase = Phase::Done;
            }
            _ => {}
        }
    }

    /// A block's end: its chips return.
    pub(super) fn block_end(&mut self, k: usize) {
        if self.blocks.blocks[k].phase == Phase::Terminated {
            self.release_block(k);
        }
        self.blocks.blocks[k].phase = Phase::Done;
    }

    /// Give a placed block's chips back to the pool.
    fn release_block(&mut self, k: usize) {
        let st = &mut self.blocks.blocks[k];
        let p = std::mem::take(&mut st.placement);
        self.cap.pools[st.booking.generation].release(&p);
        self.memo.epoch += 1;
        self.queues.wake();
        self.dirty = true;
    }

    /// UltraServer `us` of `g` fails: a block on it gives its chips back and (if its instances
    /// still run) waits to be placed again.
    pub(super) fn blocks_hit(&mut self, g: GenId, us: u32) {
        for k in 0..self.blocks.blocks.len() {
            let st = &self.blocks.blocks[k];
            if st.booking.generation != g || !matches!(st.phase, Phase::Running | Phase::Terminated)
            {
                continue;
            }
            let mut on = false;
            for_parts(&st.placement, |u, _| on |= u == us);
            if !on {
                continue;
            }
            if st.phase == Phase::Running {
                self.undeliver(k);
                self.blocks.blocks[k].phase = Phase::Waiting;
                self.blocks.waiting += 1;
            } else {
                self.blocks.blocks[k].phase = Phase::Done;
            }
            self.release_block(k);
        }
    }

    /// At the horizon: running blocks have delivered up to it.
    pub(super) fn blocks_at_horizon(&mut self) {
        for k in 0..self.blocks.blocks.len() {
            if self.blocks.blocks[k].phase == Phase::Running {
                self.undeliver(k);
                self.blocks.blocks[k].phase = Phase::Terminated;
            }
        }
    }
}
