//! `[probes.NAME]`: "time to N chips" probes resolved and checked (what they answer:
//! [`crate::fleet::probe`]). A probe names a declared generation, asks for at least one chip,
//! probes at least every second, and its window is not empty; a probe no generation can ever
//! hold (more chips than the generation will have, or a gang no cluster can place) is a
//! warning: it is answered "not within the horizon" at every probe time.

use super::checks::{Built, Warnings, bad};
use super::file::FileProbe;
use super::names::Names;
use crate::config::Named;
use crate::fleet::hardware::FleetPlan;
use crate::fleet::probe::Probe;

/// The probes of the file, in file order; `horizon_s` is `end`'s default.
pub(super) fn probes(
    f: &Named<FileProbe>,
    names: &Names,
    fleet: &FleetPlan,
    horizon_s: u64,
    warnings: &mut Warnings,
) -> Built<Vec<Probe>> {
    let mut out = Vec::new();
    for (n, p) in &f.0 {
        let path = format!("probes.{n}");
        let generation = names.generation(&format!("{path}.generation"), &p.generation)?;
        if p.chips == 0 {
            return bad(format!("{path}.chips"), "a probe asks for at least 1 chip");
        }
        if p.every.0 == 0 {
            return bad(
                format!("{path}.every"),
                "a probe is taken at least every 1 s",
            );
        }
        let start_s = p.start.map_or(0, |d| d.0);
        let end_s = p.end.map_or(horizon_s, |d| d.0);
        if start_s >= end_s {
            let key = if p.end.is_some() { "end" } else { "start" };
            return bad(
                format!("{path}.{key}"),
                format!("the probe window is empty: start {start_s} s is not before end {end_s} s"),
            );
        }
        let gen_ = &fleet.generations[generation];
        let peak = fleet.peak_chips(generation);
        let cluster = gen_.ultraserver_chips as u64 * gen_.ultraservers_per_cluster as u64;
        if p.chips > peak {
            warnings.warn(
                format!("{path}.chips"),
                format!(
                    "{} chips is more than {} will ever have ({peak} chips): never served",
                    p.chips, p.generation
                ),
            );
        } else if p.chips > cluster {
            warnings.warn(
                format!("{path}.chips"),
                format!(
                    "{} chips cannot be placed as one gang on {} (a gang is inside one \
                     UltraServer or on whole UltraServers of one cluster: {cluster} chips at \
                     most): never served",
                    p.chips, p.generation
                ),
            );
        }
        out.push(Probe {
            name: n.clone(),
            generation,
            chips: p.chips,
            duration_s: p.duration.0,
            every_s: p.every.0,
            start_s,
            end_s,
        });
    }
    Ok(out)
}
