//! `[fleet]`: generations (a built-in one from its chip preset's `[fleet]` table, or described
//! in full) and deliveries (chips, gigawatts or UltraServers, rounded down to whole
//! UltraServers), resolved to a [`FleetPlan`].

use super::MAX_CHIPS_PER_GENERATION;
use super::checks::{Built, bad, check_range, one_of};
use super::file::{FileDelivery, FileFleet, FileGeneration};
use super::names::Names;
use crate::arch::{self, FleetFacts};
use crate::fleet::hardware::{Delivery, FleetPlan, Generation};
use crate::fleet::time::DAY_S;

/// The fleet: its generations, then the deliveries sorted by time (file order within one time).
pub(super) fn fleet_plan(f: &FileFleet, names: &Names) -> Built<FleetPlan> {
    if f.generations.0.is_empty() {
        return bad("fleet.generations", "expected at least one generation");
    }
    if f.generations.0.len() > 255 {
        return bad("fleet.generations", "at most 255 generations");
    }
    let generations = f
        .generations
        .0
        .iter()
        .map(|(n, g)| generation(&format!("fleet.generations.{n}"), n, g))
        .collect::<Built<Vec<_>>>()?;
    let mut deliveries = Vec::new();
    let mut totals = vec![0u64; generations.len()];
    for (i, d) in f.deliveries.iter().enumerate() {
        deliveries.push(delivery(i, d, &generations, &mut totals, names)?);
    }
    deliveries.sort_by_key(|d| d.at_s);
    Ok(FleetPlan {
        generations,
        deliveries,
    })
}

/// Delivery `i`, counted into `totals` (chips per generation so far).
fn delivery(
    i: usize,
    d: &FileDelivery,
    generations: &[Generation],
    totals: &mut [u64],
    names: &Names,
) -> Built<Delivery> {
    let path = format!("fleet.deliveries[{i}]");
    let g = names.generation(&format!("{path}.generation"), &d.generation)?;
    let gen_ = &generations[g];
    let us = gen_.ultraserver_chips as u64;
    let (k, _) = one_of(
        &path,
        &[
            ("chips", d.chips.map(|_| ())),
            ("gw", d.gw.map(|_| ())),
            ("ultraservers", d.ultraservers.map(|_| ())),
        ],
    )?;
    let ultraservers = match k {
        0 => d.chips.expect("given") / us,
        1 => {
            let gw = d.gw.expect("given");
            check_range(&format!("{path}.gw"), gw, 0.0, 1000.0)?;
            gen_.chips_for_gw(gw) / us
        }
        _ => d.ultraservers.expect("given"),
    };
    if ultraservers == 0 {
        return bad(
            &path,
            format!("less than one UltraServer ({us} chips) of {}", gen_.name),
        );
    }
    totals[g] += ultraservers * us;
    if totals[g] > MAX_CHIPS_PER_GENERATION || totals[g] / us >= 1 << 24 {
        return bad(
            &path,
            format!(
                "more than {MAX_CHIPS_PER_GENERATION} chips (or 16M UltraServers) of {} in all",
                gen_.name
            ),
        );
    }
    Ok(Delivery {
        at_s: d.at.0,
        generation: g,
        ultraservers: ultraservers as u32,
    })
}

/// The built-in generation a generation takes its facts from: `preset`, else its own name when
/// that is a built-in generation.
fn preset<'a>(
    path: &str,
    name: &'a str,
    f: &'a FileGeneration,
) -> Built<Option<(&'a str, FleetFacts)>> {
    let presets = arch::fleet_presets();
    let Some(p) = f
        .preset
        .as_deref()
        .or(presets.iter().any(|p| p.0 == name).then_some(name))
    else {
        return Ok(None);
    };
    match presets.iter().find(|x| x.0 == p) {
        Some(x) => Ok(Some((p, x.1))),
        None => {
            let names: Vec<&str> = presets.iter().map(|x| x.0).collect();
            bad(
                format!("{path}.preset"),
                format!("unknown preset '{p}'; expected {}", or_list(&names)),
            )
        }
    }
}

/// `a`, `a or b`, `a, b or c`.
fn or_list(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// One generation: the file's values, else its preset's, else defaults; each checked.
fn generation(path: &str, name: &str, f: &FileGeneration) -> Built<Generation> {
    let preset = preset(path, name, f)?;
    let facts = preset.map(|p| p.1);
    let need = |v: Option<f64>, key: &str, from_preset: Option<f64>| -> Built<f64> {
        match v.or(from_preset) {
            Some(x) => Ok(x),
            None => bad(
                format!("{path}.{key}"),
                format!("missing; generation '{name}' has no preset, so {key} is required"),
            ),
        }
    };
    let watts = need(
        f.watts_per_chip,
        "watts_per_chip",
        facts.map(|p| p.watts_per_chip),
    )?;
    check_range(&format!("{path}.watts_per_chip"), watts, 1.0, 100_000.0)?;
    let pue = f.pue.or(facts.map(|p| p.pue)).unwrap_or(1.0);
    check_range(&format!("{path}.pue"), pue, 1.0, 5.0)?;
    let us = need(
        f.ultraserver_chips.map(f64::from),
        "ultraserver_chips",
        facts.map(|p| p.ultraserver_chips as f64),
    )?;
    check_range(&format!("{path}.ultraserver_chips"), us, 1.0, 4096.0)?;
    let per_cluster = f
        .ultraservers_per_cluster
        .or(facts.map(|p| p.ultraservers_per_cluster))
        .unwrap_or(64);
    check_range(
        &format!("{path}.ultraservers_per_cluster"),
        per_cluster as f64,
        1.0,
        1e6,
    )?;
    let instance_chips = instance_chips(path, f, facts, us as u32)?;
    let speedup = f.speedup.or(facts.map(|p| p.speedup)).unwrap_or(1.0);
    check_range(&format!("{path}.speedup"), speedup, 1e-3, 1e3)?;
    let (mtbf_s, repair_s) = failures(path, f)?;
    Ok(Generation {
        name: name.to_string(),
        watts_per_chip: watts,
        pue,
        ultraserver_chips: us as u32,
        ultraservers_per_cluster: per_cluster,
        instance_chips,
        speedup,
        mtbf_s,
        repair_s,
        hw: chip_preset(path, name, preset.map(|p| p.0), f)?,
    })
}

/// Chips per instance: the file's, else the preset's, else one instance per UltraServer (a
/// generation described in full and silent on it); it must divide the UltraServer.
fn instance_chips(
    path: &str,
    f: &FileGeneration,
    facts: Option<FleetFacts>,
    us_chips: u32,
) -> Built<u32> {
    let n = f
        .instance_chips
        .or(facts.map(|p| p.instance_chips))
        .unwrap_or(us_chips);
    if n == 0 || us_chips % n != 0 {
        return bad(
            format!("{path}.instance_chips"),
            format!("{n} does not divide ultraserver_chips {us_chips}; expected a divisor of it"),
        );
    }
    Ok(n)
}

/// Mean time between failures (0: none) and time to repair, in seconds.
fn failures(path: &str, f: &FileGeneration) -> Built<(u64, u64)> {
    let mtbf_s = f.mtbf.map_or(0, |d| d.0);
    if f.mtbf.is_some() && mtbf_s == 0 {
        return bad(
            format!("{path}.mtbf"),
            "must be positive (omit it for no failures)",
        );
    }
    let repair_s = f.repair.map_or(DAY_S, |d| d.0);
    if repair_s == 0 {
        return bad(format!("{path}.repair"), "must be positive");
    }
    Ok((mtbf_s, repair_s))
}

/// The chip preset that times workload jobs: `hw`, else the generation preset's name or the
/// generation's own name when a chip preset has it (trn2, trn3).
fn chip_preset(
    path: &str,
    name: &str,
    preset: Option<&str>,
    f: &FileGeneration,
) -> Built<Option<String>> {
    let chip_presets: Vec<&str> = arch::PRESETS.iter().map(|p| p.0).collect();
    match &f.hw {
        Some(h) if chip_presets.contains(&h.as_str()) => Ok(Some(h.clone())),
        Some(h) => bad(
            format!("{path}.hw"),
            format!(
                "unknown chip preset '{h}'; expected one of: {}",
                chip_presets.join(", ")
            ),
        ),
        None => Ok([preset, Some(name)]
            .into_iter()
            .flatten()
            .find(|n| chip_presets.contains(n))
            .map(str::to_string)),
    }
}
