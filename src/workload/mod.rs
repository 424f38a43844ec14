//! Job run times from the chip simulator: a workload (a model config, a phase, the work, the
//! dtype and the parallelism) costs a step time on a hardware preset, memoized by shape so a
//! million jobs cost a handful of simulations.
//!
//! The model: tensor parallelism of degree `tp` chips splits every layer over `tp x cores`
//! NeuronCores (Megatron-style: heads, the MLP's intermediate dimension and the vocabulary are
//! divided; a core's shard is simulated with [`crate::kernels::model`]); data parallelism of
//! degree `dp` replicates it. Communication is an alpha-beta ring model: two all-reduces of the
//! activations per layer forward (and two more backward in training) across the TP group, first
//! among a chip's cores at the chip's DMA bandwidth, then across chips over NeuronLink; in
//! training, one all-reduce of the bf16 gradients of a TP shard across the DP replicas over EFA
//! per step, not overlapped with compute (a conservative choice). Training costs a forward plus a
//! backward of twice its work (3x the forward prefill of the batch).

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::arch::Hardware;
use crate::kernels::model::{self, ModelConfig, Phase as ModelPhase, Step};
use crate::numerics::DType;

/// Errors of the workload layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A workload field is invalid.
    #[error("workload '{name}': {message}")]
    Invalid {
        /// The workload.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Simulating a kernel failed.
    #[error("workload '{name}': {source}")]
    Kernel {
        /// The workload.
        name: String,
        /// The error.
        source: crate::kernels::Error,
    },
}

/// Result of the workload layer.
pub type Result<T> = std::result::Result<T, Error>;

/// What a job does, per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// A training step over `batch` sequences of `seq` tokens per replica.
    Train,
    /// Prefill of `batch` prompts of `seq` tokens per replica.
    Prefill,
    /// One generated token per sequence of `batch`, against a KV cache of `seq` positions.
    Decode,
}

/// A workload: which model, doing what, how much, on how many chips.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Shipped model config name (`llama3-8b`, `llama3-70b`).
    pub model: String,
    /// Phase.
    pub phase: Phase,
    /// Sequences per replica per step.
    pub batch: usize,
    /// Tokens per sequence (prefill, train) or KV-cache positions (decode).
    pub seq: usize,
    /// Steps the job runs (training steps, prefill batches, or generated tokens).
    pub steps: u64,
    /// Dtype of every kernel (`bfloat16`, `float8_e4m3`, ...).
    #[serde(default = "default_dtype")]
    pub dtype: String,
    /// Tensor-parallel degree in chips.
    #[serde(default = "one")]
    pub tp: usize,
    /// Data-parallel degree (replicas).
    #[serde(default = "one")]
    pub dp: usize,
}

fn default_dtype() -> String {
    "bfloat16".into()
}

fn one() -> usize {
    1
}

impl Workload {
    /// Chips of the gang.
    pub fn chips(&self) -> usize {
        self.tp * self.dp
    }

    fn err(&self, message: String) -> Error {
        Error::Invalid {
            name: self.model.clone(),
            message,
        }
    }

    /// Check the fields and find the model.
    pub fn validate(&self) -> Result<(ModelConfig, DType)> {
        self.check()
            .map_err(|e| self.err(format!("{}: {}", e.field, e.message)))
    }

    /// Check the fields and find the model; a problem names the field (for callers that
    /// report it at a key path of their own, like a scenario's `[workloads.NAME]`).
    pub fn check(&self) -> std::result::Result<(ModelConfig, DType), FieldError> {
        let field = |field: &'static str, message: String| FieldError { field, message };
        let cfg = ModelConfig::shipped(&self.model).ok_or_else(|| {
            field(
                "model",
                format!(
                    "unknown model '{}'; the shipped models are: {}",
                    self.model,
                    model::SHIPPED
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        let dtype: DType = self
            .dtype
            .parse()
            .map_err(|e: crate::numerics::Error| field("dtype", e.to_string()))?;
        for (name, v, max) in [
            ("batch", self.batch, 4096),
            ("seq", self.seq, 1 << 20),
            ("tp", self.tp, 1024),
            ("dp", self.dp, 1 << 20),
        ] {
            if v == 0 || v > max {
                return Err(field(name, format!("{v} is out of range 1..={max}")));
            }
        }
        if self.steps == 0 {
            return Err(field("steps", "must be at least 1".into()));
        }
        Ok((cfg, dtype))
    }
}

/// A problem with one field of a [`Workload`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field (`model`, `dtype`, `batch`, `seq`, `steps`, `tp`, `dp`).
    pub field: &'static str,
    /// What is wrong and what was expected.
    pub message: String,
}

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

/// Per-hop latency of a ring step over NeuronLink (assumption: not in trainium.md).
pub const NEURONLINK_ALPHA_S: f64 = 2e-6;
/// Per-hop latency of a ring step over EFA (assumption: not in trainium.md).
pub const EFA_ALPHA_S: f64 = 15e-6;
/// Per-hop latency of a ring step among a chip's cores (assumption).
pub const CHIP_ALPHA_S: f64 = 1e-6;

/// Ring all-reduce of `bytes` over `n` members with per-member bandwidth `bytes_per_s`.
pub fn ring_allreduce_s(bytes: f64, n: usize, bytes_per_s: f64, alpha_s: f64) -> f64 {
    if n <= 1 || bytes <= 0.0 {
        return 0.0;
    }
    let n_f = n as f64;
    2.0 * (n_f - 1.0) / n_f * bytes / bytes_per_s + 2.0 * (n_f - 1.0) * alpha_s
}

/// A core's shard of `cfg` under tensor parallelism over `n` cores: heads, the MLP's
/// intermediate dimension and the vocabulary divided (rounded up: a shard that does not divide
/// evenly costs the largest share; the intermediate stays a multiple of 128, the mlp kernel's
/// interleave; kv heads are replicated when there are fewer than cores).
pub fn shard(cfg: &ModelConfig, n: usize) -> ModelConfig {
    let kv = cfg.kv_heads.div_ceil(n).max(1);
    let heads = cfg.heads.div_ceil(n).max(1).div_ceil(kv) * kv;
    let inter = cfg.intermediate.div_ceil(n).div_ceil(128).max(1) * 128;
    ModelConfig {
        name: format!("{} (1/{n} shard)", cfg.name),
        heads,
        kv_heads: kv,
        intermediate: inter,
        vocab: cfg.vocab.div_ceil(n),
        ..cfg.clone()
    }
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
        Phase::Train => (ModelPhase::Prefill, 3.0),
        Phase::Prefill => (ModelPhase::Prefill, 1.0),
        Phase::Decode => (ModelPhase::Decode, 1.0),
    };
    let step = Step {
        phase,
        batch: w.batch,
        len: w.seq,
    };
    let report = model::run(&s, &step, dtype, hw).map_err(|source| Error::Kernel {
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
    fn ring_allreduce_is_the_alpha_beta_formula() {
        // 8 members, 1 GB at 100 GB/s: 2 * 7/8 * 10 ms + 14 alpha.
        let t = ring_allreduce_s(1e9, 8, 100e9, 1e-6);
        assert!((t - (0.0175 + 14e-6)).abs() < 1e-12, "{t}");
        assert_eq!(ring_allreduce_s(1e9, 1, 100e9, 1e-6), 0.0);
    }

    #[test]
    fn shards_divide_the_model() {
        let cfg = ModelConfig::shipped("llama3-8b").unwrap();
        let s = shard(&cfg, 8);
        assert_eq!((s.heads, s.kv_heads, s.intermediate), (4, 1, 1792));
        let s = shard(&cfg, 32);
        assert_eq!((s.heads, s.kv_heads, s.intermediate), (1, 1, 512));
        assert_eq!(s.hidden, cfg.hidden);
    }

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
