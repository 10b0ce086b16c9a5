//! What a stage's consumer does when the group protocol hands it partitions.
//!
//! A stateful stage restores newly assigned state partitions from its
//! changelog and then assigns every partition at the offset stored in its
//! state (the beginning when none is stored) — never at the offset committed
//! to Kafka, which only reports progress. This happens inside the rebalance
//! callback, which runs in the stage's own thread during `poll`, so no record
//! is fetched from anywhere else first.
//!
//! A partition whose state this instance still holds (it restarted, or
//! crashed) is only caught up from the changelog position its local state
//! recorded; any other is dropped and restored from the beginning (see
//! [`crate::changelog`]).
//!
//! Offsets never go backwards silently. A stored offset can only be ahead of
//! what the cluster holds if the cluster lost data (a broker restarted with
//! memory storage, a topic deleted and recreated) or the state belongs to
//! another cluster. Two checks catch it, neither trusting high watermarks
//! (Tansu under-reports them):
//! - the changelog must hold the local state's recorded position (read with
//!   `auto.offset.reset=error`), or, for local state without a position,
//!   its latest offsets must not be behind the local ones (the changelog is
//!   written before the local state, so it is never behind on a sound
//!   cluster); the local state is left untouched when it is;
//! - stateful consumers run with `auto.offset.reset=error`, so fetching at a
//!   stored offset beyond the partition's end surfaces as an error
//!   ([`offsets_backwards`]) instead of a silent reset;
//! - a broker that answers such a fetch with no records (Tansu) is caught
//!   when it reports the partition empty below the stored offset or
//!   changelog position ([`empty_below`]: safe with under-reported
//!   watermarks, which are never 0 for a partition holding records).
//!
//! Any of these stops the stage with an error naming the topic, partition
//! and stored offset, the pipeline reports unhealthy, and
//! `journey_offsets_backwards_total` counts it.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use journey_core::store::StateStore;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{debug, error, info, warn};

use crate::metrics::Metrics;
use crate::outage::{self, Reach};
use crate::{KafkaConfig, PipelineError};

/// The partitions a stage's consumer holds, as the group protocol assigned them.
#[derive(Debug, Default)]
pub struct Assignment {
    /// The topic whose partition numbers name the stage's state partitions.
    pub state_topic: String,
    pub assigned: BTreeSet<(String, i32)>,
    /// State partitions assigned since the stage last looked.
    pub newly: BTreeSet<i32>,
    /// State partitions revoked since the stage last looked.
    pub revoked: BTreeSet<i32>,
    /// Every partition (of any input topic) revoked since the stage last
    /// looked: records polled before the revocation and progress kept for
    /// them belong to the old assignment and are discarded, even when the
    /// partition came back in the same poll (a zombie's lost partitions).
    pub moved: BTreeSet<(String, i32)>,
    /// A failure inside the rebalance callback, for the stage loop to stop on.
    pub error: Option<PipelineError>,
    /// A revocation since the stage last looked was of a lost assignment
    /// (session expired, `max.poll.interval.ms` exceeded): its local state
    /// may hold a batch the group's new owner never saw, so it is dropped
    /// even where standby replicas would keep it.
    pub lost: bool,
    /// The state partitions the stage owns, shared with its standby thread
    /// (see [`crate::standby`]).
    pub claimed: crate::standby::Claimed,
    /// The changelog epoch each owned state partition is written under (see
    /// [`crate::changelog`]).
    pub epochs: std::collections::HashMap<i32, crate::changelog::Epoch>,
}

pub type SharedAssignment = Arc<Mutex<Assignment>>;

pub fn lock_assignment(a: &SharedAssignment) -> MutexGuard<'_, Assignment> {
    a.lock().unwrap_or_else(|e| e.into_inner())
}

impl Assignment {
    /// Whether the stage holds state partition `p` right now.
    pub fn owns(&self, p: i32) -> bool {
        self.assigned.contains(&(self.state_topic.clone(), p))
    }
}

/// A stateful stage's state, as its consumer needs it on assignment.
pub struct StageState {
    pub store: Arc<dyn StateStore>,
    /// `(cluster, changelog topic)` when state changes go to a changelog.
    pub changelog: Option<(KafkaConfig, String)>,
    /// The stage's input topics (their offsets are stored in the state).
    pub inputs: Vec<String>,
}

/// Consumer context: positions assigned partitions, records lag from
/// librdkafka's statistics and notices when no broker can be reached.
pub struct StageContext {
    pub stage: &'static str,
    pub metrics: Arc<Metrics>,
    pub assignment: SharedAssignment,
    pub reach: Reach,
    /// `None` for a stateless stage: it starts at the committed offsets.
    pub state: Option<StageState>,
    /// Offset commits the broker acknowledged (see [`crate::progress`]).
    pub acked: crate::progress::Acked,
}

impl ClientContext for StageContext {
    fn error(&self, error: KafkaError, reason: &str) {
        debug!(stage = self.stage, error = %error, reason, "librdkafka error");
        self.reach.on_client_error(&error);
    }

    fn stats(&self, stats: Statistics) {
        let lag: i64 = stats
            .topics
            .values()
            .flat_map(|t| t.partitions.values())
            .filter(|p| p.partition >= 0 && p.consumer_lag >= 0)
            .map(|p| p.consumer_lag)
            .sum();
        self.metrics
            .consumer_lag
            .with_label_values(&[self.stage])
            .set(lag);
    }
}

impl ConsumerContext for StageContext {
    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        offsets: &TopicPartitionList,
    ) {
        crate::progress::on_commit(&self.acked, result, offsets);
    }

    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Some(state) = &self.state {
                    // A take-over (epochs, restore) is work: `wait_quiet`
                    // must not call the pipeline idle in the middle of one.
                    let shared = &self.reach.shared;
                    shared.taking_over.fetch_add(1, Ordering::SeqCst);
                    if let Err(e) = self.position(consumer, state, tpl) {
                        error!(stage = self.stage, error = %e, "cannot take over the assigned partitions");
                        lock_assignment(&self.assignment).error.get_or_insert(e);
                    }
                    shared.touch();
                    shared.taking_over.fetch_sub(1, Ordering::SeqCst);
                }
                let r = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                self.post_rebalance(consumer, &Rebalance::Assign(tpl));
                r
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let lost = consumer.assignment_lost();
                {
                    let mut a = lock_assignment(&self.assignment);
                    a.lost |= lost;
                    let revoked: Vec<i32> = tpl
                        .elements()
                        .iter()
                        .filter(|e| e.topic() == a.state_topic)
                        .map(|e| e.partition())
                        .collect();
                    for p in &revoked {
                        a.epochs.remove(p);
                    }
                    let mut claimed = crate::standby::lock(&a.claimed);
                    for p in &revoked {
                        claimed.remove(p);
                    }
                }
                let r = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                self.post_rebalance(consumer, &Rebalance::Revoke(tpl));
                r
            }
            other => {
                let e = KafkaError::Rebalance(other.into());
                warn!(stage = self.stage, error = %e, "rebalance error");
                let _ = consumer.unassign();
                Ok(())
            }
        };
        if let Err(e) = result {
            warn!(stage = self.stage, error = %e, "applying the rebalance failed");
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let mut a = lock_assignment(&self.assignment);
        match rebalance {
            Rebalance::Assign(tpl) => {
                for e in tpl.elements() {
                    a.assigned.insert((e.topic().to_string(), e.partition()));
                    if e.topic() == a.state_topic {
                        a.revoked.remove(&e.partition());
                        a.newly.insert(e.partition());
                    }
                }
            }
            Rebalance::Revoke(tpl) => {
                for e in tpl.elements() {
                    a.assigned.remove(&(e.topic().to_string(), e.partition()));
                    a.moved.insert((e.topic().to_string(), e.partition()));
                    if e.topic() == a.state_topic {
                        a.newly.remove(&e.partition());
                        a.revoked.insert(e.partition());
                    }
                }
            }
            Rebalance::Error(e) => warn!(stage = self.stage, error = %e, "rebalance error"),
        }
    }
}

impl StageContext {
    /// Restores the newly assigned state partitions and sets every assigned
    /// partition's start to its stored offset (the beginning when none).
    fn position(
        &self,
        consumer: &BaseConsumer<Self>,
        state: &StageState,
        tpl: &mut TopicPartitionList,
    ) -> Result<(), PipelineError> {
        let state_topic = lock_assignment(&self.assignment).state_topic.clone();
        let parts: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        let store = state.store.as_ref();
        // The state partitions taken over.
        let taken: Vec<i32> = parts
            .iter()
            .filter(|(t, _)| *t == state_topic)
            .map(|(_, p)| *p)
            .collect();
        let mut opened = std::collections::HashMap::new();
        if let Some((kafka, changelog)) = &state.changelog {
            // A new epoch on every partition taken over, before reading it:
            // from here on no reader applies what an earlier owner writes.
            let epochs = outage::retry(&self.reach, "open changelog epochs", || {
                crate::changelog::open_epochs(kafka, changelog, &taken)
            })?;
            lock_assignment(&self.assignment).epochs.extend(&epochs);
            opened = epochs;
        }
        // Held until the new partitions are restored and marked owned: the
        // standby thread never writes a partition the stage is taking over.
        let claimed = lock_assignment(&self.assignment).claimed.clone();
        let mut claimed = crate::standby::lock(&claimed);
        claimed.extend(&taken);
        if let Some((kafka, changelog)) = &state.changelog {
            let (mut full, mut catch_up) = (Vec::new(), Vec::new());
            for &p in &taken {
                match crate::changelog::position(store, p)? {
                    Some(at) => catch_up.push((p, at)),
                    None => full.push(p),
                }
            }
            // Local state that holds a zombie's batch (or predates epochs).
            let mut stale = Vec::new();
            // The new epoch record went to the changelog's end: below the
            // local position, the changelog lost what the state was built on.
            let behind: Vec<(i32, crate::changelog::Position)> = catch_up
                .iter()
                .filter(|(p, at)| opened.get(p).is_some_and(|e| e.offset < at.next))
                .copied()
                .collect();
            if !behind.is_empty() {
                return Err(self.changelog_lost(state, changelog, &behind)?);
            }
            if !catch_up.is_empty() {
                let started = Instant::now();
                let r = outage::retry(&self.reach, "catch up from the changelog", || {
                    crate::changelog::catch_up(kafka, changelog, &catch_up, store)
                });
                if let Ok(done) = &r {
                    info!(stage = self.stage, topic = %changelog, positions = ?catch_up,
                          applied = done.applied, stale = ?done.stale,
                          seconds = started.elapsed().as_secs_f64(),
                          "local state caught up from changelog");
                    if !done.stale.is_empty() {
                        warn!(stage = self.stage, topic = %changelog, partitions = ?done.stale,
                              "local state holds a batch written after another owner's epoch \
                               (or predates epochs): restoring in full");
                    }
                }
                match r {
                    Err(e) if crate::changelog::is_out_of_range(&e) => {
                        return Err(self.changelog_lost(state, changelog, &catch_up)?);
                    }
                    Ok(done) => stale = done.stale,
                    Err(e) => return Err(e),
                };
                self.count_restores("catch_up", catch_up.len() - stale.len());
            }
            if !full.is_empty() {
                self.check_changelog(state, kafka, changelog, &full)?;
            }
            // A stale partition's local offsets may be ahead of the changelog
            // (the zombie's batch): not checked, replaced.
            full.extend(stale);
            if !full.is_empty() {
                let started = Instant::now();
                let applied = outage::retry(&self.reach, "restore from the changelog", || {
                    crate::changelog::restore(kafka, changelog, &full, store)
                })?;
                info!(stage = self.stage, topic = %changelog, partitions = ?full, applied,
                      seconds = started.elapsed().as_secs_f64(), "state restored from changelog");
                self.count_restores("full", full.len());
            }
        }
        let mut emptied = Vec::new();
        // The stored high watermarks (transactional mode needs the changelog).
        let stored_marks = match &state.changelog {
            Some((kafka, _)) => Some(crate::topics::Watermarks::new(kafka)?),
            None => None,
        };
        for (topic, p) in parts {
            let stored = store.offset(&topic, p)?;
            if let Some(n) = stored.filter(|&n| n > 0) {
                // A broker that does not answer an out-of-range fetch with an
                // error (Tansu) still reports an emptied partition as empty.
                let marks = match &stored_marks {
                    Some(w) => w.get(&topic, p, Duration::from_secs(5)),
                    None => consumer.fetch_watermarks(&topic, p, Duration::from_secs(5)),
                };
                match marks {
                    Ok((low, high)) if empty_below(n, low, high) => {
                        emptied.push(format!(
                            "{topic}/{p} stored offset {n}, the broker reports it empty at {high}"
                        ));
                    }
                    Ok(_) => {}
                    Err(e) => debug!(stage = self.stage, error = %e, "watermarks unavailable"),
                }
            }
            tpl.set_partition_offset(&topic, p, stored.map_or(Offset::Beginning, Offset::Offset))?;
        }
        if !emptied.is_empty() {
            return Err(self.backwards(emptied.join("; ")));
        }
        Ok(())
    }

    /// The error for a changelog that does not hold the local state's
    /// positions: names the stored offsets and positions.
    fn changelog_lost(
        &self,
        state: &StageState,
        changelog: &str,
        positions: &[(i32, crate::changelog::Position)],
    ) -> Result<PipelineError, PipelineError> {
        let mut named = Vec::new();
        for (p, at) in positions {
            for topic in &state.inputs {
                if let Some(o) = state.store.offset(topic, *p)? {
                    named.push(format!("{topic}/{p} stored offset {o}"));
                }
            }
            named.push(format!("{changelog}/{p} position {}", at.next));
        }
        Ok(self.backwards(format!(
            "changelog {changelog} does not hold the local state's position ({}); \
             the local state is kept",
            named.join(", ")
        )))
    }

    /// Fails when the changelog is behind the local state of `partitions`.
    fn check_changelog(
        &self,
        state: &StageState,
        kafka: &KafkaConfig,
        changelog: &str,
        partitions: &[i32],
    ) -> Result<(), PipelineError> {
        let mut local = Vec::new();
        for &p in partitions {
            for topic in &state.inputs {
                if let Some(n) = state.store.offset(topic, p)? {
                    local.push((topic.clone(), p, n));
                }
            }
        }
        if local.is_empty() {
            return Ok(());
        }
        let held: Vec<i32> = local
            .iter()
            .map(|(_, p, _)| *p)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let remote = outage::retry(&self.reach, "read the changelog", || {
            crate::changelog::stored_offsets(kafka, changelog, &held)
        })?;
        let behind: Vec<String> = local
            .iter()
            .filter_map(|(topic, p, n)| {
                let r = remote.get(&(topic.clone(), *p)).copied();
                r.is_none_or(|r| r < *n).then(|| {
                    format!(
                        "{topic}/{p} stored offset {n}, changelog {changelog} holds {}",
                        r.map_or("none".to_string(), |r| r.to_string())
                    )
                })
            })
            .collect();
        if behind.is_empty() {
            return Ok(());
        }
        Err(self.backwards(format!("{}; the local state is kept", behind.join("; "))))
    }

    fn count_restores(&self, kind: &str, partitions: usize) {
        self.metrics
            .state_restores
            .with_label_values(&[self.stage, kind])
            .inc_by(partitions as u64);
    }

    fn backwards(&self, detail: String) -> PipelineError {
        backwards_error(self.stage, &self.metrics, detail)
    }
}

/// Whether a partition the broker reports as `low..high` is empty while a
/// stored offset `n` lies beyond it. Safe on brokers that under-report high
/// watermarks (Tansu 0.6.0 reports the last batch's base offset + 1, so a
/// partition holding records never reads as empty); a partition that lost
/// only part of its records is left to the out-of-range fetch error.
pub fn empty_below(n: i64, low: i64, high: i64) -> bool {
    high <= low && n > high
}

fn backwards_error(stage: &'static str, metrics: &Metrics, detail: String) -> PipelineError {
    metrics.offsets_backwards.with_label_values(&[stage]).inc();
    PipelineError::Stage {
        stage,
        reason: format!(
            "offsets went backwards (the cluster lost data or is not the one the state came from; \
             refusing to start over): {detail}"
        ),
    }
}

/// The error for an out-of-range fetch on a stateful consumer
/// (`auto.offset.reset=error`): names the assigned partitions whose stored
/// offset lies outside what the broker holds. The fetch error itself decided
/// that offsets went backwards; the watermarks only name the partitions (on
/// a broker that under-reports them, more partitions may be named).
pub fn offsets_backwards(
    stage: &'static str,
    consumer: &BaseConsumer<StageContext>,
    store: &dyn StateStore,
    metrics: &Metrics,
) -> PipelineError {
    let assigned: Vec<(String, i32)> = lock_assignment(&consumer.context().assignment)
        .assigned
        .iter()
        .cloned()
        .collect();
    let mut named = Vec::new();
    let mut all = Vec::new();
    for (topic, p) in assigned {
        let Ok(Some(n)) = store.offset(&topic, p) else {
            continue;
        };
        all.push(format!("{topic}/{p} stored offset {n}"));
        match consumer.fetch_watermarks(&topic, p, Duration::from_secs(5)) {
            Ok((low, high)) if n < low || n > high => named.push(format!(
                "{topic}/{p} stored offset {n}, the broker holds offsets {low}..{high}"
            )),
            Ok(_) => {}
            Err(e) => debug!(stage, error = %e, "watermarks unavailable"),
        }
    }
    let detail = if named.is_empty() {
        format!(
            "the broker refused a stored offset as out of range (stored: {})",
            all.join(", ")
        )
    } else {
        named.join("; ")
    };
    backwards_error(stage, metrics, detail)
}

#[cfg(test)]
mod tests {
    use super::empty_below;

    #[test]
    fn only_an_empty_partition_below_the_stored_offset_counts() {
        assert!(empty_below(57, 0, 0), "emptied partition");
        assert!(empty_below(57, 3, 3), "emptied after retention, end below");
        assert!(!empty_below(57, 0, 1), "Tansu's under-reported watermark");
        assert!(!empty_below(57, 0, 57), "at the end");
        assert!(!empty_below(0, 0, 0), "nothing stored");
        assert!(!empty_below(57, 60, 60), "records deleted after processing");
    }
}
