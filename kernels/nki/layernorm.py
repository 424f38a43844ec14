"""Layer normalization over the last axis with ``bn_stats`` / ``bn_aggr`` (``neuronxcc.nki``).

Computes ``out = (x - mean) / sqrt(var + eps) * gamma + beta`` per row, with the population
variance, ``eps = 1e-5``.

Parameters:
    x:     ``[R, D]``, R a multiple of 128 (a row per partition), D at most 512 (one
           ``bn_stats`` and one matmul-broadcast of gamma/beta).
    gamma: ``[1, D]``, the scale.
    beta:  ``[1, D]``, the shift.
Returns:
    out: ``[R, D]`` in x's dtype (HBM).

gamma and beta are broadcast to all 128 partitions once, on the tensor engine: a ``[1, 128]``
tile of ones as the stationary operand times the ``[1, D]`` row (a contraction over one
partition) puts the row on every partition of a PSUM tile. Per row tile: ``bn_stats`` then
``bn_aggr`` give mean and variance (Vector), ``rsqrt(var + eps)`` on Scalar, then one two-stage
``tensor_scalar`` (subtract the mean, multiply by the inverse deviation) and two
``tensor_tensor`` for gamma and beta. Reference: ``kernels/nki/reference.py::ref_layernorm``.
"""
import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl

EPS = 1e-5


@nki.jit
def layernorm(x, gamma, beta):
    R, D = x.shape
    P = nl.tile_size.pmax  # 128
    assert R % P == 0, f"rows ({R}) must be a multiple of {P}"
    assert D <= 512, f"D = {D}: this kernel takes one bn_stats (at most 512 elements) per row"
    out = nl.ndarray((R, D), dtype=x.dtype, buffer=nl.shared_hbm)

    ones = nisa.memset(shape=(1, P), value=1.0, dtype=nl.float32)
    g_row = nl.load(gamma[0:1, 0:D])
    b_row = nl.load(beta[0:1, 0:D])
    g_all = nisa.tensor_copy(nisa.nc_matmul(ones, g_row), engine=nisa.vector_engine)
    b_all = nisa.tensor_copy(nisa.nc_matmul(ones, b_row), engine=nisa.vector_engine)

    for r in nl.affine_range(R // P):
        t = nl.load(x[r * P:(r + 1) * P, 0:D])
        stats = nisa.bn_stats(t)
        mean_var = nisa.bn_aggr(stats)
        mean = mean_var[0:P, 0:1]
        var = mean_var[0:P, 1:2]
        var_eps = nisa.tensor_scalar(data=var, op0=nl.add, operand0=EPS)
        rstd = nisa.activation(op=nl.rsqrt, data=var_eps)
        y = nisa.tensor_scalar(data=t, op0=nl.subtract, operand0=mean,
                               op1=nl.multiply, operand1=rstd)
        y = nisa.tensor_tensor(y, g_all, op=nl.multiply)
        y = nisa.tensor_tensor(y, b_all, op=nl.add, dtype=x.dtype)
        nl.store(out[r * P:(r + 1) * P, 0:D], value=y)
    return out
