//! A workload as a scenario writes it (`[workloads.NAME]`): which model, doing what, how much, on
//! how many chips; checked into a model config and a dtype before it is costed.

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::model::{ModelConfig, SHIPPED};
use super::phase::Phase;
use crate::numerics::DType;

/// A workload: which model, doing what, how much, on how many chips.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Shipped model config name (`llama3-8b`, `llama3-70b`).
    pub model: String,
    /// Train, prefill or decode: which passes a step runs and over how many tokens.
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
                    SHIPPED
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
