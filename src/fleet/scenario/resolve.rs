//! Resolution: the file as written becomes a [`Scenario`], part by part in a fixed order
//! (times, fleet, policy, cohorts, tenants, workloads, demand), each part checked as it
//! is resolved and stopping at the first bad value with its key path.

use std::path::Path;

use super::blocks::block_stream;
use super::checks::{Built, Warnings, bad};
use super::context::StreamContext;
use super::file::{DemandKind, FileDemand, FileScenario};
use super::fleet::fleet_plan;
use super::names::Names;
use super::policy::policy;
use super::probes::probes;
use super::streams::demand_stream;
use super::tenants::{TenantContext, cohorts, tenants};
use super::{MAX_JOBS, MAX_SAMPLES, MAX_WORKLOADS, Scenario, WorkloadDef};
use crate::config::Named;
use crate::fleet::blocks::BlockStream;
use crate::fleet::demand::DemandStream;
use crate::fleet::time::YEAR_S;
use crate::workload::Workload;

/// The scenario of file `f`, named `default_name` unless it names itself; traces are read
/// from `base_dir` through `read`. The warnings found on the way come beside it, to be located
/// (its own `warnings` are empty).
pub(super) fn build(
    f: &FileScenario,
    default_name: &str,
    base_dir: &Path,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Built<(Scenario, Warnings)> {
    let mut warnings = Warnings::default();
    let (horizon_s, report_interval_s) = times(f)?;
    let names = Names {
        generations: f.fleet.generations.names(),
        tenants: f.tenants.names(),
        workloads: f.workloads.names(),
        classes: &f.priority_classes,
    };
    let fleet = fleet_plan(&f.fleet, &names)?;
    let (policy, base_preemption) = policy(&f.policy, horizon_s, &names)?;
    let cohorts = cohorts(&f.cohorts, &names, &fleet)?;
    let tenant_ctx = TenantContext {
        names: &names,
        cohorts: &f.cohorts,
        fleet: &fleet,
        base_preemption,
        quota_step_s: policy.quota_step_s,
    };
    let tenants = tenants(&f.tenants, &tenant_ctx, &mut warnings)?;
    let workloads = workloads(&f.workloads)?;
    let ctx = StreamContext {
        names: &names,
        tenants: &tenants,
        workloads: &workloads,
        fleet: &fleet,
        quota_step_s: policy.quota_step_s,
        horizon_s,
        base_dir,
        read,
    };
    let demand = demand(&f.demand, &ctx)?;
    let blocks = block_streams(&f.demand, &ctx, &mut warnings)?;
    let probes = probes(&f.probes, &names, &fleet, horizon_s, &mut warnings)?;
    let scenario = Scenario {
        name: f.name.clone().unwrap_or_else(|| default_name.to_string()),
        description: f.description.clone(),
        horizon_s,
        seed: f.seed,
        report_interval_s,
        fleet,
        tenants,
        cohorts,
        demand,
        blocks,
        policy,
        workloads,
        probes,
        warnings: Vec::new(),
    };
    Ok((scenario, warnings))
}

/// The horizon and the sampling interval (s).
fn times(f: &FileScenario) -> Built<(u64, u64)> {
    let horizon_s = f.horizon.0;
    if horizon_s == 0 || horizon_s > 1000 * YEAR_S {
        return bad(
            "horizon",
            format!("{horizon_s} s is out of range; expected 1 s to 1000 years"),
        );
    }
    let report_interval_s = f.report_interval.map_or((horizon_s / 100).max(1), |d| d.0);
    if report_interval_s == 0 || horizon_s / report_interval_s > MAX_SAMPLES {
        return bad(
            "report_interval",
            format!(
                "{report_interval_s} s gives more than {MAX_SAMPLES} samples over the horizon (or is 0)"
            ),
        );
    }
    Ok((horizon_s, report_interval_s))
}

/// The workloads, each checked (located later, once the document is at hand).
fn workloads(f: &Named<Workload>) -> Built<Vec<WorkloadDef>> {
    if f.0.len() > MAX_WORKLOADS {
        return bad(
            "workloads",
            format!("at most {MAX_WORKLOADS} workloads (each is a chip simulation per generation)"),
        );
    }
    let mut workloads = Vec::new();
    for (n, w) in &f.0 {
        if let Err(e) = w.check() {
            return bad(format!("workloads.{n}.{}", e.field), e.message);
        }
        workloads.push(WorkloadDef {
            name: n.clone(),
            workload: w.clone(),
            location: crate::config::Location::File {
                file: String::new(),
            },
        });
    }
    Ok(workloads)
}

/// The demand streams, at most [`MAX_JOBS`] expected jobs in all.
fn demand(f: &Named<FileDemand>, ctx: &StreamContext) -> Built<Vec<DemandStream>> {
    let mut demand = Vec::new();
    let mut expected_jobs = 0.0;
    for (n, d) in
        f.0.iter()
            .filter(|(_, d)| d.kind != DemandKind::CapacityBlocks)
    {
        let path = format!("demand.{n}");
        let stream = demand_stream(&path, d, ctx)?;
        expected_jobs += stream.expected_jobs();
        if expected_jobs > MAX_JOBS {
            return bad(
                &path,
                format!(
                    "the demand adds up to about {expected_jobs:.0} jobs; at most {MAX_JOBS:.0} per run"
                ),
            );
        }
        demand.push(stream);
    }
    Ok(demand)
}

/// The Capacity Block streams (`kind = "capacity_blocks"`), in file order.
fn block_streams(
    f: &Named<FileDemand>,
    ctx: &StreamContext,
    warnings: &mut Warnings,
) -> Built<Vec<BlockStream>> {
    f.0.iter()
        .filter(|(_, d)| d.kind == DemandKind::CapacityBlocks)
        .map(|(n, d)| block_stream(&format!("demand.{n}"), n, d, ctx, warnings))
        .collect()
}
