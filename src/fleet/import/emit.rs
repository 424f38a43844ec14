//! The scenario TOML of Kueue's objects for one resource: generations from flavors, tenants
//! from ClusterQueues, cohorts, priority classes; every assumption and everything left out
//! written as a comment, so the file says what it does not model.

use std::fmt::Write;

use super::kueue::{ClusterQueue, Objects, Quota};
use crate::arch;
use crate::config::{self, Warning};

/// A TOML key: bare when it can be, else quoted.
pub(super) fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare { name.to_string() } else { string(name) }
}

/// A TOML string.
pub(super) fn string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// One flavor's chips and how they are described.
pub(super) struct Generation {
    pub(super) name: String,
    /// The built-in generation recognised in the flavor's name or node labels.
    pub(super) preset: Option<&'static str>,
    /// Sum of the ClusterQueues' nominal quotas on it.
    pub(super) chips: u64,
    /// The flavor has no ResourceFlavor object.
    pub(super) undeclared: bool,
}

/// The chosen resource's quota of one ClusterQueue on one flavor, in chips.
#[derive(Clone)]
pub(super) struct Chips {
    pub(super) flavor: String,
    pub(super) nominal: u64,
    pub(super) borrowing: Option<u64>,
    pub(super) lending: Option<u64>,
}

/// `quotas` of `resource`, in chips (whole counts, checked where written).
pub(super) fn chips_of(quotas: &[Quota], resource: &str) -> config::Result<Vec<Chips>> {
    quotas
        .iter()
        .filter(|q| q.resource == resource)
        .map(|q| {
            Ok(Chips {
                flavor: q.flavor.clone(),
                nominal: q.nominal.count()?,
                borrowing: q.borrowing.as_ref().map(|n| n.count()).transpose()?,
                lending: q.lending.as_ref().map(|n| n.count()).transpose()?,
            })
        })
        .collect()
}

/// The generations: flavors with a quota of the resource, in the order ClusterQueues list them
/// (Kueue tries a queue's flavors in order; trnsim tries generations in fleet order).
pub(super) fn generations(objects: &Objects, per_queue: &[Vec<Chips>]) -> Vec<Generation> {
    let mut out: Vec<Generation> = Vec::new();
    for c in per_queue.iter().flatten() {
        let g = match out.iter_mut().position(|g| g.name == c.flavor) {
            Some(i) => &mut out[i],
            None => {
                let flavor = objects.flavors.iter().find(|f| f.name == c.flavor);
                let mut texts = vec![c.flavor.to_lowercase()];
                texts.extend(
                    flavor
                        .iter()
                        .flat_map(|f| f.labels.iter().map(|l| l.to_lowercase())),
                );
                let preset = arch::fleet_presets()
                    .iter()
                    .map(|p| p.0)
                    .find(|p| texts.iter().any(|t| t.contains(p)));
                out.push(Generation {
                    name: c.flavor.clone(),
                    preset,
                    chips: 0,
                    undeclared: flavor.is_none(),
                });
                out.last_mut().expect("just pushed")
            }
        };
        g.chips += c.nominal;
    }
    out
}

/// `[fleet]`: one generation per flavor and its chips delivered at time 0.
pub(super) fn fleet(out: &mut String, gens: &[Generation]) {
    for g in gens {
        let _ = writeln!(out, "[fleet.generations.{}]", key(&g.name));
        match g.preset {
            Some(p) if p == g.name => {
                let _ = writeln!(
                    out,
                    "# the built-in {p} (its chips, power and UltraServers)"
                );
            }
            Some(p) => {
                let _ = writeln!(
                    out,
                    "preset = {}   # recognised in the flavor's name or node labels",
                    string(p)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "# Not a known Trainium generation: every value below is an assumption.\n\
                     watts_per_chip = 1000        # assumption: power is not in Kueue's objects\n\
                     ultraserver_chips = 1        # assumption: any chips make a gang (Kueue counts quota only)\n\
                     ultraservers_per_cluster = {}  # assumption: one cluster holds them all",
                    g.chips.max(1)
                );
            }
        }
        out.push('\n');
    }
    for g in gens.iter().filter(|g| g.chips == 0) {
        let _ = writeln!(
            out,
            "# {}: no nominal quota on this flavor, so no chips delivered\n",
            g.name
        );
    }
    for g in gens.iter().filter(|g| g.chips > 0) {
        let us = g
            .preset
            .and_then(|p| arch::fleet_presets().iter().find(|x| x.0 == p))
            .map_or(1, |x| u64::from(x.1.ultraserver_chips));
        let ultraservers = g.chips.div_ceil(us);
        let _ = writeln!(
            out,
            "[[fleet.deliveries]]\n\
             # Kueue's objects do not give the cluster's size: the sum of the nominal quotas on\n\
             # this flavor ({} chips), in whole UltraServers ({us} chips each).\n\
             at = 0\ngeneration = {}\nultraservers = {ultraservers}\n",
            g.chips,
            string(&g.name)
        );
    }
}

/// `[tenants.NAME]` of one ClusterQueue.
pub(super) fn tenant(out: &mut String, q: &ClusterQueue, chips: &[Chips]) {
    let _ = writeln!(out, "[tenants.{}]", key(&q.name));
    if let Some(c) = &q.cohort {
        let _ = writeln!(out, "cohort = {}", string(c));
    }
    if let Some(w) = q.weight {
        let _ = writeln!(out, "weight = {w:?}   # fairSharing.weight");
    }
    for c in chips {
        let mut parts = vec![format!("nominal_chips = {}", c.nominal)];
        if let Some(b) = c.borrowing {
            parts.push(format!("borrowing_limit_chips = {b}"));
        }
        if let Some(l) = c.lending {
            parts.push(format!("lending_limit_chips = {l}"));
        }
        let _ = writeln!(out, "quota.{} = {{ {} }}", key(&c.flavor), parts.join(", "));
    }
    let p = &q.preemption;
    let mut parts = vec![
        format!("within_queue = {}", string(p.within_queue)),
        format!(
            "reclaim_within_cohort = {}",
            string(p.reclaim_within_cohort)
        ),
        format!("borrow_within_cohort = {}", string(p.borrow_within_cohort)),
    ];
    if let Some(m) = p.borrow_max_priority {
        parts.push(format!("borrow_max_priority = {m}"));
    }
    let _ = writeln!(out, "preemption = {{ {} }}\n", parts.join(", "));
}

/// The cohorts: declared ones (with their own quota, Kueue's hierarchical cohorts), then those
/// only named (by a queue or as a parent).
pub(super) fn cohorts(out: &mut String, objects: &Objects, resource: &str) -> config::Result<()> {
    let mut named: Vec<String> = Vec::new();
    let mut name = |c: &str| {
        if !named.iter().any(|n| n == c) {
            named.push(c.to_string());
        }
    };
    for c in &objects.cohorts {
        name(&c.name);
    }
    for c in objects.cohorts.iter().filter_map(|c| c.parent.as_deref()) {
        name(c);
    }
    for q in objects.queues.iter().filter_map(|q| q.cohort.as_deref()) {
        name(q);
    }
    for n in &named {
        let _ = writeln!(out, "[cohorts.{}]", key(n));
        let Some(c) = objects.cohorts.iter().find(|c| &c.name == n) else {
            out.push_str(
                "# named by a ClusterQueue or Cohort; no Cohort object (no quota of its own)\n\n",
            );
            continue;
        };
        if let Some(p) = &c.parent {
            let _ = writeln!(out, "parent = {}", string(p));
        }
        if let Some(w) = c.weight {
            let _ = writeln!(out, "weight = {w:?}   # fairSharing.weight");
        }
        for q in chips_of(&c.quotas, resource)? {
            let mut parts = vec![format!("nominal_chips = {}", q.nominal)];
            if let Some(b) = q.borrowing {
                parts.push(format!("borrowing_limit_chips = {b}"));
            }
            if let Some(l) = q.lending {
                parts.push(format!("lending_limit_chips = {l}"));
            }
            let _ = writeln!(
                out,
                "quota.{} = {{ {} }}   # the cohort's own quota",
                key(&q.flavor),
                parts.join(", ")
            );
        }
        out.push('\n');
    }
    Ok(())
}

/// The queueing strategy of every queue, when they agree; else the first queue's, with a
/// warning at each queue that differs.
pub(super) fn queueing(queues: &[ClusterQueue], warnings: &mut Vec<Warning>) -> &'static str {
    let first = queues.first().map_or("best_effort_fifo", |q| q.queueing);
    for q in queues {
        if q.queueing != first
            && let Some(n) = q.node.get("spec")
        {
            warnings.push(n.warning(format!(
                "ClusterQueue '{}' queues {} but trnsim has one queueing strategy for all; the \
                 first queue's ({first}) is used",
                q.name, q.queueing
            )));
        }
    }
    first
}
