//! "Time to N chips": how soon could another customer get `chips` chips of a generation for a
//! `duration`, asked at each probe time, without changing the run.
//!
//! At each probe time `p` (`start`, `start + every`, ... before `end` and the horizon) the
//! engine answers from its state after the round of the last instant at or before `p`: the
//! earliest start `t >= p` at which a new regular request of `chips` chips of `generation` for
//! `duration` would get them, or "not within the horizon" (no start before the horizon). The
//! capacity free for it over time is
//!
//! - the provider's calendar ([`super::calendar::Calendar`]: planned installed chips minus the
//!   reservations as the quota tree takes them, minus booked blocks),
//! - minus the chips running jobs hold until their planned end, except the part of a
//!   reservation owner's holdings inside its reservation (already promised in the calendar):
//!   per owner, `max(0, held(t) - reserved(t))`,
//! - minus the chips down now (failed UltraServers) until their repair is due.
//!
//! The queue ahead is a fluid: the waiting jobs whose first eligible generation is this one,
//! in chip-seconds at this generation's speed (their run time here), without a reservation
//! owner's waiting chips that fit in its unused reservation, poured into that free capacity
//! from `p` on; the request cannot start before it has drained (`T_q`). The answer is the
//! earliest `t >= max(p, T_q)`, `t` before the horizon, at which `chips` stay free for the
//! whole `duration` ([`super::calendar::Steps::earliest_fit`]). Placement shapes are not
//! modelled (chips, not UltraServers), beyond a probe no cluster can place being never served.
//!
//! Probes change nothing in the run: they are answered between events, schedule none and touch
//! no state a round reads (`tests/fleet_probes.rs` holds a run with and without them to the
//! same bytes).

use serde::Serialize;

use super::calendar::Steps;
use super::hardware::GenId;
use super::metrics::{Percentiles, ProbeMetrics, ProbeWaits};

/// A resolved `[probes.NAME]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Probe {
    /// The table's name.
    pub name: String,
    /// Generation asked for.
    pub generation: GenId,
    /// Chips asked for.
    pub chips: u64,
    /// How long they are wanted (s).
    pub duration_s: u64,
    /// Interval between probe times (s, at least 1).
    pub every_s: u64,
    /// First probe time (s).
    pub start_s: u64,
    /// Probe times are before this (s; the horizon by default).
    pub end_s: u64,
}

impl Probe {
    /// The first probe time, if any is before the horizon.
    pub(crate) fn first_s(&self, horizon_s: u64) -> Option<u64> {
        (self.start_s < self.end_s.min(horizon_s)).then_some(self.start_s)
    }

    /// The probe time after `t_s`, if any is before the horizon.
    pub(crate) fn next_s(&self, t_s: u64, horizon_s: u64) -> Option<u64> {
        let n = t_s.saturating_add(self.every_s);
        (n < self.end_s.min(horizon_s)).then_some(n)
    }
}

/// When `work_chip_s` chip-seconds poured from `from_s` into the positive part of `free` have
/// drained (`from_s` when there is none), or `None` if they never do.
pub(crate) fn drain_s(free: &Steps, from_s: u64, work_chip_s: u128) -> Option<u64> {
    if work_chip_s == 0 {
        return Some(from_s);
    }
    let pts = free.points();
    let mut i = pts.partition_point(|&(x, _)| x <= from_s) - 1;
    let (mut a, mut left) = (from_s, work_chip_s);
    loop {
        let v = pts[i].1;
        let b = pts.get(i + 1).map(|p| p.0);
        if v > 0 {
            let rate = v as u128;
            let need_s = left.div_ceil(rate);
            match b {
                Some(b) if need_s > (b - a) as u128 => left -= rate * (b - a) as u128,
                _ => return Some(a.saturating_add(u64::try_from(need_s).unwrap_or(u64::MAX))),
            }
        }
        let Some(b) = b else {
            return None; // nothing free from here on, and work left
        };
        a = b;
        i += 1;
    }
}

/// The earliest start at or after `p_s` (and after the queue ahead, `queue_chip_s`, has drained
/// into `free`) at which `chips` stay free for `duration_s`, if one is before `horizon_s`.
pub(crate) fn earliest_start(
    free: &Steps,
    chips: u64,
    duration_s: u64,
    p_s: u64,
    queue_chip_s: u128,
    horizon_s: u64,
) -> Option<u64> {
    let from = drain_s(free, p_s, queue_chip_s)?.max(p_s);
    if from >= horizon_s {
        return None;
    }
    free.earliest_fit(chips as i64, duration_s, from, horizon_s - 1)
}

/// Chips held from `p_s` on by jobs ending at the given times: `(end_s, chips)`; as deltas
/// (held over `[0, end)`: only the part from `p_s` on is ever read).
pub(crate) fn held_deltas(ends: impl Iterator<Item = (u64, u64)>, out: &mut Vec<(u64, i64)>) {
    for (end_s, chips) in ends {
        out.push((0, chips as i64));
        out.push((end_s, -(chips as i64)));
    }
}

/// One owner's holdings beyond its reservation, `max(0, held - reserved)`, as deltas.
pub(crate) fn excess_deltas(held: &mut Vec<(u64, i64)>, reserved: &Steps) -> Vec<(u64, i64)> {
    held.extend(reserved.deltas().map(|(t, d)| (t, -d)));
    Steps::from_deltas(held).clamp_at_zero().deltas().collect()
}

/// The metrics of one probe from its answers `(probe time, wait)` (`None`: no start in the
/// horizon), in time order.
pub(crate) fn metrics(
    p: &Probe,
    generation: &str,
    series: Vec<(u64, Option<u64>)>,
) -> ProbeMetrics {
    let mut waits: Vec<f64> = series
        .iter()
        .filter_map(|s| s.1)
        .map(|w| w as f64)
        .collect();
    let wait_s = (!waits.is_empty()).then(|| {
        let q = Percentiles::of(&mut waits);
        ProbeWaits {
            p50: q.p50,
            p90: q.p90,
            max: q.max,
        }
    });
    ProbeMetrics {
        name: p.name.clone(),
        generation: generation.to_string(),
        chips: p.chips,
        duration_s: p.duration_s,
        probe_times: series.len() as u64,
        unserved: series.iter().filter(|s| s.1.is_none()).count() as u64,
        wait_s,
        series,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(pts: &[(u64, i64)]) -> Steps {
        let mut d: Vec<(u64, i64)> = Vec::new();
        let mut prev = 0;
        for &(t, v) in pts {
            d.push((t, v - prev));
            prev = v;
        }
        Steps::from_deltas(&mut d)
    }

    #[test]
    fn fluid_drains_into_positive_capacity_only() {
        // 10 chips over [0, 100), none over [100, 200), 20 from 200.
        let f = steps(&[(0, 10), (100, 0), (200, 20)]);
        assert_eq!(drain_s(&f, 50, 0), Some(50));
        // 300 chip-s from 50 at 10 chips: 30 s.
        assert_eq!(drain_s(&f, 50, 300), Some(80));
        // 700 chip-s: 500 by 100, nothing until 200, then 200 at 20 chips: 10 s.
        assert_eq!(drain_s(&f, 50, 700), Some(210));
        // Rounding up: 1 chip-s at 20 chips takes 1 s.
        assert_eq!(drain_s(&f, 200, 1), Some(201));
        // Negative capacity forever: never.
        let g = steps(&[(0, 10), (100, -5)]);
        assert_eq!(drain_s(&g, 0, 1001), None);
        assert_eq!(drain_s(&g, 0, 1000), Some(100));
    }

    #[test]
    fn earliest_start_waits_for_the_queue_then_for_a_window() {
        let f = steps(&[(0, 10), (100, 4), (200, 10)]);
        // 8 chips for 50 s: at once without a queue.
        assert_eq!(earliest_start(&f, 8, 50, 0, 0, 1000), Some(0));
        // 8 chips for 150 s: not across the dip to 4, so from 200.
        assert_eq!(earliest_start(&f, 8, 150, 0, 0, 1000), Some(200));
        // A queue of 600 chip-s drains by 60; 8 chips for 50 s do not fit in [60, 100).
        assert_eq!(earliest_start(&f, 8, 50, 0, 600, 1000), Some(200));
        // ... and a horizon at 200 leaves no start.
        assert_eq!(earliest_start(&f, 8, 50, 0, 600, 200), None);
    }

    #[test]
    fn owner_excess_is_held_beyond_the_reservation() {
        // Holds 100 until 50 and 60 until 80; reserved 120 over [0, 70), 0 after.
        let mut held = Vec::new();
        held_deltas([(50, 40), (80, 60)].into_iter(), &mut held);
        let r = steps(&[(0, 120), (70, 0)]);
        let ex = Steps::from_deltas(&mut excess_deltas(&mut held, &r));
        assert_eq!(ex.points(), &[(0, 0), (70, 60), (80, 0)]);
    }
}
