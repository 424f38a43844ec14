//! Large per-instruction arrays on transparent huge pages.
//!
//! A million-instruction run writes about 60 MB of fresh arrays, and with 4 KiB pages the
//! kernel's page faults cost as much time as the simulation (measured: about 40 % of a timing
//! run). Where the kernel offers transparent huge pages on request (Linux's `madvise` mode,
//! the common default), asking for them on arrays of a few MiB or more cuts the faults 512x:
//! NumPy does the same for its large arrays. Elsewhere, or when the kernel declines, this is a
//! no-op and the arrays are ordinary vectors.

/// Below this many bytes no whole huge page (2 MiB) can lie inside an array.
const MIN_BYTES: usize = 2 << 20;

/// A vector of `n` copies of `value`, on huge pages where the system offers them.
pub(crate) fn filled<T: Copy>(n: usize, value: T) -> Vec<T> {
    let mut v = Vec::with_capacity(n);
    advise(&v);
    v.resize(n, value);
    v
}

/// Ask for huge pages under `v`'s spare capacity before it is first written.
#[cfg(target_os = "linux")]
fn advise<T>(v: &Vec<T>) {
    const HUGE: usize = 2 << 20;
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < MIN_BYTES {
        return;
    }
    let start = v.as_ptr() as usize;
    // The whole huge pages inside the allocation: madvise needs page-aligned bounds, and a
    // hint on memory outside the allocation could change a neighbour's pages.
    let (lo, hi) = (start.next_multiple_of(HUGE), (start + bytes) / HUGE * HUGE);
    if lo < hi {
        // SAFETY: [lo, hi) lies inside `v`'s allocation, which nothing has written yet;
        // MADV_HUGEPAGE only changes how the kernel backs those pages, never their contents or
        // validity, and a refusal (an error return) leaves them as they were.
        unsafe {
            libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise<T>(_: &Vec<T>) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filled_is_vec_from_elem() {
        for n in [0, 1, 1000, (MIN_BYTES / 8) + 12345] {
            assert_eq!(filled(n, 7u64), vec![7u64; n]);
        }
    }
}
