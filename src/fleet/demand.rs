//! Demand: seeded generators (Poisson arrivals with an optional daily cycle; fixed, exponential,
//! lognormal, uniform or empirical sizes and run times) and explicit job lists (inline, or read
//! from a trace by [`super::trace`]). All of it becomes one arrival-ordered list of [`JobSpec`]s
//! before the run starts.

use std::sync::Arc;

use serde::Serialize;

use super::hardware::GenId;
use super::job::JobSpec;
use super::rng::Rng;
use super::tenant::TenantId;

/// A distribution of a non-negative quantity (chips, seconds).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub enum Dist {
    /// Always `value`.
    Fixed {
        /// The value.
        value: f64,
    },
    /// Exponential with this mean.
    Exponential {
        /// Mean.
        mean: f64,
    },
    /// Lognormal: `median * exp(sigma * N(0, 1))`.
    Lognormal {
        /// Median.
        median: f64,
        /// Shape.
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
        /// The values.
        values: Vec<f64>,
        /// Cumulative weights, normalised to end at 1.
        cumulative: Vec<f64>,
    },
}

impl Dist {
    /// One sample.
    pub fn sample(&self, rng: &mut Rng) -> f64 {
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
    pub fn mean(&self) -> f64 {
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
}

/// Attributes every job of a stream shares.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobTemplate {
    /// Owner.
    pub tenant: TenantId,
    /// Priority.
    pub priority: i32,
    /// May be preempted.
    pub preemptible: bool,
    /// Checkpoint interval (s), 0 = none.
    pub checkpoint_s: u64,
    /// Generation it must run on, if any.
    pub generation: Option<GenId>,
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
    /// Mean arrival rate (per second).
    pub rate_per_s: f64,
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
    pub fn expected_jobs(&self) -> f64 {
        match self {
            DemandStream::Poisson(p) => {
                let span = p.end_s.saturating_sub(p.start_s) as f64;
                (p.rate_per_s * span).min(p.max_jobs as f64)
            }
            DemandStream::Jobs(j) => j.len() as f64,
        }
    }
}

const SECONDS_PER_DAY: f64 = 86_400.0;

fn generate_poisson(p: &PoissonStream, rng: &mut Rng, out: &mut Vec<JobSpec>) {
    if p.rate_per_s <= 0.0 || p.max_jobs == 0 {
        return;
    }
    let peak = p.rate_per_s * (1.0 + p.daily_amplitude);
    let mut t = p.start_s as f64;
    let mut n = 0u64;
    loop {
        t += rng.exponential(1.0 / peak);
        let submit_s = t.round() as u64;
        if submit_s >= p.end_s || t > 1e15 {
            break;
        }
        if p.daily_amplitude > 0.0 {
            // Thinning: keep the candidate with probability rate(t) / peak.
            let phase = (t / SECONDS_PER_DAY - p.peak_hour / 24.0) * std::f64::consts::TAU;
            let rate = p.rate_per_s * (1.0 + p.daily_amplitude * phase.cos());
            if rng.uniform() * peak >= rate {
                continue;
            }
        }
        let chips = p.chips.sample(rng).round().clamp(1.0, u32::MAX as f64) as u32;
        let work_s = match &p.work {
            WorkDist::RunTime(d) => d.sample(rng),
            WorkDist::ChipHours(d) => d.sample(rng) * 3600.0 / chips as f64,
        };
        out.push(JobSpec {
            tenant: p.template.tenant,
            submit_s,
            chips,
            work_s: (work_s.round() as u64).max(1),
            priority: p.template.priority,
            preemptible: p.template.preemptible,
            checkpoint_s: p.template.checkpoint_s,
            generation: p.template.generation,
        });
        n += 1;
        if n >= p.max_jobs {
            break;
        }
    }
}

/// Every job of every stream, sorted by submit time (ties: stream order, then order within the
/// stream). Stream `i` draws from its own generator, derived from `seed`.
pub fn generate(streams: &[DemandStream], seed: u64) -> Vec<JobSpec> {
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
    all.into_iter().map(|x| x.3).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_rate_and_daily_cycle() {
        let p = PoissonStream {
            template: JobTemplate {
                tenant: 0,
                priority: 0,
                preemptible: true,
                checkpoint_s: 0,
                generation: None,
            },
            start_s: 0,
            end_s: 100 * 86_400,
            rate_per_s: 1.0 / 60.0,
            daily_amplitude: 0.8,
            peak_hour: 14.0,
            chips: Dist::Empirical {
                values: vec![1.0, 8.0],
                cumulative: vec![0.75, 1.0],
            },
            work: WorkDist::RunTime(Dist::Fixed { value: 10.0 }),
            max_jobs: u64::MAX,
        };
        let jobs = generate(&[DemandStream::Poisson(p)], 3);
        let n = jobs.len() as f64;
        assert!((n / 144_000.0 - 1.0).abs() < 0.02, "{n}");
        let peak = jobs
            .iter()
            .filter(|j| (13 * 3600..15 * 3600).contains(&(j.submit_s % 86_400)))
            .count();
        let trough = jobs
            .iter()
            .filter(|j| (3600..3 * 3600).contains(&(j.submit_s % 86_400)))
            .count();
        assert!(peak > 5 * trough, "{peak} {trough}");
        let eights = jobs.iter().filter(|j| j.chips == 8).count() as f64 / n;
        assert!((eights - 0.25).abs() < 0.01);
        assert!(jobs.windows(2).all(|w| w[0].submit_s <= w[1].submit_s));
    }
}
