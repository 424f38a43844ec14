//! Unmet demand, censored waits and reservation delivery against hand-computed answers, work
//! conservation on hand-built and shipped scenarios, and the fleet golden's bless command:
//!
//!   TRNSIM_BLESS=1 cargo test --release --test fleet_metrics bless_fleet_golden
//!
//! rewrites `tests/golden/fleet/small.json` from `trnsim plan tests/golden/fleet/small.toml
//! --format json`; without TRNSIM_BLESS the test checks the golden is current.

use std::path::{Path, PathBuf};
use std::process::Command;

use trnsim::fleet::{self, Outcome, Scenario};

const H: f64 = 3600.0;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "test.toml", ".".as_ref(), &[], &|_| unreachable!()).unwrap()
}

fn run(text: &str) -> Outcome {
    let s = scenario(text);
    fleet::run(&s, s.seed).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// Served + unserved = demanded per tenant and for the fleet; the fleet sums its tenants.
fn assert_conserved(o: &Outcome, what: &str) {
    for t in &o.tenants {
        let w = &t.work;
        assert!(
            close(w.work_served + w.work_unserved, w.work_demanded),
            "{what} {}: {} + {} != {}",
            t.tenant,
            w.work_served,
            w.work_unserved,
            w.work_demanded
        );
        assert!(close(w.work_demanded, t.chip_hours_demanded), "{what}");
        assert!((0.0..=1.0).contains(&w.served_share), "{what}");
        assert!(w.work_served >= -1e-9 && w.work_unserved >= -1e-9, "{what}");
    }
    let f = &o.fleet.work;
    let sum: f64 = o.tenants.iter().map(|t| t.work.work_demanded).sum();
    assert!(close(f.work_demanded, sum), "{what}");
    assert!(
        close(f.work_served + f.work_unserved, f.work_demanded),
        "{what}: fleet"
    );
}

/// One 64-chip UltraServer (64 chip-hours per hour); twenty 64-chip, 1 h jobs, one every 30
/// minutes from 15 min: 128 chip-hours demanded per hour. FIFO: job k (submitted at 0.25 + 0.5k
/// h) starts at 0.25 + k h, so it waits 0.5k h; jobs 0-8 complete, job 9 runs from 9.25 h and
/// has done 0.75 h at the 10 h horizon, jobs 10-19 never start (censored at 4.75, 4.25, ...,
/// 0.25 h). Samples every 30 min never coincide with an event.
const OVERLOAD: &str = r#"
horizon = "10h"
report_interval = "30m"
[fleet.generations.trn2]
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 64
[tenants.a.quota.trn2]
nominal_chips = 64
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [
  { at = "15m", chips = 64, run_time = "1h" }, { at = "45m", chips = 64, run_time = "1h" },
  { at = "75m", chips = 64, run_time = "1h" }, { at = "105m", chips = 64, run_time = "1h" },
  { at = "135m", chips = 64, run_time = "1h" }, { at = "165m", chips = 64, run_time = "1h" },
  { at = "195m", chips = 64, run_time = "1h" }, { at = "225m", chips = 64, run_time = "1h" },
  { at = "255m", chips = 64, run_time = "1h" }, { at = "285m", chips = 64, run_time = "1h" },
  { at = "315m", chips = 64, run_time = "1h" }, { at = "345m", chips = 64, run_time = "1h" },
  { at = "375m", chips = 64, run_time = "1h" }, { at = "405m", chips = 64, run_time = "1h" },
  { at = "435m", chips = 64, run_time = "1h" }, { at = "465m", chips = 64, run_time = "1h" },
  { at = "495m", chips = 64, run_time = "1h" }, { at = "525m", chips = 64, run_time = "1h" },
  { at = "555m", chips = 64, run_time = "1h" }, { at = "585m", chips = 64, run_time = "1h" },
]
"#;

#[test]
fn overload_served_share_unserved_work_and_never_started_by_hand() {
    let o = run(OVERLOAD);
    let a = &o.tenants[0];
    // 20 jobs x 64 chip-h; served: 9 complete + 0.75 of job 9; unserved: 10 unstarted + 0.25.
    assert_eq!(a.work.work_demanded, 1280.0);
    assert!(close(a.work.work_served, 9.75 * 64.0), "{:?}", a.work);
    assert!(close(a.work.work_unserved, 10.25 * 64.0), "{:?}", a.work);
    assert!(close(a.work.served_share, 624.0 / 1280.0));
    assert_eq!((a.jobs_never_started, a.jobs_running), (10, 1));
    assert_eq!(o.fleet.jobs_never_started, 10);
    assert_conserved(&o, "overload");
    // Served work is not held chip-hours: the 64 chips were held all 9.75 h since 15 min.
    assert!(close(a.chip_hours_served, 9.75 * 64.0));
}

/// Kaplan-Meier by hand: at the i-th start (wait 0.5i h, i = 0..9) 20 - 2i jobs are still at
/// risk (i started before, i censored at 0.25, ..., 0.5i - 0.25 h), so the surviving share is
/// prod (1 - 1/(20 - 2j)), j = 0..i; p50 is the first wait where it is at most 0.5; p90 and p99
/// are never reached: lower bounds at the largest wait seen (job 10 censored at 4.75 h).
#[test]
fn kaplan_meier_percentiles_of_a_censored_sample_by_hand() {
    let o = run(OVERLOAD);
    let w = &o.tenants[0].wait_s;
    let mut surv = 1.0;
    let mut p50 = None;
    for i in 0..10 {
        surv *= 1.0 - 1.0 / (20.0 - 2.0 * i as f64);
        if surv <= 0.5 && p50.is_none() {
            p50 = Some(0.5 * i as f64 * H);
        }
    }
    assert_eq!(p50, Some(3.5 * H)); // the product reaches 0.4698 at i = 7
    assert!(surv > 0.1, "{surv}");
    assert_eq!((w.jobs, w.censored), (20, 10));
    assert_eq!((w.p50, w.p50_lower_bound), (3.5 * H, false));
    assert_eq!((w.p90, w.p90_lower_bound), (4.75 * H, true));
    assert_eq!((w.p99, w.p99_lower_bound), (4.75 * H, true));
    assert!(close(w.waited_share, 19.0 / 20.0));
    // Equal work per job: the weighted estimate is the same; one gang class (64 chips).
    let ww = &o.tenants[0].wait_weighted_s;
    assert_eq!((ww.p50, ww.p90, ww.p90_lower_bound), (w.p50, w.p90, true));
    let g = &o.tenants[0].wait_by_gang_s;
    assert_eq!((g.le_64.jobs, g.le_512.jobs), (20, 0));
    assert_eq!(g.le_64.p50, w.p50);
    // Started jobs only (the old key) read 2 h at p50: the unstarted half is missing there.
    assert_eq!(o.tenants[0].queue_delay_s.p50, 2.0 * H);
}

/// Queued jobs at the samples of the last quarter (7.5, 8, ..., 9.5 h): submitted 2t, started
/// floor(t - 0.25) + 1: 7, 8, 8, 9, 9; the least-squares slope is 1 job per hour (lambda - c
/// mu = 2 - 1), 64 chip-hours per hour.
#[test]
fn overload_backlog_grows_and_is_flagged() {
    let o = run(OVERLOAD);
    let a = &o.tenants[0];
    assert!(a.backlog_growing);
    assert!(close(a.backlog_slope_chip_hours_per_h, 64.0), "{a:?}");
    let queued: Vec<(u64, u64)> = o
        .timeseries
        .iter()
        .filter(|s| s.series == "a" && s.time_s >= 27_000)
        .map(|s| (s.time_s, s.jobs_queued))
        .collect();
    assert_eq!(
        queued,
        [
            (27_000, 7),
            (28_800, 8),
            (30_600, 8),
            (32_400, 9),
            (34_200, 9)
        ]
    );
    // Per generation: the jobs name none, so they wait under `*gen:any*`, counted once.
    let any: Vec<f64> = o
        .timeseries
        .iter()
        .filter(|s| s.series == "*gen:any*" && s.time_s == 34_200)
        .map(|s| s.work_queued)
        .collect();
    assert_eq!(any, [9.0 * 64.0]);
}

/// Reservation delivery by hand: 128 chips; b's one non-preemptible 128-chip job runs from 0
/// to 3 h, borrowing the owner's idle reserved 64; the owner asks for 64 chips at 1 h and gets
/// them at 3 h for 1 h. Asked 3 h x 64; short 2 h x 64, of which 1 h older than an hour.
const DELIVERY: &str = r#"
horizon = "6h"
[policy]
reclaim = "immediate"
[fleet.generations.trn2]
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 128
[cohorts.all]
[tenants.owner]
cohort = "all"
[tenants.owner.reservation.trn2]
chips = 64
start = 0
[tenants.b]
cohort = "all"
[tenants.b.quota.trn2]
nominal_chips = 64
[demand.b]
kind = "jobs"
tenant = "b"
jobs = [{ at = 0, chips = 128, run_time = "3h", preemptible = false }]
[demand.owner]
kind = "jobs"
tenant = "owner"
jobs = [{ at = "1h", chips = 64, run_time = "1h" }]
"#;

#[test]
fn reservation_delivery_within_0_grace_1h_1d_by_hand() {
    let o = run(DELIVERY);
    let owner = &o.tenants[0];
    assert_eq!(owner.wait_s.p50, 2.0 * H);
    let r = owner.reservation_delivered.as_ref().expect("owner");
    assert!(close(r.chip_hours_asked, 3.0 * 64.0), "{r:?}");
    assert_eq!(r.grace_s, 0);
    assert!(close(r.within_0, 1.0 / 3.0), "{r:?}");
    assert!(close(r.within_grace, 1.0 / 3.0), "{r:?}");
    assert!(close(r.within_1h, 2.0 / 3.0), "{r:?}");
    assert!(close(r.within_1d, 1.0), "{r:?}");
    assert!(o.tenants[1].reservation_delivered.is_none());
    assert_conserved(&o, "delivery");
}

/// A reservation that fills the fleet exactly: the owner reserves all 1,024 chips, never lent
/// (`exclusive = 1`), and runs sixteen 64-chip, 10 h jobs from 0; the other tenant, with no
/// quota of its own, can never start its four 1 h jobs. By hand: the owner is served all 10,240
/// chip-hours it asked for, at once (delivered within 0: 1); the other is served nothing
/// (4 jobs never started, 256 chip-hours unserved, waits censored at the 12 h horizon, so its
/// p50 is a lower bound of 12 h); the fleet is busy 10,240 of 12,288 chip-hours.
#[test]
fn a_reservation_that_fills_the_fleet_exactly_by_hand() {
    let o = run(r#"
horizon = "12h"
[fleet.generations.trn2]
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 1024
[cohorts.all]
[tenants.owner]
cohort = "all"
[tenants.owner.reservation.trn2]
chips = 1024
exclusive = 1.0
[tenants.other]
cohort = "all"
[demand.owner]
kind = "jobs"
tenant = "owner"
jobs = [{ at = 0, chips = 64, run_time = "10h", count = 16 }]
[demand.other]
kind = "jobs"
tenant = "other"
jobs = [{ at = 0, chips = 64, run_time = "1h", count = 4 }]
"#);
    let (owner, other) = (&o.tenants[0], &o.tenants[1]);
    assert!(close(owner.work.work_served, 10_240.0), "{:?}", owner.work);
    assert!(close(owner.work.served_share, 1.0));
    assert_eq!((owner.wait_s.p99, owner.wait_s.waited_share), (0.0, 0.0));
    let r = owner.reservation_delivered.as_ref().expect("owner");
    assert!(close(r.within_0, 1.0), "{r:?}");
    assert_eq!((other.jobs_never_started, other.jobs_completed), (4, 0));
    assert!(close(other.work.work_unserved, 256.0), "{:?}", other.work);
    assert_eq!(other.work.served_share, 0.0);
    assert_eq!(other.wait_s.p50, 12.0 * H);
    assert!(other.wait_s.p50_lower_bound && other.wait_s.censored == 4);
    assert!(
        close(o.fleet.utilization, 10_240.0 / 12_288.0),
        "{}",
        o.fleet.utilization
    );
    assert_conserved(&o, "filled");
}

/// Graceful reclaim with a 30 min grace: the owner asks at 1 h and gets its chips at 1.5 h,
/// all within the grace; b (preemptible, checkpoint every 20 min) keeps 1 h 20 min of progress,
/// loses 10 min x 128 chips, waits until the owner finishes at 2.5 h, and has done 1 h 20 min
/// + 2.5 h = 3 h 50 min of its 5 h by the 6 h horizon.
#[test]
fn work_conserved_with_preemption_by_hand() {
    let text = DELIVERY
        .replace(
            "reclaim = \"immediate\"",
            "reclaim = \"graceful\"\ngrace = \"30m\"",
        )
        .replace(
            "run_time = \"3h\", preemptible = false",
            "run_time = \"5h\", checkpoint = \"20m\"",
        );
    let o = run(&text);
    let (owner, b) = (&o.tenants[0], &o.tenants[1]);
    assert_eq!(b.preemptions, 1);
    assert!(close(b.chip_hours_lost, 128.0 / 6.0), "{b:?}");
    let done_h = 4.0 / 3.0 + 3.5;
    assert!(close(b.work.work_served, done_h * 128.0), "{:?}", b.work);
    assert!(close(b.work.work_unserved, (5.0 - done_h) * 128.0));
    assert!(close(owner.work.work_served, 64.0));
    let r = owner.reservation_delivered.as_ref().unwrap();
    assert!(close(r.within_0, 1.0 - 0.5 / 1.5), "{r:?}");
    assert!(close(r.within_grace, 1.0), "{r:?}");
    assert_conserved(&o, "preemption");
}

#[test]
fn work_conserved_on_shipped_scenarios() {
    for name in [
        "demo-small",
        "anchor-reservation",
        "reclaim-policy",
        "anchor-fp8",
    ] {
        let path = root().join(format!("scenarios/{name}.toml"));
        let text = std::fs::read_to_string(&path).unwrap();
        let sets = [("horizon".to_string(), "\"2w\"".to_string())];
        let sets: &[(String, String)] = if name == "demo-small" { &[] } else { &sets };
        let s = Scenario::from_toml(
            &text,
            path.to_str().unwrap(),
            &root().join("scenarios"),
            sets,
            &|p: &Path| std::fs::read_to_string(p),
        )
        .unwrap();
        let o = fleet::run(&s, s.seed).unwrap();
        assert_conserved(&o, name);
        assert!(o.tenants.iter().any(|t| t.work.work_served > 0.0), "{name}");
    }
}

#[test]
fn bless_fleet_golden() {
    let golden = root().join("tests/golden/fleet/small.json");
    let o = Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .args(["plan", "tests/golden/fleet/small.toml", "--format", "json"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(o.status.success());
    if std::env::var_os("TRNSIM_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&golden, &o.stdout).unwrap();
    }
    let want = std::fs::read(&golden).unwrap();
    assert!(
        o.stdout == want,
        "small.json is stale: TRNSIM_BLESS=1 cargo test --release --test fleet_metrics bless_fleet_golden"
    );
}
