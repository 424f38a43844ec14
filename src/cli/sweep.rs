//! `trnsim sweep`: a scenario over a grid of `--vary` values and seeds, in parallel, reported
//! as mean and 95 % confidence interval per metric; `trnsim sweep merge` joins shards. Also the
//! charts and the HTML report that `plan --out` and `sweep --out` write.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Error, Result};
use crate::fleet::Outcome;
use crate::report::charts::{self, Banded, Part, Series};
use crate::report::{Format, Table};
use crate::sweep::{self, PointStats, Runs, Vary};

/// Options of `trnsim sweep`.
#[derive(Clone, Debug, Default)]
pub struct SweepArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Fixed `--set` overrides.
    pub set: Vec<(String, String)>,
    /// `--vary KEY=V1,V2,...`.
    pub vary: Vec<String>,
    /// Seeds per point.
    pub seeds: u64,
    /// `--shard I/N`.
    pub shard: Option<String>,
    /// Worker threads (None: one per core).
    pub threads: Option<usize>,
    /// Report format.
    pub format: Format,
    /// Output directory.
    pub out: Option<PathBuf>,
    /// Show a progress bar on stderr (when it is a terminal).
    pub progress: bool,
}

fn sweep_err(e: sweep::Error) -> Error {
    Error::Input(e.to_string())
}

/// Run the sweep (or a shard), write `--out`, return the report.
pub fn run(args: &SweepArgs) -> Result<String> {
    let text = std::fs::read_to_string(&args.scenario)
        .map_err(|e| Error::Input(format!("{}: {e}", args.scenario.display())))?;
    let vary: Vec<Vary> = args
        .vary
        .iter()
        .map(|v| Vary::parse(v))
        .collect::<sweep::Result<_>>()
        .map_err(sweep_err)?;
    let shard = match &args.shard {
        Some(s) => sweep::parse_shard(s).map_err(sweep_err)?,
        None => (0, 1),
    };
    let total = sweep::points(&vary)
        .iter()
        .filter(|p| p.index % shard.1 == shard.0)
        .count() as u64
        * args.seeds;
    let bar = (args.progress && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} runs, {elapsed} elapsed, eta {eta}",
            )
            .expect("valid template"),
        );
        b
    });
    let read = |p: &Path| std::fs::read_to_string(p);
    let spec = sweep::Spec {
        file: &args.scenario,
        text: &text,
        read: &read,
        set: args.set.clone(),
        vary,
        seeds: args.seeds,
        shard,
        threads: args.threads,
    };
    let done = || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let runs = sweep::run(&spec, &done).map_err(sweep_err)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    finish(&runs, args.format, args.out.as_deref())
}

/// `trnsim sweep merge DIR...`: join shard outputs into the whole sweep.
pub fn merge(dirs: &[PathBuf], format: Format, out: Option<&Path>) -> Result<String> {
    let mut parts = Vec::new();
    for d in dirs {
        let f = d.join("runs.json");
        let text = std::fs::read_to_string(&f)
            .map_err(|e| Error::Input(format!("{}: {e}", f.display())))?;
        let runs: Runs = serde_json::from_str(&text).map_err(|e| {
            Error::Input(format!(
                "{}:{}: not a sweep's runs.json: {e}",
                f.display(),
                e.line()
            ))
        })?;
        parts.push((d.clone(), runs));
    }
    let runs = sweep::merge(parts).map_err(sweep_err)?;
    finish(&runs, format, out)
}

fn finish(runs: &Runs, format: Format, out: Option<&Path>) -> Result<String> {
    let stats = sweep::aggregate(runs);
    if let Some(dir) = out {
        write_sweep(dir, runs, &stats)?;
    }
    Ok(render(runs, &stats, format))
}

fn stat<'a>(p: &'a PointStats, path: &str) -> Option<&'a sweep::Stat> {
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

fn pm(s: Option<&sweep::Stat>, scale: f64, digits: usize) -> Value {
    match s {
        Some(s) if s.n > 1 => Value::from(format!(
            "{:.*} ± {:.*}",
            digits,
            s.mean * scale,
            digits,
            s.ci95 * scale
        )),
        Some(s) => Value::from(format!("{:.*}", digits, s.mean * scale)),
        None => Value::Null,
    }
}

/// The headline table: one row per point: the varied values, fleet utilization, and each
/// tenant's p99 queueing delay (hours), as mean ± 95 % CI over the seeds; when the scenario
/// has workload jobs (whose run times change with the chip model's inputs), also each tenant's
/// mean job run time (hours).
pub fn headline(runs: &Runs, stats: &[PointStats]) -> Table {
    let names = tenants(stats);
    let timed = stats
        .first()
        .is_some_and(|p| p.metrics.iter().any(|(k, _)| k.starts_with("workloads.")));
    let mut cols: Vec<String> = runs.grid.vary.iter().map(|v| v.key.clone()).collect();
    cols.push("utilization_pct".into());
    cols.extend(names.iter().map(|n| format!("{n}_wait_p99_h")));
    if timed {
        cols.extend(names.iter().map(|n| format!("{n}_run_mean_h")));
    }
    let mut t = Table::new(cols).with_title(format!(
        "sweep of {} ({} points x {} seeds; mean ± 95 % CI)",
        runs.grid.scenario,
        runs.grid.points.len(),
        runs.grid.seeds
    ));
    for p in stats {
        let mut row: Vec<Value> = p
            .point
            .values
            .iter()
            .map(|(_, v)| Value::from(v.clone()))
            .collect();
        row.push(pm(stat(p, "fleet.utilization"), 100.0, 1));
        for n in &names {
            row.push(pm(
                stat(p, &format!("tenants.{n}.queue_delay_s.p99")),
                1.0 / 3600.0,
                2,
            ));
        }
        if timed {
            for n in &names {
                row.push(pm(
                    stat(p, &format!("tenants.{n}.run_time_s.mean")),
                    1.0 / 3600.0,
                    1,
                ));
            }
        }
        t.push(row);
    }
    t
}

/// Every metric of every point: `point, <varied keys>, metric, mean, ci95, n`.
pub fn metrics_table(runs: &Runs, stats: &[PointStats]) -> Table {
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

fn render(runs: &Runs, stats: &[PointStats], format: Format) -> String {
    match format {
        Format::Table => headline(runs, stats).render(Format::Table),
        Format::Csv => metrics_table(runs, stats).render(Format::Csv),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(&summary(runs, stats)).expect("serializes");
            s.push('\n');
            s
        }
    }
}

fn summary(runs: &Runs, stats: &[PointStats]) -> Value {
    serde_json::json!({
        "grid": runs.grid,
        "points": stats.iter().map(|p| serde_json::json!({
            "point": p.point,
            "metrics": p.metrics.iter().map(|(k, s)| (k.clone(), serde_json::to_value(s).expect("serializes"))).collect::<serde_json::Map<_, _>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Sweep charts: each headline metric against the first varied key, a line per series with
/// its 95 % band (other varied keys at each value become separate lines).
pub fn sweep_charts(runs: &Runs, stats: &[PointStats]) -> Vec<(String, String, String)> {
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
                    let pts: Vec<(f64, sweep::Stat)> = stats
                        .iter()
                        .filter(|p| &rest_label(p) == g)
                        .filter_map(|p| {
                            Some((x_of(&p.point.values[0].1), stat(p, metric)?.clone()))
                        })
                        .collect();
                    (
                        Series {
                            name: name_of(g),
                            points: pts.iter().map(|(x, s)| (*x, s.mean * scale)).collect(),
                        },
                        Some(
                            pts.iter()
                                .map(|(x, s)| {
                                    (*x, (s.mean - s.ci95) * scale, (s.mean + s.ci95) * scale)
                                })
                                .collect(),
                        ),
                    )
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
            "fleet.utilization",
            &label,
            100.0,
            &format!("Fleet utilization vs {}", first.key),
            "utilization (%)",
        ),
    ));
    let names = tenants(stats);
    if groups.len() == 1 {
        // One varied key: every tenant on one chart.
        let series: Vec<Banded> = names
            .iter()
            .map(|n| {
                let pts: Vec<(f64, sweep::Stat)> = stats
                    .iter()
                    .filter_map(|p| {
                        Some((
                            x_of(&p.point.values[0].1),
                            stat(p, &format!("tenants.{n}.queue_delay_s.p99"))?.clone(),
                        ))
                    })
                    .collect();
                let h = 1.0 / 3600.0;
                (
                    Series {
                        name: n.clone(),
                        points: pts.iter().map(|(x, s)| (*x, s.mean * h)).collect(),
                    },
                    Some(
                        pts.iter()
                            .map(|(x, s)| (*x, (s.mean - s.ci95) * h, (s.mean + s.ci95) * h))
                            .collect(),
                    ),
                )
            })
            .collect();
        let tick_labels = numeric.is_none().then_some(ticks.as_slice());
        out.push((
            "sweep_wait_p99.svg".to_string(),
            "p99 queueing delay per tenant".to_string(),
            charts::lines(
                &format!("p99 queueing delay per tenant vs {}", first.key),
                &first.key,
                "p99 queueing delay (h)",
                &series,
                false,
                tick_labels,
            ),
        ));
    } else {
        for n in names {
            let l = |g: &str| format!("{n} {g}");
            out.push((
                format!("sweep_wait_p99_{n}.svg"),
                format!("p99 queueing delay of {n}"),
                chart(
                    &format!("tenants.{n}.queue_delay_s.p99"),
                    &l,
                    1.0 / 3600.0,
                    &format!("{n}: p99 queueing delay vs {}", first.key),
                    "p99 queueing delay (h)",
                ),
            ));
        }
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    super::write_atomic(&dir.join(name), bytes)
}

fn write_sweep(dir: &Path, runs: &Runs, stats: &[PointStats]) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::Input(format!("{}: {e}", dir.display())))?;
    let mut r = serde_json::to_string_pretty(runs).expect("serializes");
    r.push('\n');
    write(dir, "runs.json", r.as_bytes())?;
    let mut s = serde_json::to_string_pretty(&summary(runs, stats)).expect("serializes");
    s.push('\n');
    write(dir, "summary.json", s.as_bytes())?;
    write(
        dir,
        "metrics.csv",
        metrics_table(runs, stats).render(Format::Csv).as_bytes(),
    )?;
    let mut parts = vec![
        Part::Text(format!(
            "Scenario {} (hash {}), fixed overrides {:?}; {} points x {} seeds from seed {}; every figure is the mean over seeds with its 95 % confidence interval (Student's t).",
            runs.grid.scenario,
            runs.grid.scenario_hash,
            runs.grid.set,
            runs.grid.points.len(),
            runs.grid.seeds,
            runs.grid.base_seed
        )),
        Part::Table(headline(runs, stats)),
    ];
    for (file, title, svg) in sweep_charts(runs, stats) {
        write(dir, &file, svg.as_bytes())?;
        parts.push(Part::Heading(title));
        parts.push(Part::Svg(svg));
    }
    write(
        dir,
        "report.html",
        charts::html(&format!("trnsim sweep: {}", runs.grid.scenario), &parts).as_bytes(),
    )
}

/// Charts of one fleet run: allocation stacked by tenant with the reservations and the fleet
/// installed, and the queueing-delay CDF per tenant (from job records, when the run kept them).
pub fn plan_charts(o: &Outcome) -> Vec<(String, String, String)> {
    let day = 86_400.0;
    let names: Vec<String> = o.tenants.iter().map(|t| t.tenant.clone()).collect();
    let series = |name: &str, f: &dyn Fn(&crate::fleet::metrics::Sample) -> f64| Series {
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
                    .map(|s| ((s - j.submit_s) as f64).max(1.0) / 3600.0)
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

/// Write `plan --out`'s charts and `report.html` beside its tables.
pub fn write_plan_report(dir: &Path, o: &Outcome, tables: Vec<Table>) -> Result<()> {
    let mut parts = vec![Part::Text(format!(
        "Scenario {}, policy {}, seed {}, horizon {} days.",
        o.scenario,
        o.policy,
        o.seed,
        o.horizon_s / 86_400
    ))];
    parts.extend(tables.into_iter().map(Part::Table));
    for (file, title, svg) in plan_charts(o) {
        write(dir, &file, svg.as_bytes())?;
        parts.push(Part::Heading(title));
        parts.push(Part::Svg(svg));
    }
    write(
        dir,
        "report.html",
        charts::html(&format!("trnsim plan: {}", o.scenario), &parts).as_bytes(),
    )
}
