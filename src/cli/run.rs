//! `trnsim run`: run a kernel trace on a hardware preset and report time and utilization.

use std::path::{Path, PathBuf};

use super::dtype::RoundingArg;
use super::hw::HwArgs;
use super::{Error, Result};
use crate::atomic::OutputSet;
use crate::chip::{self, RunOptions, exec::ExecOptions, report::Report};
use crate::isa::{self, BufferId, Program};
use crate::numerics::{Cast, npy};
use crate::report::Format;

/// Options of `trnsim run`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct RunArgs {
    /// The kernel trace (format: traces/README.md).
    pub trace: PathBuf,
    /// The hardware the trace runs on.
    #[command(flatten)]
    pub hw: HwArgs,
    /// Initial values of a buffer declared `input`: NAME=file.npy (float32, or raw bits).
    #[arg(long = "input", value_name = "NAME=FILE", value_parser = name_path)]
    pub inputs: Vec<(String, PathBuf)>,
    /// Write a buffer's final values: NAME=file.npy (float32).
    #[arg(long = "output", value_name = "NAME=FILE", value_parser = name_path)]
    pub outputs: Vec<(String, PathBuf)>,
    /// Write a Chrome/Perfetto trace-event timeline (open in ui.perfetto.dev).
    #[arg(long)]
    pub timeline: Option<PathBuf>,
    /// Timing only: skip computing values (the timing is identical).
    #[arg(long)]
    pub no_data: bool,
    /// Rounding of values written by the engines.
    #[arg(long, value_enum, default_value = "nearest")]
    pub rounding: RoundingArg,
    /// Seed of stochastic rounding.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Split `NAME=PATH`.
pub(crate) fn name_path(s: &str) -> std::result::Result<(String, PathBuf), String> {
    match crate::config::parse_pair(s) {
        Ok((n, p)) if !p.is_empty() => Ok((n, PathBuf::from(p))),
        _ => Err(format!("expected NAME=FILE.npy, found '{s}'")),
    }
}

/// Read (at most [`crate::config::MAX_TEXT_INPUT_BYTES`]) and parse a trace file.
pub(crate) fn load_trace(path: &Path) -> Result<Program> {
    load_trace_limited(path, crate::config::MAX_TEXT_INPUT_BYTES)
}

/// [`load_trace`] of a trace of at most `limit_bytes` (the NKI front end's, bounded by its
/// instruction limit instead).
pub(crate) fn load_trace_limited(path: &Path, limit_bytes: u64) -> Result<Program> {
    let stage = crate::stage::Stage::start("read");
    let text = super::read_limited(path, limit_bytes)?;
    stage.done(format_args!("{} bytes of {}", text.len(), path.display()));
    let stage = crate::stage::Stage::start("parse");
    let program = isa::parse::parse(&text, &path.display().to_string())?;
    stage.done(format_args!("{} instructions", program.instrs.len()));
    Ok(program)
}

/// The buffer `name` of the trace, or an error listing the buffers it declares.
pub(crate) fn buffer(program: &Program, name: &str, what: &str) -> Result<BufferId> {
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
    let hw = args.hw.load()?;
    let program = load_trace(&args.trace)?;
    let file = args.trace.display().to_string();
    let mut inputs = Vec::new();
    for (name, path) in &args.inputs {
        let id = buffer(&program, name, "--input")?;
        let dtype = program.buffer(id).dtype;
        inputs.push((id, npy::read_tensor(path, dtype, Cast::new(dtype))?));
    }
    let outputs: Vec<(BufferId, PathBuf)> = args
        .outputs
        .iter()
        .map(|(n, p)| Ok((buffer(&program, n, "--output")?, p.clone())))
        .collect::<Result<_>>()?;
    let how = Execution {
        data: !args.no_data,
        exec: ExecOptions {
            rounding: args.rounding.into(),
            seed: args.seed,
        },
        outputs,
        timeline: args.timeline.clone(),
    };
    // --output and --timeline are one output set: all written, or none (the previous kept).
    let mut set = OutputSet::new();
    let (_, report) = execute(&program, &hw, &file, &inputs, &how, &mut set)?;
    set.commit()?;
    Ok(render(&report, args.format))
}

/// How to run a parsed program and what to write afterwards (shared by `run` and `nki`).
pub(crate) struct Execution {
    /// Compute values (false: `--no-data`).
    pub data: bool,
    /// Rounding of the values written.
    pub exec: ExecOptions,
    /// Buffers whose final values are written as float32 `.npy`.
    pub outputs: Vec<(BufferId, PathBuf)>,
    /// Where to write the Chrome/Perfetto timeline.
    pub timeline: Option<PathBuf>,
}

/// Run `program` on `hw` with `inputs`, stage the outputs and the timeline in `set` (the caller
/// commits it), and return the run with its report: the one path from a parsed trace to
/// `trnsim run`'s report.
pub(crate) fn execute(
    program: &Program,
    hw: &crate::arch::Hardware,
    file: &str,
    inputs: &[(BufferId, crate::numerics::Tensor)],
    how: &Execution,
    set: &mut OutputSet,
) -> Result<(chip::RunResult, Report)> {
    if !how.data && !how.outputs.is_empty() {
        return Err(Error::Input(
            "--output needs values; it cannot be combined with --no-data".into(),
        ));
    }
    let opts = RunOptions {
        data: how.data,
        exec: how.exec,
        ..Default::default()
    };
    let bar = how.data.then(|| {
        let template = "{bar:40} {pos}/{len} instructions executed, {elapsed} elapsed, eta {eta}";
        crate::progress::show(program.instrs.len() as u64, template)
    });
    let result = chip::run(program, hw, file, inputs, &opts)?;
    drop(bar);
    let stage = crate::stage::Stage::start("write");
    if let Some(state) = &result.state {
        for (id, path) in &how.outputs {
            set.file(path, |w| state.write_npy_f32(program, *id, w))?;
        }
    }
    if let Some(path) = &how.timeline {
        let (plan, schedule) = (&result.plan, &result.schedule);
        set.file(path, |w| {
            chip::timeline::write_timeline(w, program, hw, plan, schedule)
        })?;
    }
    stage.done(format_args!(
        "{} files",
        how.outputs.len() + how.timeline.is_some() as usize
    ));
    let report = chip::report::report(program, hw, &result);
    Ok((result, report))
}

/// The report in a format.
pub(crate) fn render(report: &Report, format: Format) -> String {
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
