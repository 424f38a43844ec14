//! How the library lowers its DMAs and rows: every `[P, F]` transfer spread over the DMA engines
//! as NKI kernels do (the DMA overview's `[128, F]` example: 16 engines, 8 partitions each),
//! bmm's stores in 4 KiB rows, and norms whose long rows stream in chunks.

use trnsim::arch::Hardware;
use trnsim::chip::{self, RunOptions};
use trnsim::isa::{Op, Program};
use trnsim::kernels;

mod common;

fn set(spec: &str) -> Vec<(String, String)> {
    trnsim::cli::kernel::parse_set(&[spec.to_string()]).unwrap()
}

fn lower(name: &str, spec: &str, hw: &str) -> Program {
    kernels::lower(name, &set(spec), &Hardware::preset(hw).unwrap())
        .unwrap()
        .1
}

/// Lower, run with data and compare with the kernel's f64 reference.
fn check(name: &str, spec: &str, hw: &str) -> kernels::CheckReport {
    common::check_on(&Hardware::preset(hw).unwrap(), name, spec)
}

/// Every DMA as (destination buffer name, partition start, partition count, engine, queue).
fn dmas(p: &Program) -> Vec<(String, u32, u32, u16, u16)> {
    p.instrs
        .iter()
        .filter_map(|i| match &i.op {
            Op::DmaCopy { dst, queue, .. } => Some((
                p.buffer(dst.buffer).name.clone(),
                dst.partition_start,
                dst.partition_count,
                queue.engine,
                queue.queue,
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn a_128_partition_load_runs_on_all_16_engines_8_partitions_each() {
    let p = lower("matmul", "m=128,k=128,n=512,dtype=bfloat16", "trn1");
    let d = dmas(&p);
    let a: Vec<_> = d.iter().filter(|x| x.0 == "a_blk").collect();
    assert_eq!(a.len(), 16);
    for (e, x) in a.iter().enumerate() {
        // The DMA overview's example: engine e moves partitions 8e..8e + 8.
        assert_eq!((x.1, x.2, x.3), (8 * e as u32, 8, e as u16), "{x:?}");
    }
    // Loads, resident loads and stores on different queues of each engine, so they overlap.
    let queue_of = |name: &str| {
        let q: Vec<u16> = d.iter().filter(|x| x.0 == name).map(|x| x.4).collect();
        assert!(q.windows(2).all(|w| w[0] == w[1]), "{name}: {q:?}");
        q[0]
    };
    let (qa, qb, qc) = (queue_of("a_blk"), queue_of("b_ring"), queue_of("c"));
    assert!(qa != qb && qb != qc && qa != qc, "{qa} {qb} {qc}");
    assert_eq!(d.iter().filter(|x| x.0 == "c").count(), 16);
}

#[test]
fn a_ragged_load_splits_as_evenly_as_possible_the_first_ranges_larger() {
    // k = 100 rows of A^T over 16 engines: 100 = 16 * 6 + 4, so four ranges of 7, then twelve of 6.
    let p = lower("matmul", "m=128,k=100,n=512,dtype=bfloat16", "trn2");
    let a: Vec<(u32, u32, u16)> = dmas(&p)
        .into_iter()
        .filter(|x| x.0 == "a_blk")
        .map(|x| (x.1, x.2, x.3))
        .collect();
    let mut want = Vec::new();
    let mut p0 = 0;
    for e in 0..16u16 {
        let n = if e < 4 { 7 } else { 6 };
        want.push((p0, n, e));
        p0 += n;
    }
    assert_eq!(p0, 100);
    assert_eq!(a, want);
    // Fewer partitions than engines: one partition per engine.
    let p = lower("matmul", "m=128,k=5,n=512,dtype=bfloat16", "trn2");
    let a: Vec<(u32, u32, u16)> = dmas(&p)
        .into_iter()
        .filter(|x| x.0 == "a_blk")
        .map(|x| (x.1, x.2, x.3))
        .collect();
    assert_eq!(a, (0..5).map(|e| (e, 1, e as u16)).collect::<Vec<_>>());
}

#[test]
fn every_kernel_spreads_every_dma_over_the_engines() {
    // No library kernel moves more than ceil(128 / 16) = 8 partitions in one DMA on trn1 (16
    // engines), and a DMA of 16 partitions or more always has a sibling on each engine.
    for &k in kernels::all() {
        let d = kernels::definition(k);
        let p = k
            .lower(&d.params(&[]).unwrap(), &Hardware::preset("trn1").unwrap())
            .unwrap();
        let all = dmas(&p);
        assert!(!all.is_empty(), "{}", d.name);
        for x in &all {
            assert!(x.2 <= 8, "{}: {x:?}", d.name);
        }
        let mut engines: Vec<u16> = all.iter().map(|x| x.3).collect();
        engines.sort_unstable();
        engines.dedup();
        assert_eq!(engines, (0..16).collect::<Vec<_>>(), "{}", d.name);
    }
}

/// Bytes each partition moves in each store of C (`c`), over all stores.
fn store_bytes_per_partition(p: &Program, elem_bytes: usize) -> Vec<usize> {
    p.instrs
        .iter()
        .filter_map(|i| match &i.op {
            Op::DmaCopy { dst, .. } if p.buffer(dst.buffer).name == "c" => {
                Some(dst.free_size() * elem_bytes)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn bmm_stores_4_kib_per_partition_per_dma() {
    // 512-column rows of C are 1 KiB in bf16 and 2 KiB in fp32: four (two) rows of C share each
    // partition so every store moves one whole 4 KiB descriptor per partition [DMA].
    for (spec, es) in [("dtype=bfloat16", 2), ("dtype=float32", 4)] {
        for hw in ["trn1", "trn2", "trn3"] {
            let p = lower("bmm", spec, hw);
            let bytes = store_bytes_per_partition(&p, es);
            // batch 8 x 512 rows of 1 KiB (2 KiB) = 4 MiB (8 MiB) of C in 4 KiB runs of 8
            // partitions: 4 MiB / (8 x 4 KiB) = 128 (256) stores.
            assert_eq!(bytes.len(), 8 * 512 * 512 * es / (8 * 4096), "{spec} {hw}");
            assert!(bytes.iter().all(|&b| b == 4096), "{spec} {hw}: {bytes:?}");
        }
    }
    // Rows of 4 KiB or more are not interleaved: a [128, 2048] bf16 group is one 4 KiB run.
    let p = lower("matmul", "m=256,k=128,n=2048,dtype=bfloat16", "trn2");
    let bytes = store_bytes_per_partition(&p, 2);
    assert_eq!(bytes, vec![4096; 2 * 16]);
}

#[test]
fn interleaved_stores_compute_the_right_values() {
    for (name, spec, hw) in [
        ("bmm", "batch=3,m=512,k=256,n=512,dtype=bfloat16", "trn1"),
        ("bmm", "batch=2,m=384,k=130,n=256,dtype=float32", "trn2"),
        ("bmm", "batch=2,m=512,k=512,n=512,dtype=float8_e4m3", "trn2"),
        ("bmm", "batch=2,m=256,k=200,n=128,layout=mxk", "trn3"),
        ("matmul", "m=200,k=300,n=512,dtype=bfloat16", "trn1"),
        ("matmul", "m=512,k=256,n=1024,dtype=bfloat16", "trn3"),
    ] {
        let r = check(name, spec, hw);
        assert!(r.passed, "{name} {spec} on {hw}: {r:?}");
        assert!(r.elements > 0);
    }
}

/// Run `name` with data; the program and its buffers' values by name.
fn run_values(name: &str, spec: &str, hw: &str) -> (Program, impl Fn(&str) -> Vec<f64> + use<>) {
    let hw = Hardware::preset(hw).unwrap();
    let (_, program) = kernels::lower(name, &set(spec), &hw).unwrap();
    let opts = RunOptions {
        data: true,
        ..Default::default()
    };
    let run = chip::run(&program, &hw, name, &[], &opts).unwrap();
    let state = run.state.unwrap();
    let p = program.clone();
    let get = move |b: &str| {
        let id = p.buffer_id(b).unwrap();
        state.values(id).iter().map(|&v| v as f64).collect()
    };
    (program, get)
}

#[test]
fn layernorm_of_8192_fp32_columns_fits_trn1_and_matches_f64() {
    // 8192 fp32 columns: whole-row rings (4 + 3 + 3 rows) plus gamma and beta would take
    // 12 x 32 KiB = 384 KiB per partition, twice trn1's 192 KiB, so the rows stream in chunks.
    let (rows, cols) = (130, 8192);
    let (program, v) = run_values(
        "layernorm",
        &format!("rows={rows},cols={cols},dtype=float32"),
        "trn1",
    );
    // x is read twice (statistics, then normalization) in chunks: no DMA moves a whole row.
    let x_id = program.buffer_id("x").unwrap();
    let x_loads: Vec<usize> = program
        .instrs
        .iter()
        .filter_map(|i| match &i.op {
            Op::DmaCopy { src, .. } if src.buffer == x_id => Some(src.free_size()),
            _ => None,
        })
        .collect();
    assert!(x_loads.iter().all(|&f| f < cols), "{x_loads:?}");
    let moved: usize = program
        .instrs
        .iter()
        .filter_map(|i| match &i.op {
            Op::DmaCopy { src, .. } if src.buffer == x_id => {
                Some(src.free_size() * src.partition_count as usize)
            }
            _ => None,
        })
        .sum();
    assert_eq!(moved, 2 * rows * cols);
    // The f64 reference, from the inputs as the run stored them.
    let (x, gamma, beta, y) = (v("x"), v("gamma"), v("beta"), v("y"));
    let (mut max_err, mut max_ref) = (0.0f64, 0.0f64);
    for r in 0..rows {
        let row = &x[r * cols..(r + 1) * cols];
        let mean = row.iter().sum::<f64>() / cols as f64;
        let var = row.iter().map(|a| (a - mean) * (a - mean)).sum::<f64>() / cols as f64;
        let rstd = 1.0 / (var + 1e-5).sqrt();
        for j in 0..cols {
            let want = (row[j] - mean) * rstd * gamma[j] + beta[j];
            max_err = max_err.max((y[r * cols + j] - want).abs());
            max_ref = max_ref.max(want.abs());
        }
    }
    // fp32 statistics over 8192 elements: a few hundred fp32 roundings at most.
    assert!(max_ref > 0.5, "{max_ref}");
    assert!(max_err / max_ref < 1e-5, "{max_err} / {max_ref}");
}

#[test]
fn long_rows_stream_and_stay_right() {
    for (name, spec, hw) in [
        ("rmsnorm", "rows=130,cols=8192,dtype=float32", "trn1"),
        ("rmsnorm", "rows=64,cols=16384,dtype=float32", "trn1"),
        ("layernorm", "rows=40,cols=16384,dtype=float32", "trn1"),
        ("layernorm", "rows=200,cols=12800,dtype=float32", "trn2"),
        ("layernorm", "rows=100,cols=9000,dtype=float32", "trn1"),
    ] {
        let r = check(name, spec, hw);
        assert!(r.passed, "{name} {spec} on {hw}: {r:?}");
    }
}
