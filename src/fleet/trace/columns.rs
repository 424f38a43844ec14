//! A delimited trace with a header row and a column mapping (the Philly trace is one), read with
//! the `csv` crate: RFC 4180 quotes (a quoted field may hold the delimiter or a doubled quote).

use super::{Columns, Ctx, Row, TimeFormat, non_negative, parse_datetime};
use crate::config;

/// The rows of a column-mapped CSV trace.
pub(super) fn rows(
    text: &str,
    ctx: &Ctx,
    c: &Columns,
    time_format: TimeFormat,
) -> config::Result<Vec<Row>> {
    let mut reader = csv_reader(text, b',', true);
    let mut records = reader.records();
    let header = match records.next() {
        Some(r) => r.map_err(|e| csv_error(ctx, &e))?,
        None => return Err(ctx.err(1, "(header)", "empty file; expected a header row")),
    };
    let mut lines = LineCounter::new(text);
    let header_line = lines.line_of(&header);
    let col = |name: &str| {
        header.iter().position(|f| f.trim() == name).ok_or_else(|| {
            let names: Vec<&str> = header.iter().collect();
            ctx.err(
                header_line,
                "(header)",
                format!(
                    "no column '{name}' in the header; it has: {}",
                    names.join(", ")
                ),
            )
        })
    };
    let at = At {
        submit: col(&c.submit)?,
        run: col(&c.run_time)?,
        chips: col(&c.chips)?,
        tenant: c.tenant.as_deref().map(col).transpose()?,
    };
    each_row(ctx, records, &mut lines, |n, record| {
        row(ctx, n, c, time_format, &at, record).map(Some)
    })
}

/// The rows `row` makes of the records after the header (given each record's line; `None`
/// skips a record), blank records left out, reading stopped at the stream's limit.
pub(super) fn each_row(
    ctx: &Ctx,
    records: csv::StringRecordsIter<'_, &[u8]>,
    lines: &mut LineCounter,
    mut row: impl FnMut(usize, &csv::StringRecord) -> config::Result<Option<Row>>,
) -> config::Result<Vec<Row>> {
    let mut out = Vec::new();
    for record in records {
        let record = record.map_err(|e| csv_error(ctx, &e))?;
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if ctx.full(&out) {
            break;
        }
        let n = lines.line_of(&record);
        out.extend(row(n, &record)?);
    }
    Ok(out)
}

/// Where the mapped columns are.
struct At {
    submit: usize,
    run: usize,
    chips: usize,
    tenant: Option<usize>,
}

/// One record's job.
fn row(
    ctx: &Ctx,
    n: usize,
    c: &Columns,
    time_format: TimeFormat,
    at: &At,
    record: &csv::StringRecord,
) -> config::Result<Row> {
    let get = |k: usize, name: &str| {
        record.get(k).map(str::trim).ok_or_else(|| {
            ctx.err(
                n,
                name,
                "missing; the line has fewer columns than the header",
            )
        })
    };
    let submit_text = get(at.submit, &c.submit)?;
    let submit = match time_format {
        TimeFormat::Seconds => submit_text
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && x.abs() < 1e15)
            .map(|x| x.round() as i64),
        TimeFormat::Datetime => parse_datetime(submit_text),
    }
    .ok_or_else(|| {
        let expected = match time_format {
            TimeFormat::Seconds => "a number of seconds",
            TimeFormat::Datetime => "a date-time YYYY-MM-DD HH:MM:SS",
        };
        ctx.err(n, &c.submit, format!("'{submit_text}' is not {expected}"))
    })?;
    let num = |k: usize, name: &str| -> config::Result<f64> {
        let t = get(k, name)?;
        non_negative(t)
            .ok_or_else(|| ctx.err(n, name, format!("'{t}' is not a non-negative number")))
    };
    let run_s = num(at.run, &c.run_time)?;
    let size = num(at.chips, &c.chips)?;
    let chips = ctx.chips(n, &c.chips, size)?;
    let tenant = match (at.tenant, c.tenant.as_deref()) {
        (Some(k), Some(name)) => ctx.tenant(n, name, get(k, name)?)?,
        _ => ctx.stream_tenant(n)?,
    };
    Ok(Row {
        submit,
        run_s,
        chips,
        tenant,
    })
}

/// A reader of `text` with `delimiter` (and quotes, or none: `sacct -P` never quotes, and a job
/// name may hold one): no header handling (the caller reads the header as a record, to locate
/// its errors), rows of any length.
pub(super) fn csv_reader(text: &str, delimiter: u8, quoting: bool) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quoting(quoting)
        .from_reader(text.as_bytes())
}

/// Line numbers of records from their byte offsets (the `csv` crate's own line count leaves
/// out blank lines), counted forward from the last record asked about.
pub(super) struct LineCounter<'a> {
    text: &'a [u8],
    byte: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            byte: 0,
            line: 1,
        }
    }

    /// The 1-based line a record starts on (records come in file order).
    pub(super) fn line_of(&mut self, record: &csv::StringRecord) -> usize {
        let mut at = record
            .position()
            .map_or(self.byte, |p| p.byte() as usize)
            .clamp(self.byte, self.text.len());
        // The position is where reading began, before the blank lines skipped: a record
        // never starts with a line break.
        while at < self.text.len() && matches!(self.text[at], b'\n' | b'\r') {
            at += 1;
        }
        self.line += self.text[self.byte..at]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.byte = at;
        self.line
    }
}

/// A CSV reading error, located where the reader stopped.
pub(super) fn csv_error(ctx: &Ctx, e: &csv::Error) -> config::Error {
    let line = e.position().map_or(0, |p| p.line() as usize);
    ctx.err(line, "(line)", format!("cannot read: {e}"))
}
