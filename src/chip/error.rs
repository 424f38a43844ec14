//! Errors of the chip simulator.

/// What can go wrong preparing or running a kernel on the chip model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A resource or rule violated by an instruction or buffer: trace line and the limit.
    #[error("{file}:{line}: {message}")]
    Check {
        /// Trace file name.
        file: String,
        /// 1-based line of the offending declaration or instruction (0: not from a file).
        line: u32,
        /// What is wrong, with the limit.
        message: String,
    },
    /// A run-time input (an `.npy` for a buffer) that does not fit.
    #[error("input '{buffer}': {message}")]
    Input {
        /// Buffer name.
        buffer: String,
        /// What is wrong.
        message: String,
    },
    /// Numerics failure (reading or writing tensors).
    #[error(transparent)]
    Numerics(#[from] crate::numerics::Error),
}

/// Result of the chip layer.
pub type Result<T> = std::result::Result<T, Error>;
