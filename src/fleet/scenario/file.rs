//! The scenario file as written: serde structs that mirror the TOML (unknown keys denied), with
//! the value forms a key may take (a number or a duration, a priority or its class name, a
//! workload or a distribution over workloads). Nothing here is checked beyond its type; see
//! [`super::resolve`].

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::Backfill;
use crate::config::Named;
use crate::fleet::policy::PolicyKind;
use crate::fleet::reclaim::ReclaimMode;
use crate::fleet::tenant::{BorrowWithinCohort, ReclaimWithinCohort, WithinQueue};
use crate::fleet::time::Duration;
use crate::fleet::trace::TimeFormat;
use crate::workload::Workload;

#[derive(Clone, Copy, Debug)]
pub(super) struct Num(pub(super) f64);

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
pub(super) enum Prio {
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
pub(super) struct FileScenario {
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) description: String,
    pub(super) horizon: Duration,
    #[serde(default)]
    pub(super) seed: u64,
    pub(super) report_interval: Option<Duration>,
    pub(super) fleet: FileFleet,
    #[serde(default)]
    pub(super) priority_classes: Named<i64>,
    #[serde(default)]
    pub(super) cohorts: Named<FileCohort>,
    pub(super) tenants: Named<FileTenant>,
    #[serde(default)]
    pub(super) demand: Named<FileDemand>,
    #[serde(default)]
    pub(super) policy: FilePolicy,
    #[serde(default)]
    pub(super) workloads: Named<Workload>,
    #[serde(default)]
    pub(super) probes: Named<FileProbe>,
}

/// `[probes.NAME]`: a "time to N chips" probe (`super::probes`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileProbe {
    pub(super) generation: String,
    pub(super) chips: u64,
    pub(super) duration: Duration,
    pub(super) every: Duration,
    pub(super) start: Option<Duration>,
    pub(super) end: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileFleet {
    pub(super) generations: Named<FileGeneration>,
    #[serde(default)]
    pub(super) deliveries: Vec<FileDelivery>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileGeneration {
    pub(super) preset: Option<String>,
    pub(super) watts_per_chip: Option<f64>,
    pub(super) pue: Option<f64>,
    pub(super) ultraserver_chips: Option<u32>,
    pub(super) ultraservers_per_cluster: Option<u32>,
    pub(super) instance_chips: Option<u32>,
    pub(super) speedup: Option<f64>,
    pub(super) mtbf: Option<Duration>,
    pub(super) repair: Option<Duration>,
    pub(super) hw: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDelivery {
    pub(super) at: Duration,
    pub(super) generation: String,
    pub(super) chips: Option<u64>,
    pub(super) gw: Option<f64>,
    pub(super) ultraservers: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileCohort {
    pub(super) parent: Option<String>,
    pub(super) weight: Option<f64>,
    /// Quota of the cohort itself (Kueue Cohort `spec.resourceGroups`), per generation.
    #[serde(default)]
    pub(super) quota: Named<FileCohortQuota>,
}

/// A cohort's own quota on one generation: fixed, no share of the fleet, no reservation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileCohortQuota {
    pub(super) nominal_chips: Option<u64>,
    pub(super) nominal_gw: Option<f64>,
    pub(super) borrowing_limit_chips: Option<u64>,
    pub(super) lending_limit_chips: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileTenant {
    pub(super) cohort: Option<String>,
    pub(super) priority: Option<Prio>,
    pub(super) weight: Option<f64>,
    #[serde(default)]
    pub(super) spot: bool,
    #[serde(default)]
    pub(super) quota: Named<FileQuota>,
    #[serde(default)]
    pub(super) reservation: Named<FileReservation>,
    pub(super) preemption: Option<FilePreemption>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileQuota {
    pub(super) nominal_chips: Option<u64>,
    pub(super) nominal_gw: Option<f64>,
    pub(super) nominal_share: Option<f64>,
    pub(super) borrowing_limit_chips: Option<u64>,
    pub(super) lending_limit_chips: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileReservation {
    pub(super) chips: Option<u64>,
    pub(super) gw: Option<f64>,
    pub(super) start: Option<Duration>,
    pub(super) end: Option<Duration>,
    pub(super) ramp: Option<Duration>,
    pub(super) exclusive: Option<f64>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePreemption {
    pub(super) within_queue: Option<WithinQueue>,
    pub(super) reclaim_within_cohort: Option<ReclaimWithinCohort>,
    pub(super) borrow_within_cohort: Option<BorrowWithinCohort>,
    pub(super) borrow_max_priority: Option<Prio>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePolicy {
    pub(super) name: Option<PolicyKind>,
    pub(super) backfill: Option<Backfill>,
    pub(super) queueing: Option<super::policy::Queueing>,
    /// Removed (an error naming it), kept so that a file setting it is told why.
    pub(super) max_scan: Option<u32>,
    pub(super) reclaim: Option<ReclaimMode>,
    pub(super) grace: Option<Duration>,
    pub(super) throttle_fraction: Option<f64>,
    pub(super) throttle_round: Option<Duration>,
    pub(super) quota_step: Option<Duration>,
    pub(super) preemption: Option<FilePreemption>,
    pub(super) fair_sharing: Option<FileFairSharing>,
}

/// `[policy.fair_sharing]` (Kueue's `fairSharing` configuration).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct FileFairSharing {
    pub(super) preemption_strategies: Option<Vec<crate::fleet::policy::fair::FsStrategy>>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum DemandKind {
    Poisson,
    Jobs,
    Trace,
    /// EC2-Capacity-Blocks-style bookings (`super::blocks`).
    CapacityBlocks,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum TraceKind {
    Philly,
    Csv,
    Sacct,
    Swf,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum DistKind {
    Fixed,
    Exponential,
    Lognormal,
    Uniform,
    Empirical,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileDist {
    pub(super) dist: DistKind,
    pub(super) value: Option<Num>,
    pub(super) mean: Option<Num>,
    pub(super) median: Option<Num>,
    pub(super) sigma: Option<f64>,
    pub(super) min: Option<Num>,
    pub(super) max: Option<Num>,
    pub(super) values: Option<Vec<Num>>,
    pub(super) weights: Option<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileJob {
    pub(super) at: Duration,
    pub(super) chips: Option<u32>,
    pub(super) run_time: Option<Duration>,
    pub(super) workload: Option<String>,
    pub(super) steps: Option<u64>,
    pub(super) count: Option<u32>,
    pub(super) priority: Option<Prio>,
    pub(super) preemptible: Option<bool>,
    pub(super) generation: Option<String>,
    pub(super) checkpoint: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRatePoint {
    pub(super) at: Duration,
    pub(super) rate_per_hour: f64,
}

/// `forecast = { per, jobs | chip_hours | points, shape, growth }`: demand as the tenant's own
/// forecast, in jobs or reference chip-hours per period, whatever the fleet holds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileForecast {
    pub(super) per: Option<Duration>,
    pub(super) jobs: Option<f64>,
    pub(super) chip_hours: Option<f64>,
    pub(super) points: Option<Vec<FileForecastPoint>>,
    pub(super) shape: Option<ForecastShape>,
    pub(super) growth: Option<String>,
}

/// One point of a forecast: its time and its level (jobs or chip-hours per period).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileForecastPoint {
    pub(super) at: Duration,
    pub(super) jobs: Option<f64>,
    pub(super) chip_hours: Option<f64>,
}

/// How a forecast's points are joined.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum ForecastShape {
    /// Straight lines between points.
    Linear,
    /// Each point's level holds until the next point.
    Steps,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileColumns {
    pub(super) submit: String,
    pub(super) run_time: String,
    pub(super) chips: String,
    pub(super) tenant: Option<String>,
}

/// `workload = "name"`, or a distribution over names:
/// `workload = { dist = "empirical", values = ["a", "b"], weights = [3, 1] }`.
pub(super) enum FileWorkloadChoice {
    One(String),
    Empirical(FileWorkloadDist),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileWorkloadDist {
    pub(super) dist: WorkloadDistKind,
    pub(super) values: Vec<String>,
    pub(super) weights: Option<Vec<f64>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum WorkloadDistKind {
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
pub(super) struct FileDemand {
    pub(super) kind: DemandKind,
    pub(super) tenant: Option<String>,
    pub(super) generation: Option<String>,
    pub(super) priority: Option<Prio>,
    pub(super) preemptible: Option<bool>,
    pub(super) checkpoint: Option<Duration>,
    // poisson
    pub(super) rate_per_hour: Option<f64>,
    pub(super) rate_schedule: Option<Vec<FileRatePoint>>,
    pub(super) load: Option<f64>,
    pub(super) forecast: Option<FileForecast>,
    pub(super) start: Option<Duration>,
    pub(super) end: Option<Duration>,
    pub(super) daily_amplitude: Option<f64>,
    pub(super) peak_hour: Option<f64>,
    pub(super) chips: Option<FileDist>,
    pub(super) run_time: Option<FileDist>,
    pub(super) work_chip_hours: Option<FileDist>,
    pub(super) workload: Option<FileWorkloadChoice>,
    pub(super) steps: Option<FileDist>,
    pub(super) max_jobs: Option<u64>,
    // jobs
    pub(super) jobs: Option<Vec<FileJob>>,
    // trace
    pub(super) path: Option<String>,
    pub(super) format: Option<TraceKind>,
    pub(super) columns: Option<FileColumns>,
    pub(super) time_format: Option<TimeFormat>,
    pub(super) chips_per_unit: Option<f64>,
    pub(super) limit: Option<u64>,
    pub(super) tenant_field: Option<String>,
    pub(super) chips_field: Option<String>,
    pub(super) default_tenant: Option<String>,
    // capacity_blocks (with tenant, generation, start, end)
    pub(super) rate: Option<String>,
    pub(super) requests: Option<Vec<FileBlockRequest>>,
    pub(super) instances: Option<FileChoice>,
    pub(super) ultraservers: Option<FileChoice>,
    pub(super) duration: Option<FileChoice>,
    pub(super) start_after: Option<Duration>,
    pub(super) start_before: Option<Duration>,
    pub(super) end_time_of_day: Option<String>,
}

/// One Capacity Block request of a list: when it is made, its size (instances or
/// UltraServers), its length, and its lead window (the stream's when not given).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileBlockRequest {
    pub(super) at: Duration,
    pub(super) instances: Option<u64>,
    pub(super) ultraservers: Option<u64>,
    pub(super) duration: Duration,
    pub(super) start_after: Option<Duration>,
    pub(super) start_before: Option<Duration>,
}

/// A discrete choice: one value (a number, or a duration such as `"7d"`), or a distribution
/// over values in the file's style (`{ dist = "empirical", values = [...], weights = [...] }`).
pub(super) enum FileChoice {
    One(Num),
    Dist(FileDist),
}

impl<'de> Deserialize<'de> for FileChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FileChoice;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, a duration such as \"7d\", or { dist = \"empirical\", values = [...] }")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<FileChoice, E> {
                Ok(FileChoice::One(Num(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<FileChoice, E> {
                Ok(FileChoice::One(Num(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<FileChoice, E> {
                Ok(FileChoice::One(Num(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<FileChoice, E> {
                Duration::parse(v)
                    .map(|d| FileChoice::One(Num(d.0 as f64)))
                    .map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                m: A,
            ) -> std::result::Result<FileChoice, A::Error> {
                FileDist::deserialize(de::value::MapAccessDeserializer::new(m))
                    .map(FileChoice::Dist)
            }
        }
        d.deserialize_any(V)
    }
}
