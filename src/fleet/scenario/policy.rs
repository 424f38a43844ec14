//! `[policy]`: which policy, backfill, reclaim and quota stepping, and the preemption settings a
//! tenant inherits unless it gives its own.

use super::checks::{Built, bad, check_range};
use super::file::{FilePolicy, FilePreemption};
use super::names::Names;
use super::{Backfill, MAX_SAMPLES, PolicyConfig};
use crate::fleet::policy::fair::{DEFAULT_STRATEGIES, FsStrategy};
use crate::fleet::reclaim::{Reclaim, ReclaimMode};
use crate::fleet::tenant::Preemption;
use crate::fleet::time::DAY_S;
use serde::Deserialize;

/// The policy settings and the scenario-wide preemption settings.
pub(super) fn policy(
    fp: &FilePolicy,
    horizon_s: u64,
    names: &Names,
) -> Built<(PolicyConfig, Preemption)> {
    let kind = fp.name.unwrap_or_default();
    let mut reclaim = Reclaim {
        mode: fp.reclaim.unwrap_or_default(),
        ..Reclaim::default()
    };
    if let Some(g) = fp.grace {
        reclaim.grace_s = g.0;
    } else if reclaim.mode == ReclaimMode::Graceful {
        reclaim.grace_s = 15 * 60;
    }
    if let Some(x) = fp.throttle_fraction {
        check_range("policy.throttle_fraction", x, 1e-6, 1.0)?;
        reclaim.fraction = x;
    }
    if let Some(r) = fp.throttle_round {
        if r.0 == 0 {
            return bad("policy.throttle_round", "must be positive");
        }
        reclaim.round_s = r.0;
    }
    let quota_step_s = fp.quota_step.map_or(DAY_S, |d| d.0);
    if quota_step_s == 0 || horizon_s / quota_step_s > MAX_SAMPLES {
        return bad(
            "policy.quota_step",
            "must be positive and give at most 1e6 steps over the horizon",
        );
    }
    let base_preemption = preemption(
        "policy.preemption",
        fp.preemption.as_ref(),
        Preemption::default(),
        names,
    )?;
    if fp.max_scan.is_some() {
        return bad(
            "policy.max_scan",
            "removed: a round no longer walks a bounded number of jobs per queue (waiting jobs \
             are indexed by class, and a class that cannot start is set aside), and a bound on \
             the scan changed results (jobs behind it were never looked at); delete the key",
        );
    }
    let policy = PolicyConfig {
        kind,
        backfill: backfill(fp)?,
        reclaim,
        quota_step_s,
        fair_strategies: fair_strategies(fp)?,
    };
    Ok((policy, base_preemption))
}

/// `policy.fair_sharing.preemption_strategies`: Kueue's default pair unless given; one
/// strategy, or the two with `less_than_initial_share` second (rule S2-b, which Kueue always
/// runs with that strategy).
fn fair_strategies(fp: &FilePolicy) -> Built<Vec<FsStrategy>> {
    let given = fp
        .fair_sharing
        .as_ref()
        .and_then(|f| f.preemption_strategies.clone());
    let Some(v) = given else {
        return Ok(DEFAULT_STRATEGIES.to_vec());
    };
    let path = "policy.fair_sharing.preemption_strategies";
    match v.as_slice() {
        [_] | [_, FsStrategy::LessThanInitialShare] => Ok(v),
        [] => bad(path, "expected one or two strategies"),
        [_, _] => bad(
            path,
            "the second strategy is rule S2-b, always less_than_initial_share in Kueue",
        ),
        _ => bad(path, "expected at most two strategies"),
    }
}

/// `policy.queueing`: Kueue's queueing strategy, another name for the first two backfill
/// modes.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum Queueing {
    /// A waiting head blocks its queue (`backfill = "none"`).
    StrictFifo,
    /// A waiting head is set aside until capacity changes and the next job becomes the head
    /// (`backfill = "best_effort"`, or `"easy"` with its promise).
    BestEffortFifo,
}

/// The backfill mode from `backfill` and `queueing`, which must agree when both are given.
fn backfill(fp: &FilePolicy) -> Built<Backfill> {
    match (fp.queueing, fp.backfill) {
        (None, b) => Ok(b.unwrap_or_default()),
        (Some(Queueing::StrictFifo), None | Some(Backfill::None)) => Ok(Backfill::None),
        (Some(Queueing::BestEffortFifo), None) => Ok(Backfill::BestEffort),
        (Some(Queueing::BestEffortFifo), Some(b)) if b != Backfill::None => Ok(b),
        (Some(_), Some(_)) => bad(
            "policy.queueing",
            "contradicts policy.backfill: strict_fifo goes with backfill = \"none\", \
             best_effort_fifo with \"best_effort\" or \"easy\"",
        ),
    }
}

/// Preemption settings at `path`: those given, the rest from `base`.
pub(super) fn preemption(
    path: &str,
    f: Option<&FilePreemption>,
    base: Preemption,
    names: &Names,
) -> Built<Preemption> {
    let Some(f) = f else { return Ok(base) };
    Ok(Preemption {
        within_queue: f.within_queue.unwrap_or(base.within_queue),
        reclaim_within_cohort: f
            .reclaim_within_cohort
            .unwrap_or(base.reclaim_within_cohort),
        borrow_within_cohort: f.borrow_within_cohort.unwrap_or(base.borrow_within_cohort),
        borrow_max_priority: match &f.borrow_max_priority {
            Some(p) => names.priority(&format!("{path}.borrow_max_priority"), p)?,
            None => base.borrow_max_priority,
        },
    })
}
