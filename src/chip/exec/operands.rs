//! Operands: an instruction's tiles gathered from the buffers' flat storage into contiguous
//! `[P, F]` values, per-partition scalars read, and results rounded and scattered back.
//!
//! Every instruction of [`super::execute_instr`] starts by resolving its tiles here (every index
//! checked against its buffer) and ends by storing its result through [`Exec::write`].

use arrayvec::ArrayVec;

use crate::isa::{AccessPattern, MAX_AP_DIMS, Memory, Scalar, Tile};
use crate::numerics::{Cast, DType};

use super::store::Store;
use super::{Exec, Result};

/// Largest tile (elements) execution accepts: element positions must fit the low 32 bits of the
/// stochastic stream index.
const MAX_TILE_ELEMS: usize = 1 << 31;

/// Where a tile's elements live in its buffer's flat storage.
pub(super) struct Layout {
    /// Index into [`DataState::buffers`].
    pub(super) buffer: usize,
    /// Element dtype of the buffer.
    pub(super) dtype: DType,
    /// Flat index of each partition's (row's) origin, to which the access-pattern offsets add.
    starts: Vec<usize>,
    /// Access-pattern offsets in iteration order.
    offs: Vec<usize>,
    /// Whether `offs` is one ascending run, so rows copy as slices.
    contiguous: bool,
}

impl Layout {
    pub(super) fn partitions(&self) -> usize {
        self.starts.len()
    }

    pub(super) fn free(&self) -> usize {
        self.offs.len()
    }

    pub(super) fn elems(&self) -> usize {
        self.partitions() * self.free()
    }

    /// Keep only the first `n` free elements (destinations written one column at a time).
    fn first_cols(mut self, n: usize) -> Self {
        self.offs.truncate(n);
        self
    }

    /// Copy the tile out into a row-major `[P, F]` vector. Bounds were checked by [`layout`].
    pub(super) fn gather(&self, data: &Store) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.elems());
        let f = self.free();
        for &s in &self.starts {
            if self.contiguous {
                if let Some(&o) = self.offs.first() {
                    data.read_run(s + o, f, &mut out);
                }
            } else {
                out.extend(self.offs.iter().map(|&o| data.get(s + o)));
            }
        }
        out
    }

    /// Write a row-major `[P, F]` vector into the tile. Bounds were checked by [`layout`].
    fn scatter(&self, values: &[f32], data: &mut Store) {
        let f = self.free();
        if f == 0 {
            return;
        }
        for (&s, row) in self.starts.iter().zip(values.chunks(f)) {
            if self.contiguous {
                data.write_run(s + self.offs[0], row);
            } else {
                for (&o, &v) in self.offs.iter().zip(row) {
                    data.set(s + o, v);
                }
            }
        }
    }
}

/// Access-pattern offsets with checked arithmetic (`None` on overflow), and one past the largest.
fn ap_offsets(ap: &AccessPattern) -> Option<(Vec<usize>, usize)> {
    let n = ap
        .dims
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(d.1 as usize))?;
    let offset = ap.offset as usize;
    if n == 0 {
        return Some((Vec::new(), offset));
    }
    if n > MAX_TILE_ELEMS {
        return None;
    }
    let dims: ArrayVec<(usize, usize), MAX_AP_DIMS> = ap
        .dims
        .iter()
        .map(|&(s, n)| (s as usize, n as usize))
        .collect();
    let mut last = offset;
    for &(stride, size) in &dims {
        last = last.checked_add(stride.checked_mul(size - 1)?)?;
    }
    let end = last.checked_add(1)?;
    let mut out = Vec::with_capacity(n);
    fn fill(dims: &[(usize, usize)], base: usize, out: &mut Vec<usize>) {
        match dims {
            [] => out.push(base),
            [(stride, size)] => out.extend((0..*size).map(|i| base + i * stride)),
            [(stride, size), rest @ ..] => {
                for i in 0..*size {
                    fill(rest, base + i * stride, out);
                }
            }
        }
    }
    // No overflow: every offset is at most `last`.
    fill(&dims, offset, &mut out);
    Some((out, end))
}

impl Exec<'_> {
    /// Resolve a tile to flat indices, checking every one is inside the buffer.
    pub(super) fn layout(&self, tile: &Tile, role: &str) -> Result<Layout> {
        let b = tile.buffer.0 as usize;
        let (Some(buf), Some(data)) = (self.program.buffers.get(b), self.state.buffers.get(b))
        else {
            return Err(self.err(format_args!(
                "{role} names buffer #{b}, which the program (or run state) does not have"
            )));
        };
        let oob = || {
            self.err(format_args!(
                "{role} tile of '{}' is out of range of its {} elements (partitions {}+{}, \
                 access pattern {:?})",
                buf.name,
                data.len(),
                tile.partition_start,
                tile.partition_count,
                tile.ap
            ))
        };
        let (offs, end) = ap_offsets(&tile.ap).ok_or_else(oob)?;
        let step = match buf.memory {
            Memory::Hbm => tile.partition_step.or_row(buf.row_elems()),
            Memory::Sbuf | Memory::Psum => buf.row_elems(),
        };
        let p = tile.np();
        if p > MAX_TILE_ELEMS || p.checked_mul(offs.len()).is_none_or(|n| n > MAX_TILE_ELEMS) {
            return Err(oob());
        }
        if p > 0 && !offs.is_empty() {
            let last = tile
                .p0()
                .checked_add(p - 1)
                .and_then(|r| r.checked_mul(step))
                .and_then(|s| s.checked_add(end))
                .ok_or_else(oob)?;
            if last > data.len() {
                return Err(oob());
            }
        }
        let contiguous = offs.windows(2).all(|w| w[1] == w[0] + 1);
        let starts = if offs.is_empty() {
            vec![0; p]
        } else {
            (0..p).map(|i| (tile.p0() + i) * step).collect()
        };
        Ok(Layout {
            buffer: b,
            dtype: buf.dtype,
            starts,
            offs,
            contiguous,
        })
    }

    /// Gather a tile as row-major `[P, F]` values, with its layout.
    pub(super) fn read(&self, tile: &Tile, role: &str) -> Result<(Layout, Vec<f32>)> {
        let l = self.layout(tile, role)?;
        let v = l.gather(&self.state.buffers[l.buffer]);
        Ok((l, v))
    }

    /// Round row-major values to the layout's dtype (stream positions from `stream`) and store.
    pub(super) fn store(&mut self, l: &Layout, values: &mut [f32], stream: u64) -> Result<()> {
        if values.len() != l.elems() {
            return Err(self.err(format_args!(
                "internal: {} values for a tile of {} elements",
                values.len(),
                l.elems()
            )));
        }
        let cast = Cast::new(l.dtype)
            .rounding(self.opts.rounding)
            .seed(self.opts.seed);
        if l.dtype != DType::Float32 {
            // round_slice wants distinct source and destination: go through a stack buffer.
            let mut buf = [0.0f32; 1024];
            for (c, chunk) in values.chunks_mut(1024).enumerate() {
                let src = &mut buf[..chunk.len()];
                src.copy_from_slice(chunk);
                cast.round_slice(src, stream + (c * 1024) as u64, chunk)?;
            }
        }
        l.scatter(values, &mut self.state.buffers[l.buffer]);
        Ok(())
    }

    /// Write a whole destination tile from `values` in row-major order (counts must match).
    pub(super) fn write(&mut self, dst: &Tile, values: &mut [f32]) -> Result<()> {
        let l = self.layout(dst, "dst")?;
        if l.elems() != values.len() {
            return Err(self.err(format_args!(
                "dst '{}' has {} elements ([{}, {}]) but the result has {}",
                self.buffer_name(dst),
                l.elems(),
                l.partitions(),
                l.free(),
                values.len()
            )));
        }
        self.store(&l, values, self.stream)
    }

    /// Write the first `cols` columns of a `[P, >= cols]` destination from row-major `[P, cols]`.
    pub(super) fn write_cols(
        &mut self,
        dst: &Tile,
        role: &str,
        partitions: usize,
        cols: usize,
        values: &mut [f32],
        stream: u64,
    ) -> Result<()> {
        let l = self.layout(dst, role)?;
        if l.partitions() != partitions || l.free() < cols {
            return Err(self.err(format_args!(
                "{role} '{}' is [{}, {}] but must be [{partitions}, {cols}] (at least {cols} \
                 elements per partition)",
                self.buffer_name(dst),
                l.partitions(),
                l.free(),
            )));
        }
        let l = l.first_cols(cols);
        self.store(&l, values, stream)
    }

    /// Per-partition values of a scalar operand for `partitions` partitions.
    pub(super) fn scalar(&self, s: &Scalar, partitions: usize, role: &str) -> Result<Vec<f32>> {
        match s {
            Scalar::Imm(v) => Ok(vec![*v; partitions]),
            Scalar::PerPartition(tile) => {
                let l = self.layout(tile, role)?;
                if l.partitions() < partitions || l.free() == 0 {
                    return Err(self.err(format_args!(
                        "{role} '{}' is [{}, {}] but must give one value to each of {partitions} \
                         partitions",
                        self.buffer_name(tile),
                        l.partitions(),
                        l.free()
                    )));
                }
                let buffer = l.buffer;
                let mut v = l.first_cols(1).gather(&self.state.buffers[buffer]);
                v.truncate(partitions);
                Ok(v)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_match_the_isa_iterator() {
        let ap = AccessPattern {
            offset: 3,
            dims: [(10, 2), (1, 3), (100, 2)].into_iter().collect(),
        };
        let (offs, end) = ap_offsets(&ap).unwrap();
        assert_eq!(offs, ap.offsets().collect::<Vec<_>>());
        assert_eq!(end, ap.end());
        let huge = AccessPattern {
            offset: 0,
            dims: [(1, u32::MAX), (1, u32::MAX), (1, u32::MAX)]
                .into_iter()
                .collect(),
        };
        assert!(ap_offsets(&huge).is_none());
        let single = AccessPattern {
            offset: 1,
            dims: [(u32::MAX, 1), (1, 2)].into_iter().collect(),
        };
        assert_eq!(ap_offsets(&single).unwrap().0, vec![1, 2]);
    }
}
