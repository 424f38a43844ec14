"""Writing the trace: HBM buffer names, allocation, buffer lines, then the instructions."""
import re

from . import core
from .alloc import allocate

NAME_RE = re.compile(r"[^A-Za-z0-9_.]")


def clean(name):
    n = NAME_RE.sub("_", str(name)) or "t"
    return n if (n[0].isalpha() or n[0] == "_") else "_" + n


def name_hbm(params, outs):
    """Parameters keep their names; kernel-allocated HBM tensors take name= (made unique), else
    out / out0.. in return order, else scratch0.."""
    r = core.R[0]
    taken = set(p.blocks[()].name for p in params)
    ret_idx = dict((id(t), i) for i, t in enumerate(outs))
    pending = []
    pids = set(id(p) for p in params)
    for b in r.hbm:
        if id(b.tensor) in pids:
            continue
        t = b.tensor
        if t.name:
            base = clean(t.name)
        elif id(t) in ret_idx:
            base = "out" if len(outs) == 1 else "out%d" % ret_idx[id(t)]
        else:
            pending.append(b)
            continue
        b.name = unique(base, taken)
    for i, b in enumerate(pending):
        b.name = unique("scratch%d" % i, taken)


def unique(base, taken):
    n, k = base, 1
    while n in taken:
        n = "%s_%d" % (base, k)
        k += 1
    taken.add(n)
    return n


def write_trace(req, kernel, params, outs):
    r = core.R[0]
    name_hbm(params, outs)
    # Each physical core has its own SBUF and PSUM: allocated apart, core c's names suffixed.
    phys = []
    for c in range(r.lnc):
        mine = allocate([b for b in r.onchip if b.core == c], len(r.instrs),
                        int(req.get("sbuf_bytes_per_partition", 196608)),
                        int(req.get("psum_bytes_per_partition", 16384)), req.get("hw", "the chip"),
                        rotation=req.get("address_rotation", True))
        for p in mine:
            if c > 0:
                p[0] = "%s_c%d" % (p[0], c)
            phys.append((p, c))
    version = 3 if (r.lnc > 1 or r.v3) else (2 if r.v2 else 1)
    lines = ["trnsim-trace %d" % version, "kernel %s" % clean(kernel)]
    inits = dict((id(p), "input") for p in params)
    for b in r.hbm:
        lines.append("buffer %s hbm %s [%s] %s" % (b.name, b.dtype, ", ".join(map(str, b.tensor.shape)),
                                                   inits.get(id(b.tensor), "zeros")))
    for (name, P, F, dt, mem), c in phys:
        lines.append("buffer %s %s %s [%d, %d] zeros%s" % (name, mem, dt, P, F, " core=%d" % c if c else ""))
    for b in r.onchip:
        if b.phys is not None:
            b.name = b.phys[0]
    # One % over all the instructions: each format has one %s per block, in order.
    instrs = r.instrs
    text = "\n".join([fmt for fmt, _ in instrs]) % tuple([b.name for _, blocks in instrs for b in blocks])
    with open(req["trace_path"], "w") as fh:
        fh.write("\n".join(lines))
        fh.write("\n")
        fh.write(text)
        if instrs:
            fh.write("\n")
    return len(instrs)
