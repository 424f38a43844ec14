"""The NKI matmul tutorial's kernels in their loop structures, for ``trnsim validate``.

All compute ``result[M, N] = lhsT[K, M].T @ rhs[K, N]`` (``nki`` API, SDK 2.27+); the tutorial
measures them at ``lhsT [8192, 4096]``, ``rhs [8192, 8192]`` bf16 on one Trn1 core ([TUT] table,
trainium.md section 7). 128 x 512 output tiles accumulate over K in one PSUM bank.

- ``matmul_tiled``: the naive kernel (loads inside the K loop); the kernel-optimization guide's
  naive tiled kernel, run there with fp32 inputs on Trn2.
- ``matmul_hoisted``: "Optimization 1", the loads hoisted out of the innermost loop: per M tile
  all K tiles of lhsT, per N tile all K tiles of rhs.
- ``matmul_free_blocked``: "Optimization 2", 2 x 2 blocking of the free dimensions: a block of
  TILES_IN_BLOCK_M lhsT tiles and TILES_IN_BLOCK_N rhs tiles is loaded once and reused.
- ``matmul_blocked``: "Optimization 3", blocking over N, K (``sequential_range``) and M with SBUF
  partial sums, 16 / 2 / 8 tiles per block (the same structure as ``kernels/nki/matmul_optimized.py``).
"""
import nki
import nki.isa as nisa
import nki.language as nl

TILE_K = 128  # nl.tile_size.pmax
TILE_M = 128  # nl.tile_size.gemm_stationary_fmax
TILE_N = 512  # nl.tile_size.gemm_moving_fmax


def _store_tile(result, acc, m0, n0):
    """Evacuate a PSUM tile through SBUF on Vector and store it."""
    sb = nl.ndarray((TILE_M, TILE_N), dtype=result.dtype, buffer=nl.sbuf)
    nisa.tensor_copy(dst=sb, src=acc, engine=nisa.vector_engine)
    nisa.dma_copy(dst=result[m0:m0 + TILE_M, n0:n0 + TILE_N], src=sb)


@nki.jit
def matmul_tiled(lhsT, rhs):
    K, M = lhsT.shape
    _, N = rhs.shape
    result = nl.ndarray((M, N), dtype=lhsT.dtype, buffer=nl.shared_hbm)
    for m in nl.affine_range(M // TILE_M):
        for n in nl.affine_range(N // TILE_N):
            acc = nl.ndarray((TILE_M, TILE_N), dtype=nl.float32, buffer=nl.psum)
            for k in nl.affine_range(K // TILE_K):
                lt = nl.ndarray((TILE_K, TILE_M), dtype=lhsT.dtype, buffer=nl.sbuf)
                rt = nl.ndarray((TILE_K, TILE_N), dtype=rhs.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=lt, src=lhsT[k * TILE_K:(k + 1) * TILE_K,
                                               m * TILE_M:(m + 1) * TILE_M])
                nisa.dma_copy(dst=rt, src=rhs[k * TILE_K:(k + 1) * TILE_K,
                                              n * TILE_N:(n + 1) * TILE_N])
                nisa.nc_matmul(dst=acc, stationary=lt, moving=rt)
            _store_tile(result, acc, m * TILE_M, n * TILE_N)
    return result


@nki.jit
def matmul_hoisted(lhsT, rhs):
    K, M = lhsT.shape
    _, N = rhs.shape
    result = nl.ndarray((M, N), dtype=lhsT.dtype, buffer=nl.shared_hbm)
    for m in nl.affine_range(M // TILE_M):
        lts = []
        for k in range(K // TILE_K):
            lt = nl.ndarray((TILE_K, TILE_M), dtype=lhsT.dtype, buffer=nl.sbuf)
            nisa.dma_copy(dst=lt, src=lhsT[k * TILE_K:(k + 1) * TILE_K,
                                           m * TILE_M:(m + 1) * TILE_M])
            lts.append(lt)
        for n in nl.affine_range(N // TILE_N):
            rts = []
            for k in range(K // TILE_K):
                rt = nl.ndarray((TILE_K, TILE_N), dtype=rhs.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=rt, src=rhs[k * TILE_K:(k + 1) * TILE_K,
                                              n * TILE_N:(n + 1) * TILE_N])
                rts.append(rt)
            acc = nl.ndarray((TILE_M, TILE_N), dtype=nl.float32, buffer=nl.psum)
            for k in nl.affine_range(K // TILE_K):
                nisa.nc_matmul(dst=acc, stationary=lts[k], moving=rts[k])
            _store_tile(result, acc, m * TILE_M, n * TILE_N)
    return result


@nki.jit
def matmul_free_blocked(lhsT, rhs, TILES_IN_BLOCK_M=2, TILES_IN_BLOCK_N=2):
    K, M = lhsT.shape
    _, N = rhs.shape
    BLOCK_M = TILE_M * TILES_IN_BLOCK_M
    BLOCK_N = TILE_N * TILES_IN_BLOCK_N
    result = nl.ndarray((M, N), dtype=lhsT.dtype, buffer=nl.shared_hbm)
    for m in nl.affine_range(M // BLOCK_M):
        lts = []
        for k in range(K // TILE_K):
            lt = nl.ndarray((TILE_K, BLOCK_M), dtype=lhsT.dtype, buffer=nl.sbuf)
            nisa.dma_copy(dst=lt, src=lhsT[k * TILE_K:(k + 1) * TILE_K,
                                           m * BLOCK_M:(m + 1) * BLOCK_M])
            lts.append(lt)
        for n in nl.affine_range(N // BLOCK_N):
            rts = []
            for k in range(K // TILE_K):
                rt = nl.ndarray((TILE_K, BLOCK_N), dtype=rhs.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=rt, src=rhs[k * TILE_K:(k + 1) * TILE_K,
                                              n * BLOCK_N:(n + 1) * BLOCK_N])
                rts.append(rt)
            for bm in nl.affine_range(TILES_IN_BLOCK_M):
                for bn in nl.affine_range(TILES_IN_BLOCK_N):
                    acc = nl.ndarray((TILE_M, TILE_N), dtype=nl.float32, buffer=nl.psum)
                    for k in nl.affine_range(K // TILE_K):
                        nisa.nc_matmul(
                            dst=acc,
                            stationary=lts[k][0:TILE_K, bm * TILE_M:(bm + 1) * TILE_M],
                            moving=rts[k][0:TILE_K, bn * TILE_N:(bn + 1) * TILE_N])
                    _store_tile(result, acc, m * BLOCK_M + bm * TILE_M,
                                n * BLOCK_N + bn * TILE_N)
    return result


def _zeroed_partials(dtype, nm, tm, tn):
    """SBUF partial sums of one N block, [m block][m tile][n tile], zeroed."""
    blocks = []
    for _m in range(nm):
        rows = []
        for _bm in range(tm):
            cols = []
            for _bn in range(tn):
                t = nl.ndarray((TILE_M, TILE_N), dtype=dtype, buffer=nl.sbuf)
                nisa.memset(dst=t, value=0.0)
                cols.append(t)
            rows.append(cols)
        blocks.append(rows)
    return blocks


@nki.jit
def matmul_blocked(lhsT, rhs, TILES_IN_BLOCK_M=16, TILES_IN_BLOCK_N=2, TILES_IN_BLOCK_K=8):
    K, M = lhsT.shape
    _, N = rhs.shape
    BLOCK_M = TILE_M * TILES_IN_BLOCK_M
    BLOCK_N = TILE_N * TILES_IN_BLOCK_N
    BLOCK_K = TILE_K * TILES_IN_BLOCK_K
    NUM_BLOCK_M = M // BLOCK_M
    result = nl.ndarray((M, N), dtype=lhsT.dtype, buffer=nl.shared_hbm)
    for n in nl.affine_range(N // BLOCK_N):
        partial = _zeroed_partials(lhsT.dtype, NUM_BLOCK_M, TILES_IN_BLOCK_M, TILES_IN_BLOCK_N)
        for k in nl.sequential_range(K // BLOCK_K):
            rts = []
            for bk in range(TILES_IN_BLOCK_K):
                r0 = k * BLOCK_K + bk * TILE_K
                rt = nl.ndarray((TILE_K, BLOCK_N), dtype=rhs.dtype, buffer=nl.sbuf)
                nisa.dma_copy(dst=rt, src=rhs[r0:r0 + TILE_K, n * BLOCK_N:(n + 1) * BLOCK_N])
                rts.append(rt)
            for m in nl.affine_range(NUM_BLOCK_M):
                lts = []
                for bk in range(TILES_IN_BLOCK_K):
                    r0 = k * BLOCK_K + bk * TILE_K
                    lt = nl.ndarray((TILE_K, BLOCK_M), dtype=lhsT.dtype, buffer=nl.sbuf)
                    nisa.dma_copy(dst=lt, src=lhsT[r0:r0 + TILE_K, m * BLOCK_M:(m + 1) * BLOCK_M])
                    lts.append(lt)
                for bn in nl.affine_range(TILES_IN_BLOCK_N):
                    for bm in nl.affine_range(TILES_IN_BLOCK_M):
                        acc = nl.ndarray((TILE_M, TILE_N), dtype=nl.float32, buffer=nl.psum)
                        for bk in nl.affine_range(TILES_IN_BLOCK_K):
                            nisa.nc_matmul(
                                dst=acc,
                                stationary=lts[bk][0:TILE_K, bm * TILE_M:(bm + 1) * TILE_M],
                                moving=rts[bk][0:TILE_K, bn * TILE_N:(bn + 1) * TILE_N])
                        part = partial[m][bm][bn]
                        nisa.tensor_tensor(dst=part, data1=part, data2=acc, op=nl.add)
        for m in nl.affine_range(NUM_BLOCK_M):
            for bm in nl.affine_range(TILES_IN_BLOCK_M):
                packed = nl.ndarray((TILE_M, BLOCK_N), dtype=nl.float32, buffer=nl.sbuf)
                for bn in nl.affine_range(TILES_IN_BLOCK_N):
                    nisa.tensor_copy(dst=packed[0:TILE_M, bn * TILE_N:(bn + 1) * TILE_N],
                                     src=partial[m][bm][bn])
                r0 = m * BLOCK_M + bm * TILE_M
                nisa.dma_copy(dst=result[r0:r0 + TILE_M, n * BLOCK_N:(n + 1) * BLOCK_N],
                              src=packed)
    return result
