//! Reservation delivery as an owner reads it: at each instant the owner asks for
//! min(reservation, demand) and is short of part of it; shortfall increments are queued by
//! the time they were asked for and paid back oldest first, so each chip-hour of shortfall has
//! an age, and the share delivered within 0, the grace, 1 h and 1 d follows
//! ([`ReservationDelivery`]).

use std::collections::VecDeque;

use crate::fleet::metrics::ReservationDelivery;
use crate::fleet::time::HOUR_S_F64;

/// One reservation owner's delivery books ([`ReservationDelivery`]): what it asks for now,
/// its shortfall now, and the shortfall's unpaid increments by the time they were asked for.
#[derive(Default, Clone)]
pub(super) struct Delivery {
    asked_now: u64,
    short_now: u64,
    /// Unpaid shortfall increments (asked at, chips), oldest first; paid back oldest first.
    pending: VecDeque<(u64, u64)>,
    /// Increments removed from `pending` (the absolute index of its front).
    popped: u64,
    /// Per age threshold ([`Account::ages_s`]): the absolute index of the first increment not
    /// yet older than it, and the chips of the older ones.
    aged_idx: [u64; 3],
    aged_chips: [u64; 3],
    asked_chip_s: f64,
    /// Chip-seconds of shortfall older than 0 and each threshold.
    short_chip_s: [f64; 4],
}

impl Delivery {
    /// The owner now asks for `asked` chips and is short of `short`.
    pub(super) fn set(&mut self, now: u64, asked: u64, short: u64) {
        self.asked_now = asked;
        if short > self.short_now {
            self.pending.push_back((now, short - self.short_now));
        }
        let mut pay = self.short_now.saturating_sub(short);
        while pay > 0 {
            let front = self.pending.front_mut().expect("shortfall has increments");
            let x = pay.min(front.1);
            front.1 -= x;
            pay -= x;
            for k in 0..3 {
                if self.popped < self.aged_idx[k] {
                    self.aged_chips[k] -= x;
                }
            }
            if front.1 == 0 {
                self.pending.pop_front();
                self.popped += 1;
                for i in &mut self.aged_idx {
                    *i = (*i).max(self.popped);
                }
            }
        }
        self.short_now = short;
    }

    /// Integrate from `from_s` to `to_s` with shortfall age thresholds `ages_s`.
    pub(super) fn advance(&mut self, from_s: u64, to_s: u64, ages_s: [u64; 3]) {
        let dt = (to_s - from_s) as f64;
        self.asked_chip_s += self.asked_now as f64 * dt;
        self.short_chip_s[0] += self.short_now as f64 * dt;
        for (k, age) in ages_s.into_iter().enumerate() {
            let mut short = self.aged_chips[k] as f64 * dt;
            while let Some(&(at, c)) = self.pending.get((self.aged_idx[k] - self.popped) as usize) {
                if at + age > to_s {
                    break;
                }
                short += (c * (to_s - (at + age).max(from_s))) as f64;
                self.aged_chips[k] += c;
                self.aged_idx[k] += 1;
            }
            self.short_chip_s[k + 1] += short;
        }
    }

    pub(super) fn metrics(&self, grace_s: u64) -> ReservationDelivery {
        let within = |k: usize| {
            if self.asked_chip_s > 0.0 {
                1.0 - self.short_chip_s[k] / self.asked_chip_s
            } else {
                1.0
            }
        };
        ReservationDelivery {
            chip_hours_asked: self.asked_chip_s / HOUR_S_F64,
            grace_s,
            within_0: within(0),
            within_grace: within(1),
            within_1h: within(2),
            within_1d: within(3),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_ages_shortfall_oldest_first() {
        // Ask 10 at 0 and get 4; at 100 get 4 more (oldest paid first); at 300 get the rest.
        let mut d = Delivery::default();
        let ages = [50, 150, 1000];
        d.set(0, 10, 6);
        d.advance(0, 100, ages);
        d.set(100, 10, 2);
        d.advance(100, 300, ages);
        d.set(300, 10, 0);
        d.advance(300, 400, ages);
        assert_eq!(d.asked_chip_s, 4000.0);
        // Short 6 x 100 + 2 x 200 = 1000; older than 50: 6 x 50 + 2 x 200 = 700; older than
        // 150: 2 x 150 = 300; older than 1000: none.
        assert_eq!(d.short_chip_s, [1000.0, 700.0, 300.0, 0.0]);
        let m = d.metrics(50);
        assert_eq!(
            (m.within_0, m.within_grace, m.within_1d),
            (0.75, 0.825, 1.0)
        );
    }
}
