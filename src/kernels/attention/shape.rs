//! The attention problem as its parameters give it, validated once: heads and kv heads, sequence
//! lengths, head_dim, the kv step, and the dtypes of inputs, P and output.

use super::super::{Error, Params, Result};
use crate::numerics::DType;

/// The problem, validated.
#[derive(Clone, Debug)]
pub(super) struct Shape {
    pub(super) batch: usize,
    pub(super) heads: usize,
    pub(super) kv_heads: usize,
    /// Query heads per kv head.
    pub(super) group: usize,
    pub(super) sq: usize,
    pub(super) skv: usize,
    pub(super) d: usize,
    pub(super) causal: bool,
    pub(super) dtype: DType,
    /// Dtype of P (and its transposes).
    pub(super) pdtype: DType,
    pub(super) out: DType,
    /// kv positions per step.
    pub(super) w: usize,
    pub(super) q_group: usize,
}

/// The output dtype for inputs of `d` (fp8 gives bf16).
pub(super) fn out_dtype(d: DType) -> DType {
    if d.is_fp8() { DType::BFloat16 } else { d }
}

/// P's dtype: the 16-bit matmul format of the inputs' family.
pub(super) fn p_dtype(d: DType) -> DType {
    if d == DType::Float16 {
        DType::Float16
    } else {
        DType::BFloat16
    }
}

fn param_err(param: &str, message: String) -> Error {
    Error::Param {
        kernel: "attention".into(),
        param: param.into(),
        message,
    }
}

impl Shape {
    pub(super) fn of(p: &Params) -> Result<Shape> {
        let heads = p.int("heads");
        let kv_heads = match p.int("kv_heads") {
            0 => heads,
            k => k,
        };
        if heads % kv_heads != 0 {
            return Err(param_err(
                "kv_heads",
                format!("{kv_heads} does not divide heads = {heads}"),
            ));
        }
        let (sq, skv) = (p.int("seq_q"), p.int("seq_kv"));
        let causal = p.flag("causal");
        if causal && sq > skv {
            return Err(param_err(
                "seq_q",
                format!(
                    "causal attention needs seq_q <= seq_kv (the mask is bottom-right aligned: \
                     the first {} queries would see no key); seq_q = {sq}, seq_kv = {skv}",
                    sq - skv
                ),
            ));
        }
        let w = p.int("kv_tile");
        if w % 128 != 0 {
            return Err(param_err(
                "kv_tile",
                format!("{w} is not a multiple of 128"),
            ));
        }
        let dtype = p.dtype("dtype");
        let s = Shape {
            batch: p.int("batch"),
            heads,
            kv_heads,
            group: heads / kv_heads,
            sq,
            skv,
            d: p.int("head_dim"),
            causal,
            dtype,
            pdtype: p_dtype(dtype),
            out: out_dtype(dtype),
            w,
            q_group: p.int("q_group"),
        };
        // Tile coordinates are 32-bit: every HBM buffer must be addressable.
        let largest = [
            ("q", s.batch * heads * s.d * sq),
            ("k", s.batch * kv_heads * s.d * skv),
            ("v", s.batch * kv_heads * skv * s.d),
            ("o", s.batch * heads * sq * s.d),
        ];
        for (name, elems) in largest {
            if elems > u32::MAX as usize {
                return Err(Error::DoesNotFit {
                    kernel: "attention".into(),
                    message: format!(
                        "buffer '{name}' would hold {elems} elements; tiles address at most \
                         2^32 (reduce batch, heads, seq_q or seq_kv)"
                    ),
                });
            }
        }
        Ok(s)
    }

    /// Softmax scale, 1 / sqrt(head_dim).
    pub(super) fn scale(&self) -> f32 {
        (1.0 / (self.d as f64).sqrt()) as f32
    }

    /// Offset of the causal diagonal: query i sees keys j <= i + off.
    pub(super) fn off(&self) -> usize {
        self.skv - self.sq
    }
}
