//! `trnsim sweep` as a user runs it: the same sweep with one thread, two threads, and as three
//! shards merged gives byte-identical results; reports and charts are written; bad input exits 2.

mod common;

use common::{root, text, trnsim};

use std::path::Path;

fn sweep(dir: &Path, extra: &[&str]) -> String {
    let scenario = root().join("tests/golden/fleet/small.toml");
    let mut args = vec![
        "sweep",
        scenario.to_str().unwrap(),
        "--vary",
        "tenants.anchor.reservation.trn2.chips=256,512",
        "--vary",
        "policy.reclaim=immediate,graceful",
        "--seeds",
        "3",
        "--format",
        "json",
        "--out",
        dir.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = trnsim(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
}

#[test]
fn threads_and_shards_give_the_same_bytes() {
    let t = tempfile::tempdir().unwrap();
    let one = sweep(&t.path().join("one"), &["--threads", "1"]);
    let two = sweep(&t.path().join("two"), &["--threads", "2"]);
    assert_eq!(one, two);
    let mut dirs = Vec::new();
    for i in 0..3 {
        let d = t.path().join(format!("shard{i}"));
        sweep(&d, &["--shard", &format!("{i}/3")]);
        dirs.push(d);
    }
    let merged_dir = t.path().join("merged");
    let mut args = vec!["sweep", "merge"];
    let ds: Vec<String> = dirs
        .iter()
        .rev()
        .map(|d| d.to_str().unwrap().to_string())
        .collect();
    args.extend(ds.iter().map(String::as_str));
    args.extend(["--format", "json", "--out", merged_dir.to_str().unwrap()]);
    let o = trnsim(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stdout), one);
    for f in [
        "summary.json",
        "metrics.csv",
        "runs.json",
        "report.html",
        "sweep_utilization.svg",
    ] {
        let a = std::fs::read(t.path().join("one").join(f)).unwrap();
        let b = std::fs::read(merged_dir.join(f)).unwrap();
        assert!(a == b, "{f} differs between one run and merged shards");
    }
    // The statistics are real: 4 points x 3 seeds, a confidence interval where seeds differ.
    let v: serde_json::Value = serde_json::from_str(&one).unwrap();
    let pts = v["points"].as_array().unwrap();
    assert_eq!(pts.len(), 4);
    let u = &pts[0]["metrics"]["fleet.utilization"];
    assert_eq!(u["n"], 3);
    assert!(u["ci95"].as_f64().unwrap() > 0.0);
    let html = std::fs::read_to_string(t.path().join("one/report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Fleet utilization"));
}

#[test]
fn bad_sweeps_exit_2() {
    let scenario = root().join("tests/golden/fleet/small.toml");
    let s = scenario.to_str().unwrap();
    for (args, want) in [
        (
            vec!["sweep", s, "--vary", "policy.reclaim"],
            "expected KEY=V1,V2",
        ),
        (
            vec!["sweep", s, "--vary", "policy.reclaim=sometimes"],
            "reclaim=sometimes",
        ),
        (vec!["sweep", s, "--shard", "3/3"], "--shard"),
        (vec!["sweep", s, "--seeds", "0"], "--seeds"),
        (vec!["sweep", "merge", "/nonexistent-dir"], "runs.json"),
    ] {
        let o = trnsim(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
        assert!(
            text(&o.stderr).contains(want),
            "{args:?}: {}",
            text(&o.stderr)
        );
    }
}

/// `plan --out` writes the tables, the charts and a self-contained report.
#[test]
fn plan_out_writes_charts_and_report() {
    let t = tempfile::tempdir().unwrap();
    let scenario = root().join("tests/golden/fleet/small.toml");
    let o = trnsim(&[
        "plan",
        scenario.to_str().unwrap(),
        "--out",
        t.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for f in [
        "summary.json",
        "metrics.csv",
        "timeseries.csv",
        "allocation.svg",
        "queue_delay_cdf.svg",
        "report.html",
    ] {
        let body = std::fs::read_to_string(t.path().join(f)).unwrap();
        assert!(!body.is_empty(), "{f}");
    }
    let svg = std::fs::read_to_string(t.path().join("allocation.svg")).unwrap();
    // A one-day horizon: time in hours (days past a year).
    for label in ["chips", "time (hours)", "anchor reservation", "anchor"] {
        assert!(svg.contains(label), "allocation.svg lacks '{label}'");
    }
}

/// A sweep whose points change workload shapes (so each point needs its own chip simulations,
/// made once for the whole sweep through one shared memo) gives the same bytes with one and
/// with two threads.
#[test]
fn workload_sweeps_give_the_same_bytes_whatever_the_threads() {
    let t = tempfile::tempdir().unwrap();
    let scenario = root().join("scenarios/reclaim-policy.toml");
    let run = |threads: &str| {
        let dir = t.path().join(threads);
        let o = trnsim(&[
            "sweep",
            scenario.to_str().unwrap(),
            "--vary",
            "workloads.anchor-train.dtype=bfloat16,float8_e4m3",
            "--vary",
            "workloads.lab-70b.tp=4,8",
            "--seeds",
            "2",
            "--set",
            "horizon=3w",
            "--threads",
            threads,
            "--format",
            "json",
            "--out",
            dir.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        (
            text(&o.stdout),
            std::fs::read(dir.join("runs.json")).unwrap(),
        )
    };
    let (one, one_runs) = run("1");
    let (two, two_runs) = run("2");
    assert_eq!(one, two);
    assert!(
        one_runs == two_runs,
        "runs.json differs between 1 and 2 threads"
    );
    // Each point reports the table it ran with: the varied fields, and their step times.
    let v: serde_json::Value = serde_json::from_str(&one).unwrap();
    let step = |p: usize, key: &str| v["points"][p]["metrics"][key]["mean"].as_f64().unwrap();
    let anchor = "workloads.anchor-train.generations.trn3.step_s";
    let lab = "workloads.lab-70b.generations.trn3.step_s";
    assert!(step(2, anchor) < step(0, anchor), "fp8 is faster");
    assert_ne!(step(0, lab), step(1, lab), "tp changes the lab's step");
    assert_eq!(step(0, lab), step(2, lab));
}

/// `--vary` is held to the scenario's names as `--set` is: a misspelled tenant fails before any
/// run, with the declared names, and writes nothing.
#[test]
fn vary_through_an_undeclared_name_is_exit_2_before_any_run() {
    let t = tempfile::tempdir().unwrap();
    let out = t.path().join("out");
    let scenario = root().join("tests/golden/fleet/small.toml");
    let o = trnsim(&[
        "sweep",
        scenario.to_str().unwrap(),
        "--vary",
        "tenants.anchr.reservation.trn2.chips=256,512",
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "tenants.anchr.reservation.trn2.chips=256: {} (--vary): tenants.anchr: no tenant \
             'anchr' in the scenario; declared: anchor, b, c\n",
            scenario.display()
        )),
        "{err}"
    );
    assert!(!out.exists() && o.stdout.is_empty());
}

/// `--seeds` above 1 on a scenario that draws nothing at random warns (once, on stderr, before
/// the runs), and the warning is true: every metric's confidence interval is 0. One seed, a
/// generated stream, or a generation that fails at random gives no such warning.
#[test]
fn seeds_on_a_deterministic_scenario_warn() {
    let t = tempfile::tempdir().unwrap();
    let det = t.path().join("det.toml");
    std::fs::write(
        &det,
        "horizon = \"2d\"\nreport_interval = \"1h\"\n[fleet.generations.trn2]\n\
         [[fleet.deliveries]]\nat = 0\ngeneration = \"trn2\"\nchips = 128\n[tenants.a]\n\
         [demand.x]\nkind = \"jobs\"\ntenant = \"a\"\njobs = [\n\
         { at = 0, chips = 64, run_time = \"2h\" },\n\
         { at = \"1h\", chips = 128, run_time = \"1h\", count = 3 },\n]\n",
    )
    .unwrap();
    let det = det.to_str().unwrap();
    let sweep = |args: &[&str]| {
        let mut all = vec!["sweep", det, "--format", "json"];
        all.extend_from_slice(args);
        let o = trnsim(&all);
        assert!(o.status.success(), "{}", text(&o.stderr));
        assert!(!text(&o.stdout).contains("warning"));
        (
            text(&o.stderr),
            serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap(),
        )
    };
    let (err, v) = sweep(&["--seeds", "4"]);
    assert_eq!(
        err,
        format!(
            "trnsim: warning: {det}: --seeds: 4 seeds give 4 identical runs: the scenario draws \
             nothing at random (every demand stream is a job list or a trace replay, no \
             generation has an mtbf); --seeds 1 gives the same result\n"
        )
    );
    let metrics = v["points"][0]["metrics"].as_object().unwrap();
    assert!(metrics.len() > 20);
    // Every metric but the seed itself.
    for (name, m) in metrics.iter().filter(|(name, _)| *name != "seed") {
        assert_eq!(m["n"], 4, "{name}");
        assert_eq!(m["ci95"].as_f64().unwrap(), 0.0, "{name}");
    }
    assert_eq!(sweep(&["--seeds", "1"]).0, "");
    // Failures at random times: the seeds differ.
    let (err, v) = sweep(&["--seeds", "2", "--set", "fleet.generations.trn2.mtbf=1d"]);
    assert_eq!(err, "");
    let ci = |k: &str| v["points"][0]["metrics"][k]["ci95"].as_f64().unwrap();
    assert!(ci("fleet.chip_hours_up") > 0.0);
    // A generated stream: no seeds warning.
    let small = root().join("tests/golden/fleet/small.toml");
    let o = trnsim(&[
        "sweep",
        small.to_str().unwrap(),
        "--seeds",
        "2",
        "--set",
        "policy.quota_step=1h",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(text(&o.stderr), "");
}

/// A scenario's warning is shown once when every point has it, and labelled by its points when
/// only some have it.
#[test]
fn sweep_warnings_name_the_points_that_have_them() {
    let small = root().join("tests/golden/fleet/small.toml");
    let small = small.to_str().unwrap();
    let ramp = format!("{small}:21:1: tenants.anchor.reservation.trn2.ramp: the ramp (6h)");
    let run = |vary: &str| {
        let o = trnsim(&["sweep", small, "--seeds", "1", "--vary", vary]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        text(&o.stderr)
    };
    let err = run("policy.quota_step=1h,1d");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("trnsim: warning: policy.quota_step=1d: {ramp}")),
        "{err}"
    );
    let err = run("policy.reclaim=immediate,graceful");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("trnsim: warning: {ramp}")),
        "{err}"
    );
}

/// A sweep over a probe's size on an idle 1,024-chip fleet: 512 chips start at once at every
/// probe time (wait 0), 2,048 never do (all 10 probe times unserved, no wait). The sweep's table
/// shows both, and its page charts the probe's p90 wait against the varied key.
#[test]
fn a_sweep_tables_and_charts_its_probes() {
    let t = tempfile::tempdir().unwrap();
    let file = t.path().join("probe.toml");
    std::fs::write(
        &file,
        r#"
horizon = "10d"
[fleet.generations.trn2]
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 1024
[tenants.a.quota.trn2]
nominal_chips = 1024
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 64, run_time = "1h" }]
[probes.p]
generation = "trn2"
chips = 512
duration = "1d"
every = "1d"
"#,
    )
    .unwrap();
    let out = t.path().join("out");
    let o = trnsim(&[
        "sweep",
        file.to_str().unwrap(),
        "--vary",
        "probes.p.chips=512,2048",
        "--seeds",
        "1",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let table = text(&o.stdout);
    let rows: Vec<Vec<&str>> = table
        .lines()
        .skip_while(|l| !l.starts_with("time to N chips"))
        .skip(3)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["512", "p", "0.0", "0.0", "0.0", "0.0"],
            ["2048", "p", "-", "-", "-", "10.0"]
        ]
    );
    assert!(out.join("sweep_probe_wait_p90.svg").exists());
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("time to N chips"));
}
