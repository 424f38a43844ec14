//! `trnsim hw`: the hardware presets and their derived peaks; and [`HwArgs`], the `--hw` and
//! `--hw-set` options every command that models a chip takes, resolved once into a [`Hardware`].

use std::io::Write;

use serde_json::Value;

use super::{Error, Result};
use crate::arch::{self, Hardware, PRESETS};
use crate::numerics::DType;
use crate::report::{Format, Table};

/// The hardware a command models: a preset or a TOML file, then field overrides. `--set` is
/// accepted only to refuse it: it means scenario keys (`plan`, `sweep`).
#[derive(Clone, Debug, clap::Args)]
pub struct HwArgs {
    /// Hardware: a preset (trn1, trn2, trn3) or a path to a hardware TOML file.
    #[arg(long, default_value = "trn2")]
    pub hw: String,
    /// Override fields of the hardware: FIELD=VALUE[,FIELD=VALUE...] (e.g. pe.rows=256,dma.engines=8).
    #[arg(long, value_name = "FIELD=VALUE,...")]
    pub hw_set: Vec<String>,
    /// The old spelling of --hw-set (or of --param), refused with a hint.
    #[arg(long = "set", hide = true, value_name = "KEY=VALUE")]
    pub refused_set: Vec<String>,
}

impl Default for HwArgs {
    fn default() -> Self {
        HwArgs {
            hw: "trn2".into(),
            hw_set: Vec::new(),
            refused_set: Vec::new(),
        }
    }
}

impl HwArgs {
    /// The `--hw-set` overrides as pairs.
    pub(crate) fn overrides(&self) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for s in &self.hw_set {
            out.extend(arch::parse_overrides(s)?);
        }
        Ok(out)
    }

    /// Refuse `--set`, and read the `--hw-set` overrides: the checks that need no file.
    pub(crate) fn overrides_checked(&self) -> Result<Vec<(String, String)>> {
        if let Some(v) = self.refused_set.first() {
            return Err(Error::Flag {
                flag: "--set",
                meaning: "scenario keys",
                hint: format!("for hardware fields use --hw-set {v}"),
            });
        }
        self.overrides()
    }

    /// Refuse `--set`, then load the hardware with its overrides.
    pub(crate) fn load(&self) -> Result<Hardware> {
        load_hardware(&self.hw, &self.overrides_checked()?)
    }
}

/// Load a hardware description: a preset or a TOML file, then overrides.
pub(crate) fn load_hardware(spec: &str, set: &[(String, String)]) -> Result<Hardware> {
    Ok(Hardware::load(spec, set, |p| {
        crate::config::read_text(p.as_ref())
    })?)
}

/// `trnsim hw`'s subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum HwCommand {
    /// The presets and their peak throughputs.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Every field of a hardware description (after --hw-set), as TOML (or JSON).
    Show {
        /// The hardware to show.
        #[command(flatten)]
        hw: HwArgs,
        /// JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
}

/// Run a `trnsim hw` subcommand, writing its report to `out`.
pub fn dispatch(command: &HwCommand, out: &mut impl Write) -> Result<()> {
    let text = match command {
        HwCommand::List { format } => list(*format)?,
        HwCommand::Show { hw, json } => show(&hw.load()?, *json),
    };
    Ok(out.write_all(text.as_bytes())?)
}

/// One row per preset: the headline numbers and the derived peaks.
pub(crate) fn list(format: Format) -> Result<String> {
    let mut t = Table::new([
        "name",
        "pe",
        "pe_clock_mhz",
        "bf16_tflops",
        "fp8_tflops",
        "fp32_tflops",
        "sbuf_mib",
        "psum_kib_per_partition",
        "dma_engines",
        "core_hbm_gbps",
    ]);
    for (name, _) in PRESETS {
        let hw = Hardware::preset(name)?;
        let tf = |d| (hw.peak_flops(d) / 1e10).round() / 100.0;
        t.push(vec![
            Value::from(name),
            Value::from(format!("{}x{}", hw.pe.rows, hw.pe.cols)),
            Value::from(hw.pe.clock_mhz),
            Value::from(tf(DType::BFloat16)),
            Value::from(tf(DType::Float8E4M3)),
            Value::from(tf(DType::Float32)),
            Value::from(
                (hw.sbuf.bytes_per_partition * hw.sbuf.partitions as u64) as f64 / (1 << 20) as f64,
            ),
            Value::from(hw.psum.bytes_per_partition / 1024),
            Value::from(hw.dma.engines),
            Value::from(hw.core_hbm_bytes_per_ns()),
        ]);
    }
    Ok(t.render(format))
}

/// The full description of one hardware (after overrides) as TOML or JSON.
pub(crate) fn show(hw: &Hardware, json: bool) -> String {
    if json {
        let mut s = serde_json::to_string_pretty(hw).expect("hardware serializes");
        s.push('\n');
        s
    } else {
        hw.to_toml()
    }
}
