//! `trnsim systolic`: time a SCALE-Sim topology (or one GEMM) on an R x C systolic array, in
//! SCALE-Sim's stall-free convention and in the Trainium-style setting, side by side.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Error, Result};
use crate::report::{Format, Table};
use crate::systolic::{
    self, Array, Dataflow, Gemm, LayerReport, LayerTiming, Machine, Memory, Mode, TrainiumParams,
    config, topology,
};

/// Options of `trnsim systolic --config F --topology F`.
#[derive(Clone, Debug)]
pub struct TopologyArgs {
    /// SCALE-Sim config file.
    pub config: PathBuf,
    /// SCALE-Sim topology file (convolution or GEMM form).
    pub topology: PathBuf,
    /// Settings to report.
    pub mode: Mode,
    /// Hardware preset (or TOML) giving the Trainium-style constants.
    pub hw: String,
    /// `field=value` overrides of the hardware.
    pub set: Vec<(String, String)>,
    /// Output format.
    pub format: Format,
}

/// Options of `trnsim systolic gemm M N K`.
#[derive(Clone, Debug)]
pub struct GemmArgs {
    /// Output rows.
    pub m: u64,
    /// Output columns.
    pub n: u64,
    /// Contraction.
    pub k: u64,
    /// PE rows; the preset's when `None`.
    pub rows: Option<u64>,
    /// PE columns; the preset's when `None`.
    pub cols: Option<u64>,
    /// Dataflow.
    pub dataflow: Dataflow,
    /// Settings to report.
    pub mode: Mode,
    /// Hardware preset (or TOML) giving the Trainium-style constants and default array size.
    pub hw: String,
    /// `field=value` overrides of the hardware.
    pub set: Vec<(String, String)>,
    /// DRAM words per cycle (one value, or ifmap,filter,ofmap); unlimited when `None`.
    pub bandwidth: Option<String>,
    /// SRAM sizes in kB: ifmap,filter,ofmap.
    pub sram_kb: String,
    /// Output format.
    pub format: Format,
}

/// A command's output: the rendered report and warnings for the log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    /// The report.
    pub text: String,
    /// Ignored keys and sections of the config, each `file:line: message`.
    pub warnings: Vec<String>,
}

fn input(e: systolic::Error) -> Error {
    Error::Input(e.to_string())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}

fn trainium_params(hw: &str, set: &[(String, String)]) -> Result<(TrainiumParams, Array)> {
    let h = super::run::load_hardware(hw, set)?;
    let array = Array::new(h.pe.rows as u64, h.pe.cols as u64).map_err(input)?;
    Ok((TrainiumParams::from_hardware(&h), array))
}

/// Read the config and topology, time every layer, and render the report.
pub fn run(args: &TopologyArgs) -> Result<Output> {
    let config_file = args.config.display().to_string();
    let topo_file = args.topology.display().to_string();
    let cfg = config::parse(&read(&args.config)?, &config_file).map_err(input)?;
    let topo = topology::parse(&read(&args.topology)?, &topo_file).map_err(input)?;
    let (params, _) = trainium_params(&args.hw, &args.set)?;
    let machine = Machine {
        array: cfg.array,
        dataflow: cfg.dataflow,
        memory: cfg.memory(),
        trainium: params,
    };
    let reports = systolic::time_topology(&topo, &topo_file, &machine, args.mode).map_err(input)?;
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
        text: render(&reports, args.mode, &title, args.format),
        warnings: cfg.warnings,
    })
}

/// Time one GEMM and render the report.
pub fn gemm(args: &GemmArgs) -> Result<String> {
    let (params, preset_array) = trainium_params(&args.hw, &args.set)?;
    let array = Array::new(
        args.rows.unwrap_or(preset_array.rows),
        args.cols.unwrap_or(preset_array.cols),
    )
    .map_err(input)?;
    let gemm = Gemm::new(args.m, args.n, args.k).map_err(input)?;
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
    let report = systolic::time_layer(0, &name, &gemm, &machine, args.mode).map_err(input)?;
    let title = format!(
        "{name} on a {}x{} array, {}, {}",
        array.rows,
        array.cols,
        args.dataflow,
        bandwidth_text(bandwidth)
    );
    Ok(render(&[report], args.mode, &title, args.format))
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
/// the Trainium-style one beside it. Percentages are exact in JSON and CSV, two decimals in the
/// table form; the table's title carries the totals.
pub fn render(reports: &[LayerReport], mode: Mode, title: &str, format: Format) -> String {
    const COLS: [&str; 5] = [
        "total_cycles",
        "stall_cycles",
        "overall_util_pct",
        "mapping_eff_pct",
        "compute_util_pct",
    ];
    let mut columns: Vec<String> = ["id", "layer", "m", "n", "k"].map(String::from).to_vec();
    let both = mode == Mode::Both;
    columns.extend(COLS.map(String::from));
    if both {
        columns.extend(
            [
                "total_cycles",
                "stall_cycles",
                "overall_util_pct",
                "compute_util_pct",
            ]
            .map(|c| format!("trn_{c}")),
        );
        columns.push("trn_speedup".to_string());
    }
    let pct = |x: f64| {
        if format == Format::Table {
            Value::from((x * 100.0).round() / 100.0)
        } else {
            Value::from(x)
        }
    };
    let timing = |t: &LayerTiming, mapping: bool| {
        let mut v = vec![
            Value::from(t.total_cycles),
            Value::from(t.stall_cycles),
            pct(t.overall_util_pct),
        ];
        if mapping {
            v.push(pct(t.mapping_eff_pct));
        }
        v.push(pct(t.compute_util_pct));
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
            row.push(pct(s.total_cycles as f64 / t.total_cycles as f64));
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
