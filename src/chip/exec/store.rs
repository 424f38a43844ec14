//! One buffer's values, in pages allocated on first write.
//!
//! A trace may declare a 32 GiB HBM buffer and touch one tile of it: memory must follow what the
//! kernel touches, not what it declares. Untouched elements read as their initial value (zeros,
//! or the seeded value of element `i`, computed on the fly), so a page costs memory only once
//! something is written into it. The page table itself is one pointer per 64 KiB page.

use std::sync::OnceLock;

use crate::isa::{Buffer, Init};
use crate::numerics::{Cast, DType, random_u32};

/// Elements per page, as a power of two (16 Ki `f32` = 64 KiB).
const PAGE_SHIFT: u32 = 14;
pub(crate) const PAGE_ELEMS: usize = 1 << PAGE_SHIFT;
type Page = Box<[f32; PAGE_ELEMS]>;

/// A buffer's flat row-major values: pages written so far, the initial value everywhere else.
#[derive(Clone)]
pub(crate) struct Store {
    len: usize,
    dtype: DType,
    init: Init,
    pages: Vec<Option<Page>>,
    /// The whole buffer as one slice, made on request ([`Store::flat`]) and dropped on a write.
    flat: OnceLock<Vec<f32>>,
}

impl Store {
    /// The buffer before its first instruction: no page allocated.
    pub(crate) fn new(buf: &Buffer) -> Self {
        let len = buf.elems();
        Store {
            len,
            dtype: buf.dtype,
            init: buf.init.clone(),
            pages: (0..len.div_ceil(PAGE_ELEMS)).map(|_| None).collect(),
            flat: OnceLock::new(),
        }
    }

    /// Elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Initial value of element `i`: it depends only on (seed, `i`), so a page can be filled
    /// whenever it is first needed. A uniform is `(random_u32(seed, 2i) + 0.5) / 2^32`; normals
    /// use Box-Muller with a second uniform from position `2i + 1`.
    fn init_value(&self, i: usize) -> f32 {
        let i = i as u64;
        match self.init {
            Init::Zeros | Init::Input => 0.0,
            Init::Uniform { low, high, seed } => {
                round_f64(self.dtype, low + (high - low) * unit(seed, 2 * i))
            }
            Init::Normal { mean, std, seed } => {
                let (u1, u2) = (unit(seed, 2 * i), unit(seed, 2 * i + 1));
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                round_f64(self.dtype, mean + std * z)
            }
        }
    }

    /// Element `i` (below [`Store::len`]).
    pub(crate) fn get(&self, i: usize) -> f32 {
        match &self.pages[i >> PAGE_SHIFT] {
            Some(page) => page[i & (PAGE_ELEMS - 1)],
            None => self.init_value(i),
        }
    }

    /// Append elements `start..start + n` to `out`.
    pub(crate) fn read_run(&self, start: usize, n: usize, out: &mut Vec<f32>) {
        let end = start + n;
        let mut i = start;
        while i < end {
            let (p, o) = (i >> PAGE_SHIFT, i & (PAGE_ELEMS - 1));
            let take = (PAGE_ELEMS - o).min(end - i);
            match &self.pages[p] {
                Some(page) => out.extend_from_slice(&page[o..o + take]),
                None if matches!(self.init, Init::Zeros | Init::Input) => {
                    out.resize(out.len() + take, 0.0)
                }
                None => out.extend((i..i + take).map(|k| self.init_value(k))),
            }
            i += take;
        }
    }

    /// Page `p`, allocated (with its initial values) on first use.
    fn page_mut(&mut self, p: usize) -> &mut [f32; PAGE_ELEMS] {
        if self.flat.get().is_some() {
            self.flat = OnceLock::new();
        }
        if self.pages[p].is_none() {
            let first = p << PAGE_SHIFT;
            let filled = (first..(first + PAGE_ELEMS).min(self.len)).map(|i| self.init_value(i));
            let mut values = vec![0.0f32; PAGE_ELEMS];
            for (v, x) in values.iter_mut().zip(filled) {
                *v = x;
            }
            let page: Page = values
                .into_boxed_slice()
                .try_into()
                .expect("a page is PAGE_ELEMS long");
            self.pages[p] = Some(page);
        }
        self.pages[p].as_mut().expect("allocated above")
    }

    /// Set element `i` (below [`Store::len`]).
    pub(crate) fn set(&mut self, i: usize, v: f32) {
        self.page_mut(i >> PAGE_SHIFT)[i & (PAGE_ELEMS - 1)] = v;
    }

    /// Write `values` at elements `start..`.
    pub(crate) fn write_run(&mut self, start: usize, values: &[f32]) {
        let mut i = start;
        for chunk in split_at_pages(start, values) {
            let o = i & (PAGE_ELEMS - 1);
            self.page_mut(i >> PAGE_SHIFT)[o..o + chunk.len()].copy_from_slice(chunk);
            i += chunk.len();
        }
    }

    /// Round `src` (the whole buffer's values) to `cast`'s dtype into the buffer, element `i`
    /// drawing stream position `i`.
    pub(crate) fn round_from(&mut self, cast: Cast, src: &[f32]) -> crate::numerics::Result<()> {
        let mut i = 0;
        for chunk in split_at_pages(0, src) {
            let page = self.page_mut(i >> PAGE_SHIFT);
            cast.round_slice(chunk, i as u64, &mut page[..chunk.len()])?;
            i += chunk.len();
        }
        Ok(())
    }

    /// All values, flat row-major, in a new vector.
    pub(crate) fn to_vec(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.len);
        self.read_run(0, self.len, &mut out);
        out
    }

    /// All values as one slice: made on the first call after a write (the whole buffer in
    /// memory), for callers that want a slice (tests, checks against a reference).
    pub(crate) fn flat(&self) -> &[f32] {
        self.flat.get_or_init(|| self.to_vec())
    }

    /// Pages allocated (for tests of the memory a run takes).
    #[cfg(test)]
    pub(crate) fn pages_allocated(&self) -> usize {
        self.pages.iter().filter(|p| p.is_some()).count()
    }
}

/// `values` (to be written from element `start`) cut where pages end.
fn split_at_pages(start: usize, values: &[f32]) -> impl Iterator<Item = &[f32]> {
    let mut rest = values;
    let mut i = start;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let take = (PAGE_ELEMS - (i & (PAGE_ELEMS - 1))).min(rest.len());
        let (head, tail) = rest.split_at(take);
        rest = tail;
        i += take;
        Some(head)
    })
}

impl PartialEq for Store {
    /// Equal values (pages written or not).
    fn eq(&self, other: &Self) -> bool {
        if self.len != other.len {
            return false;
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        (0..self.len).step_by(PAGE_ELEMS).all(|start| {
            let n = PAGE_ELEMS.min(self.len - start);
            a.clear();
            b.clear();
            self.read_run(start, n, &mut a);
            other.read_run(start, n, &mut b);
            a == b
        })
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("len", &self.len)
            .field("dtype", &self.dtype)
            .field("init", &self.init)
            .field("pages_allocated", &self.pages.iter().flatten().count())
            .finish()
    }
}

/// Uniform on (0, 1) from one position of the seed's stream (never exactly 0 or 1).
fn unit(seed: u64, index: u64) -> f64 {
    (random_u32(seed, index) as f64 + 0.5) / 4_294_967_296.0
}

/// Round an `f64` correctly (once) to a dtype, to nearest.
fn round_f64(dtype: DType, x: f64) -> f32 {
    dtype.decode(Cast::new(dtype).encode_f64(x, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::isa::Memory;

    fn buffer(shape: Vec<usize>, init: Init) -> Buffer {
        Buffer {
            name: "b".into(),
            memory: Memory::Hbm,
            dtype: DType::BFloat16,
            shape,
            init,
            line: 0,
            core: 0,
        }
    }

    #[test]
    fn untouched_pages_read_their_init_and_cost_nothing() {
        let mut s = Store::new(&buffer(vec![1 << 20, 1 << 14], Init::Zeros));
        assert_eq!(s.pages_allocated(), 0);
        let start = (1usize << 33) + 5;
        s.write_run(start - 3, &[1.0; PAGE_ELEMS + 7]);
        assert_eq!(s.pages_allocated(), 2);
        let mut out = Vec::new();
        s.read_run(start - 5, 4, &mut out);
        assert_eq!(out, [0.0, 0.0, 1.0, 1.0]);
        s.set(3, 2.0);
        assert_eq!((s.get(3), s.get(4), s.pages_allocated()), (2.0, 0.0, 3));
    }

    #[test]
    fn seeded_values_do_not_depend_on_what_was_written() {
        let init = Init::Normal {
            mean: 0.0,
            std: 1.0,
            seed: 3,
        };
        let b = buffer(vec![3, PAGE_ELEMS + 11], init);
        let fresh = Store::new(&b);
        let mut touched = Store::new(&b);
        let x = touched.get(PAGE_ELEMS + 2);
        touched.set(PAGE_ELEMS + 2, x);
        assert_eq!(touched.pages_allocated(), 1);
        assert_eq!(fresh, touched);
        assert_eq!(fresh.flat(), touched.to_vec().as_slice());
        touched.set(0, 1e9);
        assert_ne!(fresh, touched);
    }
}
