"""Allocation by liveness: reuse, the peak, oversized logical tensors, over-capacity errors."""
import unittest

from tests.helpers import run_source, line_of

STREAM = """
@nki.jit
def k(a):
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    for i in nl.affine_range(8):
        t = nl.load(a[i * 128:(i + 1) * 128, :])
        u = nl.exp(t)
        nl.store(out[i * 128:(i + 1) * 128, :], value=u)
    return out
"""

BLOCKS = """
@nki.jit
def k(a):
    big = nl.ndarray((12, 32, 5, nl.par_dim(128), 1024), dtype=nl.float32, buffer=nl.sbuf)
    for i in nl.affine_range(12):
        for j in nl.affine_range(32):
            for l in nl.affine_range(5):
                big[i, j, l, :, :] = nl.load(a[0:128, 0:1024])
                nl.store(a[0:128, 0:1024], value=big[i, j, l, :, :])
"""

HOARD = """
@nki.jit
def k(a):
    blocks = nl.ndarray((60, nl.par_dim(128), 1024), dtype=nl.float32, buffer=nl.sbuf)
    for i in nl.affine_range(60):
        blocks[i, :, :] = nl.load(a[0:128, 0:1024])
    for i in nl.affine_range(60):
        nl.store(a[0:128, 0:1024], value=blocks[i, :, :])
"""


class Alloc(unittest.TestCase):
    def test_buffers_are_reused_across_iterations(self):
        r = run_source(STREAM, [("a", (1024, 512), "bfloat16")], engines=1)
        self.assertEqual(r.rc, 0, r.stderr)
        # per iteration two live tiles: t (load .. exp) and u (exp .. store); both are free
        # when the next iteration starts, so two [128, 512] buffers serve all eight
        self.assertEqual(r.buffers("sbuf"), ["buffer sb%d sbuf bfloat16 [128, 512] zeros" % i for i in range(2)])
        acts = r.lines("activation")
        self.assertEqual(len(acts), 8)
        self.assertEqual(acts[0], "activation func=exp dst=sb1[0:128, 0:512] src=sb0[0:128, 0:512] scale=1 bias=0")
        # iteration 2: t takes sb0 (freed at the exp, before sb1 at the store), u takes sb1
        self.assertEqual(acts[1], "activation func=exp dst=sb1[0:128, 0:512] src=sb0[0:128, 0:512] scale=1 bias=0")

    def test_rotation_gives_each_iteration_new_buffers_while_the_sbuf_allows(self):
        # With rotation the eight iterations' 16 tiles (1 KiB per partition each) all fit the
        # 192 KiB, so no tile reuses a buffer another freed: no write waits for an old read.
        r = run_source(STREAM, [("a", (1024, 512), "bfloat16")], engines=1, rotation=True)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.buffers("sbuf")), 16)
        acts = r.lines("activation")
        self.assertEqual(acts[1], "activation func=exp dst=sb3[0:128, 0:512] src=sb2[0:128, 0:512] scale=1 bias=0")

    def test_rotation_shrinks_to_what_fits(self):
        # 4 KiB of SBUF per partition: room for the two live tiles and two more; the budget
        # search keeps every tile within it (the compact allocation needs 2 KiB).
        r = run_source(STREAM, [("a", (1024, 512), "bfloat16")], engines=1, sbuf=4096, rotation=True)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.buffers("sbuf")), 4)

    def test_oversized_logical_tensor_fits_by_liveness(self):
        # 12 * 32 * 5 blocks of 4 KiB per partition = 7.5 MiB logical; one block live at a time
        r = run_source(BLOCKS, [("a", (128, 1024), "float32")], engines=1)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.lines("dma_copy")), 2 * 12 * 32 * 5)
        self.assertEqual(r.buffers("sbuf"), ["buffer sb0 sbuf float32 [128, 1024] zeros"])

    def test_over_capacity_names_tensor_line_and_peak(self):
        r = run_source(HOARD, [("a", (128, 1024), "float32")], engines=1)
        self.assertEqual(r.rc, 2)
        line = line_of(HOARD, "blocks = nl.ndarray")
        # 48 blocks of 4 KiB fill 192 KiB; the 49th does not fit; all 60 are live at the peak
        self.assertEqual(r.stderr.strip(),
                         "k.py:%d: nl.ndarray: SBUF tensor (block [48]) does not fit: the SBUF tensors live "
                         "with it need 240 KiB per partition at their peak (this block 4 KiB), trn2 has 192 KiB" % line)

    def test_same_kernel_fits_a_bigger_sbuf(self):
        r = run_source(HOARD, [("a", (128, 1024), "float32")], engines=1, sbuf=60 * 4096)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.buffers("sbuf")), 60)

    def test_psum_counts_banks(self):
        src = """
        @nki.jit
        def k(a):
            ps = nl.ndarray((9, nl.par_dim(128), 512), dtype=nl.float32, buffer=nl.psum)
            x = nl.load(a)
            for i in nl.affine_range(9):
                ps[i, :, :] = nisa.nc_matmul(x[:, 0:128], x)
            for i in nl.affine_range(9):
                nl.store(a, value=nl.copy(ps[i, :, :], dtype=nl.bfloat16))
        """
        r = run_source(src, [("a", (128, 512), "bfloat16")])
        self.assertEqual(r.rc, 2)
        line = line_of(src, "ps = nl.ndarray")
        self.assertIn("k.py:%d: nl.ndarray: PSUM tensor (block [8]) does not fit: the PSUM tensors live with it "
                      "need 18 KiB per partition at their peak (this block 2 KiB)" % line, r.stderr)
        self.assertIn("trn2 has 16 KiB", r.stderr)


if __name__ == "__main__":
    unittest.main()


PSUM_LOOP = """
@nki.jit
def k(a, b):
    out = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
    x = nl.load(a)
    y = nl.load(b)
    s = nl.zeros((128, 512), dtype=nl.float32, buffer=nl.sbuf)
    for i in nl.affine_range(10):
        acc = nisa.nc_matmul(x, y)
        s = nl.add(s, acc)
    nl.store(out, value=s)
    return out
"""


class PsumBanks(unittest.TestCase):
    def test_psum_tiles_rotate_over_the_eight_banks(self):
        # Ten [128, 512] fp32 results (one 2 KiB bank each) one after the other: banks 0-7 in
        # turn while one is unused, then the least recently freed (ps0, then ps1).
        r = run_source(PSUM_LOOP, [("a", (128, 128), "float32"), ("b", (128, 512), "float32")],
                       engines=1)
        self.assertEqual(r.rc, 0, r.stderr)
        dsts = [l.split(" dst=")[1].split("[")[0] for l in r.lines("matmul")]
        self.assertEqual(dsts, ["ps%d" % i for i in range(8)] + ["ps0", "ps1"])
