//! The timing model against hand-computed times (trainium.md sections 3-5 formulas applied by
//! hand to the trn2 preset), and its invariants.

use trnsim::arch::{Hardware, parse_overrides};
use trnsim::chip::{self, RunOptions, plan, report};
use trnsim::isa::{
    AluOp, Buffer, BufferId, DmaQueue, Engine, Init, Instr, Memory, Op, Program, Tile,
};
use trnsim::numerics::DType;

struct P(Program);

impl P {
    fn new() -> Self {
        P(Program {
            name: "t".into(),
            ..Default::default()
        })
    }
    fn buf(&mut self, name: &str, memory: Memory, dtype: DType, shape: &[usize]) -> BufferId {
        self.0.buffers.push(Buffer {
            name: name.into(),
            memory,
            dtype,
            shape: shape.to_vec(),
            init: Init::Zeros,
            line: 0,
            core: 0,
        });
        BufferId(self.0.buffers.len() as u32 - 1)
    }
    fn op(&mut self, op: Op) {
        let line = self.0.instrs.len() as u32 + 1;
        self.0.instrs.push(Instr { op, line });
    }
}

fn tile(b: BufferId, p0: usize, np: usize, off: usize, len: usize) -> Tile {
    Tile::contiguous(b, p0 as u32..(p0 + np) as u32, off as u32, len as u32)
}

fn hw(overrides: &str) -> Hardware {
    Hardware::preset("trn2")
        .unwrap()
        .with_overrides(&parse_overrides(overrides).unwrap())
        .unwrap()
}

fn run(p: &Program, hw: &Hardware) -> chip::RunResult {
    chip::run(p, hw, "test", &[], &RunOptions::default()).unwrap()
}

/// ceil(cycles * 1e6 / MHz) picoseconds.
fn ps(cycles: u64, mhz: u64) -> u64 {
    (cycles * 1_000_000).div_ceil(mhz)
}

/// One 128x128x512 bf16 matmul whose operands are already in SBUF.
fn one_matmul() -> P {
    let mut p = P::new();
    let w = p.buf("w", Memory::Sbuf, DType::BFloat16, &[128, 128]);
    let x = p.buf("x", Memory::Sbuf, DType::BFloat16, &[128, 512]);
    let o = p.buf("o", Memory::Psum, DType::Float32, &[128, 512]);
    p.op(Op::Matmul {
        dst: tile(o, 0, 128, 0, 512),
        stationary: tile(w, 0, 128, 0, 128),
        moving: tile(x, 0, 128, 0, 512),
        accumulate: false,
    });
    p
}

#[test]
fn one_matmul_is_load_plus_multiply_plus_drain() {
    let p = one_matmul();
    let h = hw("pe.throttle.enabled=false");
    let r = run(&p.0, &h);
    // LoadStationary: 128 / 4 = 32 cycles; MultiplyMoving: max(min(64, 128), 512) = 512 cycles;
    // result readable 128 fill/drain cycles later; 2.4 GHz.
    let load = ps(32, 2400);
    let mm = ps(512, 2400);
    assert_eq!(r.schedule.end_ps[0], load + mm);
    assert_eq!(r.schedule.total_ps, load + mm + ps(128, 2400));
    // 128x128x512 bf16 in 512 cycles is exactly peak for the multiply itself.
    let rep = report::report(&p.0, &h, &r);
    assert_eq!(rep.flops, 2.0 * 128.0 * 128.0 * 512.0);
    let ideal = rep.flops / h.peak_flops(DType::BFloat16) * 1e12;
    assert!(
        (ideal - 512.0 / 2.4 * 1000.0).abs() < 1e-6 * ideal,
        "{ideal}"
    );
}

#[test]
fn fast_weight_load_hides_the_next_load_and_reuse_skips_it() {
    let mut p = P::new();
    let w = p.buf("w", Memory::Sbuf, DType::BFloat16, &[128, 256]);
    let x = p.buf("x", Memory::Sbuf, DType::BFloat16, &[128, 512]);
    let o = p.buf("o", Memory::Psum, DType::Float32, &[128, 2048]);
    let mm = |wo: usize, oo: usize| Op::Matmul {
        dst: tile(o, 0, 128, oo, 512),
        stationary: tile(w, 0, 128, wo, 128),
        moving: tile(x, 0, 128, 0, 512),
        accumulate: false,
    };
    p.op(mm(0, 0));
    p.op(mm(128, 512)); // new weights: loaded during the first multiply
    p.op(mm(128, 1024)); // same weights: no load
    let r = run(&p.0, &hw("pe.throttle.enabled=false"));
    let (load, m) = (ps(32, 2400), ps(512, 2400));
    assert_eq!(
        r.schedule.end_ps,
        vec![load + m, load + 2 * m, load + 3 * m]
    );
    // The second multiply starts the moment the first ends: its load ran in the background.
    assert_eq!(r.schedule.start_ps[1], load + m);
    assert_eq!(r.schedule.queue_busy_ps[0], load + 3 * m);
    let slow = run(
        &p.0,
        &hw("pe.throttle.enabled=false,pe.fast_weight_load=false"),
    );
    assert_eq!(slow.schedule.end_ps[2], 2 * load + 3 * m);
}

#[test]
fn throttled_engine_starts_at_half_speed() {
    let p = one_matmul();
    let r = run(&p.0, &hw(""));
    assert_eq!(r.schedule.end_ps[0], ps(32, 2400) + 2 * ps(512, 2400));
}

#[test]
fn vector_copy_uses_the_lanes_of_its_dtype() {
    let mut p = P::new();
    let a = p.buf("a", Memory::Sbuf, DType::BFloat16, &[128, 512]);
    let b = p.buf("b", Memory::Sbuf, DType::BFloat16, &[128, 512]);
    p.op(Op::TensorCopy {
        engine: Engine::Vector,
        dst: tile(b, 0, 128, 0, 512),
        src: tile(a, 0, 128, 0, 512),
    });
    p.op(Op::TensorTensor {
        engine: Engine::Vector,
        op: AluOp::Max,
        dst: tile(a, 0, 128, 0, 512),
        a: tile(b, 0, 128, 0, 512),
        b: tile(b, 0, 128, 0, 512),
    });
    let r = run(&p.0, &hw(""));
    // bf16: 512 lanes = 4 elements per partition per cycle: N = 512 / 4 = 128 cycles at 960 MHz.
    let copy = ps(128, 960);
    assert_eq!(r.schedule.end_ps[0], copy);
    assert_eq!(r.schedule.visible_ps[0], copy + ps(60, 960));
    // tensor_tensor max: the performance mode lifts a bf16 tensor_tensor in SBUF 2x, not 4x
    // [ARCH-V3]: 512 / 2 = 256 lane cycles, 2N = 512 cycles, plus 100 for depending on the
    // instruction just before.
    assert_eq!(r.schedule.start_ps[1], copy + ps(60, 960));
    assert_eq!(
        r.schedule.end_ps[1] - r.schedule.start_ps[1],
        ps(512 + 100, 960)
    );
}

#[test]
fn one_dma_is_latency_plus_descriptors_at_the_achievable_rate() {
    let mut p = P::new();
    let src = p.buf("src", Memory::Hbm, DType::BFloat16, &[1, 16384]);
    let dst = p.buf("dst", Memory::Sbuf, DType::BFloat16, &[1, 16384]);
    p.op(Op::DmaCopy {
        dst: tile(dst, 0, 1, 0, 16384),
        src: tile(src, 0, 1, 0, 16384),
        queue: DmaQueue {
            engine: 0,
            queue: 0,
        },
    });
    let h = hw("");
    let r = run(&p.0, &h);
    // 32 KiB contiguous = 8 descriptors of 4 KiB, each at 23 B/ns (measured: 1,416 ns); 600 ns latency.
    let expect_ns = 600.0 + 32768.0 / 23.0;
    let got_ns = r.schedule.total_ps as f64 / 1000.0;
    assert!((got_ns - expect_ns).abs() < 0.01, "{got_ns} vs {expect_ns}");
}

#[test]
fn dma_engines_share_hbm_bandwidth() {
    // 16 engines each moving 1 MiB: their demand (16 x 23 B/ns) exceeds trn2's per-core HBM share
    // (2900 / 8 = 362.5 B/ns), so together they run at the share, not at their own peak.
    let mut p = P::new();
    let src = p.buf("src", Memory::Hbm, DType::BFloat16, &[128, 65536]);
    let dst = p.buf("dst", Memory::Sbuf, DType::BFloat16, &[128, 65536]);
    for e in 0..16 {
        p.op(Op::DmaCopy {
            dst: tile(dst, 0, 128, e * 4096, 4096),
            src: tile(src, 0, 128, e * 4096, 4096),
            queue: DmaQueue {
                engine: e as u16,
                queue: 0,
            },
        });
    }
    let h = hw("");
    let r = run(&p.0, &h);
    let bytes = 16.0 * 128.0 * 4096.0 * 2.0;
    let expect_ns = 600.0 + bytes / 362.5;
    let got_ns = r.schedule.total_ps as f64 / 1000.0;
    assert!(
        (got_ns / expect_ns - 1.0).abs() < 1e-3,
        "{got_ns} vs {expect_ns}"
    );
    // With twice the HBM bandwidth the engines are the limit: 23 B/ns each.
    let wide = run(&p.0, &hw("chip.hbm_bytes_per_ns=5800"));
    let expect = 600.0 + bytes / 16.0 / 23.0;
    let got = wide.schedule.total_ps as f64 / 1000.0;
    assert!((got / expect - 1.0).abs() < 1e-3, "{got} vs {expect}");
}

#[test]
fn dependencies_follow_regions_not_names() {
    let mut p = P::new();
    let a = p.buf("a", Memory::Sbuf, DType::Float32, &[128, 1024]);
    let b = p.buf("b", Memory::Sbuf, DType::Float32, &[128, 1024]);
    // Vector writes a[:, 0:512]; Scalar reads a[:, 512:1024] (no overlap: runs at once) and
    // GpSimd reads a[:, 256:768] (overlap: waits for the write to be visible).
    p.op(Op::Memset {
        engine: Engine::Vector,
        dst: tile(a, 0, 128, 0, 512),
        value: 1.0,
    });
    p.op(Op::TensorCopy {
        engine: Engine::Scalar,
        dst: tile(b, 0, 128, 0, 512),
        src: tile(a, 0, 128, 512, 512),
    });
    p.op(Op::TensorCopy {
        engine: Engine::GpSimd,
        dst: tile(b, 0, 128, 512, 512),
        src: tile(a, 0, 128, 256, 512),
    });
    // WAR: vector overwrites a[:, 512:1024] after Scalar and GpSimd read parts of it: it waits
    // for both reads to end (not for their results to be visible).
    p.op(Op::Memset {
        engine: Engine::Vector,
        dst: tile(a, 0, 128, 512, 512),
        value: 2.0,
    });
    let r = run(&p.0, &hw(""));
    let s = &r.schedule;
    assert_eq!(s.start_ps[1], 0);
    assert_eq!(s.start_ps[2], s.visible_ps[0]);
    assert_eq!(s.start_ps[3], s.end_ps[0].max(s.end_ps[1]).max(s.end_ps[2]));
    assert!(s.end_ps[2] > s.end_ps[0] && s.end_ps[2] < s.visible_ps[2]);
    let deps = |i: usize| {
        r.plan
            .deps_of(i)
            .iter()
            .map(|d| d & plan::INDEX)
            .collect::<Vec<_>>()
    };
    assert_eq!(deps(1), Vec::<u32>::new());
    assert_eq!(deps(2), vec![0]);
    assert_eq!(deps(3), vec![1, 2]);
}

/// A warm PE array, then a pause the last matmul waits for: three dependent Vector copies of
/// 64, `pause_elems` and 64 fp32 elements per partition (one per cycle at 0.96 GHz on trn2).
fn throttle_trace(pause_elems: usize) -> Program {
    let mut text = String::from(
        "trnsim-trace 1\nkernel warm\nbuffer w sbuf bf16 [128, 128] zeros\n\
         buffer x sbuf bf16 [128, 512] zeros\nbuffer acc psum fp32 [128, 512] zeros\n\
         buffer s sbuf fp32 [128, 4096] zeros\nbuffer t sbuf fp32 [128, 4096] zeros\n",
    );
    let mm = "matmul dst=acc[0:128, 0:512] stationary=w[0:128, 0:128] moving=x[0:128, 0:512] accumulate=false\n";
    for _ in 0..40 {
        text.push_str(mm);
    }
    text.push_str("tensor_copy engine=vector dst=s[0:128, 0:64] src=acc[0:128, 0:64]\n");
    text.push_str(&format!(
        "tensor_copy engine=vector dst=t[0:128, 0:{pause_elems}] src=s[0:128, 0:{pause_elems}]\n"
    ));
    text.push_str("tensor_copy engine=vector dst=x[0:128, 0:64] src=t[0:128, 0:64]\n");
    text.push_str(mm);
    trnsim::isa::parse::parse(&text, "warm.trace").unwrap()
}

/// Neuron Explorer: once warm, the throttle re-engages when the PE array was busy under 50 % of
/// the last ~3 us; an idle gap shorter than the window does not matter by itself.
#[test]
fn the_throttle_re_engages_when_a_window_is_under_half_busy() {
    let h = hw("");
    let full = ps(512, 2400);
    let last = |pause: usize| {
        let r = run(&throttle_trace(pause), &h);
        let i = r.schedule.end_ps.len() - 1;
        let gap = r.schedule.start_ps[i] - r.schedule.end_ps[39];
        (r.schedule.end_ps[i] - r.schedule.start_ps[i], gap)
    };
    // A short pause (under half of the 3 us window idle): still warm, full speed.
    let (d, gap) = last(64);
    assert!(gap < 1_500_000, "gap {gap}");
    assert_eq!(d, full);
    // A pause of about 2.7 us (under the 3 us idle gap of the old rule, but the window was
    // busy a tenth of the time): the multiply restarts at half speed.
    let (d, gap) = last(1400);
    assert!(gap > 1_500_000 && gap < 3_000_000, "gap {gap}");
    let half = (full as f64 / h.pe.throttle.start_fraction).ceil() as u64;
    assert_eq!(d, half);
    // Without the utilization rule (reengage_below = 0) the same pause keeps full speed.
    let old = hw("pe.throttle.reengage_below=0");
    let r = run(&throttle_trace(1400), &old);
    let i = r.schedule.end_ps.len() - 1;
    assert_eq!(r.schedule.end_ps[i] - r.schedule.start_ps[i], full);
}
