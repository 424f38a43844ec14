//! The engine's side of "time to N chips" probes ([`crate::fleet::probe`]): what it keeps for
//! them (the queue ahead per tenant and generation, the UltraServers down and their repair
//! times, the owners' reservations over time) and the answer at each probe time, taken
//! between events: before the events of the first instant after the probe time, from the state
//! the round of the last instant at or before it left. Nothing here schedules an event or
//! writes state a round reads.

use std::collections::BTreeMap;

use super::{NO_TIME, Sim};
use crate::fleet::calendar::{Steps, reservation_steps};
use crate::fleet::hardware::GenId;
use crate::fleet::job::JobId;
use crate::fleet::probe::{earliest_start, excess_deltas, held_deltas};
use crate::fleet::scenario::{Backfill, Scenario};
use crate::fleet::table::PerTenantGen;
use crate::fleet::tenant::quota_epochs;

/// What the engine keeps for its probes (empty and idle without probes).
pub(super) struct ProbeState {
    /// Per probe, its next probe time ([`NO_TIME`]: none left).
    next_s: Vec<u64>,
    /// The earliest of `next_s`: the loop's one check per instant.
    pub(super) due_s: u64,
    /// Per (tenant, generation): chips and chip-seconds (at that generation's speed) of the
    /// waiting jobs whose first eligible generation it is.
    queued: PerTenantGen<(u64, u64)>,
    /// Per generation: UltraServers down, with the time their repair is due.
    down: Vec<BTreeMap<u32, u64>>,
    /// Per generation and tenant: the reservation as the quota tree takes it (owners only).
    reserved: Vec<Vec<Option<Steps>>>,
    /// Capacity Block requests already booked into the engine's calendar (a probe sees the
    /// blocks requested at or before its time, not those requested later).
    booked: usize,
}

impl ProbeState {
    pub(super) fn new(s: &Scenario) -> Self {
        let gens = s.fleet.generations.len();
        let h = s.horizon_s;
        let next_s: Vec<u64> = s
            .probes
            .iter()
            .map(|p| p.first_s(h).unwrap_or(NO_TIME))
            .collect();
        let epochs = if s.probes.is_empty() {
            Vec::new()
        } else {
            quota_epochs(&s.fleet, &s.tenants, s.policy.quota_step_s, h)
        };
        let reserved = (0..gens)
            .map(|g| {
                s.tenants
                    .iter()
                    .map(|t| {
                        let r = t.reservation[g].as_ref()?;
                        (!s.probes.is_empty()).then(|| reservation_steps(r, &epochs))
                    })
                    .collect()
            })
            .collect();
        ProbeState {
            due_s: next_s.iter().copied().min().unwrap_or(NO_TIME),
            next_s,
            queued: PerTenantGen::new(s.tenants.len(), gens, (0, 0)),
            down: vec![BTreeMap::new(); gens],
            reserved,
            booked: 0,
        }
    }

    /// UltraServer `us` of `g` failed; its repair is due at `due_s`.
    pub(super) fn fail(&mut self, g: GenId, us: u32, due_s: u64) {
        self.down[g].insert(us, due_s);
    }

    /// UltraServer `us` of `g` is repaired.
    pub(super) fn repair(&mut self, g: GenId, us: u32) {
        self.down[g].remove(&us);
    }
}

/// Whether the engine indexes running jobs by end time (`ends`): for EASY's promise, or for
/// probes (only EASY reads them in a round).
pub(super) fn tracks_ends(s: &Scenario) -> bool {
    s.policy.backfill == Backfill::Easy || !s.probes.is_empty()
}

impl Sim<'_> {
    /// A job starts (`sign = 1`) or stops (`-1`) waiting: the queue ahead of probes on its
    /// first eligible generation (the first it could ever be admitted on, as at its arrival).
    pub(super) fn probe_queue(&mut self, id: JobId, sign: i64) {
        if self.s.probes.is_empty() {
            return;
        }
        let j = &self.jobs[id as usize];
        let g_n = self.gens;
        let first = match j.generation {
            Some(g) => Some(g),
            None => (0..g_n).find(|&g| {
                let c = j.chips as u64;
                c <= self.cap.peak_capacity[g].min(self.cap.max_gang[g])
                    && c <= self.books.ceiling[(j.tenant, g)]
            }),
        };
        let Some(g) = first else {
            return;
        };
        let run_s = self.run_s_on(id, g);
        let (chips, chip_s) = (j.chips as u64, j.chips as u64 * run_s);
        let q = &mut self.probes.queued[(j.tenant, g)];
        if sign > 0 {
            q.0 += chips;
            q.1 += chip_s;
        } else {
            q.0 -= chips;
            q.1 -= chip_s;
        }
    }

    /// Answer every probe time before `before_s` (the next instant, or the horizon), in time
    /// order, each after booking the Capacity Blocks requested by then.
    pub(super) fn answer_probes(&mut self, before_s: u64) {
        let h = self.s.horizon_s;
        let mut due: Vec<(u64, usize)> = Vec::new();
        for i in 0..self.s.probes.len() {
            let mut p = self.probes.next_s[i];
            while p < before_s {
                due.push((p, i));
                p = self.s.probes[i].next_s(p, h).unwrap_or(NO_TIME);
            }
            self.probes.next_s[i] = p;
        }
        due.sort_unstable();
        for (p, i) in due {
            self.book_requested_by(p);
            let start = self.probe_start(i, p);
            self.account.probe(i, p, start.map(|t| t - p));
        }
        self.probes.due_s = self.probes.next_s.iter().copied().min().unwrap_or(NO_TIME);
    }

    /// Book into the engine's calendar the accepted blocks requested at or before `p_s`.
    fn book_requested_by(&mut self, p_s: u64) {
        let bookings = &self.blocks.plan.bookings;
        while let Some(b) = bookings.get(self.probes.booked) {
            if b.request_s > p_s {
                break;
            }
            if let (Some(start_s), Some(end_s)) = (b.start_s, b.end_s()) {
                self.calendar.book(b.generation, start_s, end_s, b.chips);
            }
            self.probes.booked += 1;
        }
    }

    /// Probe `i`'s earliest start from probe time `p_s`, if any before the horizon.
    fn probe_start(&self, i: usize, p_s: u64) -> Option<u64> {
        let pr = &self.s.probes[i];
        let g = pr.generation;
        if pr.chips > self.cap.peak_capacity[g].min(self.cap.max_gang[g]) {
            return None; // never placeable (warned when the scenario was read)
        }
        let free = self.probe_free(g, p_s);
        let queue = self.probe_queue_chip_s(g);
        earliest_start(&free, pr.chips, pr.duration_s, p_s, queue, self.s.horizon_s)
    }

    /// Chips of `g` free over time from `p_s` on: the calendar, minus running jobs until their
    /// planned end (an owner's only beyond its reservation), minus UltraServers down until
    /// their repair.
    fn probe_free(&self, g: GenId, p_s: u64) -> Steps {
        let mut held: Vec<(u64, i64)> = Vec::new();
        let mut owners: BTreeMap<usize, Vec<(u64, i64)>> = BTreeMap::new();
        for &(end_s, id) in &self.ends[g] {
            let j = &self.jobs[id as usize];
            let job = std::iter::once((end_s.max(p_s), j.chips as u64));
            if self.probes.reserved[g][j.tenant].is_some() {
                held_deltas(job, owners.entry(j.tenant).or_default());
            } else {
                held_deltas(job, &mut held);
            }
        }
        for (t, mut own) in owners {
            let r = self.probes.reserved[g][t].as_ref().expect("an owner");
            held.extend(excess_deltas(&mut own, r));
        }
        let us_chips = self.s.fleet.generations[g].ultraserver_chips as u64;
        let down = self.probes.down[g]
            .values()
            .map(|&due| (due.max(p_s), us_chips));
        held_deltas(down, &mut held);
        let mut deltas: Vec<(u64, i64)> = self.calendar.free(g).deltas().collect();
        deltas.extend(held.into_iter().map(|(t, d)| (t, -d)));
        Steps::from_deltas(&mut deltas)
    }

    /// The queue ahead on `g` (chip-seconds at `g`'s speed), without a reservation owner's
    /// waiting chips that fit in its unused reservation (a share of its queued work).
    fn probe_queue_chip_s(&self, g: GenId) -> u128 {
        let mut total: u128 = 0;
        for t in 0..self.s.tenants.len() {
            let (chips, chip_s) = self.probes.queued[(t, g)];
            if chips == 0 {
                continue;
            }
            let unused = self.books.reserved[(t, g)].saturating_sub(self.books.held(t, g));
            let counted = chips.saturating_sub(unused);
            total += chip_s as u128 * counted as u128 / chips as u128;
        }
        total
    }
}
