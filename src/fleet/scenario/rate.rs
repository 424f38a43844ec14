//! A Poisson stream's arrival rate over time.

use super::checks::{Built, bad, check_range, one_of};
use super::context::StreamContext;
use super::file::FileDemand;
use crate::fleet::demand::{Dist, RateSchedule, WorkDist};
use crate::fleet::hardware::GenId;
use crate::fleet::tenant::{quota_epochs, quotas_at};

/// A Poisson stream's arrival rate: `rate_per_hour` (constant), `rate_schedule` (points joined
/// by straight lines) or `load` (a fraction of the tenant's nominal quota on the stream's
/// generation, kept at every quota epoch, so demand grows with deliveries and reservations).
pub(super) fn rate_schedule(
    path: &str,
    d: &FileDemand,
    tenant: usize,
    generation: Option<GenId>,
    chips: &Dist,
    work: &WorkDist,
    ctx: &StreamContext,
) -> Built<RateSchedule> {
    let (k, _) = one_of(
        path,
        &[
            ("rate_per_hour", d.rate_per_hour.map(|_| ())),
            ("rate_schedule", d.rate_schedule.as_ref().map(|_| ())),
            ("load", d.load.map(|_| ())),
        ],
    )?;
    match k {
        0 => {
            let rate = d.rate_per_hour.expect("given");
            check_range(&format!("{path}.rate_per_hour"), rate, 0.0, 1e9)?;
            Ok(RateSchedule::constant(rate / 3600.0))
        }
        1 => {
            let list = d.rate_schedule.as_ref().expect("given");
            if list.is_empty() {
                return bad(
                    format!("{path}.rate_schedule"),
                    "empty; expected at least one { at, rate_per_hour }",
                );
            }
            let mut points = Vec::with_capacity(list.len());
            for (i, p) in list.iter().enumerate() {
                let pp = format!("{path}.rate_schedule[{i}]");
                check_range(&format!("{pp}.rate_per_hour"), p.rate_per_hour, 0.0, 1e9)?;
                if points.last().is_some_and(|&(t, _)| p.at.0 < t) {
                    return bad(
                        format!("{pp}.at"),
                        "earlier than the point before it; expected times in order",
                    );
                }
                points.push((p.at.0, p.rate_per_hour / 3600.0));
            }
            Ok(RateSchedule::linear(points).expect("checked"))
        }
        _ => load_rate(
            path,
            d.load.expect("given"),
            tenant,
            generation,
            chips,
            work,
            ctx,
        ),
    }
}

/// `load`: a fraction of the tenant's nominal quota on `generation`, at every quota epoch.
fn load_rate(
    path: &str,
    load: f64,
    tenant: usize,
    generation: Option<GenId>,
    chips: &Dist,
    work: &WorkDist,
    ctx: &StreamContext,
) -> Built<RateSchedule> {
    let lp = format!("{path}.load");
    check_range(&lp, load, 0.0, 100.0)?;
    let Some(g) = generation else {
        return bad(
            lp,
            "needs `generation`: the load is a fraction of the tenant's nominal quota on it",
        );
    };
    // Reference chip-seconds per job, then chip-seconds on `g` at its speed-up.
    let per_job = match work {
        WorkDist::RunTime(rt) => chips.mean() * rt.mean(),
        WorkDist::ChipHours(w) => w.mean() * 3600.0,
        WorkDist::Workload(_) => {
            return bad(
                lp,
                "not with a workload: a load is sized from run times known when the \
                 scenario is read, and a workload's come from the chip simulator; give \
                 rate_per_hour or rate_schedule",
            );
        }
    };
    let per_job_on_g = per_job / ctx.fleet.generations[g].speedup;
    let points: Vec<(u64, f64)> =
        quota_epochs(ctx.fleet, ctx.tenants, ctx.quota_step_s, ctx.horizon_s)
            .into_iter()
            .map(|e| {
                let installed = ctx.fleet.installed_chips(g, e);
                let nominal = quotas_at(ctx.tenants, g, installed, e)[tenant].nominal;
                (e, load * nominal as f64 / per_job_on_g.max(1e-9))
            })
            .collect();
    let tp = &ctx.tenants[tenant];
    let q = &tp.quota[g];
    if q.nominal_chips == 0 && q.nominal_share == 0.0 && tp.reservation[g].is_none() {
        return bad(
            lp,
            format!(
                "tenant {} has no nominal quota on {}; the load is a fraction of it",
                tp.name, ctx.fleet.generations[g].name
            ),
        );
    }
    Ok(RateSchedule::steps(&points).expect("epochs in order"))
}
