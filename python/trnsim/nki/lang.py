"""nki.language: tensor creation, loops, data movement and the high-level operations, lowered
to engine instructions as LOWERING.md documents."""
from .core import Tensor, Tile, ParDim, IndexExpr, rec, emit, arange, MGrid, R
from .dtypes import dtype_of, F32
from .errors import fail
from .ops import (Deferred, Done, tile_of, apply_mask, same, fmt_num, dma, is_tile, copy_into,
                  flush_pending)
from . import names


class Buffer(object):
    """nl.sbuf / nl.psum / nl.hbm ...: where a tensor lives. Allocation hints are accepted."""

    def __init__(self, mem, name):
        self.mem, self.name = mem, name

    def __call__(self, *a, **k):
        return self

    def __getattr__(self, n):
        if n.startswith("__"):
            raise AttributeError(n)
        return self

    def __repr__(self):
        return "nl." + self.name


BUFFERS = dict((n, Buffer(m, n)) for n, m in [("sbuf", "sbuf"), ("psum", "psum"), ("hbm", "hbm"),
               ("shared_hbm", "hbm"), ("private_hbm", "hbm")])


def mem_of(buffer, construct):
    if buffer is None:
        return "sbuf"
    if isinstance(buffer, Buffer):
        return buffer.mem
    n = str(getattr(buffer, "name", buffer)).lower()
    for k, b in BUFFERS.items():
        if n.endswith(k):
            return b.mem
    fail(construct, "unknown buffer %r" % (buffer,))


def ndarray(shape, dtype=None, buffer=None, name="", **kw):
    c = "nl.ndarray"
    return Tensor(shape, dtype if dtype is not None else F32, mem_of(buffer, c), c, name=name or None)


def _fill(shape, value, dtype, buffer, name, c):
    t = Tensor(shape, dtype if dtype is not None else F32, mem_of(buffer, c), c, name=name or None)
    if t.mem != "hbm" or value != 0:
        if t.mem == "hbm":
            fail(c, "an HBM tensor can only be zero-filled")
        v = fmt_num(value, c)
        for key in block_keys(t.shape[:t.pdim]):
            emit(["memset engine=vector dst=", t[key + (Ellipsis,)], " value=" + v])
    return t


def block_keys(dims):
    keys = [()]
    for d in dims:
        keys = [k + (i,) for k in keys for i in range(d)]
    return keys


def zeros(shape, dtype=None, buffer=None, name="", **kw):
    return _fill(shape, 0.0, dtype, buffer, name, "nl.zeros")


def full(shape, fill_value, dtype=None, buffer=None, name="", **kw):
    return _fill(shape, fill_value, dtype, buffer, name, "nl.full")


def ones(shape, dtype=None, buffer=None, name="", **kw):
    return _fill(shape, 1.0, dtype, buffer, name, "nl.ones")


def _like(a, dtype, buffer, fill, c):
    shape = a.shape
    mem = getattr(buffer, "mem", None) or a.mem
    d = dtype if dtype is not None else a.dtype
    if fill is None:
        return Tensor(shape, d, mem, c)
    return _fill(shape, fill, d, BUFFERS[mem], "", c)


def zeros_like(a, dtype=None, buffer=None, **kw):
    return _like(a, dtype, buffer, 0.0, "nl.zeros_like")


def empty_like(a, dtype=None, buffer=None, **kw):
    return _like(a, dtype, buffer, None, "nl.empty_like")


def ndarray_like(a, dtype=None, buffer=None, **kw):
    return _like(a, dtype, buffer, None, "nl.ndarray_like")


def shared_constant(constant, dtype=None, **kw):
    shape = getattr(constant, "shape", None)
    if shape is None:
        fail("nl.shared_constant", "expects an array with a shape")
    return Tensor(tuple(shape), dtype if dtype is not None else F32, "hbm", "nl.shared_constant", name="const")


def par_dim(n):
    return ParDim(n)


def ds(start, size):
    return slice(start, start + size)


def affine_range(*args, **kw):
    return range(*args)


sequential_range = static_range = affine_range


def program_id(axis=0):
    """The physical core (LNC program id) being recorded: the driver records the kernel once per id."""
    if axis != 0:
        fail("nl.program_id", "a launch grid has one axis (LNC); found axis %r" % (axis,))
    return R[0].core


def num_programs(axes=None):
    if axes not in (None, 0):
        fail("nl.num_programs", "a launch grid has one axis (LNC); found axes %r" % (axes,))
    return R[0].lnc


def _sync(marker):
    """A point where the program ids meet: the driver lines up the k-th of every id."""
    r = rec()
    if r.pending is not None:
        r.pending.materialize()
    r.instrs.append((None, marker))


def sendrecv(src, dst, send_to_rank, recv_from_rank, dma_engine=None, name=None, priority=None, **kw):
    """nki.lnc.sendrecv: this core's src goes to the peer's dst while the peer's src comes into
    this core's dst (a DMA from one core's SBUF into the other's)."""
    c = "nki.lnc.sendrecv"
    r = rec()
    if r.lnc != 2:
        fail(c, "needs LNC=2 (trnsim nki --lnc 2, on trn2 or trn3)")
    peer = 1 - r.core
    for what, rank in (("send_to_rank", send_to_rank), ("recv_from_rank", recv_from_rank)):
        if rank != peer:
            fail(c, "%s must be the other core, %d, on core %d; found %r" % (what, peer, r.core, rank))
    s, d = tile_of(src, c), tile_of(dst, c)
    if s.mem != "sbuf" or d.mem != "sbuf":
        fail(c, "src and dst are SBUF tiles")
    if (s.np, s.free_size) != (d.np, d.free_size):
        fail(c, "src is [%d, %d] but dst is [%d, %d]" % (s.np, s.free_size, d.np, d.free_size))
    _sync(("sendrecv", s, d))


def core_barrier(data, cores=(0, 1), engine=None, name=None, **kw):
    """nki.lnc.core_barrier: both cores wait here, ordered with the accesses to `data` (HBM)."""
    c = "nki.lnc.core_barrier"
    if tuple(cores) != (0, 1):
        fail(c, "only cores=(0, 1) is supported; found %r" % (cores,))
    t = tile_of(data, c)
    if t.mem != "hbm":
        fail(c, "data is a tensor in shared HBM")
    _sync(("barrier", t, None))


def device_print(*a, **k):
    return None


class TileSize(object):
    pmax = 128
    psum_fmax = 512
    gemm_stationary_fmax = 128
    gemm_moving_fmax = 512
    bn_stats_dim = 6
    bn_aggr_dim = 2
    bn_stats_fmax = 512
    psum_partition_max = 128
    total_available_sbuf_size = 196608


tile_size = TileSize()
mgrid = MGrid()


# ---------------------------------------------------------------- data movement

def load(src, mask=None, dtype=None, **kw):
    c = "nl.load"
    s = tile_of(src, c)
    if s.mem != "hbm":
        fail(c, "loads from HBM; the source is in %s" % s.mem.upper())

    def ld(dst, acc):
        t = apply_mask([dst, s], mask, c)
        if t:
            dma(t[0], t[1], c)
    return Deferred(c, s.shape, dtype_of(dtype) if dtype is not None else s.dtype, "sbuf", ld, mask=mask)


def store(dst, value, mask=None, **kw):
    c = "nl.store"
    d = tile_of(dst, c)
    if d.mem != "hbm":
        fail(c, "stores into HBM; the destination is in %s" % d.mem.upper())
    v = tile_of(value, c) if is_tile(value) else None
    if v is None:
        fail(c, "value must be a tile")
    t = apply_mask([d, v], mask, c)
    if t:
        copy_into(t[0], t[1], c)


# ---------------------------------------------------------------- element-wise operations

def out_dtype(dtype, *tiles):
    if dtype is not None:
        return dtype_of(dtype)
    ds_ = [t.dtype for t in tiles if t is not None]
    return F32 if F32 in ds_ else ds_[0]


def unary(name):
    """nl.NAME(x): one Scalar-engine activation (nl.copy: a Vector copy; nl.negative: x * -1)."""
    c = "nl." + name

    def fn(x, dtype=None, mask=None, **kw):
        if not is_tile(x):
            fail(c, "expects a tile, found %r" % (x,))
        s = tile_of(x, c)
        if name == "copy":
            line = lambda t: emit(["tensor_copy engine=vector dst=", t[0], " src=", t[1]])
        elif name == "negative":
            line = lambda t: emit(["tensor_scalar engine=vector dst=", t[0], " src=", t[1], " op0=mul scalar0=-1"])
        else:
            func = names.act(name, c)
            line = lambda t: emit(["activation func=%s dst=" % func, t[0], " src=", t[1], " scale=1 bias=0"])

        def run(dst, acc):
            t = apply_mask([dst, s], mask, c)
            if t:
                same(c, *t)
                line(t)
        return Deferred(c, s.shape, out_dtype(dtype, s), "sbuf", run, mask=mask)
    fn.opname = name
    fn.__name__ = name
    return fn


PY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
      "div": lambda a, b: a / b, "max": max, "min": min, "pow": lambda a, b: a ** b,
      "mod": lambda a, b: a % b, "ge": lambda a, b: a >= b, "gt": lambda a, b: a > b,
      "le": lambda a, b: a <= b, "lt": lambda a, b: a < b, "eq": lambda a, b: a == b,
      "ne": lambda a, b: a != b}


def binary(name):
    """nl.NAME(x, y): Vector tensor_tensor for two tiles, tensor_scalar when one side is a
    number or a [P, 1] tile (broadcast along the free axis)."""
    c = "nl." + name

    def fn(x, y, dtype=None, mask=None, **kw):
        op = names.alu(name, c)
        if not is_tile(x) and not is_tile(y):
            return PY[op](x, y)
        a = tile_of(x, c) if is_tile(x) else None
        b = tile_of(y, c) if is_tile(y) else None
        rev = False
        if a is not None and b is not None and a.free_size == 1 and b.free_size > 1:
            a, b, rev = b, a, True
        if a is None:
            a, b, rev = b, x, True
        scal = b is None or not isinstance(b, Tile) or (b.free_size == 1 and a.free_size > 1)
        if b is None:
            b = y
        if rev and op in names.SWAP:
            op, rev = names.SWAP[op], False
        if rev and op in names.COMMUTATIVE:
            rev = False
        if rev:
            rec().v2 = True
        od = out_dtype(dtype, a, b if isinstance(b, Tile) else None)

        def run(dst, acc):
            t = apply_mask([dst, a] + ([b] if isinstance(b, Tile) else []), mask, c)
            if not t:
                return
            if scal:
                same(c, t[0], t[1])
                sv = [t[2]] if isinstance(b, Tile) else [fmt_num(b, c)]
                if isinstance(b, Tile) and (b.np != t[1].np):
                    fail(c, "a [%d, 1] operand cannot broadcast over %d partitions" % (b.np, t[1].np))
                parts = ["tensor_scalar engine=vector dst=", t[0], " src=", t[1], " op0=%s scalar0=" % op] + sv
                if rev:
                    parts.append(" reverse0=true reverse1=false")
                emit(parts)
            else:
                same(c, *t)
                emit(["tensor_tensor engine=vector op=%s dst=" % op, t[0], " a=", t[1], " b=", t[2]])
        return Deferred(c, a.shape, od, "sbuf", run, mask=mask)
    fn.opname = name
    fn.__name__ = name
    return fn


def reduction(name, mean=False):
    """nl.sum / max / min / mean: Vector tensor_reduce over the free axes (mean: then * 1/n)."""
    c = "nl." + name

    def fn(x, axis, dtype=None, mask=None, keepdims=False, **kw):
        from .isa import reduce_axes_ok
        s = tile_of(x, c)
        reduce_axes_ok(s, axis, c)
        op = names.red("add" if mean else name, c)

        def run(dst, acc):
            t = apply_mask([dst, s], mask, c)
            if not t:
                return
            emit(["tensor_reduce engine=vector op=%s dst=" % op, t[0], " src=", t[1]])
            if mean:
                emit(["tensor_scalar engine=vector dst=", t[0], " src=", t[0],
                      " op0=mul scalar0=" + fmt_num(1.0 / t[1].free_size)])
        shape = (s.np, 1) if keepdims else (s.np,)
        return Deferred(c, shape, out_dtype(dtype, s), "sbuf", run, mask=mask)
    fn.opname = name
    fn.__name__ = name
    return fn


def transpose(x, dtype=None, mask=None, **kw):
    """nl.transpose: through the PE array into PSUM (nisa.nc_transpose on the Tensor engine)."""
    c = "nl.transpose"
    s = tile_of(x, c)

    def run(dst, acc):
        t = apply_mask([dst, s], mask, c)
        if t:
            emit(["transpose dst=", t[0], " src=", t[1]])
    return Deferred(c, (s.free_size, s.np), out_dtype(dtype, s), "psum", run, mask=mask)


def matmul(x, y, transpose_x=False, mask=None, **kw):
    """nl.matmul: one Tensor-engine matmul into PSUM; without transpose_x, x is first turned
    by a Tensor-engine transpose and a Vector copy back to SBUF."""
    c = "nl.matmul"
    a = tile_of(x, c)
    b = tile_of(y, c)
    if not transpose_x:
        tp = Tensor((a.free_size, a.np), a.dtype, "psum", c)
        emit(["transpose dst=", tp.full(), " src=", a])
        ts = Tensor((a.free_size, a.np), a.dtype, "sbuf", c)
        emit(["tensor_copy engine=vector dst=", ts.full(), " src=", tp.full()])
        a = ts.full()
    if a.np != b.np:
        fail(c, "contraction sizes differ: %d and %d partitions" % (a.np, b.np))

    def run(dst, acc):
        t = apply_mask([dst, a, b], mask, c)
        if t:
            emit(["matmul dst=", t[0], " stationary=", t[1], " moving=", t[2],
                  " accumulate=" + ("true" if acc else "false")])
    return Deferred(c, (a.free_size, b.free_size), F32, "psum", run, matmul=True, mask=mask)


def loop_reduce(x, op, loop_indices=None, dtype=None, mask=None, **kw):
    """nl.loop_reduce: dst = dst op x, one Vector tensor_tensor per iteration."""
    c = "nl.loop_reduce"
    s = tile_of(x, c)
    o = names.alu(op, c)

    def run(dst, acc):
        t = apply_mask([dst, s], mask, c)
        if t:
            same(c, *t)
            emit(["tensor_tensor engine=vector op=%s dst=" % o, t[0], " a=", t[0], " b=", t[1]])
    return Deferred(c, s.shape, out_dtype(dtype, s), "sbuf", run, mask=mask)


UNARY = ["exp", "tanh", "sigmoid", "silu", "gelu", "gelu_apprx_tanh", "relu", "rsqrt", "sqrt",
         "log", "abs", "square", "reciprocal", "sin", "cos", "erf", "softplus", "sign", "copy",
         "negative"]
BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "power", "fmod",
          "greater", "greater_equal", "less", "less_equal", "equal", "not_equal"]

FUNCS = dict((n, unary(n)) for n in UNARY)
FUNCS.update((n, binary(n)) for n in BINARY)
FUNCS.update(sum=reduction("sum"), max=reduction("max"), min=reduction("min"),
             mean=reduction("mean", mean=True))
FUNCS["identity"] = FUNCS["copy"]


# ---------------------------------------------------------------- Python operators on tiles

def _inplace(alu_name):
    def op(self, other):
        d = self if self.__class__ is Tile else tile_of(self, "operator")
        r = R[0]
        if alu_name == "add" and r.pending is other and other.matmul and d.mem == "psum":
            r.pending = None
            other.fn(d, True)
            return Done(d) if self.__class__ is Tile else self
        r = FUNCS[alu_name](d, other)
        r.place(d)
        return Done(d) if self.__class__ is Tile else self
    return op


def _bin(name, swap=False):
    def op(self, other):
        f = FUNCS[name]
        return f(other, self) if swap else f(self, other)
    return op


OPERATORS = {
    "__add__": _bin("add"), "__radd__": _bin("add", True), "__sub__": _bin("subtract"),
    "__rsub__": _bin("subtract", True), "__mul__": _bin("multiply"), "__rmul__": _bin("multiply", True),
    "__truediv__": _bin("divide"), "__rtruediv__": _bin("divide", True), "__pow__": _bin("power"),
    "__lt__": _bin("less"), "__le__": _bin("less_equal"), "__gt__": _bin("greater"),
    "__ge__": _bin("greater_equal"), "__eq__": _bin("equal"), "__ne__": _bin("not_equal"),
    "__neg__": lambda self: FUNCS["negative"](self),
    "__iadd__": _inplace("add"), "__isub__": _inplace("subtract"), "__imul__": _inplace("multiply"),
    "__itruediv__": _inplace("divide"),
}

for cls in (Tile, Tensor, Deferred):
    for k, v in OPERATORS.items():
        setattr(cls, k, v)
    cls.__hash__ = object.__hash__
    cls.__bool__ = lambda self: fail("tile", "a tile has no truth value (values are not known while recording)")

__all__ = ["ndarray", "zeros", "full", "load", "store", "FUNCS", "flush_pending", "arange", "IndexExpr"]
