//! "Time to N chips" probes (`[probes.NAME]`) against hand-computed answers: an empty fleet, a
//! generation wholly reserved, a running job of known end, a reservation window that cuts a
//! request, the queue ahead drained as a fluid, an owner's holdings inside its reservation;
//! probes change nothing else (the same outcome and the same bytes without them); located
//! errors, strict `--set` names and warnings; determinism.

mod common;

use std::path::Path;

use common::{root, text, trnsim};
use serde_json::Value;
use trnsim::fleet::{self, Outcome, Scenario};

const H: u64 = 3600;
const D: u64 = 86_400;

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "test.toml", ".".as_ref(), &[], &|_| unreachable!()).unwrap()
}

fn run(text: &str) -> Outcome {
    let s = scenario(text);
    fleet::run(&s, s.seed).unwrap()
}

/// 1,024 Trn2 chips (16 UltraServers of 64, one cluster) for 10 days, tenant `a` with a quota of
/// all of them, then `extra` (tenant settings, demand, probes).
fn fleet(extra: &str) -> String {
    format!(
        r#"
horizon = "10d"
[policy]
quota_step = "1h"
[fleet.generations.trn2]
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 1024
[tenants.a.quota.trn2]
nominal_chips = 1024
{extra}
"#
    )
}

/// The probe's series as (time, wait) pairs.
fn series(o: &Outcome) -> Vec<(u64, Option<u64>)> {
    o.probes[0].series.clone()
}

#[test]
fn empty_fleet_waits_zero_at_every_probe_time() {
    let o = run(&fleet(
        r#"[probes.p]
generation = "trn2"
chips = 512
duration = "1d"
every = "1d""#,
    ));
    let p = &o.probes[0];
    assert_eq!((p.probe_times, p.unserved, p.chips), (10, 0, 512));
    // Every probe time gets a start, even the last: it must start, not end, before the horizon.
    let want: Vec<(u64, Option<u64>)> = (0..10).map(|k| (k * D, Some(0))).collect();
    assert_eq!(p.series, want);
    let w = p.wait_s.as_ref().unwrap();
    assert_eq!((w.p50, w.p90, w.max), (0.0, 0.0, 0.0));
}

#[test]
fn a_wholly_reserved_generation_is_unserved_at_every_probe_time() {
    for exclusive in ["0.0", "1.0"] {
        let o = run(&fleet(&format!(
            r#"[tenants.a.reservation.trn2]
chips = 1024
exclusive = {exclusive}
[probes.p]
generation = "trn2"
chips = 64
duration = "1h"
every = "12h"
start = "1h"
end = "9d""#
        )));
        let p = &o.probes[0];
        // 1 h, 13 h, ..., 205 h: 18 probe times before 9 days, none served.
        assert_eq!(
            (p.probe_times, p.unserved),
            (18, 18),
            "exclusive {exclusive}"
        );
        assert!(p.wait_s.is_none());
        assert_eq!(p.series[0], (H, None));
        assert_eq!(p.series[17], (205 * H, None));
    }
}

#[test]
fn a_running_job_holds_its_chips_until_its_end() {
    // The whole fleet for 30 h from 0: a probe at 0 waits 30 h, at 1 d 6 h, at 2 d none.
    let o = run(&fleet(
        r#"[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 1024, run_time = "30h" }]
[probes.p]
generation = "trn2"
chips = 512
duration = "1h"
every = "1d"
end = "3d""#,
    ));
    assert_eq!(
        series(&o),
        [(0, Some(30 * H)), (D, Some(6 * H)), (2 * D, Some(0))]
    );
    let w = o.probes[0].wait_s.as_ref().unwrap();
    assert_eq!((w.p50, w.max), ((6 * H) as f64, (30 * H) as f64));
}

#[test]
fn a_reservation_starting_later_cuts_the_window() {
    // 768 of 1,024 chips reserved over [2 d, 5 d): 512 chips for 2 days fit from 0 (ending
    // exactly at 2 d), but from 1 d to 4 d only after the reservation ends.
    let o = run(&fleet(
        r#"[tenants.b.reservation.trn2]
chips = 768
start = "2d"
end = "5d"
[probes.p]
generation = "trn2"
chips = 512
duration = "2d"
every = "1d"
end = "7d""#,
    ));
    let want: Vec<(u64, Option<u64>)> = [0, 4, 3, 2, 1, 0, 0]
        .iter()
        .enumerate()
        .map(|(k, &w)| (k as u64 * D, Some(w * D)))
        .collect();
    assert_eq!(series(&o), want);
}

#[test]
fn the_queue_ahead_drains_as_a_fluid_first() {
    // At 0 a 1,024-chip job runs for 10 h and a 512-chip, 4 h job waits behind it: 512 x 4 h
    // = 7,372,800 chip-s poured into 1,024 free chips from 10 h drain in 2 h, so the probe
    // starts at T_q = 12 h (the fluid ignores that 512 chips were free from 10 h on).
    let o = run(&fleet(
        r#"[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 1024, run_time = "10h" }, { at = 0, chips = 512, run_time = "4h" }]
[probes.p]
generation = "trn2"
chips = 512
duration = "1h"
every = "1h"
end = "12h""#,
    ));
    let s = series(&o);
    assert_eq!(s[0], (0, Some(12 * H)));
    // At 9 h the same: the queue has not moved.
    assert_eq!(s[9], (9 * H, Some(3 * H)));
    // At 10 h the waiting job runs (to 14 h) beside 512 free chips: no queue, no wait.
    assert_eq!(s[10], (10 * H, Some(0)));
    // The run itself is as without the probe: the small job started at 10 h.
    assert_eq!(o.tenants[0].queue_delay_s.max, (10 * H) as f64);
}

#[test]
fn an_owners_holdings_inside_its_reservation_are_not_counted_twice() {
    // Tenant a owns 512 of 1,024 chips (reserved, already off the calendar). Holding just its
    // reservation leaves the other 512 free at once; holding all 1,024 for 30 h (512 beyond its
    // reservation) leaves nothing free until 30 h.
    for (chips, wait) in [(512, 0), (1024, 30 * H)] {
        let o = run(&fleet(&format!(
            r#"[tenants.a.reservation.trn2]
chips = 512
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{{ at = 0, chips = {chips}, run_time = "30h" }}]
[probes.p]
generation = "trn2"
chips = 512
duration = "1h"
every = "1d"
end = "1d""#
        )));
        assert_eq!(series(&o), [(0, Some(wait))], "owner holding {chips}");
    }
}

/// `text` with a probe on generation `gen_` appended.
fn with_probe(text: &str, gen_: &str) -> String {
    format!(
        "{text}\n[probes.probe_a]\ngeneration = \"{gen_}\"\nchips = 256\nduration = \"6h\"\nevery = \"3h\"\n\
         [probes.probe_b]\ngeneration = \"{gen_}\"\nchips = 2048\nduration = \"1d\"\nevery = \"1d\"\nstart = \"2h\"\n"
    )
}

/// The first generation a scenario declares.
fn first_generation(text: &str) -> String {
    let at = text.find("[fleet.generations.").unwrap() + "[fleet.generations.".len();
    text[at..].split(']').next().unwrap().to_string()
}

/// Shipped scenarios (EASY and best-effort backfill, reservations, failures, preemption,
/// workloads) give the same outcome, every field and the time series, with probes as without.
#[test]
fn probes_change_nothing_else() {
    let cases: [(&str, &[(&str, &str)]); 7] = [
        ("tests/golden/fleet/small.toml", &[]),
        (
            "tests/golden/fleet/small.toml",
            &[("policy.backfill", "\"none\"")],
        ),
        ("scenarios/demo-small.toml", &[]),
        // UltraServers failing (about 8 a day) and repaired: chips down in the probes' answers.
        (
            "scenarios/demo-small.toml",
            &[
                ("fleet.generations.trn2.mtbf", "\"2d\""),
                ("fleet.generations.trn2.repair", "\"6h\""),
            ],
        ),
        ("scenarios/reclaim-policy.toml", &[]),
        ("scenarios/delivery-delay.toml", &[("horizon", "\"4w\"")]),
        (
            "scenarios/anchor-reservation.toml",
            &[("horizon", "\"3w\"")],
        ),
    ];
    for (file, sets) in cases {
        let path = root().join(file);
        let written = std::fs::read_to_string(&path).unwrap();
        // The shipped anchor scenario has a probe: take it out for the run without.
        let base = written
            .split("\n# Time to N chips")
            .next()
            .unwrap()
            .to_string();
        let probed = with_probe(&base, &first_generation(&base));
        let sets: Vec<(String, String)> = sets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let load = |t: &str| {
            let s = Scenario::from_toml(t, file, path.parent().unwrap(), &sets, &|p| {
                std::fs::read_to_string(p)
            })
            .unwrap();
            let opts = fleet::RunOptions {
                record_jobs: true,
                ..Default::default()
            };
            let table = fleet::WorkloadRunTime::build(&s, &Default::default()).unwrap();
            fleet::run_timed(&s, s.seed, &table, &opts).unwrap()
        };
        let plain = load(&base);
        let mut with = load(&probed);
        assert!(plain.probes.is_empty());
        assert_eq!(with.probes.len(), 2, "{file}");
        assert!(with.probes[0].probe_times > 0, "{file}");
        if file.contains("demo") && !sets.is_empty() {
            assert!(with.fleet.failures > 0);
        }
        with.probes.clear();
        assert!(with == plain, "{file}: probes changed the run");
    }
}

/// `plan --out` with and without probes: metrics.csv and timeseries.csv byte for byte, and
/// summary.json byte for byte once its `probes` key is removed.
#[test]
fn probes_change_no_byte_of_the_other_outputs() {
    let dir = std::env::temp_dir().join(format!("trnsim-probes-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = std::fs::read_to_string(root().join("scenarios/reclaim-policy.toml")).unwrap();
    let gen_ = first_generation(&base);
    // Both name themselves (`name = "reclaim-policy"`), so the outputs do not differ by file name.
    std::fs::write(dir.join("plain.toml"), &base).unwrap();
    std::fs::write(dir.join("probed.toml"), with_probe(&base, &gen_)).unwrap();
    let out = |name: &str| {
        let o = trnsim(&[
            "plan",
            dir.join(format!("{name}.toml")).to_str().unwrap(),
            "--out",
            dir.join(name).to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", text(&o.stderr));
        dir.join(name)
    };
    let (a, b) = (out("plain"), out("probed"));
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    for f in ["metrics.csv", "timeseries.csv"] {
        assert!(read(&a, f) == read(&b, f), "{f} differs");
    }
    let mut probed: Value = serde_json::from_slice(&read(&b, "summary.json")).unwrap();
    let probes = probed.as_object_mut().unwrap().remove("probes").unwrap();
    assert_eq!(probes.as_array().unwrap().len(), 2);
    assert!(probes[0]["series"].as_array().unwrap().len() > 1);
    // The files differ by the probe table, so their hashes do; every other byte is the same.
    let mut plain: Value = serde_json::from_slice(&read(&a, "summary.json")).unwrap();
    let hashes =
        [&mut probed, &mut plain].map(|v| v.as_object_mut().unwrap().remove("scenario_hash"));
    assert_ne!(hashes[0], hashes[1]);
    assert!(
        serde_json::to_string_pretty(&probed).unwrap()
            == serde_json::to_string_pretty(&plain).unwrap(),
        "summary.json differs"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn probes_are_deterministic_and_named_as_metrics() {
    let demo = std::fs::read_to_string(root().join("scenarios/demo-small.toml")).unwrap();
    let probed = with_probe(&demo, "trn2");
    let (a, b) = (run(&probed), run(&probed));
    assert_eq!(a, b);
    assert_eq!(a.summary_json(), b.summary_json());
    let j = a.summary_json();
    assert_eq!(j["probes"][0]["name"], "probe_a");
    assert_eq!(j["probes"][0]["duration_s"], 6 * H);
    assert!(j["probes"][0]["series"][0].is_array());
    // The sweep names a probe's figures by its name; its series is not a metric.
    let o = trnsim(&["plan", "scenarios/demo-small.toml", "--format", "json"]);
    assert!(o.status.success());
    assert!(!text(&o.stdout).contains("\"probes\""));
}

fn error(text: &str, sets: &[(&str, &str)]) -> String {
    let sets: Vec<(String, String)> = sets
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Scenario::from_toml(text, "test.toml", ".".as_ref(), &sets, &|_| unreachable!())
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_probes_are_located_errors() {
    let probe = |body: &str| fleet(&format!("[probes.p]\n{body}"));
    let ok = "generation = \"trn2\"\nchips = 64\nduration = \"1h\"\nevery = \"1d\"";
    // `[probes.p]` is line 12 of `fleet`'s text; its keys follow, one a line.
    assert_eq!(
        error(&probe(&ok.replace("\"trn2\"", "\"trn9\"")), &[]),
        "test.toml:13:1: probes.p.generation: unknown generation 'trn9'; expected one of: trn2"
    );
    assert_eq!(
        error(&probe(&ok.replace("64", "0")), &[]),
        "test.toml:14:1: probes.p.chips: a probe asks for at least 1 chip"
    );
    assert_eq!(
        error(&probe(&ok.replace("\"1d\"", "0")), &[]),
        "test.toml:16:1: probes.p.every: a probe is taken at least every 1 s"
    );
    assert_eq!(
        error(&probe(&format!("{ok}\nstart = \"2d\"\nend = \"1d\"")), &[]),
        "test.toml:18:1: probes.p.end: the probe window is empty: start 172800 s is not before end 86400 s"
    );
    assert_eq!(
        error(&probe(&format!("{ok}\nstart = \"10d\"")), &[]),
        "test.toml:17:1: probes.p.start: the probe window is empty: start 864000 s is not before end 864000 s"
    );
    // Strict names: a probe the file does not declare.
    assert_eq!(
        error(&probe(ok), &[("probes.q.chips", "64")]),
        "test.toml (--set): probes.q: no probe 'q' in the scenario; declared: p"
    );
    assert_eq!(
        error(&fleet(""), &[("probes.q.chips", "64")]),
        "test.toml (--set): probes.q: no probe 'q' in the scenario; it declares none"
    );
    // A declared probe's values may change.
    let s = Scenario::from_toml(
        &probe(ok),
        "test.toml",
        ".".as_ref(),
        &[("probes.p.chips".into(), "128".into())],
        &|_| unreachable!(),
    )
    .unwrap();
    assert_eq!(s.probes[0].chips, 128);
}

#[test]
fn bad_probe_exits_2_from_the_command_line() {
    let o = trnsim(&[
        "plan",
        "scenarios/anchor-reservation.toml",
        "--set",
        "probes.trn3_4068.chips=64",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("probes.trn3_4068: no probe 'trn3_4068' in the scenario; declared: trn3_4608"),
        "{err}"
    );
}

#[test]
fn a_probe_no_generation_can_hold_is_warned_and_never_served() {
    let probe = |chips: u64| {
        fleet(&format!(
            "[probes.p]\ngeneration = \"trn2\"\nchips = {chips}\nduration = \"1h\"\nevery = \"1d\""
        ))
    };
    // More than the generation ever has.
    let s = scenario(&probe(2048));
    assert_eq!(s.warnings.len(), 1);
    assert_eq!(
        s.warnings[0].to_string(),
        "test.toml:14:1: probes.p.chips: 2048 chips is more than trn2 will ever have (1024 chips): never served"
    );
    let o = fleet::run(&s, s.seed).unwrap();
    assert_eq!((o.probes[0].probe_times, o.probes[0].unserved), (10, 10));
    // More than one cluster places (a cluster of 2 UltraServers here).
    let small_cluster = probe(192).replace(
        "[fleet.generations.trn2]",
        "[fleet.generations.trn2]\nultraservers_per_cluster = 2",
    );
    let s = scenario(&small_cluster);
    assert_eq!(s.warnings.len(), 1);
    assert!(
        s.warnings[0]
            .message
            .contains("cannot be placed as one gang on trn2"),
        "{}",
        s.warnings[0]
    );
    let o = fleet::run(&s, s.seed).unwrap();
    assert_eq!(o.probes[0].unserved, 10);
    // One that fits: no warning.
    assert!(scenario(&probe(1024)).warnings.is_empty());
}

/// A Capacity Block is seen by a probe from its request on, not before: all 1,024 chips are
/// booked on day 2 for 7 days from 11:30 that day (the first start on the day grid), so a
/// one-day request for 1,024 chips waits for the block's end from then on, and not at all on
/// days 0 and 1.
#[test]
fn a_probe_sees_a_capacity_block_from_its_request_on() {
    let o = run(&fleet(
        r#"[tenants.b.quota.trn2]
nominal_chips = 0
[demand.blocks]
kind = "capacity_blocks"
tenant = "b"
generation = "trn2"
requests = [{ at = "2d", ultraservers = 16, duration = "7d" }]
[probes.p]
generation = "trn2"
chips = 1024
duration = "1d"
every = "1d""#,
    ));
    let block_end = 9 * D + 11 * H + 1800;
    let want: Vec<(u64, Option<u64>)> = (0..10)
        .map(|k| {
            let p = k * D;
            (p, Some(if k < 2 { 0 } else { block_end - p }))
        })
        .collect();
    assert_eq!(o.probes[0].series, want);
}
