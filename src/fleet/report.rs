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
use super::time::{DAY_S, HOUR_S_F64};
use crate::report::charts::{self, Banded, Part, Series};
use crate::report::{Format, Table};

/// Fleet utilization: allocated over up chip-hours.
pub(crate) const UTILIZATION: &str = "fleet.utilization";

/// The name of a per-tenant metric (`queue_delay_s.p99`) of tenant `tenant`.
pub(crate) fn tenant_metric(tenant: &str, metric: &str) -> String {
    format!("tenants.{tenant}.{metric}")
}

/// Every leaf of a summary (`Outcome::summary_json`, or one tenant's object) with its dotted
/// name: objects by key, arrays by each element's `tenant` or `name` (else its index), so a
/// metric is named by what it measures, not by position (`probes.NAME.wait_s.p90`). A time
/// series (an array of arrays: a probe's `series`) is not a metric and is left out.
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
        Value::Array(a) if a.first().is_some_and(Value::is_array) => {}
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let name = x
                    .get("tenant")
                    .or_else(|| x.get("name"))
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
    // Columns of every row, in first-seen order; a `null` object (one tenant's
    // `reservation_delivered`) is left out where another row has its fields.
    let mut columns: Vec<String> = Vec::new();
    for r in &rows {
        for k in r.keys() {
            if !columns.contains(k) {
                columns.push(k.clone());
            }
        }
    }
    let parents: Vec<String> = columns
        .iter()
        .filter(|c| columns.iter().any(|d| d.starts_with(&format!("{c}."))))
        .cloned()
        .collect();
    columns.retain(|c| !parents.contains(c));
    let mut table = Table::new(columns.clone());
    for r in rows {
        table.push(
            columns
                .iter()
                .map(|c| r.get(c).cloned().unwrap_or(Value::Null))
                .collect(),
        );
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
        "work_queued",
        "work_demanded",
        "work_served",
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
            round(s.work_queued, 3),
            round(s.work_demanded, 3),
            round(s.work_served, 3),
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

/// Where a run's report came from: the scenario file's hash and every override typed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Provenance {
    /// [`fnv1a_hex`] of the scenario file's bytes.
    pub scenario_hash: String,
    /// `(flag, key, value)` of each override, in command-line order (`--set`; a sweep's
    /// `--vary` lists its values comma-separated).
    pub overrides: Vec<(String, String, String)>,
}

impl Provenance {
    /// The `overrides` key of `summary.json`: `[{flag, key, value}]`.
    pub(crate) fn overrides_json(&self) -> Value {
        Value::Array(
            self.overrides
                .iter()
                .map(|(f, k, v)| serde_json::json!({"flag": f, "key": k, "value": v}))
                .collect(),
        )
    }

    /// One line for the report's head.
    pub(crate) fn text(&self) -> String {
        let o: Vec<String> = self
            .overrides
            .iter()
            .map(|(f, k, v)| format!("{f} {k}={v}"))
            .collect();
        format!(
            "scenario hash {} (FNV-1a 64 of the file's bytes); overrides: {}",
            self.scenario_hash,
            if o.is_empty() {
                "none".to_string()
            } else {
                o.join(" ")
            }
        )
    }
}

/// FNV-1a (64-bit) of `bytes` as 16 hex digits: a stable fingerprint of a scenario file (not a
/// cryptographic hash; it tells two files apart, as `sweep merge` and the reports need).
pub(crate) fn fnv1a_hex(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Every file of `plan --out`, `(file name, bytes)` in writing order: `summary.json` (the
/// summary plus `scenario_hash` and `overrides`), `metrics.csv`, `timeseries.csv`, the charts,
/// and `report.html`: the answer first (run and fleet summary, the planner's table, the
/// charts), then the details (the other tables, `tables` last).
pub(crate) fn files(o: &Outcome, tables: Vec<Table>, p: &Provenance) -> Vec<(String, Vec<u8>)> {
    let mut summary = o.summary_json();
    if let Value::Object(m) = &mut summary {
        m.insert("scenario_hash".into(), Value::from(p.scenario_hash.clone()));
        m.insert("overrides".into(), p.overrides_json());
    }
    let mut summary = serde_json::to_string_pretty(&summary).expect("summary serializes");
    summary.push('\n');
    let mut out = vec![
        ("summary.json".to_string(), summary.into_bytes()),
        (
            "metrics.csv".to_string(),
            tenant_table(o).render(Format::Csv).into_bytes(),
        ),
        (
            "timeseries.csv".to_string(),
            timeseries_table(o).render(Format::Csv).into_bytes(),
        ),
    ];
    let mut head = format!(
        "Scenario {}, policy {}, seed {}, horizon {}; {}.",
        o.scenario,
        o.policy,
        o.seed,
        human_s(o.horizon_s as f64),
        p.text()
    );
    if o.timeseries_samples_per_row > 1 {
        head.push_str(&format!(
            " The time series merges every {} adjacent samples into one row (each column its \
             maximum over them, the time the last one's), to stay bounded.",
            o.timeseries_samples_per_row
        ));
    }
    let mut parts = vec![
        Part::Text(head),
        Part::Table(fleet_table(o)),
        Part::Table(planner_table(o)),
    ];
    parts.extend(probe_table(o).map(Part::Table));
    parts.extend(blocks_table(o).map(Part::Table));
    for (file, title, svg) in plan_charts(o) {
        out.push((file, svg.clone().into_bytes()));
        parts.push(Part::Heading(title));
        parts.push(Part::Svg(svg));
    }
    parts.push(Part::Heading("Details".into()));
    parts.push(Part::Table(details_table(o)));
    parts.extend(tables.into_iter().map(Part::Table));
    let html = charts::html(&format!("trnsim plan: {}", o.scenario), &parts);
    out.push(("report.html".to_string(), html.into_bytes()));
    out
}

/// One tenant series of the time series (`name`), times in `u`.
fn over_time(o: &Outcome, name: &str, u: TimeUnit, f: &dyn Fn(&Sample) -> f64) -> Series {
    Series {
        name: name.to_string(),
        points: o
            .timeseries
            .iter()
            .filter(|s| s.series == name)
            .map(|s| (s.time_s as f64 / u.s, f(s)))
            .collect(),
    }
}

/// Charts of one fleet run: allocation stacked by tenant with the reservations and the fleet
/// up; per tenant the share of its demanded work served and its backlog over time; and the
/// censored-wait CDF per tenant from its fixed-size quantile summary (so the chart's size does
/// not grow with the jobs). Times in hours, or days past a year (`time_unit`).
pub(crate) fn plan_charts(o: &Outcome) -> Vec<(String, String, String)> {
    let u = time_unit(o.horizon_s);
    let x_label = format!("time ({})", unit_name(u));
    let names: Vec<String> = o.tenants.iter().map(|t| t.tenant.clone()).collect();
    let stacked: Vec<Series> = names
        .iter()
        .map(|n| over_time(o, n, u, &|s| s.chips_allocated as f64))
        .collect();
    let mut lines: Vec<Series> = names
        .iter()
        .map(|n| {
            let mut s = over_time(o, n, u, &|s| s.chips_reserved as f64);
            s.name = format!("{n} reservation");
            s
        })
        .filter(|s| s.points.iter().any(|p| p.1 > 0.0))
        .collect();
    let mut up = over_time(o, "*fleet*", u, &|s| s.chips_up as f64);
    up.name = "fleet (chips up)".into();
    lines.push(up);
    let alloc = charts::stacked(
        &format!(
            "{}: chips allocated by tenant ({} policy)",
            o.scenario, o.policy
        ),
        &x_label,
        "chips",
        &stacked,
        &lines,
    );
    let per_tenant = |f: &dyn Fn(&Sample) -> f64| -> Vec<Banded> {
        names
            .iter()
            .map(|n| (over_time(o, n, u, f), None))
            .collect()
    };
    let served = charts::lines(
        &format!(
            "{}: share of demanded work served so far (ended runs; reference chip-hours)",
            o.scenario
        ),
        &x_label,
        "work served / work demanded, cumulative (%)",
        &per_tenant(&|s| {
            if s.work_demanded > 0.0 {
                100.0 * s.work_served / s.work_demanded
            } else {
                100.0
            }
        }),
        false,
        None,
    );
    let peak = o
        .timeseries
        .iter()
        .filter(|s| names.contains(&s.series))
        .map(|s| s.work_queued)
        .fold(0.0, f64::max);
    let (scale, scale_name) = magnitude(peak);
    let backlog = charts::lines(
        &format!("{}: backlog per tenant (work of waiting jobs)", o.scenario),
        &x_label,
        &format!("work queued ({scale_name}reference chip-hours)"),
        &per_tenant(&|s| s.work_queued / scale),
        false,
        None,
    );
    let mut charts = vec![
        (
            "allocation.svg".into(),
            "Allocation over time".into(),
            alloc,
        ),
        (
            "served_share.svg".into(),
            "Served share over time".into(),
            served,
        ),
        ("backlog.svg".into(), "Backlog over time".into(), backlog),
        (
            "queue_delay_cdf.svg".into(),
            "Waits (censored, Kaplan-Meier)".into(),
            wait_cdf(o, u),
        ),
    ];
    charts.extend(probe_chart(o));
    charts
}

/// "Time to N chips" (`[probes.NAME]`), one row per probe: its request, how many probe times
/// got no start in the horizon, and the waits of those that did. `None` without probes.
pub(crate) fn probe_table(o: &Outcome) -> Option<Table> {
    if o.probes.is_empty() {
        return None;
    }
    let u = time_unit(o.horizon_s);
    let mut t = Table::new([
        "probe".to_string(),
        "generation".into(),
        "chips".into(),
        format!("duration_{}", u.suffix),
        "probe_times".into(),
        "unserved".into(),
        format!("wait_p50_{}", u.suffix),
        format!("wait_p90_{}", u.suffix),
        format!("wait_max_{}", u.suffix),
    ])
    .with_title(
        "time to N chips: at each probe time, the earliest start of a new request under the \
         calendar, reservations, running jobs and the queue ahead (chips, not UltraServers), \
         without changing the run; unserved = no start before the horizon",
    );
    for p in &o.probes {
        let w = |f: fn(&super::metrics::ProbeWaits) -> f64| {
            p.wait_s
                .as_ref()
                .map_or(Value::from("-"), |x| u.show(f(x), false))
        };
        t.push(vec![
            p.name.clone().into(),
            p.generation.clone().into(),
            thousands(p.chips as f64, 0).into(),
            u.show(p.duration_s as f64, false),
            thousands(p.probe_times as f64, 0).into(),
            thousands(p.unserved as f64, 0).into(),
            w(|x| x.p50),
            w(|x| x.p90),
            w(|x| x.max),
        ]);
    }
    Some(t)
}

/// The probes' waits against time, one line per probe; a probe time with no start in the
/// horizon is marked on a second series at `horizon - t` (the wait is longer than that).
fn probe_chart(o: &Outcome) -> Option<(String, String, String)> {
    if o.probes.is_empty() {
        return None;
    }
    let day = DAY_S as f64;
    let mut series = Vec::new();
    for p in &o.probes {
        let pts = |served: bool| -> Vec<(f64, f64)> {
            p.series
                .iter()
                .filter(|s| s.1.is_some() == served)
                .map(|&(t, w)| {
                    let wait = w.unwrap_or(o.horizon_s.saturating_sub(t));
                    (t as f64 / day, wait as f64 / day)
                })
                .collect()
        };
        let label = format!(
            "{} ({} chips of {})",
            p.name,
            thousands(p.chips as f64, 0),
            p.generation
        );
        series.push((
            Series {
                name: label.clone(),
                points: pts(true),
            },
            None,
        ));
        let unserved = pts(false);
        if !unserved.is_empty() {
            series.push((
                Series {
                    name: format!("{label}: no start in the horizon (wait > horizon - t)"),
                    points: unserved,
                },
                None,
            ));
        }
    }
    let svg = charts::lines(
        &format!(
            "{}: time to N chips (earliest start minus probe time)",
            o.scenario
        ),
        "probe time (days)",
        "wait (days)",
        &series,
        false,
        None,
    );
    Some(("probes.svg".into(), "Time to N chips".into(), svg))
}

/// The censored-wait CDF per tenant: its Kaplan-Meier curve at
/// [`super::metrics::WaitQuantiles::STEPS`] probabilities (a curve stops where jobs still
/// waiting at the horizon keep it from rising further).
fn wait_cdf(o: &Outcome, u: TimeUnit) -> String {
    let floor_s = 1.0;
    let cdfs: Vec<Banded> = o
        .tenants
        .iter()
        .filter(|t| !t.wait_quantiles_s.points.is_empty())
        .map(|t| {
            let points = t
                .wait_quantiles_s
                .points
                .iter()
                .map(|&(p, w)| ((w as f64).max(floor_s) / u.s, p))
                .collect();
            (
                Series {
                    name: t.tenant.clone(),
                    points,
                },
                None,
            )
        })
        .collect();
    charts::lines(
        &format!(
            "{}: wait per tenant, every submitted job (Kaplan-Meier; waits under 1 s drawn at 1 s)",
            o.scenario
        ),
        &format!("wait ({}, log scale)", unit_name(u)),
        "share of submitted jobs started",
        &cdfs,
        true,
        None,
    )
}

/// A power of a thousand to show values up to `peak` in, with its name (`million `).
fn magnitude(peak: f64) -> (f64, &'static str) {
    [(1e9, "billion "), (1e6, "million "), (1e3, "thousand ")]
        .into_iter()
        .find(|(k, _)| peak >= 10.0 * k)
        .unwrap_or((1.0, ""))
}

/// The unit's name on an axis.
fn unit_name(u: TimeUnit) -> &'static str {
    if u.suffix == "d" { "days" } else { "hours" }
}

fn round(x: f64, digits: i32) -> Value {
    let k = 10f64.powi(digits);
    Value::from((x * k).round() / k)
}

fn human_s(s: f64) -> String {
    if s < 3.0 * DAY_S as f64 {
        format!("{:.1}h", s / HOUR_S_F64)
    } else {
        format!("{:.1}d", s / DAY_S as f64)
    }
}

/// The unit a table shows times in, chosen by the horizon: hours, or days past a year.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TimeUnit {
    /// Header suffix (`h`, `d`).
    pub suffix: &'static str,
    /// Seconds per unit.
    pub s: f64,
    /// Decimals shown.
    pub digits: usize,
}

/// Hours for horizons up to a year, days beyond (an 8-year run's waits read in days).
pub(crate) fn time_unit(horizon_s: u64) -> TimeUnit {
    if horizon_s > 366 * DAY_S {
        TimeUnit {
            suffix: "d",
            s: DAY_S as f64,
            digits: 2,
        }
    } else {
        TimeUnit {
            suffix: "h",
            s: HOUR_S_F64,
            digits: 1,
        }
    }
}

impl TimeUnit {
    /// `x` seconds in this unit, `> ` in front when it is a lower bound.
    pub(crate) fn show(&self, x_s: f64, lower_bound: bool) -> Value {
        let v = thousands(x_s / self.s, self.digits);
        Value::from(if lower_bound { format!("> {v}") } else { v })
    }
}

/// `x` with `digits` decimals and thousands separators (`1,234,567.8`).
pub(crate) fn thousands(x: f64, digits: usize) -> String {
    let text = format!("{:.*}", digits, x.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    if x < 0.0 && text.chars().any(|c| c.is_ascii_digit() && c != '0') {
        out.insert(0, '-');
    }
    out
}

/// A share as a percentage with one decimal.
pub(crate) fn pct(x: f64) -> Value {
    Value::from(format!("{:.1}", x * 100.0))
}

/// What a planner reads first, per tenant: the share of its work served, the work left
/// unserved, jobs never started, whether its backlog still grows, censored waits (p50, p99, the
/// p99 of its largest gang class), and reservation delivery within the grace.
pub(crate) fn planner_table(o: &Outcome) -> Table {
    let u = time_unit(o.horizon_s);
    let mut t = Table::new([
        "tenant".to_string(),
        "submitted".into(),
        "never_started".into(),
        "served_%".into(),
        "unserved_work_chip_h".into(),
        "backlog".into(),
        format!("wait_p50_{}", u.suffix),
        format!("wait_p99_{}", u.suffix),
        "waited_%".into(),
        "largest_gang_chips".into(),
        format!("gang_wait_p99_{}", u.suffix),
        "reserved_within_grace_%".into(),
    ])
    .with_title(format!(
        "scenario {}: policy {}, seed {}, horizon {}; work in reference chip-hours, waits over \
         every submitted job (Kaplan-Meier, unstarted jobs censored at the horizon; '>' marks a \
         lower bound)",
        o.scenario,
        o.policy,
        o.seed,
        human_s(o.horizon_s as f64)
    ));
    for m in &o.tenants {
        let w = &m.wait_s;
        let gang = m.wait_by_gang_s.largest();
        t.push(vec![
            m.tenant.clone().into(),
            thousands(m.jobs_submitted as f64, 0).into(),
            thousands(m.jobs_never_started as f64, 0).into(),
            pct(m.work.served_share),
            thousands(m.work.work_unserved, 0).into(),
            (if m.backlog_growing {
                "growing"
            } else {
                "stable"
            })
            .into(),
            u.show(w.p50, w.p50_lower_bound),
            u.show(w.p99, w.p99_lower_bound),
            pct(w.waited_share),
            gang.map_or(Value::from("-"), |g| g.0.into()),
            gang.map_or(Value::from("-"), |g| u.show(g.1.p99, g.1.p99_lower_bound)),
            m.reservation_delivered
                .as_ref()
                .map_or(Value::from("-"), |r| pct(r.within_grace)),
        ]);
    }
    t
}

/// The rest of the per-tenant figures: started jobs' delays, preemption, reservation honour,
/// borrowing and lending.
fn details_table(o: &Outcome) -> Table {
    let u = time_unit(o.horizon_s);
    let mut t = Table::new([
        "tenant".to_string(),
        "completed".into(),
        "queued".into(),
        "rejected".into(),
        "served_chip_h".into(),
        format!("started_wait_p50_{}", u.suffix),
        format!("started_wait_p99_{}", u.suffix),
        format!("started_wait_max_{}", u.suffix),
        "preempted".into(),
        "lost_chip_h".into(),
        "honoured_%".into(),
        "borrowed_chip_h".into(),
        "lent_chip_h".into(),
        format!("reclaim_p99_{}", u.suffix),
    ])
    .with_title("per tenant: started jobs' waits, preemption, reservation honour (share of time), borrowing; chip-hours held");
    for m in &o.tenants {
        let d = &m.queue_delay_s;
        let wait = |x: f64| {
            if d.count == 0 {
                Value::from("-")
            } else {
                u.show(x, false)
            }
        };
        t.push(vec![
            m.tenant.clone().into(),
            thousands(m.jobs_completed as f64, 0).into(),
            thousands(m.jobs_queued as f64, 0).into(),
            thousands(m.jobs_rejected as f64, 0).into(),
            thousands(m.chip_hours_served, 0).into(),
            wait(d.p50),
            wait(d.p99),
            wait(d.max),
            thousands(m.preemptions as f64, 0).into(),
            thousands(m.chip_hours_lost, 0).into(),
            m.reservation_honoured.map_or(Value::from("-"), pct),
            thousands(m.chip_hours_borrowed, 0).into(),
            thousands(m.chip_hours_lent, 0).into(),
            if m.reclaim_s.count == 0 {
                Value::from("-")
            } else {
                u.show(m.reclaim_s.p99, false)
            },
        ]);
    }
    t
}

/// Capacity Blocks per tenant and generation (`None` when no tenant requested any): requests,
/// bookings, lead times, block chip-hours booked and delivered, late starts.
pub(crate) fn blocks_table(o: &Outcome) -> Option<Table> {
    if o.tenants.iter().all(|m| m.capacity_blocks.is_empty()) {
        return None;
    }
    let u = time_unit(o.horizon_s);
    let mut t = Table::new([
        "tenant".to_string(),
        "generation".into(),
        "requested".into(),
        "accepted".into(),
        "refused".into(),
        format!("lead_p50_{}", u.suffix),
        format!("lead_p90_{}", u.suffix),
        "booked_chip_h".into(),
        "delivered_chip_h".into(),
        "late_starts".into(),
    ])
    .with_title(
        "Capacity Blocks: lead = booked start - request (accepted ones); chip-hours from start \
         to termination (30 min before the end), within the horizon",
    );
    for m in &o.tenants {
        for (g, b) in &m.capacity_blocks {
            let lead = |x: f64| {
                if b.accepted == 0 {
                    Value::from("-")
                } else {
                    u.show(x, false)
                }
            };
            t.push(vec![
                m.tenant.clone().into(),
                g.clone().into(),
                thousands(b.requested as f64, 0).into(),
                thousands(b.accepted as f64, 0).into(),
                thousands(b.refused as f64, 0).into(),
                lead(b.lead_time_s.p50),
                lead(b.lead_time_s.p90),
                thousands(b.block_hours_booked, 0).into(),
                thousands(b.block_hours_delivered, 0).into(),
                thousands(b.late_starts as f64, 0).into(),
            ]);
        }
    }
    Some(t)
}

/// The fleet's figures, one per row.
fn fleet_table(o: &Outcome) -> Table {
    let f = &o.fleet;
    let mut fleet = Table::new(["fleet", "value"]);
    for (k, v) in [
        ("chips installed", thousands(f.chips_installed as f64, 0)),
        ("GW installed", format!("{:.3}", f.gw_installed)),
        ("utilization %", format!("{:.1}", f.utilization * 100.0)),
        (
            "work demanded (reference chip-h)",
            thousands(f.work.work_demanded, 0),
        ),
        (
            "work served %",
            format!("{:.1}", f.work.served_share * 100.0),
        ),
        (
            "work unserved (reference chip-h)",
            thousands(f.work.work_unserved, 0),
        ),
        (
            "jobs never started",
            thousands(f.jobs_never_started as f64, 0),
        ),
        (
            "idle reserved chip-h",
            thousands(f.chip_hours_idle_reserved, 0),
        ),
        (
            "fragmented chips (mean)",
            thousands(f.fragmented_chips_mean, 1),
        ),
        ("fragmentation %", format!("{:.1}", f.fragmentation * 100.0)),
        ("failures", thousands(f.failures as f64, 0)),
        ("events", thousands(f.events as f64, 0)),
    ] {
        fleet.push(vec![Value::from(k), Value::from(v)]);
    }
    fleet
}

/// The report in a format: a headline table per tenant plus the fleet summary (table), the full
/// summary (JSON), or every per-tenant metric (CSV).
pub(crate) fn render(o: &Outcome, format: Format) -> String {
    match format {
        Format::Json => summary_text(o),
        Format::Csv => tenant_table(o).render(Format::Csv),
        Format::Table => format!(
            "{}\n{}\n{}{}{}",
            planner_table(o).render(Format::Table),
            details_table(o).render(Format::Table),
            blocks_table(o).map_or(String::new(), |t| t.render(Format::Table) + "\n"),
            fleet_table(o).render(Format::Table),
            probe_table(o).map_or(String::new(), |t| format!("\n{}", t.render(Format::Table)))
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators_and_units() {
        let t = [0.0, 999.0, 1000.0, 1_234_567.891, -12_345.6].map(|x| thousands(x, 1));
        assert_eq!(t, ["0.0", "999.0", "1,000.0", "1,234,567.9", "-12,345.6"]);
        assert_eq!(thousands(-0.04, 1), "0.0");
        assert_eq!(time_unit(26 * 7 * DAY_S).suffix, "h");
        assert_eq!(time_unit(8 * 365 * DAY_S).suffix, "d");
        assert_eq!(time_unit(DAY_S).show(5400.0, true), Value::from("> 1.5"));
    }
}
