//! Preemption: victims in the policy's order until a job fits, trimmed to a minimal set, then
//! evicted per the reclaim mode (at once, after a grace period, or throttled per round), with
//! the preemptor's chips set aside until its victims are gone.

use super::admission::TryResult;
use super::state::Nomination;
use super::{NO_TIME, Sim, Status, Stop};
use crate::fleet::event::EventKind;
use crate::fleet::hardware::{GenId, Placement, for_parts};
use crate::fleet::job::JobId;
use crate::fleet::policy::kueue::other_queue_class;
use crate::fleet::policy::{Attempt, Candidate, CrossTenant, Fit, PolicyKind};
use crate::fleet::reclaim::ReclaimMode;
use crate::fleet::tenant::{BorrowWithinCohort, ReclaimWithinCohort, TenantId, WithinQueue};

/// Most victims one preemption attempt may take before giving up (a bound on work per attempt).
const MAX_VICTIMS: usize = 2048;

/// Most clusters one preemption attempt tries for a gang that cannot be placed now (a bound on
/// work per attempt; clusters are tried most promising first).
const MAX_CLUSTERS: usize = 4;

impl Sim<'_> {
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
    pub(super) fn try_preempt(&mut self, c: &Candidate, g: GenId) -> Option<TryResult> {
        if self.kueue_rules() {
            let reach = self.kueue_reach(c, g);
            let pool = &self.cap.pools[g];
            if pool.free_chips() + reach < c.chips
                || (reach == 0 && !pool.can_place(c.chips as u32))
            {
                return None;
            }
        }
        let attempts = self.policy.preemption(&self.view(), c, g);
        let mut placeable = None;
        for a in attempts {
            if !self.could_preempt(c, g, &a) {
                continue;
            }
            if *placeable.get_or_insert_with(|| self.cap.pools[g].can_place(c.chips as u32)) {
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

    /// What any attempt under Kueue's rules (the kueue and fair policies) could take for `c` on
    /// `g`, from counts alone: its own running chips when `within_queue` allows, and when
    /// `reclaim_within_cohort` does, each borrowing tenant's of its cohort tree up to what it
    /// borrows plus less than one job (the most [`Sim::take_limit`] allows for them). When the
    /// free chips and this fall short, every attempt's [`Sim::could_preempt`] says no; when it
    /// is 0 and the gang cannot be placed, no attempt has a victim to take: most preemption
    /// tries in a busy cohort end here, before the policy classifies every queue's first
    /// victim.
    fn kueue_reach(&self, c: &Candidate, g: GenId) -> u64 {
        let p = &self.s.tenants[c.tenant].preemption;
        let q = &self.books.quota;
        let mut take = if p.within_queue == WithinQueue::Never {
            0
        } else {
            self.running.chips(c.tenant, g)
        };
        // Kueue's classical rules with borrowing forbidden while preempting: a queue whose
        // cohort is the root takes other queues' jobs only in a nominal-only attempt or as a
        // hierarchical reclaim, and both need the job to fit its nominal quota beside what
        // it keeps of its own.
        let nominal_only = self.s.policy.kind == PolicyKind::Kueue
            && p.borrow_within_cohort == BorrowWithinCohort::Never
            && q.parent(c.tenant).is_some_and(|co| q.parent(co).is_none());
        let fits_nominal =
            || self.books.alloc(c.tenant, g).saturating_sub(take) + c.chips <= q.quota(c.tenant, g);
        if p.reclaim_within_cohort != ReclaimWithinCohort::Never
            && (!nominal_only || fits_nominal())
        {
            let root = q.root(c.tenant);
            for t in (0..self.s.tenants.len()).filter(|&t| t != c.tenant) {
                if q.root(t) == root && q.is_borrowing(t, g) {
                    let cap = q.borrowed(t, g) + self.books.max_job[t].saturating_sub(1);
                    take += self.running.chips(t, g).min(cap);
                }
            }
        }
        take
    }

    /// Clusters of `g` worth a preemption attempt for `c`: the free chips plus the most the
    /// attempt could take there ([`Sim::takeable`]) cover the gang. Fewest chips to free first,
    /// then cluster order.
    pub(super) fn preempt_clusters(&self, c: &Candidate, g: GenId, a: &Attempt) -> Vec<usize> {
        let pool = &self.cap.pools[g];
        let nt = self.s.tenants.len();
        // Per tenant, once: the most the attempt may take of it in any one cluster.
        let limits: Vec<u64> = (0..nt).map(|t| self.take_limit(c, g, a, t)).collect();
        let mut out: Vec<(u64, usize)> = (0..pool.clusters())
            .filter_map(|cl| {
                let free = pool.cluster_free(cl);
                let take: u64 = (0..nt)
                    .map(|t| self.running.cluster_chips(t, g, cl).min(limits[t]))
                    .sum();
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
    pub(super) fn takeable(
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
        held.min(self.take_limit(c, g, a, t))
    }

    /// [`Sim::takeable`] without the chips held: 0 when the tenant is not eligible,
    /// `u64::MAX` when all its chips may be taken, else what it borrows plus less than one job.
    /// It depends on the tenant and generation only, so a search over clusters asks it once.
    fn take_limit(&self, c: &Candidate, g: GenId, a: &Attempt, t: TenantId) -> u64 {
        if self.running.chips(t, g) == 0 {
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
            return if ok { u64::MAX } else { 0 };
        }
        let borrowing = || {
            self.books.quota.root(t) == self.books.quota.root(c.tenant)
                && self.books.quota.is_borrowing(t, g)
        };
        let cap = || self.books.quota.borrowed(t, g) + self.books.max_job[t].saturating_sub(1);
        match a.cross {
            CrossTenant::None => 0,
            CrossTenant::AnyLowerPriority if lower() => u64::MAX,
            CrossTenant::ReclaimAny | CrossTenant::FairShare if borrowing() => cap(),
            CrossTenant::ReclaimLowerPriority if borrowing() && lower() => cap(),
            // The policy's own test on the tenant's first job in victim order, which answers
            // for all of them (a borrowing attempt skips what it may take only without).
            CrossTenant::Classical(r)
                if borrowing()
                    && self.running.of(t, g).first().is_some_and(|k| {
                        other_queue_class(&self.view(), &r, c, t, g, k).is_some()
                    }) =>
            {
                cap()
            }
            _ => 0,
        }
    }

    /// One preemption attempt: victims in the policy's order (inside `cluster` when given,
    /// then anywhere if the gang has room there but the quota still needs more) until the job
    /// fits; trimmed to a minimal set (latest taken first) and evicted.
    ///
    /// The victims' chips go back to the pool only when the pool is asked (once the quota
    /// fits; whether the scope widens asks what the pool would say): most attempts fail on the
    /// quota, and then the pool gets only what giving the chips back and taking them again
    /// would have changed ([`Pool::round_trip`]).
    ///
    /// [`Pool::round_trip`]: crate::fleet::hardware::Pool::round_trip
    pub(super) fn preempt_with(
        &mut self,
        c: &Candidate,
        g: GenId,
        a: &Attempt,
        cluster: Option<usize>,
    ) -> Option<TryResult> {
        let mut victims: Vec<JobId> = Vec::new();
        // The victims' chips are still taken in the pool.
        let mut lazy = true;
        let mut ok = false;
        let mut scope = cluster;
        loop {
            if self.quota_fits_after(c, g, a.allow_borrowing) {
                if lazy {
                    lazy = false;
                    self.release_victims(g, &victims);
                }
                if self.cap.pools[g].can_place(c.chips as u32) {
                    ok = true;
                    break;
                }
            }
            if victims.len() >= MAX_VICTIMS {
                break;
            }
            match self.policy.next_victim(&self.view_in(scope), c, g, a) {
                Some(v) => {
                    if lazy {
                        self.detach_books(v);
                    } else {
                        self.detach(v);
                    }
                    self.st[v as usize].status = Status::Taken;
                    victims.push(v);
                }
                None if scope.is_some() && self.can_place_after(c, g, &victims, lazy) => {
                    scope = None
                }
                None => break,
            }
        }
        if !ok || victims.is_empty() {
            if lazy {
                // What giving the chips back and taking them again would have done.
                let placements: Vec<&Placement> = victims
                    .iter()
                    .map(|&v| &self.st[v as usize].placement)
                    .collect();
                self.cap.pools[g].round_trip(&placements);
            }
            self.restore(&victims, lazy);
            if ok {
                // Fits without preemption (cannot happen after try_start; be safe).
                let p = self.cap.pools[g].place(c.chips as u32)?;
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

    /// Whether `c` fits its quota on `g` (within nominal unless borrowing is allowed): the
    /// quota half of [`Sim::fits_after`].
    fn quota_fits_after(&self, c: &Candidate, g: GenId, allow_borrowing: bool) -> bool {
        let fit = self.policy.fit(&self.view(), c.tenant, g, c.chips);
        fit == Fit::Nominal || (allow_borrowing && fit == Fit::Borrow)
    }

    /// Whether `c`'s gang could be placed on `g` with the victims' chips given back (`lazy`:
    /// not given to the pool yet).
    fn can_place_after(&self, c: &Candidate, g: GenId, victims: &[JobId], lazy: bool) -> bool {
        let pool = &self.cap.pools[g];
        if lazy {
            pool.can_place_released(c.chips as u32, &self.parts_of(victims))
        } else {
            pool.can_place(c.chips as u32)
        }
    }

    /// The parts of the victims' placements, in order.
    fn parts_of(&self, victims: &[JobId]) -> Vec<(u32, u32)> {
        let mut parts = Vec::new();
        for &v in victims {
            for_parts(&self.st[v as usize].placement, |us, k| parts.push((us, k)));
        }
        parts
    }

    /// Give the tentative victims' chips to the pool, in the order they were taken.
    fn release_victims(&mut self, g: GenId, victims: &[JobId]) {
        for &v in victims {
            self.cap.pools[g].release(&self.st[v as usize].placement);
        }
    }

    /// A cheap necessary condition for an attempt: the most it could take
    /// ([`Sim::takeable`]) plus the free chips cover the job, and (without borrowing) the job
    /// fits the nominal quota once the tenant's own takeable jobs are gone.
    pub(super) fn could_preempt(&self, c: &Candidate, g: GenId, a: &Attempt) -> bool {
        let own = self.takeable(c, g, a, c.tenant, None);
        if !a.allow_borrowing
            && self.books.alloc(c.tenant, g) - own + c.chips > self.books.quota.quota(c.tenant, g)
        {
            return false;
        }
        let take: u64 = (0..self.s.tenants.len())
            .map(|t| self.takeable(c, g, a, t, None))
            .sum();
        self.cap.pools[g].free_chips() + take >= c.chips
    }

    /// Put tentative victims back (`lazy`: their chips never left the pool).
    pub(super) fn restore(&mut self, victims: &[JobId], lazy: bool) {
        for &v in victims.iter().rev() {
            self.st[v as usize].status = Status::Running;
            if lazy {
                self.attach_books(v);
            } else {
                self.attach(v);
            }
        }
    }

    /// Carry out a preemption decision (`victims` are detached) per the reclaim mode:
    /// immediate evictions start the job now; otherwise the victims keep running until a due
    /// time (the grace period; for throttled reclaim, the start of the round in which the
    /// per-round budget has room for the last of their chips, plus the grace) and the job is
    /// nominated: its gang's target placement is chosen now, the free chips of it are held at
    /// once and each victim's chips in it are handed over when the victim stops, so it starts
    /// on its target when its last victim stops, whatever was admitted meanwhile.
    pub(super) fn evict(&mut self, c: &Candidate, g: GenId, victims: Vec<JobId>) -> TryResult {
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
                self.reclaim.bookings.remove(&v);
                self.st[v as usize].status = Status::Running;
                self.stop(v, Stop::Preempted);
            }
            let p = self.cap.pools[g]
                .place(c.chips as u32)
                .expect("the preemption made room");
            self.start(c.job, g, p);
            return TryResult::Started;
        }
        self.nominate(c, g, &victims, due);
        TryResult::Nominated
    }

    /// Graceful and throttled reclaim: the victims run until `due`; `c`'s target is chosen now,
    /// its free chips held at once, and each victim's chips in it handed over (with their
    /// quota, as `c`'s claim) when the victim stops.
    fn nominate(&mut self, c: &Candidate, g: GenId, victims: &[JobId], due: u64) {
        let target = self.cap.pools[g]
            .place(c.chips as u32)
            .expect("the preemption made room");
        // Victims back in the pool (they run until due); the target's free chips held now.
        self.cap.pools[g].release(&target);
        for &v in victims {
            self.cap.pools[g].occupy(&self.st[v as usize].placement);
        }
        let mut held = Vec::new();
        let mut from_victims: Vec<(u32, u32)> = Vec::new();
        for_parts(&target, |us, k| {
            let f = self.cap.pools[g].free_of(us).min(k);
            if f > 0 {
                held.push((us, f));
            }
            if k > f {
                from_victims.push((us, k - f));
            }
        });
        for &(us, k) in &held {
            self.cap.pools[g].occupy_part(us, k);
        }
        for &v in victims {
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
            self.books.quota.add_usage(t, g, (chips - moved) as i64);
            self.books.overlap_chips[(t, g)] += moved;
            if !parts.is_empty() {
                self.reclaim.overlap.insert(v, parts);
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
        self.reclaim.nominations.insert(
            c.job,
            Nomination {
                gen_: g,
                target,
                held,
            },
        );
    }

    /// Throttled reclaim: book the victims' chips against the per-round budget, earliest
    /// round with room first (a victim larger than the room left spills into the next
    /// rounds), and return when the set is due: now plus the grace when it all fits the
    /// current round, else the start of the last round it needs plus the grace.
    pub(super) fn book(&mut self, g: GenId, victims: &[JobId]) -> u64 {
        let r = self.s.policy.reclaim;
        let now = self.now;
        let current = r.round_of(now);
        let budget = r.budget(self.cap.pools[g].up_chips());
        let rounds = &mut self.reclaim.booked[g];
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
            self.reclaim.bookings.insert(v, pieces);
        }
        if last == current {
            now + r.grace()
        } else {
            last * r.round_s.max(1) + r.grace()
        }
    }

    /// Throttled reclaim: a victim that stops before its eviction is due (completed, or killed
    /// by a failure) gives back the budget it booked in the rounds not yet past.
    pub(super) fn unbook(&mut self, id: JobId, g: GenId, why: Stop) {
        if let Some(pieces) = self.reclaim.bookings.remove(&id)
            && why != Stop::Preempted
        {
            let current = self.s.policy.reclaim.round_of(self.now);
            for (round, k) in pieces {
                if round >= current
                    && let Some(b) = self.reclaim.booked[g].get_mut(&round)
                {
                    *b -= k;
                }
            }
        }
    }

    /// Start the preemptors whose last victim stopped: a nominated one on its target (whose
    /// chips it holds by now), one that lost its target to a failure wherever it fits.
    pub(super) fn start_ready(&mut self) {
        for p in std::mem::take(&mut self.reclaim.ready) {
            if self.st[p as usize].status != Status::Waiting || self.st[p as usize].awaiting > 0 {
                continue;
            }
            match self.reclaim.nominations.remove(&p) {
                Some(n) => {
                    for &(us, k) in &n.held {
                        self.cap.pools[n.gen_].release_part(us, k);
                    }
                    self.cap.pools[n.gen_].occupy(&n.target);
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
}
