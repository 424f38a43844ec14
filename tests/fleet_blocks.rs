//! Capacity Blocks with known answers: booking against hand-built calendars (accepted at once,
//! after a reservation, refused when the lead window closes or nothing is ever large enough),
//! the 11:30 day grid, delivery (chips x (length - 30 min)), a block evicting a running job,
//! located errors, determinism, and refused blocks changing nothing else.

use trnsim::fleet::{self, Outcome, RunOptions, Scenario, SpeedupRunTime};

const D: u64 = 86_400;
/// 11:30 UTC.
const TOD: u64 = 41_400;

fn scenario(text: &str) -> Result<Scenario, String> {
    Scenario::from_toml(text, "test.toml", ".".as_ref(), &[], &|_| unreachable!())
        .map_err(|e| e.to_string())
}

fn run(s: &Scenario) -> Outcome {
    let opts = RunOptions {
        check_invariants: true,
        ..RunOptions::default()
    };
    fleet::sim::run_with(s, s.seed, &SpeedupRunTime, &opts).unwrap()
}

/// Index of a tenant's metrics.
fn ti(o: &Outcome, name: &str) -> usize {
    o.tenants.iter().position(|t| t.tenant == name).unwrap()
}

/// 1,024 Trn2 chips; an anchor reserves 512 over days 2-10; a buyer's listed requests.
fn calendar_scenario(requests: &str) -> String {
    format!(
        r#"
horizon = "14d"
[fleet.generations.trn2]
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 1024
[tenants.anchor.reservation.trn2]
chips = 512
start = "2d"
end = "10d"
[tenants.buyer]
[demand.blocks]
kind = "capacity_blocks"
tenant = "buyer"
generation = "trn2"
requests = {requests}
"#
    )
}

#[test]
fn requests_fit_at_once_wait_for_a_reservation_or_are_refused() {
    // R1: 32 instances (512 chips) for 1 day: free at once, starts at 11:30 on day 0.
    // R2: 64 instances (1,024 chips) for 2 days: R1 holds 512 until day 1 11:30 and the
    //     reservation 512 over days 2-10, so the first 11:30 start with 1,024 free for two
    //     days is day 10.
    // R3: 1,024 chips for 1 day, but no later than day 9: refused.
    // R4: 16 instances (256 chips) for 2 days from day 3: 1,024 - 512 reserved fits; starts
    //     day 3 11:30.
    let s = scenario(&calendar_scenario(
        r#"[
  { at = 0, instances = 32, duration = "1d" },
  { at = 0, instances = 64, duration = "2d" },
  { at = 0, instances = 64, duration = "1d", start_before = "9d" },
  { at = "3d", ultraservers = 4, duration = "2d" },
]"#,
    ))
    .unwrap();
    let o = run(&s);
    let b = &o.tenants[ti(&o, "buyer")].capacity_blocks["trn2"];
    assert_eq!((b.requested, b.accepted, b.refused), (4, 3, 1));
    // Leads: R1 11.5 h, R4 11.5 h, R2 10 d 11.5 h.
    assert_eq!(b.lead_time_s.count, 3);
    assert_eq!(b.lead_time_s.p50, TOD as f64);
    assert_eq!(b.lead_time_s.max, (10 * D + TOD) as f64);
    // Nothing in the way: every accepted block delivers chips x (length - 30 min).
    let want = 512.0 * 23.5 + 1024.0 * 47.5 + 256.0 * 47.5;
    assert_eq!(b.block_hours_booked, want);
    assert_eq!(b.block_hours_delivered, want);
    assert_eq!(b.late_starts, 0);
    // The blocks count in the holder's usage and in the fleet's.
    let buyer = &o.tenants[ti(&o, "buyer")];
    assert_eq!(buyer.chip_hours_served, want);
    assert_eq!(buyer.chip_hours_accounted, want);
    assert_eq!(o.fleet.chip_hours_allocated, want);
}

#[test]
fn blocks_start_on_the_end_time_of_day_grid() {
    let text = calendar_scenario(r#"[{ at = "1h", instances = 1, duration = "1d" }]"#);
    let o = run(&scenario(&text).unwrap());
    assert_eq!(
        o.tenants[ti(&o, "buyer")].capacity_blocks["trn2"]
            .lead_time_s
            .p50,
        (TOD - 3600) as f64
    );
    // At midnight, a request made at 01:00 starts the next midnight; one made at 0, at 0.
    let midnight = text.replace(
        "generation = \"trn2\"\nrequests",
        "generation = \"trn2\"\nend_time_of_day = \"00:00\"\nrequests",
    );
    let o = run(&scenario(&midnight).unwrap());
    assert_eq!(
        o.tenants[ti(&o, "buyer")].capacity_blocks["trn2"]
            .lead_time_s
            .p50,
        (D - 3600) as f64
    );
}

#[test]
fn a_block_larger_than_the_fleet_ever_has_is_refused_and_warned_about() {
    let text = calendar_scenario(r#"[{ at = 0, instances = 64, duration = "1d" }]"#)
        .replace("chips = 1024", "chips = 512");
    let s = scenario(&text).unwrap();
    assert_eq!(s.warnings.len(), 1);
    let w = s.warnings[0].to_string();
    assert!(
        w.starts_with(
            "test.toml:17:23: demand.blocks.requests[0].instances: a block of 1024 chips is more than trn2 can hold (4096 chips per cluster, 512 installed at most)"
        ),
        "{w}"
    );
    let o = run(&s);
    let b = &o.tenants[ti(&o, "buyer")].capacity_blocks["trn2"];
    assert_eq!((b.requested, b.accepted, b.refused), (1, 0, 1));
    assert_eq!(b.block_hours_delivered, 0.0);
}

#[test]
fn a_block_evicts_a_running_job_at_its_start() {
    // 128 chips; a 128-chip job (10 days of work, checkpoints every hour) runs from 0. A block
    // of 4 instances (64 chips) for 1 day starts at 11:30: the job is evicted, losing the
    // 30 min since its 11:00 checkpoint on 128 chips (64 chip-hours), and waits for the
    // block's end (day 1 11:30) to run its remaining 10 d - 11 h.
    let text = r#"
horizon = "12d"
[fleet.generations.trn2]
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 128
[tenants.lab.quota.trn2]
nominal_share = 1.0
[tenants.buyer]
[demand.lab]
kind = "jobs"
tenant = "lab"
checkpoint = "1h"
jobs = [{ at = 0, chips = 128, run_time = "10d" }]
[demand.blocks]
kind = "capacity_blocks"
tenant = "buyer"
generation = "trn2"
requests = [{ at = 0, instances = 4, duration = "1d" }]
"#;
    let o = run(&scenario(text).unwrap());
    let lab = &o.tenants[ti(&o, "lab")];
    assert_eq!(lab.preemptions, 1);
    assert_eq!(lab.chip_hours_lost, 64.0);
    assert_eq!(lab.jobs_completed, 1);
    let end = D + TOD;
    let finish = end + 10 * D - 11 * 3600;
    assert_eq!(lab.jct_s.max, finish as f64);
    let b = &o.tenants[ti(&o, "buyer")].capacity_blocks["trn2"];
    assert_eq!(b.block_hours_delivered, 64.0 * 23.5);
    assert_eq!(b.late_starts, 0);
    // The fleet held the job, then the block, then the job again.
    let held_chip_s = 128 * TOD + 64 * (end - 1800 - TOD) + 128 * (finish - end);
    assert_eq!(o.fleet.chip_hours_allocated, held_chip_s as f64 / 3600.0);
}

#[test]
fn bad_blocks_are_located_errors() {
    let cases = [
        (
            r#"[{ at = 0, instances = 1, duration = "15d" }]"#,
            "demand.blocks.requests[0].duration: 15d is not a Capacity Block length; expected whole days from 1d to 14d, then 7-day steps 21d, 28d, ... 182d",
        ),
        (
            r#"[{ at = 0, instances = 65, duration = "1d" }]"#,
            "demand.blocks.requests[0].instances: 65 instances is 65 instances of trn2; at most 64 instances per Capacity Block",
        ),
        (
            r#"[{ at = 0, ultraservers = 17, duration = "1d" }]"#,
            "demand.blocks.requests[0].ultraservers: 17 ultraservers is 68 instances of trn2; at most 64",
        ),
        (
            r#"[{ at = 0, instances = 1, duration = "1d", start_before = "9w" }]"#,
            "demand.blocks.requests[0].start_before: 5443200 s is more than 8 weeks ahead",
        ),
    ];
    for (requests, want) in cases {
        let e = scenario(&calendar_scenario(requests)).unwrap_err();
        assert!(e.starts_with("test.toml:"), "{e}");
        assert!(e.contains(want), "{e}\nwanted: {want}");
        // Located at a line and column of the file.
        let loc: Vec<&str> = e.splitn(4, ':').collect();
        assert!(
            loc[1].parse::<u32>().is_ok() && loc[2].parse::<u32>().is_ok(),
            "{e}"
        );
    }
    let e = scenario(
        &calendar_scenario("[]").replace("requests = []", "rate = \"2/w\"\nduration = \"1d\""),
    )
    .unwrap_err();
    assert!(
        e.contains("demand.blocks: expected one of the keys instances, ultraservers"),
        "{e}"
    );
    let e = scenario(&calendar_scenario("[]").replace(
        "requests = []",
        "rate = \"2/w\"\ninstances = 4\nduration = \"1d\"\nstart_before = \"57d\"",
    ))
    .unwrap_err();
    assert!(
        e.contains("demand.blocks.start_before: 4924800 s is more than 8 weeks"),
        "{e}"
    );
}

/// A year of Poisson requests, 2 a week, of 1 to 4 UltraServers for 1 to 4 weeks.
fn poisson_scenario() -> String {
    calendar_scenario("[]")
        .replace("horizon = \"14d\"", "horizon = \"52w\"")
        .replace(
            "requests = []",
            r#"rate = "2/w"
ultraservers = { dist = "empirical", values = [1, 2, 4] }
duration = { dist = "empirical", values = ["7d", "14d", "21d", "28d"] }
start_before = "4w""#,
        )
}

#[test]
fn poisson_requests_are_deterministic_and_at_their_rate() {
    let s = scenario(&poisson_scenario()).unwrap();
    let a = serde_json::to_string(&run(&s).summary_json()).unwrap();
    let b = serde_json::to_string(&run(&s).summary_json()).unwrap();
    assert_eq!(a, b);
    let o = run(&s);
    let m = &o.tenants[ti(&o, "buyer")].capacity_blocks["trn2"];
    // 104 expected over 52 weeks: within 4 standard deviations (about 10 each).
    assert!((64..=144).contains(&m.requested), "{}", m.requested);
    assert_eq!(m.accepted + m.refused, m.requested);
    assert!(m.accepted > 0 && m.lead_time_s.p90 <= (4 * 7 * D) as f64);
    // Nothing but blocks on the fleet: everything accepted is delivered in full (within the
    // horizon).
    assert_eq!(m.late_starts, 0);
    assert!((m.block_hours_delivered - m.block_hours_booked).abs() < 1e-6);
    let other = run(&Scenario {
        seed: 1,
        ..s.clone()
    });
    assert_ne!(
        serde_json::to_string(&other.summary_json()).unwrap(),
        a,
        "another seed draws other requests"
    );
}

#[test]
fn refused_blocks_change_nothing_else() {
    // A lab's Poisson jobs on 1,024 chips; the buyer's blocks are all larger than the fleet
    // (refused): every other figure is the run without the stream's bytes.
    let base = r#"
horizon = "30d"
seed = 3
[fleet.generations.trn2]
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 1024
[tenants.lab.quota.trn2]
nominal_share = 1.0
[tenants.buyer]
[demand.lab]
kind = "poisson"
tenant = "lab"
rate_per_hour = 2
chips = { dist = "empirical", values = [64, 128, 256] }
run_time = { dist = "exponential", mean = "4h" }
"#;
    let with = format!(
        "{base}[demand.blocks]\nkind = \"capacity_blocks\"\ntenant = \"buyer\"\n\
         generation = \"trn2\"\nrate = \"3/w\"\ninstances = 64\nduration = \"2d\"\n"
    )
    .replace("chips = 1024", "chips = 960");
    let without = base.replace("chips = 1024", "chips = 960");
    let a = run(&scenario(&without).unwrap());
    let b = run(&scenario(&with).unwrap());
    let m = &b.tenants[ti(&b, "buyer")].capacity_blocks["trn2"];
    assert!(m.requested > 0 && m.accepted == 0);
    let json = |o: &Outcome, t: &str| serde_json::to_string(&o.tenants[ti(o, t)]).unwrap();
    assert_eq!(json(&a, "lab"), json(&b, "lab"));
    assert_eq!(
        serde_json::to_string(&a.fleet).unwrap(),
        serde_json::to_string(&b.fleet).unwrap()
    );
    assert_eq!(a.timeseries.len(), b.timeseries.len());
}

#[test]
fn instance_chips_must_divide_the_ultraserver() {
    let e = scenario(
        "horizon = \"1d\"\n[fleet.generations.x]\nwatts_per_chip = 1000\nultraserver_chips = 64\ninstance_chips = 24\n[tenants.a]\n",
    )
    .unwrap_err();
    assert_eq!(
        e,
        "test.toml:5:1: fleet.generations.x.instance_chips: 24 does not divide ultraserver_chips 64; expected a divisor of it"
    );
    let s = scenario(
        "horizon = \"1d\"\n[fleet.generations.trn2]\n[fleet.generations.trn3]\n[tenants.a]\n",
    )
    .unwrap();
    let chips: Vec<u32> = s
        .fleet
        .generations
        .iter()
        .map(|g| g.instance_chips)
        .collect();
    assert_eq!(chips, [16, 16]);
}

#[test]
fn a_block_whose_chips_cannot_be_freed_at_once_starts_late() {
    // 128 chips. The lab borrows all of them (nominal 0) for a long job from 0. At 11:00 the
    // owner (nominal 128) reclaims 64 with a 1 h grace: the lab's job is evicting until 12:00,
    // and the owner's job is nominated onto one UltraServer. The block (64 chips) starts at
    // 11:30 with no free chip and no running job to evict: it waits, and is placed at 12:00
    // when the lab's job leaves (half to the owner, half free). It delivers 23 h of 23.5.
    let text = r#"
horizon = "3d"
[policy]
name = "kueue"
reclaim = "graceful"
grace = "1h"
[fleet.generations.trn2]
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 128
[cohorts.c]
[tenants.own]
cohort = "c"
quota.trn2.nominal_chips = 128
[tenants.lab]
cohort = "c"
quota.trn2.nominal_chips = 0
[tenants.buyer]
[demand.own]
kind = "jobs"
tenant = "own"
jobs = [{ at = "11h", chips = 64, run_time = "1d" }]
[demand.lab]
kind = "jobs"
tenant = "lab"
jobs = [{ at = 0, chips = 128, run_time = "10d" }]
[demand.blocks]
kind = "capacity_blocks"
tenant = "buyer"
generation = "trn2"
requests = [{ at = 0, instances = 4, duration = "1d" }]
"#;
    let o = run(&scenario(text).unwrap());
    let b = &o.tenants[ti(&o, "buyer")].capacity_blocks["trn2"];
    assert_eq!((b.accepted, b.late_starts), (1, 1));
    assert_eq!(b.block_hours_booked, 64.0 * 23.5);
    assert_eq!(b.block_hours_delivered, 64.0 * 23.0);
    let own = &o.tenants[ti(&o, "own")];
    assert_eq!(own.queue_delay_s.max, 3600.0);
    let lab = &o.tenants[ti(&o, "lab")];
    assert_eq!(lab.preemptions, 1);
}
