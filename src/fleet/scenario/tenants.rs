//! `[cohorts]` and `[tenants]`: the cohort tree, and each tenant's priority, weight, quotas
//! (chips, gigawatts or a share per generation), reservations in time and preemption settings.

use super::MAX_CHIPS_PER_GENERATION;
use super::checks::{Built, Warnings, bad, check_range, one_of};
use super::file::{FileCohort, FileCohortQuota, FileQuota, FileReservation, FileTenant};
use super::names::{Names, lookup};
use super::policy::preemption;
use crate::config::Named;
use crate::fleet::hardware::FleetPlan;
use crate::fleet::tenant::{CohortPlan, Preemption, Quota, Reservation, SPOT_PRIORITY, TenantPlan};
use crate::fleet::time::{DAY_S, HOUR_S, MINUTE_S};

/// The cohorts in file order; parents must form a forest.
pub(super) fn cohorts(
    f: &Named<FileCohort>,
    names: &Names,
    fleet: &FleetPlan,
) -> Built<Vec<CohortPlan>> {
    let cohort_names = f.names();
    let index: std::collections::HashMap<&str, usize> = (cohort_names.iter().enumerate())
        .map(|(i, n)| (*n, i))
        .collect();
    let mut cohorts = Vec::new();
    for (n, c) in &f.0 {
        let path = format!("cohorts.{n}");
        let weight = c.weight.unwrap_or(1.0);
        check_range(&format!("{path}.weight"), weight, 0.0, 1e6)?;
        let mut quota = vec![Quota::default(); fleet.generations.len()];
        for (gname, q) in &c.quota.0 {
            let qp = format!("{path}.quota.{gname}");
            let g = names.generation(&qp, gname)?;
            quota[g] = cohort_quota(&qp, q, fleet, g)?;
        }
        cohorts.push(CohortPlan {
            quota,
            name: n.clone(),
            parent: c
                .parent
                .as_deref()
                .map(|p| match index.get(p) {
                    Some(&i) => Ok(i),
                    None => lookup(&cohort_names, "cohort", &format!("{path}.parent"), p),
                })
                .transpose()?,
            weight,
        });
    }
    // 0 unseen, 1 on the walk from `c`, 2 known to reach a root: O(n) however deep.
    let mut state = vec![0u8; cohorts.len()];
    for (i, c) in cohorts.iter().enumerate() {
        let mut cur = Some(i);
        while let Some(p) = cur.filter(|&p| state[p] != 2) {
            if state[p] == 1 {
                return bad(
                    format!("cohorts.{}.parent", c.name),
                    "the cohort parents form a cycle",
                );
            }
            state[p] = 1;
            cur = cohorts[p].parent;
        }
        let mut cur = Some(i);
        while let Some(p) = cur.filter(|&p| state[p] == 1) {
            state[p] = 2;
            cur = cohorts[p].parent;
        }
    }
    Ok(cohorts)
}

/// A cohort's own quota on generation `g` at `qp`: fixed chips (or gigawatts), limits.
fn cohort_quota(qp: &str, q: &FileCohortQuota, fleet: &FleetPlan, g: usize) -> Built<Quota> {
    let mut nominal = q.nominal_chips.unwrap_or(0);
    if let Some(gw) = q.nominal_gw {
        check_range(&format!("{qp}.nominal_gw"), gw, 0.0, 1000.0)?;
        nominal += fleet.generations[g].chips_for_gw(gw);
    }
    if nominal > MAX_CHIPS_PER_GENERATION {
        return bad(
            qp,
            format!("{nominal} chips is absurd; expected at most {MAX_CHIPS_PER_GENERATION}"),
        );
    }
    Ok(Quota {
        nominal_chips: nominal,
        nominal_share: 0.0,
        borrowing_limit: q.borrowing_limit_chips,
        lending_limit: q.lending_limit_chips,
    })
}

/// What tenants are resolved against.
pub(super) struct TenantContext<'a> {
    pub(super) names: &'a Names<'a>,
    pub(super) cohorts: &'a Named<FileCohort>,
    pub(super) fleet: &'a FleetPlan,
    pub(super) base_preemption: Preemption,
    /// `policy.quota_step` (s): how often a reservation's ramp is re-evaluated.
    pub(super) quota_step_s: u64,
}

/// The tenants in file order; nominal shares of one generation add up to at most 1.
pub(super) fn tenants(
    f: &Named<FileTenant>,
    ctx: &TenantContext,
    warnings: &mut Warnings,
) -> Built<Vec<TenantPlan>> {
    if f.0.is_empty() {
        return bad("tenants", "expected at least one tenant");
    }
    let mut share_sum = vec![0.0; ctx.fleet.generations.len()];
    f.0.iter()
        .map(|(n, t)| tenant(n, t, &mut share_sum, ctx, warnings))
        .collect()
}

fn tenant(
    n: &str,
    t: &FileTenant,
    share_sum: &mut [f64],
    ctx: &TenantContext,
    warnings: &mut Warnings,
) -> Built<TenantPlan> {
    let path = format!("tenants.{n}");
    let g_n = ctx.fleet.generations.len();
    let mut quota = vec![Quota::default(); g_n];
    for (gname, q) in &t.quota.0 {
        let qp = format!("{path}.quota.{gname}");
        let g = ctx.names.generation(&qp, gname)?;
        quota[g] = self::quota(&qp, gname, q, ctx.fleet, g, &mut share_sum[g])?;
    }
    let mut reservation = vec![None; g_n];
    for (gname, r) in &t.reservation.0 {
        let rp = format!("{path}.reservation.{gname}");
        let g = ctx.names.generation(&rp, gname)?;
        let res = self::reservation(&rp, r, ctx.fleet, g)?;
        ramp_trap(&rp, &res, ctx.quota_step_s, warnings);
        reservation[g] = Some(res);
    }
    let weight = t.weight.unwrap_or(1.0);
    check_range(&format!("{path}.weight"), weight, 0.0, 1e6)?;
    let priority = match &t.priority {
        Some(p) => ctx.names.priority(&format!("{path}.priority"), p)?,
        None => 0,
    };
    let cohort_names = ctx.cohorts.names();
    Ok(TenantPlan {
        name: n.to_string(),
        cohort: t
            .cohort
            .as_deref()
            .map(|c| lookup(&cohort_names, "cohort", &format!("{path}.cohort"), c))
            .transpose()?,
        priority: if t.spot { SPOT_PRIORITY } else { priority },
        weight,
        spot: t.spot,
        quota,
        reservation,
        preemption: preemption(
            &format!("{path}.preemption"),
            t.preemption.as_ref(),
            ctx.base_preemption,
            ctx.names,
        )?,
    })
}

/// A quota on generation `g` at `qp`; `share_sum` is the nominal share of `g` given so far.
fn quota(
    qp: &str,
    gname: &str,
    q: &FileQuota,
    fleet: &FleetPlan,
    g: usize,
    share_sum: &mut f64,
) -> Built<Quota> {
    let mut nominal = q.nominal_chips.unwrap_or(0);
    if let Some(gw) = q.nominal_gw {
        check_range(&format!("{qp}.nominal_gw"), gw, 0.0, 1000.0)?;
        nominal += fleet.generations[g].chips_for_gw(gw);
    }
    let share = q.nominal_share.unwrap_or(0.0);
    check_range(&format!("{qp}.nominal_share"), share, 0.0, 1.0)?;
    *share_sum += share;
    if *share_sum > 1.0 + 1e-9 {
        return bad(
            format!("{qp}.nominal_share"),
            format!("the nominal shares of {gname} add up to {share_sum:.3}; expected at most 1"),
        );
    }
    if nominal > MAX_CHIPS_PER_GENERATION {
        return bad(
            qp,
            format!("{nominal} chips is absurd; expected at most {MAX_CHIPS_PER_GENERATION}"),
        );
    }
    Ok(Quota {
        nominal_chips: nominal,
        nominal_share: share,
        borrowing_limit: q.borrowing_limit_chips,
        lending_limit: q.lending_limit_chips,
    })
}

/// A reservation on generation `g` at `rp`.
fn reservation(rp: &str, r: &FileReservation, fleet: &FleetPlan, g: usize) -> Built<Reservation> {
    let (k, _) = one_of(
        rp,
        &[("chips", r.chips.map(|_| ())), ("gw", r.gw.map(|_| ()))],
    )?;
    let chips = if k == 0 {
        r.chips.expect("given")
    } else {
        let gw = r.gw.expect("given");
        check_range(&format!("{rp}.gw"), gw, 0.0, 1000.0)?;
        fleet.generations[g].chips_for_gw(gw)
    };
    if chips > MAX_CHIPS_PER_GENERATION {
        return bad(rp, format!("{chips} chips is absurd"));
    }
    let start_s = r.start.map_or(0, |d| d.0);
    let end_s = r.end.map_or(u64::MAX, |d| d.0);
    if end_s <= start_s {
        return bad(
            format!("{rp}.end"),
            format!("{end_s} s is not after the start {start_s} s"),
        );
    }
    let exclusive = r.exclusive.unwrap_or(0.0);
    check_range(&format!("{rp}.exclusive"), exclusive, 0.0, 1.0)?;
    Ok(Reservation {
        chips,
        start_s,
        end_s,
        ramp_s: r.ramp.map_or(0, |d| d.0),
        exclusive,
    })
}

/// Warn when reservation `r` at `rp` ramps faster than quotas are re-evaluated: between the
/// re-evaluations at its start and at the end of its ramp nothing is reserved, so the ramp is
/// silently a step at its end (`tenant::quota_epochs`).
fn ramp_trap(rp: &str, r: &Reservation, quota_step_s: u64, warnings: &mut Warnings) {
    if r.ramp_s > 0 && r.ramp_s < quota_step_s {
        warnings.warn(
            format!("{rp}.ramp"),
            format!(
                "the ramp ({}) is shorter than policy.quota_step ({}), the interval at which \
                 quotas are re-evaluated along a ramp: the reservation jumps from 0 to all {} \
                 chips at the ramp's end; give policy.quota_step = \"{}\" or less to follow \
                 the ramp",
                duration(r.ramp_s),
                duration(quota_step_s),
                r.chips,
                duration((r.ramp_s / 4).max(1)),
            ),
        );
    }
}

/// `3d`, `6h`, `15m` or `90s`: the largest unit that divides `s`, as a duration is written.
fn duration(s: u64) -> String {
    match [(DAY_S, "d"), (HOUR_S, "h"), (MINUTE_S, "m")]
        .iter()
        .find(|(unit, _)| s % unit == 0)
    {
        Some((unit, name)) => format!("{}{name}", s / unit),
        None => format!("{s}s"),
    }
}
