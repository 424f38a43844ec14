//! The GpSimd engine's index arithmetic: `iota` and `affine_select` (causal masks), with the
//! affine expression computed in 128 bits so it never overflows.

use super::{Exec, Result};
use crate::isa::{CmpOp, Tile};

impl Exec<'_> {
    pub(super) fn iota(&mut self, dst: &Tile, base: i64, cm: i64, step: i64) -> Result<()> {
        let l = self.layout(dst, "dst")?;
        let (p, f) = (l.partitions(), l.free());
        let mut v = Vec::with_capacity(l.elems());
        for i in 0..p {
            for j in 0..f {
                v.push(affine((base, cm, step), i, j) as f32);
            }
        }
        self.store(&l, &mut v, self.stream)
    }

    pub(super) fn affine_select(
        &mut self,
        dst: &Tile,
        src: &Tile,
        cmp: CmpOp,
        coef: (i64, i64, i64),
        fill: f32,
    ) -> Result<()> {
        let (_, mut v) = self.read(src, "src")?;
        let l = self.layout(dst, "dst")?;
        if l.elems() != v.len() {
            return Err(self.err(format_args!(
                "dst '{}' has {} elements but src has {}",
                self.buffer_name(dst),
                l.elems(),
                v.len()
            )));
        }
        let f = l.free();
        for (e, x) in v.iter_mut().enumerate() {
            let a = affine(coef, e / f, e % f);
            let keep = match cmp {
                CmpOp::Ge => a >= 0,
                CmpOp::Gt => a > 0,
                CmpOp::Le => a <= 0,
                CmpOp::Lt => a < 0,
                CmpOp::Eq => a == 0,
                CmpOp::Ne => a != 0,
            };
            if !keep {
                *x = fill;
            }
        }
        self.store(&l, &mut v, self.stream)
    }
}

/// `base + cm * p + step * j`, without overflow.
fn affine((base, cm, step): (i64, i64, i64), p: usize, j: usize) -> i128 {
    base as i128 + cm as i128 * p as i128 + step as i128 * j as i128
}
