//! Kueue's own test catalogue as the reference for admission and preemption.
//!
//! Every case of four Kueue test files (kubernetes-sigs/kueue, `pkg/scheduler/preemption/
//! preemption_test.go`, `preemption_fair_test.go`, `preemption_hierarchical_test.go` and
//! `pkg/scheduler/scheduler_test.go`) is either translated into `tests/data/kueue/<file>.toml`
//! and run through the real engine here, or listed in that file as not expressible, with the
//! reason. Each case is named by its Kueue test function and case name; the facts (quotas,
//! priorities, usages, expected victims) are Kueue's, nothing of its code is.
//!
//! # Case format (`tests/data/kueue/*.toml`)
//!
//! ```toml
//! file = "pkg/scheduler/preemption/preemption_test.go"  # the Kueue file
//! cases_in_file = 47       # Kueue's case count: translated + not expressible must equal it
//!
//! [[not_expressible]]
//! test = "TestPreemption"  # the Go test function
//! name = "each podset preempts a different flavor"
//! why = "two pod sets"
//!
//! [[case]]
//! test = "TestPreemption"
//! name = "preempt lowest priority"   # Kueue's case name
//! policy = "kueue"         # "kueue" (classical) or "fair" (fair sharing); default "kueue"
//! scale = 1                # chips per Kueue unit (0.5 CPU with scale 2 is 1 chip); default 1
//! note = "..."             # how the translation reads the case (e.g. memory never binds)
//! needs = "cohort_quota"   # a scenario feature trnsim lacks: skipped, with the reason printed
//! strategies = ["less_than_initial_share"]  # fair sharing's preemption strategies (needs
//!                          # "fair_strategies"; written as policy.fair_sharing.preemption_strategies)
//! cohorts = [{ name = "c", parent = "root", weight = 1.0, nominal = 5 }]  # nominal (flavor
//!                          # default): needs "cohort_quota", written as quota.default.nominal_chips
//! queues = [{ name = "standalone", cohort = "c", weight = 1.0,
//!             nominal = 6, borrowing_limit = 6, lending_limit = 4,     # flavor "default"
//!             quota = { alpha = { nominal = 3 } },                    # other flavors
//!             within_queue = "lower_priority", reclaim_within_cohort = "any",
//!             borrow_within_cohort = "lower_priority", borrow_max_priority = 0 }]
//! admitted = [{ name = "low", queue = "standalone", priority = -1, chips = 2,
//!               flavor = "default", at = 0 }]   # flavor "any": the flavors in order
//! incoming = [{ name = "in", queue = "standalone", priority = 1, chips = 2 }]
//! preempted = ["low"]      # Kueue's victims (default none)
//! incoming_admitted = ["in"]  # which incoming workloads start (default: all when
//!                             # `preempted` is not empty, none otherwise)
//! ```
//!
//! Preemption settings default to Kueue's (`never` for all three), not to trnsim's. Fair-sharing
//! weights default to 1. A flavor is a generation; a workload runs on the flavor it names
//! (default `default`; the incoming's flavor is the one Kueue's assignment names), or with
//! `flavor = "any"` on the first that admits it, in the order the queues list them (by name:
//! generations are declared in order of first use, `quota` tables sorted).
//!
//! # How a case runs
//!
//! One generation per flavor, with one UltraServer as large as every quota of that flavor
//! together, so placement never binds; quotas as given; `policy.reclaim = "immediate"` so
//! victims are evicted in the incoming's round. The admitted workloads are submitted one per
//! second, ordered by their Kueue admission time (`at`, seconds from Kueue's `now`) and, at equal
//! times, by name descending: Kueue takes, among candidates of equal priority, the most recently
//! admitted first and then the lowest UID (the fair-sharing tests set UID = name), and trnsim
//! the most recently started first, so that order makes the two agree. A first run without the
//! incoming workloads checks that every admitted workload starts at once and is still running
//! (a check of the translation). The incoming workloads are then submitted together, one second
//! after the last admitted one, and the run ends a second later: a workload was preempted if its
//! run in progress at the end (if any) is not its first one.
//!
//! Cases where trnsim's outcome is not Kueue's are listed in [`DIVERGENT`] with a diagnosis;
//! the test fails if a listed case starts matching, so the list only shrinks. Cases that need a
//! scenario feature trnsim lacks (`needs`, see [`FEATURES`]) are skipped with the reason printed,
//! and the test fails once the feature's key is accepted, so they get enabled.
//!
//! Counts now (`cargo test --release --test kueue_catalogue -- --nocapture` prints them): all
//! 114 translated cases give Kueue's outcome. When the catalogue was written 15 of them diverged
//! and 25 waited for cohort quotas or fair-sharing strategies; with those features 19 diverged,
//! the last one (admission order by borrowing height) fixed in issue 15.
//!
//! | Kueue file | cases | translated | of which divergent | waiting for a feature | not expressible |
//! |---|---|---|---|---|---|
//! | `preemption_test.go` | 47 | 32 | 0 | 0 | 15 |
//! | `preemption_fair_test.go` | 37 | 33 | 0 | 0 | 4 |
//! | `preemption_hierarchical_test.go` | 15 | 13 | 0 | 0 | 2 |
//! | `scheduler_test.go` | 73 | 36 | 0 | 0 | 37 |

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use trnsim::fleet::{RunOptions, Scenario, SpeedupRunTime, sim::run_with};

/// Cases whose trnsim outcome differs from Kueue's: "<file>: <test>/<case>" and why, as read
/// from Kueue's code against trnsim's.
const DIVERGENT: &[(&str, &str)] = &[];

/// Scenario features the catalogue needs and trnsim lacks: the `needs` name, a scenario fragment
/// using the wanted key (appended to a minimal scenario; accepted once the feature exists), the
/// key path a refusal names, and what it is.
const FEATURES: &[(&str, &str, &str, &str)] = &[];

/// Features of [`FEATURES`] that exist now: their cases run (`needs` only documents them), and
/// the probe must accept them.
const ENABLED: &[(&str, &str, &str)] = &[
    (
        "cohort_quota",
        "[cohorts.c]\nquota.g.nominal_chips = 1\n[tenants.t]\ncohort = \"c\"\nquota.g.nominal_chips = 1\n",
        "cohorts.c.quota",
    ),
    (
        "fair_strategies",
        "[policy]\nname = \"fair\"\nfair_sharing.preemption_strategies = [\"less_than_or_equal_to_final_share\"]\n[tenants.t]\nquota.g.nominal_chips = 1\n",
        "policy.fair_sharing",
    ),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DataFile {
    file: String,
    cases_in_file: usize,
    #[serde(default)]
    not_expressible: Vec<NotExpressible>,
    #[serde(default)]
    case: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotExpressible {
    test: String,
    name: String,
    why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    test: String,
    name: String,
    #[serde(default = "kueue")]
    policy: String,
    #[serde(default = "one")]
    scale: f64,
    #[serde(default)]
    #[allow(dead_code)]
    note: String,
    needs: Option<String>,
    /// Kueue `fairSharing.preemptionStrategies` (snake case), when the case sets them.
    strategies: Option<Vec<String>>,
    #[serde(default)]
    cohorts: Vec<Cohort>,
    queues: Vec<Queue>,
    #[serde(default)]
    admitted: Vec<Workload>,
    incoming: Vec<Workload>,
    #[serde(default)]
    preempted: Vec<String>,
    incoming_admitted: Option<Vec<String>>,
}

fn kueue() -> String {
    "kueue".into()
}
fn one() -> f64 {
    1.0
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Cohort {
    name: String,
    parent: Option<String>,
    weight: Option<f64>,
    nominal: Option<f64>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct Quota {
    #[serde(default)]
    nominal: f64,
    borrowing_limit: Option<f64>,
    lending_limit: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Queue {
    name: String,
    cohort: Option<String>,
    weight: Option<f64>,
    nominal: Option<f64>,
    borrowing_limit: Option<f64>,
    lending_limit: Option<f64>,
    #[serde(default)]
    quota: BTreeMap<String, Quota>,
    #[serde(default = "never")]
    within_queue: String,
    #[serde(default = "never")]
    reclaim_within_cohort: String,
    #[serde(default = "never")]
    borrow_within_cohort: String,
    borrow_max_priority: Option<i32>,
}

fn never() -> String {
    "never".into()
}

impl Queue {
    /// Quota per flavor: the `default` shorthand keys and the `quota` table.
    fn quotas(&self) -> BTreeMap<String, Quota> {
        let mut q = self.quota.clone();
        if self.nominal.is_some() || self.borrowing_limit.is_some() || self.lending_limit.is_some()
        {
            q.insert(
                "default".into(),
                Quota {
                    nominal: self.nominal.unwrap_or(0.0),
                    borrowing_limit: self.borrowing_limit,
                    lending_limit: self.lending_limit,
                },
            );
        }
        q
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Workload {
    name: String,
    queue: String,
    #[serde(default)]
    priority: i32,
    chips: f64,
    flavor: Option<String>,
    #[serde(default)]
    at: i64,
}

impl Workload {
    fn flavor(&self) -> &str {
        self.flavor.as_deref().unwrap_or("default")
    }
}

/// Kueue quantity `x` in chips.
fn chips(case: &Case, x: f64) -> u64 {
    let c = x * case.scale;
    assert!(
        c >= 0.0 && c.fract() == 0.0,
        "{}: {x} x scale {} is not a whole number of chips",
        case.name,
        case.scale
    );
    c as u64
}

/// The flavors of a case in first-use order.
fn flavors(case: &Case) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let named = case.queues.iter().flat_map(|q| q.quotas().into_keys());
    let used = case
        .admitted
        .iter()
        .chain(&case.incoming)
        .map(|w| w.flavor().to_string())
        .filter(|f| f != "any");
    for f in named.chain(used) {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// The admitted workloads in submission order (Kueue admission time, then name descending).
fn admission_order(case: &Case) -> Vec<&Workload> {
    let mut v: Vec<&Workload> = case.admitted.iter().collect();
    v.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| b.name.cmp(&a.name)));
    v
}

/// The cohorts and tenants of a case's scenario text.
fn tree_text(case: &Case, s: &mut String) {
    // Cohorts only named by a queue exist implicitly, as in Kueue.
    let mut implicit: Vec<&str> = Vec::new();
    for q in case.queues.iter().filter_map(|q| q.cohort.as_deref()) {
        if !case.cohorts.iter().any(|c| c.name == q) && !implicit.contains(&q) {
            implicit.push(q);
            let _ = writeln!(s, "[cohorts.{q}]");
        }
    }
    for c in &case.cohorts {
        let _ = writeln!(s, "[cohorts.{}]", c.name);
        if let Some(p) = &c.parent {
            let _ = writeln!(s, "parent = \"{p}\"");
        }
        if let Some(w) = c.weight {
            let _ = writeln!(s, "weight = {w:?}");
        }
        if let Some(n) = c.nominal {
            let _ = writeln!(s, "quota.default.nominal_chips = {}", chips(case, n));
        }
    }
    for q in &case.queues {
        let _ = writeln!(s, "[tenants.{}]", q.name);
        if let Some(c) = &q.cohort {
            let _ = writeln!(s, "cohort = \"{c}\"");
        }
        if let Some(w) = q.weight {
            let _ = writeln!(s, "weight = {w:?}");
        }
        for (f, x) in q.quotas() {
            let _ = write!(
                s,
                "quota.{f} = {{ nominal_chips = {}",
                chips(case, x.nominal)
            );
            if let Some(b) = x.borrowing_limit {
                let _ = write!(s, ", borrowing_limit_chips = {}", chips(case, b));
            }
            if let Some(l) = x.lending_limit {
                let _ = write!(s, ", lending_limit_chips = {}", chips(case, l));
            }
            s.push_str(" }\n");
        }
        let _ = write!(
            s,
            "preemption = {{ within_queue = \"{}\", reclaim_within_cohort = \"{}\", \
             borrow_within_cohort = \"{}\"",
            q.within_queue, q.reclaim_within_cohort, q.borrow_within_cohort
        );
        if let Some(p) = q.borrow_max_priority {
            let _ = write!(s, ", borrow_max_priority = {p}");
        }
        s.push_str(" }\n");
    }
}

/// The scenario text of a case: its jobs are `order` (submitted at their index, in seconds)
/// then, when `with_incoming`, the incoming workloads at `order.len() + 1`.
fn scenario_text(case: &Case, order: &[&Workload], with_incoming: bool) -> String {
    let t_in = order.len() as u64 + 1;
    let mut s = format!("horizon = {}\nreport_interval = 1\n", t_in + 1);
    for f in flavors(case) {
        let total: u64 = case
            .queues
            .iter()
            .filter_map(|q| q.quotas().get(&f).map(|x| chips(case, x.nominal)))
            .sum::<u64>()
            + case
                .cohorts
                .iter()
                .filter_map(|c| c.nominal)
                .map(|x| chips(case, x))
                .sum::<u64>();
        let _ = write!(
            s,
            "[fleet.generations.{f}]\nwatts_per_chip = 1000\nultraserver_chips = {}\n\
             ultraservers_per_cluster = 1\n[[fleet.deliveries]]\nat = 0\ngeneration = \"{f}\"\n\
             ultraservers = 1\n",
            total.max(1)
        );
    }
    let _ = write!(
        s,
        "[policy]\nname = \"{}\"\nreclaim = \"immediate\"\n",
        case.policy
    );
    if let Some(v) = &case.strategies {
        let _ = writeln!(s, "fair_sharing.preemption_strategies = {v:?}");
    }
    tree_text(case, &mut s);
    let incoming = case.incoming.iter().filter(|_| with_incoming);
    let jobs = order
        .iter()
        .copied()
        .zip(0u64..)
        .chain(incoming.map(|w| (w, t_in)));
    for (i, (w, at)) in jobs.enumerate() {
        let generation = match w.flavor() {
            "any" => String::new(),
            f => format!(", generation = \"{f}\""),
        };
        let _ = write!(
            s,
            "[demand.w{i:04}]\nkind = \"jobs\"\ntenant = \"{}\"\njobs = [{{ at = {at}, chips = {}, \
             run_time = 1000000, priority = {}{generation} }}]\n",
            w.queue,
            chips(case, w.chips),
            w.priority,
        );
    }
    s
}

/// What a run did with one job: its first start, the start of its run in progress at the end,
/// and whether it was rejected at submission.
type Fate = (Option<u64>, Option<u64>, bool);

/// The fate of every job of a run of `text`, in stream order (the streams are submitted in
/// order).
fn run_records(case: &Case, text: &str) -> Result<Vec<Fate>, String> {
    let debug = std::env::var("KUEUE_CASE").is_ok_and(|n| n == case.name);
    let s = Scenario::from_toml(text, &case.name, ".".as_ref(), &[], &|_| unreachable!())
        .map_err(|e| format!("scenario: {e}"))?;
    let opts = RunOptions {
        record_jobs: true,
        ..RunOptions::default()
    };
    let out = run_with(&s, 1, &SpeedupRunTime, &opts).map_err(|e| format!("run: {e}"))?;
    let fates: Vec<Fate> = out
        .jobs
        .iter()
        .map(|r| (r.first_start_s, r.running_since_s, r.rejected))
        .collect();
    if debug {
        println!("{text}\n{fates:?}");
    }
    Ok(fates)
}

/// What trnsim did with a case.
struct Got {
    /// Admitted workloads evicted.
    preempted: BTreeSet<String>,
    /// Incoming workloads running at the end.
    running: BTreeSet<String>,
    /// Incoming workloads rejected at submission (larger than any quota their queue can reach;
    /// Kueue keeps them pending).
    rejected: BTreeSet<String>,
}

fn outcome(case: &Case) -> Result<Got, String> {
    let order = admission_order(case);
    let before = run_records(case, &scenario_text(case, &order, false))?;
    for (k, (w, r)) in order.iter().zip(&before).enumerate() {
        if *r != (Some(k as u64), Some(k as u64), false) {
            return Err(format!(
                "translation check: admitted workload {} was not admitted at once and kept \
                 running (record {r:?})",
                w.name
            ));
        }
    }
    let after = run_records(case, &scenario_text(case, &order, true))?;
    let preempted = order
        .iter()
        .zip(&after)
        .filter(|(_, r)| r.1 != r.0)
        .map(|(w, _)| w.name.clone())
        .collect();
    let incoming = || case.incoming.iter().zip(&after[order.len()..]);
    let names = |f: fn(&Fate) -> bool| {
        incoming()
            .filter(|(_, r)| f(r))
            .map(|(w, _)| w.name.clone())
            .collect()
    };
    Ok(Got {
        preempted,
        running: names(|r| r.1.is_some()),
        rejected: names(|r| r.2),
    })
}

/// Kueue's outcome of a case: (preempted, incoming admitted).
fn expected(case: &Case) -> (BTreeSet<String>, BTreeSet<String>) {
    let preempted: BTreeSet<String> = case.preempted.iter().cloned().collect();
    let admitted = match &case.incoming_admitted {
        Some(v) => v.iter().cloned().collect(),
        None if preempted.is_empty() => BTreeSet::new(),
        None => case.incoming.iter().map(|w| w.name.clone()).collect(),
    };
    (preempted, admitted)
}

fn load() -> Vec<(String, DataFile)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/kueue");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let data: DataFile =
                toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, data)
        })
        .collect()
}

/// A feature is accepted once a minimal scenario using its key parses; until then the scenario
/// must be refused for that key (`key`), not for something else.
fn feature_exists(fragment: &str, key: &str) -> bool {
    let text = format!(
        "horizon = 10\n[fleet.generations.g]\nwatts_per_chip = 1000\nultraserver_chips = 4\n\
         [[fleet.deliveries]]\nat = 0\ngeneration = \"g\"\nultraservers = 1\n{fragment}"
    );
    match Scenario::from_toml(&text, "probe", ".".as_ref(), &[], &|_| unreachable!()) {
        Ok(_) => true,
        Err(e) => {
            let e = e.to_string();
            assert!(
                e.contains(key),
                "the probe for {key} fails for another reason: {e}"
            );
            false
        }
    }
}

/// Checks that a file's cases are all accounted for; returns problems.
fn check_counts(path: &str, data: &DataFile) -> Vec<String> {
    let mut problems = Vec::new();
    let mut names = BTreeSet::new();
    let all = data
        .case
        .iter()
        .map(|c| (&c.test, &c.name))
        .chain(data.not_expressible.iter().map(|n| (&n.test, &n.name)));
    for (test, name) in all {
        if !names.insert(format!("{test}/{name}")) {
            problems.push(format!("{path}: {test}/{name} is listed twice"));
        }
    }
    if names.len() != data.cases_in_file {
        problems.push(format!(
            "{path}: {} cases listed, {} in {}",
            names.len(),
            data.cases_in_file,
            data.file
        ));
    }
    for n in &data.not_expressible {
        assert!(!n.why.is_empty(), "{path}: {}: no reason", n.name);
    }
    problems
}

#[test]
fn kueue_catalogue() {
    let divergent: BTreeMap<&str, &str> = DIVERGENT.iter().copied().collect();
    let mut seen_divergent = BTreeSet::new();
    let mut problems = Vec::new();
    let mut summary = String::new();
    for &(name, fragment, key) in ENABLED {
        if !feature_exists(fragment, key) {
            problems.push(format!(
                "feature {name} is enabled but its probe is refused"
            ));
        }
    }
    for (path, data) in load() {
        problems.extend(check_counts(&path, &data));
        let (mut matched, mut diverged, mut skipped, mut rejected) = (0, 0, 0, 0);
        for case in &data.case {
            let key = format!("{path}: {}/{}", case.test, case.name);
            if let Some(need) = case
                .needs
                .as_ref()
                .filter(|n| !ENABLED.iter().any(|e| e.0 == *n))
            {
                let Some(&(_, fragment, probe_key, what)) = FEATURES.iter().find(|f| f.0 == need)
                else {
                    problems.push(format!("{key}: unknown need {need}"));
                    continue;
                };
                if feature_exists(fragment, probe_key) {
                    problems.push(format!("{key}: needs {need}, which exists now: enable it"));
                }
                println!("skipped {key}: needs {what}");
                skipped += 1;
                continue;
            }
            let got = match outcome(case) {
                Ok(g) => g,
                Err(e) => {
                    problems.push(format!("{key}: {e}"));
                    continue;
                }
            };
            if !got.rejected.is_empty() {
                rejected += got.rejected.len();
                println!(
                    "rejected at submission {key}: {:?} (Kueue keeps such a workload pending)",
                    got.rejected
                );
            }
            let got = (got.preempted, got.running);
            let want = expected(case);
            let listed = divergent.get(key.as_str());
            if listed.is_some() {
                seen_divergent.insert(key.clone());
            }
            match (got == want, listed) {
                (true, None) => matched += 1,
                (false, Some(why)) => {
                    diverged += 1;
                    println!("divergent {key} ({why}): kueue {want:?}, trnsim {got:?}");
                }
                (true, Some(_)) => problems.push(format!(
                    "{key}: listed as divergent but matches Kueue now: remove it from DIVERGENT"
                )),
                (false, None) => problems.push(format!(
                    "{key}: Kueue preempts {:?} and admits {:?}; trnsim preempts {:?} and \
                     admits {:?}",
                    want.0, want.1, got.0, got.1
                )),
            }
        }
        let _ = writeln!(
            summary,
            "{path}: {} translated ({matched} match, {diverged} divergent, {skipped} need a \
             feature; {rejected} incoming rejected at submission), {} not expressible",
            data.case.len(),
            data.not_expressible.len()
        );
    }
    for key in divergent.keys() {
        if !seen_divergent.contains(*key) {
            problems.push(format!("DIVERGENT names no case that ran: {key}"));
        }
    }
    println!("{summary}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The comparison can fail: a case run with another victim than Kueue's, or with the incoming
/// kept out, does not match.
#[test]
fn a_wrong_expectation_is_caught() {
    let files = load();
    let (_, data) = files
        .iter()
        .find(|(p, _)| p == "preemption_test.toml")
        .unwrap();
    let case = data
        .case
        .iter()
        .find(|c| c.name == "preempt lowest priority")
        .unwrap();
    let Got {
        preempted, running, ..
    } = outcome(case).unwrap();
    let got = (preempted, running);
    assert_eq!(got, expected(case));
    let mid: BTreeSet<String> = ["mid".to_string()].into();
    assert_ne!(got, (mid, got.1.clone()));
    assert_ne!(got, (got.0.clone(), BTreeSet::new()));
}
