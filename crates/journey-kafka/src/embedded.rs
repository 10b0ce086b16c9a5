//! The embedded broker for `journey demo`, `journey replay`, `journey bench`
//! and fast tests: librdkafka's in-process mock cluster, spoken to over the
//! real Kafka protocol on a loopback port.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::{KafkaConfig, PipelineError, TopicsConfig};

/// Keep it alive as long as clients use it.
pub struct MockBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl MockBroker {
    /// A one-broker mock cluster.
    pub fn start() -> Result<MockBroker, PipelineError> {
        Self::start_brokers(1)
    }

    /// A mock cluster of `brokers` brokers (ids 1..=brokers), for moving
    /// partition leaders and group coordinators in tests.
    pub fn start_brokers(brokers: i32) -> Result<MockBroker, PipelineError> {
        Ok(MockBroker {
            cluster: MockCluster::new(brokers)?,
        })
    }

    pub fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Creates every topic a pipeline with this configuration uses (the mock
    /// cluster does not implement the admin API's CreateTopics).
    pub fn create_pipeline_topics(
        &self,
        kafka: &KafkaConfig,
        topics: &TopicsConfig,
        raw_partitions: i32,
    ) -> Result<(), PipelineError> {
        for (name, partitions) in pipeline_topics(kafka, topics, raw_partitions) {
            self.cluster.create_topic(&name, partitions, 1)?;
        }
        Ok(())
    }

    pub fn create_topic(&self, name: &str, partitions: i32) -> Result<(), PipelineError> {
        Ok(self.cluster.create_topic(name, partitions, 1)?)
    }

    /// The mock cluster, for fault injection in tests.
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}

/// Every topic a pipeline with this configuration uses, with its partition
/// count: the raw topics (`raw_partitions` each), the outputs and the
/// internal topics (`topics.partitions` each), the control topic (one).
pub fn pipeline_topics(
    kafka: &KafkaConfig,
    topics: &TopicsConfig,
    raw_partitions: i32,
) -> Vec<(String, i32)> {
    let p = topics.partitions;
    let mut out: Vec<(String, i32)> = topics
        .raw
        .iter()
        .map(|r| (r.topic.clone(), raw_partitions))
        .collect();
    for t in [
        &topics.events,
        &topics.handover,
        &topics.alerts,
        &topics.merges,
        &topics.dlq,
        &topics.quarantine,
        &topics.late,
    ] {
        out.push((t.clone(), p));
    }
    out.push((topics.control.clone(), 1));
    for name in [
        "identity-hops",
        "aliases",
        "stitch",
        "identity-changelog",
        "stitch-changelog",
    ] {
        out.push((kafka.internal_topic(name), p));
    }
    out
}
