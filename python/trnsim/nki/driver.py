"""Entry point: one JSON request on stdin, one JSON response on stdout (NKI_CONTRACT section 1).
Exit 0 success, 2 the kernel's fault (message on stderr), anything else an internal error."""
import inspect
import json
import os
import re
import sys
import time
import traceback

from .errors import NkiError, KERNEL_FILE
from . import core


def main():
    try:
        req = json.loads(sys.stdin.read())
    except ValueError as e:
        sys.stderr.write("bad request: %s\n" % e)
        return 1
    mode = req.get("mode")
    try:
        if mode == "record":
            out = record(req)
        elif mode == "reference":
            from .reference import reference
            out = reference(req)
        else:
            sys.stderr.write("unknown mode %r\n" % (mode,))
            return 1
    except NkiError as e:
        sys.stderr.write(e.render() + "\n")
        return 2
    except KernelException as e:
        sys.stderr.write(str(e) + "\n")
        return 2
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


class KernelException(Exception):
    """A Python exception raised by the kernel's own code, with its frames."""


def kernel_exception(exc, path):
    tb = traceback.extract_tb(exc.__traceback__)
    frames = [f for f in tb if f.filename == path]
    if not frames:
        raise exc
    last = frames[-1]
    base = os.path.basename(path)
    lines = ["%s:%d: exception in kernel: %s: %s" % (base, last.lineno, type(exc).__name__, exc),
             "Traceback (the kernel's frames, most recent call last):"]
    for f in frames:
        lines.append('  File "%s", line %d, in %s' % (base, f.lineno, f.name))
        if f.line:
            lines.append("    " + f.line.strip())
    return KernelException("\n".join(lines))


def load_kernel_module(path):
    from . import shim
    shim.install()
    try:
        with open(path) as fh:
            src = fh.read()
    except OSError as e:
        raise NkiError("kernel file", "cannot read %s: %s" % (path, e.strerror), None)
    try:
        code = compile(src, path, "exec")
    except SyntaxError as e:
        raise NkiError("syntax", e.msg, (os.path.basename(path), e.lineno or 0))
    import types
    mod = types.ModuleType("__nki_kernel__")
    mod.__file__ = path
    sys.modules["__nki_kernel__"] = mod
    exec(code, mod.__dict__)
    return mod


def find_function(mod, name, path):
    from .shim import Kernel
    base = os.path.basename(path)
    if name:
        f = mod.__dict__.get(name)
        if f is None or not callable(f):
            raise NkiError("kernel", "%s has no function '%s'" % (base, name), (base, 1))
        return name, getattr(f, "func", f)
    ks, seen = [], set()
    for k, v in mod.__dict__.items():
        if isinstance(v, Kernel) and id(v) not in seen and getattr(v.func, "__module__", None) in (None, "__nki_kernel__"):
            seen.add(id(v))
            ks.append((k, v.func))
    if len(ks) != 1:
        found = ", ".join(k for k, _ in ks) or "none"
        raise NkiError("kernel", "expected exactly one function decorated as a kernel (@nki.jit, "
                       "@nki.baremetal, ...); found %s: name one as FILE.py::FUNCTION" % found, (base, 1))
    return ks[0]


NAME_RE = re.compile(r"[^A-Za-z0-9_.]")


def record(req):
    import gc
    t0 = time.time()
    path = req["kernel_file"]
    KERNEL_FILE[0] = path
    core.R[0] = core.Recorder(int(req.get("dma_engines", 16)))
    if gc.get_freeze_count():
        # An earlier recording's objects (frozen below) are garbage now its recorder is gone.
        gc.unfreeze()
        gc.collect()
    base = os.path.basename(path)
    gc_off = False
    try:
        try:
            mod = load_kernel_module(path)
            name, fn = find_function(mod, req.get("function"), path)
            kwargs, params = bind_args(fn, req.get("args", []), base)
            # Recording and writing the trace allocate many small objects and free none until
            # the end: no collections meanwhile.
            gc.disable()
            gc_off = True
            ret = fn(**kwargs)
            r = core.R[0]
            if r.pending is not None:
                r.pending.materialize()
        except NkiError:
            raise
        except RecursionError as e:
            raise kernel_exception(e, path)
        except Exception as e:
            raise kernel_exception(e, path)
        outs = returned(ret, base)
        from .emit import write_trace
        n = write_trace(req, name, params, outs)
    finally:
        if gc_off:
            # Later collections need not scan what the recording made (it lives until the end).
            gc.freeze()
            gc.enable()
    return {"kernel": name, "instructions": n, "record_s": round(time.time() - t0, 3),
            "inputs": [{"param": p.name, "buffer": p.blocks[()].name} for p in params],
            "outputs": [{"name": t.blocks[()].name, "buffer": t.blocks[()].name,
                         "shape": list(t.shape), "dtype": str(t.dtype)} for t in outs]}


def bind_args(fn, args, base):
    from .core import Tensor
    sig = inspect.signature(fn)
    given = dict((a["name"], a) for a in args)
    kwargs, params = {}, []
    where = (base, def_line(fn))
    for pname, prm in sig.parameters.items():
        if pname in given:
            a = given.pop(pname)
            t = Tensor(tuple(a["shape"]), a["dtype"], "hbm", "argument", name=pname)
            kwargs[pname] = t
            params.append(t)
        elif prm.default is inspect.Parameter.empty and prm.kind not in (prm.VAR_POSITIONAL, prm.VAR_KEYWORD):
            raise NkiError("argument", "kernel parameter '%s' has no input (give --input %s=FILE.npy)" % (pname, pname), where)
    if given:
        raise NkiError("argument", "the kernel has no parameter %s (parameters: %s)" % (
            ", ".join("'%s'" % g for g in sorted(given)), ", ".join(sig.parameters)), where)
    return kwargs, params


def def_line(fn):
    """The line of `def` (co_firstlineno is the first decorator's)."""
    import linecache
    first = fn.__code__.co_firstlineno
    for i in range(first, first + 50):
        text = linecache.getline(fn.__code__.co_filename, i).lstrip()
        if text.startswith("def ") or text.startswith("async def "):
            return i
    return first


def returned(ret, base):
    from .core import Tensor
    if ret is None:
        return []
    items = list(ret) if isinstance(ret, (tuple, list)) else [ret]
    for t in items:
        if not isinstance(t, Tensor) or t.mem != "hbm":
            raise NkiError("return", "a kernel returns HBM tensors (nl.ndarray(..., buffer=nl.shared_hbm)); found %r" % (t,), (base, 1))
    return items
