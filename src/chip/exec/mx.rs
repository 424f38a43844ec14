//! The Tensor engine's MX matmul (NeuronCore-v4, NKI `nc_matmul_mx`): dequantization and matmul
//! in one instruction.
//!
//! Each product `s * x * 2^(ss - 127) * 2^(xs - 127)` is formed exactly (f64) and rounded once
//! to f32; the products are summed in f32 from zero in increasing k, k = 4p + j over partition
//! p and packed value j, as a plain matmul sums its rows. Scale code 0xFF (NaN) makes its
//! group's products NaN.

use super::{Exec, Result};
use crate::isa::{MxMatmul, Tile};
use crate::numerics::mx::{MX_GROUP_PARTITIONS, MX_PACK, decode_e8m0};

impl Exec<'_> {
    /// The e8m0 scales of `t` (`[P / 8, cols]`), decoded: its values must be codes 0..=255.
    fn mx_scales(&self, t: &Tile, role: &str) -> Result<Vec<f64>> {
        let (_, v) = self.read(t, role)?;
        v.iter()
            .map(|&c| {
                if (0.0..=255.0).contains(&c) && c.fract() == 0.0 {
                    Ok(decode_e8m0(c as u8) as f64)
                } else {
                    Err(self.err(format_args!(
                        "{role} '{}' holds {c}, not an e8m0 code (an integer 0..=255)",
                        self.buffer_name(t)
                    )))
                }
            })
            .collect()
    }

    /// The elements of `t` as f64, each checked to be a value of the MX format.
    fn mx_elements(&self, t: &Tile, m: &MxMatmul, role: &str) -> Result<Vec<f64>> {
        let (_, v) = self.read(t, role)?;
        if let Some(bad) = v.iter().find(|&&x| !m.format.holds(x)) {
            return Err(self.err(format_args!(
                "{role} '{}' holds {bad}, not a {} element",
                self.buffer_name(t),
                m.format.name()
            )));
        }
        Ok(v.iter().map(|&x| x as f64).collect())
    }

    pub(super) fn matmul_mx(&mut self, m: &MxMatmul) -> Result<()> {
        let s = self.mx_elements(&m.stationary, m, "stationary")?;
        let x = self.mx_elements(&m.moving, m, "moving")?;
        let ss = self.mx_scales(&m.stationary_scale, "stationary_scale")?;
        let xs = self.mx_scales(&m.moving_scale, "moving_scale")?;
        let dl = self.layout(&m.dst, "dst")?;
        let (rows, cols) = (dl.partitions(), dl.free());
        let np = m.stationary.np();
        let (sw, xw) = (MX_PACK * rows, MX_PACK * cols);
        if s.len() != np * sw || x.len() != np * xw {
            return Err(self.err("internal: MX operand sizes"));
        }
        let mut out = vec![0.0f32; rows * cols];
        for (i, o) in out.iter_mut().enumerate() {
            let (mi, ni) = (i / cols.max(1), i % cols.max(1));
            let mut sum = 0.0f32;
            for p in 0..np {
                let g = p / MX_GROUP_PARTITIONS;
                let scale = ss[g * rows + mi] * xs[g * cols + ni];
                let (a, b) = (&s[p * sw + mi * MX_PACK..], &x[p * xw + ni * MX_PACK..]);
                for j in 0..MX_PACK {
                    sum += (a[j] * b[j] * scale) as f32;
                }
            }
            *o = sum;
        }
        if m.accumulate {
            let prev = dl.gather(&self.state.buffers[dl.buffer]);
            for (o, p) in out.iter_mut().zip(prev) {
                *o += p;
            }
        }
        self.store(&dl, &mut out, self.stream)
    }
}
