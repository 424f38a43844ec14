//! # trnsim
//!
//! A simulator of Trainium-style ML accelerators and of the fleets built from them.
//!
//! The crate is organised by concept:
//!
//! - [`numerics`]: the hardware's storage formats (bf16, fp16, four fp8 flavours) and bit-exact
//!   conversion into them, with round-to-nearest-even or seeded stochastic rounding and a choice of
//!   overflow behaviour, matching `ml_dtypes` bit for bit.
//! - [`arch`]: hardware presets (trn1, trn2, trn3, or a TOML file): every constant of the timing
//!   model, each with its source.
//! - [`isa`]: the NKI-style instruction set, tiles, and the kernel-trace text format.
//! - [`chip`]: resource checks, the timing plan and event-driven simulation, functional execution,
//!   the run report and the Perfetto timeline.
//! - [`fleet`]: the fleet capacity scheduler: a discrete-event simulation of tenants, quotas,
//!   reservations in time, preemption and gang placement on a growing Trainium fleet.
//! - [`systolic`]: systolic design-space mode: closed-form layer timing of any R x C array
//!   (ws/os/is), SCALE-Sim compatible, beside the Trainium-style engine.
//! - [`config`]: input files read with their places, `--set` overrides, and one located error.
//! - `report`: tabular results rendered as a table for people, or JSON / CSV for programs.
//! - [`cli`]: the commands of the `trnsim` binary as library functions; `atomic`: file output
//!   that never leaves a partial file.
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
//!
//! Running a kernel: parse a trace, pick a preset, simulate (and compute).
//!
//! ```
//! use trnsim::{arch::Hardware, chip, isa::parse::parse};
//!
//! let trace = "trnsim-trace 1
//! kernel scale
//! buffer x sbuf bf16 [128, 512] normal(mean=0, std=1, seed=7)
//! buffer y sbuf bf16 [128, 512] zeros
//! tensor_scalar dst=y[0:128, 0:512] src=x[0:128, 0:512] op0=mul scalar0=2
//! ";
//! let program = parse(trace, "scale.trace")?;
//! let hw = Hardware::preset("trn2")?;
//! let opts = chip::RunOptions { data: true, ..Default::default() };
//! let run = chip::run(&program, &hw, "scale.trace", &[], &opts)?;
//! // Vector engine, bf16: 512 lanes = 4 elements per partition per cycle, max(64, 512 / 4) = 128
//! // cycles at 960 MHz, then 60 cycles of access latency.
//! assert_eq!(run.schedule.total_ps, 133_334 + 62_500);
//! let state = run.state.expect("ran with data");
//! let (x, y) = (state.values(program.buffer_id("x").unwrap()), state.values(program.buffer_id("y").unwrap()));
//! assert!(x.iter().zip(y).all(|(a, b)| *b == 2.0 * *a));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
#![warn(unreachable_pub)]

pub mod arch;
pub(crate) mod atomic;
pub mod chip;
pub mod cli;
pub mod config;
pub mod fleet;
pub mod isa;
pub mod kernels;
pub mod numerics;
pub(crate) mod progress;
pub(crate) mod report;
pub(crate) mod stage;
pub mod sweep;
pub mod systolic;
pub mod validate;
pub mod workload;

/// The README's Rust examples are compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
