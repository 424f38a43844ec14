//! SCALE-Sim v3.0.0's stall-free timing, in closed form.
//!
//! SCALE-Sim builds, for every fold, demand matrices with one row per cycle and a column per
//! array row or column, runs them through its memory model line by line, and reports the last
//! output write's cycle. Its matrices have a fixed shape per fold (read from
//! `compute/systolic_compute_{ws,os,is}.py`, SCALE-Sim 3.0.0):
//!
//! - `ws` and `is`: the stationary operand shifts in over R cycles (the `arr_row` prefix of null
//!   requests), the T vectors stream, and the skew of the pipeline adds `R + C - 2` more
//!   (`inter_fold_gap_suffix = R + C + T - 2` after the R-row load, or the `2R - 1` ofmap prefix
//!   plus the `C - 1` skew): `2R + C + T - 2` lines per fold.
//! - `os`: both operands stream with their skew and the outputs drain: `R + C + T - 2` lines.
//!
//! Folds run back to back with no overlap (no weight preload), and with no stall (the CALC
//! bandwidth mode, whose read buffers never stall) the reported Total Cycles is the index of the
//! last line: `folds * lines_per_fold - 1`.
//!
//! The utilization columns follow `single_layer_sim.py` and the compute classes (SCALE-Sim
//! reports percents; `LayerTiming` holds fractions, each chosen so that SCALE-Sim's number is
//! recovered exactly as noted):
//!
//! - Overall Util % = `num_compute * 100 / (total_cycles * R * C)` with `num_compute` = M x N x K
//!   (Python integer division, correctly rounded: `ratio`); `overall_util` is that percent
//!   divided by 100, so SCALE-Sim's number divided by 100 equals it bit for bit.
//! - Mapping Efficiency % = mean over folds of `rows_used * cols_used / (R * C)`, times 100;
//!   `mapping_eff` is the mean, so `mapping_eff * 100.0` is SCALE-Sim's number bit for bit.
//! - Compute Util % = mean over folds of `rows_used * cols_used * T / (R * C * fold_cycles)`,
//!   times 100 (`compute_util` is the mean, as for mapping), where `fold_cycles` is SCALE-Sim's per-fold count (`2R + 2C + T - 3` for `ws`
//!   and `is`, one more skew than the lines above; `R + C + T - 2` for `os`).
//!
//! The means are summed fold by fold in SCALE-Sim's order (`Folds::scalesim_averages`) so the
//! floating-point results are bit-identical to SCALE-Sim's under Python 3.11.

use super::error::Result;
use super::model::{Array, Dataflow, Folds, Gemm, LayerTiming, ratio, to_cycles};

/// SCALE-Sim's demand-matrix lines per fold (cycles of one fold, stall-free).
pub(crate) fn lines_per_fold(dataflow: Dataflow, array: Array, t: u64) -> u128 {
    let (r, c, t) = (array.rows as u128, array.cols as u128, t as u128);
    match dataflow {
        Dataflow::Ws | Dataflow::Is => 2 * r + c + t - 2,
        Dataflow::Os => r + c + t - 2,
    }
}

/// SCALE-Sim's per-fold cycle count used by its compute utilization.
pub(crate) fn util_cycles_per_fold(dataflow: Dataflow, array: Array, t: u64) -> u128 {
    let (r, c, t) = (array.rows as u128, array.cols as u128, t as u128);
    match dataflow {
        Dataflow::Ws | Dataflow::Is => 2 * r + 2 * c + t - 3,
        Dataflow::Os => r + c + t - 2,
    }
}

/// SCALE-Sim's mapping efficiency (a fraction): the mean over folds of the fraction of PEs used.
pub(crate) fn mapping_eff(folds: &Folds) -> f64 {
    let pes = folds.array.pes() as u128;
    folds.scalesim_averages(|rows, cols| [ratio(rows as u128 * cols as u128, pes)])[0]
}

/// The layer's stall-free timing under SCALE-Sim v3.0.0's convention.
pub fn layer(gemm: &Gemm, array: Array, dataflow: Dataflow) -> Result<LayerTiming> {
    let mapping = dataflow.mapping(gemm);
    let folds = Folds::new(&mapping, array);
    let lines = folds.count() * lines_per_fold(dataflow, array, mapping.t);
    let total_cycles = to_cycles(lines - 1, "total cycles")?;
    let pes = array.pes() as u128;
    let fold_cycles = util_cycles_per_fold(dataflow, array, mapping.t);
    let t = mapping.t as u128;
    // Both means in one pass: mapping efficiency and compute utilization.
    let [mapping_eff, compute] = folds.scalesim_averages(|rows, cols| {
        let used = rows as u128 * cols as u128;
        [ratio(used, pes), ratio(used * t, pes * fold_cycles)]
    });
    Ok(LayerTiming {
        total_cycles,
        stall_cycles: 0,
        // SCALE-Sim's percent, divided once: its Overall Util % / 100 reproduces this exactly.
        overall_util: ratio(gemm.macs() * 100, total_cycles as u128 * pes) / 100.0,
        mapping_eff,
        compute_util: compute,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(m: u64, n: u64, k: u64, r: u64, c: u64, df: Dataflow) -> LayerTiming {
        layer(&Gemm::new(m, n, k).unwrap(), Array::new(r, c).unwrap(), df).unwrap()
    }

    #[test]
    fn one_fold_ws_is_the_closed_form() {
        // 2R + C + T - 2 lines, the last at index one less.
        let t = run(128, 128, 128, 128, 128, Dataflow::Ws);
        assert_eq!(t.total_cycles, 2 * 128 + 128 + 128 - 3);
        assert_eq!(t.mapping_eff, 1.0);
        assert_eq!(t.compute_util * 100.0, 128.0 / 637.0 * 100.0);
    }

    #[test]
    fn folds_multiply_the_fold_time() {
        // 512^3 on 128x128: 16 folds of 2*128 + 128 + 512 - 2 lines.
        let t = run(512, 512, 512, 128, 128, Dataflow::Ws);
        assert_eq!(t.total_cycles, 16 * 894 - 1);
        let t = run(512, 512, 512, 128, 128, Dataflow::Os);
        assert_eq!(t.total_cycles, 16 * (128 + 128 + 512 - 2) - 1);
    }

    #[test]
    fn ws_and_is_swap_m_and_n() {
        // is maps (K, M) with N streaming; ws maps (K, N) with M streaming.
        let a = run(300, 70, 90, 32, 16, Dataflow::Ws);
        let b = run(70, 300, 90, 32, 16, Dataflow::Is);
        assert_eq!(a, b);
    }
}
