//! The commands behind the `trnsim` binary, as library functions that take the parsed options and
//! the streams to read and write.
//!
//! Lifecycle of a command: (1) clap parses the command line straight into the argument types
//! here (`run::RunArgs`, `plan::PlanArgs`, ...; `src/main.rs` only names the commands); (2) the
//! command resolves them (hardware, scenario, kernel parameters), refusing a flag spelled the way
//! another command spells it; (3) the library runs; (4) the domain's report module makes the
//! tables, charts and HTML as values (`crate::fleet::report`, `crate::sweep::report`); (5) the
//! command writes the files and returns the text for stdout. Every command is testable without a
//! process, and every failure stays a typed [`Error`] whose variant gives the exit code.

pub mod demo;
pub mod dtype;
pub mod hw;
pub mod import;
pub mod kernel;
pub mod model;
pub mod nki;
pub mod plan;
pub mod run;
pub mod sweep;
pub mod systolic;
pub mod validate;

use std::io::{self, Write};
use std::path::PathBuf;

/// Print a warning on stderr (`trnsim: warning: ...`) when the log level lets warnings through
/// (not with `-q`, or a `RUST_LOG` that filters them). A full or closed stderr loses the line
/// rather than panicking.
pub(crate) fn warn(message: impl std::fmt::Display) {
    if tracing::enabled!(target: "trnsim", tracing::Level::WARN) {
        let _ = writeln!(io::stderr(), "trnsim: warning: {message}");
    }
}

/// Errors of the command layer, each with its process exit code. A layer's error is kept as it
/// is (its message printed unchanged, its source chain intact).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input the command itself found (a value, a combination of options): exit code 2.
    #[error("{0}")]
    Input(String),
    /// A flag spelled as another command spells it, with the flag meant here: exit code 2.
    #[error("{flag} is for {meaning}; {hint}")]
    Flag {
        /// The flag given (`--set`).
        flag: &'static str,
        /// What that flag means where it is accepted.
        meaning: &'static str,
        /// The spelling this command takes, with the user's value.
        hint: String,
    },
    /// A file named on the command line could not be read or created: exit code 2.
    #[error("{}: {source}", path.display())]
    File {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// An input file that is not UTF-8 text (located at its first bad byte): exit code 2.
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    /// A numerics error caused by the user's input: exit code 2.
    #[error(transparent)]
    Numerics(#[from] crate::numerics::Error),
    /// A hardware description or override that is wrong: exit code 2.
    #[error(transparent)]
    Hardware(#[from] crate::arch::Error),
    /// A trace that does not parse: exit code 2.
    #[error(transparent)]
    Trace(#[from] crate::isa::Error),
    /// A program the chip model refuses, or a run input that does not fit: exit code 2.
    #[error(transparent)]
    Chip(#[from] crate::chip::Error),
    /// A kernel or model that cannot be chosen, lowered or run: exit code 2.
    #[error(transparent)]
    Kernel(#[from] crate::kernels::Error),
    /// A SCALE-Sim input or array that is wrong: exit code 2.
    #[error(transparent)]
    Systolic(#[from] crate::systolic::Error),
    /// A scenario that is wrong (exit code 2), or a broken invariant of the run (exit code 1).
    #[error(transparent)]
    Fleet(#[from] crate::fleet::Error),
    /// A sweep specification, shard or grid point that is wrong: exit code 2.
    #[error(transparent)]
    Sweep(#[from] crate::sweep::Error),
    /// A check the user asked for failed: exit code 1.
    #[error("{0}")]
    CheckFailed(String),
    /// A helper program (the NKI front end) failed in a way that is not the input's fault: exit
    /// code 1.
    #[error("internal error: {0}")]
    Internal(String),
    /// Writing the output failed (a closed pipe is not an error).
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    /// The process exit code: 1 a failed check (or a broken fleet invariant, or an internal error
    /// of the NKI front end), 2 bad input or
    /// usage or I/O.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::CheckFailed(_)
            | Error::Internal(_)
            | Error::Fleet(crate::fleet::Error::Invariant { .. }) => 1,
            _ => 2,
        }
    }

    /// A file error naming the path.
    pub(crate) fn file(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::File { path, source }
    }
}

/// Result of the command layer.
pub type Result<T> = std::result::Result<T, Error>;

/// Read a file named on the command line (invalid UTF-8 located at its first bad byte).
pub(crate) fn read(path: &std::path::Path) -> Result<String> {
    read_limited(path, crate::config::MAX_TEXT_INPUT_BYTES)
}

/// Read a text input of at most `limit_bytes` ([`crate::config::read_bounded`]); invalid UTF-8 is
/// located at its first bad byte.
pub(crate) fn read_limited(path: &std::path::Path, limit_bytes: u64) -> Result<String> {
    let bytes = crate::config::read_bounded(path, limit_bytes).map_err(|e| {
        if e.kind() == io::ErrorKind::InvalidData {
            Error::Input(format!("{}: {e}", path.display()))
        } else {
            Error::File {
                path: path.into(),
                source: e,
            }
        }
    })?;
    Ok(crate::config::decode(bytes, &path.display().to_string())?)
}

/// Create a directory named on the command line (and its parents).
pub(crate) fn create_dir(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::file(dir))
}

/// Write a file atomically: to a temporary file beside it, then renamed into place, so a failure
/// never leaves a partial file.
pub(crate) fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    crate::atomic::write(path, |w| std::io::Write::write_all(w, bytes)).map_err(Error::file(path))
}
