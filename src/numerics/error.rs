//! Errors of the numerics layer.

use std::path::PathBuf;

use super::DType;

/// What can go wrong in numerics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dtype name that is not known.
    #[error("unknown dtype '{name}'; expected one of: {valid}")]
    UnknownDType {
        /// The name given.
        name: String,
        /// All valid names.
        valid: String,
    },
    /// A slice API was called with a dtype of another width.
    #[error("{dtype} is not a {bits}-bit format")]
    WidthMismatch {
        /// The cast's dtype.
        dtype: DType,
        /// The width the call needs.
        bits: u32,
    },
    /// Source and destination slices differ in length.
    #[error("source has {src} elements but destination has {dst}")]
    LengthMismatch {
        /// Source length.
        src: usize,
        /// Destination length.
        dst: usize,
    },
    /// A value in a tensor is not representable in its dtype.
    #[error("element {index} = {value} is not a {dtype} value")]
    NotRepresentable {
        /// Flat element index.
        index: usize,
        /// The value that does not fit.
        value: f32,
        /// The tensor's dtype.
        dtype: DType,
    },
    /// An .npy file could not be read or written or has the wrong element type.
    #[error("{path}: {message}")]
    Npy {
        /// The file.
        path: PathBuf,
        /// What was wrong, and what was expected.
        message: String,
    },
}

/// Result of the numerics layer.
pub type Result<T> = std::result::Result<T, Error>;
