//! `trnsim plan` on big work, as a user runs it: a long horizon sampled every minute stays in
//! bounded memory and time (the time series merges adjacent samples, exactly), a deep chain of
//! cohorts is resolved in linear time, and a demand above the job limit is refused before
//! anything is drawn, with exit 2 and a located message.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::text;

/// Run the binary on `args`, returning its exit code, stderr, wall time and peak resident set
/// (bytes; read from `/proc` while it runs, 0 where there is none).
fn run_measured(args: &[&str]) -> (Option<i32>, String, Duration, u64) {
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .args(args)
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_bytes = 0;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if let Ok(s) = std::fs::read_to_string(&status_file)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        {
            peak_bytes = peak_bytes.max(kb * 1024);
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = started.elapsed();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code(), err, elapsed, peak_bytes)
}

/// A 64-chip fleet, one tenant, one 64-chip job from 1 h to 2 h, sampled every `interval`.
fn one_job(horizon: &str, interval: &str) -> String {
    format!(
        "horizon = \"{horizon}\"\nreport_interval = \"{interval}\"\n\
         [fleet.generations.trn2]\n[[fleet.deliveries]]\nat = 0\ngeneration = \"trn2\"\nchips = 64\n\
         [tenants.a.quota.trn2]\nnominal_chips = 64\n\
         [demand.a]\nkind = \"jobs\"\ntenant = \"a\"\n\
         jobs = [{{ at = \"1h\", chips = 64, run_time = \"1h\" }}]\n"
    )
}

fn write(dir: &Path, name: &str, body: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p.to_str().unwrap().to_string()
}

/// 400 days of one-minute samples (576,000 of them, 2.3 million rows: 7 GB with `--out`
/// before) run in bounded memory; the merged rows keep exact maxima and the cumulative
/// counters' final values.
#[test]
fn minute_samples_over_400_days_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(dir.path(), "long.toml", &one_job("400d", "60s"));
    let out = dir.path().join("out");
    let (code, err, elapsed, peak_bytes) =
        run_measured(&["plan", &scenario, "--out", out.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(peak_bytes < 200 << 20, "peak RSS {peak_bytes} bytes");
    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    // Series: a, *fleet*, *gen:trn2*, *gen:any*; at most 16,384 instants kept.
    assert!(rows.len() <= 4 * 16_384, "{} rows", rows.len());
    assert!(rows.len() >= 4 * 8_192, "{} rows", rows.len());
    let tenant: Vec<&Vec<&str>> = rows.iter().filter(|r| r[1] == "a").collect();
    // The job's 64 chips show in the rows covering its hour, as the bucket's maximum.
    let peak = tenant.iter().map(|r| r[4].parse::<u64>().unwrap()).max();
    assert_eq!(peak, Some(64));
    let last = tenant.last().unwrap();
    assert_eq!(last[0], (400 * 86_400 - 60).to_string(), "last sample time");
    assert_eq!((last[12], last[13]), ("64", "64"), "work demanded, served");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("merges every 64 adjacent samples"),
        "{html:.400}"
    );
}

/// Under the bound (16,384 samples of 4 series) every sample is kept as it is.
#[test]
fn samples_under_the_bound_are_all_kept() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(dir.path(), "kept.toml", &one_job("16384m", "1m"));
    let out = dir.path().join("out");
    let o = common::trnsim(&["plan", &scenario, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 4 * 16_384);
    assert!(
        csv.contains("\n3660,a,0,0,64,64,0,0,0,0,0,0,64,0\n"),
        "{csv:.300}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(!html.contains("adjacent samples"));
}

/// 30,000 cohorts nested one in the next (about 12 s before: the tree was walked once per
/// cohort and per sort comparison) resolve and run in linear time.
#[test]
fn a_deep_chain_of_cohorts_runs_in_linear_time() {
    let n = 30_000;
    let mut s = String::from(
        "horizon = \"1d\"\n[fleet.generations.trn2]\n[[fleet.deliveries]]\nat = 0\n\
         generation = \"trn2\"\nchips = 128\n[cohorts.c0]\n",
    );
    for i in 1..n {
        s.push_str(&format!("[cohorts.c{i}]\nparent = \"c{}\"\n", i - 1));
    }
    s.push_str(&format!(
        "[tenants.a]\ncohort = \"c{}\"\n[tenants.a.quota.trn2]\nnominal_chips = 64\n\
         [tenants.b]\ncohort = \"c0\"\n[tenants.b.quota.trn2]\nnominal_chips = 64\n\
         [demand.a]\nkind = \"jobs\"\ntenant = \"a\"\n\
         jobs = [{{ at = 0, chips = 128, run_time = \"1h\", count = 4 }}]\n",
        n - 1
    ));
    let dir = tempfile::tempdir().unwrap();
    let scenario = write(dir.path(), "deep.toml", &s);
    let (code, err, elapsed, peak_bytes) = run_measured(&["plan", &scenario]);
    assert_eq!(code, Some(0), "{err}");
    assert!(elapsed < Duration::from_secs(4), "took {elapsed:?}");
    assert!(peak_bytes < 200 << 20, "peak RSS {peak_bytes} bytes");
}

/// A demand above the job limit (9.6 million expected jobs, accepted before; the limit is 5 million) is refused
/// before any job is drawn: exit 2, the file, line and key, the count and the limit.
#[test]
fn a_demand_above_the_job_limit_is_refused_located() {
    let dir = tempfile::tempdir().unwrap();
    let body = "horizon = \"1d\"\n[fleet.generations.trn2]\n[[fleet.deliveries]]\nat = 0\n\
                generation = \"trn2\"\nchips = 64\n[tenants.a.quota.trn2]\nnominal_chips = 64\n\
                [demand.a]\nkind = \"poisson\"\ntenant = \"a\"\nrate_per_hour = 400000\n\
                chips = { dist = \"fixed\", value = 1 }\n\
                run_time = { dist = \"exponential\", mean = \"1h\" }\n";
    let scenario = write(dir.path(), "many.toml", body);
    let (code, err, elapsed, peak_bytes) = run_measured(&["plan", &scenario]);
    assert_eq!(code, Some(2), "{err}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert!(peak_bytes < 200 << 20, "peak RSS {peak_bytes} bytes");
    assert!(
        err.contains(&format!("{scenario}:9:")) && err.contains("demand.a"),
        "{err}"
    );
    assert!(
        err.contains("9600000 jobs") && err.contains("at most 5000000"),
        "{err}"
    );
}
