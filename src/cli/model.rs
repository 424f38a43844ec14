//! `trnsim model`: transformer models from config files: list the shipped ones, run one step
//! (prefill or decode) kernel by kernel.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use super::hw::HwArgs;
use super::{Error, Result};
use crate::numerics::DType;
use crate::report::{Format, Table, format_f64};
use crate::workload::{ModelConfig, ModelReport, Phase, Row, SHIPPED, Step, run_model};

/// `trnsim model`'s subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// The shipped model configs (kernels/models/).
    List {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Run one step of a model: every kernel of a decoder layer and of the head, timing-only.
    Run(ModelRunArgs),
}

/// Run a `trnsim model` subcommand, writing its report to `out`.
pub fn dispatch(command: &ModelCommand, out: &mut impl Write) -> Result<()> {
    let text = match command {
        ModelCommand::List { format } => list(*format)?,
        ModelCommand::Run(args) => run(args)?,
    };
    Ok(out.write_all(text.as_bytes())?)
}

/// Options of `trnsim model run`.
#[derive(Clone, Debug, clap::Args)]
pub struct ModelRunArgs {
    /// A model config file, or a shipped model's name (see `trnsim model list`).
    pub model: String,
    /// prefill: a batch of prompts; decode: one new token per sequence.
    #[arg(long, value_enum)]
    pub phase: Phase,
    /// Sequences.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Prefill: prompt tokens per sequence.
    #[arg(long)]
    pub seq: Option<usize>,
    /// Decode: KV-cache positions per sequence (the new token's included).
    #[arg(long)]
    pub context: Option<usize>,
    /// Dtype of every kernel.
    #[arg(long, default_value = "bfloat16")]
    pub dtype: String,
    /// The hardware every kernel runs on.
    #[command(flatten)]
    pub hw: HwArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// A config from a file, or else a shipped one by name or by its path in the repository.
pub(crate) fn load(spec: &str) -> Result<ModelConfig> {
    let path = Path::new(spec);
    if path.is_file() {
        let text = super::read(path)?;
        return Ok(ModelConfig::from_toml(&text, &path.display().to_string())?);
    }
    ModelConfig::shipped(spec).ok_or_else(|| {
        Error::Input(format!(
            "model '{spec}': no such file, and no shipped model of that name (shipped: {})",
            SHIPPED
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// The shipped configs.
pub(crate) fn list(format: Format) -> Result<String> {
    let columns = std::iter::once("model")
        .chain(crate::workload::MODEL_KEYS)
        .chain(["parameters_b", "source"]);
    let mut t = Table::new(columns);
    for (name, _) in SHIPPED {
        let c = ModelConfig::shipped(name).expect("shipped configs are valid (tested)");
        let mut row = vec![Value::from(c.name.clone())];
        row.extend(c.shape().map(Value::from));
        row.push(Value::from(round(c.parameters() as f64 / 1e9, 2)));
        row.push(Value::from(c.source.clone().unwrap_or_default()));
        t.push(row);
    }
    Ok(t.render(format))
}

/// The step the options describe; a missing or misplaced length is an error naming the option.
pub(crate) fn step(args: &ModelRunArgs) -> Result<Step> {
    let len = match (args.phase, args.seq, args.context) {
        (Phase::Train, _, _) => {
            return Err(Error::Input(
                "--phase train does not apply to one step of a model (a forward pass): use \
                 prefill or decode"
                    .into(),
            ));
        }
        (Phase::Prefill, Some(s), None) => s,
        (Phase::Decode, None, Some(c)) => c,
        (Phase::Prefill, _, Some(_)) => {
            return Err(Error::Input(
                "--context applies to --phase decode; prefill takes --seq".into(),
            ));
        }
        (Phase::Decode, Some(_), _) => {
            return Err(Error::Input(
                "--seq applies to --phase prefill; decode takes --context (the KV-cache length)"
                    .into(),
            ));
        }
        (Phase::Prefill, None, None) => {
            return Err(Error::Input(
                "--phase prefill needs --seq (prompt tokens per sequence)".into(),
            ));
        }
        (Phase::Decode, None, None) => {
            return Err(Error::Input(
                "--phase decode needs --context (KV-cache positions per sequence)".into(),
            ));
        }
    };
    for (name, v) in [("--batch", args.batch), ("--seq/--context", len)] {
        if v == 0 {
            return Err(Error::Input(format!("{name} must be at least 1")));
        }
    }
    Ok(Step {
        phase: args.phase,
        batch: args.batch,
        len,
    })
}

/// Run one step of the model and render the report.
pub(crate) fn run(args: &ModelRunArgs) -> Result<String> {
    let hw = args.hw.load()?;
    let dtype: DType = args.dtype.parse()?;
    let cfg = load(&args.model)?;
    let step = step(args)?;
    let report = run_model(&cfg, &step, dtype, &hw)?;
    Ok(render(&report, args.format))
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// A utilisation: a percent (one decimal) in the table, the fraction in CSV.
fn pct(x: Option<f64>, percent: bool) -> Value {
    x.map_or(Value::Null, |v| {
        Value::from(if percent { round(100.0 * v, 1) } else { v })
    })
}

fn us(x: Option<f64>) -> Value {
    x.map_or(Value::Null, |v| Value::from(round(v / 1e3, 3)))
}

fn row_cells(part: &str, r: &Row, percent: bool) -> Vec<Value> {
    vec![
        Value::from(part),
        Value::from(r.role.clone()),
        Value::from(r.kernel.clone()),
        Value::from(r.count),
        us(r.time_ns),
        pct(r.share, percent),
        pct(r.mfu, percent),
        pct(r.mbu, percent),
        r.bound.clone().map_or(
            Value::from(format!(
                "not available: {}",
                r.note.clone().unwrap_or_default()
            )),
            Value::from,
        ),
        Value::from(r.params.clone()),
    ]
}

/// The report for a person (a table), or JSON (the whole report), or CSV (the kernel rows).
pub(crate) fn render(r: &ModelReport, format: Format) -> String {
    match format {
        Format::Json => {
            let mut s = serde_json::to_string_pretty(r).expect("report serializes");
            s.push('\n');
            s
        }
        Format::Csv | Format::Table => {
            let (phase, len) = match r.step.phase {
                Phase::Prefill => ("prefill", format!("seq {}", r.step.len)),
                Phase::Decode => ("decode", format!("context {}", r.step.len)),
                Phase::Train => ("train", format!("seq {}", r.step.len)),
            };
            let title = format!(
                "{} on {}: {phase}, batch {} x {len} ({} tokens), {}; one NeuronCore, kernels \
                 back to back",
                r.model.name, r.hardware, r.step.batch, r.total.tokens, r.dtype
            );
            // Utilisations: percents in the table (said in the header), fractions in CSV.
            let percent = format == Format::Table;
            let [share, mfu, mbu] = if percent {
                ["share_%", "mfu_%", "mbu_%"]
            } else {
                ["share", "mfu", "mbu"]
            };
            let mut t = Table::new([
                "part",
                "kernel",
                "library_kernel",
                "count",
                "time_us",
                share,
                mfu,
                mbu,
                "bound",
                "params",
            ])
            .with_title(title);
            for row in &r.layer_kernels {
                t.push(row_cells("layer", row, percent));
            }
            for row in &r.head_kernels {
                t.push(row_cells("head", row, percent));
            }
            if format == Format::Csv {
                return t.render(format);
            }
            let mut s = t.render(format);
            let mut totals = Table::new(["total", "time_us", "mfu_%", "tflop", "hbm_gb"]);
            let tot = |name: String, time_ns: f64, mfu: f64, flops: f64, bytes: u64| {
                vec![
                    Value::from(name),
                    Value::from(round(time_ns / 1e3, 3)),
                    Value::from(round(100.0 * mfu, 1)),
                    Value::from(round(flops / 1e12, 3)),
                    Value::from(round(bytes as f64 / 1e9, 3)),
                ]
            };
            totals.push(tot(
                "layer".into(),
                r.layer.time_ns,
                r.layer.mfu,
                r.layer.flops,
                r.layer.hbm_bytes,
            ));
            totals.push(tot(
                "head".into(),
                r.head.time_ns,
                r.head.mfu,
                r.head.flops,
                r.head.hbm_bytes,
            ));
            totals.push(tot(
                format!("model ({} layers + head)", r.total.layers),
                r.total.time_ns,
                r.total.mfu,
                r.total.flops,
                r.total.hbm_bytes,
            ));
            s.push('\n');
            s.push_str(&totals.render(Format::Table));
            s.push_str(&format!(
                "tokens/s: {} ({} tokens per step of {} ms)\n",
                format_f64(round(r.total.tokens_per_s, 1)),
                r.total.tokens,
                format_f64(round(r.total.time_ns / 1e6, 3))
            ));
            if !r.missing.is_empty() {
                s.push_str(&format!(
                    "not in the kernel library yet (counted as zero): {}\n",
                    r.missing.join(", ")
                ));
            }
            s
        }
    }
}
