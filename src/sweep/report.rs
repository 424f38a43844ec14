//! A sweep's report as values: the headline table (mean ± 95 % CI per point), every metric of
//! every point, the JSON summary, the charts and the HTML page. Nothing here writes a file;
//! `cli::sweep` decides where the bytes go. Metrics are named as [`crate::fleet::report`] names
//! them.

use serde_json::Value;

use super::{PointStats, Runs, Stat};
use crate::fleet::report::{
    Provenance, TimeUnit, UTILIZATION, tenant_metric, thousands, time_unit,
};
use crate::report::charts::{self, Banded, Part, Series};
use crate::report::{Format, Table};

fn stat<'a>(p: &'a PointStats, path: &str) -> Option<&'a Stat> {
    p.metrics.iter().find(|(k, _)| k == path).map(|(_, s)| s)
}

/// Tenant names in the summaries' order.
fn tenants(stats: &[PointStats]) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(p) = stats.first() {
        for (k, _) in &p.metrics {
            if let Some(rest) = k.strip_prefix("tenants.")
                && let Some((name, _)) = rest.split_once('.')
                && !out.iter().any(|n| n == name)
            {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// Probe names (`[probes.NAME]`) in the summaries' order.
fn probes(stats: &[PointStats]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if let Some(p) = stats.first() {
        for (k, _) in &p.metrics {
            if let Some(name) = k
                .strip_prefix("probes.")
                .and_then(|r| r.strip_suffix(".unserved"))
                && !out.iter().any(|n| n == name)
            {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// The time unit of the sweep's tables and charts, by its runs' horizon.
fn unit_of(runs: &Runs) -> TimeUnit {
    let horizon_s = runs
        .runs
        .first()
        .and_then(|r| r.summary.get("horizon_s")?.as_u64())
        .unwrap_or(0);
    time_unit(horizon_s)
}

fn pm(s: Option<&Stat>, scale: f64, digits: usize) -> Value {
    match s {
        Some(s) if s.n > 1 => Value::from(format!(
            "{} ± {}",
            thousands(s.mean * scale, digits),
            thousands(s.ci95 * scale, digits)
        )),
        Some(s) => Value::from(thousands(s.mean * scale, digits)),
        None => Value::Null,
    }
}

/// A lower-bound flag's mean over the seeds: a `> ` in front of the figure when any seed's
/// percentile was a lower bound.
fn bounded(v: Value, flag: Option<&Stat>) -> Value {
    match (v, flag) {
        (Value::String(t), Some(f)) if f.mean > 0.0 => Value::from(format!("> {t}")),
        (v, _) => v,
    }
}

/// The headline table: per point, one row per tenant and one for the fleet, as mean ± 95 % CI
/// over the seeds: the share of the work served (%), the work left unserved (reference
/// chip-hours), the share of seeds whose backlog still grows, censored waits over every
/// submitted job (p50, p99, the p99 of gangs over 4,096 chips), the reservation delivered
/// within the grace (%), the fleet's utilization (%); when the scenario has workload jobs
/// (whose run times change with the chip model's inputs), also each tenant's mean job run
/// time. Times in hours, or days past a one-year horizon.
pub(crate) fn headline(runs: &Runs, stats: &[PointStats]) -> Table {
    let names = tenants(stats);
    let timed = stats
        .first()
        .is_some_and(|p| p.metrics.iter().any(|(k, _)| k.starts_with("workloads.")));
    let u = unit_of(runs);
    let mut cols: Vec<String> = runs.grid.vary.iter().map(|v| v.key.clone()).collect();
    cols.extend([
        "tenant".to_string(),
        "served_%".into(),
        "unserved_work_chip_h".into(),
        "backlog_growing_%".into(),
        format!("wait_p50_{}", u.suffix),
        format!("wait_p99_{}", u.suffix),
        format!("gang_gt_4096_wait_p99_{}", u.suffix),
        "reserved_within_grace_%".into(),
        "utilization_%".into(),
    ]);
    if timed {
        cols.push(format!("run_mean_{}", u.suffix));
    }
    let mut t = Table::new(cols).with_title(format!(
        "sweep of {} ({} points x {} seeds; mean ± 95 % CI; work in reference chip-hours; waits \
         over every submitted job, unstarted ones censored at the horizon, '>' a lower bound)",
        runs.grid.scenario,
        runs.grid.len(),
        runs.grid.seeds
    ));
    for p in stats {
        let head: Vec<Value> = p
            .point
            .values
            .iter()
            .map(|(_, v)| Value::from(v.clone()))
            .collect();
        for n in &names {
            let m = |k: &str| stat(p, &tenant_metric(n, k));
            let wait = |k: &str| {
                bounded(
                    pm(m(k), 1.0 / u.s, u.digits),
                    m(&format!("{k}_lower_bound")),
                )
            };
            let mut row = head.clone();
            row.extend([
                Value::from(n.clone()),
                pm(m("served_share"), 100.0, 1),
                pm(m("work_unserved"), 1.0, 0),
                pm(m("backlog_growing"), 100.0, 0),
                wait("wait_s.p50"),
                wait("wait_s.p99"),
                if m("wait_by_gang_s.gt_4096.jobs").is_some_and(|s| s.mean > 0.0) {
                    wait("wait_by_gang_s.gt_4096.p99")
                } else {
                    Value::from("-")
                },
                m("reservation_delivered.within_grace")
                    .map_or(Value::from("-"), |s| pm(Some(s), 100.0, 1)),
                Value::from(""),
            ]);
            if timed {
                row.push(pm(m("run_time_s.mean"), 1.0 / u.s, u.digits));
            }
            t.push(row);
        }
        let f = |k: &str| stat(p, &format!("fleet.{k}"));
        let mut row = head;
        row.extend([
            Value::from("(fleet)"),
            pm(f("served_share"), 100.0, 1),
            pm(f("work_unserved"), 1.0, 0),
        ]);
        row.extend((0..5).map(|_| Value::from("")));
        row.push(pm(stat(p, UTILIZATION), 100.0, 1));
        if timed {
            row.push(Value::from(""));
        }
        t.push(row);
    }
    t
}

/// Time to N chips per point and probe (`None` without probes): the waits' p50, p90 and max
/// over the probe times that got a start, and the probe times that got none, mean ± 95 % CI
/// over the seeds.
pub(crate) fn probe_table(runs: &Runs, stats: &[PointStats]) -> Option<Table> {
    let names = probes(stats);
    if names.is_empty() {
        return None;
    }
    let u = unit_of(runs);
    let mut cols: Vec<String> = runs.grid.vary.iter().map(|v| v.key.clone()).collect();
    cols.extend([
        "probe".to_string(),
        format!("wait_p50_{}", u.suffix),
        format!("wait_p90_{}", u.suffix),
        format!("wait_max_{}", u.suffix),
        "unserved_probe_times".into(),
    ]);
    let mut t = Table::new(cols).with_title(
        "time to N chips (mean ± 95 % CI over the seeds): the earliest start of a new request at \
         each probe time, waits over the probe times that got a start before the horizon",
    );
    for p in stats {
        for n in &names {
            let m = |k: &str| stat(p, &format!("probes.{n}.{k}"));
            let mut row: Vec<Value> = p
                .point
                .values
                .iter()
                .map(|(_, v)| Value::from(v.clone()))
                .collect();
            row.push(Value::from(n.clone()));
            for k in ["wait_s.p50", "wait_s.p90", "wait_s.max"] {
                row.push(m(k).map_or(Value::from("-"), |s| pm(Some(s), 1.0 / u.s, u.digits)));
            }
            row.push(pm(m("unserved"), 1.0, 1));
            t.push(row);
        }
    }
    Some(t)
}

/// Every metric of every point (`metrics.csv`): `point, <varied keys>, metric, mean, ci95, n`.
pub(crate) fn metrics_table(runs: &Runs, stats: &[PointStats]) -> Table {
    let mut cols = vec!["point".to_string()];
    cols.extend(runs.grid.vary.iter().map(|v| v.key.clone()));
    cols.extend(["metric", "mean", "ci95", "n"].map(String::from));
    let mut t = Table::new(cols);
    for p in stats {
        for (k, s) in &p.metrics {
            let mut row = vec![Value::from(p.point.index)];
            row.extend(p.point.values.iter().map(|(_, v)| Value::from(v.clone())));
            row.extend([
                Value::from(k.clone()),
                Value::from(s.mean),
                Value::from(s.ci95),
                Value::from(s.n),
            ]);
            t.push(row);
        }
    }
    t
}

/// The report in a format: the headline table, every metric (CSV), or the summary (JSON).
pub(crate) fn render(runs: &Runs, stats: &[PointStats], format: Format) -> String {
    match format {
        Format::Table => {
            let mut text = headline(runs, stats).render(Format::Table);
            if let Some(t) = probe_table(runs, stats) {
                text.push('\n');
                text.push_str(&t.render(Format::Table));
            }
            text
        }
        Format::Csv => metrics_table(runs, stats).render(Format::Csv),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&summary(runs, stats)).expect("serializes");
            s.push('\n');
            s
        }
    }
}

/// The scenario's hash and every `--set` and `--vary` of the sweep, in that order.
fn provenance(runs: &Runs) -> Provenance {
    let set = runs
        .grid
        .set
        .iter()
        .map(|(k, v)| ("--set", k.clone(), v.clone()));
    let vary = runs
        .grid
        .vary
        .iter()
        .map(|v| ("--vary", v.key.clone(), v.values.join(",")));
    Provenance {
        scenario_hash: runs.grid.scenario_hash.clone(),
        overrides: set
            .chain(vary)
            .map(|(f, k, v)| (f.to_string(), k, v))
            .collect(),
    }
}

/// `summary.json`: the grid, every point's metrics by name, and (as in `plan`'s) the
/// scenario's hash and the overrides typed.
pub(crate) fn summary(runs: &Runs, stats: &[PointStats]) -> Value {
    let p = provenance(runs);
    serde_json::json!({
        "scenario_hash": p.scenario_hash,
        "overrides": p.overrides_json(),
        "grid": runs.grid,
        "points": stats.iter().map(|p| serde_json::json!({
            "point": p.point,
            "metrics": p.metrics.iter().map(|(k, s)| (k.clone(), serde_json::to_value(s).expect("serializes"))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    })
}

/// A line of means and its 95 % band, scaled (to percent, to hours). Every quantity charted
/// (utilization, waits) is non-negative, so the band is clipped at zero: mean - CI below zero
/// is an artefact of the normal approximation, not a possible value.
fn banded(name: String, pts: &[(f64, Stat)], scale: f64) -> Banded {
    (
        Series {
            name,
            points: pts.iter().map(|(x, s)| (*x, s.mean * scale)).collect(),
        },
        Some(
            pts.iter()
                .map(|(x, s)| {
                    let lo = ((s.mean - s.ci95) * scale).max(0.0);
                    (*x, lo, (s.mean + s.ci95) * scale)
                })
                .collect(),
        ),
    )
}

/// Sweep charts: each headline metric against the first varied key, a line per series with
/// its 95 % band (other varied keys at each value become separate lines).
pub(crate) fn sweep_charts(runs: &Runs, stats: &[PointStats]) -> Vec<(String, String, String)> {
    let Some(first) = runs.grid.vary.first() else {
        return Vec::new();
    };
    let ticks: Vec<String> = first.values.clone();
    let numeric: Option<Vec<f64>> = ticks.iter().map(|v| v.parse::<f64>().ok()).collect();
    let x_of = |v: &str| -> f64 {
        match &numeric {
            Some(_) => v.parse().unwrap_or(0.0),
            None => ticks.iter().position(|t| t == v).unwrap_or(0) as f64,
        }
    };
    // Lines: one per combination of the other varied keys.
    let rest_label = |p: &PointStats| -> String {
        p.point
            .values
            .iter()
            .skip(1)
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut groups: Vec<String> = Vec::new();
    for p in stats {
        let l = rest_label(p);
        if !groups.contains(&l) {
            groups.push(l);
        }
    }
    let chart =
        |metric: &str, name_of: &dyn Fn(&str) -> String, scale: f64, title: &str, y: &str| {
            let series: Vec<Banded> = groups
                .iter()
                .map(|g| {
                    let pts: Vec<(f64, Stat)> = stats
                        .iter()
                        .filter(|p| &rest_label(p) == g)
                        .filter_map(|p| {
                            Some((x_of(&p.point.values[0].1), stat(p, metric)?.clone()))
                        })
                        .collect();
                    banded(name_of(g), &pts, scale)
                })
                .collect();
            let tick_labels = numeric.is_none().then_some(ticks.as_slice());
            charts::lines(title, &first.key, y, &series, false, tick_labels)
        };
    let mut out = Vec::new();
    let label = |g: &str| {
        if g.is_empty() {
            "fleet".to_string()
        } else {
            g.to_string()
        }
    };
    out.push((
        "sweep_utilization.svg".to_string(),
        "Fleet utilization".to_string(),
        chart(
            UTILIZATION,
            &label,
            100.0,
            &format!("Fleet utilization vs {}", first.key),
            "utilization (%)",
        ),
    ));
    let u = unit_of(runs);
    let unit = if u.suffix == "d" { "days" } else { "hours" };
    // One chart per quantity with a line per tenant (or probe) when one key varies; one chart
    // per tenant (or probe) with a line per combination of the other keys when several do.
    let mut per_name = |names: &[String],
                        m: &dyn Fn(&str) -> String,
                        file: &str,
                        what: &str,
                        y: &str,
                        scale: f64| {
        if groups.len() == 1 {
            let series: Vec<Banded> = names
                .iter()
                .map(|n| {
                    let pts: Vec<(f64, Stat)> = stats
                        .iter()
                        .filter_map(|p| Some((x_of(&p.point.values[0].1), stat(p, &m(n))?.clone())))
                        .collect();
                    banded(n.clone(), &pts, scale)
                })
                .collect();
            let tick_labels = numeric.is_none().then_some(ticks.as_slice());
            let title = format!("{what} vs {}", first.key);
            let svg = charts::lines(&title, &first.key, y, &series, false, tick_labels);
            out.push((format!("sweep_{file}.svg"), what.to_string(), svg));
        } else {
            for n in names {
                let l = |g: &str| format!("{n} {g}");
                let title = format!("{n}: {what} vs {}", first.key);
                let svg = chart(&m(n), &l, scale, &title, y);
                out.push((format!("sweep_{file}_{n}.svg"), format!("{what}: {n}"), svg));
            }
        }
    };
    let names = tenants(stats);
    per_name(
        &names,
        &|n| tenant_metric(n, "served_share"),
        "served_share",
        "Share of the work served per tenant",
        "work served (%)",
        100.0,
    );
    per_name(
        &names,
        &|n| tenant_metric(n, "wait_s.p99"),
        "wait_p99",
        "p99 wait per tenant (every submitted job, unstarted ones censored at the horizon)",
        &format!("p99 wait ({unit})"),
        1.0 / u.s,
    );
    per_name(
        &probes(stats),
        &|n| format!("probes.{n}.wait_s.p90"),
        "probe_wait_p90",
        "Time to N chips: p90 wait per probe",
        &format!("p90 wait ({unit})"),
        1.0 / u.s,
    );
    out
}

/// Pretty JSON with a final newline.
fn pretty(v: &impl serde::Serialize) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(v).expect("serializes");
    s.push('\n');
    s.into_bytes()
}

/// Every file of `sweep --out`, `(file name, bytes)` in writing order: `runs.json`,
/// `summary.json`, `metrics.csv`, the charts, and `report.html`.
pub(crate) fn files(runs: &Runs, stats: &[PointStats]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("runs.json".to_string(), pretty(runs)),
        ("summary.json".to_string(), pretty(&summary(runs, stats))),
        (
            "metrics.csv".to_string(),
            metrics_table(runs, stats).render(Format::Csv).into_bytes(),
        ),
    ];
    let mut parts = vec![
        Part::Text(format!(
            "Scenario {}, {}; {} points x {} seeds from seed {}; every figure is the mean over seeds with its 95 % confidence interval (Student's t).",
            runs.grid.scenario,
            provenance(runs).text(),
            runs.grid.len(),
            runs.grid.seeds,
            runs.grid.base_seed
        )),
        Part::Table(headline(runs, stats)),
    ];
    parts.extend(probe_table(runs, stats).map(Part::Table));
    for (file, title, svg) in sweep_charts(runs, stats) {
        out.push((file, svg.clone().into_bytes()));
        parts.push(Part::Heading(title));
        parts.push(Part::Svg(svg));
    }
    let html = charts::html(&format!("trnsim sweep: {}", runs.grid.scenario), &parts);
    out.push(("report.html".to_string(), html.into_bytes()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_are_clipped_at_zero() {
        let s = |mean, ci95| Stat { mean, ci95, n: 3 };
        let (line, band) = banded("w".into(), &[(1.0, s(1.0, 3.0)), (2.0, s(5.0, 2.0))], 2.0);
        assert_eq!(line.points, [(1.0, 2.0), (2.0, 10.0)]);
        assert_eq!(band.unwrap(), [(1.0, 0.0, 8.0), (2.0, 6.0, 14.0)]);
    }
}
