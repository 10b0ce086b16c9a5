//! Standby replicas (`[state] standby = true`): an instance keeps the state
//! of the partitions it does not hold warm from their changelogs, so that
//! taking one over (its owner died, left or the group scaled down) catches up
//! the last few batches from the warm copy's position instead of reading the
//! whole changelog from the beginning — Kafka Streams' standby tasks.
//!
//! One thread per stateful stage follows, every [`INTERVAL`], the changelog
//! partitions whose state partition the stage does not own, with the same
//! complete-batch rules as a restore (see [`crate::changelog`]). Partitions
//! are not assigned to standbys by the group (librdkafka does not expose the
//! members), so every instance keeps every partition it does not own: with N
//! instances the state is held N times. Use it where fail-over time matters
//! more than disk.
//!
//! The stage and its standby thread share [`Claimed`]: the state partitions
//! the stage owns. The rebalance callback holds it while it restores newly
//! assigned partitions and marks them owned before it lets go; a revocation
//! unmarks them; the standby thread holds it for a whole round, so it never
//! writes a partition the stage processes.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use journey_core::store::StateStore;
use tracing::{debug, warn};

use crate::metrics::Metrics;
use crate::stage::Shared;
use crate::{KafkaConfig, PipelineError};

/// How often a standby round starts (after the previous one ended).
pub const INTERVAL: Duration = Duration::from_secs(2);

/// The state partitions a stage owns; see the module documentation.
pub type Claimed = Arc<Mutex<BTreeSet<i32>>>;

pub fn lock(c: &Claimed) -> MutexGuard<'_, BTreeSet<i32>> {
    c.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a standby thread follows.
pub struct Standby {
    pub stage: &'static str,
    pub kafka: KafkaConfig,
    pub changelog: String,
    pub store: Arc<dyn StateStore>,
    pub partitions: i32,
    pub claimed: Claimed,
    pub shared: Arc<Shared>,
    pub metrics: Arc<Metrics>,
}

impl Standby {
    /// Follows the changelog until the pipeline stops. A failed round is
    /// logged and tried again: a standby never stops its pipeline.
    pub fn run(self) -> Result<(), PipelineError> {
        while !self.shared.stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            if let Err(e) = self.round() {
                warn!(stage = self.stage, error = %e, "standby round failed, will retry");
            }
            while started.elapsed() < INTERVAL && !self.shared.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// Brings every partition the stage does not own up to the changelog's end.
    pub fn round(&self) -> Result<(), PipelineError> {
        let owned = lock(&self.claimed);
        let store = self.store.as_ref();
        let (mut full, mut catch_up) = (Vec::new(), Vec::new());
        for p in (0..self.partitions).filter(|p| !owned.contains(p)) {
            match crate::changelog::position(store, p)? {
                Some(at) => catch_up.push((p, at)),
                None => full.push(p),
            }
        }
        if !catch_up.is_empty() {
            match crate::changelog::catch_up(&self.kafka, &self.changelog, &catch_up, store) {
                Ok(done) => {
                    // Kept from its own time as owner, written as a zombie.
                    full.extend(&done.stale);
                    self.count(
                        "standby_catch_up",
                        catch_up.len() - done.stale.len(),
                        done.applied,
                    )
                }
                // A warm copy the changelog no longer covers is only a copy:
                // read it again from the beginning (the owner halts on this).
                Err(e) if crate::changelog::is_out_of_range(&e) => {
                    warn!(
                        stage = self.stage,
                        "standby position out of range, restoring in full"
                    );
                    full.extend(catch_up.iter().map(|(p, _)| *p));
                }
                Err(e) => return Err(e),
            }
        }
        if !full.is_empty() {
            let applied = crate::changelog::restore(&self.kafka, &self.changelog, &full, store)?;
            self.count("standby_full", full.len(), applied);
        }
        Ok(())
    }

    fn count(&self, kind: &str, partitions: usize, applied: u64) {
        debug!(
            stage = self.stage,
            kind, partitions, applied, "standby round"
        );
        if applied > 0 {
            self.metrics
                .state_restores
                .with_label_values(&[self.stage, kind])
                .inc_by(partitions as u64);
        }
    }
}
