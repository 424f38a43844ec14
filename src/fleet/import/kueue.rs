//! Kueue's objects as read from YAML: ClusterQueue, Cohort, ResourceFlavor and
//! WorkloadPriorityClass (`kueue.x-k8s.io` v1alpha1, v1beta1 or v1beta2), each with every
//! resource's quota kept until one resource is chosen.

use super::yaml::Node;
use crate::config;

/// One resource's quota on one flavor (a `resources[]` entry of a flavor).
pub(super) struct Quota<'a> {
    pub(super) resource: String,
    pub(super) flavor: String,
    pub(super) nominal: Node<'a>,
    pub(super) borrowing: Option<Node<'a>>,
    pub(super) lending: Option<Node<'a>>,
}

/// Kueue's preemption settings of a ClusterQueue, as trnsim names them.
pub(super) struct Preemption {
    pub(super) within_queue: &'static str,
    pub(super) reclaim_within_cohort: &'static str,
    pub(super) borrow_within_cohort: &'static str,
    pub(super) borrow_max_priority: Option<i64>,
}

pub(super) struct ClusterQueue<'a> {
    pub(super) name: String,
    pub(super) cohort: Option<String>,
    pub(super) quotas: Vec<Quota<'a>>,
    pub(super) preemption: Preemption,
    /// `strict_fifo` or `best_effort_fifo` (Kueue's default).
    pub(super) queueing: &'static str,
    pub(super) weight: Option<f64>,
    /// Spec keys that change admission and have no trnsim counterpart.
    pub(super) untranslated: Vec<String>,
    pub(super) node: Node<'a>,
}

pub(super) struct Cohort<'a> {
    pub(super) name: String,
    pub(super) parent: Option<String>,
    pub(super) weight: Option<f64>,
    /// The cohort's own quota (resourceGroups).
    pub(super) quotas: Vec<Quota<'a>>,
}

pub(super) struct Flavor {
    pub(super) name: String,
    /// `nodeLabels` values, where a preset is recognised.
    pub(super) labels: Vec<String>,
}

pub(super) struct PriorityClass {
    pub(super) name: String,
    pub(super) value: i64,
}

/// Every object read, in file order.
#[derive(Default)]
pub(super) struct Objects<'a> {
    pub(super) queues: Vec<ClusterQueue<'a>>,
    pub(super) cohorts: Vec<Cohort<'a>>,
    pub(super) flavors: Vec<Flavor>,
    pub(super) classes: Vec<PriorityClass>,
    /// Objects of other kinds or groups, as `Kind/name (file)`.
    pub(super) ignored: Vec<String>,
}

const VERSIONS: [&str; 3] = ["v1alpha1", "v1beta1", "v1beta2"];

impl<'a> Objects<'a> {
    /// Add the object of one document.
    pub(super) fn add(&mut self, doc: Node<'a>) -> config::Result<()> {
        // Anything but a Kueue object of the four kinds (a LocalQueue, a kustomization.yaml)
        // is listed as ignored, whatever it holds.
        let kind = doc.text_at("kind")?.unwrap_or_else(|| "(no kind)".into());
        let api_text = doc.text_at("apiVersion")?.unwrap_or_default();
        let kueue = match api_text.split_once('/') {
            Some(("kueue.x-k8s.io", v)) if VERSIONS.contains(&v) => true,
            Some(("kueue.x-k8s.io", v)) => {
                return Err(doc.need("apiVersion")?.error(format!(
                    "Kueue API version '{v}' is not read here; expected one of: {}",
                    VERSIONS.join(", ")
                )));
            }
            _ => false,
        };
        let known = [
            "ClusterQueue",
            "Cohort",
            "ResourceFlavor",
            "WorkloadPriorityClass",
        ];
        if !kueue || !known.contains(&kind.as_str()) {
            let name = doc
                .get("metadata")
                .and_then(|m| m.text_at("name").ok().flatten());
            let name = name.unwrap_or_else(|| "(no name)".into());
            self.ignored.push(format!("{kind}/{name} ({})", doc.file));
            return Ok(());
        }
        let name = doc.need("metadata")?.need("name")?.text()?;
        let taken = match kind.as_str() {
            "ClusterQueue" => self.queues.iter().any(|q| q.name == name),
            "Cohort" => self.cohorts.iter().any(|c| c.name == name),
            "ResourceFlavor" => self.flavors.iter().any(|f| f.name == name),
            _ => self.classes.iter().any(|c| c.name == name),
        };
        if taken {
            return Err(doc
                .need("metadata")?
                .need("name")?
                .error(format!("a second {kind} named '{name}'")));
        }
        match kind.as_str() {
            "ClusterQueue" => self.queues.push(cluster_queue(name, doc)?),
            "Cohort" => self.cohorts.push(cohort(name, doc)?),
            "ResourceFlavor" => self.flavors.push(flavor(name, &doc)?),
            _ => {
                let node = doc.need("value")?;
                let v = node.text()?;
                let value = v
                    .parse::<i64>()
                    .ok()
                    .filter(|x| x.abs() <= i64::from(i32::MAX))
                    .ok_or_else(|| node.error(format!("'{v}' is not a 32-bit integer")))?;
                self.classes.push(PriorityClass { name, value });
            }
        }
        Ok(())
    }
}

/// The quotas of `resourceGroups` (a ClusterQueue's or a Cohort's spec).
fn quotas<'a>(spec: &Node<'a>) -> config::Result<Vec<Quota<'a>>> {
    let mut out = Vec::new();
    for group in spec.list("resourceGroups")? {
        for f in group.list("flavors")? {
            let flavor = f.need("name")?.text()?;
            for r in f.list("resources")? {
                out.push(Quota {
                    resource: r.need("name")?.text()?,
                    flavor: flavor.clone(),
                    nominal: r.need("nominalQuota")?,
                    borrowing: r.get("borrowingLimit"),
                    lending: r.get("lendingLimit"),
                });
            }
        }
    }
    Ok(out)
}

/// A `fairSharing.weight`.
fn weight(spec: &Node) -> config::Result<Option<f64>> {
    spec.get("fairSharing")
        .and_then(|f| f.get("weight"))
        .map(|w| w.quantity())
        .transpose()
}

/// One of Kueue's policy names at `key`, as trnsim's (or Kueue's default when absent).
fn policy(
    node: Option<&Node>,
    key: &str,
    default: &'static str,
    names: &[(&str, &'static str)],
) -> config::Result<&'static str> {
    let Some(n) = node.and_then(|n| n.get(key)) else {
        return Ok(default);
    };
    let t = n.text()?;
    names
        .iter()
        .find(|(k, _)| *k == t)
        .map(|x| x.1)
        .ok_or_else(|| {
            let ks: Vec<&str> = names.iter().map(|x| x.0).collect();
            n.error(format!("'{t}' is not one of: {}", ks.join(", ")))
        })
}

fn preemption(spec: &Node) -> config::Result<Preemption> {
    let p = spec.get("preemption");
    let never_lower = [("Never", "never"), ("LowerPriority", "lower_priority")];
    let within = [
        ("Never", "never"),
        ("LowerPriority", "lower_priority"),
        ("LowerOrNewerEqualPriority", "lower_or_newer_equal_priority"),
    ];
    let reclaim = [
        ("Never", "never"),
        ("LowerPriority", "lower_priority"),
        ("Any", "any"),
    ];
    let borrow = p.as_ref().and_then(|p| p.get("borrowWithinCohort"));
    let borrow_max_priority = match borrow.as_ref().and_then(|b| b.get("maxPriorityThreshold")) {
        None => None,
        Some(n) => {
            let t = n.text()?;
            Some(
                t.parse::<i64>()
                    .map_err(|_| n.error(format!("'{t}' is not an integer")))?,
            )
        }
    };
    Ok(Preemption {
        within_queue: policy(p.as_ref(), "withinClusterQueue", "never", &within)?,
        reclaim_within_cohort: policy(p.as_ref(), "reclaimWithinCohort", "never", &reclaim)?,
        borrow_within_cohort: policy(borrow.as_ref(), "policy", "never", &never_lower)?,
        borrow_max_priority,
    })
}

fn cluster_queue<'a>(name: String, doc: Node<'a>) -> config::Result<ClusterQueue<'a>> {
    let spec = doc.need("spec")?;
    // v1beta1 names the cohort `cohort`, v1beta2 `cohortName`.
    let cohort = match spec.text_at("cohortName")? {
        Some(c) => Some(c),
        None => spec.text_at("cohort")?,
    };
    let queueing = policy(
        Some(&spec),
        "queueingStrategy",
        "best_effort_fifo",
        &[
            ("StrictFIFO", "strict_fifo"),
            ("BestEffortFIFO", "best_effort_fifo"),
        ],
    )?;
    let untranslated = [
        "flavorFungibility",
        "admissionChecks",
        "admissionChecksStrategy",
        "stopPolicy",
    ]
    .iter()
    .filter(|k| spec.get(k).is_some())
    .map(|k| format!("ClusterQueue/{name} spec.{k}"))
    .collect();
    Ok(ClusterQueue {
        cohort,
        quotas: quotas(&spec)?,
        preemption: preemption(&spec)?,
        queueing,
        weight: weight(&spec)?,
        untranslated,
        node: doc,
        name,
    })
}

fn cohort<'a>(name: String, doc: Node<'a>) -> config::Result<Cohort<'a>> {
    let (parent, quotas, weight) = match doc.get("spec") {
        Some(spec) => (
            match spec.text_at("parentName")? {
                Some(p) => Some(p),
                None => spec.text_at("parent")?,
            },
            quotas(&spec)?,
            weight(&spec)?,
        ),
        None => (None, Vec::new(), None),
    };
    Ok(Cohort {
        name,
        parent,
        weight,
        quotas,
    })
}

fn flavor(name: String, doc: &Node) -> config::Result<Flavor> {
    let labels = match doc.get("spec").and_then(|s| s.get("nodeLabels")) {
        Some(l) => l.values()?,
        None => Vec::new(),
    };
    Ok(Flavor { name, labels })
}
