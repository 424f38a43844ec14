//! `trnsim nki` as a user runs it: a real NKI kernel (tests/data/nki_cli/add.py), .npy files in
//! and out, the Python front end embedded in the binary. The fake interpreters (shell scripts
//! passed as --python) pin the binary's side of the contract without the front end.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{root, text};
use ndarray::{Array2, ArrayD};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};

const KERNEL: &str = "tests/data/nki_cli/add.py";
const REF: &str = "tests/data/nki_cli/add_ref.py";

fn nki(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trnsim"));
    c.arg("nki")
        .args(args)
        .current_dir(root())
        .env_remove("TRNSIM_PYTHON");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("binary runs")
}

/// a[p, f] = p - f/8 and b[p, f] = f/4 + 0.5 (exact in float32): the sum is known in closed form.
fn inputs(dir: &Path, rows: usize, cols: usize) -> (PathBuf, PathBuf) {
    let a = Array2::from_shape_fn((rows, cols), |(p, f)| p as f32 - f as f32 / 8.0);
    let b = Array2::from_shape_fn((rows, cols), |(_, f)| f as f32 / 4.0 + 0.5);
    let (pa, pb) = (dir.join("a.npy"), dir.join("b.npy"));
    a.write_npy(std::fs::File::create(&pa).unwrap()).unwrap();
    b.write_npy(std::fs::File::create(&pb).unwrap()).unwrap();
    (pa, pb)
}

fn arg(name: &str, p: &Path) -> String {
    format!("{name}={}", p.display())
}

fn ok(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    text(&o.stdout)
}

/// A fake interpreter: a shell script that reads the request and answers with `body`.
fn fake_python(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("python");
    std::fs::write(&p, format!("#!/bin/sh\ncat > \"$0.request\"\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// NumPy for the reference: installed the way `.ci/run` does when it is missing.
fn ensure_numpy() {
    let has = || {
        Command::new("python3")
            .args(["-c", "import numpy"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has() {
        let _ = Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "numpy"])
            .status();
    }
    assert!(
        has(),
        "this test needs NumPy: python3 -m pip install numpy (as .ci/run does)"
    );
}

// ---- needs the front end (python/trnsim/nki, the "fe" part) ----

#[test]
fn vector_add_computes_the_sum_and_writes_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = inputs(dir.path(), 128, 64);
    let out = dir.path().join("out.npy");
    let report = ok(&nki(
        &[
            KERNEL,
            "--hw",
            "trn2",
            "--input",
            &arg("a", &a),
            "--input",
            &arg("b", &b),
            "--output",
            &arg("out", &out),
            "--format",
            "json",
        ],
        &[],
    ));
    let r: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert!(r["time_ns"].as_f64().unwrap() > 0.0, "{report}");
    // Two 128x64 fp32 loads and one store: 3 * 32 KiB of HBM traffic.
    assert_eq!(r["hbm_bytes"].as_u64(), Some(3 * 128 * 64 * 4), "{report}");
    let got = ArrayD::<f32>::read_npy(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(got.shape(), &[128, 64]);
    for ((p, f), &x) in Array2::from_shape_fn((128, 64), |i| i)
        .iter()
        .zip(got.iter())
    {
        assert_eq!(x, *p as f32 + *f as f32 / 8.0 + 0.5, "out[{p}, {f}]");
    }
}

#[test]
fn check_against_a_numpy_reference_passes_and_a_wrong_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = inputs(dir.path(), 128, 32);
    ensure_numpy();
    let run = |r: &str| {
        nki(
            &[
                &format!("{KERNEL}::add"),
                "--input",
                &arg("a", &a),
                "--input",
                &arg("b", &b),
                "--check-against",
                &format!("{REF}::{r}"),
            ],
            &[],
        )
    };
    let good = ok(&run("add_ref"));
    assert!(
        good.contains("check against the NumPy reference (4096 elements)"),
        "{good}"
    );
    assert!(
        good.contains("max abs error 0.000e0") && good.contains(": pass"),
        "{good}"
    );
    let bad = run("wrong_ref");
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    assert!(text(&bad.stdout).contains("FAIL"));
}

#[test]
fn missing_input_and_unknown_function_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = inputs(dir.path(), 4, 8);
    let o = nki(&[KERNEL, "--input", &arg("a", &a)], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        // The message names the parameter (however it quotes it).
        text(&o.stderr)
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|w| w == "b"),
        "{}",
        text(&o.stderr)
    );
    let o = nki(
        &[
            &format!("{KERNEL}::nope"),
            "--input",
            &arg("a", &a),
            "--input",
            &arg("b", &b),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("nope"), "{}", text(&o.stderr));
    assert!(
        !text(&o.stderr).contains("Traceback"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn no_data_reads_only_the_headers_and_emit_trace_writes_a_parseable_trace() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = inputs(dir.path(), 128, 512);
    // Cut the files just past their headers: a run that read the data would fail.
    for p in [&a, &b] {
        let bytes = std::fs::read(p).unwrap();
        std::fs::write(p, &bytes[..200]).unwrap();
    }
    let trace = dir.path().join("k.trace");
    let args = [
        KERNEL,
        "--no-data",
        "--input",
        &arg("a", &a),
        "--input",
        &arg("b", &b),
    ];
    let mut with_trace = args.to_vec();
    let t = arg("", &trace);
    with_trace.extend(["--emit-trace", &t[1..]]);
    let report = ok(&nki(&with_trace, &[]));
    let program =
        trnsim::isa::parse::parse(&std::fs::read_to_string(&trace).unwrap(), "k.trace").unwrap();
    assert_eq!(
        program.buffer(program.buffer_id("a").unwrap()).shape,
        vec![128, 512]
    );
    // The trace runs again with `trnsim run` to the same report.
    let again = common::trnsim(&["run", trace.to_str().unwrap(), "--no-data"]);
    assert_eq!(
        text(&again.stdout).lines().skip(1).collect::<Vec<_>>(),
        report.lines().skip(1).collect::<Vec<_>>()
    );
    // Without --no-data the truncated files are refused, naming the file.
    let o = nki(
        &args[..1]
            .iter()
            .chain(&args[2..])
            .copied()
            .collect::<Vec<_>>(),
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("a.npy"), "{}", text(&o.stderr));
}

// ---- the binary's side alone ----

#[test]
fn a_missing_python_is_exit_2_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = inputs(dir.path(), 4, 8);
    let ins = ["--input", &arg("a", &a), "--input", &arg("b", &b)];
    let o = nki(
        &[&[KERNEL, "--python", "/nonexistent/python3"][..], &ins].concat(),
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr)
            .contains("/nonexistent/python3 not found: install Python 3 or pass --python"),
        "{}",
        text(&o.stderr)
    );
    let o = nki(
        &[&[KERNEL][..], &ins].concat(),
        &[("TRNSIM_PYTHON", "/nonexistent/py")],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("/nonexistent/py not found"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn the_front_ends_exit_2_is_ours_and_a_crash_is_an_internal_error() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = inputs(dir.path(), 4, 8);
    let ins = ["--input", &arg("a", &a), "--input", &arg("b", &b)];
    let py = fake_python(
        dir.path(),
        "echo 'add.py:9: nl.atan2: not supported by trnsim' >&2; exit 2",
    );
    let o = nki(
        &[&[KERNEL][..], &ins].concat(),
        &[("TRNSIM_PYTHON", py.to_str().unwrap())],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o.stderr),
        "trnsim: error: add.py:9: nl.atan2: not supported by trnsim\n"
    );
    // The request the binary sent: the contract's "record" fields, shapes and dtypes from the headers.
    let req: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("python.request")).unwrap())
            .unwrap();
    assert_eq!(req["mode"], "record");
    assert_eq!(req["function"], serde_json::Value::Null);
    assert_eq!(req["hw"], "trn2");
    assert_eq!(req["dma_engines"], 16);
    // trn2's SBUF: 28 MiB over 128 partitions (the preset's documented size).
    assert_eq!(req["sbuf_bytes_per_partition"], (28 << 20) / 128);
    assert_eq!(
        req["args"][1],
        serde_json::json!({"name": "b", "shape": [4, 8], "dtype": "float32"})
    );
    let py = fake_python(dir.path(), "echo 'Traceback: boom' >&2; exit 3");
    let o = nki(
        &[&[KERNEL][..], &ins, &["--python", py.to_str().unwrap()]].concat(),
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("internal error") && text(&o.stderr).contains("boom"));
}

#[test]
fn bad_files_are_exit_2_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = inputs(dir.path(), 4, 8);
    let o = nki(
        &["tests/data/nki_cli/missing.py", "--input", &arg("a", &a)],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("missing.py"),
        "{}",
        text(&o.stderr)
    );
    let o = nki(&[KERNEL, "--input", &format!("a={KERNEL}")], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o.stderr).contains("add.py: not a .npy file"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn the_python_api_returns_the_outputs_and_the_json_report() {
    ensure_numpy();
    let script = r#"
import sys, json
sys.path.insert(0, "python")
import numpy as np, trnsim
a = np.arange(128 * 16, dtype=np.float32).reshape(128, 16); b = np.full_like(a, 0.25)
# By "FILE::NAME": importing add.py itself would need the Neuron SDK.
out, report = trnsim.simulate("tests/data/nki_cli/add.py::add", a=a, b=b, hw="trn1")
print(json.dumps({"max_err": float(np.abs(out - (a + b)).max()), "shape": list(out.shape),
                  "hardware": report["hardware"], "hbm_bytes": report["hbm_bytes"]}))
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .current_dir(root())
        .env("TRNSIM_BIN", env!("CARGO_BIN_EXE_trnsim"))
        .output()
        .unwrap();
    let r: serde_json::Value = serde_json::from_str(&ok(&o)).unwrap();
    assert_eq!(r["max_err"], 0.0);
    assert_eq!(r["shape"], serde_json::json!([128, 16]));
    assert_eq!(r["hardware"], "trn1");
    assert_eq!(r["hbm_bytes"], 3 * 128 * 16 * 4);
}

// ---- LNC=2: the kernel recorded once per nl.program_id, run on two physical cores ----

/// x[r, c] = sin(r * 0.37 + c * 0.11) * 4: rows that differ, softmax inputs of some range.
fn lnc_input(dir: &Path, rows: usize, cols: usize) -> PathBuf {
    let x = Array2::from_shape_fn((rows, cols), |(r, c)| {
        (r as f32 * 0.37 + c as f32 * 0.11).sin() * 4.0
    });
    let p = dir.join(format!("x{rows}.npy"));
    x.write_npy(std::fs::File::create(&p).unwrap()).unwrap();
    p
}

fn time_ns(json: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    v["time_ns"].as_f64().unwrap()
}

#[test]
fn lnc_2_softmax_matches_numpy_and_the_one_core_values_in_about_half_the_time() {
    ensure_numpy();
    let dir = tempfile::tempdir().unwrap();
    let x = lnc_input(dir.path(), 512, 512);
    let k = "kernels/nki/lnc_softmax.py";
    let run = |lnc: &str, out: &Path| {
        ok(&nki(
            &[
                k,
                "--hw",
                "trn2",
                "--lnc",
                lnc,
                "--input",
                &arg("x", &x),
                "--output",
                &arg("out", out),
                "--check-against",
                "kernels/nki/lnc_reference.py::ref_softmax",
                "--format",
                "json",
                // The kernel's own order: each core runs exactly half of the one-core stream
                // (the compiler order overlaps the one-core run's phases more, 0.69 here).
                "--order",
                "source",
            ],
            &[],
        ))
    };
    let (o1, o2) = (dir.path().join("o1.npy"), dir.path().join("o2.npy"));
    let one = run("1", &o1);
    let two = run("2", &o2);
    for j in [&one, &two] {
        assert!(
            j.contains("\"passed\":true") || j.contains("\"passed\": true"),
            "{j}"
        );
    }
    let read = |p: &Path| ArrayD::<f32>::read_npy(std::fs::File::open(p).unwrap()).unwrap();
    let (v1, v2) = (read(&o1), read(&o2));
    assert_eq!(v1.shape(), &[512, 512]);
    assert!(
        v1.iter()
            .zip(v2.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    // Each core does half the rows on its own engines and DMA engines (HBM is not the limit
    // here: 2 MiB in about 8 us is far below the pair's 725 B/ns).
    let ratio = time_ns(&two) / time_ns(&one);
    assert!((0.45..0.6).contains(&ratio), "{ratio}");
    let v: serde_json::Value = serde_json::from_str(&two).unwrap();
    assert_eq!(v["cores"], 2);
    assert_eq!(v["per_core"][1]["scalar"]["instructions"], 2);
}

#[test]
fn lnc_2_sendrecv_and_core_barrier_exchange_exactly() {
    ensure_numpy();
    let dir = tempfile::tempdir().unwrap();
    let x = lnc_input(dir.path(), 256, 512);
    let out = ok(&nki(
        &[
            "kernels/nki/lnc_exchange.py",
            "--hw",
            "trn3",
            "--lnc",
            "2",
            "--input",
            &arg("x", &x),
            "--check-against",
            "kernels/nki/lnc_reference.py::ref_exchange",
        ],
        &[],
    ));
    assert!(
        out.contains("max abs error 0.000e0") && out.contains(": pass"),
        "{out}"
    );
}

#[test]
fn lnc_errors_exit_2_located() {
    let dir = tempfile::tempdir().unwrap();
    let x = lnc_input(dir.path(), 256, 512);
    let input = arg("x", &x);
    let o = nki(
        &[
            "kernels/nki/lnc_softmax.py",
            "--hw",
            "trn1",
            "--lnc",
            "2",
            "--input",
            &input,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(e.contains("lnc = 2") && e.contains("trn1"), "{e}");
    // sendrecv needs a second core.
    let o = nki(
        &[
            "kernels/nki/lnc_exchange.py",
            "--hw",
            "trn2",
            "--input",
            &input,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = text(&o.stderr);
    assert!(
        e.contains("lnc_exchange.py:31:") && e.contains("nki.lnc.sendrecv"),
        "{e}"
    );
}

// ---- a launch grid in the kernel file: an entry function calls kernel[2](x) ----

#[test]
fn lnc_launch_grid_in_the_file_runs_as_lnc_2_bit_for_bit() {
    ensure_numpy();
    let dir = tempfile::tempdir().unwrap();
    let x = lnc_input(dir.path(), 512, 512);
    let run = |kernel: &str, lnc: &[&str], out: &Path| {
        let (xa, oa) = (arg("x", &x), arg("out", out));
        let mut a = vec![kernel, "--hw", "trn2", "--input", &xa, "--output", &oa];
        a.extend_from_slice(lnc);
        a.extend_from_slice(&[
            "--check-against",
            "kernels/nki/lnc_reference.py::ref_softmax",
            "--format",
            "json",
        ]);
        ok(&nki(&a, &[]))
    };
    let (od, og) = (dir.path().join("d.npy"), dir.path().join("g.npy"));
    let direct = run("kernels/nki/lnc_softmax.py", &["--lnc", "2"], &od);
    // The grid alone sets LNC = 2; an agreeing --lnc 2 is the same run.
    let grid = run("kernels/nki/lnc_softmax_launch.py", &[], &og);
    let agreed = run("kernels/nki/lnc_softmax_launch.py", &["--lnc", "2"], &og);
    for j in [&direct, &grid] {
        assert!(j.contains("\"passed\": true"), "{j}");
    }
    let read = |p: &Path| ArrayD::<f32>::read_npy(std::fs::File::open(p).unwrap()).unwrap();
    let (vd, vg) = (read(&od), read(&og));
    assert_eq!(vd.shape(), vg.shape());
    assert!(
        vd.iter()
            .zip(vg.iter())
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert_eq!(time_ns(&grid), time_ns(&direct));
    assert_eq!(time_ns(&agreed), time_ns(&direct));
    let v: serde_json::Value = serde_json::from_str(&grid).unwrap();
    assert_eq!(v["cores"], 2);
    // The report names the entry function (FILE.py::FUNCTION runs it again).
    assert_eq!(v["kernel"], "softmax_on_two_cores");
}

#[test]
fn lnc_launch_grid_errors_exit_2_at_the_launch_line() {
    let dir = tempfile::tempdir().unwrap();
    let x = lnc_input(dir.path(), 256, 512);
    let input = arg("x", &x);
    let launch = "kernels/nki/lnc_softmax_launch.py";
    let line = std::fs::read_to_string(root().join(launch))
        .unwrap()
        .lines()
        .position(|l| l.contains("return lnc_softmax[2](x)"))
        .unwrap()
        + 1;
    let at = format!("lnc_softmax_launch.py:{line}: launch: ");
    let fails = |a: &[&str]| {
        let o = nki(a, &[]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
        text(&o.stderr)
    };
    // trn1 has one physical core per logical NeuronCore.
    let e = fails(&[launch, "--hw", "trn1", "--input", &input]);
    assert!(
        e.contains(&at) && e.contains("trn1") && e.contains("chip.lnc_max = 1"),
        "{e}"
    );
    // A grid of 2 with LNC 1 given explicitly.
    let e = fails(&[launch, "--hw", "trn2", "--lnc", "1", "--input", &input]);
    assert!(e.contains(&at) && e.contains("--lnc 1"), "{e}");
    // A grid of 3: more programs than a logical NeuronCore has cores. The kernel in the same
    // file, the entry function named.
    let k = dir.path().join("grid3.py");
    std::fs::write(
        &k,
        "import neuronxcc.nki as nki\nimport neuronxcc.nki.language as nl\n\n\n@nki.jit\n\
         def copy(x):\n    out = nl.ndarray(x.shape, dtype=x.dtype, buffer=nl.shared_hbm)\n    \
         nl.store(out, value=nl.load(x))\n    return out\n\n\ndef entry(x):\n    \
         return copy[3](x)\n",
    )
    .unwrap();
    let target = format!("{}::entry", k.display());
    let e = fails(&[&target, "--hw", "trn2", "--input", &input]);
    assert!(
        e.contains("grid3.py:13: kernel[grid]: a launch grid of 3 programs")
            && e.contains("grids of 1 to 2"),
        "{e}"
    );
}

/// A loop bound written too large (`affine_range(10**12)`) is refused once the recording passes
/// `--max-instructions`, at the kernel's line, instead of recording until memory runs out; the
/// limit is the flag's, and a kernel under it runs.
#[test]
fn a_runaway_loop_is_refused_at_the_instruction_limit() {
    let dir = tempfile::tempdir().unwrap();
    let kernel = dir.path().join("runaway.py");
    std::fs::write(
        &kernel,
        "import neuronxcc.nki as nki\nimport neuronxcc.nki.language as nl\n\n@nki.jit\n\
         def runaway(a, b):\n    out = nl.ndarray(a.shape, dtype=a.dtype, buffer=nl.shared_hbm)\n\
         \x20   for i in nl.affine_range(N):\n        t = nl.load(a[0:128, 0:512])\n\
         \x20       nl.store(out[0:128, 0:512], value=t)\n    return out\n",
    )
    .unwrap();
    let (a, b) = inputs(dir.path(), 128, 512);
    let run = |n: &str, limit: Option<&str>| {
        let text = std::fs::read_to_string(&kernel).unwrap();
        let at = text.find("nl.affine_range(").unwrap() + "nl.affine_range(".len();
        let end = at + text[at..].find(')').unwrap();
        std::fs::write(&kernel, format!("{}{n}{}", &text[..at], &text[end..])).unwrap();
        let k = kernel.display().to_string();
        let mut args = vec![k.as_str(), "--no-data"];
        let (ia, ib) = (arg("a", &a), arg("b", &b));
        args.extend(["--input", &ia, "--input", &ib]);
        if let Some(l) = limit {
            args.extend(["--max-instructions", l]);
        }
        let start = std::time::Instant::now();
        let o = nki(&args, &[]);
        (o, start.elapsed())
    };
    let (o, took) = run("10**12", None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains(
            "runaway.py:9: instructions: the kernel records more than 2097152 trace \
             instructions (a DMA counts once for each queue it is split over; the limit of \
             --max-instructions"
        ),
        "{}",
        text(&o.stderr)
    );
    assert!(took.as_secs() < 20, "{took:?}");
    // An iteration is 32 instructions (each DMA split over trn2's 16 queues): 100 iterations
    // fit 3,200; 101 do not.
    let (o, _) = run("100", Some("3200"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let (o, _) = run("101", Some("3200"));
    assert!(
        text(&o.stderr).contains("more than 3200 trace instructions"),
        "{}",
        text(&o.stderr)
    );
}
