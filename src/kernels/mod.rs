//! The kernel library: parameterized kernels lowered to traces the way NKI's best samples are
//! written (SBUF blocking sized to the preset, double-buffered loads spread over the DMA queues,
//! fp32 accumulation in PSUM, evacuation on the Vector and Scalar engines), then run on the chip
//! simulator. Transformer models built from them live in [`crate::workload`].
//!
//! Each kernel has a definition in `kernels/NAME.toml` (parameters, defaults, ranges; embedded
//! in the binary) and a lowering in `src/kernels/NAME.rs` with an f64 reference of what it
//! computes, so every kernel can be checked numerically ([`check`]).

mod activation;
mod attention;
mod builder;
mod conv2d;
pub mod def;
mod elementwise;
mod error;
mod matmul;
mod mlp;
mod norm;
mod quant;
mod rows;
mod softmax;
mod transpose;
pub mod work;

pub use def::{KernelDef, Params};
pub use error::{Error, Result};

use ndarray::ArrayD;

use crate::arch::Hardware;
use crate::chip::exec::DataState;
use crate::isa::Program;
use crate::numerics::DType;

/// A kernel: its definition, its lowering and its reference.
pub trait Kernel: Sync {
    /// The definition's TOML text (`kernels/NAME.toml`).
    fn definition(&self) -> &'static str;

    /// Lower to a program for `hw`.
    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program>;

    /// The expected value of every output buffer (by name), computed in f64 from the input
    /// buffers' values (`input(name)`, already rounded to their dtypes).
    fn reference(
        &self,
        p: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)>;

    /// The largest acceptable error relative to the largest reference magnitude: the output
    /// dtype's rounding plus what the reductions and intermediate casts add.
    fn tolerance(&self, p: &Params) -> f64;
}

/// Every kernel, in the order `trnsim kernel list` shows them.
pub fn all() -> &'static [&'static dyn Kernel] {
    &[
        &matmul::Matmul,
        &matmul::Bmm,
        &elementwise::Elementwise,
        &activation::Activation,
        &softmax::Softmax,
        &norm::LayerNorm,
        &norm::RmsNorm,
        &transpose::Transpose,
        &quant::Quantize,
        &quant::Dequantize,
        &conv2d::Conv2d,
        &attention::Attention,
        &mlp::Mlp,
    ]
}

/// A kernel's parsed definition.
pub fn definition(k: &dyn Kernel) -> KernelDef {
    KernelDef::from_toml(k.definition(), "kernels/<embedded>.toml")
        .expect("embedded definitions are valid (tested)")
}

/// The kernel called `name`.
pub fn find(name: &str) -> Result<(&'static dyn Kernel, KernelDef)> {
    for &k in all() {
        let d = definition(k);
        if d.name == name {
            return Ok((k, d));
        }
    }
    Err(Error::UnknownKernel {
        name: name.to_string(),
        valid: all()
            .iter()
            .map(|&k| definition(k).name)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Look up a kernel, set its parameters and lower it.
pub fn lower(name: &str, set: &[(String, String)], hw: &Hardware) -> Result<(Params, Program)> {
    let (k, d) = find(name)?;
    let p = d.params(set)?;
    let program = k.lower(&p, hw)?;
    Ok((p, program))
}

/// [`lower`], refused before lowering when the parameters ask for more work than `limits`
/// ([`work::check`]; `values`: the run computes values).
pub fn lower_within(
    name: &str,
    set: &[(String, String)],
    hw: &Hardware,
    limits: &work::Limits,
    values: bool,
) -> Result<(Params, Program)> {
    let (k, d) = find(name)?;
    let p = d.params(set)?;
    work::check(&p, limits, values)?;
    let program = k.lower(&p, hw)?;
    Ok((p, program))
}

/// The outcome of comparing a run's outputs with the f64 reference.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct CheckReport {
    /// Largest absolute error over all outputs.
    pub max_abs_err: f64,
    /// `max_abs_err` relative to the largest reference magnitude.
    pub max_rel_err: f64,
    /// The limit on `max_rel_err`.
    pub tolerance: f64,
    /// Elements compared.
    pub elements: usize,
    /// Whether the error is within the tolerance and every output and reference value is
    /// finite.
    pub passed: bool,
}

/// Compare the outputs of a run (`state`) with kernel `k`'s reference.
pub fn check(k: &dyn Kernel, p: &Params, program: &Program, state: &DataState) -> CheckReport {
    let input = |name: &str| {
        let id = program
            .buffer_id(name)
            .unwrap_or_else(|| panic!("kernel reference asks for unknown buffer '{name}'"));
        let shape = program.buffer(id).shape.clone();
        let v: Vec<f64> = state.values(id).iter().map(|&x| x as f64).collect();
        ArrayD::from_shape_vec(shape, v).expect("buffer values match its shape")
    };
    let expected = k.reference(p, &input);
    let mut pairs = Vec::new();
    for (name, want) in &expected {
        let got = input(name);
        assert_eq!(
            got.len(),
            want.len(),
            "reference of '{name}' has the output's size"
        );
        pairs.extend(got.iter().copied().zip(want.iter().copied()));
    }
    compare(pairs, k.tolerance(p))
}

/// Compare (got, want) pairs: the largest absolute error relative to the largest reference
/// magnitude, against `tolerance` (the one rule of `kernel run --check` and `nki --check-against`).
pub fn compare(pairs: impl IntoIterator<Item = (f64, f64)>, tolerance: f64) -> CheckReport {
    let (mut max_abs, mut max_ref, mut elements, mut nan) = (0.0f64, 0.0f64, 0, false);
    for (g, w) in pairs {
        // A non-finite value on either side means the comparison says nothing (an fp8
        // overflow on both sides would otherwise pass): it fails.
        if !g.is_finite() || !w.is_finite() {
            nan = true;
        }
        max_abs = max_abs.max((g - w).abs());
        max_ref = max_ref.max(w.abs());
        elements += 1;
    }
    let max_rel = if max_ref > 0.0 {
        max_abs / max_ref
    } else {
        max_abs
    };
    CheckReport {
        max_abs_err: max_abs,
        max_rel_err: max_rel,
        tolerance,
        elements,
        passed: !nan && max_rel <= tolerance,
    }
}

/// Unit roundoff of a dtype (half its epsilon): the relative error of one rounding.
pub(crate) fn unit_roundoff(d: DType) -> f64 {
    d.epsilon() as f64 / 2.0
}

/// Round an f64 reference value the way a store to `d` would (for references that store
/// intermediates, such as attention's probabilities).
pub(crate) fn round_to(d: DType, x: f64) -> f64 {
    crate::numerics::Cast::new(d).round(x as f32, 0) as f64
}
