//! Kernel lowering speed (issue target: lowering the [4096, 8192] x [8192, 8192] matmul in
//! under 50 ms), and the same kernel lowered and simulated end to end, timing-only.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use trnsim::arch::Hardware;
use trnsim::chip::{self, RunOptions};
use trnsim::kernels;

fn set(spec: &str) -> Vec<(String, String)> {
    spec.split(',')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn bench_lowering(c: &mut Criterion) {
    let hw = Hardware::preset("trn2").unwrap();
    let spec = set("m=4096,k=8192,n=8192,dtype=bfloat16");
    let mut g = c.benchmark_group("matmul_4096x8192x8192");
    g.bench_function("lower", |b| {
        b.iter(|| {
            kernels::lower("matmul", black_box(&spec), &hw)
                .unwrap()
                .1
                .instrs
                .len()
        })
    });
    g.bench_function("lower_and_simulate", |b| {
        b.iter(|| {
            let (_, p) = kernels::lower("matmul", black_box(&spec), &hw).unwrap();
            chip::run(&p, &hw, "matmul", &[], &RunOptions::default())
                .unwrap()
                .schedule
                .total_ps
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(5)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench_lowering
}
criterion_main!(benches);
