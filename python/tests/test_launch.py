"""A launch grid in the kernel file: an entry function calls kernel[N](...), and the kernel is
recorded with LNC = N (once per program id), checked against the hardware and any --lnc."""
import unittest

from tests.helpers import run_source, line_of

ARGS = [("a", (128, 512), "float32")]

COPY = """
@nki.jit
def copy(a):
    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)
    nl.store(out, value=nl.load(a))
    return out
"""


def entry(call):
    return COPY + "\n\ndef entry(a):\n    return %s\n" % call


class Launch(unittest.TestCase):
    def run_entry(self, call, **extra):
        return run_source(entry(call), ARGS, function="entry", extra=extra)

    def fails(self, src, needle, expect, **kw):
        r = run_source(src, ARGS, **kw)
        self.assertEqual(r.rc, 2, r.stderr)
        self.assertEqual(r.stderr.strip(), "k.py:%d: %s" % (line_of(src, needle), expect))

    def test_grid_sets_lnc_and_records_once_per_program(self):
        one = self.run_entry("copy[1](a)")
        plain = self.run_entry("copy(a)")
        two = self.run_entry("copy[2](a)")
        for r in (one, plain, two):
            self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual((one.response["lnc"], plain.response["lnc"], two.response["lnc"]), (1, 1, 2))
        # Each program copies the whole tensor: two cores record the one core's DMAs twice.
        self.assertEqual(len(one.lines("dma_copy")), 32)  # load and store, 16 DMA engines each
        self.assertEqual(one.trace, plain.trace)
        self.assertEqual(len(two.lines("dma_copy")), 64)
        # Each core its own SBUF tile; the HBM tensors shared.
        self.assertEqual([b.split()[1] for b in two.buffers("sbuf")], ["sb0", "sb0_c1"])
        self.assertEqual(len(two.buffers("hbm")), 2)
        self.assertEqual(two.response["kernel"], "entry")

    def test_grid_agreeing_with_a_given_lnc(self):
        r = self.run_entry("copy[2](a)", lnc=2, lnc_given=True)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.response["lnc"], 2)

    def test_grid_errors_at_the_launch_line(self):
        src = entry("copy[2](a)")
        self.fails(src, "copy[2]", "launch: a launch grid of 2 needs LNC=2: trn2 runs one physical core per "
                   "logical NeuronCore (chip.lnc_max = 1)", function="entry", extra={"lnc_max": 1})
        self.fails(src, "copy[2]", "launch: the launch grid of 2 differs from the LNC in use (--lnc 1): NKI "
                   "launches an LNC kernel on a grid of the LNC degree", function="entry",
                   extra={"lnc": 1, "lnc_given": True})
        src = entry("copy[4](a)")
        self.fails(src, "copy[4]", "kernel[grid]: a launch grid of 4 programs: trnsim runs grids of 1 to 2 "
                   "(each program on one physical core of a logical NeuronCore, LNC <= 2)", function="entry")
        src = entry("copy[1, 2](a)")
        self.fails(src, "copy[1, 2]", "kernel[grid]: a launch grid has one axis (LNC); found (1, 2)",
                   function="entry")
        src = entry("copy[nl.nc(2)](a)")
        self.fails(src, "copy[nl.nc(2)]", "nl.nc: not supported by trnsim's NKI front end", function="entry")

    def test_one_launch_per_entry(self):
        src = COPY + "\n\ndef entry(a):\n    copy[1](a)\n    return copy[1](a)\n"
        self.fails(src, "return copy", "launch: a second kernel launch (the first is at line %d): trnsim "
                   "records one launch" % (line_of(src, "copy[1](a)")), function="entry")
        src = COPY + "\n\ndef entry(a):\n    return None\n"
        self.fails(src, "def entry", "launch: the entry function 'entry' launches no kernel (kernel[N](...))",
                   function="entry")

    def test_an_unnamed_entry_is_the_only_function_of_a_file_without_kernels(self):
        r = run_source("def helper(a):\n    return a\n\ndef other(a):\n    return a\n", ARGS)
        self.assertEqual(r.rc, 2, r.stderr)
        self.assertEqual(r.stderr.strip(), "k.py:1: kernel: expected exactly one function decorated as a kernel "
                         "(@nki.jit, @nki.baremetal, ...), or with none one entry function that launches a "
                         "kernel (kernel[N](...)); found helper, other: name one as FILE.py::FUNCTION")

    def test_grid_inside_a_kernel(self):
        src = COPY + "\n\n@nki.jit\ndef outer(a):\n    return copy[2](a)\n"
        self.fails(src, "copy[2]", "kernel[grid]: a launch grid of 2 inside a kernel: trnsim reads the grid "
                   "where the entry function (FILE.py::FUNCTION, not a kernel) launches the kernel",
                   function="outer")

    def test_entry_file_imports_its_kernel_and_errors_locate_in_it(self):
        lib = """
            @nki.jit
            def bad(a):
                t = nl.load(a)
                u = nl.atan2(t, t)
                return t
            """
        r = run_source("from lib import bad\n\ndef go(a):\n    return bad[2](a)\n", ARGS,
                       files={"lib.py": lib})
        self.assertEqual(r.rc, 2, r.stderr)
        self.assertEqual(r.stderr.strip(), "lib.py:%d: nl.atan2: not supported by trnsim's NKI front end"
                         % line_of(lib, "nl.atan2"))
        r = run_source("from lib import good\n\ndef go(a):\n    return good[2](a)\n", ARGS,
                       files={"lib.py": COPY.replace("copy", "good")})
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual((r.response["kernel"], r.response["lnc"]), ("go", 2))


if __name__ == "__main__":
    unittest.main()
