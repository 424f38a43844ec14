//! Errors of the kernel library.

/// What can go wrong choosing, lowering or checking a kernel.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No kernel of that name.
    #[error("unknown kernel '{name}'; the kernels are: {valid}")]
    UnknownKernel {
        /// The name asked for.
        name: String,
        /// The valid names.
        valid: String,
    },
    /// A parameter the kernel does not have, a value of the wrong kind or out of its range.
    #[error("kernel '{kernel}': parameter '{param}': {message}")]
    Param {
        /// The kernel.
        kernel: String,
        /// The parameter.
        param: String,
        /// What was expected.
        message: String,
    },
    /// The shape cannot be lowered on this hardware (it does not fit, or breaks a rule).
    #[error("kernel '{kernel}': {message}")]
    DoesNotFit {
        /// The kernel.
        kernel: String,
        /// Why.
        message: String,
    },
    /// A kernel definition or a model config (TOML) that is malformed: `file:line:col: key:
    /// message`.
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    /// A model that cannot run as asked (no file is at fault).
    #[error("{file}: {message}")]
    Model {
        /// The model's name.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// Running the lowered program failed.
    #[error(transparent)]
    Chip(#[from] crate::chip::Error),
}

/// Result of the kernel library.
pub type Result<T> = std::result::Result<T, Error>;
