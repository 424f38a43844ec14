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
        HwCommand::Show { hw, json } => {
            let sources = Sources::of(&hw.hw, &hw.overrides_checked()?);
            show(&hw.load()?, &sources, *json)
        }
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

/// The full description of one hardware (after overrides) as TOML or JSON, each field with its
/// source: the TOML with the comment the field has in the preset (or file), the JSON with a
/// `sources` object (dotted field -> comment) and the file's `sources_legend` (what each
/// `[TAG]` cites). A field the file does not set has the source `default`; one set by
/// `--hw-set`, `--hw-set`.
pub(crate) fn show(hw: &Hardware, sources: &Sources, json: bool) -> String {
    let toml = hw.to_toml();
    let fields = sources.of_fields(&toml);
    if json {
        let mut v = serde_json::to_value(hw).expect("hardware serializes");
        let map: serde_json::Map<String, Value> = fields
            .into_iter()
            .map(|(k, s)| (k, Value::from(s)))
            .collect();
        if let Value::Object(o) = &mut v {
            o.insert("sources".into(), Value::Object(map));
            o.insert("sources_legend".into(), Value::from(sources.legend.clone()));
        }
        let mut s = serde_json::to_string_pretty(&v).expect("hardware serializes");
        s.push('\n');
        s
    } else {
        let mut out: String = sources.legend.iter().map(|l| format!("# {l}\n")).collect();
        let mut fields = fields.into_iter();
        for (line, key) in toml_keys(&toml) {
            match key.and_then(|k| fields.find(|(f, _)| *f == k)) {
                Some((_, s)) => out.push_str(&format!("{line:<30} # {s}\n")),
                None => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        out
    }
}

/// Where the numbers of a hardware description come from: the comments of its preset or file.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sources {
    /// The comment lines above the first key (the file's citation legend).
    pub legend: Vec<String>,
    /// Dotted key -> its line's comment ("" when the line has none).
    pub fields: std::collections::BTreeMap<String, String>,
}

impl Sources {
    /// The sources of `--hw SPEC` (a preset or a file; nothing when the file cannot be read:
    /// loading it reports why), with the `--hw-set` fields marked as such.
    pub(crate) fn of(spec: &str, overrides: &[(String, String)]) -> Sources {
        let text = match PRESETS.iter().find(|p| p.0 == spec) {
            Some(p) => p.1.to_string(),
            None => crate::config::read_text(std::path::Path::new(spec)).unwrap_or_default(),
        };
        let mut s = Sources::parse(&text);
        for (k, _) in overrides {
            s.fields.insert(k.clone(), "--hw-set".into());
        }
        s
    }

    /// Read the comments of a TOML text line by line.
    pub(crate) fn parse(text: &str) -> Sources {
        let mut s = Sources::default();
        let mut section = String::new();
        for line in text.lines() {
            let (code, comment) = split_comment(line);
            if code.is_empty() {
                if s.fields.is_empty() && section.is_empty() && !comment.is_empty() {
                    s.legend.push(comment.to_string());
                }
            } else if let Some(name) = code.strip_prefix('[') {
                section = name.trim_end_matches(']').trim().to_string();
            } else if let Some((key, _)) = code.split_once('=') {
                let key = key.trim();
                let key = if section.is_empty() {
                    key.to_string()
                } else {
                    format!("{section}.{key}")
                };
                s.fields.insert(key, comment.to_string());
            }
        }
        s
    }

    /// The source of each field of a serialized description, in its order.
    fn of_fields(&self, toml: &str) -> Vec<(String, String)> {
        toml_keys(toml)
            .filter_map(|(_, k)| k)
            .map(|k| {
                let s = match self.fields.get(&k) {
                    Some(c) if c.is_empty() => "(no comment in the file)".to_string(),
                    Some(c) => c.clone(),
                    None => "default".to_string(),
                };
                (k, s)
            })
            .collect()
    }
}

/// Each line of a TOML text with its dotted key (None for headers and blank lines).
fn toml_keys(toml: &str) -> impl Iterator<Item = (&str, Option<String>)> {
    let mut section = String::new();
    toml.lines().map(move |line| {
        let (code, _) = split_comment(line);
        if let Some(name) = code.strip_prefix('[') {
            section = name.trim_end_matches(']').trim().to_string();
            return (line, None);
        }
        let key = code.split_once('=').map(|(k, _)| {
            let k = k.trim();
            if section.is_empty() {
                k.to_string()
            } else {
                format!("{section}.{k}")
            }
        });
        (line, key)
    })
}

/// A TOML line's code and its comment (after a `#` outside a string), both trimmed.
fn split_comment(line: &str) -> (&str, &str) {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return (line[..i].trim(), line[i + 1..].trim()),
            _ => {}
        }
    }
    (line.trim(), "")
}
