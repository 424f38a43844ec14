"""Tiled matmul, second NKI generation (the ``nki`` package, SDK 2.27 and later).

Computes ``result[M, N] = lhsT[K, M].T @ rhs[K, N]``.

Parameters:
    lhsT: ``[K, M]``, A transposed (the contraction on partitions), K and M multiples of 128.
    rhs:  ``[K, N]``, N a multiple of 512.
Returns:
    result: ``[M, N]`` in lhsT's dtype (HBM).

The same tiling as ``matmul_tiled_old.py`` written with the 2.27 API: every ISA call names its
destination (``nisa.dma_copy(dst=, src=)``, ``nisa.nc_matmul(dst=, stationary=, moving=)``,
``nisa.tensor_copy(dst=, src=)``) into tensors declared with ``nl.ndarray``; successive
``nc_matmul`` calls into the same PSUM tile accumulate, as the 2.27 matmul tutorial relies on.
Reference: ``kernels/nki/reference.py::ref_matmul``.
"""
import nki
import nki.isa as nisa
import nki.language as nl


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
            for k in nl.affine_range(K // TILE_K):
                rhs_tile = nl.ndarray((TILE_K, TILE_N), dtype=rhs.dtype, buffer=nl.sbuf)
                lhsT_tile = nl.ndarray((TILE_K, TILE_M), dtype=lhsT.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=rhs_tile,
                              src=rhs[k * TILE_K:(k + 1) * TILE_K, n * TILE_N:(n + 1) * TILE_N])
                nisa.dma_copy(dst=lhsT_tile,
                              src=lhsT[k * TILE_K:(k + 1) * TILE_K, m * TILE_M:(m + 1) * TILE_M])
                nisa.nc_matmul(dst=res_psum, stationary=lhsT_tile, moving=rhs_tile)
            res_sb = nl.ndarray((TILE_M, TILE_N), dtype=result.dtype, buffer=nl.sbuf)
            nisa.tensor_copy(dst=res_sb, src=res_psum, engine=nisa.vector_engine)
            nisa.dma_copy(dst=result[m * TILE_M:(m + 1) * TILE_M, n * TILE_N:(n + 1) * TILE_N],
                          src=res_sb)
    return result
