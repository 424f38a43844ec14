//! How much work a kernel's parameters ask for, estimated before lowering.
//!
//! Every parameter has a documented cap, but the caps multiply: `bmm` at its maximum sizes is
//! 10^11 matmul instructions and 10^18 multiply-adds, which would lower and run for hours. The
//! estimates here are closed forms of the parameters (instructions within a small factor of what
//! the lowering emits, checked by a test; arithmetic from the shapes), so a request far beyond
//! what runs in a minute is refused before anything is built.

use super::{Error, Params, Result};

/// Default limit on the instructions a lowering may emit (about a minute of simulation).
pub const MAX_INSTRUCTIONS: u64 = 1 << 20;

/// Default limit on the arithmetic operations of a run that computes values (multiply-adds or
/// element operations; about a minute at the simulator's 2 G/s).
pub const MAX_VALUE_OPS: u64 = 1 << 37;

/// Elements of one row-kernel tile ([128, 512]) and multiply-adds of one matmul tile
/// ([128, 128] x [128, 512]).
const TILE_ELEMS: u64 = 128 * 512;
const MATMUL_TILE_MACS: u64 = 128 * 128 * 512;

/// The estimated work of one kernel call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Work {
    /// Instructions the lowering emits (estimated).
    pub instructions: u64,
    /// Arithmetic operations when values are computed.
    pub value_ops: u64,
}

/// The limits a kernel call is checked against (`--max-instructions`, `--max-value-ops`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest estimated instruction count.
    pub instructions: u64,
    /// Largest estimated arithmetic of a run with values.
    pub value_ops: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            instructions: MAX_INSTRUCTIONS,
            value_ops: MAX_VALUE_OPS,
        }
    }
}

/// An integer parameter, or 1 where the kernel has none of that name (saturating products
/// below, so no combination overflows).
fn int(p: &Params, name: &str) -> u64 {
    p.pairs()
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(1)
}

fn product(xs: &[u64]) -> u64 {
    xs.iter().fold(1u64, |a, &x| a.saturating_mul(x))
}

/// The estimated work of `p`'s kernel with its parameters.
pub fn estimate(p: &Params) -> Work {
    let i = |n: &str| int(p, n);
    // (multiply-adds or elements, instructions per matmul tile or per element tile).
    let (ops, per_tile, tile) = match p.kernel() {
        "matmul" | "bmm" => (
            product(&[i("batch"), i("m"), i("k"), i("n")]),
            6,
            MATMUL_TILE_MACS,
        ),
        "mlp" => (
            product(&[3, i("tokens"), i("hidden"), i("intermediate")]),
            6,
            MATMUL_TILE_MACS,
        ),
        "attention" => {
            let scores = product(&[i("batch"), i("heads"), i("seq_q"), i("seq_kv")]);
            // Instructions follow the [128, 128] score tiles, whatever head_dim is.
            let ops = product(&[scores, 2, i("head_dim")]);
            return Work {
                instructions: scores.div_ceil(128 * 128).saturating_mul(7),
                value_ops: ops,
            };
        }
        "conv2d" => {
            let out = product(&[i("height"), i("width")]) / (i("stride") * i("stride")).max(1);
            let k = i("kernel");
            (
                product(&[out.max(1), i("channels"), i("filters"), k, k]),
                2,
                MATMUL_TILE_MACS,
            )
        }
        // Transposes go through [128, 128] blocks.
        "transpose" => (product(&[i("rows"), i("cols")]), 10, 128 * 128),
        "elementwise" => (product(&[i("rows"), i("cols"), 4]), 6, 4 * TILE_ELEMS),
        // The row kernels: a few passes over [128, 512] tiles.
        _ => (product(&[i("rows"), i("cols"), 8]), 5, 8 * TILE_ELEMS),
    };
    Work {
        instructions: ops.div_ceil(tile).saturating_mul(per_tile),
        value_ops: ops,
    }
}

/// Refuse `p` when its estimated work is over `limits` (the arithmetic only when values are
/// computed), naming the parameters, the limit and the flag that raises it.
pub fn check(p: &Params, limits: &Limits, values: bool) -> Result<Work> {
    let w = estimate(p);
    let params = || {
        p.pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let refuse = |what: &str, n: u64, limit: u64, flag: &str| Error::DoesNotFit {
        kernel: p.kernel().to_string(),
        message: format!(
            "{} asks for about {n} {what}; the limit is {limit} (about a minute of \
             simulation; raise it with {flag}={}, or choose smaller sizes)",
            params(),
            n.next_power_of_two()
        ),
    };
    if w.instructions > limits.instructions {
        return Err(refuse(
            "instructions",
            w.instructions,
            limits.instructions,
            "--max-instructions",
        ));
    }
    if values && w.value_ops > limits.value_ops {
        return Err(refuse(
            "arithmetic operations with values (--no-data skips them)",
            w.value_ops,
            limits.value_ops,
            "--max-value-ops",
        ));
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Hardware;

    fn params(kernel: &str, spec: &str) -> Params {
        let set = crate::config::parse_list(&[spec.to_string()]).unwrap();
        super::super::find(kernel).unwrap().1.params(&set).unwrap()
    }

    /// The instruction estimates stay within a factor of four of what the lowering emits.
    #[test]
    fn estimates_follow_the_lowering() {
        let hw = Hardware::preset("trn2").unwrap();
        for (kernel, spec) in [
            ("activation", "rows=8192,cols=8192"),
            ("elementwise", "rows=8192,cols=8192"),
            ("softmax", "rows=4096,cols=8192"),
            ("layernorm", "rows=8192,cols=16384"),
            ("rmsnorm", "rows=8192,cols=16384"),
            ("quantize", "rows=4096,cols=8192"),
            ("dequantize", "rows=8192,cols=16384"),
            ("transpose", "rows=8192,cols=8192"),
            ("matmul", "m=4096,k=8192,n=2048"),
            ("bmm", "batch=16,m=1024,k=1024,n=1024"),
            ("mlp", "tokens=2048,hidden=4096,intermediate=8192"),
            (
                "attention",
                "batch=2,heads=8,seq_q=4096,seq_kv=2048,head_dim=64",
            ),
            (
                "conv2d",
                "height=128,width=128,channels=512,filters=256,kernel=3,stride=1",
            ),
        ] {
            let p = params(kernel, spec);
            let (k, _) = super::super::find(kernel).unwrap();
            let actual = k.lower(&p, &hw).unwrap().instrs.len() as f64;
            let est = estimate(&p).instructions as f64;
            assert!(
                (actual / 4.0..=actual * 4.0).contains(&est),
                "{kernel} {spec}: estimated {est}, lowered {actual}"
            );
        }
    }

    #[test]
    fn every_kernel_at_its_caps_is_refused() {
        for &k in super::super::all() {
            let d = super::super::definition(k);
            let caps: Vec<String> = d
                .params
                .iter()
                .filter(|p| p.kind == super::super::def::Kind::Int && p.name != "seed")
                .filter(|p| {
                    !["block_m", "block_n", "b_buffers", "kv_tile", "q_group"]
                        .contains(&p.name.as_str())
                })
                .map(|p| format!("{}={}", p.name, p.max.unwrap()))
                .collect();
            let p = params(&d.name, &caps.join(","));
            let err = check(&p, &Limits::default(), false)
                .unwrap_err()
                .to_string();
            assert!(err.contains("--max-instructions"), "{}: {err}", d.name);
        }
    }
}
