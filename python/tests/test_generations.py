"""Both API generations, the high-level operations' lowering, and determinism."""
import os
import unittest

from tests.helpers import run_source, NEW, OLD, FIXTURES

OLD_MM = """
@nki.jit
def mm(a_t, b):
    out = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
    acc = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.psum)
    for k in nl.affine_range(2):
        at = nl.load(a_t[k * 128:(k + 1) * 128, :])
        bt = nl.load(b[k * 128:(k + 1) * 128, :])
        acc[...] += nisa.nc_matmul(at, bt)
    res = nisa.activation(op=nl.exp, data=acc, scale=2.0)
    nl.store(out, value=res)
    return out
"""

NEW_MM = """
@nki.jit
def mm(a_t, b):
    out = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
    acc = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.psum)
    for k in nl.affine_range(2):
        at = nl.ndarray((128, 128), dtype=a_t.dtype, buffer=nl.sbuf)
        bt = nl.ndarray((128, 512), dtype=b.dtype, buffer=nl.sbuf)
        nisa.dma_copy(dst=at, src=a_t[k * 128:(k + 1) * 128, :])
        nisa.dma_copy(dst=bt, src=b[k * 128:(k + 1) * 128, :])
        nisa.nc_matmul(dst=acc, stationary=at, moving=bt, accumulate=True)
    res = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.sbuf)
    nisa.activation(res, nl.exp, acc, scale=2.0)
    nisa.dma_copy(dst=out, src=res)
    return out
"""

MM_ARGS = [("a_t", (256, 128), "bfloat16"), ("b", (256, 512), "bfloat16")]


class Generations(unittest.TestCase):
    def test_old_and_new_api_give_the_same_trace(self):
        old = run_source(OLD_MM, MM_ARGS, header=OLD)
        new = run_source(NEW_MM, MM_ARGS, header=NEW)
        self.assertEqual(old.rc, 0, old.stderr)
        self.assertEqual(new.rc, 0, new.stderr)
        self.assertEqual(old.trace, new.trace)
        self.assertEqual(old.lines("matmul")[1],
                         "matmul dst=ps0[0:128, 0:512] stationary=sb0[0:128, 0:128] moving=sb1[0:128, 0:512] accumulate=true")
        self.assertEqual(old.lines("activation"),
                         ["activation func=exp dst=sb2[0:128, 0:512] src=ps0[0:128, 0:512] scale=2 bias=0"])
        self.assertEqual(len(old.lines("dma_copy")), 16 * 4 + 16)

    def test_new_api_accumulate_none_follows_first_write(self):
        src = NEW_MM.replace("accumulate=True", "")
        r = run_source(src, MM_ARGS, header=NEW)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual([l.rsplit(" ", 1)[1] for l in r.lines("matmul")], ["accumulate=false", "accumulate=true"])

    def test_high_level_ops_lowering(self):
        r = run_source("""
            @nki.jit
            def k(x, y):
                out = nl.ndarray((128, 512), dtype=nl.float32, buffer=nl.shared_hbm)
                a = nl.load(x)
                b = nl.load(y)
                m = nl.max(a, axis=1, keepdims=True)
                s = nl.subtract(a, m)
                t = a * b + 1.0
                u = nl.mean(t, axis=1)
                v = nl.matmul(a[:, 0:128], b, transpose_x=True)
                w = nl.silu(s)
                nl.store(out, value=w)
                return out
            """, [("x", (128, 512), "float32"), ("y", (128, 512), "float32")], engines=1)
        self.assertEqual(r.rc, 0, r.stderr)
        body = [l for l in r.lines() if not l.startswith("dma_copy")]
        # m is [128, 1] (sb2); a * b finds no freed buffer that holds it, so it grows the freed
        # sb2; + 1.0 needs a new one (sb4: a * b is read by it); the mean reuses sb2 (best fit);
        # silu takes the [128, 512] buffer freed first of the two equal ones (sb4, read last by
        # the sum)
        self.assertEqual(body, [
            "tensor_reduce engine=vector op=max dst=sb2[0:128, 0:1] src=sb0[0:128, 0:512]",
            "tensor_scalar engine=vector dst=sb3[0:128, 0:512] src=sb0[0:128, 0:512] op0=sub scalar0=sb2[0:128, 0:1]",
            "tensor_tensor engine=vector op=mul dst=sb2[0:128, 0:512] a=sb0[0:128, 0:512] b=sb1[0:128, 0:512]",
            "tensor_scalar engine=vector dst=sb4[0:128, 0:512] src=sb2[0:128, 0:512] op0=add scalar0=1",
            "tensor_reduce engine=vector op=sum dst=sb2[0:128, 0:1] src=sb4[0:128, 0:512]",
            "tensor_scalar engine=vector dst=sb2[0:128, 0:1] src=sb2[0:128, 0:1] op0=mul scalar0=0.001953125",
            "matmul dst=ps0[0:128, 0:512] stationary=sb0[0:128, 0:128] moving=sb1[0:128, 0:512] accumulate=false",
            "activation func=silu dst=sb4[0:128, 0:512] src=sb3[0:128, 0:512] scale=1 bias=0",
        ])
        self.assertTrue(r.trace.startswith("trnsim-trace 1\n"))

    def test_format_two_only_when_used(self):
        r = run_source("""
            @nki.jit
            def k(x):
                a = nl.load(x)
                b = 2.0 - a
                c = nl.sqrt(b)
                nl.store(x, value=c)
            """, [("x", (128, 64), "float32")], engines=1)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertTrue(r.trace.startswith("trnsim-trace 2\n"))
        self.assertEqual(r.lines("tensor_scalar"), [
            "tensor_scalar engine=vector dst=sb1[0:128, 0:64] src=sb0[0:128, 0:64] op0=sub scalar0=2 reverse0=true reverse1=false"])
        self.assertEqual(r.lines("activation"), ["activation func=sqrt dst=sb0[0:128, 0:64] src=sb1[0:128, 0:64] scale=1 bias=0"])

    def test_isa_coverage_lines(self):
        r = run_source("""
            @nki.jit
            def k(x):
                a = nl.load(x)
                i_p = nl.arange(128)[:, None]
                i_f = nl.arange(64)[None, :]
                io = nisa.iota(i_p * 64 + i_f, dtype=nl.float32)
                sel = nisa.affine_select(pred=(i_p - i_f >= 0), on_true_tile=a, on_false_value=-1e9)
                st = nisa.bn_stats(a)
                ag = nisa.bn_aggr(st)
                rc = nisa.reciprocal(a)
                tp = nisa.nc_transpose(a[0:32, 0:32], engine=nisa.vector_engine)
                ts = nisa.tensor_scalar(a, nl.multiply, 2.0, op1=nl.add, operand1=ag[:, 0:1], engine=nisa.gpsimd_engine)
                r = nisa.tensor_reduce(nl.add, ts, axis=[1])
                ms = nisa.memset((128, 64), 3.0, nl.float32)
                nl.store(x, value=nl.add(nl.add(sel, io), nl.add(rc, ms)))
            """, [("x", (128, 64), "float32")], engines=1)
        self.assertEqual(r.rc, 0, r.stderr)
        body = [l.split(" dst=")[0] + " " + " ".join(p for p in l.split() if not p.startswith(("dst=", "src=", "a=", "b=")))
                for l in r.lines() if not l.startswith("dma_copy")]
        self.assertIn("iota dst=sb1[0:128, 0:64] base=0 channel_multiplier=64 step=1", r.lines("iota"))
        self.assertEqual(r.lines("affine_select")[0].split(" cmp=")[1], "ge base=0 channel_multiplier=1 step=-1 fill=-1000000000")
        self.assertEqual(r.lines("bn_stats")[0].split(" src=")[0], "bn_stats dst=sb3[0:128, 0:3]")
        self.assertEqual(r.lines("bn_aggr")[0], "bn_aggr dst=sb4[0:128, 0:2] src=sb3[0:128, 0:3]")
        self.assertEqual(r.lines("transpose"), ["transpose engine=vector dst=sb5[0:32, 0:32] src=sb0[0:32, 0:32]"])
        self.assertEqual(r.lines("tensor_scalar")[0].split(" src=")[0], "tensor_scalar engine=gpsimd dst=sb5[0:128, 0:64]")
        self.assertTrue(r.lines("tensor_scalar")[0].endswith("op0=mul scalar0=2 op1=add scalar1=sb4[0:128, 0:1]"))
        self.assertEqual(len(r.lines("memset")), 1)
        self.assertTrue(r.trace.startswith("trnsim-trace 2\n"))
        del body

    def test_determinism(self):
        path = os.path.join(FIXTURES, "matmul_fully_optimized.py")
        args = [("lhsT", (1024, 2048), "bfloat16"), ("rhs", (1024, 1024), "bfloat16")]
        a = run_source(None, args, path=path)
        b = run_source(None, args, path=path)
        self.assertEqual(a.rc, 0, a.stderr)
        self.assertEqual(a.trace, b.trace)
        # 2048 / 128 * 1024 / 512 * 1024 / 128 matmuls
        self.assertEqual(len(a.lines("matmul")), 16 * 2 * 8)


if __name__ == "__main__":
    unittest.main()
