//! `trnsim dtype`: facts about the formats, and conversion of values streamed through.

use std::io::{BufRead, Write};

use serde_json::Value;

use super::{Error, Result};
use crate::numerics::{Cast, DType, Overflow, Rounding, format_value};
use crate::report::{Format, Table, json_f32, key_value_table};

/// `trnsim dtype`'s subcommands.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum DtypeCommand {
    /// bits, exponent/mantissa, bias, max, smallest normal/subnormal, eps, inf and NaN encodings.
    Info {
        /// Dtypes (ml_dtypes names or short aliases); all when none.
        dtypes: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Convert values (arguments, or stdin one per line) and print `0xBITS value` per input.
    Cast(CastArgs),
}

/// Options of `trnsim dtype cast`.
#[derive(Clone, Debug, clap::Args)]
pub struct CastArgs {
    /// Target dtype.
    #[arg(long)]
    pub to: String,
    /// Rounding mode.
    #[arg(long, value_enum, default_value = "nearest")]
    pub rounding: RoundingArg,
    /// Seed of stochastic rounding.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Overflow mode: ieee (inf, or NaN without inf: as ml_dtypes) or saturate (to max).
    #[arg(long, value_enum, default_value = "ieee")]
    pub overflow: OverflowArg,
    /// Decimal values, or 0x + 8 hex digits (f32 bits). None: read stdin.
    #[arg(allow_hyphen_values = true)]
    pub values: Vec<String>,
}

/// [`Rounding`] as a command-line value (the numerics type stays free of clap).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum RoundingArg {
    /// Round to nearest, ties to even.
    #[default]
    Nearest,
    /// Stochastic rounding (seeded).
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

/// [`Overflow`] as a command-line value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OverflowArg {
    /// Inf, or NaN for formats without inf (as ml_dtypes).
    Ieee,
    /// Clamp to the largest finite value.
    Saturate,
}

impl From<OverflowArg> for Overflow {
    fn from(o: OverflowArg) -> Overflow {
        match o {
            OverflowArg::Ieee => Overflow::Ieee,
            OverflowArg::Saturate => Overflow::Saturate,
        }
    }
}

/// Run a `trnsim dtype` subcommand: arguments from `command`, values from `stdin` when none are
/// given, the report to `out`.
pub fn dispatch(command: &DtypeCommand, stdin: impl BufRead, out: &mut impl Write) -> Result<()> {
    match command {
        DtypeCommand::Info { dtypes, format } => {
            let dtypes = dtypes
                .iter()
                .map(|d| d.parse::<DType>())
                .collect::<std::result::Result<Vec<_>, _>>()?;
            out.write_all(info(&dtypes, *format).as_bytes())?;
        }
        DtypeCommand::Cast(a) => {
            let cast = Cast::new(a.to.parse()?)
                .rounding(a.rounding.into())
                .overflow(a.overflow.into())
                .seed(a.seed);
            if a.values.is_empty() {
                let n = cast_stream(&cast, "stdin", stdin, out)?;
                tracing::info!(values = n, "cast done");
            } else {
                cast_values(&cast, &a.values, out)?;
            }
        }
    }
    Ok(())
}

/// Render `dtype info` for the given dtypes (all when empty).
pub(crate) fn info(dtypes: &[DType], format: Format) -> String {
    let all: Vec<DType> = if dtypes.is_empty() {
        DType::ALL.to_vec()
    } else {
        dtypes.to_vec()
    };
    let table = info_table(&all);
    if all.len() == 1 {
        match format {
            Format::Table => {
                let record = &table.to_json_rows()[0];
                key_value_table(
                    format!("{} ({})", all[0].name(), all[0].short_name()),
                    record,
                )
                .render(Format::Table)
            }
            Format::Json => {
                let mut s = serde_json::to_string_pretty(&table.to_json_rows()[0]).expect("json");
                s.push('\n');
                s
            }
            Format::Csv => table.render(Format::Csv),
        }
    } else {
        table.render(format)
    }
}

/// One row per dtype with every `finfo` field.
pub(crate) fn info_table(dtypes: &[DType]) -> Table {
    let mut t = Table::new([
        "name",
        "short_name",
        "bits",
        "exponent_bits",
        "mantissa_bits",
        "exponent_bias",
        "max",
        "smallest_normal",
        "smallest_subnormal",
        "eps",
        "has_inf",
        "nan_count",
        "nan_encodings",
    ]);
    for d in dtypes {
        let i = d.info();
        t.push(vec![
            Value::from(i.name),
            Value::from(i.short_name),
            Value::from(i.bits),
            Value::from(i.exponent_bits),
            Value::from(i.mantissa_bits),
            Value::from(i.exponent_bias),
            json_f32(i.max),
            json_f32(i.smallest_normal),
            json_f32(i.smallest_subnormal),
            json_f32(i.eps),
            Value::from(i.has_inf),
            Value::from(i.nan_count),
            Value::from(i.nan_encodings),
        ]);
    }
    t
}

/// Parse one input value: a decimal number (as `f64`, so it is rounded once, correctly), or `0x`
/// followed by exactly eight hex digits, the bit pattern of an `f32`.
pub(crate) fn parse_value(text: &str) -> std::result::Result<Input, String> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if hex.len() == 8 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(Input::F32Bits(
                u32::from_str_radix(hex, 16).expect("checked hex"),
            ));
        }
        return Err(format!(
            "expected 0x followed by exactly 8 hex digits (an f32 bit pattern), found '{t}'"
        ));
    }
    t.parse::<f64>().map(Input::Decimal).map_err(|_| {
        format!("expected a decimal number or 0x followed by 8 hex digits, found '{t}'")
    })
}

/// A parsed input value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Input {
    /// A decimal, held exactly as parsed to `f64`.
    Decimal(f64),
    /// An `f32` bit pattern.
    F32Bits(u32),
}

/// Encode one input with `cast` (stream position `index`) and format the output line.
fn cast_line(cast: &Cast, input: Input, index: u64, out: &mut impl Write) -> std::io::Result<()> {
    let bits = match input {
        Input::Decimal(x) => cast.encode_f64(x, index),
        Input::F32Bits(b) => cast.encode(f32::from_bits(b), index),
    };
    let width = (cast.dtype.bits() / 4) as usize;
    writeln!(
        out,
        "0x{bits:0width$x} {}",
        format_value(cast.dtype.decode(bits))
    )
}

/// Cast values given on the command line.
pub(crate) fn cast_values(cast: &Cast, values: &[String], out: &mut impl Write) -> Result<()> {
    let inputs = values
        .iter()
        .enumerate()
        .map(|(i, v)| parse_value(v).map_err(|e| Error::Input(format!("argument {}: {e}", i + 1))))
        .collect::<Result<Vec<_>>>()?;
    for (i, input) in inputs.into_iter().enumerate() {
        cast_line(cast, input, i as u64, out)?;
    }
    Ok(())
}

/// Cast values streamed one per line, writing one line per input as it goes. Stops at the first
/// value that does not parse, naming `source` and its line. Blank lines are errors too, so output
/// lines always correspond one to one to input lines.
pub fn cast_stream(
    cast: &Cast,
    source: &str,
    input: impl BufRead,
    out: &mut impl Write,
) -> Result<u64> {
    let mut input = input;
    let mut line = String::new();
    let mut n = 0u64;
    loop {
        line.clear();
        if input.read_line(&mut line)? == 0 {
            break;
        }
        let value =
            parse_value(&line).map_err(|e| Error::Input(format!("{source}:{}: {e}", n + 1)))?;
        cast_line(cast, value, n, out)?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::{Overflow, Rounding};

    fn run(cast: Cast, text: &str) -> Result<String> {
        let mut out = Vec::new();
        cast_stream(&cast, "stdin", text.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn stream_formats_bits_and_values() {
        let c = Cast::new(DType::Float8E4M3Fn).overflow(Overflow::Saturate);
        assert_eq!(
            run(c, "500\n-1e9\n0.1\n").unwrap(),
            "0x7e 448\n0xfe -448\n0x1d 0.1015625\n"
        );
        let c = Cast::new(DType::Float8E4M3Fn);
        assert_eq!(run(c, "500\n").unwrap(), "0x7f nan\n");
        let c = Cast::new(DType::Float32);
        assert_eq!(
            run(c, "0x3f800000\n1e-40\n").unwrap(),
            "0x3f800000 1\n0x000116c2 1e-40\n"
        );
        let c = Cast::new(DType::BFloat16);
        assert_eq!(run(c, "inf\n-0\n").unwrap(), "0x7f80 inf\n0x8000 -0\n");
    }

    #[test]
    fn bad_line_names_its_number() {
        let err = run(Cast::new(DType::BFloat16), "1\n2\nabc\n4\n").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string().starts_with("stdin:3: expected a decimal"),
            "{err}"
        );
        let err = run(Cast::new(DType::BFloat16), "0x3f80\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("stdin:1") && err.contains("8 hex digits"),
            "{err}"
        );
    }

    #[test]
    fn stochastic_stream_is_reproducible() {
        let c = Cast::new(DType::Float8E5M2)
            .rounding(Rounding::Stochastic)
            .seed(7);
        let text = "1.1\n".repeat(64);
        let a = run(c, &text).unwrap();
        assert_eq!(a, run(c, &text).unwrap());
        assert_ne!(a, run(c.seed(8), &text).unwrap());
        assert!(a.contains("0x3c 1\n") && a.contains("0x3d 1.25\n"), "{a}");
    }

    #[test]
    fn info_single_and_all() {
        let j: Value = serde_json::from_str(&info(&[DType::Float8E4M3], Format::Json)).unwrap();
        assert_eq!(j["max"], Value::from(240.0));
        assert_eq!(j["exponent_bias"], Value::from(7));
        assert_eq!(j["has_inf"], Value::from(true));
        let csv = info(&[], Format::Csv);
        assert_eq!(csv.lines().count(), 1 + DType::ALL.len());
        assert!(info(&[DType::BFloat16], Format::Table).contains("smallest_subnormal"));
    }
}
