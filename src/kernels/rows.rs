//! What the row-wise kernels share: a `[rows, cols]` matrix walked in tiles of 128 rows (one
//! row per partition) by column chunks, through rings of SBUF slots so the next tile loads
//! while this one computes and the last one stores.

use super::Result;
use super::builder::{Builder, tile};
use crate::isa::{BufferId, Tile};
use crate::numerics::DType;

/// Elements per partition of one chunk: 8 KiB of 16-bit data per partition (1 MiB per
/// 128-row tile), past the 4 KiB per partition where DMA saturates [DMA].
pub(super) const CHUNK_BYTES: usize = 8 * 1024;

/// One tile of the walk: rows `r0..r0 + nr`, columns `c0..c0 + nc`.
#[derive(Clone, Copy, Debug)]
pub(super) struct RowTile {
    /// First row.
    pub r0: usize,
    /// Rows (partitions).
    pub nr: usize,
    /// First column.
    pub c0: usize,
    pub nc: usize,
}

/// Tiles of 128 rows by `chunk` columns, row-tile major.
pub(super) fn tiles(rows: usize, cols: usize, chunk: usize) -> Vec<RowTile> {
    let mut v = Vec::new();
    for r0 in (0..rows).step_by(128) {
        for c0 in (0..cols).step_by(chunk.max(1)) {
            v.push(RowTile {
                r0,
                nr: 128.min(rows - r0),
                c0,
                nc: chunk.min(cols - c0),
            });
        }
    }
    v
}

/// Column chunk for `dtype` elements (at most `cols`).
pub(super) fn chunk(cols: usize, dtype: DType) -> usize {
    (CHUNK_BYTES / dtype.size_bytes()).min(cols).max(1)
}

/// A ring of equal SBUF slots.
pub(super) struct Ring {
    buf: BufferId,
    slots: usize,
    slot_elems: usize,
    next: usize,
}

impl Ring {
    /// `slots` slots of `slot_elems` elements per partition.
    pub(super) fn new(
        b: &mut Builder,
        name: &str,
        dtype: DType,
        slots: usize,
        slot_elems: usize,
    ) -> Result<Ring> {
        let buf = b.sbuf(name, dtype, 128, slots * slot_elems)?;
        Ok(Ring {
            buf,
            slots,
            slot_elems,
            next: 0,
        })
    }

    /// The next slot's offset.
    pub(super) fn take(&mut self) -> usize {
        let off = (self.next % self.slots) * self.slot_elems;
        self.next += 1;
        off
    }

    /// Partitions `0..np`, `len` elements from `off + at` of a slot.
    pub(super) fn tile(&self, off: usize, np: usize, at: usize, len: usize) -> Tile {
        tile(self.buf, 0, np, off + at, len)
    }
}
