"""Shim modules under the names kernels import (neuronxcc.nki..., nki...). Importing any name
works; using one the front end does not implement is a located error."""
import sys
import types

from .errors import fail, kernel_location
from . import lang, isa, core
from .dtypes import ALIASES, F32


class Unsupported(object):
    """A name the front end does not implement: fine to import or annotate with, an error to use."""

    def __init__(self, name):
        object.__setattr__(self, "_name", name)

    def __getattr__(self, n):
        if n.startswith("__"):
            raise AttributeError(n)
        return Unsupported(self._name + "." + n)

    def __getitem__(self, k):
        return self  # annotations such as nt.tensor[[128, 512], nl.float32]

    def __call__(self, *a, **k):
        fail(self._name, "not supported by trnsim's NKI front end")

    def _use(self, *a, **k):
        fail(self._name, "not supported by trnsim's NKI front end")

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = _use
    __iter__ = __bool__ = __index__ = __int__ = __float__ = __lt__ = __gt__ = _use

    def __repr__(self):
        return self._name


class Kernel(object):
    """A function decorated as an NKI kernel."""

    def __init__(self, fn, how):
        self.func, self.how = fn, how
        self.__name__ = getattr(fn, "__name__", "kernel")
        self.__wrapped__ = fn

    def __call__(self, *a, **k):
        hook = core.LAUNCH[0]
        if hook is not None:
            return hook(self, 1, a, k, kernel_location(2))
        return self.func(*a, **k)

    def __getitem__(self, grid):
        return Launch(self, grid_size(grid))


#: Programs a launch grid may have: the physical cores of one logical NeuronCore (LNC 1 or 2).
GRID_MAX = 2


def grid_size(grid):
    """The programs of an SPMD launch grid `kernel[N]`: trnsim runs each program on its own
    physical core of a logical NeuronCore, so N is the LNC degree (1 or 2, one axis)."""
    c = "kernel[grid]"
    g = grid if isinstance(grid, tuple) else (grid,)
    n = 1
    for d in g:
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            fail(c, "a launch grid's sizes are positive integers; found %r" % (grid,))
        n *= d
    if n > GRID_MAX:
        fail(c, "a launch grid of %d programs: trnsim runs grids of 1 to %d (each program on one physical "
                "core of a logical NeuronCore, LNC <= %d)" % (n, GRID_MAX, GRID_MAX))
    if n > 1 and len(g) > 1:
        fail(c, "a launch grid has one axis (LNC); found %r" % (grid,))
    return n


class Launch(object):
    """`kernel[N]`: the kernel with its launch grid, called as the launch."""

    def __init__(self, kernel, n):
        self.kernel, self.n = kernel, n

    def __call__(self, *a, **k):
        hook = core.LAUNCH[0]
        if hook is not None:
            return hook(self.kernel, self.n, a, k, kernel_location(2))
        if self.n != 1:
            fail("kernel[grid]", "a launch grid of %d inside a kernel: trnsim reads the grid where the entry "
                                 "function (FILE.py::FUNCTION, not a kernel) launches the kernel" % self.n)
        return self.kernel.func(*a, **k)


def decorator(how):
    def deco(fn=None, *a, **kw):
        if callable(fn) and not isinstance(fn, Kernel) and not a and not kw:
            return Kernel(fn, how)
        if isinstance(fn, Kernel):
            return fn
        return lambda f: f if isinstance(f, Kernel) else Kernel(f, how)
    return deco


def noop_decorator(fn=None, *a, **kw):
    if callable(fn) and not a and not kw:
        return fn
    return lambda f: f


class Enum(object):
    def __init__(self, prefix, members):
        for m in members:
            setattr(self, m, Named(prefix + "." + m, m))

    def __getattr__(self, n):
        if n.startswith("__"):
            raise AttributeError(n)
        return Unsupported("engine." + n)


class Named(object):
    def __init__(self, full, name):
        self.full, self.name = full, name

    def __repr__(self):
        return self.full


def module(fullname, short, attrs):
    m = types.ModuleType(fullname)
    m.__dict__.update(attrs)
    m.__path__ = []

    def getattr_(n):
        if n.startswith("__"):
            raise AttributeError(n)
        return Unsupported(short + "." + n)
    m.__getattr__ = getattr_
    return m


def language_attrs():
    a = dict(lang.FUNCS)
    a.update(lang.BUFFERS)
    for n in ("ndarray", "zeros", "full", "ones", "zeros_like", "empty_like", "ndarray_like",
              "shared_constant", "par_dim", "ds", "affine_range", "sequential_range",
              "static_range", "program_id", "num_programs", "device_print", "tile_size", "mgrid",
              "load", "store", "transpose", "matmul", "loop_reduce"):
        a[n] = getattr(lang, n)
    a["arange"] = core.arange
    for k, v in ALIASES.items():
        a[k] = v
    a["bool_"] = ALIASES["bool"]
    a["fp32"] = F32
    a["tfloat32"] = F32
    return a


def isa_attrs(new_gen):
    a = dict((n, isa.make(n, new_gen)) for n in isa.IMPL)
    eng = Enum("engine", ("tensor", "vector", "scalar", "gpsimd", "unknown", "sync", "dma", "activation", "pool"))
    a["engine"] = eng
    for n in ("tensor", "vector", "scalar", "gpsimd", "unknown"):
        a[n + "_engine"] = getattr(eng, n)
    a["reduce_cmd"] = Enum("reduce_cmd", ("idle", "reset", "reduce", "reset_reduce"))
    a["nc_version"] = Enum("nc_version", ("gen2", "gen3", "gen4"))
    return a


def install():
    """Put the shim modules into sys.modules (replacing any real ones for this process)."""
    lang_a, deco = language_attrs(), {}
    for n in ("jit", "baremetal", "benchmark", "profile", "simulate_kernel", "trace"):
        deco[n] = decorator(n)
    mods = {}
    for root, new_gen in (("neuronxcc.nki", False), ("nki", True)):
        l = module(root + ".language", "nl", lang_a)
        i = module(root + ".isa", "nisa", isa_attrs(new_gen))
        t = module(root + ".typing", "nt", {})
        comp = module(root + ".compiler", "ncc", {
            "skip_middle_end_transformations": noop_decorator, "enable_stack_allocator": noop_decorator,
            "force_auto_alloc": noop_decorator})
        lnc = module(root + ".lnc", "nki.lnc", {"sendrecv": lang.sendrecv, "core_barrier": lang.core_barrier})
        top = dict(deco, language=l, isa=i, typing=t, compiler=comp, lnc=lnc)
        mods[root] = module(root, "nki", top)
        mods[root + ".lnc"] = lnc
        mods[root + ".language"], mods[root + ".isa"] = l, i
        mods[root + ".typing"], mods[root + ".compiler"] = t, comp
    mods["neuronxcc"] = module("neuronxcc", "neuronxcc", {"nki": mods["neuronxcc.nki"]})
    for k in list(sys.modules):
        if k == "nki" or k.startswith("nki.") or k == "neuronxcc" or k.startswith("neuronxcc."):
            del sys.modules[k]
    sys.modules.update(mods)
    return mods
