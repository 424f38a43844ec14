//! `trnsim sweep`'s bounds and `sweep merge`'s checks, run as a user runs them: seeds, grids and
//! threads over their limits exit 2 at once naming the value, the limit and how to raise it;
//! the grid is walked lazily (a shard of a big grid is a small run) and shards merge to one run's
//! bytes; edited, partial or foreign shards are refused naming the shard file, point and seed.

mod common;

use common::{text, trnsim};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

const DEMO: &str = "scenarios/demo-small.toml";
const CHIPS: &str = "tenants.anchor.reservation.trn2.chips=0,256,512";
const RECLAIM: &str = "policy.reclaim=immediate,graceful";

/// Run the binary; it must exit 2 quickly with every one of `want` on stderr and no panic.
fn refused(args: &[&str], want: &[&str]) {
    let start = Instant::now();
    let o = trnsim(args);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{args:?} took too long"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    for w in want {
        assert!(err.contains(w), "{args:?}: lacks '{w}': {err}");
    }
    assert!(o.stdout.is_empty(), "{args:?}");
}

/// Run the binary; it must succeed. Its stdout.
fn ok(args: &[&str]) -> String {
    let o = trnsim(args);
    assert!(o.status.success(), "{args:?}: {}", text(&o.stderr));
    text(&o.stdout)
}

#[test]
fn seeds_over_the_run_limit_exit_2_before_allocating() {
    for seeds in ["18446744073709551615", "1000000000", "100001"] {
        refused(
            &["sweep", DEMO, "--seeds", seeds],
            &[
                &format!("1 grid point x --seeds {seeds} = {seeds} runs"),
                "over the limit of 100000 runs",
                "--max-runs N raises it",
            ],
        );
    }
    // The limit is the flag's: 3 runs over 2 refused, 2 runs under 2 made.
    refused(
        &["sweep", DEMO, "--seeds", "3", "--max-runs", "2"],
        &["= 3 runs, over the limit of 2 runs"],
    );
    ok(&["sweep", DEMO, "--seeds", "2", "--max-runs", "2", "-q"]);
    // Seeds times points: 3 points x 2 seeds = 6 runs.
    refused(
        &[
            "sweep",
            DEMO,
            "--vary",
            CHIPS,
            "--seeds",
            "2",
            "--max-runs",
            "5",
        ],
        &["3 grid points (3 values of tenants.anchor.reservation.trn2.chips) x --seeds 2 = 6 runs"],
    );
}

#[test]
fn a_grid_over_the_limit_exits_2_without_materialising_it() {
    let thousand: String = (0..1000)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let vary: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| format!("{k}={thousand}"))
        .collect();
    let mut args = vec!["sweep", DEMO, "--seeds", "1"];
    for v in &vary {
        args.extend(["--vary", v]);
    }
    refused(
        &args,
        &[
            "1000000000000 grid points (1000 values of a x 1000 values of b x 1000 values of c x \
             1000 values of d) x --seeds 1 = 1000000000000 runs",
            "over the limit of 100000 runs",
        ],
    );
    // Past 2^64 the count is not wrapped.
    for v in &vary {
        args.extend(["--vary", v]);
    }
    refused(&args, &["over 2^64 grid points", "= over 2^64 runs"]);
}

#[test]
fn threads_default_to_the_machine_and_absurd_counts_exit_2() {
    refused(
        &["sweep", DEMO, "--seeds", "1", "--threads", "100000"],
        &[
            "--threads 100000: over the limit of",
            "per unit of this machine's available parallelism",
        ],
    );
    // The largest count allowed (4 per unit of parallelism) gives one thread's bytes.
    let cores = std::thread::available_parallelism().unwrap().get();
    let most = (4 * cores).to_string();
    let run = |threads: &[&str]| {
        let mut args = vec![
            "sweep", DEMO, "--vary", RECLAIM, "--seeds", "3", "--format", "json",
        ];
        args.extend_from_slice(threads);
        ok(&args)
    };
    let one = run(&["--threads", "1"]);
    assert_eq!(one, run(&["--threads", &most]));
    assert_eq!(one, run(&[]));
}

/// Make `trnsim sweep DEMO --vary CHIPS --vary RECLAIM --seeds 2 ... --out dir` (6 points).
fn sweep_into(dir: &Path, extra: &[&str]) -> String {
    let mut args = vec![
        "sweep", DEMO, "--vary", CHIPS, "--vary", RECLAIM, "--seeds", "2", "--format", "json",
        "--out",
    ];
    args.push(dir.to_str().unwrap());
    args.extend_from_slice(extra);
    ok(&args)
}

/// `n` shards of the 6-point sweep in `root/shardI`.
fn shards(root: &Path, n: usize) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let d = root.join(format!("shard{i}"));
            sweep_into(&d, &["--shard", &format!("{i}/{n}")]);
            d
        })
        .collect()
}

fn merge(dirs: &[PathBuf], extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["sweep".into(), "merge".into()];
    args.extend(dirs.iter().map(|d| d.to_str().unwrap().to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

#[test]
fn a_lazy_grid_keeps_its_order_and_shards_merge_to_one_runs_bytes() {
    let t = tempfile::tempdir().unwrap();
    let one = sweep_into(&t.path().join("one"), &[]);
    // 6 points in 4 shards: 2, 2, 1 and 1 points.
    let dirs = shards(t.path(), 4);
    let merged = t.path().join("merged");
    let args = merge(
        &dirs,
        &["--format", "json", "--out", merged.to_str().unwrap()],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(ok(&args), one);
    for f in ["runs.json", "summary.json", "metrics.csv"] {
        let a = std::fs::read(t.path().join("one").join(f)).unwrap();
        assert!(a == std::fs::read(merged.join(f)).unwrap(), "{f} differs");
    }
    // The first key varies slowest.
    let v: Value = serde_json::from_str(&one).unwrap();
    let values: Vec<String> = v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["point"]["values"].to_string())
        .collect();
    let want: Vec<String> = ["0", "256", "512"]
        .iter()
        .flat_map(|c| {
            ["immediate", "graceful"].map(|r| {
                format!(
                    "[[\"tenants.anchor.reservation.trn2.chips\",\"{c}\"],[\"policy.reclaim\",\"{r}\"]]"
                )
            })
        })
        .collect();
    assert_eq!(values, want);
    // A shard of a grid far over the limit is refused too: the limit is the whole grid's.
    refused(
        &[
            "sweep", DEMO, "--vary", CHIPS, "--seeds", "40000", "--shard", "0/3",
        ],
        &["= 120000 runs, over the limit of 100000 runs"],
    );
}

/// Copy shard `dir` to `to` with its runs.json edited by `edit`.
fn edited(dir: &Path, to: &Path, edit: impl FnOnce(&mut Value)) -> PathBuf {
    let mut v: Value =
        serde_json::from_slice(&std::fs::read(dir.join("runs.json")).unwrap()).unwrap();
    edit(&mut v);
    std::fs::create_dir_all(to).unwrap();
    std::fs::write(to.join("runs.json"), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    to.to_path_buf()
}

#[test]
fn merge_refuses_edited_partial_and_foreign_shards() {
    let t = tempfile::tempdir().unwrap();
    let dirs = shards(t.path(), 2);
    let (s0, s1) = (&dirs[0], &dirs[1]);
    let e = t.path().join("edited");
    let file = |d: &Path| d.join("runs.json").display().to_string();
    // Untouched: merged, exit 0.
    let args = merge(&dirs, &["-q"]);
    ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let check = |dirs: &[PathBuf], want: &[&str]| {
        let args = merge(dirs, &[]);
        refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), want);
    };
    // Point 0 seed 1 (the demo's seed is 1) twice.
    let dup = edited(s0, &e.join("dup"), |v| {
        let r = v["runs"][0].clone();
        v["runs"].as_array_mut().unwrap().push(r);
    });
    check(
        &[dup.clone(), s1.clone()],
        &[
            "point 0 (tenants.anchor.reservation.trn2.chips=0 policy.reclaim=immediate): seed 1 is there twice",
        ],
    );
    // A run outside the grid, a run in the wrong shard, a seed the sweep does not have.
    let outside = edited(s0, &e.join("outside"), |v| v["runs"][0]["point"] = 6.into());
    check(
        &[outside.clone(), s1.clone()],
        &[&format!(
            "{}: a run of point 6, outside the grid's 6 points",
            file(&outside)
        )],
    );
    let moved = edited(s0, &e.join("moved"), |v| v["runs"][0]["point"] = 1.into());
    check(
        &[moved.clone(), s1.clone()],
        &[
            &format!("{}: point 1 (", file(&moved)),
            "belongs to shard 1/2, not to this shard 0/2",
        ],
    );
    let seed = edited(s0, &e.join("seed"), |v| v["runs"][1]["seed"] = 999.into());
    check(
        &[seed, s1.clone()],
        &["seed 999 is not one of the sweep's 2 seeds from 1"],
    );
    // An emptied shard: its points are missing, named with the file that should hold them.
    let empty = edited(s1, &e.join("empty"), |v| {
        v["runs"] = Value::Array(Vec::new())
    });
    check(
        &[s0.clone(), empty.clone()],
        &[
            &format!(
                "{}: point 1 (tenants.anchor.reservation.trn2.chips=0 policy.reclaim=graceful): seed 1 is missing",
                file(&empty)
            ),
            "6 points x 2 seeds = 12 runs; the shards hold 6",
        ],
    );
    // One run dropped: seed 2 of point 2.
    let dropped = edited(s0, &e.join("dropped"), |v| {
        v["runs"].as_array_mut().unwrap().remove(3);
    });
    check(&[dropped, s1.clone()], &["point 2 (", "seed 2 is missing"]);
    // Shards of another scenario text, other seeds, a missing shard, an old format.
    let other = edited(s1, &e.join("other"), |v| {
        v["grid"]["scenario_hash"] = "0".into()
    });
    check(
        &[s0.clone(), other.clone()],
        &[
            &format!("{}: a shard of a different sweep", file(&other)),
            "the scenario text differs",
        ],
    );
    let seeds = edited(s1, &e.join("seeds"), |v| v["grid"]["seeds"] = 3.into());
    check(&[s0.clone(), seeds], &["--seeds 2 vs 3"]);
    check(
        std::slice::from_ref(s0),
        &["shard 1/2 is missing (1 of 2 given)"],
    );
    check(&[s0.clone(), s0.clone()], &["shard 0/2 given twice"]);
    let old = edited(s1, &e.join("old"), |v| {
        v.as_object_mut().unwrap().remove("format");
    });
    check(
        &[s0.clone(), old.clone()],
        &[&format!(
            "{}: format: runs.json of format 1 (no version), this trnsim reads format 2",
            file(&old)
        )],
    );
}
