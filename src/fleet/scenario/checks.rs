//! Problems found while resolving a scenario, as a key path and a message (located in the file
//! by [`crate::config::Document`] once resolution stops), and the small checks every part uses.

use crate::config::Document;
use crate::fleet::error::Error;

/// A problem found while resolving the file: key path and message.
pub(super) struct Bad {
    pub(super) path: String,
    pub(super) message: String,
}

/// Why resolution stopped: a bad value, or an error of its own (a trace row).
pub(super) enum BuildError {
    At(Bad),
    Other(Error),
}

impl From<Error> for BuildError {
    fn from(e: Error) -> Self {
        BuildError::Other(e)
    }
}

impl BuildError {
    /// The fleet error, a bad value located in `doc`.
    pub(super) fn located(self, doc: &Document) -> Error {
        match self {
            BuildError::Other(e) => e,
            BuildError::At(b) => doc.error(b.path, b.message).into(),
        }
    }
}

/// A result of resolution.
pub(super) type Built<T> = std::result::Result<T, BuildError>;

/// Stop at key `path` with `message`.
pub(super) fn bad<T>(path: impl Into<String>, message: impl Into<String>) -> Built<T> {
    Err(BuildError::At(Bad {
        path: path.into(),
        message: message.into(),
    }))
}

/// `v` is finite and within `lo..=hi`.
pub(super) fn check_range(path: &str, v: f64, lo: f64, hi: f64) -> Built<()> {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        bad(path, format!("{v} is out of range; expected {lo} to {hi}"))
    }
}

/// Exactly one of `options` (key name, value if given) is given: its index and value.
pub(super) fn one_of<T: Copy>(path: &str, options: &[(&str, Option<T>)]) -> Built<(usize, T)> {
    let given: Vec<(usize, T)> = options
        .iter()
        .enumerate()
        .filter_map(|(i, (_, v))| v.map(|v| (i, v)))
        .collect();
    let names: Vec<&str> = options.iter().map(|o| o.0).collect();
    match given.as_slice() {
        [one] => Ok(*one),
        [] => bad(
            path,
            format!("expected one of the keys {}", names.join(", ")),
        ),
        _ => bad(
            path,
            format!(
                "give only one of the keys {} (found several)",
                names.join(", ")
            ),
        ),
    }
}
