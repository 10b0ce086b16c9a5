//! The Kafka edges of journey-stitch: three stages, each a consumer group,
//! composed into one [`Pipeline`] (one process runs all three by default).
//!
//! ```text
//! cx.raw.<channel> ─normalise─▶ cx.journey.events (keyed by identifier)
//!   ─identity (state: identifier → label; hops through <app>.identity-hops;
//!              label merges on the compacted <app>.aliases)─▶ <app>.stitch (keyed by label)
//!   ─stitch (state: label → component; RocksDB)─▶ handover / alerts / merges
//! ```
//! Bad input goes to the dead-letter topic at the stage that finds it.

pub mod config;
pub mod embedded;
pub mod fault;
pub mod io;
pub mod metrics;
pub mod outputs;
pub mod status;
pub mod topics;

mod aliases;
mod assign;
mod changelog;
pub mod control;
mod identity_stage;
mod normalise_stage;
mod outage;
mod passthrough;
mod pause;
mod pipeline;
mod progress;
mod records;
mod spawn;
mod stage;
mod standby;
pub mod stitch_metrics;
mod stitch_stage;
mod txn;

use std::path::PathBuf;

pub use config::{BatchConfig, KafkaConfig, RawTopic, TopicsConfig};
pub use pipeline::{owner_alert_topics, Counters, Health, Pipeline};

/// The input offsets `(topic, partition)` → next offset that the changelog
/// of the stateful stage `stage` (`"identity"` or `"stitch"`) holds for its
/// state partitions `partitions`: how far the durable state that moves
/// between instances goes, whatever instance's local store holds it.
pub fn changelog_offsets(
    kafka: &KafkaConfig,
    stage: &str,
    partitions: &[i32],
) -> Result<std::collections::HashMap<(String, i32), i64>, PipelineError> {
    changelog::stored_offsets(
        kafka,
        &kafka.internal_topic(&format!("{stage}-changelog")),
        partitions,
    )
}

/// Everything a [`Pipeline`] needs.
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub kafka: KafkaConfig,
    pub topics: TopicsConfig,
    pub batch: BatchConfig,
    pub normalize: journey_core::normalize::NormalizeConfig,
    pub stitch: journey_core::fold::StitchConfig,
    /// Where the RocksDB state lives (one database per instance).
    pub state_dir: PathBuf,
    pub framing: journey_core::avro::Framing,
    /// Write every state change to a changelog topic so that a partition's
    /// state moves with it to another instance (needed for more than one
    /// instance; costs one extra produce of the changed state per batch).
    pub changelog: bool,
    /// Standby replicas (with a changelog): keep the state of the partitions
    /// this instance does not own warm, for fast fail-over (see the `standby`
    /// module; every instance then holds all of the state).
    pub standby: bool,
}

/// Errors of the Kafka edges, classified by what to do about them.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The cluster cannot be reached or refused a request (retry with backoff).
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    /// The state store failed: stop consuming, report unhealthy.
    #[error("state store: {0}")]
    Store(#[from] journey_core::store::StoreError),
    /// Configuration that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// A wait gave up.
    #[error("timed out: {0}")]
    Timeout(String),
    /// A stage stopped because of an internal error.
    #[error("stage {stage} failed: {reason}")]
    Stage { stage: &'static str, reason: String },
}

/// Partition of a 64-bit routing hash among `partitions`.
pub(crate) fn partition_of(hash: u64, partitions: i32) -> i32 {
    (hash % partitions.max(1) as u64) as i32
}
