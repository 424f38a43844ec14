//! Trace parsing throughput (target: at least 1M instruction lines/s on one core).
//!
//! The trace is generated in memory: a realistic kernel body (loads, matmuls with K accumulation,
//! PSUM evacuation, activations with reductions, per-partition tensor_scalar, strided access
//! patterns, stores) repeated with shifting offsets to 1,000,000 instruction lines.

use std::fmt::Write;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use trnsim::isa::parse::parse;

const LINES: usize = 1_000_000;

/// The header, buffers, and `LINES` instruction lines.
fn trace() -> String {
    let mut s = String::with_capacity(LINES * 90);
    s.push_str("trnsim-trace 1\nkernel bench\n");
    s.push_str("buffer x hbm bf16 [4096, 4096] normal(mean=0, std=1, seed=1)\n");
    s.push_str("buffer w hbm bf16 [4096, 4096] normal(mean=0, std=0.02, seed=2)\n");
    s.push_str("buffer y hbm bf16 [4096, 4096] zeros\n");
    s.push_str("buffer xs sbuf bf16 [128, 4096] zeros\n");
    s.push_str("buffer ws sbuf bf16 [128, 4096] zeros\n");
    s.push_str("buffer ys sbuf bf16 [128, 2048] zeros\n");
    s.push_str("buffer st sbuf float32 [128, 64] zeros  # statistics\n");
    s.push_str("buffer acc psum float32 [128, 512] zeros\n");
    let mut i = 0;
    while i < LINES {
        let k = (i / 16) % 8;
        let (c0, c1) = (k * 512, k * 512 + 512);
        let q = i % 4;
        let body = [
            format!("dma_copy dst=xs[0:128, {c0}:{c1}] src=x[0:128, {c0}:{c1}] queue={q}.0"),
            format!("dma_copy dst=ws[0:128, {c0}:{c1}] src=w[0:128:1, @{k}[4096,512]] queue={q}.1"),
            format!(
                "matmul dst=acc[0:128, 0:512] stationary=ws[0:128, {c0}:{}] \
                 moving=xs[0:128, {c0}:{c1}] accumulate={}",
                c0 + 128,
                k > 0
            ),
            "tensor_copy engine=vector dst=ys[0:128, 0:512] src=acc[0:128, 0:512]".to_string(),
            format!(
                "activation func=gelu dst=ys[0:128, 0:512] src=ys[0:128, 0:512] scale=1.5 \
                 bias=st[0:128, {k}:{}] reduce=sum reduce_dst=st[0:128, 8:9]",
                k + 1
            ),
            "tensor_scalar engine=vector dst=ys[0:128, 0:512] src=ys[0:128, 0:512] op0=sub \
             scalar0=st[0:128, 8:9] op1=mul scalar1=0.001953125"
                .to_string(),
            "tensor_tensor engine=gpsimd op=add dst=ys[0:64, 0:512] a=ys[0:64, 0:512] \
             b=xs[64:128, @0[2,256][1,2]]"
                .to_string(),
            "tensor_reduce op=max dst=st[0:128, 9:10] src=ys[0:128, 0:512]".to_string(),
            "bn_stats dst=st[0:128, 10:13] src=ys[0:128, 0:512]".to_string(),
            "bn_aggr dst=st[0:128, 13:15] src=st[0:128, 10:13]".to_string(),
            format!(
                "memset engine=gpsimd dst=st[0:128, 16:32] value={}",
                -0.5 * k as f32
            ),
            "iota dst=st[0:128, 32:48] base=0 channel_multiplier=1 step=-1".to_string(),
            "affine_select dst=ys[0:128, 0:512] src=ys[0:128, 0:512] cmp=ge base=0 \
             channel_multiplier=1 step=-1 fill=-inf"
                .to_string(),
            "transpose dst=acc[0:128, 0:128] src=ys[0:128, 0:128]".to_string(),
            format!("dma_copy dst=y[0:128, {c0}:{c1}] src=ys[0:128, 0:512] queue={q}.2  # store"),
            format!("tensor_copy engine=scalar dst=xs[0:128, {c0}:{c1}] src=ys[0:128, 0:512]"),
        ];
        for line in body.iter().take(LINES - i) {
            let _ = writeln!(s, "{line}");
        }
        i += body.len();
    }
    s
}

fn bench_parse(c: &mut Criterion) {
    let text = trace();
    let program = parse(&text, "bench.trace").expect("the generated trace parses");
    assert_eq!(program.instrs.len(), LINES);
    let mut g = c.benchmark_group("isa");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(LINES as u64));
    g.bench_function("parse_1M_lines", |b| {
        // Dropping a million-instruction Program is not parsing: keep it out of the timing.
        b.iter_with_large_drop(|| parse(black_box(&text), "bench.trace").expect("parses"))
    });
    g.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
