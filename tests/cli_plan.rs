//! `trnsim plan` as a user runs it: the shipped scenarios, a golden output, bad scenarios
//! (error names the file, line and key path; exit 2; no partial output), `--set` and `--out`.

mod common;

use common::{root, text, trnsim};

#[test]
fn shipped_scenarios_run_with_the_documented_keys() {
    let mut n = 0;
    for entry in std::fs::read_dir(root().join("scenarios")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        // The 8-year anchor scenario takes about 2 s in a release build (much longer in a
        // debug one); its first year keeps the suite fast.
        let mut args = vec!["plan", path.to_str().unwrap(), "--format", "json"];
        if path.ends_with("anchor-2gw.toml") {
            args.extend(["--set", "horizon=1y"]);
        }
        let o = trnsim(&args);
        assert!(
            o.status.success(),
            "{}: {}",
            path.display(),
            text(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        for key in [
            "scenario",
            "policy",
            "seed",
            "horizon_s",
            "tenants",
            "fleet",
        ] {
            assert!(v.get(key).is_some(), "{}: no key {key}", path.display());
        }
        for t in v["tenants"].as_array().unwrap() {
            let submitted = t["jobs_submitted"].as_u64().unwrap();
            let parts: u64 = [
                "jobs_completed",
                "jobs_rejected",
                "jobs_queued",
                "jobs_running",
            ]
            .iter()
            .map(|k| t[k].as_u64().unwrap())
            .sum();
            assert_eq!(submitted, parts, "{}: {}", path.display(), t["tenant"]);
            for key in [
                "chip_hours_demanded",
                "chip_hours_served",
                "queue_delay_s",
                "jct_s",
                "slowdown",
                "preemptions",
                "chip_hours_lost",
                "reservation_honoured",
                "chip_hours_borrowed",
                "chip_hours_lent",
                "reclaim_s",
            ] {
                assert!(t.get(key).is_some(), "no tenant key {key}");
            }
        }
        for key in [
            "utilization",
            "chip_hours_idle_reserved",
            "fragmentation",
            "events",
        ] {
            assert!(v["fleet"].get(key).is_some(), "no fleet key {key}");
        }
        n += 1;
    }
    assert!(n >= 2, "expected at least two shipped scenarios");
}

#[test]
fn golden_small_scenario_and_same_seed_same_bytes() {
    let scenario = root().join("tests/golden/fleet/small.toml");
    let o = trnsim(&["plan", scenario.to_str().unwrap(), "--format", "json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let golden = std::fs::read_to_string(root().join("tests/golden/fleet/small.json")).unwrap();
    assert_eq!(
        text(&o.stdout),
        golden,
        "regenerate with: trnsim plan tests/golden/fleet/small.toml --format json > tests/golden/fleet/small.json"
    );
    let again = trnsim(&["plan", scenario.to_str().unwrap(), "--format", "json"]);
    assert_eq!(o.stdout, again.stdout);
    let other = trnsim(&[
        "plan",
        scenario.to_str().unwrap(),
        "--format",
        "json",
        "--seed",
        "2",
    ]);
    assert_ne!(o.stdout, other.stdout);
}

#[test]
fn set_and_out_write_three_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let scenario = root().join("tests/golden/fleet/small.toml");
    let o = trnsim(&[
        "plan",
        scenario.to_str().unwrap(),
        "--set",
        "policy.name=fair",
        "--set",
        "policy.reclaim=throttled",
        "--format",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("tenant,jobs_submitted,"));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["policy"], "fair");
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 4);
    let ts = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    assert!(ts.starts_with("time_s,series,") && ts.contains("*fleet*"));
    let table = trnsim(&["plan", scenario.to_str().unwrap()]);
    assert!(text(&table.stdout).contains("wait_p99"));
}

#[test]
fn bad_scenarios_name_file_line_and_key_path_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, &str)] = &[
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\nbogus = 3\n[tenants.a]\n",
            ":3:1: fleet.generations.trn2.bogus: unknown field `bogus`",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[[fleet.deliveries]]\nat = 0\ngeneration = \"trn2\"\nchipz = 64\n[tenants.a]\n",
            ":6:1: fleet.deliveries[0].chipz: unknown field",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\nweight = -1\n",
            ":4:1: tenants.a.weight: -1 is out of range",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a.quota.trn9]\nnominal_chips = 3\n",
            ":3:18: tenants.a.quota.trn9: unknown generation 'trn9'; expected one of: trn2",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[demand.x]\nkind = \"poisson\"\ntenant = \"a\"\nrate_per_hour = 1\nrun_time = { dist = \"exponential\", meen = 3 }\n",
            ":8:36: demand.x.run_time.meen: unknown field `meen`",
        ),
        (
            "horizon = \"forever\"\n[fleet.generations.trn2]\n[tenants.a]\n",
            ":1:11: horizon:",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[demand.x]\nkind = \"poisson\"\ntenant = \"a\"\nrate_per_hour = 1e9\nrun_time = { dist = \"fixed\", value = 1 }\nend = \"1000y\"\n",
            "demand.x: the demand adds up to",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[demand.x]\nkind = \"poisson\"\ntenant = \"a\"\nrun_time = { dist = \"fixed\", value = 1 }\nrate_schedule = [\n  { at = \"2h\", rate_per_hour = 1 },\n  { at = \"1h\", rate_per_hour = 2 },\n]\n",
            ":10:5: demand.x.rate_schedule[1].at: earlier than the point before it",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[demand.x]\nkind = \"poisson\"\ntenant = \"a\"\nload = 0.5\nrun_time = { dist = \"fixed\", value = 1 }\n",
            ":7:1: demand.x.load: needs `generation`",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[demand.x]\nkind = \"poisson\"\ntenant = \"a\"\ngeneration = \"trn2\"\nload = 0.5\nrun_time = { dist = \"fixed\", value = 1 }\n",
            ":8:1: demand.x.load: tenant a has no nominal quota on trn2",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[demand.x]\nkind = \"poisson\"\ntenant = \"a\"\nrate_per_hour = 1\nload = 1\nrun_time = { dist = \"fixed\", value = 1 }\n",
            "demand.x: give only one of the keys rate_per_hour, rate_schedule, load",
        ),
        // Workloads: each field checked where it is written.
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[workloads.w]\nmodel = \"llama9\"\nphase = \"train\"\nbatch = 1\nseq = 512\nsteps = 10\n",
            ":5:1: workloads.w.model: unknown model 'llama9'; the shipped models are: llama3-8b, llama3-70b",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[workloads.w]\nmodel = \"llama3-8b\"\nphase = \"train\"\nbatch = 1\nseq = 512\nsteps = 10\ndtype = \"bf17\"\n",
            ":10:1: workloads.w.dtype:",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[workloads.w]\nmodel = \"llama3-8b\"\nphase = \"train\"\nbatch = 1\nseq = 512\nsteps = 10\ntp = 0\n",
            ":10:1: workloads.w.tp: 0 is out of range 1..=1024",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[workloads.w]\nmodel = \"llama3-8b\"\nphase = \"train\"\nbatch = 1\nseq = 512\nsteps = 10\nphase2 = 1\n",
            ":10:1: workloads.w.phase2: unknown field `phase2`",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[workloads.w]\nmodel = \"llama3-8b\"\nphase = \"train\"\nbatch = 1\nseq = 512\nsteps = 10\n[demand.x]\nkind = \"poisson\"\ntenant = \"a\"\nrate_per_hour = 1\nworkload = \"nope\"\n",
            ":14:1: demand.x.workload: unknown workload 'nope'; expected one of: w",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[workloads.w]\nmodel = \"llama3-8b\"\nphase = \"train\"\nbatch = 1\nseq = 512\nsteps = 10\n[demand.x]\nkind = \"poisson\"\ntenant = \"a\"\nrate_per_hour = 1\nworkload = { dist = \"empirical\", values = [\"w\", \"v\"] }\n",
            ":14:49: demand.x.workload.values[1]: unknown workload 'v'",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[workloads.w]\nmodel = \"llama3-8b\"\nphase = \"train\"\nbatch = 1\nseq = 512\nsteps = 10\n[demand.x]\nkind = \"poisson\"\ntenant = \"a\"\nrate_per_hour = 1\nworkload = \"w\"\nchips = { dist = \"fixed\", value = 4 }\n",
            ":15:1: demand.x.chips: not with a workload",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[workloads.w]\nmodel = \"llama3-8b\"\nphase = \"train\"\nbatch = 1\nseq = 512\nsteps = 10\n[demand.x]\nkind = \"jobs\"\ntenant = \"a\"\njobs = [{ at = 0, workload = \"w\", run_time = 5 }]\n",
            ":13:9: demand.x.jobs[0]: give only one of the keys run_time, workload",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[workloads.w]\nmodel = \"llama3-8b\"\nphase = \"train\"\nbatch = 1\nseq = 512\nsteps = 10\n[demand.x]\nkind = \"poisson\"\ntenant = \"a\"\ngeneration = \"trn2\"\nload = 0.5\nworkload = \"w\"\n",
            ":14:1: demand.x.load: not with a workload",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[workloads.w]\nmodel = \"llama3-8b\"\nphase = \"train\"\nbatch = 1\nseq = 512\nsteps = 10\n[fleet.generations.trn9]\nwatts_per_chip = 1000\nultraserver_chips = 64\n[demand.x]\nkind = \"jobs\"\ntenant = \"a\"\njobs = [{ at = 0, workload = \"w\" }]\n",
            ":16:19: demand.x.jobs[0].workload: jobs of workload 'w' may run on generation trn9, which has no chip preset",
        ),
        (
            "horizon = \"1d\"\n[fleet.generations.trn2]\nhw = \"trn7\"\n[tenants.a]\n",
            ":3:1: fleet.generations.trn2.hw: unknown chip preset 'trn7'; expected one of: trn1, trn2, trn3",
        ),
    ];
    for (i, (body, want)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, body).unwrap();
        let out = dir.path().join(format!("out{i}"));
        let o = trnsim(&[
            "plan",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(2), "case {i}: {}", text(&o.stderr));
        let err = text(&o.stderr);
        assert!(
            err.contains(path.to_str().unwrap()) && err.contains(want),
            "case {i}: {err}"
        );
        assert!(!out.exists(), "case {i}: no output on error");
        assert!(!err.contains("panicked"), "case {i}: {err}");
    }
    let scenario = root().join("tests/golden/fleet/small.toml");
    let o = trnsim(&[
        "plan",
        scenario.to_str().unwrap(),
        "--set",
        "tenants.b.quota.trn2.nominal_sharez=1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("(--set): tenants.b.quota.trn2.nominal_sharez: unknown field")
    );
    let o = trnsim(&["plan", scenario.to_str().unwrap(), "--set", "nonsense"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn metrics_csv_names_a_metric_as_sweeps_do() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = root().join("tests/golden/fleet/small.toml");
    let scenario = scenario.to_str().unwrap();
    let plan = dir.path().join("plan");
    let o = trnsim(&["plan", scenario, "--out", plan.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let metrics = std::fs::read_to_string(plan.join("metrics.csv")).unwrap();
    let header: Vec<&str> = metrics.lines().next().unwrap().split(',').collect();
    assert!(header.contains(&"queue_delay_s.p99"), "{header:?}");
    let tenant = metrics.lines().nth(1).unwrap().split(',').next().unwrap();
    let o = trnsim(&["sweep", scenario, "--seeds", "1", "--format", "csv"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    for column in header.iter().filter(|c| c.contains('.')) {
        let name = format!(",tenants.{tenant}.{column},");
        assert!(text(&o.stdout).contains(&name), "sweep lacks {name}");
    }
}

/// Strict names: `--set` changes what a declared tenant, cohort, generation, demand stream,
/// workload or priority class holds, but a key path through a name the file does not declare
/// is an error at the command line listing the declared names (a typo used to add a phantom
/// tenant and exit 0).
#[test]
fn set_through_an_undeclared_name_is_exit_2_with_the_declared_names() {
    let anchor = root().join("scenarios/anchor-2gw.toml");
    let small = root().join("tests/golden/fleet/small.toml");
    let (anchor, small) = (anchor.to_str().unwrap(), small.to_str().unwrap());
    let cases: &[(&str, &str, &str)] = &[
        (
            anchor,
            "tenants.anchr.reservation.trn3.gw=1",
            "anchor-2gw.toml (--set): tenants.anchr: no tenant 'anchr' in the scenario; \
             declared: anchor, lab-a, lab-b, startups, inference, spot\n",
        ),
        (
            anchor,
            "tenants.lab-a.quota.trn33.nominal_share=0.1",
            "anchor-2gw.toml (--set): tenants.lab-a.quota.trn33: no generation 'trn33' in the \
             scenario; declared: trn4, trn3, trn2\n",
        ),
        (
            anchor,
            "demand.lab-a-trn9.load=0.5",
            "anchor-2gw.toml (--set): demand.lab-a-trn9: no demand stream 'lab-a-trn9' in the \
             scenario; declared: anchor-trn3, anchor-trn4, lab-a-trn2, lab-a-trn3,",
        ),
        // A built-in generation is named only if the file declares it.
        (
            small,
            "fleet.generations.trn3.pue=1.1",
            "small.toml (--set): fleet.generations.trn3: no generation 'trn3' in the scenario; \
             declared: trn2\n",
        ),
        (
            small,
            "tenants.anchor.reservation.trn3.chips=64",
            "(--set): tenants.anchor.reservation.trn3: no generation 'trn3' in the scenario",
        ),
        (
            small,
            "cohorts.al.weight=2",
            "(--set): cohorts.al: no cohort 'al' in the scenario; declared: all\n",
        ),
        (
            small,
            "workloads.w.steps=3",
            "(--set): workloads.w: no workload 'w' in the scenario; it declares none\n",
        ),
        (
            small,
            "priority_classes.high=5",
            "(--set): priority_classes.high: no priority class 'high' in the scenario; \
             it declares none\n",
        ),
        // A whole table given as a value is held to the same names.
        (
            small,
            "tenants={ anchor = {}, d = {} }",
            "(--set): tenants.d: no tenant 'd' in the scenario; declared: anchor, b, c\n",
        ),
    ];
    for (file, set, want) in cases {
        let o = trnsim(&["plan", file, "--set", set]);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{set}: {err}");
        assert!(err.contains(want), "{set}: {err}");
        assert!(
            o.stdout.is_empty() && !err.contains("panicked"),
            "{set}: {err}"
        );
    }
}

/// A small scenario of job lists only: nothing in it draws at random.
const JOBS: &str = "horizon = \"1d\"\nreport_interval = \"1h\"\n\
    [fleet.generations.trn2]\n[[fleet.deliveries]]\nat = 0\ngeneration = \"trn2\"\nchips = 1024\n\
    [tenants.a]\n[demand.x]\nkind = \"jobs\"\ntenant = \"a\"\n\
    jobs = [{ at = 0, chips = 64, run_time = \"1h\" }]\n";

fn json(o: &std::process::Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// Strict names leave `--set` its other uses: a value changes, a declared tenant gets a quota on
/// a declared generation, and a list grows by its next index (a delivery, a job), with the
/// figures those inputs give by hand.
#[test]
fn set_changes_values_and_extends_lists() {
    let small = root().join("tests/golden/fleet/small.toml");
    let small = small.to_str().unwrap();
    let base = json(&trnsim(&["plan", small, "--format", "json"]));
    let fleet = |v: &serde_json::Value, k: &str| v["fleet"][k].as_f64().unwrap();
    assert_eq!(fleet(&base, "chips_installed"), 1024.0);
    let more = json(&trnsim(&[
        "plan",
        small,
        "--format",
        "json",
        "--set",
        "fleet.deliveries.0.chips=2048",
        "--set",
        "tenants.anchor.quota.trn2.nominal_chips=64",
    ]));
    assert_eq!(fleet(&more, "chips_installed"), 2048.0);
    // A second delivery of 1,024 chips at 12 h: 1,024 x 24 + 1,024 x 12 chip-hours installed.
    let added = json(&trnsim(&[
        "plan",
        small,
        "--format",
        "json",
        "--set",
        "fleet.deliveries.1.at=12h",
        "--set",
        "fleet.deliveries.1.generation=trn2",
        "--set",
        "fleet.deliveries.1.chips=1024",
    ]));
    assert_eq!(fleet(&added, "chips_installed"), 2048.0);
    assert_eq!(fleet(&added, "chip_hours_installed"), 36_864.0);
    // A list can grow only by its next index.
    let o = trnsim(&["plan", small, "--set", "fleet.deliveries.2.at=1h"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains(
        "(--set): fleet.deliveries.2.at: index 2 is out of range; 'fleet.deliveries' has 1 \
         entries (index 1 appends one)"
    ));
    // A second job in a job list: two 64-chip, 1-hour jobs demand 128 chip-hours.
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.toml");
    std::fs::write(&jobs, JOBS).unwrap();
    let jobs = jobs.to_str().unwrap();
    let two = json(&trnsim(&[
        "plan",
        jobs,
        "--format",
        "json",
        "--set",
        "demand.x.jobs.1={ at = \"2h\", chips = 64, run_time = \"1h\" }",
    ]));
    let a = &two["tenants"][0];
    assert_eq!(a["jobs_submitted"], 2);
    assert_eq!(a["chip_hours_demanded"].as_f64().unwrap(), 128.0);
}

/// A reservation that ramps faster than quotas are re-evaluated (`policy.quota_step`, 1 day by
/// default) warns on stderr, located where the ramp is written, and the warning is true: the
/// run is the one of a reservation that steps to all its chips at the ramp's end (every figure
/// but the count of events, one quota update fewer). Stdout carries no warning; a ramp the
/// quota step follows gives none.
#[test]
fn a_ramp_faster_than_the_quota_step_warns() {
    let small = root().join("tests/golden/fleet/small.toml");
    let small = small.to_str().unwrap();
    let warning = format!(
        "trnsim: warning: {small}:21:1: tenants.anchor.reservation.trn2.ramp: the ramp (6h) is \
         shorter than policy.quota_step (1d), the interval at which quotas are re-evaluated \
         along a ramp: the reservation jumps from 0 to all 512 chips at the ramp's end; give \
         policy.quota_step = \"90m\" or less to follow the ramp\n"
    );
    let ramp = trnsim(&["plan", small, "--format", "json"]);
    assert_eq!(text(&ramp.stderr), warning);
    assert!(!text(&ramp.stdout).contains("warning"));
    let step = trnsim(&[
        "plan",
        small,
        "--format",
        "json",
        "--set",
        "tenants.anchor.reservation.trn2.start=18h",
        "--set",
        "tenants.anchor.reservation.trn2.ramp=0",
    ]);
    assert_eq!(text(&step.stderr), "");
    let (mut ramp, mut step) = (json(&ramp), json(&step));
    assert_eq!(ramp["fleet"]["events"].as_u64().unwrap(), 2446);
    assert_eq!(step["fleet"]["events"].as_u64().unwrap(), 2445);
    ramp["fleet"]["events"] = 0.into();
    step["fleet"]["events"] = 0.into();
    assert_eq!(ramp, step);
    // With an hourly quota step the ramp is followed: no warning, and another run.
    let hourly = trnsim(&[
        "plan",
        small,
        "--format",
        "json",
        "--set",
        "policy.quota_step=1h",
    ]);
    assert_eq!(text(&hourly.stderr), "");
    assert_ne!(json(&hourly)["tenants"], ramp["tenants"]);
    // A ramp typed on the command line is located there.
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.toml");
    std::fs::write(&jobs, JOBS).unwrap();
    let o = trnsim(&[
        "plan",
        jobs.to_str().unwrap(),
        "--set",
        "tenants.a.reservation.trn2={ chips = 128, ramp = \"150m\" }",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains(&format!(
        "trnsim: warning: {} (--set): tenants.a.reservation.trn2.ramp: the ramp (150m) is \
         shorter than policy.quota_step (1d)",
        jobs.display()
    )));
}
