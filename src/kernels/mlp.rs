//! `mlp`: out = (silu(x Wg) * (x Wu)) Wd, two GEMMs of the matmul kernel's tiling
//! ([`Gemm`]) with the SwiGLU fused into the first one's evacuation (layouts in
//! `kernels/mlp.toml`).
//!
//! The first GEMM computes [G; U]^T = [Wg | Wu]^T x^T with the weight columns interleaved in
//! 128-column blocks, so every resident block of the GEMM holds gate/up tile pairs for the same
//! intermediate rows. Its epilogue reads both accumulators straight from PSUM: SiLU of the gate
//! on Scalar, times the up tile on Vector (a PSUM operand runs at one element per cycle), and
//! stores h^T, which is the A^T the down projection needs: no transposes anywhere. Going through
//! HBM for h costs 2 T I bytes each way, small beside the weights' 6 H I bytes at decode and
//! beside the compute at prefill.

use super::builder::activation;
use ndarray::{Array2, ArrayD, Ix2};

use super::builder::{Builder, Role, hbm_block};
use super::matmul::{Done, Gemm, Layout, Operand, out_dtype};
use super::{Error, Kernel, Params, Result, round_to, unit_roundoff};
use crate::arch::Hardware;
use crate::isa::{
    AccessPattern, ActFunc, AluOp, BufferId, Engine, Init, Op, PartitionStep, Program, Scalar, Tile,
};
use crate::numerics::DType;

pub(super) struct Mlp;

/// Width of the gate/up interleave: one m-tile of the GEMM.
const PAIR_COLS: usize = 128;

/// B slots of each GEMM (as the matmul kernel's default).
const B_BUFFERS: usize = 8;

/// Below this many tokens the weights stream through the PE (x^T stationary). With few tokens
/// a resident weight block serves a few short multiplies and the next block cannot load while
/// the PE uses this one, while the streamed ring prefetches. Measured on trn2 at Llama-3-8B
/// shapes (hidden 4096, intermediate 14336): 1.0 ms against 2.6 ms at 1 token, 2.3 against
/// 2.9 ms at 512, a tie (99.8 % MFU either way) from 1024 on.
const TOKENS_STATIONARY_BELOW: usize = 1024;

/// The kernel's HBM buffers.
struct Bufs {
    x_t: BufferId,
    w_gu: BufferId,
    w_d: BufferId,
    h_t: BufferId,
    out_t: BufferId,
}

/// A GEMM of the matmul kernel's tiling over A^T (`[k, m]`) in `dtype`, `block_m` m-tiles per
/// resident block (0: the most that fit).
fn gemm(
    b: &mut Builder,
    tag: &str,
    mkn: (usize, usize, usize),
    dtype: DType,
    block_m: usize,
) -> Result<Gemm> {
    Gemm::new(
        b,
        tag,
        mkn,
        dtype,
        out_dtype(dtype),
        Layout::Kxm,
        (block_m, 0),
        B_BUFFERS,
    )
}

fn operand(buf: BufferId, cols: usize) -> Operand {
    Operand { buf, row0: 0, cols }
}

/// Weights stationary: [G; U]^T = W_gu^T x^T with gate/up tile pairs in each resident block,
/// then out^T = Wd^T h^T.
fn weights_stationary_gemms(
    b: &mut Builder,
    bu: &Bufs,
    (t, h, i): (usize, usize, usize),
    dtype: DType,
) -> Result<()> {
    // Resident blocks of an even number of m-tiles, so pairs never split.
    let plan = |b: &mut Builder, bm| gemm(b, "gu_", (2 * i, h, t), dtype, bm);
    let mut gu = match plan(b, 4) {
        Ok(g) => g,
        Err(_) => plan(b, 2)?,
    };
    gu.emit_with(
        b,
        operand(bu.w_gu, 2 * i),
        operand(bu.x_t, t),
        &mut |b: &mut Builder, done: &[Done]| {
            for gate in done.iter().filter(|d| (d.m0 / PAIR_COLS) % 2 == 0) {
                let up = done
                    .iter()
                    .find(|d| d.m0 == gate.m0 + PAIR_COLS && d.n0 == gate.n0)
                    .expect("resident blocks hold whole gate/up pairs");
                swiglu(b, gate.out.clone(), gate.psum.clone(), up.psum.clone());
                b.dma(
                    Role::Store,
                    hbm_block(bu.h_t, gate.m0 / 2, gate.rows, gate.n0, gate.cols),
                    gate.out.clone(),
                );
            }
        },
    );
    gu.release(b);
    let mut down = gemm(b, "down_", (h, i, t), dtype, 0)?;
    down.emit(
        b,
        operand(bu.w_d, h),
        operand(bu.h_t, t),
        operand(bu.out_t, t),
    );
    Ok(())
}

/// Tokens stationary: [G | U] = x W_gu with each 512-column result holding gate/up column
/// pairs, h^T stored by a transposing DMA; then out = h Wd, stored transposed into out^T.
fn tokens_stationary_gemms(
    b: &mut Builder,
    bu: &Bufs,
    (t, h, i): (usize, usize, usize),
    dtype: DType,
) -> Result<()> {
    let mut gu = gemm(b, "gu_", (t, h, 2 * i), dtype, 0)?;
    gu.emit_with(
        b,
        operand(bu.x_t, t),
        operand(bu.w_gu, 2 * i),
        &mut |b: &mut Builder, done: &[Done]| {
            for d in done {
                // Columns n0.. hold pairs of 128 gate then 128 up columns (n0 is a multiple
                // of 512, the width a multiple of 256).
                let pairs = d.cols / (2 * PAIR_COLS);
                let parts = |tile: &Tile, first: usize| {
                    let mut t = tile.clone();
                    t.ap = AccessPattern::new(
                        t.ap.offset + first as u32,
                        &[
                            ((2 * PAIR_COLS) as u32, pairs as u32),
                            (1, PAIR_COLS as u32),
                        ],
                    );
                    t
                };
                let gate_out = parts(&d.out, 0);
                swiglu(
                    b,
                    gate_out.clone(),
                    parts(&d.psum, 0),
                    parts(&d.psum, PAIR_COLS),
                );
                // h^T[n0 / 2 + 128 q + c, m0 + p] = the gate part (q, c) of partition p.
                let dst = transposed(
                    bu.h_t,
                    d.m0,
                    d.rows,
                    (d.n0 / 2) * t,
                    &[
                        ((PAIR_COLS * t) as u32, pairs as u32),
                        (t as u32, PAIR_COLS as u32),
                    ],
                );
                b.dma(Role::Store, dst, gate_out);
            }
        },
    );
    gu.release(b);
    let mut down = gemm(b, "down_", (t, i, h), dtype, 0)?;
    let mut k = 0;
    down.emit_with(
        b,
        operand(bu.h_t, t),
        operand(bu.w_d, h),
        &mut |b: &mut Builder, done: &[Done]| {
            for d in done {
                d.evacuate(b, k);
                k += 1;
                let dst = transposed(
                    bu.out_t,
                    d.m0,
                    d.rows,
                    d.n0 * t,
                    &[(t as u32, d.cols as u32)],
                );
                b.dma(Role::Store, dst, d.out.clone());
            }
        },
    );
    Ok(())
}

/// An HBM tile of a feature-major `[features, tokens]` buffer that takes an SBUF block with
/// tokens `t0..t0 + rows` on partitions: partition p goes to column `t0 + p`, its elements to
/// the rows `dims` walk from element `offset` (a DMA transpose on the store).
fn transposed(buf: BufferId, t0: usize, rows: usize, offset: usize, dims: &[(u32, u32)]) -> Tile {
    Tile {
        buffer: buf,
        partition_start: t0 as u32,
        partition_count: rows as u32,
        partition_step: PartitionStep::new(1).expect("1 is a valid step"),
        ap: AccessPattern::new(offset as u32, dims),
    }
}

/// `dst = silu(gate) * up`: SiLU on Scalar straight from PSUM, the product on Vector (a PSUM
/// operand runs at one element per cycle).
fn swiglu(b: &mut Builder, dst: Tile, gate: Tile, up: Tile) {
    b.push(activation(
        ActFunc::Silu,
        dst.clone(),
        gate,
        (Scalar::Imm(1.0), Scalar::Imm(0.0)),
        None,
    ));
    b.push(Op::TensorTensor {
        engine: Engine::Vector,
        op: AluOp::Mul,
        dst: dst.clone(),
        a: dst,
        b: up,
    });
}

impl Kernel for Mlp {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/mlp.toml")
    }

    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        let (t, h, i) = (p.int("tokens"), p.int("hidden"), p.int("intermediate"));
        if i % PAIR_COLS != 0 {
            return Err(Error::Param {
                kernel: "mlp".into(),
                param: "intermediate".into(),
                message: format!(
                    "{i} is not a multiple of {PAIR_COLS} (the gate/up interleave of w_gate_up)"
                ),
            });
        }
        let dtype = p.dtype("dtype");
        let out = out_dtype(dtype);
        let mut b = Builder::new("mlp", hw, p.int("seed") as u64);
        if hw.pe.stationary_free_max as usize != PAIR_COLS {
            return Err(b.does_not_fit(format!(
                "the gate/up pairing needs 128-column m-tiles; pe.stationary_free_max is {}",
                hw.pe.stationary_free_max
            )));
        }
        // Weights as initialized for training, normal(0, 1 / fan_in): every intermediate stays
        // near unit scale, within fp8 e4m3's range (max 240), as in a real layer.
        let seed = p.int("seed") as u64;
        let normal = |k: u64, fan_in: usize| Init::Normal {
            mean: 0.0,
            std: 1.0 / (fan_in as f64).sqrt(),
            seed: seed + k,
        };
        let x_t = b.input_with("x_t", dtype, &[h, t], normal(1, 1));
        let w_gu = b.input_with("w_gate_up", dtype, &[h, 2 * i], normal(2, h));
        let w_d = b.input_with("w_down", dtype, &[i, h], normal(3, i));
        let h_t = b.output("h_t", out, &[i, t]);
        let out_t = b.output("out_t", out, &[h, t]);

        let tokens_stationary = match p.choice("stationary") {
            "tokens" => true,
            "weights" => false,
            _ => t < TOKENS_STATIONARY_BELOW,
        };
        let bufs = Bufs {
            x_t,
            w_gu,
            w_d,
            h_t,
            out_t,
        };
        if tokens_stationary {
            tokens_stationary_gemms(&mut b, &bufs, (t, h, i), dtype)?;
        } else {
            weights_stationary_gemms(&mut b, &bufs, (t, h, i), dtype)?;
        }
        b.finish()
    }

    /// f64 reference with the kernel's roundings of the intermediate: silu(g) and h are stored in
    /// the output dtype, and h is cast to the input dtype as the down projection loads it.
    fn reference(
        &self,
        p: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        let (t, h, i) = (p.int("tokens"), p.int("hidden"), p.int("intermediate"));
        let dtype = p.dtype("dtype");
        let out = out_dtype(dtype);
        let two = |name: &str| input(name).into_dimensionality::<Ix2>().expect("2-D");
        let (x_t, w_gu, w_d) = (two("x_t"), two("w_gate_up"), two("w_down"));
        let x = x_t.t();
        let col = |c: usize, up: bool| {
            (c / PAIR_COLS) * 2 * PAIR_COLS + usize::from(up) * PAIR_COLS + c % PAIR_COLS
        };
        let wg = Array2::from_shape_fn((h, i), |(k, c)| w_gu[[k, col(c, false)]]);
        let wu = Array2::from_shape_fn((h, i), |(k, c)| w_gu[[k, col(c, true)]]);
        let (g, u) = (x.dot(&wg), x.dot(&wu));
        let hh = Array2::from_shape_fn((t, i), |(r, c)| {
            let a = g[[r, c]];
            let silu = round_to(out, a / (1.0 + (-a).exp()));
            round_to(dtype, round_to(out, silu * u[[r, c]]))
        });
        let y = hh.dot(&w_d);
        vec![("out_t".into(), y.t().to_owned().into_dyn())]
    }

    /// Output rounding (twice, for headroom), an ulp of h for the rare element where fp32
    /// accumulation of g lands on the other side of a rounding boundary than f64 does, and fp32
    /// accumulation over hidden and intermediate.
    fn tolerance(&self, p: &Params) -> f64 {
        let (h, i) = (p.int("hidden") as f64, p.int("intermediate") as f64);
        let out = out_dtype(p.dtype("dtype"));
        3.0 * unit_roundoff(out) + 4.0 * (h + i).sqrt() * unit_roundoff(DType::Float32)
    }
}
