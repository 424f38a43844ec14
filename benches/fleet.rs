//! Fleet scheduler throughput (issue targets: at least 1M scheduling events/s on a synthetic
//! 1M-job scenario; the Philly replay, 82,247 jobs, in under 1 s).

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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
