//! Every input's errors in one located shape, `file:line:col: key: message`, from the real
//! binary on real (generated) files: invalid UTF-8 in each text input, a missing scenario key,
//! `--set` beside an integer above 2^63, a model config's kernel limits, a 10,000-deep header.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{root, text, trnsim};

/// Run the binary; it must exit 2, quickly, and print one error: its text after `trnsim: error: `.
fn fails(args: &[&str]) -> String {
    let start = Instant::now();
    let o = trnsim(args);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(start.elapsed() < Duration::from_secs(2), "{args:?} is slow");
    let line = err
        .lines()
        .find_map(|l| l.strip_prefix("trnsim: error: "))
        .unwrap_or_else(|| panic!("{args:?}: no error line in {err}"));
    line.to_string()
}

/// `text` with byte 0xFF at the end of line `line` (1-based), written to `dir/name`; the path
/// and the error expected for it.
fn with_bad_byte(dir: &Path, name: &str, text: &str, line: usize) -> (PathBuf, String) {
    let mut bytes = Vec::new();
    let mut at = (0, 0);
    for (i, l) in text.split_inclusive('\n').enumerate() {
        let body = l.trim_end_matches('\n');
        bytes.extend_from_slice(body.as_bytes());
        if i + 1 == line {
            at = (bytes.len(), body.chars().count() + 1);
            bytes.push(0xFF);
        }
        bytes.extend_from_slice(&l.as_bytes()[body.len()..]);
    }
    assert!(at.1 > 0, "{name} has fewer than {line} lines");
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let want = format!(
        "{}:{line}:{}: (encoding): invalid UTF-8 (byte 0xFF at byte offset {}); expected UTF-8 \
         text",
        path.display(),
        at.1,
        at.0
    );
    (path, want)
}

fn shipped(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap()
}

#[test]
fn invalid_utf8_is_located_in_every_text_input() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let (trace, want) = with_bad_byte(d, "k.trace", &shipped("traces/gelu.trace"), 3);
    assert_eq!(fails(&["run", trace.to_str().unwrap()]), want);

    let (scenario, want) = with_bad_byte(d, "s.toml", &shipped("scenarios/demo-small.toml"), 7);
    assert_eq!(fails(&["plan", scenario.to_str().unwrap()]), want);
    assert_eq!(fails(&["sweep", scenario.to_str().unwrap()]), want);

    let hw = text(&trnsim(&["hw", "show", "--hw", "trn2"]).stdout);
    let (hw, want) = with_bad_byte(d, "hw.toml", &hw, 5);
    assert_eq!(fails(&["hw", "show", "--hw", hw.to_str().unwrap()]), want);

    let model = shipped("kernels/models/llama3-8b.toml");
    let (model, want) = with_bad_byte(d, "m.toml", &model, 9);
    let m = model.to_str().unwrap();
    assert_eq!(
        fails(&["model", "run", m, "--phase", "decode", "--context", "64"]),
        want
    );

    let cfg = root().join("tests/data/systolic/scale.cfg");
    let csv = root().join("tests/data/systolic/gemm_square.csv");
    let (bad_cfg, want) = with_bad_byte(d, "a.cfg", &std::fs::read_to_string(&cfg).unwrap(), 2);
    let args = [
        "systolic",
        "--config",
        bad_cfg.to_str().unwrap(),
        "--topology",
    ];
    assert_eq!(fails(&[&args[..], &[csv.to_str().unwrap()]].concat()), want);
    let (bad_csv, want) = with_bad_byte(d, "t.csv", &std::fs::read_to_string(&csv).unwrap(), 3);
    let args = ["systolic", "--config", cfg.to_str().unwrap(), "--topology"];
    assert_eq!(
        fails(&[&args[..], &[bad_csv.to_str().unwrap()]].concat()),
        want
    );

    let shard = d.join("shard");
    std::fs::create_dir(&shard).unwrap();
    let (_, want) = with_bad_byte(&shard, "runs.json", "{\n  \"runs\": []\n}\n", 2);
    assert_eq!(fails(&["sweep", "merge", shard.to_str().unwrap()]), want);

    // A trace a scenario names, read relative to it.
    let replay = shipped("scenarios/philly-replay.toml")
        .replace("../traces/philly/philly_jobs.csv", "jobs.csv");
    std::fs::write(d.join("replay.toml"), replay).unwrap();
    let jobs = shipped("traces/philly/philly_jobs.csv");
    let (_, want) = with_bad_byte(d, "jobs.csv", &jobs, 2);
    let replay = d.join("replay.toml");
    assert_eq!(fails(&["plan", replay.to_str().unwrap()]), want);
}

#[test]
fn a_missing_scenario_key_is_located_at_the_table_that_lacks_it() {
    let t = tempfile::tempdir().unwrap();
    let text = shipped("scenarios/demo-small.toml");
    let line = text.lines().position(|l| l == "[demand.b]").unwrap() + 1;
    let path = t.path().join("s.toml");
    std::fs::write(&path, text.replace("tenant = \"b\"\n", "")).unwrap();
    assert_eq!(
        fails(&["plan", path.to_str().unwrap()]),
        format!(
            "{}:{line}:9: demand.b.tenant: missing; expected a tenant name",
            path.display()
        )
    );
}

#[test]
fn set_works_beside_an_integer_above_2_63_and_locates_its_own_values() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("s.toml");
    let text =
        shipped("scenarios/demo-small.toml").replace("seed = 1\n", "seed = 18446744073709551615\n");
    std::fs::write(&path, text).unwrap();
    let p = path.to_str().unwrap();
    let o = trnsim(&["-q", "plan", p, "--set", "horizon=2h", "--format", "json"]);
    assert!(o.status.success(), "{}", text_of(&o.stderr));
    let o = trnsim(&["-q", "plan", p, "--set", "seed=18446744073709551615"]);
    assert!(o.status.success(), "{}", text_of(&o.stderr));
    assert_eq!(
        fails(&["plan", p, "--set", "seed=-1"]),
        format!("{p} (--set): seed: invalid value: integer `-1`, expected u64")
    );
    assert_eq!(
        fails(&["plan", p, "--set", "seed=18446744073709551616"]),
        format!(
            "{p} (--set): seed: invalid type: integer `18446744073709551616` as i128, expected u64"
        )
    );
    // The check of the names an override adds reads the same tree: a typo is still caught.
    let typo = fails(&["plan", p, "--set", "tenants.anchr.weight=2"]);
    assert!(
        typo.starts_with(&format!("{p} (--set): tenants.anchr: no tenant 'anchr'")),
        "{typo}"
    );
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_model_config_error_names_the_config_key_and_its_line() {
    let t = tempfile::tempdir().unwrap();
    let text = shipped("kernels/models/llama3-8b.toml");
    let line = |key: &str| {
        text.lines()
            .position(|l| l.starts_with(&format!("{key} = ")))
            .unwrap()
            + 1
    };
    let run = |key: &str, value: &str| {
        let path = t.path().join(format!("{key}.toml"));
        let edited: String = text
            .lines()
            .map(|l| match l.starts_with(&format!("{key} = ")) {
                true => format!("{key} = {value}\n"),
                false => format!("{l}\n"),
            })
            .collect();
        std::fs::write(&path, edited).unwrap();
        let p = path.to_str().unwrap().to_string();
        let e = fails(&["model", "run", &p, "--phase", "decode", "--context", "64"]);
        (p, e)
    };
    let (p, e) = run("hidden", "100000");
    assert_eq!(
        e,
        format!(
            "{p}:{}:1: hidden: 100000 is out of range 1..=16384: the model's attn_norm passes \
             hidden to kernel 'rmsnorm' as its parameter 'cols'",
            line("hidden")
        )
    );
    let (p, e) = run("heads", "1000");
    assert_eq!(
        e,
        format!(
            "{p}:{}:1: heads: 130048 is out of range 1..=65536: the model's qkv_proj passes \
             (heads + 2 x kv_heads) x head_dim to kernel 'matmul' as its parameter 'n'",
            line("heads")
        )
    );
}

#[test]
fn a_10000_deep_header_is_located_at_its_line() {
    let t = tempfile::tempdir().unwrap();
    let deep = vec!["a"; 10_000].join(".");
    let text = shipped("scenarios/demo-small.toml");
    let line = text.lines().count() + 2;
    let path = t.path().join("s.toml");
    std::fs::write(&path, format!("{text}\n[{deep}]\nx = 1\n")).unwrap();
    let want = format!(
        "{}:{line}:1: (syntax): nested 10000 levels deep (parts of a dotted key or header, or \
         arrays and inline tables); at most 79 are accepted",
        path.display()
    );
    assert_eq!(fails(&["plan", path.to_str().unwrap()]), want);
    let hw = text_of(&trnsim(&["hw", "show", "--hw", "trn2"]).stdout);
    let line = hw.lines().count() + 1;
    let path = t.path().join("hw.toml");
    std::fs::write(
        &path,
        format!("{hw}v = {}{}\n", "[".repeat(90), "]".repeat(90)),
    )
    .unwrap();
    assert_eq!(
        fails(&["hw", "show", "--hw", path.to_str().unwrap()]),
        format!(
            "{}:{line}:85: (syntax): cannot recurse further; max recursion depth met",
            path.display()
        )
    );
}

/// A kernel parameter the step's sizes set (not the config) names those sizes and their
/// values, as `--batch`, `--seq` and `--context` (and a scenario's workload) call them.
#[test]
fn a_model_step_error_names_the_step_sizes_it_comes_from() {
    let run = |args: &[&str]| {
        let mut all = vec!["model", "run", "llama3-8b"];
        all.extend_from_slice(args);
        fails(&all)
    };
    let e = run(&["--phase", "prefill", "--seq", "1000000"]);
    assert_eq!(
        e,
        "kernel 'matmul': parameter 'm': 1000000 is out of range 1..=65536 (in the model's \
         qkv_proj (matmul), whose 'm' is the step's batch x seq (1 x 1000000))"
    );
    let e = run(&["--phase", "decode", "--context", "200000"]);
    assert!(
        e.ends_with("whose 'seq_kv' is the step's context (200000))"),
        "{e}"
    );
    let e = run(&["--phase", "decode", "--context", "4096", "--batch", "70000"]);
    assert!(e.ends_with("whose 'm' is the step's batch (70000))"), "{e}");
}
