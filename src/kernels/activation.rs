//! `activation`: y = func(x) over `[rows, cols]` on the Scalar engine, streamed like
//! `elementwise`.

use super::builder::activation;
use ndarray::ArrayD;

use super::builder::{Builder, Role, hbm_block};
use super::rows::{Ring, chunk, tiles};
use super::{Kernel, Params, Result, unit_roundoff};
use crate::arch::Hardware;
use crate::isa::{ActFunc, Program, Scalar};

pub(super) struct Activation;

fn func(p: &Params) -> ActFunc {
    let name = p.choice("func");
    crate::isa::parse::ACT_FUNCS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, f)| f)
        .expect("choices are activation names")
}

/// f64 value of an activation function (the tanh form of GELU, as the Scalar engine's `gelu`).
pub(super) fn act_f64(f: ActFunc, v: f64) -> f64 {
    let sigmoid = 1.0 / (1.0 + (-v).exp());
    match f {
        ActFunc::Identity => v,
        ActFunc::Relu => v.max(0.0),
        ActFunc::Gelu => {
            0.5 * v
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh())
        }
        ActFunc::Silu => v * sigmoid,
        ActFunc::Sigmoid => sigmoid,
        ActFunc::Tanh => v.tanh(),
        ActFunc::Exp => v.exp(),
        ActFunc::Square => v * v,
        ActFunc::Rsqrt => v.sqrt().recip(),
        ActFunc::Reciprocal => v.recip(),
        f => crate::chip::exec::act_f64(f, v), // format 2's functions (no kernel offers them)
    }
}

impl Kernel for Activation {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/activation.toml")
    }

    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        let (rows, cols, dtype) = (p.int("rows"), p.int("cols"), p.dtype("dtype"));
        let mut b = Builder::new("activation", hw, p.int("seed") as u64);
        let x = b.input("x", dtype, &[rows, cols]);
        let y = b.output("y", dtype, &[rows, cols]);
        let ch = chunk(cols, dtype);
        let mut rx = Ring::new(&mut b, "x_s", dtype, 4, ch)?;
        let mut ry = Ring::new(&mut b, "y_s", dtype, 4, ch)?;
        for t in tiles(rows, cols, ch) {
            let (ox, oy) = (rx.take(), ry.take());
            b.dma(
                Role::Load,
                rx.tile(ox, t.nr, 0, t.nc),
                hbm_block(x, t.r0, t.nr, t.c0, t.nc),
            );
            b.push(activation(
                func(p),
                ry.tile(oy, t.nr, 0, t.nc),
                rx.tile(ox, t.nr, 0, t.nc),
                (Scalar::Imm(1.0), Scalar::Imm(0.0)),
                None,
            ));
            b.dma(
                Role::Store,
                hbm_block(y, t.r0, t.nr, t.c0, t.nc),
                ry.tile(oy, t.nr, 0, t.nc),
            );
        }
        b.finish()
    }

    fn reference(
        &self,
        p: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        let f = func(p);
        vec![("y".into(), input("x").mapv(|v| act_f64(f, v)))]
    }

    fn tolerance(&self, p: &Params) -> f64 {
        // One rounding of the result to the dtype, plus the f32 evaluation (a few ulps).
        2.0 * unit_roundoff(p.dtype("dtype")) + 1e-5
    }
}
