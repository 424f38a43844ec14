"""mode "reference": a NumPy reference run on .npy inputs, outputs written as float32 ref<i>.npy."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from tests.helpers import DRIVER, PY_ROOT

try:
    import numpy
except ImportError:
    numpy = None

REF = """
import numpy as np

def ref(a_tensor, b_tensor):
    return a_tensor @ b_tensor, np.exp(a_tensor)
"""


class Reference(unittest.TestCase):
    def test_reference_outputs(self):
        d = tempfile.mkdtemp(prefix="trnsim-fe-ref-")
        try:
            with open(os.path.join(d, "ref.py"), "w") as fh:
                fh.write(REF)
            req = {"mode": "reference", "file": os.path.join(d, "ref.py"), "function": "ref",
                   "inputs": [{"name": "a_tensor", "path": os.path.join(d, "a.npy")},
                              {"name": "b_tensor", "path": os.path.join(d, "b.npy")}],
                   "outputs_dir": d}
            if numpy is not None:
                a = numpy.array([[1.0, 2.0], [3.0, 4.0]], dtype=numpy.float32)
                # b as bf16 bit patterns (uint16), the way the binary writes bf16 tensors:
                # 0x3f80 = 1.0, 0x4000 = 2.0, 0xbf80 = -1.0, 0x0000 = 0
                b = numpy.array([[0x3F80, 0x4000], [0xBF80, 0x0000]], dtype=numpy.uint16)
                numpy.save(os.path.join(d, "a.npy"), a)
                numpy.save(os.path.join(d, "b.npy"), b)
            p = subprocess.run([sys.executable, "-c", DRIVER, PY_ROOT], input=json.dumps(req),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
            if numpy is None:
                self.assertEqual(p.returncode, 2)
                self.assertIn("--check-against needs NumPy: pip install numpy", p.stderr)
                return
            self.assertEqual(p.returncode, 0, p.stderr)
            resp = json.loads(p.stdout)
            self.assertEqual(resp["outputs"], [{"path": os.path.join(d, "ref0.npy"), "shape": [2, 2]},
                                               {"path": os.path.join(d, "ref1.npy"), "shape": [2, 2]}])
            mm = numpy.load(os.path.join(d, "ref0.npy"))
            # [[1,2],[3,4]] @ [[1,2],[-1,0]] = [[-1, 2], [-1, 6]]
            self.assertEqual(mm.dtype, numpy.float32)
            self.assertEqual(mm.tolist(), [[-1.0, 2.0], [-1.0, 6.0]])
        finally:
            shutil.rmtree(d)


if __name__ == "__main__":
    unittest.main()
