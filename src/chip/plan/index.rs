//! The interval index of the plan builder: per buffer, the recorded accesses that a later
//! instruction may still conflict with.
//!
//! The builder asks it, for every tile an instruction reads or writes, which recorded accesses
//! overlap (those are the dependencies), then records the instruction's own accesses, dropping
//! those a write covers.

use crate::isa::{Memory, Tile};

use super::BufInfo;

#[derive(Clone, Copy, Debug)]
pub(super) struct Region {
    p0: u32,
    p1: u32,
    e0: u64,
    e1: u64,
    /// The index's key interval: a superset of the region in one dimension, so that regions
    /// that overlap have overlapping key intervals. SBUF/PSUM: the element range (tiles span
    /// the partitions); HBM: the linear element range from the first row's start to the last
    /// row's end, so tiles of different rows of one matrix sort apart (keyed by element range
    /// alone, every row block's tile at one column offset would be scanned: quadratic in the
    /// number of rows a kernel writes).
    k0: u64,
    k1: u64,
}

impl Region {
    pub(super) fn of(info: &[BufInfo], t: &Tile) -> Region {
        let b = &info[t.buffer.0 as usize];
        let (p0, np) = (t.partition_start as u64, t.partition_count as u64);
        match b.memory {
            // HBM is viewed as [rows, row_elems] like SBUF, so 2-D tiles of one matrix are told
            // apart; a tile that does not map onto a range of rows gets its bounding box of rows.
            Memory::Hbm => {
                let row = b.row;
                let step = t.partition_step.get().map_or(row, |s| s as u64);
                let (off, end) = (t.ap.offset as u64, t.ap.end() as u64);
                if step == row {
                    // Most tiles start in their first row: skip the division then.
                    let k = if off < row { 0 } else { off / row };
                    if end - k * row <= row {
                        let r0 = p0 + k;
                        return Region::hbm(r0, r0 + np, off - k * row, end - k * row, row);
                    }
                }
                let lo = p0 * step + off;
                let hi = (p0 + np - 1) * step + end;
                let (r0, r1) = (lo / row, (hi - 1) / row + 1);
                if r1 - r0 == 1 {
                    Region::hbm(r0, r1, lo - r0 * row, hi - r0 * row, row)
                } else {
                    Region::hbm(r0, r1, 0, row, row)
                }
            }
            Memory::Sbuf | Memory::Psum => {
                let (e0, e1) = (t.ap.offset as u64, t.ap.end() as u64);
                Region {
                    p0: p0 as u32,
                    p1: (p0 + np) as u32,
                    e0,
                    e1,
                    k0: e0,
                    k1: e1,
                }
            }
        }
    }

    /// Rows `r0..r1`, elements `e0..e1` of each, of an HBM buffer of `row` elements a row.
    #[inline]
    fn hbm(r0: u64, r1: u64, e0: u64, e1: u64, row: u64) -> Region {
        Region {
            p0: r0 as u32,
            p1: r1 as u32,
            e0,
            e1,
            k0: r0 * row + e0,
            k1: (r1 - 1) * row + e1,
        }
    }

    fn overlaps(&self, o: &Region) -> bool {
        self.p0 < o.p1 && o.p0 < self.p1 && self.e0 < o.e1 && o.e0 < self.e1
    }

    fn covers(&self, o: &Region) -> bool {
        self.p0 <= o.p0 && o.p1 <= self.p1 && self.e0 <= o.e0 && o.e1 <= self.e1
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Access {
    pub(super) region: Region,
    pub(super) instr: u32,
    pub(super) queue: u16,
    pub(super) write: bool,
}

/// Accesses of one buffer. Few live accesses (the usual double-buffered SBUF tile) are scanned
/// linearly; past [`SMALL`] they move to a vector sorted by (key start, instruction), queried
/// by range using the longest access seen. A write usually replaces the access it covers in
/// place, so the sorted vector rarely moves its tail (a tree allocates and rebalances instead).
#[derive(Default)]
pub(super) struct BufIndex {
    small: Vec<Access>,
    sorted: Vec<Access>,
    max_len: u64,
}

const SMALL: usize = 32;

/// Order of [`BufIndex::sorted`].
#[inline]
fn key(a: &Access) -> (u64, u32) {
    (a.region.k0, a.instr)
}

impl BufIndex {
    /// Positions in `sorted` of the accesses whose key start is in `lo..hi` (the keys in
    /// `(lo, 0)..(hi, 0)`: comparing the starts alone finds the same positions, cheaper).
    #[inline]
    fn range(&self, lo: u64, hi: u64) -> std::ops::Range<usize> {
        let a = self.sorted.partition_point(|b| b.region.k0 < lo);
        let b = a + self.sorted[a..].partition_point(|b| b.region.k0 < hi);
        a..b
    }

    /// Call `f` on every access overlapping `r` (in insertion order while small, else in
    /// (key start, instruction) order).
    #[inline]
    pub(super) fn overlapping(&self, r: &Region, mut f: impl FnMut(&Access)) {
        if self.sorted.is_empty() {
            for a in &self.small {
                if a.region.overlaps(r) {
                    f(a);
                }
            }
            return;
        }
        let lo = r.k0.saturating_sub(self.max_len);
        for a in &self.sorted[self.range(lo, r.k1)] {
            if a.region.overlaps(r) {
                f(a);
            }
        }
    }

    /// Drop the accesses that `a` covers (but those `keep` keeps), then add `a` (replacing an
    /// access with the same key, as a map would).
    pub(super) fn record(&mut self, a: Access, keep: impl Fn(&Access) -> bool) {
        let r = &a.region;
        self.max_len = self.max_len.max(r.k1 - r.k0);
        if self.sorted.is_empty() {
            self.small.retain(|b| !r.covers(&b.region) || keep(b));
            if self.small.len() < SMALL {
                self.small.push(a);
                return;
            }
            let mut all = std::mem::take(&mut self.small);
            all.push(a);
            // Stable, so of equal keys the last recorded wins below (as map inserts would).
            all.sort_by_key(key);
            for b in all {
                insert_sorted(&mut self.sorted, b);
            }
            return;
        }
        // Keep the survivors of the covered range at its front; the doomed gap follows.
        let range = self.range(r.k0, r.k1);
        let mut w = range.start;
        for j in range.clone() {
            let b = &self.sorted[j];
            if !r.covers(&b.region) || keep(b) {
                self.sorted.swap(w, j);
                w += 1;
            }
        }
        if w == 0 && range == (0..self.sorted.len()) {
            // All dropped: back to the small list, as the tree emptied by removals was.
            self.sorted.clear();
            self.small.push(a);
            return;
        }
        let k = key(&a);
        // Every key in the range is at least (k0, 0): `a` goes among the survivors.
        let pos = range.start + self.sorted[range.start..w].partition_point(|b| key(b) < k);
        if pos < w && key(&self.sorted[pos]) == k {
            self.sorted[pos] = a;
            self.sorted.drain(w..range.end);
        } else if w < range.end {
            // Move the first doomed slot to `pos` and fill it.
            self.sorted[pos..=w].rotate_right(1);
            self.sorted[pos] = a;
            self.sorted.drain(w + 1..range.end);
        } else {
            self.sorted.insert(pos, a);
        }
    }
}

/// Insert `a` in `v` by (element start, instruction), replacing an access with the same key.
fn insert_sorted(v: &mut Vec<Access>, a: Access) {
    let k = key(&a);
    match v.binary_search_by(|b| key(b).cmp(&k)) {
        Ok(pos) => v[pos] = a,
        Err(pos) => v.insert(pos, a),
    }
}
