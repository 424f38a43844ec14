//! What a step of a model does: train, prefill or decode. One enum for the model's kernels, the
//! cost model, the fleet's workloads and the command line.
//!
//! A scenario's `[workloads.NAME]` names any phase; one step of a model's kernels
//! ([`super::run_model`]) is a forward pass, so it takes prefill or decode and refuses train (the
//! cost model times a training step as three forward prefills).

use serde::{Deserialize, Serialize};

/// What a step does. Spelled `train`, `prefill`, `decode` in files, JSON and on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// A training step over `batch` sequences of `seq` tokens per replica: a forward and a
    /// backward pass.
    Train,
    /// `batch` prompts of `seq` tokens each, causal attention over the prompt.
    Prefill,
    /// One new token per sequence, attending to a KV cache of `seq` (or `context`) positions,
    /// the new one included.
    Decode,
}

impl Phase {
    /// The name as files and the command line spell it.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Train => "train",
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn one_spelling_in_files_json_and_on_the_command_line() {
        for p in Phase::value_variants() {
            let json = serde_json::to_string(p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.name()));
            assert_eq!(serde_json::from_str::<Phase>(&json).unwrap(), *p);
            assert_eq!(Phase::from_str(p.name(), false).unwrap(), *p);
            assert_eq!(p.to_string(), p.name());
        }
    }
}
