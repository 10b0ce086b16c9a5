//! Test support shared by the pipeline tests (mock cluster, Tansu, several
//! instances): raw input to the broker, the oracle's expectation for it, and
//! waiting until the outputs on the broker equal that expectation.
//!
//! Shared by source inclusion like `tansu.rs`:
//! `#[path = "../../../tests/support/scenario.rs"] mod scenario;` from
//! `crates/<package>/tests/*.rs`, `#[path = "support/scenario.rs"]` from `tests/`.
//! The including package needs `journey-core` and `journey-kafka`.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use journey_core::avro::Framing;
use journey_core::fold::{FoldOutput, StitchConfig};
use journey_core::generate::RawRecord;
use journey_core::model::{JourneyEvent, SourceRef};
use journey_core::normalize::{normalize, Format, NormalizeConfig};
use journey_core::oracle::oracle;
use journey_kafka::io::produce_all;
use journey_kafka::outputs::Outputs;
use journey_kafka::{KafkaConfig, TopicsConfig};

/// Produces generated raw records to the raw topic of their channel.
pub fn produce(kafka: &KafkaConfig, topics: &TopicsConfig, records: &[RawRecord]) -> u64 {
    let topic_of = |c| {
        topics
            .raw
            .iter()
            .find(|r| r.channel == c)
            .map(|r| r.topic.clone())
            .expect("raw topic for channel")
    };
    let named: Vec<(String, &RawRecord)> =
        records.iter().map(|r| (topic_of(r.channel), r)).collect();
    produce_all(
        kafka,
        named.iter().map(|(t, r)| {
            (
                t.as_str(),
                r.key.as_deref().map(str::as_bytes),
                r.payload.as_slice(),
            )
        }),
        &|_| {},
    )
    .expect("raw records produced")
}

/// The oracle's result for `records` (native format, default configuration)
/// and how many of them must become dead letters.
pub fn expected(records: &[RawRecord]) -> (FoldOutput, usize) {
    let (events, bad) = normalised(records);
    (oracle(&events, &StitchConfig::default()), bad)
}

/// The canonical events of `records` (native format, default normalisation)
/// and how many records do not normalise.
pub fn normalised(records: &[RawRecord]) -> (Vec<JourneyEvent>, usize) {
    let mut events = Vec::new();
    let mut bad = 0;
    for r in records {
        match normalize(
            r.channel,
            Format::Native,
            &r.payload,
            &SourceRef::default(),
            &NormalizeConfig::default(),
        ) {
            Ok(es) => events.extend(es),
            Err(_) => bad += 1,
        }
    }
    (events, bad)
}

/// Reads the outputs until alerts, handovers, merges and the dead-letter count
/// equal the expectation; panics after `timeout` with the counts and `context()`.
pub fn wait_for_outputs(
    kafka: &KafkaConfig,
    topics: &TopicsConfig,
    expected: &FoldOutput,
    dead_letters: usize,
    timeout: Duration,
    context: impl Fn() -> String,
) -> Outputs {
    let start = Instant::now();
    loop {
        let out = Outputs::read(kafka, topics, &Framing::SingleObject).expect("outputs readable");
        if out.alerts == expected.alerts
            && out.handovers == expected.handovers
            && out.merges == expected.merges
            && out.reviews == expected.reviews
            && out.dead_letters.len() == dead_letters
        {
            return out;
        }
        if start.elapsed() > timeout {
            panic!(
                "outputs did not converge in {timeout:?}: alerts {}/{}, handovers {}/{}, merges {}/{}, reviews {}/{}, dead letters {}/{}\n{}",
                out.alerts.len(),
                expected.alerts.len(),
                out.handovers.len(),
                expected.handovers.len(),
                out.merges.len(),
                expected.merges.len(),
                out.reviews.len(),
                expected.reviews.len(),
                out.dead_letters.len(),
                dead_letters,
                context()
            );
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// The pipeline configuration the tests run with: default batches,
/// normalisation and rules, single-object Avro, changelogs on, no standbys.
pub fn pipeline_config(
    kafka: &KafkaConfig,
    topics: &TopicsConfig,
    state: &std::path::Path,
) -> journey_kafka::PipelineConfig {
    journey_kafka::PipelineConfig {
        kafka: kafka.clone(),
        topics: topics.clone(),
        batch: journey_kafka::BatchConfig::default(),
        normalize: NormalizeConfig::default(),
        stitch: StitchConfig::default(),
        state_dir: state.to_path_buf(),
        framing: Framing::SingleObject,
        changelog: true,
        standby: false,
    }
}

/// A mock cluster with every topic of application `app` (`partitions` per
/// pipeline topic, 2 per raw topic), and the configuration to reach it.
pub fn mock_cluster(
    app: &str,
    partitions: i32,
) -> (
    journey_kafka::embedded::MockBroker,
    KafkaConfig,
    TopicsConfig,
) {
    let broker = journey_kafka::embedded::MockBroker::start().expect("mock cluster");
    let kafka = KafkaConfig {
        bootstrap_servers: broker.bootstrap(),
        application_id: app.into(),
        session_timeout_ms: 6_000,
        ..KafkaConfig::default()
    };
    let topics = TopicsConfig {
        partitions,
        ..TopicsConfig::default()
    };
    broker
        .create_pipeline_topics(&kafka, &topics, 2)
        .expect("topics");
    (broker, kafka, topics)
}

/// Partitions of both stateful stages restored from a changelog, of `kind`
/// (`full`, `catch_up`, `standby_full`, `standby_catch_up`).
pub fn restores(metrics: &journey_kafka::metrics::Metrics, kind: &str) -> u64 {
    ["identity", "stitch"]
        .iter()
        .map(|s| metrics.state_restores.with_label_values(&[s, kind]).get())
        .sum()
}
