//! Hardware presets: one NeuronCore and the chip it sits in.
//!
//! Every constant of the timing model lives here, none in code. The built-in presets are TOML
//! files (`src/arch/presets/*.toml`) with a comment citing the source of every number; a user
//! copies one to describe another design (`--hw path/to/chip.toml`) or overrides single fields
//! (`--hw-set pe.rows=256,dma.engines=8`). Whatever the origin, [`Hardware::validate`] rejects
//! nonsense with the field's path, which the description's [`Document`] locates:
//! `file:line:col: pe.rows: message`, or `file (--hw-set): pe.rows: message` for an override.

use serde::{Deserialize, Serialize};

use crate::config::{self, Document, Location, Mode};
use crate::numerics::DType;

mod error;
pub use error::{Error, FieldError, Result};

/// The built-in presets, by name, as TOML text.
pub const PRESETS: [(&str, &str); 3] = [
    ("trn1", include_str!("presets/trn1.toml")),
    ("trn2", include_str!("presets/trn2.toml")),
    ("trn3", include_str!("presets/trn3.toml")),
];

/// One NeuronCore and its chip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hardware {
    /// Preset name.
    pub name: String,
    /// Logical NeuronCore degree: physical cores (sharing HBM) that run one kernel, 1 or 2 up to
    /// `chip.lnc_max` (`--hw-set lnc=2`).
    #[serde(default = "one")]
    pub lnc: u32,
    /// Tensor engine (the PE array).
    pub pe: PeConfig,
    /// Vector engine.
    pub vector: EngineConfig,
    /// Scalar (activation) engine.
    pub scalar: EngineConfig,
    /// GpSimd engine.
    pub gpsimd: EngineConfig,
    /// Per-instruction cost formulas of Vector/Scalar/GpSimd.
    pub costs: CostConfig,
    /// State buffer.
    pub sbuf: SbufConfig,
    /// Partial-sum buffer.
    pub psum: PsumConfig,
    /// DMA engines of the core.
    pub dma: DmaConfig,
    /// The chip: cores and shared HBM.
    pub chip: ChipConfig,
    /// The chip as the fleet scheduler sees it (a `[fleet]` table): built-in presets that have
    /// one are the built-in generations of scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetFacts>,
}

/// The tensor engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeConfig {
    /// PE rows (the contraction dimension).
    pub rows: u32,
    /// PE columns.
    pub cols: u32,
    /// Clock.
    pub clock_mhz: u32,
    /// Largest contraction (partition) size of one matmul.
    pub contraction_max: u32,
    /// Largest stationary free size.
    pub stationary_free_max: u32,
    /// Largest moving free size.
    pub moving_free_max: u32,
    /// The 64 of `max(min(64, N_stationary), N_moving)`.
    pub min_issue_cycles: u32,
    /// Cost multiplier of fp32 inputs.
    pub fp32_cost_factor: u32,
    /// fp8 "double row": K up to twice `contraction_max` in the time of one bf16 pass.
    pub fp8_double_row: bool,
    /// LoadStationary is this many times faster than a MultiplyMoving of the same free size.
    pub load_stationary_divisor: u32,
    /// Whether the next stationary loads in the background of the current multiply.
    pub fast_weight_load: bool,
    /// Cycles from a matmul's last issue to its result being readable in PSUM.
    pub fill_drain_cycles: u32,
    /// The 64 of a PE transpose's `max(P, min(64, F))`.
    pub transpose_min_cycles: u32,
    /// Largest moving free size of a matmul whose fp32 destination may span consecutive PSUM
    /// banks (NeuronCore-v4: 4096); 0 when the hardware has no such mode, and a matmul's
    /// destination stays within one bank and `moving_free_max`.
    #[serde(default)]
    pub moving_free_max_fp32_out: u32,
    /// The same for a bf16 destination (NeuronCore-v4: 8192); 0 when absent.
    #[serde(default)]
    pub moving_free_max_bf16_out: u32,
    /// Smallest side of a PE array tile a matmul may run on (NKI's `tile_size`): 64 (2 x 64 on
    /// NeuronCore-v2) or 32 (4 x 32 from v3); matmuls on disjoint tiles run side by side. 0:
    /// the array is not tiled.
    #[serde(default)]
    pub tile_min_size: u32,
    /// Whether a transpose may run in the background of the matmuls (NeuronCore-v4).
    #[serde(default)]
    pub background_transpose: bool,
    /// Whether the PE array multiplies MXFP8/MXFP4 operands with their e8m0 scales in one
    /// instruction, K up to 4 x `contraction_max` in the time of one bf16 pass (NeuronCore-v4).
    #[serde(default)]
    pub mx_matmul: bool,
    /// Power throttling after idle.
    pub throttle: ThrottleConfig,
}

/// Tensor-engine warm-up throttling (Trn2/Trn3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleConfig {
    /// Whether it applies.
    pub enabled: bool,
    /// Speed right after idle, as a fraction of full speed.
    pub start_fraction: f64,
    /// Time to ramp linearly to full speed.
    pub ramp_ns: u64,
    /// The window over which utilization is measured: once warm, the throttle re-engages when
    /// the PE array was busy less than `reengage_below` of the last `idle_ns` (an idle gap
    /// that long always does).
    pub idle_ns: u64,
    /// The utilization under which the throttle re-engages (Neuron Explorer: 50 %); 0 when
    /// absent: only a whole idle window re-engages it.
    #[serde(default)]
    pub reengage_below: f64,
    /// Sustained-compute (TDP) limit: the largest PE utilization sustained over `idle_ns`;
    /// a multiply started when the last window was busier runs at this fraction of full
    /// speed. 1 when absent: no source gives a number.
    #[serde(default = "full")]
    pub tdp_max_utilization: f64,
}

fn full() -> f64 {
    1.0
}

/// A Vector, Scalar or GpSimd engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Clock.
    pub clock_mhz: u32,
    /// Lanes when every operand is 16-bit.
    pub lanes_16bit: u32,
    /// Lanes when every operand is 8-bit.
    pub lanes_8bit: u32,
    /// Lanes otherwise.
    pub lanes_other: u32,
    /// Minimum initiation interval.
    pub min_cycles: u32,
    /// SBUF/PSUM access start: latency before results are visible (pipelined, not busy time).
    pub access_latency_cycles: u32,
    /// Extra cost of an instruction that waits on the result of the one just before it.
    pub dependent_overhead_cycles: u32,
    /// Vector "performance mode" (NeuronCore-v3): the lanes above are reached only by the
    /// instructions and operands the mode covers; every other instruction runs one element per
    /// partition per cycle, as on v2. False: the lanes apply to every instruction.
    #[serde(default)]
    pub perf_mode: bool,
}

/// Cost-formula constants of Vector/Scalar/GpSimd instructions (N = free size).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostConfig {
    /// Added to `activation` when it also reduces.
    pub activation_reduce_cycles: u32,
    /// `tensor_tensor` cycles per element.
    pub tensor_tensor_cycles_per_elem: u32,
    /// ... with an input in PSUM, or bf16 SBUF contiguous add/mul/sub.
    pub tensor_tensor_fast_cycles_per_elem: u32,
    /// `tensor_reduce` of bf16 add/max is N divided by this.
    pub reduce_fast_divisor: u32,
    /// `reciprocal` cycles per element.
    pub reciprocal_cycles_per_elem: u32,
    /// `bn_aggr` is N times this numerator ...
    pub bn_aggr_numerator: u32,
    /// ... over this denominator.
    pub bn_aggr_denominator: u32,
    /// Vector `exponential` (NeuronCore-v4) runs this many times faster than a Scalar `exp` over
    /// the same elements; 0 when the Vector engine has no `exponential`.
    #[serde(default)]
    pub vector_exp_speedup: u32,
    /// `memset` of zero in 16-bit is N divided by this.
    pub memset_fast_divisor: u32,
    /// Fixed part of GpSimd `iota` / `affine_select`.
    pub gpsimd_fixed_cycles: u32,
    /// Bandwidth divisor when the innermost stride exceeds the threshold.
    pub strided_bandwidth_divisor: u32,
    /// Innermost stride (bytes) above which access slows.
    pub strided_threshold_bytes: u32,
}

/// The state buffer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SbufConfig {
    /// Partitions.
    pub partitions: u32,
    /// Capacity of each partition.
    pub bytes_per_partition: u64,
}

/// The partial-sum buffer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PsumConfig {
    /// Partitions.
    pub partitions: u32,
    /// Capacity of each partition.
    pub bytes_per_partition: u64,
    /// Banks (accumulation groups open at once).
    pub banks: u32,
}

/// The core's DMA engines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DmaConfig {
    /// DMA engines.
    pub engines: u32,
    /// Queues per engine (in order within a queue, round-robin across queues).
    pub queues_per_engine: u32,
    /// Peak bandwidth of one engine.
    pub peak_bytes_per_ns: f64,
    /// Bandwidth one engine achieves on descriptors of `descriptor_bytes_max`.
    pub achievable_bytes_per_ns: f64,
    /// Transfers are split into descriptors of at most this many contiguous bytes.
    pub descriptor_bytes_max: u64,
    /// Fixed latency from a transfer's issue to its first byte.
    pub fixed_latency_ns: u64,
    /// Fraction of peak bandwidth a transposing transfer reaches from HBM (the DMA engine's
    /// transpose mode, used when a tile reads the partition dimension contiguously).
    pub transpose_efficiency_hbm: f64,
    /// The same from SBUF to SBUF.
    pub transpose_efficiency_sbuf: f64,
}

impl DmaConfig {
    /// Fixed processing time of one descriptor, derived so that full-size descriptors run at the
    /// achievable rate: `d / achievable - d / peak`. Smaller descriptors are slower per byte, as
    /// measured (under 512 B is slow, 2 KiB and up is efficient).
    pub fn descriptor_overhead_ns(&self) -> f64 {
        let d = self.descriptor_bytes_max as f64;
        (d / self.achievable_bytes_per_ns - d / self.peak_bytes_per_ns).max(0.0)
    }
}

/// The chip around the core.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipConfig {
    /// NeuronCores per chip.
    pub cores: u32,
    /// Cores running at once (each gets an equal share of HBM bandwidth).
    pub active_cores: u32,
    /// The largest logical NeuronCore degree the generation supports (1: no LNC=2).
    #[serde(default = "one")]
    pub lnc_max: u32,
    /// Host-side cost of launching a kernel (the runtime's submit and completion), reported
    /// apart from the device time; 0 when absent.
    #[serde(default)]
    pub launch_overhead_ns: u64,
    /// HBM capacity.
    pub hbm_bytes: u64,
    /// HBM bandwidth of the chip.
    pub hbm_bytes_per_ns: f64,
    /// Chip DMA bandwidth.
    pub dma_bytes_per_ns: f64,
    /// NeuronLink bandwidth per chip (for multi-chip communication models).
    pub neuronlink_bytes_per_ns: f64,
    /// EFA (the network between servers) bandwidth per chip: data-parallel communication.
    pub efa_bytes_per_ns: f64,
}

/// A chip generation's facts for fleet planning: power, placement unit and speed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFacts {
    /// Electrical power per chip, including its share of host, network and storage (W).
    pub watts_per_chip: f64,
    /// Power usage effectiveness of the facility (facility power / IT power).
    pub pue: f64,
    /// Chips per UltraServer (the largest all-to-all placement unit).
    pub ultraserver_chips: u32,
    /// UltraServers per cluster (a gang larger than one UltraServer stays inside one cluster).
    pub ultraservers_per_cluster: u32,
    /// Run-time speed-up over the reference generation (trn2).
    pub speedup: f64,
    /// Chips per instance (the unit Capacity Blocks are bought in, trainium.md section 8); must
    /// divide `ultraserver_chips`.
    pub instance_chips: u32,
}

/// The built-in presets that have a `[fleet]` table, in [`PRESETS`] order: the generations a
/// scenario may name without describing them. Read once.
pub fn fleet_presets() -> &'static [(&'static str, FleetFacts)] {
    static FACTS: std::sync::OnceLock<Vec<(&'static str, FleetFacts)>> = std::sync::OnceLock::new();
    FACTS.get_or_init(|| {
        PRESETS
            .iter()
            .filter_map(|(name, _)| {
                let hw = Hardware::preset(name).expect("built-in presets are valid");
                hw.fleet.map(|f| (*name, f))
            })
            .collect()
    })
}

impl Hardware {
    /// A built-in preset by name; its file is named `NAME.toml` in errors.
    pub fn preset(name: &str) -> Result<Hardware> {
        Hardware::from_toml(preset_text(name)?, &format!("{name}.toml"))
    }

    /// Parse and validate TOML; `file` names it in errors.
    pub fn from_toml(text: &str, file: &str) -> Result<Hardware> {
        Hardware::from_document(&Document::parse(text, file)?)
    }

    /// A preset name, or a path to a TOML file whose contents the caller reads (`read_file`).
    pub fn resolve(
        spec: &str,
        read_file: impl FnOnce(&str) -> std::io::Result<String>,
    ) -> Result<Hardware> {
        Hardware::load(spec, &[], read_file)
    }

    /// [`Hardware::resolve`], then `--hw-set` overrides (`pe.rows=256`) on the same document,
    /// so that every error names where its value was written: `file:line:col` in the file (or
    /// the preset), `file (--hw-set)` when an override typed it.
    pub fn load(
        spec: &str,
        overrides: &[(String, String)],
        read_file: impl FnOnce(&str) -> std::io::Result<String>,
    ) -> Result<Hardware> {
        let is_file =
            !PRESETS.iter().any(|p| p.0 == spec) && (spec.ends_with(".toml") || spec.contains('/'));
        let (text, file) = if is_file {
            let text = read_file(spec).map_err(|e| match config::located(&e) {
                Some(located) => Error::Config(located),
                None => Error::Io {
                    file: spec.to_string(),
                    message: e.to_string(),
                },
            })?;
            (text, spec.to_string())
        } else {
            (preset_text(spec)?.to_string(), format!("{spec}.toml"))
        };
        let doc = Document::parse(&text, &file)?
            .with_overrides(overrides, Mode::Strict)
            .with_flag(OVERRIDE_FLAG);
        Hardware::from_document(&doc)
    }

    /// Read and validate a document; a value out of range is located at its key.
    fn from_document(doc: &Document) -> Result<Hardware> {
        let hw: Hardware = doc.load()?;
        hw.validate().map_err(|e| doc.error(e.field, e.message))?;
        Ok(hw)
    }

    /// Apply `path=value` overrides (`pe.rows=256`) to a description already loaded, then
    /// validate. Values are TOML literals; an unknown path is an error that lists the fields at
    /// that level. Its file is gone: an error about a value not overridden names the file
    /// `NAME.toml` without a position.
    pub fn with_overrides(&self, overrides: &[(String, String)]) -> Result<Hardware> {
        let text = self.to_toml();
        let file = format!("{}.toml", self.name);
        let doc = Document::parse(&text, &file)?
            .with_overrides(overrides, Mode::Strict)
            .with_flag(OVERRIDE_FLAG);
        let hw: Hardware = doc.load()?;
        hw.validate().map_err(|e| {
            let at = if doc.overridden(&e.field) {
                doc.set_location()
            } else {
                Location::File { file: file.clone() }
            };
            config::Error::new(at, e.field, e.message)
        })?;
        Ok(hw)
    }

    /// The TOML text of this hardware description.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("Hardware serializes to TOML")
    }

    /// Reject values no design could have, naming the field.
    pub fn validate(&self) -> Check {
        self.validate_pe()?;
        for (name, e) in [
            ("vector", &self.vector),
            ("scalar", &self.scalar),
            ("gpsimd", &self.gpsimd),
        ] {
            validate_engine(name, e)?;
        }
        self.validate_memory()?;
        self.validate_dma()?;
        self.validate_chip()?;
        self.validate_lnc()?;
        self.validate_fleet()
    }

    /// `lnc` is 1 or 2 and within what the generation supports (its preset names it).
    fn validate_lnc(&self) -> Check {
        range("chip.lnc_max", self.chip.lnc_max as f64, 1.0, 2.0)?;
        if self.lnc == 0 || self.lnc > self.chip.lnc_max {
            let why = if self.chip.lnc_max == 1 {
                format!("{} has no logical NeuronCores of two cores", self.name)
            } else {
                format!("{} supports 1 to {}", self.name, self.chip.lnc_max)
            };
            return Err(invalid(
                "lnc",
                format!(
                    "lnc = {} is not supported: {why} (chip.lnc_max = {})",
                    self.lnc, self.chip.lnc_max
                ),
            ));
        }
        if self.lnc > self.chip.active_cores {
            return Err(invalid(
                "lnc",
                format!(
                    "lnc = {} needs as many active cores (chip.active_cores = {})",
                    self.lnc, self.chip.active_cores
                ),
            ));
        }
        Ok(())
    }

    /// A `[fleet]` table's placement units: an instance divides an UltraServer.
    fn validate_fleet(&self) -> Check {
        let Some(f) = &self.fleet else {
            return Ok(());
        };
        range(
            "fleet.ultraserver_chips",
            f.ultraserver_chips as f64,
            1.0,
            4096.0,
        )?;
        range(
            "fleet.instance_chips",
            f.instance_chips as f64,
            1.0,
            f.ultraserver_chips as f64,
        )?;
        if f.ultraserver_chips % f.instance_chips != 0 {
            return Err(invalid(
                "fleet.instance_chips",
                format!(
                    "{} does not divide ultraserver_chips {}",
                    f.instance_chips, f.ultraserver_chips
                ),
            ));
        }
        Ok(())
    }

    fn validate_pe(&self) -> Check {
        let pe = &self.pe;
        let (rows, cols) = (pe.rows as f64, pe.cols as f64);
        for (field, v, lo, hi) in [
            ("pe.rows", rows, 1.0, 4096.0),
            ("pe.cols", cols, 1.0, 4096.0),
            ("pe.clock_mhz", pe.clock_mhz as f64, 1.0, 20_000.0),
            ("pe.contraction_max", pe.contraction_max as f64, 1.0, rows),
            (
                "pe.stationary_free_max",
                pe.stationary_free_max as f64,
                1.0,
                cols,
            ),
            (
                "pe.moving_free_max",
                pe.moving_free_max as f64,
                1.0,
                65_536.0,
            ),
            ("pe.min_issue_cycles", pe.min_issue_cycles as f64, 0.0, 1e6),
            ("pe.fp32_cost_factor", pe.fp32_cost_factor as f64, 1.0, 64.0),
            (
                "pe.load_stationary_divisor",
                pe.load_stationary_divisor as f64,
                1.0,
                1024.0,
            ),
            (
                "pe.fill_drain_cycles",
                pe.fill_drain_cycles as f64,
                0.0,
                1e6,
            ),
            (
                "pe.transpose_min_cycles",
                pe.transpose_min_cycles as f64,
                0.0,
                1e6,
            ),
            (
                "pe.moving_free_max_fp32_out",
                pe.moving_free_max_fp32_out as f64,
                0.0,
                65_536.0,
            ),
            (
                "pe.moving_free_max_bf16_out",
                pe.moving_free_max_bf16_out as f64,
                0.0,
                65_536.0,
            ),
            (
                "pe.tile_min_size",
                pe.tile_min_size as f64,
                0.0,
                rows.min(cols),
            ),
            (
                "pe.throttle.start_fraction",
                pe.throttle.start_fraction,
                0.01,
                1.0,
            ),
            ("pe.throttle.ramp_ns", pe.throttle.ramp_ns as f64, 0.0, 1e9),
            ("pe.throttle.idle_ns", pe.throttle.idle_ns as f64, 0.0, 1e12),
            (
                "pe.throttle.reengage_below",
                pe.throttle.reengage_below,
                0.0,
                1.0,
            ),
            (
                "pe.throttle.tdp_max_utilization",
                pe.throttle.tdp_max_utilization,
                0.01,
                1.0,
            ),
        ] {
            range(field, v, lo, hi)?;
        }
        Ok(())
    }

    fn validate_memory(&self) -> Check {
        let c = &self.costs;
        for (f, v) in [
            ("costs.reduce_fast_divisor", c.reduce_fast_divisor),
            ("costs.bn_aggr_denominator", c.bn_aggr_denominator),
            ("costs.memset_fast_divisor", c.memset_fast_divisor),
            (
                "costs.strided_bandwidth_divisor",
                c.strided_bandwidth_divisor,
            ),
        ] {
            range(f, v as f64, 1.0, 1024.0)?;
        }
        range(
            "costs.vector_exp_speedup",
            c.vector_exp_speedup as f64,
            0.0,
            1024.0,
        )?;
        let (sbuf, psum) = (&self.sbuf, &self.psum);
        range("sbuf.partitions", sbuf.partitions as f64, 1.0, 4096.0)?;
        if self.pe.contraction_max > sbuf.partitions {
            let msg = format!(
                "{} exceeds sbuf.partitions ({})",
                self.pe.contraction_max, sbuf.partitions
            );
            return Err(invalid("pe.contraction_max", msg));
        }
        for (field, v, lo, hi) in [
            (
                "sbuf.bytes_per_partition",
                sbuf.bytes_per_partition as f64,
                1.0,
                GIB,
            ),
            ("psum.partitions", psum.partitions as f64, 1.0, 4096.0),
            ("psum.banks", psum.banks as f64, 1.0, 64.0),
            (
                "psum.bytes_per_partition",
                psum.bytes_per_partition as f64,
                1.0,
                GIB,
            ),
        ] {
            range(field, v, lo, hi)?;
        }
        if psum.bytes_per_partition % psum.banks as u64 != 0 {
            let msg = "must be a multiple of psum.banks".to_string();
            return Err(invalid("psum.bytes_per_partition", msg));
        }
        Ok(())
    }

    fn validate_dma(&self) -> Check {
        let d = &self.dma;
        for (field, v, lo, hi) in [
            ("dma.engines", d.engines as f64, 1.0, 1024.0),
            (
                "dma.queues_per_engine",
                d.queues_per_engine as f64,
                1.0,
                1024.0,
            ),
            ("dma.peak_bytes_per_ns", d.peak_bytes_per_ns, 1e-3, 1e6),
            (
                "dma.achievable_bytes_per_ns",
                d.achievable_bytes_per_ns,
                1e-3,
                d.peak_bytes_per_ns,
            ),
            (
                "dma.descriptor_bytes_max",
                d.descriptor_bytes_max as f64,
                1.0,
                1e9,
            ),
            ("dma.fixed_latency_ns", d.fixed_latency_ns as f64, 0.0, 1e9),
            (
                "dma.transpose_efficiency_hbm",
                d.transpose_efficiency_hbm,
                0.001,
                1.0,
            ),
            (
                "dma.transpose_efficiency_sbuf",
                d.transpose_efficiency_sbuf,
                0.001,
                1.0,
            ),
        ] {
            range(field, v, lo, hi)?;
        }
        Ok(())
    }

    fn validate_chip(&self) -> Check {
        let ch = &self.chip;
        for (field, v, lo, hi) in [
            ("chip.cores", ch.cores as f64, 1.0, 1024.0),
            (
                "chip.active_cores",
                ch.active_cores as f64,
                1.0,
                ch.cores as f64,
            ),
            ("chip.hbm_bytes", ch.hbm_bytes as f64, 1.0, 1e15),
            ("chip.hbm_bytes_per_ns", ch.hbm_bytes_per_ns, 1e-3, 1e7),
            ("chip.dma_bytes_per_ns", ch.dma_bytes_per_ns, 1e-3, 1e7),
            ("chip.efa_bytes_per_ns", ch.efa_bytes_per_ns, 1e-3, 1e7),
            (
                "chip.neuronlink_bytes_per_ns",
                ch.neuronlink_bytes_per_ns,
                1e-3,
                1e7,
            ),
        ] {
            range(field, v, lo, hi)?;
        }
        Ok(())
    }

    /// Peak dense matmul throughput of one core for inputs of `dtype`, in FLOP/s
    /// (`rows * cols * 2 * clock`, fp8 doubled in double-row mode, fp32 divided by its cost factor).
    pub fn peak_flops(&self, dtype: DType) -> f64 {
        let base = self.pe.rows as f64 * self.pe.cols as f64 * 2.0 * self.pe.clock_mhz as f64 * 1e6;
        match dtype {
            DType::Float32 => base / self.pe.fp32_cost_factor as f64,
            d if d.is_fp8() && self.pe.fp8_double_row => base * 2.0,
            _ => base,
        }
    }

    /// HBM bandwidth available to this core: the chip's, shared equally by the active cores, and
    /// no more than the chip's DMA bandwidth share.
    pub fn core_hbm_bytes_per_ns(&self) -> f64 {
        self.chip.hbm_bytes_per_ns.min(self.chip.dma_bytes_per_ns) / self.chip.active_cores as f64
    }

    /// HBM bandwidth available to the `lnc` physical cores running one kernel: the share of that
    /// many cores, one pool they contend for.
    pub fn lnc_hbm_bytes_per_ns(&self) -> f64 {
        self.core_hbm_bytes_per_ns() * self.lnc as f64
    }
}

fn one() -> u32 {
    1
}

const GIB: f64 = (1u64 << 30) as f64;

/// The flag that overrides hardware fields, as errors about its values name it.
const OVERRIDE_FLAG: &str = "--hw-set";

/// The result of a check of [`Hardware::validate`].
type Check = std::result::Result<(), FieldError>;

/// The TOML text of a built-in preset.
fn preset_text(name: &str) -> Result<&'static str> {
    PRESETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|p| p.1)
        .ok_or_else(|| Error::UnknownPreset {
            name: name.to_string(),
            valid: PRESETS.iter().map(|p| p.0).collect::<Vec<_>>().join(", "),
        })
}

fn validate_engine(name: &str, e: &EngineConfig) -> Check {
    range(
        &format!("{name}.clock_mhz"),
        e.clock_mhz as f64,
        1.0,
        20_000.0,
    )?;
    for (f, v) in [
        ("lanes_16bit", e.lanes_16bit),
        ("lanes_8bit", e.lanes_8bit),
        ("lanes_other", e.lanes_other),
    ] {
        range(&format!("{name}.{f}"), v as f64, 1.0, 65_536.0)?;
    }
    for (f, v) in [
        ("min_cycles", e.min_cycles),
        ("access_latency_cycles", e.access_latency_cycles),
        ("dependent_overhead_cycles", e.dependent_overhead_cycles),
    ] {
        range(&format!("{name}.{f}"), v as f64, 0.0, 1e6)?;
    }
    Ok(())
}

fn invalid(field: &str, message: String) -> FieldError {
    FieldError {
        field: field.to_string(),
        message,
    }
}

fn range(field: &str, v: f64, lo: f64, hi: f64) -> Check {
    if v.is_finite() && v >= lo && v <= hi {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{v} is out of range; expected {lo} to {hi}"),
        ))
    }
}

/// Parse `a.b=1,c.d=2` (a `--hw-set` argument) into pairs (values may not contain commas).
pub fn parse_overrides(spec: &str) -> Result<Vec<(String, String)>> {
    Ok(config::parse_list(&[spec])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instance_divides_its_ultraserver() {
        let mut t2 = Hardware::preset("trn2").unwrap();
        assert_eq!(t2.fleet.map(|f| f.instance_chips), Some(16));
        t2.validate().unwrap();
        if let Some(f) = &mut t2.fleet {
            f.instance_chips = 24;
        }
        let e = t2.validate().unwrap_err();
        assert_eq!(e.field, "fleet.instance_chips");
        assert_eq!(e.message, "24 does not divide ultraserver_chips 64");
    }

    #[test]
    fn presets_load_and_peaks_match_the_published_figures() {
        // trainium.md section 1: 92 / 79 / 79 TFLOPS bf16 per core; fp8 158 on Trn2.
        let t1 = Hardware::preset("trn1").unwrap();
        let t2 = Hardware::preset("trn2").unwrap();
        let t3 = Hardware::preset("trn3").unwrap();
        assert!((t1.peak_flops(DType::BFloat16) / 1e12 - 91.75).abs() < 0.1);
        assert!((t2.peak_flops(DType::BFloat16) / 1e12 - 78.64).abs() < 0.1);
        assert!((t2.peak_flops(DType::Float8E4M3) / 1e12 - 157.3).abs() < 0.1);
        assert_eq!(
            t1.peak_flops(DType::Float8E4M3),
            t1.peak_flops(DType::BFloat16)
        );
        assert!((t3.peak_flops(DType::Float32) / 1e12 - 19.66).abs() < 0.1);
        assert_eq!(t1.sbuf.bytes_per_partition * 128, 24 << 20);
        assert_eq!(t2.sbuf.bytes_per_partition * 128, 28 << 20);
        assert_eq!(t3.sbuf.bytes_per_partition * 128, 32 << 20);
        // 4 KiB descriptors at 23 B/ns: the overhead makes up the gap to the 27.2 B/ns peak.
        let o = t2.dma.descriptor_overhead_ns();
        assert!((4096.0 / (4096.0 / 27.2 + o) - 23.0).abs() < 1e-9);
        assert!((t2.core_hbm_bytes_per_ns() - 362.5).abs() < 1e-9);
    }

    #[test]
    fn trn1_roofline_ridge_matches_the_published_222_flop_per_byte() {
        // [TUT]: the tensor engine saturates at 222 flop/byte of HBM traffic on one Trn1 core.
        let t1 = Hardware::preset("trn1").unwrap();
        let ridge = t1.peak_flops(DType::BFloat16) / (t1.core_hbm_bytes_per_ns() * 1e9);
        assert!((ridge / 222.0 - 1.0).abs() < 0.02, "{ridge}");
    }

    #[test]
    fn toml_round_trip_and_overrides() {
        let t2 = Hardware::preset("trn2").unwrap();
        assert_eq!(Hardware::from_toml(&t2.to_toml(), "x").unwrap(), t2);
        let o = parse_overrides(
            "pe.rows=256, dma.engines=8,pe.throttle.enabled=false,chip.hbm_bytes_per_ns=3000",
        )
        .unwrap();
        let h = t2.with_overrides(&o).unwrap();
        assert_eq!(
            (h.pe.rows, h.dma.engines, h.pe.throttle.enabled),
            (256, 8, false)
        );
        assert_eq!(h.chip.hbm_bytes_per_ns, 3000.0);
    }

    #[test]
    fn nonsense_is_rejected_with_the_field_path() {
        let t2 = Hardware::preset("trn2").unwrap();
        let err = |s: &str| {
            t2.with_overrides(&parse_overrides(s).unwrap())
                .unwrap_err()
                .to_string()
        };
        assert!(
            err("pe.clock_mhz=0").contains("pe.clock_mhz"),
            "{}",
            err("pe.clock_mhz=0")
        );
        assert!(
            err("pe.rows=5000").contains("pe.rows: 5000 is out of range"),
            "{}",
            err("pe.rows=5000")
        );
        let e = err("pe.rowz=3");
        assert!(
            e.contains("pe.rowz") && e.contains("unknown field 'rowz'") && e.contains("rows"),
            "{e}"
        );
        assert!(
            err("dma.engines=many").contains("expected a integer"),
            "{}",
            err("dma.engines=many")
        );
        let e = Hardware::from_toml(
            &t2.to_toml().replace("[pe]\n", "[pe]\nbogus = 1\n"),
            "chip.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("chip.toml:") && e.contains("bogus"), "{e}");
        assert!(
            Hardware::preset("trn9")
                .unwrap_err()
                .to_string()
                .contains("trn1, trn2, trn3")
        );
    }

    #[test]
    fn errors_are_located_where_the_value_was_written() {
        let err = |spec: &str, set: &[(&str, &str)], text: &str| {
            let set: Vec<(String, String)> = set
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Hardware::load(spec, &set, |_| Ok(text.to_string()))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("trn2", &[("pe.rows", "0")], ""),
            "trn2.toml (--hw-set): pe.rows: 0 is out of range; expected 1 to 4096"
        );
        // A consistency check fails at the preset's key, not at the override that broke it.
        assert_eq!(
            err("trn2", &[("sbuf.partitions", "64")], ""),
            "trn2.toml:12:1: pe.contraction_max: 128 exceeds sbuf.partitions (64)"
        );
        let text = Hardware::preset("trn2")
            .unwrap()
            .to_toml()
            .replace("clock_mhz = 2400", "clock_mhz = 0");
        let line = text.lines().position(|l| l == "clock_mhz = 0").unwrap() + 1;
        assert_eq!(
            err("my/chip.toml", &[], &text),
            format!("my/chip.toml:{line}:1: pe.clock_mhz: 0 is out of range; expected 1 to 20000")
        );
        let t2 = Hardware::preset("trn2").unwrap();
        let e = t2
            .with_overrides(&parse_overrides("sbuf.partitions=64").unwrap())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "trn2.toml: pe.contraction_max: 128 exceeds sbuf.partitions (64)"
        );
        assert_eq!(
            parse_overrides("pe.rows").unwrap_err().to_string(),
            "--hw-set: expected FIELD=VALUE, found 'pe.rows'"
        );
    }
}
