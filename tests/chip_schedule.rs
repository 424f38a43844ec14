//! The compiler order (chip::schedule): list scheduling keeps every dependency (same values),
//! runs an engine's later independent work in its idle time (the time saved is exactly that
//! work's busy time when it fits in the wait), and a window of one is the source order.

use trnsim::arch::Hardware;
use trnsim::chip::{self, RunOptions};
use trnsim::isa::parse::parse;
use trnsim::isa::{Op, Program};

fn hw() -> Hardware {
    Hardware::preset("trn2").unwrap()
}

/// A slow load feeding a Vector copy, then Vector work that needs nothing loaded: in source
/// order the memsets queue behind the copy, which waits for the load.
const HOIST: &str = "trnsim-trace 1
kernel hoist
buffer x hbm bf16 [128, 8192] uniform(low=-1, high=1, seed=3)
buffer xs sbuf bf16 [128, 8192] zeros
buffer y sbuf bf16 [128, 8192] zeros
buffer z sbuf fp32 [128, 512] zeros
dma_copy dst=xs[0:128, 0:8192] src=x[0:128, 0:8192] queue=0.0
tensor_copy engine=vector dst=y[0:128, 0:8192] src=xs[0:128, 0:8192]
memset engine=vector dst=z[0:128, 0:512] value=1.5
memset engine=vector dst=z[0:128, 0:256] value=2.5
";

fn run(p: &Program, data: bool) -> chip::RunResult {
    let opts = RunOptions {
        data,
        ..Default::default()
    };
    chip::run(p, &hw(), "t", &[], &opts).unwrap()
}

fn end_ps(r: &chip::RunResult) -> u64 {
    r.schedule.end_ps.iter().copied().max().unwrap()
}

#[test]
fn independent_vector_work_runs_while_the_copy_waits_for_its_load() {
    let source = parse(HOIST, "hoist.trace").unwrap();
    let compiled = chip::compiler_order(&source, &hw(), "hoist.trace", 160).unwrap();
    let kinds: Vec<&str> = compiled
        .instrs
        .iter()
        .map(|i| match i.op {
            Op::DmaCopy { .. } => "dma",
            Op::TensorCopy { .. } => "copy",
            Op::Memset { .. } => "memset",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["dma", "memset", "memset", "copy"]);
    let (a, b) = (run(&source, false), run(&compiled, false));
    // The two memsets (instructions 2 and 3 of the source; the second waits for the first's
    // result) fit in the load's time, so the compiled order ends earlier by exactly their span
    // on Vector, and the copy ends when it did.
    let memsets = a.schedule.end_ps[3] - a.schedule.start_ps[2];
    assert!(memsets > 0);
    assert_eq!(end_ps(&a) - end_ps(&b), memsets);
    assert_eq!(end_ps(&b), a.schedule.end_ps[1]);
}

#[test]
fn the_compiler_order_keeps_every_value() {
    let source = parse(HOIST, "hoist.trace").unwrap();
    let compiled = chip::compiler_order(&source, &hw(), "hoist.trace", 160).unwrap();
    let (a, b) = (run(&source, true), run(&compiled, true));
    let (sa, sb) = (a.state.unwrap(), b.state.unwrap());
    for id in 0..source.buffers.len() {
        let id = trnsim::isa::BufferId(id as u32);
        assert_eq!(sa.values(id), sb.values(id), "buffer {id:?}");
    }
}

#[test]
fn a_window_of_one_is_the_source_order() {
    let source = parse(HOIST, "hoist.trace").unwrap();
    let compiled = chip::compiler_order(&source, &hw(), "hoist.trace", 1).unwrap();
    assert_eq!(compiled.instrs, source.instrs);
}

#[test]
fn a_write_never_overtakes_the_read_before_it() {
    // The second load overwrites xs, which the copy reads: it must stay after the copy however
    // idle the DMA queue is.
    let text = HOIST.replace(
        "memset engine=vector dst=z[0:128, 0:256] value=2.5\n",
        "dma_copy dst=xs[0:128, 0:8192] src=x[0:128, 0:8192] queue=0.0\n",
    );
    let source = parse(&text, "war.trace").unwrap();
    let compiled = chip::compiler_order(&source, &hw(), "war.trace", 160).unwrap();
    let pos = |want: fn(&Op) -> bool, nth: usize| {
        compiled
            .instrs
            .iter()
            .enumerate()
            .filter(|(_, i)| want(&i.op))
            .nth(nth)
            .unwrap()
            .0
    };
    let copy = pos(|o| matches!(o, Op::TensorCopy { .. }), 0);
    let second_load = pos(|o| matches!(o, Op::DmaCopy { .. }), 1);
    assert!(copy < second_load, "{:?}", compiled.instrs);
}
