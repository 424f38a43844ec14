//! A fleet run's report as values: the tables (per tenant, time series, workload run times), the
//! charts and the HTML page, and the one list of metric names every report uses. Nothing here
//! writes a file; `cli::plan` decides where the bytes go.
//!
//! Lifecycle: a run ends in an [`Outcome`]; [`metrics`] names every number in its summary with
//! a dotted path (`fleet.utilization`, `tenants.NAME.queue_delay_s.p99`), the name sweeps
//! aggregate and `metrics.csv` prints; [`render`] makes stdout's text; [`files`] makes every file
//! of `plan --out`, `report.html` last.

use serde_json::{Map, Value};

use super::Outcome;
use super::metrics::Sample;
use super::time::{DAY_S, HOUR_S_F64, MINUTE_S};
use crate::report::charts::{self, Part, Series};
use crate::report::{Format, Table};

/// Fleet utilization: allocated over up chip-hours.
pub(crate) const UTILIZATION: &str = "fleet.utilization";

/// The name of a per-tenant metric (`queue_delay_s.p99`) of tenant `tenant`.
pub(crate) fn tenant_metric(tenant: &str, metric: &str) -> String {
    format!("tenants.{tenant}.{metric}")
}

/// Every leaf of a summary (`Outcome::summary_json`, or one tenant's object) with its dotted
/// name: objects by key, arrays by each element's `tenant` (else its index), so a metric is
/// named by what it measures, not by position.
pub(crate) fn metrics(summary: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    flatten("", summary, &mut out);
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                flatten(&join(k), x, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let name = x
                    .get("tenant")
                    .and_then(Value::as_str)
                    .map_or_else(|| i.to_string(), str::to_string);
                flatten(&join(&name), x, out);
            }
        }
        leaf => out.push((prefix.to_string(), leaf.clone())),
    }
}

/// Every per-tenant metric (`metrics.csv`), one row per tenant; a column is the metric's name
/// below `tenants.NAME.` (`queue_delay_s.p99`).
pub(crate) fn tenant_table(o: &Outcome) -> Table {
    let rows: Vec<Map<String, Value>> = o
        .tenants
        .iter()
        .map(|t| {
            metrics(&serde_json::to_value(t).expect("serializes"))
                .into_iter()
                .collect()
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

/// The run times workload jobs got: per workload and generation, the step as the chip simulator
/// timed it (compute, tensor- and data-parallel communication) and the run time of the
/// workload's own steps. `None` without workloads.
pub(crate) fn workload_table(o: &Outcome, simulations: usize) -> Option<Table> {
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
                round(g.run_s / HOUR_S_F64, 2),
            ]);
        }
    }
    Some(t)
}

/// The time series, one row per (time, series).
pub(crate) fn timeseries_table(o: &Outcome) -> Table {
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

/// `summary.json` as written: pretty JSON with a final newline.
pub(crate) fn summary_text(o: &Outcome) -> String {
    let mut s = serde_json::to_string_pretty(&o.summary_json()).expect("outcome serializes");
    s.push('\n');
    s
}

/// Every file of `plan --out`, `(file name, bytes)` in writing order: `summary.json`,
/// `metrics.csv`, `timeseries.csv`, the charts, and `report.html` (the tables given, then the
/// charts).
pub(crate) fn files(o: &Outcome, tables: Vec<Table>) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("summary.json".to_string(), summary_text(o).into_bytes()),
        (
            "metrics.csv".to_string(),
            tenant_table(o).render(Format::Csv).into_bytes(),
        ),
        (
            "timeseries.csv".to_string(),
            timeseries_table(o).render(Format::Csv).into_bytes(),
        ),
    ];
    let mut parts = vec![Part::Text(format!(
        "Scenario {}, policy {}, seed {}, horizon {} days.",
        o.scenario,
        o.policy,
        o.seed,
        o.horizon_s / DAY_S
    ))];
    parts.extend(tables.into_iter().map(Part::Table));
    for (file, title, svg) in plan_charts(o) {
        out.push((file, svg.clone().into_bytes()));
        parts.push(Part::Heading(title));
        parts.push(Part::Svg(svg));
    }
    let html = charts::html(&format!("trnsim plan: {}", o.scenario), &parts);
    out.push(("report.html".to_string(), html.into_bytes()));
    out
}

/// Charts of one fleet run: allocation stacked by tenant with the reservations and the fleet
/// installed, and the queueing-delay CDF per tenant (from job records, when the run kept them).
pub(crate) fn plan_charts(o: &Outcome) -> Vec<(String, String, String)> {
    let day = DAY_S as f64;
    let names: Vec<String> = o.tenants.iter().map(|t| t.tenant.clone()).collect();
    let series = |name: &str, f: &dyn Fn(&Sample) -> f64| Series {
        name: name.to_string(),
        points: o
            .timeseries
            .iter()
            .filter(|s| s.series == name)
            .map(|s| (s.time_s as f64 / day, f(s)))
            .collect(),
    };
    let stacked: Vec<Series> = names
        .iter()
        .map(|n| series(n, &|s| s.chips_allocated as f64))
        .collect();
    let mut lines: Vec<Series> = names
        .iter()
        .map(|n| {
            let mut s = series(n, &|s| s.chips_reserved as f64);
            s.name = format!("{n} reservation");
            s
        })
        .filter(|s| s.points.iter().any(|p| p.1 > 0.0))
        .collect();
    let mut up = series("*fleet*", &|s| s.chips_up as f64);
    up.name = "fleet (chips up)".into();
    lines.push(up);
    let alloc = charts::stacked(
        &format!(
            "{}: chips allocated by tenant ({} policy)",
            o.scenario, o.policy
        ),
        "time (days)",
        "chips",
        &stacked,
        &lines,
    );
    let mut cdfs = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let mut waits: Vec<f64> = o
            .jobs
            .iter()
            .filter(|j| j.tenant == i)
            .filter_map(|j| {
                j.first_start_s
                    .map(|s| ((s - j.submit_s) as f64).max(1.0) / HOUR_S_F64)
            })
            .collect();
        if !waits.is_empty() {
            cdfs.push((charts::cdf(n, &mut waits), None));
        }
    }
    let cdf = charts::lines(
        &format!(
            "{}: queueing delay per tenant (CDF; delays under 1 s drawn at 1 s)",
            o.scenario
        ),
        "queueing delay (hours, log scale)",
        "fraction of started jobs",
        &cdfs,
        true,
        None,
    );
    vec![
        (
            "allocation.svg".into(),
            "Allocation over time".into(),
            alloc,
        ),
        ("queue_delay_cdf.svg".into(), "Queueing delay".into(), cdf),
    ]
}

fn round(x: f64, digits: i32) -> Value {
    let k = 10f64.powi(digits);
    Value::from((x * k).round() / k)
}

fn human_s(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0}s")
    } else if s < 2.0 * HOUR_S_F64 {
        format!("{:.1}m", s / MINUTE_S as f64)
    } else if s < 3.0 * DAY_S as f64 {
        format!("{:.1}h", s / HOUR_S_F64)
    } else {
        format!("{:.1}d", s / DAY_S as f64)
    }
}

/// The report in a format: a headline table per tenant plus the fleet summary (table), the full
/// summary (JSON), or every per-tenant metric (CSV).
pub(crate) fn render(o: &Outcome, format: Format) -> String {
    match format {
        Format::Json => summary_text(o),
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
