"""mode "reference": run a NumPy reference function on .npy inputs and write its outputs as
float32 .npy files (NKI_CONTRACT section 1)."""
import inspect
import os
import traceback

from .errors import NkiError


def fp8_table(exp_bits, man_bits, fn):
    """float32 values of the 256 codes of an fp8 format (fn: no infinities, NaN only at S.1111.111)."""
    bias = (1 << (exp_bits - 1)) - 1
    out = []
    for code in range(256):
        s = -1.0 if code & 0x80 else 1.0
        e = (code >> man_bits) & ((1 << exp_bits) - 1)
        m = code & ((1 << man_bits) - 1)
        top = (1 << exp_bits) - 1
        if not fn and e == top:
            out.append(s * float("inf") if m == 0 else float("nan"))
        elif fn and e == top and m == (1 << man_bits) - 1:
            out.append(float("nan"))
        elif e == 0:
            out.append(s * m * 2.0 ** (1 - bias - man_bits))
        else:
            out.append(s * (1 + m / float(1 << man_bits)) * 2.0 ** (e - bias))
    return out


def to_f32(np, a, dtype):
    if a.dtype.kind == "f":
        return a.astype(np.float32)
    if a.dtype == np.uint16:
        if dtype in (None, "bfloat16", "bf16"):
            return (a.astype(np.uint32) << 16).view(np.float32)
        return a.view(np.float16).astype(np.float32)
    if a.dtype == np.uint8:
        fmt = {"float8_e5m2": (5, 2, False), "float8_e3m4": (3, 4, True)}.get(dtype, (4, 3, True))
        return np.array(fp8_table(*fmt), dtype=np.float32)[a]
    if a.dtype == np.uint32:
        return a.view(np.float32)
    return a.astype(np.float32)


def reference(req):
    try:
        import numpy as np
    except ImportError:
        raise NkiError("--check-against", "--check-against needs NumPy: pip install numpy", None)
    path, fname = req["file"], req["function"]
    base = os.path.basename(path)
    try:
        with open(path) as fh:
            code = compile(fh.read(), path, "exec")
    except OSError as e:
        raise NkiError("reference", "cannot read %s: %s" % (path, e.strerror), None)
    except SyntaxError as e:
        raise NkiError("syntax", e.msg, (base, e.lineno or 0))
    g = {"__name__": "__nki_reference__", "__file__": path}
    kwargs = {}
    for inp in req.get("inputs", []):
        kwargs[inp["name"]] = to_f32(np, np.load(inp["path"]), inp.get("dtype"))
    try:
        exec(code, g)
        fn = g.get(fname)
        if not callable(fn):
            raise NkiError("reference", "%s has no function '%s'" % (base, fname), (base, 1))
        params = inspect.signature(fn).parameters
        ret = fn(**dict((k, v) for k, v in kwargs.items() if k in params))
    except NkiError:
        raise
    except Exception as e:
        from .driver import kernel_exception
        raise kernel_exception(e, path)
    items = list(ret) if isinstance(ret, (tuple, list)) else [ret]
    outs = []
    for i, r in enumerate(items):
        p = os.path.join(req["outputs_dir"], "ref%d.npy" % i)
        arr = np.asarray(r, dtype=np.float32)
        np.save(p, arr)
        outs.append({"path": p, "shape": list(arr.shape)})
    return {"outputs": outs}


__all__ = ["reference", "traceback"]
