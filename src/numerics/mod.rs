//! Numerics: the storage formats of the hardware and bit-exact conversion into them.
//!
//! Reference behaviour is `ml_dtypes` (bit for bit, tested exhaustively); see [`Cast`] for the API.

mod cast;
pub(crate) mod codec;
mod dtype;
mod error;
mod math;
pub mod mx;
pub mod npy;
mod tensor;

pub use cast::{Cast, random_u32};
pub use codec::{Overflow, Rounding};
pub use dtype::{DType, DTypeInfo, valid_names};
pub use error::{Error, Result};
pub use math::erf;
pub use tensor::Tensor;

/// Format a value the way trnsim prints numbers for people: the shortest text that reads back
/// to the same `f32`, in scientific notation when the plain form would be long.
pub(crate) fn format_value(x: f32) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = x.abs();
    if a == 0.0 || (1e-4..1e16).contains(&a) {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}
