//! The geometry shared by every timing setting: how a GEMM maps onto an R x C array under each
//! dataflow, how it folds, and SCALE-Sim's per-fold averages computed exactly as it computes them.
//!
//! A layer is a GEMM in SCALE-Sim's operand convention: the ofmap matrix (M x N) is the ifmap
//! operand matrix (M x K) times the filter operand matrix (K x N). For a convolution M is the
//! number of output pixels of one filter, N the number of filters and K the window size
//! (filter height x filter width x channels); for a `Layer, M, N, K` topology line they are the
//! given numbers. A dataflow decides which two dimensions are spread over the array's rows and
//! columns (the spatial dimensions `Sr`, `Sc`) and which one streams through it in time (`T`):
//!
//! | dataflow | stationary in the array | Sr (rows) | Sc (cols) | T (time) |
//! |---|---|---|---|---|
//! | `ws` weight stationary | filter | K | N | M |
//! | `os` output stationary | ofmap | M | N | K |
//! | `is` input stationary | ifmap | K | M | N |
//!
//! When `Sr > R` or `Sc > C` the work is cut into folds of at most R x C, `ceil(Sr/R) *
//! ceil(Sc/C)` of them, executed column fold by column fold (row folds inner), SCALE-Sim's order.

use std::fmt;
use std::str::FromStr;

use super::error::{Error, Result};

/// The largest GEMM dimension modelled (2^40): products of three stay far inside `u128`, and a
/// cycle count that would not fit a `u64` is reported as an error instead of wrapping.
pub(crate) const MAX_DIM: u64 = 1 << 40;

/// The largest array side modelled (2^20 PEs per row or column).
pub(crate) const MAX_ARRAY_SIDE: u64 = 1 << 20;

/// Above this many folds a layer's SCALE-Sim averages (mapping efficiency, compute utilization)
/// are computed in closed form instead of by summing fold by fold as SCALE-Sim does, which may
/// change their last bits. SCALE-Sim itself cannot run layers anywhere near this size.
pub(crate) const EXACT_SUM_MAX_FOLDS: u64 = 1 << 24;

/// Which operand stays in the array while the others stream through it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Dataflow {
    /// Weight stationary: filters held in the PEs, ifmap rows stream.
    Ws,
    /// Output stationary: each PE accumulates one output, both operands stream.
    Os,
    /// Input stationary: ifmap windows held in the PEs, filters stream.
    Is,
}

impl Dataflow {
    /// SCALE-Sim's short name (`ws`, `os`, `is`).
    pub fn name(self) -> &'static str {
        match self {
            Dataflow::Ws => "ws",
            Dataflow::Os => "os",
            Dataflow::Is => "is",
        }
    }

    /// The spatial and temporal dimensions of `gemm` under this dataflow (see the module table).
    pub fn mapping(self, gemm: &Gemm) -> Mapping {
        let Gemm { m, n, k } = *gemm;
        let (sr, sc, t) = match self {
            Dataflow::Ws => (k, n, m),
            Dataflow::Os => (m, n, k),
            Dataflow::Is => (k, m, n),
        };
        Mapping { sr, sc, t }
    }
}

impl fmt::Display for Dataflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Dataflow {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "ws" => Ok(Dataflow::Ws),
            "os" => Ok(Dataflow::Os),
            "is" => Ok(Dataflow::Is),
            _ => Err(format!("expected ws, os or is, found '{s}'")),
        }
    }
}

/// The PE array: `rows` x `cols` multiply-accumulate units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Array {
    /// PE rows (SCALE-Sim's ArrayHeight).
    pub rows: u64,
    /// PE columns (SCALE-Sim's ArrayWidth).
    pub cols: u64,
}

impl Array {
    /// An array, checked to be 1..=`MAX_ARRAY_SIDE` on each side.
    pub fn new(rows: u64, cols: u64) -> Result<Array> {
        for (field, v) in [("rows", rows), ("cols", cols)] {
            if !(1..=MAX_ARRAY_SIDE).contains(&v) {
                return Err(Error::invalid(
                    field,
                    format!("expected 1 to {MAX_ARRAY_SIDE} PEs, found {v}"),
                ));
            }
        }
        Ok(Array { rows, cols })
    }

    /// Number of PEs.
    pub fn pes(&self) -> u64 {
        self.rows * self.cols
    }
}

/// A GEMM in SCALE-Sim's convention: ofmap (M x N) = ifmap (M x K) * filter (K x N).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Gemm {
    /// Output rows (output pixels per filter for a convolution).
    pub m: u64,
    /// Output columns (number of filters).
    pub n: u64,
    /// Contraction (window size for a convolution).
    pub k: u64,
}

impl Gemm {
    /// A GEMM, checked to be 1..=`MAX_DIM` in every dimension.
    pub fn new(m: u64, n: u64, k: u64) -> Result<Gemm> {
        for (field, v) in [("M", m), ("N", n), ("K", k)] {
            if !(1..=MAX_DIM).contains(&v) {
                return Err(Error::invalid(
                    field,
                    format!("expected 1 to {MAX_DIM}, found {v}"),
                ));
            }
        }
        Ok(Gemm { m, n, k })
    }

    /// Multiply-accumulates of the layer (SCALE-Sim's `num_compute`: ofmap pixels x window).
    pub fn macs(&self) -> u128 {
        self.m as u128 * self.n as u128 * self.k as u128
    }
}

/// A dataflow's view of a GEMM: `sr` x `sc` spread over the array, `t` streamed in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// Spatial extent mapped onto the array's rows.
    pub sr: u64,
    /// Spatial extent mapped onto the array's columns.
    pub sc: u64,
    /// Temporal extent: how many vectors stream through per fold.
    pub t: u64,
}

/// How a mapping is cut into array-sized folds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Folds {
    /// Folds along the rows: `ceil(sr / R)`.
    pub row_folds: u64,
    /// Folds along the columns: `ceil(sc / C)`.
    pub col_folds: u64,
    /// Rows used by the last row fold (all others use R).
    pub last_rows: u64,
    /// Columns used by the last column fold (all others use C).
    pub last_cols: u64,
    pub array: Array,
}

impl Folds {
    /// The folds of `mapping` on `array`.
    pub(crate) fn new(mapping: &Mapping, array: Array) -> Folds {
        let row_folds = mapping.sr.div_ceil(array.rows);
        let col_folds = mapping.sc.div_ceil(array.cols);
        Folds {
            row_folds,
            col_folds,
            last_rows: mapping.sr - (row_folds - 1) * array.rows,
            last_cols: mapping.sc - (col_folds - 1) * array.cols,
            array,
        }
    }

    /// Total folds (as `u128`: up to 2^80 for absurd shapes).
    pub(crate) fn count(&self) -> u128 {
        self.row_folds as u128 * self.col_folds as u128
    }

    /// Rows used by row fold `r`.
    pub(crate) fn rows_used(&self, r: u64) -> u64 {
        if r + 1 == self.row_folds {
            self.last_rows
        } else {
            self.array.rows
        }
    }

    /// Columns used by column fold `c`.
    pub(crate) fn cols_used(&self, c: u64) -> u64 {
        if c + 1 == self.col_folds {
            self.last_cols
        } else {
            self.array.cols
        }
    }

    /// `sum over every fold (c, r) of f(c, r, prev, next)` in O(1) evaluations of `f`, for an
    /// `f` that depends on a fold and its neighbours in execution order (column folds outer, row
    /// folds inner) only through whether each is the first or last along either axis. Folds that
    /// are interior along an axis, with interior neighbours, are all alike: one is evaluated and
    /// counted for all of them. The sum saturates at `u128::MAX`.
    pub(crate) fn sum_over<F>(&self, mut f: F) -> u128
    where
        F: FnMut(FoldAt, Option<FoldAt>, Option<FoldAt>) -> u128,
    {
        let mut total = 0u128;
        for (c, cn) in representatives(self.col_folds) {
            for (r, rn) in representatives(self.row_folds) {
                let here = FoldAt { c, r };
                let v = f(here, self.prev(here), self.next(here));
                // Saturating: an absurd layer must end in a "too large" error, not wrap.
                let n = (cn as u128).saturating_mul(rn as u128);
                total = total.saturating_add(n.saturating_mul(v));
            }
        }
        total
    }

    /// The fold executed before `at`, if any.
    pub(crate) fn prev(&self, at: FoldAt) -> Option<FoldAt> {
        match (at.c, at.r) {
            (0, 0) => None,
            (c, 0) => Some(FoldAt {
                c: c - 1,
                r: self.row_folds - 1,
            }),
            (c, r) => Some(FoldAt { c, r: r - 1 }),
        }
    }

    /// The fold executed after `at`, if any.
    pub(crate) fn next(&self, at: FoldAt) -> Option<FoldAt> {
        if at.r + 1 < self.row_folds {
            Some(FoldAt {
                c: at.c,
                r: at.r + 1,
            })
        } else if at.c + 1 < self.col_folds {
            Some(FoldAt { c: at.c + 1, r: 0 })
        } else {
            None
        }
    }

    pub(crate) fn first(&self) -> FoldAt {
        FoldAt { c: 0, r: 0 }
    }

    pub(crate) fn last(&self) -> FoldAt {
        FoldAt {
            c: self.col_folds - 1,
            r: self.row_folds - 1,
        }
    }

    /// SCALE-Sim's averages of per-fold values, as it computes them: the values appended fold by
    /// fold (column folds outer, row folds inner), summed left to right in `f64` (Python 3.11's
    /// `sum`), divided by the fold count. `value(rows_used, cols_used)` gives a fold's values;
    /// the `N` sums run side by side (independent chains of additions). Beyond
    /// [`EXACT_SUM_MAX_FOLDS`] folds the sums are taken in closed form.
    pub(crate) fn scalesim_averages<const N: usize>(
        &self,
        value: impl Fn(u64, u64) -> [f64; N],
    ) -> [f64; N] {
        let (fr, fc) = (self.row_folds, self.col_folds);
        let (r_full, c_full) = (self.array.rows, self.array.cols);
        let inner = |cols: u64| (value(r_full, cols), value(self.last_rows, cols));
        let (full, full_edge) = inner(c_full);
        let (edge, edge_edge) = inner(self.last_cols);
        let count = self.count() as f64;
        let mut sum = [0.0f64; N];
        if self.count() <= EXACT_SUM_MAX_FOLDS as u128 {
            for c in 0..fc {
                let (a, b) = if c + 1 == fc {
                    (edge, edge_edge)
                } else {
                    (full, full_edge)
                };
                for _ in 1..fr {
                    for i in 0..N {
                        sum[i] += a[i];
                    }
                }
                for i in 0..N {
                    sum[i] += b[i];
                }
            }
        } else {
            let (fr1, fc1) = ((fr - 1) as f64, (fc - 1) as f64);
            for i in 0..N {
                sum[i] = fc1 * (fr1 * full[i] + full_edge[i]) + fr1 * edge[i] + edge_edge[i];
            }
        }
        sum.map(|x| x / count)
    }
}

/// A fold's position: column fold `c`, row fold `r`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FoldAt {
    /// Column fold index.
    pub c: u64,
    /// Row fold index.
    pub r: u64,
}

/// Indices standing for all of `0..n` with their multiplicities: every index when `n <= 5`;
/// otherwise 0, 1, 2 (for each of `2..=n-3`, which, with their neighbours, are neither first nor
/// last), `n-2` and `n-1`.
fn representatives(n: u64) -> impl Iterator<Item = (u64, u64)> {
    let v: [(u64, u64); 5] = if n <= 5 {
        [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]
    } else {
        [(0, 1), (1, 1), (2, n - 4), (n - 2, 1), (n - 1, 1)]
    };
    v.into_iter().take(n.min(5) as usize)
}

/// The timing of one layer in one setting: SCALE-Sim's COMPUTE_REPORT columns, with the
/// utilisations as fractions (0..1) as everywhere in trnsim; SCALE-Sim's columns are these times
/// 100 (see `scalesim::layer` for the exact correspondence).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct LayerTiming {
    /// Cycles from the first operand entering the array to the last result leaving it,
    /// stalls included.
    pub total_cycles: u64,
    /// Cycles the array waited for memory (0 when stall-free).
    pub stall_cycles: u64,
    /// Useful MACs over PE-cycles of the whole layer, a fraction.
    pub overall_util: f64,
    /// Average over folds of the fraction of PEs a fold maps work to.
    pub mapping_eff: f64,
    /// Useful MACs over PE-cycles while computing (the setting's definition), a fraction.
    pub compute_util: f64,
}

/// `a / b` rounded once to the nearest `f64` (ties to even), as Python's `int / int` is.
/// `b` must not be zero.
pub(crate) fn ratio(a: u128, b: u128) -> f64 {
    const EXACT: u128 = 1 << 53;
    if a < EXACT && b < EXACT {
        return a as f64 / b as f64;
    }
    if a == 0 {
        return 0.0;
    }
    // Long division to 64 significant quotient bits plus a sticky bit, then one rounding.
    let (mut q, mut r) = (a / b, a % b);
    let mut exp: i32 = 0;
    let mut sticky = false;
    while q >= 1u128 << 64 {
        sticky |= q & 1 == 1;
        q >>= 1;
        exp += 1;
    }
    while q < 1u128 << 63 {
        // r < b <= u128::MAX / 2 here for every caller (operands below 2^127).
        r <<= 1;
        q <<= 1;
        if r >= b {
            r -= b;
            q |= 1;
        }
        exp -= 1;
    }
    sticky |= r != 0;
    // q has exactly 64 significant bits; keep 53.
    let drop: u32 = 11;
    let mut m = (q >> drop) as u64;
    let rest = q & ((1 << drop) - 1);
    let half = 1u128 << (drop - 1);
    if rest > half || (rest == half && (sticky || m & 1 == 1)) {
        m += 1;
    }
    (m as f64) * 2f64.powi(exp + drop as i32)
}

/// A `u128` cycle count as `u64`, or an error naming the layer's size.
pub(crate) fn to_cycles(v: u128, what: &str) -> Result<u64> {
    u64::try_from(v).map_err(|_| {
        Error::invalid(
            what,
            format!("{v} cycles do not fit in 64 bits; the layer is too large for the array"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_correctly_rounded() {
        assert_eq!(ratio(1, 3), 1.0 / 3.0);
        assert_eq!(ratio(100, 7), 100.0 / 7.0);
        // Beyond 2^53 a naive conversion rounds twice; the quotient must round once.
        let a = (1u128 << 60) + 1;
        assert_eq!(ratio(a, 1), 2f64.powi(60));
        let b = 3u128 << 70;
        assert_eq!(ratio(b, 3), 2f64.powi(70));
        // (2^54 + 3) / 2: exact value 2^53 + 1.5, rounds to 2^53 + 2.
        assert_eq!(ratio((1 << 54) + 3, 2), 9007199254740994.0);
        // A tie broken to even: (2^54 + 2) / 2 = 2^53 + 1 is not representable ... it is a tie
        // between 2^53 and 2^53 + 2; even mantissa wins (2^53).
        assert_eq!(ratio((1 << 54) + 2, 2), 9007199254740992.0);
        let big = 123_456_789_012_345_678_901u128;
        assert_eq!(ratio(big * 7, 7), big as f64);
    }

    #[test]
    fn representatives_cover_every_fold_once() {
        for n in 1..20u64 {
            let total: u64 = representatives(n).map(|(_, k)| k).sum();
            assert_eq!(total, n);
        }
    }

    #[test]
    fn sum_over_counts_every_fold() {
        let array = Array::new(4, 4).unwrap();
        for (sr, sc) in [(1, 1), (4, 4), (5, 9), (40, 3), (41, 37)] {
            let folds = Folds::new(&Mapping { sr, sc, t: 1 }, array);
            assert_eq!(folds.sum_over(|_, _, _| 1), folds.count());
            let used =
                folds.sum_over(|at, _, _| (folds.rows_used(at.r) * folds.cols_used(at.c)) as u128);
            assert_eq!(used, sr as u128 * sc as u128);
            // Neighbours: every fold but the first has a predecessor, every one but the last a
            // successor.
            let with_prev = folds.sum_over(|_, p, _| p.is_some() as u128);
            let with_next = folds.sum_over(|_, _, n| n.is_some() as u128);
            assert_eq!(with_prev, folds.count() - 1);
            assert_eq!(with_next, folds.count() - 1);
        }
    }
}
