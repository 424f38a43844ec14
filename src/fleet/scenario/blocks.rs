//! `[demand.NAME]` streams of `kind = "capacity_blocks"`: Capacity Block requests of one tenant
//! on one generation, Poisson (`rate = "2/w"`) or listed (`requests = [...]`), each size in
//! instances or UltraServers, each length an allowed block length, each lead window within
//! 8 weeks (trainium.md section 8). Resolved to a [`BlockStream`]; booked per seed by
//! `fleet::blocks`.

use super::checks::{Built, Warnings, bad, check_range, one_of};
use super::context::StreamContext;
use super::dist::dist;
use super::file::{FileChoice, FileDemand, FileDist};
use super::streams::check_kind_keys;
use crate::fleet::blocks::{
    BlockArrivals, BlockRequest, BlockStream, DEFAULT_END_OF_DAY_S, DURATION_RULE, MAX_INSTANCES,
    MAX_LEAD_S, allowed_duration,
};
use crate::fleet::demand::Dist;
use crate::fleet::hardware::Generation;
use crate::fleet::time::{DAY_S, Duration};

/// Most requests a Poisson block stream may expect over the horizon.
const MAX_REQUESTS: f64 = 1_000_000.0;

/// The block stream at `path` (named `name`), with warnings for blocks no cluster of the
/// generation can hold.
pub(super) fn block_stream(
    path: &str,
    name: &str,
    d: &FileDemand,
    ctx: &StreamContext,
    warnings: &mut Warnings,
) -> Built<BlockStream> {
    check_kind_keys(path, d)?;
    for (k, given) in [
        ("priority", d.priority.is_some()),
        ("preemptible", d.preemptible.is_some()),
        ("checkpoint", d.checkpoint.is_some()),
    ] {
        if given {
            return bad(
                format!("{path}.{k}"),
                "not for kind = \"capacity_blocks\": a block is in no queue and never preempted",
            );
        }
    }
    let tenant = match &d.tenant {
        Some(t) => ctx.names.tenant(&format!("{path}.tenant"), t)?,
        None => return bad(format!("{path}.tenant"), "missing; expected a tenant name"),
    };
    let generation = match &d.generation {
        Some(g) => ctx.names.generation(&format!("{path}.generation"), g)?,
        None => {
            return bad(
                format!("{path}.generation"),
                "missing; a Capacity Block is bought on one generation (instance type)",
            );
        }
    };
    let gen_ = &ctx.fleet.generations[generation];
    let tod = match &d.end_time_of_day {
        Some(t) => time_of_day(&format!("{path}.end_time_of_day"), t)?,
        None => DEFAULT_END_OF_DAY_S,
    };
    let window = Window {
        after_s: d.start_after.map_or(0, |x| x.0),
        before_s: d.start_before.map_or(MAX_LEAD_S, |x| x.0),
    };
    window.check(path)?;
    let (k, _) = one_of(
        path,
        &[
            ("rate", d.rate.as_ref().map(|_| ())),
            ("requests", d.requests.as_ref().map(|_| ())),
        ],
    )?;
    let (arrivals, (largest, at)) = if k == 0 {
        poisson(path, d, gen_, window, ctx.horizon_s)?
    } else {
        listed(path, d, gen_, window)?
    };
    warn_too_large(&at, largest, gen_, ctx, generation, warnings);
    Ok(BlockStream {
        name: name.to_string(),
        tenant,
        generation,
        instance_chips: gen_.instance_chips,
        end_time_of_day_s: tod,
        arrivals,
    })
}

/// A lead window: a start from `after_s` to `before_s` after the request.
#[derive(Clone, Copy)]
struct Window {
    after_s: u64,
    before_s: u64,
}

impl Window {
    /// Within 8 weeks, and not empty.
    fn check(self, path: &str) -> Built<()> {
        if self.before_s > MAX_LEAD_S {
            return bad(
                format!("{path}.start_before"),
                format!(
                    "{} s is more than 8 weeks ahead; a Capacity Block starts at most 8 weeks (56d) after its request (trainium.md section 8)",
                    self.before_s
                ),
            );
        }
        if self.after_s > self.before_s {
            return bad(
                format!("{path}.start_after"),
                format!(
                    "{} s is after start_before ({} s); expected a lead window",
                    self.after_s, self.before_s
                ),
            );
        }
        Ok(())
    }
}

/// `"HH:MM"` (UTC; scenario time 0 is 00:00 UTC) as seconds after midnight.
fn time_of_day(path: &str, text: &str) -> Built<u64> {
    let parsed = text.split_once(':').and_then(|(h, m)| {
        let (h, m) = (h.trim().parse::<u64>().ok()?, m.trim().parse::<u64>().ok()?);
        (h < 24 && m < 60 && text.trim().len() == 5).then_some(h * 3600 + m * 60)
    });
    match parsed {
        Some(s) => Ok(s),
        None => bad(
            path,
            format!("\"{text}\" is not a time of day; expected \"HH:MM\" (UTC), such as \"11:30\""),
        ),
    }
}

/// Instances of a size in instances (`k = 0`) or UltraServers, checked against the 64-instance
/// limit.
fn instances_of(path: &str, key: &str, v: f64, gen_: &Generation) -> Built<u64> {
    let per_us = (gen_.ultraserver_chips / gen_.instance_chips) as f64;
    let n = if key == "ultraservers" { v * per_us } else { v };
    if v.fract() != 0.0 || v < 1.0 {
        return bad(
            format!("{path}.{key}"),
            format!("{v} is not a whole number of {key} of at least 1"),
        );
    }
    if n > MAX_INSTANCES as f64 {
        return bad(
            format!("{path}.{key}"),
            format!(
                "{v} {key} is {n} instances of {}; at most {MAX_INSTANCES} instances per Capacity Block (trainium.md section 8)",
                gen_.name
            ),
        );
    }
    Ok(n as u64)
}

/// A block length, checked against the rule.
fn duration_of(path: &str, v: f64) -> Built<u64> {
    let s = v.round() as u64;
    if v < 0.0 || !allowed_duration(s) {
        // In days when whole, as the rule is written.
        let shown = match s % DAY_S {
            0 => format!("{}d", s / DAY_S),
            _ => Duration(s).to_string(),
        };
        return bad(
            path,
            format!("{shown} is not a Capacity Block length; expected {DURATION_RULE}"),
        );
    }
    Ok(s)
}

/// `kind = "capacity_blocks"` with `requests`: each listed request, in time order, and the
/// largest block (chips, and the key path of its size).
fn listed(
    path: &str,
    d: &FileDemand,
    gen_: &Generation,
    window: Window,
) -> Built<(BlockArrivals, (u64, String))> {
    for (k, given) in [
        ("instances", d.instances.is_some()),
        ("ultraservers", d.ultraservers.is_some()),
        ("duration", d.duration.is_some()),
        ("start", d.start.is_some()),
        ("end", d.end.is_some()),
    ] {
        if given {
            return bad(
                format!("{path}.{k}"),
                "only with rate; each listed request gives its own",
            );
        }
    }
    let list = d.requests.as_ref().expect("given");
    let mut requests = Vec::with_capacity(list.len());
    let mut largest = (0, path.to_string());
    for (i, r) in list.iter().enumerate() {
        let rp = format!("{path}.requests[{i}]");
        let (k, v) = one_of(
            &rp,
            &[("instances", r.instances), ("ultraservers", r.ultraservers)],
        )?;
        let key = ["instances", "ultraservers"][k];
        let instances = instances_of(&rp, key, v as f64, gen_)?;
        if instances * gen_.instance_chips as u64 > largest.0 {
            largest = (
                instances * gen_.instance_chips as u64,
                format!("{rp}.{key}"),
            );
        }
        let duration_s = duration_of(&format!("{rp}.duration"), r.duration.0 as f64)?;
        let w = Window {
            after_s: r.start_after.map_or(window.after_s, |x| x.0),
            before_s: r.start_before.map_or(window.before_s, |x| x.0),
        };
        w.check(&rp)?;
        requests.push(BlockRequest {
            at_s: r.at.0,
            instances,
            duration_s,
            start_after_s: w.after_s,
            start_before_s: w.before_s,
        });
    }
    requests.sort_by_key(|r| r.at_s);
    Ok((BlockArrivals::List { requests }, largest))
}

/// `kind = "capacity_blocks"` with `rate`: Poisson requests, sizes and lengths drawn, and the
/// largest block (chips, and the key path of its size).
fn poisson(
    path: &str,
    d: &FileDemand,
    gen_: &Generation,
    window: Window,
    horizon_s: u64,
) -> Built<(BlockArrivals, (u64, String))> {
    let rate_per_s = rate(&format!("{path}.rate"), d.rate.as_deref().expect("given"))?;
    let start_s = d.start.map_or(0, |x| x.0);
    let end_s = d.end.map_or(horizon_s, |x| x.0).min(horizon_s);
    if rate_per_s * end_s.saturating_sub(start_s) as f64 > MAX_REQUESTS {
        return bad(
            format!("{path}.rate"),
            format!("more than {MAX_REQUESTS:.0} requests expected over the horizon"),
        );
    }
    let (k, size) = one_of(
        path,
        &[
            ("instances", d.instances.as_ref()),
            ("ultraservers", d.ultraservers.as_ref()),
        ],
    )?;
    let key = ["instances", "ultraservers"][k];
    let (sizes, instances) = choice(path, key, size, |p, v| instances_of(p, key, v, gen_))?;
    let Some(duration) = d.duration.as_ref() else {
        return bad(
            format!("{path}.duration"),
            format!("missing; expected a block length: {DURATION_RULE}"),
        );
    };
    let (_, duration_s) = choice(path, "duration", duration, |p, v| {
        duration_of(&format!("{p}.duration"), v)
    })?;
    let largest = sizes.iter().max().copied().unwrap_or(0) * gen_.instance_chips as u64;
    Ok((
        BlockArrivals::Poisson {
            rate_per_s,
            start_s,
            end_s,
            instances,
            duration_s,
            start_after_s: window.after_s,
            start_before_s: window.before_s,
        },
        (largest, format!("{path}.{key}")),
    ))
}

/// `"N/DURATION"` (`"2/w"`, `"3/2w"`, `"1/30d"`): N requests per duration, as a rate per
/// second.
fn rate(path: &str, text: &str) -> Built<f64> {
    let expect = "expected requests per period such as \"2/w\", \"3/2w\" or \"1/30d\"";
    let Some((n, per)) = text.split_once('/') else {
        return bad(path, format!("\"{text}\": {expect}"));
    };
    let per = per.trim();
    let per = if per.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("1{per}")
    } else {
        per.to_string()
    };
    let Ok(n) = n.trim().parse::<f64>() else {
        return bad(path, format!("\"{text}\": {expect}"));
    };
    check_range(path, n, 0.0, 1e9)?;
    let per_s = match Duration::parse(&per) {
        Ok(d) => d,
        Err(e) => return bad(path, e),
    };
    if per_s.0 == 0 {
        return bad(path, format!("\"{text}\": the period must be positive"));
    }
    Ok(n / per_s.0 as f64)
}

/// A discrete choice (one value, or a fixed or empirical distribution): every value checked
/// and mapped by `each` (given the key path and the value), as the list of mapped values and
/// the distribution over them.
fn choice(
    path: &str,
    key: &str,
    c: &FileChoice,
    each: impl Fn(&str, f64) -> Built<u64>,
) -> Built<(Vec<u64>, Dist)> {
    let kp = format!("{path}.{key}");
    let d = match c {
        FileChoice::One(v) => Dist::Fixed { value: v.0 },
        FileChoice::Dist(f) => discrete(&kp, f)?,
    };
    let (values, cumulative) = match d {
        Dist::Fixed { value } => (vec![value], None),
        Dist::Empirical { values, cumulative } => (values, Some(cumulative)),
        _ => unreachable!("discrete() keeps fixed and empirical only"),
    };
    let mapped = values
        .iter()
        .map(|&v| each(path, v))
        .collect::<Built<Vec<u64>>>()?;
    let as_f: Vec<f64> = mapped.iter().map(|&x| x as f64).collect();
    let dist = match cumulative {
        None => Dist::Fixed { value: as_f[0] },
        Some(cumulative) => Dist::Empirical {
            values: as_f,
            cumulative,
        },
    };
    Ok((mapped, dist))
}

/// A distribution that gives whole, listed values: fixed or empirical.
fn discrete(path: &str, f: &FileDist) -> Built<Dist> {
    let d = dist(path, f, true)?;
    match d {
        Dist::Fixed { .. } | Dist::Empirical { .. } => Ok(d),
        _ => bad(
            format!("{path}.dist"),
            "expected \"fixed\" or \"empirical\": block sizes and lengths are discrete choices",
        ),
    }
}

/// Warn when the largest block (chips) is more than one cluster of the generation holds (a
/// block is placed like a gang, inside one cluster) or than it ever has installed: it is
/// booked against the calendar's chip count but can never be placed, so it delivers nothing.
fn warn_too_large(
    path: &str,
    largest: u64,
    gen_: &Generation,
    ctx: &StreamContext,
    g: usize,
    warnings: &mut Warnings,
) {
    let cluster = gen_.ultraserver_chips as u64 * gen_.ultraservers_per_cluster as u64;
    let peak = ctx.fleet.peak_chips(g);
    if largest > cluster.min(peak) {
        warnings.warn(
            path,
            format!(
                "a block of {largest} chips is more than {} can hold ({cluster} chips per cluster, {peak} installed at most): it is never delivered",
                gen_.name
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::time::DAY_S;

    fn ok<T>(b: Built<T>) -> T {
        match b {
            Ok(x) => x,
            Err(_) => panic!("expected a value"),
        }
    }

    #[test]
    fn rates_are_requests_per_period() {
        let week = 7.0 * DAY_S as f64;
        assert_eq!(ok(rate("r", "2/w")), 2.0 / week);
        assert_eq!(ok(rate("r", "3/2w")), 3.0 / (2.0 * week));
        assert_eq!(ok(rate("r", " 1 / 30d ")), 1.0 / (30.0 * DAY_S as f64));
        for bad in ["2", "x/w", "2/q", "2/0d", "-1/w"] {
            assert!(rate("r", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn times_of_day_are_hh_mm() {
        assert_eq!(ok(time_of_day("t", "11:30")), 41_400);
        assert_eq!(ok(time_of_day("t", "00:00")), 0);
        assert_eq!(ok(time_of_day("t", "23:59")), 86_340);
        for bad in ["24:00", "11:60", "1130", "1:30", "11:30:00"] {
            assert!(time_of_day("t", bad).is_err(), "{bad}");
        }
    }
}
