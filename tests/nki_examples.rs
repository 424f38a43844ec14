//! The NKI examples of `kernels/nki/` end to end through the real binary (`trnsim nki`): values
//! against their NumPy references (`--check-against`, which needs NumPy: `.ci/run` installs it)
//! and, for matmul, softmax, layernorm and the oversized-block kernel, against references
//! computed here in f64; both API generations; the tiled matmul's time equal to its
//! hand-written trace; a logical SBUF tensor larger than SBUF that fits by liveness; the
//! tutorial's 4096 x 8192 x 8192 bf16 matmul timed with `--no-data`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use ndarray::ArrayD;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_trnsim");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The `.npy` descriptor of bf16: what NumPy writes for an `ml_dtypes.bfloat16` array.
const BF16_DESCR: &str = "<V2";

/// A scratch directory for one test, removed when the test ends (its inputs are tens of MB).
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("trnsim-nki-ex-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

/// An `.npy` (version 1.0) header for `descr` and `shape`, padded to 64 bytes.
fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Write float32 values (row-major).
fn write_f32(path: &Path, shape: &[usize], data: &[f32]) {
    assert_eq!(shape.iter().product::<usize>(), data.len());
    let mut bytes = npy_header("<f4", shape);
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// A header-only file: enough for `--no-data`, which reads shapes and dtypes only.
fn write_header(path: &Path, descr: &str, shape: &[usize]) {
    std::fs::write(path, npy_header(descr, shape)).unwrap();
}

fn read_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let a: ArrayD<f32> = ndarray_npy::read_npy(path).unwrap();
    (a.shape().to_vec(), a.iter().copied().collect())
}

/// Deterministic values uniform on `[-scale, scale)` (xorshift64*).
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let u = (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32;
            (2.0 * u - 1.0) * scale
        })
        .collect()
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .output()
        .unwrap()
}

/// `trnsim nki KERNEL --hw trn2 --input NAME=PATH ... EXTRA...`.
fn nki(kernel: &str, inputs: &[(&str, &Path)], extra: &[&str]) -> Output {
    let mut args = vec![
        "nki".to_string(),
        kernel.to_string(),
        "--hw".into(),
        "trn2".into(),
    ];
    for (name, path) in inputs {
        args.push("--input".into());
        args.push(format!("{name}={}", path.display()));
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args)
}

fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn time_ns(json: &str) -> f64 {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    v["time_ns"].as_f64().unwrap()
}

/// Largest |got - want| over the largest |want|.
fn max_rel(got: &[f32], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(0f64, |m, w| m.max(w.abs()));
    let err = got
        .iter()
        .zip(want)
        .fold(0f64, |m, (g, w)| m.max((*g as f64 - w).abs()));
    err / scale
}

/// `lhsT.T @ rhs` in f64; lhsT `[k, m]`, rhs `[k, n]`.
fn matmul_ref(lhs_t: &[f32], rhs: &[f32], (m, k, n): (usize, usize, usize)) -> Vec<f64> {
    let mut c = vec![0f64; m * n];
    for kk in 0..k {
        for i in 0..m {
            let a = lhs_t[kk * m + i] as f64;
            for j in 0..n {
                c[i * n + j] += a * rhs[kk * n + j] as f64;
            }
        }
    }
    c
}

/// Run a kernel with data, check it against its NumPy reference, return its output `out`.
fn run_checked(
    dir: &Path,
    kernel: &str,
    inputs: &[(&str, &Path)],
    reference: &str,
) -> (Vec<usize>, Vec<f32>) {
    let out_path = dir.join("out.npy");
    let out_arg = format!("out={}", out_path.display());
    let out = nki(
        kernel,
        inputs,
        &["--output", &out_arg, "--check-against", reference],
    );
    ok(&out, kernel);
    read_f32(&out_path)
}

#[test]
fn tiled_matmul_in_both_generations_matches_numpy_and_an_f64_product() {
    let dir = scratch("tiled");
    let (m, k, n) = (256, 256, 1024);
    let (a, b) = (values(k * m, 1, 1.0), values(k * n, 2, 1.0));
    let (pa, pb) = (dir.join("lhsT.npy"), dir.join("rhs.npy"));
    write_f32(&pa, &[k, m], &a);
    write_f32(&pb, &[k, n], &b);
    let want = matmul_ref(&a, &b, (m, k, n));
    for file in ["matmul_tiled_old.py", "matmul_tiled_new.py"] {
        let kernel = format!("kernels/nki/{file}");
        let (shape, got) = run_checked(
            &dir,
            &kernel,
            &[("lhsT", &pa), ("rhs", &pb)],
            "kernels/nki/reference.py::ref_matmul",
        );
        assert_eq!(shape, [m, n], "{file}");
        // fp32 products accumulated in fp32 over k = 256: a few units of 2^-24 times sqrt(k).
        let err = max_rel(&got, &want);
        assert!(err < 1e-5, "{file}: max rel error {err}");
    }
    // A reference that disagrees fails the check (exit 1): the comparison is real.
    let out = nki(
        "kernels/nki/matmul_tiled_old.py",
        &[("lhsT", &pa), ("rhs", &pb)],
        &[
            "--check-against",
            "tests/data/nki/wrong_ref.py::ref_matmul_off_by_one",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn tiled_matmul_times_exactly_as_its_hand_written_trace() {
    let dir = scratch("equiv");
    let (pa, pb) = (dir.join("lhsT.npy"), dir.join("rhs.npy"));
    write_header(&pa, "<f4", &[256, 128]);
    write_header(&pb, "<f4", &[256, 512]);
    let trace = ok(
        &run(&[
            "run",
            "tests/data/nki/matmul_equiv.trace",
            "--hw",
            "trn2",
            "--no-data",
            "--format",
            "json",
        ]),
        "run",
    );
    let want = time_ns(&trace);
    for file in ["matmul_tiled_old.py", "matmul_tiled_new.py"] {
        let got = ok(
            &nki(
                &format!("kernels/nki/{file}"),
                &[("lhsT", &pa), ("rhs", &pb)],
                &[
                    "--no-data",
                    "--format",
                    "json",
                    "--order",
                    "source",
                    "--no-address-rotation",
                ],
            ),
            file,
        );
        // As recorded (the kernel's order, the compact allocation): the hand-written trace.
        assert_eq!(time_ns(&got), want, "{file} vs matmul_equiv.trace");
        // As compiled (address rotation, the compiler's order): never slower.
        let compiled = ok(
            &nki(
                &format!("kernels/nki/{file}"),
                &[("lhsT", &pa), ("rhs", &pb)],
                &["--no-data", "--format", "json"],
            ),
            file,
        );
        assert!(
            time_ns(&compiled) <= want,
            "{file}: compiled slower than recorded"
        );
    }
}

#[test]
fn optimized_matmul_matches_numpy_at_one_block_per_dimension() {
    let dir = scratch("optimized");
    // The smallest shape the default blocking (16 x 2 x 8 tiles) takes: one block each.
    let (m, k, n) = (2048, 1024, 1024);
    let (a, b) = (values(k * m, 3, 1.0), values(k * n, 4, 1.0));
    let (pa, pb) = (dir.join("lhsT.npy"), dir.join("rhs.npy"));
    write_f32(&pa, &[k, m], &a);
    write_f32(&pb, &[k, n], &b);
    let (shape, got) = run_checked(
        &dir,
        "kernels/nki/matmul_optimized.py",
        &[("lhsT", &pa), ("rhs", &pb)],
        "kernels/nki/reference.py::ref_matmul",
    );
    assert_eq!(shape, [m, n]);
    let err = max_rel(&got, &matmul_ref(&a, &b, (m, k, n)));
    assert!(err < 1e-5, "max rel error {err}");
}

#[test]
fn optimized_matmul_at_the_tutorial_shape_runs_timing_only() {
    let dir = scratch("tutorial");
    let (m, k, n) = (4096usize, 8192usize, 8192usize);
    let (pa, pb) = (dir.join("lhsT.npy"), dir.join("rhs.npy"));
    write_header(&pa, BF16_DESCR, &[k, m]);
    write_header(&pb, BF16_DESCR, &[k, n]);
    let start = Instant::now();
    let out = ok(
        &nki(
            "kernels/nki/matmul_optimized.py",
            &[("lhsT", &pa), ("rhs", &pb)],
            &["--no-data", "--format", "json"],
        ),
        "matmul_optimized 4096x8192x8192",
    );
    eprintln!(
        "matmul_optimized 4096x8192x8192 bf16 --no-data: {:.2} s wall",
        start.elapsed().as_secs_f64()
    );
    let t = time_ns(&out);
    // Never faster than the tensor engine's bf16 peak allows.
    let peak_ns = 2.0 * (m * k * n) as f64 / 78.64e12 * 1e9;
    assert!(t >= peak_ns, "{t} ns beats the {peak_ns} ns bound");
    // And within 2x of the kernel library's lowering of the same GEMM.
    let lib = ok(
        &run(&[
            "kernel",
            "run",
            "matmul",
            "--param",
            "m=4096,k=8192,n=8192,dtype=bfloat16",
            "--hw",
            "trn2",
            "--no-data",
            "--format",
            "json",
        ]),
        "kernel run matmul",
    );
    let lib_t = time_ns(&lib);
    assert!(t < 2.0 * lib_t, "{t} ns vs the library's {lib_t} ns");
}

#[test]
fn softmax_matches_numpy_and_an_f64_softmax() {
    let dir = scratch("softmax");
    let (r, c) = (256, 300);
    let x = values(r * c, 5, 8.0);
    let px = dir.join("x.npy");
    write_f32(&px, &[r, c], &x);
    let (shape, got) = run_checked(
        &dir,
        "kernels/nki/softmax.py",
        &[("x", &px)],
        "kernels/nki/reference.py::ref_softmax",
    );
    assert_eq!(shape, [r, c]);
    let mut want = Vec::with_capacity(r * c);
    for row in x.chunks(c) {
        let mx = row.iter().fold(f64::MIN, |m, &v| m.max(v as f64));
        let e: Vec<f64> = row.iter().map(|&v| (v as f64 - mx).exp()).collect();
        let s: f64 = e.iter().sum();
        want.extend(e.iter().map(|v| v / s));
    }
    let err = max_rel(&got, &want);
    assert!(err < 1e-5, "max rel error {err}");
}

#[test]
fn layernorm_matches_numpy_and_an_f64_layernorm() {
    let dir = scratch("layernorm");
    let (r, d) = (256, 300);
    let x: Vec<f32> = values(r * d, 6, 3.0).iter().map(|v| v + 1.5).collect();
    let (g, b) = (values(d, 7, 2.0), values(d, 8, 1.0));
    let (px, pg, pb) = (dir.join("x.npy"), dir.join("g.npy"), dir.join("b.npy"));
    write_f32(&px, &[r, d], &x);
    write_f32(&pg, &[1, d], &g);
    write_f32(&pb, &[1, d], &b);
    let (shape, got) = run_checked(
        &dir,
        "kernels/nki/layernorm.py",
        &[("x", &px), ("gamma", &pg), ("beta", &pb)],
        "kernels/nki/reference.py::ref_layernorm",
    );
    assert_eq!(shape, [r, d]);
    let mut want = Vec::with_capacity(r * d);
    for row in x.chunks(d) {
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
        let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / d as f64;
        let rstd = 1.0 / (var + 1e-5).sqrt();
        want.extend(
            row.iter()
                .enumerate()
                .map(|(j, &v)| (v as f64 - mean) * rstd * g[j] as f64 + b[j] as f64),
        );
    }
    let err = max_rel(&got, &want);
    assert!(err < 1e-5, "max rel error {err}");
}

#[test]
fn flash_attention_plain_and_causal_match_numpy() {
    let dir = scratch("flash");
    let (d, s) = (64, 384);
    let (pq, pk, pv) = (dir.join("q.npy"), dir.join("k.npy"), dir.join("v.npy"));
    write_f32(&pq, &[d, s], &values(d * s, 9, 1.0));
    write_f32(&pk, &[d, s], &values(d * s, 10, 1.0));
    write_f32(&pv, &[s, d], &values(s * d, 11, 1.0));
    let ins = [
        ("q", pq.as_path()),
        ("k", pk.as_path()),
        ("v", pv.as_path()),
    ];
    let mut outs = Vec::new();
    for (func, reference) in [
        ("flash_attention_fwd", "ref_attention"),
        ("flash_attention_fwd_causal", "ref_attention_causal"),
    ] {
        let kernel = format!("kernels/nki/flash_attention.py::{func}");
        let check = format!("kernels/nki/reference.py::{reference}");
        let (shape, got) = run_checked(&dir, &kernel, &ins, &check);
        assert_eq!(shape, [s, d], "{func}");
        outs.push(got);
    }
    // The last query sees every key in both: its row agrees; the first query sees only key 0
    // under the mask, so its row is exactly v's row 0 there and differs from the plain one.
    let last = (s - 1) * d;
    let diff = (0..d).fold(0f32, |m, j| {
        m.max((outs[0][last + j] - outs[1][last + j]).abs())
    });
    assert!(diff < 1e-5, "last query row differs by {diff}");
    let v0 = values(s * d, 11, 1.0);
    let row0 = (0..d).fold(0f32, |m, j| m.max((outs[1][j] - v0[j]).abs()));
    assert!(row0 < 1e-6, "causal first row vs v[0]: {row0}");
    assert!((0..d).any(|j| (outs[0][j] - outs[1][j]).abs() > 1e-3));
}

#[test]
fn an_oversized_logical_sbuf_tensor_fits_by_liveness() {
    let dir = scratch("oversized");
    // (8, par_dim(128), 6400) fp32 is 200 KiB per partition; trn2's SBUF has 192 KiB.
    let (r, f) = (1024, 6400);
    let x = values(r * f, 12, 4.0);
    let px = dir.join("x.npy");
    write_f32(&px, &[r, f], &x);
    let (shape, got) = run_checked(
        &dir,
        "tests/data/nki/oversized_blocks.py",
        &[("x", &px)],
        "tests/data/nki/oversized_ref.py::ref_oversized",
    );
    assert_eq!(shape, [r, f]);
    // fp32 engines: 2x is exact, + 1 rounds once, as f32 arithmetic does here.
    for (i, (g, v)) in got.iter().zip(&x).enumerate() {
        assert_eq!(g.to_bits(), (2.0 * v + 1.0).to_bits(), "element {i}");
    }
}

#[test]
fn every_block_live_at_once_does_not_fit_and_says_where() {
    let dir = scratch("live");
    let px = dir.join("x.npy");
    write_header(&px, "<f4", &[1024, 8192]);
    let out = nki(
        "tests/data/nki/oversized_live.py",
        &[("x", &px)],
        &["--no-data"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("oversized_live.py:"), "{err}");
    assert!(err.contains("SBUF"), "{err}");
    assert!(!err.contains("Traceback"), "{err}");
}
