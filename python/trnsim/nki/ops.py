"""Placing results: deferred operation results, assignment into views, operands, masks, DMA."""
from . import core
from .core import Tensor, Tile, Mask, rec, emit, emit_raw, too_many
from .dtypes import dtype_of, F32
from .errors import fail, kernel_location


class Deferred(object):
    """The result of an operation not yet placed: `x[...] = op(...)` writes it straight into the
    view; any other use (or the next instruction) places it into a new tensor of its own."""

    def __init__(self, construct, shape, dtype, mem, fn, matmul=False, mask=None):
        if mask is not None:
            if not isinstance(mask, Mask):
                fail(construct, "mask= must be comparisons of nl.arange expressions, found %s" % describe(mask))
            mask.box()  # errors at the call, located
        r = core.R[0]
        if r.pending is not None:
            flush_pending()
        self.construct, self.shape, self.dtype, self.mem = construct, tuple(shape), dtype, mem
        self.fn, self.matmul = fn, matmul
        self.result = None
        r.pending = self

    def place(self, dst, accumulate=False):
        r = rec()
        if self.mem == "psum" and dst.mem != "psum" and self.result is None:
            # A PE result assigned to an SBUF tile: the PE writes PSUM only, so it lands in a
            # PSUM tile of its own and a Vector copy moves it (what neuronx-cc emits).
            return assign(dst, self.materialize())
        if r.pending is self:
            r.pending = None
        elif self.result is not None:
            return assign(dst, self.result)
        self.fn(dst, accumulate)

    def materialize(self):
        if self.result is None:
            t = Tensor(self.shape, self.dtype, self.mem, self.construct, where=kernel_location(2))
            self.result = t
            self.place(t.full())
        return self.result

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def buffer(self):
        return self.mem

    def __getitem__(self, key):
        return self.materialize()[key]

    def __setitem__(self, key, value):
        self.materialize()[key] = value


def flush_pending():
    p = rec().pending
    if p is not None:
        p.materialize()


class Done(object):
    """What an in-place operator on a view returns: the work is already emitted."""

    def __init__(self, tile):
        self.tile = tile


core.DONE[0] = Done


def tile_of(x, construct):
    """`x` as a Tile: tensors as a whole, deferred results placed, views as they are."""
    c = x.__class__
    if c is Tile:
        return x
    if c is Tensor:
        return x.full()
    if c is Deferred:
        return x.materialize().full()
    if c is Done:
        return x.tile
    fail(construct, "expected a tile, found %s" % describe(x))


def describe(x):
    from .shim import Unsupported
    if isinstance(x, Unsupported):
        return "%s (not supported by trnsim's NKI front end)" % x._name
    return repr(x)[:60]


def is_tile(x):
    return x.__class__ in (Tile, Tensor, Deferred, Done)


def tshape(x):
    """(partitions, free elements) of a tile."""
    return (x.np, x.free_size)


def apply_mask(tiles, mask, construct):
    """Clip every tile to the mask's box; None when the mask leaves nothing."""
    if mask is None:
        return tiles
    if not isinstance(mask, Mask):
        fail(construct, "mask= must be comparisons of nl.arange expressions, found %s" % describe(mask))
    out = list(tiles)
    for axis, nd, lo, hi in mask.box():
        if hi <= lo:
            return None
        for i, t in enumerate(out):
            if t is None or t.__class__ is not Tile:
                continue
            a = axis + len(t.shape) - nd
            if 0 <= a < len(t.shape) and t.shape[a] > 1:
                out[i] = t.clipped(a, lo, min(hi, t.shape[a]))
    return out


def same(construct, *tiles):
    s = tshape(tiles[0])
    for t in tiles[1:]:
        if tshape(t) != s:
            fail(construct, "tile shapes differ: [%d, %d] and [%d, %d] (partitions, free elements)" % (s + tshape(t)))


def fmt_num(v, construct="scalar"):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        try:
            v = float(v)
        except (TypeError, ValueError):
            fail(construct, "expected a number, found %s" % describe(v))
    v = float(v)
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "inf" if v > 0 else "-inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v)) if v != 0 or str(v)[0] != "-" else "-0"
    return repr(v)


def dma(dst, src, construct):
    """Copy src to dst, split over min(dma_engines, P) engines by partition ranges."""
    if dst.np * dst.free_size != src.np * src.free_size:
        fail(construct, "copies %d elements into a destination of %d" % (src.np * src.free_size, dst.np * dst.free_size))
    if dst.mem == "psum" or src.mem == "psum":
        fail(construct, "DMA cannot read or write PSUM; copy to SBUF with nl.copy / nisa.tensor_copy first")
    r = rec()
    if r.pending is not None:
        flush_pending()
    P = dst.np
    if src.np != P or src.free_size != dst.free_size:
        emit(["dma_copy dst=%s" % "", dst, " src=", src, " queue=0.0"])
        return
    n = min(r.dma_engines, P)
    key = (dst.sfree, src.sfree, P, n)
    fmts = DMA_SPLITS.get(key)
    if fmts is None:
        q, extra = divmod(P, n)
        fmts = []
        a = 0
        for e in range(n):
            b = a + q + (1 if e < extra else 0)
            fmts.append("dma_copy dst=%s" + dst.sub(a, b) + " src=%s" + src.sub(a, b) + " queue=%d.0" % e)
            a = b
        DMA_SPLITS[key] = fmts
    db, sb = dst.block, src.block
    # emit_raw of each piece, the blocks marked once for all of them
    instrs = r.instrs
    n0 = len(instrs)
    if db.first < 0:
        db.first = n0
    if sb.first < 0:
        sb.first = n0
    db.last = sb.last = n0 + len(fmts) - 1
    blocks = (db, sb)
    r.count += len(fmts)
    if r.count > r.max_instrs:
        too_many(r)
    instrs.extend([(f, blocks) for f in fmts])


#: The split instruction texts of a DMA by (dst pattern, src pattern, partitions, engines).
DMA_SPLITS = {}


def copy_into(dst, src, construct):
    """dst = src between any memories: DMA when HBM is involved, else a Vector copy."""
    if dst.mem == "hbm" or src.mem == "hbm":
        if src.mem == "psum":
            tmp = Tensor((src.np, src.free_size), src.dtype, "sbuf", construct).full()
            copy_into(tmp, src, construct)
            src = tmp
        dma(dst, src, construct)
        return
    same(construct, dst, src)
    emit(["tensor_copy engine=vector dst=", dst, " src=", src])


def assign(view, value):
    """`tensor[key] = value`."""
    c = value.__class__
    if c is Done:
        return
    if c is Deferred:
        value.place(view)
        return
    if c in (Tile, Tensor):
        copy_into(view, tile_of(value, "assignment"), "assignment")
        return
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if view.mem == "hbm":
            fail("assignment", "cannot set HBM elements directly; store a tile with nl.store")
        emit(["memset engine=vector dst=", view, " value=" + fmt_num(value)])
        return
    fail("assignment", "cannot assign %s to a tensor" % describe(value))


def new_tensor(shape, dtype, mem, construct):
    return Tensor(shape, dtype, mem, construct, where=kernel_location(3))


def out_dtype(dtype, default):
    return dtype_of(dtype) if dtype is not None else default


__all__ = ["Deferred", "Done", "tile_of", "assign", "dma", "apply_mask", "same", "fmt_num",
           "is_tile", "F32", "copy_into", "new_tensor", "out_dtype", "flush_pending"]


core.DONE[1] = assign
