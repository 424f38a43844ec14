"""Two physical cores exchange tiles (LNC=2, trn2/trn3): core c loads row block c of x, sends it
to the other core with ``nki.lnc.sendrecv`` while receiving the other's, and stores the sum of
the two into row block c of out; ``nki.lnc.core_barrier`` on out then orders both cores' stores
before core 0 reads row block 1 back and stores it doubled into ``twice``.

Run with ``trnsim nki kernels/nki/lnc_exchange.py --lnc 2``.

Parameters:
    x: ``[256, C]`` float32, C at most 8192.
Returns:
    out: ``[256, C]``: both row blocks hold ``x[0:128] + x[128:256]``.
    twice: ``[128, C]``: ``2 * (x[0:128] + x[128:256])``.
Reference: ``kernels/nki/lnc_reference.py::ref_exchange``.
"""
import nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl
import nki.lnc


@nki.jit
def lnc_exchange(x):
    R, C = x.shape
    P = 128
    core = nl.program_id(0)
    peer = 1 - core
    out = nl.ndarray((R, C), dtype=x.dtype, buffer=nl.shared_hbm)
    twice = nl.ndarray((P, C), dtype=x.dtype, buffer=nl.shared_hbm)
    mine = nl.load(x[core * P:(core + 1) * P, 0:C])
    theirs = nl.ndarray((P, C), dtype=x.dtype, buffer=nl.sbuf)
    nki.lnc.sendrecv(src=mine, dst=theirs, send_to_rank=peer, recv_from_rank=peer)
    s = nisa.tensor_tensor(data1=mine, data2=theirs, op=nl.add)
    nl.store(out[core * P:(core + 1) * P, 0:C], value=s)
    nki.lnc.core_barrier(out, (0, 1))
    if core == 0:
        back = nl.load(out[P:2 * P, 0:C])
        d = nisa.tensor_scalar(data=back, op0=nl.multiply, operand0=2.0)
        nl.store(twice[0:P, 0:C], value=d)
    return out, twice
