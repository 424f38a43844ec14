//! `trnsim validate`: the model against published Trainium measurements.
//!
//! A cycle-approximate simulator is worth what its validation shows, so the published numbers
//! (trainium.md section 7, copied with their sources into `validation/measurements.toml`) are
//! data, and each is reproduced by a kernel written in the published kernel's loop structure.
//! The pipeline: rows (the TOML file) -> runs (each row's kernel through the same code as `trnsim
//! nki` or `trnsim run`, timing only) -> errors (signed percent for device times, points for
//! profile percentages) -> report ([`render()`]). Rows that measure a compiler-scheduled naive
//! kernel are flagged: they are shown but kept out of the pass/fail and the median, because the
//! same naive kernel measured 51.8 ms and 21.0 ms on two SDK versions.

pub mod render;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cli::hw::HwArgs;
use crate::cli::{Error, Result};
use crate::numerics::DType;
use crate::report::Format;

pub use render::render;

/// The measurements file, relative to the repository root.
pub const MEASUREMENTS: &str = "validation/measurements.toml";

/// The measurements file as parsed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    /// Every published measurement.
    row: Vec<Row>,
}

/// One published measurement and the kernel that reproduces it.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// A short stable name (`--row`).
    pub id: String,
    /// What was measured.
    pub what: String,
    /// The preset it was measured on: trn1, trn2 or trn3.
    pub hardware: String,
    /// The published value, in `unit`.
    pub published: f64,
    /// `ms`, `us`, `ns` (device time) or `percent` (a profile percentage; the report's metric is
    /// then a fraction, 0..1, as every utilisation field is, compared x 100).
    pub unit: String,
    /// Where it was published (document and section, as trainium.md cites it).
    pub source: String,
    /// The kernel: `kernels/nki/validation/FILE.py::FUNCTION` or `validation/traces/FILE.trace`.
    pub kernel: String,
    /// The NKI kernel's inputs (timing only: header-only `.npy` files).
    #[serde(default)]
    pub inputs: Vec<Input>,
    /// The report field read: a dotted path into `trnsim run --format json`'s report.
    pub metric: String,
    /// The metric is divided by this (a chain's length, to get one instruction's interval).
    #[serde(default)]
    pub divide_by: Option<f64>,
    /// Percent of the published value (device time) or points (percentages).
    pub tolerance: f64,
    /// Why the row is not a fixed point (a compiler-scheduled naive kernel): shown, not judged.
    #[serde(default)]
    pub flag: Option<String>,
    /// The model parameter fitted to this row (docs/calibration.md): judged as any row, but its
    /// agreement is by construction, so it is kept out of the held-out median.
    #[serde(default)]
    pub fitted: Option<String>,
}

/// One kernel parameter of an NKI row.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// The kernel's parameter name.
    pub name: String,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Its dtype (`bf16`, `fp32`, ...).
    pub dtype: String,
}

/// A row's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Within tolerance.
    Pass,
    /// Out of tolerance.
    Fail,
    /// Not judged (compiler-scheduled naive kernel).
    Flagged,
}

/// A row with the model's value and its error.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// The measurement.
    pub row: Row,
    /// The model's value in the row's unit.
    pub model: f64,
    /// Signed error: percent of the published value (device time) or points (percentages).
    pub error: f64,
    /// The verdict.
    pub status: Status,
}

impl Outcome {
    /// A device-time row (its error is in percent), not a profile percentage (points).
    pub fn is_time(&self) -> bool {
        self.row.unit != "percent"
    }
}

/// The validation report: every row, then the summary over the judged rows.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The rows in file order.
    pub rows: Vec<Outcome>,
    /// Median |error| in percent over the non-flagged device-time rows (None if there are none).
    pub median_abs_time_error_pct: Option<f64>,
    /// The same median over the rows no parameter was fitted to.
    pub held_out_median_abs_time_error_pct: Option<f64>,
    /// The largest |error| over the non-flagged device-time rows, with its row's id.
    pub worst_time_row: Option<(String, f64)>,
    /// The largest |error| in points over the non-flagged percentage rows, with its row's id.
    pub worst_percent_row: Option<(String, f64)>,
    /// Non-flagged rows out of tolerance.
    pub failed: usize,
}

/// Read and check the measurements file.
pub fn load(path: &Path) -> Result<Vec<Row>> {
    let text = crate::cli::read(path)?;
    let file: File =
        toml::from_str(&text).map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    let mut seen = std::collections::HashSet::new();
    for r in &file.row {
        let at = |m: String| Error::Input(format!("{}: row '{}': {m}", path.display(), r.id));
        if !seen.insert(r.id.clone()) {
            return Err(at("the id is used twice".into()));
        }
        if !["trn1", "trn2", "trn3"].contains(&r.hardware.as_str()) {
            return Err(at(format!(
                "hardware '{}' is not trn1, trn2 or trn3",
                r.hardware
            )));
        }
        if unit_ns(&r.unit).is_none() && r.unit != "percent" {
            return Err(at(format!(
                "unit '{}' is not ms, us, ns or percent",
                r.unit
            )));
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(r.published) || !positive(r.tolerance) || !r.divide_by.is_none_or(positive) {
            return Err(at(
                "published, tolerance and divide_by must be positive".into()
            ));
        }
        for i in &r.inputs {
            i.dtype
                .parse::<DType>()
                .map_err(|e| at(format!("input '{}': {e}", i.name)))?;
        }
    }
    Ok(file.row)
}

/// Nanoseconds per unit of a device-time unit.
fn unit_ns(unit: &str) -> Option<f64> {
    match unit {
        "ms" => Some(1e6),
        "us" => Some(1e3),
        "ns" => Some(1.0),
        _ => None,
    }
}

/// Which rows to run.
#[derive(Clone, Debug, Default)]
pub struct Select {
    /// Only rows measured on this hardware.
    pub hw: Option<String>,
    /// Only the row with this id.
    pub id: Option<String>,
}

/// Run the selected rows from the repository root `root` and judge them.
pub fn validate(root: &Path, select: &Select) -> Result<Report> {
    let stage = crate::stage::Stage::start("read");
    let rows = load(&root.join(MEASUREMENTS))?;
    stage.done(format_args!("{} rows of {MEASUREMENTS}", rows.len()));
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let chosen: Vec<Row> = rows
        .into_iter()
        .filter(|r| select.hw.as_ref().is_none_or(|h| &r.hardware == h))
        .filter(|r| select.id.as_ref().is_none_or(|i| &r.id == i))
        .collect();
    if chosen.is_empty() {
        return Err(Error::Input(format!(
            "{MEASUREMENTS}: no row matches the selection (--hw-only / --row); its rows: {}",
            ids.join(", ")
        )));
    }
    // Rows that read several numbers off one run (a profile's engines) share it.
    let mut runs: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
    let mut out = Vec::new();
    let stage = crate::stage::Stage::start("simulate");
    for row in chosen {
        tracing::debug!(row = %row.id, kernel = %row.kernel, "validation row");
        let key = serde_json::to_string(&(&row.kernel, &row.hardware, &row.inputs))
            .expect("a row's run key serializes");
        let report = match runs.get(&key) {
            Some(r) => r.clone(),
            None => {
                let r = run_row(root, &row)?;
                runs.insert(key, r.clone());
                r
            }
        };
        out.push(judge(row, &report)?);
    }
    stage.done(format_args!("{} rows, {} runs", out.len(), runs.len()));
    Ok(summarize(out))
}

/// Run a row's kernel, timing only, and return `trnsim run`'s JSON report.
fn run_row(root: &Path, row: &Row) -> Result<Value> {
    let hw = HwArgs {
        hw: row.hardware.clone(),
        ..Default::default()
    };
    let kernel = root.join(&row.kernel);
    let text = if row.kernel.ends_with(".trace") {
        let args = crate::cli::run::RunArgs {
            trace: kernel,
            hw,
            no_data: true,
            format: Format::Json,
            ..Default::default()
        };
        crate::cli::run::run(&args)?
    } else {
        let work = crate::cli::nki::WorkDir::new()?;
        let mut args = crate::cli::nki::NkiArgs {
            kernel: kernel.display().to_string(),
            hw,
            no_data: true,
            format: Format::Json,
            ..Default::default()
        };
        for i in &row.inputs {
            let path = work.0.join(format!("{}.npy", i.name));
            write_npy_header(&path, &i.shape)?;
            args.inputs.push((i.name.clone(), path));
            let dtype = i.dtype.parse::<DType>().map_err(Error::Numerics)?;
            args.dtypes.push((i.name.clone(), dtype));
        }
        crate::cli::nki::run(&args)?.text
    };
    serde_json::from_str(&text).map_err(|e| {
        Error::Internal(format!(
            "row '{}': the run's report is not JSON: {e}",
            row.id
        ))
    })
}

/// A header-only float32 `.npy` of `shape` (the run is timing-only: `--no-data` reads headers).
fn write_npy_header(path: &Path, shape: &[usize]) -> Result<()> {
    let bytes = crate::numerics::npy::header_only_f32(shape);
    std::fs::write(path, bytes).map_err(Error::file(path))
}

/// The model's value of a row from its report, and the row's error and verdict.
fn judge(row: Row, report: &Value) -> Result<Outcome> {
    let raw = row
        .metric
        .split('.')
        .try_fold(report, |v, k| v.get(k))
        .and_then(Value::as_f64)
        .ok_or_else(|| {
            Error::Input(format!(
                "{MEASUREMENTS}: row '{}': metric '{}' is not a number in the run's report",
                row.id, row.metric
            ))
        })?;
    let per = raw / row.divide_by.unwrap_or(1.0);
    let (model, error) = match unit_ns(&row.unit) {
        Some(ns) => {
            let model = per / ns;
            (model, (model - row.published) / row.published * 100.0)
        }
        None => (100.0 * per, 100.0 * per - row.published),
    };
    let status = if row.flag.is_some() {
        Status::Flagged
    } else if error.abs() <= row.tolerance {
        Status::Pass
    } else {
        Status::Fail
    };
    Ok(Outcome {
        row,
        model,
        error,
        status,
    })
}

/// The summary over the judged rows.
fn summarize(rows: Vec<Outcome>) -> Report {
    let judged = |time: bool| {
        rows.iter()
            .filter(move |o| o.status != Status::Flagged && o.is_time() == time)
    };
    let worst = |time: bool| {
        judged(time)
            .max_by(|a, b| a.error.abs().total_cmp(&b.error.abs()))
            .map(|o| (o.row.id.clone(), o.error))
    };
    let median = |held_out: bool| {
        let mut abs: Vec<f64> = judged(true)
            .filter(|o| !held_out || o.row.fitted.is_none())
            .map(|o| o.error.abs())
            .collect();
        abs.sort_by(f64::total_cmp);
        match abs.len() {
            0 => None,
            n if n % 2 == 1 => Some(abs[n / 2]),
            n => Some((abs[n / 2 - 1] + abs[n / 2]) / 2.0),
        }
    };
    let failed = rows.iter().filter(|o| o.status == Status::Fail).count();
    Report {
        median_abs_time_error_pct: median(false),
        held_out_median_abs_time_error_pct: median(true),
        worst_time_row: worst(true),
        worst_percent_row: worst(false),
        failed,
        rows,
    }
}

/// The repository root: the current directory if it holds the measurements file, else the
/// crate's source directory (a binary run from elsewhere in a checkout).
pub fn root() -> PathBuf {
    let here = PathBuf::from(".");
    if here.join(MEASUREMENTS).is_file() {
        here
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }
}
