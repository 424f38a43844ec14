//! What a planner reads from `trnsim plan` and `sweep`: per-job records (`--jobs`) checked row
//! by row against a hand-built run and against the summary; report.html leading with the answer
//! and recording the scenario's hash and overrides; charts whose size does not grow with the
//! jobs; `-q` silencing warnings; `--vary` errors located as `--vary`.

mod common;

use common::{root, text, trnsim};

/// 128 Trn2 chips, one tenant. Jobs 0-2: three 64-chip gangs of 1 h at 0 (two run at once, the
/// third from 1 h to 2 h); job 3: 256 chips, more than the fleet (rejected); jobs 4 and 5 at
/// 2.5 h: 128 chips for 2 h (running at the 3 h horizon, a quarter done) and 64 chips for 1 h
/// (waiting behind it).
const HAND: &str = r#"
horizon = "3h"
[fleet.generations.trn2]
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 128
[tenants.a.quota.trn2]
nominal_chips = 128
[demand.first]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 64, run_time = "1h", count = 3 }, { at = 0, chips = 256, run_time = "1h" }]
[demand.late]
kind = "jobs"
tenant = "a"
jobs = [{ at = "150m", chips = 128, run_time = "2h" }, { at = "150m", chips = 64, run_time = "1h" }]
"#;

/// Completions in the order they happen, then the unfinished jobs in submission order.
const HAND_ROWS: &str = "\
tenant,stream,chips,generation,submit_s,first_start_s,end_s,preemptions,lost_chip_h,work_chip_h,done_share,state
a,first,64,trn2,0,0,3600,0,0.0,64.0,1.0,done
a,first,64,trn2,0,0,3600,0,0.0,64.0,1.0,done
a,first,64,trn2,0,3600,7200,0,0.0,64.0,1.0,done
a,first,256,,0,,,0,0.0,256.0,0.0,rejected
a,late,128,trn2,9000,9000,,0,0.0,256.0,0.25,running
a,late,64,,9000,,,0,0.0,64.0,0.0,waiting
";

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn jobs_rows_are_the_hand_computed_ones_and_add_up_to_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("hand.toml");
    std::fs::write(&sc, HAND).unwrap();
    let (jobs, out) = (dir.path().join("jobs.csv"), dir.path().join("out"));
    let args = [
        "plan",
        sc.to_str().unwrap(),
        "--jobs",
        jobs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let o = trnsim(&args);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let rows = std::fs::read_to_string(&jobs).unwrap();
    assert_eq!(rows, HAND_ROWS);
    let s = json(&out.join("summary.json"));
    assert_eq!(s["fleet"]["work_demanded"], 768.0);
    // Same seed, same bytes.
    let again = dir.path().join("again.csv");
    let o = trnsim(&[
        "plan",
        sc.to_str().unwrap(),
        "--jobs",
        again.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    assert_eq!(std::fs::read(&again).unwrap(), rows.as_bytes());
    // Only the job log and the --out directory were written: no temporary file left.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
}

/// On a run with preemptions (the fleet golden), the rows add up to every per-tenant count
/// the summary gives: jobs by state, work demanded, preemptions and chip-hours lost.
#[test]
fn jobs_rows_add_up_to_the_summary_with_preemptions() {
    let dir = tempfile::tempdir().unwrap();
    let small = root().join("tests/golden/fleet/small.toml");
    let (jobs, out) = (dir.path().join("jobs.csv"), dir.path().join("out"));
    let o = trnsim(&[
        "-q",
        "plan",
        small.to_str().unwrap(),
        "--jobs",
        jobs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let s = json(&out.join("summary.json"));
    let csv = std::fs::read_to_string(&jobs).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    let mut preempted = 0;
    for t in s["tenants"].as_array().unwrap() {
        let name = t["tenant"].as_str().unwrap();
        let mine: Vec<&Vec<&str>> = rows.iter().filter(|r| r[0] == name).collect();
        let sum = |col: usize| {
            mine.iter()
                .map(|r| r[col].parse::<f64>().unwrap())
                .sum::<f64>()
        };
        let count = |state: &str| mine.iter().filter(|r| r[11] == state).count() as u64;
        assert_eq!(mine.len() as u64, t["jobs_submitted"].as_u64().unwrap());
        assert_eq!(count("done"), t["jobs_completed"].as_u64().unwrap());
        assert_eq!(count("running"), t["jobs_running"].as_u64().unwrap());
        assert_eq!(count("waiting"), t["jobs_queued"].as_u64().unwrap());
        assert_eq!(count("rejected"), t["jobs_rejected"].as_u64().unwrap());
        assert_eq!(sum(7), t["preemptions"].as_f64().unwrap());
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        assert!(
            close(sum(8), t["chip_hours_lost"].as_f64().unwrap()),
            "{name}"
        );
        assert!(
            close(sum(9), t["work_demanded"].as_f64().unwrap()),
            "{name}"
        );
        // Served work: each job's done share of its work.
        let served: f64 = mine
            .iter()
            .map(|r| r[9].parse::<f64>().unwrap() * r[10].parse::<f64>().unwrap())
            .sum();
        assert!(close(served, t["work_served"].as_f64().unwrap()), "{name}");
        preempted += sum(7) as u64;
    }
    assert!(preempted > 0, "the golden run preempts");
}

/// A run that fails (a file the job log cannot be written to, a bad scenario) leaves no file.
#[test]
fn jobs_file_is_never_partial() {
    let dir = tempfile::tempdir().unwrap();
    let small = root().join("tests/golden/fleet/small.toml");
    let missing = dir.path().join("no/such/dir/jobs.csv");
    let o = trnsim(&[
        "-q",
        "plan",
        small.to_str().unwrap(),
        "--jobs",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("no/such/dir/jobs.csv"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, HAND.replace("chips = 128\n", "chips = -1\n")).unwrap();
    let jobs = dir.path().join("jobs.csv");
    let o = trnsim(&[
        "plan",
        bad.to_str().unwrap(),
        "--jobs",
        jobs.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only bad.toml"
    );
}

/// report.html leads with the answer (the fleet summary and the planner's table before the
/// first chart, the details after), and it and summary.json record the scenario's hash
/// (FNV-1a 64 of the file, computed here independently) and every --set.
#[test]
fn report_leads_with_the_answer_and_records_hash_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let small = root().join("tests/golden/fleet/small.toml");
    let out = dir.path().join("out");
    let o = trnsim(&[
        "-q",
        "plan",
        small.to_str().unwrap(),
        "--set",
        "policy.name=fair",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mut h: u64 = 0xcbf29ce484222325;
    for b in std::fs::read(&small).unwrap() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    let hash = format!("{h:016x}");
    let s = json(&out.join("summary.json"));
    assert_eq!(s["scenario_hash"], hash.as_str());
    assert_eq!(
        s["overrides"],
        serde_json::json!([{"flag": "--set", "key": "policy.name", "value": "fair"}])
    );
    // The summary's other keys are the stdout JSON's.
    let stdout = trnsim(&[
        "-q",
        "plan",
        small.to_str().unwrap(),
        "--set",
        "policy.name=fair",
        "--format",
        "json",
    ]);
    let mut plain: serde_json::Value = serde_json::from_slice(&stdout.stdout).unwrap();
    plain["scenario_hash"] = hash.as_str().into();
    plain["overrides"] = s["overrides"].clone();
    assert_eq!(plain, s);
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("no {needle}"));
    assert!(html.contains(&hash) && html.contains("--set policy.name=fair"));
    let first_chart = at("<svg");
    assert!(at("work demanded (reference chip-h)") < first_chart);
    assert!(at("wait_p99_h") < first_chart);
    assert!(at("<h2>Details</h2>") > html.rfind("<svg").unwrap());
    assert!(html.contains("class=\"scroll\""));
    for chart in ["allocation", "served_share", "backlog", "queue_delay_cdf"] {
        assert!(out.join(format!("{chart}.svg")).exists(), "{chart}");
    }
}

/// The delay CDF is drawn from a fixed-size summary: at most 200 points per tenant, however
/// many jobs (the golden run has over a thousand).
#[test]
fn delay_cdf_size_does_not_grow_with_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let small = root().join("tests/golden/fleet/small.toml");
    let out = dir.path().join("out");
    let o = trnsim(&[
        "-q",
        "plan",
        small.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let s = json(&out.join("summary.json"));
    let jobs: u64 = s["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["jobs_submitted"].as_u64().unwrap())
        .sum();
    assert!(jobs > 1000);
    let svg = std::fs::read_to_string(out.join("queue_delay_cdf.svg")).unwrap();
    // One line per tenant (three, plus one in the legend each), of at most 200 points.
    let lines: Vec<usize> = svg
        .split("<polyline")
        .skip(1)
        .map(|l| {
            let pts = l
                .split("points=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            pts.split_whitespace().count()
        })
        .collect();
    assert!(lines.iter().filter(|&&n| n > 2).count() == 3, "{lines:?}");
    assert!(lines.iter().all(|&n| n <= 200), "{lines:?}");
    assert_eq!(svg.matches("<circle").count(), 0);
}

/// -q silences the warning a scenario gives (and stdout is the same).
#[test]
fn quiet_silences_warnings() {
    let small = root().join("tests/golden/fleet/small.toml");
    let loud = trnsim(&["plan", small.to_str().unwrap(), "--format", "json"]);
    assert!(text(&loud.stderr).contains("warning"));
    let quiet = trnsim(&["-q", "plan", small.to_str().unwrap(), "--format", "json"]);
    assert_eq!(text(&quiet.stderr), "");
    assert_eq!(quiet.stdout, loud.stdout);
    let sweep = trnsim(&[
        "-q",
        "sweep",
        small.to_str().unwrap(),
        "--vary",
        "policy.name=fair,kueue",
        "--seeds",
        "1",
    ]);
    assert!(sweep.status.success());
    assert_eq!(text(&sweep.stderr), "");
}

/// A bad --vary value or name is located as --vary, a bad --set one as --set.
#[test]
fn vary_errors_say_vary() {
    let small = root().join("tests/golden/fleet/small.toml");
    let small = small.to_str().unwrap();
    let o = trnsim(&[
        "sweep",
        small,
        "--vary",
        "policy.quota_step=1d,1x",
        "--seeds",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains(&format!(
            "{small} (--vary): policy.quota_step: unknown duration"
        )),
        "{}",
        text(&o.stderr)
    );
    let o = trnsim(&[
        "sweep",
        small,
        "--vary",
        "tenants.anchr.reservation.trn2.chips=1,2",
        "--seeds",
        "1",
    ]);
    assert!(text(&o.stderr).contains(&format!(
        "{small} (--vary): tenants.anchr: no tenant 'anchr'"
    )));
    let o = trnsim(&[
        "sweep",
        small,
        "--set",
        "policy.quota_step=1x",
        "--vary",
        "policy.name=fair,kueue",
        "--seeds",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains(&format!("{small} (--set): policy.quota_step")),
        "{}",
        text(&o.stderr)
    );
}

/// sweep's summary.json records the hash and every --set and --vary; report.html too.
#[test]
fn sweep_records_hash_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let small = root().join("tests/golden/fleet/small.toml");
    let out = dir.path().join("out");
    let o = trnsim(&[
        "-q",
        "sweep",
        small.to_str().unwrap(),
        "--set",
        "policy.reclaim=throttled",
        "--vary",
        "policy.name=fair,kueue",
        "--seeds",
        "2",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let s = json(&out.join("summary.json"));
    assert_eq!(s["scenario_hash"], s["grid"]["scenario_hash"]);
    assert_eq!(
        s["overrides"],
        serde_json::json!([
            {"flag": "--set", "key": "policy.reclaim", "value": "throttled"},
            {"flag": "--vary", "key": "policy.name", "value": "fair,kueue"}
        ])
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("--vary policy.name=fair,kueue"));
    assert!(html.find("<table").unwrap() < html.find("<svg").unwrap());
}
