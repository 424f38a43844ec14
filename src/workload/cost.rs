//! Step times from the chip simulator: a workload costs a step time on a hardware preset,
//! memoized by shape so a million jobs cost a handful of simulations.
//!
//! The model: a core's shard of the model ([`super::shard`] over `tp x cores` NeuronCores) is
//! run kernel by kernel ([`super::run_model`]); two all-reduces of the activations per layer
//! forward (and two more backward in training) cross the TP group, first among a chip's cores at
//! the chip's DMA bandwidth, then across chips over NeuronLink; in training, one all-reduce of
//! the bf16 gradients of a TP shard crosses the DP replicas over EFA per step, not overlapped
//! with compute (a conservative choice). Training costs a forward plus a backward of twice its
//! work (3x the forward prefill of the batch).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::Serialize;

use super::error::{Error, Result};
use super::layer::Step;
use super::parallel::{CHIP_ALPHA_S, EFA_ALPHA_S, NEURONLINK_ALPHA_S, ring_allreduce_s, shard};
use super::phase::Phase;
use super::report::run_model;
use super::spec::Workload;
use crate::arch::Hardware;

/// The time of one step, and its parts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StepTime {
    /// Compute (the simulated kernels of a core's shard).
    pub compute_s: f64,
    /// Tensor-parallel all-reduces.
    pub tp_comm_s: f64,
    /// Data-parallel gradient all-reduce.
    pub dp_comm_s: f64,
    /// Their sum.
    pub step_s: f64,
}

/// Step times by (workload shape, hardware), computed once each.
#[derive(Default)]
pub struct CostModel {
    memo: Mutex<HashMap<(Workload, String), StepTime>>,
    simulations: Mutex<usize>,
}

impl CostModel {
    /// A new, empty memo.
    pub fn new() -> CostModel {
        CostModel::default()
    }

    /// Distinct simulations run so far.
    pub fn simulations(&self) -> usize {
        *self.simulations.lock().expect("not poisoned")
    }

    /// One step of `w` on `hw` (memoized by everything but `steps`).
    pub fn step(&self, w: &Workload, hw: &Hardware) -> Result<StepTime> {
        let key = (
            Workload {
                steps: 1,
                ..w.clone()
            },
            hw.name.clone(),
        );
        if let Some(t) = self.memo.lock().expect("not poisoned").get(&key) {
            return Ok(*t);
        }
        let t = step_time(w, hw)?;
        *self.simulations.lock().expect("not poisoned") += 1;
        self.memo.lock().expect("not poisoned").insert(key, t);
        Ok(t)
    }

    /// The whole job: `steps` steps.
    pub fn run_s(&self, w: &Workload, hw: &Hardware) -> Result<f64> {
        Ok(self.step(w, hw)?.step_s * w.steps as f64)
    }
}

fn step_time(w: &Workload, hw: &Hardware) -> Result<StepTime> {
    let (cfg, dtype) = w.validate()?;
    let cores = hw.chip.cores.max(1) as usize;
    let n = w.tp * cores;
    let s = shard(&cfg, n);
    let (phase, factor) = match w.phase {
        Phase::Train => (Phase::Prefill, 3.0),
        Phase::Prefill => (Phase::Prefill, 1.0),
        Phase::Decode => (Phase::Decode, 1.0),
    };
    let step = Step {
        phase,
        batch: w.batch,
        len: w.seq,
    };
    let report = run_model(&s, &step, dtype, hw).map_err(|source| Error::Kernel {
        name: w.model.clone(),
        source,
    })?;
    let compute_s = factor * report.total.time_ns * 1e-9;
    // Activations all-reduced per layer: tokens x hidden in the kernels' dtype (2 bytes for
    // 16-bit, 1 for fp8), twice forward, four times in training.
    let tokens = step.tokens() as f64;
    let act_bytes = tokens * cfg.hidden as f64 * dtype.size_bytes() as f64;
    let per_layer = if w.phase == Phase::Train { 4.0 } else { 2.0 };
    let chip_bw = hw.chip.dma_bytes_per_ns * 1e9;
    let link_bw = hw.chip.neuronlink_bytes_per_ns * 1e9;
    let one = ring_allreduce_s(act_bytes, cores, chip_bw, CHIP_ALPHA_S)
        + ring_allreduce_s(act_bytes, w.tp, link_bw, NEURONLINK_ALPHA_S);
    let tp_comm_s = per_layer * cfg.layers as f64 * one;
    let dp_comm_s = if w.phase == Phase::Train {
        // bf16 gradients of one TP shard of the weights.
        let grad_bytes = cfg.parameters() as f64 / w.tp as f64 * 2.0;
        ring_allreduce_s(
            grad_bytes,
            w.dp,
            hw.chip.efa_bytes_per_ns * 1e9,
            EFA_ALPHA_S,
        )
    } else {
        0.0
    };
    Ok(StepTime {
        compute_s,
        tp_comm_s,
        dp_comm_s,
        step_s: compute_s + tp_comm_s + dp_comm_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memoized_by_shape_and_more_chips_run_faster() {
        let hw = Hardware::preset("trn2").unwrap();
        let m = CostModel::new();
        let w = Workload {
            model: "llama3-8b".into(),
            phase: Phase::Prefill,
            batch: 1,
            seq: 512,
            steps: 10,
            dtype: "bfloat16".into(),
            tp: 1,
            dp: 1,
        };
        let a = m.run_s(&w, &hw).unwrap();
        let b = m
            .run_s(
                &Workload {
                    steps: 20,
                    ..w.clone()
                },
                &hw,
            )
            .unwrap();
        assert_eq!(m.simulations(), 1);
        assert!((b - 2.0 * a).abs() < 1e-12 * b);
        let t4 = m.step(&Workload { tp: 4, ..w.clone() }, &hw).unwrap();
        let t1 = m.step(&w, &hw).unwrap();
        // Four times the chips: faster, though far from 4x at this small shape (every kernel's
        // fixed latencies stay), and more communication.
        assert!(t4.compute_s < 0.8 * t1.compute_s, "{t4:?} vs {t1:?}");
        assert!(t4.tp_comm_s > t1.tp_comm_s);
        // fp8 is faster where the GEMMs dominate.
        let f8 = m
            .step(
                &Workload {
                    dtype: "float8_e4m3".into(),
                    seq: 2048,
                    ..w.clone()
                },
                &hw,
            )
            .unwrap();
        let b16 = m
            .step(
                &Workload {
                    seq: 2048,
                    ..w.clone()
                },
                &hw,
            )
            .unwrap();
        assert!(f8.compute_s < 0.8 * b16.compute_s, "{f8:?} vs {b16:?}");
    }
}
