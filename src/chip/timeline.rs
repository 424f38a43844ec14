//! Chrome / Perfetto trace-event JSON of a run: a track per engine and per DMA queue, a slice per
//! instruction named by its opcode with its operands as arguments (loadable in ui.perfetto.dev).

use std::io::{self, Write};

use serde_json::{Value, json};

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

/// The trace-event JSON text (the whole document in memory: for tests and small runs; files
/// are written by [`write_timeline`]).
#[allow(dead_code)] // the binary streams; kept as the text API for tests and callers of the text
pub(crate) fn timeline(program: &Program, hw: &Hardware, plan: &Plan, s: &Schedule) -> String {
    let mut bytes = Vec::new();
    write_timeline(&mut bytes, program, hw, plan, s).expect("writing to a Vec cannot fail");
    String::from_utf8(bytes).expect("JSON is UTF-8")
}

/// Write the trace-event JSON to `w` one event at a time: memory stays at one event whatever
/// the run's length (a `serde_json::Value` tree of the whole document took about 5 KB per
/// instruction).
pub(crate) fn write_timeline(
    w: &mut dyn Write,
    program: &Program,
    hw: &Hardware,
    plan: &Plan,
    s: &Schedule,
) -> io::Result<()> {
    let mut used = vec![false; plan.queues];
    for &q in &plan.queue {
        used[q as usize] = true;
    }
    let names: Vec<String> = (0..plan.queues).map(|q| queue_name(q as u16, hw)).collect();
    w.write_all(b"{\"traceEvents\":[")?;
    let process = json!({"name": "process_name", "ph": "M", "pid": 0, "args": {"name": format!("NeuronCore ({}) kernel {}", hw.name, program.name)}});
    serde_json::to_writer(&mut *w, &process)?;
    for (q, &u) in used.iter().enumerate() {
        if u || q % super::queue::per_core(hw) < FIRST_DMA as usize {
            let name = json!({"name": "thread_name", "ph": "M", "pid": 0, "tid": q, "args": {"name": names[q]}});
            let sort = json!({"name": "thread_sort_index", "ph": "M", "pid": 0, "tid": q, "args": {"sort_index": q}});
            w.write_all(b",")?;
            serde_json::to_writer(&mut *w, &name)?;
            w.write_all(b",")?;
            serde_json::to_writer(&mut *w, &sort)?;
        }
    }
    for (i, ins) in program.instrs.iter().enumerate() {
        let q = plan.queue[i];
        w.write_all(b",{\"name\":")?;
        serde_json::to_writer(&mut *w, ins.op.opcode())?;
        w.write_all(b",\"cat\":")?;
        serde_json::to_writer(&mut *w, &names[q as usize])?;
        write!(w, ",\"ph\":\"X\",\"pid\":0,\"tid\":{q},\"ts\":")?;
        write_us(w, s.start_ps[i])?;
        w.write_all(b",\"dur\":")?;
        write_us(w, s.end_ps[i] - s.start_ps[i])?;
        write!(w, ",\"args\":{{\"line\":{}", ins.line)?;
        for (k, t) in ins.op.writes().iter().enumerate() {
            match k {
                0 => w.write_all(b",\"dst\":")?,
                _ => write!(w, ",\"dst{k}\":")?,
            }
            serde_json::to_writer(&mut *w, &tile_text(program, t))?;
        }
        for (k, t) in ins.op.reads().iter().enumerate() {
            write!(w, ",\"src{k}\":")?;
            serde_json::to_writer(&mut *w, &tile_text(program, t))?;
        }
        w.write_all(b",\"visible_us\":")?;
        write_us(w, s.visible_ps[i])?;
        w.write_all(b"}}")?;
    }
    w.write_all(b"],\"displayTimeUnit\":\"ns\",\"otherData\":")?;
    serde_json::to_writer(&mut *w, &json!({"tool": "trnsim", "hardware": hw.name}))?;
    w.write_all(b"}\n")
}

/// Microseconds with picosecond resolution, as [`us`] prints them.
fn write_us(w: &mut dyn Write, ps: u64) -> io::Result<()> {
    Ok(serde_json::to_writer(w, &us(ps))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    /// The document as a `Value` tree (how it was written before streaming).
    fn reference(program: &Program, hw: &Hardware, plan: &Plan, s: &Schedule) -> String {
        let mut events = Vec::with_capacity(program.instrs.len() + 32);
        let mut used = vec![false; plan.queues];
        for &q in &plan.queue {
            used[q as usize] = true;
        }
        events.push(json!({"name": "process_name", "ph": "M", "pid": 0, "args": {"name": format!("NeuronCore ({}) kernel {}", hw.name, program.name)}}));
        for (q, &u) in used.iter().enumerate() {
            if u || q % crate::chip::queue::per_core(hw) < FIRST_DMA as usize {
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

    /// The streamed document is byte for byte the `Value` tree's.
    #[test]
    fn streaming_writes_what_the_value_tree_did() {
        let root = env!("CARGO_MANIFEST_DIR");
        for (trace, hw) in [
            ("gelu", "trn2"),
            ("matmul_tile", "trn1"),
            ("layernorm", "trn3"),
        ] {
            let path = format!("{root}/traces/{trace}.trace");
            let text = std::fs::read_to_string(&path).unwrap();
            let program = crate::isa::parse::parse(&text, &path).unwrap();
            let hw = Hardware::preset(hw).unwrap();
            let r = crate::chip::run(&program, &hw, &path, &[], &Default::default()).unwrap();
            assert_eq!(
                timeline(&program, &hw, &r.plan, &r.schedule),
                reference(&program, &hw, &r.plan, &r.schedule),
                "{trace}"
            );
        }
    }
}
