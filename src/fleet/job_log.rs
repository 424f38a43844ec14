//! Per-job records streamed as CSV while a run goes (`trnsim plan --jobs FILE`), so a planner
//! can check any figure of the summary job by job (in pandas, a spreadsheet).
//!
//! A job's row is written when its fate is final: at its completion during the run, and at the
//! horizon for every job not completed then (running, waiting, rejected), in submission order.
//! Nothing is collected first: the recorder ([`super::account::Account`]) calls the sink at a
//! job's completion and preemption, and once per unfinished job at the horizon. The library
//! never opens a file: the caller hands a writer in and decides where the bytes go (the CLI
//! writes a temporary file and renames it on success).
//!
//! Columns (`scenarios/README.md`, "Per-job records"): `tenant`, `stream` (the `[demand.NAME]`
//! that drew it), `chips`, `generation` (where it last ran; empty if it never started),
//! `submit_s`, `first_start_s` and `end_s` (empty if not started / not completed),
//! `preemptions` (failures included), `lost_chip_h` (chip-hours held and lost to preemptions and
//! failures since the last checkpoint: summed per tenant it is `chip_hours_lost`),
//! `work_chip_h` (the job's work in reference chip-hours: summed it is `work_demanded`),
//! `done_share` (share of its work completed at the horizon, kept progress only) and `state`
//! at the horizon (`done`, `running`, `waiting`, `rejected`).

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::Serialize;

use super::account::{JobEnd, Phase};
use super::error::Result;
use super::hardware::GenId;
use super::job::{JobId, JobSpec};
use super::metrics::Outcome;
use super::scenario::Scenario;
use super::sim::RunOptions;
use super::time::HOUR_S_F64;
use super::workload::WorkloadRunTime;

/// The column names, in order.
pub(crate) const COLUMNS: [&str; 12] = [
    "tenant",
    "stream",
    "chips",
    "generation",
    "submit_s",
    "first_start_s",
    "end_s",
    "preemptions",
    "lost_chip_h",
    "work_chip_h",
    "done_share",
    "state",
];

/// What the recorder tells a per-job sink. A trait (over [`JobLog`]) so the recorder can
/// borrow the caller's log for the run without tying the log's writer to the run's lifetime.
pub(crate) trait JobSink {
    /// The stream index of every job of the run, by job id (before the first event).
    fn streams(&mut self, of_job: Vec<u32>);
    /// Job `id` was preempted or killed, losing `lost_chip_s` held chip-seconds.
    fn preempted(&mut self, id: JobId, lost_chip_s: u64);
    /// Job `id` completed at `end_s` on `g`.
    fn completed(&mut self, id: JobId, spec: &JobSpec, run: Ran);
    /// Job `id` did not complete by the horizon: where it is then.
    fn unfinished(&mut self, id: JobId, end: &JobEnd<'_>);
}

/// Where and when a completed job ran.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ran {
    /// The generation it completed on.
    pub generation: GenId,
    /// Its first start.
    pub first_start_s: u64,
    /// Its completion.
    pub end_s: u64,
    /// Its work (reference chip-seconds).
    pub work_chip_s: f64,
}

#[derive(Serialize)]
struct Row<'a> {
    tenant: &'a str,
    stream: &'a str,
    chips: u32,
    generation: Option<&'a str>,
    submit_s: u64,
    first_start_s: Option<u64>,
    end_s: Option<u64>,
    preemptions: u32,
    lost_chip_h: f64,
    work_chip_h: f64,
    done_share: f64,
    state: &'static str,
}

/// A CSV job log over a caller's writer: rows as the jobs' fates are known, the first write
/// error kept (later rows dropped) and returned by [`JobLog::finish`].
pub(crate) struct JobLog<'w> {
    out: csv::Writer<&'w mut dyn Write>,
    tenants: Vec<String>,
    streams: Vec<String>,
    generations: Vec<String>,
    stream_of: Vec<u32>,
    /// Preemptions and lost chip-seconds of jobs preempted and not yet written.
    preempted: BTreeMap<JobId, (u32, u64)>,
    rows: u64,
    error: Option<io::Error>,
}

impl<'w> JobLog<'w> {
    /// A log of a run of `sc` into `out` (the header is written now); `streams` names the
    /// scenario's demand streams in file order (their indices stand in when the count differs).
    pub(crate) fn new(out: &'w mut dyn Write, sc: &Scenario, streams: &[String]) -> JobLog<'w> {
        let mut log = JobLog {
            out: csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(out),
            tenants: sc.tenants.iter().map(|t| t.name.clone()).collect(),
            streams: if streams.len() == sc.demand.len() {
                streams.to_vec()
            } else {
                (0..sc.demand.len()).map(|i| i.to_string()).collect()
            },
            generations: sc
                .fleet
                .generations
                .iter()
                .map(|g| g.name.clone())
                .collect(),
            stream_of: Vec::new(),
            preempted: BTreeMap::new(),
            rows: 0,
            error: None,
        };
        let header = log.out.write_record(COLUMNS);
        log.keep(header.map_err(io::Error::from));
        log
    }

    fn keep(&mut self, r: io::Result<()>) {
        if let Err(e) = r
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }

    fn write(&mut self, id: JobId, spec: &JobSpec, row: Row<'_>) {
        if self.error.is_some() {
            return;
        }
        let (n, lost) = self.preempted.remove(&id).unwrap_or((0, 0));
        let row = Row {
            tenant: &self.tenants[spec.tenant],
            stream: self
                .stream_of
                .get(id as usize)
                .map_or("", |&s| &self.streams[s as usize]),
            chips: spec.chips,
            submit_s: spec.submit_s,
            preemptions: n,
            lost_chip_h: lost as f64 / HOUR_S_F64,
            ..row
        };
        let r = self.out.serialize(row).map_err(io::Error::from);
        self.rows += 1;
        self.keep(r);
    }

    /// Flush, and return the rows written or the first write error.
    pub(crate) fn finish(mut self) -> io::Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.out.flush()?;
        Ok(self.rows)
    }
}

/// The fields [`JobLog::write`] fills from the job itself.
fn blank() -> Row<'static> {
    Row {
        tenant: "",
        stream: "",
        chips: 0,
        generation: None,
        submit_s: 0,
        first_start_s: None,
        end_s: None,
        preemptions: 0,
        lost_chip_h: 0.0,
        work_chip_h: 0.0,
        done_share: 0.0,
        state: "",
    }
}

impl JobSink for JobLog<'_> {
    fn streams(&mut self, of_job: Vec<u32>) {
        self.stream_of = of_job;
    }

    fn preempted(&mut self, id: JobId, lost_chip_s: u64) {
        let e = self.preempted.entry(id).or_insert((0, 0));
        e.0 += 1;
        e.1 += lost_chip_s;
    }

    fn completed(&mut self, id: JobId, spec: &JobSpec, run: Ran) {
        let generation = self.generations.get(run.generation).cloned();
        self.write(
            id,
            spec,
            Row {
                generation: generation.as_deref(),
                first_start_s: Some(run.first_start_s),
                end_s: Some(run.end_s),
                work_chip_h: run.work_chip_s / HOUR_S_F64,
                done_share: 1.0,
                state: "done",
                ..blank()
            },
        );
    }

    fn unfinished(&mut self, id: JobId, end: &JobEnd<'_>) {
        let state = match end.phase {
            Phase::Unsubmitted | Phase::Done => return,
            Phase::Waiting => "waiting",
            Phase::Running { .. } => "running",
            Phase::Rejected => "rejected",
        };
        let generation = end
            .generation
            .and_then(|g| self.generations.get(g))
            .cloned();
        self.write(
            id,
            end.spec,
            Row {
                generation: generation.as_deref(),
                first_start_s: end.first_start_s,
                end_s: end.end_s,
                work_chip_h: end.work_chip_s / HOUR_S_F64,
                done_share: end.done_share,
                state,
                ..blank()
            },
        );
    }
}

/// Run a scenario with a seed and its workload table, streaming per-job rows into `log`
/// ([`super::run_timed`] plus the log; the log's rows are complete when this returns `Ok`, and
/// [`JobLog::finish`] flushes them).
pub(crate) fn run_logged(
    scenario: &Scenario,
    seed: u64,
    table: &WorkloadRunTime,
    opts: &RunOptions,
    log: &mut JobLog<'_>,
) -> Result<Outcome> {
    let mut out = super::sim::run_with_log(scenario, seed, table, opts, Some(log))?;
    out.workloads = table.reports().to_vec();
    Ok(out)
}
