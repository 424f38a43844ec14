//! Names a scenario gives (generations, tenants, workloads, priority classes) resolved to dense
//! ids, with errors that list what the name may be.

use super::checks::{Built, bad};
use super::file::Prio;
use crate::config::Named;
use crate::fleet::hardware::GenId;
use crate::fleet::job::WorkloadId;

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
