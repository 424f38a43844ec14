//! Batch-norm statistics of the Vector engine: `bn_stats` computes per-partition (count, mean,
//! m2) triples of a chunk, `bn_aggr` combines them exactly into (mean, variance).

use super::{Exec, Result};
use crate::isa::Tile;
use crate::numerics::{Cast, DType};

impl Exec<'_> {
    /// Round f64 statistics to a destination's dtype once (no double rounding through f32), then
    /// store them in its first `cols` columns.
    fn write_stats(&mut self, dst: &Tile, p: usize, cols: usize, stats: &[f64]) -> Result<()> {
        let dtype = self
            .program
            .buffers
            .get(dst.buffer.0 as usize)
            .map_or(DType::Float32, |b| b.dtype);
        let cast = Cast::new(dtype)
            .rounding(self.opts.rounding)
            .seed(self.opts.seed);
        let stream = self.stream;
        let mut v: Vec<f32> = stats
            .iter()
            .enumerate()
            .map(|(e, &x)| dtype.decode(cast.encode_f64(x, stream + e as u64)))
            .collect();
        // Already rounded: rounding again to the same dtype changes nothing (same stream).
        self.write_cols(dst, "dst", p, cols, &mut v, stream)
    }

    pub(super) fn bn_stats(&mut self, dst: &Tile, src: &Tile) -> Result<()> {
        let (l, v) = self.read(src, "src")?;
        let (p, f) = (l.partitions(), l.free());
        let mut stats = Vec::with_capacity(3 * p);
        for i in 0..p {
            let row = &v[i * f..(i + 1) * f];
            let (mean, m2) = if f == 0 {
                (0.0, 0.0)
            } else {
                let mean = row.iter().map(|&x| x as f64).sum::<f64>() / f as f64;
                let m2 = row.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>();
                (mean, m2)
            };
            stats.extend([f as f64, mean, m2]);
        }
        self.write_stats(dst, p, 3, &stats)
    }

    pub(super) fn bn_aggr(&mut self, dst: &Tile, src: &Tile) -> Result<()> {
        let (l, v) = self.read(src, "src")?;
        let (p, f) = (l.partitions(), l.free());
        if f % 3 != 0 {
            return Err(self.err(format_args!(
                "src '{}' has {f} elements per partition, not a multiple of 3 (count, mean, m2)",
                self.buffer_name(src)
            )));
        }
        let mut out = Vec::with_capacity(2 * p);
        for i in 0..p {
            let row = &v[i * f..(i + 1) * f];
            // Chan, Golub and LeVeque's pairwise combination, in f64.
            let (mut n, mut mean, mut m2) = (0.0f64, 0.0f64, 0.0f64);
            for t in row.chunks_exact(3) {
                let (nb, mb, m2b) = (t[0] as f64, t[1] as f64, t[2] as f64);
                if nb == 0.0 {
                    continue;
                }
                let total = n + nb;
                let delta = mb - mean;
                mean += delta * nb / total;
                m2 += m2b + delta * delta * n * nb / total;
                n = total;
            }
            let var = if n > 0.0 { m2 / n } else { 0.0 };
            out.extend([mean, var]);
        }
        self.write_stats(dst, p, 2, &out)
    }
}
