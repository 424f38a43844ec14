//! `trnsim validate`: run every published measurement's kernel and print the model's errors
//! (the numbers are the answer, so the report itself exits 0 unless `--strict`).

use std::io::Write;

use super::{Error, Result};
use crate::validate::{self, Select, Status, render::Style};

/// Options of `trnsim validate`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ValidateArgs {
    /// Output format (`markdown` is docs/validation.md).
    #[arg(long, value_enum, default_value_t = Style::Table)]
    pub format: Style,
    /// Only the rows measured on this hardware (trn1, trn2, trn3).
    #[arg(long, value_name = "NAME")]
    pub hw_only: Option<String>,
    /// Only the row with this id.
    #[arg(long, value_name = "ID")]
    pub row: Option<String>,
    /// Exit 1 when a non-flagged row is out of tolerance.
    #[arg(long)]
    pub strict: bool,
}

/// Run `trnsim validate`, writing the report to `out`.
pub fn dispatch(args: &ValidateArgs, out: &mut impl Write) -> Result<()> {
    let select = Select {
        hw: args.hw_only.clone(),
        id: args.row.clone(),
    };
    let report = validate::validate(&validate::root(), &select)?;
    out.write_all(validate::render(&report, args.format).as_bytes())?;
    out.flush()?;
    if args.strict && report.failed > 0 {
        let ids: Vec<&str> = report
            .rows
            .iter()
            .filter(|o| o.status == Status::Fail)
            .map(|o| o.row.id.as_str())
            .collect();
        return Err(Error::CheckFailed(format!(
            "--strict: {} rows out of tolerance: {}",
            ids.len(),
            ids.join(", ")
        )));
    }
    Ok(())
}
