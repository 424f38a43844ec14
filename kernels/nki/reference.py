"""NumPy references of the examples in this directory (``trnsim nki ... --check-against
kernels/nki/reference.py::ref_NAME``): each takes the kernel's tensors by its parameter names and
returns its outputs, computed in float64."""
import numpy as np


def ref_matmul(lhsT, rhs):
    """``lhsT.T @ rhs`` (matmul_tiled_old.py, matmul_tiled_new.py, matmul_optimized.py)."""
    return np.asarray(lhsT, np.float64).T @ np.asarray(rhs, np.float64)


def ref_softmax(x):
    """Row softmax (softmax.py)."""
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ref_layernorm(x, gamma, beta, eps=1e-5):
    """Layer normalization over the last axis, population variance (layernorm.py)."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    g = np.asarray(gamma, np.float64).reshape(1, -1)
    b = np.asarray(beta, np.float64).reshape(1, -1)
    return (x - mean) / np.sqrt(var + eps) * g + b


def _attention(q, k, v, causal):
    q = np.asarray(q, np.float64)
    k = np.asarray(k, np.float64)
    v = np.asarray(v, np.float64)
    d, s = q.shape
    scores = q.T @ k / np.sqrt(d)
    if causal:
        scores = np.where(np.tril(np.ones((s, s), dtype=bool)), scores, -np.inf)
    p = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True)) @ v


def ref_attention(q, k, v):
    """softmax(Q K^T / sqrt(d)) V with q, k as [d, S] and v as [S, d] (flash_attention.py)."""
    return _attention(q, k, v, causal=False)


def ref_attention_causal(q, k, v):
    """The causal variant: key j is seen by query i only when j <= i."""
    return _attention(q, k, v, causal=True)
