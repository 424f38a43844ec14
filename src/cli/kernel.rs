//! `trnsim kernel`: the kernel library: list, show, lower to a trace, run (and check).

use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;

use super::hw::HwArgs;
use super::{Error, Result};
use crate::arch::Hardware;
use crate::chip::{self, RunOptions};
use crate::kernels::{self, Params, def::Kind};
use crate::report::{Format, Table};

/// Split `--param m=4096,k=8192,dtype=bf16` (repeatable) into pairs.
pub fn parse_set(specs: &[String]) -> Result<Vec<(String, String)>> {
    crate::config::parse_list(specs)
        .map_err(|e| Error::Input(format!("--param: expected NAME=VALUE, found '{}'", e.found)))
}

/// A kernel's parameters and the hardware it is lowered for.
#[derive(Clone, Debug, clap::Args)]
pub struct KernelParams {
    /// Kernel parameters: NAME=VALUE[,NAME=VALUE...] (see `trnsim kernel show NAME`).
    #[arg(long, value_name = "NAME=VALUE,...")]
    pub param: Vec<String>,
    /// The hardware the kernel is lowered for.
    #[command(flatten)]
    pub hw: HwArgs,
    /// Refuse parameters whose lowering would emit more instructions than this (estimated
    /// before lowering).
    #[arg(long, value_name = "N", default_value_t = kernels::work::MAX_INSTRUCTIONS)]
    pub max_instructions: u64,
    /// Refuse a run with values whose arithmetic (multiply-adds, element operations) is over
    /// this (estimated before lowering).
    #[arg(long, value_name = "N", default_value_t = kernels::work::MAX_VALUE_OPS)]
    pub max_value_ops: u64,
}

impl Default for KernelParams {
    /// No parameters, the default hardware and work limits.
    fn default() -> Self {
        KernelParams {
            param: Vec::new(),
            hw: HwArgs::default(),
            max_instructions: kernels::work::MAX_INSTRUCTIONS,
            max_value_ops: kernels::work::MAX_VALUE_OPS,
        }
    }
}

impl KernelParams {
    /// The parameter pairs and the hardware; `--set` is refused with the flag meant.
    pub(crate) fn resolve(&self) -> Result<(Vec<(String, String)>, Hardware)> {
        if let Some(v) = self.hw.refused_set.first() {
            return Err(Error::Flag {
                flag: "--set",
                meaning: "scenario keys",
                hint: format!(
                    "for kernel parameters use --param {v} (and --hw-set for hardware fields)"
                ),
            });
        }
        let hw = self.hw.load()?;
        Ok((parse_set(&self.param)?, hw))
    }

    /// The work limits of `--max-instructions` and `--max-value-ops`.
    pub(crate) fn limits(&self) -> kernels::work::Limits {
        kernels::work::Limits {
            instructions: self.max_instructions,
            value_ops: self.max_value_ops,
        }
    }
}

/// `trnsim kernel`'s subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum KernelCommand {
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
        /// Parameters and hardware.
        #[command(flatten)]
        params: KernelParams,
        /// Write the trace here (atomically) instead of stdout.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Lower a kernel and run it on the chip simulator (the report is `trnsim run`'s).
    Run(KernelRunArgs),
}

/// Run a `trnsim kernel` subcommand, writing its report to `out`. A failed `--check` is
/// returned after the report is written and flushed.
pub fn dispatch(command: &KernelCommand, out: &mut impl Write) -> Result<()> {
    let text = match command {
        KernelCommand::List { format } => list(*format)?,
        KernelCommand::Show { name, format } => show(name, *format)?,
        KernelCommand::Lower {
            name,
            params,
            output,
        } => {
            let (set, hw) = params.resolve()?;
            lower(name, &set, &hw, &params.limits(), output.as_ref())?
        }
        KernelCommand::Run(args) => {
            let r = run(args)?;
            out.write_all(r.text.as_bytes())?;
            out.flush()?;
            return r.failed.map_or(Ok(()), Err);
        }
    };
    Ok(out.write_all(text.as_bytes())?)
}

/// One row per kernel.
pub(crate) fn list(format: Format) -> Result<String> {
    let mut t = Table::new(["kernel", "parameters", "description"]);
    for &k in kernels::all() {
        let d = kernels::definition(k);
        let first = d
            .description
            .split(". ")
            .next()
            .unwrap_or("")
            .trim_end_matches('.');
        t.push(vec![
            Value::from(d.name.clone()),
            Value::from(
                d.params
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            Value::from(first.to_string()),
        ]);
    }
    Ok(t.render(format))
}

/// A kernel's description and parameters.
pub(crate) fn show(name: &str, format: Format) -> Result<String> {
    let (_, d) = kernels::find(name)?;
    let mut t = Table::new(["parameter", "kind", "default", "valid", "meaning"])
        .with_title(format!("{}: {}", d.name, d.description));
    for p in &d.params {
        let valid = match p.kind {
            Kind::Int => format!("{}..={}", p.min.unwrap_or(0), p.max.unwrap_or(u64::MAX)),
            Kind::Bool => "true, false".into(),
            Kind::Dtype | Kind::Choice => p.choices.join(", "),
        };
        t.push(vec![
            Value::from(p.name.clone()),
            Value::from(format!("{:?}", p.kind).to_lowercase()),
            Value::from(p.default.to_string().trim_matches('"').to_string()),
            Value::from(valid),
            Value::from(p.doc.clone()),
        ]);
    }
    Ok(t.render(format))
}

/// `trnsim kernel lower`: the trace text (written to `out` when given; else returned).
pub(crate) fn lower(
    name: &str,
    set: &[(String, String)],
    hw: &Hardware,
    limits: &kernels::work::Limits,
    out: Option<&PathBuf>,
) -> Result<String> {
    let (p, program) = kernels::lower_within(name, set, hw, limits, false)?;
    let mut text = format!(
        "# lowered by trnsim {} for {}: {} {}\n",
        env!("CARGO_PKG_VERSION"),
        hw.name,
        name,
        p.pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    text.push_str(&crate::isa::print::print(&program));
    match out {
        Some(path) => {
            super::write_atomic(path, text.as_bytes())?;
            Ok(format!(
                "wrote {} ({} instructions, {} buffers)\n",
                path.display(),
                program.instrs.len(),
                program.buffers.len()
            ))
        }
        None => Ok(text),
    }
}

/// Options of `trnsim kernel run`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct KernelRunArgs {
    /// Kernel name.
    pub name: String,
    /// Parameters and hardware.
    #[command(flatten)]
    pub params: KernelParams,
    /// Timing only: skip computing values (the timing is identical).
    #[arg(long)]
    pub no_data: bool,
    /// Compare the outputs with an f64 reference; exit 1 above the dtype's tolerance.
    #[arg(long)]
    pub check: bool,
    /// Write a Chrome/Perfetto trace-event timeline.
    #[arg(long)]
    pub timeline: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// What `trnsim kernel run` produced: the report, and the failed check if any (exit 1 after
/// the report is printed).
pub(crate) struct KernelRunOutput {
    /// The report text.
    pub text: String,
    /// Set when `--check` failed.
    pub failed: Option<Error>,
}

/// Lower, run and report (and check).
pub(crate) fn run(args: &KernelRunArgs) -> Result<KernelRunOutput> {
    let (set, hw) = args.params.resolve()?;
    let hw = &hw;
    if args.check && args.no_data {
        return Err(Error::Input(
            "--check compares values; it cannot be combined with --no-data".into(),
        ));
    }
    let (k, d) = kernels::find(&args.name)?;
    let p = d.params(&set)?;
    kernels::work::check(&p, &args.params.limits(), !args.no_data)?;
    let stage = crate::stage::Stage::start("lower");
    let program = k.lower(&p, hw)?;
    stage.done(format_args!("{} instructions", program.instrs.len()));
    let opts = RunOptions {
        data: !args.no_data,
        ..Default::default()
    };
    let file = format!("<kernel {}>", args.name);
    let bar = opts.data.then(|| {
        let template = "{bar:40} {pos}/{len} instructions executed, {elapsed} elapsed, eta {eta}";
        crate::progress::show(program.instrs.len() as u64, template)
    });
    let result = chip::run(&program, hw, &file, &[], &opts)?;
    drop(bar);
    if let Some(path) = &args.timeline {
        let (plan, schedule) = (&result.plan, &result.schedule);
        crate::atomic::write(path, |w| {
            chip::timeline::write_timeline(w, &program, hw, plan, schedule)
        })
        .map_err(Error::file(path))?;
    }
    let report = chip::report::report(&program, hw, &result);
    let checked = match (&result.state, args.check) {
        (Some(state), true) => Some(kernels::check(k, &p, &program, state)),
        _ => None,
    };
    let text = render(&report, &p, checked.as_ref(), args.format);
    let failed = checked.filter(|c| !c.passed).map(|c| {
        Error::CheckFailed(format!(
            "kernel {}: max relative error {:.3e} exceeds the tolerance {:.3e}",
            args.name, c.max_rel_err, c.tolerance
        ))
    });
    Ok(KernelRunOutput { text, failed })
}

/// The run report with the kernel's parameters (and the check) added.
pub(crate) fn render(
    report: &chip::report::Report,
    p: &Params,
    check: Option<&kernels::CheckReport>,
    format: Format,
) -> String {
    let params: serde_json::Map<String, Value> = p
        .pairs()
        .into_iter()
        .map(|(k, v)| (k, Value::from(v)))
        .collect();
    match format {
        Format::Json => {
            let mut v = serde_json::to_value(report).expect("report serializes");
            let o = v.as_object_mut().expect("object");
            o.insert("params".into(), Value::Object(params));
            if let Some(c) = check {
                o.insert("check".into(), serde_json::to_value(c).expect("serializes"));
            }
            let mut s = serde_json::to_string_pretty(&v).expect("serializes");
            s.push('\n');
            s
        }
        Format::Csv => super::run::render(report, Format::Csv),
        Format::Table => {
            let mut s = format!(
                "parameters: {}\n",
                p.pairs()
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            s.push_str(&report.to_text());
            if let Some(c) = check {
                s.push_str(&check_line(c, "the f64 reference"));
            }
            s
        }
    }
}

/// The table's line for a check against `what` (shared with `trnsim nki --check-against`).
pub(crate) fn check_line(c: &kernels::CheckReport, what: &str) -> String {
    format!(
        "check against {what} ({} elements): max abs error {:.3e}, max relative error {:.3e}, tolerance {:.3e}: {}\n",
        c.elements,
        c.max_abs_err,
        c.max_rel_err,
        c.tolerance,
        if c.passed { "pass" } else { "FAIL" }
    )
}
