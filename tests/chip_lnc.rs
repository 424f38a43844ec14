//! LNC=2: one kernel on two physical cores that share HBM (trace format 3's `core=`), checked
//! against the preset's analytic DMA and engine formulas, the barrier's and the cross-core
//! copy's ordering, the values of a one-core run, and the errors.

use trnsim::arch::{Hardware, parse_overrides};
use trnsim::chip::plan::Cost;
use trnsim::chip::{self, RunOptions, RunResult};
use trnsim::isa::{Program, parse::parse};

mod common;

fn hw(name: &str, overrides: &str) -> Hardware {
    common::preset_with(name, overrides)
}

fn run(text: &str, hw: &Hardware, data: bool) -> (Program, RunResult) {
    let p = parse(text, "k.trace").unwrap();
    let opts = RunOptions {
        data,
        ..RunOptions::default()
    };
    let r = chip::run(&p, hw, "k.trace", &[], &opts).unwrap();
    (p, r)
}

fn err(text: &str, hw: &Hardware) -> String {
    match parse(text, "k.trace") {
        Err(e) => e.to_string(),
        Ok(p) => match chip::run(&p, hw, "k.trace", &[], &RunOptions::default()) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected an error"),
        },
    }
}

/// `n` loads of a [128, 2048] bf16 row block (4 KiB per partition) from HBM: load `k` on core
/// `core(k)`, DMA engine `engine(k)`, queue `queue(k)`.
fn loads(
    n: usize,
    core: impl Fn(usize) -> usize,
    engine: impl Fn(usize) -> usize,
    queue: impl Fn(usize) -> usize,
) -> String {
    let mut t = format!(
        "trnsim-trace 3\nkernel loads\nbuffer x hbm bf16 [{}, 2048] zeros\n",
        128 * n
    );
    for k in 0..n {
        t += &format!("buffer s{k} sbuf bf16 [128, 2048] zeros core={}\n", core(k));
    }
    for k in 0..n {
        t += &format!(
            "dma_copy dst=s{k}[0:128, 0:2048] src=x[{}:{}, 0:2048] queue={}.{}\n",
            128 * k,
            128 * (k + 1),
            engine(k),
            queue(k)
        );
    }
    t
}

/// The one load's (work bytes at the engine's peak, HBM bytes) and the fixed latency.
fn dma_cost(r: &RunResult) -> (f64, f64, f64) {
    let Cost::Dma {
        work_bytes,
        hbm_bytes,
        latency_ps,
        ..
    } = r.plan.cost(0)
    else {
        panic!("a load")
    };
    (work_bytes, hbm_bytes as f64, latency_ps as f64)
}

fn close(got: f64, want: f64, tol: f64) {
    assert!(
        (got / want - 1.0).abs() <= tol,
        "got {got}, want {want} (tolerance {tol})"
    );
}

/// 32 HBM-bound loads on one core take 32 x bytes / (the core's HBM share); split 16 + 16 over
/// the two cores of LNC=2 they take 32 x bytes / (twice the share): half the data time.
#[test]
fn a_dma_bound_workload_takes_half_the_time_on_two_cores() {
    let one = hw("trn2", "");
    let two = hw("trn2", "lnc=2");
    // One core: two loads per engine (queues 0 and 1), 16 engines at 27.2 B/ns demand more
    // than the core's 362.5 B/ns of HBM.
    let (_, r1) = run(&loads(32, |_| 0, |k| k % 16, |k| k / 16), &one, false);
    let (_, r2) = run(&loads(32, |k| k / 16, |k| k % 16, |_| 0), &two, false);
    let (_, hbm, lat) = dma_cost(&r1);
    let share = one.core_hbm_bytes_per_ns();
    assert!((share - 362.5).abs() < 1e-9);
    close(
        r1.schedule.total_ps as f64,
        lat + 32.0 * hbm / share * 1000.0,
        1e-3,
    );
    close(
        r2.schedule.total_ps as f64,
        lat + 32.0 * hbm / (2.0 * share) * 1000.0,
        1e-3,
    );
    let t1 = r1.schedule.total_ps as f64 - lat;
    let t2 = r2.schedule.total_ps as f64 - lat;
    close(t2, t1 / 2.0, 1e-3);
}

/// The two cores draw on one pool of two shares: a core with more demand than its own share
/// runs unthrottled while the other leaves room (separate shares would throttle it).
#[test]
fn the_two_cores_share_one_pool_of_hbm_bandwidth() {
    // 640 GB/s over 8 cores: 80 B/ns per core, 160 for the pair; 4 engines demand 108.8.
    let o = "chip.hbm_bytes_per_ns=640";
    let one = hw("trn2", o);
    let two = hw("trn2", &format!("{o},lnc=2"));
    assert!((one.core_hbm_bytes_per_ns() - 80.0).abs() < 1e-9);
    let (_, r1) = run(&loads(4, |_| 0, |k| k, |_| 0), &one, false);
    let (work, hbm, lat) = dma_cost(&r1);
    // Alone, core 0's four transfers are held to its 80 B/ns.
    close(
        r1.schedule.total_ps as f64,
        lat + 4.0 * hbm / 80.0 * 1000.0,
        1e-3,
    );
    // With core 1 moving one more, 5 x 27.2 B/ns fits the pair's 160: every transfer at the
    // engine's peak.
    let (_, r2) = run(&loads(5, |k| k / 4, |k| k % 4, |_| 0), &two, false);
    let peak = two.dma.peak_bytes_per_ns;
    close(
        r2.schedule.total_ps as f64,
        lat + work / peak * 1000.0,
        1e-3,
    );
    assert!(5.0 * peak * hbm / work < 160.0);
}

/// `n` independent [128, 512] bf16 Scalar activations on core `core(k)`.
fn activations(n: usize, core: impl Fn(usize) -> usize) -> String {
    let mut t = String::from("trnsim-trace 3\nkernel acts\n");
    for k in 0..n {
        t += &format!("buffer a{k} sbuf bf16 [128, 512] zeros core={}\n", core(k));
    }
    for k in 0..n {
        t += &format!("activation func=gelu dst=a{k}[0:128, 0:512] src=a{k}[0:128, 0:512]\n");
    }
    t
}

/// Compute-bound: 8 activations back to back on one Scalar engine end at 8 x busy + latency;
/// 4 on each core's Scalar engine at 4 x busy + latency. The report gives each core's busy
/// time and the totals.
#[test]
fn a_compute_bound_workload_takes_half_the_time_on_two_cores() {
    let one = hw("trn2", "");
    let two = hw("trn2", "lnc=2");
    let (p1, r1) = run(&activations(8, |_| 0), &one, false);
    let (p2, r2) = run(&activations(8, |k| k % 2), &two, false);
    let Cost::Compute {
        busy_ps,
        latency_ps,
    } = r1.plan.cost(0)
    else {
        panic!("an activation")
    };
    assert_eq!(r1.schedule.total_ps, 8 * busy_ps + latency_ps);
    assert_eq!(r2.schedule.total_ps, 4 * busy_ps + latency_ps);
    let rep1 = chip::report::report(&p1, &one, &r1);
    let rep2 = chip::report::report(&p2, &two, &r2);
    assert_eq!(rep1.cores, 1);
    assert!(rep1.per_core.is_empty());
    assert_eq!(rep2.cores, 2);
    for c in 0..2 {
        let s = &rep2.per_core[c]["scalar"];
        assert_eq!(s.instructions, 4);
        close(s.busy_ns, 4.0 * busy_ps as f64 / 1000.0, 1e-12);
    }
    let total = &rep2.engines["scalar"];
    assert_eq!(total.instructions, 8);
    close(total.busy_ns, rep1.engines["scalar"].busy_ns, 1e-12);
    close(
        total.active,
        4.0 * busy_ps as f64 / r2.schedule.total_ps as f64,
        1e-9,
    );
}

const BARRIER: &str = "trnsim-trace 3
kernel barrier
buffer flag hbm fp32 [1, 1] zeros
buffer y hbm fp32 [128, 512] zeros
buffer a sbuf fp32 [128, 512] zeros
buffer b sbuf fp32 [128, 512] zeros core=1
buffer g sbuf fp32 [128, 512] zeros core=1
activation func=exp dst=a[0:128, 0:512] src=a[0:128, 0:512]
activation func=exp dst=a[0:128, 0:512] src=a[0:128, 0:512]
dma_copy dst=y[0:128, 0:512] src=a[0:128, 0:512] queue=0.0
core_barrier data=flag[0:1, 0:1]
memset engine=gpsimd dst=g[0:128, 0:512] value=1
dma_copy dst=b[0:128, 0:512] src=y[0:128, 0:512] queue=0.0
";

/// Core 1's GpSimd waits at the barrier for core 0's, and core 1's read of the HBM tensor core
/// 0 wrote waits for that write; without the barrier core 1's memset starts at once.
#[test]
fn a_barrier_holds_both_cores_gpsimd_queues() {
    let two = hw("trn2", "lnc=2");
    let (_, r) = run(BARRIER, &two, false);
    let s = &r.schedule;
    let (store, barrier, memset, read) = (2, 3, 4, 5);
    assert!(s.start_ps[memset] >= s.end_ps[barrier]);
    assert!(s.end_ps[barrier] > 0);
    assert!(s.start_ps[read] >= s.end_ps[store]);
    // The barrier runs its one shortest GpSimd instruction, its cores both free at 0.
    let Cost::Compute { busy_ps, .. } = r.plan.cost(barrier) else {
        panic!("gpsimd")
    };
    assert_eq!(s.start_ps[barrier], 0);
    assert_eq!(s.end_ps[barrier], busy_ps);
    // Core 1's GpSimd queue counts the barrier too.
    let per = r.plan.queues / 2;
    assert_eq!(s.queue_busy_ps[3], busy_ps);
    assert!(s.queue_busy_ps[per + 3] > busy_ps);
    // Without the barrier line the memset does not wait.
    let text = BARRIER.replace("core_barrier data=flag[0:1, 0:1]\n", "");
    let (_, r) = run(&text, &two, false);
    assert_eq!(r.schedule.start_ps[memset - 1], 0);
}

/// A barrier behind a long GpSimd instruction of core 0 holds core 1's GpSimd until then.
#[test]
fn a_barrier_waits_for_the_slower_core() {
    let two = hw("trn2", "lnc=2");
    let text = "trnsim-trace 3
kernel slow
buffer flag hbm fp32 [1, 1] zeros
buffer a sbuf fp32 [128, 4096] zeros
buffer g sbuf fp32 [128, 8] zeros core=1
iota dst=a[0:128, 0:4096]
core_barrier data=flag[0:1, 0:1]
memset engine=gpsimd dst=g[0:128, 0:8] value=1
";
    let (_, r) = run(text, &two, false);
    let s = &r.schedule;
    assert!(s.end_ps[0] > 1_000_000, "{}", s.end_ps[0]);
    assert_eq!(s.start_ps[1], s.end_ps[0]);
    assert_eq!(s.start_ps[2], s.end_ps[1]);
}

const HALVES: &str = "trnsim-trace 3
kernel halves
buffer x hbm fp32 [256, 512] normal(seed=7)
buffer y hbm fp32 [256, 512] zeros
buffer a sbuf fp32 [128, 512] zeros
buffer b sbuf fp32 [128, 512] zeros core=1
buffer r sbuf fp32 [128, 1] zeros core=1
dma_copy dst=a[0:128, 0:512] src=x[0:128, 0:512] queue=0.0
dma_copy dst=b[0:128, 0:512] src=x[128:256, 0:512] queue=0.0
activation func=gelu dst=a[0:128, 0:512] src=a[0:128, 0:512]
activation func=gelu dst=b[0:128, 0:512] src=b[0:128, 0:512]
dma_copy dst=y[0:128, 0:512] src=a[0:128, 0:512] queue=1.0
dma_copy dst=y[128:256, 0:512] src=b[0:128, 0:512] queue=1.0
";

/// The same kernel on two cores and on one gives the same values, bit for bit, in less time;
/// a cross-core copy (NKI's sendrecv) carries core 0's SBUF into core 1's.
#[test]
fn two_cores_compute_the_values_one_core_does() {
    let (p2, r2) = run(HALVES, &hw("trn2", "lnc=2"), true);
    let one = HALVES.replace(" core=1", "");
    let (p1, r1) = run(&one, &hw("trn2", ""), true);
    let y = p1.buffer_id("y").unwrap();
    let v1 = r1.state.as_ref().unwrap().values(y);
    let v2 = r2
        .state
        .as_ref()
        .unwrap()
        .values(p2.buffer_id("y").unwrap());
    assert_eq!(v1.len(), 256 * 512);
    assert!(v1.iter().zip(v2).all(|(a, b)| a.to_bits() == b.to_bits()));
    assert!(v1.iter().any(|&v| v != 0.0));
    assert!(r2.schedule.total_ps < r1.schedule.total_ps);
}

#[test]
fn a_cross_core_copy_orders_the_receiver_after_it() {
    let text = "trnsim-trace 3
kernel send
buffer x hbm fp32 [128, 512] normal(seed=3)
buffer y hbm fp32 [128, 512] zeros
buffer a sbuf fp32 [128, 512] zeros
buffer b sbuf fp32 [128, 512] zeros core=1
dma_copy dst=a[0:128, 0:512] src=x[0:128, 0:512] queue=0.0
dma_copy dst=b[0:128, 0:512] src=a[0:128, 0:512] queue=3.0
activation func=exp dst=b[0:128, 0:512] src=b[0:128, 0:512]
dma_copy dst=y[0:128, 0:512] src=b[0:128, 0:512] queue=0.0
";
    let (p, r) = run(text, &hw("trn2", "lnc=2"), true);
    let s = &r.schedule;
    assert!(s.start_ps[1] >= s.end_ps[0]);
    assert!(s.start_ps[2] >= s.end_ps[1]);
    // The send is on core 0's queue 3.0; SBUF to SBUF moves no HBM bytes.
    let per = r.plan.queues / 2;
    assert!((r.plan.queue[1] as usize) < per);
    assert!((r.plan.queue[2] as usize) >= per);
    let Cost::Dma { hbm_bytes, .. } = r.plan.cost(1) else {
        panic!("dma")
    };
    assert_eq!(hbm_bytes, 0);
    let st = r.state.unwrap();
    let x = st.values(p.buffer_id("x").unwrap()).to_vec();
    let y = st.values(p.buffer_id("y").unwrap());
    assert!(
        x.iter()
            .zip(y)
            .all(|(a, b)| (a.exp() - b).abs() <= 1e-5 * b.abs().max(1.0))
    );
}

#[test]
fn errors_are_located() {
    let two = hw("trn2", "lnc=2");
    let bad_core = "trnsim-trace 3\nkernel k\nbuffer a sbuf fp32 [128, 8] zeros core=2\nmemset dst=a[0:128, 0:8]\n";
    let e = err(bad_core, &two);
    assert!(e.starts_with("k.trace:3:"), "{e}");
    assert!(e.contains("core 2") && e.contains("lnc = 2"), "{e}");
    // One core: core 1 does not exist, and the message names the preset.
    let e = err(&bad_core.replace("core=2", "core=1"), &hw("trn2", ""));
    assert!(e.starts_with("k.trace:3:") && e.contains("trn2"), "{e}");
    let e = err(
        "trnsim-trace 3\nkernel k\nbuffer x hbm fp32 [128, 8] zeros core=1\n",
        &two,
    );
    assert!(e.starts_with("k.trace:3:34:") && e.contains("HBM"), "{e}");
    let e = err(
        "trnsim-trace 2\nkernel k\nbuffer a sbuf fp32 [128, 8] zeros core=1\n",
        &two,
    );
    assert!(e.contains("needs trnsim-trace 3"), "{e}");
    let mixed = "trnsim-trace 3\nkernel k\nbuffer a sbuf fp32 [128, 8] zeros\nbuffer b sbuf fp32 [128, 8] zeros core=1\ntensor_copy dst=b[0:128, 0:8] src=a[0:128, 0:8]\n";
    let e = err(mixed, &two);
    assert!(
        e.starts_with("k.trace:5:") && e.contains("cores 0 and 1"),
        "{e}"
    );
    let e = err(
        "trnsim-trace 3\nkernel k\nbuffer a sbuf fp32 [128, 8] zeros\ncore_barrier data=a[0:128, 0:8]\n",
        &two,
    );
    assert!(e.starts_with("k.trace:4:"), "{e}");
    let e = Hardware::preset("trn1")
        .unwrap()
        .with_overrides(&parse_overrides("lnc=2").unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("lnc") && e.contains("trn1"), "{e}");
}

/// Format-3 programs print and parse back to themselves; format-1 files still print as 1.
#[test]
fn format_3_round_trips() {
    let p = parse(BARRIER, "k").unwrap();
    assert_eq!(p.version(), 3);
    let text = trnsim::isa::print::print(&p);
    assert!(text.starts_with("trnsim-trace 3\n"));
    assert!(text.contains("zeros core=1\n"));
    assert_eq!(parse(&text, "k").unwrap().instrs, p.instrs);
    assert_eq!(parse(&text, "k").unwrap().buffers.len(), p.buffers.len());
    let v1 = std::fs::read_to_string("traces/gelu.trace").unwrap();
    let p1 = parse(&v1, "gelu").unwrap();
    assert!(trnsim::isa::print::print(&p1).starts_with("trnsim-trace 1\n"));
}
