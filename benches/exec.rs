//! Functional matmul throughput: `execute` of bf16 matmuls with fp32 accumulation in PSUM, beside
//! `ndarray`'s f32 `dot` of the same shapes in the same run (target: at least 50 % of `dot`).
//!
//! Two programs: one 128x128x512 matmul, and eight of them accumulating over K (a 128x1024x512
//! product; its baseline is one `dot` of [128, 1024] x [1024, 512], the most favourable case for
//! `ndarray`). Criterion reports each as throughput in elements/s where an element is one flop,
//! so "Gelem/s" reads as GFLOP/s; a short summary with both GFLOP/s figures and their ratio
//! (median of interleaved timings) is printed at the end.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use ndarray::Array2;
use trnsim::chip::exec::{DataState, ExecOptions, execute};
use trnsim::isa::{Buffer, BufferId, Init, Instr, Memory, Op, Program, Tile};
use trnsim::numerics::DType;

const M: usize = 128;
const K: usize = 128;
const N: usize = 512;

fn tile(b: u32, off: usize, len: usize, partitions: usize) -> Tile {
    Tile::contiguous(BufferId(b), 0..partitions as u32, off as u32, len as u32)
}

fn buffer(name: &str, memory: Memory, dtype: DType, shape: &[usize], seed: u64) -> Buffer {
    Buffer {
        name: name.into(),
        memory,
        dtype,
        shape: shape.to_vec(),
        init: Init::Normal {
            mean: 0.0,
            std: 1.0,
            seed,
        },
        line: 0,
        core: 0,
    }
}

/// `tiles` matmuls of [K, M] x [K, N] bf16 tiles accumulating into one fp32 PSUM tile.
fn program(tiles: usize) -> Program {
    let bf = DType::BFloat16;
    let mut p = Program {
        name: format!("matmul_x{tiles}"),
        buffers: vec![
            buffer("w", Memory::Sbuf, bf, &[K, tiles * M], 1),
            buffer("x", Memory::Sbuf, bf, &[K, tiles * N], 2),
            buffer("acc", Memory::Psum, DType::Float32, &[M, N], 3),
        ],
        instrs: Vec::new(),
    };
    p.buffers[2].init = Init::Zeros;
    for t in 0..tiles {
        p.instrs.push(Instr {
            op: Op::Matmul {
                dst: tile(2, 0, N, M),
                stationary: tile(0, t * M, M, K),
                moving: tile(1, t * N, N, K),
                accumulate: t > 0,
            },
            line: t as u32 + 1,
        });
    }
    p
}

/// The `ndarray` operands of the same total shape, f32.
fn baseline(tiles: usize) -> (Array2<f32>, Array2<f32>) {
    let k = tiles * K;
    let a = Array2::from_shape_fn((M, k), |(i, j)| ((i * 7 + j * 3) % 17) as f32 * 0.125 - 1.0);
    let b = Array2::from_shape_fn((k, N), |(i, j)| ((i * 5 + j * 11) % 13) as f32 * 0.25 - 1.5);
    (a, b)
}

fn flops(tiles: usize) -> u64 {
    (2 * M * K * N * tiles) as u64
}

fn bench(c: &mut Criterion) {
    let opts = ExecOptions::default();
    for tiles in [1, 8] {
        let p = program(tiles);
        let mut state = DataState::new(&p, &[]).expect("state");
        let (a, b) = baseline(tiles);
        let mut g = c.benchmark_group(format!("matmul_bf16_{M}x{}x{N}", tiles * K));
        g.throughput(Throughput::Elements(flops(tiles)));
        g.bench_function("execute", |bench| {
            bench.iter(|| execute(&p, &mut state, &opts).expect("execute"))
        });
        g.bench_function("ndarray_dot_f32", |bench| {
            bench.iter(|| black_box(&a).dot(black_box(&b)))
        });
        g.finish();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Interleaved timings of both, so the ratio is measured under the same machine load.
fn summary() {
    let opts = ExecOptions::default();
    println!("\nfunctional matmul (bf16 in, fp32 accumulate) vs ndarray f32 dot, median of 40:");
    for tiles in [1, 8] {
        let p = program(tiles);
        let mut state = DataState::new(&p, &[]).expect("state");
        let (a, b) = baseline(tiles);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..40 {
            let t = Instant::now();
            execute(&p, &mut state, &opts).expect("execute");
            ours.push(t.elapsed());
            let t = Instant::now();
            black_box(black_box(&a).dot(black_box(&b)));
            theirs.push(t.elapsed());
        }
        let gflops = |d: Duration| flops(tiles) as f64 / d.as_secs_f64() / 1e9;
        let (g_ours, g_dot) = (gflops(median(ours)), gflops(median(theirs)));
        println!(
            "  {M}x{}x{N} ({tiles} matmul{}): execute {g_ours:.1} GFLOP/s, ndarray dot \
             {g_dot:.1} GFLOP/s, ratio {:.0} %",
            tiles * K,
            if tiles > 1 { "s" } else { "" },
            100.0 * g_ours / g_dot
        );
    }
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
    summary();
}
