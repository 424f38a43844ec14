//! Invariants of the timing model over random programs.

use proptest::prelude::*;
use trnsim::arch::Hardware;
use trnsim::chip::{self, RunOptions, plan};
use trnsim::isa::{
    ActFunc, Activation, AluOp, Buffer, BufferId, DmaQueue, Engine, Init, Instr, Memory, Op,
    Program, Scalar, Tile,
};
use trnsim::numerics::DType;

const HBM_IN: u32 = 0;
const HBM_OUT: u32 = 1;
const SA: u32 = 2;
const SB: u32 = 3;
const SF: u32 = 4;
const PS: u32 = 5;

fn tile(b: u32, np: usize, off: usize, len: usize) -> Tile {
    Tile::contiguous(BufferId(b), 0..np as u32, off as u32, len as u32)
}

fn program(ops: Vec<Op>) -> Program {
    let buf = |name: &str, memory, dtype, shape: &[usize], init| Buffer {
        name: name.into(),
        memory,
        dtype,
        shape: shape.to_vec(),
        init,
        line: 0,
        core: 0,
    };
    let normal = Init::Normal {
        mean: 0.0,
        std: 1.0,
        seed: 3,
    };
    Program {
        name: "random".into(),
        buffers: vec![
            buf(
                "hbm_in",
                Memory::Hbm,
                DType::BFloat16,
                &[128, 4096],
                normal.clone(),
            ),
            buf(
                "hbm_out",
                Memory::Hbm,
                DType::BFloat16,
                &[128, 4096],
                Init::Zeros,
            ),
            buf(
                "sa",
                Memory::Sbuf,
                DType::BFloat16,
                &[128, 2048],
                normal.clone(),
            ),
            buf("sb", Memory::Sbuf, DType::BFloat16, &[128, 2048], normal),
            buf(
                "sf",
                Memory::Sbuf,
                DType::Float32,
                &[128, 2048],
                Init::Zeros,
            ),
            buf(
                "ps",
                Memory::Psum,
                DType::Float32,
                &[128, 2048],
                Init::Zeros,
            ),
        ],
        instrs: ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| Instr {
                op,
                line: i as u32 + 1,
            })
            .collect(),
    }
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0usize..4;
    let q = (0u16..16, 0u16..4).prop_map(|(engine, queue)| DmaQueue { engine, queue });
    prop_oneof![
        (slot.clone(), 0usize..8, q.clone()).prop_map(|(s, h, queue)| Op::DmaCopy {
            dst: tile(SB, 128, s * 512, 512),
            src: tile(HBM_IN, 128, h * 512, 512),
            queue
        }),
        (slot.clone(), 0usize..8, q).prop_map(|(s, h, queue)| Op::DmaCopy {
            dst: tile(HBM_OUT, 128, h * 512, 512),
            src: tile(SA, 128, s * 512, 512),
            queue
        }),
        (slot.clone(), slot.clone(), slot.clone(), any::<bool>()).prop_map(|(w, x, b, acc)| {
            Op::Matmul {
                dst: tile(PS, 128, b * 512, 512),
                stationary: tile(SA, 128, w * 128, 128),
                moving: tile(SB, 128, x * 512, 512),
                accumulate: acc,
            }
        }),
        (slot.clone(), slot.clone()).prop_map(|(b, s)| Op::TensorCopy {
            engine: Engine::Vector,
            dst: tile(SF, 128, s * 512, 512),
            src: tile(PS, 128, b * 512, 512)
        }),
        (slot.clone(), slot.clone()).prop_map(|(a, s)| Op::Activation(Box::new(Activation {
            func: ActFunc::Gelu,
            dst: tile(SA, 128, s * 512, 512),
            src: tile(SF, 128, a * 512, 512),
            scale: Scalar::Imm(1.0),
            bias: Scalar::Imm(0.0),
            reduce: None,
        }))),
        (slot.clone(), slot.clone(), slot).prop_map(|(a, b, d)| Op::TensorTensor {
            engine: Engine::GpSimd,
            op: AluOp::Add,
            dst: tile(SB, 128, d * 512, 512),
            a: tile(SA, 128, a * 512, 512),
            b: tile(SB, 128, b * 512, 512),
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn timing_invariants(ops in prop::collection::vec(op(), 1..60), preset in prop::sample::select(vec!["trn1", "trn2", "trn3"])) {
        let p = program(ops);
        let hw = Hardware::preset(preset).unwrap();
        let r = chip::run(&p, &hw, "random", &[], &RunOptions::default()).unwrap();
        let s = &r.schedule;
        // Never faster than the roofline.
        let mem_ps = r.plan.hbm_bytes as f64 / hw.core_hbm_bytes_per_ns() * 1000.0;
        prop_assert!(s.total_ps as f64 >= r.plan.ideal_compute_ps.max(mem_ps) * (1.0 - 1e-9),
            "total {} < roofline {} / {}", s.total_ps, r.plan.ideal_compute_ps, mem_ps);
        // No engine is busier than the kernel is long.
        for &b in &s.queue_busy_ps {
            prop_assert!(b <= s.total_ps);
        }
        prop_assert!(s.dma_busy_ps <= s.total_ps);
        // Every instruction waits for its producers, and queues run in order.
        let mut last_end = vec![0u64; r.plan.queues];
        for i in 0..p.instrs.len() {
            for &d in r.plan.deps_of(i) {
                let j = (d & plan::INDEX) as usize;
                let need = if d & plan::WAR != 0 { s.end_ps[j] } else { s.visible_ps[j] };
                let phase_start = if d & plan::LOAD != 0 { s.start_ps[i] } else { s.end_ps[i] - 1 };
                prop_assert!(phase_start >= need || s.start_ps[i] >= need, "instr {i} starts before producer {j}");
            }
            let q = r.plan.queue[i] as usize;
            prop_assert!(s.end_ps[i] >= last_end[q], "queue {q} out of order at {i}");
            last_end[q] = s.end_ps[i];
            prop_assert!(s.start_ps[i] <= s.end_ps[i] && s.end_ps[i] <= s.visible_ps[i]);
        }
        // Values never change the timing.
        let with_data = chip::run(&p, &hw, "random", &[], &RunOptions { data: true, ..Default::default() }).unwrap();
        prop_assert_eq!(&with_data.schedule, s);
    }

    /// Planning on a second thread, streamed in parts of any size, changes nothing: the
    /// simulator waits for entries, it never runs ahead of them.
    #[test]
    fn pipelined_plan_is_the_serial_plan(ops in prop::collection::vec(op(), 1..60), part in 1usize..9, preset in prop::sample::select(vec!["trn1", "trn2", "trn3"])) {
        let p = program(ops);
        let hw = Hardware::preset(preset).unwrap();
        let serial = chip::run(&p, &hw, "random", &[], &RunOptions { pipeline: chip::Pipeline::Serial, ..Default::default() }).unwrap();
        let threaded = chip::run(&p, &hw, "random", &[], &RunOptions { pipeline: chip::Pipeline::Threaded(part), ..Default::default() }).unwrap();
        prop_assert_eq!(&serial.plan, &threaded.plan);
        prop_assert_eq!(&serial.schedule, &threaded.schedule);
    }
}

/// A program long enough for [`chip::Pipeline::Auto`] to take two threads gives the serial
/// plan and schedule.
#[test]
fn auto_pipeline_on_a_long_program_is_the_serial_run() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let n = chip::PIPELINE_MIN_INSTRS + 1000;
    let ops = prop::collection::vec(op(), n)
        .new_tree(&mut TestRunner::deterministic())
        .unwrap()
        .current();
    let p = program(ops);
    let hw = Hardware::preset("trn2").unwrap();
    let serial = RunOptions {
        pipeline: chip::Pipeline::Serial,
        ..Default::default()
    };
    let a = chip::run(&p, &hw, "long", &[], &serial).unwrap();
    let b = chip::run(&p, &hw, "long", &[], &RunOptions::default()).unwrap();
    assert_eq!(a.plan, b.plan);
    assert_eq!(a.schedule, b.schedule);
    assert!(a.schedule.total_ps > 0);
}
