//! Memoization of workload run times (issue target: a 1M-job scenario whose jobs are workloads,
//! timed by the chip simulator, runs no more than 2x slower than the same scenario with given run
//! times).
//!
//! One million jobs on a 4,096-chip Trn2 fleet (the arrival rates and gang sizes of
//! `benches/fleet.rs`' synthetic scenario, one stream per gang size). In the workload scenario a
//! stream submits one workload and draws its steps from a lognormal; in the run-time scenario
//! the same stream draws its run time from the lognormal whose median is the workload's median
//! steps times its simulated step time. The draws are the same variates, so both scenarios have
//! the same jobs, up to the rounding of steps. `workloads_cold` builds the table with a fresh
//! memo every iteration (five chip simulations included); `workloads_warm` reuses the table.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use trnsim::fleet::{self, RunOptions, Scenario, WorkloadRunTime};
use trnsim::workload::CostModel;

mod common;

/// The workloads, one per gang size (1, 4, 8, 16 and 64 chips); the streams draw the steps.
const WORKLOADS: &str = r#"
[workloads]
g1 = { model = "llama3-8b", phase = "decode", batch = 8, seq = 2048, steps = 1 }
g4 = { model = "llama3-8b", phase = "prefill", batch = 4, seq = 2048, steps = 1, tp = 4 }
g8 = { model = "llama3-8b", phase = "train", batch = 1, seq = 2048, steps = 1, tp = 8 }
g16 = { model = "llama3-8b", phase = "train", batch = 1, seq = 2048, steps = 1, tp = 4, dp = 4 }
g64 = { model = "llama3-8b", phase = "train", batch = 1, seq = 2048, steps = 1, tp = 8, dp = 8 }
"#;

/// One stream of the synthetic scenario, split by gang size.
struct Stream {
    name: &'static str,
    tenant: &'static str,
    rate_per_hour: f64,
    max_jobs: u64,
    workload: &'static str,
    chips: u32,
    median_s: f64,
    sigma: f64,
    checkpoint: Option<&'static str>,
}

const fn stream(
    name: &'static str,
    tenant: &'static str,
    rate_per_hour: f64,
    max_jobs: u64,
    workload: &'static str,
    chips: u32,
) -> Stream {
    Stream {
        name,
        tenant,
        rate_per_hour,
        max_jobs,
        workload,
        chips,
        median_s: 7200.0,
        sigma: 1.0,
        checkpoint: None,
    }
}

impl Stream {
    /// Checkpoints every `interval`.
    const fn checkpoint(self, interval: &'static str) -> Stream {
        Stream {
            checkpoint: Some(interval),
            ..self
        }
    }

    /// Lognormal run times of this median and shape.
    const fn run_time(self, median_s: f64, sigma: f64) -> Stream {
        Stream {
            median_s,
            sigma,
            ..self
        }
    }
}

/// `benches/fleet.rs`' streams: a (40/h, gangs of 1, 8, 64 in 60/30/10 %, checkpoints every
/// 15 min), b (30/h, the same gangs), c (20/h of 4 chips), spot (10/h of 16 chips).
const STREAMS: [Stream; 8] = [
    stream("a1", "a", 24.0, 240_000, "g1", 1).checkpoint("15m"),
    stream("a8", "a", 12.0, 120_000, "g8", 8).checkpoint("15m"),
    stream("a64", "a", 4.0, 40_000, "g64", 64).checkpoint("15m"),
    stream("b1", "b", 18.0, 180_000, "g1", 1),
    stream("b8", "b", 9.0, 90_000, "g8", 8),
    stream("b64", "b", 3.0, 30_000, "g64", 64),
    stream("c", "c", 20.0, 200_000, "g4", 4).run_time(7200.0, 0.8),
    stream("spot", "spot", 10.0, 100_000, "g16", 16).run_time(5400.0, 0.8),
];

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "workload-1m", ".".as_ref(), &[], &|_| unreachable!()).unwrap()
}

/// The workload scenario, and the run-time scenario with the same draws.
fn scenarios() -> (Scenario, Scenario) {
    let head = format!("{}{WORKLOADS}", common::SYNTHETIC_FLEET);
    let mut with = head.clone();
    // Steps and run times: lognormal medians of (run time / step) and (run time).
    let probe = scenario(&head);
    let table = WorkloadRunTime::build(&probe, &CostModel::new()).unwrap();
    let step_of = |w: &str| {
        let id = probe.workloads.iter().position(|d| d.name == w).unwrap();
        table.step_s(id as u32, 0).unwrap()
    };
    let mut given = head;
    for st in &STREAMS {
        let mut common = format!(
            "[demand.{}]\nkind = \"poisson\"\ntenant = \"{}\"\nrate_per_hour = {}\nmax_jobs = {}\n",
            st.name, st.tenant, st.rate_per_hour, st.max_jobs
        );
        if let Some(ck) = st.checkpoint {
            common += &format!("checkpoint = \"{ck}\"\n");
        }
        let step = step_of(st.workload);
        let steps = (st.median_s / step).round();
        let sigma = st.sigma;
        with += &format!(
            "{common}workload = \"{}\"\nsteps = {{ dist = \"lognormal\", median = {steps}, sigma = {sigma} }}\n",
            st.workload
        );
        given += &format!(
            "{common}chips = {{ dist = \"fixed\", value = {} }}\n\
             run_time = {{ dist = \"lognormal\", median = {}, sigma = {sigma} }}\n",
            st.chips,
            steps * step
        );
    }
    (scenario(&with), scenario(&given))
}

fn bench(c: &mut Criterion) {
    let (with, given) = scenarios();
    let cost = CostModel::new();
    let t0 = std::time::Instant::now();
    let table = WorkloadRunTime::build(&with, &cost).unwrap();
    let build_s = t0.elapsed().as_secs_f64();
    let opts = RunOptions::default();
    let a = fleet::run_timed(&with, 1, &table, &opts).unwrap();
    let b = fleet::run(&given, 1).unwrap();
    let jobs = |o: &fleet::Outcome| o.tenants.iter().map(|t| t.jobs_submitted).sum::<u64>();
    eprintln!(
        "workload scenario: {} jobs, {} events, {} chip simulations in {:.3} s; given run times: {} jobs, {} events",
        jobs(&a),
        a.fleet.events,
        cost.simulations(),
        build_s,
        jobs(&b),
        b.fleet.events
    );
    let mut g = c.benchmark_group("workload_1m_jobs");
    g.sample_size(10);
    g.bench_function("given_run_times", |x| {
        x.iter(|| black_box(fleet::run(black_box(&given), 1).unwrap()))
    });
    g.bench_function("workloads_cold", |x| {
        x.iter(|| {
            let t = WorkloadRunTime::build(black_box(&with), &CostModel::new()).unwrap();
            black_box(fleet::run_timed(&with, 1, &t, &opts).unwrap())
        })
    });
    g.bench_function("workloads_warm", |x| {
        x.iter(|| black_box(fleet::run_timed(black_box(&with), 1, &table, &opts).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
