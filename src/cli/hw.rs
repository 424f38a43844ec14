//! `trnsim hw`: the hardware presets and their derived peaks.

use serde_json::Value;

use super::Result;
use crate::arch::{Hardware, PRESETS};
use crate::numerics::DType;
use crate::report::{Format, Table};

/// One row per preset: the headline numbers and the derived peaks.
pub fn list(format: Format) -> Result<String> {
    let mut t = Table::new([
        "name",
        "pe",
        "pe_clock_mhz",
        "bf16_tflops",
        "fp8_tflops",
        "fp32_tflops",
        "sbuf_mib",
        "psum_kib_per_partition",
        "dma_engines",
        "core_hbm_gbps",
    ]);
    for (name, _) in PRESETS {
        let hw = Hardware::preset(name).map_err(|e| super::Error::Input(e.to_string()))?;
        let tf = |d| (hw.peak_flops(d) / 1e10).round() / 100.0;
        t.push(vec![
            Value::from(name),
            Value::from(format!("{}x{}", hw.pe.rows, hw.pe.cols)),
            Value::from(hw.pe.clock_mhz),
            Value::from(tf(DType::BFloat16)),
            Value::from(tf(DType::Float8E4M3)),
            Value::from(tf(DType::Float32)),
            Value::from(
                (hw.sbuf.bytes_per_partition * hw.sbuf.partitions as u64) as f64 / (1 << 20) as f64,
            ),
            Value::from(hw.psum.bytes_per_partition / 1024),
            Value::from(hw.dma.engines),
            Value::from(hw.core_hbm_bytes_per_ns()),
        ]);
    }
    Ok(t.render(format))
}

/// The full description of one hardware (after overrides) as TOML or JSON.
pub fn show(hw: &Hardware, json: bool) -> String {
    if json {
        let mut s = serde_json::to_string_pretty(hw).expect("hardware serializes");
        s.push('\n');
        s
    } else {
        hw.to_toml()
    }
}
