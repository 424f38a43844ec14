//! Names a scenario gives (generations, tenants, workloads, priority classes) resolved to dense
//! ids, with errors that list what the name may be; and strict names: a `--set` (or `--vary`)
//! key path may change what a declared name holds, never add a name.

use super::checks::{Built, bad};
use super::file::Prio;
use crate::config::{self, Location, Mode, Named, set_path};
use crate::fleet::hardware::GenId;
use crate::fleet::job::WorkloadId;
use toml::de::DeTable;

/// The names of one scenario, in file order (an index is the id).
pub(super) struct Names<'a> {
    pub(super) generations: Vec<&'a str>,
    pub(super) tenants: Vec<&'a str>,
    pub(super) workloads: Vec<&'a str>,
    pub(super) classes: &'a Named<i64>,
}

/// The index of `name` in `list`, or an error at `path` listing what `what` may be.
pub(super) fn lookup(list: &[&str], what: &str, path: &str, name: &str) -> Built<usize> {
    match list.iter().position(|x| *x == name) {
        Some(i) => Ok(i),
        None => bad(
            path,
            format!(
                "unknown {what} '{name}'; expected one of: {}",
                if list.is_empty() {
                    format!("(no [{what}s])")
                } else {
                    list.join(", ")
                }
            ),
        ),
    }
}

impl Names<'_> {
    pub(super) fn generation(&self, path: &str, name: &str) -> Built<GenId> {
        lookup(&self.generations, "generation", path, name)
    }

    pub(super) fn tenant(&self, path: &str, name: &str) -> Built<usize> {
        lookup(&self.tenants, "tenant", path, name)
    }

    pub(super) fn workload(&self, path: &str, name: &str) -> Built<WorkloadId> {
        lookup(&self.workloads, "workload", path, name).map(|i| i as WorkloadId)
    }

    pub(super) fn priority(&self, path: &str, p: &Prio) -> Built<i32> {
        let v = match p {
            Prio::Value(v) => *v,
            Prio::Class(c) => match self.classes.0.iter().find(|(n, _)| n == c) {
                Some((_, v)) => *v,
                None => {
                    let names: Vec<&str> = self.classes.0.iter().map(|x| x.0.as_str()).collect();
                    return bad(
                        path,
                        format!(
                            "unknown priority class '{c}'; expected an integer or one of: {}",
                            if names.is_empty() {
                                "(no [priority_classes])".to_string()
                            } else {
                                names.join(", ")
                            }
                        ),
                    );
                }
            },
        };
        if v.unsigned_abs() > 1_000_000_000 {
            return bad(
                path,
                format!("priority {v} is out of range; expected -1e9 to 1e9"),
            );
        }
        Ok(v as i32)
    }
}

/// The tables of a scenario whose keys are names the file declares: (table path, what a key
/// names, the table that declares those names). `*` stands for every key of the table before
/// it. Overrides may change what these names hold but never add one, so that a typo
/// (`tenants.anchr.reservation.trn3.gw=1`) is an error, not a phantom tenant. A new named table
/// of the format (`[probes.NAME]`) adds a line here; tables are checked in this order.
const NAME_TABLES: &[(&str, &str, &str)] = &[
    ("fleet.generations", "generation", "fleet.generations"),
    ("cohorts", "cohort", "cohorts"),
    ("tenants", "tenant", "tenants"),
    ("demand", "demand stream", "demand"),
    ("workloads", "workload", "workloads"),
    ("priority_classes", "priority class", "priority_classes"),
    ("probes", "probe", "probes"),
    ("tenants.*.quota", "generation", "fleet.generations"),
    ("tenants.*.reservation", "generation", "fleet.generations"),
    ("cohorts.*.quota", "generation", "fleet.generations"),
];

/// Apply `overrides` in order to the file as written (`text`) and stop at the first that puts a
/// name the file does not declare into a [`NAME_TABLES`] table: an error at `set` (the command
/// line) whose key is that name's path and whose message lists the declared names. Problems of
/// another kind (syntax, a path that does not apply) are left to the document, which reports
/// them with their place.
pub(super) fn check_overrides(
    doc: &config::Document,
    overrides: &[(String, String)],
    set: &Location,
) -> config::Result<()> {
    let written = doc.root();
    let mut root = written.clone();
    for (key, value) in overrides {
        if set_path(&mut root, key, value, Mode::Insert).is_err() {
            return Ok(());
        }
        for (path, what, from) in NAME_TABLES {
            let declared: Vec<&str> = tables(written, from)
                .first()
                .map(|(_, t)| keys(t).collect())
                .unwrap_or_default();
            for (at, table) in tables(&root, path) {
                if let Some(name) = keys(table).find(|n| !declared.contains(n)) {
                    let list = if declared.is_empty() {
                        "it declares none".to_string()
                    } else {
                        format!("declared: {}", declared.join(", "))
                    };
                    return Err(config::Error::new(
                        set.clone(),
                        format!("{at}.{name}"),
                        format!("no {what} '{name}' in the scenario; {list}"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// The tables at `path` of `root` (`*` expanded over every key), with their concrete paths;
/// values that are not tables are skipped (the schema reports them).
fn tables<'t, 'a>(root: &'t DeTable<'a>, path: &str) -> Vec<(String, &'t DeTable<'a>)> {
    let mut found = vec![(String::new(), root)];
    for seg in path.split('.') {
        found = found
            .into_iter()
            .flat_map(|(at, t)| {
                let join = move |k: &str| {
                    if at.is_empty() {
                        k.to_string()
                    } else {
                        format!("{at}.{k}")
                    }
                };
                t.iter()
                    .filter(|(k, _)| seg == "*" || k.get_ref() == seg)
                    .filter_map(|(k, v)| v.get_ref().as_table().map(|v| (join(k.get_ref()), v)))
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    found
}

/// The keys of a table as written.
fn keys<'t>(t: &'t DeTable) -> impl Iterator<Item = &'t str> {
    t.keys().map(|k| k.get_ref().as_ref())
}
