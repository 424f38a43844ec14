"""NumPy references of the LNC=2 examples (``--check-against kernels/nki/lnc_reference.py::ref_NAME``),
in float64."""
import numpy as np


def ref_softmax(x):
    """Row softmax (lnc_softmax.py): the cores' halves together are the whole."""
    x = np.asarray(x, np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def ref_exchange(x):
    """lnc_exchange.py: each core's block plus the other's, then block 1 doubled."""
    x = np.asarray(x, np.float64)
    s = x[:128] + x[128:256]
    return np.concatenate([s, s]), 2.0 * s
