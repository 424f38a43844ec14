//! One step of a model run kernel by kernel: each invocation of `layer.rs` looked up by
//! name in [`crate::kernels::all`], lowered and run timing-only on the chip simulator (each
//! distinct invocation once), into a [`ModelReport`]. The layer's time is the sum of its kernels'
//! (they run back to back on one NeuronCore; nothing overlaps across kernels), the model's is
//! `layers` layers plus the head.
//!
//! A kernel missing from the library shows as a row marked not available instead of a made-up
//! figure, and counts nothing in the totals.

use std::collections::HashMap;

use serde::Serialize;

use super::layer::{Invocation, Step, config_source, head, layer, step_source};
use super::model::ModelConfig;
use super::phase::Phase;
use crate::arch::Hardware;
use crate::chip::{self, RunOptions};
use crate::kernels::{self, Error, Result};
use crate::numerics::DType;

/// One kernel's timing-only run.
#[derive(Clone, Debug, PartialEq)]
struct Run {
    time_ns: f64,
    mfu: f64,
    mbu: f64,
    bound: String,
    flops: f64,
    hbm_bytes: u64,
    instructions: u64,
}

/// One row of the report: a kernel invocation of the layer or of the head.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// What it does in the layer (`qkv_proj`, `attention`, ...).
    pub role: String,
    /// Library kernel that runs it (`matmul`, `attention`, ...).
    pub kernel: String,
    /// Its parameters (`name=value` pairs, space-separated).
    pub params: String,
    /// Invocations per layer (or per step, for the head).
    pub count: usize,
    /// Whether the kernel is in the library; when not, the figures are null and count nothing.
    pub available: bool,
    /// Why it is not available.
    pub note: Option<String>,
    /// Time of all `count` invocations.
    pub time_ns: Option<f64>,
    /// Share of the layer's time (of the head's, for its rows).
    pub share: Option<f64>,
    /// Model FLOPs utilization (0..1).
    pub mfu: Option<f64>,
    /// Memory bandwidth utilization (0..1).
    pub mbu: Option<f64>,
    /// `compute` or `memory`.
    pub bound: Option<String>,
    /// Matmul FLOPs of all invocations.
    pub flops: Option<f64>,
    /// HBM bytes of all invocations.
    pub hbm_bytes: Option<u64>,
    /// Instructions of one invocation.
    pub instructions: Option<u64>,
}

/// Sums over rows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Total {
    /// Time of all rows (ns).
    pub time_ns: f64,
    /// Matmul FLOPs.
    pub flops: f64,
    /// HBM traffic of all rows.
    pub hbm_bytes: u64,
    /// Time at peak over time (the kernels' MFU weighted by their time).
    pub mfu: f64,
}

/// The whole model for one step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelTotal {
    /// Decoder layers.
    pub layers: usize,
    /// `layers` x the layer's time + the head's.
    pub time_ns: f64,
    /// Matmul FLOPs.
    pub flops: f64,
    /// HBM traffic of one step.
    pub hbm_bytes: u64,
    /// Time at peak over time.
    pub mfu: f64,
    /// Tokens processed (prefill) or generated (decode) per step.
    pub tokens: usize,
    /// Tokens per second.
    pub tokens_per_s: f64,
}

/// What `trnsim model run` reports (the JSON keys are part of the interface).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelReport {
    /// The model config the step ran.
    pub model: ModelConfig,
    /// Hardware preset.
    pub hardware: String,
    /// Phase, batch and length the figures are for.
    pub step: Step,
    /// Dtype of every kernel.
    pub dtype: String,
    /// One decoder layer's kernels.
    pub layer_kernels: Vec<Row>,
    /// Their sum.
    pub layer: Total,
    /// The head's kernels (once per step).
    pub head_kernels: Vec<Row>,
    /// Their sum.
    pub head: Total,
    /// The whole model.
    pub total: ModelTotal,
    /// Kernels the library does not have yet (their rows count nothing).
    pub missing: Vec<String>,
}

/// Runs kernels timing-only, each distinct invocation once.
struct Runner<'h> {
    hw: &'h Hardware,
    /// The config's model, whose keys a kernel's error is mapped back to.
    cfg: &'h ModelConfig,
    /// The step's sizes, which the parameters the config does not set come from.
    step: Step,
    memo: HashMap<(String, Vec<(String, String)>), Run>,
}

impl Runner<'_> {
    /// The parameters for a kernel's definition: the first name of each argument it has. The
    /// inner error says why the kernel is not available (not in the library, or without a
    /// parameter the model needs); the outer one is a value out of its range.
    fn resolve(
        &self,
        inv: &Invocation,
    ) -> Result<std::result::Result<(&'static dyn kernels::Kernel, kernels::Params), String>> {
        let Ok((k, def)) = kernels::find(inv.kernel) else {
            return Ok(Err("not in the kernel library".into()));
        };
        let mut set = Vec::new();
        for (names, v) in &inv.args {
            match names
                .iter()
                .find(|n| def.params.iter().any(|p| p.name == **n))
            {
                Some(n) => set.push((n.to_string(), v.clone())),
                None => {
                    return Ok(Err(format!(
                        "kernel '{}' has no parameter called any of: {}",
                        inv.kernel,
                        names.join(", ")
                    )));
                }
            }
        }
        let p = def
            .params(&set)
            .map_err(|e| context(self.cfg, &self.step, inv, e))?;
        Ok(Ok((k, p)))
    }

    fn run(&mut self, k: &dyn kernels::Kernel, p: &kernels::Params) -> Result<Run> {
        let key = (p.kernel().to_string(), p.pairs());
        if let Some(r) = self.memo.get(&key) {
            return Ok(r.clone());
        }
        let program = k.lower(p, self.hw)?;
        let opts = RunOptions {
            data: false,
            ..Default::default()
        };
        let file = format!("<kernel {}>", p.kernel());
        let result = chip::run(&program, self.hw, &file, &[], &opts)?;
        let rep = chip::report::report(&program, self.hw, &result);
        let r = Run {
            time_ns: rep.time_ns,
            mfu: rep.mfu,
            mbu: rep.mbu,
            bound: rep.bound,
            flops: rep.flops,
            hbm_bytes: rep.hbm_bytes,
            instructions: rep.instructions,
        };
        self.memo.insert(key, r.clone());
        Ok(r)
    }

    /// Rows for `invs`, with their shares, and their total.
    fn rows(
        &mut self,
        invs: &[Invocation],
        missing: &mut Vec<String>,
    ) -> Result<(Vec<Row>, Total)> {
        let mut rows = Vec::new();
        for inv in invs {
            rows.push(self.row(inv, missing)?);
        }
        let total = sum(&rows);
        for r in &mut rows {
            r.share = r.time_ns.map(|t| {
                if total.time_ns > 0.0 {
                    t / total.time_ns
                } else {
                    0.0
                }
            });
        }
        Ok((rows, total))
    }

    /// The row of one invocation, without its share; a kernel the library does not have (or
    /// that lacks a parameter the model sets) joins `missing` and its row counts nothing.
    fn row(&mut self, inv: &Invocation, missing: &mut Vec<String>) -> Result<Row> {
        let shown = inv
            .args
            .iter()
            .map(|(n, v)| format!("{}={v}", n[0]))
            .collect::<Vec<_>>()
            .join(" ");
        let mut row = Row {
            role: inv.role.into(),
            kernel: inv.kernel.into(),
            params: shown,
            count: inv.count,
            available: false,
            note: None,
            time_ns: None,
            share: None,
            mfu: None,
            mbu: None,
            bound: None,
            flops: None,
            hbm_bytes: None,
            instructions: None,
        };
        match self.resolve(inv)? {
            Err(note) => {
                if !missing.contains(&inv.kernel.to_string()) {
                    missing.push(inv.kernel.to_string());
                }
                row.note = Some(note);
            }
            Ok((k, p)) => {
                let r = self
                    .run(k, &p)
                    .map_err(|e| context(self.cfg, &self.step, inv, e))?;
                let n = inv.count as f64;
                row.params = p
                    .pairs()
                    .iter()
                    .filter(|(name, _)| inv.args.iter().any(|(ns, _)| ns.contains(&name.as_str())))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ");
                row.available = true;
                row.time_ns = Some(n * r.time_ns);
                row.mfu = Some(r.mfu);
                row.mbu = Some(r.mbu);
                row.bound = Some(r.bound);
                row.flops = Some(n * r.flops);
                row.hbm_bytes = Some(inv.count as u64 * r.hbm_bytes);
                row.instructions = Some(r.instructions);
            }
        }
        Ok(row)
    }
}

/// A kernel's error with the invocation it came from; a parameter the config sets is an error
/// at the config key it comes from (`m.toml:3:1: hidden: ...`), not at the kernel's name for it.
fn context(cfg: &ModelConfig, step: &Step, inv: &Invocation, e: Error) -> Error {
    let what = format!("the model's {} ({})", inv.role, inv.kernel);
    let source = |param: &str| {
        let (key, expr) = config_source(inv.role, param)?;
        Some((key, expr, cfg.places.of(key)?.clone()))
    };
    match e {
        Error::Param {
            kernel,
            param,
            message,
        } => match source(&param) {
            Some((key, expr, at)) => crate::config::Error::new(
                at,
                key,
                format!(
                    "{message}: the model's {} passes {expr} to kernel '{kernel}' as its \
                     parameter '{param}'",
                    inv.role
                ),
            )
            .into(),
            None => {
                let from = step_source(inv.role, &param, step)
                    .map(|sizes| format!(", whose '{param}' is the step's {sizes}"))
                    .unwrap_or_default();
                Error::Param {
                    kernel,
                    param,
                    message: format!("{message} (in {what}{from})"),
                }
            }
        },
        Error::DoesNotFit { kernel, message } => Error::DoesNotFit {
            kernel,
            message: format!("{message} (in {what})"),
        },
        other => other,
    }
}

fn sum(rows: &[Row]) -> Total {
    let time_ns: f64 = rows.iter().filter_map(|r| r.time_ns).sum();
    let ideal: f64 = rows.iter().filter_map(|r| Some(r.time_ns? * r.mfu?)).sum();
    Total {
        time_ns,
        flops: rows.iter().filter_map(|r| r.flops).sum(),
        hbm_bytes: rows.iter().filter_map(|r| r.hbm_bytes).sum(),
        mfu: if time_ns > 0.0 { ideal / time_ns } else { 0.0 },
    }
}

/// Run one step of `cfg` on `hw`: every kernel of a layer and of the head, timing-only. A
/// step is one forward pass: prefill or decode; train is refused (it is a forward and a
/// backward, which [`super::CostModel`] times as three forward prefills).
pub fn run_model(
    cfg: &ModelConfig,
    step: &Step,
    dtype: DType,
    hw: &Hardware,
) -> Result<ModelReport> {
    if step.phase == Phase::Train {
        return Err(Error::Model {
            file: cfg.name.clone(),
            message: "phase train does not apply to one step of a model's kernels (a forward \
                      pass): run prefill or decode"
                .into(),
        });
    }
    let mut runner = Runner {
        hw,
        cfg,
        step: *step,
        memo: HashMap::new(),
    };
    let mut missing = Vec::new();
    let (layer_kernels, layer_total) = runner.rows(&layer(cfg, step, dtype), &mut missing)?;
    let (head_kernels, head_total) = runner.rows(&head(cfg, step, dtype), &mut missing)?;
    let n = cfg.layers as f64;
    let time_ns = n * layer_total.time_ns + head_total.time_ns;
    let ideal = n * layer_total.time_ns * layer_total.mfu + head_total.time_ns * head_total.mfu;
    Ok(ModelReport {
        model: cfg.clone(),
        hardware: hw.name.clone(),
        step: *step,
        dtype: dtype.name().to_string(),
        total: ModelTotal {
            layers: cfg.layers,
            time_ns,
            flops: n * layer_total.flops + head_total.flops,
            hbm_bytes: cfg.layers as u64 * layer_total.hbm_bytes + head_total.hbm_bytes,
            mfu: if time_ns > 0.0 { ideal / time_ns } else { 0.0 },
            tokens: step.tokens(),
            tokens_per_s: step.tokens_per_s(time_ns),
        },
        layer_kernels,
        layer: layer_total,
        head_kernels,
        head: head_total,
        missing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_step_refuses_train() {
        let cfg = ModelConfig::shipped("llama3-8b").unwrap();
        let hw = Hardware::preset("trn2").unwrap();
        let step = Step {
            phase: Phase::Train,
            batch: 1,
            len: 128,
        };
        let e = run_model(&cfg, &step, DType::BFloat16, &hw)
            .unwrap_err()
            .to_string();
        assert!(e.contains("llama3-8b") && e.contains("phase train"), "{e}");
    }
}
