//! `trnsim run`: run a kernel trace on a hardware preset and report time and utilization.

use std::path::{Path, PathBuf};

use super::{Error, Result};
use crate::arch::{self, Hardware};
use crate::chip::{self, RunOptions, exec::ExecOptions, report::Report};
use crate::isa::{self, BufferId, Program};
use crate::numerics::{Cast, Rounding, npy};
use crate::report::Format;

/// Options of `trnsim run`.
#[derive(Clone, Debug, Default)]
pub struct RunArgs {
    /// The trace file.
    pub trace: PathBuf,
    /// Preset name or path to a hardware TOML.
    pub hw: String,
    /// `field=value` overrides of the hardware.
    pub set: Vec<(String, String)>,
    /// `NAME=file.npy` inputs.
    pub inputs: Vec<(String, PathBuf)>,
    /// `NAME=file.npy` outputs.
    pub outputs: Vec<(String, PathBuf)>,
    /// Where to write the Perfetto timeline.
    pub timeline: Option<PathBuf>,
    /// Timing only.
    pub no_data: bool,
    /// Rounding of computed values.
    pub rounding: Rounding,
    /// Seed of stochastic rounding.
    pub seed: u64,
    /// Report format.
    pub format: Format,
}

/// Split `NAME=PATH`.
pub fn name_path(s: &str) -> std::result::Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((n, p)) if !n.is_empty() && !p.is_empty() => Ok((n.to_string(), PathBuf::from(p))),
        _ => Err(format!("expected NAME=FILE.npy, found '{s}'")),
    }
}

/// Load a hardware description: a preset or a TOML file, then overrides.
pub fn load_hardware(spec: &str, set: &[(String, String)]) -> Result<Hardware> {
    let hw = Hardware::resolve(spec, |p| std::fs::read_to_string(p)).map_err(hw_err)?;
    hw.with_overrides(set).map_err(hw_err)
}

fn hw_err(e: arch::Error) -> Error {
    Error::Input(e.to_string())
}

/// Read and parse a trace file.
pub fn load_trace(path: &Path) -> Result<Program> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))?;
    isa::parse::parse(&text, &path.display().to_string()).map_err(|e| Error::Input(e.to_string()))
}

fn buffer(program: &Program, name: &str, what: &str) -> Result<BufferId> {
    program.buffer_id(name).ok_or_else(|| {
        let names: Vec<&str> = program.buffers.iter().map(|b| b.name.as_str()).collect();
        Error::Input(format!(
            "{what} names buffer '{name}', which the trace does not declare; it has: {}",
            names.join(", ")
        ))
    })
}

/// Run, write the requested files, and return the report text.
pub fn run(args: &RunArgs) -> Result<String> {
    let hw = load_hardware(&args.hw, &args.set)?;
    let program = load_trace(&args.trace)?;
    let file = args.trace.display().to_string();
    let mut inputs = Vec::new();
    for (name, path) in &args.inputs {
        let id = buffer(&program, name, "--input")?;
        let dtype = program.buffer(id).dtype;
        inputs.push((id, npy::read_tensor(path, dtype, Cast::new(dtype))?));
    }
    let outputs: Vec<(BufferId, &PathBuf)> = args
        .outputs
        .iter()
        .map(|(n, p)| Ok((buffer(&program, n, "--output")?, p)))
        .collect::<Result<_>>()?;
    if args.no_data && !outputs.is_empty() {
        return Err(Error::Input(
            "--output needs values; it cannot be combined with --no-data".into(),
        ));
    }
    let opts = RunOptions {
        data: !args.no_data,
        exec: ExecOptions {
            rounding: args.rounding,
            seed: args.seed,
        },
        ..Default::default()
    };
    let result = chip::run(&program, &hw, &file, &inputs, &opts).map_err(|e| match e {
        chip::Error::Numerics(n) => Error::Numerics(n),
        other => Error::Input(other.to_string()),
    })?;
    if let Some(state) = &result.state {
        for (id, path) in outputs {
            npy::write_tensor(path, &state.tensor(&program, id), npy::NpyLayout::Values)?;
        }
    }
    if let Some(path) = &args.timeline {
        let text = chip::timeline::timeline(&program, &hw, &result.plan, &result.schedule);
        super::write_atomic(path, text.as_bytes())?;
    }
    let report = chip::report::report(&program, &hw, &result);
    Ok(render(&report, args.format))
}

/// The report in a format.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => report.to_text(),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(report).expect("report serializes");
            s.push('\n');
            s
        }
        Format::Csv => {
            let mut t = crate::report::Table::new(Vec::<String>::new());
            let v = serde_json::to_value(report).expect("report serializes");
            let mut row = Vec::new();
            for (k, val) in v.as_object().expect("object") {
                if let Some(engines) = val.as_object().filter(|_| k == "engines") {
                    for (e, er) in engines {
                        for (f, x) in er.as_object().expect("object") {
                            t.columns.push(format!("{e}_{f}"));
                            row.push(x.clone());
                        }
                    }
                } else {
                    t.columns.push(k.clone());
                    row.push(val.clone());
                }
            }
            t.push(row);
            t.render(Format::Csv)
        }
    }
}
