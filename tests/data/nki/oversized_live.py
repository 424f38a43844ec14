"""A tensor like ``oversized_blocks.py``'s, ``(8, par_dim(128), 8192)`` fp32 (256 KiB per
partition), with every block loaded before any is stored: all eight are live at once, which no
allocator can fit in trn2's 224 KiB per partition (trainium.md section 2: 28 MiB over 128
partitions). ``trnsim nki`` must refuse it (exit 2, naming this file's line and SBUF).
x: ``[1024, 8192]`` fp32.
"""
import neuronxcc.nki as nki
import neuronxcc.nki.language as nl


@nki.jit
def oversized_live(x):
    R, F = x.shape
    P = 128
    NB = R // P
    out = nl.ndarray((R, F), dtype=x.dtype, buffer=nl.shared_hbm)
    buf = nl.ndarray((NB, nl.par_dim(P), F), dtype=nl.float32, buffer=nl.sbuf)
    for b in nl.affine_range(NB):
        buf[b] = nl.load(x[b * P:(b + 1) * P, 0:F])
    for b in nl.affine_range(NB):
        nl.store(out[b * P:(b + 1) * P, 0:F], value=buf[b])
    return out
