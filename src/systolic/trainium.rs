//! The Trainium-style setting: the same folds, timed the way the trn presets time the tensor
//! engine, so the difference between the textbook array and the real engine is visible.
//!
//! Per fold (the constants come from a hardware preset's `[pe]` table; trainium.md section 3):
//!
//! - Loading the stationary operand (weights for `ws`, the ifmap tile for `is`) is a
//!   LoadStationary: `ceil(cols_used / load_stationary_divisor)` cycles, "up to 4x faster than a
//!   MultiplyMoving of the same free size". With `fast_weight_load` the next fold's stationary
//!   loads in the background while the current fold streams (two weight buffers); without it the
//!   load waits for the stream to end. `os` keeps outputs in the array and loads nothing.
//! - The stream is a sequence of MultiplyMoving instructions of at most `moving_free_max`
//!   vectors (one PSUM bank), each `max(min(min_issue_cycles, cols_used), vectors)` cycles.
//! - Folds are pipelined: the next fold's stream starts as soon as the current one has issued
//!   (and its weights are in), so the array's fill and drain are paid once per layer, not once
//!   per fold: `fill_drain_cycles`, scaled from the preset's row count to the array's ("one pass
//!   through the array's rows").
//!
//! So fold f occupies `max(stream_f, load_{f+1})` cycles, plus `load_0` before the first and the
//! fill/drain after the last. Compute utilization counts the streaming cycles only; with a DRAM
//! bandwidth the memory model of `super::memory` adds stall cycles.
//!
//! The real engine is weight stationary; `os` and `is` here apply the same two ideas (background
//! loads, pipelined folds) to those dataflows, for comparison with the textbook model.

use super::error::Result;
use super::memory::{Memory, TrafficModel};
use super::model::{Array, Dataflow, FoldAt, Folds, Gemm, LayerTiming, ratio, to_cycles};
use super::scalesim::mapping_eff;
use crate::arch::Hardware;

/// The tensor-engine constants the Trainium-style setting uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TrainiumParams {
    /// The 64 of `max(min(64, N_stationary), N_moving)` (trainium.md section 3).
    pub min_issue_cycles: u64,
    /// LoadStationary is this many times faster than a MultiplyMoving (section 3: up to 4x).
    pub load_stationary_divisor: u64,
    /// Whether the next stationary loads while the current fold streams (section 3).
    pub fast_weight_load: bool,
    /// Fill and drain latency of an array of `reference_rows` rows.
    pub fill_drain_cycles: u64,
    /// Rows of the preset's array, the size `fill_drain_cycles` was given for.
    pub reference_rows: u64,
    /// Most vectors one MultiplyMoving streams (one PSUM bank of fp32: 512, section 3).
    pub moving_free_max: u64,
}

impl TrainiumParams {
    /// The constants of a hardware preset's tensor engine.
    pub(crate) fn from_hardware(hw: &Hardware) -> TrainiumParams {
        let pe = &hw.pe;
        TrainiumParams {
            min_issue_cycles: pe.min_issue_cycles as u64,
            load_stationary_divisor: (pe.load_stationary_divisor as u64).max(1),
            fast_weight_load: pe.fast_weight_load,
            fill_drain_cycles: pe.fill_drain_cycles as u64,
            reference_rows: (pe.rows as u64).max(1),
            moving_free_max: (pe.moving_free_max as u64).max(1),
        }
    }

    /// Fill/drain latency on an array of `rows` rows: the preset's, scaled by rows, rounded up.
    pub(crate) fn fill_drain_for(&self, rows: u64) -> u128 {
        (self.fill_drain_cycles as u128 * rows as u128).div_ceil(self.reference_rows as u128)
    }

    /// Cycles to stream `t` vectors through a fold using `cols` columns.
    pub(crate) fn stream_cycles(&self, t: u64, cols: u64) -> u128 {
        let floor = self.min_issue_cycles.min(cols) as u128;
        let chunk = self.moving_free_max as u128;
        let t = t as u128;
        let (full, rest) = (t / chunk, t % chunk);
        let mut c = full * chunk.max(floor);
        if rest > 0 {
            c += rest.max(floor);
        }
        c
    }

    /// Cycles to load a stationary tile using `cols` columns (0 for `os`).
    pub(crate) fn load_cycles(&self, dataflow: Dataflow, cols: u64) -> u128 {
        match dataflow {
            Dataflow::Os => 0,
            Dataflow::Ws | Dataflow::Is => (cols as u128)
                .div_ceil(self.load_stationary_divisor as u128)
                .max(1),
        }
    }
}

impl Default for TrainiumParams {
    /// The trn2 preset's values.
    fn default() -> Self {
        TrainiumParams {
            min_issue_cycles: 64,
            load_stationary_divisor: 4,
            fast_weight_load: true,
            fill_drain_cycles: 128,
            reference_rows: 128,
            moving_free_max: 512,
        }
    }
}

/// The layer's timing in the Trainium-style setting, with the memory model's stalls.
pub fn layer(
    gemm: &Gemm,
    array: Array,
    dataflow: Dataflow,
    memory: Memory,
    params: &TrainiumParams,
) -> Result<LayerTiming> {
    let mapping = dataflow.mapping(gemm);
    let folds = Folds::new(&mapping, array);
    let load = |at: FoldAt| params.load_cycles(dataflow, folds.cols_used(at.c));
    let stream = |at: FoldAt| params.stream_cycles(mapping.t, folds.cols_used(at.c));
    let last = folds.last();
    let first = folds.first();
    let latency = params.fill_drain_for(array.rows);
    // The cycles fold `at` occupies given the fold after it.
    let period = |at: FoldAt, next: Option<FoldAt>| -> u128 {
        let mut p = if params.fast_weight_load {
            stream(at).max(next.map_or(0, load))
        } else {
            stream(at) + next.map_or(0, load)
        };
        if at == first {
            p += load(at);
        }
        if at == last {
            p += latency;
        }
        p
    };
    let traffic = TrafficModel::new(&folds, dataflow, *gemm, memory);
    let (total, stall_free) = traffic.with_stalls(period);
    let streaming = folds.sum_over(|at, _, _| stream(at));
    let pes = array.pes() as u128;
    let total_cycles = to_cycles(total, "total cycles")?;
    Ok(LayerTiming {
        total_cycles,
        stall_cycles: to_cycles(total - stall_free, "stall cycles")?,
        overall_util: ratio(gemm.macs(), total * pes),
        mapping_eff: mapping_eff(&folds),
        compute_util: ratio(gemm.macs(), streaming * pes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trn(m: u64, n: u64, k: u64, df: Dataflow, memory: Memory) -> LayerTiming {
        let g = Gemm::new(m, n, k).unwrap();
        layer(
            &g,
            Array::new(128, 128).unwrap(),
            df,
            memory,
            &TrainiumParams::default(),
        )
        .unwrap()
    }

    #[test]
    fn one_fold_is_load_stream_and_fill_drain() {
        // LoadStationary of 128 columns at 4x: 32; 128 vectors: 128; fill/drain 128.
        let t = trn(128, 128, 128, Dataflow::Ws, Memory::default());
        assert_eq!(t.total_cycles, 32 + 128 + 128);
        assert_eq!(t.stall_cycles, 0);
        assert_eq!(t.compute_util, 1.0);
    }

    #[test]
    fn weight_loads_hide_behind_streams() {
        // 4096^3: 1024 folds of 4096 vectors (8 MultiplyMoving of 512); only the first load and
        // the last drain show.
        let t = trn(4096, 4096, 4096, Dataflow::Ws, Memory::default());
        assert_eq!(t.total_cycles, 32 + 1024 * 4096 + 128);
        // Without fast weight load every load is exposed.
        let p = TrainiumParams {
            fast_weight_load: false,
            ..TrainiumParams::default()
        };
        let g = Gemm::new(4096, 4096, 4096).unwrap();
        let a = Array::new(128, 128).unwrap();
        let slow = layer(&g, a, Dataflow::Ws, Memory::default(), &p).unwrap();
        assert_eq!(slow.total_cycles, 1024 * (32 + 4096) + 128);
    }

    #[test]
    fn short_streams_pay_the_issue_floor() {
        // 10 vectors still cost min(64, 128) = 64 cycles per fold.
        let t = trn(10, 128, 128, Dataflow::Ws, Memory::default());
        assert_eq!(t.total_cycles, 32 + 64 + 128);
    }

    #[test]
    fn no_layer_beats_its_traffic() {
        use crate::systolic::memory::TrafficModel;
        let shapes = [
            (1024, 1024, 1024),
            (100, 7, 3000),
            (5000, 300, 64),
            (1, 1, 1),
            (77, 513, 129),
        ];
        for (m, n, k) in shapes {
            for df in [Dataflow::Ws, Dataflow::Os, Dataflow::Is] {
                for (sram, bw) in [(1u64, [1u64, 1, 1]), (64, [3, 5, 7]), (4096, [16, 16, 16])] {
                    let g = Gemm::new(m, n, k).unwrap();
                    let a = Array::new(32, 16).unwrap();
                    let mem = Memory {
                        ifmap_sram_words: sram * 1024,
                        filter_sram_words: sram * 1024,
                        ofmap_sram_words: sram * 1024,
                        bandwidth: Some(bw),
                    };
                    let t = layer(&g, a, df, mem, &TrainiumParams::default()).unwrap();
                    let folds = Folds::new(&df.mapping(&g), a);
                    let tm = TrafficModel::new(&folds, df, g, mem);
                    let words = [
                        folds.sum_over(|at, _, _| tm.fold(at).ifmap),
                        folds.sum_over(|at, _, _| tm.fold(at).filter),
                        folds.sum_over(|at, _, _| {
                            let f = tm.fold(at);
                            f.ofmap_read + f.ofmap_write
                        }),
                    ];
                    for (w, b) in words.iter().zip(bw) {
                        assert!(
                            t.total_cycles as u128 >= w.div_ceil(b as u128),
                            "{m} {n} {k} {df}"
                        );
                    }
                    // Every operand is read at least once, every output written at least once.
                    assert!(words[0] >= (m * k) as u128 && words[1] >= (k * n) as u128);
                    assert!(words[2] >= (m * n) as u128);
                }
            }
        }
    }

    #[test]
    fn narrow_bandwidth_stalls() {
        let free = trn(1024, 1024, 1024, Dataflow::Ws, Memory::default());
        let narrow = Memory {
            bandwidth: Some([1, 1, 1]),
            ..Memory::default()
        };
        let t = trn(1024, 1024, 1024, Dataflow::Ws, narrow);
        assert!(t.stall_cycles > 0);
        assert_eq!(t.total_cycles - t.stall_cycles, free.total_cycles);
        // At one word per cycle per interface the layer cannot beat its own traffic: every
        // filter word (K x N) crosses the filter interface.
        assert!(t.total_cycles as u128 >= 1024 * 1024);
    }
}
