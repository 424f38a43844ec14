//! The `trnsim` command line: parses arguments and dispatches to the library.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use clap_complete::Shell;
use tracing_subscriber::EnvFilter;
use trnsim::cli;
use trnsim::numerics::{Cast, DType, Overflow, Rounding};
use trnsim::report::Format;
use trnsim::systolic::{Dataflow, Mode as SystolicMode};

/// Simulate Trainium-style ML accelerators (kernels, in time and in numbers) and the fleets built
/// from them (capacity scheduling under reservations).
#[derive(Parser)]
#[command(name = "trnsim", version, propagate_version = true)]
struct Cli {
    /// More logging on stderr (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// Less logging on stderr (-q errors only, -qq nothing).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    quiet: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A tour of trnsim on built-in defaults.
    Demo,
    /// Facts about the storage formats, and conversion into them.
    Dtype {
        #[command(subcommand)]
        command: DtypeCommand,
    },
    /// Run a kernel trace on a hardware model: time, engine activity, utilization (and values).
    Run {
        /// The kernel trace (format: traces/README.md).
        trace: PathBuf,
        #[command(flatten)]
        hw: HwArgs,
        /// Initial values of a buffer declared `input`: NAME=file.npy (float32, or raw bits).
        #[arg(long = "input", value_name = "NAME=FILE", value_parser = cli::run::name_path)]
        inputs: Vec<(String, PathBuf)>,
        /// Write a buffer's final values: NAME=file.npy (float32).
        #[arg(long = "output", value_name = "NAME=FILE", value_parser = cli::run::name_path)]
        outputs: Vec<(String, PathBuf)>,
        /// Write a Chrome/Perfetto trace-event timeline (open in ui.perfetto.dev).
        #[arg(long)]
        timeline: Option<PathBuf>,
        /// Timing only: skip computing values (the timing is identical).
        #[arg(long)]
        no_data: bool,
        /// Rounding of values written by the engines.
        #[arg(long, value_enum, default_value = "nearest")]
        rounding: RoundingArg,
        /// Seed of stochastic rounding.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// The kernel library: parameterized kernels lowered to traces and run.
    Kernel {
        #[command(subcommand)]
        command: KernelCommand,
    },
    /// Transformer models from config files: one step (prefill or decode) kernel by kernel.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
    /// Hardware presets.
    Hw {
        #[command(subcommand)]
        command: HwCommand,
    },
    /// Simulate a fleet scenario: tenants, reservations in time, quotas, preemption, placement.
    Plan {
        /// The scenario (TOML; format: scenarios/README.md).
        scenario: PathBuf,
        /// Override a scenario key: KEY.PATH=VALUE (e.g. policy.name=fair); repeatable.
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = cli::plan::key_value)]
        set: Vec<(String, String)>,
        /// Seed (default: the scenario's `seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Also write summary.json, metrics.csv, timeseries.csv, SVG charts and report.html
        /// into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a scenario over a grid of values and seeds in parallel: mean and 95 % CI per metric.
    #[command(args_conflicts_with_subcommands = true)]
    Sweep {
        #[command(subcommand)]
        command: Option<SweepCommand>,
        #[command(flatten)]
        args: SweepRun,
    },
    /// Systolic design-space mode: SCALE-Sim configs and topologies timed in closed form, in
    /// SCALE-Sim's convention and the Trainium-style one side by side.
    #[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
    Systolic {
        #[command(subcommand)]
        command: Option<SystolicCommand>,
        #[command(flatten)]
        args: SystolicArgs,
    },
    /// Print a shell completion script to stdout.
    Completions {
        /// The shell.
        shell: Shell,
    },
}

#[derive(clap::Args)]
struct SweepRun {
    /// The scenario (TOML; format: scenarios/README.md).
    scenario: Option<PathBuf>,
    /// Vary a scenario key over values: KEY.PATH=V1,V2,... (repeatable: the grid is the product).
    #[arg(long, value_name = "KEY=V1,V2,...")]
    vary: Vec<String>,
    /// Override a scenario key at every point: KEY.PATH=VALUE (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = cli::plan::key_value)]
    set: Vec<(String, String)>,
    /// Seeds per grid point (the scenario's seed, +1, +2, ...).
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// Run only shard I of N (0-based): a deterministic slice of the grid's points.
    #[arg(long, value_name = "I/N")]
    shard: Option<String>,
    /// Worker threads (default: one per core). Results do not depend on it.
    #[arg(long)]
    threads: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Write runs.json, summary.json, metrics.csv, SVG charts and report.html into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Subcommand)]
enum SweepCommand {
    /// Merge the runs.json of shard directories into the whole sweep's result.
    Merge {
        /// Shard output directories (each with runs.json).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Write the merged outputs into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DtypeCommand {
    /// bits, exponent/mantissa, bias, max, smallest normal/subnormal, eps, inf and NaN encodings.
    Info {
        /// Dtypes (ml_dtypes names or short aliases); all when none.
        dtypes: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Convert values (arguments, or stdin one per line) and print `0xBITS value` per input.
    Cast {
        /// Target dtype.
        #[arg(long)]
        to: String,
        /// Rounding mode.
        #[arg(long, value_enum, default_value = "nearest")]
        rounding: RoundingArg,
        /// Seed of stochastic rounding.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Overflow mode: ieee (inf, or NaN without inf: as ml_dtypes) or saturate (to max).
        #[arg(long, value_enum, default_value = "ieee")]
        overflow: OverflowArg,
        /// Decimal values, or 0x + 8 hex digits (f32 bits). None: read stdin.
        #[arg(allow_hyphen_values = true)]
        values: Vec<String>,
    },
}

#[derive(Subcommand)]
enum KernelCommand {
    /// Every kernel, with its parameters.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// A kernel's description and parameters (defaults, valid ranges).
    Show {
        /// Kernel name.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Lower a kernel to a trace (stdout, or -o FILE).
    Lower {
        /// Kernel name.
        name: String,
        #[command(flatten)]
        params: KernelParams,
        /// Write the trace here (atomically) instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Lower a kernel and run it on the chip simulator (the report is `trnsim run`'s).
    Run {
        /// Kernel name.
        name: String,
        #[command(flatten)]
        params: KernelParams,
        /// Timing only: skip computing values (the timing is identical).
        #[arg(long)]
        no_data: bool,
        /// Compare the outputs with an f64 reference; exit 1 above the dtype's tolerance.
        #[arg(long)]
        check: bool,
        /// Write a Chrome/Perfetto trace-event timeline.
        #[arg(long)]
        timeline: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Subcommand)]
enum ModelCommand {
    /// The shipped model configs (kernels/models/).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Run one step of a model: every kernel of a decoder layer and of the head, timing-only.
    Run {
        /// A model config file, or a shipped model's name (see `trnsim model list`).
        model: String,
        /// prefill: a batch of prompts; decode: one new token per sequence.
        #[arg(long, value_enum)]
        phase: PhaseArg,
        /// Sequences.
        #[arg(long, default_value_t = 1)]
        batch: usize,
        /// Prefill: prompt tokens per sequence.
        #[arg(long)]
        seq: Option<usize>,
        /// Decode: KV-cache positions per sequence (the new token's included).
        #[arg(long)]
        context: Option<usize>,
        /// Dtype of every kernel.
        #[arg(long, default_value = "bfloat16")]
        dtype: String,
        /// Hardware: a preset (trn1, trn2, trn3) or a path to a hardware TOML file.
        #[arg(long, default_value = "trn2")]
        hw: String,
        /// Override fields of the hardware: FIELD=VALUE[,FIELD=VALUE...].
        #[arg(long, value_name = "FIELD=VALUE,...")]
        hw_set: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum PhaseArg {
    Prefill,
    Decode,
}

#[derive(clap::Args)]
struct KernelParams {
    /// Kernel parameters: NAME=VALUE[,NAME=VALUE...] (see `trnsim kernel show NAME`).
    #[arg(long, value_name = "NAME=VALUE,...")]
    set: Vec<String>,
    /// Hardware: a preset (trn1, trn2, trn3) or a path to a hardware TOML file.
    #[arg(long, default_value = "trn2")]
    hw: String,
    /// Override fields of the hardware: FIELD=VALUE[,FIELD=VALUE...].
    #[arg(long, value_name = "FIELD=VALUE,...")]
    hw_set: Vec<String>,
}

impl KernelParams {
    fn resolve(&self) -> anyhow::Result<(Vec<(String, String)>, trnsim::arch::Hardware)> {
        let hw = HwArgs {
            hw: self.hw.clone(),
            set: self.hw_set.clone(),
        };
        let h = cli::run::load_hardware(&hw.hw, &hw.overrides()?)?;
        Ok((cli::kernel::parse_set(&self.set)?, h))
    }
}

#[derive(clap::Args)]
struct SystolicArgs {
    /// SCALE-Sim config file (.cfg): array, SRAMs, bandwidth, dataflow.
    #[arg(long, required = true)]
    config: Option<PathBuf>,
    /// SCALE-Sim topology file (.csv): convolution or `Layer, M, N, K,` GEMM layers.
    #[arg(long, required = true)]
    topology: Option<PathBuf>,
    #[command(flatten)]
    common: SystolicCommon,
}

#[derive(clap::Args)]
struct SystolicCommon {
    /// Settings to report: SCALE-Sim's convention, the Trainium-style one, or both side by side.
    #[arg(long, value_enum, default_value_t = SystolicMode::Both)]
    mode: SystolicMode,
    #[command(flatten)]
    hw: HwArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
}

#[derive(Subcommand)]
enum SystolicCommand {
    /// One GEMM layer: ofmap (M x N) = ifmap (M x K) x filter (K x N).
    Gemm {
        /// Output rows (M).
        m: u64,
        /// Output columns (N).
        n: u64,
        /// Contraction (K).
        k: u64,
        /// PE rows (default: the --hw preset's).
        #[arg(long)]
        rows: Option<u64>,
        /// PE columns (default: the --hw preset's).
        #[arg(long)]
        cols: Option<u64>,
        /// Dataflow: weight, output or input stationary.
        #[arg(long, value_enum, default_value_t = Dataflow::Ws)]
        dataflow: Dataflow,
        /// DRAM words per cycle per interface (N, or IFMAP,FILTER,OFMAP); unlimited if absent.
        #[arg(long)]
        bandwidth: Option<String>,
        /// SRAM sizes in kB: IFMAP,FILTER,OFMAP (SCALE-Sim's defaults).
        #[arg(long, default_value = "256,256,128")]
        sram_kb: String,
        #[command(flatten)]
        common: SystolicCommon,
    },
}

#[derive(clap::Args)]
struct HwArgs {
    /// Hardware: a preset (trn1, trn2, trn3) or a path to a hardware TOML file.
    #[arg(long, default_value = "trn2")]
    hw: String,
    /// Override fields of the hardware: FIELD=VALUE[,FIELD=VALUE...] (e.g. pe.rows=256,dma.engines=8).
    #[arg(long, value_name = "FIELD=VALUE,...")]
    set: Vec<String>,
}

impl HwArgs {
    fn overrides(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for s in &self.set {
            out.extend(
                trnsim::arch::parse_overrides(s).map_err(|e| cli::Error::Input(e.to_string()))?,
            );
        }
        Ok(out)
    }
}

#[derive(Subcommand)]
enum HwCommand {
    /// The presets and their peak throughputs.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Every field of a hardware description (after --set), as TOML (or JSON).
    Show {
        #[command(flatten)]
        hw: HwArgs,
        /// JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RoundingArg {
    Nearest,
    Stochastic,
}

impl From<RoundingArg> for Rounding {
    fn from(r: RoundingArg) -> Rounding {
        match r {
            RoundingArg::Nearest => Rounding::Nearest,
            RoundingArg::Stochastic => Rounding::Stochastic,
        }
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum OverflowArg {
    Ieee,
    Saturate,
}

fn main() -> ExitCode {
    let args = Cli::parse();
    init_logging(args.verbose, args.quiet);
    match run(args.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(io) = e.downcast_ref::<io::Error>()
                && io.kind() == io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            let code = match e.downcast_ref::<cli::Error>() {
                Some(cli::Error::Io(io)) if io.kind() == io::ErrorKind::BrokenPipe => {
                    return ExitCode::SUCCESS;
                }
                Some(c) => c.exit_code(),
                None => 2,
            };
            eprintln!("trnsim: error: {e:#}");
            ExitCode::from(code as u8)
        }
    }
}

fn init_logging(verbose: u8, quiet: u8) {
    let level = match (verbose, quiet) {
        (_, 2..) => "off",
        (_, 1) => "error",
        (0, 0) => "warn",
        (1, 0) => "info",
        (2, 0) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .init();
}

fn run(command: Command) -> anyhow::Result<()> {
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    match command {
        Command::Demo => cli::demo::run(&mut out)?,
        Command::Run {
            trace,
            hw,
            inputs,
            outputs,
            timeline,
            no_data,
            rounding,
            seed,
            format,
        } => {
            let args = cli::run::RunArgs {
                trace,
                set: hw.overrides()?,
                hw: hw.hw,
                inputs,
                outputs,
                timeline,
                no_data,
                rounding: rounding.into(),
                seed,
                format,
            };
            out.write_all(cli::run::run(&args)?.as_bytes())?;
        }
        Command::Kernel { command } => match command {
            KernelCommand::List { format } => {
                out.write_all(cli::kernel::list(format)?.as_bytes())?
            }
            KernelCommand::Show { name, format } => {
                out.write_all(cli::kernel::show(&name, format)?.as_bytes())?
            }
            KernelCommand::Lower {
                name,
                params,
                output,
            } => {
                let (set, hw) = params.resolve()?;
                let text = cli::kernel::lower(&name, &set, &hw, output.as_ref())?;
                out.write_all(text.as_bytes())?;
            }
            KernelCommand::Run {
                name,
                params,
                no_data,
                check,
                timeline,
                format,
            } => {
                let (set, hw) = params.resolve()?;
                let args = cli::kernel::KernelRunArgs {
                    name,
                    set,
                    no_data,
                    check,
                    timeline,
                    format,
                };
                let r = cli::kernel::run(&args, &hw)?;
                out.write_all(r.text.as_bytes())?;
                if let Some(e) = r.failed {
                    out.flush()?;
                    return Err(e.into());
                }
            }
        },
        Command::Model { command } => match command {
            ModelCommand::List { format } => out.write_all(cli::model::list(format)?.as_bytes())?,
            ModelCommand::Run {
                model,
                phase,
                batch,
                seq,
                context,
                dtype,
                hw,
                hw_set,
                format,
            } => {
                let hw = HwArgs { hw, set: hw_set };
                let h = cli::run::load_hardware(&hw.hw, &hw.overrides()?)?;
                let args = cli::model::ModelRunArgs {
                    model,
                    phase: match phase {
                        PhaseArg::Prefill => trnsim::kernels::model::Phase::Prefill,
                        PhaseArg::Decode => trnsim::kernels::model::Phase::Decode,
                    },
                    batch,
                    seq,
                    context,
                    dtype: dtype.parse::<DType>().map_err(cli::Error::from)?,
                    format,
                };
                out.write_all(cli::model::run(&args, &h)?.as_bytes())?;
            }
        },
        Command::Hw { command } => match command {
            HwCommand::List { format } => out.write_all(cli::hw::list(format)?.as_bytes())?,
            HwCommand::Show { hw, json } => {
                let h = cli::run::load_hardware(&hw.hw, &hw.overrides()?)?;
                out.write_all(cli::hw::show(&h, json).as_bytes())?;
            }
        },
        Command::Plan {
            scenario,
            set,
            seed,
            format,
            out: dir,
        } => {
            let args = cli::plan::PlanArgs {
                scenario,
                set,
                seed,
                format,
                out: dir,
            };
            out.write_all(cli::plan::plan(&args)?.as_bytes())?;
        }
        Command::Sweep { command, args } => match command {
            Some(SweepCommand::Merge {
                dirs,
                format,
                out: dir,
            }) => {
                out.write_all(cli::sweep::merge(&dirs, format, dir.as_deref())?.as_bytes())?;
            }
            None => {
                let Some(scenario) = args.scenario else {
                    return Err(cli::Error::Input(
                        "trnsim sweep: a SCENARIO file (or `merge DIR...`) is required".into(),
                    )
                    .into());
                };
                let a = cli::sweep::SweepArgs {
                    scenario,
                    set: args.set,
                    vary: args.vary,
                    seeds: args.seeds,
                    shard: args.shard,
                    threads: args.threads,
                    format: args.format,
                    out: args.out,
                    progress: true,
                };
                out.write_all(cli::sweep::run(&a)?.as_bytes())?;
            }
        },
        Command::Systolic { command, args } => match command {
            Some(SystolicCommand::Gemm {
                m,
                n,
                k,
                rows,
                cols,
                dataflow,
                bandwidth,
                sram_kb,
                common,
            }) => {
                let a = cli::systolic::GemmArgs {
                    m,
                    n,
                    k,
                    rows,
                    cols,
                    dataflow,
                    mode: common.mode,
                    set: common.hw.overrides()?,
                    hw: common.hw.hw,
                    bandwidth,
                    sram_kb,
                    format: common.format,
                };
                out.write_all(cli::systolic::gemm(&a)?.as_bytes())?;
            }
            None => {
                let (Some(config), Some(topology)) = (args.config, args.topology) else {
                    let msg = "systolic needs --config FILE.cfg and --topology FILE.csv, or gemm";
                    return Err(cli::Error::Input(msg.into()).into());
                };
                let common = args.common;
                let a = cli::systolic::TopologyArgs {
                    config,
                    topology,
                    mode: common.mode,
                    set: common.hw.overrides()?,
                    hw: common.hw.hw,
                    format: common.format,
                };
                let o = cli::systolic::run(&a)?;
                for w in &o.warnings {
                    tracing::warn!("{w}");
                }
                out.write_all(o.text.as_bytes())?;
            }
        },
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "trnsim", &mut out);
        }
        Command::Dtype { command } => match command {
            DtypeCommand::Info { dtypes, format } => {
                let dtypes = dtypes
                    .iter()
                    .map(|d| d.parse::<DType>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(cli::Error::from)?;
                out.write_all(cli::dtype::info(&dtypes, format).as_bytes())?;
            }
            DtypeCommand::Cast {
                to,
                rounding,
                seed,
                overflow,
                values,
            } => {
                let dtype: DType = to.parse().map_err(cli::Error::from)?;
                let cast = Cast::new(dtype)
                    .rounding(rounding.into())
                    .overflow(match overflow {
                        OverflowArg::Ieee => Overflow::Ieee,
                        OverflowArg::Saturate => Overflow::Saturate,
                    })
                    .seed(seed);
                if values.is_empty() {
                    let n = cli::dtype::cast_stream(&cast, "stdin", io::stdin().lock(), &mut out)?;
                    tracing::info!(values = n, "cast done");
                } else {
                    cli::dtype::cast_values(&cast, &values, &mut out)?;
                }
            }
        },
    }
    out.flush()?;
    Ok(())
}
