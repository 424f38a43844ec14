//! `trnsim plan`: run a fleet scenario, print its report and, with `--out`, write every file of
//! it (`crate::fleet::report` makes them).

use std::path::PathBuf;

use super::Result;
use crate::fleet::report::{self, workload_table};
use crate::fleet::{self, Scenario, WorkloadRunTime};
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
    /// into this directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
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

/// Load, run, write the requested files, and return the report text.
pub fn plan(args: &PlanArgs) -> Result<String> {
    let scenario = Scenario::load(&args.scenario, &args.set)?;
    for w in &scenario.warnings {
        eprintln!("trnsim: warning: {w}");
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    // With --out, keep per-job records for the queueing-delay chart.
    let opts = fleet::RunOptions {
        record_jobs: args.out.is_some(),
        ..Default::default()
    };
    // Workload jobs are timed by the chip simulator, each distinct shape once.
    let cost = CostModel::new();
    let table = WorkloadRunTime::build(&scenario, &cost)?;
    let outcome = fleet::run_timed(&scenario, seed, &table, &opts)?;
    let simulations = cost.simulations();
    if let Some(dir) = &args.out {
        super::create_dir(dir)?;
        let mut tables = vec![report::tenant_table(&outcome)];
        tables.extend(workload_table(&outcome, simulations));
        for (name, bytes) in report::files(&outcome, tables) {
            super::write_atomic(&dir.join(name), &bytes)?;
        }
    }
    let mut text = report::render(&outcome, args.format);
    if args.format == Format::Table
        && let Some(t) = workload_table(&outcome, simulations)
    {
        text.push('\n');
        text.push_str(&t.render(Format::Table));
    }
    Ok(text)
}
