//! Kueue semantics (scheduling.md sections 1 and 3) as table-driven tests: cases K1-K5 run
//! through the simulator (allocations read from the time series), and the fair-sharing sequence
//! of Kueue's integration test, including the share values.

use trnsim::fleet::quota::QuotaTree;
use trnsim::fleet::{Scenario, run};

/// A cohort case: fleet capacity, the scenario body (tenants, cohorts, demand, policy), and
/// expected (time, tenant, allocated chips).
struct Case {
    name: &'static str,
    capacity: u64,
    body: &'static str,
    expect: &'static [(u64, &'static str, u64)],
}

fn allocation_at(case: &Case) -> Vec<(u64, String, u64)> {
    let text = format!(
        r#"
horizon = 2000
report_interval = 1
[fleet.generations.pool]
watts_per_chip = 1000
ultraserver_chips = {c}
ultraservers_per_cluster = 1
[[fleet.deliveries]]
at = 0
generation = "pool"
ultraservers = 1
{body}
"#,
        c = case.capacity,
        body = case.body
    );
    let s = Scenario::from_toml(&text, case.name, ".".as_ref(), &[], &|_| unreachable!())
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let out = run(&s, 1).unwrap();
    case.expect
        .iter()
        .map(|&(t, tenant, _)| {
            let got = out
                .timeseries
                .iter()
                .find(|x| x.time_s == t && x.series == tenant)
                .unwrap_or_else(|| panic!("{}: no sample at {t} for {tenant}", case.name))
                .chips_allocated;
            (t, tenant.to_string(), got)
        })
        .collect()
}

/// K7's cohort, quotas and demand (the two K7 cases differ only in the fair-sharing strategies).
macro_rules! k7_fleet {
    () => {
        r#"[cohorts.all]
[tenants.a]
cohort = "all"
quota.pool.nominal_chips = 6
[tenants.b]
cohort = "all"
quota.pool.nominal_chips = 6
[tenants.c]
cohort = "all"
quota.pool.nominal_chips = 6
[demand.bc]
kind = "jobs"
tenant = "b"
jobs = [{ at = 0, chips = 5, run_time = 100000 }, { at = 1, chips = 4, run_time = 100000 }]
[demand.cc]
kind = "jobs"
tenant = "c"
jobs = [{ at = 0, chips = 5, run_time = 100000 }, { at = 1, chips = 4, run_time = 100000 }]
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 10, chips = 7, run_time = 100000 }]
"#
    };
}

const CASES: &[Case] = &[
    Case {
        name: "K1: a=9, b=12; with b idle a reaches 21",
        capacity: 21,
        body: r#"
[cohorts.c]
[tenants.a]
cohort = "c"
quota.pool.nominal_chips = 9
[tenants.b]
cohort = "c"
quota.pool.nominal_chips = 12
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 1, run_time = 10000, count = 30 }]
"#,
        expect: &[(1, "a", 21), (1, "b", 0)],
    },
    Case {
        name: "K1: b's pending work goes before a's new work once a is at nominal",
        capacity: 21,
        body: r#"
[cohorts.c]
[tenants.a]
cohort = "c"
quota.pool.nominal_chips = 9
[tenants.b]
cohort = "c"
quota.pool.nominal_chips = 12
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 1, run_time = 10000, count = 9 }, { at = 50, chips = 1, run_time = 10000, count = 5 }]
[demand.b]
kind = "jobs"
tenant = "b"
jobs = [{ at = 0, chips = 1, run_time = 100, count = 12 }, { at = 60, chips = 1, run_time = 10000, count = 12 }]
"#,
        expect: &[(55, "a", 9), (101, "a", 9), (101, "b", 12)],
    },
    Case {
        name: "lender's head that cannot reclaim holds its quota back from borrowers (reserveCapacityForUnreclaimablePreempt)",
        capacity: 4,
        body: r#"
[cohorts.c]
[tenants.a]
cohort = "c"
quota.pool.nominal_chips = 4
preemption.reclaim_within_cohort = "never"
[tenants.b]
cohort = "c"
quota.pool.nominal_chips = 0
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 2, run_time = 100 }, { at = 1, chips = 4, run_time = 100 }]
[demand.b]
kind = "jobs"
tenant = "b"
jobs = [{ at = 1, chips = 2, run_time = 100 }]
"#,
        // At 1 a's 4-chip head fits no quota (2 + 4 > 4 with 2 free), may preempt (4 <= its
        // nominal) but has no victims: it holds its quota back and b does not borrow the 2
        // free chips (lending them, b would run 1-101 and a's head 101-201). a's first job
        // ends at 100, its head runs 100-200, then b 200-300.
        expect: &[
            (2, "a", 2),
            (2, "b", 0),
            (150, "a", 4),
            (150, "b", 0),
            (250, "b", 2),
        ],
    },
    Case {
        name: "a job that must borrow may not preempt without borrow_within_cohort (canPreemptWhileBorrowing)",
        capacity: 4,
        body: r#"
[cohorts.c]
[tenants.a]
cohort = "c"
quota.pool.nominal_chips = 2
preemption.within_queue = "lower_priority"
[tenants.b]
cohort = "c"
quota.pool.nominal_chips = 2
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 1, run_time = 1000, priority = -1 }, { at = 1, chips = 3, run_time = 100, priority = 1 }]
[demand.b]
kind = "jobs"
tenant = "b"
jobs = [{ at = 0, chips = 1, run_time = 1000 }]
"#,
        // a's 3-chip job exceeds its nominal 2: evicting its own low job and borrowing one
        // chip would start it at 1; Kueue keeps it waiting for the 2 free chips to become 3,
        // at 1000, when both 1-chip jobs end.
        expect: &[(2, "a", 1), (2, "b", 1), (1050, "a", 3), (1050, "b", 0)],
    },
    Case {
        name: "K2: a=9 with borrowing_limit 1 reaches 10",
        capacity: 21,
        body: r#"
[cohorts.c]
[tenants.a]
cohort = "c"
quota.pool = { nominal_chips = 9, borrowing_limit_chips = 1 }
[tenants.b]
cohort = "c"
quota.pool.nominal_chips = 12
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 1, run_time = 100, count = 30 }]
[demand.b]
kind = "jobs"
tenant = "b"
jobs = [{ at = 500, chips = 1, run_time = 100, count = 30 }]
"#,
        expect: &[(1, "a", 10), (501, "b", 21)],
    },
    Case {
        name: "K3: b=12 with lending_limit 1: a reaches 10 while b uses 11; b reaches 21",
        capacity: 21,
        body: r#"
[cohorts.c]
[tenants.a]
cohort = "c"
quota.pool.nominal_chips = 9
[tenants.b]
cohort = "c"
quota.pool = { nominal_chips = 12, lending_limit_chips = 1 }
[demand.b]
kind = "jobs"
tenant = "b"
jobs = [{ at = 0, chips = 1, run_time = 100, count = 11 }, { at = 500, chips = 1, run_time = 100, count = 30 }]
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 10, chips = 1, run_time = 50, count = 30 }]
"#,
        expect: &[(11, "a", 10), (11, "b", 11), (501, "b", 21)],
    },
    Case {
        name: "K4: two queues: a borrows min(LL(b), BL(a))",
        capacity: 21,
        body: r#"
[cohorts.c]
[tenants.a]
cohort = "c"
quota.pool = { nominal_chips = 9, borrowing_limit_chips = 2 }
[tenants.b]
cohort = "c"
quota.pool = { nominal_chips = 12, lending_limit_chips = 3 }
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 1, run_time = 100, count = 30 }]
"#,
        expect: &[(1, "a", 11)],
    },
    Case {
        name: "K4: three queues: a borrows LL(b) + nominal(c)",
        capacity: 26,
        body: r#"
[cohorts.x]
[tenants.a]
cohort = "x"
quota.pool.nominal_chips = 9
[tenants.b]
cohort = "x"
quota.pool = { nominal_chips = 12, lending_limit_chips = 3 }
[tenants.c]
cohort = "x"
quota.pool.nominal_chips = 5
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 1, run_time = 100, count = 40 }]
"#,
        expect: &[(1, "a", 17)],
    },
    Case {
        name: "K4: three queues: a borrows LL(b) + LL(c)",
        capacity: 26,
        body: r#"
[cohorts.x]
[tenants.a]
cohort = "x"
quota.pool.nominal_chips = 9
[tenants.b]
cohort = "x"
quota.pool = { nominal_chips = 12, lending_limit_chips = 3 }
[tenants.c]
cohort = "x"
quota.pool = { nominal_chips = 5, lending_limit_chips = 2 }
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 1, run_time = 100, count = 40 }]
"#,
        expect: &[(1, "a", 14)],
    },
    Case {
        name: "K4: three queues: min'd with BL(a)",
        capacity: 26,
        body: r#"
[cohorts.x]
[tenants.a]
cohort = "x"
quota.pool = { nominal_chips = 9, borrowing_limit_chips = 4 }
[tenants.b]
cohort = "x"
quota.pool = { nominal_chips = 12, lending_limit_chips = 3 }
[tenants.c]
cohort = "x"
quota.pool = { nominal_chips = 5, lending_limit_chips = 2 }
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, chips = 1, run_time = 100, count = 40 }]
"#,
        expect: &[(1, "a", 13)],
    },
    Case {
        name: "K5: weighted fair sharing in nested cohorts",
        capacity: 300,
        body: r#"
[policy]
name = "fair"
[cohorts.top]
[cohorts.c1]
parent = "top"
[cohorts.c2]
parent = "top"
[tenants.cs]
cohort = "top"
quota.pool.nominal_chips = 300
[tenants.q1a]
cohort = "c1"
[tenants.q1b]
cohort = "c1"
[tenants.q1c]
cohort = "c1"
weight = 3
[tenants.q2a]
cohort = "c2"
[demand.q1a]
kind = "jobs"
tenant = "q1a"
jobs = [{ at = 0, chips = 1, run_time = 10000, count = 400 }]
[demand.q1b]
kind = "jobs"
tenant = "q1b"
jobs = [{ at = 0, chips = 1, run_time = 10000, count = 400 }]
[demand.q1c]
kind = "jobs"
tenant = "q1c"
jobs = [{ at = 0, chips = 1, run_time = 10000, count = 400 }]
[demand.q2a]
kind = "jobs"
tenant = "q2a"
jobs = [{ at = 0, chips = 1, run_time = 10000, count = 400 }]
"#,
        expect: &[
            (1, "q1a", 30),
            (1, "q1b", 30),
            (1, "q1c", 90),
            (1, "q2a", 150),
        ],
    },
    Case {
        name: "fair-sharing sequence: a=3, b=1, shared=4; a's work finishing hands slots to b and back",
        capacity: 8,
        body: r#"
[policy]
name = "fair"
preemption.reclaim_within_cohort = "never"
[cohorts.c]
[tenants.a]
cohort = "c"
quota.pool.nominal_chips = 3
[tenants.b]
cohort = "c"
quota.pool.nominal_chips = 1
[tenants.shared]
cohort = "c"
quota.pool.nominal_chips = 4
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [
  { at = 0, chips = 1, run_time = 100 }, { at = 0, chips = 1, run_time = 200 },
  { at = 0, chips = 1, run_time = 300 }, { at = 0, chips = 1, run_time = 400 },
  { at = 0, chips = 1, run_time = 500 }, { at = 0, chips = 1, run_time = 600 },
  { at = 0, chips = 1, run_time = 700 }, { at = 0, chips = 1, run_time = 800 },
  { at = 0, chips = 1, run_time = 100000, count = 2 },
]
[demand.b]
kind = "jobs"
tenant = "b"
jobs = [{ at = 50, chips = 1, run_time = 100000, count = 5 }]
"#,
        expect: &[
            (1, "a", 8),
            (51, "b", 0),
            (101, "a", 7),
            (101, "b", 1),
            (201, "a", 6),
            (201, "b", 2),
            (301, "a", 5),
            (301, "b", 3),
            (401, "a", 5),
            (401, "b", 3),
            (501, "a", 5),
            (501, "b", 3),
            (601, "a", 4),
            (601, "b", 4),
        ],
    },
    Case {
        name: "K6: a cohort's own quota (4, lending 2) is its members' first; a tenant above it borrows only the 2 lent",
        capacity: 4,
        body: r#"
[policy]
preemption.reclaim_within_cohort = "never"
[cohorts.r]
[cohorts.c]
parent = "r"
quota.pool = { nominal_chips = 4, lending_limit_chips = 2 }
[tenants.a]
cohort = "c"
[tenants.b]
cohort = "r"
[demand.b]
kind = "jobs"
tenant = "b"
jobs = [{ at = 0, chips = 1, run_time = 1000, count = 4 }]
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 10, chips = 1, run_time = 1000, count = 4 }]
"#,
        expect: &[(1, "b", 2), (1, "a", 0), (11, "a", 2), (11, "b", 2)],
    },
    Case {
        name: "K7: fair sharing, Kueue's default strategies: a (6, wants 7) takes one 4 from each of b and c (9 each) by rule S2-b",
        capacity: 18,
        body: concat!(
            "[policy]\nname = \"fair\"\npreemption = { within_queue = \"lower_priority\", reclaim_within_cohort = \"any\" }\n",
            k7_fleet!()
        ),
        expect: &[
            (2, "b", 9),
            (2, "c", 9),
            (11, "a", 7),
            (11, "b", 5),
            (11, "c", 5),
        ],
    },
    Case {
        name: "K7 with LessThanOrEqualToFinalShare alone: no victim leaves b or c above a's share after admission, so a waits",
        capacity: 18,
        body: concat!(
            "[policy]\nname = \"fair\"\npreemption = { within_queue = \"lower_priority\", reclaim_within_cohort = \"any\" }\n",
            "fair_sharing.preemption_strategies = [\"less_than_or_equal_to_final_share\"]\n",
            k7_fleet!()
        ),
        expect: &[(11, "a", 0), (11, "b", 9), (11, "c", 9)],
    },
];

#[test]
fn kueue_cases_k1_to_k5_and_the_fair_sharing_sequence() {
    let mut failures = Vec::new();
    for case in CASES {
        for ((t, tenant, got), &(_, _, want)) in allocation_at(case).into_iter().zip(case.expect) {
            if got != want {
                failures.push(format!(
                    "{}: at t={t} {tenant} has {got} chips, expected {want}",
                    case.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn fair_sharing_share_values() {
    // One cohort of a = 3, b = 1, shared = 4 (lendable 8); shares are Kueue's integer values.
    let mut t = QuotaTree::new(3, &[Some(3), Some(3), Some(3), None], &[1.0; 4], 1);
    for (i, n) in [3, 1, 4].into_iter().enumerate() {
        t.set_quota(i, 0, n, None, None);
    }
    t.recompute();
    let table: &[(u64, u64, f64, f64)] = &[
        // a, b, share a, share b
        (8, 0, 625.0, 0.0),
        (7, 1, 500.0, 0.0),
        (6, 2, 375.0, 125.0),
        (5, 3, 250.0, 250.0),
        (4, 4, 125.0, 375.0),
    ];
    let (mut ua, mut ub) = (0i64, 0i64);
    for &(a, b, sa, sb) in table {
        t.add_usage(0, 0, a as i64 - ua);
        t.add_usage(1, 0, b as i64 - ub);
        (ua, ub) = (a as i64, b as i64);
        assert_eq!(
            (t.share(0).kueue_value(), t.share(1).kueue_value()),
            (sa, sb),
            "a={a} b={b}"
        );
    }
    // With 8 used, a's tenth workload has nowhere to go.
    assert_eq!(t.available(0, 0), 0);
}

#[test]
fn quota_arithmetic_reaches() {
    // (nominal, borrowing limit, lending limit) per queue of one cohort; expected `available`
    // of each queue with nothing running.
    type Queue = (u64, Option<u64>, Option<u64>);
    let cases: &[(&[Queue], &[i64])] = &[
        (&[(9, None, None), (12, None, None)], &[21, 21]),
        (&[(9, Some(1), None), (12, None, None)], &[10, 21]),
        (&[(9, None, None), (12, None, Some(1))], &[10, 21]),
        (&[(9, Some(2), None), (12, None, Some(3))], &[11, 21]),
        (
            &[(9, None, None), (12, None, Some(3)), (5, None, None)],
            &[17, 26, 17],
        ),
        (
            &[(9, None, None), (12, None, Some(3)), (5, None, Some(2))],
            &[14, 23, 17],
        ),
        (
            &[(9, Some(4), None), (12, None, Some(3)), (5, None, Some(2))],
            &[13, 23, 17],
        ),
    ];
    for (queues, want) in cases {
        let n = queues.len();
        let mut parents = vec![Some(n); n];
        parents.push(None);
        let mut t = QuotaTree::new(n, &parents, &vec![1.0; n + 1], 1);
        for (i, &(nom, bl, ll)) in queues.iter().enumerate() {
            t.set_quota(i, 0, nom, bl, ll);
        }
        t.recompute();
        let got: Vec<i64> = (0..n).map(|i| t.available(i, 0)).collect();
        assert_eq!(&got, want, "{queues:?}");
    }
}

/// Reclaim for a gang that needs a whole cluster evicts inside one cluster: the one where the
/// borrower's jobs can make room, not the spot jobs that come first in Kueue's victim order but
/// share their cluster with a job that cannot be preempted.
#[test]
fn reclaim_for_a_cluster_sized_gang_evicts_in_one_cluster() {
    let text = r#"
horizon = "1d"
[fleet.generations.g]
watts_per_chip = 1000
ultraserver_chips = 64
ultraservers_per_cluster = 4
[[fleet.deliveries]]
at = 0
generation = "g"
ultraservers = 8
[cohorts.all]
[tenants.owner]
cohort = "all"
quota.g.nominal_chips = 256
[tenants.b]
cohort = "all"
quota.g.nominal_chips = 256
[tenants.spot]
cohort = "all"
spot = true
[demand.b]
kind = "jobs"
tenant = "b"
jobs = [
  { at = 0, chips = 64, run_time = "1d", preemptible = false },
  { at = 10, chips = 256, run_time = "1d" },
  { at = 20, chips = 64, run_time = "1d", count = 3 },
]
[demand.spot]
kind = "jobs"
tenant = "spot"
jobs = [{ at = 5, chips = 64, run_time = "1d", count = 3 }]
[demand.owner]
kind = "jobs"
tenant = "owner"
jobs = [{ at = "1h", chips = 256, run_time = "1h" }]
"#;
    // b's non-preemptible job and the spot jobs share one cluster; b's 256-chip gang has the
    // other. b's three later jobs cannot start (the fleet is full) and wait.
    let s =
        Scenario::from_toml(text, "cluster.toml", ".".as_ref(), &[], &|_| unreachable!()).unwrap();
    let out = run(&s, 1).unwrap();
    let [owner, b, spot] = [0, 1, 2].map(|i| &out.tenants[i]);
    assert_eq!(owner.queue_delay_s.max, 0.0, "immediate reclaim");
    assert_eq!((b.preemptions, spot.preemptions), (1, 0));
}

/// A cohort's own quota and the fair-sharing strategies are checked where they are written:
/// a key a cohort's quota does not have, a generation the scenario does not declare (also from
/// `--set`), and a second strategy Kueue does not run.
#[test]
fn cohort_quota_and_strategies_errors_are_located() {
    let base = "horizon = 10\n[fleet.generations.g]\nwatts_per_chip = 1000\nultraserver_chips = 4\n\
                [[fleet.deliveries]]\nat = 0\ngeneration = \"g\"\nultraservers = 1\n\
                [tenants.t]\ncohort = \"c\"\nquota.g.nominal_chips = 1\n";
    let err = |extra: &str, set: &[(&str, &str)]| {
        let set: Vec<(String, String)> = set
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let text = format!("{base}{extra}");
        Scenario::from_toml(&text, "x.toml", ".".as_ref(), &set, &|_| unreachable!())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let ok = "[cohorts.c]\nquota.g = { nominal_chips = 2, lending_limit_chips = 1 }\n";
    assert_eq!(err(ok, &[]), "");
    let e = err("[cohorts.c]\nquota.g.nominal_share = 0.5\n", &[]);
    assert!(e.contains("x.toml:") && e.contains("nominal_share"), "{e}");
    let e = err("[cohorts.c]\nquota.h.nominal_chips = 2\n", &[]);
    assert!(e.contains("cohorts.c.quota.h") && e.contains("'h'"), "{e}");
    let e = err(ok, &[("cohorts.c.quota.h.nominal_chips", "1")]);
    assert!(
        e.contains("(--set): cohorts.c.quota.h: no generation 'h' in the scenario"),
        "{e}"
    );
    let two = "[cohorts.c]\n[policy]\nname = \"fair\"\nfair_sharing.preemption_strategies = \
               [\"less_than_initial_share\", \"less_than_or_equal_to_final_share\"]\n";
    let e = err(two, &[]);
    assert!(
        e.contains("policy.fair_sharing.preemption_strategies") && e.contains("S2-b"),
        "{e}"
    );
}

/// `lower_or_newer_equal_priority` compares submission (Kueue's creation timestamp), never
/// start times: W (4 chips, 0-10 s) and X (8 chips, submitted at 0) and Y (4 chips, submitted
/// at 1, started at 1 beside W). At 10 s X takes Y's chips (Y was submitted later); Y may not
/// take them back (X was submitted earlier), so it reruns after X: one preemption, X done at
/// 110 s, Y at 210 s (JCT 209 s). A rule on start times had Y preempt X in turn.
#[test]
fn lower_or_newer_equal_priority_compares_submission_times() {
    let text = r#"
horizon = 1000
[fleet.generations.g]
watts_per_chip = 1000
ultraserver_chips = 8
ultraservers_per_cluster = 1
[[fleet.deliveries]]
at = 0
generation = "g"
ultraservers = 1
[policy]
name = "kueue"
reclaim = "immediate"
[tenants.t]
quota.g.nominal_chips = 8
preemption.within_queue = "lower_or_newer_equal_priority"
[demand.t]
kind = "jobs"
tenant = "t"
jobs = [
  { at = 0, chips = 4, run_time = 10 },
  { at = 0, chips = 8, run_time = 100 },
  { at = 1, chips = 4, run_time = 100 },
]
"#;
    let s = Scenario::from_toml(text, "lone.toml", ".".as_ref(), &[], &|_| unreachable!()).unwrap();
    let t = &run(&s, 1).unwrap().tenants[0];
    assert_eq!((t.preemptions, t.jobs_completed), (1, 3));
    assert_eq!((t.jct_s.p50, t.jct_s.max), (110.0, 209.0));
}
