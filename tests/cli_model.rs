//! `trnsim model` as a user runs it: the shipped configs, a Llama-3-8B prefill layer's report
//! (its structure, and totals that are the sums of their parts), decode, and bad input.

mod common;

use common::trnsim;
use serde_json::Value;

fn json(args: &[&str]) -> Value {
    let o = trnsim(args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Sums of the rows' fields, the rows' shares summing to one, totals as documented.
fn check_totals(r: &Value) {
    for (rows, total) in [("layer_kernels", "layer"), ("head_kernels", "head")] {
        let rows = r[rows].as_array().unwrap();
        let t = &r[total];
        let time: f64 = rows.iter().filter_map(|k| k["time_ns"].as_f64()).sum();
        assert!(close(time, t["time_ns"].as_f64().unwrap()), "{total} time");
        let flops: f64 = rows.iter().filter_map(|k| k["flops"].as_f64()).sum();
        assert!(close(flops, t["flops"].as_f64().unwrap()), "{total} flops");
        let bytes: u64 = rows.iter().filter_map(|k| k["hbm_bytes"].as_u64()).sum();
        assert_eq!(bytes, t["hbm_bytes"].as_u64().unwrap());
        let share: f64 = rows.iter().filter_map(|k| k["share"].as_f64()).sum();
        assert!(close(share, 1.0), "{total} shares sum to {share}");
        for k in rows {
            if k["available"] == true {
                let mfu = k["mfu"].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&mfu));
                assert!(["compute", "memory"].contains(&k["bound"].as_str().unwrap()));
            } else {
                assert!(k["time_ns"].is_null() && k["note"].is_string());
            }
        }
    }
    let layers = r["model"]["layers"].as_f64().unwrap();
    let total = &r["total"];
    let want =
        layers * r["layer"]["time_ns"].as_f64().unwrap() + r["head"]["time_ns"].as_f64().unwrap();
    assert!(close(want, total["time_ns"].as_f64().unwrap()));
    let tokens = total["tokens"].as_f64().unwrap();
    assert!(close(
        total["tokens_per_s"].as_f64().unwrap(),
        tokens / (total["time_ns"].as_f64().unwrap() * 1e-9)
    ));
}

#[test]
fn llama3_8b_prefill_reports_every_kernel_and_consistent_totals() {
    let r = json(&[
        "model",
        "run",
        "kernels/models/llama3-8b.toml",
        "--phase",
        "prefill",
        "--batch",
        "1",
        "--seq",
        "512",
        "--hw",
        "trn2",
        "--format",
        "json",
    ]);
    assert_eq!(r["model"]["name"], "llama3-8b");
    assert_eq!(r["model"]["layers"], 32);
    assert_eq!(r["step"]["phase"], "prefill");
    assert_eq!(r["total"]["tokens"], 512);
    let roles: Vec<&str> = r["layer_kernels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["role"].as_str().unwrap())
        .collect();
    for role in [
        "attn_norm",
        "qkv_proj",
        "attention",
        "o_proj",
        "mlp_norm",
        "mlp",
    ] {
        assert!(roles.contains(&role), "{role} in {roles:?}");
    }
    let by_role = |role: &str| {
        r["layer_kernels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["role"] == role)
            .unwrap()
            .clone()
    };
    // The kernels this branch ships run; GQA and causal reach the attention kernel.
    for role in ["qkv_proj", "attention", "o_proj", "mlp"] {
        assert_eq!(by_role(role)["available"], true, "{role}");
    }
    let attn = by_role("attention");
    let params = attn["params"].as_str().unwrap();
    assert!(
        params.contains("kv_heads=8") && params.contains("causal=true"),
        "{params}"
    );
    assert!(
        by_role("qkv_proj")["params"]
            .as_str()
            .unwrap()
            .contains("n=6144")
    );
    // Prefill at 512 tokens is compute-bound in the projections and the MLP.
    assert_eq!(by_role("mlp")["bound"], "compute");
    check_totals(&r);
}

#[test]
fn decode_attends_to_the_context_and_is_memory_bound() {
    let r = json(&[
        "model",
        "run",
        "llama3-8b",
        "--phase",
        "decode",
        "--batch",
        "4",
        "--context",
        "2048",
        "--format",
        "json",
    ]);
    check_totals(&r);
    assert_eq!(r["total"]["tokens"], 4);
    for k in r["layer_kernels"].as_array().unwrap() {
        if k["available"] == true {
            assert_eq!(k["bound"], "memory", "{}", k["role"]);
        }
        if k["role"] == "attention" {
            let p = k["params"].as_str().unwrap();
            assert!(p.contains("seq_q=1") && p.contains("seq_kv=2048"), "{p}");
        }
    }
}

#[test]
fn table_and_csv_show_the_breakdown() {
    let out = |format: &str| {
        let o = trnsim(&[
            "model",
            "run",
            "llama3-8b",
            "--phase",
            "decode",
            "--context",
            "512",
            "--format",
            format,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    let text = out("table");
    for want in [
        "qkv_proj",
        "attention",
        "mlp",
        "lm_head",
        "model (32 layers + head)",
        "tokens/s",
    ] {
        assert!(text.contains(want), "{want} in\n{text}");
    }
    let csv = out("csv");
    assert!(
        csv.starts_with("part,kernel,library_kernel,count,time_us"),
        "{csv}"
    );
}

#[test]
fn list_shows_the_shipped_configs() {
    let v = json(&["model", "list", "--format", "json"]);
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["llama3-8b", "llama3-70b"]);
    assert_eq!(v[1]["layers"], 80);
    assert_eq!(v[0]["parameters_b"], 8.03);
}

#[test]
fn a_bad_config_names_the_key_and_line_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "hidden = 4096\nheads = 32\nkv_heads = 5\n",
            "kv_heads",
            "m.toml:4:1: kv_heads: ",
        ),
        (
            "hidden = 4096\nheads = \"32\"\nkv_heads = 8\n",
            "heads",
            "m.toml:3:9: heads: ",
        ),
        (
            "hidden = 4096\nheads = 32\nkv_heads = 8\nhead_dim = 256\n",
            "head_dim",
            "m.toml:5:1: head_dim: ",
        ),
        (
            "hidden = 4096\nheads = 32\nkv_heads = 8\nhead_dims = 128\n",
            "head_dims",
            "m.toml:5:1: head_dims: ",
        ),
    ];
    for (body, key, line) in cases {
        let rest = "intermediate = 14336\nvocab = 128256\nlayers = 2\n";
        let text = if body.contains("head_dim") {
            format!("name = \"m\"\n{body}{rest}")
        } else {
            format!("name = \"m\"\n{body}head_dim = 128\n{rest}")
        };
        let path = dir.path().join("m.toml");
        std::fs::write(&path, text).unwrap();
        let o = trnsim(&[
            "model",
            "run",
            path.to_str().unwrap(),
            "--phase",
            "prefill",
            "--seq",
            "128",
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{key}: {err}");
        assert!(
            err.contains(key) && err.contains(line),
            "{key}, {line}: {err}"
        );
    }
}

#[test]
fn bad_options_exit_2() {
    for (args, want) in [
        (vec!["--phase", "decode", "--seq", "128"], "--context"),
        (vec!["--phase", "prefill"], "--seq"),
        (vec!["--phase", "prefill", "--seq", "0"], "--seq"),
        (vec!["--phase", "prefill", "--seq", "200000"], "qkv_proj"),
        (
            vec!["--phase", "prefill", "--seq", "128", "--dtype", "int4"],
            "int4",
        ),
    ] {
        let mut a = vec!["model", "run", "llama3-8b"];
        a.extend(args.iter());
        let o = trnsim(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let o = trnsim(&[
        "model",
        "run",
        "no-such-model",
        "--phase",
        "prefill",
        "--seq",
        "8",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("llama3-8b"));
}
