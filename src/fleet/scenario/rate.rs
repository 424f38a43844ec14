//! A Poisson stream's arrival rate over time: fixed rates, a `load` (demand follows capacity)
//! or a `forecast` (the tenant's own demand, whatever the fleet holds).

use super::checks::{Built, bad, check_range, one_of};
use super::context::StreamContext;
use super::file::{FileDemand, FileForecast, ForecastShape};
use crate::fleet::demand::{Dist, RateSchedule, WorkDist};
use crate::fleet::hardware::GenId;
use crate::fleet::tenant::{quota_epochs, quotas_at};
use crate::fleet::time::{DAY_S, Duration, HOUR_S_F64};

/// At most this many points follow a growth curve (at least a day apart).
const MAX_GROWTH_POINTS: u64 = 10_000;

/// A Poisson stream's arrival rate: `rate_per_hour` (constant), `rate_schedule` (points joined
/// by straight lines), `load` (a fraction of the tenant's nominal quota on the stream's
/// generation, kept at every quota epoch: demand follows capacity) or `forecast` (jobs or
/// reference chip-hours per period, independent of the fleet and of reservations).
pub(super) fn rate_schedule(
    path: &str,
    d: &FileDemand,
    tenant: usize,
    generation: Option<GenId>,
    chips: &Dist,
    work: &WorkDist,
    ctx: &StreamContext,
) -> Built<RateSchedule> {
    let (k, _) = one_of(
        path,
        &[
            ("rate_per_hour", d.rate_per_hour.map(|_| ())),
            ("rate_schedule", d.rate_schedule.as_ref().map(|_| ())),
            ("load", d.load.map(|_| ())),
            ("forecast", d.forecast.as_ref().map(|_| ())),
        ],
    )?;
    match k {
        0 => {
            let rate = d.rate_per_hour.expect("given");
            check_range(&format!("{path}.rate_per_hour"), rate, 0.0, 1e9)?;
            Ok(RateSchedule::constant(rate / 3600.0))
        }
        1 => {
            let list = d.rate_schedule.as_ref().expect("given");
            if list.is_empty() {
                return bad(
                    format!("{path}.rate_schedule"),
                    "empty; expected at least one { at, rate_per_hour }",
                );
            }
            let mut points = Vec::with_capacity(list.len());
            for (i, p) in list.iter().enumerate() {
                let pp = format!("{path}.rate_schedule[{i}]");
                check_range(&format!("{pp}.rate_per_hour"), p.rate_per_hour, 0.0, 1e9)?;
                if points.last().is_some_and(|&(t, _)| p.at.0 < t) {
                    return bad(
                        format!("{pp}.at"),
                        "earlier than the point before it; expected times in order",
                    );
                }
                points.push((p.at.0, p.rate_per_hour / 3600.0));
            }
            Ok(RateSchedule::linear(points).expect("checked"))
        }
        2 => load_rate(
            path,
            d.load.expect("given"),
            tenant,
            generation,
            chips,
            work,
            ctx,
        ),
        _ => forecast_rate(
            &format!("{path}.forecast"),
            d.forecast.as_ref().expect("given"),
            chips,
            work,
            ctx.horizon_s,
        ),
    }
}

/// `load`: a fraction of the tenant's nominal quota on `generation`, at every quota epoch.
fn load_rate(
    path: &str,
    load: f64,
    tenant: usize,
    generation: Option<GenId>,
    chips: &Dist,
    work: &WorkDist,
    ctx: &StreamContext,
) -> Built<RateSchedule> {
    let lp = format!("{path}.load");
    check_range(&lp, load, 0.0, 100.0)?;
    let Some(g) = generation else {
        return bad(
            lp,
            "needs `generation`: the load is a fraction of the tenant's nominal quota on it",
        );
    };
    // Reference chip-seconds per job, then chip-seconds on `g` at its speed-up.
    let per_job = match work {
        WorkDist::RunTime(rt) => chips.mean() * rt.mean(),
        WorkDist::ChipHours(w) => w.mean() * 3600.0,
        WorkDist::Workload(_) => {
            return bad(
                lp,
                "not with a workload: a load is sized from run times known when the \
                 scenario is read, and a workload's come from the chip simulator; give \
                 rate_per_hour or rate_schedule",
            );
        }
    };
    let per_job_on_g = per_job / ctx.fleet.generations[g].speedup;
    let points: Vec<(u64, f64)> =
        quota_epochs(ctx.fleet, ctx.tenants, ctx.quota_step_s, ctx.horizon_s)
            .into_iter()
            .map(|e| {
                let installed = ctx.fleet.installed_chips(g, e);
                let nominal = quotas_at(ctx.tenants, g, installed, e)[tenant].nominal;
                (e, load * nominal as f64 / per_job_on_g.max(1e-9))
            })
            .collect();
    let tp = &ctx.tenants[tenant];
    let q = &tp.quota[g];
    if q.nominal_chips == 0 && q.nominal_share == 0.0 && tp.reservation[g].is_none() {
        return bad(
            lp,
            format!(
                "tenant {} has no nominal quota on {}; the load is a fraction of it",
                tp.name, ctx.fleet.generations[g].name
            ),
        );
    }
    Ok(RateSchedule::steps(&points).expect("epochs in order"))
}

/// What a forecast counts.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Jobs,
    ChipHours,
}

impl Unit {
    fn key(self) -> &'static str {
        match self {
            Unit::Jobs => "jobs",
            Unit::ChipHours => "chip_hours",
        }
    }
}

/// `forecast`: the tenant's own demand per `per`, as levels at points in time (one level: from
/// time 0), joined by lines or steps, compounding by `growth` after the last point. A level in
/// reference chip-hours becomes jobs through the mean job's work ([`mean_job_chip_hours`]):
/// rate (jobs/s) = chip-hours per period / (period in s x mean job chip-hours). The rate changes
/// at the forecast's own points, not at quota epochs, so no step is missed.
pub(super) fn forecast_rate(
    fp: &str,
    f: &FileForecast,
    chips: &Dist,
    work: &WorkDist,
    horizon_s: u64,
) -> Built<RateSchedule> {
    let per_s = match f.per {
        Some(Duration(0)) => {
            return bad(format!("{fp}.per"), "0 s; expected a period such as \"1w\"");
        }
        Some(Duration(s)) => s as f64,
        None => {
            return bad(
                fp,
                "needs `per`, the period the forecast counts, such as \"1w\" or \"30d\"",
            );
        }
    };
    let (unit, levels) = forecast_levels(fp, f)?;
    let per_job = match unit {
        Unit::Jobs => 1.0,
        Unit::ChipHours => mean_job_chip_hours(chips, work).map_or_else(
            || {
                bad(
                    format!(
                        "{fp}.{}",
                        if f.points.is_some() {
                            "points"
                        } else {
                            "chip_hours"
                        }
                    ),
                    "a workload job's chip-hours come from the chip simulator, not known when \
                     the scenario is read; give the forecast in jobs",
                )
            },
            Ok,
        )?,
    };
    let rate = |v: f64| v / per_s / per_job;
    let shape = f.shape.unwrap_or(ForecastShape::Linear);
    let mut points: Vec<(u64, f64)> = Vec::with_capacity(2 * levels.len());
    for (i, &(t, v)) in levels.iter().enumerate() {
        if shape == ForecastShape::Steps && i > 0 {
            points.push((t, rate(levels[i - 1].1)));
        }
        points.push((t, rate(v)));
    }
    if let Some(g) = &f.growth {
        let (factor, over_s) = growth(&format!("{fp}.growth"), g)?;
        let &(t0, r0) = points.last().expect("at least one level");
        let span = horizon_s.saturating_sub(t0);
        let step = DAY_S.max(span.div_ceil(MAX_GROWTH_POINTS));
        let mut t = t0;
        while t < horizon_s {
            t = (t + step).min(horizon_s);
            points.push((t, r0 * factor.powf((t - t0) as f64 / over_s as f64)));
        }
        if points.iter().any(|p| !(p.1.is_finite() && p.1 < 1e12)) {
            return bad(
                format!("{fp}.growth"),
                "grows past any sensible rate within the horizon",
            );
        }
    }
    Ok(RateSchedule::linear(points).expect("levels checked, in time order"))
}

/// The forecast's unit and its levels `(time s, value per period)`, in time order.
fn forecast_levels(fp: &str, f: &FileForecast) -> Built<(Unit, Vec<(u64, f64)>)> {
    let (k, _) = one_of(
        fp,
        &[
            ("jobs", f.jobs.map(|_| ())),
            ("chip_hours", f.chip_hours.map(|_| ())),
            ("points", f.points.as_ref().map(|_| ())),
        ],
    )?;
    let level = |key: &str, v: f64| check_range(key, v, 0.0, 1e15).map(|_| v);
    match k {
        0 => Ok((
            Unit::Jobs,
            vec![(0, level(&format!("{fp}.jobs"), f.jobs.expect("given"))?)],
        )),
        1 => {
            let v = level(&format!("{fp}.chip_hours"), f.chip_hours.expect("given"))?;
            Ok((Unit::ChipHours, vec![(0, v)]))
        }
        _ => {
            let list = f.points.as_ref().expect("given");
            if list.is_empty() {
                return bad(
                    format!("{fp}.points"),
                    "empty; expected at least one { at, jobs } or { at, chip_hours }",
                );
            }
            let mut unit = None;
            let mut out: Vec<(u64, f64)> = Vec::with_capacity(list.len());
            for (i, p) in list.iter().enumerate() {
                let pp = format!("{fp}.points[{i}]");
                let (j, v) = one_of(&pp, &[("jobs", p.jobs), ("chip_hours", p.chip_hours)])?;
                let u = if j == 0 { Unit::Jobs } else { Unit::ChipHours };
                let first = *unit.get_or_insert(u);
                if u != first {
                    return bad(
                        format!("{pp}.{}", u.key()),
                        format!(
                            "the forecast's first point is in {}; one unit per forecast",
                            first.key()
                        ),
                    );
                }
                level(&format!("{pp}.{}", u.key()), v)?;
                if out.last().is_some_and(|&(t, _)| p.at.0 < t) {
                    return bad(
                        format!("{pp}.at"),
                        "earlier than the point before it; expected times in order",
                    );
                }
                out.push((p.at.0, v));
            }
            Ok((unit.expect("one point at least"), out))
        }
    }
}

/// `growth = "P%/DURATION"` (`"30%/y"`, `"-5%/26w"`): the factor `1 + P/100` per `DURATION` (s).
fn growth(path: &str, text: &str) -> Built<(f64, u64)> {
    let expected = "expected a compounding growth such as \"30%/y\" or \"-5%/26w\"";
    let Some((pct, over)) = text.split_once('/') else {
        return bad(path, format!("\"{text}\": {expected}"));
    };
    let Some(p) = pct
        .trim()
        .strip_suffix('%')
        .and_then(|p| p.trim().parse::<f64>().ok())
    else {
        return bad(path, format!("\"{text}\": {expected}"));
    };
    if !(p.is_finite() && p > -100.0 && p <= 10_000.0) {
        return bad(
            path,
            format!("{p} % is out of range; expected above -100 % and at most 10,000 %"),
        );
    }
    let over = over.trim();
    let over = if over.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("1{over}")
    } else {
        over.to_string()
    };
    match Duration::parse(&over) {
        Ok(Duration(0)) | Err(_) => bad(path, format!("\"{text}\": {expected}")),
        Ok(Duration(s)) => Ok((1.0 + p / 100.0, s)),
    }
}

/// A job's mean work in reference chip-hours as the stream draws it: mean chips x mean run time
/// for run times (drawn independently), the mean of `work_chip_hours` for work. Gang sizes are
/// rounded to whole chips (at least 1) when drawn, which a fixed or empirical size's mean takes
/// into account exactly and a continuous one's does not (at most half a chip per job). `None`
/// for workloads, whose run times come from the chip simulator.
pub(super) fn mean_job_chip_hours(chips: &Dist, work: &WorkDist) -> Option<f64> {
    let drawn = |v: f64| v.round().clamp(1.0, u32::MAX as f64);
    let mean_chips = match chips {
        Dist::Fixed { value } => drawn(*value),
        Dist::Empirical { values, cumulative } => {
            let mut prev = 0.0;
            values
                .iter()
                .zip(cumulative)
                .map(|(v, c)| {
                    let p = c - prev;
                    prev = *c;
                    drawn(*v) * p
                })
                .sum()
        }
        d => d.mean().max(1.0),
    };
    match work {
        WorkDist::RunTime(rt) => Some(mean_chips * rt.mean() / HOUR_S_F64),
        WorkDist::ChipHours(w) => Some(w.mean()),
        WorkDist::Workload(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::fleet::demand::{DemandStream, generate};
    use crate::fleet::scenario::Scenario;
    use crate::fleet::time::{DAY_S, YEAR_S};

    /// A one-stream scenario over `horizon`: gangs of 1, 8 or 64 chips, lognormal run times
    /// (median 2 h, sigma 1), the rate keys `rate`.
    fn text(horizon: &str, rate: &str) -> String {
        let chips =
            r#"chips = { dist = "empirical", values = [1, 8, 64], weights = [0.5, 0.3, 0.2] }"#;
        let run_time = r#"run_time = { dist = "lognormal", median = "2h", sigma = 1.0 }"#;
        let head =
            "[fleet.generations.trn2]\n[tenants.a]\n[demand.d]\nkind = \"poisson\"\ntenant = \"a\"";
        format!("horizon = \"{horizon}\"\n{head}\n{chips}\n{run_time}\n{rate}\n")
    }

    fn load(text: &str) -> Result<Scenario, String> {
        Scenario::from_toml(text, "f.toml", ".".as_ref(), &[], &|_| unreachable!())
            .map_err(|e| e.to_string())
    }

    /// Mean and second moment of a job's reference chip-hours in [`text`]'s stream: chips and
    /// run time independent; a lognormal's E[r] = m e^(s^2/2), E[r^2] = m^2 e^(2 s^2).
    fn job_moments() -> (f64, f64) {
        let (c1, c2) = (
            0.5 + 0.3 * 8.0 + 0.2 * 64.0,
            0.5 + 0.3 * 64.0 + 0.2 * 4096.0,
        );
        let (r1, r2) = (2.0 * 0.5f64.exp(), 4.0 * 2.0f64.exp());
        (c1 * r1, c2 * r2)
    }

    /// Reference chip-hours submitted in `[a, b)`, and the job count.
    fn work_between(s: &Scenario, seed: u64, a: u64, b: u64) -> (f64, f64) {
        let jobs = generate(&s.demand, seed);
        let inside: Vec<_> = jobs
            .iter()
            .filter(|j| (a..b).contains(&j.submit_s))
            .collect();
        let w = inside
            .iter()
            .map(|j| j.chips as f64 * j.work as f64 / 3600.0)
            .sum();
        (w, inside.len() as f64)
    }

    /// A compound Poisson sum of `n_expected` jobs has variance n E[X^2]: its expected value
    /// within 4 standard deviations, plus the whole-second rounding of run times (half a second
    /// per chip at most).
    fn assert_within(what: &str, got: f64, want: f64, jobs: f64) {
        let (mean, second) = job_moments();
        let sd = (want / mean * second).sqrt();
        let rounding = jobs * 64.0 * 0.5 / 3600.0;
        assert!(
            (got - want).abs() < 4.0 * sd + rounding,
            "{what}: {got:.0} chip-hours submitted, forecast {want:.0} (sd {sd:.0})"
        );
    }

    #[test]
    fn a_chip_hour_forecast_submits_its_work_per_period() {
        // 5,000 reference chip-hours a week, growing 30 % a year: year k (from 0) submits
        // 5,000 x 52.14 x 1.3^k x (0.3 / ln 1.3) (the integral of the compounding rate).
        let s = load(&text(
            "4y",
            "forecast = { per = \"1w\", chip_hours = 5000, growth = \"30%/y\" }",
        ))
        .unwrap();
        let weeks_per_year = YEAR_S as f64 / (7 * DAY_S) as f64;
        let g = 1.3f64;
        for k in 0..4u64 {
            let want = 5000.0 * weeks_per_year * g.powi(k as i32) * (g - 1.0) / g.ln();
            let (got, n) = work_between(&s, 7, k * YEAR_S, (k + 1) * YEAR_S);
            assert_within(&format!("year {k}"), got, want, n);
        }
        // The rate: 5,000 / (168 h x mean job chip-hours) at 0, 1.3 times that after a year.
        let DemandStream::Poisson(p) = &s.demand[0] else {
            panic!("poisson")
        };
        let r0 = 5000.0 / (7.0 * 86_400.0) / job_moments().0;
        assert!((p.rate.at(0.0) / r0 - 1.0).abs() < 1e-12);
        assert!((p.rate.at(YEAR_S as f64) / r0 / 1.3 - 1.0).abs() < 1e-6);
    }

    #[test]
    fn forecast_points_join_by_lines_or_steps() {
        // 100 jobs a day at 0, 300 at 100 days: 200 at 50 days on a line, 100 on steps.
        let points = "points = [{ at = 0, jobs = 100 }, { at = \"100d\", jobs = 300 }]";
        let at = |shape: &str, t_d: u64| {
            let s = load(&text(
                "200d",
                &format!("forecast = {{ per = \"1d\", {points}{shape} }}"),
            ))
            .unwrap();
            let DemandStream::Poisson(p) = &s.demand[0] else {
                panic!("poisson")
            };
            p.rate.at((t_d * DAY_S) as f64) * DAY_S as f64
        };
        assert!((at("", 50) - 200.0).abs() < 1e-9);
        assert!((at(", shape = \"steps\"", 50) - 100.0).abs() < 1e-9);
        assert!((at(", shape = \"steps\"", 150) - 300.0).abs() < 1e-9);
        // 100 days at 200 a day on average, then 100 at 300: 50,000 jobs expected, drawn.
        let s = load(&text(
            "200d",
            &format!("forecast = {{ per = \"1d\", {points} }}"),
        ))
        .unwrap();
        let (_, n) = work_between(&s, 3, 0, 200 * DAY_S);
        assert!((n - 50_000.0).abs() < 4.0 * 50_000f64.sqrt(), "{n} jobs");
    }

    #[test]
    fn a_job_forecast_per_hour_is_the_same_stream_as_rate_per_hour() {
        let a = load(&text("30d", "forecast = { per = \"1h\", jobs = 5.5 }")).unwrap();
        let b = load(&text("30d", "rate_per_hour = 5.5")).unwrap();
        assert_eq!(a.demand, b.demand);
    }

    /// `scenarios/anchor-2gw.toml`: every other tenant's forecast is the `load` its stream had,
    /// on the fleet without the anchor's reservation: load x floor(share x installed chips) x
    /// speed-up / (mean chips x mean run time), just before and at every delivery.
    #[test]
    fn anchor_2gw_forecasts_are_the_no_anchor_loads() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/anchor-2gw.toml");
        let s = Scenario::load(&path, &[]).unwrap();
        let loads = [
            ("lab-a", 0.9),
            ("lab-b", 0.9),
            ("startups", 0.7),
            ("inference", 0.6),
        ];
        let mut checked = 0;
        for d in &s.demand {
            let DemandStream::Poisson(p) = d else {
                continue;
            };
            let name = &s.tenants[p.template.tenant].name;
            let Some(&(_, load)) = loads.iter().find(|l| l.0 == name) else {
                continue;
            };
            let g = p.template.generation.expect("per generation");
            let crate::fleet::demand::WorkDist::RunTime(rt) = &p.work else {
                panic!("run times")
            };
            let share = s.tenants[p.template.tenant].quota[g].nominal_share;
            let speedup = s.fleet.generations[g].speedup;
            let times = s.fleet.deliveries.iter().map(|d| d.at_s);
            for t in times.flat_map(|t| [t.saturating_sub(1), t]).chain([0]) {
                let nominal = (share * s.fleet.installed_chips(g, t) as f64).floor();
                let want = load * nominal * speedup / (p.chips.mean() * rt.mean());
                let got = p.rate.at(t as f64);
                assert!(
                    (got - want).abs() <= 1e-6 * want,
                    "{name} on {}: {got} jobs/s at {t} s, no-anchor load {want}",
                    s.fleet.generations[g].name
                );
                checked += 1;
            }
        }
        // 11 streams (no inference on Trn4), 12 deliveries: 25 times each.
        assert_eq!(checked, 11 * 25);
    }

    #[test]
    fn bad_forecasts_are_located() {
        let cases = [
            (
                "forecast = { jobs = 3 }",
                "f.toml:9:1: demand.d.forecast: needs `per`, the period the forecast counts, such as \"1w\" or \"30d\"",
            ),
            (
                "forecast = { per = \"1w\", jobs = 3, chip_hours = 4 }",
                "f.toml:9:1: demand.d.forecast: give only one of the keys jobs, chip_hours, points (found several)",
            ),
            (
                "forecast = { per = \"1w\", jobs = -3 }",
                "f.toml:9:26: demand.d.forecast.jobs: -3 is out of range; expected 0 to 1000000000000000",
            ),
            (
                "forecast = { per = \"1w\", points = [{ at = 0, jobs = 1 }, { at = 5, chip_hours = 2 }] }",
                "f.toml:9:68: demand.d.forecast.points[1].chip_hours: the forecast's first point is in jobs; one unit per forecast",
            ),
            (
                "forecast = { per = \"1w\", points = [{ at = 9, jobs = 1 }, { at = 5, jobs = 2 }] }",
                "f.toml:9:60: demand.d.forecast.points[1].at: earlier than the point before it; expected times in order",
            ),
            (
                "forecast = { per = \"1w\", jobs = 3, growth = \"30%\" }",
                "f.toml:9:36: demand.d.forecast.growth: \"30%\": expected a compounding growth such as \"30%/y\" or \"-5%/26w\"",
            ),
            (
                "forecast = { per = \"1w\", jobs = 3, growth = \"-100%/y\" }",
                "f.toml:9:36: demand.d.forecast.growth: -100 % is out of range; expected above -100 % and at most 10,000 %",
            ),
            (
                "forecast = { per = \"1w\", jobs = 3, growth = \"10000%/1d\" }",
                "f.toml:9:36: demand.d.forecast.growth: grows past any sensible rate within the horizon",
            ),
            (
                "forecast = { per = \"1w\", jobs = 3, shape = \"cubic\" }",
                "f.toml:9:44: demand.d.forecast.shape: unknown variant `cubic`, expected `linear` or `steps`",
            ),
            (
                "load = 0.5\nforecast = { per = \"1w\", jobs = 3 }",
                "f.toml:4:9: demand.d: give only one of the keys rate_per_hour, rate_schedule, load, forecast (found several)",
            ),
        ];
        let wrong: Vec<String> = cases
            .iter()
            .map(|(rate, want)| (load(&text("1y", rate)).unwrap_err(), want))
            .filter(|(e, want)| e != *want)
            .map(|(e, want)| format!("got  {e}\nwant {want}"))
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        // A workload's chip-hours are not known when the file is read; its jobs are.
        let workload = "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n\
            [workloads.w]\nmodel = \"llama3-8b\"\nphase = \"train\"\nbatch = 1\nseq = 128\n\
            steps = 10\ntp = 1\ndp = 8\n\
            [demand.d]\nkind = \"poisson\"\ntenant = \"a\"\nworkload = \"w\"\n";
        let e = load(&format!(
            "{workload}forecast = {{ per = \"1w\", chip_hours = 3 }}\n"
        ))
        .unwrap_err();
        assert!(
            e.ends_with("demand.d.forecast.chip_hours: a workload job's chip-hours come from the chip simulator, not known when the scenario is read; give the forecast in jobs"),
            "{e}"
        );
        load(&format!(
            "{workload}forecast = {{ per = \"1w\", jobs = 3 }}\n"
        ))
        .unwrap();
        // Forecasts are Poisson rates.
        let e = load(
            "horizon = \"1d\"\n[fleet.generations.trn2]\n[tenants.a]\n[demand.d]\n\
             kind = \"jobs\"\ntenant = \"a\"\njobs = []\nforecast = { per = \"1w\", jobs = 3 }\n",
        )
        .unwrap_err();
        assert!(
            e.ends_with(
                "demand.d.forecast: only for kind = \"poisson\"; this stream is kind = \"jobs\""
            ),
            "{e}"
        );
    }
}
