//! Transformer models: a config file (`kernels/models/*.toml`) gives the shapes; one decoder
//! layer becomes a list of kernel invocations for a phase (prefill: a batch of prompts; decode:
//! one new token per sequence against a KV cache), each lowered and run timing-only on the
//! chip simulator. The layer's time is the sum of its kernels' (they run back to back on one
//! NeuronCore; nothing overlaps across kernels), the model's is `layers` layers plus the LM head.
//!
//! Kernels are looked up by name in [`super::all`], so a kernel missing from the library shows as
//! a row marked not available instead of a made-up figure, and counts nothing in the totals.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::def::toml_message;
use super::{Error, Result};
use crate::arch::Hardware;
use crate::chip::{self, RunOptions};
use crate::numerics::DType;

/// The model configs shipped in `kernels/models/` (embedded: they work from any directory).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "llama3-8b",
        include_str!("../../kernels/models/llama3-8b.toml"),
    ),
    (
        "llama3-70b",
        include_str!("../../kernels/models/llama3-70b.toml"),
    ),
];

/// A model's shapes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelConfig {
    /// Name used in reports.
    pub name: String,
    /// Where the numbers come from.
    pub source: Option<String>,
    /// Model dimension.
    pub hidden: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: usize,
    /// Dimension of each head.
    pub head_dim: usize,
    /// Feed-forward dimension.
    pub intermediate: usize,
    /// Vocabulary (the LM head's width).
    pub vocab: usize,
    /// Decoder layers.
    pub layers: usize,
}

/// The file as written: spans kept so checks can name the line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    #[serde(default)]
    source: Option<String>,
    hidden: Spanned<u64>,
    heads: Spanned<u64>,
    kv_heads: Spanned<u64>,
    head_dim: Spanned<u64>,
    intermediate: Spanned<u64>,
    vocab: Spanned<u64>,
    layers: Spanned<u64>,
}

/// 1-based line of byte offset `at`.
fn line_of(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

/// The key written on line `line` (`key = value`), if any.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let l = text.lines().nth(line.checked_sub(1)?)?;
    let (k, _) = l.split_once('=')?;
    let k = k.trim();
    (!k.is_empty() && !k.starts_with('#')).then(|| k.to_string())
}

impl ModelConfig {
    /// Parse and check a config; errors name the file, the line and the key.
    pub fn from_toml(text: &str, file: &str) -> Result<ModelConfig> {
        let err = |message: String| Error::Model {
            file: file.to_string(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let msg = toml_message(text, &e);
            match e
                .span()
                .and_then(|s| key_on_line(text, line_of(text, s.start)))
            {
                Some(key) => err(format!("key '{key}': {msg}")),
                None => err(msg),
            }
        })?;
        let check = |key: &str, v: &Spanned<u64>, max: u64, why: &str| {
            let x = *v.get_ref();
            if x == 0 || x > max {
                Err(err(format!(
                    "line {}: key '{key}': {x} is out of range 1..={max}{why}",
                    line_of(text, v.span().start)
                )))
            } else {
                Ok(x as usize)
            }
        };
        let big = u32::MAX as u64;
        let cfg = ModelConfig {
            name: raw.name,
            source: raw.source,
            hidden: check("hidden", &raw.hidden, big, "")?,
            heads: check("heads", &raw.heads, big, "")?,
            kv_heads: check("kv_heads", &raw.kv_heads, big, "")?,
            head_dim: check(
                "head_dim",
                &raw.head_dim,
                128,
                " (the attention kernel's heads, on partitions)",
            )?,
            intermediate: check("intermediate", &raw.intermediate, big, "")?,
            vocab: check("vocab", &raw.vocab, big, "")?,
            layers: check("layers", &raw.layers, big, "")?,
        };
        if cfg.heads % cfg.kv_heads != 0 {
            return Err(err(format!(
                "line {}: key 'kv_heads': {} does not divide heads = {}",
                line_of(text, raw.kv_heads.span().start),
                cfg.kv_heads,
                cfg.heads
            )));
        }
        if cfg.intermediate % 128 != 0 {
            return Err(err(format!(
                "line {}: key 'intermediate': {} is not a multiple of 128 (the mlp kernel's \
                 gate/up interleave)",
                line_of(text, raw.intermediate.span().start),
                cfg.intermediate
            )));
        }
        Ok(cfg)
    }

    /// A shipped config by name (`llama3-8b`), by file name or by its path in the repository
    /// (`kernels/models/llama3-8b.toml`).
    pub fn shipped(spec: &str) -> Option<ModelConfig> {
        let stem = spec
            .strip_prefix("kernels/models/")
            .unwrap_or(spec)
            .trim_end_matches(".toml");
        SHIPPED.iter().find(|(n, _)| *n == stem).map(|(n, text)| {
            ModelConfig::from_toml(text, &format!("kernels/models/{n}.toml"))
                .expect("shipped configs are valid (tested)")
        })
    }

    /// Weights in all: per layer the Q, K, V and output projections, the gate, up and down
    /// projections and two norms; the embedding, the final norm and the LM head (untied).
    pub fn parameters(&self) -> u64 {
        let (h, hd) = (self.hidden as u64, self.head_dim as u64);
        let attn = h * hd * (2 * self.heads as u64 + 2 * self.kv_heads as u64);
        let mlp = 3 * h * self.intermediate as u64;
        self.layers as u64 * (attn + mlp + 2 * h) + 2 * self.vocab as u64 * h + h
    }
}

/// What the model is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// `batch` prompts of `seq` tokens each, causal attention over the prompt.
    Prefill,
    /// One new token per sequence, attending to a KV cache of `context` positions (the new one
    /// included).
    Decode,
}

/// One step of a model: the phase and its sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Prefill or decode.
    pub phase: Phase,
    /// Sequences.
    pub batch: usize,
    /// Prefill: prompt tokens per sequence; decode: KV-cache positions per sequence.
    pub len: usize,
}

impl Step {
    /// Tokens the step processes (each through every layer).
    pub fn tokens(&self) -> usize {
        match self.phase {
            Phase::Prefill => self.batch * self.len,
            Phase::Decode => self.batch,
        }
    }

    /// Tokens the step produces or consumes per second of `time_ns`: prompt tokens for
    /// prefill, new tokens for decode.
    pub fn tokens_per_s(&self, time_ns: f64) -> f64 {
        if time_ns > 0.0 {
            self.tokens() as f64 / (time_ns * 1e-9)
        } else {
            0.0
        }
    }
}

/// A kernel parameter as the model sets it: the names a kernel may call it (the first one its
/// definition has is used) and the value.
type Arg = (&'static [&'static str], String);

/// One kernel invocation of a layer.
struct Invocation {
    role: &'static str,
    kernel: &'static str,
    args: Vec<Arg>,
    count: usize,
}

fn arg(name: &'static [&'static str], v: impl ToString) -> Arg {
    (name, v.to_string())
}

/// Rows and columns of a row-wise kernel (a norm). Activations stay 16-bit when the GEMMs
/// run in fp8 (the norms and residual adds keep bf16, as fp8 inference does).
fn rows_cols(rows: usize, cols: usize, dtype: DType) -> Vec<Arg> {
    let act = if dtype.is_fp8() {
        DType::BFloat16
    } else {
        dtype
    };
    vec![
        arg(&["rows"], rows),
        arg(&["cols"], cols),
        arg(&["dtype"], act.name()),
    ]
}

/// A residual add of two `[rows, cols]` activations.
fn residual(rows: usize, cols: usize, dtype: DType) -> Vec<Arg> {
    let mut v = rows_cols(rows, cols, dtype);
    v.push(arg(&["op"], "add"));
    v
}

fn matmul(m: usize, k: usize, n: usize, dtype: DType) -> Vec<Arg> {
    vec![
        arg(&["m"], m),
        arg(&["k"], k),
        arg(&["n"], n),
        arg(&["dtype"], dtype.name()),
    ]
}

/// The kernels of one decoder layer, in order: pre-attention RMSNorm, the fused QKV
/// projection, attention, the output projection, the residual add, pre-MLP RMSNorm, the MLP,
/// the residual add. (Rotary embeddings are not modeled.)
fn layer(cfg: &ModelConfig, step: &Step, dtype: DType) -> Vec<Invocation> {
    let t = step.tokens();
    let (seq_q, seq_kv) = match step.phase {
        Phase::Prefill => (step.len, step.len),
        Phase::Decode => (1, step.len),
    };
    let qkv = (cfg.heads + 2 * cfg.kv_heads) * cfg.head_dim;
    let inv = |role, kernel, args| Invocation {
        role,
        kernel,
        args,
        count: 1,
    };
    vec![
        inv("attn_norm", "rmsnorm", rows_cols(t, cfg.hidden, dtype)),
        inv("qkv_proj", "matmul", matmul(t, cfg.hidden, qkv, dtype)),
        inv(
            "attention",
            "attention",
            vec![
                arg(&["batch"], step.batch),
                arg(&["heads"], cfg.heads),
                arg(&["kv_heads"], cfg.kv_heads),
                arg(&["seq_q"], seq_q),
                arg(&["seq_kv"], seq_kv),
                arg(&["head_dim"], cfg.head_dim),
                arg(&["causal"], true),
                arg(&["dtype"], dtype.name()),
            ],
        ),
        inv(
            "o_proj",
            "matmul",
            matmul(t, cfg.heads * cfg.head_dim, cfg.hidden, dtype),
        ),
        inv(
            "attn_residual",
            "elementwise",
            residual(t, cfg.hidden, dtype),
        ),
        inv("mlp_norm", "rmsnorm", rows_cols(t, cfg.hidden, dtype)),
        inv(
            "mlp",
            "mlp",
            vec![
                arg(&["tokens"], t),
                arg(&["hidden"], cfg.hidden),
                arg(&["intermediate"], cfg.intermediate),
                arg(&["dtype"], dtype.name()),
            ],
        ),
        inv(
            "mlp_residual",
            "elementwise",
            residual(t, cfg.hidden, dtype),
        ),
    ]
}

/// The head, once per step: the final RMSNorm and the LM head, for the last position of each
/// sequence (the one that predicts the next token). The LM head is split into equal column
/// parts when the vocabulary is wider than the matmul kernel's largest `n`.
fn head(cfg: &ModelConfig, step: &Step, dtype: DType) -> Vec<Invocation> {
    let rows = step.batch;
    let n_max = super::find("matmul")
        .ok()
        .and_then(|(_, d)| d.params.iter().find(|p| p.name == "n").and_then(|p| p.max))
        .unwrap_or(u64::MAX) as usize;
    let parts = cfg.vocab.div_ceil(n_max);
    let mut out = vec![Invocation {
        role: "final_norm",
        kernel: "rmsnorm",
        args: rows_cols(rows, cfg.hidden, dtype),
        count: 1,
    }];
    let width = cfg.vocab / parts;
    let rest = cfg.vocab - width * parts;
    // `rest` columns more for the first parts (fewer than `parts` of them).
    if rest > 0 {
        out.push(Invocation {
            role: "lm_head",
            kernel: "matmul",
            args: matmul(rows, cfg.hidden, width + 1, dtype),
            count: rest,
        });
    }
    out.push(Invocation {
        role: "lm_head",
        kernel: "matmul",
        args: matmul(rows, cfg.hidden, width, dtype),
        count: parts - rest,
    });
    out
}

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
    /// The kernel.
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
    /// Time.
    pub time_ns: f64,
    /// Matmul FLOPs.
    pub flops: f64,
    /// HBM bytes.
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
    /// HBM bytes.
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
    /// The config.
    pub model: ModelConfig,
    /// Hardware preset.
    pub hardware: String,
    /// The step.
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
    memo: HashMap<(String, Vec<(String, String)>), Run>,
}

impl Runner<'_> {
    /// The parameters for a kernel's definition: the first name of each argument it has. The
    /// inner error says why the kernel is not available (not in the library, or without a
    /// parameter the model needs); the outer one is a value out of its range.
    fn resolve(
        inv: &Invocation,
    ) -> Result<std::result::Result<(&'static dyn super::Kernel, super::Params), String>> {
        let Ok((k, def)) = super::find(inv.kernel) else {
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
        let p = def.params(&set).map_err(|e| context(inv, e))?;
        Ok(Ok((k, p)))
    }

    fn run(&mut self, k: &dyn super::Kernel, p: &super::Params) -> Result<Run> {
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
            match Self::resolve(inv)? {
                Err(note) => {
                    if !missing.contains(&inv.kernel.to_string()) {
                        missing.push(inv.kernel.to_string());
                    }
                    row.note = Some(note);
                }
                Ok((k, p)) => {
                    let r = self.run(k, &p).map_err(|e| context(inv, e))?;
                    let n = inv.count as f64;
                    row.params = p
                        .pairs()
                        .iter()
                        .filter(|(name, _)| {
                            inv.args.iter().any(|(ns, _)| ns.contains(&name.as_str()))
                        })
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
            rows.push(row);
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
}

/// A kernel's error with the invocation it came from.
fn context(inv: &Invocation, e: Error) -> Error {
    let what = format!("the model's {} ({})", inv.role, inv.kernel);
    match e {
        Error::Param {
            kernel,
            param,
            message,
        } => Error::Param {
            kernel,
            param,
            message: format!("{message} (in {what})"),
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

/// Run one step of `cfg` on `hw`: every kernel of a layer and of the head, timing-only.
pub fn run(cfg: &ModelConfig, step: &Step, dtype: DType, hw: &Hardware) -> Result<ModelReport> {
    let mut runner = Runner {
        hw,
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
    fn shipped_configs_parse() {
        for (name, _) in SHIPPED {
            let c = ModelConfig::shipped(name).unwrap();
            assert_eq!(&c.name, name);
            assert_eq!(c.heads % c.kv_heads, 0);
        }
        let c = ModelConfig::shipped("kernels/models/llama3-8b.toml").unwrap();
        // 8.03 B parameters, as Meta states for Llama-3-8B.
        assert_eq!(c.parameters(), 8_030_261_248);
    }

    #[test]
    fn errors_name_the_key_and_line() {
        let text = "name = \"x\"\nhidden = 64\nheads = \"many\"\n";
        let e = ModelConfig::from_toml(text, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("m.toml") && e.contains("line 3") && e.contains("'heads'"),
            "{e}"
        );
        let text = "name = \"x\"\nhidden = 64\nheads = 6\nkv_heads = 4\nhead_dim = 16\n\
                    intermediate = 256\nvocab = 100\nlayers = 2\n";
        let e = ModelConfig::from_toml(text, "m.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 4") && e.contains("'kv_heads'"), "{e}");
        let e = ModelConfig::from_toml(&format!("{text}colour = 3\n"), "m.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 9") && e.contains("colour"), "{e}");
    }
}
