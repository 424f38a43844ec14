//! `conv2d`: a 2-D convolution as an implicit GEMM (no im2col copy): for every filter tap
//! (r, s) the tensor engine contracts input channels (on partitions) between the tap's weights
//! `[C, F]` (stationary) and the input window it sees, read in place through a strided access
//! pattern (moving: output rows x output columns, up to one PSUM bank); all taps and channel
//! tiles accumulate into the same PSUM bank in fp32.
//!
//! Layouts: input `[C, H * W]` (channel-major), weights `[C, R * S * F]` (tap-major within a
//! channel), output `[F, OH * OW]`; padding "valid" (pad the input beforehand for "same").

use ndarray::{ArrayD, Ix2};

use super::builder::{Builder, Role, evac_engine, hbm_block, tile};
use super::matmul::out_dtype;
use super::{Kernel, Params, Result, unit_roundoff};
use crate::arch::Hardware;
use crate::isa::{AccessPattern, Op, PartitionStep, Program, Tile};
use crate::numerics::DType;

pub(super) struct Conv2d;

struct Shape {
    c: usize,
    h: usize,
    w: usize,
    f: usize,
    r: usize,
    stride: usize,
    oh: usize,
    ow: usize,
}

fn shape(p: &Params) -> Shape {
    let (h, w, r, stride) = (
        p.int("height"),
        p.int("width"),
        p.int("kernel"),
        p.int("stride"),
    );
    Shape {
        c: p.int("channels"),
        h,
        w,
        f: p.int("filters"),
        r,
        stride,
        oh: (h.saturating_sub(r)) / stride + 1,
        ow: (w.saturating_sub(r)) / stride + 1,
    }
}

impl Kernel for Conv2d {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/conv2d.toml")
    }

    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        let s = shape(p);
        let dtype = p.dtype("dtype");
        let out = out_dtype(dtype);
        let mut b = Builder::new("conv2d", hw, p.int("seed") as u64);
        if s.r > s.h || s.r > s.w {
            return Err(b.does_not_fit(format!(
                "a {0}x{0} filter does not fit a {1}x{2} input",
                s.r, s.h, s.w
            )));
        }
        let taps = s.r * s.r;
        let x = b.input("x", dtype, &[s.c, s.h * s.w]);
        let wt = b.input("w", dtype, &[s.c, taps * s.f]);
        let y = b.output("y", out, &[s.f, s.oh * s.ow]);
        const T: usize = 128;
        let ct = s.c.div_ceil(T);
        let bank = b.bank_elems();
        if s.ow > bank {
            return Err(b.does_not_fit(format!(
                "an output row of {} pixels exceeds one PSUM bank ({bank})",
                s.ow
            )));
        }
        // Everything resident: each channel tile's image and weights.
        let xs = b.sbuf("x_s", dtype, T, ct * s.h * s.w)?;
        let ws = b.sbuf("w_s", dtype, T, ct * taps * s.f)?;
        let rows_per = (bank / s.ow).min(s.oh).max(1);
        let ys = b.sbuf("y_s", out, T, 4 * rows_per * s.ow)?;
        let acc = b.psum("acc", T, 2)?;
        for c in 0..ct {
            let nc = T.min(s.c - c * T);
            b.dma(
                Role::Resident,
                tile(xs, 0, nc, c * s.h * s.w, s.h * s.w),
                hbm_block(x, c * T, nc, 0, s.h * s.w),
            );
            b.dma(
                Role::Resident,
                tile(ws, 0, nc, c * taps * s.f, taps * s.f),
                hbm_block(wt, c * T, nc, 0, taps * s.f),
            );
        }
        let mut k = 0;
        for f0 in (0..s.f).step_by(T) {
            let nf = T.min(s.f - f0);
            for oy0 in (0..s.oh).step_by(rows_per) {
                let nr = rows_per.min(s.oh - oy0);
                let set = k % 2;
                let dst = tile(acc, 0, nf, set * bank, nr * s.ow);
                let mut first = true;
                for c in 0..ct {
                    let nc = T.min(s.c - c * T);
                    for tap in 0..taps {
                        let (dy, dx) = (tap / s.r, tap % s.r);
                        let stationary = tile(ws, 0, nc, c * taps * s.f + tap * s.f + f0, nf);
                        let off = c * s.h * s.w + (oy0 * s.stride + dy) * s.w + dx;
                        let moving = Tile {
                            buffer: xs,
                            partition_start: 0,
                            partition_count: nc as u32,
                            partition_step: PartitionStep::ROW,
                            ap: AccessPattern::new(
                                off as u32,
                                &[
                                    ((s.stride * s.w) as u32, nr as u32),
                                    (s.stride as u32, s.ow as u32),
                                ],
                            ),
                        };
                        b.push(Op::Matmul {
                            dst: dst.clone(),
                            stationary,
                            moving,
                            accumulate: !first,
                        });
                        first = false;
                    }
                }
                let o = (k % 4) * rows_per * s.ow;
                b.push(Op::TensorCopy {
                    engine: evac_engine(k),
                    dst: tile(ys, 0, nf, o, nr * s.ow),
                    src: dst,
                });
                b.dma(
                    Role::Store,
                    hbm_block(y, f0, nf, oy0 * s.ow, nr * s.ow),
                    tile(ys, 0, nf, o, nr * s.ow),
                );
                k += 1;
            }
        }
        b.finish()
    }

    fn reference(
        &self,
        p: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        let s = shape(p);
        let x = input("x").into_dimensionality::<Ix2>().expect("2-D");
        let w = input("w").into_dimensionality::<Ix2>().expect("2-D");
        let mut y = ndarray::Array2::<f64>::zeros((s.f, s.oh * s.ow));
        for f in 0..s.f {
            for oy in 0..s.oh {
                for ox in 0..s.ow {
                    let mut acc = 0.0;
                    for c in 0..s.c {
                        for dy in 0..s.r {
                            for dx in 0..s.r {
                                let xv = x[[c, (oy * s.stride + dy) * s.w + ox * s.stride + dx]];
                                acc += xv * w[[c, (dy * s.r + dx) * s.f + f]];
                            }
                        }
                    }
                    y[[f, oy * s.ow + ox]] = acc;
                }
            }
        }
        vec![("y".into(), y.into_dyn())]
    }

    fn tolerance(&self, p: &Params) -> f64 {
        let k = (p.int("channels") * p.int("kernel") * p.int("kernel")) as f64;
        2.0 * unit_roundoff(out_dtype(p.dtype("dtype")))
            + 4.0 * k.sqrt() * unit_roundoff(DType::Float32)
    }
}
