//! Sweep throughput with one and with two worker threads (issue target: at least 1.8x from 1 to
//! 2 threads): the small fleet scenario over an 8-point grid, 2 seeds each.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::path::Path;
use trnsim::sweep::{self, Spec, Vary};

fn bench_sweep(c: &mut Criterion) {
    let file = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/fleet/small.toml"
    ));
    let text = std::fs::read_to_string(file).unwrap();
    let read = |p: &Path| std::fs::read_to_string(p);
    let vary = vec![
        Vary::parse("demand.b.rate_per_hour=20,30,40,50").unwrap(),
        Vary::parse("policy.reclaim=immediate,graceful").unwrap(),
    ];
    let mut g = c.benchmark_group("sweep_16_runs");
    g.throughput(Throughput::Elements(16));
    for threads in [1usize, 2] {
        let spec = Spec {
            file,
            text: &text,
            read: &read,
            set: Vec::new(),
            vary: vary.clone(),
            seeds: 2,
            shard: (0, 1),
            threads: Some(threads),
            max_runs: sweep::DEFAULT_MAX_RUNS,
        };
        g.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| sweep::run(&spec, &|| {}).unwrap().runs.len())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(5)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench_sweep
}
criterion_main!(benches);
