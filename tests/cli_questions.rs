//! The question scenarios (`scenarios/{anchor-reservation,anchor-fp8,delivery-delay,
//! reclaim-policy}.toml`) as a user runs them: the `--vary` of the `trnsim sweep` command in each
//! file's header, on a shorter horizon and fewer seeds, moves the model's outputs in the
//! direction the question is about. Every number asserted on comes out of the simulators.

mod common;

use common::root;

use std::process::Command;

use serde_json::Value;

/// The `--vary KEY=V1,V2,...` of the sweep command in a scenario's header comment.
fn header_vary(name: &str) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(root().join("scenarios").join(name)).unwrap();
    let header: Vec<&str> = text.lines().take_while(|l| l.starts_with('#')).collect();
    assert!(
        header
            .iter()
            .any(|l| l.contains(&format!("trnsim sweep scenarios/{name}"))),
        "{name}: no `trnsim sweep scenarios/{name}` command in the header"
    );
    let spec = header
        .iter()
        .find_map(|l| l.split("--vary ").nth(1))
        .unwrap_or_else(|| panic!("{name}: no --vary in the header"));
    let spec = spec.split_whitespace().next().unwrap();
    let (k, v) = spec.split_once('=').unwrap();
    (k.to_string(), v.split(',').map(str::to_string).collect())
}

/// `trnsim sweep` over `values` of the header's key, JSON; the points' metrics in order.
fn sweep(name: &str, values: &[&str], seeds: u32, set: &[&str]) -> Vec<Value> {
    let (key, documented) = header_vary(name);
    for v in values {
        assert!(
            documented.iter().any(|d| d == v),
            "{v} is not among {documented:?}"
        );
    }
    let scenario = root().join("scenarios").join(name);
    let vary = format!("{key}={}", values.join(","));
    let seeds = seeds.to_string();
    let mut args = vec![
        "sweep",
        scenario.to_str().unwrap(),
        "--vary",
        &vary,
        "--seeds",
        &seeds,
        "--format",
        "json",
    ];
    for s in set {
        args.extend(["--set", s]);
    }
    let o = Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .args(&args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metrics"].clone())
        .collect()
}

/// Mean over seeds of one metric at one point.
fn m(point: &Value, metric: &str) -> f64 {
    point[metric]["mean"]
        .as_f64()
        .unwrap_or_else(|| panic!("no metric {metric}"))
}

#[test]
fn a_bigger_anchor_reservation_makes_the_others_wait_longer() {
    let (_, values) = header_vary("anchor-reservation.toml");
    let (small, big) = (values[0].as_str(), values[values.len() - 1].as_str());
    let p = sweep(
        "anchor-reservation.toml",
        &[small, big],
        2,
        &["horizon=13w"],
    );
    let others = ["lab-a", "lab-b", "startups"];
    let wait = |pt: &Value| -> f64 {
        others
            .iter()
            .map(|t| m(pt, &format!("tenants.{t}.queue_delay_s.mean")))
            .sum()
    };
    assert!(
        wait(&p[1]) > wait(&p[0]),
        "others' mean waits {} at {big} GW vs {} at {small} GW",
        wait(&p[1]),
        wait(&p[0])
    );
    // The anchor fills what it reserves: more of the fleet is busy.
    assert!(m(&p[1], "fleet.utilization") > m(&p[0], "fleet.utilization"));
    assert!(
        m(&p[1], "tenants.anchor.chip_hours_served") > m(&p[0], "tenants.anchor.chip_hours_served")
    );
}

#[test]
fn fp8_shortens_the_anchors_jobs_and_gives_back_capacity() {
    let p = sweep(
        "anchor-fp8.toml",
        &["bfloat16", "float8_e4m3"],
        1,
        &["horizon=4w"],
    );
    let (bf16, fp8) = (&p[0], &p[1]);
    for g in ["trn2", "trn3"] {
        let key = format!("workloads.anchor-train.generations.{g}.step_s");
        assert!(
            m(fp8, &key) < 0.9 * m(bf16, &key),
            "{g}: fp8 step {} s vs bf16 {} s",
            m(fp8, &key),
            m(bf16, &key)
        );
    }
    // The others' workloads do not change.
    let lab = "workloads.lab-70b.generations.trn3.step_s";
    assert_eq!(m(fp8, lab), m(bf16, lab));
    let run = "tenants.anchor.run_time_s.mean";
    assert!(
        m(fp8, run) < 0.9 * m(bf16, run),
        "anchor's mean run time {} s in fp8 vs {} s in bf16",
        m(fp8, run),
        m(bf16, run)
    );
    // Same jobs, done sooner: the anchor holds fewer chip-hours and lends more.
    assert!(
        m(fp8, "tenants.anchor.chip_hours_served") < m(bf16, "tenants.anchor.chip_hours_served")
    );
    assert!(m(fp8, "tenants.anchor.chip_hours_lent") > m(bf16, "tenants.anchor.chip_hours_lent"));
}

#[test]
fn a_late_trn3_delivery_makes_the_anchor_wait_and_the_labs_run_on_trn2() {
    let (_, values) = header_vary("delivery-delay.toml");
    let (on_time, late) = (values[0].as_str(), values[values.len() - 1].as_str());
    let p = sweep("delivery-delay.toml", &[on_time, late], 1, &["horizon=70w"]);
    let wait = "tenants.anchor.queue_delay_s.mean";
    assert!(
        m(&p[1], wait) > m(&p[0], wait) + 30.0 * 86_400.0,
        "anchor's mean wait {} s when Trn3 comes at {late} vs {} s at {on_time}",
        m(&p[1], wait),
        m(&p[0], wait)
    );
    // The labs' jobs spend longer on Trn2, where the chip model runs them slower.
    let trn2 = "workloads.lab-70b.generations.trn2.step_s";
    let trn3 = "workloads.lab-70b.generations.trn3.step_s";
    assert!(m(&p[0], trn2) > m(&p[0], trn3));
    let run = "tenants.lab-a.run_time_s.mean";
    assert!(
        m(&p[1], run) > m(&p[0], run),
        "lab-a's mean run time {} s late vs {} s on time",
        m(&p[1], run),
        m(&p[0], run)
    );
}

#[test]
fn reclaim_modes_trade_the_anchors_wait() {
    let (_, values) = header_vary("reclaim-policy.toml");
    let v: Vec<&str> = values.iter().map(String::as_str).collect();
    assert_eq!(v, ["immediate", "graceful", "throttled"]);
    let p = sweep("reclaim-policy.toml", &v, 1, &[]);
    let (imm, grace, thr) = (&p[0], &p[1], &p[2]);
    for pt in &p {
        assert!(m(pt, "tenants.anchor.reclaim_s.count") > 0.0, "no reclaim");
        assert!(m(pt, "tenants.startups.preemptions") > 0.0, "no eviction");
    }
    let p99 = "tenants.anchor.reclaim_s.p99";
    // Immediate: the anchor starts in the round that decides; graceful: within the 30 min
    // grace (the bound scenarios/README.md states); throttled: the rounds the budget needs.
    assert_eq!(m(imm, p99), 0.0);
    assert!(m(grace, p99) > 0.0 && m(grace, "tenants.anchor.reclaim_s.max") <= 1800.0);
    assert!(m(thr, p99) > m(grace, p99));
}

/// `anchor-2gw.toml`: the others' demand is their own forecast, so the anchor's reservation
/// leaves their demand as it is (the same jobs, drawn from the same streams) and makes them wait
/// longer; with `load` demand (demand follows capacity) a bigger reservation made them submit
/// fewer jobs and wait less. Its first year, at a quarter and the whole of its 1 GW of Trn3.
#[test]
fn anchor_2gw_a_bigger_reservation_keeps_the_others_demand_and_makes_them_wait() {
    let scenario = root().join("scenarios/anchor-2gw.toml");
    let o = Command::new(env!("CARGO_BIN_EXE_trnsim"))
        .args([
            "sweep",
            scenario.to_str().unwrap(),
            "--vary",
            "tenants.anchor.reservation.trn3.gw=0.25,1",
            "--set",
            "horizon=1y",
            "--seeds",
            "1",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let p: Vec<&Value> = v["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["metrics"])
        .collect();
    let others = ["lab-a", "lab-b", "startups", "inference"];
    for t in others {
        for k in ["jobs_submitted", "chip_hours_demanded"] {
            let key = format!("tenants.{t}.{k}");
            assert_eq!(m(p[0], &key), m(p[1], &key), "{key}");
        }
    }
    let wait = |pt: &Value| -> f64 {
        others
            .iter()
            .map(|t| m(pt, &format!("tenants.{t}.queue_delay_s.mean")))
            .sum()
    };
    assert!(
        wait(p[1]) > 2.0 * wait(p[0]),
        "others' mean waits {} s at 1 GW vs {} s at 0.25 GW",
        wait(p[1]),
        wait(p[0])
    );
}
