//! Three pipeline instances in one process (one consumer group, separate
//! state directories) on the mock cluster; one is stopped mid-stream and
//! started again. Partitions and their state move through the changelogs;
//! outputs and the union of the instances' journeys must equal the oracle.

#[path = "../../../tests/support/scenario.rs"]
mod scenario;

use std::time::Duration;

use journey_core::avro::Framing;
use journey_core::fold::StitchConfig;
use journey_core::generate::{generate, GeneratorConfig};
use journey_core::normalize::NormalizeConfig;
use journey_kafka::embedded::MockBroker;
use journey_kafka::metrics::Metrics;
use journey_kafka::{BatchConfig, KafkaConfig, Pipeline, PipelineConfig, TopicsConfig};

#[test]
fn three_instances_in_one_group_equal_the_oracle() {
    let broker = MockBroker::start().expect("mock cluster");
    let kafka = KafkaConfig {
        bootstrap_servers: broker.bootstrap(),
        application_id: "inproc".into(),
        session_timeout_ms: 6_000,
        ..KafkaConfig::default()
    };
    let topics = TopicsConfig {
        partitions: 6,
        ..TopicsConfig::default()
    };
    broker
        .create_pipeline_topics(&kafka, &topics, 3)
        .expect("topics");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = |n: usize| PipelineConfig {
        kafka: kafka.clone(),
        topics: topics.clone(),
        batch: BatchConfig::default(),
        normalize: NormalizeConfig::default(),
        stitch: StitchConfig::default(),
        state_dir: dir.path().join(format!("s{n}")),
        framing: Framing::SingleObject,
        changelog: true,
        standby: false,
    };
    let mut instances: Vec<Pipeline> = (0..3)
        .map(|n| Pipeline::start(config(n), Metrics::new()).expect("instance starts"))
        .collect();
    std::thread::sleep(Duration::from_secs(10));

    let generated = generate(&GeneratorConfig {
        seed: 21,
        customers: 150,
        malformed_per_mille: 0,
        ..GeneratorConfig::default()
    });
    let (first, second) = generated.records.split_at(generated.records.len() / 2);
    scenario::produce(&kafka, &topics, first);
    std::thread::sleep(Duration::from_secs(3));
    instances.remove(1).shutdown().expect("instance 1 stops");
    scenario::produce(&kafka, &topics, second);
    std::thread::sleep(Duration::from_secs(3));
    instances.push(Pipeline::start(config(1), Metrics::new()).expect("instance 1 restarts"));

    let (expected, bad) = scenario::expected(&generated.records);
    scenario::wait_for_outputs(
        &kafka,
        &topics,
        &expected,
        bad,
        Duration::from_secs(120),
        String::new,
    );
    // Each instance holds only its partitions: the union is every journey once.
    // (All read before any stops: a stop moves its partitions to the others.)
    let mut journeys = Vec::new();
    for p in &instances {
        journeys.extend(p.journeys().expect("journeys"));
    }
    for p in instances {
        p.shutdown().expect("shutdown");
    }
    journeys.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    assert_eq!(journeys.len(), expected.customers.len(), "customer count");
    assert_eq!(journeys, expected.customers, "journeys equal the oracle's");
}
