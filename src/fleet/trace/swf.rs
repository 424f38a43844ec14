//! The Standard Workload Format of the Parallel Workloads Archive: `;` header comments, then one
//! job a line, 18 whitespace-separated fields, -1 for a value not known:
//!
//! 1 job number, 2 submit time (s), 3 wait (s), 4 run time (s), 5 allocated processors, 6 average
//! CPU time, 7 used memory, 8 requested processors, 9 requested time, 10 requested memory,
//! 11 status, 12 user id, 13 group id, 14 executable, 15 queue, 16 partition, 17 preceding job,
//! 18 think time.
//!
//! Skipped, not errors: jobs whose run time is not known (-1) and jobs with no processors
//! (allocated and requested both unknown or 0): they held nothing. A cancelled job that ran is
//! replayed for as long as it ran.

use super::{Ctx, Row, SwfField};
use crate::config;

/// Fields of a job line.
const FIELDS: usize = 18;

impl SwfField {
    /// The field's 0-based index in a line.
    fn index(self) -> usize {
        match self {
            SwfField::Allocated => 4,
            SwfField::Requested => 7,
            SwfField::User => 11,
            SwfField::Group => 12,
            SwfField::Queue => 14,
            SwfField::Partition => 15,
        }
    }

    /// The field's name in errors.
    fn name(self) -> &'static str {
        match self {
            SwfField::Allocated => "allocated processors",
            SwfField::Requested => "requested processors",
            SwfField::User => "user id",
            SwfField::Group => "group id",
            SwfField::Queue => "queue",
            SwfField::Partition => "partition",
        }
    }
}

/// The rows of an SWF file; the tenant is the value of `tenant` as written (`-1`: unknown), the
/// gang `chips` (the other processor count when it is unknown).
pub(super) fn rows(
    text: &str,
    ctx: &Ctx,
    tenant: SwfField,
    chips: SwfField,
) -> config::Result<Vec<Row>> {
    let mut out = Vec::new();
    let mut fields = Vec::with_capacity(FIELDS);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(';') {
            continue;
        }
        if ctx.full(&out) {
            break;
        }
        fields.clear();
        fields.extend(line.split_whitespace());
        if let Some(r) = row(ctx, i + 1, &fields, tenant, chips)? {
            out.push(r);
        }
    }
    Ok(out)
}

/// One line's job, or none when it held nothing.
fn row(
    ctx: &Ctx,
    n: usize,
    fields: &[&str],
    tenant: SwfField,
    chips: SwfField,
) -> config::Result<Option<Row>> {
    if fields.len() != FIELDS {
        return Err(ctx.err(
            n,
            "(line)",
            format!(
                "{} fields; expected {FIELDS} whitespace-separated fields (SWF)",
                fields.len()
            ),
        ));
    }
    // An integer, -1 (unknown) or more.
    let int = |k: usize, name: &str| -> config::Result<i64> {
        let v = fields[k];
        v.parse::<i64>().ok().filter(|x| *x >= -1).ok_or_else(|| {
            ctx.err(
                n,
                name,
                format!("'{v}' is not an integer, -1 (unknown) or more"),
            )
        })
    };
    let submit = int(1, "submit time")?;
    if submit < 0 {
        return Err(ctx.err(
            n,
            "submit time",
            "-1 (unknown); expected seconds since the log's start",
        ));
    }
    let run = int(3, "run time")?;
    let other = match chips {
        SwfField::Requested => SwfField::Allocated,
        _ => SwfField::Requested,
    };
    let (mine, theirs) = (
        int(chips.index(), chips.name())?,
        int(other.index(), other.name())?,
    );
    let size = if mine > 0 { mine } else { theirs };
    if run < 0 || size <= 0 {
        return Ok(None);
    }
    let who = fields[tenant.index()];
    Ok(Some(Row {
        submit,
        run_s: run as f64,
        chips: ctx.chips(n, chips.name(), size as f64)?,
        tenant: ctx.tenant(n, tenant.name(), who)?,
    }))
}
