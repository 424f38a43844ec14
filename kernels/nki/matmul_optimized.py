"""The NKI matmul tutorial's fully optimized matmul, in its loop structure (``nki``, SDK 2.27+).

Computes ``result[M, N] = lhsT[K, M].T @ rhs[K, N]``; its default use is the tutorial's shape,
``lhsT [8192, 4096]`` and ``rhs [8192, 8192]`` in bf16 (a 4096 x 8192 x 8192 GEMM).

Parameters:
    lhsT: ``[K, M]``, K a multiple of 128 * TILES_IN_BLOCK_K, M of 128 * TILES_IN_BLOCK_M.
    rhs:  ``[K, N]``, N a multiple of 512 * TILES_IN_BLOCK_N.
    TILES_IN_BLOCK_M, TILES_IN_BLOCK_N, TILES_IN_BLOCK_K: the blocking (16, 2, 8 by default).
Returns:
    result: ``[M, N]`` in lhsT's dtype (HBM).

Blocking, outermost first: N blocks (each keeps its partial results in SBUF, zeroed by
``memset``), K blocks in a ``sequential_range`` (the rhs block ``[128, BLOCK_N]`` rows loaded once
per K block, long DMA rows), M blocks (the lhsT block loaded as ``[128, BLOCK_M]`` rows), then
per 128 x 512 output tile the K tiles accumulate in PSUM and the tile is added to its SBUF
partial sum on Vector. At the end of an N block the partial sums are packed into ``[128,
BLOCK_N]`` fp32 rows and stored with one DMA per row of tiles.
Reference: ``kernels/nki/reference.py::ref_matmul``.
"""
import nki
import nki.isa as nisa
import nki.language as nl


@nki.jit
def matmul_optimized(lhsT, rhs, TILES_IN_BLOCK_M=16, TILES_IN_BLOCK_N=2, TILES_IN_BLOCK_K=8):
    K, M = lhsT.shape
    K_, N = rhs.shape
    assert K == K_, "lhsT and rhs must share the contraction dimension"
    TILE_M = nl.tile_size.gemm_stationary_fmax  # 128
    TILE_K = nl.tile_size.pmax  # 128
    TILE_N = nl.tile_size.gemm_moving_fmax  # 512
    BLOCK_M = TILE_M * TILES_IN_BLOCK_M
    BLOCK_N = TILE_N * TILES_IN_BLOCK_N
    BLOCK_K = TILE_K * TILES_IN_BLOCK_K
    assert M % BLOCK_M == 0, f"M = {M} is not a multiple of BLOCK_M = {BLOCK_M}"
    assert N % BLOCK_N == 0, f"N = {N} is not a multiple of BLOCK_N = {BLOCK_N}"
    assert K % BLOCK_K == 0, f"K = {K} is not a multiple of BLOCK_K = {BLOCK_K}"
    NUM_BLOCK_M = M // BLOCK_M
    NUM_BLOCK_N = N // BLOCK_N
    NUM_BLOCK_K = K // BLOCK_K

    result = nl.ndarray((M, N), dtype=lhsT.dtype, buffer=nl.shared_hbm)
    for n in nl.affine_range(NUM_BLOCK_N):
        # Partial sums of this N block, [m block][m tile][n tile], zeroed.
        partial = []
        for _m in range(NUM_BLOCK_M):
            rows = []
            for _bm in range(TILES_IN_BLOCK_M):
                cols = []
                for _bn in range(TILES_IN_BLOCK_N):
                    t = nl.ndarray((TILE_M, TILE_N), dtype=lhsT.dtype, buffer=nl.sbuf)
                    nisa.memset(dst=t, value=0.0)
                    cols.append(t)
                rows.append(cols)
            partial.append(rows)

        for k in nl.sequential_range(NUM_BLOCK_K):
            rhs_tiles = []
            for bk in range(TILES_IN_BLOCK_K):
                r0 = (TILES_IN_BLOCK_K * k + bk) * TILE_K
                rt = nl.ndarray((TILE_K, BLOCK_N), dtype=rhs.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=rt, src=rhs[r0:r0 + TILE_K, n * BLOCK_N:(n + 1) * BLOCK_N])
                rhs_tiles.append(rt)

            for m in nl.affine_range(NUM_BLOCK_M):
                lhsT_tiles = []
                for bk in range(TILES_IN_BLOCK_K):
                    r0 = (TILES_IN_BLOCK_K * k + bk) * TILE_K
                    lt = nl.ndarray((TILE_K, BLOCK_M), dtype=lhsT.dtype, buffer=nl.sbuf)
                    nisa.dma_copy(dst=lt, src=lhsT[r0:r0 + TILE_K, m * BLOCK_M:(m + 1) * BLOCK_M])
                    lhsT_tiles.append(lt)

                for bn in nl.affine_range(TILES_IN_BLOCK_N):
                    for bm in nl.affine_range(TILES_IN_BLOCK_M):
                        acc = nl.ndarray((TILE_M, TILE_N), dtype=nl.float32, buffer=nl.psum)
                        for bk in nl.affine_range(TILES_IN_BLOCK_K):
                            nisa.nc_matmul(
                                dst=acc,
                                stationary=lhsT_tiles[bk][0:TILE_K, bm * TILE_M:(bm + 1) * TILE_M],
                                moving=rhs_tiles[bk][0:TILE_K, bn * TILE_N:(bn + 1) * TILE_N])
                        part = partial[m][bm][bn]
                        nisa.tensor_tensor(dst=part, data1=part, data2=acc, op=nl.add)

        for m in nl.affine_range(NUM_BLOCK_M):
            for bm in nl.affine_range(TILES_IN_BLOCK_M):
                packed = nl.ndarray((TILE_M, BLOCK_N), dtype=nl.float32, buffer=nl.sbuf)
                for bn in nl.affine_range(TILES_IN_BLOCK_N):
                    nisa.tensor_copy(dst=packed[0:TILE_M, bn * TILE_N:(bn + 1) * TILE_N],
                                     src=partial[m][bm][bn])
                r0 = (TILES_IN_BLOCK_M * m + bm) * TILE_M
                nisa.dma_copy(dst=result[r0:r0 + TILE_M, n * BLOCK_N:(n + 1) * BLOCK_N],
                              src=packed)
    return result
