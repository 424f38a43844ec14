//! Trace replay: job histories as planners already have them, read into jobs.
//!
//! Three layouts, one file each: a CSV with a column mapping (the Philly format built in:
//! `timestamp,duration,num_gpus,gpu_time,cluster`, the virtual cluster being the tenant;
//! [`columns`]), Slurm's `sacct -P` output ([`sacct`]) and the Standard Workload Format of the
//! Parallel Workloads Archive ([`swf`]). Each reader turns its lines into [`Row`]s; this module
//! turns rows into jobs the same way for all of them (chips, tenant, submit shift, order).
//!
//! A bad line is a [`config::Error`] at `file:line` naming the field and what was expected, the
//! same located error as a bad scenario key. The reader takes the file's text (the caller reads
//! it), so the library opens no files.

mod columns;
mod sacct;
mod swf;

use serde::Serialize;

use super::error::Result;
use super::job::JobSpec;
use super::tenant::TenantId;
use super::time::{DAY_S, HOUR_S_F64, MINUTE_S};
use crate::config::{self, Location};

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
#[derive(Clone, Debug, PartialEq)]
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

/// Which SWF field names the tenant or sizes the gang.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SwfField {
    /// Field 5, allocated processors (gang size; requested when missing).
    Allocated,
    /// Field 8, requested processors (gang size; allocated when missing).
    Requested,
    /// Field 12, user id (tenant).
    User,
    /// Field 13, group id (tenant).
    Group,
    /// Field 15, queue number (tenant).
    Queue,
    /// Field 16, partition number (tenant).
    Partition,
}

/// The file's layout and where each job attribute is read from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Layout {
    /// A delimited file with a header row and a column per attribute.
    Columns {
        columns: Columns,
        time_format: TimeFormat,
    },
    /// `sacct -P` output: `|`-separated with a header line.
    Sacct {
        /// Column naming the tenant (`Account`, `User`, `Partition`, ...).
        tenant: String,
        /// Where the gang size is: a column (`NNodes`), or a column and a key inside it
        /// (`AllocTRES:gres/gpu`, `AllocGRES:gpu`).
        chips: String,
    },
    /// The Standard Workload Format (18 whitespace-separated fields, `;` comments).
    Swf { tenant: SwfField, chips: SwfField },
}

/// How to read one trace.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TraceFormat {
    pub layout: Layout,
    /// Chips per unit of the size field (1 chip per GPU, 16 per node, ...).
    pub chips_per_unit: f64,
    /// Shift submit times so the earliest job arrives at this time (s).
    pub start_s: u64,
    /// Read at most this many jobs.
    pub limit: u64,
}

/// Job attributes a trace row does not carry.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TraceDefaults {
    /// Tenant of rows without a tenant column.
    pub tenant: Option<TenantId>,
    /// Tenant of rows whose tenant is not declared (none: such a row is an error).
    pub unknown_tenant: Option<TenantId>,
    /// Priority per tenant.
    pub priority: Vec<i32>,
    pub preemptible: bool,
    /// Checkpoint interval (s).
    pub checkpoint_s: u64,
}

/// Read a trace's jobs, sorted by submit time. `declared` names the scenario's tenants (a
/// tenant id is an index into it). Rows need not be sorted.
pub(crate) fn read(
    text: &str,
    file: &str,
    format: &TraceFormat,
    defaults: &TraceDefaults,
    declared: &[&str],
) -> Result<Vec<JobSpec>> {
    let ctx = Ctx {
        file,
        format,
        defaults,
        declared,
    };
    let rows = match &format.layout {
        Layout::Columns {
            columns,
            time_format,
        } => columns::rows(text, &ctx, columns, *time_format)?,
        Layout::Sacct { tenant, chips } => sacct::rows(text, &ctx, tenant, chips)?,
        Layout::Swf { tenant, chips } => swf::rows(text, &ctx, *tenant, *chips)?,
    };
    let first = rows.iter().map(|r| r.submit).min().unwrap_or(0);
    let mut jobs: Vec<JobSpec> = rows
        .into_iter()
        .map(|r| JobSpec {
            tenant: r.tenant,
            submit_s: (r.submit - first) as u64 + format.start_s,
            chips: r.chips,
            work: (r.run_s.round() as u64).max(1),
            priority: defaults.priority[r.tenant],
            preemptible: defaults.preemptible,
            checkpoint_s: defaults.checkpoint_s,
            generation: None,
            workload: None,
        })
        .collect();
    jobs.sort_by_key(|j| j.submit_s);
    Ok(jobs)
}

/// One job as a trace line gives it: submit time as written (seconds, not yet shifted).
pub(super) struct Row {
    submit: i64,
    run_s: f64,
    chips: u32,
    tenant: TenantId,
}

/// What every reader needs: where it reads (for errors), the format and the defaults.
pub(super) struct Ctx<'a> {
    file: &'a str,
    format: &'a TraceFormat,
    defaults: &'a TraceDefaults,
    declared: &'a [&'a str],
}

impl Ctx<'_> {
    /// The located error of line `line` about `field`.
    fn err(&self, line: usize, field: &str, message: impl Into<String>) -> config::Error {
        config::Error::new(
            Location::Line {
                file: self.file.to_string(),
                line,
            },
            field,
            message,
        )
    }

    /// Whether another job may be read (the format's `limit`).
    fn full(&self, rows: &[Row]) -> bool {
        rows.len() as u64 >= self.format.limit
    }

    /// The gang of `size` units of `field` (at least one chip).
    fn chips(&self, line: usize, field: &str, size: f64) -> config::Result<u32> {
        let chips = (size * self.format.chips_per_unit).round();
        if chips < 1.0 || chips > u32::MAX as f64 {
            return Err(self.err(
                line,
                field,
                format!("{size} gives {chips} chips; expected at least 1"),
            ));
        }
        Ok(chips as u32)
    }

    /// The tenant named `name` in `field`: a declared tenant, else the stream's default for
    /// unknown tenants, else an error naming the declared ones.
    fn tenant(&self, line: usize, field: &str, name: &str) -> config::Result<TenantId> {
        if let Some(t) = self.declared.iter().position(|d| *d == name) {
            return Ok(t);
        }
        self.defaults.unknown_tenant.ok_or_else(|| {
            self.err(
                line,
                field,
                format!(
                    "tenant '{name}' is not declared in the scenario's [tenants] (declared: {}); \
                     set the stream's default_tenant to map unknown ones to a tenant",
                    self.declared.join(", ")
                ),
            )
        })
    }

    /// The stream's tenant, for a layout without a tenant column.
    fn stream_tenant(&self, line: usize) -> config::Result<TenantId> {
        self.defaults
            .tenant
            .ok_or_else(|| self.err(line, "tenant", "no tenant column and no stream tenant"))
    }
}

/// A non-negative finite number (below 1e15), or what it should have been.
fn non_negative(text: &str) -> Option<f64> {
    text.parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0 && *x < 1e15)
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn defaults() -> TraceDefaults {
        TraceDefaults {
            tenant: None,
            unknown_tenant: None,
            priority: vec![0, 5, 7],
            preemptible: true,
            checkpoint_s: 0,
        }
    }

    fn philly() -> TraceFormat {
        TraceFormat {
            layout: Layout::Columns {
                columns: Columns::philly(),
                time_format: TimeFormat::Datetime,
            },
            chips_per_unit: 1.0,
            start_s: 0,
            limit: u64::MAX,
        }
    }

    #[test]
    fn philly_rows_and_errors() {
        assert_eq!(parse_datetime("1970-01-02 00:00:01"), Some(86_401));
        assert_eq!(parse_datetime("2017-09-04 10:30:41"), Some(1_504_521_041));
        let text = "timestamp,duration,num_gpus,gpu_time,cluster\n\
                    2017-10-09 07:01:55,66.0,1,66.0,a\n\
                    2017-10-09 06:13:03,2951.0,8,2951.0,b\n";
        let (fmt, defaults) = (philly(), defaults());
        let names = ["a", "b"];
        let jobs = read(text, "t.csv", &fmt, &defaults, &names).unwrap();
        assert_eq!(jobs.len(), 2);
        assert_eq!((jobs[0].tenant, jobs[0].submit_s, jobs[0].chips), (1, 0, 8));
        assert_eq!((jobs[1].submit_s, jobs[1].work), (2932, 66));
        assert_eq!((jobs[0].priority, jobs[1].priority), (5, 0));
        let bad = text.replace("8,2951.0,b", "x,2951.0,b");
        let e = read(&bad, "t.csv", &fmt, &defaults, &names)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("t.csv:3: num_gpus: "), "{e}");
        let zz = text.replace(",a\n", ",zz\n");
        let e = read(&zz, "t.csv", &fmt, &defaults, &names)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("t.csv:2: cluster: tenant 'zz'") && e.contains("declared: a, b"),
            "{e}"
        );
        let to_c = TraceDefaults {
            unknown_tenant: Some(2),
            ..defaults
        };
        let jobs = read(&zz, "t.csv", &fmt, &to_c, &names).unwrap();
        assert_eq!((jobs[1].tenant, jobs[1].priority), (2, 7));
    }

    #[test]
    fn quoted_fields_and_limits() {
        // A quoted tenant with a comma and an escaped quote; a blank line; a row limit.
        let text = "t,run,n,who\n5,10,2,\"x, \"\"y\"\"\"\n\n1,3,1,a\n9,9,9,a\n";
        let fmt = TraceFormat {
            layout: Layout::Columns {
                columns: Columns {
                    submit: "t".into(),
                    run_time: "run".into(),
                    chips: "n".into(),
                    tenant: Some("who".into()),
                },
                time_format: TimeFormat::Seconds,
            },
            chips_per_unit: 4.0,
            start_s: 100,
            limit: 2,
        };
        let jobs = read(text, "q.csv", &fmt, &defaults(), &["a", "x, \"y\""]).unwrap();
        let got: Vec<_> = jobs
            .iter()
            .map(|j| (j.submit_s, j.chips, j.tenant))
            .collect();
        assert_eq!(got, vec![(100, 4, 0), (104, 8, 1)]);
    }
}
