//! Workload jobs in the fleet: their run times come from the chip simulator.
//!
//! A scenario's `[workloads.NAME]` tables describe what jobs run (a shipped model config, a
//! phase, the work per step, the dtype, the tensor- and data-parallel degrees); a job given as a
//! workload counts its work in steps. [`WorkloadRunTime`] is the table `(workload, generation)
//! -> seconds per step`, filled once per scenario through a [`CostModel`] (memoized by shape,
//! so a million jobs cost a handful of chip simulations and a sweep shares one memo across its
//! points), and the [`RunTime`] the engine asks: `steps x step time` on the generation a job
//! runs on, and back from elapsed seconds to steps when it is preempted, so a job that moves
//! between generations keeps its progress in steps. Jobs given as run times keep the
//! generations' speed-ups ([`SpeedupRunTime`]). What a workload is and how a step is timed live
//! in [`crate::workload`]; this file is only the fleet's table of them.

use serde::{Serialize, Serializer};

use super::error::{Error, Result};
use super::hardware::{GenId, Generation};
use super::job::{JobSpec, RunTime, SpeedupRunTime, WorkloadId};
use super::scenario::Scenario;
use crate::arch::Hardware;
use crate::workload::{CostModel, StepTime, Workload};

/// One workload's step on one generation, as timed by the chip simulator.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenerationTime {
    #[serde(skip)]
    pub generation: String,
    /// The chip preset that timed it.
    pub hw: String,
    /// One step and its parts (compute, tensor-parallel and data-parallel communication).
    #[serde(flatten)]
    pub step: StepTime,
    /// The workload's own `steps` at this step time (a job's run time unless its stream draws
    /// the steps).
    pub run_s: f64,
}

/// What a workload is and what it costs on each generation with a chip preset: the table a
/// planner reads to see where the run times came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadReport {
    #[serde(skip)]
    pub name: String,
    /// The workload (model, phase, batch, seq, steps, dtype, tp, dp).
    #[serde(flatten)]
    pub workload: Workload,
    /// Its gang: `tp x dp` chips.
    pub chips: usize,
    /// Per generation (file order), where it has a chip preset.
    #[serde(serialize_with = "by_name")]
    pub generations: Vec<GenerationTime>,
}

/// A list entry with a name, serialized as an object keyed by it.
pub(crate) trait Keyed {
    fn key(&self) -> &str;
}

impl Keyed for GenerationTime {
    fn key(&self) -> &str {
        &self.generation
    }
}

impl Keyed for WorkloadReport {
    fn key(&self) -> &str {
        &self.name
    }
}

/// A list serialized as an object keyed by each entry's name (in list order).
pub(crate) fn by_name<S: Serializer, T: Keyed + Serialize>(
    v: &[T],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_map(v.iter().map(|x| (x.key(), x)))
}

/// Step times per (workload, generation), and the [`RunTime`] of a scenario's jobs.
#[derive(Clone, Debug, Default)]
pub struct WorkloadRunTime {
    gens: usize,
    /// Seconds per step, by `workload * gens + generation` (NaN: no chip preset there).
    step_s: Vec<f64>,
    reports: Vec<WorkloadReport>,
}

/// The chip preset of each generation (parsed once), or `None`.
fn presets(s: &Scenario) -> Vec<Option<Hardware>> {
    s.fleet
        .generations
        .iter()
        .map(|g| g.hw.as_deref().and_then(|h| Hardware::preset(h).ok()))
        .collect()
}

impl WorkloadRunTime {
    /// Every (workload, chip preset) pair the scenario needs timed: to fill a shared
    /// [`CostModel`] in parallel before the tables of many scenarios are built.
    pub fn shapes(s: &Scenario) -> Vec<(Workload, Hardware)> {
        let hws = presets(s);
        s.workloads
            .iter()
            .flat_map(|w| {
                hws.iter()
                    .flatten()
                    .map(|hw| (w.workload.clone(), hw.clone()))
            })
            .collect()
    }

    /// Time every workload of `s` on every generation that has a chip preset, through `cost`.
    /// A shape the kernels cannot run is an error naming the workload, where it is defined,
    /// and the generation.
    pub fn build(s: &Scenario, cost: &CostModel) -> Result<WorkloadRunTime> {
        let gens = s.fleet.generations.len();
        if s.workloads.is_empty() {
            return Ok(WorkloadRunTime {
                gens,
                ..WorkloadRunTime::default()
            });
        }
        let hws = presets(s);
        let mut step_s = vec![f64::NAN; s.workloads.len() * gens];
        let mut reports = Vec::with_capacity(s.workloads.len());
        for (w, def) in s.workloads.iter().enumerate() {
            let mut times = Vec::new();
            for (g, hw) in hws.iter().enumerate() {
                let Some(hw) = hw else { continue };
                let gname = &s.fleet.generations[g].name;
                let step = cost.step(&def.workload, hw).map_err(|e| {
                    Error::Config(crate::config::Error::new(
                        def.location.clone(),
                        format!("workloads.{}", def.name),
                        format!("on generation {gname} (chip preset {}): {e}", hw.name),
                    ))
                })?;
                step_s[w * gens + g] = step.step_s;
                times.push(GenerationTime {
                    generation: gname.clone(),
                    hw: hw.name.clone(),
                    step,
                    run_s: step.step_s * def.workload.steps as f64,
                });
            }
            reports.push(WorkloadReport {
                name: def.name.clone(),
                workload: def.workload.clone(),
                chips: def.workload.chips(),
                generations: times,
            });
        }
        Ok(WorkloadRunTime {
            gens,
            step_s,
            reports,
        })
    }

    /// Seconds per step of workload `w` on generation `g` (`None` without a chip preset).
    pub fn step_s(&self, w: WorkloadId, g: GenId) -> Option<f64> {
        self.step_s
            .get(w as usize * self.gens + g)
            .copied()
            .filter(|x| x.is_finite())
    }

    /// The table, per workload and generation.
    pub fn reports(&self) -> &[WorkloadReport] {
        &self.reports
    }

    /// Seconds per step of a workload job on `g`, or `None` for a job given as a run time.
    fn job_step(&self, job: &JobSpec, g: GenId) -> Option<f64> {
        // At least a picosecond per step: elapsed time always buys finite work.
        job.workload
            .and_then(|w| self.step_s(w, g))
            .map(|x| x.max(1e-12))
    }
}

impl RunTime for WorkloadRunTime {
    fn run_s(&self, job: &JobSpec, gen_: GenId, generation: &Generation, remaining: f64) -> u64 {
        match self.job_step(job, gen_) {
            Some(step) if remaining > 0.0 => ((remaining * step).round() as u64).max(1),
            Some(_) => 0,
            None => SpeedupRunTime.run_s(job, gen_, generation, remaining),
        }
    }

    fn work_done(
        &self,
        job: &JobSpec,
        gen_: GenId,
        generation: &Generation,
        elapsed_s: u64,
    ) -> f64 {
        match self.job_step(job, gen_) {
            Some(step) => elapsed_s as f64 / step,
            None => SpeedupRunTime.work_done(job, gen_, generation, elapsed_s),
        }
    }

    /// A workload job's run time on the generation it must run on, or else on the first
    /// generation (fleet order) that times it.
    fn reference_s(&self, job: &JobSpec) -> f64 {
        let first = job
            .generation
            .into_iter()
            .chain(0..self.gens)
            .find_map(|g| self.job_step(job, g));
        match first {
            Some(step) => job.work as f64 * step,
            None => job.work as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"
horizon = "30d"
[fleet]
deliveries = [
  { at = 0, generation = "trn2", chips = 1024 },
  { at = 0, generation = "trn3", chips = 1152 },
  { at = 0, generation = "trn4", chips = 1152 },
]
[fleet.generations.trn2]
[fleet.generations.trn3]
[fleet.generations.trn4]
watts_per_chip = 2500
ultraserver_chips = 144
hw = "trn3"
[tenants.a.quota.trn3]
nominal_chips = 1152
[workloads.train]
model = "llama3-8b"
phase = "train"
batch = 1
seq = 2048
steps = 1000
tp = 4
dp = 2
[workloads.serve]
model = "llama3-8b"
phase = "decode"
batch = 8
seq = 2048
steps = 5000
[demand.a]
kind = "jobs"
tenant = "a"
jobs = [{ at = 0, workload = "train", count = 2 }, { at = 0, workload = "serve", generation = "trn2" }]
"#;

    fn scenario(overrides: &[(&str, &str)]) -> Scenario {
        let o: Vec<(String, String)> = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Scenario::from_toml(TEXT, "t.toml", ".".as_ref(), &o, &|_| unreachable!()).unwrap()
    }

    #[test]
    fn the_table_is_the_cost_models_run_times() {
        let s = scenario(&[]);
        let cost = CostModel::new();
        let rt = WorkloadRunTime::build(&s, &cost).unwrap();
        // Two workloads on three generations, trn4 timed as a trn3: four distinct shapes.
        assert_eq!(cost.simulations(), 4);
        for (w, def) in s.workloads.iter().enumerate() {
            let report = &rt.reports()[w];
            assert_eq!(report.generations.len(), 3);
            for (g, gen_) in s.fleet.generations.iter().enumerate() {
                let hw = Hardware::preset(gen_.hw.as_deref().unwrap()).unwrap();
                let want = cost.run_s(&def.workload, &hw).unwrap();
                let got = rt.step_s(w as WorkloadId, g).unwrap() * def.workload.steps as f64;
                assert!(
                    (got - want).abs() <= 1e-9 * want,
                    "{} on {}",
                    def.name,
                    gen_.name
                );
                assert_eq!(report.generations[g].run_s, got);
            }
        }
        // trn4 borrows trn3's chip preset, so the same step time.
        assert_eq!(rt.step_s(0, 1), rt.step_s(0, 2));
        // A second build of the same scenario simulates nothing.
        WorkloadRunTime::build(&s, &cost).unwrap();
        assert_eq!(cost.simulations(), 4);
    }

    #[test]
    fn run_time_and_work_done_are_inverse_in_steps() {
        let s = scenario(&[]);
        let rt = WorkloadRunTime::build(&s, &CostModel::new()).unwrap();
        let jobs = super::super::demand::generate(&s.demand, 1);
        let j = jobs.iter().find(|j| j.workload == Some(0)).unwrap();
        assert_eq!((j.chips, j.work), (8, 1000));
        let (g2, g3) = (&s.fleet.generations[0], &s.fleet.generations[1]);
        let t2 = rt.run_s(j, 0, g2, 1000.0);
        let step2 = rt.step_s(0, 0).unwrap();
        assert_eq!(t2, (1000.0 * step2).round() as u64);
        // 400 steps on trn2, then the rest on trn3: the progress is kept in steps.
        // Elapsed time is whole seconds: the work done is exactly elapsed / step, within half
        // a second's steps of 400 (a step can be shorter than a second).
        let elapsed = (400.0 * step2).round() as u64;
        let done = rt.work_done(j, 0, g2, elapsed);
        assert!((done - elapsed as f64 / step2).abs() < 1e-9, "{done}");
        assert!((done - 400.0).abs() <= 0.5 / step2 + 1e-9, "{done} {step2}");
        let rest = rt.run_s(j, 1, g3, 1000.0 - done);
        let step3 = rt.step_s(0, 1).unwrap();
        assert!(((rest as f64) - (1000.0 - done) * step3).abs() <= 0.5);
        assert_eq!(rt.reference_s(j), 1000.0 * step2);
        // A job given as a run time keeps the speed-up.
        let plain = JobSpec {
            workload: None,
            work: 3000,
            ..j.clone()
        };
        assert_eq!(rt.run_s(&plain, 1, g3, 3000.0), 2000);
    }

    #[test]
    fn dtype_changes_the_table() {
        let cost = CostModel::new();
        let bf16 = WorkloadRunTime::build(&scenario(&[]), &cost).unwrap();
        let fp8 = WorkloadRunTime::build(
            &scenario(&[("workloads.train.dtype", "float8_e4m3")]),
            &cost,
        )
        .unwrap();
        for g in 0..3 {
            let (a, b) = (bf16.step_s(0, g).unwrap(), fp8.step_s(0, g).unwrap());
            assert!(b < a, "generation {g}: fp8 {b} s, bf16 {a} s");
        }
        // The other workload is unchanged.
        assert_eq!(bf16.step_s(1, 0), fp8.step_s(1, 0));
    }
}
