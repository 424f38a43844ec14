//! How preemptions are carried out once victims are chosen (scheduling.md section 2):
//! `immediate` (Kueue: evict at once), `graceful` (Slurm's grace time: victims keep running for
//! a grace period, then stop), `throttled` (YARN: at most a fraction of the fleet's chips per
//! round, optionally after a wait before the kill).

use serde::Serialize;

/// How victims are evicted once chosen: at once, after a grace period, or throttled.
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
    /// How victims are evicted; the fields below apply per mode.
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
    pub(crate) fn grace(&self) -> u64 {
        match self.mode {
            ReclaimMode::Immediate => 0,
            ReclaimMode::Graceful | ReclaimMode::Throttled => self.grace_s,
        }
    }

    /// Chips that may be evicted per round on a generation with `up_chips` chips up.
    pub(crate) fn budget(&self, up_chips: u64) -> u64 {
        match self.mode {
            ReclaimMode::Throttled => ((self.fraction * up_chips as f64).floor() as u64).max(1),
            _ => u64::MAX,
        }
    }

    /// Index of the round containing `t_s`.
    pub(crate) fn round_of(&self, t_s: u64) -> u64 {
        t_s / self.round_s.max(1)
    }

    /// The longest a job waits for chips its tenant lent out, from the scheduling round in
    /// which its preemption is decided to its start, on a generation with `up_chips` chips up
    /// (scenarios/README.md, "Reclaim"):
    ///
    /// - immediate: 0 (it starts in that round);
    /// - graceful: `grace_s`;
    /// - throttled: `grace_s + round_s * k`, the rounds `k` its victims' chips wait for budget.
    ///   Chips are booked earliest round with room first, so with `A` chips booked in the
    ///   current and later rounds before it and `V` chips of its own victims,
    ///   `k <= ceil((A + V) / budget) - 1`. Booked chips of victims that stop early are
    ///   refunded, so when `grace_s >= round_s` every chip booked in the current and later
    ///   rounds is still held by a victim, `A + V <= up_chips` and `k <= ceil(up / budget) - 1`;
    ///   a shorter grace lets the current round's evicted chips count too (one round more).
    ///
    /// Failures of the UltraServers set aside for the job are not covered.
    pub fn wait_bound_s(&self, up_chips: u64) -> u64 {
        match self.mode {
            ReclaimMode::Immediate => 0,
            ReclaimMode::Graceful => self.grace_s,
            ReclaimMode::Throttled => {
                let rounds = up_chips.div_ceil(self.budget(up_chips));
                let rounds = if self.grace_s >= self.round_s {
                    rounds.saturating_sub(1)
                } else {
                    rounds
                };
                self.grace_s + self.round_s * rounds
            }
        }
    }
}
