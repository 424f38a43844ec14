"""Tiled matmul, first NKI generation (``neuronxcc.nki``, SDK up to 2.26).

Computes ``result[M, N] = lhsT[K, M].T @ rhs[K, N]``.

Parameters:
    lhsT: ``[K, M]``, A transposed (the contraction on partitions), K and M multiples of 128.
    rhs:  ``[K, N]``, N a multiple of 512.
Returns:
    result: ``[M, N]`` in lhsT's dtype (HBM).

Per 128 x 512 output tile, K is walked in 128-row steps: each step loads a ``[128, 128]``
stationary tile and a ``[128, 512]`` moving tile, and the ``nc_matmul`` products accumulate in
one fp32 PSUM tile (the first step assigns, the others ``+=``); Vector evacuates the tile with the
cast and it is stored. Reference: ``kernels/nki/reference.py::ref_matmul``.
"""
import neuronxcc.nki as nki
import neuronxcc.nki.isa as nisa
import neuronxcc.nki.language as nl


@nki.jit
def matmul_tiled(lhsT, rhs):
    K, M = lhsT.shape
    K_, N = rhs.shape
    assert K == K_, "lhsT and rhs must share the contraction dimension"
    TILE_K = nl.tile_size.pmax  # 128
    TILE_M = nl.tile_size.gemm_stationary_fmax  # 128
    TILE_N = nl.tile_size.gemm_moving_fmax  # 512
    assert K % TILE_K == 0 and M % TILE_M == 0 and N % TILE_N == 0

    result = nl.ndarray((M, N), dtype=lhsT.dtype, buffer=nl.shared_hbm)
    for m in nl.affine_range(M // TILE_M):
        for n in nl.affine_range(N // TILE_N):
            res_psum = nl.ndarray((TILE_M, TILE_N), dtype=nl.float32, buffer=nl.psum)
            # A Python range is unrolled at trace time, so k is an int and the first step can
            # overwrite the (uninitialized) accumulator instead of adding to it.
            for k in range(K // TILE_K):
                # The moving tile first: its load is the longer one.
                rhs_tile = nl.load(rhs[k * TILE_K:(k + 1) * TILE_K, n * TILE_N:(n + 1) * TILE_N])
                lhsT_tile = nl.load(lhsT[k * TILE_K:(k + 1) * TILE_K, m * TILE_M:(m + 1) * TILE_M])
                if k == 0:
                    res_psum[...] = nisa.nc_matmul(lhsT_tile, rhs_tile)
                else:
                    res_psum[...] += nisa.nc_matmul(lhsT_tile, rhs_tile)
            res_sb = nisa.tensor_copy(res_psum, engine=nisa.vector_engine, dtype=result.dtype)
            nl.store(result[m * TILE_M:(m + 1) * TILE_M, n * TILE_N:(n + 1) * TILE_N], value=res_sb)
    return result
