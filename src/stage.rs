//! The stages of a pipeline as `tracing` spans and events, so `-v` shows where the time goes:
//! one info line per stage with what it handled and how long it took (`-vv` adds the debug
//! events inside, each under its stage's span).

use std::time::Instant;

/// A stage under way: its span is entered until [`Stage::done`] logs its line.
pub(crate) struct Stage {
    name: &'static str,
    start: Instant,
    span: tracing::span::EnteredSpan,
    /// The stage's name on a terminal while it lasts ([`crate::progress::spinner`]).
    spinner: Option<crate::progress::Ticker>,
}

impl Stage {
    /// Enter the stage `name` (read, check, plan, simulate, execute, write, ...).
    pub(crate) fn start(name: &'static str) -> Stage {
        Stage {
            name,
            start: Instant::now(),
            span: tracing::info_span!("stage", name).entered(),
            spinner: crate::progress::spinner(name),
        }
    }

    /// Leave the stage, logging `name: SIZE in T ms` at info level (outside its span, so the
    /// line reads plainly).
    pub(crate) fn done(self, size: impl std::fmt::Display) {
        let ms = self.start.elapsed().as_secs_f64() * 1e3;
        drop(self.spinner);
        drop(self.span);
        tracing::info!(target: "trnsim", "{}: {size} in {ms:.3} ms", self.name);
    }
}
