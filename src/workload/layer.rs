//! A model's step as kernels: one decoder layer becomes a list of kernel invocations for a
//! phase (prefill: a batch of prompts; decode: one new token per sequence against a KV cache),
//! and the head (final norm and LM head) a few more, once per step. `report.rs` runs them.

use serde::Serialize;

use super::model::ModelConfig;
use super::phase::Phase;
use crate::kernels;
use crate::numerics::DType;

/// One step of a model: the phase and its sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Prefill or decode (a model's kernels refuse train: see [`super::run_model`]).
    pub phase: Phase,
    /// Sequences.
    pub batch: usize,
    /// Prefill (and train): prompt tokens per sequence; decode: KV-cache positions per
    /// sequence.
    pub len: usize,
}

impl Step {
    /// Tokens the step processes (each through every layer).
    pub fn tokens(&self) -> usize {
        match self.phase {
            Phase::Prefill | Phase::Train => self.batch * self.len,
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
pub(super) type Arg = (&'static [&'static str], String);

/// One kernel invocation of a layer.
pub(super) struct Invocation {
    /// What it does in the layer (`qkv_proj`, `attention`, ...).
    pub(super) role: &'static str,
    /// The library kernel's name.
    pub(super) kernel: &'static str,
    /// Its parameters, in the order the report shows them.
    pub(super) args: Vec<Arg>,
    /// Invocations per layer (or per step, for the head).
    pub(super) count: usize,
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
pub(super) fn layer(cfg: &ModelConfig, step: &Step, dtype: DType) -> Vec<Invocation> {
    let t = step.tokens();
    let (seq_q, seq_kv) = match step.phase {
        // A training step's forward pass is its prefill's.
        Phase::Prefill | Phase::Train => (step.len, step.len),
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
pub(super) fn head(cfg: &ModelConfig, step: &Step, dtype: DType) -> Vec<Invocation> {
    let rows = step.batch;
    let n_max = kernels::find("matmul")
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

/// The step's sizes a kernel parameter of the invocation `role` comes from, named as the
/// command line and a scenario's workload name them, with their values (`batch x seq (4 x
/// 8192)`); `None` for a parameter the config sets or the phase fixes.
pub(super) fn step_source(role: &str, param: &str, step: &Step) -> Option<String> {
    let (b, l) = (step.batch, step.len);
    let decode = step.phase == Phase::Decode;
    let batch = || format!("batch ({b})");
    match (role, param) {
        ("final_norm", "rows") | ("lm_head", "m") | ("attention", "batch") => Some(batch()),
        ("attention", "seq_kv") if decode => Some(format!("context ({l})")),
        ("attention", "seq_q" | "seq_kv") if !decode => Some(format!("seq ({l})")),
        (_, "rows" | "m" | "tokens") if decode => Some(batch()),
        (_, "rows" | "m" | "tokens") => Some(format!("batch x seq ({b} x {l})")),
        _ => None,
    }
}

/// The config key a kernel parameter of the invocation `role` comes from, and the expression
/// of keys that gives its value (`None` for a parameter the step sets: rows, tokens, lengths).
pub(super) fn config_source(role: &str, param: &str) -> Option<(&'static str, &'static str)> {
    let hidden = Some(("hidden", "hidden"));
    match (role, param) {
        (_, "cols" | "hidden") => hidden,
        ("qkv_proj", "k") | ("o_proj", "n") | ("lm_head", "k") => hidden,
        ("qkv_proj", "n") => Some(("heads", "(heads + 2 x kv_heads) x head_dim")),
        ("o_proj", "k") => Some(("heads", "heads x head_dim")),
        ("lm_head", "n") => Some(("vocab", "vocab (split in equal parts)")),
        ("attention", "heads") => Some(("heads", "heads")),
        ("attention", "kv_heads") => Some(("kv_heads", "kv_heads")),
        ("attention", "head_dim") => Some(("head_dim", "head_dim")),
        ("mlp", "intermediate") => Some(("intermediate", "intermediate")),
        _ => None,
    }
}
