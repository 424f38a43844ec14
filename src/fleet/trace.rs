//! Trace replay: a CSV reader with a column mapping, and the Philly format built in
//! (`timestamp,duration,num_gpus,gpu_time,cluster`, the virtual cluster being the tenant).
//!
//! The reader takes the file's text (the caller reads it), so the library opens no files.

use serde::Serialize;

use super::error::{Error, Result};
use super::job::JobSpec;
use super::tenant::TenantId;
use super::time::{DAY_S, HOUR_S_F64, MINUTE_S};

/// How submit times are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TimeFormat {
    /// Seconds (integer or decimal).
    Seconds,
    /// `YYYY-MM-DD HH:MM:SS` (UTC).
    Datetime,
}

/// Which CSV columns hold what.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Columns {
    pub submit: String,
    /// Run time (s) on the reference generation.
    pub run_time: String,
    /// Gang size.
    pub chips: String,
    /// Tenant name (none: every job belongs to the stream's tenant).
    pub tenant: Option<String>,
}

impl Columns {
    /// The Philly trace's columns.
    pub(crate) fn philly() -> Columns {
        Columns {
            submit: "timestamp".into(),
            run_time: "duration".into(),
            chips: "num_gpus".into(),
            tenant: Some("cluster".into()),
        }
    }
}

/// How to read one trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct TraceFormat {
    /// Column mapping.
    pub columns: Columns,
    /// Submit time format.
    pub time_format: TimeFormat,
    /// Chips per unit of the size column (e.g. 1 chip per GPU).
    pub chips_per_unit: f64,
    /// Shift submit times so the earliest job arrives at this time (s).
    pub start_s: u64,
    /// Read at most this many rows.
    pub limit: u64,
}

/// Job attributes a trace row does not carry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TraceDefaults {
    /// Tenant of rows without a tenant column.
    pub tenant: Option<TenantId>,
    /// Priority per tenant.
    pub priority: Vec<i32>,
    pub preemptible: bool,
    /// Checkpoint interval (s).
    pub checkpoint_s: u64,
}

/// Seconds since 1970-01-01 of a `YYYY-MM-DD HH:MM:SS` (or `YYYY-MM-DDTHH:MM:SS`) UTC time.
pub(crate) fn parse_datetime(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = s.split_once([' ', 'T']).unwrap_or((s, "00:00:00"));
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|x| x.parse::<f64>().ok());
    let (hh, mm, ss) = (
        t.next()??,
        t.next().flatten().unwrap_or(0.0),
        t.next().flatten().unwrap_or(0.0),
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || hh >= 24.0 || mm >= 60.0 || ss > 60.0 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * DAY_S as i64 + (hh * HOUR_S_F64 + mm * MINUTE_S as f64 + ss).round() as i64)
}

/// Split one CSV line (RFC 4180 quotes).
fn split_csv(line: &str, out: &mut Vec<String>) {
    out.clear();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
}

/// Read a trace's jobs. `tenant_of` maps a tenant column value to a tenant id (an unknown
/// value is an error naming the line). Rows need not be sorted.
pub(crate) fn read(
    text: &str,
    file: &str,
    format: &TraceFormat,
    defaults: &TraceDefaults,
    tenant_of: &dyn Fn(&str) -> Option<TenantId>,
) -> Result<Vec<JobSpec>> {
    let mut lines = text.lines().enumerate();
    let (_, header) = lines
        .next()
        .ok_or_else(|| line_err(file, 1, "empty file; expected a header row".into()))?;
    let mut fields = Vec::new();
    split_csv(header, &mut fields);
    let col = |name: &str| {
        fields.iter().position(|f| f.trim() == name).ok_or_else(|| {
            line_err(
                file,
                1,
                format!(
                    "no column '{name}' in the header; it has: {}",
                    fields.join(", ")
                ),
            )
        })
    };
    let c = &format.columns;
    let rd = Rows {
        file,
        format,
        defaults,
        tenant_of,
        i_submit: col(&c.submit)?,
        i_run: col(&c.run_time)?,
        i_chips: col(&c.chips)?,
        i_tenant: c.tenant.as_deref().map(col).transpose()?,
    };
    let mut rows: Vec<(i64, JobSpec)> = Vec::new();
    let mut row = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        if rows.len() as u64 >= format.limit {
            break;
        }
        split_csv(line, &mut row);
        rows.push(rd.job(i + 1, &row)?);
    }
    let first = rows.iter().map(|r| r.0).min().unwrap_or(0);
    let mut jobs: Vec<JobSpec> = rows
        .into_iter()
        .map(|(t, mut j)| {
            j.submit_s = (t - first) as u64 + format.start_s;
            j
        })
        .collect();
    jobs.sort_by_key(|j| j.submit_s);
    Ok(jobs)
}

fn line_err(file: &str, line: usize, message: String) -> Error {
    Error::Trace {
        file: file.to_string(),
        line,
        message,
    }
}

/// What reading rows needs: the format, the defaults and where the columns are.
struct Rows<'a> {
    file: &'a str,
    format: &'a TraceFormat,
    defaults: &'a TraceDefaults,
    tenant_of: &'a dyn Fn(&str) -> Option<TenantId>,
    i_submit: usize,
    i_run: usize,
    i_chips: usize,
    i_tenant: Option<usize>,
}

impl Rows<'_> {
    /// Line `n`'s job, with its submit time as written (seconds, not yet shifted).
    fn job(&self, n: usize, row: &[String]) -> Result<(i64, JobSpec)> {
        let err = |message: String| line_err(self.file, n, message);
        let (format, defaults) = (self.format, self.defaults);
        let c = &format.columns;
        let get = |k: usize, what: &str| {
            row.get(k)
                .map(|s| s.trim())
                .ok_or_else(|| err(format!("missing the {what} column")))
        };
        let submit_text = get(self.i_submit, &c.submit)?;
        let submit = match format.time_format {
            TimeFormat::Seconds => submit_text
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && x.abs() < 1e15)
                .map(|x| x.round() as i64),
            TimeFormat::Datetime => parse_datetime(submit_text),
        }
        .ok_or_else(|| {
            err(format!(
                "column {}: '{submit_text}' is not a {}",
                c.submit,
                match format.time_format {
                    TimeFormat::Seconds => "number of seconds",
                    TimeFormat::Datetime => "date-time YYYY-MM-DD HH:MM:SS",
                }
            ))
        })?;
        let num = |k: usize, name: &str| -> Result<f64> {
            let t = get(k, name)?;
            t.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite() && *x >= 0.0 && *x < 1e15)
                .ok_or_else(|| err(format!("column {name}: '{t}' is not a non-negative number")))
        };
        let run = num(self.i_run, &c.run_time)?;
        let size = num(self.i_chips, &c.chips)?;
        let chips = (size * format.chips_per_unit).round();
        if chips < 1.0 || chips > u32::MAX as f64 {
            return Err(err(format!(
                "column {}: {size} gives {chips} chips; expected at least 1",
                c.chips
            )));
        }
        let tenant = match self.i_tenant {
            Some(k) => {
                let name = get(k, c.tenant.as_deref().unwrap_or(""))?;
                (self.tenant_of)(name).ok_or_else(|| {
                    err(format!(
                        "tenant '{name}' is not declared in the scenario's [tenants]"
                    ))
                })?
            }
            None => defaults
                .tenant
                .ok_or_else(|| err("no tenant column and no stream tenant".into()))?,
        };
        let job = JobSpec {
            tenant,
            submit_s: 0,
            chips: chips as u32,
            work: (run.round() as u64).max(1),
            priority: defaults.priority[tenant],
            preemptible: defaults.preemptible,
            checkpoint_s: defaults.checkpoint_s,
            generation: None,
            workload: None,
        };
        Ok((submit, job))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn philly_rows_and_errors() {
        assert_eq!(parse_datetime("1970-01-02 00:00:01"), Some(86_401));
        assert_eq!(parse_datetime("2017-09-04 10:30:41"), Some(1_504_521_041));
        let text = "timestamp,duration,num_gpus,gpu_time,cluster\n\
                    2017-10-09 07:01:55,66.0,1,66.0,a\n\
                    2017-10-09 06:13:03,2951.0,8,2951.0,b\n";
        let fmt = TraceFormat {
            columns: Columns::philly(),
            time_format: TimeFormat::Datetime,
            chips_per_unit: 1.0,
            start_s: 0,
            limit: u64::MAX,
        };
        let defaults = TraceDefaults {
            tenant: None,
            priority: vec![0, 5],
            preemptible: true,
            checkpoint_s: 0,
        };
        let lookup = |s: &str| ["a", "b"].iter().position(|x| *x == s);
        let jobs = read(text, "t.csv", &fmt, &defaults, &lookup).unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[0].tenant, jobs[0].submit_s, jobs[0].chips), (1, 0, 8));
        assert_eq!((jobs[1].submit_s, jobs[1].work), (2932, 66));
        let bad = text.replace("8,2951.0,b", "x,2951.0,b");
        let e = read(&bad, "t.csv", &fmt, &defaults, &lookup)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.csv:3:") && e.contains("num_gpus"), "{e}");
        let e = read(
            &text.replace(",a\n", ",zz\n"),
            "t.csv",
            &fmt,
            &defaults,
            &lookup,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("t.csv:2:") && e.contains("'zz'"), "{e}");
    }
}
