//! Scenarios: the TOML format (documented in `scenarios/README.md`), `--set key=value`
//! overrides, validation with errors that name the file, line, column and key path, and the
//! resolved, immutable [`Scenario`] a run takes.
//!
//! Lifecycle of a scenario:
//! 1. [`Scenario::load`] reads the file (or [`Scenario::from_toml`] takes its text).
//! 2. [`crate::config::Document`] parses it with spans; the file as written (`file.rs`: serde
//!    structs, unknown keys denied) is deserialized; overrides may change values and extend
//!    lists but add no name the file does not declare (`names.rs`: strict names), and are
//!    inserted.
//! 3. `resolve.rs` turns it into a [`Scenario`]: times, the fleet (`fleet.rs`: built-in
//!    generations from the chip presets' `[fleet]` tables, [`crate::arch::fleet_presets`]), the
//!    policy (`policy.rs`), cohorts and tenants (`tenants.rs`), workloads and demand streams
//!    (`streams.rs`, with `dist.rs`, `rate.rs` and `work.rs`); names become dense ids
//!    (`names.rs`). A bad value stops it with its key path (`checks.rs`), which the document
//!    locates as `file:line:col` (or `file (--set)`). A silent trap (a value accepted that
//!    probably does not do what was meant) is a warning pushed on the way (`checks.rs`:
//!    `Warnings::warn`), located the same way and carried in [`Scenario::warnings`].
//! 4. The [`Scenario`] is immutable and shared across threads, seeds and sweep points.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::blocks::{BlockArrivals, BlockStream};
use super::demand::DemandStream;
use super::error::{Error, Result};
use super::hardware::{FleetPlan, GenId};
use super::policy::PolicyKind;
use super::policy::fair::FsStrategy;
use super::reclaim::Reclaim;
use super::tenant::{CohortPlan, TenantPlan};
use crate::config::{Document, Location, Mode, Warning};
use crate::workload::Workload;

mod blocks;
mod checks;
mod context;
mod dist;
mod file;
mod fleet;
mod names;
mod policy;
mod probes;
mod rate;
mod resolve;
mod streams;
mod tenants;
mod work;

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
    /// How preemptions are carried out.
    pub reclaim: Reclaim,
    /// Interval of quota re-evaluation during reservation ramps (s).
    pub quota_step_s: u64,
    /// Fair sharing's preemption strategies (`policy.fair_sharing.preemption_strategies`).
    pub fair_strategies: Vec<FsStrategy>,
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
    /// Capacity Block streams (`kind = "capacity_blocks"`), in file order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<BlockStream>,
    /// Policy.
    pub policy: PolicyConfig,
    /// Workloads (`[workloads.NAME]`), in file order: [`WorkloadId`](super::job::WorkloadId) indexes this.
    pub workloads: Vec<WorkloadDef>,
    /// "Time to N chips" probes (`[probes.NAME]`), in file order: answered without changing
    /// the run (`fleet::probe`; `scenarios/README.md`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub probes: Vec<super::probe::Probe>,
    /// Silent traps found while resolving (values accepted that probably do not do what was
    /// meant), located like errors, in the order found. The library never prints them: the
    /// command line does, on stderr, before running; no output file records them.
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

/// A named workload of a scenario: what its jobs run, timed on each generation's chip preset by
/// [`super::workload::WorkloadRunTime`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadDef {
    /// Name (the key of `[workloads.NAME]`).
    pub name: String,
    /// The workload.
    pub workload: Workload,
    /// Where it is defined (`file:line:col`, or `file (--set)`), for errors found when it is
    /// timed.
    #[serde(skip)]
    pub location: Location,
}

const MAX_CHIPS_PER_GENERATION: u64 = 1_000_000_000;
const MAX_JOBS: f64 = 5_000_000.0;
const MAX_SAMPLES: u64 = 1_000_000;
const MAX_WORKLOADS: usize = 1000;

impl Scenario {
    /// Read a scenario file (and the traces it names, relative to it), apply `key=value`
    /// overrides, and resolve it.
    pub fn load(path: &Path, overrides: &[(String, String)]) -> Result<Scenario> {
        let file = path.display().to_string();
        let limit = crate::config::MAX_TEXT_INPUT_BYTES;
        let bytes = crate::config::read_bounded(path, limit).map_err(|e| Error::Io {
            file: file.clone(),
            message: e.to_string(),
        })?;
        let text = crate::config::decode(bytes, &file)?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Scenario::from_toml(&text, &file, &base, overrides, &|p| {
            crate::config::read_text(p)
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
        let doc = Document::parse(text, file)?;
        if !overrides.is_empty() {
            // The file's own errors first, then names the overrides would add.
            doc.load::<file::FileScenario>()?;
            names::check_overrides(&doc, overrides, &doc.set_location())?;
        }
        let doc = doc.with_overrides(overrides, Mode::Insert);
        let parsed: file::FileScenario = doc.load()?;
        let default_name = Path::new(file).file_stem().map_or_else(
            || "scenario".to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        let (mut scenario, warnings) =
            resolve::build(&parsed, &default_name, base_dir, read).map_err(|e| e.located(&doc))?;
        scenario.warnings = warnings.located(&doc);
        for w in &mut scenario.workloads {
            w.location = doc.location_of(&format!("workloads.{}", w.name));
        }
        Ok(scenario)
    }

    /// The generation id of a name.
    pub fn generation(&self, name: &str) -> Option<GenId> {
        self.fleet.generations.iter().position(|g| g.name == name)
    }

    /// Whether a run draws anything at random: a generated (Poisson) demand stream, or a
    /// generation that fails at random (an `mtbf`) and receives chips. When it draws nothing
    /// (every stream a job list or a trace replay), every seed gives the same result. A demand
    /// kind other than a fixed list counts as drawing (the safe side: no false warning).
    pub fn draws_at_random(&self) -> bool {
        let fails = self.fleet.generations.iter().enumerate().any(|(g, gen_)| {
            gen_.mtbf_s > 0 && self.fleet.deliveries.iter().any(|d| d.generation == g)
        });
        fails
            || self
                .demand
                .iter()
                .any(|d| !matches!(d, DemandStream::Jobs(_)))
            || self
                .blocks
                .iter()
                .any(|b| matches!(b.arrivals, BlockArrivals::Poisson { .. }))
    }

    /// The tenant id of a name.
    pub fn tenant(&self, name: &str) -> Option<usize> {
        self.tenants.iter().position(|t| t.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The built-in generations' facts, moved from a tuple in this file to the chip presets'
    /// `[fleet]` tables, are the same numbers to the bit.
    #[test]
    fn built_in_generations_keep_their_facts() {
        let text = "horizon = \"1d\"\n[fleet.generations.trn2]\n[fleet.generations.trn3]\n\
                    [fleet.generations.big]\npreset = \"trn3\"\n[tenants.a]\n";
        let s =
            Scenario::from_toml(text, "g.toml", ".".as_ref(), &[], &|_| unreachable!()).unwrap();
        let facts: Vec<_> = s
            .fleet
            .generations
            .iter()
            .map(|g| {
                (
                    g.name.as_str(),
                    g.watts_per_chip.to_bits(),
                    g.pue.to_bits(),
                    g.ultraserver_chips,
                    g.ultraservers_per_cluster,
                    g.speedup.to_bits(),
                    g.hw.as_deref(),
                )
            })
            .collect();
        let bits = |x: f64| x.to_bits();
        assert_eq!(
            facts,
            [
                (
                    "trn2",
                    bits(1500.0),
                    bits(1.3),
                    64,
                    64,
                    bits(1.0),
                    Some("trn2")
                ),
                (
                    "trn3",
                    bits(2000.0),
                    bits(1.2),
                    144,
                    32,
                    bits(1.5),
                    Some("trn3")
                ),
                (
                    "big",
                    bits(2000.0),
                    bits(1.2),
                    144,
                    32,
                    bits(1.5),
                    Some("trn3")
                ),
            ]
        );
        let e = Scenario::from_toml(
            "horizon = \"1d\"\n[fleet.generations.x]\npreset = \"trn1\"\n[tenants.a]\n",
            "g.toml",
            ".".as_ref(),
            &[],
            &|_| unreachable!(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "g.toml:3:1: fleet.generations.x.preset: unknown preset 'trn1'; expected trn2 or trn3"
        );
    }
}
