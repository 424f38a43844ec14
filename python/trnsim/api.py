"""``trnsim.simulate``: run an NKI kernel through the ``trnsim`` binary (``trnsim nki``) with
NumPy arrays in and out. NumPy is imported only when ``simulate`` runs, so importing the package
stays standard-library only (the binary's front end imports it too)."""

import inspect
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

__all__ = ["simulate", "find_binary"]

# ml_dtypes names of the narrow dtypes the binary takes as raw bits (with --dtype PARAM=NAME).
_RAW_DTYPES = {
    "bfloat16": "bfloat16",
    "float8_e4m3": "float8_e4m3",
    "float8_e4m3fn": "float8_e4m3fn",
    "float8_e5m2": "float8_e5m2",
    "float8_e3m4": "float8_e3m4",
}


def find_binary():
    """The trnsim binary: $TRNSIM_BIN, else next to this interpreter's installed scripts (where
    ``pip install .`` puts it), else on PATH."""
    env = os.environ.get("TRNSIM_BIN")
    if env:
        return env
    exe = "trnsim.exe" if os.name == "nt" else "trnsim"
    for scripts in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        if scripts and os.path.isfile(os.path.join(scripts, exe)):
            return os.path.join(scripts, exe)
    found = shutil.which("trnsim")
    if found:
        return found
    raise FileNotFoundError(
        "trnsim binary not found: `pip install .` at the trnsim checkout, or set TRNSIM_BIN"
    )


def _kernel_location(kernel):
    """(file, function name) of a kernel, decorated or not: decorators that wrap keep the
    original in ``__wrapped__`` (functools.wraps) or a ``func``/``fn`` attribute."""
    seen = 0
    while seen < 8:
        inner = getattr(kernel, "__wrapped__", None) or getattr(kernel, "func", None) or getattr(
            kernel, "fn", None
        )
        if inner is None or not callable(inner):
            break
        kernel, seen = inner, seen + 1
    try:
        path = inspect.getsourcefile(kernel) or inspect.getfile(kernel)
    except TypeError:
        raise TypeError("simulate: kernel must be a Python function defined in a file") from None
    return os.path.abspath(path), kernel.__name__


def _param_names(kernel, count):
    inner = kernel
    for attr in ("__wrapped__", "func", "fn"):
        inner = getattr(inner, attr, inner)
    names = list(inspect.signature(inner).parameters)
    if count > len(names):
        raise TypeError("simulate: %d arrays for %d kernel parameters" % (count, len(names)))
    return names[:count]


def _save(np, path, array):
    """Save an input; the binary's --dtype for it (None: the .npy header says it). bf16/fp8
    arrays (ml_dtypes) are saved as their raw bits, which the binary reads exactly."""
    array = np.ascontiguousarray(array)
    name = array.dtype.name
    if name in _RAW_DTYPES:
        width = array.dtype.itemsize
        np.save(path, array.view(np.uint8 if width == 1 else np.uint16))
        return _RAW_DTYPES[name]
    if name in ("float32", "float16"):
        np.save(path, array)
        return None
    # Integers, float64 and the rest: float32 values, which the binary rounds to the dtype.
    np.save(path, array.astype(np.float32))
    return None


def simulate(kernel, *arrays, hw="trn2", binary=None, python=None, no_data=False, **kwargs):
    """Run ``kernel`` on trnsim's model of ``hw`` (trn1, trn2, trn3) with NumPy ``arrays`` as its
    positional arguments (and ``kwargs`` arrays by parameter name). ``kernel`` is a function
    (decorated or not) defined in a file, or the string ``"FILE.py::NAME"`` (arrays by name
    only). Returns ``(outs, report)``: the kernel's outputs as float32 NumPy arrays (converted back to a bf16/fp8 dtype when
    ml_dtypes is installed; one array, a tuple, or None) and the report as a dict with
    ``trnsim run --format json``'s fields."""
    import numpy as np

    if isinstance(kernel, str):
        # "FILE.py::NAME": a kernel whose module this interpreter cannot import (no Neuron SDK).
        if arrays:
            raise TypeError('simulate: with a "FILE::NAME" kernel pass the arrays by name')
        path, sep, name = kernel.rpartition("::")
        if not sep:
            path, name = kernel, ""
        path = os.path.abspath(path)
        named = dict(kwargs)
    else:
        path, name = _kernel_location(kernel)
        named = dict(zip(_param_names(kernel, len(arrays)), arrays))
        named.update(kwargs)
    target = "%s::%s" % (path, name) if name else path
    exe = binary or find_binary()
    with tempfile.TemporaryDirectory(prefix="trnsim-simulate-") as tmp:
        cmd = [exe, "nki", target, "--hw", hw, "--format", "json"]
        for param, array in named.items():
            p = os.path.join(tmp, "in-%s.npy" % param)
            raw = _save(np, p, array if hasattr(array, "dtype") else np.asarray(array))
            cmd += ["--input", "%s=%s" % (param, p)]
            if raw:
                cmd += ["--dtype", "%s=%s" % (param, raw)]
        if python:
            cmd += ["--python", python]
        if no_data:
            cmd.append("--no-data")
        if not no_data:
            cmd += ["--output-dir", tmp]
        run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if run.returncode != 0:
            raise RuntimeError("trnsim nki failed (exit %d):\n%s" % (run.returncode, run.stderr))
        report = json.loads(run.stdout)
        outputs = []
        if not no_data:
            with open(os.path.join(tmp, "outputs.json")) as f:
                outputs = json.load(f)
        outs = [_load(np, o["path"], o) for o in outputs]
    if not outputs:
        return None, report
    return (outs[0] if len(outs) == 1 else tuple(outs)), report


def _load(np, path, out):
    values = np.load(path)
    dtype = out.get("dtype") or "float32"
    if dtype in _RAW_DTYPES:
        try:
            import ml_dtypes

            return values.astype(getattr(ml_dtypes, dtype))
        except (ImportError, AttributeError):
            return values
    return values.astype(dtype) if dtype in ("float16",) else values
