//! The compiler's instruction order: list scheduling of a recorded kernel.
//!
//! Lifecycle: a kernel recorded in its source order (an NKI kernel's Python order, loops
//! unrolled) is [checked](super::check) and [planned](super::plan) once; [`list_order`] then
//! list-schedules the plan and returns the order a compiler would issue the instructions in;
//! [`reorder`] permutes the program to it, and the permuted program runs as any trace does (its
//! queues in order). neuronx-cc orders a kernel's instructions itself in its default flow
//! (nki.compiler.CompileConfig: "By default, neuronx-cc makes both decisions", allocation and
//! order), so an engine does not sit behind an instruction whose inputs are late while a later
//! independent one could run, and a loop's next loads do not queue behind this one's stores.
//!
//! The rule: each engine (and each DMA engine, whose queues share it) starts, whenever it is
//! free, the earliest instruction in source order whose dependencies are met by then, looking
//! at most [`COMPILER_WINDOW_INSTRS`] instructions past the earliest one not yet issued; an
//! instruction's dependencies are the plan's (read after write at the producer's visible
//! time, write after read at the reader's end), so the values cannot change, only the order of
//! independent work. Times come from the plan's costs at full rate (no throttle, no DMA
//! sharing between an engine's queues): the schedule only has to be a good order, the
//! simulation of the reordered program gives the time.

/// How far ahead of the earliest unissued instruction the compiler's scheduler looks. Fitted:
/// see `docs/validation.md`, "The scheduling window" (no source gives a number).
pub const COMPILER_WINDOW_INSTRS: usize = 160;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::plan::{Cost, INDEX, Picos, Plan, WAR, cycles_to_ps};
use super::queue::{FIRST_DMA, per_core};
use crate::arch::Hardware;
use crate::isa::Program;

/// The scheduled order of `plan`'s instructions: every instruction after its dependencies,
/// ties in source order; an engine only takes an instruction fewer than `window` places after
/// the earliest one not yet scheduled.
pub fn list_order(plan: &Plan, hw: &Hardware, window: usize) -> Vec<u32> {
    let window = window.max(1); // the earliest unscheduled instruction is always eligible
    let n = plan.len();
    let (dependents, first) = plan.dependents();
    let res = |q: u16| resource(q, hw);
    let resources = res(plan.queues.saturating_sub(1) as u16) + 1;
    let mut waiting: Vec<u32> = (0..n).map(|i| plan.deps_of(i).len() as u32).collect();
    let mut ready_ps = vec![0 as Picos; n];
    let mut end_ps = vec![0 as Picos; n];
    let mut visible_ps = vec![0 as Picos; n];
    let mut start_ps = vec![0 as Picos; n];
    // Per resource: candidates whose ready time has come (by index) and those still waiting
    // for it (by ready time); when it is free again.
    let mut now: Vec<BinaryHeap<Reverse<u32>>> = vec![BinaryHeap::new(); resources];
    let mut later: Vec<BinaryHeap<Reverse<(Picos, u32)>>> = vec![BinaryHeap::new(); resources];
    let mut free_ps = vec![0 as Picos; resources];
    let mut events: BinaryHeap<Reverse<(Picos, usize)>> = BinaryHeap::new();
    for i in 0..n {
        if waiting[i] == 0 {
            later[res(plan.queue[i])].push(Reverse((0, i as u32)));
        }
    }
    for r in 0..resources {
        events.push(Reverse((0, r)));
    }
    let mut done = 0;
    let mut scheduled = vec![false; n];
    let mut low = 0; // the earliest instruction not yet scheduled
    while let Some(Reverse((t, r))) = events.pop() {
        if free_ps[r] > t {
            continue; // busy: an event at its end is queued
        }
        while let Some(&Reverse((ready, i))) = later[r].peek() {
            if ready > t {
                break;
            }
            later[r].pop();
            now[r].push(Reverse(i));
        }
        let Some(&Reverse(i)) = now[r].peek() else {
            if let Some(&Reverse((ready, _))) = later[r].peek() {
                events.push(Reverse((ready, r)));
            }
            continue;
        };
        let i = i as usize;
        if i >= low + window {
            continue; // retried when the window moves
        }
        now[r].pop();
        scheduled[i] = true;
        if i == low {
            while low < n && scheduled[low] {
                low += 1;
            }
            for (other, &free) in free_ps.iter().enumerate() {
                if other != r {
                    events.push(Reverse((t.max(free), other)));
                }
            }
        }
        let (end, visible) = times(&plan.cost(i), t.max(ready_ps[i]), hw);
        start_ps[i] = t;
        end_ps[i] = end;
        visible_ps[i] = visible;
        free_ps[r] = end;
        events.push(Reverse((end, r)));
        done += 1;
        for &j in &dependents[first[i] as usize..first[i + 1] as usize] {
            let j = j as usize;
            waiting[j] -= 1;
            if waiting[j] == 0 {
                let ready = ready_at(plan, j, &end_ps, &visible_ps);
                ready_ps[j] = ready;
                let rj = res(plan.queue[j]);
                later[rj].push(Reverse((ready, j as u32)));
                events.push(Reverse((ready.max(free_ps[rj]), rj)));
            }
        }
    }
    debug_assert_eq!(done, n, "dependencies point back in program order");
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by_key(|&i| (start_ps[i as usize], i));
    order
}

/// When `j` may start: after each read-after-write producer's result is visible and each
/// earlier reader it overwrites has ended.
fn ready_at(plan: &Plan, j: usize, end_ps: &[Picos], visible_ps: &[Picos]) -> Picos {
    plan.deps_of(j)
        .iter()
        .map(|&d| {
            let p = (d & INDEX) as usize;
            if d & WAR != 0 {
                end_ps[p]
            } else {
                visible_ps[p]
            }
        })
        .max()
        .unwrap_or(0)
}

/// The program with its instructions in `order` (a permutation of its indices).
pub fn reorder(program: &Program, order: &[u32]) -> Program {
    Program {
        name: program.name.clone(),
        buffers: program.buffers.clone(),
        instrs: order
            .iter()
            .map(|&i| program.instrs[i as usize].clone())
            .collect(),
    }
}

/// The resource a queue runs on: each compute engine, and each DMA engine for all its queues,
/// of each physical core.
fn resource(q: u16, hw: &Hardware) -> usize {
    let per_core = per_core(hw);
    let (core, local) = (q as usize / per_core, (q as usize % per_core) as u16);
    let local = if local < FIRST_DMA {
        local as usize
    } else {
        FIRST_DMA as usize + ((local - FIRST_DMA) as u32 / hw.dma.queues_per_engine) as usize
    };
    core * (FIRST_DMA as usize + hw.dma.engines as usize) + local
}

/// (end, visible) of an instruction started at `start_ps`, at full rate.
fn times(cost: &Cost, start_ps: Picos, hw: &Hardware) -> (Picos, Picos) {
    match *cost {
        Cost::Compute {
            busy_ps,
            latency_ps,
        } => (start_ps + busy_ps, start_ps + busy_ps + latency_ps),
        Cost::Tensor {
            load_cycles,
            mm_cycles,
            latency_cycles,
            reuse_weights,
            ..
        } => {
            let load = if reuse_weights { 0 } else { load_cycles };
            let end = start_ps + cycles_to_ps(load + mm_cycles, hw.pe.clock_mhz);
            (end, end + cycles_to_ps(latency_cycles, hw.pe.clock_mhz))
        }
        Cost::Dma {
            work_bytes,
            latency_ps,
            ..
        } => {
            let data_ps = (work_bytes / hw.dma.peak_bytes_per_ns * 1000.0).ceil() as Picos;
            let end = start_ps + latency_ps + data_ps;
            (end, end)
        }
    }
}
