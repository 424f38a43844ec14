//! Trace format 2 (`traces/README.md`, "Format 2"): the text (every new key, opcode and name
//! round-trips; a format-1 file that uses one is a located error), the values (against f64
//! references written here, inputs rounded to their storage dtype first) and the costs (the
//! preset's figures, by formula).

use ndarray::{ArrayD, IxDyn};
use trnsim::arch::Hardware;
use trnsim::chip::exec::{DataState, ExecOptions, execute};
use trnsim::chip::{self, RunOptions};
use trnsim::isa::parse::parse;
use trnsim::isa::print::print;
use trnsim::isa::{AluOp, Engine, Op, Program, Scalar};
use trnsim::numerics::{Cast, DType, Tensor};

const U32: f64 = f32::EPSILON as f64 / 2.0;

/// Buffers shared by the tests below (header added by each test).
const BUFFERS: &str = "kernel k
buffer a sbuf float32 [4, 8] input
buffer b sbuf float32 [4, 8] input
buffer h sbuf bf16 [4, 8] input
buffer d sbuf float32 [4, 8] zeros
buffer e sbuf bf16 [4, 8] zeros
buffer s sbuf float32 [4, 1] input
buffer t sbuf float32 [8, 4] zeros
buffer ps psum float32 [8, 4] zeros
";

/// One line per format-2 feature: opcodes, keys, names.
const V2_LINES: &[&str] = &[
    "activation func=sqrt dst=d[0:4, 0:8] src=a[0:4, 0:8] scale=1 bias=0",
    "activation func=log dst=d[0:4, 0:8] src=a[0:4, 0:8] scale=1 bias=0",
    "activation func=abs dst=d[0:4, 0:8] src=a[0:4, 0:8] scale=1 bias=0",
    "activation func=sign dst=d[0:4, 0:8] src=a[0:4, 0:8] scale=1 bias=0",
    "activation func=sin dst=d[0:4, 0:8] src=a[0:4, 0:8] scale=1 bias=0",
    "activation func=cos dst=d[0:4, 0:8] src=a[0:4, 0:8] scale=1 bias=0",
    "activation func=softplus dst=d[0:4, 0:8] src=a[0:4, 0:8] scale=1 bias=0",
    "activation func=erf dst=d[0:4, 0:8] src=a[0:4, 0:8] scale=1 bias=0",
    "activation func=gelu_exact dst=d[0:4, 0:8] src=a[0:4, 0:8] scale=2 bias=s[0:4, 0:1]",
    "activation func=exp dst=d[0:4, 0:8] src=a[0:4, 0:8] scale=1 bias=0 reduce=min \
     reduce_dst=s[0:4, 0:1]",
    "tensor_tensor engine=vector op=pow dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8]",
    "tensor_tensor engine=gpsimd op=mod dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8]",
    "tensor_tensor engine=vector op=ge dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8]",
    "tensor_tensor engine=vector op=gt dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8]",
    "tensor_tensor engine=vector op=le dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8]",
    "tensor_tensor engine=vector op=lt dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8]",
    "tensor_tensor engine=vector op=eq dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8]",
    "tensor_tensor engine=vector op=ne dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8]",
    "tensor_scalar engine=vector dst=d[0:4, 0:8] src=a[0:4, 0:8] op0=sub scalar0=1 \
     reverse0=true reverse1=false",
    "tensor_scalar engine=scalar dst=d[0:4, 0:8] src=a[0:4, 0:8] op0=mod scalar0=s[0:4, 0:1] \
     op1=div scalar1=3 reverse0=false reverse1=true",
    "tensor_reduce engine=gpsimd op=min dst=s[0:4, 0:1] src=a[0:4, 0:8]",
    "reciprocal dst=e[0:4, 0:8] src=h[0:4, 0:8]",
    "tensor_tensor_scan engine=vector dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8] initial=0.5 \
     op0=mul op1=add",
    "tensor_tensor_scan engine=gpsimd dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8] \
     initial=s[0:4, 0:1] op0=max op1=lt",
    "transpose engine=vector dst=t[0:8, 0:4] src=a[0:4, 0:8]",
    "transpose engine=tensor dst=ps[0:8, 0:4] src=a[0:4, 0:8]",
];

fn v2(body: &str) -> String {
    format!("trnsim-trace 2\n{BUFFERS}{body}\n")
}

/// Every format-2 line, written canonically, prints back as itself, under a version-2 header,
/// and the printed program parses to the same program.
#[test]
fn every_format2_feature_round_trips_bit_for_bit() {
    let body = V2_LINES.join("\n");
    let text = v2(&body);
    let p = parse(&text, "t.trace").unwrap();
    assert_eq!(p.instrs.len(), V2_LINES.len());
    assert_eq!(p.version(), 2);
    let out = print(&p);
    assert!(out.starts_with("trnsim-trace 2\n"), "{out}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with("buffer")).collect();
    assert_eq!(
        &lines[2..],
        V2_LINES,
        "the printer writes what the lines say"
    );
    assert_eq!(parse(&out, "t.trace").unwrap(), p);
    // Spot-check that the keys landed where they mean something.
    match &p.instrs[18].op {
        Op::TensorScalar(ts) => assert_eq!(ts.reverse, [true, false]),
        op => panic!("{op:?}"),
    }
    match &p.instrs[23].op {
        Op::TensorTensorScan(s) => {
            assert_eq!(
                (s.engine, s.op0, s.op1),
                (Engine::GpSimd, AluOp::Max, AluOp::Lt)
            );
            assert!(matches!(s.initial, Scalar::PerPartition(_)));
        }
        op => panic!("{op:?}"),
    }
    assert_eq!(p.instrs[24].op.engine(), Engine::Vector);
    assert_eq!(p.instrs[25].op.engine(), Engine::Tensor);
}

/// A format-2 file without format-2 features prints as format 1 (the oldest that holds it),
/// writing neither `engine=` on transposes nor the `reverse` keys; defaults read back the same.
#[test]
fn programs_of_format1_features_print_as_format1() {
    let body = "transpose engine=tensor dst=ps[0:8, 0:4] src=a[0:4, 0:8]\n\
                tensor_scalar dst=d[0:4, 0:8] src=a[0:4, 0:8] op0=add scalar0=1 reverse0=false";
    let p = parse(&v2(body), "t.trace").unwrap();
    assert_eq!(p.version(), 1);
    let out = print(&p);
    assert!(out.starts_with("trnsim-trace 1\n"), "{out}");
    assert!(
        out.contains("\ntranspose dst=ps[0:8, 0:4] src=a[0:4, 0:8]\n"),
        "{out}"
    );
    assert!(!out.contains("reverse"), "{out}");
    assert_eq!(parse(&out, "t.trace").unwrap(), p);
}

/// In a file headed `trnsim-trace 1`, each format-2 feature is an error at its token, naming it.
#[test]
fn format2_features_in_a_format1_file_are_located_errors() {
    let cases = [
        (V2_LINES[7], 17, "activation function 'erf'"),
        (V2_LINES[9], 75, "reduction 'min'"),
        (V2_LINES[10], 32, "ALU operation 'pow'"),
        (V2_LINES[18], 79, "key 'reverse0' of tensor_scalar"),
        (V2_LINES[19], 65, "ALU operation 'mod'"),
        (
            "tensor_scalar dst=d[0:4, 0:8] src=a[0:4, 0:8] op0=add scalar0=1 reverse1=false",
            65,
            "key 'reverse1' of tensor_scalar",
        ),
        (V2_LINES[20], 32, "reduction 'min'"),
        (V2_LINES[21], 1, "opcode 'reciprocal'"),
        (V2_LINES[22], 1, "opcode 'tensor_tensor_scan'"),
        (V2_LINES[24], 11, "key 'engine' of transpose"),
        (V2_LINES[25], 11, "key 'engine' of transpose"),
    ];
    let first_line = 1 + BUFFERS.lines().count() + 1;
    for (line, col, what) in cases {
        let text = format!("trnsim-trace 1\n{BUFFERS}{line}\n");
        let err = parse(&text, "t.trace").unwrap_err().to_string();
        let want = format!(
            "t.trace:{first_line}:{col}: {what} needs trnsim-trace 2 (this file is headed \
             'trnsim-trace 1')"
        );
        assert_eq!(err, want, "{line}");
        // The same line is fine under a version-2 header.
        parse(&v2(line), "t.trace").unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Execution

/// Run `body` (format 2) on inputs given per buffer name; the values of buffer `out`.
fn exec(body: &str, inputs: &[(&str, Vec<f32>)], out: &str) -> Vec<f32> {
    let p = parse(&v2(body), "t.trace").unwrap();
    run_program(&p, inputs, out)
}

fn run_program(p: &Program, inputs: &[(&str, Vec<f32>)], out: &str) -> Vec<f32> {
    let tensors: Vec<_> = inputs
        .iter()
        .map(|(name, v)| {
            let id = p.buffer_id(name).unwrap();
            let shape = p.buffer(id).shape.clone();
            let arr = ArrayD::from_shape_vec(IxDyn(&shape), v.clone()).unwrap();
            (id, Tensor::from_f32(arr, Cast::new(DType::Float32)))
        })
        .collect();
    let mut state = DataState::new(p, &tensors).unwrap();
    execute(p, &mut state, &ExecOptions::default()).unwrap();
    state.values(p.buffer_id(out).unwrap()).to_vec()
}

/// Round to a storage dtype (what an input of that dtype holds).
fn rounded(d: DType, v: &[f32]) -> Vec<f32> {
    let c = Cast::new(d);
    v.iter().map(|&x| c.round(x, 0)).collect()
}

/// 32 values on [lo, hi), deterministic and irregular.
fn values(lo: f64, hi: f64, seed: u32) -> Vec<f32> {
    (0..32u32)
        .map(|i| {
            let u = ((i * 2654435761u32.wrapping_add(seed)) % 1000) as f64 / 1000.0;
            (lo + (hi - lo) * u) as f32
        })
        .collect()
}

fn assert_close(what: &str, got: &[f32], want: &[f64], tol: impl Fn(f64) -> f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g as f64 - w).abs() <= tol(w) || (g.is_nan() && w.is_nan());
        assert!(ok, "{what}[{i}]: got {g}, want {w}");
    }
}

/// erf and gelu_exact at known points (Python's `math.erf`), to the f32 rounding of the exact
/// value; and the new functions over a range against f64 formulas, into fp32 and bf16.
#[test]
fn new_activation_functions_match_f64_references() {
    let known_erf = [
        (0.5, 0.5204998778130465),
        (1.0, 0.8427007929497149),
        (-1.5, -0.9661051464753108),
        (2.0, 0.9953222650189527),
        (3.5, 0.9999992569016276),
        (0.0, 0.0),
    ];
    let known_gelu = [
        (1.0, 0.8413447460685429),
        (-1.0, -0.15865525393145707),
        (2.0, 1.9544997361036416),
        (0.5, 0.34573123063700656),
    ];
    for (func, known) in [("erf", &known_erf[..]), ("gelu_exact", &known_gelu[..])] {
        let mut x = vec![0.0f32; 32];
        for (i, (v, _)) in known.iter().enumerate() {
            x[i] = *v as f32;
        }
        let line = format!("activation func={func} dst=d[0:4, 0:8] src=a[0:4, 0:8]");
        let got = exec(&line, &[("a", x)], "d");
        for (i, (v, want)) in known.iter().enumerate() {
            assert_eq!(got[i], *want as f32, "{func}({v})");
        }
    }
    let softplus = |x: f64| (1.0 + x.exp()).ln();
    type Case = (&'static str, f64, f64, fn(f64) -> f64);
    let cases: [Case; 8] = [
        ("sqrt", 0.01, 50.0, f64::sqrt),
        ("log", 0.01, 50.0, f64::ln),
        ("abs", -5.0, 5.0, f64::abs),
        ("sign", -5.0, 5.0, f64::signum),
        ("sin", -6.0, 6.0, f64::sin),
        ("cos", -6.0, 6.0, f64::cos),
        ("softplus", -8.0, 8.0, |x| (1.0 + x.exp()).ln()),
        ("erf", -4.0, 4.0, erf_taylor),
    ];
    assert!((softplus(0.0) - std::f64::consts::LN_2).abs() < 1e-15);
    for (func, lo, hi, f) in cases {
        let x = rounded(DType::BFloat16, &values(lo, hi, 7));
        for (dst, dtype) in [("d", DType::Float32), ("e", DType::BFloat16)] {
            let line = format!("activation func={func} dst={dst}[0:4, 0:8] src=h[0:4, 0:8]");
            let got = exec(&line, &[("h", x.clone())], dst);
            let want: Vec<f64> = x.iter().map(|&v| f(v as f64)).collect();
            // One rounding to the destination (computed in f64 first), plus an f32 ulp of slack
            // for the library's transcendental functions.
            let u = dtype.unit_roundoff() as f64;
            assert_close(func, &got, &want, |w| (u + 2.0 * U32) * w.abs() + 1e-30);
        }
    }
    // gelu_exact = x * Phi(x), Phi from the independent series (on [-3, 3), where 1 + erf
    // keeps the series' digits; the known values above cover the function's form).
    let x = rounded(DType::BFloat16, &values(-3.0, 3.0, 11));
    let got = exec(
        "activation func=gelu_exact dst=d[0:4, 0:8] src=h[0:4, 0:8]",
        &[("h", x.clone())],
        "d",
    );
    let want: Vec<f64> = x
        .iter()
        .map(|&v| {
            let v = v as f64;
            0.5 * v * (1.0 + erf_taylor(v / 2f64.sqrt()))
        })
        .collect();
    assert_close("gelu_exact", &got, &want, |w| 3.0 * U32 * w.abs() + 1e-30);
}

/// erf by its Taylor series, summed in f64 (alternating: good to about 1e-12 for |x| <= 4,
/// plenty for f32 results; an independent method from the simulator's).
fn erf_taylor(x: f64) -> f64 {
    let mut term = x;
    let mut sum = x;
    for n in 1..200 {
        let n = n as f64;
        term *= -x * x / n;
        sum += term / (2.0 * n + 1.0);
    }
    sum * 2.0 / std::f64::consts::PI.sqrt()
}

/// pow, mod (NumPy's `np.mod`: the result takes the divisor's sign) and the comparisons.
#[test]
fn new_alu_operations_follow_numpy() {
    let mut a = vec![0.0f32; 32];
    let mut b = vec![1.0f32; 32];
    let pairs = [
        (-1.0, 3.0),
        (1.0, -3.0),
        (5.5, 2.0),
        (-5.5, 2.0),
        (-3.0, 3.0),
        (-3.0, -3.0),
        (2.0, 0.5),
        (f32::NAN, 1.0),
        (7.0, 7.0),
        (1.5, 0.0),
    ];
    for (i, (x, y)) in pairs.iter().enumerate() {
        a[i] = *x;
        b[i] = *y;
    }
    let run = |op: &str| {
        let line = format!("tensor_tensor op={op} dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8]");
        exec(&line, &[("a", a.clone()), ("b", b.clone())], "d")
    };
    let m = run("mod");
    let want_mod = [2.0, -2.0, 1.5, 0.5, 0.0, -0.0, 0.0];
    for (i, w) in want_mod.iter().enumerate() {
        assert_eq!(m[i].to_bits(), (*w as f32).to_bits(), "mod{:?}", pairs[i]);
    }
    assert!(
        m[7].is_nan() && m[9].is_nan(),
        "NaN operand and zero divisor give NaN"
    );
    let p = run("pow");
    assert_eq!(p[6], 2f32.sqrt());
    assert_eq!(p[2], 5.5f32.powi(2));
    assert_eq!(p[8], 823543.0);
    let flags = |op: &str, f: fn(f32, f32) -> bool| {
        let got = run(op);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            let want = if f(*x, *y) { 1.0 } else { 0.0 };
            assert_eq!(got[i], want, "{op}({x}, {y})");
        }
        got
    };
    flags("ge", |x, y| x >= y);
    flags("gt", |x, y| x > y);
    flags("le", |x, y| x <= y);
    flags("lt", |x, y| x < y);
    let eq = flags("eq", |x, y| x == y);
    let ne = flags("ne", |x, y| x != y);
    assert_eq!(
        (eq[7], ne[7], eq[8]),
        (0.0, 1.0, 1.0),
        "NaN is unequal to everything"
    );
}

/// `reverse0`/`reverse1` swap a stage's operands: (10 - x) then 1 / that.
#[test]
fn tensor_scalar_reverse_swaps_operands() {
    let x = rounded(DType::BFloat16, &values(-4.0, 4.0, 3));
    let s: Vec<f32> = vec![10.0, 9.0, 8.0, 7.0];
    let line = "tensor_scalar dst=d[0:4, 0:8] src=h[0:4, 0:8] op0=sub scalar0=s[0:4, 0:1] \
                op1=div scalar1=1 reverse0=true reverse1=true";
    let got = exec(line, &[("h", x.clone()), ("s", s.clone())], "d");
    let want: Vec<f64> = (0..32)
        .map(|i| 1.0 / (s[i / 8] as f64 - x[i] as f64))
        .collect();
    // Two f32 roundings (the subtraction is exact here: bf16 inputs, small integers).
    assert_close("reverse", &got, &want, |w| 2.0 * U32 * w.abs());
    // Without reverse it is (x - s) / 1.
    let line = "tensor_scalar dst=d[0:4, 0:8] src=h[0:4, 0:8] op0=sub scalar0=s[0:4, 0:1] \
                op1=div scalar1=1";
    let got = exec(line, &[("h", x.clone()), ("s", s.clone())], "d");
    for i in 0..32 {
        assert_eq!(got[i], x[i] - s[i / 8]);
    }
}

/// The scan: cumulative sums and a decaying recurrence, bit for bit against the same f32 loop
/// and within the f32 accumulation bound of the f64 value; into bf16, one more rounding.
#[test]
fn tensor_tensor_scan_is_a_running_recurrence() {
    let a = rounded(DType::BFloat16, &values(-2.0, 2.0, 5));
    let b = rounded(DType::BFloat16, &values(-1.0, 1.0, 9));
    let init: Vec<f32> = vec![0.5, -1.0, 0.0, 3.0];
    // op0=add op1=add: initial + cumulative sum of a + b.
    let line = "tensor_tensor_scan dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8] \
                initial=s[0:4, 0:1] op0=add op1=add";
    let ins = [("a", a.clone()), ("b", b.clone()), ("s", init.clone())];
    let got = exec(line, &ins, "d");
    for (p, &i0) in init.iter().enumerate() {
        let (mut acc32, mut acc64, mut mag) = (i0, i0 as f64, i0.abs() as f64);
        for j in 0..8 {
            let i = p * 8 + j;
            acc32 = (acc32 + a[i]) + b[i];
            acc64 += a[i] as f64 + b[i] as f64;
            mag += (a[i].abs() + b[i].abs()) as f64;
            assert_eq!(got[i].to_bits(), acc32.to_bits(), "cumsum[{p}, {j}]");
            // Each of the 2(j+1) additions rounds once: at most u32 times the running magnitude.
            let bound = 2.0 * (j + 1) as f64 * U32 * mag;
            assert!((got[i] as f64 - acc64).abs() <= bound, "cumsum[{p}, {j}]");
        }
    }
    // op0=mul op1=add: y_j = y_(j-1) * a_j + b_j from an immediate initial, into bf16.
    let line = "tensor_tensor_scan engine=gpsimd dst=e[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8] \
                initial=0.25 op0=mul op1=add";
    let got = exec(line, &[("a", a.clone()), ("b", b.clone())], "e");
    let bf = Cast::new(DType::BFloat16);
    for p in 0..4 {
        let mut acc32 = 0.25f32;
        for j in 0..8 {
            let i = p * 8 + j;
            acc32 = acc32 * a[i] + b[i];
            assert_eq!(got[i], bf.round(acc32, 0), "recurrence[{p}, {j}]");
        }
    }
    // A cumulative product (op1 = mul by ones): the product of a's prefix times initial.
    let ones = vec![1.0f32; 32];
    let line = "tensor_tensor_scan dst=d[0:4, 0:8] a=a[0:4, 0:8] b=b[0:4, 0:8] initial=1 \
                op0=mul op1=mul";
    let got = exec(line, &[("a", a.clone()), ("b", ones)], "d");
    for p in 0..4 {
        let mut prod = 1.0f64;
        for j in 0..8 {
            prod *= a[p * 8 + j] as f64;
            let tol = (j + 1) as f64 * U32 * prod.abs();
            assert!(
                (got[p * 8 + j] as f64 - prod).abs() <= tol,
                "cumprod[{p}, {j}]"
            );
        }
    }
}

/// reciprocal into bf16; min reductions; the vector transpose.
#[test]
fn reciprocal_min_reductions_and_vector_transpose() {
    let x = rounded(DType::BFloat16, &values(0.1, 9.0, 13));
    let got = exec(
        "reciprocal dst=e[0:4, 0:8] src=h[0:4, 0:8]",
        &[("h", x.clone())],
        "e",
    );
    let want: Vec<f64> = x.iter().map(|&v| 1.0 / v as f64).collect();
    let u = DType::BFloat16.unit_roundoff() as f64;
    assert_close("reciprocal", &got, &want, |w| (u + U32) * w.abs());

    let a = values(-3.0, 3.0, 17);
    let mins: Vec<f32> = a
        .chunks(8)
        .map(|r| r.iter().copied().fold(f32::INFINITY, f32::min))
        .collect();
    let got = exec(
        "tensor_reduce op=min dst=s[0:4, 0:1] src=a[0:4, 0:8]",
        &[("a", a.clone())],
        "s",
    );
    assert_eq!(got, mins);
    let got = exec(
        "activation func=identity dst=d[0:4, 0:8] src=a[0:4, 0:8] scale=-1 reduce=min \
         reduce_dst=s[0:4, 0:1]",
        &[("a", a.clone())],
        "s",
    );
    let neg_max: Vec<f32> = a
        .chunks(8)
        .map(|r| -r.iter().copied().fold(f32::NEG_INFINITY, f32::max))
        .collect();
    assert_eq!(got, neg_max);

    let got = exec(
        "transpose engine=vector dst=t[0:8, 0:4] src=a[0:4, 0:8]",
        &[("a", a.clone())],
        "t",
    );
    for p in 0..4 {
        for f in 0..8 {
            assert_eq!(got[f * 4 + p], a[p * 8 + f]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checks and costs

fn check_err(text: &str) -> String {
    let p = parse(text, "t.trace").unwrap();
    let hw = Hardware::preset("trn2").unwrap();
    chip::check::check(&p, &hw, "t.trace")
        .unwrap_err()
        .to_string()
}

#[test]
fn vector_transpose_is_sbuf_to_sbuf_within_32_by_32() {
    let big = "trnsim-trace 2\nkernel k\nbuffer x sbuf float32 [33, 8] zeros\n\
               buffer y sbuf float32 [8, 33] zeros\n\
               transpose engine=vector dst=y[0:8, 0:33] src=x[0:33, 0:8]\n";
    let err = check_err(big);
    assert!(
        err.starts_with("t.trace:5:") && err.contains("exceeds 32 x 32"),
        "{err}"
    );
    let psum = "trnsim-trace 2\nkernel k\nbuffer x sbuf float32 [8, 8] zeros\n\
                buffer y psum float32 [8, 8] zeros\n\
                transpose engine=vector dst=y[0:8, 0:8] src=x[0:8, 0:8]\n";
    assert!(check_err(psum).contains("sbuf"), "{}", check_err(psum));
    let shape = "trnsim-trace 2\nkernel k\nbuffer x sbuf float32 [8, 16] zeros\n\
                 buffer y sbuf float32 [8, 16] zeros\n\
                 transpose engine=vector dst=y[0:8, 0:8] src=x[0:8, 0:16]\n";
    assert!(check_err(shape).contains("needs a [16, 8] destination"));
    let scan = "trnsim-trace 2\nkernel k\nbuffer x sbuf float32 [8, 16] zeros\n\
                buffer y sbuf float32 [8, 8] zeros\n\
                tensor_tensor_scan dst=y[0:8, 0:8] a=x[0:8, 0:16] b=y[0:8, 0:8] initial=0 \
                op0=add op1=add\n";
    assert!(
        check_err(scan).contains("t.trace:5:"),
        "{}",
        check_err(scan)
    );
}

const COST_BUFFERS: &str = "trnsim-trace 2
kernel cost
buffer f  sbuf float32 [128, 4096] zeros
buffer g  sbuf float32 [128, 4096] zeros
buffer b  sbuf bf16    [128, 4096] zeros
buffer c  sbuf bf16    [128, 4096] zeros
buffer s  sbuf float32 [128, 8] zeros
";

/// Busy time of the single instruction `line` on `hw`, in picoseconds.
fn busy(hw: &Hardware, line: &str) -> u64 {
    let program = parse(&format!("{COST_BUFFERS}{line}\n"), "cost.trace").unwrap();
    let r = chip::run(&program, hw, "cost.trace", &[], &RunOptions::default()).unwrap();
    r.schedule.end_ps[0] - r.schedule.start_ps[0]
}

fn ps(cycles: f64, mhz: u32) -> u64 {
    (cycles.ceil() as u64 * 1_000_000).div_ceil(mhz as u64)
}

/// Each preset: reciprocal is max(min, N / lanes-per-partition * reciprocal_cycles_per_elem);
/// a scan is a tensor_tensor over the same elements; the vector transpose a Vector copy; the
/// new functions cost what `exp` costs.
#[test]
fn costs_follow_the_preset_figures() {
    for name in ["trn1", "trn2", "trn3"] {
        let hw = Hardware::preset(name).unwrap();
        let v = &hw.vector;
        let parts = hw.sbuf.partitions as f64;
        // fp32 operands: lanes_other per cycle across the partitions, or with the performance
        // mode (trn2, trn3) one element per partition per cycle: it lifts bf16/fp16 only
        // [ARCH-V3].
        let rate = if v.perf_mode {
            1.0
        } else {
            v.lanes_other as f64 / parts
        };
        let n = |free: f64| free / rate.max(1e-9);
        let min = v.min_cycles as f64;
        let c = &hw.costs;
        for free in [16.0, 512.0] {
            let f = free as usize;
            let recip = busy(
                &hw,
                &format!("reciprocal dst=g[0:128, 0:{f}] src=f[0:128, 0:{f}]"),
            );
            let want = (n(free) * c.reciprocal_cycles_per_elem as f64).max(min);
            assert_eq!(recip, ps(want, v.clock_mhz), "{name} reciprocal {f}");
            let scan = busy(
                &hw,
                &format!(
                    "tensor_tensor_scan dst=g[0:128, 0:{f}] a=f[0:128, 0:{f}] \
                     b=f[0:128, {f}:{}] initial=0 op0=mul op1=add",
                    2 * f
                ),
            );
            let want = (n(free) * c.tensor_tensor_cycles_per_elem as f64).max(min);
            assert_eq!(scan, ps(want, v.clock_mhz), "{name} scan {f}");
            let tt = busy(
                &hw,
                &format!(
                    "tensor_tensor op=mul dst=g[0:128, 0:{f}] a=f[0:128, 0:{f}] \
                     b=f[0:128, {f}:{}]",
                    2 * f
                ),
            );
            assert_eq!(scan, tt, "{name}: scan costs tensor_tensor");
            let erf = busy(
                &hw,
                &format!("activation func=erf dst=g[0:128, 0:{f}] src=f[0:128, 0:{f}]"),
            );
            let exp = busy(
                &hw,
                &format!("activation func=exp dst=g[0:128, 0:{f}] src=f[0:128, 0:{f}]"),
            );
            assert_eq!(erf, exp, "{name}: erf costs like exp");
        }
        // A scan with a divide runs at the reciprocal rate, like tensor_tensor op=div.
        let div_scan = busy(
            &hw,
            "tensor_tensor_scan dst=g[0:128, 0:512] a=f[0:128, 0:512] b=f[0:128, 512:1024] \
             initial=1 op0=div op1=add",
        );
        let div_tt = busy(
            &hw,
            "tensor_tensor op=div dst=g[0:128, 0:512] a=f[0:128, 0:512] b=f[0:128, 512:1024]",
        );
        assert_eq!(div_scan, div_tt, "{name}");
        let vt = busy(
            &hw,
            "transpose engine=vector dst=g[0:32, 0:32] src=f[0:32, 0:32]",
        );
        let copy = busy(&hw, "tensor_copy dst=g[0:32, 0:32] src=f[0:32, 0:32]");
        assert_eq!(vt, copy, "{name}: vector transpose costs a copy");
        assert_eq!(vt, ps(n(32.0).max(min), v.clock_mhz), "{name}");
    }
}
