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
