//! Capacity Blocks: EC2-Capacity-Blocks-style bookings of a fixed number of instances of one
//! generation for a fixed number of days, bought ahead (trainium.md section 8: 1 to 14 days in
//! 1-day steps, then 7-day steps up to 182 days; a start up to 8 weeks ahead; every block ends
//! at 11:30 UTC and its instances are terminated from 30 minutes before the end; at most 64
//! instances per block).
//!
//! Lifecycle: a `[demand.NAME]` stream of `kind = "capacity_blocks"` resolves to a
//! [`BlockStream`] (`scenario::blocks`). Per seed, `BlockPlan::new` draws the requests and
//! books them in arrival order against the provider's calendar (`calendar::Calendar`: planned
//! chips minus reservations as the quota tree takes them, minus earlier bookings). A request
//! gets the earliest start on the day grid (starts and ends at the stream's end time of day) in
//! its lead window where the whole block fits for its whole length, else it is refused. Booking
//! looks only at the calendar, never at the jobs, so it is done once, before the event loop.
//!
//! In the engine (`sim::blocks`) a booked block's chips are set aside from what the quota tree
//! divides while it is booked (`BlockPlan::aside`, as reservations are), and at its start it
//! is placed as a gang, evicting running jobs if it must; it is in no queue and never
//! preempted.

use serde::Serialize;

use super::calendar::{Calendar, Steps};
use super::demand::Dist;
use super::hardware::GenId;
use super::rng::Rng;
use super::scenario::Scenario;
use super::tenant::TenantId;
use super::time::{DAY_S, MINUTE_S};

/// Instances are terminated this long before a block ends (trainium.md section 8).
pub(crate) const TERMINATE_BEFORE_END_S: u64 = 30 * MINUTE_S;
/// Most instances in one block (trainium.md section 8).
pub(crate) const MAX_INSTANCES: u64 = 64;
/// Latest start after the request (8 weeks, trainium.md section 8).
pub(crate) const MAX_LEAD_S: u64 = 56 * DAY_S;
/// The default end time of day, 11:30 UTC (scenario time 0 is 00:00 UTC).
pub(crate) const DEFAULT_END_OF_DAY_S: u64 = 11 * 3600 + 30 * 60;
/// The rule block lengths follow, for errors.
pub(crate) const DURATION_RULE: &str =
    "whole days from 1d to 14d, then 7-day steps 21d, 28d, ... 182d (trainium.md section 8)";

/// Whether `duration_s` is a length a block can be bought for.
pub(crate) fn allowed_duration(duration_s: u64) -> bool {
    if duration_s == 0 || duration_s % DAY_S != 0 {
        return false;
    }
    let d = duration_s / DAY_S;
    d <= 14 || (d <= 182 && d % 7 == 0)
}

/// A stream of Capacity Block requests of one tenant for one generation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlockStream {
    /// The stream's name (the key of `[demand.NAME]`).
    pub name: String,
    /// Who buys the blocks.
    pub tenant: TenantId,
    /// The generation they are bought on (a block is bought per instance type).
    pub generation: GenId,
    /// Chips per instance of the generation.
    pub instance_chips: u32,
    /// Blocks start and end at this time of day (s after 00:00 UTC).
    pub end_time_of_day_s: u64,
    /// When requests are made, and what they ask for.
    pub arrivals: BlockArrivals,
}

/// How a stream's requests arrive.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BlockArrivals {
    /// Poisson arrivals in `[start_s, end_s)`, sizes and lengths drawn per request.
    Poisson {
        /// Requests per second.
        rate_per_s: f64,
        /// First time a request may be made (s).
        start_s: u64,
        /// No request at or after this time (s).
        end_s: u64,
        /// Instances per block (each value a whole number from 1 to 64).
        instances: Dist,
        /// Block length (s; each value an allowed length).
        duration_s: Dist,
        /// Earliest start after the request (s).
        start_after_s: u64,
        /// Latest start after the request (s, at most 8 weeks).
        start_before_s: u64,
    },
    /// The requests listed, in time order.
    List {
        /// The requests.
        requests: Vec<BlockRequest>,
    },
}

/// One request as written (or drawn).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct BlockRequest {
    /// When it is made (s).
    pub at_s: u64,
    /// Instances asked for.
    pub instances: u64,
    /// Length (s, an allowed one).
    pub duration_s: u64,
    /// Earliest start after the request (s).
    pub start_after_s: u64,
    /// Latest start after the request (s).
    pub start_before_s: u64,
}

/// One request of a run, with what booking it gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Booking {
    /// The stream it came from (index into [`Scenario::blocks`]).
    pub(crate) stream: usize,
    pub(crate) tenant: TenantId,
    pub(crate) generation: GenId,
    /// When it was made.
    pub(crate) request_s: u64,
    /// Chips of the block.
    pub(crate) chips: u64,
    /// Its length (s).
    pub(crate) duration_s: u64,
    /// The booked start; `None`: refused.
    pub(crate) start_s: Option<u64>,
}

impl Booking {
    /// End of the booking (the chips return then).
    pub(crate) fn end_s(&self) -> Option<u64> {
        self.start_s.map(|s| s + self.duration_s)
    }

    /// When the holder's instances are terminated.
    pub(crate) fn terminate_s(&self) -> Option<u64> {
        self.end_s().map(|e| e - TERMINATE_BEFORE_END_S)
    }
}

#[cfg(test)]
/// The earliest time at or after `t_s` on the day grid at `tod_s` after midnight.
pub(crate) fn align_up(t_s: u64, tod_s: u64) -> u64 {
    t_s + (tod_s + DAY_S - t_s % DAY_S) % DAY_S
}

/// A stream's requests for a seed, in time order, before the horizon.
fn draw(st: &BlockStream, i: usize, seed: u64, horizon_s: u64) -> Vec<BlockRequest> {
    match &st.arrivals {
        BlockArrivals::List { requests } => requests
            .iter()
            .copied()
            .filter(|r| r.at_s < horizon_s)
            .collect(),
        BlockArrivals::Poisson {
            rate_per_s,
            start_s,
            end_s,
            instances,
            duration_s,
            start_after_s,
            start_before_s,
        } => {
            let mut rng = Rng::new(seed, 3000 + i as u64);
            let mut out = Vec::new();
            let end = (*end_s).min(horizon_s);
            let mut t = *start_s as f64;
            if *rate_per_s <= 0.0 {
                return out;
            }
            loop {
                t += rng.exponential(1.0 / rate_per_s);
                if t >= end as f64 {
                    return out;
                }
                out.push(BlockRequest {
                    at_s: t.round() as u64,
                    instances: instances.sample(&mut rng).round() as u64,
                    duration_s: duration_s.sample(&mut rng).round() as u64,
                    start_after_s: *start_after_s,
                    start_before_s: *start_before_s,
                });
            }
        }
    }
}

/// The run's bookings and the chips they set aside, per generation, over time.
#[derive(Clone, Debug, Default)]
pub(crate) struct BlockPlan {
    /// Every request, in booking (arrival) order.
    pub(crate) bookings: Vec<Booking>,
    /// Per generation, chips booked over time (empty without block streams).
    aside: Vec<Steps>,
}

impl BlockPlan {
    /// Draw the requests of `s`'s block streams for `seed` and book them in arrival order
    /// (ties in stream order) against the calendar of `s`.
    pub(crate) fn new(s: &Scenario, seed: u64) -> BlockPlan {
        if s.blocks.is_empty() {
            return BlockPlan::default();
        }
        let mut reqs: Vec<(usize, BlockRequest)> = Vec::new();
        for (i, st) in s.blocks.iter().enumerate() {
            reqs.extend(draw(st, i, seed, s.horizon_s).into_iter().map(|r| (i, r)));
        }
        reqs.sort_by_key(|&(i, r)| (r.at_s, i));
        let mut cal = Calendar::new(&s.fleet, &s.tenants, s.policy.quota_step_s, s.horizon_s);
        let gens = s.fleet.generations.len();
        let mut aside = vec![Steps::constant(0); gens];
        let bookings = reqs
            .into_iter()
            .map(|(i, r)| {
                let st = &s.blocks[i];
                let b = book_one(&mut cal, st, i, &r);
                if let (Some(a), Some(e)) = (b.start_s, b.end_s()) {
                    aside[st.generation].add(a, e, b.chips as i64);
                }
                b
            })
            .collect();
        BlockPlan { bookings, aside }
    }

    /// Chips of `g` booked at `t_s` (set aside from what the quota tree divides).
    pub(crate) fn aside(&self, g: GenId, t_s: u64) -> u64 {
        self.aside.get(g).map_or(0, |a| a.at(t_s).max(0) as u64)
    }

    /// The times before `horizon_s` at which the chips set aside change.
    pub(crate) fn edges(&self, horizon_s: u64) -> Vec<u64> {
        let mut e: Vec<u64> = self
            .aside
            .iter()
            .flat_map(|a| a.points().iter().map(|p| p.0))
            .filter(|&t| t > 0 && t < horizon_s)
            .collect();
        e.sort_unstable();
        e.dedup();
        e
    }
}

/// Book one request: the earliest start on the stream's day grid in its lead window where its
/// chips are free of promises for its whole length (then promised), else a refusal.
fn book_one(cal: &mut Calendar, st: &BlockStream, i: usize, r: &BlockRequest) -> Booking {
    let chips = r.instances * st.instance_chips as u64;
    let g = st.generation;
    let earliest = r.at_s + r.start_after_s;
    let latest = r.at_s + r.start_before_s;
    let start_s = cal.earliest_fit_on_grid(
        g,
        chips,
        r.duration_s,
        earliest,
        latest,
        DAY_S,
        st.end_time_of_day_s,
    );
    if let Some(a) = start_s {
        cal.book(g, a, a + r.duration_s, chips);
    }
    Booking {
        stream: i,
        tenant: st.tenant,
        generation: g,
        request_s: r.at_s,
        chips,
        duration_s: r.duration_s,
        start_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_lengths_follow_the_rule() {
        let ok: Vec<u64> = (0..=200).filter(|&d| allowed_duration(d * DAY_S)).collect();
        let mut want: Vec<u64> = (1..=14).collect();
        want.extend((21..=182).step_by(7));
        assert_eq!(ok, want);
        assert!(!allowed_duration(DAY_S + 1));
        assert!(!allowed_duration(0));
    }

    #[test]
    fn the_day_grid_is_at_the_end_time_of_day() {
        let tod = DEFAULT_END_OF_DAY_S;
        assert_eq!(align_up(0, tod), 41_400);
        assert_eq!(align_up(41_400, tod), 41_400);
        assert_eq!(align_up(41_401, tod), DAY_S + 41_400);
        assert_eq!(align_up(3 * DAY_S, tod), 3 * DAY_S + 41_400);
        assert_eq!(align_up(3 * DAY_S + 50_000, tod), 4 * DAY_S + 41_400);
    }
}
