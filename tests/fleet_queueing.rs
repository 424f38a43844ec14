//! Queueing-theory validation (scheduling.md section 5): in the single-pool, one-chip-job, FIFO
//! limit the fleet simulator is an M/M/c queue and must agree with Erlang C; with two priority
//! classes and preemptive-resume it must agree with the exact M/M/1 priority results.
//!
//! Estimates come from one long run per case (fixed seed) with its warm-up (the first 5 % of
//! jobs) and its tail (the last 2 %) removed, cut into 20 consecutive batches; the 95 %
//! confidence interval of the batch means is mean +- t(0.975, 19) * sd / sqrt(20). Batches hold
//! at least 4,500 jobs, several times the relaxation time of the heaviest case. Time is integer
//! seconds, so service times are large (1000 s per server and more) to keep rounding negligible.

use trnsim::fleet::{RunOptions, Scenario, SpeedupRunTime, sim::run_with};

const BATCHES: usize = 20;
/// t(0.975, 19).
const T_975_19: f64 = 2.093;

/// Erlang C probability of waiting, via the Erlang B recursion (stable for large c).
fn erlang_c(c: u32, a: f64) -> f64 {
    let mut b = 1.0;
    for k in 1..=c {
        b = a * b / (k as f64 + a * b);
    }
    let c = c as f64;
    c * b / (c - a * (1.0 - b))
}

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml(text, "test.toml", ".".as_ref(), &[], &|_| unreachable!()).unwrap()
}

/// Mean over replications and the CI half-width.
fn ci(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, T_975_19 * (var / n).sqrt())
}

/// Batch means of `metric` over the steady-state jobs of tenant `tenant`.
fn batch_means(s: &Scenario, tenant: usize, metric: impl Fn(u64, u64, u64) -> f64) -> Vec<f64> {
    let opts = RunOptions {
        record_jobs: true,
        ..Default::default()
    };
    let out = run_with(s, 1, &SpeedupRunTime, &opts).unwrap();
    let all = &out.jobs;
    let n = all.len();
    let steady: Vec<f64> = all[n / 20..n - n / 50]
        .iter()
        .filter(|j| j.tenant == tenant)
        .map(|j| {
            metric(
                j.submit_s,
                j.first_start_s.expect("every steady-state job starts"),
                j.end_s.expect("every steady-state job completes"),
            )
        })
        .collect();
    let per = steady.len() / BATCHES;
    (0..BATCHES)
        .map(|b| steady[b * per..(b + 1) * per].iter().sum::<f64>() / per as f64)
        .collect()
}

/// One tenant's Poisson stream of one-chip jobs with exponential run times (mean `mean_s`) on
/// `c` one-chip servers in one UltraServer: an M/M/c queue. `horizon` and `report_interval` are
/// TOML values (seconds, or a quoted duration).
fn mmc_text(
    c: u32,
    horizon: &str,
    report_interval: &str,
    rate_per_hour: f64,
    mean_s: f64,
) -> String {
    format!(
        r#"
horizon = {horizon}
report_interval = {report_interval}
[fleet.generations.pool]
watts_per_chip = 1000
ultraserver_chips = {c}
ultraservers_per_cluster = 1
[[fleet.deliveries]]
at = 0
generation = "pool"
ultraservers = 1
[tenants.a.quota.pool]
nominal_chips = {c}
[demand.a]
kind = "poisson"
tenant = "a"
rate_per_hour = {rate_per_hour}
chips = {{ dist = "fixed", value = 1 }}
run_time = {{ dist = "exponential", mean = {mean_s} }}
"#
    )
}

fn mmc(c: u32, rho: f64, jobs: u64) -> (f64, f64, f64) {
    let mean_s = 1000.0 * c as f64;
    let lambda = rho * c as f64 / mean_s;
    let horizon = (jobs as f64 / lambda * 1.05 + 100.0 * mean_s) as u64;
    let text = mmc_text(
        c,
        &horizon.to_string(),
        &horizon.to_string(),
        lambda * 3600.0,
        mean_s,
    ) + &format!("max_jobs = {jobs}\n");
    let s = scenario(&text);
    let waits = batch_means(&s, 0, |submit, start, _| (start - submit) as f64);
    let (mean, half) = ci(&waits);
    let a = rho * c as f64;
    let wq = erlang_c(c, a) / (c as f64 / mean_s - lambda);
    (wq, mean, half)
}

#[test]
fn erlang_b_recursion_matches_known_values() {
    // M/M/1: C = rho. M/M/2 at a = 1: C = 1/3.
    assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-12);
    assert!((erlang_c(2, 1.0) - 1.0 / 3.0).abs() < 1e-12);
    // Large c does not overflow.
    let c = erlang_c(1000, 950.0);
    assert!(c > 0.0 && c < 1.0, "{c}");
}

#[test]
fn mmc_mean_wait_matches_erlang_c() {
    let mut failures = Vec::new();
    let mut table = String::from("c     load  erlang_c_wq_s  sim_mean_s  ci95_half_s\n");
    for c in [1u32, 10, 100, 1000] {
        for rho in [0.5, 0.8, 0.95] {
            // Heavier load relaxes more slowly: more jobs per replication.
            let jobs = if rho > 0.9 {
                600_000
            } else if rho > 0.7 {
                200_000
            } else {
                100_000
            };
            let (wq, mean, half) = mmc(c, rho, jobs);
            table.push_str(&format!(
                "{c:<5} {rho:<5} {wq:>13.3} {mean:>11.3} {half:>12.3}\n"
            ));
            let slack = 1e-6 * 1000.0 * c as f64; // integer-time rounding of near-zero waits
            if (mean - wq).abs() > half + slack {
                failures.push(format!(
                    "c={c} load={rho}: Erlang C {wq:.3} s, simulated {mean:.3} +- {half:.3} s"
                ));
            }
        }
    }
    println!("{table}");
    assert!(
        failures.is_empty(),
        "outside the 95 % CI:\n{}\n{table}",
        failures.join("\n")
    );
}

#[test]
fn two_class_preemptive_resume_priority_matches_exact_mm1() {
    // One server, equal exponential service rates, preemptive-resume (checkpoint every second:
    // integer time keeps all progress). High class: M/M/1 with its own rate. Low class: total
    // jobs in system (M/M/1 at the total load) minus high-class jobs, then Little's law.
    let mean_s = 1000.0;
    let mu = 1.0 / mean_s;
    let (rho_h, rho_l) = (0.3, 0.5);
    let (lh, ll) = (rho_h * mu, rho_l * mu);
    let jobs = 400_000u64;
    let horizon = (jobs as f64 / (lh + ll) * 1.05 + 200.0 * mean_s) as u64;
    let text = format!(
        r#"
horizon = {horizon}
report_interval = {horizon}
[policy]
name = "priority"
[fleet.generations.pool]
watts_per_chip = 1000
ultraserver_chips = 1
ultraservers_per_cluster = 1
[[fleet.deliveries]]
at = 0
generation = "pool"
ultraservers = 1
[tenants.high]
priority = 10
[tenants.low]
priority = 0
[demand.high]
kind = "poisson"
tenant = "high"
rate_per_hour = {rh}
max_jobs = {mh}
checkpoint = 1
run_time = {{ dist = "exponential", mean = {mean_s} }}
[demand.low]
kind = "poisson"
tenant = "low"
rate_per_hour = {rl}
max_jobs = {ml}
checkpoint = 1
run_time = {{ dist = "exponential", mean = {mean_s} }}
"#,
        rh = lh * 3600.0,
        rl = ll * 3600.0,
        mh = (jobs as f64 * rho_h / (rho_h + rho_l)) as u64,
        ml = (jobs as f64 * rho_l / (rho_h + rho_l)) as u64,
    );
    let s = scenario(&text);
    let response = |submit: u64, _: u64, end: u64| (end - submit) as f64;
    let (th, hh) = ci(&batch_means(&s, 0, response));
    let (tl, hl) = ci(&batch_means(&s, 1, response));
    let exact_h = 1.0 / (mu - lh);
    let rho = rho_h + rho_l;
    let n_total = rho / (1.0 - rho);
    let n_high = rho_h / (1.0 - rho_h);
    let exact_l = (n_total - n_high) / ll;
    println!(
        "high: exact {exact_h:.1} s, simulated {th:.1} +- {hh:.1}\nlow: exact {exact_l:.1} s, simulated {tl:.1} +- {hl:.1}"
    );
    assert!(
        (th - exact_h).abs() <= hh,
        "high class: exact {exact_h}, simulated {th} +- {hh}"
    );
    assert!(
        (tl - exact_l).abs() <= hl,
        "low class: exact {exact_l}, simulated {tl} +- {hl}"
    );
}

/// A `load` stream offers that fraction of its tenant's nominal quota at every quota epoch:
/// the quota doubles with a delivery, the arrival rate doubles with it, and a generation twice
/// as fast gets twice the jobs for the same load (scenarios/README.md, `load`).
#[test]
fn load_streams_follow_the_nominal_quota() {
    let s = scenario(
        r#"
horizon = "40d"
[fleet.generations.g]
watts_per_chip = 1000
ultraserver_chips = 64
speedup = 2.0
[[fleet.deliveries]]
at = 0
generation = "g"
chips = 256
[[fleet.deliveries]]
at = "20d"
generation = "g"
chips = 256
[tenants.a]
quota.g.nominal_share = 0.5
[tenants.b]
quota.g.nominal_share = 0.5
[demand.a]
kind = "poisson"
tenant = "a"
generation = "g"
load = 0.6
chips = { dist = "fixed", value = 4 }
run_time = { dist = "fixed", value = "1h" }
"#,
    );
    let trnsim::fleet::demand::DemandStream::Poisson(p) = &s.demand[0] else {
        panic!("a poisson stream")
    };
    // 0.6 x 128 chips x speed-up 2 / (4 chips x 3600 s), then with 256 chips.
    let r0 = 0.6 * 128.0 * 2.0 / (4.0 * 3600.0);
    let r = &p.rate;
    assert!((r.at(0.0) - r0).abs() < 1e-12 && (r.at(19.0 * 86_400.0) - r0).abs() < 1e-12);
    assert!((r.at(20.0 * 86_400.0) - 2.0 * r0).abs() < 1e-12);
    // The run: chips held by the tenant's jobs over the horizon are 0.6 of its quota.
    let out = run_with(&s, 3, &SpeedupRunTime, &RunOptions::default()).unwrap();
    let a = &out.tenants[0];
    let quota_chip_hours = (128.0 * 20.0 + 256.0 * 20.0) * 24.0;
    let offered = a.chip_hours_served / quota_chip_hours;
    assert!((offered - 0.6).abs() < 0.02, "{offered}");
}

/// M/M/c above capacity (c = 4 one-chip servers, mu = 1 per hour each, lambda = 6 per hour,
/// load 1.5): every server is busy after the first minutes, so the number waiting is a random
/// walk with drift lambda - c mu = 2 jobs per hour and variance (lambda + c mu) per hour. The
/// least-squares slope of a Brownian path with variance rate s2 over [0, T] has variance
/// 1.2 s2 / T (continuous sampling; samples every 10 h of T = 10,000 h are close to it): the
/// tolerance is 4 of those standard deviations (7 % of the drift). The tenant's backlog is
/// flagged as growing; at load 0.5 it is not.
#[test]
fn mmc_above_capacity_backlog_grows_at_lambda_minus_c_mu() {
    let (c, mu_per_h) = (4u32, 1.0);
    let text =
        |lambda_per_h: f64| mmc_text(c, "\"10000h\"", "\"10h\"", lambda_per_h, 3600.0 / mu_per_h);
    let (lambda, t_h) = (6.0, 10_000.0);
    let run = |l: f64| {
        let s = scenario(&text(l));
        run_with(&s, 1, &SpeedupRunTime, &RunOptions::default()).unwrap()
    };
    let out = run(lambda);
    let pts: Vec<(f64, f64)> = out
        .timeseries
        .iter()
        .filter(|s| s.series == "*fleet*")
        .map(|s| (s.time_s as f64 / 3600.0, s.jobs_queued as f64))
        .collect();
    let n = pts.len() as f64;
    let (mx, my) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let slope = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum::<f64>()
        / pts.iter().map(|p| (p.0 - mx).powi(2)).sum::<f64>();
    let drift = lambda - c as f64 * mu_per_h;
    let tol = 4.0 * (1.2 * (lambda + c as f64 * mu_per_h) / t_h).sqrt();
    assert!(
        (slope - drift).abs() <= tol,
        "backlog slope {slope:.4} jobs/h, lambda - c mu = {drift}, tolerance {tol:.4}"
    );
    println!("backlog slope {slope:.4} jobs/h (lambda - c mu = {drift}, tolerance {tol:.4})");
    let a = &out.tenants[0];
    assert!(a.backlog_growing, "{a:?}");
    // Queued work (jobs of mean 1 reference chip-hour) grows at the same rate in chip-hours;
    // over the last quarter only, with exponential job sizes (E[X^2] = 2) doubling the
    // variance rate.
    let tol_work = 4.0 * (1.2 * 2.0 * (lambda + c as f64 * mu_per_h) / (t_h / 4.0)).sqrt();
    let work_slope = a.backlog_slope_chip_hours_per_h;
    println!("last-quarter work slope {work_slope:.4} chip-h/h (tolerance {tol_work:.4})");
    assert!((work_slope - drift).abs() <= tol_work, "{a:?}");
    assert!(a.work.served_share < c as f64 * mu_per_h / lambda + 0.02);
    assert!(!run(2.0).tenants[0].backlog_growing);
}
