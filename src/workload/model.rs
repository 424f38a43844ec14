//! A model's shapes: a config file (`kernels/models/*.toml`, the shipped ones embedded) read and
//! checked once into a [`ModelConfig`], which `layer.rs` lowers to kernels and
//! `cost.rs` shards over NeuronCores.

use serde::{Deserialize, Serialize};

use crate::config::{Document, Location};
use crate::kernels::Result;

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
    /// Where each key is written, so that a kernel's error about a value derived from a key
    /// names the key and its line.
    #[serde(skip)]
    pub(crate) places: Places,
}

/// Where a config's keys are written (`file:line:col`); not part of a config's value: two
/// configs with the same numbers are equal wherever they were read from.
#[derive(Clone, Debug, Default)]
pub(crate) struct Places(Vec<(&'static str, Location)>);

impl PartialEq for Places {
    fn eq(&self, _: &Places) -> bool {
        true
    }
}

impl ModelConfig {
    /// The values of [`KEYS`], in order.
    pub(crate) fn shape(&self) -> [usize; 7] {
        [
            self.hidden,
            self.heads,
            self.kv_heads,
            self.head_dim,
            self.intermediate,
            self.vocab,
            self.layers,
        ]
    }
}

impl Places {
    /// Where `key` is written (`None` for a config built in code).
    pub(crate) fn of(&self, key: &str) -> Option<&Location> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, l)| l)
    }
}

/// The shape keys, in the order of [`ModelConfig::shape`]: the ones a kernel's parameter may
/// come from, and `trnsim model list`'s columns.
pub(crate) const KEYS: [&str; 7] = [
    "hidden",
    "heads",
    "kv_heads",
    "head_dim",
    "intermediate",
    "vocab",
    "layers",
];

/// The file as written; checks after reading name the key, which the document locates.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    name: String,
    #[serde(default)]
    source: Option<String>,
    hidden: u64,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
    intermediate: u64,
    vocab: u64,
    layers: u64,
}

impl ModelConfig {
    /// Parse and check a config; errors name the file, the line and column, and the config
    /// key (`m.toml:4:1: kv_heads: 5 does not divide heads = 32`).
    pub fn from_toml(text: &str, file: &str) -> Result<ModelConfig> {
        let doc = Document::parse(text, file)?;
        let raw: RawConfig = doc.load()?;
        let check = |key: &str, x: u64, max: u64, why: &str| {
            if x == 0 || x > max {
                Err(doc.error(key, format!("{x} is out of range 1..={max}{why}")))
            } else {
                Ok(x as usize)
            }
        };
        let big = u32::MAX as u64;
        let cfg = ModelConfig {
            name: raw.name,
            source: raw.source,
            hidden: check("hidden", raw.hidden, big, "")?,
            heads: check("heads", raw.heads, big, "")?,
            kv_heads: check("kv_heads", raw.kv_heads, big, "")?,
            head_dim: check(
                "head_dim",
                raw.head_dim,
                128,
                " (the attention kernel's heads, on partitions)",
            )?,
            intermediate: check("intermediate", raw.intermediate, big, "")?,
            vocab: check("vocab", raw.vocab, big, "")?,
            layers: check("layers", raw.layers, big, "")?,
            places: Places(KEYS.iter().map(|k| (*k, doc.location_of(k))).collect()),
        };
        if cfg.heads % cfg.kv_heads != 0 {
            let msg = format!("{} does not divide heads = {}", cfg.kv_heads, cfg.heads);
            return Err(doc.error("kv_heads", msg).into());
        }
        if cfg.intermediate % 128 != 0 {
            let msg = format!(
                "{} is not a multiple of 128 (the mlp kernel's gate/up interleave)",
                cfg.intermediate
            );
            return Err(doc.error("intermediate", msg).into());
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
        let err = |text: &str| {
            ModelConfig::from_toml(text, "m.toml")
                .unwrap_err()
                .to_string()
        };
        let e = err("name = \"x\"\nhidden = 64\nheads = \"many\"\n");
        assert!(e.starts_with("m.toml:3:9: heads: invalid type"), "{e}");
        let text = "name = \"x\"\nhidden = 64\nheads = 6\nkv_heads = 4\nhead_dim = 16\n\
                    intermediate = 256\nvocab = 100\nlayers = 2\n";
        assert_eq!(
            err(text),
            "m.toml:4:1: kv_heads: 4 does not divide heads = 6"
        );
        let e = err(&format!("{text}colour = 3\n"));
        assert!(e.starts_with("m.toml:9:1: colour: unknown field"), "{e}");
        let e = err(&text.replace("layers = 2", "layers = 0"));
        assert_eq!(e, "m.toml:8:1: layers: 0 is out of range 1..=4294967295");
    }
}
