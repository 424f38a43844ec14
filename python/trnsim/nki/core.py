"""The recorder: logical tensors, index expressions, tiles (access patterns) and the
instruction stream. Tiles are lowered to trace text once, when they are made, so emitting an
instruction is a string join; physical buffer names are filled in after allocation."""
from .dtypes import dtype_of
from .errors import fail


class Recorder(object):
    """Everything recorded for one kernel run."""

    def __init__(self, dma_engines=16, max_instrs=1 << 21):
        self.instrs = []        # (fmt with %s per block, tuple of blocks)
        self.count = 0          # instructions recorded, over every program id
        self.max_instrs = max_instrs
        self.v2 = False         # a trace-format-2 feature was used
        self.v3 = False         # a core meeting point (format 3) was used
        self.hbm = []           # HBM blocks in creation order
        self.onchip = []        # SBUF/PSUM blocks in creation order
        self.pending = None     # the Deferred result not yet placed
        self.dma_engines = dma_engines
        self.tensors = 0
        self.mm_written = set()  # PSUM blocks a matmul has written (accumulate=None rule)
        self.core = 0            # the program id (physical core) being recorded
        self.lnc = 1             # program ids in all (LNC)
        self.replay = None       # recording core > 0: core 0's kernel-made HBM blocks, in order
        self.replay_k = 0


R = [Recorder()]

#: While the driver runs an entry function that launches a kernel (`kernel[2](x)`): the hook
#: that records the launch, called as hook(kernel, grid, args, kwargs, where).
LAUNCH = [None]


def rec():
    return R[0]


class Block(object):
    """One allocation unit: an HBM tensor, or one block of an SBUF/PSUM tensor."""

    __slots__ = ("mem", "dtype", "P", "F", "first", "last", "name", "phys", "tensor", "key", "core")

    def __init__(self, mem, dtype, P, F, tensor, key):
        self.mem, self.dtype, self.P, self.F = mem, dtype, P, F
        self.core = R[0].core
        self.first = self.last = -1
        self.name = None
        self.phys = None
        self.tensor, self.key = tensor, key


def push(r, instr):
    """Append an instruction, refusing a kernel that records more than the limit: a loop bound
    written too large (`affine_range(10**12)`) would otherwise record until memory runs out."""
    r.count += 1
    if r.count > r.max_instrs:
        too_many(r)
    r.instrs.append(instr)


def too_many(r):
    fail("instructions", "the kernel records more than %d trace instructions (a DMA counts "
         "once for each queue it is split over; the limit of --max-instructions, which raises "
         "it); is a loop bound larger than meant?" % r.max_instrs)


def emit(parts):
    """Append one instruction. `parts` alternates literal text and Tiles."""
    r = R[0]
    if r.pending is not None:
        r.pending.materialize()
    fmt = ""
    blocks = []
    n = len(r.instrs)
    for p in parts:
        if p.__class__ is str:
            fmt += p
        else:
            b = p.block
            if b.first < 0:
                b.first = n
            b.last = n
            blocks.append(b)
            fmt += p.ftext
    push(r, (fmt, blocks))


def emit_text(fmt, blocks):
    """emit() of an instruction whose format text is already joined (one %s per block)."""
    r = R[0]
    if r.pending is not None:
        r.pending.materialize()
    n = len(r.instrs)
    for b in blocks:
        if b.first < 0:
            b.first = n
        b.last = n
    push(r, (fmt, blocks))


def emit_raw(fmt, blocks):
    """Append an instruction whose text is built (split DMA pieces)."""
    r = R[0]
    n = len(r.instrs)
    for b in blocks:
        if b.first < 0:
            b.first = n
        b.last = n
    push(r, (fmt, blocks))


# ---------------------------------------------------------------- index expressions

#: (shape, sorted terms) of index expressions -> a number naming them (IndexExpr.key)
TERMS = {}


class IndexExpr(object):
    """An affine expression of arange vectors: const + sum coef * i_axis over a broadcast shape."""

    __slots__ = ("shape", "const", "terms", "_k", "_tt")

    def __init__(self, shape, const, terms, tt=None):
        self.shape, self.const, self.terms = shape, const, terms
        self._k = None
        self._tt = tt

    def key(self):
        k = self._k
        if k is None:
            tt = self._tt
            if tt is None:
                # (shape, terms) as a small int: keys hash and compare as two ints
                t = (self.shape, tuple(sorted(self.terms.items())))
                tt = TERMS.get(t)
                if tt is None:
                    tt = TERMS[t] = len(TERMS)
                self._tt = tt
            k = self._k = (tt, self.const)
        return k

    def _bin(self, other, sign):
        if other.__class__ is int:
            if self._tt is None:
                self.key()
            return IndexExpr(self.shape, self.const + sign * other, self.terms, self._tt)
        if isinstance(other, IndexExpr):
            shape = broadcast([self.shape, other.shape], "index expression")
            a, b = aligned(self, len(shape)), aligned(other, len(shape))
            terms = dict(a.terms)
            for ax, c in b.terms.items():
                terms[ax] = terms.get(ax, 0) + sign * c
            return IndexExpr(shape, a.const + sign * b.const, terms)
        v = as_int(other, "index expression")
        return IndexExpr(self.shape, self.const + sign * v, self.terms)

    def __add__(self, o):
        if o.__class__ is int:
            # _bin's int case, its key made at once (an index expression is made to index)
            tt = self._tt
            if tt is None:
                self.key()
                tt = self._tt
            c = self.const + o
            e = IndexExpr(self.shape, c, self.terms, tt)
            e._k = (tt, c)
            return e
        return self._bin(o, 1)

    __radd__ = __add__

    def __sub__(self, o):
        return self._bin(o, -1)

    def __rsub__(self, o):
        return (-self)._bin(o, 1)

    def __neg__(self):
        return IndexExpr(self.shape, -self.const, dict((a, -c) for a, c in self.terms.items()))

    def __mul__(self, o):
        v = as_int(o, "index expression")
        return IndexExpr(self.shape, self.const * v, dict((a, c * v) for a, c in self.terms.items()))

    __rmul__ = __mul__

    def __floordiv__(self, o):
        fail("index expression", "division of an nl.arange expression is not affine")

    __truediv__ = __mod__ = __floordiv__

    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        shape, terms, src = [], {}, 0
        for k in key:
            if k is None:
                shape.append(1)
            elif isinstance(k, slice) and k == slice(None):
                if src >= len(self.shape):
                    fail("index expression", "too many indices")
                if src in self.terms:
                    terms[len(shape)] = self.terms[src]
                shape.append(self.shape[src])
                src += 1
            else:
                fail("index expression", "only [:, None]-style reshaping is supported")
        while src < len(self.shape):
            if src in self.terms:
                terms[len(shape)] = self.terms[src]
            shape.append(self.shape[src])
            src += 1
        return IndexExpr(tuple(shape), self.const, terms)

    def _cmp(self, op, v):
        return Mask([(self, op, as_int(v, "mask"))])

    def __lt__(self, v):
        return self._cmp("lt", v)

    def __le__(self, v):
        return self._cmp("le", v)

    def __gt__(self, v):
        return self._cmp("gt", v)

    def __ge__(self, v):
        return self._cmp("ge", v)

    def __eq__(self, v):
        return self._cmp("eq", v)

    def __ne__(self, v):
        return self._cmp("ne", v)

    __hash__ = object.__hash__


def aligned(e, ndim):
    """`e` with its axes right-aligned to `ndim` dims (numpy broadcasting)."""
    k = ndim - len(e.shape)
    if k == 0:
        return e
    return IndexExpr((1,) * k + e.shape, e.const, dict((a + k, c) for a, c in e.terms.items()))


def broadcast(shapes, construct):
    nd = max(len(s) for s in shapes)
    out = []
    for i in range(nd):
        sizes = set(s[i - nd + len(s)] for s in shapes if i - nd + len(s) >= 0) - {1}
        if len(sizes) > 1:
            fail(construct, "shapes %s do not broadcast" % ", ".join(str(list(s)) for s in shapes))
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def as_int(v, construct):
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        fail(construct, "expected an integer, found %r" % (v,))
    return v.__index__()


class Mask(object):
    """A conjunction of affine comparisons (NKI's mask=)."""

    def __init__(self, conds):
        self.conds = conds
        self._box = None

    def __and__(self, other):
        if not isinstance(other, Mask):
            fail("mask", "masks combine only with & of comparisons")
        return Mask(self.conds + other.conds)

    __rand__ = __and__

    def box(self):
        """[(axis, ndim, lo, hi)]: each comparison as a range of one axis."""
        if self._box is not None:
            return self._box
        out = []
        for e, op, v in self.conds:
            live = [(a, c) for a, c in e.terms.items() if c != 0 and e.shape[a] > 1]
            if len(live) != 1:
                fail("mask", "only comparisons of one nl.arange axis can be expressed (an affine box); use nisa.affine_select")
            a, c = live[0]
            ok = [i for i in range(e.shape[a]) if CMP[op](e.const + c * i, v)]
            if ok and ok != list(range(ok[0], ok[-1] + 1)):
                fail("mask", "the masked region is not a contiguous range")
            out.append((a, len(e.shape), ok[0] if ok else 0, ok[-1] + 1 if ok else 0))
        self._box = out
        return out


CMP = {"lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
       "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b}


def arange(*args):
    if len(args) == 1:
        start, stop, step = 0, as_int(args[0], "nl.arange"), 1
    else:
        start, stop = as_int(args[0], "nl.arange"), as_int(args[1], "nl.arange")
        step = as_int(args[2], "nl.arange") if len(args) > 2 else 1
    n = len(range(start, stop, step))
    return IndexExpr((n,), start, {0: step})


class Grid(tuple):
    """nl.mgrid's result: the per-axis expressions, also as .p / .x / .y (attributes set for the
    axes it has; __getattr__ answers the others as indexing would)."""

    def __getattr__(self, n):
        i = GRID_AXES.get(n)
        if i is None:
            raise AttributeError("'Grid' object has no attribute '%s'" % n)
        return self[i]


GRID_AXES = {"p": 0, "x": 1, "y": 2}


class MGrid(object):
    def __getitem__(self, key):
        if not isinstance(key, tuple):
            key = (key,)
        nd = len(key)
        out = []
        for i, s in enumerate(key):
            if not isinstance(s, slice):
                fail("nl.mgrid", "expects slices, e.g. nl.mgrid[0:128, 0:512]")
            start, step = s.start or 0, s.step or 1
            n = len(range(start, s.stop, step))
            shape = tuple(n if j == i else 1 for j in range(nd))
            out.append(IndexExpr(shape, start, {i: step}))
        g = Grid(out)
        for name, e in zip("pxy", out):
            setattr(g, name, e)
        return g


# ---------------------------------------------------------------- tensors and tiles

class ParDim(int):
    """nl.par_dim(n): marks the partition dimension of an SBUF/PSUM tensor."""


class Tensor(object):
    """A logical tensor: an HBM tensor, or an SBUF/PSUM tensor of one or more blocks."""

    def __init__(self, shape, dtype, mem, construct, name=None, where=None):
        self.dtype = dtype_of(dtype, construct)
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
        self.mem = mem
        self.construct, self.name = construct, name
        self.where = where
        if where is None and mem != "hbm":
            from .errors import kernel_location
            self.where = kernel_location(2)
        pd = []
        dims = []
        for i, d in enumerate(shape):
            if d.__class__ is int:
                dims.append(d)
            else:
                if isinstance(d, ParDim):
                    pd.append(i)
                dims.append(as_int(d, construct))
        shape = tuple(dims)
        if not shape or min(shape) < 1:
            fail(construct, "shape %s has an empty dimension" % (list(shape),))
        self.shape = shape
        self.blocks = {}
        self.cache = {}
        self._full = None
        r = R[0]
        r.tensors += 1
        self.id = r.tensors
        if mem == "hbm":
            self.pdim = 0
            row = 1
            for d in shape[1:]:
                row *= d
            self.row = row
            self.strides = strides(shape)
            if r.replay is not None:
                # HBM is shared: program id c > 0 gets the tensor program 0 made at this point.
                k = r.replay_k
                r.replay_k += 1
                b = r.replay[k] if k < len(r.replay) else None
                if b is None or b.tensor.shape != shape or b.dtype != self.dtype:
                    fail(construct, "program %d creates HBM tensor %d as %s %s, which program 0 did not "
                         "(every program id makes the same HBM tensors)" % (r.core, k, list(shape), self.dtype))
                self.blocks[()] = b
            else:
                b = Block("hbm", self.dtype, shape[0], row, self, ())
                b.name = name
                self.blocks[()] = b
                r.hbm.append(b)
        else:
            if len(pd) > 1:
                fail(construct, "more than one nl.par_dim")
            self.pdim = pd[0] if pd else 0
            if shape[self.pdim] > 128:
                fail(construct, "partition dimension of %d exceeds 128 partitions (use nl.par_dim or a smaller first dimension)" % shape[self.pdim])
            free = shape[self.pdim + 1:]
            self.row = 1
            for d in free:
                self.row *= d
            self.strides = strides(free)
        # The geometry of each index of this layout, shared by the tensors of the layout.
        geo = GEOMETRY.get((shape, self.pdim, mem))
        if geo is None:
            geo = GEOMETRY[(shape, self.pdim, mem)] = {}
        self.geo = geo

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def buffer(self):
        return self.mem

    def block(self, key):
        b = self.blocks.get(key)
        if b is None:
            b = Block(self.mem, self.dtype, self.shape[self.pdim], self.row, self, key)
            self.blocks[key] = b
            rec().onchip.append(b)
        return b

    def __getitem__(self, key):
        """A view; the geometry is cached across tensors of the same layout (loops index many
        tensors the same way), so a repeated index costs a dict lookup and a copy."""
        if key.__class__ is tuple:
            out = []
            for k in key:
                c = k.__class__
                if c is int:
                    out.append(k)
                elif c is IndexExpr:
                    out.append(k._k or k.key())
                elif c is slice:
                    out.append(("s", k.start, k.stop, k.step))
                elif k is Ellipsis or k is None:
                    out.append(k)
                else:
                    out = None
                    break
            sig = tuple(out) if out is not None else signature(key)
        elif key is Ellipsis:
            sig = ELLIPSIS_SIG
        else:
            sig = signature(key)
        t = self.cache.get(sig)
        if t is not None:
            return t
        geo = self.geo
        g = geo.get(sig)
        if g is None:
            m = make_tile(self, key)
            g = geo[sig] = (m.mem, m.shape, m.pax, m.p0, m.np, m.pcoef, m.base, m.faxes, m.text,
                            m.sfree, m.bkey, m.ftext, m.free_size)
        t = Tile()
        t.tensor, t.dtype = self, self.dtype
        (t.mem, t.shape, t.pax, t.p0, t.np, t.pcoef, t.base, t.faxes, t.text, t.sfree, t.bkey,
         t.ftext, t.free_size) = g
        if self.mem == "hbm":
            t.block = self.blocks[()]
        else:
            bk = g[10]
            b = self.blocks.get(bk)
            t.block = b if b is not None else self.block(bk)
        self.cache[sig] = t
        return t

    def full(self):
        t = self._full
        if t is None:
            t = self._full = self[...]
        return t

    def __setitem__(self, key, value):
        if value.__class__ is DONE[0]:
            return
        DONE[1](self[key], value)

    def reshape(self, shape):
        fail("tensor.reshape", "not supported by trnsim's NKI front end")

    def __repr__(self):
        return "Tensor(%s, %s, %s)" % (list(self.shape), self.dtype, self.mem)


def strides(dims):
    out, s = [], 1
    for d in reversed(dims):
        out.append(s)
        s *= d
    return tuple(reversed(out))


GEOMETRY = {}
ELLIPSIS_SIG = (Ellipsis,)  # signature(...)
DONE = [None, None]  # ops.Done (an in-place operator already wrote the view), ops.assign


def signature(key):
    """A hashable form of an index key."""
    if key.__class__ is not tuple:
        key = (key,)
    out = []
    for k in key:
        c = k.__class__
        if c is int:
            out.append(k)
        elif c is IndexExpr:
            out.append(k._k or k.key())
        elif c is slice:
            out.append(("s", k.start, k.stop, k.step))
        elif k is Ellipsis or k is None:
            out.append(k)
        elif hasattr(k, "__index__") and not isinstance(k, bool):
            out.append(k.__index__())
        else:
            out.append(("o", id(k)))
    return tuple(out)


class Tile(object):
    """A view of one block: partitions and a per-partition access pattern, already in trace text.
    `axes` keeps the unmerged result axes so masks can clip them."""

    __slots__ = ("tensor", "block", "mem", "dtype", "shape", "pax", "p0", "np", "pcoef", "base",
                 "faxes", "text", "sfree", "bkey", "ftext", "free_size")

    def finish(self):
        """Compute `text` (`[p0:p1, ap]`) and `sfree` (the AP text) from the fields."""
        groups = [(c, n) for (_, c, n) in self.faxes if n > 1]
        for c, n in groups:
            if c < 0:
                fail("index", "negative strides (reversed ranges) cannot be expressed")
        merged = []
        for c, n in groups:
            if merged and merged[-1][0] == c * n:
                merged[-1] = (c, merged[-1][1] * n)
            else:
                merged.append((c, n))
        if self.mem == "hbm":
            row = self.tensor.row
            step = self.pcoef if (self.np > 1 and self.pcoef > 0) else row
            ps = self.base // step
            off = self.base - ps * step
            pstep = "" if step == row else ":%d" % step
            if self.np > 1 and self.pcoef == 0:
                fail("index", "a tile whose partitions all read the same HBM row (stride 0) cannot be expressed")
        else:
            ps, off, pstep = self.p0, self.base, ""
        if not merged:
            ap = "%d:%d" % (off, off + 1)
        elif len(merged) == 1 and merged[0][0] == 1:
            ap = "%d:%d" % (off, off + merged[0][1])
        else:
            if len(merged) > 4:
                fail("index", "access pattern needs %d dimensions; at most 4 can be expressed" % len(merged))
            ap = "@%d" % off + "".join("[%d,%d]" % g for g in merged)
        self.sfree = (ps, pstep, ap)
        self.text = "[%d:%d%s, %s]" % (ps, ps + self.np, pstep, ap)
        self.ftext = "%s" + self.text
        n = 1
        for f in self.faxes:
            n *= f[2]
        self.free_size = n  # elements per partition
        return self

    def sub(self, a, b):
        """Trace text of partitions a..b of this tile."""
        ps, pstep, ap = self.sfree
        return "[%d:%d%s, %s]" % (ps + a, ps + b, pstep, ap)

    @property
    def ndim(self):
        return len(self.shape)

    def clipped(self, axis, lo, hi):
        """This tile with result axis `axis` restricted to lo..hi (a mask)."""
        t = Tile()
        for s in Tile.__slots__:
            if s not in ("text", "sfree", "ftext"):
                setattr(t, s, getattr(self, s))
        t.shape = self.shape[:axis] + (hi - lo,) + self.shape[axis + 1:]
        if axis == self.pax:
            if self.mem == "hbm":
                t.base = self.base + self.pcoef * lo
            else:
                t.p0 = self.p0 + lo
            t.np = hi - lo
        else:
            fx = []
            for (a, c, n) in self.faxes:
                if a == axis:
                    t.base = t.base + c * lo
                    n = hi - lo
                fx.append((a, c, n))
            t.faxes = fx
        return t.finish()

    def __getitem__(self, key):
        fail("tile indexing", "indexing a view of a tensor again is not supported; index the tensor once")

    def __setitem__(self, key, value):
        fail("tile indexing", "assign through the tensor, not through a view of it")


def normalize(item, size, construct):
    if isinstance(item, slice):
        start, stop, step = item.indices(size)
        return slice(start, stop, step)
    return item


def make_tile(t, key):
    """Lower `t[key]` to a Tile."""
    if not isinstance(key, tuple):
        key = (key,)
    dims = t.shape
    if any(k is Ellipsis for k in key):
        i = key.index(Ellipsis)
        fill = len(dims) - (len(key) - 1)
        key = key[:i] + (slice(None),) * fill + key[i + 1:]
    if len(key) > len(dims):
        fail("index", "%d indices for a tensor of %d dimensions" % (len(key), len(dims)))
    key = key + (slice(None),) * (len(dims) - len(key))
    adv = [k for k in key if isinstance(k, IndexExpr)]
    sizes = list(broadcast([e.shape for e in adv], "index")) if adv else []
    nb = len(sizes)
    exprs = []
    for d, k in enumerate(key):
        if isinstance(k, IndexExpr):
            e = aligned(k, nb)
            exprs.append((e.const, dict((a, c) for a, c in e.terms.items() if e.shape[a] > 1 and c != 0)))
        elif isinstance(k, slice):
            for v in (k.start, k.stop):
                if v is not None and not -dims[d] <= v <= dims[d]:
                    fail("index", "slice %s:%s is out of bounds of dimension %d (size %d) of a %s tensor"
                         % (k.start, k.stop, d, dims[d], list(dims)))
            start, stop, step = k.indices(dims[d])
            n = len(range(start, stop, step))
            if n == 0:
                fail("index", "empty slice %s:%s of a dimension of %d" % (k.start, k.stop, dims[d]))
            exprs.append((start, {len(sizes): step} if n > 1 else {}))
            sizes.append(n)
        elif hasattr(k, "__index__") and not isinstance(k, bool):
            v = k.__index__()
            if v < 0:
                v += dims[d]
            exprs.append((v, {}))
        else:
            fail("index", "unsupported index %r (ints, slices and nl.arange expressions are)" % (k,))
    for d, (c0, terms) in enumerate(exprs):
        lo = c0 + sum(min(0, c * (sizes[a] - 1)) for a, c in terms.items())
        hi = c0 + sum(max(0, c * (sizes[a] - 1)) for a, c in terms.items())
        if lo < 0 or hi >= dims[d]:
            fail("index", "index %d..%d is out of bounds of dimension %d (size %d) of a %s tensor" % (lo, hi, d, dims[d], list(dims)))
    tile = Tile()
    tile.tensor, tile.mem, tile.dtype, tile.shape = t, t.mem, t.dtype, tuple(sizes)
    tile.bkey = ()
    if t.mem == "hbm":
        tile.block = t.blocks[()]
        base, coef = 0, [0] * len(sizes)
        for (c0, terms), s in zip(exprs, t.strides):
            base += c0 * s
            for a, c in terms.items():
                coef[a] += c * s
        tile.base = base
        tile.pax = 0 if sizes else -1
        tile.np = sizes[0] if sizes else 1
        tile.pcoef = coef[0] if sizes else 0
        tile.p0 = 0
        tile.faxes = [(a, coef[a], sizes[a]) for a in range(1, len(sizes))]
        return tile.finish()
    pd = t.pdim
    for d in range(pd):
        if exprs[d][1]:
            fail("index", "a block dimension (before the partition dimension) must be indexed by an integer")
    tile.bkey = tuple(e[0] for e in exprs[:pd])
    for d in range(pd):
        if not 0 <= tile.bkey[d] < dims[d]:
            fail("index", "block index %d out of bounds of %d" % (tile.bkey[d], dims[d]))
    tile.block = None
    p0, pterms = exprs[pd]
    if pterms:
        (pax, pc), = pterms.items() if len(pterms) == 1 else fail("index", "the partition index mixes two nl.arange axes")
        if pc != 1:
            fail("index", "partition index with stride %d; partitions must be consecutive" % pc)
    else:
        pax = -1
    tile.pax, tile.p0, tile.np, tile.pcoef = pax, p0, (sizes[pax] if pax >= 0 else 1), 0
    base, coef = 0, [0] * len(sizes)
    for (c0, terms), s in zip(exprs[pd + 1:], t.strides):
        base += c0 * s
        for a, c in terms.items():
            if a == pax:
                fail("index", "a free index uses the partition axis (diagonal access) which cannot be expressed")
            coef[a] += c * s
    tile.base = base
    tile.faxes = [(a, coef[a], sizes[a]) for a in range(len(sizes)) if a != pax]
    return tile.finish()
