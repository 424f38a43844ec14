//! `trnsim import`: scenarios from files planners already have. `trnsim import kueue DIR`
//! writes the scenario of the Kueue objects in DIR's YAML files on stdout (warnings on stderr).

use std::path::{Path, PathBuf};

use super::{Error, Result};
use crate::fleet::import;

/// Scenarios from files planners already have (`trnsim import kueue DIR > scenario.toml`).
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// What to import.
    #[command(subcommand)]
    pub command: ImportCommand,
}

/// The formats `trnsim import` reads.
#[derive(clap::Subcommand, Debug)]
pub enum ImportCommand {
    /// Kueue's ClusterQueues, Cohorts, ResourceFlavors and WorkloadPriorityClasses (every
    /// *.yaml and *.yml file of DIR, multi-document) as a scenario: flavors become
    /// generations, ClusterQueues tenants.
    Kueue(KueueArgs),
}

/// `trnsim import kueue`.
#[derive(clap::Args, Debug)]
pub struct KueueArgs {
    /// The directory of YAML files.
    pub dir: PathBuf,
    /// The resource that counts chips (default aws.amazon.com/neuron, or the only resource
    /// the queues have); others are named as ignored in the output.
    #[arg(long)]
    pub resource: Option<String>,
}

/// Run `trnsim import`: the scenario text for stdout; warnings printed on stderr.
pub fn run(args: &ImportArgs) -> Result<String> {
    match &args.command {
        ImportCommand::Kueue(k) => {
            let files = yaml_files(&k.dir)?;
            let dir = k.dir.display().to_string();
            let out = import::kueue(&dir, &files, k.resource.as_deref())
                .map_err(crate::fleet::Error::from)?;
            for w in &out.warnings {
                super::warn(w);
            }
            Ok(out.toml)
        }
    }
}

/// The YAML files of `dir` (name and text), sorted by name.
fn yaml_files(dir: &Path) -> Result<Vec<(String, String)>> {
    let entries = std::fs::read_dir(dir).map_err(Error::file(dir))?;
    let mut paths = Vec::new();
    for e in entries {
        let p = e.map_err(Error::file(dir))?.path();
        let yaml = p.extension().is_some_and(|x| x == "yaml" || x == "yml");
        if yaml && p.is_file() {
            paths.push(p);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| Ok((p.display().to_string(), super::read(&p)?)))
        .collect()
}
