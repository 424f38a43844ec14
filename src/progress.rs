//! Progress on stderr for long runs: bars where the work has a count (`plan` over its horizon,
//! `run` and `kernel run` with values, `sweep`'s runs), drawn by a ticker thread from one
//! counter the engine loops store into; elsewhere a spinner naming the stage under way
//! ([`crate::stage::Stage`]: reading, parsing, recording an NKI kernel, a `--no-data` run).
//! The loops only store a number: progress never changes a result or stdout, and costs a
//! relaxed store per step when none is shown. At most one thing is drawn: a bar hides the
//! spinners, and a stage inside another draws none of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Bars being shown ([`show`], [`hold`]): spinners stay hidden while there is one.
static BARS: AtomicUsize = AtomicUsize::new(0);

/// Whether a spinner is drawing.
static SPINNING: AtomicBool = AtomicBool::new(false);

/// How far the one run under way has got (instructions executed, simulated seconds).
static DONE: AtomicU64 = AtomicU64::new(0);

/// Record progress (from the engine loops).
#[inline]
pub(crate) fn set(done: u64) {
    DONE.store(done, Ordering::Relaxed);
}

/// No bar before this: runs shorter than it never show one (`TRNSIM_PROGRESS_DELAY_MS`
/// changes it, for tests).
const DELAY: Duration = Duration::from_millis(1000);

/// A bar being drawn; cleared and stopped when dropped.
pub(crate) struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// A bar's hold on the spinners, released after its thread has cleared it.
    _bar: Option<BarHeld>,
}

/// Whether progress may be drawn: stderr is a terminal and warnings are not silenced (`-q`).
fn drawable() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && tracing::enabled!(tracing::Level::WARN)
}

fn delay() -> Duration {
    std::env::var("TRNSIM_PROGRESS_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(DELAY, Duration::from_millis)
}

const TICK: Duration = Duration::from_millis(100);

/// Wait until `delay` has passed (true) or `stopped` is set (false). Parked rather than
/// asleep: [`Ticker`]'s drop unparks the thread, so a stage's end never waits for a tick.
fn wait(delay: Duration, stopped: &AtomicBool) -> bool {
    let end = std::time::Instant::now() + delay;
    loop {
        if stopped.load(Ordering::Relaxed) {
            return false;
        }
        let now = std::time::Instant::now();
        if now >= end {
            return true;
        }
        std::thread::park_timeout(end - now);
    }
}

/// A bar drawn by its owner (sweep's, advanced from worker threads): spinners stay hidden
/// until the returned guard is dropped.
pub(crate) fn hold() -> BarHeld {
    BARS.fetch_add(1, Ordering::Relaxed);
    BarHeld(())
}

/// See [`hold`].
pub(crate) struct BarHeld(());

impl Drop for BarHeld {
    fn drop(&mut self) {
        BARS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A spinner naming `stage` once it has lasted [`DELAY`] (drawn at once when the delay is
/// zero, so a test sees it), unless a bar or another spinner is being drawn or `-v` logs the
/// stages.
pub(crate) fn spinner(stage: &'static str) -> Option<Ticker> {
    // With `-v` the stage lines are the progress (a spinner would break them).
    let logging = tracing::enabled!(target: "trnsim", tracing::Level::INFO);
    if !drawable() || logging || BARS.load(Ordering::Relaxed) > 0 {
        return None;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let delay = delay();
    let draw = move || {
        if SPINNING.swap(true, Ordering::Relaxed) {
            return None;
        }
        let s = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg}, {elapsed}") {
            s.set_style(style);
        }
        s.set_message(stage);
        s.tick();
        Some(s)
    };
    let now = if delay.is_zero() { draw() } else { None };
    let thread = std::thread::spawn(move || {
        let Some(s) = now.or_else(|| wait(delay, &stopped).then(draw).flatten()) else {
            return;
        };
        while !stopped.load(Ordering::Relaxed) && BARS.load(Ordering::Relaxed) == 0 {
            s.tick();
            std::thread::park_timeout(TICK);
        }
        s.finish_and_clear();
        SPINNING.store(false, Ordering::Relaxed);
    });
    Some(Ticker {
        stop,
        thread: Some(thread),
        _bar: None,
    })
}

/// Show a bar of `total` steps (`template` in indicatif's syntax) once the run has lasted
/// [`DELAY`], if stderr is a terminal and warnings are not silenced (`-q`).
pub(crate) fn show(total: u64, template: &'static str) -> Option<Ticker> {
    if !drawable() {
        return None;
    }
    set(0);
    let held = hold();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let delay = delay();
    let thread = std::thread::spawn(move || {
        if !wait(delay, &stopped) {
            return;
        }
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        while !stopped.load(Ordering::Relaxed) {
            bar.set_position(DONE.load(Ordering::Relaxed).min(total));
            std::thread::park_timeout(TICK);
        }
        bar.finish_and_clear();
    });
    Some(Ticker {
        stop,
        thread: Some(thread),
        _bar: Some(held),
    })
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
