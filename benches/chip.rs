//! Timing-only simulation speed (issue target: at most 100 ns per instruction on a 1M-instruction
//! trace), measured as check + plan + simulate of a tiled, double-buffered matmul pipeline. Long
//! traces plan on a second thread while the first simulates (`chip::Pipeline::Auto`); the
//! one-thread figure is reported beside it.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use trnsim::arch::Hardware;
use trnsim::chip::{self, RunOptions};
use trnsim::isa::{Buffer, BufferId, DmaQueue, Engine, Init, Instr, Memory, Op, Program, Tile};
use trnsim::numerics::DType;

fn tile(b: u32, np: usize, off: usize, len: usize) -> Tile {
    Tile::contiguous(BufferId(b), 0..np as u32, off as u32, len as u32)
}

/// `iterations` x (load moving tile, load weights, matmul, evacuate, store): 5 instructions each.
pub fn pipeline(iterations: usize) -> Program {
    let buf = |name: &str, memory, dtype, shape: &[usize]| Buffer {
        name: name.into(),
        memory,
        dtype,
        shape: shape.to_vec(),
        init: Init::Zeros,
        line: 0,
        core: 0,
    };
    let mut p = Program {
        name: "pipeline".into(),
        ..Default::default()
    };
    p.buffers = vec![
        buf("x", Memory::Hbm, DType::BFloat16, &[128, 512 * 64]),
        buf("w", Memory::Hbm, DType::BFloat16, &[128, 128 * 64]),
        buf("y", Memory::Hbm, DType::BFloat16, &[128, 512 * 64]),
        buf("xs", Memory::Sbuf, DType::BFloat16, &[128, 512 * 4]),
        buf("ws", Memory::Sbuf, DType::BFloat16, &[128, 128 * 4]),
        buf("ps", Memory::Psum, DType::Float32, &[128, 512 * 4]),
        buf("ys", Memory::Sbuf, DType::BFloat16, &[128, 512 * 4]),
    ];
    for t in 0..iterations {
        let (slot, h) = (t % 4, t % 64);
        let q = |k: usize| DmaQueue {
            engine: ((t * 3 + k) % 16) as u16,
            queue: (t % 4) as u16,
        };
        let ops = [
            Op::DmaCopy {
                dst: tile(3, 128, slot * 512, 512),
                src: tile(0, 128, h * 512, 512),
                queue: q(0),
            },
            Op::DmaCopy {
                dst: tile(4, 128, slot * 128, 128),
                src: tile(1, 128, h * 128, 128),
                queue: q(1),
            },
            Op::Matmul {
                dst: tile(5, 128, slot * 512, 512),
                stationary: tile(4, 128, slot * 128, 128),
                moving: tile(3, 128, slot * 512, 512),
                accumulate: false,
            },
            Op::TensorCopy {
                engine: Engine::Vector,
                dst: tile(6, 128, slot * 512, 512),
                src: tile(5, 128, slot * 512, 512),
            },
            Op::DmaCopy {
                dst: tile(2, 128, h * 512, 512),
                src: tile(6, 128, slot * 512, 512),
                queue: q(2),
            },
        ];
        for op in ops {
            p.instrs.push(Instr {
                op,
                line: p.instrs.len() as u32 + 1,
            });
        }
    }
    p
}

fn bench_timing(c: &mut Criterion) {
    let hw = Hardware::preset("trn2").unwrap();
    let mut g = c.benchmark_group("timing_only");
    for iterations in [2_000usize, 200_000] {
        let p = pipeline(iterations);
        g.throughput(Throughput::Elements(p.instrs.len() as u64));
        g.bench_function(format!("{}_instructions", p.instrs.len()), |b| {
            b.iter(|| {
                chip::run(black_box(&p), &hw, "bench", &[], &RunOptions::default())
                    .unwrap()
                    .schedule
                    .total_ps
            })
        });
    }
    // The same on one thread: the work itself, without overlapping planning and simulation.
    let p = pipeline(200_000);
    g.throughput(Throughput::Elements(p.instrs.len() as u64));
    let serial = RunOptions {
        pipeline: chip::Pipeline::Serial,
        ..Default::default()
    };
    g.bench_function(format!("{}_instructions_one_thread", p.instrs.len()), |b| {
        b.iter(|| {
            chip::run(black_box(&p), &hw, "bench", &[], &serial)
                .unwrap()
                .schedule
                .total_ps
        })
    });
    g.finish();
}

/// The three phases of a timing-only run separately (1M instructions): where the time goes.
fn bench_phases(c: &mut Criterion) {
    let hw = Hardware::preset("trn2").unwrap();
    let p = pipeline(200_000);
    let usage = trnsim::chip::check::check(&p, &hw, "bench").unwrap();
    let plan = trnsim::chip::plan::build(&p, &hw, &usage.liveness);
    let mut g = c.benchmark_group("timing_phases");
    g.throughput(Throughput::Elements(p.instrs.len() as u64));
    g.bench_function("check", |b| {
        b.iter(|| trnsim::chip::check::check(black_box(&p), &hw, "bench").unwrap())
    });
    g.bench_function("plan", |b| {
        b.iter(|| trnsim::chip::plan::build(black_box(&p), &hw, &usage.liveness))
    });
    g.bench_function("simulate", |b| {
        b.iter(|| trnsim::chip::sim::simulate(black_box(&plan), &hw).total_ps)
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(8)).warm_up_time(std::time::Duration::from_secs(1));
    targets = bench_timing, bench_phases
}
criterion_main!(benches);
