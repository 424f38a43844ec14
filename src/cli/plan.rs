//! `trnsim plan`: run a fleet scenario, print its report and, with `--out`, write every file of
//! it (`crate::fleet::report` makes them); with `--jobs`, stream one CSV row per job
//! (`crate::fleet::job_log`) into a file. The job log and the `--out` directory are one output
//! set (`crate::atomic`): a failure or a kill leaves the previous set, never a mix.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::Result;
use crate::atomic::OutputSet;
use crate::fleet::job_log::{self, JobLog};
use crate::fleet::report::{self, Provenance, workload_table};
use crate::fleet::{self, Outcome, Scenario, WorkloadRunTime};
use crate::report::Format;
use crate::workload::CostModel;

/// Options of `trnsim plan`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct PlanArgs {
    /// The scenario (TOML; format: scenarios/README.md).
    pub scenario: PathBuf,
    /// Override a scenario key: KEY.PATH=VALUE (e.g. policy.name=fair); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = key_value)]
    pub set: Vec<(String, String)>,
    /// Seed (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write summary.json, metrics.csv, timeseries.csv, SVG charts and report.html
    /// into this directory, replaced as a whole (it may hold only a previous output's files).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write one CSV row per submitted job into FILE, streamed as the run goes (columns:
    /// scenarios/README.md, "Per-job records"); the file appears only if the run succeeds.
    #[arg(long, value_name = "FILE")]
    pub jobs: Option<PathBuf>,
}

/// Split `KEY=VALUE` (the value may contain `=` and commas).
pub(crate) fn key_value(s: &str) -> std::result::Result<(String, String), String> {
    crate::config::parse_pair(s).map_err(|e| {
        format!(
            "expected KEY=VALUE (e.g. policy.name=fair), found '{}'",
            e.found
        )
    })
}

/// The `[demand.NAME]` names of a scenario file, in file order (empty if it does not parse:
/// loading it reports why).
fn stream_names(text: &str) -> Vec<String> {
    text.parse::<toml::Table>()
        .ok()
        .and_then(|t| match t.get("demand") {
            Some(toml::Value::Table(d)) => Some(d.keys().cloned().collect()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Load, run, write the requested files, and return the report text.
pub fn plan(args: &PlanArgs) -> Result<String> {
    let stage = crate::stage::Stage::start("read");
    let text = super::read(&args.scenario)?;
    stage.done(format_args!(
        "{} bytes of {}",
        text.len(),
        args.scenario.display()
    ));
    let stage = crate::stage::Stage::start("resolve");
    let scenario = Scenario::load(&args.scenario, &args.set)?;
    stage.done(format_args!("{} tenants", scenario.tenants.len()));
    for w in &scenario.warnings {
        super::warn(w);
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let opts = fleet::RunOptions::default();
    // Workload jobs are timed by the chip simulator, each distinct shape once.
    let cost = CostModel::new();
    let stage = crate::stage::Stage::start("workloads");
    let table = WorkloadRunTime::build(&scenario, &cost)?;
    stage.done(format_args!("{} chip simulations", cost.simulations()));
    let stage = crate::stage::Stage::start("simulate");
    let template = "{bar:40} {pos}/{len} simulated seconds, {elapsed} elapsed, eta {eta}";
    let bar = crate::progress::show(scenario.horizon_s, template);
    // The job log and the --out directory are one output set: both appear, or neither.
    let mut set = OutputSet::new();
    let outcome = match &args.jobs {
        None => fleet::run_timed(&scenario, seed, &table, &opts)?,
        Some(path) => {
            let names = stream_names(&text);
            run_with_jobs(&mut set, path, &|w| {
                let mut log = JobLog::new(w, &scenario, &names);
                let o = job_log::run_logged(&scenario, seed, &table, &opts, &mut log);
                (o, log.finish().map(|_| ()))
            })?
        }
    };
    drop(bar);
    stage.done(format_args!("{} events", outcome.fleet.events));
    let simulations = cost.simulations();
    let stage = crate::stage::Stage::start("write");
    if let Some(dir) = &args.out {
        set.dir(dir)?;
        let mut tables = vec![report::tenant_table(&outcome)];
        tables.extend(workload_table(&outcome, simulations));
        let provenance = Provenance {
            scenario_hash: report::fnv1a_hex(text.as_bytes()),
            overrides: args
                .set
                .iter()
                .map(|(k, v)| ("--set".to_string(), k.clone(), v.clone()))
                .collect(),
        };
        for (name, bytes) in report::files(&outcome, tables, &provenance) {
            set.bytes(&dir.join(name), &bytes)?;
        }
    }
    set.commit()?;
    stage.done(if args.out.is_some() {
        "report files"
    } else {
        "no files"
    });
    let stage = crate::stage::Stage::start("report");
    let mut text = report::render(&outcome, args.format);
    if args.format == Format::Table
        && let Some(t) = workload_table(&outcome, simulations)
    {
        text.push('\n');
        text.push_str(&t.render(Format::Table));
    }
    stage.done(format_args!("{} bytes", text.len()));
    Ok(text)
}

/// The run's result and the log's, from a run writing its job log into a writer.
type LoggedRun = (fleet::Result<Outcome>, std::io::Result<()>);

/// Run `run` with its job log going to `path` in `set`: a temporary file beside it, renamed
/// into place with the rest of the set when the run, the writes and the set succeed, removed
/// otherwise (never a partial file under the name).
fn run_with_jobs(
    set: &mut OutputSet,
    path: &Path,
    run: &dyn Fn(&mut dyn Write) -> LoggedRun,
) -> Result<Outcome> {
    let mut outcome = None;
    let written = set.file(path, |w| {
        let (o, logged) = run(w);
        match o {
            Ok(o) => {
                outcome = Some(Ok(o));
                logged
            }
            Err(e) => {
                outcome = Some(Err(e));
                Err(std::io::Error::other("the run failed"))
            }
        }
    });
    match (outcome, written) {
        (Some(Err(e)), _) => Err(e.into()),
        (_, Err(e)) => Err(e.into()),
        (Some(Ok(o)), Ok(())) => Ok(o),
        (None, Ok(())) => unreachable!("the run sets its outcome before the file is renamed"),
    }
}
