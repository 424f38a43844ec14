"""The NeuronCore-v3/v4 features of nki.isa: PE array tiling and Vector exponential (and the
MX matmul, which the front end does not lower: a located error)."""
import unittest

from tests.helpers import run_source, NEW

TILED = """
@nki.jit
def k(a, b):
    out = nl.ndarray((64, 512), dtype=nl.float32, buffer=nl.shared_hbm)
    st = nl.ndarray((64, 64), dtype=a.dtype, buffer=nl.sbuf)
    mv = nl.ndarray((64, 512), dtype=b.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=st, src=a)
    nisa.dma_copy(dst=mv, src=b)
    acc = nl.ndarray((64, 512), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul(dst=acc, stationary=st, moving=mv, tile_position=(64, 0), tile_size=(64, 64))
    res = nl.ndarray((64, 512), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_copy(dst=res, src=acc)
    nisa.dma_copy(dst=out, src=res)
    return out
"""
TILED_ARGS = [("a", (64, 64), "bfloat16"), ("b", (64, 512), "bfloat16")]

EXP = """
@nki.jit
def k(x):
    out = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
    xs = nl.ndarray((128, 512), dtype=x.dtype, buffer=nl.sbuf)
    nisa.dma_copy(dst=xs, src=x)
    m = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.tensor_reduce(dst=m, op=nl.maximum, data=xs, axis=1)
    e = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.sbuf)
    s = nl.ndarray((128, 1), dtype=nl.float32, buffer=nl.sbuf)
    nisa.exponential(dst=e, src=xs, max_value=m, reduce_res=s, reduce_cmd=nisa.reduce_cmd.reset_reduce)
    nisa.dma_copy(dst=out, src=e)
    return out
"""


class IsaV4(unittest.TestCase):
    def test_tile_position_and_size_become_format_2_keys(self):
        r = run_source(TILED, TILED_ARGS, header=NEW)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertTrue(r.trace.startswith("trnsim-trace 2\n"), r.trace[:40])
        [mm] = r.lines("matmul")
        self.assertTrue(mm.endswith(" accumulate=false tile_position=64,0 tile_size=64,64"), mm)

    def test_tile_position_needs_tile_size(self):
        r = run_source(TILED.replace(", tile_size=(64, 64)", ""), TILED_ARGS, header=NEW)
        self.assertEqual(r.rc, 2, r.stderr)
        self.assertIn("tile_position and tile_size go together", r.stderr + str(r.response))

    def test_exponential_lowers_to_one_vector_instruction(self):
        r = run_source(EXP, [("x", (128, 512), "float32")], header=NEW)
        self.assertEqual(r.rc, 0, r.stderr)
        [e] = r.lines("exponential")
        self.assertTrue(e.startswith("exponential dst="), e)
        self.assertIn(" max_value=", e)
        self.assertIn(" reduce_dst=", e)
        self.assertTrue(r.trace.startswith("trnsim-trace 2\n"))

    def test_exponential_accumulating_across_instructions_is_refused(self):
        src = EXP.replace("reset_reduce", "reduce")
        r = run_source(src, [("x", (128, 512), "float32")], header=NEW)
        self.assertEqual(r.rc, 2, r.stderr)
        self.assertIn("reduce_cmd=reduce is not supported", r.stderr + str(r.response))


if __name__ == "__main__":
    unittest.main()


MX = """
@nki.jit
def k(a):
    out = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
    acc = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.psum)
    nisa.nc_matmul_mx(dst=acc, stationary=a, moving=a, stationary_scale=a, moving_scale=a)
    return out
"""


class MxNotLowered(unittest.TestCase):
    def test_nc_matmul_mx_is_a_located_error_not_a_traceback(self):
        r = run_source(MX, [("a", (128, 512), "float32")], header=NEW)
        self.assertEqual(r.rc, 2, r.stderr)
        text = r.stderr + str(r.response)
        self.assertIn("nc_matmul_mx", text)
        self.assertIn("not supported by trnsim's NKI front end", text)
        self.assertNotIn("Traceback", text)
