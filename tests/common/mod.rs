//! Helpers shared by the tests: run a kernel on trn2 with values (checked against its
//! reference) or timing-only, and run the binary as a user would.

#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;
use std::process::{Command, Output};

use trnsim::arch::Hardware;
use trnsim::chip::{self, RunOptions, report::Report};
use trnsim::cli::kernel::parse_set;
use trnsim::isa::{Init, Memory};
use trnsim::kernels::{self, CheckReport};

/// Lower `kernel` with `spec` (`name=value,...`) for `hw`, run it with values and compare with
/// the reference. Every output must also be finite and written (NaN on both sides, or zeros on
/// both sides, would compare as no error).
pub fn check_on(hw: &Hardware, kernel: &str, spec: &str) -> CheckReport {
    let (k, d) = kernels::find(kernel).unwrap();
    let p = d.params(&parse_set(&[spec.to_string()]).unwrap()).unwrap();
    let program = k.lower(&p, hw).unwrap();
    let opts = RunOptions {
        data: true,
        ..Default::default()
    };
    let run = chip::run(&program, hw, "<test>", &[], &opts).unwrap();
    let state = run.state.unwrap();
    for b in &program.buffers {
        if b.memory == Memory::Hbm && b.init == Init::Zeros {
            let v = state.values(program.buffer_id(&b.name).unwrap());
            assert!(
                v.iter().all(|x| x.is_finite()),
                "{kernel} {spec}: '{}' not finite",
                b.name
            );
            assert!(
                v.iter().any(|&x| x != 0.0),
                "{kernel} {spec}: '{}' never written",
                b.name
            );
        }
    }
    kernels::check(k, &p, &program, &state)
}

/// A built-in preset with `--hw-set` style overrides (`field=value,...`; empty: none).
pub fn preset_with(name: &str, overrides: &str) -> Hardware {
    let h = Hardware::preset(name).unwrap();
    if overrides.is_empty() {
        return h;
    }
    h.with_overrides(&trnsim::arch::parse_overrides(overrides).unwrap())
        .unwrap()
}

/// [`check_on`] trn2.
pub fn check(kernel: &str, spec: &str) -> CheckReport {
    check_on(&Hardware::preset("trn2").unwrap(), kernel, spec)
}

/// The timing-only report of `kernel` with `spec` on trn2.
pub fn timing(kernel: &str, spec: &str) -> Report {
    let hw = Hardware::preset("trn2").unwrap();
    let (_, program) =
        kernels::lower(kernel, &parse_set(&[spec.to_string()]).unwrap(), &hw).unwrap();
    let run = chip::run(&program, &hw, "<test>", &[], &RunOptions::default()).unwrap();
    chip::report::report(&program, &hw, &run)
}

/// The crate's root (where the shipped traces, scenarios and goldens are).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A process's output as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

/// The binary, run from the crate's root (so relative paths in its output are stable).
pub fn trnsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .args(args)
        .current_dir(root())
        .env_remove("RUST_LOG")
        .output()
        .expect("binary runs")
}

/// `trnsim kernel run KERNEL --no-data --param SET` must exit 2 with an error naming `param`.
pub fn rejects(kernel: &str, set: &str, param: &str) {
    let o = trnsim(&["kernel", "run", kernel, "--no-data", "--param", set]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{set}: {err}");
    assert!(err.contains(&format!("'{param}'")), "{set}: {err}");
    assert!(!err.contains("panicked"), "{set}: {err}");
}
