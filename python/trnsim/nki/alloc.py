"""Allocation by liveness (contract section 3): each SBUF/PSUM block lives from the first to the
last instruction touching it and gets a physical [P, F] buffer of its dtype: a new buffer while
the memory's rotation budget allows (PSUM: while a bank is unused; SBUF: the largest budget with
which the whole kernel still fits), else the smallest freed buffer that holds it (the least
recently freed of equal ones), else the largest freed one of its dtype grown to hold it, else a
new one; the physical buffers must fit the memory.

Why rotate: reusing the buffer a tensor just freed makes the next write wait for the last read
of a different tensor (an anti-dependency), so a loop's next load cannot overlap this
iteration's compute. neuronx-cc's default flow moves tensors to other SBUF addresses or PSUM
banks after allocation for exactly this ("address rotation", on by default:
nki.compiler.AddressRotation / CompileConfig.address_rotation); spare memory is what it uses."""
from bisect import bisect_left, insort

from .errors import NkiError

PSUM_BANKS = 8


def allocate(blocks, n_instrs, sbuf_bytes, psum_bytes, hw, rotation=True):
    """Assign `block.phys` = [name, P, F, dtype, mem] lists; returns the physical buffers in
    order of first use. Raises NkiError when a memory overflows even without rotation.

    Each memory's rotation budget is the largest (SBUF to 1 KiB per partition, PSUM to a bank)
    with which every tensor still fits: rotating greedily can fill the memory with one dtype's
    buffers that a later tensor of another dtype cannot use. The memories are allocated
    independently, so each budget is searched with the other memory's at its full size.
    `rotation` False (CompileConfig(address_rotation=DISABLE), `trnsim nki
    --no-address-rotation`) keeps only the PSUM banks' rotation."""
    bank = psum_bytes // PSUM_BANKS
    budget = {"sbuf": sbuf_bytes if rotation else 0, "psum": psum_bytes}
    unit = {"sbuf": 1024, "psum": bank}
    phys, over = _assign(blocks, sbuf_bytes, psum_bytes, budget)
    for mem in ("sbuf", "psum"):
        if over[mem] is None:
            continue
        lo, hi = 0, budget[mem] // unit[mem]  # lo fits or is the last resort
        while lo + 1 < hi:
            mid = (lo + hi) // 2
            budget[mem] = mid * unit[mem]
            if _assign(blocks, sbuf_bytes, psum_bytes, budget)[1][mem] is None:
                lo = mid
            else:
                hi = mid
        budget[mem] = lo * unit[mem]
    phys, over = _assign(blocks, sbuf_bytes, psum_bytes, budget)
    for mem in ("sbuf", "psum"):
        if over[mem] is not None:
            _overflow(over[mem], hw)
    return phys


def _assign(blocks, sbuf_bytes, psum_bytes, budget):
    """One allocation pass with the rotation budgets `budget[mem]` (bytes per partition);
    returns (physical buffers, per memory its first overflow or None)."""
    starts, ends = {}, {}
    for b in blocks:
        if b.first >= 0:
            starts.setdefault(b.first, []).append(b)
            ends.setdefault(b.last, []).append(b)
    # Freed physical buffers by (mem, dtype): F -> the buffers of that F in order of freeing,
    # and the sorted distinct F values. Order of freeing within an F is the free-list order
    # the choice below breaks ties by.
    free = {}
    phys = []
    used = {"sbuf": 0, "psum": 0}
    count = {"sbuf": 0, "psum": 0}
    bank = psum_bytes // PSUM_BANKS
    over = {"sbuf": None, "psum": None}
    for i in sorted(set(starts) | set(ends)):
        for b in starts.get(i, ()):
            fr = free.get((b.mem, b.dtype))
            # Best fit: the smallest freed buffer that holds the block, the least recently
            # freed of equal ones (a first fit lets a small block take a large buffer the
            # next large block then misses).
            pick = None
            # PSUM's banks rotate while one is unused: a tile per bank lets the PE array fill
            # the next one while an engine drains the last (the compiler's PSUM allocation;
            # reusing the freed bank at once would serialize them).
            rotate = used[b.mem] + row_bytes(b.F, b.dtype, b.mem, bank) <= budget[b.mem]
            if fr is not None and not rotate:
                byf, fs = fr
                P = b.P
                for x in range(bisect_left(fs, b.F), len(fs)):
                    lst = byf[fs[x]]
                    for j, f in enumerate(lst):
                        if f[1] >= P:
                            pick = lst.pop(j)
                            break
                    if pick is not None:
                        if not lst:
                            del byf[fs[x]]
                            del fs[x]
                        break
                if pick is None and fs:
                    # No freed buffer holds it: grow the largest freed one of its dtype (a
                    # buffer's size is the largest block it ever holds) rather than add a
                    # buffer, as an allocator by address would reuse the freed space.
                    lst = byf[fs[-1]]
                    pick = lst.pop(0)
                    if not lst:
                        del byf[fs[-1]]
                        fs.pop()
                    grow = row_bytes(b.F, b.dtype, b.mem, bank) - row_bytes(pick[2], b.dtype, b.mem, bank)
                    pick[1], pick[2] = max(pick[1], b.P), max(pick[2], b.F)
                    used[b.mem] += max(grow, 0)
                    cap = sbuf_bytes if b.mem == "sbuf" else psum_bytes
                    if used[b.mem] > cap and over[b.mem] is None:
                        over[b.mem] = (b, b.mem, cap)
            if pick is None:
                count[b.mem] += 1
                pick = ["%s%d" % ("sb" if b.mem == "sbuf" else "ps", count[b.mem] - 1), b.P, b.F, b.dtype, b.mem]
                phys.append(pick)
                row = b.F * b.dtype.size
                if b.mem == "psum":
                    row = -(-row // bank) * bank
                used[b.mem] += row
                cap = sbuf_bytes if b.mem == "sbuf" else psum_bytes
                if used[b.mem] > cap and over[b.mem] is None:
                    over[b.mem] = (b, b.mem, cap)
            b.phys = pick
        for b in ends.get(i, ()):
            f = b.phys
            fr = free.get((b.mem, f[3]))
            if fr is None:
                fr = free[(b.mem, f[3])] = ({}, [])
            byf, fs = fr
            lst = byf.get(f[2])
            if lst is None:
                lst = byf[f[2]] = []
                insort(fs, f[2])
            lst.append(f)
    for mem in over:
        if over[mem] is not None:
            over[mem] += (used[mem],)  # the peak: buffers are never given back
    return phys, over


def _overflow(over, hw):
    b, mem, cap, peak = over
    t = b.tensor
    what = "%s tensor%s%s" % (mem.upper(), " '%s'" % t.name if t.name else "",
                              " (block %s)" % (list(b.key),) if b.key else "")
    raise NkiError(t.construct, "%s does not fit: the %s tensors live with it need %s per "
                   "partition at their peak (this block %s), %s has %s"
                   % (what, mem.upper(), kib(peak), kib(b.F * b.dtype.size), hw, kib(cap)), t.where)


def row_bytes(f, dtype, mem, bank):
    """Bytes per partition of a buffer of `f` elements (PSUM in whole banks)."""
    row = f * dtype.size
    return -(-row // bank) * bank if mem == "psum" else row


def kib(n):
    return ("%d KiB" % (n // 1024)) if n % 1024 == 0 else ("%.1f KiB" % (n / 1024.0))
