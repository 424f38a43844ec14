"""Row softmax on a logical NeuronCore of two physical cores (LNC=2, trn2/trn3): ``nl.program_id(0)``
picks each core's half of the rows, ``nl.num_programs()`` how many halves there are.

Run with ``trnsim nki kernels/nki/lnc_softmax.py --lnc 2`` (the front end records the kernel once
per program id; the cores share HBM and each has its own engines, SBUF and DMA engines). With
``--lnc 1`` the one core does every row. Same per-tile steps as ``softmax.py``.

Parameters:
    x: ``[R, C]``, R a multiple of 128 x the number of programs, C at most 8192.
Returns:
    out: ``[R, C]`` in x's dtype (HBM).
Reference: ``kernels/nki/lnc_reference.py::ref_softmax``.
"""
import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl


@nki.jit
def lnc_softmax(x):
    R, C = x.shape
    P = nl.tile_size.pmax  # 128
    n = nl.num_programs()
    core = nl.program_id(0)
    assert R % (P * n) == 0, f"rows ({R}) must be a multiple of {P * n}"
    out = nl.ndarray((R, C), dtype=x.dtype, buffer=nl.shared_hbm)
    per_core = R // n
    for r in nl.affine_range(per_core // P):
        lo = core * per_core + r * P
        t = nl.load(x[lo:lo + P, 0:C])
        row_max = nisa.tensor_reduce(op=nl.max, data=t, axis=(1,), keepdims=True)
        neg_max = nisa.tensor_scalar(data=row_max, op0=nl.multiply, operand0=-1.0)
        row_sum = nl.ndarray((P, 1), dtype=nl.float32, buffer=nl.sbuf)
        e = nisa.activation(op=nl.exp, data=t, bias=neg_max, scale=1.0,
                            reduce_op=nl.add, reduce_res=row_sum, dtype=nl.float32)
        inv_sum = nisa.reciprocal(row_sum)
        y = nisa.tensor_scalar(data=e, op0=nl.multiply, operand0=inv_sum, dtype=x.dtype)
        nl.store(out[lo:lo + P, 0:C], value=y)
    return out
