//! Conversion throughput over a 1M-element slice (issue targets: round-to-nearest >= 500 M
//! elements/s on one core, stochastic >= 200 M elements/s). `half` and the `float8` crate are
//! measured beside ours as baselines.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use trnsim::numerics::{Cast, DType, Rounding};

const N: usize = 1 << 20;

fn input() -> Vec<f32> {
    // Values spread over many binades, some beyond fp8 range, deterministic.
    (0..N)
        .map(|i| {
            let t = (i as f32 * 0.618_034).fract();
            (t - 0.5) * 2f32.powi((i % 40) as i32 - 20)
        })
        .collect()
}

fn bench_cast(c: &mut Criterion) {
    let src = input();
    let mut g = c.benchmark_group("cast_1M");
    g.throughput(Throughput::Elements(N as u64));
    for rounding in [Rounding::Nearest, Rounding::Stochastic] {
        let r = format!("{rounding:?}").to_lowercase();
        for d in [DType::BFloat16, DType::Float16] {
            let cast = Cast::new(d).rounding(rounding).seed(1);
            let mut dst = vec![0u16; N];
            g.bench_function(format!("{r}/{}", d.name()), |b| {
                b.iter(|| cast.encode_slice_u16(black_box(&src), 0, &mut dst).unwrap())
            });
        }
        for d in [
            DType::Float8E4M3,
            DType::Float8E4M3Fn,
            DType::Float8E5M2,
            DType::Float8E3M4,
        ] {
            let cast = Cast::new(d).rounding(rounding).seed(1);
            let mut dst = vec![0u8; N];
            g.bench_function(format!("{r}/{}", d.name()), |b| {
                b.iter(|| cast.encode_slice_u8(black_box(&src), 0, &mut dst).unwrap())
            });
        }
    }
    let mut dst16 = vec![half::bf16::ZERO; N];
    g.bench_function("baseline/half_bf16_from_f32", |b| {
        b.iter(|| {
            for (d, &s) in dst16.iter_mut().zip(black_box(&src)) {
                *d = half::bf16::from_f32(s);
            }
        })
    });
    let mut dst8 = vec![0u8; N];
    g.bench_function("baseline/float8_crate_e4m3fn_saturating", |b| {
        b.iter(|| {
            for (d, &s) in dst8.iter_mut().zip(black_box(&src)) {
                *d = float8::F8E4M3::from_f32(s).to_bits();
            }
        })
    });
    g.finish();
}

/// `trnsim dtype cast` on a stream of text lines (the issue asks for 10M lines in seconds).
fn bench_cast_stream(c: &mut Criterion) {
    let lines: String = input()
        .iter()
        .take(100_000)
        .map(|v| format!("{v}\n"))
        .collect();
    let cast = Cast::new(DType::Float8E4M3);
    let mut g = c.benchmark_group("dtype_cast_stream");
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("100k_lines/float8_e4m3", |b| {
        let mut out = Vec::with_capacity(2_000_000);
        b.iter(|| {
            out.clear();
            trnsim::cli::dtype::cast_stream(&cast, "bench", lines.as_bytes(), &mut out).unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2)).warm_up_time(std::time::Duration::from_millis(500));
    targets = bench_cast, bench_cast_stream
}
criterion_main!(benches);
