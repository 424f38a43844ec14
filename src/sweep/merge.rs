//! `trnsim sweep merge`: the shards of one sweep joined into the whole, every claim of their
//! headers checked first, so an edited or partial set of shards is refused (naming the shard
//! file, the point and the seed) instead of giving a result no run would have given.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Error, Grid, Result, Run, Runs};

/// The version of `runs.json` this trnsim writes and reads. Version 2 names the grid by its
/// `vary` alone (no list of points, which could disagree with it); a file of another version,
/// or of none (written before versions), is refused rather than read under other rules.
pub(crate) const RUNS_FORMAT: u32 = 2;

/// Parse a sweep's `runs.json` (`file` names it in errors), refusing any other format version.
pub(crate) fn read_runs(text: &str, file: &Path) -> Result<Runs> {
    /// Only the version, read before the rest (whose shape depends on it).
    #[derive(serde::Deserialize)]
    struct Header {
        format: Option<serde_json::Value>,
    }
    let syntax = |e: serde_json::Error| {
        Error::Spec(format!(
            "{}:{}:{}: not a sweep's runs.json: {e}",
            file.display(),
            e.line(),
            e.column()
        ))
    };
    let header: Header = serde_json::from_str(text).map_err(syntax)?;
    match header.format {
        Some(v) if v == RUNS_FORMAT => serde_json::from_str(text).map_err(syntax),
        found => Err(Error::Spec(format!(
            "{}: format: runs.json of format {}, this trnsim reads format {RUNS_FORMAT} \
             (merges check every run since): rerun the shard with this trnsim",
            file.display(),
            found.map_or_else(|| "1 (no version)".to_string(), |v| v.to_string())
        ))),
    }
}

/// Merge shards of one sweep into the whole. Refused, exit 2 naming what is wrong: shards of
/// different sweeps (scenario text or name, overrides, grid, seeds), shards that do not fit or
/// are given twice or are missing, a run outside the grid or in the wrong shard or with a seed
/// the sweep does not have, a point and seed run twice, or one not run at all.
pub(crate) fn merge(parts: Vec<(PathBuf, Runs)>) -> Result<Runs> {
    let Some((first_path, first)) = parts.first() else {
        return Err(Error::Spec(
            "sweep merge: no shard directories given".into(),
        ));
    };
    let shards = check_shards(&parts)?;
    let grid = first.grid.clone();
    let points = check_grid(first_path, &grid)?;
    let order = check_runs(&parts, &grid, points)?;
    check_complete(&parts, &shards, &grid, points, &order)?;
    let mut pools: Vec<Vec<Option<Run>>> = parts
        .into_iter()
        .map(|(_, p)| p.runs.into_iter().map(Some).collect())
        .collect();
    let runs = order
        .iter()
        .filter_map(|&(_, _, p, r)| pools[p][r].take())
        .collect();
    Ok(Runs {
        format: RUNS_FORMAT,
        grid,
        shard: (0, 1),
        runs,
    })
}

/// What differs between two shards' grids, if anything.
fn differs(a: &Grid, b: &Grid) -> Option<String> {
    if a.scenario_hash != b.scenario_hash {
        return Some(format!(
            "the scenario text differs (hash {} vs {})",
            a.scenario_hash, b.scenario_hash
        ));
    }
    if a.scenario != b.scenario {
        return Some(format!(
            "the scenario file is {} vs {}",
            a.scenario, b.scenario
        ));
    }
    if a.set != b.set {
        return Some("the --set overrides differ".into());
    }
    if a.vary != b.vary {
        return Some("the --vary grid differs".into());
    }
    if a.seeds != b.seeds {
        return Some(format!("--seeds {} vs {}", a.seeds, b.seeds));
    }
    (a.base_seed != b.base_seed).then(|| {
        format!(
            "the scenario's base seed is {} vs {}",
            a.base_seed, b.base_seed
        )
    })
}

/// Every shard of one sweep, of the same count, each once and none missing: shard index to its
/// place in `parts`.
fn check_shards(parts: &[(PathBuf, Runs)]) -> Result<BTreeMap<usize, usize>> {
    let (first_path, first) = &parts[0];
    let n = first.shard.1;
    let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
    for (k, (path, part)) in parts.iter().enumerate() {
        if let Some(what) = differs(&first.grid, &part.grid) {
            return Err(Error::Spec(format!(
                "{}: a shard of a different sweep than {}: {what}",
                path.display(),
                first_path.display()
            )));
        }
        let (i, m) = part.shard;
        if m != n || i >= n {
            return Err(Error::Spec(format!(
                "{}: shard {i}/{m} does not fit {n} shards ({} is shard {}/{n})",
                path.display(),
                first_path.display(),
                first.shard.0
            )));
        }
        if let Some(prev) = seen.insert(i, k) {
            return Err(Error::Spec(format!(
                "shard {i}/{n} given twice: {} and {}",
                parts[prev].0.display(),
                path.display()
            )));
        }
    }
    if let Some(i) = (0..n).find(|i| !seen.contains_key(i)) {
        return Err(Error::Spec(format!(
            "sweep merge: shard {i}/{n} is missing ({} of {n} given)",
            seen.len()
        )));
    }
    Ok(seen)
}

/// The grid's point count, refused when the header cannot be a sweep's.
fn check_grid(path: &Path, grid: &Grid) -> Result<u64> {
    if let Some(v) = grid.vary.iter().find(|v| v.values.is_empty()) {
        return Err(Error::Spec(format!(
            "{}: --vary {} has no values",
            path.display(),
            v.key
        )));
    }
    if grid.seeds == 0 {
        return Err(Error::Spec(format!("{}: --seeds is 0", path.display())));
    }
    super::point_count(&grid.vary)
        .filter(|&p| usize::try_from(p).is_ok())
        .ok_or_else(|| {
            Error::Spec(format!(
                "{}: the grid's points do not fit a count",
                path.display()
            ))
        })
}

/// `point N (key=value ...)`.
fn name(grid: &Grid, point: usize) -> String {
    format!("point {point} ({})", grid.point(point).label())
}

/// Every run in the grid, in its shard, with one of the sweep's seeds, and no point and seed
/// twice: `(point, replicate, part, run)` sorted, the merged order.
fn check_runs(
    parts: &[(PathBuf, Runs)],
    grid: &Grid,
    points: u64,
) -> Result<Vec<(usize, u64, usize, usize)>> {
    let mut order = Vec::new();
    for (k, (path, part)) in parts.iter().enumerate() {
        let (i, n) = part.shard;
        for (r, run) in part.runs.iter().enumerate() {
            let at = |what: String| Error::Spec(format!("{}: {what}", path.display()));
            if run.point as u64 >= points {
                return Err(at(format!(
                    "a run of point {}, outside the grid's {points} points",
                    run.point
                )));
            }
            if run.point % n != i {
                return Err(at(format!(
                    "{} belongs to shard {}/{n}, not to this shard {i}/{n}",
                    name(grid, run.point),
                    run.point % n
                )));
            }
            let replicate = run.seed.wrapping_sub(grid.base_seed);
            if replicate >= grid.seeds {
                return Err(at(format!(
                    "{}: seed {} is not one of the sweep's {} seeds from {}",
                    name(grid, run.point),
                    run.seed,
                    grid.seeds,
                    grid.base_seed
                )));
            }
            order.push((run.point, replicate, k, r));
        }
    }
    order.sort_unstable();
    for w in order.windows(2) {
        if (w[0].0, w[0].1) == (w[1].0, w[1].1) {
            let run = &parts[w[1].2].1.runs[w[1].3];
            let (a, b) = (parts[w[0].2].0.display(), parts[w[1].2].0.display());
            return Err(Error::Spec(format!(
                "{}: seed {} is there twice: in {a} and in {b}",
                name(grid, run.point),
                run.seed
            )));
        }
    }
    Ok(order)
}

/// Every point x seed present (the runs are distinct and in the grid, so a count equal to the
/// grid's is all of them); else the first one missing, and the shard that should hold it.
fn check_complete(
    parts: &[(PathBuf, Runs)],
    shards: &BTreeMap<usize, usize>,
    grid: &Grid,
    points: u64,
    order: &[(usize, u64, usize, usize)],
) -> Result<()> {
    let total = points.checked_mul(grid.seeds);
    if total == Some(order.len() as u64) {
        return Ok(());
    }
    let mut want = (0usize, 0u64);
    for &(p, s, ..) in order {
        if (p, s) != want {
            break;
        }
        want = if s + 1 == grid.seeds {
            (p + 1, 0)
        } else {
            (p, s + 1)
        };
    }
    let n = parts[0].1.shard.1;
    let shard = shards.get(&(want.0 % n)).map_or(0, |&k| k);
    let total = total.map_or_else(|| "over 2^64".to_string(), |t| t.to_string());
    Err(Error::Spec(format!(
        "{}: {}: seed {} is missing (the grid is {points} points x {} seeds = {total} runs; the \
         shards hold {})",
        parts[shard].0.display(),
        name(grid, want.0),
        grid.base_seed.wrapping_add(want.1),
        grid.seeds,
        order.len()
    )))
}
