//! The chip simulator: resource checks, the timing model and functional execution.

mod error;
pub mod exec;

pub use error::{Error, Result};
