//! Systolic design-space mode: layer-level timing of an R x C systolic array of any size under
//! the `ws`, `os` and `is` dataflows, for GEMM and convolution layers, in closed form.
//!
//! Two settings time the same folds:
//!
//! - [`scalesim`]: SCALE-Sim v3.0.0's convention (no weight preload overlap, stall-free memory):
//!   its "Total Cycles", "Overall Util %", "Mapping Efficiency %" and "Compute Util %" columns,
//!   bit for bit.
//! - [`trainium`]: the tensor engine as the trn presets model it (LoadStationary in the
//!   background of the previous pass, pipelined folds, the issue-interval floor), with the
//!   analytic SRAM/DRAM model of `memory` adding stall cycles when a bandwidth is given.
//!
//! Inputs are SCALE-Sim's own files: [`config`] (`*.cfg`) and [`topology`] (`*.csv`, the
//! convolution and the `Layer, M, N, K` GEMM forms). Every layer costs O(1) (O(folds) for
//! SCALE-Sim's floating-point averages, which it sums fold by fold); nothing is simulated cycle
//! by cycle and nothing is allocated per fold.
//!
//! ```
//! use trnsim::systolic::{self, Array, Dataflow, Gemm, Memory, TrainiumParams};
//!
//! let gemm = Gemm::new(1024, 1024, 1024)?;
//! let array = Array::new(128, 128)?;
//! let textbook = systolic::scalesim::layer(&gemm, array, Dataflow::Ws)?;
//! // 64 folds of 2*128 + 128 + 1024 - 2 cycles, SCALE-Sim's Total Cycles is the last index.
//! assert_eq!(textbook.total_cycles, 64 * 1406 - 1);
//! let trn = systolic::trainium::layer(&gemm, array, Dataflow::Ws, Memory::default(),
//!                                     &TrainiumParams::default())?;
//! // Weights load in the background: 32 to load the first, 64 x 1024 streaming, 128 to drain.
//! assert_eq!(trn.total_cycles, 32 + 64 * 1024 + 128);
//! # Ok::<(), trnsim::systolic::Error>(())
//! ```

pub mod config;
pub mod error;
pub(crate) mod memory;
pub(crate) mod model;
pub mod scalesim;
pub mod topology;
pub mod trainium;

pub use config::Config;
pub use error::{Error, Result};
pub use memory::Memory;
pub use model::{Array, Dataflow, Gemm, LayerTiming};
pub use topology::{Layer, Topology};
pub use trainium::TrainiumParams;

/// Which settings to time a layer in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// SCALE-Sim v3.0.0's stall-free convention only.
    Scalesim,
    /// The Trainium-style setting only.
    Trainium,
    /// Both, side by side.
    #[default]
    Both,
}

/// The machine a topology runs on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Machine {
    /// The PE array.
    pub array: Array,
    /// Which operand stays in the PEs: weights (ws), outputs (os) or inputs (is).
    pub dataflow: Dataflow,
    /// SRAMs and DRAM bandwidth (used by the Trainium-style setting).
    pub memory: Memory,
    /// Tensor-engine constants of the Trainium-style setting.
    pub trainium: TrainiumParams,
}

/// One layer's result in the requested settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerReport {
    /// Layer index (SCALE-Sim's LayerID).
    pub id: usize,
    /// Layer name.
    pub name: String,
    /// The GEMM the layer is.
    pub gemm: Gemm,
    /// SCALE-Sim's convention, when requested.
    pub scalesim: Option<LayerTiming>,
    /// The Trainium-style setting, when requested.
    pub trainium: Option<LayerTiming>,
}

/// Time one GEMM in the requested settings.
pub fn time_layer(
    id: usize,
    name: &str,
    gemm: &Gemm,
    machine: &Machine,
    mode: Mode,
) -> Result<LayerReport> {
    let scalesim = match mode {
        Mode::Scalesim | Mode::Both => {
            Some(scalesim::layer(gemm, machine.array, machine.dataflow)?)
        }
        Mode::Trainium => None,
    };
    let trainium = match mode {
        Mode::Trainium | Mode::Both => Some(trainium::layer(
            gemm,
            machine.array,
            machine.dataflow,
            machine.memory,
            &machine.trainium,
        )?),
        Mode::Scalesim => None,
    };
    Ok(LayerReport {
        id,
        name: name.to_string(),
        gemm: *gemm,
        scalesim,
        trainium,
    })
}

/// Time every layer of a topology read from `file` (which names it in errors: a layer too large
/// for the array is reported at its line).
pub fn time_topology(
    topology: &Topology,
    file: &str,
    machine: &Machine,
    mode: Mode,
) -> Result<Vec<LayerReport>> {
    topology
        .layers
        .iter()
        .enumerate()
        .map(|(id, l)| {
            time_layer(id, &l.name, &l.gemm, machine, mode).map_err(|e| match e {
                Error::Invalid { field, message } => Error::parse(file, l.line, field, message),
                other => other,
            })
        })
        .collect()
}
