//! How preemptions are carried out once victims are chosen (scheduling.md section 2):
//! `immediate` (Kueue: evict at once), `graceful` (Slurm's grace time: victims keep running for
//! a grace period, then stop), `throttled` (YARN: at most a fraction of the fleet's chips per
//! round, optionally after a wait before the kill).

use serde::Serialize;

/// The reclaim mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReclaimMode {
    /// Evict victims at once.
    #[default]
    Immediate,
    /// Evict victims after `grace_s`.
    Graceful,
    /// Evict at most `fraction` of the generation's chips per `round_s`, after `grace_s`.
    Throttled,
}

/// Reclaim settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Reclaim {
    /// Mode.
    pub mode: ReclaimMode,
    /// Grace period (graceful; wait before kill for throttled) in seconds.
    pub grace_s: u64,
    /// Largest fraction of a generation's up chips evicted per round (throttled).
    pub fraction: f64,
    /// Round length (throttled), seconds.
    pub round_s: u64,
}

impl Default for Reclaim {
    fn default() -> Self {
        Reclaim {
            mode: ReclaimMode::Immediate,
            grace_s: 0,
            fraction: 0.1,
            round_s: 15,
        }
    }
}

impl Reclaim {
    /// Seconds a victim keeps running after it is chosen.
    pub fn grace(&self) -> u64 {
        match self.mode {
            ReclaimMode::Immediate => 0,
            ReclaimMode::Graceful | ReclaimMode::Throttled => self.grace_s,
        }
    }

    /// Chips that may be evicted per round on a generation with `up_chips` chips up.
    pub fn budget(&self, up_chips: u64) -> u64 {
        match self.mode {
            ReclaimMode::Throttled => ((self.fraction * up_chips as f64).floor() as u64).max(1),
            _ => u64::MAX,
        }
    }

    /// Index of the round containing `t_s`.
    pub fn round_of(&self, t_s: u64) -> u64 {
        t_s / self.round_s.max(1)
    }

    /// Longest an owner waits for `chips` of its guaranteed quota that others hold, when no
    /// other reclaim competes for the budget: the grace, plus for throttled the rounds needed.
    pub fn wait_bound_s(&self, chips: u64, up_chips: u64) -> u64 {
        match self.mode {
            ReclaimMode::Immediate => 0,
            ReclaimMode::Graceful => self.grace_s,
            ReclaimMode::Throttled => {
                self.grace_s + self.round_s * chips.div_ceil(self.budget(up_chips))
            }
        }
    }
}
