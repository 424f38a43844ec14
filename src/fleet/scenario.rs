//! Scenarios: the TOML format (documented in `scenarios/README.md`), `--set key=value`
//! overrides, validation with errors that name the file, line and key path, and the resolved,
//! immutable [`Scenario`] a run takes.
//!
//! The file is deserialized with unknown keys denied; every value is then checked and
//! resolved (generation names to ids, GW to chips, priority class names to numbers, traces
//! read). An error found after parsing names its key path; the line comes from the parsed
//! document's spans.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use toml::de::{DeTable, DeValue};

use super::demand::{
    DemandStream, Dist, JobTemplate, PoissonStream, RateSchedule, WorkDist, WorkloadDraw,
    WorkloadOption,
};
use super::error::{Error, Result};
use super::hardware::{Delivery, FleetPlan, GenId, Generation};
use super::job::{JobSpec, WorkloadId};
use super::policy::PolicyKind;
use super::reclaim::{Reclaim, ReclaimMode};
use super::tenant::{
    BorrowWithinCohort, CohortPlan, Preemption, Quota, ReclaimWithinCohort, Reservation,
    SPOT_PRIORITY, TenantPlan, WithinQueue, quota_epochs, quotas_at,
};
use super::time::{DAY_S, Duration, YEAR_S};
use super::trace::{self, Columns, TimeFormat, TraceDefaults, TraceFormat};
use crate::workload::Workload;

/// What a blocked job does to the jobs behind it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backfill {
    /// Strict FIFO: a blocked job blocks the rest of its queue for the round.
    None,
    /// Later jobs that fit start (Kueue's BestEffortFIFO); large jobs may starve.
    #[default]
    BestEffort,
    /// EASY: the first blocked job per generation gets a start-time promise; later jobs start
    /// only if they end before it or fit in the chips spare at that time.
    Easy,
}

/// Policy settings of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PolicyConfig {
    /// Which policy.
    pub kind: PolicyKind,
    /// Backfill mode.
    pub backfill: Backfill,
    /// Jobs examined per queue per round past blocked ones (a bound on work per round).
    pub max_scan: u32,
    /// How preemptions are carried out.
    pub reclaim: Reclaim,
    /// Interval of quota re-evaluation during reservation ramps (s).
    pub quota_step_s: u64,
}

/// A resolved scenario: immutable, shareable across threads and runs.
#[derive(Clone, Debug, Serialize)]
pub struct Scenario {
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// End of the simulation (s).
    pub horizon_s: u64,
    /// Default seed.
    pub seed: u64,
    /// Time-series sampling interval (s).
    pub report_interval_s: u64,
    /// Hardware.
    pub fleet: FleetPlan,
    /// Tenants, in file order.
    pub tenants: Vec<TenantPlan>,
    /// Cohorts, in file order.
    pub cohorts: Vec<CohortPlan>,
    /// Demand streams, in file order.
    pub demand: Vec<DemandStream>,
    /// Policy.
    pub policy: PolicyConfig,
    /// Workloads (`[workloads.NAME]`), in file order: [`WorkloadId`] indexes this.
    pub workloads: Vec<WorkloadDef>,
}

/// A named workload of a scenario: what its jobs run, timed on each generation's chip preset by
/// [`super::workload::WorkloadRunTime`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadDef {
    /// Name (the key of `[workloads.NAME]`).
    pub name: String,
    /// The workload.
    pub workload: Workload,
    /// Where it is defined (`file:line`, or `file (--set)`), for errors found when it is timed.
    #[serde(skip)]
    pub location: String,
}

// ---------------------------------------------------------------------------------------------
// The file format.

/// A table whose keys are names, kept in file order.
#[derive(Clone, Debug)]
struct Named<T>(Vec<(String, T)>);

impl<T> Default for Named<T> {
    fn default() -> Self {
        Named(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Named<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Named<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of named entries")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut m: A,
            ) -> std::result::Result<Named<T>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, T>()? {
                    out.push((k, v));
                }
                Ok(Named(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// A number, or a duration string (`"2h"`) read as seconds.
#[derive(Clone, Copy, Debug)]
struct Num(f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Num;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, or a duration such as \"2h\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Num, E> {
                Ok(Num(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Num, E> {
                Ok(Num(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Num, E> {
                Duration::parse(v)
                    .map(|d| Num(d.0 as f64))
                    .map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// A priority: a number, or the name of a class in `[priority_classes]`.
#[derive(Clone, Debug)]
enum Prio {
    Value(i64),
    Class(String),
}

impl<'de> Deserialize<'de> for Prio {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Prio;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer priority or a priority class name")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Prio, E> {
                Ok(Prio::Value(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Prio, E> {
                i64::try_from(v)
                    .map(Prio::Value)
                    .map_err(|_| E::custom("priority out of range"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Prio, E> {
                Ok(Prio::Class(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileScenario {
    name: Option<String>,
    #[serde(default)]
    description: String,
    horizon: Duration,
    #[serde(default)]
    seed: u64,
    report_interval: Option<Duration>,
    fleet: FileFleet,
    #[serde(default)]
    priority_classes: Named<i64>,
    #[serde(default)]
    cohorts: Named<FileCohort>,
    tenants: Named<FileTenant>,
    #[serde(default)]
    demand: Named<FileDemand>,
    #[serde(default)]
    policy: FilePolicy,
    #[serde(default)]
    workloads: Named<Workload>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFleet {
    generations: Named<FileGeneration>,
    #[serde(default)]
    deliveries: Vec<FileDelivery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGeneration {
    preset: Option<String>,
    watts_per_chip: Option<f64>,
    pue: Option<f64>,
    ultraserver_chips: Option<u32>,
    ultraservers_per_cluster: Option<u32>,
    speedup: Option<f64>,
    mtbf: Option<Duration>,
    repair: Option<Duration>,
    hw: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDelivery {
    at: Duration,
    generation: String,
    chips: Option<u64>,
    gw: Option<f64>,
    ultraservers: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileCohort {
    parent: Option<String>,
    weight: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTenant {
    cohort: Option<String>,
    priority: Option<Prio>,
    weight: Option<f64>,
    #[serde(default)]
    spot: bool,
    #[serde(default)]
    quota: Named<FileQuota>,
    #[serde(default)]
    reservation: Named<FileReservation>,
    preemption: Option<FilePreemption>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileQuota {
    nominal_chips: Option<u64>,
    nominal_gw: Option<f64>,
    nominal_share: Option<f64>,
    borrowing_limit_chips: Option<u64>,
    lending_limit_chips: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileReservation {
    chips: Option<u64>,
    gw: Option<f64>,
    start: Option<Duration>,
    end: Option<Duration>,
    ramp: Option<Duration>,
    exclusive: Option<f64>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct FilePreemption {
    within_queue: Option<WithinQueue>,
    reclaim_within_cohort: Option<ReclaimWithinCohort>,
    borrow_within_cohort: Option<BorrowWithinCohort>,
    borrow_max_priority: Option<Prio>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FilePolicy {
    name: Option<PolicyKind>,
    backfill: Option<Backfill>,
    max_scan: Option<u32>,
    reclaim: Option<ReclaimMode>,
    grace: Option<Duration>,
    throttle_fraction: Option<f64>,
    throttle_round: Option<Duration>,
    quota_step: Option<Duration>,
    preemption: Option<FilePreemption>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum DemandKind {
    Poisson,
    Jobs,
    Trace,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum TraceKind {
    Philly,
    Csv,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum DistKind {
    Fixed,
    Exponential,
    Lognormal,
    Uniform,
    Empirical,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDist {
    dist: DistKind,
    value: Option<Num>,
    mean: Option<Num>,
    median: Option<Num>,
    sigma: Option<f64>,
    min: Option<Num>,
    max: Option<Num>,
    values: Option<Vec<Num>>,
    weights: Option<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileJob {
    at: Duration,
    chips: Option<u32>,
    run_time: Option<Duration>,
    workload: Option<String>,
    steps: Option<u64>,
    count: Option<u32>,
    priority: Option<Prio>,
    preemptible: Option<bool>,
    generation: Option<String>,
    checkpoint: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRatePoint {
    at: Duration,
    rate_per_hour: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileColumns {
    submit: String,
    run_time: String,
    chips: String,
    tenant: Option<String>,
}

/// `workload = "name"`, or a distribution over names:
/// `workload = { dist = "empirical", values = ["a", "b"], weights = [3, 1] }`.
enum FileWorkloadChoice {
    One(String),
    Empirical(FileWorkloadDist),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWorkloadDist {
    dist: WorkloadDistKind,
    values: Vec<String>,
    weights: Option<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum WorkloadDistKind {
    Empirical,
}

impl<'de> Deserialize<'de> for FileWorkloadChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileWorkloadChoice;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a workload name, or { dist = \"empirical\", values = [names], weights = [...] }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Self::Value, E> {
                Ok(FileWorkloadChoice::One(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                m: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                FileWorkloadDist::deserialize(de::value::MapAccessDeserializer::new(m))
                    .map(FileWorkloadChoice::Empirical)
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDemand {
    kind: DemandKind,
    tenant: Option<String>,
    generation: Option<String>,
    priority: Option<Prio>,
    preemptible: Option<bool>,
    checkpoint: Option<Duration>,
    // poisson
    rate_per_hour: Option<f64>,
    rate_schedule: Option<Vec<FileRatePoint>>,
    load: Option<f64>,
    start: Option<Duration>,
    end: Option<Duration>,
    daily_amplitude: Option<f64>,
    peak_hour: Option<f64>,
    chips: Option<FileDist>,
    run_time: Option<FileDist>,
    work_chip_hours: Option<FileDist>,
    workload: Option<FileWorkloadChoice>,
    steps: Option<FileDist>,
    max_jobs: Option<u64>,
    // jobs
    jobs: Option<Vec<FileJob>>,
    // trace
    path: Option<String>,
    format: Option<TraceKind>,
    columns: Option<FileColumns>,
    time_format: Option<TimeFormat>,
    chips_per_unit: Option<f64>,
    limit: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Presets and limits.

/// Built-in generations: (name, watts per chip, PUE, UltraServer chips, UltraServers per
/// cluster, speed-up over trn2). UltraServer sizes: trainium.md section 2 (Trn2: 64 chips;
/// Trn3 Gen2: 144). Watts and PUE are assumptions sized so that 500,000 Trn2 chips draw about
/// 1 GW (trainium.md section 8: Project Rainier). The Trn3 speed-up of 1.5 sits between the bf16
/// (1.0x) and MXFP8 (1.94x) peak ratios of section 2.
pub const GENERATION_PRESETS: [(&str, f64, f64, u32, u32, f64); 2] = [
    ("trn2", 1500.0, 1.3, 64, 64, 1.0),
    ("trn3", 2000.0, 1.2, 144, 32, 1.5),
];

const MAX_CHIPS_PER_GENERATION: u64 = 1_000_000_000;
const MAX_JOBS: f64 = 20_000_000.0;
const MAX_SAMPLES: u64 = 1_000_000;
const MAX_WORKLOADS: usize = 1000;

// ---------------------------------------------------------------------------------------------
// Loading.

/// A problem found while resolving the file: key path and message.
struct Bad {
    path: String,
    message: String,
}

enum BuildError {
    At(Bad),
    Other(Error),
}

impl From<Error> for BuildError {
    fn from(e: Error) -> Self {
        BuildError::Other(e)
    }
}

fn bad<T>(
    path: impl Into<String>,
    message: impl Into<String>,
) -> std::result::Result<T, BuildError> {
    Err(BuildError::At(Bad {
        path: path.into(),
        message: message.into(),
    }))
}

type Built<T> = std::result::Result<T, BuildError>;

impl Scenario {
    /// Read a scenario file (and the traces it names, relative to it), apply `key=value`
    /// overrides, and resolve it.
    pub fn load(path: &Path, overrides: &[(String, String)]) -> Result<Scenario> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
            file: file.clone(),
            message: e.to_string(),
        })?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Scenario::from_toml(&text, &file, &base, overrides, &|p| {
            std::fs::read_to_string(p)
        })
    }

    /// Resolve scenario text. `file` names it in errors; trace paths are relative to
    /// `base_dir` and read through `read`.
    pub fn from_toml(
        text: &str,
        file: &str,
        base_dir: &Path,
        overrides: &[(String, String)],
        read: &dyn Fn(&Path) -> std::io::Result<String>,
    ) -> Result<Scenario> {
        let doc = DeTable::parse(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            Error::Scenario {
                location: format!("{file}:{}", line_of(text, at)),
                path: "(syntax)".into(),
                message: e.message().trim().to_string(),
            }
        })?;
        let parsed: FileScenario = toml::from_str(text).map_err(|e| {
            let at = e.span().map_or(0, |s| s.start);
            let path = path_at(doc.get_ref(), at);
            Error::Scenario {
                location: format!("{file}:{}", line_of(text, at)),
                path: if path.is_empty() {
                    "(top level)".into()
                } else {
                    path
                },
                message: e.message().trim().to_string(),
            }
        })?;
        let parsed = if overrides.is_empty() {
            parsed
        } else {
            let set_location = format!("{file} (--set)");
            let mut root: toml::Table =
                text.parse().map_err(|e: toml::de::Error| Error::Scenario {
                    location: file.to_string(),
                    path: "(syntax)".into(),
                    message: e.message().to_string(),
                })?;
            for (k, v) in overrides {
                set_path(&mut root, k, v).map_err(|message| Error::Scenario {
                    location: set_location.clone(),
                    path: k.clone(),
                    message,
                })?;
            }
            toml::Value::Table(root)
                .try_into()
                .map_err(|e: toml::de::Error| Error::Scenario {
                    location: set_location.clone(),
                    path: overrides
                        .iter()
                        .map(|o| o.0.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    message: e.message().trim().to_string(),
                })?
        };
        let default_name = Path::new(file).file_stem().map_or_else(
            || "scenario".to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        // `file:line` of a key path, or `file (--set)` when an override touches it.
        let location = |path: &str| {
            let overridden = overrides
                .iter()
                .any(|(k, _)| path.starts_with(k.as_str()) || k.starts_with(path));
            if overridden {
                format!("{file} (--set)")
            } else {
                match locate(doc.get_ref(), path) {
                    Some(at) => format!("{file}:{}", line_of(text, at)),
                    None => file.to_string(),
                }
            }
        };
        let mut scenario = build(&parsed, &default_name, base_dir, read).map_err(|e| match e {
            BuildError::Other(e) => e,
            BuildError::At(b) => Error::Scenario {
                location: location(&b.path),
                path: b.path,
                message: b.message,
            },
        })?;
        for w in &mut scenario.workloads {
            w.location = location(&format!("workloads.{}", w.name));
        }
        Ok(scenario)
    }

    /// The generation id of a name.
    pub fn generation(&self, name: &str) -> Option<GenId> {
        self.fleet.generations.iter().position(|g| g.name == name)
    }

    /// The tenant id of a name.
    pub fn tenant(&self, name: &str) -> Option<usize> {
        self.tenants.iter().position(|t| t.name == name)
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The key path of the innermost key or value containing byte `offset`. Tables written as
/// `[headers]` have no span of their own, so the search looks inside every table.
fn path_at(doc: &DeTable, offset: usize) -> String {
    fn in_table(t: &DeTable, offset: usize) -> Option<Vec<String>> {
        for (k, v) in t.iter() {
            let (ks, vs) = (k.span(), v.span());
            let here = ks.contains(&offset) || vs.contains(&offset);
            if let Some(mut rest) = in_value(v.get_ref(), offset) {
                rest.insert(0, k.get_ref().to_string());
                return Some(rest);
            }
            if here {
                return Some(vec![k.get_ref().to_string()]);
            }
        }
        None
    }
    fn in_value(v: &DeValue, offset: usize) -> Option<Vec<String>> {
        match v {
            DeValue::Table(t) => in_table(t, offset),
            DeValue::Array(a) => a.iter().enumerate().find_map(|(i, e)| {
                let inner = in_value(e.get_ref(), offset);
                if inner.is_none() && !e.span().contains(&offset) {
                    return None;
                }
                let mut out = vec![format!("[{i}]")];
                out.extend(inner.unwrap_or_default());
                Some(out)
            }),
            _ => None,
        }
    }
    let parts = in_table(doc, offset).unwrap_or_default();
    let mut out = String::new();
    for p in parts {
        if !out.is_empty() && !p.starts_with('[') {
            out.push('.');
        }
        out.push_str(&p);
    }
    out
}

/// Byte offset of the deepest existing key along a key path (`a.b[2].c`).
fn locate(doc: &DeTable, path: &str) -> Option<usize> {
    let mut table = doc;
    let mut found = None;
    let mut value: Option<&DeValue> = None;
    for seg in path.split('.') {
        let (name, index) = match seg.split_once('[') {
            Some((n, rest)) => (n, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (seg, None),
        };
        if let Some(v) = value {
            match v {
                DeValue::Table(t) => table = t,
                _ => return found,
            }
        }
        let (k, v) = table.iter().find(|(k, _)| k.get_ref() == name)?;
        found = Some(k.span().start);
        let mut v = v;
        if let Some(i) = index {
            match v.get_ref() {
                DeValue::Array(a) => match a.get(i) {
                    Some(e) => {
                        found = Some(e.span().start);
                        v = e;
                    }
                    None => return found,
                },
                _ => return found,
            }
        }
        value = Some(v.get_ref());
    }
    found
}

/// Set `a.b.c = raw` in a TOML table (numeric segments index arrays); missing keys are added,
/// so a misspelt key is reported by the schema.
fn set_path(root: &mut toml::Table, path: &str, raw: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = path.split('.').collect();
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err("expected a dotted key path such as tenants.anchor.weight".into());
    }
    let value = parse_literal(raw);
    let (first, rest) = parts.split_first().expect("split gives at least one part");
    if rest.is_empty() {
        root.insert(first.to_string(), value);
        return Ok(());
    }
    let mut node = root
        .entry(first.to_string())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    for (i, part) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        let here = parts[..=i].join(".");
        node = match node {
            toml::Value::Table(t) => {
                if last {
                    t.insert(part.to_string(), value);
                    return Ok(());
                }
                t.entry(part.to_string())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            }
            toml::Value::Array(a) => {
                let k: usize = part.parse().map_err(|_| {
                    format!("'{here}' is an array; expected an index, found '{part}'")
                })?;
                let len = a.len();
                let slot = a.get_mut(k).ok_or_else(|| {
                    format!("index {k} is out of range; '{here}' has {len} entries")
                })?;
                if last {
                    *slot = value;
                    return Ok(());
                }
                slot
            }
            _ => return Err(format!("'{here}' is not a table")),
        };
    }
    Ok(())
}

fn parse_literal(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Resolution.

fn check_range(path: &str, v: f64, lo: f64, hi: f64) -> Built<()> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        bad(path, format!("{v} is out of range; expected {lo} to {hi}"))
    }
}

fn one_of<T: Copy>(path: &str, options: &[(&str, Option<T>)]) -> Built<(usize, T)> {
    let given: Vec<(usize, T)> = options
        .iter()
        .enumerate()
        .filter_map(|(i, (_, v))| v.map(|v| (i, v)))
        .collect();
    let names: Vec<&str> = options.iter().map(|o| o.0).collect();
    match given.as_slice() {
        [one] => Ok(*one),
        [] => bad(
            path,
            format!("expected one of the keys {}", names.join(", ")),
        ),
        _ => bad(
            path,
            format!(
                "give only one of the keys {} (found several)",
                names.join(", ")
            ),
        ),
    }
}

struct Names<'a> {
    generations: Vec<&'a str>,
    tenants: Vec<&'a str>,
    workloads: Vec<&'a str>,
    classes: &'a Named<i64>,
}

/// The index of `name` in `list`, or an error at `path` listing what `what` may be.
fn lookup(list: &[&str], what: &str, path: &str, name: &str) -> Built<usize> {
    match list.iter().position(|x| *x == name) {
        Some(i) => Ok(i),
        None => bad(
            path,
            format!(
                "unknown {what} '{name}'; expected one of: {}",
                if list.is_empty() {
                    format!("(no [{what}s])")
                } else {
                    list.join(", ")
                }
            ),
        ),
    }
}

impl Names<'_> {
    fn generation(&self, path: &str, name: &str) -> Built<GenId> {
        lookup(&self.generations, "generation", path, name)
    }

    fn tenant(&self, path: &str, name: &str) -> Built<usize> {
        lookup(&self.tenants, "tenant", path, name)
    }

    fn workload(&self, path: &str, name: &str) -> Built<WorkloadId> {
        lookup(&self.workloads, "workload", path, name).map(|i| i as WorkloadId)
    }

    fn priority(&self, path: &str, p: &Prio) -> Built<i32> {
        let v = match p {
            Prio::Value(v) => *v,
            Prio::Class(c) => match self.classes.0.iter().find(|(n, _)| n == c) {
                Some((_, v)) => *v,
                None => {
                    let names: Vec<&str> = self.classes.0.iter().map(|x| x.0.as_str()).collect();
                    return bad(
                        path,
                        format!(
                            "unknown priority class '{c}'; expected an integer or one of: {}",
                            if names.is_empty() {
                                "(no [priority_classes])".to_string()
                            } else {
                                names.join(", ")
                            }
                        ),
                    );
                }
            },
        };
        if v.unsigned_abs() > 1_000_000_000 {
            return bad(
                path,
                format!("priority {v} is out of range; expected -1e9 to 1e9"),
            );
        }
        Ok(v as i32)
    }
}

fn generation(path: &str, name: &str, f: &FileGeneration) -> Built<Generation> {
    let preset_name = f.preset.as_deref().or(GENERATION_PRESETS
        .iter()
        .any(|p| p.0 == name)
        .then_some(name));
    let preset = match preset_name {
        Some(p) => match GENERATION_PRESETS.iter().find(|x| x.0 == p) {
            Some(x) => Some(*x),
            None => {
                return bad(
                    format!("{path}.preset"),
                    format!("unknown preset '{p}'; expected trn2 or trn3"),
                );
            }
        },
        None => None,
    };
    let need = |v: Option<f64>, key: &str, from_preset: Option<f64>| -> Built<f64> {
        match v.or(from_preset) {
            Some(x) => Ok(x),
            None => bad(
                format!("{path}.{key}"),
                format!("missing; generation '{name}' has no preset, so {key} is required"),
            ),
        }
    };
    let watts = need(f.watts_per_chip, "watts_per_chip", preset.map(|p| p.1))?;
    check_range(&format!("{path}.watts_per_chip"), watts, 1.0, 100_000.0)?;
    let pue = f.pue.or(preset.map(|p| p.2)).unwrap_or(1.0);
    check_range(&format!("{path}.pue"), pue, 1.0, 5.0)?;
    let us = need(
        f.ultraserver_chips.map(f64::from),
        "ultraserver_chips",
        preset.map(|p| p.3 as f64),
    )?;
    check_range(&format!("{path}.ultraserver_chips"), us, 1.0, 4096.0)?;
    let per_cluster = f
        .ultraservers_per_cluster
        .or(preset.map(|p| p.4))
        .unwrap_or(64);
    check_range(
        &format!("{path}.ultraservers_per_cluster"),
        per_cluster as f64,
        1.0,
        1e6,
    )?;
    let speedup = f.speedup.or(preset.map(|p| p.5)).unwrap_or(1.0);
    check_range(&format!("{path}.speedup"), speedup, 1e-3, 1e3)?;
    let mtbf_s = f.mtbf.map_or(0, |d| d.0);
    if f.mtbf.is_some() && mtbf_s == 0 {
        return bad(
            format!("{path}.mtbf"),
            "must be positive (omit it for no failures)",
        );
    }
    let repair_s = f.repair.map_or(DAY_S, |d| d.0);
    if repair_s == 0 {
        return bad(format!("{path}.repair"), "must be positive");
    }
    // The chip preset that times workload jobs: `hw`, else the generation preset's name or the
    // generation's own name when a chip preset has it (trn2, trn3).
    let chip_presets: Vec<&str> = crate::arch::PRESETS.iter().map(|p| p.0).collect();
    let hw = match &f.hw {
        Some(h) if chip_presets.contains(&h.as_str()) => Some(h.clone()),
        Some(h) => {
            return bad(
                format!("{path}.hw"),
                format!(
                    "unknown chip preset '{h}'; expected one of: {}",
                    chip_presets.join(", ")
                ),
            );
        }
        None => [preset_name, Some(name)]
            .into_iter()
            .flatten()
            .find(|n| chip_presets.contains(n))
            .map(str::to_string),
    };
    Ok(Generation {
        name: name.to_string(),
        watts_per_chip: watts,
        pue,
        ultraserver_chips: us as u32,
        ultraservers_per_cluster: per_cluster,
        speedup,
        mtbf_s,
        repair_s,
        hw,
    })
}

fn preemption(
    path: &str,
    f: Option<&FilePreemption>,
    base: Preemption,
    names: &Names,
) -> Built<Preemption> {
    let Some(f) = f else { return Ok(base) };
    Ok(Preemption {
        within_queue: f.within_queue.unwrap_or(base.within_queue),
        reclaim_within_cohort: f
            .reclaim_within_cohort
            .unwrap_or(base.reclaim_within_cohort),
        borrow_within_cohort: f.borrow_within_cohort.unwrap_or(base.borrow_within_cohort),
        borrow_max_priority: match &f.borrow_max_priority {
            Some(p) => names.priority(&format!("{path}.borrow_max_priority"), p)?,
            None => base.borrow_max_priority,
        },
    })
}

fn dist(path: &str, f: &FileDist, positive: bool) -> Built<Dist> {
    let req = |v: Option<Num>, key: &str| -> Built<f64> {
        match v {
            Some(Num(x)) if (0.0..1e15).contains(&x) => Ok(x),
            Some(Num(x)) => bad(
                format!("{path}.{key}"),
                format!("{x} is out of range; expected 0 to 1e15"),
            ),
            None => bad(format!("{path}.{key}"), "missing for this distribution"),
        }
    };
    let allowed: &[&str] = match f.dist {
        DistKind::Fixed => &["value"],
        DistKind::Exponential => &["mean"],
        DistKind::Lognormal => &["median", "sigma"],
        DistKind::Uniform => &["min", "max"],
        DistKind::Empirical => &["values", "weights"],
    };
    let present = [
        ("value", f.value.is_some()),
        ("mean", f.mean.is_some()),
        ("median", f.median.is_some()),
        ("sigma", f.sigma.is_some()),
        ("min", f.min.is_some()),
        ("max", f.max.is_some()),
        ("values", f.values.is_some()),
        ("weights", f.weights.is_some()),
    ];
    if let Some((k, _)) = present.iter().find(|(k, p)| *p && !allowed.contains(k)) {
        return bad(
            format!("{path}.{k}"),
            format!(
                "not a parameter of this distribution; expected: {}",
                allowed.join(", ")
            ),
        );
    }
    let d = match f.dist {
        DistKind::Fixed => Dist::Fixed {
            value: req(f.value, "value")?,
        },
        DistKind::Exponential => Dist::Exponential {
            mean: req(f.mean, "mean")?,
        },
        DistKind::Lognormal => {
            let sigma = f.sigma.unwrap_or(1.0);
            check_range(&format!("{path}.sigma"), sigma, 0.0, 10.0)?;
            Dist::Lognormal {
                median: req(f.median, "median")?,
                sigma,
            }
        }
        DistKind::Uniform => {
            let (min, max) = (req(f.min, "min")?, req(f.max, "max")?);
            if max < min {
                return bad(format!("{path}.max"), format!("{max} is below min {min}"));
            }
            Dist::Uniform { min, max }
        }
        DistKind::Empirical => {
            let values: Vec<f64> = match &f.values {
                Some(v) if !v.is_empty() => v.iter().map(|x| x.0).collect(),
                _ => return bad(format!("{path}.values"), "expected a non-empty list"),
            };
            if let Some(x) = values
                .iter()
                .find(|x| !(x.is_finite() && **x >= 0.0 && **x < 1e15))
            {
                return bad(
                    format!("{path}.values"),
                    format!("{x} is out of range; expected 0 to 1e15"),
                );
            }
            let weights = f.weights.clone().unwrap_or_else(|| vec![1.0; values.len()]);
            if weights.len() != values.len() {
                return bad(
                    format!("{path}.weights"),
                    format!(
                        "{} weights for {} values; expected one per value",
                        weights.len(),
                        values.len()
                    ),
                );
            }
            if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0))
                || weights.iter().sum::<f64>() <= 0.0
            {
                return bad(
                    format!("{path}.weights"),
                    "expected non-negative weights with a positive sum",
                );
            }
            let total: f64 = weights.iter().sum();
            let mut acc = 0.0;
            let cumulative = weights
                .iter()
                .map(|w| {
                    acc += w / total;
                    acc
                })
                .collect();
            Dist::Empirical { values, cumulative }
        }
    };
    if positive && d.mean() <= 0.0 {
        return bad(path, "the mean must be positive");
    }
    Ok(d)
}

fn build(
    f: &FileScenario,
    default_name: &str,
    base_dir: &Path,
    read: &dyn Fn(&Path) -> std::io::Result<String>,
) -> Built<Scenario> {
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
    // Fleet.
    if f.fleet.generations.0.is_empty() {
        return bad("fleet.generations", "expected at least one generation");
    }
    if f.fleet.generations.0.len() > 255 {
        return bad("fleet.generations", "at most 255 generations");
    }
    let generations = f
        .fleet
        .generations
        .0
        .iter()
        .map(|(n, g)| generation(&format!("fleet.generations.{n}"), n, g))
        .collect::<Built<Vec<_>>>()?;
    let names = Names {
        generations: f.fleet.generations.0.iter().map(|x| x.0.as_str()).collect(),
        tenants: f.tenants.0.iter().map(|x| x.0.as_str()).collect(),
        workloads: f.workloads.0.iter().map(|x| x.0.as_str()).collect(),
        classes: &f.priority_classes,
    };
    let mut deliveries = Vec::new();
    let mut totals = vec![0u64; generations.len()];
    for (i, d) in f.fleet.deliveries.iter().enumerate() {
        let path = format!("fleet.deliveries[{i}]");
        let g = names.generation(&format!("{path}.generation"), &d.generation)?;
        let gen_ = &generations[g];
        let us = gen_.ultraserver_chips as u64;
        let (k, _) = one_of(
            &path,
            &[
                ("chips", d.chips.map(|_| ())),
                ("gw", d.gw.map(|_| ())),
                ("ultraservers", d.ultraservers.map(|_| ())),
            ],
        )?;
        let ultraservers = match k {
            0 => d.chips.expect("given") / us,
            1 => {
                let gw = d.gw.expect("given");
                check_range(&format!("{path}.gw"), gw, 0.0, 1000.0)?;
                gen_.chips_for_gw(gw) / us
            }
            _ => d.ultraservers.expect("given"),
        };
        if ultraservers == 0 {
            return bad(
                &path,
                format!("less than one UltraServer ({us} chips) of {}", gen_.name),
            );
        }
        totals[g] += ultraservers * us;
        if totals[g] > MAX_CHIPS_PER_GENERATION || totals[g] / us >= 1 << 24 {
            return bad(
                &path,
                format!(
                    "more than {MAX_CHIPS_PER_GENERATION} chips (or 16M UltraServers) of {} in all",
                    gen_.name
                ),
            );
        }
        deliveries.push(Delivery {
            at_s: d.at.0,
            generation: g,
            ultraservers: ultraservers as u32,
        });
    }
    deliveries.sort_by_key(|d| d.at_s);
    let fleet = FleetPlan {
        generations,
        deliveries,
    };
    // Policy.
    let fp = &f.policy;
    let kind = fp.name.unwrap_or_default();
    let mut reclaim = Reclaim {
        mode: fp.reclaim.unwrap_or_default(),
        ..Reclaim::default()
    };
    if let Some(g) = fp.grace {
        reclaim.grace_s = g.0;
    } else if reclaim.mode == ReclaimMode::Graceful {
        reclaim.grace_s = 15 * 60;
    }
    if let Some(x) = fp.throttle_fraction {
        check_range("policy.throttle_fraction", x, 1e-6, 1.0)?;
        reclaim.fraction = x;
    }
    if let Some(r) = fp.throttle_round {
        if r.0 == 0 {
            return bad("policy.throttle_round", "must be positive");
        }
        reclaim.round_s = r.0;
    }
    let quota_step_s = fp.quota_step.map_or(DAY_S, |d| d.0);
    if quota_step_s == 0 || horizon_s / quota_step_s > MAX_SAMPLES {
        return bad(
            "policy.quota_step",
            "must be positive and give at most 1e6 steps over the horizon",
        );
    }
    let base_preemption = preemption(
        "policy.preemption",
        fp.preemption.as_ref(),
        Preemption::default(),
        &names,
    )?;
    let policy = PolicyConfig {
        kind,
        backfill: fp.backfill.unwrap_or_default(),
        max_scan: fp.max_scan.unwrap_or(256).max(1),
        reclaim,
        quota_step_s,
    };
    // Cohorts.
    let cohort_names: Vec<&str> = f.cohorts.0.iter().map(|x| x.0.as_str()).collect();
    let cohort_id = |path: &str, name: &str| lookup(&cohort_names, "cohort", path, name);
    let mut cohorts = Vec::new();
    for (n, c) in &f.cohorts.0 {
        let path = format!("cohorts.{n}");
        let weight = c.weight.unwrap_or(1.0);
        check_range(&format!("{path}.weight"), weight, 0.0, 1e6)?;
        cohorts.push(CohortPlan {
            name: n.clone(),
            parent: c
                .parent
                .as_deref()
                .map(|p| cohort_id(&format!("{path}.parent"), p))
                .transpose()?,
            weight,
        });
    }
    for (i, c) in cohorts.iter().enumerate() {
        let mut seen = 0;
        let mut cur = c.parent;
        while let Some(p) = cur {
            seen += 1;
            if p == i || seen > cohorts.len() {
                return bad(
                    format!("cohorts.{}.parent", c.name),
                    "the cohort parents form a cycle",
                );
            }
            cur = cohorts[p].parent;
        }
    }
    // Tenants.
    if f.tenants.0.is_empty() {
        return bad("tenants", "expected at least one tenant");
    }
    let g_n = fleet.generations.len();
    let mut tenants = Vec::new();
    let mut share_sum = vec![0.0; g_n];
    for (n, t) in &f.tenants.0 {
        let path = format!("tenants.{n}");
        let mut quota = vec![Quota::default(); g_n];
        for (gname, q) in &t.quota.0 {
            let qp = format!("{path}.quota.{gname}");
            let g = names.generation(&qp, gname)?;
            let gen_ = &fleet.generations[g];
            let mut nominal = q.nominal_chips.unwrap_or(0);
            if let Some(gw) = q.nominal_gw {
                check_range(&format!("{qp}.nominal_gw"), gw, 0.0, 1000.0)?;
                nominal += gen_.chips_for_gw(gw);
            }
            let share = q.nominal_share.unwrap_or(0.0);
            check_range(&format!("{qp}.nominal_share"), share, 0.0, 1.0)?;
            share_sum[g] += share;
            if share_sum[g] > 1.0 + 1e-9 {
                return bad(
                    format!("{qp}.nominal_share"),
                    format!(
                        "the nominal shares of {gname} add up to {:.3}; expected at most 1",
                        share_sum[g]
                    ),
                );
            }
            if nominal > MAX_CHIPS_PER_GENERATION {
                return bad(
                    &qp,
                    format!(
                        "{nominal} chips is absurd; expected at most {MAX_CHIPS_PER_GENERATION}"
                    ),
                );
            }
            quota[g] = Quota {
                nominal_chips: nominal,
                nominal_share: share,
                borrowing_limit: q.borrowing_limit_chips,
                lending_limit: q.lending_limit_chips,
            };
        }
        let mut reservation = vec![None; g_n];
        for (gname, r) in &t.reservation.0 {
            let rp = format!("{path}.reservation.{gname}");
            let g = names.generation(&rp, gname)?;
            let gen_ = &fleet.generations[g];
            let (k, _) = one_of(
                &rp,
                &[("chips", r.chips.map(|_| ())), ("gw", r.gw.map(|_| ()))],
            )?;
            let chips = if k == 0 {
                r.chips.expect("given")
            } else {
                let gw = r.gw.expect("given");
                check_range(&format!("{rp}.gw"), gw, 0.0, 1000.0)?;
                gen_.chips_for_gw(gw)
            };
            if chips > MAX_CHIPS_PER_GENERATION {
                return bad(&rp, format!("{chips} chips is absurd"));
            }
            let start_s = r.start.map_or(0, |d| d.0);
            let end_s = r.end.map_or(u64::MAX, |d| d.0);
            if end_s <= start_s {
                return bad(
                    format!("{rp}.end"),
                    format!("{end_s} s is not after the start {start_s} s"),
                );
            }
            let exclusive = r.exclusive.unwrap_or(0.0);
            check_range(&format!("{rp}.exclusive"), exclusive, 0.0, 1.0)?;
            reservation[g] = Some(Reservation {
                chips,
                start_s,
                end_s,
                ramp_s: r.ramp.map_or(0, |d| d.0),
                exclusive,
            });
        }
        let weight = t.weight.unwrap_or(1.0);
        check_range(&format!("{path}.weight"), weight, 0.0, 1e6)?;
        let priority = match &t.priority {
            Some(p) => names.priority(&format!("{path}.priority"), p)?,
            None => 0,
        };
        tenants.push(TenantPlan {
            name: n.clone(),
            cohort: t
                .cohort
                .as_deref()
                .map(|c| cohort_id(&format!("{path}.cohort"), c))
                .transpose()?,
            priority: if t.spot { SPOT_PRIORITY } else { priority },
            weight,
            spot: t.spot,
            quota,
            reservation,
            preemption: preemption(
                &format!("{path}.preemption"),
                t.preemption.as_ref(),
                base_preemption,
                &names,
            )?,
        });
    }
    // Workloads.
    if f.workloads.0.len() > MAX_WORKLOADS {
        return bad(
            "workloads",
            format!("at most {MAX_WORKLOADS} workloads (each is a chip simulation per generation)"),
        );
    }
    let mut workloads = Vec::new();
    for (n, w) in &f.workloads.0 {
        if let Err(e) = w.check() {
            return bad(format!("workloads.{n}.{}", e.field), e.message);
        }
        workloads.push(WorkloadDef {
            name: n.clone(),
            workload: w.clone(),
            location: String::new(),
        });
    }
    // Demand.
    let mut demand = Vec::new();
    let mut expected_jobs = 0.0;
    for (n, d) in &f.demand.0 {
        let path = format!("demand.{n}");
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
        let stream = demand_stream(&path, d, &ctx)?;
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
    Ok(Scenario {
        name: f.name.clone().unwrap_or_else(|| default_name.to_string()),
        description: f.description.clone(),
        horizon_s,
        seed: f.seed,
        report_interval_s,
        fleet,
        tenants,
        cohorts,
        demand,
        policy,
        workloads,
    })
}

/// A Poisson stream's arrival rate: `rate_per_hour` (constant), `rate_schedule` (points joined
/// by straight lines) or `load` (a fraction of the tenant's nominal quota on the stream's
/// generation, kept at every quota epoch, so demand grows with deliveries and reservations).
fn rate_schedule(
    path: &str,
    d: &FileDemand,
    tenant: usize,
    generation: Option<GenId>,
    chips: &Dist,
    work: &WorkDist,
    ctx: &StreamContext,
) -> Built<RateSchedule> {
    let (k, _) = one_of(
        path,
        &[
            ("rate_per_hour", d.rate_per_hour.map(|_| ())),
            ("rate_schedule", d.rate_schedule.as_ref().map(|_| ())),
            ("load", d.load.map(|_| ())),
        ],
    )?;
    match k {
        0 => {
            let rate = d.rate_per_hour.expect("given");
            check_range(&format!("{path}.rate_per_hour"), rate, 0.0, 1e9)?;
            Ok(RateSchedule::constant(rate / 3600.0))
        }
        1 => {
            let list = d.rate_schedule.as_ref().expect("given");
            if list.is_empty() {
                return bad(
                    format!("{path}.rate_schedule"),
                    "empty; expected at least one { at, rate_per_hour }",
                );
            }
            let mut points = Vec::with_capacity(list.len());
            for (i, p) in list.iter().enumerate() {
                let pp = format!("{path}.rate_schedule[{i}]");
                check_range(&format!("{pp}.rate_per_hour"), p.rate_per_hour, 0.0, 1e9)?;
                if points.last().is_some_and(|&(t, _)| p.at.0 < t) {
                    return bad(
                        format!("{pp}.at"),
                        "earlier than the point before it; expected times in order",
                    );
                }
                points.push((p.at.0, p.rate_per_hour / 3600.0));
            }
            Ok(RateSchedule::linear(points).expect("checked"))
        }
        _ => {
            let load = d.load.expect("given");
            let lp = format!("{path}.load");
            check_range(&lp, load, 0.0, 100.0)?;
            let Some(g) = generation else {
                return bad(
                    lp,
                    "needs `generation`: the load is a fraction of the tenant's nominal quota on it",
                );
            };
            // Reference chip-seconds per job, then chip-seconds on `g` at its speed-up.
            let per_job = match work {
                WorkDist::RunTime(rt) => chips.mean() * rt.mean(),
                WorkDist::ChipHours(w) => w.mean() * 3600.0,
                WorkDist::Workload(_) => {
                    return bad(
                        lp,
                        "not with a workload: a load is sized from run times known when the \
                         scenario is read, and a workload's come from the chip simulator; give \
                         rate_per_hour or rate_schedule",
                    );
                }
            };
            let per_job_on_g = per_job / ctx.fleet.generations[g].speedup;
            let points: Vec<(u64, f64)> =
                quota_epochs(ctx.fleet, ctx.tenants, ctx.quota_step_s, ctx.horizon_s)
                    .into_iter()
                    .map(|e| {
                        let installed = ctx.fleet.installed_chips(g, e);
                        let nominal = quotas_at(ctx.tenants, g, installed, e)[tenant].nominal;
                        (e, load * nominal as f64 / per_job_on_g.max(1e-9))
                    })
                    .collect();
            let tp = &ctx.tenants[tenant];
            let q = &tp.quota[g];
            if q.nominal_chips == 0 && q.nominal_share == 0.0 && tp.reservation[g].is_none() {
                return bad(
                    lp,
                    format!(
                        "tenant {} has no nominal quota on {}; the load is a fraction of it",
                        tp.name, ctx.fleet.generations[g].name
                    ),
                );
            }
            Ok(RateSchedule::steps(&points).expect("epochs in order"))
        }
    }
}

const CHIPS_OF_WORKLOAD: &str = "not with a workload: a workload job's gang is its workload's \
     tp x dp chips (change tp or dp in [workloads.NAME])";

const STEPS_NEED_WORKLOAD: &str = "only with `workload`: a job given as a run time has no steps";

/// Jobs of workload `id` may run on `generation` (or on any generation when `None`): each must
/// have a chip preset to time them.
fn check_lands(
    key: &str,
    id: WorkloadId,
    generation: Option<GenId>,
    ctx: &StreamContext,
) -> Built<()> {
    let gens = &ctx.fleet.generations;
    let range = generation.map_or(0..gens.len(), |g| g..g + 1);
    match gens[range].iter().find(|g| g.hw.is_none()) {
        None => Ok(()),
        Some(g) => bad(
            key,
            format!(
                "jobs of workload '{}' may run on generation {}, which has no chip preset to \
                 time them; set fleet.generations.{}.hw to one ({}) or give the jobs a \
                 generation that has one",
                ctx.workloads[id as usize].name,
                g.name,
                g.name,
                crate::arch::PRESETS.map(|p| p.0).join(", ")
            ),
        ),
    }
}

/// A Poisson stream's `workload` (a name, or an empirical distribution over names) and
/// optional `steps` distribution.
fn workload_draw(
    path: &str,
    d: &FileDemand,
    generation: Option<GenId>,
    ctx: &StreamContext,
) -> Built<WorkloadDraw> {
    if d.chips.is_some() {
        return bad(format!("{path}.chips"), CHIPS_OF_WORKLOAD);
    }
    let wp = format!("{path}.workload");
    let (names, weights): (Vec<&str>, Option<&Vec<f64>>) = match d.workload.as_ref().expect("given")
    {
        FileWorkloadChoice::One(n) => (vec![n.as_str()], None),
        FileWorkloadChoice::Empirical(e) => {
            let WorkloadDistKind::Empirical = e.dist;
            (
                e.values.iter().map(String::as_str).collect(),
                e.weights.as_ref(),
            )
        }
    };
    let listed = matches!(d.workload, Some(FileWorkloadChoice::Empirical(_)));
    if names.is_empty() {
        return bad(
            format!("{wp}.values"),
            "expected a non-empty list of workload names",
        );
    }
    let mut options = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        let key = if listed {
            format!("{wp}.values[{i}]")
        } else {
            wp.clone()
        };
        let id = ctx.names.workload(&key, n)?;
        check_lands(&key, id, generation, ctx)?;
        let w = &ctx.workloads[id as usize].workload;
        options.push(WorkloadOption {
            id,
            chips: w.chips() as u32,
            steps: w.steps,
        });
    }
    let pick = if listed {
        let indices = FileDist {
            dist: DistKind::Empirical,
            value: None,
            mean: None,
            median: None,
            sigma: None,
            min: None,
            max: None,
            values: Some((0..names.len()).map(|i| Num(i as f64)).collect()),
            weights: weights.cloned(),
        };
        Some(dist(&wp, &indices, false)?)
    } else {
        None
    };
    let steps = d
        .steps
        .as_ref()
        .map(|f| dist(&format!("{path}.steps"), f, true))
        .transpose()?;
    Ok(WorkloadDraw {
        options,
        pick,
        steps,
    })
}

/// One entry of a `kind = "jobs"` list: its (chips, work, workload), from `run_time` and
/// `chips`, or from `workload` (and `steps`).
fn listed_job(
    jp: &str,
    j: &FileJob,
    generation: Option<GenId>,
    ctx: &StreamContext,
) -> Built<(u32, u64, Option<WorkloadId>)> {
    let (k, _) = one_of(
        jp,
        &[
            ("run_time", j.run_time.map(|_| ())),
            ("workload", j.workload.as_ref().map(|_| ())),
        ],
    )?;
    if k == 0 {
        if j.steps.is_some() {
            return bad(format!("{jp}.steps"), STEPS_NEED_WORKLOAD);
        }
        let chips = match j.chips {
            Some(c) if c > 0 => c,
            Some(_) => return bad(format!("{jp}.chips"), "expected at least 1"),
            None => return bad(format!("{jp}.chips"), "missing; expected the gang's chips"),
        };
        return Ok((chips, j.run_time.expect("given").0.max(1), None));
    }
    let key = format!("{jp}.workload");
    let id = ctx
        .names
        .workload(&key, j.workload.as_deref().expect("given"))?;
    if j.chips.is_some() {
        return bad(format!("{jp}.chips"), CHIPS_OF_WORKLOAD);
    }
    check_lands(&key, id, generation, ctx)?;
    let w = &ctx.workloads[id as usize].workload;
    let steps = j.steps.unwrap_or(w.steps);
    if steps == 0 {
        return bad(format!("{jp}.steps"), "expected at least 1");
    }
    Ok((w.chips() as u32, steps, Some(id)))
}

/// What a demand stream is resolved against.
struct StreamContext<'a> {
    names: &'a Names<'a>,
    tenants: &'a [TenantPlan],
    workloads: &'a [WorkloadDef],
    fleet: &'a FleetPlan,
    quota_step_s: u64,
    horizon_s: u64,
    base_dir: &'a Path,
    read: &'a dyn Fn(&Path) -> std::io::Result<String>,
}

fn demand_stream(path: &str, d: &FileDemand, ctx: &StreamContext) -> Built<DemandStream> {
    let StreamContext {
        names,
        tenants,
        horizon_s,
        base_dir,
        read,
        ..
    } = *ctx;
    let present = [
        (
            "rate_per_hour",
            d.rate_per_hour.is_some(),
            DemandKind::Poisson,
        ),
        (
            "rate_schedule",
            d.rate_schedule.is_some(),
            DemandKind::Poisson,
        ),
        ("load", d.load.is_some(), DemandKind::Poisson),
        ("start", d.start.is_some(), DemandKind::Poisson),
        ("end", d.end.is_some(), DemandKind::Poisson),
        (
            "daily_amplitude",
            d.daily_amplitude.is_some(),
            DemandKind::Poisson,
        ),
        ("peak_hour", d.peak_hour.is_some(), DemandKind::Poisson),
        ("chips", d.chips.is_some(), DemandKind::Poisson),
        ("run_time", d.run_time.is_some(), DemandKind::Poisson),
        (
            "work_chip_hours",
            d.work_chip_hours.is_some(),
            DemandKind::Poisson,
        ),
        ("workload", d.workload.is_some(), DemandKind::Poisson),
        ("steps", d.steps.is_some(), DemandKind::Poisson),
        ("max_jobs", d.max_jobs.is_some(), DemandKind::Poisson),
        ("jobs", d.jobs.is_some(), DemandKind::Jobs),
        ("path", d.path.is_some(), DemandKind::Trace),
        ("format", d.format.is_some(), DemandKind::Trace),
        ("columns", d.columns.is_some(), DemandKind::Trace),
        ("time_format", d.time_format.is_some(), DemandKind::Trace),
        (
            "chips_per_unit",
            d.chips_per_unit.is_some(),
            DemandKind::Trace,
        ),
        ("limit", d.limit.is_some(), DemandKind::Trace),
    ];
    let kind_name = |k: DemandKind| match k {
        DemandKind::Poisson => "poisson",
        DemandKind::Jobs => "jobs",
        DemandKind::Trace => "trace",
    };
    if let Some((k, _, owner)) = present.iter().find(|(_, p, o)| *p && *o != d.kind) {
        return bad(
            format!("{path}.{k}"),
            format!(
                "only for kind = \"{}\"; this stream is kind = \"{}\"",
                kind_name(*owner),
                kind_name(d.kind)
            ),
        );
    }
    let tenant = d
        .tenant
        .as_deref()
        .map(|t| names.tenant(&format!("{path}.tenant"), t))
        .transpose()?;
    let generation = d
        .generation
        .as_deref()
        .map(|g| names.generation(&format!("{path}.generation"), g))
        .transpose()?;
    let checkpoint_s = d.checkpoint.map_or(0, |c| c.0);
    let prio_override = d
        .priority
        .as_ref()
        .map(|p| names.priority(&format!("{path}.priority"), p))
        .transpose()?;
    let template = |t: usize| JobTemplate {
        tenant: t,
        priority: if tenants[t].spot {
            SPOT_PRIORITY
        } else {
            prio_override.unwrap_or(tenants[t].priority)
        },
        preemptible: tenants[t].spot || d.preemptible.unwrap_or(true),
        checkpoint_s,
        generation,
    };
    let need_tenant = || -> Built<usize> {
        tenant.map_or_else(
            || bad(format!("{path}.tenant"), "missing; expected a tenant name"),
            Ok,
        )
    };
    match d.kind {
        DemandKind::Poisson => {
            let t = need_tenant()?;
            let amplitude = d.daily_amplitude.unwrap_or(0.0);
            check_range(&format!("{path}.daily_amplitude"), amplitude, 0.0, 1.0)?;
            let peak_hour = d.peak_hour.unwrap_or(14.0);
            check_range(&format!("{path}.peak_hour"), peak_hour, 0.0, 24.0)?;
            let chips = match &d.chips {
                Some(c) => dist(&format!("{path}.chips"), c, true)?,
                None => Dist::Fixed { value: 1.0 },
            };
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
            let work = match k {
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
            };
            let start_s = d.start.map_or(0, |x| x.0);
            let end_s = d.end.map_or(horizon_s, |x| x.0).min(horizon_s);
            let rate = rate_schedule(path, d, t, generation, &chips, &work, ctx)?;
            Ok(DemandStream::Poisson(PoissonStream {
                template: template(t),
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
        DemandKind::Jobs => {
            let t = need_tenant()?;
            let list = d.jobs.as_ref().expect("present for kind jobs");
            let mut out = Vec::new();
            for (i, j) in list.iter().enumerate() {
                let jp = format!("{path}.jobs[{i}]");
                let count = j.count.unwrap_or(1);
                if out.len() as u64 + count as u64 > MAX_JOBS as u64 {
                    return bad(format!("{jp}.count"), "too many jobs");
                }
                let mut tpl = template(t);
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
        DemandKind::Trace => {
            let rel = d.path.as_deref().map_or_else(
                || bad(format!("{path}.path"), "missing; expected a CSV file"),
                Ok,
            )?;
            let format = d.format.unwrap_or(TraceKind::Csv);
            let columns = match (&d.columns, format) {
                (Some(c), _) => Columns {
                    submit: c.submit.clone(),
                    run_time: c.run_time.clone(),
                    chips: c.chips.clone(),
                    tenant: c.tenant.clone(),
                },
                (None, TraceKind::Philly) => Columns::philly(),
                (None, TraceKind::Csv) => {
                    return bad(
                        format!("{path}.columns"),
                        "missing; a csv trace needs a column mapping",
                    );
                }
            };
            let time_format = d.time_format.unwrap_or(match format {
                TraceKind::Philly => TimeFormat::Datetime,
                TraceKind::Csv => TimeFormat::Seconds,
            });
            let chips_per_unit = d.chips_per_unit.unwrap_or(1.0);
            check_range(&format!("{path}.chips_per_unit"), chips_per_unit, 1e-6, 1e6)?;
            if columns.tenant.is_none() && tenant.is_none() {
                return bad(
                    format!("{path}.tenant"),
                    "missing; a trace without a tenant column needs a stream tenant",
                );
            }
            let file: PathBuf = base_dir.join(rel);
            let text = read(&file).map_err(|e| {
                BuildError::At(Bad {
                    path: format!("{path}.path"),
                    message: format!("cannot read {}: {e}", file.display()),
                })
            })?;
            let priorities: Vec<i32> = (0..tenants.len()).map(|t| template(t).priority).collect();
            let defaults = TraceDefaults {
                tenant,
                priority: priorities,
                preemptible: d.preemptible.unwrap_or(true),
                checkpoint_s,
            };
            let fmt = TraceFormat {
                columns,
                time_format,
                chips_per_unit,
                start_s: d.start.map_or(0, |x| x.0),
                limit: d.limit.unwrap_or(u64::MAX),
            };
            let lookup = |name: &str| tenants.iter().position(|t| t.name == name);
            let mut jobs =
                trace::read(&text, &file.display().to_string(), &fmt, &defaults, &lookup)?;
            for j in &mut jobs {
                if tenants[j.tenant].spot {
                    j.priority = SPOT_PRIORITY;
                    j.preemptible = true;
                }
                j.generation = generation;
            }
            Ok(DemandStream::Jobs(Arc::new(jobs)))
        }
    }
}
