//! `trnsim systolic`: time a SCALE-Sim topology (or one GEMM) on an R x C systolic array, in
//! SCALE-Sim's stall-free convention and in the Trainium-style setting, side by side.

use std::path::PathBuf;

use serde_json::Value;

use super::hw::HwArgs;
use super::{Error, Result};
use crate::report::{Format, Table};
use crate::systolic::{
    self, Array, Dataflow, Gemm, LayerReport, LayerTiming, Machine, Memory, Mode, TrainiumParams,
    config, topology,
};

/// Options of `trnsim systolic`: a topology run, or a subcommand.
#[derive(Clone, Debug, clap::Args)]
pub struct SystolicArgs {
    /// `gemm`, or none for a topology.
    #[command(subcommand)]
    pub command: Option<SystolicCommand>,
    /// The topology run's options (without a subcommand).
    #[command(flatten)]
    pub topology: TopologyArgs,
}

/// `trnsim systolic`'s subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum SystolicCommand {
    /// One GEMM layer: ofmap (M x N) = ifmap (M x K) x filter (K x N).
    Gemm(GemmArgs),
}

/// Options every systolic run takes.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct Common {
    /// Settings to report: SCALE-Sim's convention, the Trainium-style one, or both side by side.
    #[arg(long, value_enum, default_value_t = Mode::Both)]
    pub mode: Mode,
    /// The hardware giving the Trainium-style constants (and gemm's default array).
    #[command(flatten)]
    pub hw: HwArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Options of `trnsim systolic --config F --topology F`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct TopologyArgs {
    /// SCALE-Sim config file (.cfg): array, SRAMs, bandwidth, dataflow.
    #[arg(long, required = true)]
    pub config: Option<PathBuf>,
    /// SCALE-Sim topology file (.csv): convolution or `Layer, M, N, K,` GEMM layers.
    #[arg(long, required = true)]
    pub topology: Option<PathBuf>,
    /// Mode, hardware, format.
    #[command(flatten)]
    pub common: Common,
}

/// Options of `trnsim systolic gemm M N K`.
#[derive(Clone, Debug, clap::Args)]
pub struct GemmArgs {
    /// Output rows (M).
    pub m: u64,
    /// Output columns (N).
    pub n: u64,
    /// Contraction (K).
    pub k: u64,
    /// PE rows (default: the --hw preset's).
    #[arg(long)]
    pub rows: Option<u64>,
    /// PE columns (default: the --hw preset's).
    #[arg(long)]
    pub cols: Option<u64>,
    /// Dataflow: weight, output or input stationary.
    #[arg(long, value_enum, default_value_t = Dataflow::Ws)]
    pub dataflow: Dataflow,
    /// DRAM words per cycle per interface (N, or IFMAP,FILTER,OFMAP); unlimited if absent.
    #[arg(long)]
    pub bandwidth: Option<String>,
    /// SRAM sizes in kB: IFMAP,FILTER,OFMAP (SCALE-Sim's defaults).
    #[arg(long, default_value = "256,256,128")]
    pub sram_kb: String,
    /// Mode, hardware, format.
    #[command(flatten)]
    pub common: Common,
}

/// Run `trnsim systolic` (a topology, or `gemm`): the report, and warnings for the log.
pub fn dispatch(args: &SystolicArgs) -> Result<Output> {
    match &args.command {
        Some(SystolicCommand::Gemm(g)) => Ok(Output {
            text: gemm(g)?,
            warnings: Vec::new(),
        }),
        None => run(&args.topology),
    }
}

/// A command's output: the rendered report and warnings for the log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    /// The report.
    pub text: String,
    /// Ignored keys and sections of the config, each `file:line: message`.
    pub warnings: Vec<String>,
}

fn trainium_params(hw: &HwArgs) -> Result<(TrainiumParams, Array)> {
    let h = hw.load()?;
    let array = Array::new(h.pe.rows as u64, h.pe.cols as u64)?;
    Ok((TrainiumParams::from_hardware(&h), array))
}

/// Read the config and topology, time every layer, and render the report.
pub(crate) fn run(args: &TopologyArgs) -> Result<Output> {
    let (Some(config), Some(topology)) = (&args.config, &args.topology) else {
        let msg = "systolic needs --config FILE.cfg and --topology FILE.csv, or gemm";
        return Err(Error::Input(msg.into()));
    };
    args.common.hw.overrides_checked()?;
    let (mode, format) = (args.common.mode, args.common.format);
    let config_file = config.display().to_string();
    let topo_file = topology.display().to_string();
    let cfg = config::parse(&super::read(config)?, &config_file)?;
    let topo = topology::parse(&super::read(topology)?, &topo_file)?;
    let (params, _) = trainium_params(&args.common.hw)?;
    let machine = Machine {
        array: cfg.array,
        dataflow: cfg.dataflow,
        memory: cfg.memory(),
        trainium: params,
    };
    let reports = systolic::time_topology(&topo, &topo_file, &machine, mode)?;
    let title = format!(
        "{}: {} ({} layers) on a {}x{} array, {}, {}",
        cfg.run_name,
        topo_file,
        reports.len(),
        cfg.array.rows,
        cfg.array.cols,
        cfg.dataflow,
        bandwidth_text(cfg.bandwidth),
    );
    Ok(Output {
        text: render(&reports, mode, &title, format),
        warnings: cfg.warnings,
    })
}

/// Time one GEMM and render the report.
pub(crate) fn gemm(args: &GemmArgs) -> Result<String> {
    let (params, preset_array) = trainium_params(&args.common.hw)?;
    let (mode, format) = (args.common.mode, args.common.format);
    let array = Array::new(
        args.rows.unwrap_or(preset_array.rows),
        args.cols.unwrap_or(preset_array.cols),
    )?;
    let gemm = Gemm::new(args.m, args.n, args.k)?;
    let bandwidth = match &args.bandwidth {
        None => None,
        Some(s) => Some(config::parse_bandwidth(s).ok_or_else(|| {
            Error::Input(format!(
                "--bandwidth: expected words per cycle, one positive integer or three \
                 (ifmap,filter,ofmap), found '{s}'"
            ))
        })?),
    };
    let sram_kb = parse_sram(&args.sram_kb)?;
    let machine = Machine {
        array,
        dataflow: args.dataflow,
        memory: Memory {
            ifmap_sram_words: sram_kb[0] * 1024,
            filter_sram_words: sram_kb[1] * 1024,
            ofmap_sram_words: sram_kb[2] * 1024,
            bandwidth,
        },
        trainium: params,
    };
    let name = format!("gemm_{}x{}x{}", args.m, args.n, args.k);
    let report = systolic::time_layer(0, &name, &gemm, &machine, mode)?;
    let title = format!(
        "{name} on a {}x{} array, {}, {}",
        array.rows,
        array.cols,
        args.dataflow,
        bandwidth_text(bandwidth)
    );
    Ok(render(&[report], mode, &title, format))
}

fn parse_sram(s: &str) -> Result<[u64; 3]> {
    let v: Option<Vec<u64>> = s
        .split(',')
        .map(|x| {
            x.trim()
                .parse::<u64>()
                .ok()
                .filter(|v| (1..=1 << 30).contains(v))
        })
        .collect();
    match v.as_deref() {
        Some(&[i, f, o]) => Ok([i, f, o]),
        _ => Err(Error::Input(format!(
            "--sram-kb: expected three sizes in kB (ifmap,filter,ofmap), each 1 to 1073741824, \
             found '{s}'"
        ))),
    }
}

fn bandwidth_text(bw: Option<[u64; 3]>) -> String {
    match bw {
        None => "stall-free memory".to_string(),
        Some([i, f, o]) if i == f && f == o => format!("{i} words/cycle per DRAM interface"),
        Some([i, f, o]) => format!("DRAM {i}/{f}/{o} words/cycle (ifmap/filter/ofmap)"),
    }
}

/// The COMPUTE_REPORT-like table: SCALE-Sim's columns for the first setting, `trn_` columns for
/// the Trainium-style one beside it. Utilisations follow the crate's convention: exact fractions
/// in JSON and CSV, percents with two decimals in the table (whose headers then end in `_%`);
/// the table's title carries the totals.
pub(crate) fn render(reports: &[LayerReport], mode: Mode, title: &str, format: Format) -> String {
    let table_form = format == Format::Table;
    let util = |name: &str| {
        if table_form {
            format!("{name}_%")
        } else {
            name.to_string()
        }
    };
    let mut columns: Vec<String> = ["id", "layer", "m", "n", "k"].map(String::from).to_vec();
    let both = mode == Mode::Both;
    columns.extend(["total_cycles".into(), "stall_cycles".into()]);
    columns.extend(["overall_util", "mapping_eff", "compute_util"].map(util));
    if both {
        columns.extend(["trn_total_cycles".into(), "trn_stall_cycles".into()]);
        columns.extend(["trn_overall_util", "trn_compute_util"].map(util));
        columns.push("trn_speedup".to_string());
    }
    let two_decimals = |x: f64| (x * 100.0).round() / 100.0;
    let pct = |x: f64| {
        if table_form {
            Value::from(two_decimals(x * 100.0))
        } else {
            Value::from(x)
        }
    };
    let timing = |t: &LayerTiming, mapping: bool| {
        let mut v = vec![
            Value::from(t.total_cycles),
            Value::from(t.stall_cycles),
            pct(t.overall_util),
        ];
        if mapping {
            v.push(pct(t.mapping_eff));
        }
        v.push(pct(t.compute_util));
        v
    };
    let mut table = Table::new(columns);
    let (mut sum_a, mut sum_b) = (0u128, 0u128);
    for r in reports {
        let mut row = vec![
            Value::from(r.id),
            Value::from(r.name.clone()),
            Value::from(r.gemm.m),
            Value::from(r.gemm.n),
            Value::from(r.gemm.k),
        ];
        let first = r.scalesim.as_ref().or(r.trainium.as_ref());
        if let Some(t) = first {
            row.extend(timing(t, true));
            sum_a += t.total_cycles as u128;
        }
        if let (true, Some(s), Some(t)) = (both, &r.scalesim, &r.trainium) {
            row.extend(timing(t, false));
            let speedup = s.total_cycles as f64 / t.total_cycles as f64;
            row.push(Value::from(if table_form {
                two_decimals(speedup)
            } else {
                speedup
            }));
            sum_b += t.total_cycles as u128;
        }
        table.push(row);
    }
    let totals = match mode {
        Mode::Scalesim => format!("total: {sum_a} cycles (SCALE-Sim v3.0.0 convention)"),
        Mode::Trainium => format!("total: {sum_a} cycles (Trainium-style)"),
        Mode::Both => format!(
            "total: {sum_a} cycles in SCALE-Sim's convention, {sum_b} Trainium-style ({:.2}x)",
            sum_a as f64 / sum_b.max(1) as f64
        ),
    };
    table
        .with_title(format!("{title}\n{totals}"))
        .render(format)
}
