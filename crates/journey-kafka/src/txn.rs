//! Transactional mode (`[kafka] transactions = true`): a stage's outputs,
//! its changelog records and its input offsets for one batch are committed
//! in one Kafka transaction, fenced by the consumer group's generation
//! (KIP-447, as Kafka Streams' exactly-once v2). Readers with
//! `isolation.level=read_committed` (librdkafka's default, and every reader
//! inside the pipeline: the next stage, the alias follower, a changelog
//! restore) see a batch whole or not at all.
//!
//! - The transactional id is `<application_id>.<stage>.<instance id>`; the
//!   instance id is kept in the state directory, so a restarted instance
//!   fences its previous incarnation and aborts its open transaction at once
//!   instead of leaving read_committed readers waiting for the transaction
//!   timeout.
//! - A zombie (an instance the group already replaced) fails to add its
//!   offsets to the transaction (its group generation is stale): its batch is
//!   aborted, the consumer rewinds to the batch's first offsets, and the next
//!   poll hands its partitions over. A fenced producer (another process took
//!   the transactional id) stops the stage.
//! - Local state is written after the commit; a crash in between leaves it
//!   behind the changelog, and the next assignment catches it up from there.
//!
//! The embedded mock cluster accepts transactions without honouring them
//! (no markers; offsets sent to a transaction are dropped), so this mode is
//! tested on Tansu, which honours commits but shows records of aborted
//! transactions to read_committed readers; see the README.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rdkafka::consumer::{Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};
use tracing::warn;

use crate::PipelineError;

/// How long a transaction call may block.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The stable id of the instance that owns `state_dir` (created on first use).
pub fn instance_id(state_dir: &Path) -> Result<String, PipelineError> {
    let path = state_dir.join("instance-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim();
        if !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Ok(id.to_string());
        }
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let id = format!(
        "{:016x}",
        journey_core::ids::hash_parts(&[
            &nanos.to_string(),
            &std::process::id().to_string(),
            &state_dir.display().to_string(),
        ])
    );
    std::fs::write(&path, &id)
        .map_err(|e| PipelineError::Config(format!("cannot write {}: {e}", path.display())))?;
    Ok(id)
}

/// How a batch's transaction ended.
pub enum Outcome {
    Committed,
    /// Aborted (e.g. a stale group generation): nothing of the batch is
    /// visible; the consumer was rewound to the batch's first offsets.
    Aborted,
}

/// Adds `next` (input `(topic, partition)` → next offset) to the open
/// transaction and commits it; aborts and rewinds to `first` on an
/// abortable error. A fatal error (fenced producer) is returned.
pub fn commit<C, K, P>(
    producer: &BaseProducer<P>,
    consumer: &K,
    stage: &'static str,
    next: &HashMap<(&str, i32), i64>,
    first: &HashMap<(&str, i32), i64>,
) -> Result<Outcome, PipelineError>
where
    C: ConsumerContext,
    K: Consumer<C>,
    P: ProducerContext,
{
    let group = consumer.group_metadata();
    if group.is_none() && !next.is_empty() {
        return Err(PipelineError::Stage {
            stage,
            reason: "transaction: the consumer has no group metadata".into(),
        });
    }
    let attempt = || -> Result<(), KafkaError> {
        if let (Some(group), false) = (&group, next.is_empty()) {
            let mut tpl = TopicPartitionList::new();
            for ((topic, partition), n) in next {
                tpl.add_partition_offset(topic, *partition, Offset::Offset(*n))?;
            }
            producer.send_offsets_to_transaction(&tpl, group, TIMEOUT)?;
        }
        producer.commit_transaction(TIMEOUT)
    };
    let Err(e) = attempt() else {
        return Ok(Outcome::Committed);
    };
    let abortable = matches!(&e, KafkaError::Transaction(t) if t.txn_requires_abort());
    if !abortable {
        return Err(PipelineError::Stage {
            stage,
            reason: format!("transaction failed: {e}"),
        });
    }
    warn!(stage, error = %e, "transaction aborted; the batch is read again");
    producer
        .abort_transaction(TIMEOUT)
        .map_err(|e| PipelineError::Stage {
            stage,
            reason: format!("aborting the transaction failed: {e}"),
        })?;
    for ((topic, partition), offset) in first {
        // A partition that moved meanwhile cannot be sought: its new owner reads it.
        let _ = consumer.seek(topic, *partition, Offset::Offset(*offset), TIMEOUT);
    }
    Ok(Outcome::Aborted)
}
