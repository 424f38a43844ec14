//! Files planners already have, read into scenarios: Slurm `sacct -P` and SWF job histories
//! replayed (samples hand-written in tests/data/sacct and tests/data/swf, every expected job
//! worked out by hand from the sample's lines), their bad lines reported at file:line, and
//! Kueue's own YAML imported into a scenario that runs like the same scenario written by hand.

use std::path::{Path, PathBuf};
use std::process::Command;

use trnsim::fleet::demand::DemandStream;
use trnsim::fleet::{Scenario, run};

fn data(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir)
}

/// A scenario of one 128-chip pool, the tenants named (16 chips each, borrowing in one cohort), and `demand` (a trace stream), resolved
/// with trace paths relative to tests/data/`dir`.
fn scenario(dir: &str, tenants: &[&str], demand: &str) -> trnsim::fleet::Result<Scenario> {
    let mut text = String::from(
        "horizon = \"4d\"\n[fleet.generations.pool]\nwatts_per_chip = 1000\n\
         ultraserver_chips = 1\nultraservers_per_cluster = 128\n\
         [[fleet.deliveries]]\nat = 0\ngeneration = \"pool\"\nultraservers = 128\n",
    );
    text += "[cohorts.all]\n";
    for t in tenants {
        text += &format!("[tenants.{t}]\ncohort = \"all\"\nquota.pool.nominal_chips = 16\n");
    }
    text += "[demand.history]\nkind = \"trace\"\n";
    text += demand;
    Scenario::from_toml(&text, "imports.toml", &data(dir), &[], &|p| {
        std::fs::read_to_string(p)
    })
}

/// The replayed jobs: (tenant, submit s, chips, run time s), in submit order.
fn jobs(s: &Scenario) -> Vec<(String, u64, u32, u64)> {
    let DemandStream::Jobs(list) = &s.demand[0] else {
        panic!("a trace is a job list")
    };
    list.iter()
        .map(|j| {
            (
                s.tenants[j.tenant].name.clone(),
                j.submit_s,
                j.chips,
                j.work,
            )
        })
        .collect()
}

fn owned(v: &[(&str, u64, u32, u64)]) -> Vec<(String, u64, u32, u64)> {
    v.iter()
        .map(|&(t, a, b, c)| (t.to_string(), a, b, c))
        .collect()
}

const SACCT_TENANTS: &[&str] = &["ml-research", "inference", "platform", "other"];

#[test]
fn sacct_history_replays_jobs_not_steps() {
    let s = scenario(
        "sacct",
        SACCT_TENANTS,
        "path = \"history.txt\"\nformat = \"sacct\"\ndefault_tenant = \"other\"\n",
    )
    .unwrap();
    // 30 lines: 13 jobs, 16 steps. Skipped: 4103 (cancelled before it started), 4106 (CPU
    // only: no gres/gpu), 4109 (running), 4110 (pending). Submit times from 08:00:00; run
    // times are Elapsed (4105: 1-02:00:00 = 93,600 s); 4104's account physics-sim is not
    // declared and goes to the default tenant.
    let want = owned(&[
        ("ml-research", 0, 16, 7_200),
        ("inference", 300, 8, 1_800),
        ("other", 1_200, 4, 3_600),
        ("ml-research", 3_600, 32, 93_600),
        ("inference", 7_200, 8, 750),
        ("ml-research", 9_000, 8, 1_800),
        ("inference", 14_400, 1, 300),
        ("inference", 14_400, 1, 420),
        ("inference", 16_200, 2, 70),
    ]);
    assert_eq!(jobs(&s), want);
    // They run: on an idle 128-chip pool every job starts at once and completes.
    let out = run(&s, 1).unwrap();
    let per: Vec<(&str, u64, u64)> = out
        .tenants
        .iter()
        .map(|t| (t.tenant.as_str(), t.jobs_submitted, t.jobs_completed))
        .collect();
    assert_eq!(
        per,
        vec![
            ("ml-research", 3, 3),
            ("inference", 5, 5),
            ("platform", 0, 0),
            ("other", 1, 1)
        ]
    );
}

#[test]
fn sacct_fields_are_configurable() {
    // Tenant from User, gang from NNodes x 16 chips per node, run time from End - Start when
    // the file has no Elapsed (the column renamed away), a start offset.
    let text = std::fs::read_to_string(data("sacct").join("history.txt")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let renamed = text.replacen("|Elapsed|", "|Wall|", 1);
    std::fs::write(dir.path().join("h.txt"), renamed).unwrap();
    let demand = format!(
        "path = \"{}\"\nformat = \"sacct\"\ntenant_field = \"User\"\nchips_field = \"NNodes\"\n\
         chips_per_unit = 16\ndefault_tenant = \"others\"\nstart = \"1h\"\n",
        dir.path().join("h.txt").display()
    );
    let s = scenario("sacct", &["alice", "bob", "others"], &demand).unwrap();
    // 4106 (CPU only) now counts: NNodes does not know about chips. 4101 ran 08:00:05 to
    // 10:00:05; 4105 09:30:00 to 11:30:00 the next day (26 h).
    let want = owned(&[
        ("alice", 3_600, 32, 7_200),
        ("bob", 3_900, 16, 1_800),
        ("others", 4_800, 16, 3_600),
        ("alice", 7_200, 64, 93_600),
        ("others", 8_100, 16, 1_800),
        ("bob", 10_800, 16, 750),
        ("others", 12_600, 16, 1_800),
        ("bob", 18_000, 16, 300),
        ("bob", 18_000, 16, 420),
        ("bob", 19_800, 16, 70),
    ]);
    assert_eq!(jobs(&s), want);
}

#[test]
fn sacct_unknown_account_without_default_is_located() {
    let e = scenario(
        "sacct",
        SACCT_TENANTS,
        "path = \"history.txt\"\nformat = \"sacct\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.ends_with(
            "history.txt:10: Account: tenant 'physics-sim' is not declared in the scenario's \
             [tenants] (declared: ml-research, inference, platform, other); set the stream's \
             default_tenant to map unknown ones to a tenant"
        ),
        "{e}"
    );
}

/// Each bad line of `file` in turn (the ones before it blanked, so lines keep their numbers):
/// the error names the file, the line and the field.
fn each_bad_line(dir: &str, file: &str, demand: &str, tenants: &[&str], want: &[(usize, &str)]) {
    let text = std::fs::read_to_string(data(dir).join(file)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(file);
    for (k, &(line, prefix)) in want.iter().enumerate() {
        let kept: Vec<&str> = lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let earlier_bad = want[..k].iter().any(|w| w.0 == i + 1);
                if earlier_bad { "" } else { l }
            })
            .collect();
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
        let d = format!("path = \"{}\"\n{demand}", path.display());
        let e = scenario(dir, tenants, &d).unwrap_err().to_string();
        let at = format!("{}:{line}: {prefix}", path.display());
        assert!(e.starts_with(&at), "want {at}, got {e}");
    }
}

#[test]
fn sacct_bad_lines_are_located() {
    each_bad_line(
        "sacct",
        "bad_lines.txt",
        "format = \"sacct\"\n",
        SACCT_TENANTS,
        &[
            (
                4,
                "Submit: 'Unknown' is not a date-time YYYY-MM-DDTHH:MM:SS",
            ),
            (5, "Submit: '2024-13-04T08:05:00' is not a date-time"),
            (
                6,
                "Elapsed: '1-25:00:00' is not a duration [D-]HH:MM:SS or MM:SS",
            ),
            (
                7,
                "AllocTRES:gres/gpu: 'billing=64,cpu=64,gres/gpu=eight,mem=500G,node=1' is not a list",
            ),
            (8, "(line): 6 fields; the header has 13"),
        ],
    );
}

const SWF_TENANTS: &[&str] = &["1", "2", "3", "other"];

#[test]
fn swf_sample_replays() {
    let s = scenario(
        "swf",
        SWF_TENANTS,
        "path = \"sample.swf\"\nformat = \"swf\"\ndefault_tenant = \"other\"\n",
    )
    .unwrap();
    // Job 3 never ran (run time -1); job 5's allocated processors are unknown (its 4 requested
    // stand in); job 9's user 7 is not declared; job 10 ran 0 s (1 s of work at least).
    let want = owned(&[
        ("1", 0, 16, 3_600),
        ("2", 60, 1, 120),
        ("3", 400, 8, 1_800),
        ("2", 900, 4, 600),
        ("1", 1_200, 64, 43_200),
        ("2", 1_500, 2, 30),
        ("3", 3_600, 32, 5_400),
        ("other", 4_000, 4, 900),
        ("2", 7_200, 1, 1),
    ]);
    assert_eq!(jobs(&s), want);
    let out = run(&s, 1).unwrap();
    let done: u64 = out.tenants.iter().map(|t| t.jobs_completed).sum();
    assert_eq!(done, 9);
    // By queue, requested processors x 2 chips, at most 3 jobs.
    let s = scenario(
        "swf",
        &["q1", "q2"],
        "path = \"sample.swf\"\nformat = \"swf\"\ntenant_field = \"queue\"\n\
         chips_field = \"requested\"\nchips_per_unit = 2\nlimit = 3\n",
    );
    let e = s.unwrap_err().to_string();
    assert!(e.contains("sample.swf:23: queue: tenant '1'"), "{e}");
    let s = scenario(
        "swf",
        &["1", "2"],
        "path = \"sample.swf\"\nformat = \"swf\"\ntenant_field = \"queue\"\n\
         chips_field = \"requested\"\nchips_per_unit = 2\nlimit = 3\n",
    )
    .unwrap();
    let want = owned(&[
        ("1", 0, 32, 3_600),
        ("2", 60, 2, 120),
        ("1", 400, 16, 1_800),
    ]);
    assert_eq!(jobs(&s), want);
}

#[test]
fn swf_bad_lines_are_located() {
    each_bad_line(
        "swf",
        "bad_lines.swf",
        "format = \"swf\"\n",
        SWF_TENANTS,
        &[
            (
                5,
                "(line): 17 fields; expected 18 whitespace-separated fields (SWF)",
            ),
            (6, "run time: '1h' is not an integer, -1 (unknown) or more"),
            (7, "submit time: -1 (unknown); expected seconds"),
            (
                8,
                "allocated processors: '-7' is not an integer, -1 (unknown) or more",
            ),
        ],
    );
}

#[test]
fn trace_keys_of_another_format_are_refused() {
    let e = scenario(
        "swf",
        SWF_TENANTS,
        "path = \"sample.swf\"\nformat = \"swf\"\ntime_format = \"seconds\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("demand.history.time_format: only for a csv or philly trace"),
        "{e}"
    );
    let e = scenario(
        "swf",
        SWF_TENANTS,
        "path = \"sample.swf\"\nformat = \"swf\"\ntenant_field = \"account\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("demand.history.tenant_field: 'account' is not an SWF field; expected one of: user, group, queue, partition"),
        "{e}"
    );
    let e = scenario(
        "swf",
        SWF_TENANTS,
        "path = \"sample.swf\"\nformat = \"swf\"\ndefault_tenant = \"nobody\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("demand.history.default_tenant: "), "{e}");
}

#[test]
fn cli_exits_2_on_a_bad_trace_line() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(data("sacct").join("bad_lines.txt")).unwrap();
    std::fs::write(tmp.path().join("bad.txt"), text).unwrap();
    let scenario = "horizon = \"1d\"\n[fleet.generations.pool]\nwatts_per_chip = 1000\n\
                    ultraserver_chips = 8\nultraservers_per_cluster = 4\n\
                    [[fleet.deliveries]]\nat = 0\ngeneration = \"pool\"\nultraservers = 4\n\
                    [tenants.ml-research]\n[tenants.inference]\n\
                    [demand.h]\nkind = \"trace\"\npath = \"bad.txt\"\nformat = \"sacct\"\n";
    std::fs::write(tmp.path().join("s.toml"), scenario).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .arg("plan")
        .arg(tmp.path().join("s.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.txt:4: Submit: 'Unknown' is not a date-time"),
        "{err}"
    );
}

/// The YAML files of a directory, as `trnsim import kueue` reads them (sorted by name).
fn yaml_files(dir: &Path) -> Vec<(String, String)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// The scenario tests/data/kueue_yaml describes, written by hand (in other spellings: dotted
/// keys, defaults left out, a priority class by name).
const KUEUE_BY_HAND: &str = r#"
name = "kueue_yaml"
horizon = "30d"
[priority_classes]
high = 1000
low = 100
[policy]
name = "kueue"
queueing = "best_effort_fifo"
[fleet.generations.trn2-ondemand]
preset = "trn2"
[fleet.generations.gpu-pool]
watts_per_chip = 1000
ultraserver_chips = 1
ultraservers_per_cluster = 32
[[fleet.deliveries]]
at = 0
generation = "trn2-ondemand"
chips = 192
[[fleet.deliveries]]
at = 0
generation = "gpu-pool"
chips = 32
[cohorts.org]
[cohorts.research]
parent = "org"
weight = 2
quota.trn2-ondemand.nominal_chips = 32
[tenants.team-a]
cohort = "research"
quota.trn2-ondemand.nominal_chips = 64
quota.trn2-ondemand.lending_limit_chips = 32
quota.gpu-pool.nominal_chips = 16
quota.gpu-pool.borrowing_limit_chips = 8
preemption.reclaim_within_cohort = "never"
[tenants.team-b]
cohort = "research"
quota.trn2-ondemand.nominal_chips = 64
quota.trn2-ondemand.borrowing_limit_chips = 32
preemption = { within_queue = "lower_priority", reclaim_within_cohort = "any", borrow_within_cohort = "lower_priority", borrow_max_priority = "low" }
[tenants.team-c]
cohort = "research"
weight = 2
quota.gpu-pool = { nominal_chips = 16, lending_limit_chips = 16 }
preemption.reclaim_within_cohort = "never"
"#;

/// Demand that borrows, meets a lending limit and a borrowing limit, and preempts.
const KUEUE_DEMAND: &str = r#"
[demand.b-train]
kind = "jobs"
tenant = "team-b"
generation = "trn2-ondemand"
priority = "low"
jobs = [{ at = 0, chips = 32, run_time = "1h", count = 4 }]
[demand.b-urgent]
kind = "jobs"
tenant = "team-b"
generation = "trn2-ondemand"
priority = "high"
jobs = [{ at = "90m", chips = 64, run_time = "1h" }]
[demand.a-train]
kind = "jobs"
tenant = "team-a"
generation = "trn2-ondemand"
priority = "high"
jobs = [{ at = "30m", chips = 64, run_time = "2h" }]
[demand.a-gpu]
kind = "jobs"
tenant = "team-a"
generation = "gpu-pool"
jobs = [{ at = 0, chips = 24, run_time = "1h" }, { at = 60, chips = 8, run_time = "1h" }]
[demand.c-gpu]
kind = "jobs"
tenant = "team-c"
generation = "gpu-pool"
jobs = [{ at = "10m", chips = 16, run_time = "30m" }]
"#;

/// A job as run: tenant, submit, chips, first start, end.
type Record = (String, u64, u32, Option<u64>, Option<u64>);

/// The run's summary and its jobs.
fn run_jobs(text: &str) -> (serde_json::Value, Vec<Record>) {
    let s = Scenario::from_toml(text, "k.toml", ".".as_ref(), &[], &|_| unreachable!())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let table =
        trnsim::fleet::WorkloadRunTime::build(&s, &trnsim::workload::CostModel::new()).unwrap();
    let opts = trnsim::fleet::RunOptions {
        record_jobs: true,
        ..Default::default()
    };
    let out = trnsim::fleet::run_timed(&s, 1, &table, &opts).unwrap();
    let jobs = out
        .jobs
        .iter()
        .map(|j| {
            let t = s.tenants[j.tenant].name.clone();
            (t, j.submit_s, j.chips, j.first_start_s, j.end_s)
        })
        .collect();
    (serde_json::to_value(&out).unwrap(), jobs)
}

#[test]
fn kueue_import_runs_as_the_same_scenario_by_hand() {
    let dir = data("kueue_yaml");
    let files = yaml_files(&dir);
    let imported = trnsim::fleet::import::kueue("kueue_yaml", &files, None).unwrap();
    let text = &imported.toml;
    // Nothing dropped silently: the other resources and objects are named; the cohort's own
    // quota is a quota of the cohort, and its chips are delivered (160 in 3 UltraServers).
    for said in [
        "# IGNORED resource cpu (quota in ClusterQueue/team-a)",
        "# IGNORED resource memory (quota in ClusterQueue/team-a)",
        "# IGNORED object LocalQueue/team-a-queue",
        "[cohorts.research]\nparent = \"org\"\nweight = 2.0   # fairSharing.weight\n\
         quota.trn2-ondemand = { nominal_chips = 32 }   # the cohort's own quota\n",
        "this flavor (160 chips), in whole UltraServers (64 chips each).",
    ] {
        assert!(text.contains(said), "{said}\n{text}");
    }
    let w: Vec<String> = imported.warnings.iter().map(|w| w.to_string()).collect();
    assert!(w.is_empty(), "{w:?}");
    let (by_import, jobs) = run_jobs(&format!("{text}{KUEUE_DEMAND}"));
    let (by_hand, hand_jobs) = run_jobs(&format!("{KUEUE_BY_HAND}{KUEUE_DEMAND}"));
    assert_eq!(by_import, by_hand);
    assert_eq!(jobs, hand_jobs);
    // Worked out by hand. trn2 (160 chips of quota: research's own 32, team-a's 64 of which it
    // lends 32, team-b's 64): team-b runs 3 x 32 at once (64 nominal + its borrowing limit of
    // 32); team-a's 64 at 30m gets its guaranteed 32 and the last 32 of research's subtree
    // (128 - 96 used), so it starts at once; team-b's fourth starts when its first three end
    // at 1h; at 90m team-b's urgent 64 fits (96 of 64 + 32, and the subtree has 128 - 64 = 64
    // left), so nothing is preempted. gpu-pool (32 chips): team-a runs
    // 24 (16 + a borrowing limit of 8), so its 8 waits until 1h, and so does team-c's 16 (it
    // never reclaims the 8 lent).
    let at = |t: &str, chips: u32, submit: u64| {
        jobs.iter()
            .find(|j| j.0 == t && j.2 == chips && j.1 == submit)
            .map(|j| (j.3, j.4))
            .unwrap_or_else(|| panic!("{t} {chips} {submit}: {jobs:?}"))
    };
    let b: Vec<_> = jobs
        .iter()
        .filter(|j| j.0 == "team-b" && j.2 == 32)
        .map(|j| (j.3, j.4))
        .collect();
    assert_eq!(
        b,
        vec![
            (Some(0), Some(3_600)),
            (Some(0), Some(3_600)),
            (Some(0), Some(3_600)),
            (Some(3_600), Some(7_200))
        ]
    );
    assert_eq!(at("team-b", 64, 5_400), (Some(5_400), Some(9_000)));
    assert_eq!(at("team-a", 64, 1_800), (Some(1_800), Some(9_000)));
    assert_eq!(at("team-a", 24, 0), (Some(0), Some(3_600)));
    assert_eq!(at("team-a", 8, 60), (Some(3_600), Some(7_200)));
    assert_eq!(at("team-c", 16, 600), (Some(3_600), Some(5_400)));
}

#[test]
fn kueue_import_errors_are_located() {
    let tmp = tempfile::tempdir().unwrap();
    let queue = std::fs::read_to_string(data("kueue_yaml").join("queues.yaml")).unwrap();
    std::fs::write(
        tmp.path().join("q.yaml"),
        queue.replacen("nominalQuota: 64", "nominalQuota: lots", 1),
    )
    .unwrap();
    let files = yaml_files(tmp.path());
    let e = trnsim::fleet::import::kueue("d", &files, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("q.yaml:19:23: spec.resourceGroups[0].flavors[0].resources[2].nominalQuota: 'lots' is not a quantity (a number with an optional suffix: m, k, M, G, Ki, Mi, ...)"),
        "{e}"
    );
    // A chip count must be whole (cpu's 500m is fine: cpu is not modelled).
    let half = queue.replacen("nominalQuota: \"16\"", "nominalQuota: 15500m", 1);
    std::fs::write(tmp.path().join("q.yaml"), half).unwrap();
    let e = trnsim::fleet::import::kueue("d", &yaml_files(tmp.path()), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("q.yaml:28:23: spec.resourceGroups[0].flavors[1].resources[2].nominalQuota: 15.5 is not a whole number of chips"), "{e}");
    // A policy Kueue does not have; a YAML syntax error; a resource no queue has.
    let odd = queue.replacen(
        "reclaimWithinCohort: Any",
        "reclaimWithinCohort: Sometimes",
        1,
    );
    std::fs::write(tmp.path().join("q.yaml"), odd).unwrap();
    let e = trnsim::fleet::import::kueue("d", &yaml_files(tmp.path()), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("q.yaml:48:26: spec.preemption.reclaimWithinCohort: 'Sometimes' is not one of: Never, LowerPriority, Any"), "{e}");
    std::fs::write(tmp.path().join("q.yaml"), "kind: [ClusterQueue\n").unwrap();
    let e = trnsim::fleet::import::kueue("d", &yaml_files(tmp.path()), None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("q.yaml:2:1: (syntax): "), "{e}");
    let e = trnsim::fleet::import::kueue(
        "d",
        &yaml_files(&data("kueue_yaml")),
        Some("nvidia.com/gpu"),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "d: (import): no ClusterQueue has a quota of 'nvidia.com/gpu'; the queues' resources: cpu, memory, aws.amazon.com/neuron"
    );
}

#[test]
fn cli_import_kueue_writes_a_scenario_and_exits_2_on_bad_files() {
    let out = Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .args(["import", "kueue"])
        .arg(data("kueue_yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    let s = Scenario::from_toml(&text, "i.toml", ".".as_ref(), &[], &|_| unreachable!()).unwrap();
    assert_eq!(s.tenants.len(), 3);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("Cohort 'research'"), "{err}");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("x.yaml"),
        "kind: ClusterQueue\napiVersion: kueue.x-k8s.io/v1beta1\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .args(["import", "kueue"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("x.yaml:1:1: (document): missing 'metadata'"),
        "{err}"
    );
}

#[test]
fn kueue_import_lists_other_objects_and_refuses_unknown_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let queue = std::fs::read_to_string(data("kueue_yaml").join("queues.yaml")).unwrap();
    std::fs::write(tmp.path().join("q.yaml"), &queue).unwrap();
    std::fs::write(
        tmp.path().join("kustomization.yaml"),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [q.yaml]\n",
    )
    .unwrap();
    let out = trnsim::fleet::import::kueue("d", &yaml_files(tmp.path()), None).unwrap();
    assert!(
        out.toml
            .contains("# IGNORED object Kustomization/(no name) (")
            && out
                .toml
                .contains("# IGNORED object LocalQueue/team-a-queue ("),
        "{}",
        out.toml
    );
    // Flavors without a ResourceFlavor object: imported as unknown hardware, with a warning each.
    let w: Vec<String> = out.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        w,
        vec![
            "d: flavor 'trn2-ondemand': no ResourceFlavor of this name; it is imported as the trn2 preset, from its name alone",
            "d: flavor 'gpu-pool': no ResourceFlavor of this name; it is imported as a generation of unknown hardware"
        ]
    );
    // trn2 is still recognised in the flavor's name.
    assert!(
        out.toml
            .contains("[fleet.generations.trn2-ondemand]\npreset = \"trn2\"")
    );
    let v2 = queue.replacen("kueue.x-k8s.io/v1beta2", "kueue.x-k8s.io/v2", 1);
    std::fs::write(tmp.path().join("q.yaml"), v2).unwrap();
    let e = trnsim::fleet::import::kueue("d", &yaml_files(tmp.path()), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("q.yaml:53:13: apiVersion: Kueue API version 'v2' is not read here; expected one of: v1alpha1, v1beta1, v1beta2"),
        "{e}"
    );
}
