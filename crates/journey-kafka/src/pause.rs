//! Notices that the whole process was paused (SIGSTOP, a frozen VM, a
//! machine suspended): a thread ticks every 100 ms and records every gap
//! between its ticks longer than a second. A paused process's consumer
//! threads were paused too, so it may still believe it holds partitions the
//! group gave away long ago: a stage asks [`longest_since`] right before it
//! writes a batch and, after a pause near the session timeout, puts the
//! batch back instead of writing it (see `StageRunner::run`).

use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const TICK: Duration = Duration::from_millis(100);
/// Gaps shorter than this are scheduling noise, not pauses.
const NOTICED: Duration = Duration::from_secs(1);

struct Ticker {
    /// When the ticker last ran.
    last: Instant,
    /// Pauses seen: (when it ended, how long it was); the last few only.
    gaps: Vec<(Instant, Duration)>,
}

fn ticker() -> &'static Mutex<Ticker> {
    static T: OnceLock<&'static Mutex<Ticker>> = OnceLock::new();
    T.get_or_init(|| {
        let t: &'static Mutex<Ticker> = Box::leak(Box::new(Mutex::new(Ticker {
            last: Instant::now(),
            gaps: Vec::new(),
        })));
        let spawned = std::thread::Builder::new()
            .name("pause-ticker".into())
            .spawn(move || loop {
                std::thread::sleep(TICK);
                let now = Instant::now();
                let mut g = t.lock().unwrap_or_else(|e| e.into_inner());
                let gap = now.duration_since(g.last);
                if gap >= NOTICED {
                    g.gaps.push((now, gap));
                    let excess = g.gaps.len().saturating_sub(8);
                    g.gaps.drain(..excess);
                }
                g.last = now;
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "pause detection unavailable");
        }
        t
    })
}

/// Starts the ticker (once per process).
pub fn start() {
    ticker();
}

/// The longest pause of the process that ended after `since` or is going on
/// now (the ticker has not run for a while), if any was noticed.
pub fn longest_since(since: Instant) -> Option<Duration> {
    let g = ticker().lock().unwrap_or_else(|e| e.into_inner());
    let ongoing = Instant::now().duration_since(g.last);
    g.gaps
        .iter()
        .filter(|(end, _)| *end >= since)
        .map(|(_, gap)| *gap)
        .chain((ongoing >= NOTICED).then_some(ongoing))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_ticker_counts_as_a_pause_and_a_quiet_one_does_not() {
        start();
        let since = Instant::now();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(longest_since(since), None, "ticking normally");
        // Hold the ticker's lock: it cannot tick, as if the process were paused.
        let guard = ticker().lock().unwrap();
        std::thread::sleep(Duration::from_millis(1_300));
        drop(guard);
        std::thread::sleep(Duration::from_millis(300));
        let gap = longest_since(since).expect("the stall was noticed");
        assert!(gap >= Duration::from_millis(1_300), "{gap:?}");
        assert_eq!(longest_since(Instant::now()), None, "over");
    }
}
