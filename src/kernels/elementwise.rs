//! `elementwise`: C = A op B (add or mul) over `[rows, cols]`: memory-bound, so the lowering is
//! all about keeping every DMA engine streaming: 1 MiB tiles split over the engines, four slots
//! in flight, the Vector engine's fast bf16 path in between.

use ndarray::ArrayD;

use super::builder::{Builder, Role, hbm_block};
use super::rows::{Ring, chunk, tiles};
use super::{Kernel, Params, Result, unit_roundoff};
use crate::arch::Hardware;
use crate::isa::{AluOp, Engine, Op, Program};

pub(super) struct Elementwise;

fn op(p: &Params) -> AluOp {
    match p.choice("op") {
        "mul" => AluOp::Mul,
        _ => AluOp::Add,
    }
}

impl Kernel for Elementwise {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/elementwise.toml")
    }

    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        let (rows, cols, dtype) = (p.int("rows"), p.int("cols"), p.dtype("dtype"));
        let mut b = Builder::new("elementwise", hw, p.int("seed") as u64);
        let a = b.input("a", dtype, &[rows, cols]);
        let bb = b.input("b", dtype, &[rows, cols]);
        let c = b.output("c", dtype, &[rows, cols]);
        let ch = chunk(cols, dtype);
        let slots = p.int("buffers");
        let mut ra = Ring::new(&mut b, "a_s", dtype, slots, ch)?;
        let mut rb = Ring::new(&mut b, "b_s", dtype, slots, ch)?;
        let mut rc = Ring::new(&mut b, "c_s", dtype, slots, ch)?;
        for t in tiles(rows, cols, ch) {
            let (oa, ob, oc) = (ra.take(), rb.take(), rc.take());
            b.dma(
                Role::Load,
                ra.tile(oa, t.nr, 0, t.nc),
                hbm_block(a, t.r0, t.nr, t.c0, t.nc),
            );
            b.dma(
                Role::Resident,
                rb.tile(ob, t.nr, 0, t.nc),
                hbm_block(bb, t.r0, t.nr, t.c0, t.nc),
            );
            b.push(Op::TensorTensor {
                engine: Engine::Vector,
                op: op(p),
                dst: rc.tile(oc, t.nr, 0, t.nc),
                a: ra.tile(oa, t.nr, 0, t.nc),
                b: rb.tile(ob, t.nr, 0, t.nc),
            });
            b.dma(
                Role::Store,
                hbm_block(c, t.r0, t.nr, t.c0, t.nc),
                rc.tile(oc, t.nr, 0, t.nc),
            );
        }
        b.finish()
    }

    fn reference(
        &self,
        p: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        let (a, b) = (input("a"), input("b"));
        let c = match op(p) {
            AluOp::Mul => &a * &b,
            _ => &a + &b,
        };
        vec![("c".into(), c)]
    }

    fn tolerance(&self, p: &Params) -> f64 {
        // One rounding to the dtype, relative to the largest |C| (sums can cancel: double it).
        4.0 * unit_roundoff(p.dtype("dtype"))
    }
}
