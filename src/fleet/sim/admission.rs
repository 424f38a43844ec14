//! Admission: one scheduling round walks the queues' heads in the policy's order, starts what
//! fits its quota and the pool, preempts for what does not, and backfills past what waits
//! (best effort, or EASY: later jobs may not delay the blocked job's reserved start).

use super::state::PreemptMemo;
use super::{QKey, Sim};
use crate::fleet::hardware::GenId;
use crate::fleet::job::JobId;

use crate::fleet::policy::{Attempt, Candidate, CrossTenant, Fit, PolicyKind};
use crate::fleet::scenario::Backfill;
use crate::fleet::table::PerTenantGen;
use crate::fleet::tenant::{BorrowWithinCohort, ReclaimWithinCohort, TenantId, WithinQueue};

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
    /// Quota held back for a lender's head that cannot reclaim what it lent (tenant,
    /// generation, chips), for the rest of the round: counted in the quota usage while other
    /// tenants' jobs are placed, so that borrowers cannot take it (Kueue's
    /// `reserveCapacityForUnreclaimablePreempt`). Not while victims are chosen: Kueue picks
    /// them before the cycle holds anything back.
    held_back: Vec<(TenantId, GenId, u64)>,
}

impl Round {
    fn new(tenants: usize, gens: usize) -> Self {
        Round {
            easy: (0..gens).map(|_| None).collect(),
            failed_preempt: PerTenantGen::new(tenants, gens, PreemptMemo::NONE),
            failed_place: vec![u64::MAX; gens],
            held_back: Vec::new(),
        }
    }
}

/// Ranks of [`Sim::preempt_rank`].
const PREEMPT_RANKS: u8 = 3;

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
        let r = self.try_place_or_preempt(c, round);
        if matches!(r, TryResult::Waiting { .. }) {
            self.hold_back_for(c, round);
        }
        r
    }

    /// Add (`sign` 1) to the quota usage, or take out (-1), what the round holds back for
    /// tenants other than `t` (quota held back for its own tenant does not bind a job: Kueue
    /// holds it back from the cohort, and tries the queue's next job in a later cycle, when
    /// the head no longer holds it).
    fn shift_held_back(&mut self, t: TenantId, round: &Round, sign: i64) {
        for &(ht, g, chips) in &round.held_back {
            if ht != t {
                self.books.quota.add_usage(ht, g, sign * chips as i64);
            }
        }
    }

    /// [`Sim::try_start`] for a job not waiting for victims.
    fn try_place_or_preempt(&mut self, c: &Candidate, round: &mut Round) -> TryResult {
        if !self.opts.exhaustive_rounds && !self.could_start(c, round) {
            return TryResult::Waiting {
                quota_gen: None,
                easy_blocked: false,
            };
        }
        self.shift_held_back(c.tenant, round, 1);
        let placed = self.try_place(c, round);
        self.shift_held_back(c.tenant, round, -1);
        let (quota_gen, easy_blocked) = match placed {
            Ok(()) => return TryResult::Started,
            Err(e) => e,
        };
        let by_submission = self.s.tenants[c.tenant].preemption.within_queue
            == WithinQueue::LowerOrNewerEqualPriority;
        let ranks: Vec<Option<u8>> = c.gens(self.gens).map(|g| self.preempt_rank(c, g)).collect();
        let first = c.gens(self.gens).start;
        for rank in 0..PREEMPT_RANKS {
            for g in c.gens(self.gens) {
                let i = (c.tenant, g);
                let memo = self.memo.failed[i];
                if self.cap.pools[g].up_chips() == 0
                    || c.chips > self.cap.max_gang[g]
                    || ranks[g - first] != Some(rank)
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
        }
        TryResult::Waiting {
            quota_gen,
            easy_blocked,
        }
    }

    /// Whether `c` could run on `g` at all now (chips up, a gang that size fits a cluster).
    fn usable(&self, c: &Candidate, g: GenId) -> bool {
        self.cap.pools[g].up_chips() > 0 && c.chips <= self.cap.max_gang[g]
    }

    /// Whether the policy follows Kueue's flavor assigner (its preemption eligibility, flavor
    /// preference and capacity held back for lenders).
    pub(super) fn kueue_rules(&self) -> bool {
        matches!(self.s.policy.kind, PolicyKind::Kueue | PolicyKind::Fair)
    }

    /// When to try preempting for `c` on `g`, in Kueue's flavor preference (lower first;
    /// generations of equal rank in order), or `None` when `c` may not preempt there. Kueue
    /// (`FlavorAssigner.fitsResourceQuota`) lets a workload preempt only if it fits its
    /// nominal quota, may reclaim in a nested cohort, or may preempt while borrowing
    /// (`borrowWithinCohort`, or fair sharing with `reclaimWithinCohort`); and with the default
    /// FlavorFungibility (`whenCanPreempt: TryNextFlavor`) it takes the flavor whose victims
    /// are only other queues' borrowed jobs (reclaim) over one that preempts in its own queue,
    /// then the one needing no borrowing after the preemption (`isPreferred`). Reclaim is read
    /// as: the job fits its nominal quota beside its tenant's running jobs, and the free chips
    /// with what reclaim may take from borrowing tenants could hold it. Other policies: every
    /// generation, in order.
    fn preempt_rank(&self, c: &Candidate, g: GenId) -> Option<u8> {
        if !self.kueue_rules() {
            return Some(0);
        }
        let q = &self.books.quota;
        let (t, nominal) = (c.tenant, q.quota(c.tenant, g));
        let p = &self.s.tenants[t].preemption;
        let while_borrowing = p.borrow_within_cohort != BorrowWithinCohort::Never
            || (self.s.policy.kind == PolicyKind::Fair
                && p.reclaim_within_cohort != ReclaimWithinCohort::Never);
        if c.chips > nominal && !while_borrowing && !self.may_reclaim_in_hierarchy(c, g) {
            return None;
        }
        if c.gens(self.gens).len() == 1 {
            return Some(0); // nothing to order
        }
        let cross = match p.reclaim_within_cohort {
            ReclaimWithinCohort::Never => CrossTenant::None,
            ReclaimWithinCohort::LowerPriority => CrossTenant::ReclaimLowerPriority,
            ReclaimWithinCohort::Any => CrossTenant::ReclaimAny,
        };
        let reclaim_only = Attempt {
            allow_borrowing: false,
            own: WithinQueue::Never,
            cross,
        };
        Some(
            if cross != CrossTenant::None && self.could_preempt(c, g, &reclaim_only) {
                0
            } else if c.chips <= nominal {
                1
            } else {
                2
            },
        )
    }

    /// Kueue's `FindHeightOfLowestSubtreeThatFits` says a workload may reclaim: it fits its
    /// queue's nominal quota beside its usage, or the lowest cohort that fits what it needs
    /// beyond its queue is not the root (quota lent within a nested cohort).
    fn may_reclaim_in_hierarchy(&self, c: &Candidate, g: GenId) -> bool {
        let q = &self.books.quota;
        let t = c.tenant;
        let Some(mut node) = q.parent(t) else {
            return false;
        };
        if q.usage(t, g) + c.chips <= q.quota(t, g) {
            return true;
        }
        let local = |n: usize| q.guaranteed(n, g).saturating_sub(q.usage(n, g));
        let mut remaining = c.chips.saturating_sub(local(t));
        loop {
            if q.usage(node, g) + remaining <= q.quota(node, g) {
                return q.parent(node).is_some();
            }
            remaining = remaining.saturating_sub(local(node));
            match q.parent(node) {
                Some(p) => node = p,
                None => return false,
            }
        }
    }

    /// Kueue's `reserveCapacityForUnreclaimablePreempt`: a waiting head whose quota fits no
    /// generation, that may preempt on one (Kueue's Preempt mode) but found no victims there,
    /// holds that quota back from the cohort for the rest of the round when its tenant cannot
    /// always reclaim what it lends (`reclaimWithinCohort` other than `any`). It holds the
    /// job's chips, or what its borrowing limit leaves when it would borrow; on the first such
    /// generation (Kueue's assignment: the first flavor in the best mode), once per tenant
    /// per round (Kueue tries one head per queue per cycle).
    fn hold_back_for(&mut self, c: &Candidate, round: &mut Round) {
        let t = c.tenant;
        if !self.kueue_rules()
            || self.s.tenants[t].preemption.reclaim_within_cohort == ReclaimWithinCohort::Any
            || self.books.quota.parent(t).is_none()
            || round.held_back.iter().any(|h| h.0 == t)
        {
            return;
        }
        self.shift_held_back(t, round, 1);
        let v = self.view();
        let fits = c
            .gens(self.gens)
            .any(|g| self.usable(c, g) && self.policy.fit(&v, t, g, c.chips) != Fit::No);
        self.shift_held_back(t, round, -1);
        if fits {
            return; // Kueue's Fit mode: held back by placement, not by quota
        }
        let Some(g) = (0..PREEMPT_RANKS).find_map(|r| {
            c.gens(self.gens)
                .find(|&g| self.usable(c, g) && self.preempt_rank(c, g) == Some(r))
        }) else {
            return;
        };
        let q = &self.books.quota;
        let (usage, nominal) = (q.usage(t, g), q.quota(t, g));
        let chips = match q.borrowing_limit(t, g) {
            Some(bl) if usage + c.chips > nominal => {
                c.chips.min((nominal + bl).saturating_sub(usage))
            }
            _ => c.chips,
        };
        if chips > 0 {
            round.held_back.push((t, g, chips));
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
