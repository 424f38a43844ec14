//! The commands behind the `trnsim` binary, as library functions that take the parsed options and
//! the streams to read and write. `src/main.rs` only parses arguments and dispatches here, so
//! every command is testable without a process.

pub mod demo;
pub mod dtype;
pub mod hw;
pub mod kernel;
pub mod model;
pub mod plan;
pub mod run;
pub mod sweep;
pub mod systolic;

use std::io;

/// Errors of the command layer, each with its process exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input (a value, a file, an option): exit code 2.
    #[error("{0}")]
    Input(String),
    /// A numerics error caused by the user's input: exit code 2.
    #[error(transparent)]
    Numerics(#[from] crate::numerics::Error),
    /// A check the user asked for failed: exit code 1.
    #[error("{0}")]
    CheckFailed(String),
    /// Writing the output failed (a closed pipe is not an error).
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// The process exit code: 1 a failed check, 2 bad input or usage or I/O.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::CheckFailed(_) => 1,
            _ => 2,
        }
    }
}

/// Result of the command layer.
pub type Result<T> = std::result::Result<T, Error>;

/// Write a file atomically: to a temporary file beside it, then renamed into place, so a failure
/// never leaves a partial file.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    crate::atomic::write(path, |w| std::io::Write::write_all(w, bytes))
        .map_err(|e| Error::Input(format!("{}: {e}", path.display())))
}
