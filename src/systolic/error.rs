//! Errors of the systolic design-space mode: input files that do not parse (always with the file
//! and line), and layers or arrays too large to model.

use crate::config::Location;

/// What can go wrong reading SCALE-Sim inputs or modelling a layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A config or topology line is wrong: `file:line: field: message` (the field is a key,
    /// column or section; these formats have no columns).
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    /// A value that is not read from a file (a command-line GEMM or array size) is out of range.
    #[error("{field}: {message}")]
    Invalid {
        /// The parameter at fault.
        field: String,
        /// What was expected.
        message: String,
    },
    /// A file could not be read.
    #[error("{file}: {message}")]
    Io {
        /// File name as given.
        file: String,
        /// The OS error.
        message: String,
    },
}

impl Error {
    /// A parse error at `file:line` in `field`.
    pub(crate) fn parse(
        file: &str,
        line: usize,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Error {
        let at = Location::Line {
            file: file.to_string(),
            line,
        };
        Error::Config(crate::config::Error::new(at, field, message))
    }

    /// An out-of-range parameter.
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Result of the systolic layer.
pub type Result<T> = std::result::Result<T, Error>;
