//! Slurm's accounting history, `sacct -P` (`--parsable2`): `|`-separated fields under a header
//! line. Times are `YYYY-MM-DDTHH:MM:SS`, durations `[D-]HH:MM:SS` or `MM:SS`.
//!
//! Skipped, not errors (they are not jobs that held chips): job steps (`123.batch`,
//! `123.extern`, `123.0`: their job's line counts the job), jobs not finished (`PENDING`,
//! `RUNNING`, `REQUEUED`, `RESIZING`, `SUSPENDED`), jobs that never started (`Start` is
//! `Unknown` or `None`, e.g. cancelled while pending) and jobs that held none of the chips'
//! field (a CPU-only job when chips are `AllocTRES:gres/gpu`). Run time is `Elapsed`, or
//! `End - Start` when the file has no `Elapsed`.

use super::columns::{LineCounter, csv_error, csv_reader, each_row};
use super::{Ctx, Row, non_negative, parse_datetime};
use crate::config;

/// States of a job that has not finished: its run time is not known yet.
const NOT_FINISHED: [&str; 5] = ["PENDING", "RUNNING", "REQUEUED", "RESIZING", "SUSPENDED"];

/// Where a job's run time is read.
enum RunFrom {
    Elapsed(usize),
    StartEnd(usize, usize),
}

/// Where the fields are in the header.
struct At {
    fields: usize,
    job_id: usize,
    submit: usize,
    start: Option<usize>,
    run: RunFrom,
    state: Option<usize>,
    tenant: usize,
    chips: usize,
}

/// The rows of `sacct -P` output. `tenant` names the tenant's field, `chips` the gang's:
/// `COLUMN` (a count: `NNodes`, `NCPUS`) or `COLUMN:KEY` (a count inside a TRES or GRES list:
/// `AllocTRES:gres/gpu`, `AllocGRES:gpu`).
pub(super) fn rows(text: &str, ctx: &Ctx, tenant: &str, chips: &str) -> config::Result<Vec<Row>> {
    let mut reader = csv_reader(text, b'|', false);
    let mut records = reader.records();
    let header = match records.next() {
        Some(r) => r.map_err(|e| csv_error(ctx, &e))?,
        None => return Err(ctx.err(1, "(header)", "empty file; expected a header line")),
    };
    let (chips_col, chips_key) = match chips.split_once(':') {
        Some((c, k)) => (c, Some(k)),
        None => (chips, None),
    };
    let mut lines = LineCounter::new(text);
    let at = header_fields(ctx, &header, lines.line_of(&header), tenant, chips_col)?;
    each_row(ctx, records, &mut lines, |n, record| {
        row(ctx, n, &at, (tenant, chips, chips_key), record)
    })
}

/// The header's fields (names compared without case), or an error naming what is missing.
fn header_fields(
    ctx: &Ctx,
    header: &csv::StringRecord,
    line: usize,
    tenant: &str,
    chips_col: &str,
) -> config::Result<At> {
    let find = |name: &str| {
        header
            .iter()
            .position(|f| f.trim().eq_ignore_ascii_case(name))
    };
    let need = |name: &str| {
        find(name).ok_or_else(|| {
            let names: Vec<&str> = header.iter().collect();
            ctx.err(
                line,
                "(header)",
                format!(
                    "no field '{name}' in the header; it has: {} (a header line is needed: \
                     sacct -P without --noheader)",
                    names.join("|")
                ),
            )
        })
    };
    let start = find("Start");
    let run = match (find("Elapsed"), start, find("End")) {
        (Some(k), _, _) => RunFrom::Elapsed(k),
        (None, Some(s), Some(e)) => RunFrom::StartEnd(s, e),
        _ => RunFrom::Elapsed(need("Elapsed")?),
    };
    Ok(At {
        fields: header.len(),
        job_id: need("JobID")?,
        submit: need("Submit")?,
        start,
        run,
        state: find("State"),
        tenant: need(tenant)?,
        chips: need(chips_col)?,
    })
}

/// One line's job, or none for a line that is not a finished job that held chips.
fn row(
    ctx: &Ctx,
    n: usize,
    at: &At,
    (tenant, chips, chips_key): (&str, &str, Option<&str>),
    record: &csv::StringRecord,
) -> config::Result<Option<Row>> {
    if record.len() != at.fields {
        let message = format!("{} fields; the header has {}", record.len(), at.fields);
        return Err(ctx.err(n, "(line)", message));
    }
    let get = |k: usize| record.get(k).map_or("", str::trim);
    if get(at.job_id).contains('.') {
        return Ok(None);
    }
    let state = at
        .state
        .map_or("", |k| get(k).split(' ').next().unwrap_or(""));
    if NOT_FINISHED.contains(&state) {
        return Ok(None);
    }
    if at.start.is_some_and(|k| unknown(get(k))) {
        return Ok(None);
    }
    let time = |k: usize, name: &str| {
        parse_datetime(get(k)).ok_or_else(|| {
            let v = get(k);
            ctx.err(
                n,
                name,
                format!("'{v}' is not a date-time YYYY-MM-DDTHH:MM:SS"),
            )
        })
    };
    let submit = time(at.submit, "Submit")?;
    let run_s = match at.run {
        RunFrom::Elapsed(k) => parse_duration(get(k)).ok_or_else(|| {
            let v = get(k);
            ctx.err(
                n,
                "Elapsed",
                format!("'{v}' is not a duration [D-]HH:MM:SS or MM:SS"),
            )
        })?,
        RunFrom::StartEnd(s, e) => (time(e, "End")? - time(s, "Start")?).max(0) as f64,
    };
    let field = get(at.chips);
    let size = match chips_key {
        None => non_negative(field),
        Some(key) => count_in_list(field, key),
    }
    .ok_or_else(|| {
        let expected = match chips_key {
            None => "a non-negative number".to_string(),
            Some(key) => format!("a list with a count for '{key}' (gres/gpu=8,node=1 or gpu:8)"),
        };
        ctx.err(n, chips, format!("'{field}' is not {expected}"))
    })?;
    if size == 0.0 {
        return Ok(None);
    }
    Ok(Some(Row {
        submit,
        run_s,
        chips: ctx.chips(n, chips, size)?,
        tenant: ctx.tenant(n, tenant, get(at.tenant))?,
    }))
}

/// A value Slurm writes for a time it does not know.
fn unknown(v: &str) -> bool {
    v.is_empty() || v.eq_ignore_ascii_case("unknown") || v.eq_ignore_ascii_case("none")
}

/// The count of `key` in a TRES list (`billing=8,cpu=8,gres/gpu=8,node=1`) or a GRES list
/// (`gpu:8`, `gpu:a100:8`, `gpu:8(IDX:0-7)`); 0 when the list does not name it (also an empty
/// list), none when its count is not a number.
fn count_in_list(list: &str, key: &str) -> Option<f64> {
    for item in list.split(',').map(str::trim) {
        if let Some((k, v)) = item.split_once('=') {
            if k == key {
                return non_negative(v);
            }
            continue;
        }
        let item = item.split_once('(').map_or(item, |(a, _)| a);
        if let Some((name, rest)) = item.split_once(':')
            && name == key
        {
            return non_negative(rest.rsplit(':').next().unwrap_or(rest));
        }
    }
    Some(0.0)
}

/// Seconds of a Slurm duration: `[D-]HH:MM:SS`, `HH:MM:SS`, `MM:SS` (seconds may have a
/// fraction: `MM:SS.mmm`).
pub(super) fn parse_duration(s: &str) -> Option<f64> {
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (Some(d.parse::<u64>().ok()?), r),
        None => (None, s),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [h, m, s] => (h.parse::<u64>().ok()?, m.parse::<u64>().ok()?, s),
        [m, s] if days.is_none() => (0, m.parse::<u64>().ok()?, s),
        _ => return None,
    };
    let sec = non_negative(sec)?;
    if m >= 60 || sec >= 60.0 || (days.is_some() && h >= 24) {
        return None;
    }
    Some((days.unwrap_or(0) * 86_400 + h * 3600 + m * 60) as f64 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_lists() {
        assert_eq!(parse_duration("1-02:03:04"), Some(93_784.0));
        assert_eq!(parse_duration("00:00:00"), Some(0.0));
        assert_eq!(parse_duration("12:30"), Some(750.0));
        assert_eq!(parse_duration("01:02.500"), Some(62.5));
        assert_eq!(parse_duration("30:00:00"), Some(108_000.0));
        for bad in [
            "",
            "1-30:00:00",
            "1-12:30",
            "00:61:00",
            "UNLIMITED",
            "5",
            "a:b:c",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        let tres = "billing=64,cpu=64,gres/gpu=8,mem=500G,node=1";
        assert_eq!(count_in_list(tres, "gres/gpu"), Some(8.0));
        assert_eq!(count_in_list(tres, "node"), Some(1.0));
        assert_eq!(count_in_list(tres, "gres/neuron"), Some(0.0));
        assert_eq!(count_in_list(tres, "mem"), None);
        assert_eq!(count_in_list("gpu:a100:4(IDX:0-3),nic:1", "gpu"), Some(4.0));
        assert_eq!(count_in_list("", "gres/gpu"), Some(0.0));
    }
}
