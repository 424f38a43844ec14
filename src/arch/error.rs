//! Errors of the hardware-description layer. A description read from a file (or a preset, or
//! changed by `--hw-set`) that is wrong is a located [`crate::config::Error`]; the variants
//! here are the problems no file position belongs to.

/// What can go wrong loading or overriding a hardware description.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not a preset name.
    #[error(
        "unknown hardware preset '{name}'; expected one of: {valid} (or a path to a .toml file)"
    )]
    UnknownPreset {
        /// The name given.
        name: String,
        /// The presets.
        valid: String,
    },
    /// A description or override that does not parse, does not match the schema, or has a
    /// value no design could have: `file:line:col: key: message`, or `file (--hw-set): key:
    /// message` when the value was typed on the command line.
    #[error(transparent)]
    Config(#[from] crate::config::Error),
    /// An override argument that is not `FIELD=VALUE`.
    #[error("--hw-set: expected FIELD=VALUE, found '{}'", .0.found)]
    Override(#[from] crate::config::PairError),
    /// The file could not be read.
    #[error("{file}: {message}")]
    Io {
        /// File.
        file: String,
        /// The OS error.
        message: String,
    },
}

/// A field with a value no design could have, found by [`super::Hardware::validate`] before
/// the description's document locates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Dotted path of the field.
    pub field: String,
    /// What is wrong and what was expected.
    pub message: String,
}

/// Result of the hardware layer.
pub type Result<T> = std::result::Result<T, Error>;
