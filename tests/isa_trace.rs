//! The kernel-trace text format: the shipped examples parse, printing and parsing round-trip
//! bit-exactly (examples and random programs), every error names the right place and says what
//! was expected, and no input makes the parser panic.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use trnsim::isa::parse::parse;
use trnsim::isa::print::print;
use trnsim::isa::{
    AccessPattern, ActFunc, Activation, AluOp, Buffer, BufferId, CmpOp, DmaQueue, Engine,
    Exponential, Init, Instr, Memory, MxMatmul, Op, PartitionStep, PeTile, Program, ReduceOp,
    Scalar, TensorScalar, TensorTensorScan, Tile, TiledMatmul,
};
use trnsim::numerics::DType;
use trnsim::numerics::mx::MxFormat;

// ---------------------------------------------------------------------------------------------
// Helpers

/// The shipped example traces.
fn shipped() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("traces/ exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "trace"))
        .collect();
    v.sort();
    v
}

/// The program with every source line zeroed (printing loses them).
fn without_lines(mut p: Program) -> Program {
    p.buffers.iter_mut().for_each(|b| b.line = 0);
    p.instrs.iter_mut().for_each(|i| i.line = 0);
    p
}

/// Print, parse back, and check the program and the text are unchanged. Compared through
/// `Debug`, which prints every non-NaN float in a form that round-trips exactly (so -0.0 and 0.0
/// differ) and every NaN as `NaN`: bit-exact up to NaN payloads.
fn assert_round_trip(p: &Program) -> std::result::Result<(), TestCaseError> {
    let text = print(p);
    let back = match parse(&text, "printed.trace") {
        Ok(q) => without_lines(q),
        Err(e) => return Err(TestCaseError::fail(format!("{e}\n--- text ---\n{text}"))),
    };
    let want = without_lines(p.clone());
    prop_assert_eq!(format!("{back:?}"), format!("{want:?}"), "text:\n{}", text);
    if !text.contains("NaN") {
        prop_assert_eq!(&back, &want);
    }
    prop_assert_eq!(print(&back), text);
    Ok(())
}

/// The error text for a trace that must not parse.
fn err(text: &str) -> String {
    match parse(text, "t.trace") {
        Ok(p) => panic!("parsed, but should not have: {p:?}"),
        Err(e) => e.to_string(),
    }
}

/// Assert an error's `file:line:column:` prefix and that its message contains `needle`.
fn assert_err(text: &str, prefix: &str, needle: &str) {
    let e = err(text);
    assert!(
        e.starts_with(prefix),
        "expected prefix {prefix:?}, got {e:?}"
    );
    assert!(e.contains(needle), "expected {needle:?} in {e:?}");
}

/// A valid preamble: header, kernel, an SBUF buffer `a` and an HBM buffer `h` (lines 1 to 4);
/// test lines go on line 5.
const HEAD: &str = "trnsim-trace 1\nkernel k\nbuffer a sbuf bf16 [128, 512] zeros\n\
                    buffer h hbm bf16 [128, 512] input\n";

fn with_head(line: &str) -> String {
    format!("{HEAD}{line}\n")
}

// ---------------------------------------------------------------------------------------------
// The shipped traces

#[test]
fn shipped_traces_parse_and_round_trip() {
    let files = shipped();
    let names: Vec<_> = files
        .iter()
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_string))
        .collect();
    for want in [
        "gelu",
        "layernorm",
        "matmul_k_accumulate",
        "matmul_tile",
        "scan_and_select",
        "softmax_rows",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "traces/{want}.trace missing"
        );
    }
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable trace");
        let p = parse(&text, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"));
        assert!(!p.instrs.is_empty(), "{}: no instructions", path.display());
        assert_round_trip(&p).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let printed = print(&p);
        assert_eq!(print(&parse(&printed, "x").expect("reparse")), printed);
    }
}

#[test]
fn shipped_traces_respect_the_resource_rules() {
    for path in shipped() {
        let text = std::fs::read_to_string(&path).expect("readable trace");
        let p = parse(&text, "x").expect("parses");
        let sbuf: usize = p
            .buffers
            .iter()
            .filter(|b| b.memory == Memory::Sbuf)
            .map(Buffer::row_bytes)
            .sum();
        assert!(sbuf < 192 * 1024, "{}: SBUF {sbuf} B", path.display());
        let psum: Vec<_> = p
            .buffers
            .iter()
            .filter(|b| b.memory == Memory::Psum)
            .collect();
        assert!(psum.len() <= 8, "{}", path.display());
        assert!(psum.iter().all(|b| b.row_bytes() <= 2048));
        for i in &p.instrs {
            for t in i.op.reads().into_iter().chain(i.op.writes()) {
                let b = p.buffer(t.buffer);
                assert!(
                    t.partition_count <= 64 || t.partition_start == 0,
                    "{}:{}: tile over {} partitions starts at {}",
                    path.display(),
                    i.line,
                    t.partition_count,
                    t.partition_start
                );
                if b.memory != Memory::Hbm {
                    assert!(t.p_end() <= b.partitions());
                    assert!(t.ap.end() <= b.row_elems(), "{}:{}", path.display(), i.line);
                } else {
                    let step = t.partition_step.or_row(b.row_elems());
                    let last = (t.p_end() - 1) * step + t.ap.end();
                    assert!(last <= b.elems(), "{}:{}", path.display(), i.line);
                }
            }
            if let Op::Matmul {
                dst,
                stationary,
                moving,
                ..
            } = &i.op
            {
                assert_eq!(stationary.partition_count, moving.partition_count);
                assert!(stationary.partition_count <= 128);
                assert_eq!(dst.np(), stationary.free_size());
                assert_eq!(dst.free_size(), moving.free_size());
                assert!(moving.free_size() <= 512);
            }
        }
    }
}

#[test]
fn matmul_tile_reads_as_documented() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/matmul_tile.trace");
    let p = parse(&std::fs::read_to_string(path).expect("trace"), "m").expect("parses");
    assert_eq!(p.name, "matmul_tile");
    let ops: Vec<_> = p.instrs.iter().map(|i| i.op.opcode()).collect();
    assert_eq!(
        ops,
        ["dma_copy", "dma_copy", "matmul", "tensor_copy", "dma_copy"]
    );
    let ps = p.buffer_id("c_ps").expect("c_ps");
    assert_eq!(p.buffer(ps).dtype, DType::Float32);
    assert_eq!(p.buffer(ps).memory, Memory::Psum);
    let Op::DmaCopy { queue: q0, .. } = &p.instrs[0].op else {
        panic!("first is a dma_copy")
    };
    let Op::DmaCopy { queue: q1, .. } = &p.instrs[1].op else {
        panic!("second is a dma_copy")
    };
    assert_ne!(q0, q1, "the two loads use different queues");
}

#[test]
fn readme_examples_parse_and_match_the_printer() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/README.md");
    let readme = std::fs::read_to_string(path).expect("README");
    let blocks: Vec<&str> = readme
        .split("```text\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .filter(|b| b.starts_with("trnsim-trace"))
        .collect();
    assert_eq!(blocks.len(), 2, "the at-a-glance and the annotated example");
    for b in &blocks {
        parse(b, "README.md").unwrap_or_else(|e| panic!("{e}"));
    }
    let annotated = parse(blocks[1], "README.md").expect("parses");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("traces/softmax_rows.trace");
    let shipped = parse(&std::fs::read_to_string(shipped).expect("trace"), "s").expect("parses");
    assert_eq!(without_lines(annotated), without_lines(shipped.clone()));
    let exp_line = "activation func=exp dst=xs[0:128, 0:512] src=xs[0:128, 0:512] scale=1 bias=0 \
                    reduce=sum reduce_dst=sm[0:128, 0:1]\n";
    assert!(print(&shipped).contains(exp_line));
    assert!(readme.contains(exp_line));
}

// ---------------------------------------------------------------------------------------------
// Parsing details

#[test]
fn parses_every_form_and_default() {
    let text = "  # leading comment\n\
        \n\
        trnsim-trace 1   # header\n\
        kernel my_kernel.v2\n\
        buffer x hbm fp8_e4m3 [256, 4, 8] normal(seed=3)\n\
        buffer s sbuf BF16 [ 128 ,\t64 ] uniform( high = 2 , low=-2 )\n\
        buffer p psum float32 [128, 512] normal\n\
        buffer c sbuf float32 [128, 1] input\n\
        dma_copy dst=s[0:128, 0:64] src=x[0:128:1, @ 3 [ 32 , 64 ] ]\n\
        activation func=exp dst=s[0:128, 0:64] src=s[ 0 : 128 , 0 : 64 ] scale=c[0:128, 0:1] \
        bias=-inf reduce=max reduce_dst=c[0:128, 0:1]\n\
        tensor_scalar src=s[0:64, 0:64] dst=s[64:128, @0[2,32][1,2]] op0=mul scalar0=NaN\n\
        memset dst=s[0:1, 0:1]\n\
        iota dst=s[0:128, 0:64] step=-1\n\
        affine_select fill=-0 cmp=ge dst=s[0:128, 0:64] src=s[0:128, 0:64] base=-9223372036854775808\r\n";
    let p = parse(text, "f").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.name, "my_kernel.v2");
    assert_eq!(p.buffers.len(), 4);
    assert_eq!(p.buffers[0].line, 5);
    assert_eq!(p.buffers[0].dtype, DType::Float8E4M3);
    assert_eq!(p.buffers[0].shape, vec![256, 4, 8]);
    assert_eq!(
        p.buffers[0].init,
        Init::Normal {
            mean: 0.0,
            std: 1.0,
            seed: 3
        }
    );
    assert_eq!(
        p.buffers[1].init,
        Init::Uniform {
            low: -2.0,
            high: 2.0,
            seed: 0
        }
    );
    assert_eq!(
        p.buffers[2].init,
        Init::Normal {
            mean: 0.0,
            std: 1.0,
            seed: 0
        }
    );
    assert_eq!(p.buffers[3].init, Init::Input);
    assert_eq!(p.instrs[0].line, 9);
    let Op::DmaCopy { src, queue, .. } = &p.instrs[0].op else {
        panic!("dma_copy")
    };
    assert_eq!(
        *queue,
        DmaQueue {
            engine: 0,
            queue: 0
        }
    );
    assert_eq!(src.partition_step.get(), Some(1));
    assert_eq!(
        src.ap,
        AccessPattern {
            offset: 3,
            dims: [(32, 64)].into_iter().collect()
        }
    );
    let Op::Activation(act) = &p.instrs[1].op else {
        panic!("activation")
    };
    let Activation {
        scale,
        bias,
        reduce,
        ..
    } = &**act;
    assert!(matches!(scale, Scalar::PerPartition(t) if t.buffer == BufferId(3)));
    assert_eq!(*bias, Scalar::Imm(f32::NEG_INFINITY));
    assert!(matches!(reduce, Some((ReduceOp::Max, _))));
    let Op::TensorScalar(ts) = &p.instrs[2].op else {
        panic!("tensor_scalar")
    };
    let TensorScalar {
        engine,
        dst,
        op0,
        op1,
        ..
    } = &**ts;
    assert_eq!(*engine, Engine::Vector);
    assert_eq!((dst.partition_start, dst.partition_count), (64, 64));
    assert_eq!(dst.ap.dims[..], [(2, 32), (1, 2)]);
    assert!(matches!(op0, (AluOp::Mul, Scalar::Imm(v)) if v.is_nan()));
    assert!(op1.is_none());
    assert!(matches!(
        p.instrs[3].op,
        Op::Memset {
            engine: Engine::Vector,
            value: 0.0,
            ..
        }
    ));
    assert!(matches!(
        p.instrs[4].op,
        Op::Iota {
            base: 0,
            channel_multiplier: 0,
            step: -1,
            ..
        }
    ));
    let Op::AffineSelect {
        fill,
        base,
        step,
        cmp,
        ..
    } = &p.instrs[5].op
    else {
        panic!("affine_select")
    };
    assert_eq!(fill.to_bits(), (-0.0f32).to_bits());
    assert_eq!((*base, *step, *cmp), (i64::MIN, 1, CmpOp::Ge));
}

#[test]
fn printer_form_is_canonical() {
    let text = "trnsim-trace 1\nkernel k\nbuffer a sbuf bf16 [128, 512] zeros\n\
                activation func=gelu dst=a[0:128, 0:512] src=a[0:128, @0[1,512]] bias=1e-5\n";
    let p = parse(text, "f").expect("parses");
    assert_eq!(
        print(&p),
        "trnsim-trace 1\nkernel k\nbuffer a sbuf bfloat16 [128, 512] zeros\n\
         activation func=gelu dst=a[0:128, 0:512] src=a[0:128, 0:512] scale=1 bias=0.00001\n"
    );
}

#[test]
fn byte_order_mark_and_crlf_are_accepted() {
    let p = parse("\u{feff}trnsim-trace 1\r\nkernel k\r\n", "f").expect("parses");
    assert_eq!(p.name, "k");
}

#[test]
fn empty_body_is_a_valid_program() {
    let p = parse("trnsim-trace 1\nkernel empty\n", "f").expect("parses");
    assert_eq!(p.name, "empty");
    assert!(p.buffers.is_empty() && p.instrs.is_empty());
}

// ---------------------------------------------------------------------------------------------
// One test per error kind

#[test]
fn error_missing_header() {
    assert_err(
        "# just a comment\nkernel k\n",
        "t.trace:2:1: ",
        "missing header: expected 'trnsim-trace 1' or 'trnsim-trace 3' as the first line, found \
         'kernel'",
    );
    assert_err(
        "",
        "t.trace:1:1: ",
        "expected the header 'trnsim-trace 1' or 'trnsim-trace 2', found end of file",
    );
}

#[test]
fn error_missing_kernel_line() {
    assert_err(
        "trnsim-trace 1\nbuffer a hbm bf16 [1] zeros\n",
        "t.trace:2:1: ",
        "expected 'kernel NAME' after the header, found 'buffer'",
    );
    assert_err(
        "trnsim-trace 1\n",
        "t.trace:2:1: ",
        "expected 'kernel NAME' after the header, found end of file",
    );
}

#[test]
fn error_wrong_version() {
    assert_err(
        "trnsim-trace 4\nkernel k\n",
        "t.trace:1:14: ",
        "unsupported trace version 4; this build reads versions 1 to 3",
    );
}

#[test]
fn error_unknown_opcode() {
    assert_err(
        &with_head("matmull dst=a[0:128, 0:512]"),
        "t.trace:5:1: ",
        "unknown opcode 'matmull'; expected one of: dma_copy, matmul, transpose, activation, \
         tensor_tensor, tensor_scalar, tensor_reduce, tensor_copy, memset, iota, affine_select, \
         bn_stats, bn_aggr",
    );
}

#[test]
fn error_unknown_key() {
    assert_err(
        &with_head("matmul dts=a[0:128, 0:512]"),
        "t.trace:5:8: ",
        "unknown key 'dts' for matmul; expected one of: dst, stationary, moving, accumulate",
    );
}

#[test]
fn error_duplicate_key() {
    assert_err(
        &with_head("transpose dst=a[0:1, 0:1] src=a[0:1, 0:1] dst=a[0:1, 0:1]"),
        "t.trace:5:43: ",
        "duplicate key 'dst' for transpose",
    );
}

#[test]
fn error_missing_required_key() {
    assert_err(
        &with_head("  matmul dst=a[0:128, 0:512] moving=a[0:128, 0:512]"),
        "t.trace:5:3: ",
        "missing required key 'stationary' for matmul",
    );
    assert_err(
        &with_head("affine_select dst=a[0:1, 0:1] src=a[0:1, 0:1] cmp=lt"),
        "t.trace:5:1: ",
        "missing required key 'fill' for affine_select",
    );
}

#[test]
fn error_paired_keys_need_each_other() {
    assert_err(
        &with_head("activation func=exp dst=a[0:1, 0:4] src=a[0:1, 0:4] reduce=sum"),
        "t.trace:5:53: ",
        "key 'reduce' needs 'reduce_dst' too: give both or neither",
    );
    assert_err(
        &with_head("tensor_scalar dst=a[0:1, 0:4] src=a[0:1, 0:4] op0=add scalar0=1 scalar1=2"),
        "t.trace:5:65: ",
        "key 'scalar1' needs 'op1' too",
    );
}

#[test]
fn error_missing_equals() {
    assert_err(
        &with_head("transpose dst,a[0:1, 0:1]"),
        "t.trace:5:14: ",
        "expected '=' after key 'dst', found ','",
    );
}

#[test]
fn error_unknown_buffer() {
    assert_err(
        &with_head("transpose dst=a[0:1, 0:1] src=x[0:1, 0:1]"),
        "t.trace:5:31: ",
        "unknown buffer 'x' (buffers are declared with 'buffer' lines before use)",
    );
}

#[test]
fn error_buffer_used_before_declared() {
    let text = with_head(
        "transpose dst=a[0:1, 0:1] src=late[0:1, 0:1]\n\n# x\nbuffer late sbuf bf16 [1, 1] zeros",
    );
    assert_err(
        &text,
        "t.trace:5:31: ",
        "buffer 'late' is used before its declaration on line 8",
    );
}

#[test]
fn error_duplicate_buffer_name() {
    assert_err(
        &with_head("buffer a hbm bf16 [4] zeros"),
        "t.trace:5:8: ",
        "duplicate buffer name 'a' (first declared on line 3)",
    );
}

#[test]
fn error_bad_dtype() {
    let e = err(&with_head("buffer z hbm bfloat17 [4] zeros"));
    assert!(e.starts_with("t.trace:5:14: unknown dtype 'bfloat17'; expected one of: "));
    assert!(e.contains(&trnsim::numerics::valid_names()), "{e}");
}

#[test]
fn error_bad_memory() {
    assert_err(
        &with_head("buffer z dram bf16 [4] zeros"),
        "t.trace:5:10: ",
        "unknown memory 'dram'; expected one of: hbm, sbuf, psum",
    );
}

#[test]
fn error_bad_init() {
    assert_err(
        &with_head("buffer z hbm bf16 [4] ones"),
        "t.trace:5:23: ",
        "unknown init 'ones'; expected one of: zeros, input, normal(",
    );
    assert_err(
        &with_head("buffer z hbm bf16 [4] normal(mean=0, sd=1)"),
        "t.trace:5:38: ",
        "unknown key 'sd' for normal; expected one of: mean, std, seed",
    );
    assert_err(
        &with_head("buffer z hbm bf16 [4] uniform(low=0, low=1)"),
        "t.trace:5:38: ",
        "duplicate key 'low' for uniform",
    );
    assert_err(
        &with_head("buffer z hbm bf16 [4] normal(seed=-1)"),
        "t.trace:5:35: ",
        "expected the seed (an unsigned integer), found '-1'",
    );
}

#[test]
fn error_bad_integer() {
    assert_err(
        &with_head("iota dst=a[0:128, 0:512] base=1.5"),
        "t.trace:5:31: ",
        "expected an integer for 'base', found '1.5'",
    );
    assert_err(
        &with_head("iota dst=a[0:128, 0:512] step=99999999999999999999"),
        "t.trace:5:31: ",
        "out of range",
    );
    assert_err(
        &with_head("transpose dst=a[x:1, 0:1] src=a[0:1, 0:1]"),
        "t.trace:5:17: ",
        "expected the first partition (an unsigned integer), found 'x'",
    );
    assert_err(
        &with_head("dma_copy dst=a[0:1, 0:1] src=h[0:1, 0:1] queue=1.70000"),
        "t.trace:5:50: ",
        "the DMA queue index 70000 is out of range",
    );
}

#[test]
fn error_bad_float() {
    assert_err(
        &with_head("memset dst=a[0:1, 0:1] value=1.0.0"),
        "t.trace:5:30: ",
        "expected a float for 'value', found '1.0.0'",
    );
    assert_err(
        &with_head("activation func=relu dst=a[0:1, 0:1] src=a[0:1, 0:1] scale=x"),
        "t.trace:5:60: ",
        "expected a float or a [P, 1] tile for 'scale', found 'x'",
    );
}

#[test]
fn error_unterminated_bracket() {
    assert_err(
        &with_head("transpose dst=a[0:1, 0:1 src=a[0:1, 0:1]"),
        "t.trace:5:16: ",
        "unterminated '[' of the tile: expected ']' before the end of the line",
    );
    assert_err(
        &with_head("buffer z hbm bf16 [4, 4 zeros"),
        "t.trace:5:19: ",
        "unterminated '[' of the shape",
    );
    assert_err(
        &with_head("buffer z hbm bf16 [4] normal(seed=1"),
        "t.trace:5:29: ",
        "unterminated '(' of normal(...)",
    );
}

#[test]
fn error_too_many_ap_dims() {
    assert_err(
        &with_head("memset dst=a[0:1, @0[1,2][1,2][1,2][1,2][1,2]]"),
        "t.trace:5:41: ",
        "too many access-pattern dimensions: at most 4 [stride,size] groups",
    );
}

#[test]
fn error_tile_coordinate_over_32_bits() {
    assert_err(
        &with_head("memset dst=a[0:4, 4294967290:4294967296]"),
        "t.trace:5:30: ",
        "the free end 4294967296 is too large: tile coordinates are at most 4294967295 (32 bits)",
    );
    assert_err(
        &with_head("memset dst=a[0:4, @0[4294967296,2]]"),
        "t.trace:5:22: ",
        "the stride 4294967296 is too large",
    );
    assert_err(
        &with_head("memset dst=a[0:4294967297, 0:1]"),
        "t.trace:5:16: ",
        "the partition end 4294967297 is too large",
    );
    assert_err(
        &with_head("dma_copy dst=a[0:1, 0:1] src=h[0:1:4294967295, 0:1]"),
        "t.trace:5:36: ",
        "the partition step 4294967295 is too large: at most 4294967294",
    );
    // The largest coordinates parse, and print back the same (an end past 2^32 - 1 prints
    // in the `@` form).
    let text = with_head("memset dst=a[0:4, @4294967295[1,2]]");
    let p = parse(&text, "t.trace").unwrap();
    assert_eq!(
        parse(&print(&p), "t.trace").unwrap().instrs[0].op,
        p.instrs[0].op
    );
}

#[test]
fn error_partition_step_on_non_hbm() {
    assert_err(
        &with_head("memset dst=a[0:4:2, 0:8]"),
        "t.trace:5:18: ",
        "a partition step is only allowed on hbm buffers; 'a' is in sbuf",
    );
}

#[test]
fn error_engine_not_allowed() {
    assert_err(
        &with_head(
            "tensor_tensor engine=scalar op=add dst=a[0:1, 0:1] a=a[0:1, 0:1] b=a[0:1, 0:1]",
        ),
        "t.trace:5:22: ",
        "tensor_tensor cannot run on the scalar engine; expected one of: vector, gpsimd",
    );
    assert_err(
        &with_head("tensor_copy engine=pe dst=a[0:1, 0:1] src=a[0:1, 0:1]"),
        "t.trace:5:20: ",
        "expected an engine for tensor_copy, found 'pe'; expected one of: vector, scalar, gpsimd",
    );
}

#[test]
fn error_absurd_shape() {
    // 2^20 * 2^20 = 2^40 elements: rejected while reading the shape, before anything is allocated.
    assert_err(
        &with_head("buffer big hbm float32 [1048576, 1048576] zeros"),
        "t.trace:5:24: ",
        "shape has more than 2^36 elements",
    );
    assert_err(
        &with_head("buffer big hbm float32 [99999999999999999999] zeros"),
        "t.trace:5:25: ",
        "a dimension 99999999999999999999 is too large",
    );
    assert_err(
        &with_head("buffer big sbuf float32 [129, 4] zeros"),
        "t.trace:5:26: ",
        "sbuf buffer has 129 partitions; at most 128",
    );
}

#[test]
fn error_zero_sized_dimension() {
    assert_err(
        &with_head("buffer z hbm bf16 [4, 0] zeros"),
        "t.trace:5:23: ",
        "zero-sized dimension: every dimension must be at least 1",
    );
    assert_err(
        &with_head("memset dst=a[3:3, 0:1]"),
        "t.trace:5:14: ",
        "empty partition range 3:3; the end must be greater than the start",
    );
    assert_err(
        &with_head("memset dst=a[0:1, @0[1,0]]"),
        "t.trace:5:24: ",
        "access-pattern size must be at least 1",
    );
}

#[test]
fn error_trailing_garbage() {
    assert_err(
        &with_head("buffer z hbm bf16 [4] zeros extra"),
        "t.trace:5:29: ",
        "unexpected 'extra' after the buffer declaration; expected end of line",
    );
    assert_err(
        &with_head("memset dst=a[0:1, 0:1]] value=1"),
        "t.trace:5:23: ",
        "expected whitespace or end of line after the value of 'dst', found ']'",
    );
    assert_err(
        "trnsim-trace 1 beta\nkernel k\n",
        "t.trace:1:16: ",
        "unexpected 'beta' after the header; expected end of line",
    );
}

#[test]
fn error_columns_count_characters() {
    // 'é' is two bytes but one column.
    assert_err(
        "trnsim-trace 1\nkernel k\nbuffer é hbm bf16 [4] zeros\n",
        "t.trace:3:8: ",
        "invalid buffer name 'é'",
    );
    assert_err(
        &with_head("memset dst=a[0:1, 0:1] value=ü x=1"),
        "t.trace:5:30: ",
        "found 'ü'",
    );
}

// ---------------------------------------------------------------------------------------------
// Random programs

/// f32 values with the special ones over-represented.
fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        3 => any::<u32>().prop_map(f32::from_bits),
        1 => prop::num::f32::ANY,
        2 => prop::sample::select(vec![
            0.0f32,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            -f32::NAN,
            1e-30,
            f32::from_bits(1),
            f32::MIN_POSITIVE / 3.0,
            f32::MAX,
            f32::MIN,
            1.0,
            -1.5,
        ]),
    ]
}

/// f64 values with the special ones over-represented.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => any::<u64>().prop_map(f64::from_bits),
        1 => prop::sample::select(vec![
            0.0f64,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            1e-300,
            f64::from_bits(1),
            f64::MAX,
            0.1,
        ]),
    ]
}

fn any_init() -> impl Strategy<Value = Init> {
    prop_oneof![
        Just(Init::Zeros),
        Just(Init::Input),
        (any_f64(), any_f64(), any::<u64>()).prop_map(|(mean, std, seed)| Init::Normal {
            mean,
            std,
            seed
        }),
        (any_f64(), any_f64(), any::<u64>()).prop_map(|(low, high, seed)| Init::Uniform {
            low,
            high,
            seed
        }),
    ]
}

fn any_buffer() -> impl Strategy<Value = Buffer> {
    let memory = prop::sample::select(vec![Memory::Hbm, Memory::Sbuf, Memory::Psum]);
    let dtype = prop::sample::select(DType::ALL.to_vec());
    (
        "[A-Za-z_][A-Za-z0-9_.]{0,6}",
        memory,
        dtype,
        1usize..=128,
        prop::collection::vec(1usize..=16, 0..=7),
        any_init(),
    )
        .prop_map(|(name, memory, dtype, p, rest, init)| {
            let mut shape = vec![p];
            shape.extend(rest);
            Buffer {
                name,
                memory,
                dtype,
                shape,
                init,
                line: 0,
                core: 0,
            }
        })
}

fn any_ap() -> impl Strategy<Value = AccessPattern> {
    let dim = (0u32..100_000, 1u32..5_000);
    prop_oneof![
        (0u32..=u32::MAX, 1u32..1 << 20).prop_map(|(o, n)| AccessPattern::contiguous(o, n)),
        (0u32..=u32::MAX, prop::collection::vec(dim, 1..=4))
            .prop_map(|(offset, dims): (u32, Vec<(u32, u32)>)| AccessPattern::new(offset, &dims)),
    ]
}

/// A tile on buffer `raw % n` (fixed up once the buffers are known).
fn any_tile() -> impl Strategy<Value = Tile> {
    (
        any::<u32>(),
        0u32..1 << 30,
        1u32..1 << 20,
        prop::option::of(0u32..=PartitionStep::MAX),
        any_ap(),
    )
        .prop_map(
            |(buffer, partition_start, partition_count, partition_step, ap)| Tile {
                buffer: BufferId(buffer),
                partition_start,
                partition_count,
                partition_step: partition_step
                    .and_then(PartitionStep::new)
                    .unwrap_or(PartitionStep::ROW),
                ap,
            },
        )
}

fn any_scalar() -> impl Strategy<Value = Scalar> {
    prop_oneof![
        any_f32().prop_map(Scalar::Imm),
        any_tile().prop_map(Scalar::PerPartition),
    ]
}

fn any_engine(allowed: &[Engine]) -> impl Strategy<Value = Engine> + use<> {
    prop::sample::select(allowed.to_vec())
}

fn any_alu() -> impl Strategy<Value = AluOp> {
    use AluOp::*;
    prop::sample::select(vec![
        Add, Sub, Mul, Max, Min, Div, Pow, Mod, Ge, Gt, Le, Lt, Eq, Ne,
    ])
}

fn any_reduce() -> impl Strategy<Value = ReduceOp> {
    prop::sample::select(vec![ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min])
}

fn any_op() -> impl Strategy<Value = Op> {
    use Engine::{GpSimd, Scalar as Sc, Vector};
    let t = any_tile;
    let func = {
        use ActFunc::*;
        prop::sample::select(vec![
            Identity, Relu, Gelu, Silu, Sigmoid, Tanh, Exp, Square, Rsqrt, Reciprocal, Sqrt, Log,
            Abs, Sign, Sin, Cos, Softplus, Erf, GeluExact,
        ])
    };
    let cmp = {
        use CmpOp::*;
        prop::sample::select(vec![Ge, Gt, Le, Lt, Eq, Ne])
    };
    prop_oneof![
        (t(), t(), any::<u16>(), any::<u16>()).prop_map(|(dst, src, engine, queue)| {
            Op::DmaCopy {
                dst,
                src,
                queue: DmaQueue { engine, queue },
            }
        }),
        (t(), t(), t(), any::<bool>()).prop_map(|(dst, stationary, moving, accumulate)| {
            Op::Matmul {
                dst,
                stationary,
                moving,
                accumulate,
            }
        }),
        (any_engine(&[Engine::Tensor, Vector]), t(), t())
            .prop_map(|(engine, dst, src)| Op::Transpose { engine, dst, src }),
        (
            func,
            t(),
            t(),
            any_scalar(),
            any_scalar(),
            prop::option::of((any_reduce(), t()))
        )
            .prop_map(
                |(func, dst, src, scale, bias, reduce)| Op::Activation(Box::new(Activation {
                    func,
                    dst,
                    src,
                    scale,
                    bias,
                    reduce,
                }))
            ),
        (any_engine(&[Vector, GpSimd]), any_alu(), t(), t(), t()).prop_map(
            |(engine, op, dst, a, b)| Op::TensorTensor {
                engine,
                op,
                dst,
                a,
                b
            }
        ),
        (
            any_engine(&[Vector, Sc, GpSimd]),
            t(),
            t(),
            (any_alu(), any_scalar()),
            prop::option::of((any_alu(), any_scalar())),
            any::<[bool; 2]>()
        )
            .prop_map(
                |(engine, dst, src, op0, op1, reverse)| Op::TensorScalar(Box::new(TensorScalar {
                    engine,
                    dst,
                    src,
                    op0,
                    op1,
                    reverse,
                }))
            ),
        (any_engine(&[Vector, GpSimd]), any_reduce(), t(), t()).prop_map(
            |(engine, op, dst, src)| Op::TensorReduce {
                engine,
                op,
                dst,
                src
            }
        ),
        (any_engine(&[Vector, Sc, GpSimd]), t(), t())
            .prop_map(|(engine, dst, src)| Op::TensorCopy { engine, dst, src }),
        (any_engine(&[Vector, GpSimd]), t(), any_f32())
            .prop_map(|(engine, dst, value)| Op::Memset { engine, dst, value }),
        (t(), any::<i64>(), any::<i64>(), any::<i64>()).prop_map(
            |(dst, base, channel_multiplier, step)| Op::Iota {
                dst,
                base,
                channel_multiplier,
                step,
            }
        ),
        (
            t(),
            t(),
            cmp,
            any::<i64>(),
            any::<i64>(),
            any::<i64>(),
            any_f32()
        )
            .prop_map(|(dst, src, cmp, base, channel_multiplier, step, fill)| {
                Op::AffineSelect {
                    dst,
                    src,
                    cmp,
                    base,
                    channel_multiplier,
                    step,
                    fill,
                }
            }),
        (t(), t()).prop_map(|(dst, src)| Op::BnStats { dst, src }),
        (t(), t()).prop_map(|(dst, src)| Op::BnAggr { dst, src }),
        (t(), t()).prop_map(|(dst, src)| Op::Reciprocal { dst, src }),
        (
            any_engine(&[Vector, GpSimd]),
            (t(), t(), t()),
            any_scalar(),
            any_alu(),
            any_alu()
        )
            .prop_map(|(engine, (dst, a, b), initial, op0, op1)| {
                Op::TensorTensorScan(Box::new(TensorTensorScan {
                    engine,
                    dst,
                    a,
                    b,
                    initial,
                    op0,
                    op1,
                }))
            }),
        (t(), t(), t(), any::<bool>(), any::<[u16; 4]>()).prop_map(
            |(dst, stationary, moving, accumulate, [row, col, rows, cols])| {
                Op::MatmulTile(Box::new(TiledMatmul {
                    dst,
                    stationary,
                    moving,
                    accumulate,
                    tile: PeTile {
                        row,
                        col,
                        rows,
                        cols,
                    },
                }))
            }
        ),
        (t(), t()).prop_map(|(dst, src)| Op::TransposeBg { dst, src }),
        (
            (t(), t(), t(), t(), t()),
            any::<bool>(),
            prop::sample::select(MxFormat::ALL.map(|(_, f)| f).to_vec())
        )
            .prop_map(
                |(
                    (dst, stationary, moving, stationary_scale, moving_scale),
                    accumulate,
                    format,
                )| {
                    Op::MatmulMx(Box::new(MxMatmul {
                        dst,
                        stationary,
                        moving,
                        stationary_scale,
                        moving_scale,
                        format,
                        accumulate,
                    }))
                }
            ),
        (t(), t(), any_scalar(), prop::option::of(t())).prop_map(
            |(dst, src, max_value, reduce_dst)| {
                Op::Exponential(Box::new(Exponential {
                    dst,
                    src,
                    max_value,
                    reduce_dst,
                }))
            }
        ),
    ]
}

/// Every tile an op names, mutably.
fn tiles_mut(op: &mut Op) -> Vec<&mut Tile> {
    fn scalar(s: &mut Scalar) -> Option<&mut Tile> {
        match s {
            Scalar::PerPartition(t) => Some(t),
            Scalar::Imm(_) => None,
        }
    }
    match op {
        Op::DmaCopy { dst, src, .. }
        | Op::Transpose { dst, src, .. }
        | Op::TransposeBg { dst, src }
        | Op::Reciprocal { dst, src }
        | Op::TensorReduce { dst, src, .. }
        | Op::TensorCopy { dst, src, .. }
        | Op::AffineSelect { dst, src, .. }
        | Op::BnStats { dst, src }
        | Op::BnAggr { dst, src } => vec![dst, src],
        Op::Matmul {
            dst,
            stationary,
            moving,
            ..
        } => vec![dst, stationary, moving],
        Op::MatmulTile(m) => {
            let TiledMatmul {
                dst,
                stationary,
                moving,
                ..
            } = &mut **m;
            vec![dst, stationary, moving]
        }
        Op::MatmulMx(m) => {
            let MxMatmul {
                dst,
                stationary,
                moving,
                stationary_scale,
                moving_scale,
                ..
            } = &mut **m;
            vec![dst, stationary, moving, stationary_scale, moving_scale]
        }
        Op::Activation(a) => {
            let Activation {
                dst,
                src,
                scale,
                bias,
                reduce,
                ..
            } = &mut **a;
            let mut v = vec![dst, src];
            v.extend(scalar(scale));
            v.extend(scalar(bias));
            v.extend(reduce.as_mut().map(|r| &mut r.1));
            v
        }
        Op::TensorTensor { dst, a, b, .. } => vec![dst, a, b],
        Op::TensorScalar(ts) => {
            let TensorScalar {
                dst, src, op0, op1, ..
            } = &mut **ts;
            let mut v = vec![dst, src];
            v.extend(scalar(&mut op0.1));
            v.extend(op1.as_mut().and_then(|o| scalar(&mut o.1)));
            v
        }
        Op::Memset { dst, .. } | Op::Iota { dst, .. } => vec![dst],
        Op::CoreBarrier { data } => vec![data],
        Op::TensorTensorScan(s) => {
            let TensorTensorScan {
                dst, a, b, initial, ..
            } = &mut **s;
            let mut v = vec![dst, a, b];
            v.extend(scalar(initial));
            v
        }
        Op::Exponential(e) => {
            let Exponential {
                dst,
                src,
                max_value,
                reduce_dst,
            } = &mut **e;
            let mut v = vec![dst, src];
            v.extend(scalar(max_value));
            v.extend(reduce_dst.as_mut());
            v
        }
    }
}

/// A valid program: unique buffer names, tiles on existing buffers, steps only on HBM.
fn any_program() -> impl Strategy<Value = Program> {
    (
        "[A-Za-z_][A-Za-z0-9_.]{0,12}",
        prop::collection::vec(any_buffer(), 1..6),
        prop::collection::vec(any_op(), 0..24),
    )
        .prop_map(|(name, mut buffers, ops)| {
            for (i, b) in buffers.iter_mut().enumerate() {
                b.name = format!("{}_{i}", b.name);
            }
            let n = buffers.len() as u32;
            let instrs = ops
                .into_iter()
                .map(|mut op| {
                    for t in tiles_mut(&mut op) {
                        t.buffer = BufferId(t.buffer.0 % n);
                        if buffers[t.buffer.0 as usize].memory != Memory::Hbm {
                            t.partition_step = PartitionStep::ROW;
                        }
                    }
                    Instr { op, line: 0 }
                })
                .collect();
            Program {
                name,
                buffers,
                instrs,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_programs_round_trip(p in any_program()) {
        assert_round_trip(&p)?;
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let _ = parse(&text, "fuzz");
        let _ = parse(&format!("trnsim-trace 1\nkernel k\n{text}"), "fuzz");
        let _ = parse(&format!("{HEAD}{text}"), "fuzz");
    }

    #[test]
    fn mutated_traces_never_panic(
        which in 0usize..5,
        edits in prop::collection::vec(
            (0u8..4, any::<prop::sample::Index>(), 0usize..8, "[\\[\\]():,=@#. \t\n0-9a-z_\\-é]{0,6}"),
            1..6,
        ),
    ) {
        let files = shipped();
        let path = &files[which % files.len()];
        let mut chars: Vec<char> = std::fs::read_to_string(path).expect("trace").chars().collect();
        for (kind, at, len, insert) in edits {
            let i = at.index(chars.len() + 1);
            let j = (i + len).min(chars.len());
            match kind {
                0 => { chars.drain(i..j); }
                1 => { chars.splice(i..i, insert.chars()); }
                2 => { chars.splice(i..j, insert.chars()); }
                _ => chars.truncate(i),
            }
        }
        let text: String = chars.into_iter().collect();
        if let Ok(p) = parse(&text, "mutated") {
            // Whatever parses must print to something that parses to the same program.
            assert_round_trip(&p)?;
        }
    }
}
