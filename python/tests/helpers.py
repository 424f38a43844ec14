"""Run the front end as the binary does: a JSON request on stdin of a fresh interpreter."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

PY_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
DRIVER = "import sys; sys.path.insert(0, sys.argv[1]); from trnsim.nki.driver import main; sys.exit(main())"

OLD = "import neuronxcc.nki as nki\nimport neuronxcc.nki.language as nl\nimport neuronxcc.nki.isa as nisa\n"
NEW = "import nki\nimport nki.language as nl\nimport nki.isa as nisa\n"


class Result(object):
    def __init__(self, rc, response, stderr, trace):
        self.rc, self.response, self.stderr, self.trace = rc, response, stderr, trace

    def lines(self, opcode=None):
        """Instruction lines (after the buffer lines), optionally of one opcode."""
        out = [l for l in self.trace.splitlines()[2:] if not l.startswith("buffer ")]
        return [l for l in out if opcode is None or l.split(" ", 1)[0] == opcode]

    def buffers(self, mem=None):
        out = [l for l in self.trace.splitlines() if l.startswith("buffer ")]
        return [l for l in out if mem is None or l.split()[2] == mem]


def run_source(src, args, function=None, sbuf=196608, psum=16384, engines=16, header=OLD, path=None,
               rotation=False, extra=None, files=None):
    """Record kernel source `src` (dedented, headed by the imports) with `args`
    ([(name, shape, dtype)]). Returns a Result. SBUF address rotation is off unless asked for,
    so the buffers tests name are the compact allocation's. `extra` adds request fields; `files`
    ({name: source}) are written next to the kernel file (modules it imports)."""
    d = tempfile.mkdtemp(prefix="trnsim-fe-test-")
    try:
        kp = path or os.path.join(d, "k.py")
        if path is None:
            with open(kp, "w") as fh:
                fh.write(header + textwrap.dedent(src))
        for name, text in (files or {}).items():
            with open(os.path.join(d, name), "w") as fh:
                fh.write(header + textwrap.dedent(text))
        tp = os.path.join(d, "k.trace")
        req = {"mode": "record", "kernel_file": kp, "function": function, "hw": "trn2",
               "dma_engines": engines, "sbuf_bytes_per_partition": sbuf,
               "psum_bytes_per_partition": psum, "trace_path": tp, "address_rotation": rotation,
               "args": [{"name": n, "shape": list(s), "dtype": t} for n, s, t in args]}
        req.update(extra or {})
        p = subprocess.run([sys.executable, "-c", DRIVER, PY_ROOT], input=json.dumps(req),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        resp = json.loads(p.stdout) if p.returncode == 0 else None
        trace = ""
        if os.path.exists(tp):
            with open(tp) as fh:
                trace = fh.read()
        return Result(p.returncode, resp, p.stderr, trace)
    finally:
        shutil.rmtree(d)


def line_of(src, needle):
    """1-based line of `needle` in the kernel file built from `src` (imports prepended)."""
    text = OLD + textwrap.dedent(src)
    for i, l in enumerate(text.splitlines()):
        if needle in l:
            return i + 1
    raise AssertionError(needle)
