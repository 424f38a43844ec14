"""nki.isa: each instruction maps one to one onto a trace instruction. Both generations: the
old one returns a result (placed by assignment), the new one (nki >= 2.27) takes dst= first."""
from .core import Tile, Tensor, IndexExpr, Mask, rec, emit, emit_text, push, R
from .dtypes import dtype_of, F32
from .errors import fail
from .ops import Deferred, tile_of, apply_mask, same, fmt_num, dma, is_tile, copy_into
from . import names

# Positional parameters of each instruction, old generation; the new one puts dst first.
OLD = {
    "nc_matmul": ["stationary", "moving"],
    "nc_transpose": ["data"],
    "activation": ["op", "data", "bias", "scale"],
    "activation_reduce": ["op", "data", "reduce_op", "reduce_res", "bias", "scale"],
    "tensor_tensor": ["data1", "data2", "op"],
    "tensor_scalar": ["data", "op0", "operand0", "reverse0", "op1", "operand1", "reverse1"],
    "tensor_reduce": ["op", "data", "axis"],
    "tensor_copy": ["src"],
    "memset": ["shape", "value", "dtype"],
    "iota": ["expr", "dtype"],
    "affine_select": ["pred", "on_true_tile", "on_false_value"],
    "bn_stats": ["data"],
    "bn_aggr": ["data"],
    "reciprocal": ["data"],
    "tensor_tensor_scan": ["data0", "data1", "initial", "op0", "op1"],
    "dma_copy": ["dst", "src"],
    "exponential": ["src", "max_value", "reduce_res", "reduce_cmd", "reduce_init"],
}
NEW = dict((k, ["dst"] + v) for k, v in OLD.items())
NEW["memset"] = ["dst", "value"]
NEW["iota"] = ["dst", "pattern", "offset", "channel_multiplier"]
NEW["affine_select"] = ["dst", "pattern", "offset", "channel_multiplier", "on_true_tile", "on_false_value", "cmp_op"]
NEW["dma_copy"] = ["dst", "src"]


def bind(construct, params, args, kw):
    if not args:
        return kw
    if len(args) > len(params):
        fail(construct, "takes at most %d positional arguments, %d given" % (len(params), len(args)))
    p = dict(zip(params, args))
    for k, v in kw.items():
        if k in p:
            fail(construct, "got multiple values for argument '%s'" % k)
        p[k] = v
    return p


def need(p, key, construct):
    if p.get(key) is None:
        fail(construct, "missing argument '%s'" % key)
    return p[key]


def result(construct, p, shape, dtype, mem, fn, matmul=False):
    """New generation: write into dst now. Old: a result placed by assignment or first use."""
    dst = p.get("dst")
    if dst is not None:
        d = tile_of(dst, construct)
        acc = p.get("accumulate")
        fn(d, acc)
        return None
    return Deferred(construct, shape, dtype, mem, fn, matmul, p.get("mask"))


def masked(construct, p, tiles):
    return apply_mask(tiles, p.get("mask"), construct)


def scalar(x, construct, parts_np):
    """A scalar operand: an immediate, or a [P, 1] tile; returns a list of emit parts."""
    if is_tile(x):
        t = tile_of(x, construct)
        if t.free_size != 1 or t.np != parts_np:
            fail(construct, "a per-partition scalar must be [%d, 1], found [%d, %d]" % (parts_np, t.np, t.free_size))
        return [t]
    return [fmt_num(x, construct)]


def pe_tile(c, p):
    """' tile_position=R,C tile_size=R,C' (format 2) from NKI's tuples, or '' when not given."""
    pos, size = p.get("tile_position") or (), p.get("tile_size") or ()
    if not pos and not size:
        return ""
    if not pos or not size:
        fail(c, "tile_position and tile_size go together")
    for name, v in (("tile_position", pos), ("tile_size", size)):
        if len(v) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in v):
            fail(c, "%s must be two non-negative integers (rows, columns), found %r" % (name, v))
    rec().v2 = True
    return " tile_position=%d,%d tile_size=%d,%d" % (pos[0], pos[1], size[0], size[1])


def nc_matmul(c, p):
    st, mv = p.get("stationary"), p.get("moving")
    st = st if st.__class__ is Tile else tile_of(need(p, "stationary", c), c)
    mv = mv if mv.__class__ is Tile else tile_of(need(p, "moving", c), c)
    if p.get("is_transpose"):
        def tr(dst, acc):
            t = masked(c, p, [dst, st])
            if t:
                emit(["transpose dst=", t[0], " src=", t[1]])
        return result(c, p, (st.free_size, st.np), st.dtype, "psum", tr)
    if st.np != mv.np:
        fail(c, "stationary has %d partitions but moving has %d (the contraction)" % (st.np, mv.np))
    st, mv = sbuf_operand(st, c), sbuf_operand(mv, c)
    tile = pe_tile(c, p)

    mask = p.get("mask")
    if mask is None:
        dst = p.get("dst")
        if dst is not None:
            mm_emit(dst if dst.__class__ is Tile else tile_of(dst, c), st, mv, p.get("accumulate"), tile)
            return None

        def mm(dst, acc):
            mm_emit(dst, st, mv, acc, tile)
    else:
        def mm(dst, acc):
            t = masked(c, p, [dst, st, mv])
            if not t:
                return
            mm_emit(t[0], t[1], t[2], acc, tile)
    return result(c, p, (st.free_size, mv.free_size), F32, "psum", mm, matmul=True)


def sbuf_operand(t, construct):
    """The PE array reads SBUF only: an operand in PSUM (a transpose's result, say) is copied
    into an SBUF tile of its own first, as neuronx-cc does for such a kernel."""
    if t.mem != "psum":
        return t
    tmp = Tensor((t.np, t.free_size), t.dtype, "sbuf", construct).full()
    copy_into(tmp, t, construct)
    return tmp


def mm_emit(d, st, mv, acc, tile=""):
    """One matmul instruction; accumulate=None accumulates into a PSUM block a matmul wrote."""
    r = R[0]
    written = r.mm_written
    b = d.block
    if acc is None:
        acc = b in written
    written.add(b)
    # emit_text, inlined
    if r.pending is not None:
        r.pending.materialize()
    n = len(r.instrs)
    sb, mb = st.block, mv.block
    for x in (b, sb, mb):
        if x.first < 0:
            x.first = n
        x.last = n
    push(r, ("matmul dst=" + d.ftext + " stationary=" + st.ftext + " moving=" + mv.ftext
             + (" accumulate=true" if acc else " accumulate=false") + tile, [b, sb, mb]))


def nc_transpose(c, p):
    src = tile_of(need(p, "data", c), c)
    eng = names.engine(p.get("engine"), ("tensor", "vector"), "tensor", c)

    def tr(dst, acc):
        t = masked(c, p, [dst, src])
        if not t:
            return
        if eng == "vector":
            rec().v2 = True
            emit(["transpose engine=vector dst=", t[0], " src=", t[1]])
        else:
            emit(["transpose dst=", t[0], " src=", t[1]])
    mem = "sbuf" if eng == "vector" else "psum"
    return result(c, p, (src.free_size, src.np), dtype_of(p.get("dtype") or src.dtype), mem, tr)


def activation(c, p):
    func = names.act(need(p, "op", c), c)
    src = tile_of(need(p, "data", c), c)
    bias, scale = p.get("bias"), p.get("scale", 1.0)
    rop, rres = p.get("reduce_op"), p.get("reduce_res")
    if (rop is None) != (rres is None):
        fail(c, "reduce_op and reduce_res go together")
    rd = tile_of(rres, c) if rres is not None else None
    rname = names.red(rop, c) if rop is not None else None

    def act(dst, acc):
        t = masked(c, p, [dst, src])
        if not t:
            return
        same(c, t[0], t[1])
        parts = ["activation func=%s dst=" % func, t[0], " src=", t[1], " scale="]
        parts += scalar(1.0 if scale is None else scale, c, t[1].np) + [" bias="]
        parts += scalar(0.0 if bias is None else bias, c, t[1].np)
        if rd is not None:
            parts += [" reduce=%s reduce_dst=" % rname, rd]
        emit(parts)
    return result(c, p, src.shape, dtype_of(p.get("dtype") or src.dtype), "sbuf", act)


def tensor_tensor(c, p):
    a = tile_of(need(p, "data1", c), c)
    b = tile_of(need(p, "data2", c), c)
    op = names.alu(need(p, "op", c), c)
    eng = names.engine(p.get("engine"), ("vector", "gpsimd"), "vector", c)

    def tt(dst, acc):
        t = masked(c, p, [dst, a, b])
        if t:
            same(c, *t)
            emit(["tensor_tensor engine=%s op=%s dst=" % (eng, op), t[0], " a=", t[1], " b=", t[2]])
    return result(c, p, a.shape, dtype_of(p.get("dtype") or a.dtype), "sbuf", tt)


def tensor_scalar(c, p):
    src = tile_of(need(p, "data", c), c)
    op0 = names.alu(need(p, "op0", c), c)
    op1 = names.alu(p["op1"], c) if p.get("op1") is not None else None
    rev = (bool(p.get("reverse0")), bool(p.get("reverse1")))
    eng = names.engine(p.get("engine"), ("vector", "scalar", "gpsimd"), "vector", c)
    if "operand0" not in p:
        fail(c, "missing argument 'operand0'")

    def ts(dst, acc):
        t = masked(c, p, [dst, src])
        if not t:
            return
        same(c, *t)
        parts = ["tensor_scalar engine=%s dst=" % eng, t[0], " src=", t[1], " op0=%s scalar0=" % op0]
        parts += scalar(p["operand0"], c, t[1].np)
        if op1 is not None:
            parts += [" op1=%s scalar1=" % op1] + scalar(p.get("operand1", 0.0), c, t[1].np)
        if rev[0] or rev[1]:
            rec().v2 = True
            parts.append(" reverse0=%s reverse1=%s" % ("true" if rev[0] else "false", "true" if rev[1] else "false"))
        emit(parts)
    return result(c, p, src.shape, dtype_of(p.get("dtype") or src.dtype), "sbuf", ts)


def reduce_axes_ok(src, axis, c):
    nd = len(src.shape)
    ax = axis if isinstance(axis, (tuple, list)) else (axis,)
    got = set(a + nd if a < 0 else a for a in ax)
    want = set(range(1, nd))
    if nd > 1 and got != want:
        fail(c, "reduces axis %s; only the free axes %s (all of them) can be reduced" % (list(ax), sorted(want)))


def tensor_reduce(c, p):
    op = names.red(need(p, "op", c), c)
    src = tile_of(need(p, "data", c), c)
    reduce_axes_ok(src, p.get("axis", 1), c)
    if p.get("negate"):
        fail(c, "negate=True is not supported by trnsim's NKI front end")
    shape = (src.np, 1) if p.get("keepdims") else (src.np,)

    def tr(dst, acc):
        t = masked(c, p, [dst, src])
        if t:
            emit(["tensor_reduce engine=vector op=%s dst=" % op, t[0], " src=", t[1]])
    return result(c, p, shape, dtype_of(p.get("dtype") or src.dtype), "sbuf", tr)


def tensor_copy(c, p):
    src = tile_of(need(p, "src", c), c)
    eng = names.engine(p.get("engine"), ("vector", "scalar", "gpsimd"), "vector", c)

    def tc(dst, acc):
        t = masked(c, p, [dst, src])
        if t:
            same(c, *t)
            emit(["tensor_copy engine=%s dst=" % eng, t[0], " src=", t[1]])
    return result(c, p, src.shape, dtype_of(p.get("dtype") or src.dtype), "sbuf", tc)


def memset(c, p):
    value = fmt_num(p.get("value", 0.0), c)
    eng = names.engine(p.get("engine"), ("vector", "gpsimd"), "vector", c)

    def ms(dst, acc):
        t = masked(c, p, [dst])
        if t:
            emit(["memset engine=%s dst=" % eng, t[0], " value=" + value])
    shape = p.get("shape") or (1,)
    return result(c, p, shape, dtype_of(p.get("dtype") or F32), "sbuf", ms)


def affine_terms(expr, c):
    """(base, channel_multiplier, step) of an expression over (partition, free) axes."""
    if not isinstance(expr, IndexExpr):
        fail(c, "expects an affine expression of nl.arange, found %r" % (expr,))
    if len(expr.shape) > 2:
        fail(c, "expressions over more than two axes are not supported")
    e = expr if len(expr.shape) == 2 else IndexExpr((1,) + expr.shape, expr.const, dict((a + 1, v) for a, v in expr.terms.items()))
    return e.shape, e.const, e.terms.get(0, 0), e.terms.get(1, 0)


def iota(c, p):
    if p.get("dst") is not None:
        pat = p.get("pattern") or [[1, 1]]
        step = pat[-1][0] if pat else 0
        base, cm, shape = p.get("offset", 0) or 0, p.get("channel_multiplier", 0) or 0, None
    else:
        shape, base, cm, step = affine_terms(need(p, "expr", c), c)

    def io(dst, acc):
        t = masked(c, p, [dst])
        if t:
            emit(["iota dst=", t[0], " base=%d channel_multiplier=%d step=%d" % (base, cm, step)])
    return result(c, p, shape, dtype_of(p.get("dtype") or F32), "sbuf", io)


CMPS = ("ge", "gt", "le", "lt", "eq", "ne")


def affine_select(c, p):
    src = tile_of(need(p, "on_true_tile", c), c)
    fill = fmt_num(p.get("on_false_value", 0.0), c)
    if p.get("dst") is not None:
        pat = p.get("pattern") or [[1, 1]]
        step = pat[-1][0] if pat else 0
        base, cm = p.get("offset", 0) or 0, p.get("channel_multiplier", 0) or 0
        cmp = names.lookup(names.ALU, need(p, "cmp_op", c), c, "comparison")
    else:
        pred = need(p, "pred", c)
        if not isinstance(pred, Mask) or len(pred.conds) != 1:
            fail(c, "pred must be one comparison of an affine nl.arange expression")
        e, cmp, v = pred.conds[0]
        _, base, cm, step = affine_terms(e, c)
        base -= v
    if cmp not in CMPS:
        fail(c, "cmp_op must be a comparison")

    def sel(dst, acc):
        t = masked(c, p, [dst, src])
        if t:
            same(c, *t)
            emit(["affine_select dst=", t[0], " src=", t[1], " cmp=%s base=%d channel_multiplier=%d step=%d fill=%s" % (cmp, base, cm, step, fill)])
    return result(c, p, src.shape, dtype_of(p.get("dtype") or src.dtype), "sbuf", sel)


def free_first(t, n, c):
    """The first n free elements of a tile whose free axis is one run."""
    fx = [f for f in t.faxes if f[2] > 1]
    if len(fx) != 1 or fx[0][1] != 1 or fx[0][2] < n:
        fail(c, "needs a contiguous free axis of at least %d elements" % n)
    return t.clipped(fx[0][0], 0, n)


def bn_stats(c, p):
    src = tile_of(need(p, "data", c), c)

    def bs(dst, acc):
        t = masked(c, p, [dst, src])
        if t:
            emit(["bn_stats dst=", free_first(t[0], 3, c), " src=", t[1]])
    return result(c, p, (src.np, 6), dtype_of(p.get("dtype") or F32), "sbuf", bs)


def bn_aggr(c, p):
    src = tile_of(need(p, "data", c), c)
    n = src.free_size
    if n % 6:
        fail(c, "input must hold whole bn_stats results (a multiple of 6 elements per partition), found %d" % n)
    k = n // 6
    s = free_first(src, n, c)
    sel = Tile()
    for a in Tile.__slots__:
        if a not in ("text", "sfree"):
            setattr(sel, a, getattr(s, a))
    a0 = [f for f in s.faxes if f[2] > 1][0]
    sel.faxes = [(-1, 6, k), (-2, 1, 3)]
    sel.base = s.base
    sel.finish()

    def ba(dst, acc):
        t = masked(c, p, [dst])
        if t:
            emit(["bn_aggr dst=", free_first(t[0], 2, c), " src=", sel])
    del a0
    return result(c, p, (src.np, 2), dtype_of(p.get("dtype") or F32), "sbuf", ba)


def reciprocal(c, p):
    src = tile_of(need(p, "data", c), c)

    def rc(dst, acc):
        t = masked(c, p, [dst, src])
        if t:
            same(c, *t)
            rec().v2 = True
            emit(["reciprocal dst=", t[0], " src=", t[1]])
    return result(c, p, src.shape, dtype_of(p.get("dtype") or src.dtype), "sbuf", rc)


def tensor_tensor_scan(c, p):
    a = tile_of(need(p, "data0", c), c)
    b = tile_of(need(p, "data1", c), c)
    op0, op1 = names.alu(need(p, "op0", c), c), names.alu(need(p, "op1", c), c)
    eng = names.engine(p.get("engine"), ("vector", "gpsimd"), "vector", c)
    if p.get("reverse0") or p.get("reverse1"):
        fail(c, "reverse0/reverse1 are not supported by trnsim's NKI front end")

    def sc(dst, acc):
        t = masked(c, p, [dst, a, b])
        if t:
            same(c, *t)
            rec().v2 = True
            emit(["tensor_tensor_scan engine=%s dst=" % eng, t[0], " a=", t[1], " b=", t[2], " initial="]
                 + scalar(p.get("initial", 0.0), c, t[1].np) + [" op0=%s op1=%s" % (op0, op1)])
    return result(c, p, a.shape, dtype_of(p.get("dtype") or a.dtype), "sbuf", sc)


def exponential(c, p):
    """Vector exp(src - max_value) (NeuronCore-v4), with reduce_res the per-partition sum."""
    src = tile_of(need(p, "src", c), c)
    rres = p.get("reduce_res")
    rd = tile_of(rres, c) if rres is not None else None
    cmd = p.get("reduce_cmd")
    cmd = getattr(cmd, "name", cmd)
    if cmd not in (None, "idle", "reset_reduce") or (cmd == "idle" and rd is not None):
        fail(c, "reduce_cmd=%s is not supported: only a sum of this instruction's results into "
                "reduce_res (reduce_cmd=reset_reduce), or none (idle)" % cmd)
    if p.get("reduce_init") not in (None, 0, 0.0):
        fail(c, "reduce_init must be 0 (the running sum starts at zero)")

    def ex(dst, acc):
        t = masked(c, p, [dst, src])
        if not t:
            return
        same(c, *t)
        rec().v2 = True
        parts = ["exponential dst=", t[0], " src=", t[1], " max_value="]
        mx = p.get("max_value")
        parts += scalar(0.0 if mx is None else mx, c, t[1].np)
        if rd is not None:
            parts += [" reduce_dst=", rd]
        emit(parts)
    return result(c, p, src.shape, dtype_of(p.get("dtype") or src.dtype), "sbuf", ex)


def dma_copy(c, p):
    dst = tile_of(need(p, "dst", c), c)
    src = tile_of(need(p, "src", c), c)
    t = masked(c, p, [dst, src])
    if t:
        dma(t[0], t[1], c)


IMPL = {
    "nc_matmul": nc_matmul, "nc_transpose": nc_transpose, "activation": activation,
    "activation_reduce": activation, "tensor_tensor": tensor_tensor, "tensor_scalar": tensor_scalar,
    "tensor_reduce": tensor_reduce, "tensor_copy": tensor_copy, "memset": memset, "iota": iota,
    "affine_select": affine_select, "bn_stats": bn_stats, "bn_aggr": bn_aggr,
    "reciprocal": reciprocal, "tensor_tensor_scan": tensor_tensor_scan, "dma_copy": dma_copy,
    "exponential": exponential,
}


def make(name, new_gen):
    """The nisa.NAME function of one generation (dst= as a keyword selects the new one)."""
    impl = IMPL[name]
    construct = "nisa." + name

    old, new = OLD[name], NEW[name]

    def fn(*args, **kw):
        if not args:
            return impl(construct, kw)
        params = new if (new_gen or "dst" in kw) else old
        return impl(construct, bind(construct, params, args, kw))
    fn.__name__ = name
    return fn
