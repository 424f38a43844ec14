//! How the library lowers its DMAs and rows: every `[P, F]` transfer spread over the DMA engines
//! as NKI kernels do (the DMA overview's `[128, F]` example: 16 engines, 8 partitions each),
//! bmm's stores in 4 KiB rows, and norms whose long rows stream in chunks.

use trnsim::arch::Hardware;
use trnsim::isa::{Op, Program};
use trnsim::kernels;

fn set(spec: &str) -> Vec<(String, String)> {
    spec.split(',')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn lower(name: &str, spec: &str, hw: &str) -> Program {
    kernels::lower(name, &set(spec), &Hardware::preset(hw).unwrap())
        .unwrap()
        .1
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
