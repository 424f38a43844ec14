//! Parameter sweeps over fleet scenarios: a grid of `--vary` values, each point replicated over
//! seeds, run in parallel (rayon) and reported as mean and 95 % confidence interval per metric.
//!
//! Every run is independent and results are collected in input order, so the outcome is the same
//! bytes whatever the number of threads. A grid can also be cut into shards (`--shard i/n`, a
//! deterministic slice of its points) that run anywhere and are merged back (`merge`) into the
//! result one run would have given. `report` makes the tables, charts and HTML of a result.

mod merge;
pub(crate) mod report;

pub(crate) use merge::{merge, read_runs};

use std::collections::BTreeMap;
use std::path::Path;

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

/// How many points the grid of `vary` has (the product of the value counts; 1 without any), or
/// None when that does not fit a `u64`. Nothing is allocated: the points are made one at a
/// time by [`point`].
pub(crate) fn point_count(vary: &[Vary]) -> Option<u64> {
    vary.iter()
        .try_fold(1u64, |n, v| n.checked_mul(v.values.len() as u64))
}

/// The grid point at `index` (< [`point_count`]): its index in mixed radix, the first key the
/// most significant digit (it varies slowest), so a grid is walked without being materialised.
pub(crate) fn point(vary: &[Vary], index: usize) -> Point {
    let mut rest = index;
    let mut values = vec![(String::new(), String::new()); vary.len()];
    for (slot, v) in values.iter_mut().zip(vary).rev() {
        let n = v.values.len().max(1);
        *slot = (v.key.clone(), v.values[rest % n].clone());
        rest /= n;
    }
    Point { index, values }
}

/// Runs a sweep makes at most unless `--max-runs` says otherwise. Every run's summary stays in
/// memory until the report is made (about 120 KB a run for `scenarios/demo-small.toml`), so the
/// default is some 12 GB of summaries at most.
pub const DEFAULT_MAX_RUNS: u64 = 100_000;

/// Worker threads at most per unit of the machine's available parallelism: runs are CPU-bound,
/// so threads beyond the cores only hold more runs in memory at once and switch more.
const THREADS_PER_CORE: usize = 4;

/// The grid's points and its runs (points x seeds), refused over `max_runs` (or when they do
/// not fit a `u64`) before anything is allocated.
pub(crate) fn check_size(vary: &[Vary], seeds: u64, max_runs: u64) -> Result<(u64, u64)> {
    if seeds == 0 {
        return Err(Error::Spec("--seeds must be at least 1".into()));
    }
    let points = point_count(vary);
    let runs = points.and_then(|p| p.checked_mul(seeds));
    if let (Some(points), Some(runs)) = (points, runs)
        && runs <= max_runs
    {
        return Ok((points, runs));
    }
    let shape = if vary.is_empty() {
        String::new()
    } else {
        let keys: Vec<String> = vary
            .iter()
            .map(|v| format!("{} values of {}", v.values.len(), v.key))
            .collect();
        format!(" ({})", keys.join(" x "))
    };
    let count = |n: Option<u64>| n.map_or_else(|| "over 2^64".to_string(), |n| n.to_string());
    let plural = if points == Some(1) { "" } else { "s" };
    Err(Error::Spec(format!(
        "{} grid point{plural}{shape} x --seeds {seeds} = {} runs, over the limit of {max_runs} runs \
         (--max-runs N raises it; every run's summary stays in memory until the report, some \
         120 KB each)",
        count(points),
        count(runs)
    )))
}

/// The sweep's worker threads: `--threads`, or the machine's available parallelism. More than
/// [`THREADS_PER_CORE`] per unit of that parallelism is refused (0 means 1).
pub(crate) fn threads(asked: Option<usize>) -> Result<usize> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let limit = cores.saturating_mul(THREADS_PER_CORE);
    match asked {
        None => Ok(cores),
        Some(t) if t <= limit => Ok(t.max(1)),
        Some(t) => Err(Error::Spec(format!(
            "--threads {t}: over the limit of {limit} ({THREADS_PER_CORE} per unit of this \
             machine's available parallelism, {cores}): the runs are CPU-bound, so more threads \
             only hold more runs in memory at once; without --threads a sweep uses {cores}"
        ))),
    }
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
}

impl Grid {
    /// The number of points (0 when it does not fit: no sweep writes such a grid).
    pub(crate) fn len(&self) -> u64 {
        point_count(&self.vary).unwrap_or(0)
    }

    /// The point at `index` (< [`Grid::len`]).
    pub(crate) fn point(&self, index: usize) -> Point {
        point(&self.vary, index)
    }
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
    /// The version of the file's format (`RUNS_FORMAT` in the merge module): a shard of another version is
    /// refused, not misread.
    pub format: u32,
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
    /// Threads (None: one per unit of the machine's available parallelism).
    pub threads: Option<usize>,
    /// Runs (points x seeds of the whole grid) at most ([`DEFAULT_MAX_RUNS`]).
    pub max_runs: u64,
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
    /// Worker threads ([`threads`]).
    threads: usize,
}

/// Resolve every point of the sweep's shard: a bad value (or a name the scenario does not
/// declare) fails here, naming the point, before any run.
pub fn prepare<'a>(spec: &'a Spec<'a>) -> Result<Prepared<'a>> {
    let (points, _) = check_size(&spec.vary, spec.seeds, spec.max_runs)?;
    let threads = threads(spec.threads)?;
    let (i, n) = spec.shard;
    if n == 0 || i >= n {
        return Err(Error::Spec(format!("--shard {i}/{n}: expected 0 <= I < N")));
    }
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
    };
    // The shard's points, one at a time: at most `max_runs` of them (checked above).
    let points = usize::try_from(points).map_err(|_| Error::Spec("grid too large".into()))?;
    let mine: Vec<Point> = (i..points).step_by(n).map(|k| grid.point(k)).collect();
    let scenarios: Vec<Scenario> = mine
        .iter()
        .map(|p| resolve(spec, p))
        .collect::<Result<_>>()?;
    Ok(Prepared {
        spec,
        grid,
        mine,
        scenarios,
        threads,
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

    /// The runs this sweep (or shard) makes.
    pub fn len(&self) -> u64 {
        self.mine.len() as u64 * self.spec.seeds
    }

    /// Whether it makes none (a shard beyond the grid's points).
    pub fn is_empty(&self) -> bool {
        self.mine.is_empty()
    }

    /// Run the sweep (or its shard); `done` is called once per finished run (from any thread).
    /// Runs are numbered point-major and collected in that order, whatever the threads.
    pub fn run(&self, done: &(dyn Fn() + Sync)) -> Result<Runs> {
        let (spec, mine, scenarios) = (self.spec, &self.mine, &self.scenarios);
        let grid = &self.grid;
        // Below `max_runs`, checked in `prepare`.
        let seeds =
            usize::try_from(spec.seeds).map_err(|_| Error::Spec("--seeds too large".into()))?;
        let cost = CostModel::new();
        let work = || -> Result<Vec<Run>> {
            let tables = workload_tables(scenarios, &cost).map_err(|(k, source)| Error::Fleet {
                point: mine[k].label(),
                source,
            })?;
            (0..mine.len() * seeds)
                .into_par_iter()
                .map(|j| {
                    let (k, s) = (j / seeds, j % seeds);
                    let seed = grid.base_seed.wrapping_add(s as u64);
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
        let runs = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .build()
            .map_err(|e| Error::Spec(format!("thread pool of {}: {e}", self.threads)))?
            .install(work)?;
        Ok(Runs {
            format: merge::RUNS_FORMAT,
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
    let len = runs.grid.len();
    by_point
        .iter()
        .filter(|(index, _)| (**index as u64) < len)
        .map(|(&index, rs)| {
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
            PointStats {
                point: runs.grid.point(index),
                metrics,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mixed-radix walk is the cartesian product, the first key varying slowest.
    #[test]
    fn points_are_the_product_in_order() {
        let vary = [
            Vary::parse("a=1,2").unwrap(),
            Vary::parse("b=x,y,z").unwrap(),
            Vary::parse("c=only").unwrap(),
        ];
        assert_eq!(point_count(&vary), Some(6));
        let labels: Vec<String> = (0..6).map(|k| point(&vary, k).label()).collect();
        let want: Vec<String> = ["1", "2"]
            .iter()
            .flat_map(|a| ["x", "y", "z"].map(|b| format!("a={a} b={b} c=only")))
            .collect();
        assert_eq!(labels, want);
        assert_eq!(point(&[], 0).label(), "base");
        assert_eq!(point_count(&[]), Some(1));
        let wide = Vary {
            key: "k".into(),
            values: vec![String::new(); 1 << 16],
        };
        assert_eq!(point_count(&vec![wide; 4]), None);
        assert!(check_size(&vary, 3, 17).is_err() && check_size(&vary, 3, 18).is_ok());
        assert!(threads(Some(usize::MAX)).is_err() && threads(Some(0)).unwrap() == 1);
    }
}
