//! The on-chip SRAMs and the DRAM interfaces behind them, analytically: how many words each fold
//! must read and write, and how long that takes at a given bandwidth.
//!
//! The model, per layer (words are SCALE-Sim's 1-byte words, so an SRAM of S kB holds S * 1024):
//!
//! - Three SRAMs (ifmap, filter, ofmap), each double buffered: while fold f computes, fold f+1's
//!   operands load into the other half and fold f-1's outputs drain.
//! - Reuse decides the DRAM traffic. The operand a dataflow streams past every column fold (the
//!   ifmap for `ws` and `os`, the filter for `is`) is read once if the whole matrix fits in its
//!   SRAM, and again for every column fold otherwise. The stationary tiles (filter for `ws`,
//!   ifmap for `is`) are read once. For `os` the filter columns of a column fold (K x cols) are
//!   read once per column fold if they fit, else once per fold. Outputs: `os` writes each fold's
//!   results; `ws` and `is` accumulate partial sums over the row folds of a column fold, written
//!   once when the accumulator (T x cols for `ws`, cols x N for `is`) fits in the ofmap SRAM,
//!   and otherwise written after every row fold and read back before the next.
//! - Each interface moves `bandwidth` words per cycle (SCALE-Sim's `Bandwidth`, per interface;
//!   three comma-separated values give ifmap, filter, ofmap). What fits half an SRAM moves one
//!   fold ahead (reads) or behind (writes); the rest of a larger tile streams during its own fold.
//!   So while fold f computes, each interface carries fold f+1's reads up to half its SRAM, fold
//!   f's reads and writes beyond that, and fold f-1's writes up to half the ofmap SRAM; the slot
//!   lasts `max(compute_f, each interface's words / its bandwidth)`. Before the first fold its
//!   operands load, after the last its outputs drain. Stall cycles are the excess over compute;
//!   every word crosses its interface once, so a layer never beats its traffic at the bandwidth.
//!
//! The sums run over [`Folds::sum_over`], so the cost is O(1) per layer.

use super::model::{Dataflow, FoldAt, Folds, Gemm};

/// SRAM capacities (words) and DRAM bandwidths (words per cycle per interface).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Memory {
    /// ifmap SRAM capacity in words.
    pub ifmap_sram_words: u64,
    /// filter SRAM capacity in words.
    pub filter_sram_words: u64,
    /// ofmap SRAM capacity in words.
    pub ofmap_sram_words: u64,
    /// Words per cycle on the ifmap, filter and ofmap DRAM interfaces; `None`: unlimited (the
    /// stall-free CALC mode).
    pub bandwidth: Option<[u64; 3]>,
}

impl Default for Memory {
    /// SCALE-Sim's built-in defaults (`scale_config.py`): 256, 256 and 128 kB, stall-free.
    fn default() -> Self {
        Memory {
            ifmap_sram_words: 256 * 1024,
            filter_sram_words: 256 * 1024,
            ofmap_sram_words: 128 * 1024,
            bandwidth: None,
        }
    }
}

/// DRAM words one fold moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Traffic {
    /// ifmap words read before the fold.
    pub ifmap: u128,
    /// filter words read before the fold.
    pub filter: u128,
    /// ofmap words (partial sums) read back before the fold.
    pub ofmap_read: u128,
    /// ofmap words written after the fold.
    pub ofmap_write: u128,
}

/// The per-fold DRAM traffic of a layer under a dataflow (see the module notes).
pub(crate) struct TrafficModel<'a> {
    folds: &'a Folds,
    dataflow: Dataflow,
    gemm: Gemm,
    memory: Memory,
}

impl<'a> TrafficModel<'a> {
    /// The traffic model of `gemm` folded as `folds`.
    pub(crate) fn new(folds: &'a Folds, dataflow: Dataflow, gemm: Gemm, memory: Memory) -> Self {
        TrafficModel {
            folds,
            dataflow,
            gemm,
            memory,
        }
    }

    /// Words fold `at` moves.
    pub(crate) fn fold(&self, at: FoldAt) -> Traffic {
        let f = self.folds;
        let rows = f.rows_used(at.r) as u128;
        let cols = f.cols_used(at.c) as u128;
        let (m, n, k) = (
            self.gemm.m as u128,
            self.gemm.n as u128,
            self.gemm.k as u128,
        );
        let mem = &self.memory;
        let first_col_fold = at.c == 0;
        let (first_row, last_row) = (at.r == 0, at.r + 1 == f.row_folds);
        // Partial sums over the row folds of one column fold, `acc` words of them.
        let accumulate = |acc: u128| {
            if acc <= mem.ofmap_sram_words as u128 {
                (0, if last_row { acc } else { 0 })
            } else {
                (if first_row { 0 } else { acc }, acc)
            }
        };
        let resident = |words: u128, sram: u64| words <= sram as u128;
        match self.dataflow {
            Dataflow::Ws => {
                let ifmap_once = resident(m * k, mem.ifmap_sram_words);
                let (ofmap_read, ofmap_write) = accumulate(m * cols);
                Traffic {
                    ifmap: if ifmap_once && !first_col_fold {
                        0
                    } else {
                        m * rows
                    },
                    filter: rows * cols,
                    ofmap_read,
                    ofmap_write,
                }
            }
            Dataflow::Os => {
                let ifmap_once = resident(m * k, mem.ifmap_sram_words);
                let filter_per_col = resident(k * cols, mem.filter_sram_words);
                Traffic {
                    ifmap: if ifmap_once && !first_col_fold {
                        0
                    } else {
                        rows * k
                    },
                    filter: if filter_per_col && !first_row {
                        0
                    } else {
                        k * cols
                    },
                    ofmap_read: 0,
                    ofmap_write: rows * cols,
                }
            }
            Dataflow::Is => {
                let filter_once = resident(k * n, mem.filter_sram_words);
                let (ofmap_read, ofmap_write) = accumulate(cols * n);
                Traffic {
                    ifmap: rows * cols,
                    filter: if filter_once && !first_col_fold {
                        0
                    } else {
                        rows * n
                    },
                    ofmap_read,
                    ofmap_write,
                }
            }
        }
    }

    /// Words each interface (ifmap, filter, ofmap) moves while fold `at` computes, given the
    /// folds before and after it: the part of the next fold's reads that fits half its SRAM
    /// (loaded ahead), the part of this fold's own reads and writes that does not (streamed), and
    /// the part of the previous fold's writes that does (drained behind).
    fn during(&self, at: Option<FoldAt>, prev: Option<FoldAt>, next: Option<FoldAt>) -> [u128; 3] {
        let halves = self.halves();
        let ahead = |t: &Traffic| {
            [
                t.ifmap.min(halves[0]),
                t.filter.min(halves[1]),
                t.ofmap_read.min(halves[2]),
            ]
        };
        let mut w = [0u128; 3];
        if let Some(t) = at.map(|a| self.fold(a)) {
            let a = ahead(&t);
            w[0] += t.ifmap - a[0];
            w[1] += t.filter - a[1];
            w[2] += t.ofmap_read - a[2] + t.ofmap_write - t.ofmap_write.min(halves[2]);
        }
        if let Some(t) = next.map(|n| self.fold(n)) {
            let a = ahead(&t);
            for (w, a) in w.iter_mut().zip(a) {
                *w += a;
            }
        }
        if let Some(t) = prev.map(|p| self.fold(p)) {
            w[2] += t.ofmap_write.min(halves[2]);
        }
        w
    }

    /// Half of each SRAM, in words (at least one): what double buffering can hold ahead.
    fn halves(&self) -> [u128; 3] {
        let m = &self.memory;
        [m.ifmap_sram_words, m.filter_sram_words, m.ofmap_sram_words]
            .map(|w| (w / 2).max(1) as u128)
    }

    /// Total cycles when fold `at` would take `compute(at, next)` cycles with unlimited
    /// bandwidth, and the stall-free total: `(total, stall_free)`. Each fold's slot is the
    /// longest of its compute and of every interface's words at its bandwidth; before the first
    /// fold its operands load (what fits half of each SRAM; the rest streams during the fold),
    /// after the last its outputs drain.
    pub(crate) fn with_stalls(
        &self,
        compute: impl Fn(FoldAt, Option<FoldAt>) -> u128,
    ) -> (u128, u128) {
        let stall_free = self.folds.sum_over(|at, _, next| compute(at, next));
        let Some(bw) = self.memory.bandwidth else {
            return (stall_free, stall_free);
        };
        let cycles = |w: [u128; 3]| -> u128 {
            w.iter()
                .zip(bw)
                .map(|(w, b)| w.div_ceil(b as u128))
                .max()
                .unwrap_or(0)
        };
        let slots = self.folds.sum_over(|at, prev, next| {
            compute(at, next).max(cycles(self.during(Some(at), prev, next)))
        });
        let prologue = cycles(self.during(None, None, Some(self.folds.first())));
        let epilogue = cycles(self.during(None, Some(self.folds.last()), None));
        (
            prologue.saturating_add(slots).saturating_add(epilogue),
            stall_free,
        )
    }
}
