//! Errors of the fleet scheduler: bad scenarios and traces (with file, line and key path), and
//! broken invariants (a bug, reported instead of silently producing wrong numbers).

/// What can go wrong loading a scenario or running it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A scenario key with a value that is malformed, missing, of the wrong type or out of
    /// range (`file:line:col: key.path: message`), or a trace line that cannot be read
    /// (`file:line: field: message`).
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    /// A file could not be read.
    #[error("{file}: {message}")]
    Io {
        /// The file.
        file: String,
        /// The OS error.
        message: String,
    },
    /// An internal consistency check failed (only when checks are enabled).
    #[error("invariant violated at t={time_s} s: {message}")]
    Invariant {
        /// Simulated time.
        time_s: u64,
        /// Which invariant.
        message: String,
    },
}

/// Result of the fleet layer.
pub type Result<T> = std::result::Result<T, Error>;
