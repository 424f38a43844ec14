//! Progress bars on stderr for long runs (`plan` over its horizon, `run` and `kernel run` with
//! values), drawn by a ticker thread from one counter the engine loops store into. The loops
//! only store a number: a bar never changes a result or stdout, and costs a relaxed store per
//! step when none is shown.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

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
}

/// Show a bar of `total` steps (`template` in indicatif's syntax) once the run has lasted
/// [`DELAY`], if stderr is a terminal and warnings are not silenced (`-q`).
pub(crate) fn show(total: u64, template: &'static str) -> Option<Ticker> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() || !tracing::enabled!(tracing::Level::WARN) {
        return None;
    }
    set(0);
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = stop.clone();
    let delay = std::env::var("TRNSIM_PROGRESS_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(DELAY, Duration::from_millis);
    let thread = std::thread::spawn(move || {
        let tick = Duration::from_millis(100);
        let mut waited = Duration::ZERO;
        while waited < delay {
            if stopped.load(Ordering::Relaxed) {
                return;
            }
            std::thread::sleep(tick);
            waited += tick;
        }
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        while !stopped.load(Ordering::Relaxed) {
            bar.set_position(DONE.load(Ordering::Relaxed).min(total));
            std::thread::sleep(tick);
        }
        bar.finish_and_clear();
    });
    Some(Ticker {
        stop,
        thread: Some(thread),
    })
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
