//! The one located error of configuration input: where (file and position, or the command line),
//! which key, and what is wrong. Every layer that reads an input file wraps it with `#[from]`.

use std::fmt;

/// Where a configuration value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// A position in a file: 1-based line and column (columns count characters).
    At {
        /// The file as named to the user.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
    },
    /// A line of a file whose format has no columns (SCALE-Sim's `.cfg`).
    Line {
        /// The file as named to the user.
        file: String,
        /// 1-based line.
        line: usize,
    },
    /// A `KEY=VALUE` override of a file: the value was typed on the command line.
    Set {
        /// The file the override applies to.
        file: String,
        /// The flag that typed it (`--set` for scenarios, `--hw-set` for hardware).
        flag: &'static str,
    },
    /// Somewhere in a file, position unknown (a key the file does not write).
    File {
        /// The file as named to the user.
        file: String,
    },
}

impl Location {
    /// The file this location is in (or that a `--set` applies to).
    pub fn file(&self) -> &str {
        match self {
            Location::At { file, .. }
            | Location::Line { file, .. }
            | Location::Set { file, .. }
            | Location::File { file } => file,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::At { file, line, column } => write!(f, "{file}:{line}:{column}"),
            Location::Line { file, line } => write!(f, "{file}:{line}"),
            Location::Set { file, flag } => write!(f, "{file} ({flag})"),
            Location::File { file } => f.write_str(file),
        }
    }
}

/// A configuration value that is malformed, of the wrong type, unknown or out of range; displays
/// as `file:line:col: key.path: message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {key}: {message}")]
pub struct Error {
    /// Where the value is written.
    pub location: Location,
    /// Dotted key path (`tenants.anchor.quota.trn3.nominal_gw`, `demand.x.jobs[0].at`), or
    /// `(syntax)` / `(top level)` when no key is at fault.
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl Error {
    /// An error at `location` about `key`.
    pub fn new(location: Location, key: impl Into<String>, message: impl Into<String>) -> Error {
        Error {
            location,
            key: key.into(),
            message: message.into(),
        }
    }
}

/// A value that is accepted but probably not what was meant (a silent trap), located like an
/// [`Error`]: displays as `file:line:col: key.path: message`. The library only collects
/// warnings; the command line prints them (as `warning: ...`) on stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Where the value is written.
    pub location: Location,
    /// Dotted key path of the value (or the flag, `--seeds`, when no key is at fault).
    pub key: String,
    /// What the value does and what was probably meant.
    pub message: String,
}

impl Warning {
    /// A warning at `location` about `key`.
    pub fn new(location: Location, key: impl Into<String>, message: impl Into<String>) -> Warning {
        Warning {
            location,
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.location, self.key, self.message)
    }
}

/// Result of reading configuration input.
pub type Result<T> = std::result::Result<T, Error>;
