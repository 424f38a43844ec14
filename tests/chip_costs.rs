//! One test per published cost formula (trainium.md section 4), on trn1 where every engine has
//! 128 lanes (one element per partition per cycle), so N cycles means N elements.

use trnsim::arch::Hardware;
use trnsim::chip::{self, RunOptions};
use trnsim::isa::parse::parse;

const BUFFERS: &str = "trnsim-trace 1
kernel cost
buffer f  sbuf float32 [128, 4096] zeros
buffer g  sbuf float32 [128, 4096] zeros
buffer b  sbuf bf16    [128, 4096] zeros
buffer c  sbuf bf16    [128, 4096] zeros
buffer p  psum float32 [128, 512] zeros
buffer s  sbuf float32 [128, 8] zeros
";

/// Busy time of the single instruction `line` on trn1, in picoseconds.
fn busy(line: &str) -> u64 {
    let program = parse(&format!("{BUFFERS}{line}\n"), "cost.trace").unwrap();
    let hw = Hardware::preset("trn1").unwrap();
    let r = chip::run(&program, &hw, "cost.trace", &[], &RunOptions::default()).unwrap();
    r.schedule.end_ps[0] - r.schedule.start_ps[0]
}

fn ps(cycles: u64, mhz: u64) -> u64 {
    (cycles * 1_000_000).div_ceil(mhz)
}

const VECTOR: u64 = 1120;
const SCALAR: u64 = 1400;
const GPSIMD: u64 = 1400;
const PE: u64 = 2800;

#[test]
fn activation_is_max_64_n_plus_64_with_reduce() {
    assert_eq!(
        busy("activation func=exp dst=g[0:128, 0:512] src=f[0:128, 0:512]"),
        ps(512, SCALAR)
    );
    assert_eq!(
        busy("activation func=exp dst=g[0:128, 0:32] src=f[0:128, 0:32]"),
        ps(64, SCALAR)
    );
    assert_eq!(
        busy(
            "activation func=exp dst=g[0:128, 0:512] src=f[0:128, 0:512] reduce=sum reduce_dst=s[0:128, 0:1]"
        ),
        ps(512 + 64, SCALAR)
    );
}

#[test]
fn tensor_scalar_copy_and_bn_stats_are_max_64_n() {
    assert_eq!(
        busy("tensor_scalar dst=g[0:128, 0:512] src=f[0:128, 0:512] op0=mul scalar0=2"),
        ps(512, VECTOR)
    );
    assert_eq!(
        busy("tensor_copy dst=g[0:128, 0:48] src=f[0:128, 0:48]"),
        ps(64, VECTOR)
    );
    assert_eq!(
        busy("bn_stats dst=s[0:128, 0:3] src=f[0:128, 0:512]"),
        ps(512, VECTOR)
    );
    assert_eq!(
        busy("tensor_copy engine=scalar dst=g[0:128, 0:512] src=f[0:128, 0:512]"),
        ps(512, SCALAR)
    );
}

#[test]
fn division_costs_like_reciprocal_8n() {
    assert_eq!(
        busy("tensor_scalar dst=g[0:128, 0:512] src=f[0:128, 0:512] op0=div scalar0=3"),
        ps(8 * 512, VECTOR)
    );
    assert_eq!(
        busy("tensor_tensor op=div dst=g[0:128, 0:512] a=f[0:128, 0:512] b=f[0:128, 512:1024]"),
        ps(8 * 512, VECTOR)
    );
}

#[test]
fn tensor_tensor_is_2n_or_n_on_the_fast_paths() {
    assert_eq!(
        busy("tensor_tensor op=add dst=g[0:128, 0:512] a=f[0:128, 0:512] b=f[0:128, 512:1024]"),
        ps(1024, VECTOR)
    );
    // All bf16 in SBUF, contiguous, add/mul/sub: N.
    assert_eq!(
        busy("tensor_tensor op=mul dst=c[0:128, 0:512] a=b[0:128, 0:512] b=b[0:128, 512:1024]"),
        ps(512, VECTOR)
    );
    // max is not on that path.
    assert_eq!(
        busy("tensor_tensor op=max dst=c[0:128, 0:512] a=b[0:128, 0:512] b=b[0:128, 512:1024]"),
        ps(1024, VECTOR)
    );
    // One input in PSUM: N.
    assert_eq!(
        busy("tensor_tensor op=add dst=g[0:128, 0:512] a=p[0:128, 0:512] b=f[0:128, 0:512]"),
        ps(512, VECTOR)
    );
}

#[test]
fn tensor_reduce_is_n_over_2_for_bf16() {
    assert_eq!(
        busy("tensor_reduce op=sum dst=s[0:128, 0:1] src=b[0:128, 0:512]"),
        ps(256, VECTOR)
    );
    assert_eq!(
        busy("tensor_reduce op=max dst=s[0:128, 0:1] src=f[0:128, 0:512]"),
        ps(512, VECTOR)
    );
}

#[test]
fn bn_aggr_is_max_64_13n_over_3() {
    assert_eq!(
        busy("bn_aggr dst=s[0:128, 0:2] src=f[0:128, 0:6]"),
        ps(64, VECTOR)
    );
    assert_eq!(
        busy("bn_aggr dst=s[0:128, 0:2] src=f[0:128, 0:300]"),
        ps(1300, VECTOR)
    );
}

#[test]
fn memset_is_n_over_2_for_16_bit_zeros() {
    assert_eq!(busy("memset dst=c[0:128, 0:512] value=0"), ps(256, VECTOR));
    assert_eq!(busy("memset dst=c[0:128, 0:512] value=1"), ps(512, VECTOR));
    assert_eq!(busy("memset dst=g[0:128, 0:512] value=0"), ps(512, VECTOR));
}

#[test]
fn gpsimd_iota_and_affine_select_are_150_plus_n() {
    assert_eq!(
        busy("iota dst=g[0:128, 0:512] base=0 channel_multiplier=1 step=1"),
        ps(150 + 512, GPSIMD)
    );
    assert_eq!(
        busy("affine_select dst=g[0:128, 0:512] src=f[0:128, 0:512] cmp=ge fill=0"),
        ps(150 + 512, GPSIMD)
    );
}

#[test]
fn strides_over_16_bytes_halve_the_bandwidth() {
    // fp32 with an innermost stride of 8 elements = 32 bytes.
    assert_eq!(
        busy("tensor_copy dst=g[0:128, 0:512] src=f[0:128, @0[8,512]]"),
        ps(2 * 512, VECTOR)
    );
    // stride 4 elements = 16 bytes: not over the threshold.
    assert_eq!(
        busy("tensor_copy dst=g[0:128, 0:512] src=f[0:128, @0[4,512]]"),
        ps(512, VECTOR)
    );
}

#[test]
fn pe_transpose_is_max_p_min_64_f() {
    assert_eq!(
        busy("transpose dst=p[0:64, 0:128] src=f[0:128, 0:64]"),
        ps(128, PE)
    );
    assert_eq!(
        busy("transpose dst=p[0:128, 0:32] src=f[0:32, 0:128]"),
        ps(64, PE)
    );
}
