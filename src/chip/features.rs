//! Hardware features a trace may use only where the preset has them (NeuronCore-v4's wide
//! moving free size and Vector `exponential`): each check names the preset, the feature and
//! the field that would enable it, so a trace written for trn3 fails on trn2 at its line.

use crate::arch::Hardware;
use crate::numerics::DType;

/// Whether a matmul's destination may span consecutive PSUM banks (NeuronCore-v4's moving
/// free size up to 4096 fp32 / 8192 bf16).
pub(crate) fn wide_moving(hw: &Hardware) -> bool {
    hw.pe.moving_free_max_fp32_out > 0 || hw.pe.moving_free_max_bf16_out > 0
}

/// The largest moving free size of a matmul writing `out` on `hw`, and the field that sets it.
fn moving_limit(hw: &Hardware, out: DType) -> (u32, &'static str) {
    let pe = &hw.pe;
    let (wide, field) = match out.size_bytes() {
        2 => (pe.moving_free_max_bf16_out, "pe.moving_free_max_bf16_out"),
        _ => (pe.moving_free_max_fp32_out, "pe.moving_free_max_fp32_out"),
    };
    if wide > pe.moving_free_max {
        (wide, field)
    } else {
        (pe.moving_free_max, "pe.moving_free_max")
    }
}

/// A matmul of moving free size `n` into a destination of dtype `out`.
pub(crate) fn check_moving_free(hw: &Hardware, n: usize, out: DType) -> Result<(), String> {
    let (lim, field) = moving_limit(hw, out);
    if n <= lim as usize {
        return Ok(());
    }
    let mut msg = format!("matmul moving free size {n} exceeds {lim} ({field})");
    if !wide_moving(hw) {
        msg.push_str(&format!(
            "; '{}' has no wide moving free size (pe.moving_free_max_fp32_out = 0: up to 4096 \
             fp32 / 8192 bf16 out across PSUM banks is a NeuronCore-v4 feature, trn3)",
            hw.name
        ));
    }
    Err(msg)
}

/// A Vector `exponential`: the preset's Vector engine must have it.
pub(crate) fn check_exponential(hw: &Hardware) -> Result<(), String> {
    if hw.costs.vector_exp_speedup > 0 {
        return Ok(());
    }
    Err(format!(
        "exponential needs a Vector engine with exponential (costs.vector_exp_speedup > 0, a \
         NeuronCore-v4 feature, trn3); '{}' has none: use activation func=exp on the Scalar engine",
        hw.name
    ))
}
