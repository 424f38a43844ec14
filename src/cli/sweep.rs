//! `trnsim sweep`: a scenario over a grid of `--vary` values and seeds, in parallel, reported
//! as mean and 95 % confidence interval per metric; `trnsim sweep merge` joins shards. The
//! report's tables, charts and HTML come from `crate::sweep::report`; this module reads the
//! inputs, shows progress and writes the files.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use super::{Error, Result};
use crate::report::Format;
use crate::sweep::{self, Runs, Vary, report};

/// Options of `trnsim sweep`: a run, or a subcommand.
#[derive(Clone, Debug, clap::Args)]
pub struct SweepCli {
    /// `merge`, or none for a run.
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    /// The run's options (without a subcommand).
    #[command(flatten)]
    pub run: SweepArgs,
}

/// `trnsim sweep`'s subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum SweepCommand {
    /// Merge the runs.json of shard directories into the whole sweep's result.
    Merge {
        /// Shard output directories (each with runs.json).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Write the merged outputs into this directory, replaced as a whole.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Options of a sweep run.
#[derive(Clone, Debug, clap::Args)]
pub struct SweepArgs {
    /// The scenario (TOML; format: scenarios/README.md).
    pub scenario: Option<PathBuf>,
    /// Vary a scenario key over values: KEY.PATH=V1,V2,... (repeatable: the grid is the product).
    #[arg(long, value_name = "KEY=V1,V2,...")]
    pub vary: Vec<String>,
    /// Override a scenario key at every point: KEY.PATH=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = super::plan::key_value)]
    pub set: Vec<(String, String)>,
    /// Seeds per grid point (the scenario's seed, +1, +2, ...).
    #[arg(long, default_value_t = 5)]
    pub seeds: u64,
    /// Run only shard I of N (0-based): a deterministic slice of the grid's points.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Worker threads (default: the machine's available parallelism; at most 4 times that).
    /// Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Refuse a sweep of more runs (grid points x seeds) than this: each run's summary stays in
    /// memory until the report.
    #[arg(long, value_name = "N", default_value_t = sweep::DEFAULT_MAX_RUNS)]
    pub max_runs: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write runs.json, summary.json, metrics.csv, SVG charts and report.html into this
    /// directory, replaced as a whole (it may hold only a previous output's files).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Show a progress bar on stderr (when it is a terminal).
    #[arg(skip = true)]
    pub progress: bool,
}

/// The command line's defaults (a derived default would refuse every sweep: 0 runs at most).
impl Default for SweepArgs {
    fn default() -> Self {
        SweepArgs {
            scenario: None,
            vary: Vec::new(),
            set: Vec::new(),
            seeds: 5,
            shard: None,
            threads: None,
            max_runs: sweep::DEFAULT_MAX_RUNS,
            format: Format::Table,
            out: None,
            progress: true,
        }
    }
}

/// Run `trnsim sweep` (a sweep, or `merge`) and return the report.
pub fn dispatch(args: &SweepCli) -> Result<String> {
    match &args.command {
        Some(SweepCommand::Merge { dirs, format, out }) => merge(dirs, *format, out.as_deref()),
        None => run(&args.run),
    }
}

fn progress_bar(args: &SweepArgs, total: u64) -> Option<indicatif::ProgressBar> {
    let shown = tracing::enabled!(tracing::Level::WARN); // not with -q
    (args.progress && shown && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} runs, {elapsed} elapsed, eta {eta}",
            )
            .expect("valid template"),
        );
        b
    })
}

/// Run the sweep (or a shard), write `--out`, return the report.
pub(crate) fn run(args: &SweepArgs) -> Result<String> {
    let Some(scenario) = &args.scenario else {
        return Err(Error::Input(
            "trnsim sweep: a SCENARIO file (or `merge DIR...`) is required".into(),
        ));
    };
    let stage = crate::stage::Stage::start("read");
    let text = super::read(scenario)?;
    stage.done(format_args!(
        "{} bytes of {}",
        text.len(),
        scenario.display()
    ));
    let vary: Vec<Vary> = args
        .vary
        .iter()
        .map(|v| Vary::parse(v))
        .collect::<sweep::Result<_>>()?;
    let shard = match &args.shard {
        Some(s) => sweep::parse_shard(s)?,
        None => (0, 1),
    };
    let read = |p: &Path| crate::config::read_text(p);
    let spec = sweep::Spec {
        file: scenario,
        text: &text,
        read: &read,
        set: args.set.clone(),
        vary,
        seeds: args.seeds,
        shard,
        threads: args.threads,
        max_runs: args.max_runs,
    };
    // Every point resolved (and its warnings shown) before the first run and the bar.
    let stage = crate::stage::Stage::start("resolve");
    let prepared = sweep::prepare(&spec)?;
    let total = prepared.len();
    stage.done(format_args!("{total} runs"));
    for w in prepared.warnings() {
        super::warn(w);
    }
    let bar = progress_bar(args, prepared.len());
    let held = bar.as_ref().map(|_| crate::progress::hold());
    let done = || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let stage = crate::stage::Stage::start("simulate");
    let runs = prepared.run(&done)?;
    stage.done(format_args!("{total} runs"));
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    drop(held);
    finish(&runs, args.format, args.out.as_deref())
}

/// `trnsim sweep merge DIR...`: join shard outputs into the whole sweep.
pub(crate) fn merge(dirs: &[PathBuf], format: Format, out: Option<&Path>) -> Result<String> {
    let mut parts = Vec::new();
    for d in dirs {
        let f = d.join("runs.json");
        let text = super::read(&f)?;
        parts.push((f.clone(), sweep::read_runs(&text, &f)?));
    }
    let runs = sweep::merge(parts)?;
    finish(&runs, format, out)
}

fn finish(runs: &Runs, format: Format, out: Option<&Path>) -> Result<String> {
    let stats = sweep::aggregate(runs);
    let stage = crate::stage::Stage::start("write");
    if let Some(dir) = out {
        // One output set: the previous directory stays whole until the new one replaces it.
        let mut set = crate::atomic::OutputSet::new();
        set.dir(dir)?;
        for (name, bytes) in report::files(runs, &stats) {
            set.bytes(&dir.join(name), &bytes)?;
        }
        set.commit()?;
    }
    stage.done(if out.is_some() {
        "report files"
    } else {
        "no files"
    });
    Ok(report::render(runs, &stats, format))
}
