//! Golden fingerprints of the timing model: the full schedule and plan of a few programs on every
//! preset, so an optimization that changes any computed time (by even one picosecond) or any
//! dependency fails here. A deliberate change of the model re-records them: the failure message
//! prints the new listing.
//!
//! Programs are built as trace text, so this test does not depend on the in-memory ISA types.

use std::fmt::Write as _;
use std::path::Path;

use trnsim::arch::Hardware;
use trnsim::chip::{self, RunOptions, plan::Cost};
use trnsim::isa::Op;
use trnsim::isa::parse::parse;

/// FNV-1a over 64-bit words.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn word(&mut self, w: u64) {
        for b in w.to_le_bytes() {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn words(&mut self, ws: impl IntoIterator<Item = u64>) {
        for w in ws {
            self.word(w);
        }
    }
}

/// (total_ps, schedule digest, plan digest).
fn fingerprint(text: &str, preset: &str) -> (u64, u64, u64) {
    let p = parse(text, "golden").unwrap();
    let hw = Hardware::preset(preset).unwrap();
    let r = chip::run(&p, &hw, "golden", &[], &RunOptions::default()).unwrap();
    let s = &r.schedule;
    let mut h = Fnv::new();
    h.words(s.start_ps.iter().copied());
    h.words(s.end_ps.iter().copied());
    h.words(s.visible_ps.iter().copied());
    h.words(s.queue_busy_ps.iter().copied());
    h.words([s.dma_busy_ps, s.total_ps]);
    let sched = h.0;
    let pl = &r.plan;
    let mut h = Fnv::new();
    h.words(pl.queue.iter().map(|&q| q as u64));
    let (deps, dep_start) = pl.csr();
    h.words(deps.iter().map(|&d| d as u64));
    h.words(dep_start.iter().map(|&d| d as u64));
    let (dependents, dependent_start) = pl.dependents();
    h.words(dependents.iter().map(|&d| d as u64));
    h.words(dependent_start.iter().map(|&d| d as u64));
    // Per-instruction matmul FLOPs (the plan once listed them; now it keeps their sum).
    let flops: Vec<f64> = p
        .instrs
        .iter()
        .map(|ins| match &ins.op {
            Op::Matmul {
                stationary, moving, ..
            } => {
                2.0 * stationary.partition_count as f64
                    * stationary.free_size() as f64
                    * moving.free_size() as f64
            }
            _ => 0.0,
        })
        .collect();
    h.words(flops.iter().map(|f| f.to_bits()));
    assert_eq!(
        pl.flops.to_bits(),
        flops.iter().sum::<f64>().to_bits(),
        "total FLOPs"
    );
    h.words([
        pl.queues as u64,
        pl.ideal_compute_ps.to_bits(),
        pl.hbm_bytes,
    ]);
    for i in 0..pl.len() {
        match pl.cost(i) {
            Cost::Compute {
                busy_ps,
                latency_ps,
            } => h.words([0, busy_ps, latency_ps]),
            Cost::Tensor {
                load_cycles,
                mm_cycles,
                latency_cycles,
                reuse_weights,
                ..
            } => h.words([
                1,
                load_cycles,
                mm_cycles,
                latency_cycles,
                reuse_weights as u64,
            ]),
            Cost::Dma {
                engine,
                work_bytes,
                hbm_bytes,
                latency_ps,
            } => h.words([
                2,
                engine as u64,
                work_bytes.to_bits(),
                hbm_bytes,
                latency_ps,
            ]),
        }
    }
    (s.total_ps, sched, h.0)
}

/// The `benches/chip.rs` pipeline as trace text.
fn pipeline(iterations: usize) -> String {
    let mut t = String::from(
        "trnsim-trace 1\nkernel pipeline\n\
         buffer x hbm bf16 [128, 32768] zeros\n\
         buffer w hbm bf16 [128, 8192] zeros\n\
         buffer y hbm bf16 [128, 32768] zeros\n\
         buffer xs sbuf bf16 [128, 2048] zeros\n\
         buffer ws sbuf bf16 [128, 512] zeros\n\
         buffer ps psum float32 [128, 2048] zeros\n\
         buffer ys sbuf bf16 [128, 2048] zeros\n",
    );
    for i in 0..iterations {
        let (s, h) = (i % 4, i % 64);
        let q = |k: usize| format!("{}.{}", (i * 3 + k) % 16, i % 4);
        let r = |o: usize, n: usize| format!("[0:128, {}:{}]", o * n, (o + 1) * n);
        writeln!(
            t,
            "dma_copy dst=xs{} src=x{} queue={}",
            r(s, 512),
            r(h, 512),
            q(0)
        )
        .unwrap();
        writeln!(
            t,
            "dma_copy dst=ws{} src=w{} queue={}",
            r(s, 128),
            r(h, 128),
            q(1)
        )
        .unwrap();
        writeln!(
            t,
            "matmul dst=ps{} stationary=ws{} moving=xs{} accumulate=false",
            r(s, 512),
            r(s, 128),
            r(s, 512)
        )
        .unwrap();
        writeln!(
            t,
            "tensor_copy engine=vector dst=ys{} src=ps{}",
            r(s, 512),
            r(s, 512)
        )
        .unwrap();
        writeln!(
            t,
            "dma_copy dst=y{} src=ys{} queue={}",
            r(h, 512),
            r(s, 512),
            q(2)
        )
        .unwrap();
    }
    t
}

/// A seeded random mix of every opcode, strided and transposed tiles, shared queues and
/// partial overlaps.
fn mix(n: usize, seed: u64) -> String {
    let mut state = seed;
    let mut next = |m: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % m
    };
    let mut t = String::from(
        "trnsim-trace 1\nkernel mix\n\
         buffer hin hbm bf16 [128, 4096] zeros\n\
         buffer hout hbm bf16 [128, 4096] zeros\n\
         buffer ht hbm bf16 [512, 512] zeros\n\
         buffer sa sbuf bf16 [128, 2048] zeros\n\
         buffer sb sbuf bf16 [128, 2048] zeros\n\
         buffer sf sbuf float32 [128, 2048] zeros\n\
         buffer col sbuf float32 [128, 8] zeros\n\
         buffer ps psum float32 [128, 2048] zeros\n",
    );
    let engines = ["vector", "gpsimd"];
    let engines3 = ["vector", "scalar", "gpsimd"];
    for _ in 0..n {
        let s = next(4) as usize;
        let s2 = next(4) as usize;
        let h = next(8) as usize;
        let q = format!("{}.{}", next(16), next(3));
        let half = next(2) as usize * 64;
        let line = match next(17) {
            0 | 1 => format!(
                "dma_copy dst=sb[0:128, {}:{}] src=hin[0:128, {}:{}] queue={q}",
                s * 512,
                s * 512 + 512,
                h * 512,
                h * 512 + 512
            ),
            2 => format!(
                "dma_copy dst=hout[0:128, {}:{}] src=sa[0:128, {}:{}] queue={q}",
                h * 512,
                h * 512 + 512,
                s * 512,
                s * 512 + 512
            ),
            3 => format!(
                "dma_copy dst=sa[0:128, {}:{}] src=ht[{}:{}:1, @{}[512,128]] queue={q}",
                s * 128,
                s * 128 + 128,
                h * 16,
                h * 16 + 128,
                s2 * 128
            ),
            4 => format!(
                "dma_copy dst=sb[{half}:{}, {}:{}] src=sa[{half}:{}, @{}[2,256]] queue={q}",
                half + 64,
                s * 256,
                s * 256 + 256,
                half + 64,
                s2 * 512
            ),
            5 | 6 => format!(
                "matmul dst=ps[0:128, {}:{}] stationary=sa[0:128, {}:{}] moving=sb[0:128, {}:{}] accumulate={}",
                s * 512,
                s * 512 + 512,
                s2 * 128,
                s2 * 128 + 128,
                h % 4 * 512,
                h % 4 * 512 + 512,
                next(2) == 0
            ),
            7 => format!(
                "transpose dst=ps[0:128, {}:{}] src=sa[0:128, {}:{}]",
                s * 512,
                s * 512 + 128,
                s2 * 128,
                s2 * 128 + 128
            ),
            8 => format!(
                "tensor_copy engine={} dst=sf[0:128, {}:{}] src=ps[0:128, {}:{}]",
                engines3[next(3) as usize],
                s * 512,
                s * 512 + 512,
                s2 * 512,
                s2 * 512 + 512
            ),
            9 => format!(
                "activation func=gelu dst=sa[0:128, {}:{}] src=sf[0:128, {}:{}] scale=col[0:128, 0:1] bias=0.5{}",
                s * 512,
                s * 512 + 512,
                s2 * 512,
                s2 * 512 + 512,
                if next(2) == 0 {
                    " reduce=sum reduce_dst=col[0:128, 1:2]"
                } else {
                    ""
                }
            ),
            10 => format!(
                "tensor_tensor engine={} op={} dst=sb[0:128, {}:{}] a=sa[0:128, {}:{}] b=sb[0:128, {}:{}]",
                engines[next(2) as usize],
                ["add", "mul", "max", "div"][next(4) as usize],
                s * 512,
                s * 512 + 512,
                s2 * 512,
                s2 * 512 + 512,
                h % 4 * 512,
                h % 4 * 512 + 512
            ),
            11 => format!(
                "tensor_scalar engine={} dst=sf[0:128, {}:{}] src=sf[0:128, {}:{}] op0=mul scalar0=col[0:128, 2:3]{}",
                engines3[next(3) as usize],
                s * 512,
                s * 512 + 512,
                s2 * 512,
                s2 * 512 + 512,
                if next(2) == 0 {
                    " op1=div scalar1=3"
                } else {
                    ""
                }
            ),
            12 => format!(
                "tensor_reduce engine={} op={} dst=col[0:128, 3:4] src=sf[0:128, @{}[4,128]]",
                engines[next(2) as usize],
                ["sum", "max"][next(2) as usize],
                s * 512
            ),
            13 => format!(
                "memset engine={} dst=sb[0:128, {}:{}] value={}",
                engines[next(2) as usize],
                s * 512,
                s * 512 + 512,
                next(2)
            ),
            14 => format!(
                "iota dst=sf[0:32, {}:{}] base=1 channel_multiplier=2 step=3",
                s * 512,
                s * 512 + 64
            ),
            15 => format!(
                "affine_select dst=sa[0:128, {}:{}] src=sa[0:128, {}:{}] cmp=ge base=-3 fill=-1e30",
                s * 512,
                s * 512 + 512,
                s * 512,
                s * 512 + 512
            ),
            _ => format!(
                "bn_stats dst=col[0:128, 4:7] src=sf[0:128, {}:{}]",
                s * 512,
                s * 512 + 512
            ),
        };
        t.push_str(&line);
        t.push('\n');
    }
    t
}

fn shipped(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("traces")
            .join(format!("{name}.trace")),
    )
    .unwrap()
}

/// (program, preset, total_ps, schedule digest, plan digest).
const GOLDEN: &[(&str, &str, u64, u64, u64)] = &[
    (
        "pipeline2000",
        "trn1",
        15253078795,
        0xd7df5301cef77194,
        0x25768db3eda02229,
    ),
    (
        "pipeline2000",
        "trn2",
        7673719481,
        0x46ddecd8a89182cb,
        0xd35610c7ef034518,
    ),
    (
        "pipeline2000",
        "trn3",
        5347382929,
        0xd04e26d30dc97bab,
        0x27cb5d1347aaf2a8,
    ),
    (
        "pipeline40000",
        "trn1",
        304496445340,
        0x27b2daa92b65a811,
        0xc401bc109edd6bb4,
    ),
    (
        "pipeline40000",
        "trn2",
        153019573531,
        0xc5759b67b3e50edb,
        0x2be3e4bf42bae790,
    ),
    (
        "pipeline40000",
        "trn3",
        106158771429,
        0x72cffcd9436dd990,
        0xa80d01667f541650,
    ),
    (
        "mix3000",
        "trn1",
        187735432675,
        0x94e824b4b6084031,
        0x9d1c6db5115aa45a,
    ),
    (
        "mix3000",
        "trn2",
        57936142668,
        0x0733d1f8477b2853,
        0x6d8b6d08941ca8c7,
    ),
    (
        "mix3000",
        "trn3",
        36981461520,
        0x772744e70d0d6453,
        0xed536cf7c8fc7207,
    ),
    (
        "mix500",
        "trn1",
        27090983879,
        0x1f2a4af9e874db41,
        0x115f05f154ad8f2b,
    ),
    (
        "mix500",
        "trn2",
        8363673820,
        0x3c89d2f2a4153c95,
        0x4fea24e6cea3c140,
    ),
    (
        "mix500",
        "trn3",
        5335136334,
        0x9991b63e393adfdf,
        0x21bf9e11a7b0776c,
    ),
    (
        "gelu",
        "trn1",
        71918861,
        0x0743d168c3f3a49a,
        0x24cff66625b62c12,
    ),
    (
        "gelu",
        "trn2",
        37134641,
        0x457bb0c5a8517275,
        0x99d29c13e1f728b2,
    ),
    (
        "gelu",
        "trn3",
        25730066,
        0x76902ac0071c3ca1,
        0xaec08f5ab21007e2,
    ),
    (
        "layernorm",
        "trn1",
        66594518,
        0xfaf60248fca5b389,
        0x81ea4dc6415e4eda,
    ),
    (
        "layernorm",
        "trn2",
        49489432,
        0x344bfffe8ab588d5,
        0xb877b497b031b7d3,
    ),
    (
        "layernorm",
        "trn3",
        35155034,
        0x9a7b82b3379275d5,
        0x4343132f6eab8677,
    ),
    (
        "matmul_k_accumulate",
        "trn1",
        52674146,
        0xd2135542f17b7acc,
        0x6da95e9aa525ecd3,
    ),
    (
        "matmul_k_accumulate",
        "trn2",
        27665358,
        0x45867f940092037a,
        0x294f3f30f59f0d56,
    ),
    (
        "matmul_k_accumulate",
        "trn3",
        19472759,
        0x5f8deae9ef2ab986,
        0xa4390e672a0b8ee0,
    ),
    (
        "matmul_tile",
        "trn1",
        36107288,
        0x1a4dc5ac7e9b6664,
        0x5de8e57c469b5726,
    ),
    (
        "matmul_tile",
        "trn2",
        18953156,
        0x144e8b93cb738da4,
        0x864b60d058014d01,
    ),
    (
        "matmul_tile",
        "trn3",
        13451701,
        0xa3ac4ade6179c32c,
        0xc4ef402fe764c77d,
    ),
    (
        "softmax_rows",
        "trn1",
        47269939,
        0x865c649e30c38c46,
        0x220abe7d98d4a89c,
    ),
    (
        "softmax_rows",
        "trn2",
        30123303,
        0x52916d0e7ab97fe9,
        0x0c2747d839e6e573,
    ),
    (
        "softmax_rows",
        "trn3",
        21551699,
        0x94a00b69d18927de,
        0x030f65f39a41447a,
    ),
];

fn programs() -> Vec<(String, String)> {
    let mut v = vec![
        ("pipeline2000".to_string(), pipeline(2000)),
        ("pipeline40000".to_string(), pipeline(40000)),
        ("mix3000".to_string(), mix(3000, 1)),
        ("mix500".to_string(), mix(500, 7)),
    ];
    for name in [
        "gelu",
        "layernorm",
        "matmul_k_accumulate",
        "matmul_tile",
        "softmax_rows",
    ] {
        v.push((name.to_string(), shipped(name)));
    }
    v
}

#[test]
fn schedules_and_plans_match_the_recorded_fingerprints() {
    let mut got = Vec::new();
    for (name, text) in programs() {
        for preset in ["trn1", "trn2", "trn3"] {
            let (total, s, p) = fingerprint(&text, preset);
            got.push((name.clone(), preset, total, s, p));
        }
    }
    let listing: String = got
        .iter()
        .map(|(n, p, t, s, pl)| format!("    (\"{n}\", \"{p}\", {t}, {s:#018x}, {pl:#018x}),\n"))
        .collect();
    assert_eq!(got.len(), GOLDEN.len(), "recorded fingerprints:\n{listing}");
    for (g, w) in got.iter().zip(GOLDEN) {
        assert_eq!(
            (g.0.as_str(), g.1, g.2, g.3, g.4),
            *w,
            "fingerprints now:\n{listing}"
        );
    }
}
