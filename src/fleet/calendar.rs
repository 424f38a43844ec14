//! The provider's calendar: per generation, the chips the fleet plan will have installed minus
//! what is already promised, over time.
//!
//! Lifecycle: built once per run ([`Calendar::new`]) from the planned deliveries (not failures:
//! a promise is made against the plan) and the reservations, sampled at the quota epochs exactly
//! as the engine's quota tree takes them (`tenant::quota_epochs`), so the calendar and the quota
//! tree never disagree about what an owner is owed. Bookings (Capacity Blocks) are then added
//! with [`Calendar::book`], and requests are answered by [`Calendar::earliest_fit`]: the
//! earliest start in a window where the whole request fits for its whole duration.

use super::hardware::{FleetPlan, GenId};
use super::tenant::{TenantPlan, quota_epochs};

/// A step function of time: `value` holds from a point's time until the next point's. The first
/// point is at 0; after the last point its value holds forever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Steps {
    pts: Vec<(u64, i64)>,
}

impl Steps {
    /// `value` everywhere.
    pub(crate) fn constant(value: i64) -> Steps {
        Steps {
            pts: vec![(0, value)],
        }
    }

    /// The value at `t_s`.
    pub(crate) fn at(&self, t_s: u64) -> i64 {
        self.pts[self.index(t_s)].1
    }

    /// Index of the segment holding `t_s`.
    fn index(&self, t_s: u64) -> usize {
        self.pts.partition_point(|&(x, _)| x <= t_s) - 1
    }

    /// Make `t_s` a breakpoint (value unchanged) and return its index.
    fn split(&mut self, t_s: u64) -> usize {
        let i = self.index(t_s);
        if self.pts[i].0 == t_s {
            return i;
        }
        self.pts.insert(i + 1, (t_s, self.pts[i].1));
        i + 1
    }

    /// Add `delta` over `[from_s, to_s)`.
    pub(crate) fn add(&mut self, from_s: u64, to_s: u64, delta: i64) {
        if from_s >= to_s || delta == 0 {
            return;
        }
        let a = self.split(from_s);
        let b = if to_s == u64::MAX {
            self.pts.len()
        } else {
            self.split(to_s)
        };
        for p in &mut self.pts[a..b] {
            p.1 += delta;
        }
        self.merge();
    }

    /// Drop breakpoints that do not change the value.
    fn merge(&mut self) {
        self.pts.dedup_by(|b, a| a.1 == b.1);
    }

    /// The earliest `t` in `[earliest_s, latest_s]` with a value of at least `need` over all of
    /// `[t, t + dur_s)`, if any. Amortised linear in the breakpoints crossed: a start that fails
    /// moves past the segment that failed it.
    pub(crate) fn earliest_fit(
        &self,
        need: i64,
        dur_s: u64,
        earliest_s: u64,
        latest_s: u64,
    ) -> Option<u64> {
        let mut t = earliest_s;
        let mut i = self.index(t);
        while t <= latest_s {
            let end = t.saturating_add(dur_s.max(1));
            let bad = self.pts[i..]
                .iter()
                .enumerate()
                .take_while(|&(k, &(x, _))| k == 0 || x < end)
                .find(|&(_, &(_, v))| v < need)
                .map(|(k, _)| i + k);
            match bad {
                None => return Some(t),
                Some(j) if j + 1 < self.pts.len() => {
                    i = j + 1;
                    t = self.pts[i].0;
                }
                Some(_) => return None,
            }
        }
        None
    }

    /// The breakpoints, for reports and tests.
    pub(crate) fn points(&self) -> &[(u64, i64)] {
        &self.pts
    }

    /// The sum of `deltas` (time, change), 0 before the first: a step function built in one
    /// sort instead of one [`Steps::add`] per interval (probes build one per probe time).
    pub(crate) fn from_deltas(deltas: &mut [(u64, i64)]) -> Steps {
        deltas.sort_unstable_by_key(|d| d.0);
        let mut pts: Vec<(u64, i64)> = vec![(0, 0)];
        for &(t, d) in deltas.iter() {
            let v = pts[pts.len() - 1].1 + d;
            match pts.last_mut() {
                Some(last) if last.0 == t => last.1 = v,
                _ => pts.push((t, v)),
            }
        }
        let mut s = Steps { pts };
        s.merge();
        s
    }

    /// The changes of the function (time, change), the first from 0 at time 0: the inverse
    /// of [`Steps::from_deltas`], to sum step functions.
    pub(crate) fn deltas(&self) -> impl Iterator<Item = (u64, i64)> + '_ {
        let mut prev = 0;
        self.pts.iter().map(move |&(t, v)| {
            let d = v - prev;
            prev = v;
            (t, d)
        })
    }

    /// `max(0, value)` everywhere.
    pub(crate) fn clamp_at_zero(&self) -> Steps {
        let mut s = Steps {
            pts: self.pts.iter().map(|&(t, v)| (t, v.max(0))).collect(),
        };
        s.merge();
        s
    }
}

/// One owner's reservation as the quota tree takes it (sampled at the quota `epochs`, constant
/// between them): the part of [`Calendar::new`]'s promises that is this owner's.
pub(crate) fn reservation_steps(r: &super::tenant::Reservation, epochs: &[u64]) -> Steps {
    let mut pts: Vec<(u64, i64)> = vec![(0, 0)];
    for &e in epochs {
        let v = r.chips_at(e) as i64;
        match pts.last_mut() {
            Some(last) if last.0 == e => last.1 = v,
            _ => pts.push((e, v)),
        }
    }
    let mut s = Steps { pts };
    s.merge();
    s
}

/// Per generation, the chips installed by plan minus the chips promised (reservations in force,
/// booked blocks), over time.
#[derive(Clone, Debug)]
pub(crate) struct Calendar {
    free: Vec<Steps>,
}

impl Calendar {
    /// The calendar of a run before any booking: planned installed chips minus every tenant's
    /// reservation as the quota tree takes it (constant between quota epochs).
    pub(crate) fn new(
        fleet: &FleetPlan,
        tenants: &[TenantPlan],
        quota_step_s: u64,
        horizon_s: u64,
    ) -> Calendar {
        let epochs = quota_epochs(fleet, tenants, quota_step_s, horizon_s);
        let free = (0..fleet.generations.len())
            .map(|g| {
                let mut s = Steps::constant(0);
                for d in fleet.deliveries.iter().filter(|d| d.generation == g) {
                    let chips =
                        d.ultraservers as u64 * fleet.generations[g].ultraserver_chips as u64;
                    s.add(d.at_s, u64::MAX, chips as i64);
                }
                for (k, &e) in epochs.iter().enumerate() {
                    let next = epochs.get(k + 1).copied().unwrap_or(u64::MAX);
                    let reserved: u64 = tenants
                        .iter()
                        .filter_map(|t| t.reservation[g].as_ref())
                        .map(|r| r.chips_at(e))
                        .sum();
                    s.add(e, next, -(reserved as i64));
                }
                s
            })
            .collect();
        Calendar { free }
    }

    /// Chips of `g` free of promises, over time (negative where promises exceed the plan).
    pub(crate) fn free(&self, g: GenId) -> &Steps {
        &self.free[g]
    }

    /// Promise `chips` of `g` over `[start_s, end_s)`.
    pub(crate) fn book(&mut self, g: GenId, start_s: u64, end_s: u64, chips: u64) {
        self.free[g].add(start_s, end_s, -(chips as i64));
    }

    /// The earliest start in `[earliest_s, latest_s]` at which `chips` of `g` are free of
    /// promises for `dur_s`, if any.
    pub(crate) fn earliest_fit(
        &self,
        g: GenId,
        chips: u64,
        dur_s: u64,
        earliest_s: u64,
        latest_s: u64,
    ) -> Option<u64> {
        self.free[g].earliest_fit(chips as i64, dur_s, earliest_s, latest_s)
    }

    /// As [`Calendar::earliest_fit`], with starts only on a grid: `offset_s` after a multiple
    /// of `period_s` (Capacity Blocks start at their end time of day). Each miss moves to the
    /// first grid point at or after the earliest fit from it, since no grid point before that
    /// fits.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn earliest_fit_on_grid(
        &self,
        g: GenId,
        chips: u64,
        dur_s: u64,
        earliest_s: u64,
        latest_s: u64,
        period_s: u64,
        offset_s: u64,
    ) -> Option<u64> {
        let up = |t: u64| t + (offset_s % period_s + period_s - t % period_s) % period_s;
        let mut t = up(earliest_s);
        while t <= latest_s {
            let f = self.earliest_fit(g, chips, dur_s, t, latest_s)?;
            if f == up(f) {
                return Some(f);
            }
            t = up(f);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value at `t` by brute force over a list of (from, to, delta) intervals.
    fn brute(ivs: &[(u64, u64, i64)], t: u64) -> i64 {
        ivs.iter()
            .filter(|&&(a, b, _)| a <= t && t < b)
            .map(|&(_, _, d)| d)
            .sum()
    }

    #[test]
    fn steps_add_matches_a_brute_force_sum_and_stays_minimal() {
        let ivs = [
            (0, 100, 5),
            (50, 150, -3),
            (100, 200, 2),
            (300, u64::MAX, 7),
            (0, 50, -5),
        ];
        let mut s = Steps::constant(0);
        for &(a, b, d) in &ivs {
            s.add(a, b, d);
        }
        for t in [0, 49, 50, 99, 100, 149, 150, 199, 200, 299, 300, 10_000] {
            assert_eq!(s.at(t), brute(&ivs, t), "t = {t}");
        }
        // 0..50: 0, 50..100: 2, 100..150: -1, 150..200: 2, 200..300: 0, 300..: 7
        assert_eq!(
            s.points(),
            &[(0, 0), (50, 2), (100, -1), (150, 2), (200, 0), (300, 7)]
        );
    }

    #[test]
    fn earliest_fit_skips_past_every_segment_too_small() {
        // 10 chips, with 8 promised over [100, 200) and 4 over [250, 260).
        let mut s = Steps::constant(10);
        s.add(100, 200, -8);
        s.add(250, 260, -4);
        // 5 chips for 100 s: [0, 100) fits.
        assert_eq!(s.earliest_fit(5, 100, 0, 1000), Some(0));
        // ... but not from 1: the first start after the dip is 200, and [200, 300) holds only 6
        // over [250, 260): 6 >= 5 fits.
        assert_eq!(s.earliest_fit(5, 100, 1, 1000), Some(200));
        // 7 chips for 100 s: not across [250, 260), so from 260.
        assert_eq!(s.earliest_fit(7, 100, 1, 1000), Some(260));
        // The latest start bounds the answer.
        assert_eq!(s.earliest_fit(7, 100, 1, 259), None);
        // More than ever exists: never.
        assert_eq!(s.earliest_fit(11, 1, 0, u64::MAX), None);
        // Brute force over every start agrees.
        for need in 0..12 {
            for dur in [1, 10, 50, 100, 150] {
                let want = (0..=400u64).find(|&t| (t..t + dur).all(|x| s.at(x) >= need));
                assert_eq!(
                    s.earliest_fit(need, dur, 0, 400),
                    want,
                    "need {need} dur {dur}"
                );
            }
        }
    }

    #[test]
    fn calendar_takes_reservations_as_the_quota_tree_does() {
        let text = r#"
horizon = "10d"
[policy]
name = "kueue"
quota_step = "1d"
[fleet.generations.trn2]
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 1024
[[fleet.deliveries]]
at = "5d"
generation = "trn2"
chips = 1024
[tenants.a.quota.trn2]
nominal_chips = 0
[tenants.a.reservation.trn2]
chips = 512
start = "1d"
end = "8d"
ramp = "2d"
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 64, run_time = "1h" }]
"#;
        let s = crate::fleet::Scenario::from_toml(
            text,
            "c.toml",
            ".".as_ref(),
            &[],
            &|_| unreachable!(),
        )
        .unwrap();
        let c = Calendar::new(&s.fleet, &s.tenants, s.policy.quota_step_s, s.horizon_s);
        let d = 86_400;
        // Ramp sampled at the daily quota epochs: 0 on day 1, 256 on day 2, 512 from day 3.
        let want = [
            (0, 1024),
            (2 * d, 768),
            (3 * d, 512),
            (5 * d, 1536),
            (8 * d, 2048),
        ];
        assert_eq!(c.free(0).points(), &want);
        let mut c = c;
        // 900 chips for 2 days: at once, but from day 1 on not before day 5 (1,536 free).
        assert_eq!(c.earliest_fit(0, 900, 2 * d, 0, 9 * d), Some(0));
        assert_eq!(c.earliest_fit(0, 900, 2 * d, d, 9 * d), Some(5 * d));
        c.book(0, 5 * d, 7 * d, 1000);
        assert_eq!(c.earliest_fit(0, 900, 2 * d, d, 9 * d), Some(7 * d));
        // On a grid at 11:30 each day: from day 1 the first grid start whose 2 days fit is
        // day 7 at 11:30 (day 7 at 00:00 fits, but is not on the grid).
        let tod = 41_400;
        assert_eq!(
            c.earliest_fit_on_grid(0, 900, 2 * d, d, 9 * d, d, tod),
            Some(7 * d + tod)
        );
        // 500 chips for 1 day fit at once; the grid puts the start at 11:30 on day 0.
        assert_eq!(
            c.earliest_fit_on_grid(0, 500, d, 0, 9 * d, d, tod),
            Some(tod)
        );
        // 600 chips for 2 days from day 2: [2d, 3d) has 768, [3d, 5d) 512: not before day 7
        // at 11:30 (days 5-7 hold 536 after the booking); a window closing at day 6 refuses.
        assert_eq!(
            c.earliest_fit_on_grid(0, 600, 2 * d, 2 * d, 9 * d, d, tod),
            Some(7 * d + tod)
        );
        assert_eq!(
            c.earliest_fit_on_grid(0, 600, 2 * d, 2 * d, 6 * d, d, tod),
            None
        );
    }

    #[test]
    fn grid_search_matches_brute_force_over_grid_points() {
        let mut s = Calendar {
            free: vec![Steps::constant(10)],
        };
        s.book(0, 100, 200, 8);
        s.book(0, 250, 260, 4);
        s.book(0, 330, 345, 2);
        for need in 0..12u64 {
            for dur in [1, 10, 50, 100] {
                for (period, offset) in [(7, 3), (25, 0), (40, 39)] {
                    let want = (0..=400u64)
                        .filter(|t| t % period == offset)
                        .find(|&t| (t..t + dur).all(|x| s.free(0).at(x) >= need as i64));
                    assert_eq!(
                        s.earliest_fit_on_grid(0, need, dur, 0, 400, period, offset),
                        want,
                        "need {need} dur {dur} grid {period}+{offset}"
                    );
                }
            }
        }
    }
}
