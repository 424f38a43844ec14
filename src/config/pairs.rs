//! `KEY=VALUE` arguments as typed on the command line: one pair (`--set policy.name=fair`,
//! whose value may hold commas), or comma-separated lists of pairs from a repeatable flag
//! (`--set pe.rows=256,dma.engines=8 --set chip.cores=4`).

/// An argument that is not `KEY=VALUE`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("expected KEY=VALUE, found '{found}'")]
pub struct PairError {
    /// The text that is not a pair.
    pub found: String,
}

/// One `KEY=VALUE`, split at the first `=` (the value may hold `=` and commas); both sides
/// trimmed, the key not empty.
pub fn parse_pair(s: &str) -> Result<(String, String), PairError> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(PairError {
            found: s.to_string(),
        }),
    }
}

/// Every `KEY=VALUE` of the comma-separated lists `specs`, in order (empty items skipped, so
/// values cannot hold commas).
pub fn parse_list<S: AsRef<str>>(specs: &[S]) -> Result<Vec<(String, String)>, PairError> {
    let mut out = Vec::new();
    for spec in specs {
        for part in spec.as_ref().split(',').filter(|s| !s.trim().is_empty()) {
            out.push(parse_pair(part.trim())?);
        }
    }
    Ok(out)
}
