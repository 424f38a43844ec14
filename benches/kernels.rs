//! The kernel library end to end (issue target: a Llama-3-8B prefill layer at seq 4096,
//! timing-only, in under 1 s): lowering every kernel of the layer (and the head) to a program
//! and simulating it, as `trnsim model run llama3-8b --phase prefill --seq 4096` does; then the
//! two largest kernels alone, lowering and simulation apart, to see where the time goes.

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use trnsim::arch::Hardware;
use trnsim::chip::{self, RunOptions};
use trnsim::kernels;
use trnsim::numerics::DType;
use trnsim::workload as model;

fn set(spec: &str) -> Vec<(String, String)> {
    trnsim::cli::kernel::parse_set(&[spec.to_string()]).unwrap()
}

fn llama3_8b_prefill_layer(c: &mut Criterion) {
    let hw = Hardware::preset("trn2").unwrap();
    let cfg = model::ModelConfig::shipped("llama3-8b").unwrap();
    let step = model::Step {
        phase: model::Phase::Prefill,
        batch: 1,
        len: 4096,
    };
    let mut g = c.benchmark_group("llama3_8b_prefill_layer");
    g.sample_size(10);
    g.bench_function("model_run_seq4096", |b| {
        b.iter(|| black_box(model::run_model(&cfg, &step, DType::BFloat16, &hw).unwrap()))
    });
    for (name, spec) in [
        ("mlp", "tokens=4096,hidden=4096,intermediate=14336"),
        (
            "attention",
            "heads=32,kv_heads=8,seq_q=4096,seq_kv=4096,head_dim=128,causal=true",
        ),
    ] {
        g.bench_function(format!("{name}_lower"), |b| {
            b.iter(|| black_box(kernels::lower(name, &set(spec), &hw).unwrap()))
        });
        let (_, program) = kernels::lower(name, &set(spec), &hw).unwrap();
        g.bench_function(format!("{name}_simulate"), |b| {
            b.iter(|| {
                black_box(chip::run(&program, &hw, "<bench>", &[], &RunOptions::default()).unwrap())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, llama3_8b_prefill_layer);
criterion_main!(benches);
