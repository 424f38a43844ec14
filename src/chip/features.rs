//! Hardware features a trace may use only where the preset has them (PE array tiling,
//! NeuronCore-v4's wide moving free size, background transpose and Vector `exponential`): each
//! check names the preset, the feature and the field that would enable it, so a trace written
//! for trn3 fails on trn2 at its line.

use crate::arch::Hardware;
use crate::isa::{Memory, MxMatmul, PeTile, Program, Tile};
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

/// A matmul on PE tile `t` with contraction `k` and stationary free size `m`: the preset tiles
/// its array that finely, the tile is a 32/64/128 square-aligned part of the array, the operands
/// fit it, and an fp8 double-row matmul keeps every column (NKI: double_row cannot be combined
/// with column tiling).
pub(crate) fn check_tile(
    hw: &Hardware,
    t: &PeTile,
    k: usize,
    m: usize,
    double_row: bool,
) -> Result<(), String> {
    let pe = &hw.pe;
    if pe.tile_min_size == 0 {
        return Err(format!(
            "matmul tile_size needs a tiled PE array (pe.tile_min_size > 0: 2 x 64 from \
             NeuronCore-v2, 4 x 32 from v3); '{}' has none",
            hw.name
        ));
    }
    for (what, pos, size, total) in [
        ("rows", t.row, t.rows, pe.rows),
        ("columns", t.col, t.cols, pe.cols),
    ] {
        let (pos, size) = (pos as u32, size as u32);
        let sizes = [total, total / 2, total / 4];
        if !sizes.contains(&size) || size < pe.tile_min_size {
            let ok: Vec<String> = sizes
                .iter()
                .filter(|&&s| s >= pe.tile_min_size && s > 0)
                .map(|s| s.to_string())
                .collect();
            return Err(format!(
                "matmul tile of {size} {what}: '{}' tiles its {total} PE {what} into {} \
                 (pe.tile_min_size = {})",
                hw.name,
                ok.join(", "),
                pe.tile_min_size
            ));
        }
        if pos % size != 0 || pos + size > total {
            return Err(format!(
                "matmul tile of {size} {what} at {pos}: the position is a multiple of the size \
                 within the array's {total} {what}"
            ));
        }
    }
    if k > t.rows as usize || m > t.cols as usize {
        return Err(format!(
            "matmul of K = {k}, M = {m} does not fit its tile of {} rows x {} columns",
            t.rows, t.cols
        ));
    }
    if double_row && (t.cols as u32) < pe.cols {
        return Err(
            "an fp8 double-row matmul cannot use column tiling (tile_size columns must be the \
             whole array)"
                .to_string(),
        );
    }
    Ok(())
}

/// A background transpose: the preset's PE array must transpose while it multiplies.
pub(crate) fn check_background(hw: &Hardware) -> Result<(), String> {
    if hw.pe.background_transpose {
        return Ok(());
    }
    Err(format!(
        "transpose background=true needs the PE array's background transpose \
         (pe.background_transpose, a NeuronCore-v4 feature, trn3); '{}' has none",
        hw.name
    ))
}

/// An MX matmul (NKI `nc_matmul_mx`): the preset's PE array has it, operands in SBUF of the
/// format's storage dtype, dst in PSUM (fp32 or bf16), K = 4P with P a multiple of 32 up to
/// `contraction_max`, stationary `[P, 4M]`, moving `[P, 4N]`, scales `[P/8, M]` and `[P/8, N]`.
pub(crate) fn check_mx(hw: &Hardware, p: &Program, t: &MxMatmul) -> Result<(), String> {
    use crate::numerics::mx::{MX_GROUP_PARTITIONS as G, MX_PACK};
    if !hw.pe.mx_matmul {
        return Err(format!(
            "an MX matmul (stationary_scale=, moving_scale=, mx=) needs the PE array's MX \
             matmul (pe.mx_matmul, a NeuronCore-v4 feature, trn3); '{}' has none",
            hw.name
        ));
    }
    let buf = |x: &Tile| p.buffer(x.buffer);
    let fmt = t.format;
    let operands = [
        ("stationary", &t.stationary),
        ("moving", &t.moving),
        ("stationary_scale", &t.stationary_scale),
        ("moving_scale", &t.moving_scale),
    ];
    for (role, x) in operands {
        if buf(x).memory != Memory::Sbuf {
            return Err(format!(
                "MX matmul {role} '{}' must be in SBUF",
                buf(x).name
            ));
        }
    }
    for (role, x) in &operands[..2] {
        if buf(x).dtype != fmt.storage() {
            return Err(format!(
                "mx={} needs {role} in {} (the format's element storage), found '{}' in {}",
                fmt.name(),
                fmt.storage(),
                buf(x).name,
                buf(x).dtype
            ));
        }
    }
    let out = buf(&t.dst);
    if out.memory != Memory::Psum || !matches!(out.dtype, DType::Float32 | DType::BFloat16) {
        return Err(format!(
            "MX matmul destination '{}' must be a float32 or bfloat16 PSUM tile",
            out.name
        ));
    }
    let (np, m, n) = (t.stationary.np(), t.dst.np(), t.dst.free_size());
    let pe = &hw.pe;
    if t.moving.np() != np || np % 32 != 0 || np > pe.contraction_max as usize {
        return Err(format!(
            "MX matmul operands need the same partition count, a multiple of 32 up to {} \
             (pe.contraction_max; K = {MX_PACK} x partitions), found {np} and {}",
            pe.contraction_max,
            t.moving.np()
        ));
    }
    if t.stationary.free_size() != MX_PACK * m || t.moving.free_size() != MX_PACK * n {
        return Err(format!(
            "MX matmul into a [{m}, {n}] destination needs stationary [{np}, {}] and moving \
             [{np}, {}] ({MX_PACK} packed values per element), found [{np}, {}] and [{np}, {}]",
            MX_PACK * m,
            MX_PACK * n,
            t.stationary.free_size(),
            t.moving.free_size()
        ));
    }
    // NKI nc_matmul_mx: stationary free size even, at most 128; moving up to 512 with an fp32
    // destination, 1024 with bf16 (one PSUM bank).
    let n_max = pe.moving_free_max as usize * 4 / out.dtype.size_bytes();
    if m % 2 != 0 || m > pe.stationary_free_max as usize || n > n_max {
        return Err(format!(
            "MX matmul [{m}, {n}]: M must be even and at most {} (pe.stationary_free_max), N at \
             most {n_max} with a {} destination",
            pe.stationary_free_max, out.dtype
        ));
    }
    for (role, x, cols) in [
        ("stationary_scale", &t.stationary_scale, m),
        ("moving_scale", &t.moving_scale, n),
    ] {
        if x.np() != np / G || x.free_size() != cols {
            return Err(format!(
                "MX matmul {role} must be [{}, {cols}] (one e8m0 scale per {G} partitions x \
                 {MX_PACK} values of each column), found [{}, {}]",
                np / G,
                x.np(),
                x.free_size()
            ));
        }
    }
    Ok(())
}
