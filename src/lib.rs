//! # trnsim
//!
//! A simulator of Trainium-style ML accelerators and of the fleets built from them.
//!
//! The crate is organised by concept:
//!
//! - [`numerics`]: the hardware's storage formats (bf16, fp16, four fp8 flavours) and bit-exact
//!   conversion into them, with round-to-nearest-even or seeded stochastic rounding and a choice of
//!   overflow behaviour, matching `ml_dtypes` bit for bit.
//! - [`report`]: tabular results rendered as a table for people, or JSON / CSV for programs.
//!
//! The library never prints and never opens a file it was not handed; the `trnsim` binary parses
//! the command line and dispatches here.
//!
//! ```
//! use trnsim::numerics::{Cast, DType, Overflow};
//!
//! let e4m3fn: DType = "fp8_e4m3fn".parse()?;
//! // 500 is beyond e4m3fn's largest finite value (448): ml_dtypes gives NaN, saturation gives 448.
//! assert!(e4m3fn.decode(Cast::new(e4m3fn).encode(500.0, 0)).is_nan());
//! let sat = Cast::new(e4m3fn).overflow(Overflow::Saturate);
//! assert_eq!(sat.encode(500.0, 0), 0x7e);
//! assert_eq!(sat.round(500.0, 0), 448.0);
//! # Ok::<(), trnsim::numerics::Error>(())
//! ```

#![warn(missing_docs)]

pub mod arch;
pub mod atomic;
pub mod chip;
pub mod cli;
pub mod isa;
pub mod numerics;
pub mod report;

/// The README's Rust examples are compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
