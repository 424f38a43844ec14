//! The hardware: chip generations, UltraServers grouped into clusters, deliveries over time and
//! failures, kept as counts (free chips per UltraServer), never as per-chip objects.
//!
//! [`FleetPlan`] is the immutable layout a scenario describes; [`Pool`] (one per generation) is the per-run state:
//! free chips per UltraServer, indexed so that placement is a bit scan rather than a search.

use serde::Serialize;

/// Dense id of a chip generation.
pub type GenId = usize;

/// A chip generation as the scheduler sees it: how many chips an UltraServer has, how many
/// UltraServers a cluster has, what a chip draws, and how fast it runs jobs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Generation {
    /// Name (`trn2`, `trn3`, or user-defined).
    pub name: String,
    /// Electrical power per chip, including its share of host, network and storage (W).
    pub watts_per_chip: f64,
    /// Power usage effectiveness of the facility (facility power / IT power).
    pub pue: f64,
    /// Chips per UltraServer (the largest all-to-all placement unit).
    pub ultraserver_chips: u32,
    /// UltraServers per cluster (a gang larger than one UltraServer stays inside one cluster).
    pub ultraservers_per_cluster: u32,
    /// Chips per instance, the unit Capacity Blocks are bought in (divides
    /// `ultraserver_chips`).
    pub instance_chips: u32,
    /// Run-time speed-up over the reference generation (2.0 = jobs run in half the time).
    pub speedup: f64,
    /// Mean time between failures of one UltraServer (s); 0 = no failures.
    pub mtbf_s: u64,
    /// Time to repair a failed UltraServer (s).
    pub repair_s: u64,
    /// The chip preset ([`crate::arch::PRESETS`]) that times workload jobs on it, if any.
    pub hw: Option<String>,
}

impl Generation {
    /// Facility watts per chip (IT power times PUE).
    pub fn facility_watts_per_chip(&self) -> f64 {
        self.watts_per_chip * self.pue
    }

    /// Chips that `gw` gigawatts of facility power feed (rounded down).
    pub fn chips_for_gw(&self, gw: f64) -> u64 {
        (gw * 1e9 / self.facility_watts_per_chip()).floor() as u64
    }

    /// Facility gigawatts drawn by `chips` chips.
    pub fn gw_for_chips(&self, chips: u64) -> f64 {
        chips as f64 * self.facility_watts_per_chip() / 1e9
    }
}

/// Hardware that arrives at a time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Delivery {
    /// When it is installed (s).
    pub at_s: u64,
    /// Which generation.
    pub generation: GenId,
    /// Whole UltraServers delivered.
    pub ultraservers: u32,
}

/// The immutable fleet layout: generations and their deliveries (sorted by time).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FleetPlan {
    /// Generations, in the order jobs without a preference try them.
    pub generations: Vec<Generation>,
    /// Deliveries sorted by time (stable: file order within one time).
    pub deliveries: Vec<Delivery>,
}

impl FleetPlan {
    /// Chips of generation `g` installed at time `t_s` (deliveries at `t_s` included).
    pub fn installed_chips(&self, g: GenId, t_s: u64) -> u64 {
        self.deliveries
            .iter()
            .filter(|d| d.generation == g && d.at_s <= t_s)
            .map(|d| d.ultraservers as u64 * self.generations[g].ultraserver_chips as u64)
            .sum()
    }

    /// Chips of generation `g` once every delivery is in.
    pub fn peak_chips(&self, g: GenId) -> u64 {
        self.installed_chips(g, u64::MAX)
    }
}

/// Where a running job sits: chips taken from UltraServers (global ids within its generation).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Placement {
    /// Not placed.
    #[default]
    None,
    /// Inside one UltraServer.
    One {
        /// UltraServer index within the generation.
        us: u32,
        /// Chips taken.
        chips: u32,
    },
    /// Several UltraServers of one cluster.
    Many(Box<[(u32, u32)]>),
}

/// Per-generation pool of UltraServers: free chips per UltraServer, bucketed by free count.
#[derive(Clone, Debug)]
pub struct Pool {
    us_chips: u32,
    per_cluster: u32,
    free: Vec<u32>,
    down: Vec<bool>,
    /// UltraServers (up) with exactly `f` free chips, for f in 0..=us_chips.
    buckets: Vec<Vec<u32>>,
    pos: Vec<u32>,
    /// Bit f set when bucket f is not empty.
    mask: Vec<u64>,
    /// Wholly free UltraServers per cluster.
    cluster_whole_free: Vec<u32>,
    /// Free chips per cluster (for choosing where to preempt).
    cluster_free: Vec<u64>,
    /// Chips installed, up (not failed), and free.
    installed_chips: u64,
    up_chips: u64,
    free_chips: u64,
}

impl Pool {
    /// An empty pool (nothing delivered yet).
    pub fn new(us_chips: u32, per_cluster: u32) -> Pool {
        Pool {
            us_chips,
            per_cluster: per_cluster.max(1),
            free: Vec::new(),
            down: Vec::new(),
            buckets: vec![Vec::new(); us_chips as usize + 1],
            pos: Vec::new(),
            mask: vec![0; (us_chips as usize + 1).div_ceil(64)],
            cluster_whole_free: Vec::new(),
            cluster_free: Vec::new(),
            installed_chips: 0,
            up_chips: 0,
            free_chips: 0,
        }
    }

    /// Chips per UltraServer.
    pub fn ultraserver_chips(&self) -> u32 {
        self.us_chips
    }

    /// UltraServers installed.
    pub fn ultraservers(&self) -> usize {
        self.free.len()
    }

    /// Chips installed.
    pub fn installed_chips(&self) -> u64 {
        self.installed_chips
    }

    /// Chips installed and not failed.
    pub fn up_chips(&self) -> u64 {
        self.up_chips
    }

    /// Chips free (up and unallocated).
    pub fn free_chips(&self) -> u64 {
        self.free_chips
    }

    /// Free chips of one UltraServer.
    pub fn free_of(&self, us: u32) -> u32 {
        self.free[us as usize]
    }

    /// Whether an UltraServer is failed.
    pub fn is_down(&self, us: u32) -> bool {
        self.down[us as usize]
    }

    /// The cluster of an UltraServer.
    pub fn cluster_of(&self, us: u32) -> usize {
        (us / self.per_cluster) as usize
    }

    /// Clusters installed (the last may be partly delivered).
    pub fn clusters(&self) -> usize {
        self.cluster_whole_free.len()
    }

    /// Free chips of a cluster.
    pub fn cluster_free(&self, c: usize) -> u64 {
        self.cluster_free[c]
    }

    fn bucket_insert(&mut self, us: u32, f: u32) {
        let b = &mut self.buckets[f as usize];
        self.pos[us as usize] = b.len() as u32;
        b.push(us);
        self.mask[f as usize / 64] |= 1 << (f % 64);
    }

    fn bucket_remove(&mut self, us: u32, f: u32) {
        let b = &mut self.buckets[f as usize];
        let p = self.pos[us as usize] as usize;
        let last = *b.last().expect("UltraServer is in its bucket");
        b.swap_remove(p);
        if last != us {
            self.pos[last as usize] = p as u32;
        }
        if b.is_empty() {
            self.mask[f as usize / 64] &= !(1 << (f % 64));
        }
    }

    /// Add `n` UltraServers (a delivery), filling the last cluster first.
    pub fn add_ultraservers(&mut self, n: u32) {
        for _ in 0..n {
            let us = self.free.len() as u32;
            self.free.push(self.us_chips);
            self.down.push(false);
            self.pos.push(0);
            let c = self.cluster_of(us);
            if c == self.cluster_whole_free.len() {
                self.cluster_whole_free.push(0);
                self.cluster_free.push(0);
            }
            self.cluster_whole_free[c] += 1;
            self.cluster_free[c] += self.us_chips as u64;
            self.bucket_insert(us, self.us_chips);
        }
        let chips = n as u64 * self.us_chips as u64;
        self.installed_chips += chips;
        self.up_chips += chips;
        self.free_chips += chips;
    }

    #[inline]
    fn set_free(&mut self, us: u32, new: u32) {
        let old = self.free[us as usize];
        if old == new {
            return;
        }
        self.bucket_remove(us, old);
        self.bucket_insert(us, new);
        let c = self.cluster_of(us);
        if old == self.us_chips {
            self.cluster_whole_free[c] -= 1;
        }
        if new == self.us_chips {
            self.cluster_whole_free[c] += 1;
        }
        self.cluster_free[c] = self.cluster_free[c] + new as u64 - old as u64;
        self.free[us as usize] = new;
        self.free_chips = self.free_chips + new as u64 - old as u64;
    }

    /// Smallest free count >= `chips` that some UltraServer has (best fit).
    fn best_fit_bucket(&self, chips: u32) -> Option<u32> {
        let mut f = chips as usize;
        while f <= self.us_chips as usize {
            let w = f / 64;
            let bits = self.mask[w] >> (f % 64);
            if bits != 0 {
                return Some((f + bits.trailing_zeros() as usize) as u32);
            }
            f = (w + 1) * 64;
        }
        None
    }

    /// Whether a gang of `chips` could be placed now.
    pub fn can_place(&self, chips: u32) -> bool {
        if chips as u64 > self.free_chips {
            return false;
        }
        if chips <= self.us_chips {
            return self.best_fit_bucket(chips).is_some();
        }
        self.find_cluster(chips).is_some()
    }

    /// For a gang larger than an UltraServer: the cluster, with the UltraServers to take. Whole
    /// UltraServers for `chips / us_chips`, the remainder best-fit inside the same cluster. The
    /// cluster is the one with the fewest wholly free UltraServers that fits (keep big holes
    /// big), the lowest-numbered among equals.
    fn find_cluster(&self, chips: u32) -> Option<(usize, u32, Option<u32>)> {
        let full = chips / self.us_chips;
        let rem = chips % self.us_chips;
        let mut best: Option<(u32, usize, Option<u32>)> = None;
        for (c, &whole) in self.cluster_whole_free.iter().enumerate() {
            if whole < full || best.is_some_and(|b| whole >= b.0) {
                continue;
            }
            // The remainder: the partly used UltraServer of this cluster that fits it best, or
            // one more whole one.
            let rem_us = if rem > 0 {
                self.best_partial(c, rem)
            } else {
                None
            };
            if rem == 0 || rem_us.is_some() || whole > full {
                best = Some((whole, c, rem_us));
                if whole == full {
                    break; // none can have fewer
                }
            }
        }
        best.map(|(_, c, rem_us)| (c, full, rem_us))
    }

    /// The partly used, working UltraServer of cluster `c` with the fewest free chips that
    /// still holds `chips` (lowest-numbered among equals).
    fn best_partial(&self, c: usize, chips: u32) -> Option<u32> {
        let lo = c as u32 * self.per_cluster;
        let hi = (lo + self.per_cluster).min(self.free.len() as u32);
        let mut best: Option<(u32, u32)> = None;
        for us in lo..hi {
            let f = self.free[us as usize];
            if !self.down[us as usize]
                && f >= chips
                && f < self.us_chips
                && best.is_none_or(|(bf, _)| f < bf)
            {
                best = Some((f, us));
            }
        }
        best.map(|b| b.1)
    }

    /// Whether a gang of `chips` could be placed once the chips of `released` (parts of
    /// running placements, not yet given back) were released: [`Pool::can_place`] after
    /// [`Pool::release_part`] of each, without changing the pool. Preemption asks this while
    /// it takes victims tentatively, so that a failed attempt need not touch the pool.
    pub fn can_place_released(&self, chips: u32, released: &[(u32, u32)]) -> bool {
        // Chips given back per UltraServer, by UltraServer (so by cluster); failed ones keep 0.
        let mut delta: Vec<(u32, u32)> = released
            .iter()
            .filter(|p| !self.down[p.0 as usize])
            .copied()
            .collect();
        delta.sort_unstable();
        delta.dedup_by(|b, a| {
            let same = a.0 == b.0;
            if same {
                a.1 += b.1;
            }
            same
        });
        let extra: u64 = delta.iter().map(|p| p.1 as u64).sum();
        if chips as u64 > self.free_chips + extra {
            return false;
        }
        let free_after = |us: u32, d: u32| self.free[us as usize] + d;
        if chips <= self.us_chips {
            // Released chips only move UltraServers to larger free counts.
            return self.best_fit_bucket(chips).is_some()
                || delta.iter().any(|&(us, d)| free_after(us, d) >= chips);
        }
        let (full, rem) = (chips / self.us_chips, chips % self.us_chips);
        let mut i = 0;
        for (c, &whole) in self.cluster_whole_free.iter().enumerate() {
            // This cluster's released parts: delta[i..j].
            let mut j = i;
            while j < delta.len() && self.cluster_of(delta[j].0) == c {
                j += 1;
            }
            let touched = &delta[i..j];
            i = j;
            let whole = whole
                + touched
                    .iter()
                    .filter(|&&(us, d)| free_after(us, d) == self.us_chips)
                    .count() as u32;
            if whole < full {
                continue;
            }
            if rem == 0 || whole > full {
                return true;
            }
            let partial = if touched.is_empty() {
                self.best_partial(c, rem).is_some()
            } else {
                let lo = c as u32 * self.per_cluster;
                let hi = (lo + self.per_cluster).min(self.free.len() as u32);
                (lo..hi).any(|us| {
                    let d = touched
                        .binary_search_by_key(&us, |p| p.0)
                        .map_or(0, |k| touched[k].1);
                    let f = free_after(us, d);
                    !self.down[us as usize] && f >= rem && f < self.us_chips
                })
            };
            if partial {
                return true;
            }
        }
        false
    }

    /// The pool as [`Pool::release`] of each placement in order, then [`Pool::occupy`] of each
    /// in reverse order, would leave it, in time proportional to the parts on UltraServers
    /// that had free chips (usually none). The free counts end as they began; only the order
    /// inside the free-count buckets can change, and placement reads it (the last UltraServer
    /// of a bucket) for buckets of one free chip or more. Bucket by bucket: one whose
    /// UltraServers are only added to and taken from again ends as it began (additions go to
    /// its end and swap-removals among them never reach the rest); one that loses an
    /// UltraServer it had (a part on an UltraServer with free chips) is replayed operation by
    /// operation. The full bucket's order is left as is: nothing reads it.
    pub fn round_trip(&mut self, placements: &[&Placement]) {
        // A whole-UltraServer part moves between the full bucket and the wholly free one,
        // neither of which is ever replayed (it had no free chips, and no part is on a wholly
        // free UltraServer): only partial parts can touch a replayed bucket.
        let us_chips = self.us_chips;
        let mut ops: Vec<(u32, i64)> = Vec::new();
        for p in placements {
            for_parts(p, |us, k| {
                if k < us_chips {
                    ops.push((us, k as i64))
                }
            });
        }
        if ops.iter().all(|&(us, _)| self.free[us as usize] == 0) {
            return;
        }
        for p in placements.iter().rev() {
            for_parts(p, |us, k| {
                if k < us_chips {
                    ops.push((us, -(k as i64)))
                }
            });
        }
        let mut dirty: Vec<u32> = ops
            .iter()
            .map(|&(us, _)| self.free[us as usize])
            .filter(|&f| f > 0)
            .collect();
        if dirty.is_empty() {
            return;
        }
        dirty.sort_unstable();
        dirty.dedup();
        let is_dirty = |f: u32| dirty.binary_search(&f).is_ok();
        // Each touched UltraServer's free count as the operations go, and its position in
        // its own bucket (restored at the end unless that bucket is replayed).
        let mut touched: Vec<(u32, u32, u32)> = ops
            .iter()
            .map(|&(us, _)| (us, self.free[us as usize], self.pos[us as usize]))
            .collect();
        touched.sort_unstable();
        touched.dedup_by_key(|t| t.0);
        let mut cur: Vec<u32> = touched.iter().map(|t| t.1).collect();
        for &(us, d) in &ops {
            let i = touched.binary_search_by_key(&us, |t| t.0).expect("touched");
            let from = cur[i];
            let to = (from as i64 + d) as u32;
            cur[i] = to;
            if is_dirty(from) {
                let b = &mut self.buckets[from as usize];
                let p = self.pos[us as usize] as usize;
                let last = *b.last().expect("UltraServer is in its bucket");
                b.swap_remove(p);
                if last != us {
                    self.pos[last as usize] = p as u32;
                }
            }
            if is_dirty(to) {
                let b = &mut self.buckets[to as usize];
                self.pos[us as usize] = b.len() as u32;
                b.push(us);
            }
        }
        for &(us, f, pos) in &touched {
            if !is_dirty(f) {
                self.pos[us as usize] = pos;
            }
        }
    }

    /// Place a gang of `chips`, or `None` when it does not fit now.
    pub fn place(&mut self, chips: u32) -> Option<Placement> {
        if chips == 0 || chips as u64 > self.free_chips {
            return None;
        }
        if chips <= self.us_chips {
            let f = self.best_fit_bucket(chips)?;
            let us = *self.buckets[f as usize].last().expect("non-empty bucket");
            self.set_free(us, f - chips);
            return Some(Placement::One { us, chips });
        }
        let (c, full, rem_us) = self.find_cluster(chips)?;
        let rem = chips % self.us_chips;
        let lo = c as u32 * self.per_cluster;
        let hi = (lo + self.per_cluster).min(self.free.len() as u32);
        let mut parts = Vec::with_capacity(full as usize + 1);
        let mut need_whole = full + u32::from(rem > 0 && rem_us.is_none());
        for us in lo..hi {
            if need_whole == 0 {
                break;
            }
            if !self.down[us as usize] && self.free[us as usize] == self.us_chips {
                parts.push((us, self.us_chips));
                need_whole -= 1;
            }
        }
        debug_assert_eq!(need_whole, 0);
        if rem > 0 {
            match rem_us {
                Some(us) => parts.push((us, rem)),
                // The remainder took one more whole UltraServer.
                None => {
                    parts
                        .last_mut()
                        .expect("a whole UltraServer for the remainder")
                        .1 = rem
                }
            }
        }
        for &(us, k) in &parts {
            let f = self.free[us as usize];
            self.set_free(us, f - k);
        }
        Some(Placement::Many(parts.into_boxed_slice()))
    }

    /// Give back what a placement took (UltraServers that failed meanwhile stay at 0 free).
    pub fn release(&mut self, p: &Placement) {
        for_parts(p, |us, k| self.release_part(us, k));
    }

    /// Take exactly the chips of a placement again (undoing a tentative release).
    pub fn occupy(&mut self, p: &Placement) {
        for_parts(p, |us, k| self.occupy_part(us, k));
    }

    /// Take `chips` free chips of one UltraServer (which must have them).
    #[inline]
    pub fn occupy_part(&mut self, us: u32, chips: u32) {
        let f = self.free[us as usize];
        self.set_free(us, f - chips);
    }

    /// Give back `chips` chips of one UltraServer (ignored when it failed meanwhile).
    #[inline]
    pub fn release_part(&mut self, us: u32, chips: u32) {
        if !self.down[us as usize] {
            let f = self.free[us as usize];
            self.set_free(us, f + chips);
        }
    }

    /// Mark an UltraServer failed. Its jobs must have been released first (it is wholly free).
    pub fn fail(&mut self, us: u32) {
        debug_assert_eq!(self.free[us as usize], self.us_chips);
        self.set_free(us, 0);
        self.bucket_remove(us, 0);
        self.down[us as usize] = true;
        self.up_chips -= self.us_chips as u64;
    }

    /// Bring a failed UltraServer back, wholly free.
    pub fn repair(&mut self, us: u32) {
        debug_assert!(self.down[us as usize]);
        self.down[us as usize] = false;
        self.bucket_insert(us, 0);
        self.set_free(us, self.us_chips);
        self.up_chips += self.us_chips as u64;
    }

    /// UltraServers that are up.
    pub fn up_ultraservers(&self) -> u64 {
        self.up_chips / self.us_chips as u64
    }

    /// The `k`-th UltraServer that is up, scanning from a random start (for failures).
    pub fn nth_up_from(&self, start: u32) -> Option<u32> {
        let n = self.free.len() as u32;
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&us| !self.down[us as usize])
    }

    /// Free chips that cannot host a gang of `chips` (for the fragmentation metric): all free
    /// chips when the gang does not fit; otherwise those in UltraServers too small for it.
    pub fn fragmented_chips(&self, chips: u32) -> u64 {
        if chips <= self.us_chips {
            (0..chips.min(self.us_chips + 1))
                .map(|f| self.buckets[f as usize].len() as u64 * f as u64)
                .sum()
        } else if self.can_place(chips) {
            // Chips outside wholly free UltraServers.
            self.free_chips
                - self.cluster_whole_free.iter().sum::<u32>() as u64 * self.us_chips as u64
        } else {
            self.free_chips
        }
    }

    /// Check the counts against the per-UltraServer state (for tests and `check_invariants`).
    pub fn check(&self) -> Result<(), String> {
        let mut free = 0u64;
        let mut up = 0u64;
        for (us, &f) in self.free.iter().enumerate() {
            if f > self.us_chips {
                return Err(format!(
                    "UltraServer {us} has {f} free chips of {}",
                    self.us_chips
                ));
            }
            if !self.down[us] {
                up += self.us_chips as u64;
                free += f as u64;
            } else if f != 0 {
                return Err(format!("failed UltraServer {us} has {f} free chips"));
            }
        }
        if free != self.free_chips || up != self.up_chips {
            return Err(format!(
                "pool counts free {} up {} but UltraServers sum to free {free} up {up}",
                self.free_chips, self.up_chips
            ));
        }
        Ok(())
    }
}

/// Call `f(us, chips)` for every part of a placement.
#[inline]
pub fn for_parts(p: &Placement, mut f: impl FnMut(u32, u32)) {
    match p {
        Placement::None => {}
        Placement::One { us, chips } => f(*us, *chips),
        Placement::Many(v) => v.iter().for_each(|&(us, k)| f(us, k)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_fit_and_gangs() {
        let mut p = Pool::new(64, 4);
        p.add_ultraservers(8);
        let a = p.place(60).unwrap();
        let b = p.place(4).unwrap();
        // 4 chips go into the UltraServer with 4 left (best fit), not a fresh one.
        assert_eq!(
            (a.clone(), b.clone()),
            (
                Placement::One { us: 7, chips: 60 },
                Placement::One { us: 7, chips: 4 }
            )
        );
        let big = p.place(64 * 3 + 10).unwrap();
        let parts: Vec<_> = match &big {
            Placement::Many(v) => v.to_vec(),
            _ => panic!(),
        };
        assert_eq!(parts.len(), 4);
        let clusters: std::collections::BTreeSet<u32> = parts.iter().map(|x| x.0 / 4).collect();
        assert_eq!(clusters.len(), 1);
        assert_eq!(parts.iter().map(|x| x.1).sum::<u32>(), 202);
        p.check().unwrap();
        assert!(!p.can_place(64 * 4 + 1));
        p.release(&big);
        p.release(&a);
        p.release(&b);
        assert_eq!(p.free_chips(), 512);
        p.check().unwrap();
        p.fail(3);
        p.fail(4);
        assert_eq!(p.up_chips(), 384);
        assert!(!p.can_place(256) && p.can_place(192));
        p.repair(3);
        assert!(p.can_place(256));
        p.check().unwrap();
    }
}
