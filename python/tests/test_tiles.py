"""Tiles and access patterns: indexing lowered to trace tiles, checked against hand-computed text."""
import unittest

from tests.helpers import run_source


class Tiles(unittest.TestCase):
    def rec(self, src, args, **kw):
        r = run_source(src, args, **kw)
        self.assertEqual(r.rc, 0, r.stderr)
        return r

    def test_load_splits_over_sixteen_queues(self):
        r = self.rec("""
            @nki.jit
            def k(a):
                out = nl.ndarray((128, 512), dtype=a.dtype, buffer=nl.shared_hbm)
                t = nl.load(a[128:256, 0:512])
                nl.store(out, value=t)
                return out
            """, [("a", (256, 512), "float32")])
        dma = r.lines("dma_copy")
        self.assertEqual(len(dma), 32)
        # 128 partitions over 16 engines: 8 each, consecutive ranges, queue E.0
        self.assertEqual(dma[0], "dma_copy dst=sb0[0:8, 0:512] src=a[128:136, 0:512] queue=0.0")
        self.assertEqual(dma[15], "dma_copy dst=sb0[120:128, 0:512] src=a[248:256, 0:512] queue=15.0")
        self.assertEqual(dma[16], "dma_copy dst=out[0:8, 0:512] src=sb0[0:8, 0:512] queue=0.0")
        self.assertEqual(r.buffers("sbuf"), ["buffer sb0 sbuf float32 [128, 512] zeros"])
        self.assertEqual(r.response["outputs"], [{"name": "out", "buffer": "out", "shape": [128, 512], "dtype": "float32"}])

    def test_uneven_split_first_ones_larger(self):
        r = self.rec("""
            @nki.jit
            def k(a):
                i_p = nl.arange(100)[:, None]
                i_f = nl.arange(64)[None, :]
                t = nl.load(a[i_p, i_f])
                nl.store(a[i_p, i_f], value=t)
            """, [("a", (100, 64), "bfloat16")])
        dma = r.lines("dma_copy")[:16]
        # 100 = 16 * 6 + 4: the first four pieces carry 7 partitions, the rest 6
        self.assertEqual(dma[0], "dma_copy dst=sb0[0:7, 0:64] src=a[0:7, 0:64] queue=0.0")
        self.assertEqual(dma[3], "dma_copy dst=sb0[21:28, 0:64] src=a[21:28, 0:64] queue=3.0")
        self.assertEqual(dma[4], "dma_copy dst=sb0[28:34, 0:64] src=a[28:34, 0:64] queue=4.0")
        self.assertEqual(dma[15], "dma_copy dst=sb0[94:100, 0:64] src=a[94:100, 0:64] queue=15.0")

    def test_transposed_hbm_read_uses_row_step(self):
        r = self.rec("""
            @nki.jit
            def k(a):
                i_p = nl.arange(64)[:, None]
                i_f = nl.arange(128)[None, :]
                t = nl.load(a[i_f, i_p])
                nl.store(a[0:64, 0:128], value=t)
            """, [("a", (128, 128), "float32")], engines=1)
        # element (p, j) = a[j, p] = flat p * 1 + 128 * j
        self.assertEqual(r.lines("dma_copy")[0], "dma_copy dst=sb0[0:64, 0:128] src=a[0:64:1, @0[128,128]] queue=0.0")

    def test_strided_free_axes_and_blocks(self):
        r = self.rec("""
            @nki.jit
            def k(a):
                t = nl.ndarray((3, nl.par_dim(128), 4, 512), dtype=nl.float32, buffer=nl.sbuf)
                t[2, :, 1:3, 0:256] = nl.load(a[0:128, 0:512])
                u = nl.exp(t[2, :, 1:3, 0:256])
                nl.store(a[0:128, 0:512], value=u)
            """, [("a", (128, 512), "float32")], engines=1)
        # dims (4, 512) after the partition: rows 1..2 (stride 512), columns 0..255
        self.assertEqual(r.lines("dma_copy")[0], "dma_copy dst=sb0[0:128, @512[512,2][1,256]] src=a[0:128, 0:512] queue=0.0")
        self.assertEqual(r.lines("activation")[0],
                         "activation func=exp dst=sb1[0:128, 0:512] src=sb0[0:128, @512[512,2][1,256]] scale=1 bias=0")
        # one block of 4 * 512 fp32 per partition is all that is allocated for t
        self.assertIn("buffer sb0 sbuf float32 [128, 2048] zeros", r.buffers())

    def test_mgrid_offsets_and_mask_clip(self):
        r = self.rec("""
            @nki.jit
            def k(a):
                i = nl.mgrid[0:128, 0:256]
                for j in nl.affine_range(2):
                    t = nl.load(a[i.p, j * 256 + i.x], mask=(i.p < 100))
                    nl.store(a[i.p, j * 256 + i.x], value=t, mask=(j * 256 + i.x < 300))
            """, [("a", (128, 512), "float32")], engines=1)
        d = r.lines("dma_copy")
        self.assertEqual(d[0], "dma_copy dst=sb0[0:100, 0:256] src=a[0:100, 0:256] queue=0.0")
        self.assertEqual(d[1], "dma_copy dst=a[0:128, 0:256] src=sb0[0:128, 0:256] queue=0.0")
        self.assertEqual(d[2], "dma_copy dst=sb0[0:100, 0:256] src=a[0:100, 256:512] queue=0.0")
        # second store: columns 256 + x < 300 -> x in 0..43
        self.assertEqual(d[3], "dma_copy dst=a[0:128, 256:300] src=sb0[0:128, 0:44] queue=0.0")

    def test_matmul_accumulates_into_psum(self):
        r = self.rec("""
            @nki.jit
            def k(a, b):
                out = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
                acc = nl.zeros((128, 512), dtype=nl.float32, buffer=nl.psum)
                for kk in nl.affine_range(2):
                    at = nl.load(a[kk * 128:(kk + 1) * 128, :])
                    bt = nl.load(b[kk * 128:(kk + 1) * 128, :])
                    acc += nisa.nc_matmul(at, bt)
                res = nl.copy(acc, dtype=nl.float32)
                nl.store(out, value=res)
                return out
            """, [("a", (256, 128), "bfloat16"), ("b", (256, 512), "bfloat16")], engines=1)
        mm = r.lines("matmul")
        self.assertEqual(mm, ["matmul dst=ps0[0:128, 0:512] stationary=sb0[0:128, 0:128] moving=sb1[0:128, 0:512] accumulate=true"] * 2)
        self.assertEqual(r.lines("memset"), ["memset engine=vector dst=ps0[0:128, 0:512] value=0"])
        self.assertEqual(r.lines("tensor_copy"), ["tensor_copy engine=vector dst=sb2[0:128, 0:512] src=ps0[0:128, 0:512]"])
        self.assertTrue(r.trace.startswith("trnsim-trace 1\nkernel k\n"))


if __name__ == "__main__":
    unittest.main()
