//! Scenarios from files planners already have: Kueue's own YAML (ClusterQueue, Cohort,
//! ResourceFlavor, WorkloadPriorityClass) written as a scenario's TOML, for `trnsim import
//! kueue DIR`. (Job histories are read where demand is: `crate::fleet::trace`.)
//!
//! One resource is modelled (one unit is one chip); every other resource, object or setting
//! without a trnsim counterpart is named in a comment at the top of the output, never dropped
//! silently. Errors are located at `file:line:col` with the YAML key path.

mod emit;
mod kueue;
mod yaml;

use std::fmt::Write;

use crate::config::{self, Location, Warning};

/// The resource modelled when none is named: AWS Neuron devices (one per Trainium chip).
pub const DEFAULT_RESOURCE: &str = "aws.amazon.com/neuron";

/// A scenario imported from Kueue's objects.
#[derive(Debug)]
pub struct Import {
    /// The scenario file's text (it parses as a scenario; add `[demand.NAME]` to run it).
    pub toml: String,
    /// What was read but not modelled, located where it is written (the command line prints
    /// them on stderr).
    pub warnings: Vec<Warning>,
}

/// The scenario of the Kueue objects in `files` (name and text of each YAML file, in the
/// order to read them) found in `dir`. `resource` names the resource to model (default
/// [`DEFAULT_RESOURCE`], or the only one the queues have).
pub fn kueue(
    dir: &str,
    files: &[(String, String)],
    resource: Option<&str>,
) -> config::Result<Import> {
    let mut docs = Vec::new();
    for (file, text) in files {
        docs.push((file.as_str(), yaml::documents(text, file)?));
    }
    let mut objects = kueue::Objects::default();
    for (file, list) in &docs {
        for d in list {
            objects.add(yaml::Node::root(file, d))?;
        }
    }
    let in_dir = |message: String| {
        config::Error::new(Location::File { file: dir.into() }, "(import)", message)
    };
    if objects.queues.is_empty() {
        return Err(in_dir(
            "no ClusterQueue in the YAML files (*.yaml, *.yml)".into(),
        ));
    }
    let resource = choose_resource(&objects, resource).map_err(in_dir)?;
    let per_queue = objects
        .queues
        .iter()
        .map(|q| emit::chips_of(&q.quotas, &resource))
        .collect::<config::Result<Vec<_>>>()?;
    // Cohorts' own quotas count towards the chips delivered, after the queues' flavors.
    let mut per_node = per_queue.clone();
    for c in &objects.cohorts {
        per_node.push(emit::chips_of(&c.quotas, &resource)?);
    }
    let gens = emit::generations(&objects, &per_node);
    let mut warnings = Vec::new();
    let mut body = String::new();
    policy_and_classes(&mut body, &objects, &mut warnings);
    emit::fleet(&mut body, &gens);
    emit::cohorts(&mut body, &objects, &resource)?;
    for (q, chips) in objects.queues.iter().zip(&per_queue) {
        emit::tenant(&mut body, q, chips);
    }
    for g in gens.iter().filter(|g| g.undeclared) {
        let how = g
            .preset
            .map_or("a generation of unknown hardware".into(), |p| {
                format!("the {p} preset, from its name alone")
            });
        warnings.push(Warning::new(
            Location::File { file: dir.into() },
            format!("flavor '{}'", g.name),
            format!("no ResourceFlavor of this name; it is imported as {how}"),
        ));
    }
    let toml = header(dir, &objects, &resource) + &body;
    Ok(Import { toml, warnings })
}

/// The resource to model: the one named, else the default, else the only one.
fn choose_resource(objects: &kueue::Objects, named: Option<&str>) -> Result<String, String> {
    let all = resources(objects);
    let names: Vec<&str> = all.iter().map(|r| r.0.as_str()).collect();
    match named {
        Some(r) if names.contains(&r) => Ok(r.to_string()),
        Some(r) => Err(format!(
            "no ClusterQueue has a quota of '{r}'; the queues' resources: {}",
            names.join(", ")
        )),
        None if names.contains(&DEFAULT_RESOURCE) => Ok(DEFAULT_RESOURCE.to_string()),
        None if names.len() == 1 => Ok(names[0].to_string()),
        None => Err(format!(
            "no quota of {DEFAULT_RESOURCE} and several resources ({}); name the one that \
             counts chips with --resource",
            names.join(", ")
        )),
    }
}

/// Every resource with a quota, with the queues and cohorts that give one, in file order.
fn resources(objects: &kueue::Objects) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let owners = objects
        .queues
        .iter()
        .map(|q| (format!("ClusterQueue/{}", q.name), &q.quotas))
        .chain(
            objects
                .cohorts
                .iter()
                .map(|c| (format!("Cohort/{}", c.name), &c.quotas)),
        );
    for (owner, quotas) in owners {
        for q in quotas.iter() {
            let i = match out.iter().position(|r| r.0 == q.resource) {
                Some(i) => i,
                None => {
                    out.push((q.resource.clone(), Vec::new()));
                    out.len() - 1
                }
            };
            if !out[i].1.contains(&owner) {
                out[i].1.push(owner.clone());
            }
        }
    }
    out
}

/// The header: where the scenario comes from, what it leaves out, and what to set.
fn header(dir: &str, objects: &kueue::Objects, resource: &str) -> String {
    let mut h = String::new();
    let _ = writeln!(
        h,
        "# Imported by `trnsim import kueue {dir}`. ClusterQueues: {}, Cohorts: {}, \
         ResourceFlavors: {}, WorkloadPriorityClasses: {}.\n\
         # Resource modelled: {resource} (one unit is one chip).",
        objects.queues.len(),
        objects.cohorts.len(),
        objects.flavors.len(),
        objects.classes.len()
    );
    for (r, owners) in resources(objects).iter().filter(|r| r.0 != resource) {
        let _ = writeln!(h, "# IGNORED resource {r} (quota in {})", owners.join(", "));
    }
    for o in &objects.ignored {
        let _ = writeln!(h, "# IGNORED object {o}");
    }
    for q in &objects.queues {
        for u in &q.untranslated {
            let _ = writeln!(h, "# NOT TRANSLATED {u} (no trnsim counterpart)");
        }
    }
    h.push_str(
        "# Not in Kueue's objects, so set here as assumptions: the horizon, the fleet's size (the\n\
         # nominal quotas' sum per flavor) and no demand yet: add [demand.NAME] streams.\n\n",
    );
    let name = dir
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or("kueue");
    let _ = writeln!(
        h,
        "name = {}\ndescription = {}\nhorizon = \"30d\"   # assumption: how long to simulate\n",
        emit::string(name),
        emit::string(&format!("Kueue objects of {dir}"))
    );
    h
}

/// `[priority_classes]` and `[policy]`.
fn policy_and_classes(out: &mut String, objects: &kueue::Objects, warnings: &mut Vec<Warning>) {
    if !objects.classes.is_empty() {
        out.push_str("[priority_classes]   # WorkloadPriorityClass values\n");
        for c in &objects.classes {
            let _ = writeln!(out, "{} = {}", emit::key(&c.name), c.value);
        }
        out.push('\n');
    }
    let queueing = emit::queueing(&objects.queues, warnings);
    let _ = writeln!(
        out,
        "[policy]\n\
         # Kueue's fair sharing is switched on in its manager configuration, not in these\n\
         # objects: name = \"fair\" if it is on.\n\
         name = \"kueue\"\nqueueing = {}   # ClusterQueue queueingStrategy\n",
        emit::string(queueing)
    );
}
