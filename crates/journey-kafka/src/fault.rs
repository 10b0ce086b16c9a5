//! Fault points for the reliability suite (tests only).
//!
//! `JOURNEY_FAULT=site:probability[,site:probability]` arms named sites in
//! the stage loop; each time a stage reaches an armed site with a batch in
//! hand, the fault fires with that probability. Most sites abort the process
//! (`std::process::abort()`, as close to SIGKILL as a process can do to
//! itself: no destructors, no flush, no commit); `state_write_error` instead
//! makes the state write fail as a full disk would, and `stall` stops the
//! stage past `max.poll.interval.ms` (see [`Site::Stall`]), and `freeze`
//! stops the whole process (see [`Site::Freeze`]). `JOURNEY_FAULT_SEED`
//! (a `u64`) seeds the draws; without it the seed is taken from the clock and
//! logged. The stage threads share one generator, so a seed fixes the
//! sequence of draws, not which stage gets which draw.
//!
//! The variable is read and parsed once; when it is unset every check is one
//! load of an initialised `OnceLock` and a branch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Where a fault can be injected, in the order a batch passes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Site {
    /// A batch was polled; nothing processed yet.
    AfterPoll,
    /// The stage logic ran; nothing produced yet.
    AfterProcess,
    /// Outputs and changelog records are acknowledged; state not yet written.
    AfterProduce,
    /// The state write batch was submitted and returned (RocksDB applies a
    /// batch atomically through its WAL, so no half-written batch exists);
    /// the stored offsets are not yet recorded in memory.
    MidStateWrite,
    /// State and offsets are durable; the Kafka commit has not been made.
    AfterStateWrite,
    /// Immediately before the offsets are committed to Kafka.
    BeforeCommit,
    /// Not an abort: the state write returns an error (disk full).
    StateWriteError,
    /// Not an abort: the stage stops between processing a batch and writing
    /// it for `JOURNEY_FAULT_STALL_MS` (default 30 000) while the process
    /// lives on, as a very slow batch would; past `max.poll.interval.ms` the
    /// consumer leaves its group. Fires at most once per process.
    Stall,
    /// Not an abort: the process stops itself (SIGSTOP) after the stage has
    /// checked that it still holds its assignment and before it produces
    /// the batch, as a process paused at the worst moment would; whoever
    /// sends SIGCONT later gets a zombie that writes a stale batch. Only in
    /// stages with a changelog. Fires at most once per process.
    Freeze,
}

impl Site {
    pub const ALL: [Site; 9] = [
        Site::AfterPoll,
        Site::AfterProcess,
        Site::AfterProduce,
        Site::MidStateWrite,
        Site::AfterStateWrite,
        Site::BeforeCommit,
        Site::StateWriteError,
        Site::Stall,
        Site::Freeze,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Site::AfterPoll => "after_poll",
            Site::AfterProcess => "after_process",
            Site::AfterProduce => "after_produce",
            Site::MidStateWrite => "mid_state_write",
            Site::AfterStateWrite => "after_state_write",
            Site::BeforeCommit => "before_commit",
            Site::StateWriteError => "state_write_error",
            Site::Stall => "stall",
            Site::Freeze => "freeze",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Armed sites and the generator that decides when they fire.
#[derive(Debug)]
pub struct Faults {
    probability: [f64; Site::ALL.len()],
    state: AtomicU64,
    seed: u64,
}

impl Faults {
    /// Parses `site:probability[,site:probability]`; `None` for an empty spec.
    pub fn parse(spec: &str, seed: u64) -> Result<Option<Faults>, String> {
        let mut probability = [0.0; Site::ALL.len()];
        let mut seen = [false; Site::ALL.len()];
        let mut any = false;
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, p) = item
                .split_once(':')
                .ok_or_else(|| format!("JOURNEY_FAULT: `{item}` is not `site:probability`"))?;
            let site = Site::ALL
                .into_iter()
                .find(|s| s.name() == name.trim())
                .ok_or_else(|| {
                    let known: Vec<&str> = Site::ALL.iter().map(|s| s.name()).collect();
                    format!(
                        "JOURNEY_FAULT: unknown site `{}` (known: {})",
                        name.trim(),
                        known.join(", ")
                    )
                })?;
            let p: f64 = p.trim().parse().map_err(|_| {
                format!(
                    "JOURNEY_FAULT: probability of `{}` is not a number",
                    site.name()
                )
            })?;
            if !(0.0..=1.0).contains(&p) {
                return Err(format!(
                    "JOURNEY_FAULT: probability of `{}` must be between 0 and 1",
                    site.name()
                ));
            }
            if std::mem::replace(&mut seen[site.index()], true) {
                return Err(format!("JOURNEY_FAULT: site `{}` given twice", site.name()));
            }
            probability[site.index()] = p;
            any = true;
        }
        Ok(any.then(|| Faults {
            probability,
            state: AtomicU64::new(seed),
            seed,
        }))
    }

    /// One draw: whether `site` fires now.
    pub fn fires(&self, site: Site) -> bool {
        let p = self.probability[site.index()];
        if p <= 0.0 {
            return false;
        }
        // splitmix64 on a shared counter: lock-free and reproducible per seed.
        let mut z = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The armed sites as `site:probability`, for the log.
    pub fn describe(&self) -> String {
        Site::ALL
            .iter()
            .filter(|s| self.probability[s.index()] > 0.0)
            .map(|s| format!("{}:{}", s.name(), self.probability[s.index()]))
            .collect::<Vec<_>>()
            .join(",")
    }
}

static FAULTS: OnceLock<Result<Option<Faults>, String>> = OnceLock::new();

fn from_env() -> Result<Option<Faults>, String> {
    let Ok(spec) = std::env::var("JOURNEY_FAULT") else {
        return Ok(None);
    };
    let seed = match std::env::var("JOURNEY_FAULT_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .map_err(|_| "JOURNEY_FAULT_SEED: not an unsigned 64-bit integer".to_string())?,
        Err(_) => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id())
        }
    };
    let faults = Faults::parse(&spec, seed)?;
    if let Some(f) = &faults {
        tracing::warn!(sites = %f.describe(), seed = f.seed(), "fault injection armed (JOURNEY_FAULT)");
    }
    Ok(faults)
}

fn armed() -> Option<&'static Faults> {
    FAULTS.get_or_init(from_env).as_ref().ok()?.as_ref()
}

/// Reads the environment once; an invalid specification is a configuration error.
pub fn init() -> Result<(), String> {
    FAULTS
        .get_or_init(from_env)
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

/// Aborts the process if `site` is armed and its draw fires.
pub fn point(site: Site, stage: &str) {
    if armed().is_some_and(|f| f.fires(site)) {
        eprintln!(
            "journey: fault injection: abort at {} in stage {stage}",
            site.name()
        );
        std::process::abort();
    }
}

/// Sleeps for `JOURNEY_FAULT_STALL_MS` (default 30 s) if `site` is armed and
/// its draw fires, once per process at most.
pub fn stall(site: Site, stage: &str) {
    static STALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if armed().is_some_and(|f| f.fires(site)) && !STALLED.swap(true, Ordering::Relaxed) {
        let ms = std::env::var("JOURNEY_FAULT_STALL_MS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(30_000);
        eprintln!(
            "journey: fault injection: {} for {ms} ms in stage {stage}",
            site.name()
        );
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// Stops the whole process (SIGSTOP, sent with `kill`) if `site` is armed
/// and its draw fires, once per process at most; it carries on where it
/// stopped when someone sends SIGCONT.
pub fn freeze(site: Site, stage: &str) {
    static FROZEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if armed().is_some_and(|f| f.fires(site)) && !FROZEN.swap(true, Ordering::Relaxed) {
        eprintln!(
            "journey: fault injection: {} in stage {stage} (SIGSTOP)",
            site.name()
        );
        let stopped = std::process::Command::new("kill")
            .args(["-STOP", &std::process::id().to_string()])
            .status();
        // The stop reaches this thread asynchronously, a moment after `kill`
        // returns (a CI run wrote half a batch before it stopped): it must
        // happen here, not further on in the stage.
        std::thread::sleep(std::time::Duration::from_millis(500));
        eprintln!(
            "journey: fault injection: {} over: {stopped:?}",
            site.name()
        );
    }
}

/// Whether an injected failure (not an abort) happens at `site` now.
pub fn fails(site: Site) -> bool {
    armed().is_some_and(|f| f.fires(site))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_format_and_rejects_anything_else() {
        let f = Faults::parse(
            "after_produce:0.05, mid_state_write:0.02,after_poll:0.05,before_commit:0.05",
            1,
        )
        .expect("valid")
        .expect("armed");
        assert_eq!(
            f.describe(),
            "after_poll:0.05,after_produce:0.05,mid_state_write:0.02,before_commit:0.05"
        );
        assert!(Faults::parse("", 1).expect("valid").is_none());
        for bad in [
            "after_pol:0.1",
            "after_poll",
            "after_poll:x",
            "after_poll:1.5",
            "after_poll:-0.1",
            "after_poll:0.1,after_poll:0.2",
        ] {
            assert!(Faults::parse(bad, 1).is_err(), "{bad} must be rejected");
        }
        for s in Site::ALL {
            let f = Faults::parse(&format!("{}:1", s.name()), 0)
                .expect("valid")
                .expect("armed");
            assert!(f.fires(s));
            assert!(Site::ALL.iter().filter(|&&o| o != s).all(|&o| !f.fires(o)));
        }
    }

    #[test]
    fn draws_follow_the_probability_and_the_seed() {
        let draws = |seed| {
            let f = Faults::parse("after_poll:0.25", seed)
                .expect("valid")
                .expect("armed");
            (0..4000)
                .map(|_| f.fires(Site::AfterPoll))
                .collect::<Vec<_>>()
        };
        let a = draws(42);
        assert_eq!(a, draws(42), "same seed, same draws");
        assert_ne!(a, draws(43), "another seed, other draws");
        let hits = a.iter().filter(|&&x| x).count();
        assert!((850..1150).contains(&hits), "{hits} of 4000 at p = 0.25");
    }
}
