//! Trn3's MX matmul (`matmul ... stationary_scale= moving_scale= mx=`): values against an f64
//! reference computed here from the decoded elements and scales, time against the bf16 matmul
//! formula (K = 4P in the time of P rows: 4x), and located errors (hardware without
//! `pe.mx_matmul`, wrong shapes, dtypes and scale codes).

use ndarray::{ArrayD, IxDyn};
use trnsim::arch::Hardware;
use trnsim::chip::{self, RunOptions, RunResult};
use trnsim::isa::{BufferId, Program, parse::parse};
use trnsim::numerics::mx::{decode_e2m1, decode_e8m0};
use trnsim::numerics::{Cast, DType, Tensor};

mod common;

fn hw(name: &str, overrides: &str) -> Hardware {
    common::preset_with(name, overrides)
}

/// ceil(cycles * 1e6 / MHz) picoseconds, the simulator's rounding.
fn ps(cycles: u64, mhz: u32) -> u64 {
    (cycles * 1_000_000).div_ceil(mhz as u64)
}

/// A deterministic generator (64-bit LCG), so the test needs no randomness crate.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as u32
    }
}

/// fp4 e2m1fn values by code, as `ml_dtypes.float4_e2m1fn` documents them.
const E2M1: [f32; 16] = [
    0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0,
];

/// An MX problem: P partitions (K = 4P), M x N output, its elements and scale codes.
struct Mx {
    np: usize,
    m: usize,
    n: usize,
    s: Vec<f32>,
    x: Vec<f32>,
    ss: Vec<u8>,
    xs: Vec<u8>,
}

impl Mx {
    /// Random elements from `elem` (a code -> value map over `codes` codes) and scale codes in
    /// `scales`.
    fn random(
        (np, m, n): (usize, usize, usize),
        elem: &dyn Fn(u32) -> f32,
        codes: u32,
        scales: std::ops::Range<u32>,
        seed: u64,
    ) -> Mx {
        let mut r = Lcg(seed);
        let mut vals = |len: usize| -> Vec<f32> {
            (0..len)
                .map(|_| {
                    loop {
                        let v = elem(r.next() % codes);
                        if v.is_finite() {
                            break v;
                        }
                    }
                })
                .collect()
        };
        let (s, x) = (vals(np * 4 * m), vals(np * 4 * n));
        let mut sc = |len: usize| -> Vec<u8> {
            let w = scales.end - scales.start;
            (0..len)
                .map(|_| (scales.start + r.next() % w) as u8)
                .collect()
        };
        let (ss, xs) = (sc(np / 8 * m), sc(np / 8 * n));
        Mx {
            np,
            m,
            n,
            s,
            x,
            ss,
            xs,
        }
    }

    /// The trace: inputs in SBUF (elements in `storage`, scales as codes in bf16), dst in PSUM.
    fn trace(&self, storage: &str, out: &str, fmt: &str) -> String {
        let (np, m, n, g) = (self.np, self.m, self.n, self.np / 8);
        format!(
            "trnsim-trace 2\nkernel mx\n\
             buffer s sbuf {storage} [{np}, {}] input\n\
             buffer x sbuf {storage} [{np}, {}] input\n\
             buffer ss sbuf bfloat16 [{g}, {m}] input\n\
             buffer xs sbuf bfloat16 [{g}, {n}] input\n\
             buffer d psum {out} [{m}, {n}] zeros\n\
             matmul dst=d[0:{m}, 0:{n}] stationary=s[0:{np}, 0:{}] moving=x[0:{np}, 0:{}] \
             stationary_scale=ss[0:{g}, 0:{m}] moving_scale=xs[0:{g}, 0:{n}] mx={fmt}\n",
            4 * m,
            4 * n,
            4 * m,
            4 * n
        )
    }

    fn inputs(&self, p: &Program, storage: DType) -> Vec<(BufferId, Tensor)> {
        let t = |v: &[f32], cols: usize, d: DType| {
            let a = ArrayD::from_shape_vec(IxDyn(&[v.len() / cols, cols]), v.to_vec()).unwrap();
            Tensor::from_values(a, d).unwrap()
        };
        let codes = |c: &[u8]| c.iter().map(|&c| c as f32).collect::<Vec<_>>();
        let id = |name: &str| p.buffer_id(name).unwrap();
        vec![
            (id("s"), t(&self.s, 4 * self.m, storage)),
            (id("x"), t(&self.x, 4 * self.n, storage)),
            (id("ss"), t(&codes(&self.ss), self.m, DType::BFloat16)),
            (id("xs"), t(&codes(&self.xs), self.n, DType::BFloat16)),
        ]
    }

    /// The k-th term of output (i, j), k = 4p + q: element x element x 2^(ss - 127) x 2^(xs - 127).
    fn term(&self, i: usize, j: usize, k: usize) -> f64 {
        let (p, q) = (k / 4, k % 4);
        let g = p / 8;
        let a = self.s[p * 4 * self.m + i * 4 + q] as f64;
        let b = self.x[p * 4 * self.n + j * 4 + q] as f64;
        let e = self.ss[g * self.m + i] as i32 + self.xs[g * self.n + j] as i32 - 254;
        a * b * 2f64.powi(e)
    }

    fn run(&self, hw: &Hardware, storage: DType, text: &str) -> Result<Vec<f32>, String> {
        let p = parse(text, "t.trace").unwrap();
        let opts = RunOptions {
            data: true,
            ..Default::default()
        };
        let r = chip::run(&p, hw, "t.trace", &self.inputs(&p, storage), &opts)
            .map_err(|e| e.to_string())?;
        let id = p.buffer_id("d").unwrap();
        Ok(r.state.as_ref().unwrap().values(id).to_vec())
    }
}

/// Every output within the f32 summation bound of the f64 reference (each of the K products
/// and K additions rounds by at most 2^-24 relative), and equal to the f32 sum of the terms in
/// increasing k, bit for bit.
fn assert_matches_reference(mx: &Mx, d: &[f32]) {
    let k = 4 * mx.np;
    for i in 0..mx.m {
        for j in 0..mx.n {
            let terms: Vec<f64> = (0..k).map(|kk| mx.term(i, j, kk)).collect();
            let exact: f64 = terms.iter().sum();
            let mag: f64 = terms.iter().map(|t| t.abs()).sum();
            let got = d[i * mx.n + j];
            let bound = 2.0 * k as f64 * 2f64.powi(-24) * mag;
            assert!(
                (got as f64 - exact).abs() <= bound,
                "({i}, {j}): {got} vs {exact}"
            );
            let seq = terms.iter().fold(0.0f32, |acc, &t| acc + t as f32);
            assert_eq!(got.to_bits(), seq.to_bits(), "({i}, {j})");
        }
    }
}

#[test]
fn mxfp8_e4m3_values_match_the_f64_reference() {
    let e4 = |c: u32| DType::Float8E4M3Fn.decode(c);
    let mx = Mx::random((64, 6, 40), &e4, 256, 118..136, 1);
    let t3 = hw("trn3", "");
    let d = mx
        .run(
            &t3,
            DType::Float8E4M3Fn,
            &mx.trace("float8_e4m3fn", "float32", "mxfp8_e4m3"),
        )
        .unwrap();
    assert_matches_reference(&mx, &d);
    // A spot value by hand: an all-ones problem with scales 2^1 x 2^-2 sums 256 terms of 1/2.
    let ones = Mx {
        np: 64,
        m: 2,
        n: 2,
        s: vec![1.0; 64 * 8],
        x: vec![1.0; 64 * 8],
        ss: vec![128; 16],
        xs: vec![125; 16],
    };
    let d = ones
        .run(
            &t3,
            DType::Float8E4M3Fn,
            &ones.trace("float8_e4m3fn", "float32", "mxfp8_e4m3"),
        )
        .unwrap();
    assert_eq!(d, vec![128.0; 4]);
}

#[test]
fn mxfp8_e5m2_values_and_a_nan_scale() {
    let e5 = |c: u32| DType::Float8E5M2.decode(c);
    let mut mx = Mx::random((32, 4, 16), &e5, 256, 100..140, 2);
    let text = mx.trace("float8_e5m2", "float32", "mxfp8_e5m2");
    let t3 = hw("trn3", "");
    assert_matches_reference(&mx, &mx.run(&t3, DType::Float8E5M2, &text).unwrap());
    // e8m0 0xFF is NaN: stationary column 1's group 2 makes output row 1 NaN, and only it.
    mx.ss[2 * mx.m + 1] = 255;
    let d = mx.run(&t3, DType::Float8E5M2, &text).unwrap();
    for i in 0..mx.m {
        for j in 0..mx.n {
            assert_eq!(d[i * mx.n + j].is_nan(), i == 1, "({i}, {j})");
        }
    }
}

#[test]
fn mxfp4_e2m1_values_into_bf16() {
    let mx = Mx::random((128, 8, 64), &|c| E2M1[c as usize], 16, 120..134, 3);
    let text = mx.trace("float8_e4m3fn", "bfloat16", "mxfp4_e2m1");
    let d = mx.run(&hw("trn3", ""), DType::Float8E4M3Fn, &text).unwrap();
    // The f32 sum, rounded to bf16 on the way out.
    for i in 0..mx.m {
        for j in 0..mx.n {
            let seq = (0..512).fold(0.0f32, |acc, k| acc + mx.term(i, j, k) as f32);
            assert_eq!(
                d[i * mx.n + j],
                half::bf16::from_f32(seq).to_f32(),
                "({i}, {j})"
            );
        }
    }
    // A value no fp4 e2m1 element has (5.0 lies between 4 and 6) is a located error.
    let mut bad = mx;
    bad.s[7] = 5.0;
    let e = bad
        .run(&hw("trn3", ""), DType::Float8E4M3Fn, &text)
        .unwrap_err();
    assert!(
        e.contains(":8: matmul: stationary 's' holds 5, not a mxfp4_e2m1 element"),
        "{e}"
    );
}

/// `n` back-to-back matmuls into separate banks, MX (K = 4P) or bf16 (K = P).
fn chain(mx: bool, n: usize) -> String {
    let mut t = String::from("trnsim-trace 2\nkernel c\n");
    let (dt, w) = if mx {
        ("float8_e4m3fn", 4)
    } else {
        ("bfloat16", 1)
    };
    t += &format!("buffer s sbuf {dt} [128, {}] zeros\n", 128 * w);
    t += &format!("buffer x sbuf {dt} [128, {}] zeros\n", 512 * w);
    t += "buffer ss sbuf bfloat16 [16, 128] zeros\nbuffer xs sbuf bfloat16 [16, 512] zeros\n";
    t += &format!("buffer d psum float32 [128, {}] zeros\n", 512 * n);
    for i in 0..n {
        let (a, b) = (512 * i, 512 * (i + 1));
        if mx {
            t += &format!(
                "matmul dst=d[0:128, {a}:{b}] stationary=s[0:128, 0:512] moving=x[0:128, 0:2048] stationary_scale=ss[0:16, 0:128] moving_scale=xs[0:16, 0:512] mx=mxfp8_e4m3\n"
            );
        } else {
            t += &format!(
                "matmul dst=d[0:128, {a}:{b}] stationary=s[0:128, 0:128] moving=x[0:128, 0:512]\n"
            );
        }
    }
    t
}

fn schedule(text: &str, hw: &Hardware) -> RunResult {
    let p = parse(text, "t.trace").unwrap();
    chip::run(&p, hw, "t.trace", &[], &RunOptions::default()).unwrap()
}

#[test]
fn an_mx_matmul_of_k_512_takes_the_time_of_a_bf16_matmul_of_k_128() {
    let t3 = hw("trn3", "pe.throttle.enabled=false");
    let pe = &t3.pe;
    let p = |c: u64| ps(c, pe.clock_mhz);
    // bf16 formula [ARCH-V2, COST]: weights M / 4 = 32 cycles, multiply max(min(64, M), N) = 512.
    let (load, mm) = (128 / pe.load_stationary_divisor as u64, 512);
    let one = schedule(&chain(true, 1), &t3);
    assert_eq!(one.schedule.end_ps[0], p(load) + p(mm));
    // K = 512 here against K = 128 for bf16 in the same time: 4x the K-throughput.
    let bf = schedule(&chain(false, 1), &t3);
    assert_eq!(bf.schedule.end_ps[0], one.schedule.end_ps[0]);
    // Back to back, each MX matmul loads its weights (with their scales) in the background of
    // the previous multiply: four cost 4 x 512 cycles after the first load.
    let four = schedule(&chain(true, 4), &t3);
    assert_eq!(four.schedule.end_ps[3], p(load) + 4 * p(mm));
}

#[test]
fn mx_errors_are_located_and_name_the_preset_and_field() {
    let mx = Mx::random((32, 2, 8), &|c| E2M1[c as usize], 16, 127..128, 4);
    let text = mx.trace("float8_e4m3fn", "float32", "mxfp8_e4m3");
    let run = |text: &str, h: &str| mx.run(&hw(h, ""), DType::Float8E4M3Fn, text).unwrap_err();
    for preset in ["trn1", "trn2"] {
        let e = run(&text, preset);
        assert!(
            e.starts_with("t.trace:8: ")
                && e.contains("pe.mx_matmul")
                && e.contains(&format!("'{preset}' has none")),
            "{e}"
        );
    }
    // A scale tile of the wrong shape: [P / 8, M] = [4, 2] expected.
    let wrong = text.replace(
        "stationary_scale=ss[0:4, 0:2]",
        "stationary_scale=ss[0:2, 0:2]",
    );
    let e = run(&wrong, "trn3");
    assert!(
        e.starts_with("t.trace:8: ") && e.contains("stationary_scale must be [4, 2]"),
        "{e}"
    );
    let wrong = text.replace("moving_scale=xs[0:4, 0:8]", "moving_scale=xs[0:4, 0:4]");
    assert!(run(&wrong, "trn3").contains("moving_scale must be [4, 8]"));
    // Elements in a dtype other than the format's storage.
    let e = run(&text.replace("mx=mxfp8_e4m3", "mx=mxfp8_e5m2"), "trn3");
    assert!(
        e.contains("mx=mxfp8_e5m2 needs stationary in float8_e5m2"),
        "{e}"
    );
    // A scale value that is no e8m0 code.
    let mut frac = Mx { ..mx };
    frac.xs[3] = 0;
    let text_f = text.clone();
    let p = parse(&text_f, "t.trace").unwrap();
    let mut inputs = frac.inputs(&p, DType::Float8E4M3Fn);
    let half = ArrayD::from_elem(IxDyn(&[4, 8]), 127.5f32);
    inputs[3].1 = Tensor::from_f32(half, Cast::new(DType::BFloat16));
    let opts = RunOptions {
        data: true,
        ..Default::default()
    };
    let e = match chip::run(&p, &hw("trn3", ""), "t.trace", &inputs, &opts) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("holds 127.5, not an e8m0 code"), "{e}");
    // Parse errors: the format without scales, and an unknown format.
    let bad = "trnsim-trace 2\nkernel k\nbuffer s sbuf float8_e4m3fn [32, 8] zeros\nbuffer d psum float32 [2, 2] zeros\nmatmul dst=d[0:2, 0:2] stationary=s[0:32, 0:8] moving=s[0:32, 0:8] mx=mxfp8_e4m3\n";
    let e = parse(bad, "t.trace").unwrap_err().to_string();
    assert!(e.contains("key 'mx' needs 'stationary_scale'"), "{e}");
    let e = parse(&text.replace("mx=mxfp8_e4m3", "mx=mxfp6"), "t.trace")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown MX format 'mxfp6'"), "{e}");
}

#[test]
fn an_mx_matmul_prints_and_parses_back() {
    let mx = Mx::random((32, 2, 8), &|c| E2M1[c as usize], 16, 127..128, 5);
    let text = mx.trace("float8_e4m3fn", "float32", "mxfp4_e2m1");
    let p = parse(&text, "t.trace").unwrap();
    let printed = trnsim::isa::print::print(&p);
    assert!(
        printed.contains(
            "matmul dst=d[0:2, 0:8] stationary=s[0:32, 0:8] moving=x[0:32, 0:32] accumulate=false stationary_scale=ss[0:4, 0:2] moving_scale=xs[0:4, 0:8] mx=mxfp4_e2m1"
        ),
        "{printed}"
    );
    assert_eq!(parse(&printed, "t.trace").unwrap().instrs, p.instrs);
}

/// Cross-check (runs only where Python's `ml_dtypes` is installed, else passes with a note):
/// every fp4 e2m1fn and e8m0 code decodes as `ml_dtypes` decodes it.
#[test]
fn cross_check_decoding_with_ml_dtypes_when_installed() {
    let script = "import ml_dtypes, numpy as np\n\
        a = np.arange(16, dtype=np.uint8).view(ml_dtypes.float4_e2m1fn).astype(np.float32)\n\
        b = np.arange(256, dtype=np.uint8).view(ml_dtypes.float8_e8m0fnu).astype(np.float32)\n\
        print(' '.join(str(int(v)) for v in np.concatenate([a, b]).view(np.uint32)))\n";
    let out = std::process::Command::new("python3")
        .args(["-c", script])
        .output();
    let Some(out) = out.ok().filter(|o| o.status.success()) else {
        eprintln!("cross-check skipped: python3 with ml_dtypes is not available");
        return;
    };
    let bits: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(bits.len(), 16 + 256);
    for c in 0..16u8 {
        assert_eq!(decode_e2m1(c).to_bits(), bits[c as usize], "e2m1 code {c}");
    }
    for c in 0..=255u8 {
        let (got, want) = (decode_e8m0(c), f32::from_bits(bits[16 + c as usize]));
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()),
            "e8m0 code {c}: {got} vs {want}"
        );
    }
}
