//! Errors of the systolic design-space mode: input files that do not parse (always with the file
//! and line), and layers or arrays too large to model.

/// What can go wrong reading SCALE-Sim inputs or modelling a layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A config or topology line is wrong: where, which field, and what was expected.
    #[error("{file}:{line}: {field}: {message}")]
    Parse {
        /// File name as given.
        file: String,
        /// 1-based line.
        line: usize,
        /// The field (key, column or section) at fault.
        field: String,
        /// What was expected, and what was found.
        message: String,
    },
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
        Error::Parse {
            file: file.to_string(),
            line,
            field: field.into(),
            message: message.into(),
        }
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
