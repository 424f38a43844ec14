//! Chrome / Perfetto trace-event JSON of a run: a track per engine and per DMA queue, a slice per
//! instruction named by its opcode with its operands as arguments (loadable in ui.perfetto.dev).

use serde_json::{Map, Value, json};

use crate::arch::Hardware;
use crate::isa::{Program, Tile};

use super::plan::Plan;
use super::queue::{FIRST_DMA, GPSIMD, SCALAR, TENSOR, VECTOR};
use super::sim::Schedule;

/// The track of queue `q`: its engine (and queue), after its core with more than one.
fn queue_name(q: u16, hw: &Hardware) -> String {
    let per = super::queue::per_core(hw) as u16;
    if hw.lnc > 1 {
        return format!("core{} {}", q / per, local_name(q % per, hw));
    }
    local_name(q, hw)
}

fn local_name(q: u16, hw: &Hardware) -> String {
    match q {
        TENSOR => "tensor".into(),
        VECTOR => "vector".into(),
        SCALAR => "scalar".into(),
        GPSIMD => "gpsimd".into(),
        _ => {
            let k = q - FIRST_DMA;
            let per = hw.dma.queues_per_engine as u16;
            format!("dma {}.{}", k / per, k % per)
        }
    }
}

fn us(ps: u64) -> Value {
    // Microseconds with picosecond resolution; the decimal text keeps it exact.
    Value::from(ps as f64 / 1e6)
}

fn tile_text(program: &Program, t: &Tile) -> String {
    crate::isa::print::tile(program, t)
}

/// The trace-event JSON text.
pub(crate) fn timeline(program: &Program, hw: &Hardware, plan: &Plan, s: &Schedule) -> String {
    let mut events = Vec::with_capacity(program.instrs.len() + 32);
    let mut used = vec![false; plan.queues];
    for &q in &plan.queue {
        used[q as usize] = true;
    }
    events.push(json!({"name": "process_name", "ph": "M", "pid": 0, "args": {"name": format!("NeuronCore ({}) kernel {}", hw.name, program.name)}}));
    for (q, &u) in used.iter().enumerate() {
        if u || q % super::queue::per_core(hw) < FIRST_DMA as usize {
            events.push(json!({"name": "thread_name", "ph": "M", "pid": 0, "tid": q, "args": {"name": queue_name(q as u16, hw)}}));
            events.push(json!({"name": "thread_sort_index", "ph": "M", "pid": 0, "tid": q, "args": {"sort_index": q}}));
        }
    }
    for (i, ins) in program.instrs.iter().enumerate() {
        let mut args = Map::new();
        args.insert("line".into(), Value::from(ins.line));
        for (k, t) in ins.op.writes().iter().enumerate() {
            args.insert(
                if k == 0 {
                    "dst".into()
                } else {
                    format!("dst{k}")
                },
                Value::from(tile_text(program, t)),
            );
        }
        for (k, t) in ins.op.reads().iter().enumerate() {
            args.insert(format!("src{k}"), Value::from(tile_text(program, t)));
        }
        args.insert("visible_us".into(), us(s.visible_ps[i]));
        let q = plan.queue[i];
        events.push(json!({
            "name": ins.op.opcode(),
            "cat": queue_name(q, hw),
            "ph": "X",
            "pid": 0,
            "tid": q,
            "ts": us(s.start_ps[i]),
            "dur": us(s.end_ps[i] - s.start_ps[i]),
            "args": Value::Object(args),
        }));
    }
    let doc = json!({"traceEvents": events, "displayTimeUnit": "ns", "otherData": {"tool": "trnsim", "hardware": hw.name}});
    let mut text = serde_json::to_string(&doc).expect("JSON values serialize");
    text.push('\n');
    text
}
