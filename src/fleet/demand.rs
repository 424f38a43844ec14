//! Demand: seeded generators (Poisson arrivals whose rate follows a schedule over time, with an
//! optional daily cycle; fixed, exponential, lognormal, uniform or empirical sizes and run
//! times, or workloads drawn from a list with their steps) and explicit job lists (inline, or
//! read from a trace by `super::trace`). All of it becomes one arrival-ordered list of
//! `JobSpec`s before the run starts.

use std::sync::Arc;

use serde::Serialize;

use super::hardware::GenId;
use super::job::{JobSpec, WorkloadId};
use super::rng::Rng;
use super::tenant::TenantId;
use super::time::{DAY_S, HOUR_S_F64};

/// A distribution of a non-negative quantity (chips, seconds).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub enum Dist {
    /// Always `value`.
    Fixed {
        /// The quantity every sample takes (chips or seconds).
        value: f64,
    },
    /// Exponential with this mean.
    Exponential {
        /// Mean sample; the rate is its reciprocal.
        mean: f64,
    },
    /// Lognormal: `median * exp(sigma * N(0, 1))`.
    Lognormal {
        /// Median sample (`exp` of the underlying normal's mean).
        median: f64,
        /// Spread: standard deviation of the underlying normal, in natural-log units.
        sigma: f64,
    },
    /// Uniform in [min, max].
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
    /// One of `values`, with probabilities proportional to the weights.
    Empirical {
        /// The possible samples.
        values: Vec<f64>,
        /// Cumulative weights, normalised to end at 1.
        cumulative: Vec<f64>,
    },
}

impl Dist {
    /// One sample.
    pub(crate) fn sample(&self, rng: &mut Rng) -> f64 {
        match self {
            Dist::Fixed { value } => *value,
            Dist::Exponential { mean } => rng.exponential(*mean),
            Dist::Lognormal { median, sigma } => rng.lognormal(*median, *sigma),
            Dist::Uniform { min, max } => min + (max - min) * rng.uniform(),
            Dist::Empirical { values, cumulative } => {
                let u = rng.uniform();
                let i = cumulative.partition_point(|&c| c <= u);
                values[i.min(values.len() - 1)]
            }
        }
    }

    /// The mean (for load estimates and size checks).
    pub(crate) fn mean(&self) -> f64 {
        match self {
            Dist::Fixed { value } => *value,
            Dist::Exponential { mean } => *mean,
            Dist::Lognormal { median, sigma } => median * (sigma * sigma / 2.0).exp(),
            Dist::Uniform { min, max } => (min + max) / 2.0,
            Dist::Empirical { values, cumulative } => {
                let mut prev = 0.0;
                values
                    .iter()
                    .zip(cumulative)
                    .map(|(v, c)| {
                        let p = c - prev;
                        prev = *c;
                        v * p
                    })
                    .sum()
            }
        }
    }
}

/// What a generated job's run time is drawn as.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkDist {
    /// Run time on the reference generation (s).
    RunTime(Dist),
    /// Work in chip-hours on the reference generation (run time = work / chips).
    ChipHours(Dist),
    /// Workload jobs: the workload and its steps (the gang is the workload's `tp x dp`).
    Workload(Box<WorkloadDraw>),
}

/// One workload a stream may draw: its id, gang size and default steps.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct WorkloadOption {
    /// The workload.
    pub id: WorkloadId,
    /// Its gang (`tp x dp` chips).
    pub chips: u32,
    /// Its steps, unless the stream draws them.
    pub steps: u64,
}

/// How a workload stream draws a job: which workload, then how many steps.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadDraw {
    /// The workloads the stream may draw.
    pub options: Vec<WorkloadOption>,
    /// Which one: a distribution over indices into `options` (`None`: always the first, and no
    /// random draw).
    pub pick: Option<Dist>,
    /// Steps per job (`None`: the workload's own `steps`).
    pub steps: Option<Dist>,
}

impl WorkloadDraw {
    /// One job's (workload, chips, steps).
    fn sample(&self, rng: &mut Rng) -> (WorkloadId, u32, u64) {
        let i = self
            .pick
            .as_ref()
            .map_or(0, |d| (d.sample(rng) as usize).min(self.options.len() - 1));
        let o = self.options[i];
        let steps = self
            .steps
            .as_ref()
            .map_or(o.steps, |d| (d.sample(rng).round() as u64).max(1));
        (o.id, o.chips, steps)
    }
}

/// Attributes every job of a stream shares.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobTemplate {
    /// Tenant that submits the jobs and whose quota they count against.
    pub tenant: TenantId,
    /// Priority: higher is more important (the priority policy runs it first and lets it preempt lower).
    pub priority: i32,
    /// May be preempted.
    pub preemptible: bool,
    /// Checkpoint interval (s), 0 = none.
    pub checkpoint_s: u64,
    /// Generation it must run on, if any.
    pub generation: Option<GenId>,
}

/// An arrival rate over time: points `(time s, rate per second)` joined by straight lines,
/// constant before the first point and after the last; two points at one time make a step.
/// Demand that grows with a fleet over years is the reason: a constant rate either swamps the
/// first deliveries or leaves the last ones idle.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RateSchedule {
    points: Vec<(u64, f64)>,
}

impl RateSchedule {
    /// The same rate at every time.
    pub(crate) fn constant(rate_per_s: f64) -> Self {
        RateSchedule {
            points: vec![(0, rate_per_s)],
        }
    }

    /// Straight lines between points (times non-decreasing; equal times make a step). `None`
    /// when there is no point, a time goes back or a rate is negative or not finite.
    pub(crate) fn linear(points: Vec<(u64, f64)>) -> Option<Self> {
        let ok = !points.is_empty()
            && points.windows(2).all(|w| w[0].0 <= w[1].0)
            && points.iter().all(|p| p.1.is_finite() && p.1 >= 0.0);
        ok.then_some(RateSchedule { points })
    }

    /// A step function: each rate holds from its time until the next point's time.
    pub(crate) fn steps(points: &[(u64, f64)]) -> Option<Self> {
        let mut out = Vec::with_capacity(2 * points.len());
        for (i, &(t, r)) in points.iter().enumerate() {
            if i > 0 {
                out.push((t, points[i - 1].1));
            }
            out.push((t, r));
        }
        Self::linear(out)
    }

    /// Rate at `t` (per second); at a step, the rate after it.
    pub fn at(&self, t: f64) -> f64 {
        let i = self.points.partition_point(|p| p.0 as f64 <= t);
        self.between(i, t)
    }

    /// Rate just before `t` (the left limit; at a step, the rate before it).
    fn before(&self, t: f64) -> f64 {
        let i = self.points.partition_point(|p| (p.0 as f64) < t);
        self.between(i, t)
    }

    /// Rate at `t` given that points `..i` are at or before it and `i..` after it.
    fn between(&self, i: usize, t: f64) -> f64 {
        let p = &self.points;
        if i == 0 {
            return p[0].1;
        }
        if i == p.len() {
            return p[i - 1].1;
        }
        let (a, b) = (p[i - 1], p[i]);
        let span = (b.0 - a.0) as f64;
        if span <= 0.0 {
            return b.1;
        }
        a.1 + (b.1 - a.1) * (t - a.0 as f64) / span
    }

    /// Times in `(from, to)` where the rate changes slope or steps, with `from` and `to`: the
    /// rate is a straight line between consecutive ones.
    fn segments(&self, from: u64, to: u64) -> Vec<u64> {
        let mut b = vec![from];
        b.extend(
            self.points
                .iter()
                .map(|p| p.0)
                .filter(|&t| t > from && t < to),
        );
        b.push(to);
        b.dedup();
        b
    }

    /// Expected arrivals in `[from, to)`.
    pub(crate) fn integral(&self, from: u64, to: u64) -> f64 {
        if to <= from {
            return 0.0;
        }
        self.segments(from, to)
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0] as f64, w[1] as f64);
                (self.at(a) + self.before(b)) / 2.0 * (b - a)
            })
            .sum()
    }
}

/// Poisson arrivals of jobs with random sizes and run times.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoissonStream {
    /// Shared job attributes.
    pub template: JobTemplate,
    /// First arrival no earlier than this (s).
    pub start_s: u64,
    /// No arrival at or after this (s).
    pub end_s: u64,
    /// Mean arrival rate over time (per second).
    pub rate: RateSchedule,
    /// Daily cycle: the rate is `rate * (1 + amplitude * cos(2 pi (hour - peak_hour) / 24))`.
    pub daily_amplitude: f64,
    /// Hour of the day (0-24) of the peak rate.
    pub peak_hour: f64,
    /// Gang size.
    pub chips: Dist,
    /// Run time or work.
    pub work: WorkDist,
    /// At most this many jobs.
    pub max_jobs: u64,
}

/// One demand stream of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum DemandStream {
    /// Generated from a seed.
    Poisson(PoissonStream),
    /// A fixed list (inline jobs or a replayed trace), shared between runs.
    Jobs(#[serde(skip)] Arc<Vec<JobSpec>>),
}

impl DemandStream {
    /// Expected number of jobs (exact for lists), to refuse absurd scenarios before allocating.
    pub(crate) fn expected_jobs(&self) -> f64 {
        match self {
            DemandStream::Poisson(p) => {
                (p.rate.integral(p.start_s, p.end_s)).min(p.max_jobs as f64)
            }
            DemandStream::Jobs(j) => j.len() as f64,
        }
    }
}

const SECONDS_PER_DAY: f64 = DAY_S as f64;

/// Arrivals by thinning, one straight piece of the rate schedule at a time: candidates come at
/// the piece's peak rate (times the daily cycle's peak) and each is kept with probability
/// rate(t) / peak. Memorylessness makes restarting at a piece boundary exact. A constant rate
/// without a daily cycle draws no thinning variate at all.
fn generate_poisson(p: &PoissonStream, rng: &mut Rng, out: &mut Vec<JobSpec>) {
    if p.max_jobs == 0 || p.end_s <= p.start_s {
        return;
    }
    let bounds = p.rate.segments(p.start_s, p.end_s);
    let mut piece = 0;
    let mut t = p.start_s as f64;
    let mut n = 0u64;
    'pieces: while piece + 1 < bounds.len() {
        let (a, b) = (bounds[piece] as f64, bounds[piece + 1] as f64);
        let last = piece + 2 == bounds.len();
        let (ra, rb) = (p.rate.at(a), p.rate.before(b));
        let base_peak = ra.max(rb);
        let peak = base_peak * (1.0 + p.daily_amplitude);
        let thin = p.daily_amplitude > 0.0 || ra != rb;
        if peak <= 0.0 {
            t = b;
            piece += 1;
            continue;
        }
        loop {
            t += rng.exponential(1.0 / peak);
            if !last && t >= b {
                t = b;
                piece += 1;
                continue 'pieces;
            }
            let submit_s = t.round() as u64;
            if submit_s >= p.end_s || t > 1e15 {
                break 'pieces;
            }
            if thin {
                let phase = (t / SECONDS_PER_DAY - p.peak_hour / 24.0) * std::f64::consts::TAU;
                let rate = p.rate.at(t) * (1.0 + p.daily_amplitude * phase.cos());
                if rng.uniform() * peak >= rate {
                    continue;
                }
            }
            let (chips, work, workload) = match &p.work {
                WorkDist::Workload(w) => {
                    let (id, chips, steps) = w.sample(rng);
                    (chips, steps, Some(id))
                }
                WorkDist::RunTime(d) | WorkDist::ChipHours(d) => {
                    let chips = p.chips.sample(rng).round().clamp(1.0, u32::MAX as f64) as u32;
                    let mut work = d.sample(rng);
                    if matches!(p.work, WorkDist::ChipHours(_)) {
                        work *= HOUR_S_F64 / chips as f64;
                    }
                    (chips, (work.round() as u64).max(1), None)
                }
            };
            out.push(JobSpec {
                tenant: p.template.tenant,
                submit_s,
                chips,
                work,
                priority: p.template.priority,
                preemptible: p.template.preemptible,
                checkpoint_s: p.template.checkpoint_s,
                generation: p.template.generation,
                workload,
            });
            n += 1;
            if n >= p.max_jobs {
                break 'pieces;
            }
        }
    }
}

/// Every job of every stream, sorted by submit time (ties: stream order, then order within the
/// stream). Stream `i` draws from its own generator, derived from `seed`.
pub(crate) fn generate(streams: &[DemandStream], seed: u64) -> Vec<JobSpec> {
    generate_streams(streams, seed).0
}

/// [`generate`], with the index of the stream that drew each job.
pub(crate) fn generate_streams(streams: &[DemandStream], seed: u64) -> (Vec<JobSpec>, Vec<u32>) {
    let total: f64 = streams.iter().map(|s| s.expected_jobs()).sum();
    let mut all: Vec<(u64, usize, usize, JobSpec)> = Vec::with_capacity(total as usize + 16);
    for (i, s) in streams.iter().enumerate() {
        let mut jobs = Vec::new();
        let list: &[JobSpec] = match s {
            DemandStream::Poisson(p) => {
                let mut rng = Rng::new(seed, 1000 + i as u64);
                generate_poisson(p, &mut rng, &mut jobs);
                &jobs
            }
            DemandStream::Jobs(list) => list,
        };
        all.extend(
            list.iter()
                .enumerate()
                .map(|(k, j)| (j.submit_s, i, k, j.clone())),
        );
    }
    all.sort_unstable_by_key(|x| (x.0, x.1, x.2));
    all.into_iter().map(|x| (x.3, x.1 as u32)).unzip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::time::HOUR_S;

    /// A 100-day stream of 10-second jobs of tenant 0.
    fn stream(rate: RateSchedule, daily_amplitude: f64, chips: Dist) -> PoissonStream {
        PoissonStream {
            template: JobTemplate {
                tenant: 0,
                priority: 0,
                preemptible: true,
                checkpoint_s: 0,
                generation: None,
            },
            start_s: 0,
            end_s: 100 * DAY_S,
            rate,
            daily_amplitude,
            peak_hour: 14.0,
            chips,
            work: WorkDist::RunTime(Dist::Fixed { value: 10.0 }),
            max_jobs: u64::MAX,
        }
    }

    #[test]
    fn poisson_rate_and_daily_cycle() {
        let chips = Dist::Empirical {
            values: vec![1.0, 8.0],
            cumulative: vec![0.75, 1.0],
        };
        let p = stream(RateSchedule::constant(1.0 / 60.0), 0.8, chips);
        let jobs = generate(&[DemandStream::Poisson(p)], 3);
        let n = jobs.len() as f64;
        assert!((n / 144_000.0 - 1.0).abs() < 0.02, "{n}");
        let peak = jobs
            .iter()
            .filter(|j| (13 * HOUR_S..15 * HOUR_S).contains(&(j.submit_s % DAY_S)))
            .count();
        let trough = jobs
            .iter()
            .filter(|j| (HOUR_S..3 * HOUR_S).contains(&(j.submit_s % DAY_S)))
            .count();
        assert!(peak > 5 * trough, "{peak} {trough}");
        let eights = jobs.iter().filter(|j| j.chips == 8).count() as f64 / n;
        assert!((eights - 0.25).abs() < 0.01);
        assert!(jobs.windows(2).all(|w| w[0].submit_s <= w[1].submit_s));
    }

    #[test]
    fn rate_schedule_lines_steps_and_integral() {
        let r = RateSchedule::linear(vec![(100, 1.0), (200, 3.0), (200, 0.5), (300, 0.5)]).unwrap();
        assert_eq!(
            (r.at(0.0), r.at(150.0), r.at(200.0), r.at(1e9)),
            (1.0, 2.0, 0.5, 0.5)
        );
        assert_eq!(r.before(200.0), 3.0);
        // 100 s at 1, a line from 1 to 3 over 100 s, then 0.5 for 100 s.
        assert_eq!(r.integral(0, 300), 100.0 + 200.0 + 50.0);
        let s = RateSchedule::steps(&[(0, 2.0), (10, 4.0)]).unwrap();
        assert_eq!((s.at(9.9), s.at(10.0), s.integral(0, 20)), (2.0, 4.0, 60.0));
        assert!(RateSchedule::linear(vec![(5, 1.0), (4, 1.0)]).is_none());
    }

    #[test]
    fn arrivals_follow_a_ramp_and_a_step() {
        // 0 to 2 per minute over 50 days, then a step down to 0.5 per minute for 50 days.
        let day = DAY_S;
        let rate = RateSchedule::linear(vec![
            (0, 0.0),
            (50 * day, 2.0 / 60.0),
            (50 * day, 0.5 / 60.0),
        ])
        .unwrap();
        let p = stream(rate.clone(), 0.0, Dist::Fixed { value: 1.0 });
        let jobs = generate(&[DemandStream::Poisson(p)], 5);
        let count = |a: u64, b: u64| {
            jobs.iter()
                .filter(|j| (a * day..b * day).contains(&j.submit_s))
                .count() as f64
        };
        for (a, b) in [(0, 10), (20, 30), (40, 50), (50, 60), (90, 100)] {
            let want = rate.integral(a * day, b * day);
            // Within 4 standard deviations of a Poisson count.
            assert!(
                (count(a, b) - want).abs() < 4.0 * want.sqrt(),
                "days {a}-{b}: {} arrivals, expected {want}",
                count(a, b)
            );
        }
    }
}
