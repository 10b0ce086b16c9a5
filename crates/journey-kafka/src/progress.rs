//! Reporting progress to Kafka. The offsets a stage commits only report how
//! far it got (the stored offsets are the truth), but operators read lag from
//! them, so a commit the broker rejects — during a rebalance, after a session
//! expired in an outage, on an injected request error — must not be lost:
//! the latest processed offset per partition is kept and committed again,
//! about once a second and also while no input arrives, until the broker
//! acknowledges it. Every few seconds all of them are committed again, acked
//! or not: a zombie instance that wakes up can still land a stale (lower)
//! commit after ours (the reliability suite's fault 4 showed it), and the
//! next full round corrects it — as Kafka Streams commits on an interval.
//! Partitions skipped because durable state already holds them (re-delivery
//! after a crash) are reported the same way. The progress of a revoked
//! partition is forgotten at once ([`Progress::forget`]): an instance that
//! lost a partition and got it back (a zombie waking up) would otherwise
//! keep re-committing its old, lower offset over the new owner's.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};
use tracing::debug;

/// What the broker acknowledged, filled by the consumer's commit callback.
pub type Acked = Arc<Mutex<HashMap<(String, i32), i64>>>;

/// Records an acknowledged commit (call from `ConsumerContext::commit_callback`).
pub fn on_commit(acked: &Acked, result: KafkaResult<()>, offsets: &TopicPartitionList) {
    if result.is_err() {
        return;
    }
    let mut map = acked.lock().unwrap_or_else(|e| e.into_inner());
    for e in offsets.elements() {
        if let (Offset::Offset(o), None) = (e.offset(), e.error().err()) {
            let slot = map
                .entry((e.topic().to_string(), e.partition()))
                .or_insert(o);
            *slot = (*slot).max(o);
        }
    }
}

const RETRY: Duration = Duration::from_secs(1);
const REFRESH: Duration = Duration::from_secs(5);

/// The offsets a stage wants committed.
pub struct Progress {
    want: HashMap<(String, i32), i64>,
    acked: Acked,
    last_sent: Instant,
    last_full: Instant,
}

impl Progress {
    pub fn new(acked: Acked) -> Progress {
        Progress {
            want: HashMap::new(),
            acked,
            last_sent: Instant::now(),
            last_full: Instant::now(),
        }
    }

    /// The stage is done with `partition` up to `next` (exclusive).
    pub fn advance(&mut self, topic: &str, partition: i32, next: i64) {
        let slot = self
            .want
            .entry((topic.to_string(), partition))
            .or_insert(next);
        *slot = (*slot).max(next);
    }

    /// Forgets the progress and acknowledgements of partitions this
    /// instance lost: a stale offset kept for them would be committed again
    /// (behind the new owner's) if they came back.
    pub fn forget(&mut self, lost: &std::collections::BTreeSet<(String, i32)>) {
        self.want.retain(|k, _| !lost.contains(k));
        self.acked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k, _| !lost.contains(k));
    }

    /// Commits, asynchronously, every wanted offset the broker has not
    /// acknowledged yet for a partition in `holds`; at most about once a
    /// second unless `now` (right after a batch).
    pub fn commit<C: ConsumerContext, K: Consumer<C>>(
        &mut self,
        consumer: &K,
        stage: &str,
        holds: impl Fn(&str, i32) -> bool,
        now: bool,
    ) {
        if !now && self.last_sent.elapsed() < RETRY {
            return;
        }
        self.want.retain(|(t, p), _| holds(t, *p));
        let full = self.last_full.elapsed() >= REFRESH;
        if full {
            self.last_full = Instant::now();
        }
        let acked = if full {
            HashMap::new()
        } else {
            self.acked.lock().unwrap_or_else(|e| e.into_inner()).clone()
        };
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), &n) in &self.want {
            if acked
                .get(&(topic.clone(), *partition))
                .is_none_or(|&a| a < n)
                && tpl
                    .add_partition_offset(topic, *partition, Offset::Offset(n))
                    .is_err()
            {
                return;
            }
        }
        if tpl.count() == 0 {
            return;
        }
        self.last_sent = Instant::now();
        if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
            // Kept in `want`: tried again within a second.
            debug!(stage, error = %e, "offset commit failed, will retry");
        }
    }
}
