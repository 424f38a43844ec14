"""A kernel whose logical SBUF tensor is larger than SBUF: ``buf`` has block dimensions
``(8, par_dim(128), 6400)`` fp32, 200 KiB per partition (trn2's SBUF has 192 KiB), but each
block is loaded, transformed and stored before the next one is touched, so by liveness the
allocator needs only one block's 25 KiB per partition at a time (as the Neuron compiler would).

Computes ``out = 2 * x + 1``; x: ``[1024, 6400]`` fp32 (8 blocks of 128 rows).
Reference: ``tests/data/nki/oversized_ref.py::ref_oversized``.
"""
import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl


@nki.jit
def oversized_blocks(x):
    R, F = x.shape
    P = 128
    NB = R // P
    out = nl.ndarray((R, F), dtype=x.dtype, buffer=nl.shared_hbm)
    buf = nl.ndarray((NB, nl.par_dim(P), F), dtype=nl.float32, buffer=nl.sbuf)
    for b in nl.affine_range(NB):
        buf[b] = nl.load(x[b * P:(b + 1) * P, 0:F])
        buf[b] = nisa.tensor_scalar(data=buf[b], op0=nl.multiply, operand0=2.0,
                                    op1=nl.add, operand1=1.0)
        nl.store(out[b * P:(b + 1) * P, 0:F], value=buf[b])
    return out
