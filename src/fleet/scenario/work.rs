//! Jobs that run a named workload (`[workloads.NAME]`): their gang is the workload's chips and
//! their work its steps, and every generation they may land on needs a chip preset to time them.

use super::checks::{Built, bad, one_of};
use super::context::StreamContext;
use super::dist::dist;
use super::file::{
    DistKind, FileDemand, FileDist, FileJob, FileWorkloadChoice, Num, WorkloadDistKind,
};
use crate::fleet::demand::{WorkloadDraw, WorkloadOption};
use crate::fleet::hardware::GenId;
use crate::fleet::job::WorkloadId;

pub(super) const CHIPS_OF_WORKLOAD: &str = "not with a workload: a workload job's gang is its workload's \
     tp x dp chips (change tp or dp in [workloads.NAME])";

pub(super) const STEPS_NEED_WORKLOAD: &str =
    "only with `workload`: a job given as a run time has no steps";

/// Jobs of workload `id` may run on `generation` (or on any generation when `None`): each must
/// have a chip preset to time them.
fn check_lands(
    key: &str,
    id: WorkloadId,
    generation: Option<GenId>,
    ctx: &StreamContext,
) -> Built<()> {
    let gens = &ctx.fleet.generations;
    let range = generation.map_or(0..gens.len(), |g| g..g + 1);
    match gens[range].iter().find(|g| g.hw.is_none()) {
        None => Ok(()),
        Some(g) => bad(
            key,
            format!(
                "jobs of workload '{}' may run on generation {}, which has no chip preset to \
                 time them; set fleet.generations.{}.hw to one ({}) or give the jobs a \
                 generation that has one",
                ctx.workloads[id as usize].name,
                g.name,
                g.name,
                crate::arch::PRESETS.map(|p| p.0).join(", ")
            ),
        ),
    }
}

/// A Poisson stream's `workload` (a name, or an empirical distribution over names) and
/// optional `steps` distribution.
pub(super) fn workload_draw(
    path: &str,
    d: &FileDemand,
    generation: Option<GenId>,
    ctx: &StreamContext,
) -> Built<WorkloadDraw> {
    if d.chips.is_some() {
        return bad(format!("{path}.chips"), CHIPS_OF_WORKLOAD);
    }
    let wp = format!("{path}.workload");
    let (names, weights): (Vec<&str>, Option<&Vec<f64>>) = match d.workload.as_ref().expect("given")
    {
        FileWorkloadChoice::One(n) => (vec![n.as_str()], None),
        FileWorkloadChoice::Empirical(e) => {
            let WorkloadDistKind::Empirical = e.dist;
            (
                e.values.iter().map(String::as_str).collect(),
                e.weights.as_ref(),
            )
        }
    };
    let listed = matches!(d.workload, Some(FileWorkloadChoice::Empirical(_)));
    if names.is_empty() {
        return bad(
            format!("{wp}.values"),
            "expected a non-empty list of workload names",
        );
    }
    let mut options = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        let key = if listed {
            format!("{wp}.values[{i}]")
        } else {
            wp.clone()
        };
        let id = ctx.names.workload(&key, n)?;
        check_lands(&key, id, generation, ctx)?;
        let w = &ctx.workloads[id as usize].workload;
        options.push(WorkloadOption {
            id,
            chips: w.chips() as u32,
            steps: w.steps,
        });
    }
    let pick = if listed {
        let indices = FileDist {
            dist: DistKind::Empirical,
            value: None,
            mean: None,
            median: None,
            sigma: None,
            min: None,
            max: None,
            values: Some((0..names.len()).map(|i| Num(i as f64)).collect()),
            weights: weights.cloned(),
        };
        Some(dist(&wp, &indices, false)?)
    } else {
        None
    };
    let steps = d
        .steps
        .as_ref()
        .map(|f| dist(&format!("{path}.steps"), f, true))
        .transpose()?;
    Ok(WorkloadDraw {
        options,
        pick,
        steps,
    })
}

/// One entry of a `kind = "jobs"` list: its (chips, work, workload), from `run_time` and
/// `chips`, or from `workload` (and `steps`).
pub(super) fn listed_job(
    jp: &str,
    j: &FileJob,
    generation: Option<GenId>,
    ctx: &StreamContext,
) -> Built<(u32, u64, Option<WorkloadId>)> {
    let (k, _) = one_of(
        jp,
        &[
            ("run_time", j.run_time.map(|_| ())),
            ("workload", j.workload.as_ref().map(|_| ())),
        ],
    )?;
    if k == 0 {
        if j.steps.is_some() {
            return bad(format!("{jp}.steps"), STEPS_NEED_WORKLOAD);
        }
        let chips = match j.chips {
            Some(c) if c > 0 => c,
            Some(_) => return bad(format!("{jp}.chips"), "expected at least 1"),
            None => return bad(format!("{jp}.chips"), "missing; expected the gang's chips"),
        };
        return Ok((chips, j.run_time.expect("given").0.max(1), None));
    }
    let key = format!("{jp}.workload");
    let id = ctx
        .names
        .workload(&key, j.workload.as_deref().expect("given"))?;
    if j.chips.is_some() {
        return bad(format!("{jp}.chips"), CHIPS_OF_WORKLOAD);
    }
    check_lands(&key, id, generation, ctx)?;
    let w = &ctx.workloads[id as usize].workload;
    let steps = j.steps.unwrap_or(w.steps);
    if steps == 0 {
        return bad(format!("{jp}.steps"), "expected at least 1");
    }
    Ok((w.chips() as u32, steps, Some(id)))
}
