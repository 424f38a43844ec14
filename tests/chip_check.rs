//! Every resource check and rule, exercised by a bad trace: the error names the line and the limit.

use trnsim::arch::{Hardware, parse_overrides};
use trnsim::chip::{self, RunOptions};
use trnsim::isa::parse::parse;

const HEADER: &str = "trnsim-trace 1
kernel bad
buffer h   hbm  bf16        [256, 1024] zeros
buffer s   sbuf bf16        [128, 2048] zeros
buffer f   sbuf float32     [128, 1024] zeros
buffer e   sbuf float8_e4m3 [128, 1024] zeros
buffer n   sbuf float8_e4m3fn [128, 1024] zeros
buffer p   psum float32     [128, 1024] zeros
buffer col sbuf float32     [128, 4] zeros
";
/// Lines in HEADER: the first instruction of a case is on line HEADER_LINES + 1.
const HEADER_LINES: u32 = 9;

fn check(body: &str, set: &str) -> String {
    let text = format!("{HEADER}{body}\n");
    let program =
        parse(&text, "bad.trace").unwrap_or_else(|e| panic!("case does not parse: {e}\n{body}"));
    let hw = Hardware::preset("trn2")
        .unwrap()
        .with_overrides(&parse_overrides(set).unwrap())
        .unwrap();
    let err = match chip::run(&program, &hw, "bad.trace", &[], &RunOptions::default()) {
        Ok(_) => panic!("accepted:\n{body}"),
        Err(e) => e.to_string(),
    };
    // Checked in two halves on two threads (as long traces are), the error is the same.
    let threaded = RunOptions {
        pipeline: chip::Pipeline::Threaded(1),
        ..Default::default()
    };
    match chip::run(&program, &hw, "bad.trace", &[], &threaded) {
        Ok(_) => panic!("accepted on two threads:\n{body}"),
        Err(e) => assert_eq!(e.to_string(), err, "two threads disagree on:\n{body}"),
    }
    err
}

#[test]
fn the_first_bad_instruction_is_reported_when_both_halves_have_one() {
    // Four instructions, split 2 + 2 on two threads: lines 2 and 4 are both out of bounds.
    let body = "memset dst=s[0:128, 0:1] value=0
memset dst=s[0:128, 0:4096] value=0
memset dst=s[0:128, 0:1] value=0
memset dst=s[0:128, 0:9999] value=0";
    expect(body, "", 2, &["s"]);
}

fn expect(body: &str, set: &str, line_offset: u32, needles: &[&str]) {
    let err = check(body, set);
    let prefix = format!("bad.trace:{}: ", HEADER_LINES + line_offset);
    assert!(
        err.starts_with(&prefix),
        "expected prefix {prefix:?}: {err}"
    );
    for n in needles {
        assert!(err.contains(n), "expected {n:?} in: {err}");
    }
}

#[test]
fn sbuf_capacity_counts_live_buffers() {
    // Four 64 KiB-per-partition buffers live at once exceed trn2's 224 KiB per partition.
    let body = "buffer b0 sbuf float32 [128, 16384] zeros
buffer b1 sbuf float32 [128, 16384] zeros
buffer b2 sbuf float32 [128, 16384] zeros
buffer b3 sbuf float32 [128, 16384] zeros
memset dst=b0[0:128, 0:1] value=0
memset dst=b1[0:128, 0:1] value=0
memset dst=b2[0:128, 0:1] value=0
memset dst=b3[0:128, 0:1] value=0
tensor_tensor op=add dst=b0[0:128, 0:1] a=b1[0:128, 0:1] b=b2[0:128, 0:1]
tensor_copy dst=b3[0:128, 0:1] src=b0[0:128, 0:1]";
    expect(
        body,
        "",
        8,
        &[
            "SBUF needs 262144 bytes per partition",
            "limit is 229376 (sbuf.bytes_per_partition)",
        ],
    );
    // The same buffers used one after another fit: each dies before the next is born.
    let seq = "buffer b0 sbuf float32 [128, 16384] zeros
buffer b1 sbuf float32 [128, 16384] zeros
buffer b2 sbuf float32 [128, 16384] zeros
buffer b3 sbuf float32 [128, 16384] zeros
memset dst=b0[0:128, 0:1] value=0
memset dst=b1[0:128, 0:1] value=0
memset dst=b2[0:128, 0:1] value=0
memset dst=b3[0:128, 0:1] value=0";
    let program = parse(&format!("{HEADER}{seq}\n"), "ok.trace").unwrap();
    chip::run(
        &program,
        &Hardware::preset("trn2").unwrap(),
        "ok.trace",
        &[],
        &RunOptions::default(),
    )
    .unwrap();
}

#[test]
fn psum_banks_are_limited() {
    let mut body = String::new();
    for i in 0..9 {
        body.push_str(&format!("buffer q{i} psum float32 [128, 512] zeros\n"));
    }
    for i in 0..9 {
        body.push_str(&format!("memset dst=q{i}[0:128, 0:1] value=0\n"));
    }
    for i in 0..9 {
        body.push_str(&format!(
            "tensor_copy dst=f[0:128, 0:1] src=q{i}[0:128, 0:1]\n"
        ));
    }
    expect(
        body.trim_end(),
        "",
        18,
        &["PSUM needs 9 banks", "limit is 8 (psum.banks)"],
    );
}

/// The start rules are the compute engines' ports; a DMA may write any partition range.
#[test]
fn dma_may_start_at_any_partition() {
    let text = format!(
        "{}dma_copy dst=s[16:40, 0:8] src=x[0:24, 0:8] queue=0.0\n",
        HEADER_FOR_DMA
    );
    let p = parse(&text, "dma.trace").unwrap();
    chip::check::check(&p, &Hardware::preset("trn2").unwrap(), "dma.trace").unwrap();
}

const HEADER_FOR_DMA: &str = "trnsim-trace 1\nkernel k\nbuffer x hbm bf16 [128, 8] zeros\nbuffer s sbuf bf16 [128, 8] zeros\n";

#[test]
fn partition_start_rules() {
    expect(
        "memset dst=s[32:128, 0:8] value=0",
        "",
        1,
        &[
            "starts at partition 32 with 96 partitions",
            "must start at 0",
        ],
    );
    expect(
        "memset dst=s[32:96, 0:8] value=0",
        "",
        1,
        &["33-64 at 0 or 64"],
    );
    expect(
        "memset dst=s[16:32, 0:8] value=0",
        "",
        1,
        &["up to 32 at 0/32/64/96"],
    );
}

#[test]
fn tiles_stay_inside_their_buffers() {
    expect(
        "memset dst=s[0:128, 2040:2056] value=0",
        "",
        1,
        &["reaches element 2056", "2048 per partition"],
    );
    expect(
        "dma_copy dst=s[0:128, 0:1024] src=h[200:328, 0:1024] queue=0.0",
        "",
        1,
        &["tile of 'h' reaches element 335872 but the buffer has 262144 elements"],
    );
    expect(
        "memset dst=col[0:128, 0:1] value=0\nmemset dst=s[0:128, 0:8] value=0\nmemset dst=p[64:192, 0:8] value=0",
        "",
        3,
        &["covers partitions 64..192 but the buffer has 128"],
    );
    expect(
        "dma_copy dst=s[0:1, 0:2048] src=h[255:256, 0:2048]",
        "",
        1,
        &["reaches element 263168", "262144 elements"],
    );
}

#[test]
fn matmul_rules() {
    expect(
        "matmul dst=p[0:128, 0:512] stationary=f[0:128, 0:128] moving=s[0:128, 0:512]",
        "",
        1,
        &["mixes float32 and bfloat16"],
    );
    expect(
        "matmul dst=p[0:128, 0:512] stationary=e[0:128, 0:128] moving=n[0:128, 0:512]",
        "",
        1,
        &["float8_e4m3 and float8_e4m3fn"],
    );
    expect(
        "matmul dst=p[0:64, 0:512] stationary=s[0:64, 0:64] moving=s[0:128, 0:512]",
        "",
        1,
        &["stationary has 64, moving has 128"],
    );
    expect(
        "matmul dst=p[0:128, 0:512] stationary=s[0:128, 0:128] moving=s[0:128, 0:512]",
        "pe.contraction_max=64",
        1,
        &["K = 128 partitions exceeds 64 (pe.contraction_max)"],
    );
    expect(
        "matmul dst=p[0:128, 0:1024] stationary=s[0:128, 0:128] moving=s[0:128, 0:1024]",
        "",
        1,
        &["moving free size 1024 exceeds 512 (pe.moving_free_max)"],
    );
    expect(
        "matmul dst=p[0:128, 0:256] stationary=s[0:128, 0:128] moving=s[0:128, 0:512]",
        "",
        1,
        &["needs stationary [128, 128] and moving [128, 256]"],
    );
    expect(
        "matmul dst=p[0:128, 256:768] stationary=s[0:128, 0:128] moving=s[0:128, 0:512]",
        "",
        1,
        &["spans two PSUM banks", "512 float32"],
    );
    expect(
        "matmul dst=s[0:128, 0:512] stationary=s[0:128, 0:128] moving=s[0:128, 0:512]",
        "",
        1,
        &["destination 's' is in sbuf; expected psum"],
    );
    expect(
        "matmul dst=p[0:128, 0:512] stationary=p[0:128, 0:128] moving=s[0:128, 0:512]",
        "",
        1,
        &["stationary 'p' is in psum; expected sbuf"],
    );
    expect(
        "matmul dst=p[0:128, 0:512] stationary=s[0:128, 0:128] moving=s[0:128, 0:512]",
        "pe.stationary_free_max=64",
        1,
        &["stationary free size 128 exceeds 64"],
    );
}

#[test]
fn transpose_and_engine_shape_rules() {
    expect(
        "transpose dst=p[0:128, 0:64] src=s[0:128, 0:64]",
        "",
        1,
        &["transpose of [128, 64] needs a [64, 128] destination"],
    );
    expect(
        "activation func=exp dst=f[0:128, 0:64] src=f[0:128, 0:32]",
        "",
        1,
        &["activation: 'f' is [128, 64] but 'f' is [128, 32]"],
    );
    expect(
        "activation func=exp dst=f[0:128, 0:64] src=f[0:128, 0:64] scale=col[0:128, 0:2]",
        "",
        1,
        &["per-partition scalar 'col' must be [128, 1]"],
    );
    expect(
        "activation func=exp dst=f[0:128, 0:64] src=f[0:128, 0:64] reduce=sum reduce_dst=col[0:128, 0:2]",
        "",
        1,
        &["reduce destination must be [128, 1]"],
    );
    expect(
        "tensor_reduce op=max dst=col[0:128, 0:2] src=f[0:128, 0:64]",
        "",
        1,
        &["tensor_reduce destination must be [128, 1]"],
    );
    expect(
        "bn_stats dst=col[0:128, 0:2] src=f[0:128, 0:64]",
        "",
        1,
        &["bn_stats destination must be [128, 3]"],
    );
    expect(
        "bn_aggr dst=col[0:128, 0:2] src=f[0:128, 0:4]",
        "",
        1,
        &["not a multiple of 3"],
    );
    expect(
        "tensor_tensor op=add dst=f[0:128, 0:8] a=f[0:128, 0:8] b=h[0:128, 0:8]",
        "",
        1,
        &["operand 'h' is in hbm; expected sbuf or psum"],
    );
}

#[test]
fn dma_rules() {
    expect(
        "dma_copy dst=s[0:128, 0:512] src=h[0:128, 0:512] queue=16.0",
        "",
        1,
        &["dma queue 16.0 does not exist", "16 engines (dma.engines)"],
    );
    expect(
        "dma_copy dst=s[0:128, 0:512] src=h[0:128, 0:512] queue=2.0",
        "dma.engines=2",
        1,
        &["dma queue 2.0 does not exist"],
    );
    expect(
        "dma_copy dst=p[0:128, 0:512] src=h[0:128, 0:512]",
        "",
        1,
        &["destination 'p' is in psum; expected hbm or sbuf"],
    );
    expect(
        "dma_copy dst=s[0:128, 0:256] src=h[0:128, 0:512]",
        "",
        1,
        &["moves 65536 elements from 'h' into 32768"],
    );
}

#[test]
fn buffers_must_fit_the_hardware() {
    let err = check(
        "memset dst=s[0:64, 0:1] value=0",
        "sbuf.partitions=64,pe.contraction_max=64",
    );
    assert!(
        err.starts_with(
            "bad.trace:4: buffer 's' has 128 partitions; the limit is 64 (sbuf.partitions)"
        ),
        "{err}"
    );
    let err = check("memset dst=s[0:64, 0:1] value=0", "chip.hbm_bytes=1000");
    assert!(
        err.starts_with("bad.trace:3: buffer 'h' needs 524288 bytes of HBM; the chip has 1000"),
        "{err}"
    );
}
