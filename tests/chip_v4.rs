//! NeuronCore-v4 (and v2/v3) hardware features in traces: Trn3's Vector `exponential`, moving
//! free sizes beyond one PSUM bank, PE array tiling, background transposes, MX matmul. Times are
//! checked against the preset's formula computed here; values against f64 or pinned references;
//! a trace using a feature on hardware without it is a located error naming the preset.

use trnsim::arch::Hardware;
use trnsim::chip::{self, RunOptions, RunResult};
use trnsim::isa::{Program, parse::parse};

mod common;

fn hw(name: &str, overrides: &str) -> Hardware {
    common::preset_with(name, overrides)
}

fn program(text: &str) -> Program {
    parse(text, "t.trace").unwrap()
}

fn run(text: &str, hw: &Hardware) -> (Program, RunResult) {
    let p = program(text);
    let opts = RunOptions {
        data: true,
        ..Default::default()
    };
    let r = chip::run(&p, hw, "t.trace", &[], &opts).unwrap();
    (p, r)
}

fn run_err(text: &str, hw: &Hardware) -> String {
    let p = program(text);
    match chip::run(&p, hw, "t.trace", &[], &RunOptions::default()) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn values(p: &Program, r: &RunResult, name: &str) -> Vec<f32> {
    let id = p.buffer_id(name).unwrap();
    r.state.as_ref().unwrap().values(id).to_vec()
}

/// ceil(cycles * 1e6 / MHz) picoseconds, the simulator's rounding.
fn ps(cycles: u64, mhz: u32) -> u64 {
    (cycles * 1_000_000).div_ceil(mhz as u64)
}

// ---- Vector exponential (trn3) ----

const EXP: &str = "trnsim-trace 2
kernel e
buffer x sbuf float32 [128, 512] uniform(low=-6, high=6, seed=7)
buffer m sbuf float32 [128, 1] uniform(low=-2, high=2, seed=8)
buffer y sbuf float32 [128, 512] zeros
buffer s sbuf float32 [128, 1] zeros
exponential dst=y[0:128, 0:512] src=x[0:128, 0:512] max_value=m[0:128, 0:1] reduce_dst=s[0:128, 0:1]
";

#[test]
fn exponential_values_are_exp_of_the_f32_difference_and_their_f32_sum() {
    let (p, r) = run(EXP, &hw("trn3", ""));
    let (x, m) = (values(&p, &r, "x"), values(&p, &r, "m"));
    let (y, s) = (values(&p, &r, "y"), values(&p, &r, "s"));
    for row in 0..128 {
        let mut sum = 0.0f32;
        for j in 0..512 {
            let d = x[row * 512 + j] - m[row];
            let want = (d as f64).exp() as f32;
            assert_eq!(y[row * 512 + j].to_bits(), want.to_bits(), "({row}, {j})");
            sum += want;
        }
        assert_eq!(s[row].to_bits(), sum.to_bits(), "sum of row {row}");
    }
    // The f64 reference rounds once: within half an f32 ulp of e^d (spot check of one value).
    let d = (x[0] - m[0]) as f64;
    assert!((y[0] as f64 - d.exp()).abs() <= d.exp() * f32::EPSILON as f64 / 2.0);
}

#[test]
fn exponential_runs_at_four_times_the_scalar_exp_rate() {
    let t3 = hw("trn3", "");
    // Scalar exp over [128, 512] fp32: 128 lanes -> 512 cycles at 1.2 GHz.
    let scalar = "trnsim-trace 2
kernel e
buffer x sbuf float32 [128, 512] zeros
buffer y sbuf float32 [128, 512] zeros
activation func=exp dst=y[0:128, 0:512] src=x[0:128, 0:512]
";
    let (_, r) = run(scalar, &t3);
    let lanes = t3.scalar.lanes_other as u64 / t3.sbuf.partitions as u64;
    let scalar_cycles = (512 / lanes).max(t3.scalar.min_cycles as u64);
    assert_eq!(r.schedule.end_ps[0], ps(scalar_cycles, t3.scalar.clock_mhz));
    let vector = scalar.replace("activation func=exp", "exponential max_value=0");
    let (_, r) = run(&vector, &t3);
    // [ARCH-V4]: 4x the Scalar exp throughput, same clock: 128 cycles.
    let speedup = t3.costs.vector_exp_speedup as u64;
    assert_eq!(speedup, 4);
    let want = (scalar_cycles / speedup).max(t3.vector.min_cycles as u64);
    assert_eq!(want, 128);
    assert_eq!(r.schedule.end_ps[0], ps(want, t3.vector.clock_mhz));
    // bf16: the Scalar engine's 256 16-bit lanes halve its time; a quarter of that is 64 cycles,
    // the Vector engine's minimum.
    let bf16 = vector.replace("float32", "bfloat16");
    let (_, r) = run(&bf16, &t3);
    assert_eq!(r.schedule.end_ps[0], ps(64, t3.vector.clock_mhz));
    // With the running sum: + activation_reduce_cycles.
    let (_, r) = run(EXP, &t3);
    let c = 128 + t3.costs.activation_reduce_cycles as u64;
    assert_eq!(r.schedule.end_ps[0], ps(c, t3.vector.clock_mhz));
}

#[test]
fn exponential_is_trn3_only_and_format_2() {
    let e = run_err(EXP, &hw("trn2", ""));
    assert!(
        e.starts_with("t.trace:7: exponential needs a Vector engine with exponential")
            && e.contains("'trn2' has none"),
        "{e}"
    );
    let e = parse(&EXP.replace("trace 2", "trace 1"), "t.trace")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("t.trace:7:1: opcode 'exponential' needs trnsim-trace 2"),
        "{e}"
    );
    // Turned on for trn2 by the field, it runs (a description of other hardware may have it).
    run(EXP, &hw("trn2", "costs.vector_exp_speedup=4"));
}

// ---- moving free size beyond one PSUM bank (trn3) ----

/// `[128, 128] x [128, n]` fp32 matmul into a PSUM `[128, n]` of `out`, inputs by iota:
/// `st[k, m] = k`, `mv[k, n] = n`, so `dst[m, n] = n * sum_k k = 8128 n`, exact in f32.
fn wide(n: usize, out: &str) -> String {
    format!(
        "trnsim-trace 1
kernel w
buffer st sbuf float32 [128, 128] zeros
buffer mv sbuf float32 [128, {n}] zeros
buffer d psum {out} [128, {n}] zeros
iota dst=st[0:128, 0:128] channel_multiplier=1 step=0
iota dst=mv[0:128, 0:{n}] step=1
matmul dst=d[0:128, 0:{n}] stationary=st[0:128, 0:128] moving=mv[0:128, 0:{n}]
"
    )
}

#[test]
fn trn3_matmul_streams_4096_fp32_columns_across_psum_banks() {
    let t3 = hw("trn3", "pe.throttle.enabled=false");
    let (p, r) = run(&wide(4096, "float32"), &t3);
    let d = values(&p, &r, "d");
    for m in [0, 77, 127] {
        // Exact in f32 while 8128 n < 2^24.
        for n in [0, 1, 511, 512, 1500, 2047] {
            assert_eq!(d[m * 4096 + n] as f64, 8128.0 * n as f64, "({m}, {n})");
        }
        // Beyond, the PE array's fp32 sum in increasing k from zero rounds: that sum.
        for n in [2048usize, 4095] {
            let seq = (0..128).fold(0.0f32, |acc, k| acc + (k * n) as f32);
            assert_eq!(d[m * 4096 + n], seq, "({m}, {n})");
            assert!((seq as f64 / (8128.0 * n as f64) - 1.0).abs() < 1e-6);
        }
    }
    // Issue interval max(min(64, M), N) x the fp32 factor; the weights load (M x 4 / 4 cycles)
    // before it: the same formula as within one bank [ARCH-V2, COST], N = 4096.
    let pe = &t3.pe;
    let (load, mm) = (128 * 4 / 4, 4096 * pe.fp32_cost_factor as u64);
    let i = 2;
    let start = r.schedule.start_ps[i];
    assert_eq!(r.schedule.end_ps[i] - start, ps(mm, pe.clock_mhz));
    assert!(start >= ps(load, pe.clock_mhz));
}

#[test]
fn trn3_bf16_out_reaches_8192_and_limits_are_located_errors() {
    let t3 = hw("trn3", "");
    let (p, r) = run(&wide(8192, "bfloat16"), &t3);
    let d = values(&p, &r, "d");
    // The fp32 sum in increasing k, rounded to bf16 (8 significant bits) on the way out.
    for n in [3usize, 100, 8191] {
        let seq = (0..128).fold(0.0f32, |acc, k| acc + (k * n) as f32);
        let bf = half::bf16::from_f32(seq).to_f32();
        assert!((bf as f64 / (8128.0 * n as f64) - 1.0).abs() < 1.0 / 256.0);
        assert_eq!(d[5 * 8192 + n], bf, "n = {n}");
    }
    let e = run_err(&wide(8192, "float32"), &t3);
    assert!(
        e.contains("exceeds 4096 (pe.moving_free_max_fp32_out)"),
        "{e}"
    );
    let e = run_err(&wide(1024, "float32"), &hw("trn2", ""));
    assert!(
        e.starts_with("t.trace:8: matmul moving free size 1024 exceeds 512 (pe.moving_free_max)")
            && e.contains("'trn2' has no wide moving free size"),
        "{e}"
    );
    // Within 512 a trn2 matmul still may not span two banks; trn3's may.
    let text = wide(512, "float32")
        .replace("[128, 512] zeros\niota", "[128, 1024] zeros\niota")
        .replace("matmul dst=d[0:128, 0:512]", "matmul dst=d[0:128, 256:768]");
    let text = text.replace(
        "buffer d psum float32 [128, 512]",
        "buffer d psum float32 [128, 1024]",
    );
    let e = run_err(&text, &hw("trn2", ""));
    assert!(e.contains("spans two PSUM banks"), "{e}");
    let (p, r) = run(&text, &t3);
    assert_eq!(values(&p, &r, "d")[256 + 7], 8128.0 * 7.0);
}

// ---- PE array tiling ----

/// Independent bf16 matmuls of K = M = `kk`, N = 512, each on its own buffers, the i-th on PE
/// tile `tiles[i]` (`(row, col, size)`); with `iota`, inputs `st[k, m] = k`, `mv[k, j] = j`
/// first (else zeros, and the matmuls are the first instructions).
fn tiled_with(kk: usize, tiles: &[(usize, usize, usize)], iota: bool) -> String {
    let mut t = String::from("trnsim-trace 2\nkernel tiles\n");
    for i in 0..tiles.len() {
        t += &format!(
            "buffer st{i} sbuf bfloat16 [{kk}, {kk}] zeros\nbuffer mv{i} sbuf bfloat16 [{kk}, 512] zeros\nbuffer d{i} psum float32 [{kk}, 512] zeros\n"
        );
    }
    for i in (0..tiles.len()).filter(|_| iota) {
        t += &format!(
            "iota dst=st{i}[0:{kk}, 0:{kk}] channel_multiplier=1 step=0\niota dst=mv{i}[0:{kk}, 0:512] step=1\n"
        );
    }
    for (i, (r, c, s)) in tiles.iter().enumerate() {
        t += &format!(
            "matmul dst=d{i}[0:{kk}, 0:512] stationary=st{i}[0:{kk}, 0:{kk}] moving=mv{i}[0:{kk}, 0:512] tile_position={r},{c} tile_size={s},{s}\n"
        );
    }
    t
}

fn tiled(kk: usize, tiles: &[(usize, usize, usize)]) -> String {
    tiled_with(kk, tiles, false)
}

/// End of each matmul of a program whose matmuls come after `first` other instructions.
fn mm_ends(r: &RunResult, first: usize, n: usize) -> Vec<u64> {
    (first..first + n).map(|i| r.schedule.end_ps[i]).collect()
}

#[test]
fn matmuls_on_disjoint_tiles_overlap_and_on_one_tile_serialize() {
    let t2 = hw("trn2", "pe.throttle.enabled=false");
    let pe = &t2.pe;
    let p = |c: u64| ps(c, pe.clock_mhz);
    // Each: weights load in M / 4 = 16 cycles (the next one in the background of the previous
    // multiply), multiply max(min(64, M), N) = 512 cycles [ARCH-V2, COST, PERF].
    let (load, mm) = (64 / pe.load_stationary_divisor as u64, 512);
    let text = tiled(64, &[(0, 0, 64), (64, 64, 64)]);
    let (_, r) = run(&text, &t2);
    let ends = mm_ends(&r, 0, 2);
    // Disjoint tiles: the second multiply starts when its weights are in, not after the first.
    assert_eq!(ends, vec![p(load) + p(mm), p(load) + p(load) + p(mm)]);
    // The same tile twice: the second waits for the first's multiply.
    let (_, r) = run(&tiled(64, &[(0, 0, 64), (0, 0, 64)]), &t2);
    assert_eq!(mm_ends(&r, 0, 2)[1], p(load) + 2 * p(mm));
    // Untiled, the same two matmuls serialize as well.
    let plain = text
        .replace(" tile_position=0,0 tile_size=64,64", "")
        .replace(" tile_position=64,64 tile_size=64,64", "");
    let (_, r) = run(&plain, &t2);
    assert_eq!(mm_ends(&r, 0, 2)[1], p(load) + 2 * p(mm));
    // Values: dst[m, j] = j * sum_k k = 2016 j, exact (j < 256 is exact in bf16), on either tile.
    let (prog, r) = run(&tiled_with(64, &[(0, 0, 64), (64, 64, 64)], true), &t2);
    for d in ["d0", "d1"] {
        let v = values(&prog, &r, d);
        for (m, j) in [(0, 0), (5, 100), (63, 255)] {
            assert_eq!(v[m * 512 + j] as f64, 2016.0 * j as f64, "{d} ({m}, {j})");
        }
    }
}

#[test]
fn four_32_tiles_run_at_once_on_trn2_and_trn1_tiles_by_64() {
    let t2 = hw("trn2", "pe.throttle.enabled=false");
    let p = |c: u64| ps(c, t2.pe.clock_mhz);
    let quads = [(0, 0, 32), (32, 32, 32), (64, 64, 32), (96, 96, 32)];
    let (_, r) = run(&tiled(32, &quads), &t2);
    // Loads of M / 4 = 8 cycles one after another; each multiply (512) right after its load.
    let want: Vec<u64> = (1..=4).map(|i| i * p(8) + p(512)).collect();
    assert_eq!(mm_ends(&r, 0, 4), want);
    let e = run_err(&tiled(32, &quads), &hw("trn1", ""));
    assert!(
        e.starts_with(
            "t.trace:15: matmul tile of 32 rows: 'trn1' tiles its 128 PE rows into 128, 64"
        ),
        "{e}"
    );
    let e = run_err(&tiled(32, &quads), &hw("trn2", "pe.tile_min_size=0"));
    assert!(
        e.contains("needs a tiled PE array") && e.contains("'trn2' has none"),
        "{e}"
    );
    let e = run_err(&tiled(64, &[(32, 0, 64)]), &t2);
    assert!(
        e.contains("tile of 64 rows at 32: the position is a multiple"),
        "{e}"
    );
    let e = run_err(&tiled(64, &[(0, 0, 32)]), &t2);
    assert!(
        e.contains("K = 64, M = 64 does not fit its tile of 32 rows x 32 columns"),
        "{e}"
    );
    let e = parse(
        &tiled(64, &[(0, 0, 64)]).replace("trace 2", "trace 1"),
        "t.trace",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("key 'tile_position' of matmul needs trnsim-trace 2"),
        "{e}"
    );
}

// ---- background transpose (trn3) ----

const BG: &str = "trnsim-trace 2
kernel bg
buffer w sbuf bfloat16 [128, 128] zeros
buffer x sbuf bfloat16 [128, 512] zeros
buffer s sbuf bfloat16 [128, 128] uniform(seed=3)
buffer d psum float32 [128, 512] zeros
buffer t psum bfloat16 [128, 128] zeros
matmul dst=d[0:128, 0:512] stationary=w[0:128, 0:128] moving=x[0:128, 0:512]
transpose dst=t[0:128, 0:128] src=s[0:128, 0:128] background=true
";

#[test]
fn a_background_transpose_overlaps_the_matmul_and_is_bit_exact() {
    let t3 = hw("trn3", "pe.throttle.enabled=false");
    let pe = &t3.pe;
    let p = |c: u64| ps(c, pe.clock_mhz);
    // Matmul: load 128 / 4 = 32 cycles, multiply 512. Transpose: max(P, min(64, F)) = 128 [COST].
    let (load, mm, tr) = (32, 512, 128);
    let (prog, r) = run(BG, &t3);
    assert_eq!(r.schedule.end_ps[0], p(load) + p(mm));
    // In the background it starts with the multiply (in order, not before it) and ends first.
    assert_eq!(r.schedule.start_ps[1], p(load));
    assert_eq!(r.schedule.end_ps[1], p(load) + p(tr));
    // In the foreground it queues behind the multiply.
    let (_, fg) = run(&BG.replace(" background=true", ""), &t3);
    assert_eq!(fg.schedule.end_ps[1], p(load) + p(mm) + p(tr));
    // The values are the transpose, bit for bit (bf16 into a bf16 PSUM tile).
    let (s, t) = (values(&prog, &r, "s"), values(&prog, &r, "t"));
    for (i, j) in [(0, 1), (5, 77), (127, 3)] {
        assert_eq!(t[j * 128 + i].to_bits(), s[i * 128 + j].to_bits());
    }
    let e = run_err(BG, &hw("trn2", ""));
    assert!(
        e.starts_with("t.trace:9: transpose background=true needs")
            && e.contains("'trn2' has none"),
        "{e}"
    );
    let e = parse(
        &BG.replace("background=true", "engine=vector background=true"),
        "t.trace",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("a background transpose runs on the tensor engine"),
        "{e}"
    );
}

// ---- through the NKI front end ----

const NKI_EXP: &str = "import nki
import nki.language as nl
import nki.isa as nisa

@nki.jit
def k(x):
    out = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
    xs = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.sbuf)
    nisa.dma_copy(dst=xs, src=x)
    e = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.sbuf)
    nisa.exponential(dst=e, src=xs, max_value=1.5)
    nisa.dma_copy(dst=out, src=e)
    return out
";

fn trnsim_nki(dir: &std::path::Path, hw: &str) -> std::process::Output {
    let x =
        ndarray::Array2::from_shape_fn((128, 512), |(p, f)| (p as f32 - f as f32 / 64.0) / 16.0);
    let xp = dir.join("x.npy");
    ndarray_npy::WriteNpyExt::write_npy(&x, std::fs::File::create(&xp).unwrap()).unwrap();
    std::fs::write(dir.join("k.py"), NKI_EXP).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .args(["nki", "k.py", "--hw", hw, "--input"])
        .arg(format!("x={}", xp.display()))
        .arg("--output")
        .arg(format!("out={}", dir.join("out.npy").display()))
        .current_dir(dir)
        .env_remove("TRNSIM_PYTHON")
        .output()
        .unwrap()
}

#[test]
fn nki_exponential_runs_on_trn3_and_is_refused_on_trn2() {
    let dir = tempfile::tempdir().unwrap();
    let o = trnsim_nki(dir.path(), "trn3");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let out: ndarray::Array2<f32> =
        ndarray_npy::ReadNpyExt::read_npy(std::fs::File::open(dir.path().join("out.npy")).unwrap())
            .unwrap();
    for (p, f) in [(0, 0), (3, 100), (127, 511)] {
        let x = (p as f32 - f as f32 / 64.0) / 16.0;
        let want = ((x - 1.5) as f64).exp() as f32;
        assert_eq!(out[[p, f]].to_bits(), want.to_bits(), "({p}, {f})");
    }
    let o = trnsim_nki(dir.path(), "trn2");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("exponential needs a Vector engine") && err.contains("'trn2' has none"),
        "{err}"
    );
}
