//! Errors of the hardware-description layer.

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
    /// The TOML does not parse or does not match the schema.
    #[error("{file}:{line}:{column}: {message}")]
    Toml {
        /// File.
        file: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column.
        column: usize,
        /// What was wrong.
        message: String,
    },
    /// A field with a value no design could have.
    #[error("hardware field {field}: {message}")]
    Invalid {
        /// Dotted path of the field.
        field: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The file could not be read.
    #[error("{file}: {message}")]
    Io {
        /// File.
        file: String,
        /// The OS error.
        message: String,
    },
}

/// Result of the hardware layer.
pub type Result<T> = std::result::Result<T, Error>;
