"""Flash-attention forward for one head (``neuronxcc.nki``), causal optional.

Computes ``out = softmax(Q K^T / sqrt(d)) V`` (with the causal mask ``key <= query`` in
``flash_attention_fwd_causal``) without materializing the ``[S, S]`` scores: per 128-query tile
the keys are walked in 128-key tiles with an online softmax (running row max ``m``, running
sum ``l``, rescaled output accumulator).

Parameters:
    q: ``[d, S]``, Q transposed (the head dimension on partitions), d at most 128, S a multiple
       of 128.
    k: ``[d, S]``, K transposed.
    v: ``[S, d]``.
Returns:
    out: ``[S, d]`` in q's dtype (HBM).

Per (query tile, key tile): ``nc_matmul`` gives the scores ``[128 q, 128 k]`` in PSUM, Vector
scales them into SBUF; on a diagonal tile of the causal kernel ``affine_select`` masks the keys
after the query; the block max (``tensor_reduce``) updates ``m`` (``tensor_tensor`` max); Scalar
computes ``exp(s - m)`` with its row sum (``activation`` with bias and ``reduce_op``) and the
correction ``exp(m_old - m)``; the probabilities are transposed on the PE array
(``nc_transpose``) to be the stationary operand of ``P @ V``. The query and key loops are Python
ranges (unrolled at trace time, so a causal kernel skips the tiles above the diagonal).
References: ``kernels/nki/reference.py::ref_attention`` and ``::ref_attention_causal``.
"""
import math

import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl

# The mask's fill: exp(-30000 - m) is 0 in fp32, and it stays finite in bf16.
NEG_BIG = -30000.0


def _flash_fwd(q, k, v, causal):
    d, S = q.shape
    T = nl.tile_size.pmax  # 128
    assert d <= T, f"head dimension {d} must be at most {T}"
    assert S % T == 0, f"sequence length {S} must be a multiple of {T}"
    assert tuple(k.shape) == (d, S) and tuple(v.shape) == (S, d), "q, k: [d, S]; v: [S, d]"
    scale = 1.0 / math.sqrt(d)
    out = nl.ndarray((S, d), dtype=q.dtype, buffer=nl.shared_hbm)
    i_q = nl.arange(T)[:, None]
    i_k = nl.arange(T)[None, :]

    for i in range(S // T):
        q_tile = nl.load(q[0:d, i * T:(i + 1) * T])
        m_run = nisa.memset(shape=(T, 1), value=NEG_BIG, dtype=nl.float32)
        l_run = nisa.memset(shape=(T, 1), value=0.0, dtype=nl.float32)
        o_acc = nisa.memset(shape=(T, d), value=0.0, dtype=nl.float32)
        for j in range(i + 1 if causal else S // T):
            k_tile = nl.load(k[0:d, j * T:(j + 1) * T])
            v_tile = nl.load(v[j * T:(j + 1) * T, 0:d])
            s_psum = nisa.nc_matmul(q_tile, k_tile)
            s = nisa.tensor_scalar(data=s_psum, op0=nl.multiply, operand0=scale,
                                   dtype=nl.float32)
            if causal and j == i:
                s = nisa.affine_select(pred=(i_q - i_k >= 0), on_true_tile=s,
                                       on_false_value=NEG_BIG)
            blk_max = nisa.tensor_reduce(op=nl.max, data=s, axis=(1,), keepdims=True)
            m_new = nisa.tensor_tensor(m_run, blk_max, op=nl.maximum)
            neg_m = nisa.tensor_scalar(data=m_new, op0=nl.multiply, operand0=-1.0)
            blk_sum = nl.ndarray((T, 1), dtype=nl.float32, buffer=nl.sbuf)
            p = nisa.activation(op=nl.exp, data=s, bias=neg_m, reduce_op=nl.add,
                                reduce_res=blk_sum, dtype=v.dtype)
            alpha = nisa.activation(op=nl.exp, data=m_run, bias=neg_m)
            l_run = nisa.tensor_scalar(data=l_run, op0=nl.multiply, operand0=alpha,
                                       op1=nl.add, operand1=blk_sum)
            p_t = nisa.tensor_copy(nisa.nc_transpose(p), engine=nisa.vector_engine,
                                   dtype=v.dtype)
            pv = nisa.nc_matmul(p_t, v_tile)
            o_acc = nisa.tensor_scalar(data=o_acc, op0=nl.multiply, operand0=alpha)
            o_acc = nisa.tensor_tensor(o_acc, pv, op=nl.add)
            m_run = m_new
        inv_l = nisa.reciprocal(l_run)
        o = nisa.tensor_scalar(data=o_acc, op0=nl.multiply, operand0=inv_l, dtype=q.dtype)
        nl.store(out[i * T:(i + 1) * T, 0:d], value=o)
    return out


@nki.jit
def flash_attention_fwd(q, k, v):
    return _flash_fwd(q, k, v, causal=False)


@nki.jit
def flash_attention_fwd_causal(q, k, v):
    return _flash_fwd(q, k, v, causal=True)
