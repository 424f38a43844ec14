//! Bounded resources in the chip layer (issue 18), each reproducer run through the real binary:
//! refused with exit 2 and a message naming the file or parameters, the value and the limit, or
//! (valid large inputs) run in bounded time and memory.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Run the binary; the output, the wall time and the largest resident set (KiB) of any child
/// this test process has waited for so far (so every run here is held to the bound).
fn run(args: &[&str]) -> (Output, Duration, i64) {
    let start = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("binary runs");
    let elapsed = start.elapsed();
    // SAFETY: getrusage only writes the struct it is given.
    let rss_kib = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut u);
        u.ru_maxrss
    };
    (o, elapsed, rss_kib)
}

/// Run, and require a quick, small run with the exit code `code`; stderr.
fn bounded(args: &[&str], code: i32, seconds: f64) -> String {
    let (o, t, rss_kib) = run(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    assert!(t.as_secs_f64() < seconds, "{args:?} took {t:?}");
    assert!(rss_kib < 200 << 10, "{args:?}: peak RSS {rss_kib} KiB");
    err
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

/// A 144-byte `.npy` whose header declares 2^40 float32 elements.
fn lying_npy(dir: &Path) -> String {
    let mut header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }".to_string();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.resize(144, 0);
    let p = dir.join("big.npy");
    std::fs::write(&p, bytes).unwrap();
    p.to_str().unwrap().to_string()
}

const INPUT_TRACE: &str = "trnsim-trace 1\nkernel inp\n\
    buffer x hbm fp32 [128, 512] input\nbuffer s sbuf fp32 [128, 512] zeros\n\
    dma_copy dst=s[0:128, 0:512] src=x[0:128, 0:512] queue=0.0\n";

#[test]
fn npy_shape_is_checked_against_the_file_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write(dir.path(), "in.trace", INPUT_TRACE);
    let npy = lying_npy(dir.path());
    let input = format!("x={npy}");
    let err = bounded(&["run", &trace, "--input", &input], 2, 2.0);
    assert!(
        err.contains("big.npy")
            && err.contains("[1099511627776]")
            && err.contains("holds 16 bytes"),
        "{err}"
    );
}

#[test]
fn text_inputs_are_read_within_a_limit() {
    let err = bounded(&["run", "/dev/zero"], 2, 2.0);
    assert!(
        err.contains("/dev/zero") && err.contains("not a text file"),
        "{err}"
    );
    // A (sparse) file over the limit is refused before it is read.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.trace");
    std::fs::File::create(&p)
        .unwrap()
        .set_len(300 << 20)
        .unwrap();
    let err = bounded(&["run", p.to_str().unwrap()], 2, 2.0);
    assert!(
        err.contains("big.trace") && err.contains("314572800 bytes") && err.contains("256 MiB"),
        "{err}"
    );
    let bad = write(dir.path(), "bad.trace", "trnsim-trace 1\nkernel \u{e9}\n");
    let mut bytes = std::fs::read(&bad).unwrap();
    bytes[23] = 0xff;
    std::fs::write(&bad, bytes).unwrap();
    let err = bounded(&["run", &bad], 2, 2.0);
    assert!(
        err.contains("bad.trace:2:8: (encoding): invalid UTF-8"),
        "{err}"
    );
}

/// A 32 GiB bf16 HBM buffer of which the kernel touches two tiles runs in little memory, and
/// the values it wrote and read back are right.
#[test]
fn huge_hbm_buffers_cost_what_the_kernel_touches() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write(
        dir.path(),
        "huge.trace",
        "trnsim-trace 1\nkernel huge\nbuffer x hbm bf16 [131072, 131072] zeros\n\
         buffer y hbm bf16 [128, 512] zeros\nbuffer b sbuf bf16 [128, 512] zeros\n\
         memset dst=b[0:128, 0:512] value=1.5\n\
         dma_copy dst=x[4000:4128, 90000:90512] src=b[0:128, 0:512] queue=0.0\n\
         dma_copy dst=b[0:128, 0:512] src=x[4000:4128, 90000:90512] queue=1.0\n\
         dma_copy dst=y[0:128, 0:512] src=b[0:128, 0:512] queue=2.0\n",
    );
    let out = dir.path().join("y.npy");
    let output = format!("y={}", out.display());
    bounded(&["run", &trace, "--output", &output], 0, 2.0);
    let bytes = std::fs::read(&out).unwrap();
    // float32 1.5 everywhere.
    let data = &bytes[bytes.len() - 128 * 512 * 4..];
    assert!(data.chunks(4).all(|c| c == 1.5f32.to_le_bytes()));
    // Three 40 GiB buffers do not fit trn2's 96 GiB together: the third's line is named.
    let over = write(
        dir.path(),
        "over.trace",
        "trnsim-trace 1\nkernel over\nbuffer a hbm fp32 [102400, 102400] zeros\n\
         buffer b hbm fp32 [102400, 102400] zeros\nbuffer c hbm fp32 [102400, 102400] zeros\n\
         buffer s sbuf fp32 [128, 512] zeros\nmemset dst=s[0:128, 0:512] value=1\n",
    );
    let err = bounded(&["run", &over], 2, 2.0);
    assert!(
        err.contains("over.trace:5:") && err.contains("chip.hbm_bytes") && err.contains("'c'"),
        "{err}"
    );
}

/// `--output` of a large buffer is written a page at a time: a 1 GiB float32 output (512 MiB
/// declared bf16, one tile written) stays far below the 2 GiB a whole copy took, and the file
/// holds the tile where it belongs and zeros elsewhere.
#[test]
fn large_outputs_are_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write(
        dir.path(),
        "big.trace",
        "trnsim-trace 1\nkernel big\nbuffer x hbm bf16 [16384, 16384] zeros\n\
         buffer b sbuf bf16 [128, 512] zeros\n\
         memset dst=b[0:128, 0:512] value=-2.25\n\
         dma_copy dst=x[9000:9128, 3000:3512] src=b[0:128, 0:512] queue=0.0\n",
    );
    let out = dir.path().join("x.npy");
    let output = format!("x={}", out.display());
    bounded(&["run", &trace, "--output", &output], 0, 20.0);
    let mut f = std::fs::File::open(&out).unwrap();
    let len = f.metadata().unwrap().len();
    let header = len - 16384 * 16384 * 4;
    assert_eq!(header % 64, 0, "{len}");
    use std::io::{Read, Seek, SeekFrom};
    let mut row = vec![0u8; 16384 * 4];
    for (r, tile) in [(8999u64, false), (9000, true), (9127, true), (9128, false)] {
        f.seek(SeekFrom::Start(header + r * 16384 * 4)).unwrap();
        f.read_exact(&mut row).unwrap();
        let v: Vec<f32> = row
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let want = |c: usize| {
            if tile && (3000..3512).contains(&c) {
                -2.25
            } else {
                0.0
            }
        };
        assert!(v.iter().enumerate().all(|(c, &x)| x == want(c)), "row {r}");
    }
}

/// The timeline of 50,000 instructions is streamed: the run stays far below the 250 MB a
/// document tree of it took.
#[test]
fn timelines_are_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "trnsim-trace 1\nkernel many\nbuffer x hbm bf16 [128, 4096] zeros\n\
         buffer a sbuf bf16 [128, 512] zeros\nbuffer b sbuf bf16 [128, 512] zeros\n",
    );
    for i in 0..12_500 {
        let c = (i % 8) * 512;
        text.push_str(&format!(
            "dma_copy dst=a[0:128, 0:512] src=x[0:128, {c}:{}] queue={}.0\n\
             activation func=gelu dst=b[0:128, 0:512] src=a[0:128, 0:512]\n\
             activation func=exp dst=a[0:128, 0:512] src=b[0:128, 0:512]\n\
             dma_copy dst=x[0:128, {c}:{}] src=a[0:128, 0:512] queue={}.0\n",
            c + 512,
            i % 4,
            c + 512,
            4 + i % 4
        ));
    }
    let trace = write(dir.path(), "many.trace", &text);
    let tl = dir.path().join("tl.json");
    bounded(
        &[
            "run",
            &trace,
            "--no-data",
            "--timeline",
            tl.to_str().unwrap(),
        ],
        0,
        5.0,
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&tl).unwrap()).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    assert_eq!(events.iter().filter(|e| e["ph"] == "X").count(), 50_000);
}

#[test]
fn kernel_work_is_limited_before_lowering() {
    let max = "batch=4096,m=65536,k=65536,n=65536";
    for cmd in ["run", "lower"] {
        let err = bounded(&["kernel", cmd, "bmm", "--param", max], 2, 2.0);
        assert!(
            err.contains(max) && err.contains("1048576") && err.contains("--max-instructions"),
            "{err}"
        );
    }
    // Within the instruction limit, values can still be too much arithmetic.
    let big = "batch=64,m=2048,k=2048,n=2048";
    let err = bounded(&["kernel", "run", "bmm", "--param", big], 2, 2.0);
    assert!(
        err.contains("--max-value-ops") && err.contains("--no-data"),
        "{err}"
    );
    let err = bounded(
        &[
            "kernel",
            "run",
            "attention",
            "--param",
            "batch=4096,seq_q=131072,seq_kv=131072",
        ],
        2,
        2.0,
    );
    assert!(err.contains("--max-instructions"), "{err}");
    // The flag raises the limit: a small kernel under a tiny limit is refused, then allowed.
    let small = [
        "kernel",
        "run",
        "matmul",
        "--no-data",
        "--param",
        "m=256,k=256,n=512",
    ];
    let err = bounded(&[&small[..], &["--max-instructions", "2"]].concat(), 2, 2.0);
    assert!(err.contains("the limit is 2"), "{err}");
    bounded(&small, 0, 2.0);
}
