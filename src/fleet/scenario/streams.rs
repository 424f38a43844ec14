//! `[demand.NAME]` streams: Poisson arrivals (`kind = "poisson"`), a list of jobs
//! (`kind = "jobs"`) or a trace file (`kind = "trace"`). Keys of another kind are refused; the
//! keys common to every kind (tenant, generation, priority, preemptible, checkpoint) give each
//! job's template.

use std::path::PathBuf;
use std::sync::Arc;

use super::MAX_JOBS;
use super::checks::{Bad, BuildError, Built, bad, check_range, one_of};
use super::context::StreamContext;
use super::dist::dist;
use super::file::{DemandKind, FileDemand, TraceKind};
use super::names::Names;
use super::rate::rate_schedule;
use super::work::{STEPS_NEED_WORKLOAD, listed_job, workload_draw};
use crate::fleet::demand::{DemandStream, Dist, JobTemplate, PoissonStream, WorkDist};
use crate::fleet::hardware::GenId;
use crate::fleet::job::JobSpec;
use crate::fleet::tenant::{SPOT_PRIORITY, TenantPlan};
use crate::fleet::trace::{
    self, Columns, Layout, SwfField, TimeFormat, TraceDefaults, TraceFormat,
};

/// The keys every kind of stream shares, resolved.
struct Common {
    tenant: Option<usize>,
    generation: Option<GenId>,
    checkpoint_s: u64,
    priority: Option<i32>,
    preemptible: Option<bool>,
}

impl Common {
    fn new(path: &str, d: &FileDemand, names: &Names) -> Built<Common> {
        Ok(Common {
            tenant: d
                .tenant
                .as_deref()
                .map(|t| names.tenant(&format!("{path}.tenant"), t))
                .transpose()?,
            generation: d
                .generation
                .as_deref()
                .map(|g| names.generation(&format!("{path}.generation"), g))
                .transpose()?,
            checkpoint_s: d.checkpoint.map_or(0, |c| c.0),
            priority: d
                .priority
                .as_ref()
                .map(|p| names.priority(&format!("{path}.priority"), p))
                .transpose()?,
            preemptible: d.preemptible,
        })
    }

    /// The template of a job of tenant `t` (a spot tenant's jobs are spot, whatever is given).
    fn template(&self, t: usize, tenants: &[TenantPlan]) -> JobTemplate {
        JobTemplate {
            tenant: t,
            priority: if tenants[t].spot {
                SPOT_PRIORITY
            } else {
                self.priority.unwrap_or(tenants[t].priority)
            },
            preemptible: tenants[t].spot || self.preemptible.unwrap_or(true),
            checkpoint_s: self.checkpoint_s,
            generation: self.generation,
        }
    }

    fn need_tenant(&self, path: &str) -> Built<usize> {
        self.tenant.map_or_else(
            || bad(format!("{path}.tenant"), "missing; expected a tenant name"),
            Ok,
        )
    }
}

/// The stream at `path`.
pub(super) fn demand_stream(
    path: &str,
    d: &FileDemand,
    ctx: &StreamContext,
) -> Built<DemandStream> {
    check_kind_keys(path, d)?;
    let common = Common::new(path, d, ctx.names)?;
    match d.kind {
        DemandKind::Poisson => poisson(path, d, &common, ctx),
        DemandKind::Jobs => jobs(path, d, &common, ctx),
        DemandKind::Trace => trace_stream(path, d, &common, ctx),
        DemandKind::CapacityBlocks => unreachable!("resolved by scenario::blocks, not as jobs"),
    }
}

fn kind_name(k: DemandKind) -> &'static str {
    match k {
        DemandKind::Poisson => "poisson",
        DemandKind::Jobs => "jobs",
        DemandKind::Trace => "trace",
        DemandKind::CapacityBlocks => "capacity_blocks",
    }
}

/// Every key given belongs to the stream's kind.
pub(super) fn check_kind_keys(path: &str, d: &FileDemand) -> Built<()> {
    use DemandKind::{CapacityBlocks, Jobs, Poisson, Trace};
    let present = [
        ("rate_per_hour", d.rate_per_hour.is_some(), Poisson),
        ("rate_schedule", d.rate_schedule.is_some(), Poisson),
        ("load", d.load.is_some(), Poisson),
        ("forecast", d.forecast.is_some(), Poisson),
        ("start", d.start.is_some(), Poisson),
        ("end", d.end.is_some(), Poisson),
        ("daily_amplitude", d.daily_amplitude.is_some(), Poisson),
        ("peak_hour", d.peak_hour.is_some(), Poisson),
        ("chips", d.chips.is_some(), Poisson),
        ("run_time", d.run_time.is_some(), Poisson),
        ("work_chip_hours", d.work_chip_hours.is_some(), Poisson),
        ("workload", d.workload.is_some(), Poisson),
        ("steps", d.steps.is_some(), Poisson),
        ("max_jobs", d.max_jobs.is_some(), Poisson),
        ("jobs", d.jobs.is_some(), Jobs),
        ("path", d.path.is_some(), Trace),
        ("format", d.format.is_some(), Trace),
        ("columns", d.columns.is_some(), Trace),
        ("time_format", d.time_format.is_some(), Trace),
        ("chips_per_unit", d.chips_per_unit.is_some(), Trace),
        ("limit", d.limit.is_some(), Trace),
        ("tenant_field", d.tenant_field.is_some(), Trace),
        ("chips_field", d.chips_field.is_some(), Trace),
        ("default_tenant", d.default_tenant.is_some(), Trace),
        ("rate", d.rate.is_some(), CapacityBlocks),
        ("requests", d.requests.is_some(), CapacityBlocks),
        ("instances", d.instances.is_some(), CapacityBlocks),
        ("ultraservers", d.ultraservers.is_some(), CapacityBlocks),
        ("duration", d.duration.is_some(), CapacityBlocks),
        ("start_after", d.start_after.is_some(), CapacityBlocks),
        ("start_before", d.start_before.is_some(), CapacityBlocks),
        (
            "end_time_of_day",
            d.end_time_of_day.is_some(),
            CapacityBlocks,
        ),
    ];
    // A block stream's Poisson requests have a window too (`start`, `end`); a trace takes
    // `start` too (its earliest job arrives then).
    let shared = |k: &str| match d.kind {
        CapacityBlocks => matches!(k, "start" | "end"),
        Trace => k == "start",
        _ => false,
    };
    match present
        .iter()
        .find(|(k, p, o)| *p && *o != d.kind && !shared(k))
    {
        Some((k, _, owner)) => bad(
            format!("{path}.{k}"),
            format!(
                "only for kind = \"{}\"; this stream is kind = \"{}\"",
                kind_name(*owner),
                kind_name(d.kind)
            ),
        ),
        None => Ok(()),
    }
}

/// `kind = "poisson"`: arrivals at a rate, each job's gang and work drawn.
fn poisson(
    path: &str,
    d: &FileDemand,
    common: &Common,
    ctx: &StreamContext,
) -> Built<DemandStream> {
    let t = common.need_tenant(path)?;
    let amplitude = d.daily_amplitude.unwrap_or(0.0);
    check_range(&format!("{path}.daily_amplitude"), amplitude, 0.0, 1.0)?;
    let peak_hour = d.peak_hour.unwrap_or(14.0);
    check_range(&format!("{path}.peak_hour"), peak_hour, 0.0, 24.0)?;
    let chips = match &d.chips {
        Some(c) => dist(&format!("{path}.chips"), c, true)?,
        None => Dist::Fixed { value: 1.0 },
    };
    let work = work(path, d, common.generation, ctx)?;
    let start_s = d.start.map_or(0, |x| x.0);
    let end_s = d.end.map_or(ctx.horizon_s, |x| x.0).min(ctx.horizon_s);
    let rate = rate_schedule(path, d, t, common.generation, &chips, &work, ctx)?;
    Ok(DemandStream::Poisson(PoissonStream {
        template: common.template(t, ctx.tenants),
        start_s,
        end_s,
        rate,
        daily_amplitude: amplitude,
        peak_hour,
        chips,
        work,
        max_jobs: d.max_jobs.unwrap_or(u64::MAX),
    }))
}

/// A Poisson job's work: a run time, chip-hours, or a workload (and its steps).
fn work(
    path: &str,
    d: &FileDemand,
    generation: Option<GenId>,
    ctx: &StreamContext,
) -> Built<WorkDist> {
    let (k, _) = one_of(
        path,
        &[
            ("run_time", d.run_time.as_ref().map(|_| ())),
            ("work_chip_hours", d.work_chip_hours.as_ref().map(|_| ())),
            ("workload", d.workload.as_ref().map(|_| ())),
        ],
    )?;
    if k != 2 && d.steps.is_some() {
        return bad(format!("{path}.steps"), STEPS_NEED_WORKLOAD);
    }
    Ok(match k {
        0 => WorkDist::RunTime(dist(
            &format!("{path}.run_time"),
            d.run_time.as_ref().expect("given"),
            true,
        )?),
        1 => WorkDist::ChipHours(dist(
            &format!("{path}.work_chip_hours"),
            d.work_chip_hours.as_ref().expect("given"),
            true,
        )?),
        _ => WorkDist::Workload(Box::new(workload_draw(path, d, generation, ctx)?)),
    })
}

/// `kind = "jobs"`: the jobs listed, each `count` times, sorted by submit time.
fn jobs(path: &str, d: &FileDemand, common: &Common, ctx: &StreamContext) -> Built<DemandStream> {
    let t = common.need_tenant(path)?;
    let names = ctx.names;
    let list = d.jobs.as_ref().expect("present for kind jobs");
    let mut out = Vec::new();
    for (i, j) in list.iter().enumerate() {
        let jp = format!("{path}.jobs[{i}]");
        let count = j.count.unwrap_or(1);
        if out.len() as u64 + count as u64 > MAX_JOBS as u64 {
            return bad(format!("{jp}.count"), "too many jobs");
        }
        let mut tpl = common.template(t, ctx.tenants);
        if let Some(p) = &j.priority {
            tpl.priority = names.priority(&format!("{jp}.priority"), p)?;
        }
        if let Some(p) = j.preemptible {
            tpl.preemptible = p;
        }
        if let Some(g) = &j.generation {
            tpl.generation = Some(names.generation(&format!("{jp}.generation"), g)?);
        }
        if let Some(c) = j.checkpoint {
            tpl.checkpoint_s = c.0;
        }
        let (chips, work, workload) = listed_job(&jp, j, tpl.generation, ctx)?;
        for _ in 0..count {
            out.push(JobSpec {
                tenant: t,
                submit_s: j.at.0,
                chips,
                work,
                priority: tpl.priority,
                preemptible: tpl.preemptible,
                checkpoint_s: tpl.checkpoint_s,
                generation: tpl.generation,
                workload,
            });
        }
    }
    out.sort_by_key(|j| j.submit_s);
    Ok(DemandStream::Jobs(Arc::new(out)))
}

/// How a trace file is read: its layout (column mapping, time format, fields) and units.
fn trace_format(path: &str, d: &FileDemand, common: &Common) -> Built<TraceFormat> {
    let format = d.format.unwrap_or(TraceKind::Csv);
    let (columnar, other) = match format {
        TraceKind::Philly | TraceKind::Csv => (true, ["tenant_field", "chips_field"]),
        TraceKind::Sacct | TraceKind::Swf => (false, ["columns", "time_format"]),
    };
    let given = [
        d.tenant_field.is_some(),
        d.chips_field.is_some(),
        d.columns.is_some(),
        d.time_format.is_some(),
    ];
    let foreign = if columnar { &given[..2] } else { &given[2..] };
    if let Some(k) = foreign.iter().position(|g| *g) {
        let which = if columnar {
            "sacct or swf"
        } else {
            "csv or philly"
        };
        return bad(
            format!("{path}.{}", other[k]),
            format!("only for a {which} trace"),
        );
    }
    let layout = match format {
        TraceKind::Philly | TraceKind::Csv => columns_layout(path, d, format, common)?,
        TraceKind::Sacct => Layout::Sacct {
            tenant: d.tenant_field.clone().unwrap_or_else(|| "Account".into()),
            chips: d
                .chips_field
                .clone()
                .unwrap_or_else(|| "AllocTRES:gres/gpu".into()),
        },
        TraceKind::Swf => swf_layout(path, d)?,
    };
    let chips_per_unit = d.chips_per_unit.unwrap_or(1.0);
    check_range(&format!("{path}.chips_per_unit"), chips_per_unit, 1e-6, 1e6)?;
    Ok(TraceFormat {
        layout,
        chips_per_unit,
        start_s: d.start.map_or(0, |x| x.0),
        limit: d.limit.unwrap_or(u64::MAX),
    })
}

/// A CSV trace's column mapping and time format.
fn columns_layout(path: &str, d: &FileDemand, format: TraceKind, common: &Common) -> Built<Layout> {
    let columns = match (&d.columns, format) {
        (Some(c), _) => Columns {
            submit: c.submit.clone(),
            run_time: c.run_time.clone(),
            chips: c.chips.clone(),
            tenant: c.tenant.clone(),
        },
        (None, TraceKind::Philly) => Columns::philly(),
        (None, _) => {
            return bad(
                format!("{path}.columns"),
                "missing; a csv trace needs a column mapping",
            );
        }
    };
    let time_format = d.time_format.unwrap_or(match format {
        TraceKind::Philly => TimeFormat::Datetime,
        _ => TimeFormat::Seconds,
    });
    if columns.tenant.is_none() && common.tenant.is_none() {
        return bad(
            format!("{path}.tenant"),
            "missing; a trace without a tenant column needs a stream tenant",
        );
    }
    Ok(Layout::Columns {
        columns,
        time_format,
    })
}

/// An SWF trace's tenant field (`user`, `group`, `queue`, `partition`) and gang field
/// (`allocated` or `requested` processors).
fn swf_layout(path: &str, d: &FileDemand) -> Built<Layout> {
    let pick = |key: &str, given: Option<&str>, default: SwfField, options: &[(&str, SwfField)]| {
        let Some(g) = given else { return Ok(default) };
        match options.iter().find(|(n, _)| *n == g) {
            Some((_, f)) => Ok(*f),
            None => {
                let names: Vec<&str> = options.iter().map(|o| o.0).collect();
                bad(
                    format!("{path}.{key}"),
                    format!(
                        "'{g}' is not an SWF field; expected one of: {}",
                        names.join(", ")
                    ),
                )
            }
        }
    };
    use SwfField::{Allocated, Group, Partition, Queue, Requested, User};
    Ok(Layout::Swf {
        tenant: pick(
            "tenant_field",
            d.tenant_field.as_deref(),
            User,
            &[
                ("user", User),
                ("group", Group),
                ("queue", Queue),
                ("partition", Partition),
            ],
        )?,
        chips: pick(
            "chips_field",
            d.chips_field.as_deref(),
            Allocated,
            &[("allocated", Allocated), ("requested", Requested)],
        )?,
    })
}

/// `kind = "trace"`: the jobs of a trace file (relative to the scenario's directory).
fn trace_stream(
    path: &str,
    d: &FileDemand,
    common: &Common,
    ctx: &StreamContext,
) -> Built<DemandStream> {
    let tenants = ctx.tenants;
    let rel = d.path.as_deref().map_or_else(
        || bad(format!("{path}.path"), "missing; expected a CSV file"),
        Ok,
    )?;
    let fmt = trace_format(path, d, common)?;
    let file: PathBuf = ctx.base_dir.join(rel);
    let text = (ctx.read)(&file).map_err(|e| match crate::config::located(&e) {
        Some(located) => BuildError::Other(located.into()),
        None => BuildError::At(Bad {
            path: format!("{path}.path"),
            message: format!("cannot read {}: {e}", file.display()),
        }),
    })?;
    let priorities: Vec<i32> = (0..tenants.len())
        .map(|t| common.template(t, tenants).priority)
        .collect();
    let unknown_tenant = d
        .default_tenant
        .as_deref()
        .map(|t| ctx.names.tenant(&format!("{path}.default_tenant"), t))
        .transpose()?;
    let defaults = TraceDefaults {
        tenant: common.tenant,
        unknown_tenant,
        priority: priorities,
        preemptible: d.preemptible.unwrap_or(true),
        checkpoint_s: common.checkpoint_s,
    };
    let declared: Vec<&str> = tenants.iter().map(|t| t.name.as_str()).collect();
    let mut jobs = trace::read(
        &text,
        &file.display().to_string(),
        &fmt,
        &defaults,
        &declared,
    )?;
    for j in &mut jobs {
        if tenants[j.tenant].spot {
            j.priority = SPOT_PRIORITY;
            j.preemptible = true;
        }
        j.generation = common.generation;
    }
    Ok(DemandStream::Jobs(Arc::new(jobs)))
}
