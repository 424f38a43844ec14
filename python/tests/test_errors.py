"""Located errors: FILE:LINE: CONSTRUCT: MESSAGE, kernel exceptions with the kernel's traceback."""
import unittest

from tests.helpers import run_source, line_of

ARGS = [("a", (128, 512), "float32")]


class Errors(unittest.TestCase):
    def check(self, src, needle, expect, args=ARGS, **kw):
        r = run_source(src, args, **kw)
        self.assertEqual(r.rc, 2, r.stderr)
        self.assertEqual(r.stderr.strip(), "k.py:%d: %s" % (line_of(src, needle), expect))

    def test_unsupported_name_used(self):
        self.check("""
            @nki.jit
            def k(a):
                x = nl.load(a)
                y = nl.atan2(x, x)
            """, "nl.atan2", "nl.atan2: not supported by trnsim's NKI front end")

    def test_unsupported_name_imported_but_unused_is_fine(self):
        r = run_source("""
            from neuronxcc.nki.language import atan2, some_future_thing
            import neuronxcc.nki.typing as nt

            @nki.jit
            def k(a: nt.tensor[[128, 512], nl.float32]):
                nl.store(a, value=nl.exp(nl.load(a)))
            """, ARGS)
        self.assertEqual(r.rc, 0, r.stderr)

    def test_unsupported_isa_op_as_operator(self):
        self.check("""
            @nki.jit
            def k(a):
                x = nl.load(a)
                y = nisa.activation(op=nl.arctan, data=x)
            """, "nisa.activation", "nisa.activation: activation function nl.arctan is not supported by "
            "trnsim's NKI front end (supported: abs, absolute, copy, cos, erf, "
            "exp, gelu, gelu_apprx, gelu_apprx_tanh, identity, log, reciprocal, relu, rsqrt, sigmoid, sign, silu, "
            "sin, softplus, sqrt, square, tanh)")

    def test_mask_that_is_not_a_box(self):
        self.check("""
            @nki.jit
            def k(a):
                i_p = nl.arange(128)[:, None]
                i_f = nl.arange(512)[None, :]
                x = nl.load(a[i_p, i_f], mask=(i_f - i_p < 0))
            """, "mask=", "mask: only comparisons of one nl.arange axis can be expressed (an affine box); "
            "use nisa.affine_select")

    def test_out_of_bounds_index(self):
        self.check("""
            @nki.jit
            def k(a):
                x = nl.load(a[0:128, 256:768])
            """, "nl.load", "index: slice 256:768 is out of bounds of dimension 1 (size 512) of a [128, 512] tensor")

    def test_kernel_exception_has_the_kernels_traceback(self):
        src = """
            def helper(n):
                return 128 // n

            @nki.jit
            def k(a):
                t = helper(0)
            """
        r = run_source(src, ARGS)
        self.assertEqual(r.rc, 2)
        lines = r.stderr.strip().splitlines()
        inner, outer = line_of(src, "return 128 // n"), line_of(src, "t = helper(0)")
        self.assertEqual(lines[0], "k.py:%d: exception in kernel: ZeroDivisionError: integer division or modulo by zero" % inner)
        self.assertEqual(lines[1:], [
            "Traceback (the kernel's frames, most recent call last):",
            '  File "k.py", line %d, in k' % outer, "    t = helper(0)",
            '  File "k.py", line %d, in helper' % inner, "    return 128 // n"])

    def test_missing_argument(self):
        self.check("""
            @nki.jit
            def k(a, b):
                pass
            """, "def k(a, b)", "argument: kernel parameter 'b' has no input (give --input b=FILE.npy)")

    def test_no_or_several_kernels(self):
        r = run_source("""
            @nki.jit
            def k1(a):
                pass

            @nki.baremetal(save_neff_name="x.neff")
            def k2(a):
                pass
            """, ARGS)
        self.assertEqual(r.rc, 2)
        self.assertEqual(r.stderr.strip(), "k.py:1: kernel: expected exactly one function decorated as a kernel "
                         "(@nki.jit, @nki.baremetal, ...); found k1, k2: name one as FILE.py::FUNCTION")
        r = run_source("""
            @nki.jit
            def k1(a):
                pass

            @nki.baremetal(save_neff_name="x.neff")
            def k2(a):
                nl.store(a, value=nl.load(a))
            """, ARGS, function="k2")
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.response["kernel"], "k2")

    def test_partition_dimension_too_large(self):
        self.check("""
            @nki.jit
            def k(a):
                t = nl.ndarray((256, 512), dtype=nl.float32, buffer=nl.sbuf)
            """, "t = nl.ndarray", "nl.ndarray: partition dimension of 256 exceeds 128 partitions "
            "(use nl.par_dim or a smaller first dimension)")


if __name__ == "__main__":
    unittest.main()
