//! Functional execution against independent references.
//!
//! Programs are built in code. Inputs are rounded to their storage dtype first; references then
//! compute in f64 from those exact values, and results are compared with a dtype-aware tolerance
//! whose terms are explained at each use: a result stored in dtype `d` (round-to-nearest) carries
//! at most `d.unit_roundoff() * |ref|` from the final rounding, plus whatever the f32 computation
//! before it lost. Where the f32 computation is fully specified (matmul's sequential-k sum), the
//! comparison is bit for bit against a plain f32 loop written here.

use ndarray::{ArrayD, IxDyn};
use trnsim::chip::Error;
use trnsim::chip::exec::{
    DataState, ExecOptions, MatmulPath, execute, execute_instr, matmul_f32, matmul_path,
};
use trnsim::isa::{
    AccessPattern, ActFunc, Activation, AluOp, Buffer, BufferId, CmpOp, DmaQueue, Engine, Init,
    Instr, Memory, Op, PartitionStep, Program, ReduceOp, Scalar, TensorScalar, Tile,
};
use trnsim::numerics::{Cast, DType, Rounding, Tensor, random_u32};

const EPS32: f64 = f32::EPSILON as f64;
/// Absolute slack for results that are (nearly) zero.
const TINY: f64 = 1e-30;

// ---------------------------------------------------------------------------------------------
// Program building
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Builder {
    p: Program,
}

impl Builder {
    fn buf(
        &mut self,
        name: &str,
        mem: Memory,
        dtype: DType,
        shape: &[usize],
        init: Init,
    ) -> BufferId {
        self.p.buffers.push(Buffer {
            name: name.into(),
            memory: mem,
            dtype,
            shape: shape.to_vec(),
            init,
            line: 0,
            core: 0,
        });
        BufferId(self.p.buffers.len() as u32 - 1)
    }

    fn sbuf(&mut self, name: &str, dtype: DType, shape: &[usize]) -> BufferId {
        self.buf(name, Memory::Sbuf, dtype, shape, Init::Input)
    }

    fn op(&mut self, op: Op) {
        let line = self.p.instrs.len() as u32 + 1;
        self.p.instrs.push(Instr { op, line });
    }
}

/// A contiguous tile: partitions `p0..p0+pc`, elements `off..off+len` of each.
fn tile(b: BufferId, p0: usize, pc: usize, off: usize, len: usize) -> Tile {
    Tile::contiguous(b, p0 as u32..(p0 + pc) as u32, off as u32, len as u32)
}

/// The whole buffer as one tile.
fn whole(p: &Program, b: BufferId) -> Tile {
    let buf = p.buffer(b);
    tile(b, 0, buf.partitions(), 0, buf.row_elems())
}

fn q() -> DmaQueue {
    DmaQueue {
        engine: 0,
        queue: 0,
    }
}

fn tensor(shape: &[usize], values: Vec<f32>) -> Tensor {
    Tensor::from_f32(
        ArrayD::from_shape_vec(IxDyn(shape), values).unwrap(),
        Cast::new(DType::Float32),
    )
}

fn run_with(p: &Program, inputs: &[(BufferId, Vec<f32>)], opts: ExecOptions) -> DataState {
    let inputs: Vec<(BufferId, Tensor)> = inputs
        .iter()
        .map(|(id, v)| (*id, tensor(&p.buffer(*id).shape, v.clone())))
        .collect();
    let mut state = DataState::new(p, &inputs).unwrap();
    execute(p, &mut state, &opts).unwrap();
    state
}

fn run(p: &Program, inputs: &[(BufferId, Vec<f32>)]) -> DataState {
    run_with(p, inputs, ExecOptions::default())
}

// ---------------------------------------------------------------------------------------------
// Data and references
// ---------------------------------------------------------------------------------------------

fn unit(seed: u64, i: u64) -> f64 {
    (random_u32(seed, i) as f64 + 0.5) / 4_294_967_296.0
}

fn uniform(n: usize, seed: u64, lo: f64, hi: f64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| (lo + (hi - lo) * unit(seed, i)) as f32)
        .collect()
}

fn normal(n: usize, seed: u64, std: f64) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let (u1, u2) = (unit(seed, 2 * i), unit(seed, 2 * i + 1));
            (std * (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

fn rounded(d: DType, v: &[f32]) -> Vec<f32> {
    let c = Cast::new(d);
    v.iter().map(|&x| c.round(x, 0)).collect()
}

/// The plain f32 matmul the hardware specifies: per output, sum from 0 in increasing k.
fn naive_f32(s: &[f32], x: &[f32], k: usize, m: usize, n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; m * n];
    for mi in 0..m {
        for ni in 0..n {
            let mut sum = 0.0f32;
            for kk in 0..k {
                sum += s[kk * m + mi] * x[kk * n + ni];
            }
            out[mi * n + ni] = sum;
        }
    }
    out
}

/// f64 matmul and, per output, the sum of |products| (for the error bound).
fn ref_f64(s: &[f32], x: &[f32], k: usize, m: usize, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut out = vec![0.0f64; m * n];
    let mut abs = vec![0.0f64; m * n];
    for mi in 0..m {
        for kk in 0..k {
            let sv = s[kk * m + mi] as f64;
            for ni in 0..n {
                let pr = sv * x[kk * n + ni] as f64;
                out[mi * n + ni] += pr;
                abs[mi * n + ni] += pr.abs();
            }
        }
    }
    (out, abs)
}

/// Assert `|got - ref| <= tol(i)` everywhere, naming the worst element.
fn assert_close(what: &str, got: &[f32], reference: &[f64], tol: impl Fn(usize) -> f64) {
    assert_eq!(got.len(), reference.len(), "{what}: lengths");
    let mut worst: Option<(f64, usize)> = None;
    for (i, (&g, &r)) in got.iter().zip(reference).enumerate() {
        let err = (g as f64 - r).abs();
        let t = tol(i);
        assert!(!err.is_nan(), "{what}[{i}]: got {g}, want {r}");
        if err > t && worst.is_none_or(|(w, _)| err / t > w) {
            worst = Some((err / t, i));
        }
    }
    if let Some((ratio, i)) = worst {
        panic!(
            "{what}[{i}]: got {}, want {}, error {:e} is {ratio:.2}x the tolerance {:e}",
            got[i],
            reference[i],
            (got[i] as f64 - reference[i]).abs(),
            tol(i)
        );
    }
}

fn assert_bits_eq(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.to_bits(), w.to_bits(), "{what}[{i}]: got {g}, want {w}");
    }
}

fn u(d: DType) -> f64 {
    d.unit_roundoff() as f64
}

// ---------------------------------------------------------------------------------------------
// matmul
// ---------------------------------------------------------------------------------------------

/// The fast path (`general_mat_mul`) and the sequential kernel agree bit for bit with the plain
/// f32 loop for narrow inputs at K = 128 and K = 256 (fp8 double row), including sizes that are
/// not multiples of the sgemm micro-tile; and the comparison is sharp: accumulating in f64
/// instead gives different bits.
#[test]
fn matmul_gemm_path_is_bit_exact_with_sequential_f32() {
    let pairs = [
        (DType::BFloat16, DType::BFloat16, 1.0),
        (DType::Float8E4M3, DType::Float8E4M3, 8.0),
        (DType::Float8E4M3Fn, DType::Float8E4M3Fn, 8.0),
        (DType::Float8E5M2, DType::Float8E5M2, 8.0),
        (DType::BFloat16, DType::Float8E4M3, 2.0),
        (DType::Float16, DType::Float16, 1.0),
    ];
    let mut seed = 100;
    for (sd, xd, std) in pairs {
        for k in [128, 256] {
            for (m, n) in [(128, 512), (77, 131)] {
                seed += 2;
                let s = rounded(sd, &normal(k * m, seed, std));
                let x = rounded(xd, &normal(k * n, seed + 1, std));
                assert_eq!(
                    matmul_path(&s, sd, &x, xd, k),
                    MatmulPath::Gemm,
                    "{sd} x {xd}"
                );
                let want = naive_f32(&s, &x, k, m, n);
                let gemm = matmul_f32(&s, &x, k, m, n, MatmulPath::Gemm).unwrap();
                let seq = matmul_f32(&s, &x, k, m, n, MatmulPath::Sequential).unwrap();
                let what = format!("{sd} x {xd}, K={k} M={m} N={n}");
                assert_bits_eq(&format!("gemm {what}"), &gemm, &want);
                assert_bits_eq(&format!("sequential {what}"), &seq, &want);
                // A kernel that accumulated in f64 (rounding once) would fail the checks above.
                let (r64, _) = ref_f64(&s, &x, k, m, n);
                let differ = r64
                    .iter()
                    .zip(&want)
                    .filter(|(r, w)| (**r as f32).to_bits() != w.to_bits())
                    .count();
                assert!(differ > 0, "{what}: f64 accumulation is indistinguishable");
            }
        }
    }
}

/// Operands outside the range where every product is exact in f32 (fp32 data, tiny or huge bf16
/// values) take the sequential kernel, which is the specification itself.
#[test]
fn matmul_path_falls_back_when_products_may_round() {
    let bf = DType::BFloat16;
    let ok = vec![1.0f32; 4];
    assert_eq!(
        matmul_path(&ok, DType::Float32, &ok, bf, 2),
        MatmulPath::Sequential
    );
    let tiny = vec![2f32.powi(-100); 4];
    assert_eq!(matmul_path(&tiny, bf, &ok, bf, 2), MatmulPath::Sequential);
    assert_eq!(matmul_path(&ok, bf, &ok, bf, 300), MatmulPath::Sequential);
    // Tiny bf16 products underflow in f32: 2^-149 + 2^-150 is 2^-149 when the second product is
    // rounded first (a tie, to even: 0), but 2^-148 when fused. The sequential kernel rounds each
    // product, as the specification says.
    let s = vec![2f32.powi(-75), 2f32.powi(-75)];
    let x = vec![2f32.powi(-74), 2f32.powi(-75)];
    let path = matmul_path(&s, bf, &x, bf, 2);
    assert_eq!(path, MatmulPath::Sequential);
    let got = matmul_f32(&s, &x, 2, 1, 1, path).unwrap();
    assert_bits_eq("tiny", &got, &naive_f32(&s, &x, 2, 1, 1));
    assert_eq!(got[0], f32::from_bits(1)); // 2^-149
}

/// Through `execute`: one [128, 128] x [128, 512] matmul of each input dtype into fp32 PSUM is bit
/// exact with the plain f32 loop, and within the standard bound of the f64 product.
#[test]
fn matmul_instruction_matches_f32_loop_and_f64_bound() {
    let (k, m, n) = (128, 128, 512);
    for (i, d) in [
        DType::BFloat16,
        DType::Float8E4M3,
        DType::Float8E5M2,
        DType::Float32,
    ]
    .into_iter()
    .enumerate()
    {
        let mut b = Builder::default();
        let st = b.sbuf("w", d, &[k, m]);
        let mv = b.sbuf("x", d, &[k, n]);
        let ps = b.buf("acc", Memory::Psum, DType::Float32, &[m, n], Init::Zeros);
        b.op(Op::Matmul {
            dst: whole(&b.p, ps),
            stationary: whole(&b.p, st),
            moving: whole(&b.p, mv),
            accumulate: false,
        });
        let s = rounded(d, &normal(k * m, 10 + i as u64, 2.0));
        let x = rounded(d, &normal(k * n, 20 + i as u64, 2.0));
        let state = run(&b.p, &[(st, s.clone()), (mv, x.clone())]);
        let got = state.values(ps);
        assert_bits_eq(&format!("{d}"), got, &naive_f32(&s, &x, k, m, n));
        // Standard bound for recursive summation: |err| <= K eps32 sum |s x| (gamma_K, loosely).
        let (r, abs) = ref_f64(&s, &x, k, m, n);
        assert_close(&format!("{d} vs f64"), got, &r, |j| {
            k as f64 * EPS32 * abs[j] + TINY
        });
    }
}

/// A [128, 512] @ [512, 512] product as four K tiles accumulated in PSUM: operands DMA'd from
/// HBM into tile slots of SBUF buffers, the result evacuated to bf16 and DMA'd back.
#[test]
fn matmul_accumulates_four_k_tiles() {
    let (m, kt, tiles, n) = (128, 128, 4, 512);
    let k = kt * tiles;
    let bf = DType::BFloat16;
    let mut b = Builder::default();
    let w_hbm = b.buf("w", Memory::Hbm, bf, &[k, m], Init::Input); // A^T: [K, M]
    let x_hbm = b.buf("x", Memory::Hbm, bf, &[k, n], Init::Input);
    let out_hbm = b.buf("out", Memory::Hbm, bf, &[m, n], Init::Zeros);
    let w = b.buf("w_sb", Memory::Sbuf, bf, &[kt, tiles * m], Init::Zeros);
    let x = b.buf("x_sb", Memory::Sbuf, bf, &[kt, tiles * n], Init::Zeros);
    let acc = b.buf("acc", Memory::Psum, DType::Float32, &[m, n], Init::Zeros);
    let o = b.buf("o_sb", Memory::Sbuf, bf, &[m, n], Init::Zeros);
    for t in 0..tiles {
        b.op(Op::DmaCopy {
            dst: tile(w, 0, kt, t * m, m),
            src: tile(w_hbm, t * kt, kt, 0, m),
            queue: q(),
        });
        b.op(Op::DmaCopy {
            dst: tile(x, 0, kt, t * n, n),
            src: tile(x_hbm, t * kt, kt, 0, n),
            queue: q(),
        });
    }
    for t in 0..tiles {
        b.op(Op::Matmul {
            dst: whole(&b.p, acc),
            stationary: tile(w, 0, kt, t * m, m),
            moving: tile(x, 0, kt, t * n, n),
            accumulate: t > 0,
        });
    }
    b.op(Op::TensorCopy {
        engine: Engine::Vector,
        dst: whole(&b.p, o),
        src: whole(&b.p, acc),
    });
    b.op(Op::DmaCopy {
        dst: whole(&b.p, out_hbm),
        src: whole(&b.p, o),
        queue: q(),
    });
    let sv = rounded(bf, &normal(k * m, 31, 1.0));
    let xv = rounded(bf, &normal(k * n, 32, 1.0));
    let state = run(&b.p, &[(w_hbm, sv.clone()), (x_hbm, xv.clone())]);

    // Bit exact against the specification: each tile summed from zero, then added to PSUM in f32.
    let mut want = vec![0.0f32; m * n];
    for t in 0..tiles {
        let part = naive_f32(
            &sv[t * kt * m..(t + 1) * kt * m],
            &xv[t * kt * n..(t + 1) * kt * n],
            kt,
            m,
            n,
        );
        for (w, p) in want.iter_mut().zip(part) {
            *w = if t == 0 { p } else { *w + p };
        }
    }
    assert_bits_eq("psum", state.values(acc), &want);

    // Against f64: the f32 accumulation error is at most K eps32 sum|s x|; the bf16 output adds
    // one rounding, u_bf16 |ref| (plus u_bf16 of the f32 error, inside the factor 2).
    let (r, abs) = ref_f64(&sv, &xv, k, m, n);
    let acc_tol = |j: usize| k as f64 * EPS32 * abs[j] + TINY;
    assert_close("psum vs f64", state.values(acc), &r, acc_tol);
    assert_close("out (bf16) vs f64", state.values(out_hbm), &r, |j| {
        u(bf) * r[j].abs() + 2.0 * acc_tol(j)
    });
}

// ---------------------------------------------------------------------------------------------
// Data movement
// ---------------------------------------------------------------------------------------------

/// `A[m, k]` in HBM read with `partition_step = 1` and an access pattern striding by the row
/// length lands in SBUF as `[k, m]`, cast to bf16 on the way; a transpose through the PE array
/// brings it back to `[m, k]` exactly.
#[test]
fn dma_transposed_load_and_pe_transpose() {
    let (m, k) = (64, 128);
    let mut b = Builder::default();
    let a = b.buf("a", Memory::Hbm, DType::Float32, &[m, k], Init::Input);
    let at = b.buf("at", Memory::Sbuf, DType::BFloat16, &[k, m], Init::Zeros);
    let back = b.buf("back", Memory::Psum, DType::Float32, &[m, k], Init::Zeros);
    b.op(Op::DmaCopy {
        dst: whole(&b.p, at),
        src: Tile {
            buffer: a,
            partition_start: 0,
            partition_count: k as u32,
            partition_step: PartitionStep::new(1).unwrap(),
            ap: AccessPattern::new(0, &[(k as u32, m as u32)]),
        },
        queue: q(),
    });
    b.op(Op::Transpose {
        engine: Engine::Tensor,
        dst: whole(&b.p, back),
        src: whole(&b.p, at),
    });
    let av = normal(m * k, 5, 3.0);
    let state = run(&b.p, &[(a, av.clone())]);
    let bf = Cast::new(DType::BFloat16);
    let want: Vec<f32> = (0..k * m)
        .map(|e| bf.round(av[(e % m) * k + e / m], 0))
        .collect();
    assert_bits_eq("A^T in SBUF", state.values(at), &want);
    assert_bits_eq(
        "transposed back",
        state.values(back),
        &rounded(DType::BFloat16, &av),
    );
}

/// Equal element counts with different partition counts are paired in row-major order, strided
/// multi-dimensional access patterns address exactly the elements they name, and a count
/// mismatch is an error on the instruction's line.
#[test]
fn copies_flatten_and_follow_access_patterns() {
    let strided_ap = |offset| AccessPattern {
        offset,
        dims: [(3, 2), (1, 2), (0, 1)].into_iter().collect(),
    };
    let mut b = Builder::default();
    let src = b.sbuf("src", DType::Float32, &[4, 6]);
    let dst = b.buf("dst", Memory::Hbm, DType::Float32, &[2, 12], Init::Zeros);
    let strided = b.buf(
        "strided",
        Memory::Sbuf,
        DType::Float32,
        &[4, 6],
        Init::Zeros,
    );
    b.op(Op::DmaCopy {
        dst: whole(&b.p, dst),
        src: whole(&b.p, src),
        queue: q(),
    });
    // Offsets 0, 1, 3, 4 of src partitions 0..2 into offsets 1, 2, 4, 5 of partitions 1..3.
    b.op(Op::TensorCopy {
        engine: Engine::Vector,
        dst: Tile {
            buffer: strided,
            partition_start: 1,
            partition_count: 2,
            partition_step: PartitionStep::ROW,
            ap: strided_ap(1),
        },
        src: Tile {
            buffer: src,
            partition_start: 0,
            partition_count: 2,
            partition_step: PartitionStep::ROW,
            ap: strided_ap(0),
        },
    });
    let v: Vec<f32> = (0..24).map(|i| i as f32).collect();
    let state = run(&b.p, &[(src, v.clone())]);
    assert_bits_eq("flattened", state.values(dst), &v);
    let mut want = vec![0.0f32; 24];
    for (d, s) in [7, 8, 10, 11, 13, 14, 16, 17]
        .into_iter()
        .zip([0.0, 1.0, 3.0, 4.0, 6.0, 7.0, 9.0, 10.0])
    {
        want[d] = s;
    }
    assert_bits_eq("strided", state.values(strided), &want);

    // 8 source elements into 6 destination elements.
    b.p.instrs[1].op = Op::TensorCopy {
        engine: Engine::Vector,
        dst: tile(strided, 1, 2, 0, 3),
        src: tile(src, 0, 2, 0, 4),
    };
    let mut s = DataState::new(&b.p, &[]).unwrap();
    let msg = execute(&b.p, &mut s, &ExecOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("tensor_copy") && msg.contains("strided") && msg.starts_with(":2:"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------------
// Scalar engine
// ---------------------------------------------------------------------------------------------

fn act_f64(func: ActFunc, t: f64) -> f64 {
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    match func {
        ActFunc::Identity => t,
        ActFunc::Relu => t.max(0.0),
        ActFunc::Gelu => {
            0.5 * t
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (t + 0.044715 * t.powi(3))).tanh())
        }
        ActFunc::Silu => t * sig(t),
        ActFunc::Sigmoid => sig(t),
        ActFunc::Tanh => t.tanh(),
        ActFunc::Exp => t.exp(),
        ActFunc::Square => t * t,
        ActFunc::Rsqrt => 1.0 / t.sqrt(),
        ActFunc::Reciprocal => 1.0 / t,
        other => panic!("{other:?} (format 2) is tested in tests/chip_format2.rs"),
    }
}

/// Every activation function, with per-partition and immediate scale and bias, into fp32 and bf16
/// destinations, with a sum reduction and a max reduction of the f32 results.
#[test]
fn activation_every_function() {
    let funcs = [
        ActFunc::Identity,
        ActFunc::Relu,
        ActFunc::Gelu,
        ActFunc::Silu,
        ActFunc::Sigmoid,
        ActFunc::Tanh,
        ActFunc::Exp,
        ActFunc::Square,
        ActFunc::Rsqrt,
        ActFunc::Reciprocal,
    ];
    let (p, f) = (128, 64);
    for (fi, func) in funcs.into_iter().enumerate() {
        let positive = matches!(func, ActFunc::Rsqrt | ActFunc::Reciprocal);
        let (lo, hi) = if positive { (0.25, 4.0) } else { (-4.0, 4.0) };
        for (di, dst_dtype) in [DType::Float32, DType::BFloat16].into_iter().enumerate() {
            for per_partition in [true, false] {
                let seed = (fi * 8 + di * 2 + per_partition as usize) as u64;
                let mut b = Builder::default();
                let x = b.sbuf("x", DType::BFloat16, &[p, f]);
                let sc = b.sbuf("scale", DType::Float32, &[p, 1]);
                let bi = b.sbuf("bias", DType::Float32, &[p, 1]);
                let y = b.buf("y", Memory::Sbuf, dst_dtype, &[p, f], Init::Zeros);
                let rs = b.buf("sum", Memory::Sbuf, DType::Float32, &[p, 1], Init::Zeros);
                let rm = b.buf("max", Memory::Sbuf, DType::Float32, &[p, 1], Init::Zeros);
                let (scale, bias) = if per_partition {
                    (
                        Scalar::PerPartition(whole(&b.p, sc)),
                        Scalar::PerPartition(whole(&b.p, bi)),
                    )
                } else {
                    (Scalar::Imm(0.75), Scalar::Imm(0.125))
                };
                for (r, op) in [(rs, ReduceOp::Sum), (rm, ReduceOp::Max)] {
                    b.op(Op::Activation(Box::new(Activation {
                        func,
                        dst: whole(&b.p, y),
                        src: whole(&b.p, x),
                        scale: scale.clone(),
                        bias: bias.clone(),
                        reduce: Some((op, whole(&b.p, r))),
                    })));
                }
                let xv = rounded(DType::BFloat16, &uniform(p * f, seed, lo, hi));
                let scv = uniform(p, seed + 100, 0.5, 1.5);
                let biv = uniform(p, seed + 200, 0.0, 0.5);
                let state = run(
                    &b.p,
                    &[(x, xv.clone()), (sc, scv.clone()), (bi, biv.clone())],
                );
                let s_of = |i: usize| -> (f64, f64) {
                    if per_partition {
                        (scv[i / f] as f64, biv[i / f] as f64)
                    } else {
                        (0.75, 0.125)
                    }
                };
                let refs: Vec<f64> = (0..p * f)
                    .map(|i| {
                        let (s, bb) = s_of(i);
                        act_f64(func, xv[i] as f64 * s + bb)
                    })
                    .collect();
                // Tolerance: the f32 argument fl(fl(x s) + b) is off by <= eps32 (|x s| + |b|),
                // which f moves by |f'(t)| times that; f evaluated in f64 and rounded to f32
                // adds u32 |ref|; the destination rounding adds u_d |ref|. Factor 2 of slack.
                let tol_f32 = |i: usize| {
                    let (s, bb) = s_of(i);
                    let t = xv[i] as f64 * s + bb;
                    let h = 1e-6 * t.abs().max(1.0);
                    let deriv = (act_f64(func, t + h) - act_f64(func, t - h)).abs() / (2.0 * h);
                    2.0 * EPS32 * (deriv * ((xv[i] as f64 * s).abs() + bb.abs()) + refs[i].abs())
                        + TINY
                };
                let what = format!("{func:?} -> {dst_dtype} (per partition: {per_partition})");
                assert_close(&what, state.values(y), &refs, |i| {
                    u(dst_dtype) * refs[i].abs() + tol_f32(i)
                });
                // Reductions are over the f32 results, before the cast to the destination dtype:
                // the sum adds F eps32 sum|y| of accumulation error to the elements' errors.
                let (sums, maxes): (Vec<f64>, Vec<f64>) = (0..p)
                    .map(|r| {
                        let row = &refs[r * f..(r + 1) * f];
                        (
                            row.iter().sum::<f64>(),
                            row.iter().cloned().fold(f64::MIN, f64::max),
                        )
                    })
                    .unzip();
                assert_close(&format!("{what} sum"), state.values(rs), &sums, |r| {
                    (r * f..(r + 1) * f)
                        .map(|i| tol_f32(i) + f as f64 * EPS32 * refs[i].abs())
                        .sum::<f64>()
                        + TINY
                });
                assert_close(&format!("{what} max"), state.values(rm), &maxes, |r| {
                    (r * f..(r + 1) * f).map(tol_f32).fold(0.0, f64::max)
                });
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Vector engine
// ---------------------------------------------------------------------------------------------

fn alu_f64(op: AluOp, a: f64, b: f64) -> f64 {
    match op {
        AluOp::Add => a + b,
        AluOp::Sub => a - b,
        AluOp::Mul => a * b,
        AluOp::Max => a.max(b),
        AluOp::Min => a.min(b),
        AluOp::Div => a / b,
        other => panic!("{other:?} (format 2) is tested in tests/chip_format2.rs"),
    }
}

const ALU_OPS: [AluOp; 6] = [
    AluOp::Add,
    AluOp::Sub,
    AluOp::Mul,
    AluOp::Max,
    AluOp::Min,
    AluOp::Div,
];

/// `tensor_tensor` with every ALU op, bf16 inputs, fp32 and bf16 outputs.
#[test]
fn tensor_tensor_every_op() {
    let (p, f) = (128, 96);
    let av = rounded(DType::BFloat16, &normal(p * f, 1, 3.0));
    // b away from zero so division is well conditioned.
    let bv: Vec<f32> = rounded(DType::BFloat16, &uniform(p * f, 2, 0.5, 4.0))
        .iter()
        .enumerate()
        .map(|(i, &v)| if i % 3 == 0 { -v } else { v })
        .collect();
    for op in ALU_OPS {
        for dst_dtype in [DType::Float32, DType::BFloat16] {
            let mut b = Builder::default();
            let a = b.sbuf("a", DType::BFloat16, &[p, f]);
            let bb = b.sbuf("b", DType::BFloat16, &[p, f]);
            let d = b.buf("d", Memory::Sbuf, dst_dtype, &[p, f], Init::Zeros);
            b.op(Op::TensorTensor {
                engine: Engine::Vector,
                op,
                dst: whole(&b.p, d),
                a: whole(&b.p, a),
                b: whole(&b.p, bb),
            });
            let state = run(&b.p, &[(a, av.clone()), (bb, bv.clone())]);
            let refs: Vec<f64> = av
                .iter()
                .zip(&bv)
                .map(|(&x, &y)| alu_f64(op, x as f64, y as f64))
                .collect();
            // One correctly rounded f32 operation (u32 |ref|), then the destination rounding
            // (u_d |ref|): for fp32 that is the same rounding, so k = 1/2; for bf16 k ~ 1/2 + 2^-16.
            assert_close(
                &format!("{op:?} -> {dst_dtype}"),
                state.values(d),
                &refs,
                |i| (u(dst_dtype) + u(DType::Float32)) * refs[i].abs() + TINY,
            );
        }
    }
}

/// `tensor_scalar` with every op in both stages, immediate and per-partition scalars.
#[test]
fn tensor_scalar_two_stages() {
    let (p, f) = (128, 40);
    let xv = rounded(DType::BFloat16, &normal(p * f, 3, 2.0));
    let s0v = uniform(p, 4, 0.5, 2.0);
    for op0 in ALU_OPS {
        for op1 in ALU_OPS {
            let mut b = Builder::default();
            let x = b.sbuf("x", DType::BFloat16, &[p, f]);
            let s0 = b.sbuf("s0", DType::Float32, &[p, 1]);
            let d = b.buf("d", Memory::Sbuf, DType::Float32, &[p, f], Init::Zeros);
            b.op(Op::TensorScalar(Box::new(TensorScalar {
                engine: Engine::Vector,
                dst: whole(&b.p, d),
                src: whole(&b.p, x),
                op0: (op0, Scalar::PerPartition(whole(&b.p, s0))),
                op1: Some((op1, Scalar::Imm(-1.25))),
                reverse: [false; 2],
            })));
            let state = run(&b.p, &[(x, xv.clone()), (s0, s0v.clone())]);
            let stage1: Vec<f64> = (0..p * f)
                .map(|i| alu_f64(op0, xv[i] as f64, s0v[i / f] as f64))
                .collect();
            let refs: Vec<f64> = stage1.iter().map(|&a| alu_f64(op1, a, -1.25)).collect();
            // Stage one is off by <= u32 |stage1|, which stage two scales by its derivative
            // (1 for add/sub/max/min, |s1| for mul, 1/|s1| for div); stage two adds u32 |ref|.
            let g = match op1 {
                AluOp::Mul => 1.25,
                AluOp::Div => 0.8,
                _ => 1.0,
            };
            assert_close(
                &format!("({op0:?}, {op1:?})"),
                state.values(d),
                &refs,
                |i| u(DType::Float32) * (g * stage1[i].abs() + refs[i].abs()) * 1.01 + TINY,
            );
        }
    }
}

/// Sum and max reductions along the free axis.
#[test]
fn tensor_reduce_sum_and_max() {
    let (p, f) = (128, 300);
    let xv = rounded(DType::BFloat16, &normal(p * f, 6, 1.0));
    let mut b = Builder::default();
    let x = b.sbuf("x", DType::BFloat16, &[p, f]);
    let sum = b.buf("sum", Memory::Sbuf, DType::Float32, &[p, 1], Init::Zeros);
    let max = b.buf("max", Memory::Sbuf, DType::BFloat16, &[p, 1], Init::Zeros);
    for (d, op) in [(sum, ReduceOp::Sum), (max, ReduceOp::Max)] {
        b.op(Op::TensorReduce {
            engine: Engine::Vector,
            op,
            dst: whole(&b.p, d),
            src: whole(&b.p, x),
        });
    }
    let state = run(&b.p, &[(x, xv.clone())]);
    let rows = || xv.chunks(f);
    let sums: Vec<f64> = rows().map(|r| r.iter().map(|&v| v as f64).sum()).collect();
    let abs: Vec<f64> = rows()
        .map(|r| r.iter().map(|&v| (v as f64).abs()).sum())
        .collect();
    // Recursive f32 summation: |err| <= (F - 1) u32 sum|x| <= F eps32 sum|x|.
    assert_close("sum", state.values(sum), &sums, |i| {
        f as f64 * EPS32 * abs[i] + TINY
    });
    // The max of bf16 values is a bf16 value: exact.
    let maxes: Vec<f32> = rows()
        .map(|r| r.iter().cloned().fold(f32::NEG_INFINITY, f32::max))
        .collect();
    assert_bits_eq("max", state.values(max), &maxes);
}

/// `iota` gives the affine values exactly (rounded to the destination dtype), and
/// `affine_select` with them builds a causal mask: keep `j <= p`, fill above the diagonal.
#[test]
fn iota_and_causal_mask() {
    let n = 128;
    let mut b = Builder::default();
    let io = b.buf("iota", Memory::Sbuf, DType::Float32, &[n, n], Init::Zeros);
    let io16 = b.buf(
        "iota16",
        Memory::Sbuf,
        DType::BFloat16,
        &[n, n],
        Init::Zeros,
    );
    let scores = b.sbuf("scores", DType::Float32, &[n, n]);
    let masked = b.buf("masked", Memory::Sbuf, DType::Float32, &[n, n], Init::Zeros);
    b.op(Op::Iota {
        dst: whole(&b.p, io),
        base: -5,
        channel_multiplier: 1000,
        step: -3,
    });
    b.op(Op::Iota {
        dst: whole(&b.p, io16),
        base: -5,
        channel_multiplier: 1000,
        step: -3,
    });
    b.op(Op::AffineSelect {
        dst: whole(&b.p, masked),
        src: whole(&b.p, scores),
        cmp: CmpOp::Ge,
        base: 0,
        channel_multiplier: 1,
        step: -1,
        fill: -30000.0,
    });
    let sv = normal(n * n, 7, 1.0);
    let state = run(&b.p, &[(scores, sv.clone())]);
    let want: Vec<f32> = (0..n * n)
        .map(|e| (-5 + 1000 * (e / n) as i64 - 3 * (e % n) as i64) as f32)
        .collect();
    assert_bits_eq("iota", state.values(io), &want);
    assert_bits_eq(
        "iota bf16",
        state.values(io16),
        &rounded(DType::BFloat16, &want),
    );
    let mask: Vec<f32> = (0..n * n)
        .map(|e| if e % n <= e / n { sv[e] } else { -30000.0 })
        .collect();
    assert_bits_eq("causal", state.values(masked), &mask);

    // The other comparisons on a small tile.
    for (cmp, keep) in [
        (CmpOp::Gt, (|v: i64| v > 0) as fn(i64) -> bool),
        (CmpOp::Le, |v| v <= 0),
        (CmpOp::Lt, |v| v < 0),
        (CmpOp::Eq, |v| v == 0),
        (CmpOp::Ne, |v| v != 0),
    ] {
        let mut b = Builder::default();
        let s = b.sbuf("s", DType::Float32, &[4, 5]);
        let d = b.buf("d", Memory::Sbuf, DType::Float32, &[4, 5], Init::Zeros);
        b.op(Op::AffineSelect {
            dst: whole(&b.p, d),
            src: whole(&b.p, s),
            cmp,
            base: 2,
            channel_multiplier: -1,
            step: -1,
            fill: 9.0,
        });
        let v: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let state = run(&b.p, &[(s, v)]);
        let want: Vec<f32> = (0..20)
            .map(|e| {
                let a = 2 - (e / 5) as i64 - (e % 5) as i64;
                if keep(a) { e as f32 } else { 9.0 }
            })
            .collect();
        assert_bits_eq(&format!("{cmp:?}"), state.values(d), &want);
    }
}

/// Layer-norm statistics in two unequal chunks, combined by `bn_aggr`, match the f64 mean and
/// population variance of the whole row.
#[test]
fn bn_stats_and_aggr_over_two_chunks() {
    let (p, f, split) = (128, 1024, 300);
    let xv: Vec<f32> = rounded(
        DType::BFloat16,
        &normal(p * f, 8, 2.0)
            .iter()
            .map(|v| v + 3.0)
            .collect::<Vec<_>>(),
    );
    let mut b = Builder::default();
    let x = b.sbuf("x", DType::BFloat16, &[p, f]);
    let st = b.buf("stats", Memory::Sbuf, DType::Float32, &[p, 6], Init::Zeros);
    let mv = b.buf("mv", Memory::Sbuf, DType::Float32, &[p, 2], Init::Zeros);
    b.op(Op::BnStats {
        dst: tile(st, 0, p, 0, 3),
        src: tile(x, 0, p, 0, split),
    });
    b.op(Op::BnStats {
        dst: tile(st, 0, p, 3, 3),
        src: tile(x, 0, p, split, f - split),
    });
    b.op(Op::BnAggr {
        dst: whole(&b.p, mv),
        src: whole(&b.p, st),
    });
    let state = run(&b.p, &[(x, xv.clone())]);
    let stats = state.values(st);
    let mut means = Vec::new();
    let mut vars = Vec::new();
    for r in 0..p {
        let row: Vec<f64> = xv[r * f..(r + 1) * f].iter().map(|&v| v as f64).collect();
        let mean = row.iter().sum::<f64>() / f as f64;
        let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / f as f64;
        means.push(mean);
        vars.push(var);
        assert_eq!(stats[r * 6], split as f32);
        assert_eq!(stats[r * 6 + 3], (f - split) as f32);
    }
    let got = state.values(mv);
    let (gm, gv): (Vec<f32>, Vec<f32>) = got.chunks(2).map(|c| (c[0], c[1])).unzip();
    // The chunk statistics are f64 values rounded once to f32 (u32 relative each); combining them
    // in f64 and rounding again keeps the error within a few u32 of the whole-row values.
    assert_close("mean", &gm, &means, |r| 4.0 * EPS32 * means[r].abs() + TINY);
    assert_close("var", &gv, &vars, |r| 4.0 * EPS32 * vars[r].abs() + TINY);
}

// ---------------------------------------------------------------------------------------------
// Rounding, initialization, errors
// ---------------------------------------------------------------------------------------------

fn copy_program(n: usize, dst_dtype: DType) -> (Program, BufferId, BufferId) {
    let mut b = Builder::default();
    let src = b.sbuf("src", DType::Float32, &[128, n]);
    let dst = b.buf("dst", Memory::Sbuf, dst_dtype, &[128, n], Init::Zeros);
    b.op(Op::TensorCopy {
        engine: Engine::Vector,
        dst: whole(&b.p, dst),
        src: whole(&b.p, src),
    });
    (b.p, src, dst)
}

/// Stochastic rounding: reproducible for a seed, different for another, at the documented
/// stream positions `(instruction << 32) | element`.
#[test]
fn stochastic_rounding_is_reproducible() {
    let n = 512;
    let (p, src, dst) = copy_program(n, DType::BFloat16);
    let xv = normal(128 * n, 9, 1.0);
    let sr = |seed| ExecOptions {
        rounding: Rounding::Stochastic,
        seed,
    };
    let a = run_with(&p, &[(src, xv.clone())], sr(1));
    let b = run_with(&p, &[(src, xv.clone())], sr(1));
    let c = run_with(&p, &[(src, xv.clone())], sr(2));
    let nearest = run(&p, &[(src, xv.clone())]);
    assert_eq!(a, b);
    assert_ne!(a.values(dst), c.values(dst));
    assert_ne!(a.values(dst), nearest.values(dst));
    // Instruction 0, element e: stream position e.
    let cast = Cast::new(DType::BFloat16)
        .rounding(Rounding::Stochastic)
        .seed(1);
    let want: Vec<f32> = xv
        .iter()
        .enumerate()
        .map(|(e, &x)| cast.round(x, e as u64))
        .collect();
    assert_bits_eq("positions", a.values(dst), &want);
    // The same copy as the second instruction draws from (1 << 32) | e.
    let mut p2 = p.clone();
    p2.instrs.insert(0, p.instrs[0].clone());
    let mut s2 = DataState::new(&p2, &[(src, tensor(&[128, n], xv.clone()))]).unwrap();
    execute_instr(&p2, 1, &mut s2, &sr(1)).unwrap();
    let want2: Vec<f32> = xv
        .iter()
        .enumerate()
        .map(|(e, &x)| cast.round(x, (1u64 << 32) | e as u64))
        .collect();
    assert_bits_eq("positions of instruction 1", s2.values(dst), &want2);
}

/// Stochastic rounding to bf16 is unbiased: the mean error over many elements is within four
/// standard errors of zero, where round-to-nearest of a constant is visibly biased.
#[test]
fn stochastic_rounding_is_unbiased() {
    let n = 1024;
    let count = (128 * n) as f64;
    let (p, src, dst) = copy_program(n, DType::BFloat16);
    let sr = ExecOptions {
        rounding: Rounding::Stochastic,
        seed: 77,
    };
    // A constant 0.3 ulp above 1.0 (bf16 ulp at 1 is 2^-7), and random values.
    let c = 1.0 + 0.3 * 2f32.powi(-7);
    for (what, xv) in [
        ("constant", vec![c; 128 * n]),
        ("random", uniform(128 * n, 10, 1.0, 2.0)),
    ] {
        let st = run_with(&p, &[(src, xv.clone())], sr);
        let errs: Vec<f64> = st
            .values(dst)
            .iter()
            .zip(&xv)
            .map(|(&g, &x)| g as f64 - x as f64)
            .collect();
        let mean = errs.iter().sum::<f64>() / count;
        let var = errs.iter().map(|e| (e - mean).powi(2)).sum::<f64>() / (count - 1.0);
        let se = (var / count).sqrt();
        assert!(
            mean.abs() <= 4.0 * se,
            "{what}: mean error {mean:e}, standard error {se:e}"
        );
        assert!(se > 0.0);
    }
    let nearest = run(&p, &[(src, vec![c; 128 * n])]);
    assert!(nearest.values(dst).iter().all(|&v| v == 1.0));
}

/// Seeded initializers depend only on (seed, position), are rounded to the dtype, and have the
/// requested moments.
#[test]
fn seeded_initialization() {
    let mut b = Builder::default();
    let n = 128 * 512;
    let nrm = b.buf(
        "n",
        Memory::Hbm,
        DType::BFloat16,
        &[128, 512],
        Init::Normal {
            mean: 1.0,
            std: 2.0,
            seed: 3,
        },
    );
    let uni = b.buf(
        "u",
        Memory::Sbuf,
        DType::Float8E4M3,
        &[128, 512],
        Init::Uniform {
            low: -3.0,
            high: 5.0,
            seed: 4,
        },
    );
    let again = b.buf(
        "n2",
        Memory::Hbm,
        DType::BFloat16,
        &[64, 1024],
        Init::Normal {
            mean: 1.0,
            std: 2.0,
            seed: 3,
        },
    );
    let s = DataState::new(&b.p, &[]).unwrap();
    assert_eq!(s.values(nrm), s.values(again));
    let nv = s.values(nrm);
    assert_eq!(nv, rounded(DType::BFloat16, nv).as_slice());
    let mean = nv.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let var = nv.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
    assert!((mean - 1.0).abs() < 0.05, "{mean}");
    assert!((var.sqrt() - 2.0).abs() < 0.05, "{}", var.sqrt());
    let uv = s.values(uni);
    assert_eq!(uv, rounded(DType::Float8E4M3, uv).as_slice());
    assert!(uv.iter().all(|&v| (-3.0..=5.0).contains(&v)));
    let umean = uv.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    assert!((umean - 1.0).abs() < 0.1, "{umean}");
    let t = s.tensor(&b.p, uni);
    assert_eq!(t.shape(), &[128, 512]);
    assert_eq!(t.dtype(), DType::Float8E4M3);
}

/// Inputs of the wrong shape, for an unknown buffer, or for a buffer that is not an input are
/// clear errors; inputs are rounded to the buffer's dtype.
#[test]
fn input_errors_and_rounding() {
    let mut b = Builder::default();
    let x = b.sbuf("activations", DType::BFloat16, &[128, 64]);
    let z = b.buf("z", Memory::Sbuf, DType::Float32, &[2], Init::Zeros);
    let err = DataState::new(&b.p, &[(x, tensor(&[64, 128], vec![0.0; 64 * 128]))]).unwrap_err();
    assert!(matches!(err, Error::Input { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("activations") && msg.contains("[64, 128]") && msg.contains("[128, 64]"),
        "{msg}"
    );
    let msg = DataState::new(&b.p, &[(BufferId(9), tensor(&[2], vec![0.0; 2]))])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("#9"), "{msg}");
    let msg = DataState::new(&b.p, &[(z, tensor(&[2], vec![0.0; 2]))])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("'z'") && msg.contains("not declared as an input"),
        "{msg}"
    );
    let v = vec![0.1f32; 128 * 64];
    let s = DataState::new(&b.p, &[(x, tensor(&[128, 64], v.clone()))]).unwrap();
    assert_eq!(s.values(x), rounded(DType::BFloat16, &v).as_slice());
    // Inputs not given are zeros.
    let s = DataState::new(&b.p, &[]).unwrap();
    assert!(s.values(x).iter().all(|&v| v == 0.0));
}

/// Out-of-range operands are reported on the instruction's line, never a panic.
#[test]
fn out_of_range_is_an_error_not_a_panic() {
    let mut b = Builder::default();
    let x = b.buf("x", Memory::Sbuf, DType::Float32, &[4, 8], Init::Zeros);
    let y = b.buf("y", Memory::Sbuf, DType::Float32, &[4, 8], Init::Zeros);
    b.op(Op::TensorCopy {
        engine: Engine::Vector,
        dst: tile(y, 2, 4, 0, 8),
        src: tile(x, 0, 4, 0, 8),
    });
    b.op(Op::Memset {
        engine: Engine::Vector,
        dst: Tile {
            buffer: y,
            partition_start: 0,
            partition_count: 1,
            partition_step: PartitionStep::ROW,
            ap: AccessPattern {
                offset: 0,
                dims: [(u32::MAX, 3)].into_iter().collect(),
            },
        },
        value: 1.0,
    });
    b.op(Op::TensorCopy {
        engine: Engine::Vector,
        dst: tile(BufferId(7), 0, 1, 0, 1),
        src: tile(x, 0, 1, 0, 1),
    });
    b.op(Op::Matmul {
        dst: tile(y, 0, 4, 0, 8),
        stationary: tile(x, 0, 4, 0, 4),
        moving: tile(x, 0, 2, 0, 8),
        accumulate: false,
    });
    let mut s = DataState::new(&b.p, &[]).unwrap();
    let opts = ExecOptions::default();
    for (i, needle) in [
        (0, "out of range"),
        (1, "out of range"),
        (2, "#7"),
        (3, "has 4 partitions but moving 'x' has 2"),
    ] {
        let msg = execute_instr(&b.p, i, &mut s, &opts)
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with(&format!(":{}: ", i + 1)) && msg.contains(needle),
            "{msg}"
        );
    }
    assert!(execute_instr(&b.p, 99, &mut s, &opts).is_err());
}
