//! Functional execution (placeholder until the executor lands from the parallel branch).
use super::Result;
use crate::isa::{BufferId, Program};
use crate::numerics::{Rounding, Tensor};
/// Options.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExecOptions {
    /// Rounding.
    pub rounding: Rounding,
    /// Seed.
    pub seed: u64,
}
/// State.
pub struct DataState {
    /// Buffers.
    pub buffers: Vec<Vec<f32>>,
}
impl DataState {
    /// New.
    pub fn new(program: &Program, _inputs: &[(BufferId, Tensor)]) -> Result<Self> {
        Ok(DataState {
            buffers: program
                .buffers
                .iter()
                .map(|b| vec![0.0; b.elems()])
                .collect(),
        })
    }
}
impl DataState {
    /// Tensor.
    pub fn tensor(&self, program: &Program, id: BufferId) -> Tensor {
        let b = program.buffer(id);
        Tensor::from_f32(
            ndarray::ArrayD::from_shape_vec(b.shape.clone(), self.buffers[id.0 as usize].clone())
                .unwrap(),
            crate::numerics::Cast::new(b.dtype),
        )
    }
}
/// Execute.
pub fn execute(_p: &Program, _s: &mut DataState, _o: &ExecOptions) -> Result<()> {
    Ok(())
}
