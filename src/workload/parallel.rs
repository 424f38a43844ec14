//! The parallelism model: tensor parallelism of degree `tp` chips splits every layer over
//! `tp x cores` NeuronCores (Megatron-style: heads, the MLP's intermediate dimension and the
//! vocabulary are divided, [`shard`]); data parallelism replicates it. Communication is an
//! alpha-beta ring all-reduce ([`ring_allreduce_s`]).

use super::model::ModelConfig;

/// Per-hop latency of a ring step over NeuronLink (assumption: not in trainium.md).
pub(super) const NEURONLINK_ALPHA_S: f64 = 2e-6;
/// Per-hop latency of a ring step over EFA (assumption: not in trainium.md).
pub(super) const EFA_ALPHA_S: f64 = 15e-6;
/// Per-hop latency of a ring step among a chip's cores (assumption).
pub(super) const CHIP_ALPHA_S: f64 = 1e-6;

/// Ring all-reduce of `bytes` over `n` members with per-member bandwidth `bytes_per_s`.
pub(super) fn ring_allreduce_s(bytes: f64, n: usize, bytes_per_s: f64, alpha_s: f64) -> f64 {
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
pub(super) fn shard(cfg: &ModelConfig, n: usize) -> ModelConfig {
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
}
