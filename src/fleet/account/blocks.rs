//! The recorder's Capacity Block books: per tenant and generation, the requests and what was
//! booked (known before the run), and what the engine delivered (its hooks).

use std::collections::BTreeMap;

use crate::fleet::blocks::Booking;
use crate::fleet::hardware::GenId;
use crate::fleet::metrics::{CapacityBlockMetrics, Percentiles};
use crate::fleet::scenario::Scenario;
use crate::fleet::table::PerTenantGen;
use crate::fleet::tenant::TenantId;
use crate::fleet::time::HOUR_S_F64;

#[derive(Clone, Default)]
struct Acc {
    requested: u64,
    accepted: u64,
    refused: u64,
    leads_s: Vec<f64>,
    booked_chip_s: f64,
    delivered_chip_s: f64,
    late_starts: u64,
}

/// Per (tenant, generation) block books; empty without block streams.
#[derive(Default)]
pub(crate) struct BlockBooks {
    acc: Option<PerTenantGen<Acc>>,
}

impl BlockBooks {
    /// The run's requests, in booking order: accepted ones count the chip-hours their holder
    /// may run (start to termination, within the horizon) as booked.
    pub(crate) fn booked(&mut self, s: &Scenario, bookings: &[Booking]) {
        if bookings.is_empty() {
            return;
        }
        let h = s.horizon_s;
        let acc = self.acc.get_or_insert_with(|| {
            PerTenantGen::new(s.tenants.len(), s.fleet.generations.len(), Acc::default())
        });
        for b in bookings {
            let a = &mut acc[(b.tenant, b.generation)];
            a.requested += 1;
            match (b.start_s, b.terminate_s()) {
                (Some(start), Some(term)) => {
                    a.accepted += 1;
                    a.leads_s.push((start - b.request_s) as f64);
                    a.booked_chip_s += (b.chips * term.min(h).saturating_sub(start)) as f64;
                }
                _ => a.refused += 1,
            }
        }
    }

    /// A block was placed for the first time, after its booked start when `late`.
    pub(crate) fn started(&mut self, t: TenantId, g: GenId, late: bool) {
        if let Some(acc) = &mut self.acc {
            acc[(t, g)].late_starts += late as u64;
        }
    }

    /// A block delivered `chip_s` to its holder (one stretch of running).
    pub(crate) fn delivered(&mut self, t: TenantId, g: GenId, chip_s: u64) {
        if let Some(acc) = &mut self.acc {
            acc[(t, g)].delivered_chip_s += chip_s as f64;
        }
    }

    /// Chip-seconds delivered to tenant `t` over every generation.
    pub(crate) fn delivered_chip_s(&self, t: TenantId) -> f64 {
        self.acc.as_ref().map_or(0.0, |acc| {
            acc.row(t).iter().map(|a| a.delivered_chip_s).sum()
        })
    }

    /// Tenant `t`'s metrics per generation it requested blocks on (by generation name).
    pub(crate) fn metrics(
        &mut self,
        s: &Scenario,
        t: TenantId,
    ) -> BTreeMap<String, CapacityBlockMetrics> {
        let Some(acc) = &mut self.acc else {
            return BTreeMap::new();
        };
        let mut out = BTreeMap::new();
        for (g, gen_) in s.fleet.generations.iter().enumerate() {
            let a = &mut acc[(t, g)];
            if a.requested == 0 {
                continue;
            }
            out.insert(
                gen_.name.clone(),
                CapacityBlockMetrics {
                    requested: a.requested,
                    accepted: a.accepted,
                    refused: a.refused,
                    lead_time_s: Percentiles::of(&mut a.leads_s),
                    block_hours_booked: a.booked_chip_s / HOUR_S_F64,
                    block_hours_delivered: a.delivered_chip_s / HOUR_S_F64,
                    late_starts: a.late_starts,
                },
            );
        }
        out
    }
}
