//! Systolic design-space mode (targets: one 4096^3 GEMM layer under 10 us; a 50-layer topology
//! under 1 ms).
//!
//! - `systolic_layer`: one GEMM layer on a 128x128 weight-stationary array, in SCALE-Sim's
//!   convention, the Trainium-style setting, and both (what `trnsim systolic` computes per
//!   layer). The 1024^3 and 2048^3 layers are the ones SCALE-Sim 3.0.0 was timed on (README).
//! - `systolic_topology`: `kernels/resnet50.csv` (54 convolution layers), parsed and timed in
//!   both settings, and timed only.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use trnsim::systolic::{
    self, Array, Dataflow, Gemm, Machine, Memory, Mode, TrainiumParams, scalesim, topology,
    trainium,
};

const RESNET50: &str = include_str!("../kernels/resnet50.csv");

fn machine() -> Machine {
    Machine {
        array: Array::new(128, 128).unwrap(),
        dataflow: Dataflow::Ws,
        memory: Memory::default(),
        trainium: TrainiumParams::default(),
    }
}

fn bench_layer(c: &mut Criterion) {
    let m = machine();
    let mut g = c.benchmark_group("systolic_layer");
    g.throughput(Throughput::Elements(1));
    for n in [1024u64, 2048, 4096] {
        let gemm = Gemm::new(n, n, n).unwrap();
        g.bench_function(format!("gemm{n}_scalesim"), |b| {
            b.iter(|| scalesim::layer(black_box(&gemm), m.array, m.dataflow).unwrap())
        });
        g.bench_function(format!("gemm{n}_trainium"), |b| {
            b.iter(|| {
                trainium::layer(black_box(&gemm), m.array, m.dataflow, m.memory, &m.trainium)
                    .unwrap()
            })
        });
        g.bench_function(format!("gemm{n}_both"), |b| {
            b.iter(|| systolic::time_layer(0, "g", black_box(&gemm), &m, Mode::Both).unwrap())
        });
    }
    // With a DRAM bandwidth the memory model runs too.
    let gemm = Gemm::new(4096, 4096, 4096).unwrap();
    let narrow = Machine {
        memory: Memory {
            bandwidth: Some([10, 10, 10]),
            ..Memory::default()
        },
        ..m
    };
    g.bench_function("gemm4096_both_bandwidth", |b| {
        b.iter(|| systolic::time_layer(0, "g", black_box(&gemm), &narrow, Mode::Both).unwrap())
    });
    g.finish();
}

fn bench_topology(c: &mut Criterion) {
    let m = machine();
    let topo = topology::parse(RESNET50, "resnet50.csv").unwrap();
    assert_eq!(topo.layers.len(), 54);
    let mut g = c.benchmark_group("systolic_topology");
    g.throughput(Throughput::Elements(topo.layers.len() as u64));
    g.bench_function("resnet50_parse_and_time", |b| {
        b.iter(|| {
            let t = topology::parse(black_box(RESNET50), "resnet50.csv").unwrap();
            systolic::time_topology(&t, "resnet50.csv", &m, Mode::Both).unwrap()
        })
    });
    g.bench_function("resnet50_time", |b| {
        b.iter(|| {
            systolic::time_topology(black_box(&topo), "resnet50.csv", &m, Mode::Both).unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench_layer, bench_topology);
criterion_main!(benches);
