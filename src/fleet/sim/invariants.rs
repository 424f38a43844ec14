//! Invariants checked after every round when asked ([`super::RunOptions::check_invariants`]):
//! every chip is held once (by a job, or set aside for a nominated one), pools agree with the
//! jobs on them, and quota usage agrees with the jobs' chips.

use std::collections::BTreeMap;

use super::{Sim, Status};
use crate::fleet::error::{Error, Result};
use crate::fleet::hardware::for_parts;
use crate::fleet::job::JobId;
use crate::fleet::table::PerTenantGen;

/// Chips held as the jobs and nominations say, to compare with the pools and quota books.
struct Tally {
    /// Per generation.
    used: Vec<u64>,
    per_tenant: PerTenantGen<u64>,
    /// Per generation and UltraServer.
    per_us: Vec<Vec<u64>>,
}

impl Sim<'_> {
    /// Every invariant, or the first one broken.
    pub(super) fn check(&self) -> Result<()> {
        let mut tally = Tally {
            used: vec![0; self.gens],
            per_tenant: PerTenantGen::new(self.s.tenants.len(), self.gens, 0),
            per_us: self
                .cap
                .pools
                .iter()
                .map(|p| vec![0; p.ultraservers()])
                .collect(),
        };
        self.tally_jobs(&mut tally)?;
        self.tally_nominations(&mut tally)?;
        for (g, p) in self.blocks.placed() {
            for_parts(p, |us, k| {
                tally.used[g] += k as u64;
                tally.per_us[g][us as usize] += k as u64;
            });
        }
        self.check_pools(&tally)?;
        for ((t, g), &held) in tally.per_tenant.iter() {
            if held != self.books.held(t, g) {
                return Err(self.broken(format!(
                    "tenant {t} generation {g}: jobs hold {held} chips, quota usage {}",
                    self.books.quota.usage(t, g)
                )));
            }
        }
        Ok(())
    }

    fn broken(&self, message: String) -> Error {
        Error::Invariant {
            time_s: self.now,
            message,
        }
    }

    /// Running and evicting jobs hold exactly their gang.
    fn tally_jobs(&self, tally: &mut Tally) -> Result<()> {
        for (id, st) in self.st.iter().enumerate() {
            if matches!(st.status, Status::Running | Status::Evicting) {
                let j = &self.jobs[id];
                let g = st.gen_ as usize;
                tally.used[g] += j.chips as u64;
                tally.per_tenant[(j.tenant, g)] += j.chips as u64;
                let mut placed = 0u64;
                for_parts(&st.placement, |us, k| {
                    tally.per_us[g][us as usize] += k as u64;
                    placed += k as u64;
                });
                if placed != j.chips as u64 {
                    return Err(
                        self.broken(format!("job {id} holds {placed} chips of {}", j.chips))
                    );
                }
            }
        }
        Ok(())
    }

    /// Chips set aside for nominated jobs: what they hold now plus what their victims will
    /// hand over is exactly their target.
    fn tally_nominations(&self, tally: &mut Tally) -> Result<()> {
        let mut handed: BTreeMap<JobId, u64> = BTreeMap::new();
        for (&v, parts) in &self.reclaim.overlap {
            let st = &self.st[v as usize];
            if st.status != Status::Evicting {
                return Err(
                    self.broken(format!("job {v} has handed-over chips but is not evicting"))
                );
            }
            *handed.entry(st.evicted_for).or_default() +=
                parts.iter().map(|p| p.1 as u64).sum::<u64>();
        }
        for (&id, n) in &self.reclaim.nominations {
            let mut held = 0u64;
            for &(us, k) in &n.held {
                tally.per_us[n.gen_][us as usize] += k as u64;
                held += k as u64;
            }
            tally.used[n.gen_] += held;
            let chips = self.jobs[id as usize].chips as u64;
            let st = &self.st[id as usize];
            if st.status != Status::Waiting
                || st.awaiting == 0
                || st.claim == 0
                || held + handed.get(&id).copied().unwrap_or(0) != chips
            {
                return Err(self.broken(format!(
                    "nominated job {id} ({:?}, awaiting {}) holds {held} chips of {chips}",
                    st.status, st.awaiting
                )));
            }
        }
        Ok(())
    }

    /// Each pool is consistent and agrees with the tally, generation by generation and
    /// UltraServer by UltraServer.
    fn check_pools(&self, tally: &Tally) -> Result<()> {
        for (g, p) in self.cap.pools.iter().enumerate() {
            p.check().map_err(|m| self.broken(m))?;
            let used = tally.used[g];
            if used != p.up_chips() - p.free_chips() {
                return Err(self.broken(format!(
                    "generation {g}: jobs hold {used} chips, the pool says {} allocated",
                    p.up_chips() - p.free_chips()
                )));
            }
            if used > p.installed_chips() {
                return Err(self.broken(format!("generation {g}: more chips allocated than exist")));
            }
            for (us, &k) in tally.per_us[g].iter().enumerate() {
                let cap = p.ultraserver_chips() as u64;
                if k > cap
                    || k + p.free_of(us as u32) as u64 != if p.is_down(us as u32) { k } else { cap }
                {
                    return Err(self.broken(format!(
                        "generation {g} UltraServer {us}: {k} chips held, {} free, {cap} in all",
                        p.free_of(us as u32)
                    )));
                }
            }
        }
        Ok(())
    }
}
