//! Errors of the workload layer: a workload that does not check, or a kernel of its step that
//! does not run.

/// Errors of the workload layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A workload field is invalid.
    #[error("workload '{name}': {message}")]
    Invalid {
        /// The workload's model (`llama3-8b`, ...).
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Simulating a kernel failed.
    #[error("workload '{name}': {source}")]
    Kernel {
        /// The workload's model (`llama3-8b`, ...).
        name: String,
        /// Why the kernel did not run.
        source: crate::kernels::Error,
    },
}

/// Result of the workload layer.
pub type Result<T> = std::result::Result<T, Error>;
