//! Workloads: transformer models, their steps as kernels, and what a step costs on a chip.
//!
//! The lifecycle, one file per stage:
//!
//! 1. `model.rs`: a model config (`kernels/models/*.toml`, the shipped ones embedded) is read and
//!    checked into a [`ModelConfig`]: its shapes.
//! 2. `phase.rs`: what a step does, [`Phase`] (train, prefill, decode): one enum for the model's
//!    kernels, the cost model, scenario files and the command line.
//! 3. `layer.rs`: a [`Step`] (a phase and its sizes) of a model becomes kernel invocations: one
//!    decoder layer's, and the head's once per step.
//! 4. `report.rs`: each invocation is lowered and run timing-only on the chip simulator into a
//!    [`ModelReport`] (`trnsim model run`; [`run_model`]).
//! 5. `spec.rs`: a [`Workload`] as a scenario writes it (model, phase, batch, seq, steps, dtype,
//!    tp, dp) is checked into a model config and a dtype.
//! 6. `parallel.rs` and `cost.rs`: a core's shard of the model under tensor parallelism is run as
//!    in 4, alpha-beta ring all-reduces are added, and the [`StepTime`] is memoized by shape in a
//!    [`CostModel`].
//!
//! The fleet's table of step times per (workload, generation) is
//! [`crate::fleet::WorkloadRunTime`], filled through a [`CostModel`].

mod cost;
mod error;
mod layer;
mod model;
mod parallel;
mod phase;
mod report;
mod spec;

pub use cost::{CostModel, StepTime};
pub use error::{Error, Result};
pub use layer::Step;
pub(crate) use model::KEYS as MODEL_KEYS;
pub use model::{ModelConfig, SHIPPED};
pub use phase::Phase;
pub use report::{ModelReport, ModelTotal, Row, Total, run_model};
pub use spec::{FieldError, Workload};
