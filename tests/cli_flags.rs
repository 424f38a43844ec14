//! One meaning per flag: `--hw-set` for hardware fields, `--param` for kernel parameters, `--set`
//! for scenario keys. The old spellings that meant something else are refused with a hint naming
//! the flag meant (exit 2, nothing on stdout).

mod common;

use common::{root, text, trnsim};

/// Run `args`; it must fail with exit 2, no stdout, and stderr containing `want`.
fn refused(args: &[&str], want: &str) {
    let o = trnsim(args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o.stderr));
    assert!(o.stdout.is_empty(), "{args:?}");
    let e = text(&o.stderr);
    assert!(e.contains(want), "{args:?}: {e}");
}

const HW_HINT: &str =
    "trnsim: error: --set is for scenario keys; for hardware fields use --hw-set pe.rows=256";

#[test]
fn run_refuses_set_for_hardware_fields() {
    let t = root().join("traces/gelu.trace");
    refused(
        &["run", t.to_str().unwrap(), "--set", "pe.rows=256"],
        HW_HINT,
    );
}

#[test]
fn hw_show_refuses_set_for_hardware_fields() {
    refused(&["hw", "show", "--set", "pe.rows=256"], HW_HINT);
}

#[test]
fn model_run_refuses_set_for_hardware_fields() {
    refused(
        &[
            "model",
            "run",
            "llama3-8b",
            "--phase",
            "decode",
            "--context",
            "128",
            "--set",
            "pe.rows=256",
        ],
        HW_HINT,
    );
}

#[test]
fn systolic_refuses_set_for_hardware_fields() {
    refused(
        &["systolic", "gemm", "64", "64", "64", "--set", "pe.rows=256"],
        HW_HINT,
    );
    let dir = root().join("tests/data/systolic");
    let (cfg, topo) = (dir.join("google.cfg"), dir.join("nosuch.csv"));
    refused(
        &[
            "systolic",
            "--config",
            cfg.to_str().unwrap(),
            "--topology",
            topo.to_str().unwrap(),
            "--set",
            "pe.rows=256",
        ],
        "--set is for scenario keys; for hardware fields use --hw-set",
    );
}

#[test]
fn kernel_run_and_lower_refuse_set_for_kernel_parameters() {
    let want = "trnsim: error: --set is for scenario keys; for kernel parameters use --param \
                m=4096 (and --hw-set for hardware fields)";
    refused(&["kernel", "run", "matmul", "--set", "m=4096"], want);
    refused(&["kernel", "lower", "matmul", "--set", "m=4096"], want);
}

#[test]
fn the_new_spellings_are_accepted() {
    let o = trnsim(&["hw", "show", "--hw-set", "pe.rows=256", "--json"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let o = trnsim(&[
        "kernel",
        "lower",
        "matmul",
        "--param",
        "m=256,k=256,n=256",
        "--hw-set",
        "dma.engines=8",
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
}
