//! A job's transitions in the engine: queued, started on a placement, detached from (and
//! attached back to) its chips and quota, stopped (completed, preempted or killed).

use std::cmp::Reverse;

use super::probe::tracks_ends;
use super::state::Class;
use super::{NO_JOB, NO_TIME, QKey, Sim, Status, Stop};
use crate::fleet::account::Stopped;
use crate::fleet::event::EventKind;
use crate::fleet::hardware::{GenId, Placement, for_parts};
use crate::fleet::job::JobId;
use crate::fleet::policy::VictimKey;
use crate::fleet::reclaim::ReclaimMode;

impl Sim<'_> {
    /// A job's place in its queue.
    pub(super) fn qkey(&self, id: JobId) -> QKey {
        let j = &self.jobs[id as usize];
        (Reverse(j.priority), j.submit_s, id)
    }

    /// A job's class in its queue (what admission looks at but run time and submission).
    pub(super) fn class(&self, id: JobId) -> Class {
        let j = &self.jobs[id as usize];
        (
            j.tenant as u32,
            j.generation.map_or(0, |g| g as u8 + 1),
            j.chips,
            Reverse(j.priority),
        )
    }

    /// A job starts waiting.
    pub(super) fn enqueue(&mut self, id: JobId) {
        let key = self.qkey(id);
        let class = self.class(id);
        self.probe_queue(id, 1);
        let j = &self.jobs[id as usize];
        self.queues.insert(class, key);
        self.st[id as usize].status = Status::Waiting;
        let work_chip_s = self.queued_work_chip_s(id);
        self.account.enqueue(j, work_chip_s);
    }

    /// A job stops waiting.
    pub(super) fn dequeue(&mut self, id: JobId) {
        let key = self.qkey(id);
        let class = self.class(id);
        self.probe_queue(id, -1);
        let j = &self.jobs[id as usize];
        self.queues.remove(class, &key);
        self.account.dequeue(j, self.queued_work_chip_s(id));
    }

    /// The reference chip-seconds a waiting job has left (for the recorder's backlog; its
    /// remaining work does not change while it waits).
    fn queued_work_chip_s(&self, id: JobId) -> u64 {
        let j = &self.jobs[id as usize];
        let left = self.st[id as usize].remaining / j.work.max(1) as f64;
        (j.chips as f64 * self.rt.reference_s(j) * left).round() as u64
    }

    /// A running job's place in victim order.
    pub(super) fn victim_key(&self, id: JobId) -> VictimKey {
        let j = &self.jobs[id as usize];
        (
            j.priority,
            Reverse(self.st[id as usize].start_s),
            id,
            j.chips,
        )
    }

    /// Start a waiting job on `g` at `p` (already taken from the pool).
    pub(super) fn start(&mut self, id: JobId, g: GenId, p: Placement) {
        self.memo.epoch += 1;
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
        if !self.cap.us_jobs[g].is_empty() {
            for_parts(&p, |us, _| self.cap.us_jobs[g][us as usize].push(id));
        }
        self.st[id as usize].placement = p;
        self.events
            .push(now + run_s, EventKind::Finish { job: id, epoch });
        self.books.quota.add_usage(t, g, chips as i64);
        if preemptible {
            let key = self.victim_key(id);
            let cl = self.cluster_of_job(id);
            self.running
                .insert(t, g, cl, key, self.jobs[id as usize].submit_s);
        }
        if tracks_ends(self.s) {
            self.ends[g].insert((now + run_s, id));
        }
        let delay_s = first.then(|| now - self.jobs[id as usize].submit_s);
        let reclaim_s = (reclaim != NO_TIME).then(|| now - reclaim);
        self.account.start(t, delay_s, reclaim_s);
    }

    /// Give back a running or evicting job's chips and quota, and take it out of the victim
    /// sets (the first half of stopping it; for a running job undone exactly by
    /// [`Sim::attach`]). An evicting job's chips that its preemptor's target takes go to the
    /// preemptor's hold instead of the free pool (their quota is the preemptor's claim already).
    pub(super) fn detach(&mut self, id: JobId) {
        let g = self.st[id as usize].gen_ as usize;
        self.cap.pools[g].release(&self.st[id as usize].placement);
        self.detach_books(id);
    }

    /// [`Sim::detach`] but for the pool: the chips stay taken (preemption gives a tentative
    /// victim's chips to the pool only when it asks the pool a question).
    pub(super) fn detach_books(&mut self, id: JobId) {
        let g = self.st[id as usize].gen_ as usize;
        let t = self.jobs[id as usize].tenant;
        let chips = self.jobs[id as usize].chips as u64;
        match self.st[id as usize].status {
            Status::Evicting => {
                let parts = self.reclaim.overlap.remove(&id).unwrap_or_default();
                let moved: u64 = parts.iter().map(|p| p.1 as u64).sum();
                self.books.quota.add_usage(t, g, -((chips - moved) as i64));
                self.books.overlap_chips[(t, g)] -= moved;
                let p = self.st[id as usize].evicted_for;
                if let Some(n) = self.reclaim.nominations.get_mut(&p) {
                    for &(us, k) in &parts {
                        self.cap.pools[g].occupy_part(us, k);
                    }
                    n.held.extend(parts);
                }
            }
            status => {
                self.books.quota.add_usage(t, g, -(chips as i64));
                if self.jobs[id as usize].preemptible && status == Status::Running {
                    let key = self.victim_key(id);
                    self.running.remove(t, g, &key);
                }
            }
        }
    }

    pub(super) fn attach(&mut self, id: JobId) {
        let g = self.st[id as usize].gen_ as usize;
        self.cap.pools[g].occupy(&self.st[id as usize].placement);
        self.attach_books(id);
    }

    /// [`Sim::attach`] but for the pool (undoes [`Sim::detach_books`]).
    pub(super) fn attach_books(&mut self, id: JobId) {
        let g = self.st[id as usize].gen_ as usize;
        let t = self.jobs[id as usize].tenant;
        let chips = self.jobs[id as usize].chips;
        self.books.quota.add_usage(t, g, chips as i64);
        if self.jobs[id as usize].preemptible && self.st[id as usize].status == Status::Running {
            let key = self.victim_key(id);
            let cl = self.cluster_of_job(id);
            self.running
                .insert(t, g, cl, key, self.jobs[id as usize].submit_s);
        }
    }

    /// The second half of stopping a detached job: accounting, and a requeue unless completed.
    pub(super) fn stop(&mut self, id: JobId, why: Stop) {
        self.memo.epoch += 1;
        self.queues.wake();
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
                self.reclaim.ready.push(p);
            }
        }
        if self.s.policy.reclaim.mode == ReclaimMode::Throttled {
            self.unbook(id, g, why);
        }
        let j = &self.jobs[id as usize];
        let st = &mut self.st[id as usize];
        st.epoch += 1;
        if !self.cap.us_jobs[g].is_empty() {
            for_parts(&placement, |us, _| {
                let v = &mut self.cap.us_jobs[g][us as usize];
                if let Some(k) = v.iter().position(|&x| x == id) {
                    v.swap_remove(k);
                }
            });
        }
        if tracks_ends(self.s) {
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
                let left = st.remaining / j.work.max(1) as f64;
                let ran = (g, st.first_start_s, self.rt.reference_s(j));
                self.account.job_completed(id, j, ran, left);
                st.status = Status::Done;
                st.remaining = 0.0;
                st.end_s = now;
                let ideal_run_s = self
                    .rt
                    .run_s(j, g, &self.s.fleet.generations[g], j.work as f64);
                let jct_s = now - j.submit_s;
                self.account
                    .stop(t, Stopped::Completed { jct_s, ideal_run_s });
            }
            Stop::Preempted | Stop::Killed => {
                let ck = j.checkpoint_s;
                let kept_s = elapsed.checked_div(ck).map_or(0, |n| n * ck);
                let done = self
                    .rt
                    .work_done(j, g, &self.s.fleet.generations[g], kept_s);
                st.remaining = (st.remaining - done).max(0.0);
                let lost_chip_s = (elapsed - kept_s) * chips;
                let kept = done / j.work.max(1) as f64;
                let ref_s = self.rt.reference_s(j);
                self.account.job_preempted(id, j, ref_s, kept, lost_chip_s);
                self.account.stop(
                    t,
                    if why == Stop::Killed {
                        Stopped::Killed { lost_chip_s }
                    } else {
                        Stopped::Preempted { lost_chip_s }
                    },
                );
                self.enqueue(id);
            }
        }
    }
}
