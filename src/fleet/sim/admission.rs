//! Admission: one scheduling round walks the queues' heads in the policy's order, starts what
//! fits its quota and the pool, preempts for what does not, and backfills past what waits
//! (best effort, or EASY: later jobs may not delay the blocked job's reserved start).

use super::state::PreemptMemo;
use super::{QKey, Sim};
use crate::fleet::hardware::GenId;
use crate::fleet::job::JobId;
use crate::fleet::policy::{Candidate, Fit};
use crate::fleet::scenario::Backfill;
use crate::fleet::table::PerTenantGen;
use crate::fleet::tenant::WithinQueue;

/// What trying a waiting job did.
pub(super) enum TryResult {
    /// It runs.
    Started,
    /// Waiting. `quota_gen`: `Some(g)` when the quota allowed generation `g` but the capacity
    /// did not; `easy_blocked`: EASY's promise alone kept it off a generation.
    Waiting {
        quota_gen: Option<GenId>,
        easy_blocked: bool,
    },
    /// Waiting for its victims to stop, with its chips already set aside (not tried again).
    Nominated,
}

/// EASY backfill's promise to the first blocked job on a generation: it starts by `shadow_s`,
/// when `extra` chips beyond its gang will be spare.
pub(super) struct Easy {
    job: JobId,
    shadow_s: u64,
    extra: u64,
}

/// What one round learns as it goes (dropped at its end).
pub(super) struct Round {
    /// Per generation, EASY's promise, once a job is blocked there.
    easy: Vec<Option<Easy>>,
    /// Per (tenant, generation), the last preemption attempt that failed in this round.
    failed_preempt: PerTenantGen<PreemptMemo>,
    /// Per generation, the smallest gang that could not be placed (larger ones cannot be
    /// either, until chips are freed).
    failed_place: Vec<u64>,
}

impl Round {
    fn new(tenants: usize, gens: usize) -> Self {
        Round {
            easy: (0..gens).map(|_| None).collect(),
            failed_preempt: PerTenantGen::new(tenants, gens, PreemptMemo::NONE),
            failed_place: vec![u64::MAX; gens],
        }
    }
}

impl Sim<'_> {
    pub(super) fn fits_after(&self, c: &Candidate, g: GenId, allow_borrowing: bool) -> bool {
        let fit = self.policy.fit(&self.view(), c.tenant, g, c.chips);
        (fit == Fit::Nominal || (allow_borrowing && fit == Fit::Borrow))
            && self.cap.pools[g].can_place(c.chips as u32)
    }

    pub(super) fn candidate(&self, id: JobId) -> Candidate {
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

    pub(super) fn run_s_on(&self, id: JobId, g: GenId) -> u64 {
        self.rt.run_s(
            &self.jobs[id as usize],
            g,
            &self.s.fleet.generations[g],
            self.st[id as usize].remaining,
        )
    }

    /// EASY: when may the blocked job `id` start on `g`, and how many chips are spare then.
    pub(super) fn shadow(&self, id: JobId, g: GenId) -> Option<Easy> {
        let need = self.jobs[id as usize].chips as u64;
        let mut free = self.cap.pools[g].free_chips();
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

    /// The head of queue `q` after `after` (its first job not set aside or passed over).
    fn head(&self, q: usize, after: Option<QKey>, round_no: u64) -> Option<JobId> {
        self.queues.head(q, after, round_no, |id| self.class(id))
    }

    /// One scheduling round: the queues' heads in the policy's order, each started,
    /// preempted for, or found waiting. A waiting head blocks its queue for the round
    /// (strict FIFO, `backfill = "none"`); or its class is set aside until capacity changes
    /// (Kueue's BestEffortFIFO); or (EASY) its class is passed over for the round, unless the
    /// promise alone held it back (a shorter job of its class may still fit before it).
    pub(super) fn round(&mut self) {
        self.round_no += 1;
        let rn = self.round_no;
        let backfill = self.s.policy.backfill;
        let mut heads: Vec<Candidate> = Vec::new();
        let mut head_q: Vec<usize> = Vec::new();
        for q in 0..self.queues.len() {
            if let Some(id) = self.head(q, None, rn) {
                heads.push(self.candidate(id));
                head_q.push(q);
            }
        }
        if heads.is_empty() {
            return;
        }
        let mut round = Round::new(self.s.tenants.len(), self.gens);
        while !heads.is_empty() {
            let i = self.policy.pick(&self.view(), &heads);
            let c = heads[i];
            let q = head_q[i];
            let key = self.qkey(c.job);
            if let TryResult::Waiting {
                quota_gen,
                easy_blocked,
            } = self.try_start(&c, &mut round)
            {
                match backfill {
                    Backfill::None => {
                        heads.swap_remove(i);
                        head_q.swap_remove(i);
                        continue;
                    }
                    Backfill::BestEffort => self.queues.set_aside(q, self.class(c.job)),
                    Backfill::Easy => {
                        if let Some(g) = quota_gen
                            && round.easy[g].is_none()
                        {
                            round.easy[g] = self.shadow(c.job, g);
                        }
                        if !easy_blocked {
                            self.queues.skip(q, self.class(c.job), rn);
                        }
                    }
                }
            }
            match self.head(q, Some(key), rn) {
                Some(next) => heads[i] = self.candidate(next),
                None => {
                    heads.swap_remove(i);
                    head_q.swap_remove(i);
                }
            }
        }
    }

    /// Whether `c` could start on some generation, by preemption at most: its gang fits the
    /// free chips plus every chip the policy may ever take for its tenant there. This bound
    /// only falls as a round admits jobs, so a gang above it cannot start in the round, and
    /// trying it would change nothing (with EASY, a generation still without a promise is
    /// tried: the job could be the one to get it).
    fn could_start(&self, c: &Candidate, round: &Round) -> bool {
        let easy = self.s.policy.backfill == Backfill::Easy;
        c.gens(self.gens).any(|g| {
            let pool = &self.cap.pools[g];
            pool.up_chips() > 0
                && c.chips <= self.cap.max_gang[g]
                && (c.chips <= pool.free_chips()
                    || (easy && round.easy[g].is_none())
                    || c.chips <= pool.free_chips() + self.policy.reach(&self.view(), c.tenant, g))
        })
    }

    /// EASY: whether `c` may start on `g` without delaying the blocked job's reserved start
    /// (it ends by the shadow time, or uses chips spare then): `None` if not, else whether it
    /// takes spare chips (taken once it is placed).
    pub(super) fn easy_allows(
        &self,
        easy: &[Option<Easy>],
        c: &Candidate,
        g: GenId,
    ) -> Option<bool> {
        let Some(e) = &easy[g] else {
            return Some(false);
        };
        if e.job == c.job || self.now + self.run_s_on(c.job, g) <= e.shadow_s {
            return Some(false);
        }
        (c.chips <= e.extra).then_some(true)
    }

    /// Try to start a waiting job: place it, else preempt for it. A job waiting for its
    /// victims is not tried: its chips are set aside and it starts when they are gone.
    pub(super) fn try_start(&mut self, c: &Candidate, round: &mut Round) -> TryResult {
        if self.st[c.job as usize].awaiting > 0 {
            return TryResult::Nominated;
        }
        if !self.opts.exhaustive_rounds && !self.could_start(c, round) {
            return TryResult::Waiting {
                quota_gen: None,
                easy_blocked: false,
            };
        }
        let (quota_gen, easy_blocked) = match self.try_place(c, round) {
            Ok(()) => return TryResult::Started,
            Err(e) => e,
        };
        let by_submission = self.s.tenants[c.tenant].preemption.within_queue
            == WithinQueue::LowerOrNewerEqualPriority;
        for g in c.gens(self.gens) {
            let i = (c.tenant, g);
            let memo = self.memo.failed[i];
            if self.cap.pools[g].up_chips() == 0
                || c.chips > self.cap.max_gang[g]
                || round.failed_preempt[i].covers(c, by_submission)
                || (memo.epoch == self.memo.epoch && memo.covers(c, by_submission))
            {
                continue;
            }
            match self.try_preempt(c, g) {
                Some(r) => {
                    // Chips were freed (or are about to be): placement may succeed again.
                    round.failed_place.fill(u64::MAX);
                    return r;
                }
                None => {
                    round.failed_preempt[i] = PreemptMemo::of(c, self.memo.epoch);
                    self.memo.failed[i] = round.failed_preempt[i];
                }
            }
        }
        TryResult::Waiting {
            quota_gen,
            easy_blocked,
        }
    }

    /// Start `c` on the first generation whose quota and pool (and EASY's promise) allow it;
    /// else the first generation the quota allowed, if any, and whether EASY's promise alone
    /// kept it off a generation where it could be placed.
    fn try_place(&mut self, c: &Candidate, round: &mut Round) -> Result<(), (Option<GenId>, bool)> {
        let mut quota_gen = None;
        let mut easy_blocked = false;
        for g in c.gens(self.gens) {
            if self.cap.pools[g].up_chips() == 0 || c.chips > self.cap.max_gang[g] {
                continue;
            }
            if self.policy.fit(&self.view(), c.tenant, g, c.chips) == Fit::No {
                continue;
            }
            quota_gen.get_or_insert(g);
            let Some(spare) = self.easy_allows(&round.easy, c, g) else {
                easy_blocked |= self.cap.pools[g].can_place(c.chips as u32);
                continue;
            };
            if c.chips >= round.failed_place[g] {
                continue;
            }
            if let Some(p) = self.cap.pools[g].place(c.chips as u32) {
                if spare && let Some(e) = round.easy[g].as_mut() {
                    e.extra -= c.chips;
                }
                self.start(c.job, g, p);
                return Ok(());
            }
            round.failed_place[g] = c.chips;
        }
        Err((quota_gen, easy_blocked))
    }

    /// Start a waiting job at once if it fits its quota and the pool on some generation.
    pub(super) fn start_if_fits(&mut self, id: JobId) {
        let c = self.candidate(id);
        for g in c.gens(self.gens) {
            if self.policy.fit(&self.view(), c.tenant, g, c.chips) == Fit::No {
                continue;
            }
            if let Some(p) = self.cap.pools[g].place(c.chips as u32) {
                self.start(id, g, p);
                return;
            }
        }
    }
}
