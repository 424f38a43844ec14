//! Fleet scheduler throughput (issue targets: at least 1M scheduling events/s on a synthetic
//! 1M-job scenario; the Philly replay, 82,247 jobs, in under 1 s), and rounds under a
//! 100,000-job backlog (issue 14: a round costs what can start, not the backlog).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::path::Path;
use trnsim::fleet::{self, Scenario};

mod common;

/// One million jobs from four tenants in a cohort on a 4,096-chip fleet at about 80 % load:
/// gangs of 1 to 64 chips, lognormal run times.
fn synthetic_1m() -> Scenario {
    let demand = r#"
[demand.a]
kind = "poisson"
tenant = "a"
rate_per_hour = 40
max_jobs = 400000
chips = { dist = "empirical", values = [1, 8, 64], weights = [0.6, 0.3, 0.1] }
run_time = { dist = "lognormal", median = "2h", sigma = 1 }
checkpoint = "15m"
[demand.b]
kind = "poisson"
tenant = "b"
rate_per_hour = 30
max_jobs = 300000
chips = { dist = "empirical", values = [1, 8, 64], weights = [0.6, 0.3, 0.1] }
run_time = { dist = "lognormal", median = "2h", sigma = 1 }
[demand.c]
kind = "poisson"
tenant = "c"
rate_per_hour = 20
max_jobs = 200000
chips = { dist = "fixed", value = 4 }
run_time = { dist = "exponential", mean = "3h" }
[demand.spot]
kind = "poisson"
tenant = "spot"
rate_per_hour = 10
max_jobs = 100000
chips = { dist = "fixed", value = 16 }
run_time = { dist = "exponential", mean = "2h" }
"#;
    let text = format!("{}{demand}", common::SYNTHETIC_FLEET);
    Scenario::from_toml(
        &text,
        "synthetic-1m",
        ".".as_ref(),
        &[],
        &|_| unreachable!(),
    )
    .unwrap()
}

/// An overloaded two-generation fleet (4,096 Trn2 chips and 2,048 of an older generation):
/// 260,000 jobs offered at about 2.5 times what it serves over 14 days, some pinned to one
/// generation, so that more than 100,000 jobs wait at the horizon.
fn backlog_100k() -> Scenario {
    let text = r#"
horizon = "14d"
report_interval = "1d"
[fleet.generations.trn2]
[fleet.generations.old]
watts_per_chip = 600
ultraserver_chips = 16
ultraservers_per_cluster = 32
speedup = 0.5
[[fleet.deliveries]]
at = 0
generation = "trn2"
chips = 4096
[[fleet.deliveries]]
at = 0
generation = "old"
chips = 2048
[cohorts.all]
[tenants.a]
cohort = "all"
quota.trn2.nominal_share = 0.5
quota.old.nominal_share = 0.5
[tenants.b]
cohort = "all"
quota.trn2.nominal_share = 0.3
quota.old.nominal_share = 0.3
[tenants.c]
cohort = "all"
quota.trn2.nominal_share = 0.2
quota.old.nominal_share = 0.2
[demand.a]
kind = "poisson"
tenant = "a"
rate_per_hour = 400
max_jobs = 115000
chips = { dist = "empirical", values = [1, 8, 64, 512], weights = [0.5, 0.3, 0.15, 0.05] }
run_time = { dist = "lognormal", median = "2h", sigma = 1 }
[demand.a_trn2]
kind = "poisson"
tenant = "a"
generation = "trn2"
rate_per_hour = 100
max_jobs = 32000
chips = { dist = "empirical", values = [16, 128], weights = [0.7, 0.3] }
run_time = { dist = "exponential", mean = "3h" }
[demand.b]
kind = "poisson"
tenant = "b"
rate_per_hour = 240
max_jobs = 72000
chips = { dist = "empirical", values = [1, 8, 64], weights = [0.6, 0.3, 0.1] }
run_time = { dist = "lognormal", median = "2h", sigma = 1 }
[demand.c]
kind = "poisson"
tenant = "c"
generation = "old"
rate_per_hour = 130
max_jobs = 41000
chips = { dist = "fixed", value = 4 }
run_time = { dist = "exponential", mean = "4h" }
"#;
    Scenario::from_toml(text, "backlog-100k", ".".as_ref(), &[], &|_| unreachable!()).unwrap()
}

fn bench(c: &mut Criterion) {
    let s = synthetic_1m();
    let events = fleet::run(&s, 1).unwrap().fleet.events;
    let mut g = c.benchmark_group("fleet");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events));
    g.bench_function("synthetic_1m_jobs (events)", |b| {
        b.iter(|| black_box(fleet::run(black_box(&s), 1).unwrap()))
    });
    let philly = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/philly-replay.toml");
    let p = Scenario::load(&philly, &[]).unwrap();
    let pe = fleet::run(&p, 1).unwrap().fleet.events;
    g.throughput(Throughput::Elements(pe));
    g.bench_function("philly_replay (events)", |b| {
        b.iter(|| black_box(fleet::run(black_box(&p), 1).unwrap()))
    });
    let bl = backlog_100k();
    let out = fleet::run(&bl, 1).unwrap();
    let queued: u64 = out.tenants.iter().map(|t| t.jobs_queued).sum();
    assert!(queued >= 100_000, "backlog of {queued} jobs, not 100,000");
    g.throughput(Throughput::Elements(out.fleet.events));
    g.bench_function("backlog_100k (events)", |b| {
        b.iter(|| black_box(fleet::run(black_box(&bl), 1).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
