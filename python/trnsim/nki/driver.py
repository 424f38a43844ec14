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
    frames = [f for f in tb if f.filename in KERNEL_FILE]
    if not frames:
        raise exc
    last = frames[-1]
    base = os.path.basename(last.filename)
    lines = ["%s:%d: exception in kernel: %s: %s" % (base, last.lineno, type(exc).__name__, exc),
             "Traceback (the kernel's frames, most recent call last):"]
    for f in frames:
        lines.append('  File "%s", line %d, in %s' % (os.path.basename(f.filename), f.lineno, f.name))
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
    # An entry function's file imports its kernel as a script would, from its own directory;
    # those modules are this recording's (a later one imports them afresh).
    here = os.path.dirname(path)
    before = set(sys.modules)
    sys.path.insert(0, here)
    try:
        exec(code, mod.__dict__)
    finally:
        sys.path.remove(here)
        for k in set(sys.modules) - before:
            if os.path.dirname(getattr(sys.modules[k], "__file__", None) or "") == here:
                del sys.modules[k]
    return mod


def find_function(mod, name, path):
    """(name, function, is_kernel): the kernel to record, or the entry function that launches one
    (a plain function: FILE.py::FUNCTION, or the file's only function when it has no kernel)."""
    from .shim import Kernel
    base = os.path.basename(path)
    if name:
        f = mod.__dict__.get(name)
        if f is None or not callable(f):
            raise NkiError("kernel", "%s has no function '%s'" % (base, name), (base, 1))
        return name, getattr(f, "func", f), isinstance(f, Kernel)
    ks, seen = [], set()
    for k, v in mod.__dict__.items():
        if isinstance(v, Kernel) and id(v) not in seen and getattr(v.func, "__module__", None) in (None, "__nki_kernel__"):
            seen.add(id(v))
            ks.append((k, v.func, True))
    if ks:
        if len(ks) != 1:
            raise NkiError("kernel", "expected exactly one function decorated as a kernel (@nki.jit, "
                           "@nki.baremetal, ...); found %s: name one as FILE.py::FUNCTION"
                           % ", ".join(k for k, _, _ in ks), (base, 1))
        return ks[0]
    fs = [(k, v, False) for k, v in mod.__dict__.items()
          if inspect.isfunction(v) and v.__module__ == "__nki_kernel__" and not k.startswith("_")]
    if len(fs) != 1:
        raise NkiError("kernel", "expected exactly one function decorated as a kernel (@nki.jit, "
                       "@nki.baremetal, ...), or with none one entry function that launches a kernel "
                       "(kernel[N](...)); found %s: name one as FILE.py::FUNCTION"
                       % (", ".join(k for k, _, _ in fs) or "none"), (base, 1))
    return fs[0]


NAME_RE = re.compile(r"[^A-Za-z0-9_.]")


def record(req):
    import gc
    t0 = time.time()
    path = req["kernel_file"]
    KERNEL_FILE[:] = [path]
    core.R[0] = core.Recorder(int(req.get("dma_engines", 16)),
                              int(req.get("max_instructions", 1 << 21)))
    lnc = int(req.get("lnc", 1))
    core.R[0].lnc = lnc
    if gc.get_freeze_count():
        # An earlier recording's objects (frozen below) are garbage now its recorder is gone.
        gc.unfreeze()
        gc.collect()
    base = os.path.basename(path)
    gc_off = False
    try:
        try:
            mod = load_kernel_module(path)
            name, fn, is_kernel = find_function(mod, req.get("function"), path)
            kwargs, params = bind_args(fn, req.get("args", []), base)
            # Recording and writing the trace allocate many small objects and free none until
            # the end: no collections meanwhile.
            gc.disable()
            gc_off = True
            if is_kernel:
                ret = record_programs(lambda: fn(**kwargs), lnc, base)
            else:
                ret, lnc = run_entry(fn, kwargs, req, base)
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
    return {"kernel": name, "instructions": n, "lnc": lnc, "record_s": round(time.time() - t0, 3),
            "inputs": [{"param": p.name, "buffer": p.blocks[()].name} for p in params],
            "outputs": [{"name": t.blocks[()].name, "buffer": t.blocks[()].name,
                         "shape": list(t.shape), "dtype": str(t.dtype)} for t in outs]}


def run_entry(fn, kwargs, req, base):
    """Run an entry function that launches one kernel (`kernel[N](...)`, or `kernel(...)` for
    N = 1), recording the launch with LNC = N as NKI does: an LNC=2 kernel is launched on a
    grid of 2, and a grid that differs from the LNC in use is an error. Returns (its result, N)."""
    lnc, lnc_max = int(req.get("lnc", 1)), int(req.get("lnc_max", 2))
    given = bool(req.get("lnc_given", False))
    done = []

    def launch(kernel, n, a, k, where):
        c = "launch"
        if done:
            raise NkiError(c, "a second kernel launch (the first is at line %d): trnsim records one launch"
                           % done[0][1], where)
        if n > lnc_max:
            raise NkiError(c, "a launch grid of %d needs LNC=%d: %s runs one physical core per logical "
                           "NeuronCore (chip.lnc_max = %d)" % (n, n, req.get("hw", "this hardware"), lnc_max), where)
        if given and n != lnc:
            raise NkiError(c, "the launch grid of %d differs from the LNC in use (--lnc %d): NKI launches an "
                           "LNC kernel on a grid of the LNC degree" % (n, lnc), where)
        done.append(where)
        src = kernel.func.__code__.co_filename
        if src not in KERNEL_FILE:
            KERNEL_FILE.append(src)
        core.R[0].lnc = n
        core.LAUNCH[0] = None  # a kernel's own calls of kernels are plain calls
        try:
            return record_programs(lambda: kernel.func(*a, **k), n, base)
        finally:
            core.LAUNCH[0] = launch

    core.LAUNCH[0] = launch
    try:
        ret = fn(**kwargs)
    finally:
        core.LAUNCH[0] = None
    if not done:
        raise NkiError("launch", "the entry function '%s' launches no kernel (kernel[N](...))" % fn.__name__,
                       (base, def_line(fn)))
    return ret, core.R[0].lnc


def record_programs(call, lnc, base):
    """Record the kernel once per program id (physical core), each recording's on-chip tensors
    its core's, HBM shared; then line the recordings up at their meeting points. Returns
    program 0's result."""
    r = core.R[0]
    n_params = len(r.hbm)
    seqs, ret = [], None
    for pid in range(lnc):
        r.core = pid
        if pid > 0:
            r.replay, r.replay_k = list(r.hbm[n_params:]), 0
            r.instrs = []
        got = call()
        if r.pending is not None:
            r.pending.materialize()
        seqs.append(r.instrs)
        if pid == 0:
            ret = got
    r.replay = None
    if lnc > 1 or any(fmt is None for fmt, _ in seqs[0]):
        merge(r, seqs, base)
    return ret


def merge(r, seqs, base):
    """One program from the recordings: each one's instructions up to a meeting point, then the
    meeting (one core_barrier; a sendrecv as each core's DMA into the other's SBUF), and so on.
    Program order puts every exchange between what comes before and after it on both cores."""
    from .ops import dma
    segs, marks = [], []
    for seq in seqs:
        cur, sg, mk = [], [], []
        for ins in seq:
            if ins[0] is None:
                sg.append(cur)
                mk.append(ins[1])
                cur = []
            else:
                cur.append(ins)
        sg.append(cur)
        segs.append(sg)
        marks.append(mk)
    kinds = [[m[0] for m in mk] for mk in marks]
    if any(k != kinds[0] for k in kinds):
        raise NkiError("lnc", "the program ids meet at different points (program 0: %s; program %d: %s): "
                       "every core must make the same nki.lnc calls in the same order"
                       % (", ".join(kinds[0]) or "none", len(kinds) - 1, ", ".join(kinds[-1]) or "none"), (base, 1))
    out = []
    for k in range(len(kinds[0]) + 1):
        for c in range(len(seqs)):
            out.extend(segs[c][k])
        if k == len(kinds[0]):
            break
        r.v3 = True
        if kinds[0][k] == "barrier":
            t = marks[0][k][1]
            out.append(("core_barrier data=" + t.ftext, (t.block,)))
            continue
        for c in range(len(seqs)):
            r.instrs, r.core = [], c
            dma(marks[1 - c][k][2], marks[c][k][1], "nki.lnc.sendrecv")
            out.extend(r.instrs)
    r.instrs = out
    for b in r.hbm + r.onchip:
        b.first = b.last = -1
    for i, (_, blocks) in enumerate(out):
        for b in blocks:
            if b.first < 0:
                b.first = i
            b.last = i


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
