//! `transpose`: Y = X^T for a `[rows, cols]` matrix. `pe` moves 128 x 128 blocks through the
//! tensor engine (transpose into PSUM, evacuate with Vector/Scalar); `dma` reads each block
//! transposed straight from HBM with the DMA engines' transpose mode (about 90 % of bandwidth
//! [DMA]).

use ndarray::{ArrayD, Ix2};

use super::builder::{Builder, Role, evac_engine, hbm_block, hbm_block_t};
use super::rows::Ring;
use super::{Kernel, Params, Result};
use crate::arch::Hardware;
use crate::isa::{Engine, Op, Program};

pub(super) struct Transpose;

impl Kernel for Transpose {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/transpose.toml")
    }

    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        let (rows, cols, dtype) = (p.int("rows"), p.int("cols"), p.dtype("dtype"));
        let mut b = Builder::new("transpose", hw, p.int("seed") as u64);
        let x = b.input("x", dtype, &[rows, cols]);
        let y = b.output("y", dtype, &[cols, rows]);
        const T: usize = 128;
        if p.choice("method") == "dma" {
            // A row block of 128 output rows (input columns) by up to 2048 output columns.
            let w = 2048.min(rows);
            let mut ring = Ring::new(&mut b, "t_s", dtype, 4, w)?;
            for c0 in (0..cols).step_by(T) {
                let nc = T.min(cols - c0);
                for r0 in (0..rows).step_by(w) {
                    let nr = w.min(rows - r0);
                    let o = ring.take();
                    b.dma(
                        Role::Load,
                        ring.tile(o, nc, 0, nr),
                        hbm_block_t(x, cols, r0, nr, c0, nc),
                    );
                    b.dma(
                        Role::Store,
                        hbm_block(y, c0, nc, r0, nr),
                        ring.tile(o, nc, 0, nr),
                    );
                }
            }
            return b.finish();
        }
        // Four 128-row input blocks of up to 512 columns (1 KiB rows) at a time; each 128-column
        // piece of the four goes through the array into one PSUM bank side by side, so a result
        // row holds 512 output columns (again 1 KiB rows) and leaves in one evacuation and store.
        let w = 512.min(cols);
        let mut xin = Ring::new(&mut b, "x_s", dtype, 8, w)?;
        let mut out = Ring::new(&mut b, "y_s", dtype, 4, 4 * T)?;
        let ps = b.psum("pt", T, 2)?;
        let bank = b.bank_elems();
        let mut k = 0;
        for r0 in (0..rows).step_by(4 * T) {
            let nr4 = (4 * T).min(rows - r0);
            for c0 in (0..cols).step_by(w) {
                let nw = w.min(cols - c0);
                let blocks: Vec<(usize, usize)> = (0..nr4)
                    .step_by(T)
                    .map(|i| {
                        let nr = T.min(nr4 - i);
                        let o = xin.take();
                        b.dma(
                            Role::Load,
                            xin.tile(o, nr, 0, nw),
                            hbm_block(x, r0 + i, nr, c0, nw),
                        );
                        (o, nr)
                    })
                    .collect();
                for j in (0..nw).step_by(T) {
                    let nc = T.min(nw - j);
                    let pb = (k % 2) * bank;
                    for (i, &(o, nr)) in blocks.iter().enumerate() {
                        b.push(Op::Transpose {
                            engine: Engine::Tensor,
                            dst: super::builder::tile(ps, 0, nc, pb + i * T, nr),
                            src: xin.tile(o, nr, j, nc),
                        });
                    }
                    let oo = out.take();
                    b.push(Op::TensorCopy {
                        engine: evac_engine(k),
                        dst: out.tile(oo, nc, 0, nr4),
                        src: super::builder::tile(ps, 0, nc, pb, nr4),
                    });
                    b.dma(
                        Role::Store,
                        hbm_block(y, c0 + j, nc, r0, nr4),
                        out.tile(oo, nc, 0, nr4),
                    );
                    k += 1;
                }
            }
        }
        b.finish()
    }

    fn reference(
        &self,
        _: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        let x = input("x").into_dimensionality::<Ix2>().expect("2-D");
        vec![("y".into(), x.t().to_owned().into_dyn())]
    }

    fn tolerance(&self, _: &Params) -> f64 {
        // A transpose moves values: exact.
        0.0
    }
}
