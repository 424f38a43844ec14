//! `matmul` and `bmm`: C[m, n] = A[m, k] @ B[k, n], tiled the way NKI's fastest matmul is.
//!
//! The array computes `stationary.T @ moving` with the contraction on partitions, so A enters
//! as A^T tiles (`[k, m]`, 128 x 128) and B as `[k, n]` tiles of up to one PSUM bank (512
//! columns). A block of up to four A^T column tiles over the whole of K stays resident in SBUF
//! while every B tile streams past it once per block: B is read `ceil(m / 512)` times, A once,
//! which keeps the arithmetic intensity above the tensor engine's roofline (222 flop/byte on
//! trn1 [TUT]). Each 128 x 512 result accumulates over K in one PSUM bank in fp32; two sets of
//! banks alternate, so Vector and Scalar evacuate one set (casting to the output dtype) while
//! the tensor engine fills the other. B tiles stream through a ring of SBUF slots loaded over
//! all DMA engines, so loads run ahead of the multiplies. In fp8 on presets with double-row
//! mode, each partition carries two K-rows and one instruction contracts 256.

use ndarray::{ArrayD, Ix2};

use super::builder::{
    Builder, Role, evac_engine, hbm_block, hbm_block_t, hbm_double_rows, sbuf_double_rows, tile,
};
use super::{Kernel, Params, Result, unit_roundoff};
use crate::arch::Hardware;
use crate::isa::{AccessPattern, BufferId, Op, PartitionStep, Program, Tile};
use crate::numerics::DType;

pub(super) struct Matmul;

pub(super) struct Bmm;

/// The output dtype for inputs of `d`: 16- and 32-bit inputs keep theirs, fp8 gives bf16.
pub(super) fn out_dtype(d: DType) -> DType {
    if d.is_fp8() { DType::BFloat16 } else { d }
}

/// How A is stored in HBM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Layout {
    /// A^T, `[k, m]` row-major (as NKI's matmul samples take it): plain row loads.
    Kxm,
    /// A, `[m, k]` row-major: loaded with DMA transposes.
    Mxk,
}

/// One contraction step: rows `k0..k0 + rows` of K, two per partition in double-row mode.
#[derive(Clone, Copy, Debug)]
struct Step {
    k0: usize,
    rows: usize,
    double: bool,
    /// Offset of this step's A^T block in the resident buffer (elements per partition).
    a_off: usize,
}

impl Step {
    fn partitions(&self) -> usize {
        if self.double {
            self.rows / 2
        } else {
            self.rows
        }
    }
    fn per_row(&self) -> usize {
        if self.double { 2 } else { 1 }
    }
}

/// An HBM matrix operand: buffer, first row (batches stack along rows) and row length.
#[derive(Clone, Copy, Debug)]
pub(super) struct Operand {
    pub buf: BufferId,
    /// First row of this matrix in the buffer.
    pub row0: usize,
    /// Columns (row length).
    pub cols: usize,
}

/// One finished `[rows, cols]` block of C in PSUM (fp32), with the SBUF slot (of the output
/// dtype) reserved for its evacuation.
pub(super) struct Done {
    /// Row of C on the block's first partition.
    pub m0: usize,
    /// Rows of C between consecutive partitions: 1, or `r` when `r` m-tiles interleave their
    /// rows so a partition holds `r` consecutive rows of C (see [`Gemm::coalesce_stores`]).
    pub stride: usize,
    /// Rows (at most one m-tile).
    pub rows: usize,
    /// First column of the block in C.
    pub n0: usize,
    /// Columns (at most one n-tile).
    pub cols: usize,
    /// The accumulated result.
    pub psum: Tile,
    /// Its evacuation slot.
    pub out: Tile,
}

impl Done {
    /// Copy the result to its slot with the cast, on the `k`-th evacuation's engine (Vector
    /// and Scalar alternate).
    pub(super) fn evacuate(&self, b: &mut Builder, k: usize) {
        b.push(Op::TensorCopy {
            engine: evac_engine(k),
            dst: self.out.clone(),
            src: self.psum.clone(),
        });
    }
}

/// Buffers and tiling of one GEMM shape, reused for every GEMM of that shape in a program.
pub(super) struct Gemm {
    m: usize,
    n: usize,
    layout: Layout,
    /// m-tiles per resident block.
    bm: usize,
    /// n-tiles per B load (a B row of `g * tn` elements: longer DMA descriptors).
    g: usize,
    /// PSUM bank sets that alternate (2: evacuation overlaps the next multiplies).
    sets: usize,
    tn: usize,
    steps: Vec<Step>,
    a_blk: BufferId,
    b_ring: BufferId,
    b_slots: usize,
    b_slot_elems: usize,
    acc: BufferId,
    bank: usize,
    out_ring: BufferId,
    /// Bytes of an output element.
    out_bytes: usize,
    /// Interleave m-tiles so stores move whole DMA descriptors (see [`Gemm::coalesce_stores`]).
    coalesce: bool,
    /// Running counters: B slot, PSUM set, evacuation.
    b_next: usize,
    set_next: usize,
    evac_next: usize,
}

impl Gemm {
    /// Plan a `[m, k] @ [k, n]` GEMM in `dtype` (output `out`), taking its SBUF and PSUM from
    /// `b`. `block_m` m-tiles per resident block (0: the most that fit, at most 4) and
    /// `b_buffers` B slots.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        b: &mut Builder,
        tag: &str,
        (m, k, n): (usize, usize, usize),
        dtype: DType,
        out: DType,
        layout: Layout,
        (block_m, block_n): (usize, usize),
        b_buffers: usize,
    ) -> Result<Gemm> {
        let hw = b.hw();
        let pe = &hw.pe;
        let tp = (pe.contraction_max as usize).min(hw.sbuf.partitions as usize);
        let tm = pe.stationary_free_max as usize;
        let tn = (pe.moving_free_max as usize).min(b.bank_elems()).min(n);
        // Double rows need both inputs fp8, the preset's mode, and row pairs in HBM (A^T rows).
        let double_ok = pe.fp8_double_row && dtype.is_fp8() && layout == Layout::Kxm;
        let mt = m.div_ceil(tm);
        let nt = n.div_ceil(tn);
        let banks = hw.psum.banks as usize;
        let mut bm = if block_m == 0 {
            mt.min(4)
        } else {
            block_m.min(mt)
        };
        let es = dtype.size_bytes();
        loop {
            let mut steps = Vec::new();
            let (mut k0, mut off) = (0, 0);
            let width = bm * tm;
            while k0 < k {
                let left = k - k0;
                let double = double_ok && left >= 2 * tp && k0 % 2 == 0;
                let rows = if double { 2 * tp } else { left.min(tp) };
                let s = Step {
                    k0,
                    rows,
                    double,
                    a_off: off,
                };
                off += s.per_row() * width;
                k0 += rows;
                steps.push(s);
            }
            let per_row = if double_ok { 2 } else { 1 };
            // B rows of up to 4 n-tiles (2-4 KiB descriptors) while the accumulators fit the
            // banks; two alternating bank sets when they fit twice.
            let g = if block_n == 0 {
                [4, 2, 1]
                    .into_iter()
                    .find(|&g| bm * g <= banks && g <= nt.max(1))
                    .unwrap_or(1)
            } else {
                block_n.min(nt.max(1))
            };
            if bm * g > banks {
                return Err(b.does_not_fit(format!(
                    "block_m = {bm} times block_n = {g} accumulators exceed the {banks} PSUM banks"
                )));
            }
            let sets = if 2 * bm * g <= banks { 2 } else { 1 };
            let a_bytes = off * es;
            let b_slot_elems = per_row * g * tn;
            let b_bytes = b_buffers * b_slot_elems * es;
            let out_bytes = sets * bm * g * tn * out.size_bytes();
            if (a_bytes + b_bytes + out_bytes) as u64 <= b.sbuf_free_bytes() {
                let a_blk = b.sbuf(&format!("{tag}a_blk"), dtype, tp, off)?;
                let b_ring =
                    b.sbuf(&format!("{tag}b_ring"), dtype, tp, b_buffers * b_slot_elems)?;
                let out_ring = b.sbuf(&format!("{tag}c_out"), out, tm, sets * bm * g * tn)?;
                let acc = b.psum(&format!("{tag}acc"), tm, (sets * bm * g) as u32)?;
                let bank = b.bank_elems();
                return Ok(Gemm {
                    m,
                    n,
                    layout,
                    bm,
                    g,
                    sets,
                    tn,
                    steps,
                    a_blk,
                    b_ring,
                    b_slots: b_buffers,
                    b_slot_elems,
                    acc,
                    bank,
                    out_ring,
                    out_bytes: out.size_bytes(),
                    coalesce: false,
                    b_next: 0,
                    set_next: 0,
                    evac_next: 0,
                });
            }
            if bm == 1 || block_m != 0 {
                return Err(b.does_not_fit(format!(
                    "a resident A^T block of {bm} x {tm} columns over k = {k} needs {a_bytes} \
                     bytes per partition, plus {b_bytes} for {b_buffers} B slots and {out_bytes} \
                     for results; SBUF has {} left",
                    b.sbuf_free_bytes()
                )));
            }
            bm /= 2;
        }
    }

    /// Store partitions in runs of up to a whole DMA descriptor (4 KiB \[DMA\]): when a row of C
    /// is shorter, `r` m-tiles of a block interleave their rows (m-tile `j` takes A^T columns
    /// `j, j + r, ...` of its group), so each partition holds `r` consecutive rows of C and one
    /// store moves `r` rows per partition. Only for [`Gemm::emit`]'s plain stores: a fused
    /// epilogue sees [`Done::stride`] rows between partitions.
    pub(super) fn coalesce_stores(&mut self) {
        self.coalesce = true;
    }

    /// Rows of C per partition for a block of `width` columns in `tiles` m-tiles of `tm`: more
    /// than 1 only when a whole row of C is one group of full n-tiles shorter than a descriptor.
    fn rows_per_partition(&self, hw: &Hardware, width: usize, tiles: usize, tm: usize) -> usize {
        let row_bytes = self.n * self.out_bytes;
        let desc = hw.dma.descriptor_bytes_max as usize;
        let whole_row = self.n % self.tn == 0 && self.n / self.tn == self.g;
        if !self.coalesce || width != tiles * tm || !whole_row || row_bytes >= desc {
            return 1;
        }
        let mut r = (desc / row_bytes).clamp(1, tiles);
        while tiles % r != 0 {
            r -= 1;
        }
        r
    }

    /// Emit C = A @ B (A as `layout` says, `[k, m]` or `[m, k]`; B `[k, n]`; C `[m, n]`).
    pub(super) fn emit(&mut self, b: &mut Builder, a: Operand, bmat: Operand, c: Operand) {
        let mut k = self.evac_next;
        self.emit_with(b, a, bmat, &mut |b: &mut Builder, done: &[Done]| {
            let mut i = 0;
            while i < done.len() {
                // One store for the results whose rows continue each other in SBUF and HBM.
                let first = &done[i];
                let (mut end, mut cols) = (i + 1, first.cols);
                while end < done.len() && continues(first, &done[end - 1], &done[end], c.cols) {
                    cols += done[end].cols;
                    end += 1;
                }
                for d in &done[i..end] {
                    d.evacuate(b, k);
                    k += 1;
                }
                let out = tile(
                    first.out.buffer,
                    0,
                    first.rows,
                    first.out.ap.offset as usize,
                    cols,
                );
                let dst = if first.stride == 1 {
                    hbm_block(c.buf, c.row0 + first.m0, first.rows, first.n0, cols)
                } else {
                    Tile {
                        buffer: c.buf,
                        partition_start: 0,
                        partition_count: first.rows as u32,
                        partition_step: PartitionStep::new((first.stride * c.cols) as u32)
                            .expect("step fits"),
                        ap: AccessPattern::contiguous(
                            ((c.row0 + first.m0) * c.cols + first.n0) as u32,
                            cols as u32,
                        ),
                    }
                };
                b.dma(Role::Store, dst, out);
                i = end;
            }
        });
        self.evac_next = k;
    }

    /// Give the GEMM's SBUF and PSUM back to the builder once its last [`Gemm::emit`] is done,
    /// so a later phase of the same kernel can plan in them.
    pub(super) fn release(&self, b: &mut Builder) {
        for id in [self.a_blk, self.b_ring, self.out_ring, self.acc] {
            b.release(id);
        }
    }

    /// Emit the multiplies of C = A @ B and hand each group of finished results (the tiles of
    /// one resident block times one B load, in m-tile then n-tile order) to `epilogue`, which
    /// evacuates them: a fused kernel applies its elementwise work there instead of a plain copy.
    pub(super) fn emit_with(
        &mut self,
        b: &mut Builder,
        a: Operand,
        bmat: Operand,
        epilogue: &mut dyn FnMut(&mut Builder, &[Done]),
    ) {
        let tm = b.hw().pe.stationary_free_max as usize;
        let width_max = self.bm * tm;
        let mut m0 = 0;
        while m0 < self.m {
            let width = width_max.min(self.m - m0);
            let tiles = width.div_ceil(tm);
            let r = self.rows_per_partition(b.hw(), width, tiles, tm);
            // m-tile j's first A^T column in the block; its columns step by r.
            let col0 = |j: usize| j / r * r * tm + j % r;
            // The resident A^T block for these columns, one load per contraction step.
            for s in &self.steps {
                let np = s.partitions();
                let dst = tile(self.a_blk, 0, np, s.a_off, s.per_row() * width);
                let src = match (self.layout, s.double) {
                    (Layout::Kxm, false) => hbm_block(a.buf, a.row0 + s.k0, s.rows, m0, width),
                    (Layout::Kxm, true) => {
                        hbm_double_rows(a.buf, a.cols, a.row0 + s.k0, np, m0, width)
                    }
                    (Layout::Mxk, _) => {
                        hbm_block_t(a.buf, a.cols, a.row0 + m0, width, s.k0, s.rows)
                    }
                };
                b.dma(Role::Resident, dst, src);
            }
            let mut n0 = 0;
            while n0 < self.n {
                // One group of up to `g` n-tiles shares each B load.
                let gw = (self.g * self.tn).min(self.n - n0);
                let subs = gw.div_ceil(self.tn);
                let set = self.set_next % self.sets;
                self.set_next += 1;
                let bank_of = |j: usize, t: usize| (set * self.bm + j) * self.g + t;
                for (si, s) in self.steps.iter().enumerate() {
                    let np = s.partitions();
                    let slot = self.b_next % self.b_slots;
                    self.b_next += 1;
                    let off = slot * self.b_slot_elems;
                    let src = if s.double {
                        hbm_double_rows(bmat.buf, bmat.cols, bmat.row0 + s.k0, np, n0, gw)
                    } else {
                        hbm_block(bmat.buf, bmat.row0 + s.k0, s.rows, n0, gw)
                    };
                    b.dma(
                        Role::Load,
                        tile(self.b_ring, 0, np, off, s.per_row() * gw),
                        src,
                    );
                    for j in 0..tiles {
                        let msz = tm.min(width - j * tm);
                        let stationary = match (s.double, r) {
                            (true, _) => {
                                sbuf_double_rows(self.a_blk, np, s.a_off, width, (col0(j), r), msz)
                            }
                            (false, 1) => tile(self.a_blk, 0, np, s.a_off + j * tm, msz),
                            (false, _) => Tile {
                                buffer: self.a_blk,
                                partition_start: 0,
                                partition_count: np as u32,
                                partition_step: PartitionStep::ROW,
                                ap: AccessPattern::new(
                                    (s.a_off + col0(j)) as u32,
                                    &[(r as u32, msz as u32)],
                                ),
                            },
                        };
                        for t in 0..subs {
                            let nsz = self.tn.min(gw - t * self.tn);
                            let moving = if s.double {
                                sbuf_double_rows(self.b_ring, np, off, gw, (t * self.tn, 1), nsz)
                            } else {
                                tile(self.b_ring, 0, np, off + t * self.tn, nsz)
                            };
                            b.push(Op::Matmul {
                                dst: tile(self.acc, 0, msz, bank_of(j, t) * self.bank, nsz),
                                stationary: stationary.clone(),
                                moving,
                                accumulate: si > 0,
                            });
                        }
                    }
                }
                // Evacuate (with the cast) and store each result of this group.
                let mut done = Vec::with_capacity(tiles * subs);
                for j in 0..tiles {
                    let msz = tm.min(width - j * tm);
                    for t in 0..subs {
                        let nsz = self.tn.min(gw - t * self.tn);
                        done.push(Done {
                            m0: m0 + col0(j),
                            stride: r,
                            rows: msz,
                            n0: n0 + t * self.tn,
                            cols: nsz,
                            psum: tile(self.acc, 0, msz, bank_of(j, t) * self.bank, nsz),
                            out: tile(self.out_ring, 0, msz, bank_of(j, t) * self.tn, nsz),
                        });
                    }
                }
                epilogue(b, &done);
                n0 += gw;
            }
            m0 += width;
        }
    }
}

/// Whether result `d` continues `prev` (of a store that began with `first`) in both SBUF and
/// HBM: the next columns of the same rows, or, when rows interleave, the next row of C on each
/// partition from its first column.
fn continues(first: &Done, prev: &Done, d: &Done, n: usize) -> bool {
    let sbuf_next = d.out.ap.offset == prev.out.ap.offset + prev.cols as u32;
    let same_rows = d.m0 == prev.m0 && d.n0 == prev.n0 + prev.cols;
    let next_row = d.m0 == prev.m0 + 1
        && d.m0 < first.m0 + first.stride
        && prev.n0 + prev.cols == n
        && d.n0 == 0;
    d.rows == first.rows && d.stride == first.stride && sbuf_next && (same_rows || next_row)
}

fn layout(p: &Params) -> Layout {
    match p.choice("layout") {
        "mxk" => Layout::Mxk,
        _ => Layout::Kxm,
    }
}

/// Lower `batch` GEMMs of one shape (A, B and C stacked along rows).
fn lower_batched(p: &Params, hw: &Hardware, name: &str, batch: usize) -> Result<Program> {
    let (m, k, n) = (p.int("m"), p.int("k"), p.int("n"));
    let dtype = p.dtype("dtype");
    let out = out_dtype(dtype);
    let layout = layout(p);
    let mut b = Builder::new(name, hw, p.int("seed") as u64);
    let a = match layout {
        Layout::Kxm => b.input("a_t", dtype, &[batch * k, m]),
        Layout::Mxk => b.input("a", dtype, &[batch * m, k]),
    };
    let bb = b.input("b", dtype, &[batch * k, n]);
    let c = b.output("c", out, &[batch * m, n]);
    let mut g = Gemm::new(
        &mut b,
        "",
        (m, k, n),
        dtype,
        out,
        layout,
        (p.int("block_m"), p.int("block_n")),
        p.int("b_buffers"),
    )?;
    g.coalesce_stores();
    let a_cols = if layout == Layout::Kxm { m } else { k };
    let a_rows = if layout == Layout::Kxm { k } else { m };
    for i in 0..batch {
        g.emit(
            &mut b,
            Operand {
                buf: a,
                row0: i * a_rows,
                cols: a_cols,
            },
            Operand {
                buf: bb,
                row0: i * k,
                cols: n,
            },
            Operand {
                buf: c,
                row0: i * m,
                cols: n,
            },
        );
    }
    b.finish()
}

/// f64 reference of batched C = A @ B.
fn reference_batched(
    p: &Params,
    input: &dyn Fn(&str) -> ArrayD<f64>,
    batch: usize,
) -> Vec<(String, ArrayD<f64>)> {
    let (m, k, n) = (p.int("m"), p.int("k"), p.int("n"));
    let bmat = input("b").into_dimensionality::<Ix2>().expect("2-D");
    let a = match layout(p) {
        Layout::Kxm => input("a_t").into_dimensionality::<Ix2>().expect("2-D"),
        Layout::Mxk => input("a").into_dimensionality::<Ix2>().expect("2-D"),
    };
    let mut c = ndarray::Array2::<f64>::zeros((batch * m, n));
    for i in 0..batch {
        let bi = bmat.slice(ndarray::s![i * k..(i + 1) * k, ..]);
        let ai = match layout(p) {
            Layout::Kxm => a.slice(ndarray::s![i * k..(i + 1) * k, ..]).t().to_owned(),
            Layout::Mxk => a.slice(ndarray::s![i * m..(i + 1) * m, ..]).to_owned(),
        };
        c.slice_mut(ndarray::s![i * m..(i + 1) * m, ..])
            .assign(&ai.dot(&bi));
    }
    vec![("c".into(), c.into_dyn())]
}

/// Output rounding plus fp32 accumulation over k (a sqrt(k) growth of the per-add error, with
/// headroom: the bound is on the largest error relative to the largest |C|).
fn gemm_tolerance(p: &Params) -> f64 {
    let k = p.int("k") as f64;
    let out = out_dtype(p.dtype("dtype"));
    2.0 * unit_roundoff(out) + 4.0 * k.sqrt() * unit_roundoff(DType::Float32)
}

impl Kernel for Matmul {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/matmul.toml")
    }

    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        lower_batched(p, hw, "matmul", 1)
    }

    fn reference(
        &self,
        p: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        reference_batched(p, input, 1)
    }

    fn tolerance(&self, p: &Params) -> f64 {
        gemm_tolerance(p)
    }
}

impl Kernel for Bmm {
    fn definition(&self) -> &'static str {
        include_str!("../../kernels/bmm.toml")
    }

    fn lower(&self, p: &Params, hw: &Hardware) -> Result<Program> {
        lower_batched(p, hw, "bmm", p.int("batch"))
    }

    fn reference(
        &self,
        p: &Params,
        input: &dyn Fn(&str) -> ArrayD<f64>,
    ) -> Vec<(String, ArrayD<f64>)> {
        reference_batched(p, input, p.int("batch"))
    }

    fn tolerance(&self, p: &Params) -> f64 {
        gemm_tolerance(p)
    }
}
