//! The run report: time, per-engine activity, FLOPs, bandwidth, utilization and the bound.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::arch::Hardware;
use crate::isa::Program;
use crate::report::{Table, format_f64};

use super::RunResult;
use super::queue::{FIRST_DMA, GPSIMD, SCALAR, TENSOR, VECTOR};

/// One engine's activity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EngineReport {
    /// Time the engine was busy.
    pub busy_ns: f64,
    /// Busy time as a fraction (0..1) of the kernel's time (a percent only in the text table,
    /// headed `active_%`, like every utilisation field: fractions in JSON and CSV).
    pub active: f64,
    /// Instructions it ran.
    pub instructions: u64,
}

/// What `trnsim run` reports (the JSON keys are part of the interface).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Kernel name.
    pub kernel: String,
    /// Hardware preset name.
    pub hardware: String,
    /// Instructions in the trace.
    pub instructions: u64,
    /// Kernel time on the device.
    pub time_ns: f64,
    /// What launching the kernel adds on the host side (the preset's `chip.launch_overhead_ns`),
    /// apart from `time_ns`: a benchmark's end-to-end latency is about their sum.
    pub launch_overhead_ns: f64,
    /// Kernel time in tensor-engine cycles.
    pub cycles: u64,
    /// Per engine: `tensor`, `vector`, `scalar`, `gpsimd`, `dma` (any DMA transfer moving data).
    pub engines: BTreeMap<String, EngineReport>,
    /// DMA queues that carried at least one transfer.
    pub dma_queues_used: u64,
    /// Matmul FLOPs (2 per multiply-add).
    pub flops: f64,
    /// FLOPs per second achieved, in TFLOP/s.
    pub achieved_tflops: f64,
    /// Model FLOPs utilization (0..1): time the matmuls would take at the preset's peak for their
    /// dtypes, over the kernel's time.
    pub mfu: f64,
    /// Bytes moved to or from HBM.
    pub hbm_bytes: u64,
    /// Achieved HBM bandwidth, GB/s.
    pub hbm_bandwidth_gbps: f64,
    /// Memory bandwidth utilization (0..1) against the core's share of the chip's HBM bandwidth.
    pub mbu: f64,
    /// FLOPs per HBM byte.
    pub arithmetic_intensity: f64,
    /// `compute` when the matmuls at peak would take longer than the HBM traffic at full
    /// bandwidth, else `memory` (the roofline's side).
    pub bound: String,
    /// Peak live SBUF bytes (all partitions).
    pub sbuf_peak_bytes: u64,
    /// Peak live SBUF bytes per partition.
    pub sbuf_peak_bytes_per_partition: u64,
    /// Peak live PSUM banks.
    pub psum_peak_banks: u32,
    /// Physical cores that ran the kernel (`lnc`; written when more than one).
    #[serde(skip_serializing_if = "is_one")]
    pub cores: u32,
    /// Per physical core, its engines' activity (with more than one core; `engines` then
    /// holds the totals: busy summed, active over all the cores' time).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_core: Vec<BTreeMap<String, EngineReport>>,
}

/// Build the report of a run.
pub fn report(program: &Program, hw: &Hardware, run: &RunResult) -> Report {
    let s = &run.schedule;
    let plan = &run.plan;
    let total_ns = s.total_ps as f64 / 1000.0;
    let fraction = |busy_ps: u64| {
        if s.total_ps > 0 {
            busy_ps as f64 / s.total_ps as f64
        } else {
            0.0
        }
    };
    let mut counts = vec![0u64; plan.queues];
    for &q in &plan.queue {
        counts[q as usize] += 1;
    }
    let per = super::queue::per_core(hw);
    let cores = plan.queues / per;
    let mut engines = BTreeMap::new();
    let mut per_core = Vec::new();
    for c in 0..cores {
        let dma_busy = s.core_dma_busy_ps.get(c).copied().unwrap_or(s.dma_busy_ps);
        let e = core_engines(
            &counts[c * per..(c + 1) * per],
            &s.queue_busy_ps[c * per..(c + 1) * per],
            dma_busy,
            fraction,
        );
        for (name, r) in &e {
            let t: &mut EngineReport = engines.entry(name.clone()).or_insert(EngineReport {
                busy_ns: 0.0,
                active: 0.0,
                instructions: 0,
            });
            t.busy_ns += r.busy_ns;
            t.active += r.active / cores as f64;
            t.instructions += r.instructions;
        }
        per_core.push(e);
    }
    if cores == 1 {
        per_core.clear();
    }
    let flops = plan.flops;
    let secs = total_ns * 1e-9;
    let share = hw.core_hbm_bytes_per_ns() * cores as f64;
    let bw = if total_ns > 0.0 {
        plan.hbm_bytes as f64 / total_ns
    } else {
        0.0
    };
    let ideal_mem_ps = plan.hbm_bytes as f64 / share * 1000.0;
    Report {
        kernel: program.name.clone(),
        hardware: hw.name.clone(),
        instructions: plan.queue.len() as u64,
        time_ns: total_ns,
        launch_overhead_ns: hw.chip.launch_overhead_ns as f64,
        cycles: (s.total_ps as u128 * hw.pe.clock_mhz as u128 / 1_000_000) as u64,
        engines,
        dma_queues_used: counts[FIRST_DMA as usize..]
            .iter()
            .filter(|&&c| c > 0)
            .count() as u64,
        flops,
        achieved_tflops: if secs > 0.0 { flops / secs / 1e12 } else { 0.0 },
        mfu: if s.total_ps > 0 {
            plan.ideal_compute_ps / cores as f64 / s.total_ps as f64
        } else {
            0.0
        },
        hbm_bytes: plan.hbm_bytes,
        hbm_bandwidth_gbps: bw,
        mbu: bw / share,
        arithmetic_intensity: if plan.hbm_bytes > 0 {
            flops / plan.hbm_bytes as f64
        } else {
            0.0
        },
        bound: if plan.ideal_compute_ps / cores as f64 >= ideal_mem_ps {
            "compute"
        } else {
            "memory"
        }
        .to_string(),
        sbuf_peak_bytes: run.usage.sbuf_peak_bytes,
        sbuf_peak_bytes_per_partition: run.usage.sbuf_peak_bytes_per_partition,
        psum_peak_banks: run.usage.psum_peak_banks,
        cores: cores as u32,
        per_core,
    }
}

/// One physical core's engines from its queues' instruction `counts` and busy times (compute
/// queues first, then DMA) and its DMA busy time.
fn core_engines(
    counts: &[u64],
    busy_ps: &[u64],
    dma_busy_ps: u64,
    fraction: impl Fn(u64) -> f64,
) -> BTreeMap<String, EngineReport> {
    let mut engines = BTreeMap::new();
    for (name, q) in [
        ("tensor", TENSOR),
        ("vector", VECTOR),
        ("scalar", SCALAR),
        ("gpsimd", GPSIMD),
        ("dma", FIRST_DMA),
    ] {
        let (busy, instructions) = if q == FIRST_DMA {
            (dma_busy_ps, counts[q as usize..].iter().sum())
        } else {
            (busy_ps[q as usize], counts[q as usize])
        };
        engines.insert(
            name.to_string(),
            EngineReport {
                busy_ns: busy as f64 / 1000.0,
                active: fraction(busy),
                instructions,
            },
        );
    }
    engines
}

impl Report {
    /// The report for a person: a summary and an engine table.
    pub(crate) fn to_text(&self) -> String {
        let mut summary = Table::new(["metric", "value"])
            .with_title(format!("kernel {} on {}", self.kernel, self.hardware));
        let rows: Vec<(&str, String)> = vec![
            ("time", format!("{} ns", format_f64(round(self.time_ns, 3)))),
            (
                "launch overhead",
                format!(
                    "{} ns (host side, not in time)",
                    format_f64(self.launch_overhead_ns)
                ),
            ),
            ("tensor cycles", self.cycles.to_string()),
            ("instructions", self.instructions.to_string()),
            ("flops", format_f64(self.flops)),
            (
                "achieved",
                format!("{} TFLOP/s", format_f64(round(self.achieved_tflops, 3))),
            ),
            ("mfu", format!("{:.1} %", 100.0 * self.mfu)),
            ("hbm traffic", format!("{} bytes", self.hbm_bytes)),
            (
                "hbm bandwidth",
                format!("{} GB/s", format_f64(round(self.hbm_bandwidth_gbps, 1))),
            ),
            ("mbu", format!("{:.1} %", 100.0 * self.mbu)),
            (
                "arithmetic intensity",
                format!(
                    "{} flop/byte",
                    format_f64(round(self.arithmetic_intensity, 2))
                ),
            ),
            ("bound", self.bound.clone()),
            (
                "sbuf peak",
                format!(
                    "{} bytes ({} per partition)",
                    self.sbuf_peak_bytes, self.sbuf_peak_bytes_per_partition
                ),
            ),
            ("psum peak", format!("{} banks", self.psum_peak_banks)),
            ("dma queues used", self.dma_queues_used.to_string()),
        ];
        for (k, v) in rows {
            summary.push(vec![Value::from(k), Value::from(v)]);
        }
        let mut engines = Table::new(["engine", "busy_ns", "active_%", "instructions"]);
        let names = ["tensor", "vector", "scalar", "gpsimd", "dma"];
        let labels: Vec<String> = (0..self.per_core.len())
            .map(|c| format!("core{c} "))
            .collect();
        let all = std::iter::once(("", &self.engines));
        let cores = labels.iter().map(String::as_str).zip(&self.per_core);
        for (label, map) in all.chain(cores) {
            for name in names {
                let e = &map[name];
                engines.push(vec![
                    Value::from(format!("{label}{name}")),
                    Value::from(round(e.busy_ns, 3)),
                    Value::from(round(100.0 * e.active, 1)),
                    Value::from(e.instructions),
                ]);
            }
        }
        format!(
            "{}\n{}",
            summary.render(crate::report::Format::Table),
            engines.render(crate::report::Format::Table)
        )
    }
}

fn is_one(v: &u32) -> bool {
    *v == 1
}

fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}
