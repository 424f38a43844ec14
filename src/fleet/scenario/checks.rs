//! Problems found while resolving a scenario, as a key path and a message (located in the file
//! by [`crate::config::Document`] once resolution stops), warnings about silent traps in the
//! same shape, and the small checks every part uses.

use crate::config::{self, Document};
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

/// Warnings found while resolving: values accepted that probably do not do what was meant (a
/// reservation ramp faster than `policy.quota_step` is re-evaluated, ...). Resolution stops at
/// an error but goes on past a warning.
///
/// To warn about a new trap, take `&mut Warnings` where the value is resolved (`resolve::build`
/// owns the collector and hands it to each part: see `tenants`) and call [`Warnings::warn`]
/// with the value's key path, as for [`bad`]. Once resolution ends the warnings are located
/// like errors (`file:line:col: key: message`, or `file (--set)` for an override) and carried
/// by [`super::Scenario::warnings`]; the library never prints them, the command line does.
#[derive(Default)]
pub(crate) struct Warnings(Vec<Bad>);

impl Warnings {
    /// Warn about the value at key `path`.
    pub(crate) fn warn(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Bad {
            path: path.into(),
            message: message.into(),
        });
    }

    /// The warnings located in `doc`, in the order they were found.
    pub(super) fn located(self, doc: &Document) -> Vec<config::Warning> {
        self.0
            .into_iter()
            .map(|b| doc.warning(b.path, b.message))
            .collect()
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
