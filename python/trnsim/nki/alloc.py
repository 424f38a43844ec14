"""Allocation by liveness (contract section 3): each SBUF/PSUM block lives from the first to the
last instruction touching it and gets a physical [P, F] buffer of its dtype, reusing the least
recently freed buffer that fits; the physical buffers must fit the memory."""
from .errors import NkiError

PSUM_BANKS = 8


def allocate(blocks, n_instrs, sbuf_bytes, psum_bytes, hw):
    """Assign `block.phys` = [name, P, F, dtype, mem] lists; returns the physical buffers in
    order of first use. Raises NkiError when a memory overflows."""
    starts, ends = {}, {}
    for b in blocks:
        if b.first >= 0:
            starts.setdefault(b.first, []).append(b)
            ends.setdefault(b.last, []).append(b)
    free = {"sbuf": [], "psum": []}    # physical buffers in order of freeing
    phys = []
    used = {"sbuf": 0, "psum": 0}
    count = {"sbuf": 0, "psum": 0}
    bank = psum_bytes // PSUM_BANKS
    over = None
    for i in sorted(set(starts) | set(ends)):
        for b in starts.get(i, ()):
            fl = free[b.mem]
            pick = None
            for j, f in enumerate(fl):
                if f[3] == b.dtype and f[1] >= b.P and f[2] >= b.F:
                    pick = fl.pop(j)
                    break
            if pick is None:
                count[b.mem] += 1
                pick = ["%s%d" % ("sb" if b.mem == "sbuf" else "ps", count[b.mem] - 1), b.P, b.F, b.dtype, b.mem]
                phys.append(pick)
                row = b.F * b.dtype.size
                if b.mem == "psum":
                    row = -(-row // bank) * bank
                used[b.mem] += row
                cap = sbuf_bytes if b.mem == "sbuf" else psum_bytes
                if used[b.mem] > cap and over is None:
                    over = (b, b.mem, cap)
            b.phys = pick
        for b in ends.get(i, ()):
            free[b.mem].append(b.phys)
    if over is not None:
        b, mem, cap = over
        t = b.tensor
        what = "%s tensor%s%s" % (mem.upper(), " '%s'" % t.name if t.name else "",
                                  " (block %s)" % (list(b.key),) if b.key else "")
        raise NkiError(t.construct, "%s does not fit: the %s tensors live with it need %s per "
                       "partition at their peak (this block %s), %s has %s"
                       % (what, mem.upper(), kib(used[mem]), kib(b.F * b.dtype.size), hw, kib(cap)), t.where)
    return phys


def kib(n):
    return ("%d KiB" % (n // 1024)) if n % 1024 == 0 else ("%.1f KiB" % (n / 1024.0))
