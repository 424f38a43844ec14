//! Errors of the ISA layer: trace text that does not parse.

/// What can go wrong reading a trace.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not a valid trace: where, and what was expected.
    #[error("{file}:{line}:{column}: {message}")]
    Parse {
        /// File name as given (or `<string>`).
        file: String,
        /// 1-based line.
        line: u32,
        /// 1-based column (characters).
        column: u32,
        /// What was expected, and what was found.
        message: String,
    },
}

/// Result of the ISA layer.
pub type Result<T> = std::result::Result<T, Error>;
