"""The allocator's indexed free lists choose exactly the buffer the plain scan over the free
list chooses (best fit, least recently freed of equal ones, else the largest grown)."""
import random
import unittest

from trnsim.nki import alloc
from trnsim.nki.dtypes import F32, BF16
from trnsim.nki.errors import NkiError


def scan_allocate(blocks, sbuf_bytes, psum_bytes, psum_budget=None):
    """The allocation by a scan of the free list in order of freeing (the reference), with
    PSUM banks rotating while `psum_budget` (default: all of PSUM) allows; returns (the
    buffer of each block, whether PSUM overflowed)."""
    psum_budget = psum_bytes if psum_budget is None else psum_budget
    row_bytes, bank = alloc.row_bytes, psum_bytes // alloc.PSUM_BANKS
    starts, ends = {}, {}
    for b in blocks:
        if b.first >= 0:
            starts.setdefault(b.first, []).append(b)
            ends.setdefault(b.last, []).append(b)
    free = {"sbuf": [], "psum": []}
    used = {"sbuf": 0, "psum": 0}
    count = {"sbuf": 0, "psum": 0}
    out = {}
    for i in sorted(set(starts) | set(ends)):
        for b in starts.get(i, ()):
            fl = free[b.mem]
            pick = None
            fits = [j for j, f in enumerate(fl) if f[3] == b.dtype and f[1] >= b.P and f[2] >= b.F]
            rotate = b.mem == "psum" and used["psum"] + row_bytes(b.F, b.dtype, "psum", bank) <= psum_budget
            if rotate:
                fits = []
            if fits:
                pick = fl.pop(min(fits, key=lambda j: (fl[j][2], j)))
            if pick is None:
                same = [j for j, f in enumerate(fl) if f[3] == b.dtype]
                if same and not rotate:
                    pick = fl.pop(max(same, key=lambda j: (fl[j][2], -j)))
                    grow = row_bytes(b.F, b.dtype, b.mem, bank) - row_bytes(pick[2], b.dtype, b.mem, bank)
                    pick[1], pick[2] = max(pick[1], b.P), max(pick[2], b.F)
                    used[b.mem] += max(grow, 0)
            if pick is None:
                count[b.mem] += 1
                pick = ["%s%d" % ("sb" if b.mem == "sbuf" else "ps", count[b.mem] - 1), b.P, b.F, b.dtype, b.mem]
                used[b.mem] += row_bytes(b.F, b.dtype, b.mem, bank)
            out[id(b)] = pick[0]
            b.phys = pick
        for b in ends.get(i, ()):
            free[b.mem].append(b.phys)
    return out, used["psum"] > psum_bytes


def scan_with_budget_search(blocks, sbuf_bytes, psum_bytes):
    """The reference with the allocator's PSUM budget search: all of PSUM if that fits, else a
    bisection over whole banks for a budget that fits (none as the last resort)."""
    out, over = scan_allocate(blocks, sbuf_bytes, psum_bytes)
    if not over:
        return out
    bank = psum_bytes // alloc.PSUM_BANKS
    lo, hi = 0, alloc.PSUM_BANKS
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if scan_allocate(blocks, sbuf_bytes, psum_bytes, mid * bank)[1]:
            hi = mid
        else:
            lo = mid
    return scan_allocate(blocks, sbuf_bytes, psum_bytes, lo * bank)[0]


class FakeBlock(object):
    def __init__(self, mem, dtype, P, F, first, last):
        self.mem, self.dtype, self.P, self.F = mem, dtype, P, F
        self.first, self.last = first, last
        self.phys = None
        self.tensor = FakeTensor()
        self.key = ()


class FakeTensor(object):
    name, construct, where = None, "test", ("test.py", 1)


def random_blocks(rng, n):
    out = []
    for _ in range(n):
        first = rng.randrange(0, 400)
        mem = "psum" if rng.random() < 0.3 else "sbuf"
        out.append(FakeBlock(mem, rng.choice([F32, BF16]), rng.choice([32, 64, 128, 128]),
                             rng.choice([1, 6, 128, 256, 500, 512, 512, 1024, 2048]),
                             first, first + rng.randrange(0, 40)))
    return out


class IndexedAllocation(unittest.TestCase):
    def test_the_same_buffers_as_the_scan(self):
        rng = random.Random(7)
        for case in range(200):
            blocks = random_blocks(rng, rng.randrange(1, 120))
            want = scan_with_budget_search(blocks, 1 << 30, 16384)
            for b in blocks:
                b.phys = None
            try:
                alloc.allocate(blocks, 500, 1 << 30, 16384, "test", rotation=False)
            except NkiError:
                pass  # PSUM over capacity: reported after every block is placed
            got = dict((id(b), b.phys[0]) for b in blocks)
            self.assertEqual(got, want, "case %d" % case)


if __name__ == "__main__":
    unittest.main()
