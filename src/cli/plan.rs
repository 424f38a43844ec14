//! `trnsim plan`: run a fleet scenario and report per-tenant and fleet metrics.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{Error, Result};
use crate::fleet::{self, Outcome, Scenario, WorkloadRunTime};
use crate::report::{Format, Table};
use crate::workload::CostModel;

/// Options of `trnsim plan`.
#[derive(Clone, Debug, Default)]
pub struct PlanArgs {
    /// The scenario file.
    pub scenario: PathBuf,
    /// `key.path=value` overrides.
    pub set: Vec<(String, String)>,
    /// Seed (default: the scenario's).
    pub seed: Option<u64>,
    /// Output format of stdout.
    pub format: Format,
    /// Directory for `summary.json`, `metrics.csv`, `timeseries.csv`.
    pub out: Option<PathBuf>,
}

/// Split `KEY=VALUE` (the value may contain `=` and commas).
pub fn key_value(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!(
            "expected KEY=VALUE (e.g. policy.name=fair), found '{s}'"
        )),
    }
}

fn fleet_err(e: fleet::Error) -> Error {
    match e {
        fleet::Error::Invariant { .. } => Error::CheckFailed(e.to_string()),
        other => Error::Input(other.to_string()),
    }
}

/// Load, run, write the requested files, and return the report text.
pub fn plan(args: &PlanArgs) -> Result<String> {
    let scenario = Scenario::load(&args.scenario, &args.set).map_err(fleet_err)?;
    let seed = args.seed.unwrap_or(scenario.seed);
    // With --out, keep per-job records for the queueing-delay chart.
    let opts = fleet::RunOptions {
        record_jobs: args.out.is_some(),
        ..Default::default()
    };
    // Workload jobs are timed by the chip simulator, each distinct shape once.
    let cost = CostModel::new();
    let table = WorkloadRunTime::build(&scenario, &cost).map_err(fleet_err)?;
    let outcome = fleet::run_timed(&scenario, seed, &table, &opts).map_err(fleet_err)?;
    let simulations = cost.simulations();
    if let Some(dir) = &args.out {
        write_outputs(dir, &outcome)?;
        let mut tables = vec![tenant_table(&outcome)];
        tables.extend(workload_table(&outcome, simulations));
        super::sweep::write_plan_report(dir, &outcome, tables)?;
    }
    let mut text = render(&outcome, args.format);
    if args.format == Format::Table
        && let Some(t) = workload_table(&outcome, simulations)
    {
        text.push('\n');
        text.push_str(&t.render(Format::Table));
    }
    Ok(text)
}

/// The run times workload jobs got: per workload and generation, the step as the chip simulator
/// timed it (compute, tensor- and data-parallel communication) and the run time of the
/// workload's own steps. `None` without workloads.
pub fn workload_table(o: &Outcome, simulations: usize) -> Option<Table> {
    if o.workloads.is_empty() {
        return None;
    }
    let mut t = Table::new([
        "workload",
        "generation",
        "hw",
        "model",
        "phase",
        "dtype",
        "batch",
        "seq",
        "tp",
        "dp",
        "chips",
        "compute_s",
        "tp_comm_s",
        "dp_comm_s",
        "step_s",
        "steps",
        "run_h",
    ])
    .with_title(format!(
        "workload run times from the chip simulator ({simulations} shapes simulated; a job \
         runs steps x step_s on the generation it gets)"
    ));
    for r in &o.workloads {
        let w = &r.workload;
        for g in &r.generations {
            t.push(vec![
                r.name.clone().into(),
                g.generation.clone().into(),
                g.hw.clone().into(),
                w.model.clone().into(),
                serde_json::to_value(w.phase).expect("serializes"),
                w.dtype.clone().into(),
                w.batch.into(),
                w.seq.into(),
                w.tp.into(),
                w.dp.into(),
                r.chips.into(),
                round(g.step.compute_s, 4),
                round(g.step.tp_comm_s, 4),
                round(g.step.dp_comm_s, 4),
                round(g.step.step_s, 4),
                w.steps.into(),
                round(g.run_s / 3600.0, 2),
            ]);
        }
    }
    Some(t)
}

/// Write `summary.json`, `metrics.csv` and `timeseries.csv` into `dir` (created if missing),
/// each atomically.
pub fn write_outputs(dir: &Path, outcome: &Outcome) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?;
    let mut summary =
        serde_json::to_string_pretty(&outcome.summary_json()).expect("outcome serializes");
    summary.push('\n');
    super::write_atomic(&dir.join("summary.json"), summary.as_bytes())?;
    super::write_atomic(
        &dir.join("metrics.csv"),
        tenant_table(outcome).render(Format::Csv).as_bytes(),
    )?;
    super::write_atomic(
        &dir.join("timeseries.csv"),
        timeseries_table(outcome).render(Format::Csv).as_bytes(),
    )?;
    Ok(())
}

/// Flatten `{"a": {"b": 1}}` into `a_b = 1`.
fn flatten(prefix: &str, v: &Value, out: &mut Map<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}_{k}")
                };
                flatten(&key, x, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

/// Every per-tenant metric, one row per tenant, nested keys flattened with `_`.
pub fn tenant_table(o: &Outcome) -> Table {
    let rows: Vec<Map<String, Value>> = o
        .tenants
        .iter()
        .map(|t| {
            let mut m = Map::new();
            flatten("", &serde_json::to_value(t).expect("serializes"), &mut m);
            m
        })
        .collect();
    let columns: Vec<String> = rows
        .first()
        .map_or_else(Vec::new, |r| r.keys().cloned().collect());
    let mut table = Table::new(columns.clone());
    for r in rows {
        table.push(columns.iter().map(|c| r[c].clone()).collect());
    }
    table
}

/// The time series, one row per (time, series).
pub fn timeseries_table(o: &Outcome) -> Table {
    let mut table = Table::new([
        "time_s",
        "series",
        "chips_installed",
        "chips_up",
        "chips_allocated",
        "chips_nominal",
        "chips_reserved",
        "chips_borrowed",
        "jobs_queued",
        "chips_queued",
        "chips_fragmented",
    ]);
    for s in &o.timeseries {
        table.push(vec![
            s.time_s.into(),
            s.series.clone().into(),
            s.chips_installed.into(),
            s.chips_up.into(),
            s.chips_allocated.into(),
            s.chips_nominal.into(),
            s.chips_reserved.into(),
            s.chips_borrowed.into(),
            s.jobs_queued.into(),
            s.chips_queued.into(),
            s.chips_fragmented.into(),
        ]);
    }
    table
}

fn round(x: f64, digits: i32) -> Value {
    let k = 10f64.powi(digits);
    Value::from((x * k).round() / k)
}

fn human_s(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0}s")
    } else if s < 7200.0 {
        format!("{:.1}m", s / 60.0)
    } else if s < 3.0 * 86_400.0 {
        format!("{:.1}h", s / 3600.0)
    } else {
        format!("{:.1}d", s / 86_400.0)
    }
}

/// The report in a format: a headline table per tenant plus the fleet summary (table), the full
/// summary (JSON), or every per-tenant metric (CSV).
pub fn render(o: &Outcome, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&o.summary_json()).expect("serializes");
            s.push('\n');
            s
        }
        Format::Csv => tenant_table(o).render(Format::Csv),
        Format::Table => {
            let mut t = Table::new([
                "tenant",
                "submitted",
                "completed",
                "queued",
                "rejected",
                "served_chip_h",
                "wait_p50",
                "wait_p99",
                "wait_max",
                "preempted",
                "lost_chip_h",
                "honoured",
                "borrowed_chip_h",
                "lent_chip_h",
                "reclaim_p99",
            ])
            .with_title(format!(
                "scenario {}: policy {}, seed {}, horizon {}",
                o.scenario,
                o.policy,
                o.seed,
                human_s(o.horizon_s as f64)
            ));
            for m in &o.tenants {
                let d = &m.queue_delay_s;
                let wait = |x: f64| {
                    if d.count == 0 {
                        Value::from("-")
                    } else {
                        Value::from(human_s(x))
                    }
                };
                t.push(vec![
                    m.tenant.clone().into(),
                    m.jobs_submitted.into(),
                    m.jobs_completed.into(),
                    m.jobs_queued.into(),
                    m.jobs_rejected.into(),
                    round(m.chip_hours_served, 0),
                    wait(d.p50),
                    wait(d.p99),
                    wait(d.max),
                    m.preemptions.into(),
                    round(m.chip_hours_lost, 0),
                    m.reservation_honoured.map_or(Value::from("-"), |h| {
                        Value::from(format!("{:.1}%", h * 100.0))
                    }),
                    round(m.chip_hours_borrowed, 0),
                    round(m.chip_hours_lent, 0),
                    if m.reclaim_s.count == 0 {
                        Value::from("-")
                    } else {
                        Value::from(human_s(m.reclaim_s.p99))
                    },
                ]);
            }
            let f = &o.fleet;
            let mut fleet = Table::new(["fleet", "value"]);
            for (k, v) in [
                ("chips installed", Value::from(f.chips_installed)),
                ("GW installed", round(f.gw_installed, 3)),
                (
                    "utilization",
                    Value::from(format!("{:.1}%", f.utilization * 100.0)),
                ),
                (
                    "idle reserved chip-hours",
                    round(f.chip_hours_idle_reserved, 0),
                ),
                ("fragmented chips (mean)", round(f.fragmented_chips_mean, 1)),
                (
                    "fragmentation",
                    Value::from(format!("{:.1}%", f.fragmentation * 100.0)),
                ),
                ("failures", Value::from(f.failures)),
                ("events", Value::from(f.events)),
            ] {
                fleet.push(vec![
                    Value::from(k),
                    Value::from(crate::report::cell_text(&v)),
                ]);
            }
            format!(
                "{}\n{}",
                t.render(Format::Table),
                fleet.render(Format::Table)
            )
        }
    }
}
