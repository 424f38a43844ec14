//! A model's shapes: a config file (`kernels/models/*.toml`, the shipped ones embedded) read and
//! checked once into a [`ModelConfig`], which `layer.rs` lowers to kernels and
//! `cost.rs` shards over NeuronCores.

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::kernels::def::toml_message;
use crate::kernels::{Error, Result};

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
