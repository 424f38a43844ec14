//! Parameter sweeps over fleet scenarios: a grid of `--vary` values, each point replicated over
//! seeds, run in parallel (rayon) and reported as mean and 95 % confidence interval per metric.
//!
//! Every run is independent and results are collected in input order, so the outcome is the same
//! bytes whatever the number of threads. A grid can also be cut into shards (`--shard i/n`, a
//! deterministic slice of its points) that run anywhere and are merged back (`merge`) into the
//! result one run would have given. `report` makes the tables, charts and HTML of a result.

pub(crate) mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{Location, Warning};
use crate::fleet::{self, Scenario, WorkloadRunTime};
use crate::workload::CostModel;

/// Errors of the sweep layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A `--vary`/`--shard` specification or a shard file is wrong.
    #[error("{0}")]
    Spec(String),
    /// A scenario (at some grid point) is wrong, or a run failed.
    #[error("{point}: {source}")]
    Fleet {
        /// The grid point (`key=value ...`).
        point: String,
        /// Why the scenario was refused or the run failed.
        source: fleet::Error,
    },
}

/// Result of the sweep layer.
pub type Result<T> = std::result::Result<T, Error>;

/// One varied key and its values, in the order given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vary {
    /// Scenario key path (as `trnsim plan --set` takes it).
    pub key: String,
    /// Values, as typed.
    pub values: Vec<String>,
}

impl Vary {
    /// Parse `key=v1,v2,...`.
    pub fn parse(s: &str) -> Result<Vary> {
        match crate::config::parse_pair(s) {
            Ok((key, v)) if !v.is_empty() => Ok(Vary {
                key,
                values: v.split(',').map(|x| x.trim().to_string()).collect(),
            }),
            _ => Err(Error::Spec(format!(
                "--vary: expected KEY=V1,V2,... (e.g. policy.reclaim=immediate,graceful), found '{s}'"
            ))),
        }
    }
}

/// `i/n`: shard `i` (0-based) of `n`.
pub(crate) fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || {
        Error::Spec(format!(
            "--shard: expected I/N with 0 <= I < N, found '{s}'"
        ))
    };
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// A grid point: its index and the value of every varied key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Point {
    /// Index in the grid (the first key varies slowest).
    pub index: usize,
    /// `(key, value)` per varied key.
    pub values: Vec<(String, String)>,
}

impl Point {
    /// `key=value key=value` (or `base` for the ungridded scenario).
    pub(crate) fn label(&self) -> String {
        if self.values.is_empty() {
            return "base".into();
        }
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The cartesian product of the varied values; one point (the base scenario) without any.
pub(crate) fn points(vary: &[Vary]) -> Vec<Point> {
    let mut pts = vec![Vec::new()];
    for v in vary {
        pts = pts
            .into_iter()
            .flat_map(|p: Vec<(String, String)>| {
                v.values.iter().map(move |x| {
                    let mut q = p.clone();
                    q.push((v.key.clone(), x.clone()));
                    q
                })
            })
            .collect();
    }
    pts.into_iter()
        .enumerate()
        .map(|(index, values)| Point { index, values })
        .collect()
}

/// What defines a sweep: the scenario, the fixed overrides, the grid, the replication.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    /// Scenario file as given.
    pub scenario: String,
    /// FNV-1a hash of the scenario text (shards of different scenarios do not merge).
    pub scenario_hash: String,
    /// Fixed `--set` overrides.
    pub set: Vec<(String, String)>,
    /// Varied keys.
    pub vary: Vec<Vary>,
    /// Seeds per point (`base seed + k`, k < seeds).
    pub seeds: u64,
    /// The scenario's base seed.
    pub base_seed: u64,
    /// The grid's points.
    pub points: Vec<Point>,
}

/// One run: a point, a seed, the outcome's summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// Grid point index.
    pub point: usize,
    /// Seed of the run (the sweep's base seed plus the replicate).
    pub seed: u64,
    /// The outcome's summary JSON, as `metrics.json` holds it.
    pub summary: Value,
}

/// The runs of a sweep or of a shard of it (`runs.json`): the material every report is
/// computed from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Runs {
    /// The grid the runs cover (points, seeds, base seed).
    pub grid: Grid,
    /// `(i, n)` of the shard, `(0, 1)` for a whole sweep.
    pub shard: (usize, usize),
    /// Runs, ordered by (point, seed).
    pub runs: Vec<Run>,
}

/// How to run a sweep.
pub struct Spec<'a> {
    /// Scenario file (named in errors and in the grid).
    pub file: &'a Path,
    /// The scenario file's contents, before any override.
    pub text: &'a str,
    /// Reads files the scenario names (traces), relative paths against its directory.
    pub read: &'a (dyn Fn(&Path) -> std::io::Result<String> + Sync),
    /// Fixed overrides.
    pub set: Vec<(String, String)>,
    /// Varied keys.
    pub vary: Vec<Vary>,
    /// Seeds per point.
    pub seeds: u64,
    /// Shard `(i, n)` to run.
    pub shard: (usize, usize),
    /// Threads (None: rayon's default, one per core).
    pub threads: Option<usize>,
}

fn resolve(spec: &Spec, point: &Point) -> Result<Scenario> {
    let mut set = spec.set.clone();
    set.extend(point.values.iter().cloned());
    let base = spec
        .file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut scenario = Scenario::from_toml(
        spec.text,
        &spec.file.display().to_string(),
        &base,
        &set,
        spec.read,
    )
    .map_err(|mut source| {
        if let fleet::Error::Config(e) = &mut source {
            name_vary(&mut e.location, &e.key, spec, point);
        }
        Error::Fleet {
            point: point.label(),
            source,
        }
    })?;
    for w in &mut scenario.warnings {
        name_vary(&mut w.location, &w.key, spec, point);
    }
    Ok(scenario)
}

/// Whether an override of `key` (dotted; numeric segments index arrays) wrote the value at
/// `at` (`a.b[2].c`) or its table: one path is the other or lies under it.
fn touches(key: &str, at: &str) -> bool {
    let at = at.replace('[', ".").replace(']', "");
    let under = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}."));
    under(&at, key) || under(key, &at)
}

/// The scenario reads a point's `--vary` values as overrides, named `--set` in its locations:
/// an error or warning at a key a `--vary` wrote says `(--vary)` (the most specific override
/// touching the key decides; `--vary` applies after `--set`, so it wins a tie).
fn name_vary(location: &mut Location, at: &str, spec: &Spec, point: &Point) {
    let Location::Set { flag, .. } = location else {
        return;
    };
    let longest = |pairs: &[(String, String)]| {
        pairs
            .iter()
            .filter(|(k, _)| touches(k, at))
            .map(|(k, _)| k.len())
            .max()
    };
    if let Some(v) = longest(&point.values)
        && longest(&spec.set).is_none_or(|s| v >= s)
    {
        *flag = "--vary";
    }
}

/// A sweep (or its shard) resolved and checked, nothing run yet: every point's scenario, and
/// the warnings to show before the runs start.
pub struct Prepared<'a> {
    spec: &'a Spec<'a>,
    grid: Grid,
    /// The points of the shard, and their scenarios.
    mine: Vec<Point>,
    scenarios: Vec<Scenario>,
}

/// Resolve every point of the sweep's shard: a bad value (or a name the scenario does not
/// declare) fails here, naming the point, before any run.
pub fn prepare<'a>(spec: &'a Spec<'a>) -> Result<Prepared<'a>> {
    if spec.seeds == 0 {
        return Err(Error::Spec("--seeds must be at least 1".into()));
    }
    let all = points(&spec.vary);
    let base = resolve(
        spec,
        &Point {
            index: 0,
            values: Vec::new(),
        },
    )?;
    let grid = Grid {
        scenario: spec.file.display().to_string(),
        scenario_hash: fleet::report::fnv1a_hex(spec.text.as_bytes()),
        set: spec.set.clone(),
        vary: spec.vary.clone(),
        seeds: spec.seeds,
        base_seed: base.seed,
        points: all.clone(),
    };
    let (i, n) = spec.shard;
    let mine: Vec<Point> = all.into_iter().filter(|p| p.index % n == i).collect();
    let scenarios: Vec<Scenario> = mine
        .iter()
        .map(|p| resolve(spec, p))
        .collect::<Result<_>>()?;
    Ok(Prepared {
        spec,
        grid,
        mine,
        scenarios,
    })
}

impl Prepared<'_> {
    /// The warnings of the sweep, one line each (without `warning: `): a scenario's warning
    /// once when every point has it, else prefixed by each point that has it; and `--seeds`
    /// above 1 when no point draws anything at random (every seed would give the same run).
    pub fn warnings(&self) -> Vec<String> {
        let everywhere = |w: &Warning| self.scenarios.iter().all(|s| s.warnings.contains(w));
        let mut out: Vec<String> = self.scenarios.first().map_or_else(Vec::new, |s| {
            s.warnings
                .iter()
                .filter(|w| everywhere(w))
                .map(Warning::to_string)
                .collect()
        });
        for (p, s) in self.mine.iter().zip(&self.scenarios) {
            for w in s.warnings.iter().filter(|w| !everywhere(w)) {
                out.push(format!("{}: {w}", p.label()));
            }
        }
        let seeds = self.spec.seeds;
        if seeds > 1
            && !self.scenarios.is_empty()
            && self.scenarios.iter().all(|s| !s.draws_at_random())
        {
            let file = Location::File {
                file: self.grid.scenario.clone(),
            };
            let message = format!(
                "{seeds} seeds give {seeds} identical runs: the scenario draws nothing at random \
                 (every demand stream is a job list or a trace replay, no generation has an \
                 mtbf); --seeds 1 gives the same result"
            );
            out.push(Warning::new(file, "--seeds", message).to_string());
        }
        out
    }

    /// Run the sweep (or its shard); `done` is called once per finished run (from any thread).
    pub fn run(&self, done: &(dyn Fn() + Sync)) -> Result<Runs> {
        let (spec, mine, scenarios) = (self.spec, &self.mine, &self.scenarios);
        let grid = &self.grid;
        let jobs: Vec<(usize, u64)> = (0..mine.len())
            .flat_map(|k| (0..spec.seeds).map(move |s| (k, s)))
            .collect();
        let cost = CostModel::new();
        let work = || -> Result<Vec<Run>> {
            let tables = workload_tables(scenarios, &cost).map_err(|(k, source)| Error::Fleet {
                point: mine[k].label(),
                source,
            })?;
            jobs.par_iter()
                .map(|&(k, s)| {
                    let seed = grid.base_seed.wrapping_add(s);
                    let outcome = fleet::run_timed(
                        &scenarios[k],
                        seed,
                        &tables[k],
                        &fleet::RunOptions::default(),
                    )
                    .map_err(|source| Error::Fleet {
                        point: mine[k].label(),
                        source,
                    })?;
                    done();
                    Ok(Run {
                        point: mine[k].index,
                        seed,
                        summary: outcome.summary_json(),
                    })
                })
                .collect()
        };
        let runs = match spec.threads {
            Some(t) => rayon::ThreadPoolBuilder::new()
                .num_threads(t.max(1))
                .build()
                .map_err(|e| Error::Spec(format!("thread pool: {e}")))?
                .install(work)?,
            None => work()?,
        };
        Ok(Runs {
            grid: grid.clone(),
            shard: spec.shard,
            runs,
        })
    }
}

/// Run the sweep (or its shard): [`prepare`], then [`Prepared::run`]; `done` is called once
/// per finished run (from any thread).
pub fn run(spec: &Spec, done: &(dyn Fn() + Sync)) -> Result<Runs> {
    prepare(spec)?.run(done)
}

/// The workload table of every scenario, through one memo: the distinct (workload, chip preset)
/// shapes of all of them are simulated first, in parallel, each once; the tables are then
/// filled from the memo. An error names the scenario's index.
pub(crate) fn workload_tables(
    scenarios: &[Scenario],
    cost: &CostModel,
) -> std::result::Result<Vec<WorkloadRunTime>, (usize, fleet::Error)> {
    let mut shapes: Vec<(crate::workload::Workload, crate::arch::Hardware)> = Vec::new();
    for s in scenarios {
        for (w, hw) in WorkloadRunTime::shapes(s) {
            let w = crate::workload::Workload { steps: 1, ..w };
            if !shapes.iter().any(|(x, h)| *x == w && h.name == hw.name) {
                shapes.push((w, hw));
            }
        }
    }
    // A shape the kernels cannot run fails here quietly and again, with its scenario's key
    // path, when its table is built.
    shapes.par_iter().for_each(|(w, hw)| {
        let _ = cost.step(w, hw);
    });
    scenarios
        .iter()
        .enumerate()
        .map(|(k, s)| WorkloadRunTime::build(s, cost).map_err(|e| (k, e)))
        .collect()
}

/// Merge shards of one sweep into the whole: the same grid, every point exactly once.
pub(crate) fn merge(parts: Vec<(PathBuf, Runs)>) -> Result<Runs> {
    let Some((first_path, first)) = parts.first() else {
        return Err(Error::Spec(
            "sweep merge: no shard directories given".into(),
        ));
    };
    let n = first.shard.1;
    let mut seen = vec![None; n];
    let mut runs = Vec::new();
    for (path, part) in &parts {
        if part.grid != first.grid {
            return Err(Error::Spec(format!(
                "{}: a shard of a different sweep than {} (scenario, overrides, grid or seeds differ)",
                path.display(),
                first_path.display()
            )));
        }
        let (i, m) = part.shard;
        if m != n || i >= n {
            return Err(Error::Spec(format!(
                "{}: shard {i}/{m} does not fit {n} shards",
                path.display()
            )));
        }
        if let Some(prev) = seen[i].replace(path.clone()) {
            return Err(Error::Spec(format!(
                "shard {i}/{n} given twice: {} and {}",
                prev.display(),
                path.display()
            )));
        }
        runs.extend(part.runs.iter().cloned());
    }
    if let Some(i) = seen.iter().position(Option::is_none) {
        return Err(Error::Spec(format!(
            "sweep merge: shard {i}/{n} is missing"
        )));
    }
    runs.sort_by_key(|r| (r.point, r.seed));
    Ok(Runs {
        grid: first.grid.clone(),
        shard: (0, 1),
        runs,
    })
}

/// Mean and 95 % confidence half-width (Student's t) of one metric at one point.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Stat {
    /// Mean over seeds.
    pub mean: f64,
    /// Half-width of the 95 % confidence interval of the mean (0 for one seed).
    pub ci95: f64,
    pub n: usize,
}

/// One grid point's statistics.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct PointStats {
    pub point: Point,
    /// Metric path (`fleet.utilization`, `tenants.<name>.queue_delay_s.p99`) to its statistics,
    /// in the summaries' order.
    pub metrics: Vec<(String, Stat)>,
}

/// Student's t quantile for a two-sided 95 % interval with `df` degrees of freedom.
pub(crate) fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => T[df - 1],
        _ => 1.96 + 2.4 / df as f64,
    }
}

/// Every numeric metric of a summary, by its dotted name ([`fleet::report::metrics`]); a flag
/// (`backlog_growing`, `wait_s.p99_lower_bound`) counts 1 when set, so its mean over the seeds
/// is the share of seeds in which it holds.
fn numeric_metrics(summary: &Value) -> Vec<(String, f64)> {
    fleet::report::metrics(summary)
        .into_iter()
        .filter_map(|(name, v)| {
            let x = match v {
                Value::Bool(b) => f64::from(u8::from(b)),
                v => v.as_f64()?,
            };
            Some((name, x))
        })
        .collect()
}

/// Per point, every numeric metric's mean and 95 % CI over the seeds.
pub(crate) fn aggregate(runs: &Runs) -> Vec<PointStats> {
    let mut by_point: BTreeMap<usize, Vec<&Run>> = BTreeMap::new();
    for r in &runs.runs {
        by_point.entry(r.point).or_default().push(r);
    }
    runs.grid
        .points
        .iter()
        .filter_map(|p| {
            let rs = by_point.get(&p.index)?;
            let flat: Vec<Vec<(String, f64)>> =
                rs.iter().map(|r| numeric_metrics(&r.summary)).collect();
            let metrics = flat[0]
                .iter()
                .map(|(path, _)| {
                    let xs: Vec<f64> = flat
                        .iter()
                        .filter_map(|f| f.iter().find(|(k, _)| k == path).map(|x| x.1))
                        .collect();
                    let n = xs.len();
                    let mean = xs.iter().sum::<f64>() / n as f64;
                    let ci95 = if n > 1 {
                        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>()
                            / (n - 1) as f64;
                        t95(n - 1) * (var / n as f64).sqrt()
                    } else {
                        0.0
                    };
                    (path.clone(), Stat { mean, ci95, n })
                })
                .collect();
            Some(PointStats {
                point: p.clone(),
                metrics,
            })
        })
        .collect()
}
