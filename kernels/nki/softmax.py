"""Fused row softmax (``neuronxcc.nki``): one pass per engine, nothing written back in between.

Computes ``out[r, :] = exp(x[r, :] - max(x[r, :])) / sum(exp(x[r, :] - max(x[r, :])))``.

Parameters:
    x: ``[R, C]``, R a multiple of 128 (a row per partition), C at most 8192 (the row in SBUF).
Returns:
    out: ``[R, C]`` in x's dtype (HBM).

Per 128-row tile: the row max on Vector (``tensor_reduce``), negated on Vector
(``tensor_scalar``), ``exp(x - max)`` on Scalar with the row sum in the same instruction
(``activation`` with ``bias`` and ``reduce_op``), ``1 / sum`` (``reciprocal``) and the scaling
(``tensor_scalar`` with a per-partition operand) on Vector.
Reference: ``kernels/nki/reference.py::ref_softmax``.
"""
import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl


@nki.jit
def softmax(x):
    R, C = x.shape
    P = nl.tile_size.pmax  # 128
    assert R % P == 0, f"rows ({R}) must be a multiple of {P}"
    out = nl.ndarray((R, C), dtype=x.dtype, buffer=nl.shared_hbm)
    for r in nl.affine_range(R // P):
        t = nl.load(x[r * P:(r + 1) * P, 0:C])
        row_max = nisa.tensor_reduce(op=nl.max, data=t, axis=(1,), keepdims=True)
        neg_max = nisa.tensor_scalar(data=row_max, op0=nl.multiply, operand0=-1.0)
        row_sum = nl.ndarray((P, 1), dtype=nl.float32, buffer=nl.sbuf)
        e = nisa.activation(op=nl.exp, data=t, bias=neg_max, scale=1.0,
                            reduce_op=nl.add, reduce_res=row_sum, dtype=nl.float32)
        inv_sum = nisa.reciprocal(row_sum)
        y = nisa.tensor_scalar(data=e, op0=nl.multiply, operand0=inv_sum, dtype=x.dtype)
        nl.store(out[r * P:(r + 1) * P, 0:C], value=y)
    return out
