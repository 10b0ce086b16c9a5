//! The whole pipeline on librdkafka's mock cluster, against the oracle:
//! generated raw input of all six channels goes through normalise → identity
//! → stitch over Kafka, and the customers, alerts, handovers and merges must
//! equal the single-threaded reference fold of the same input.

#[path = "../../../tests/support/scenario.rs"]
mod scenario;

use std::time::Duration;

use journey_core::avro::Framing;
use journey_core::fold::StitchConfig;
use journey_core::generate::{generate, GeneratorConfig};
use journey_core::normalize::NormalizeConfig;
use journey_kafka::embedded::MockBroker;
use journey_kafka::metrics::Metrics;
use journey_kafka::outputs::Outputs;
use journey_kafka::{BatchConfig, KafkaConfig, Pipeline, PipelineConfig, TopicsConfig};

#[test]
fn pipeline_equals_oracle_on_generated_input() {
    let broker = MockBroker::start().expect("mock cluster");
    let kafka = KafkaConfig {
        bootstrap_servers: broker.bootstrap(),
        session_timeout_ms: 6_000,
        ..KafkaConfig::default()
    };
    let topics = TopicsConfig {
        partitions: 3,
        ..TopicsConfig::default()
    };
    broker
        .create_pipeline_topics(&kafka, &topics, 2)
        .expect("topics");

    let generated = generate(&GeneratorConfig {
        seed: 7,
        customers: 120,
        malformed_per_mille: 20,
        ..GeneratorConfig::default()
    });
    let n = scenario::produce(&kafka, &topics, &generated.records);
    assert_eq!(n as usize, generated.records.len());

    let state = tempfile::tempdir().expect("temp dir");
    let cfg = PipelineConfig {
        kafka: kafka.clone(),
        topics: topics.clone(),
        batch: BatchConfig::default(),
        normalize: NormalizeConfig::default(),
        stitch: StitchConfig::default(),
        state_dir: state.path().to_path_buf(),
        framing: Framing::SingleObject,
        changelog: true,
        standby: false,
    };
    let pipeline = Pipeline::start(cfg, Metrics::new()).expect("pipeline starts");
    pipeline
        .wait_quiet(n, Duration::from_secs(2), Duration::from_secs(180))
        .expect("pipeline drains");
    let journeys = pipeline.journeys().expect("journeys");
    let counters = pipeline.counters();
    let outputs = Outputs::read(&kafka, &topics, &Framing::SingleObject).expect("outputs");
    pipeline.shutdown().expect("clean shutdown");

    let (expected, bad) = scenario::expected(&generated.records);
    assert!(bad > 0, "the input must contain malformed records");
    assert_eq!(
        outputs.dead_letters.len(),
        bad,
        "one dead letter per malformed record"
    );
    assert_eq!(counters.raw_in, n);
    assert_eq!(journeys.len(), expected.customers.len(), "customer count");
    assert_eq!(
        journeys, expected.customers,
        "final journeys equal the oracle's"
    );
    assert_eq!(outputs.merges, expected.merges, "merges equal the oracle's");
    assert_eq!(
        outputs.handovers, expected.handovers,
        "handovers equal the oracle's"
    );
    assert_eq!(outputs.alerts, expected.alerts, "alerts equal the oracle's");
    assert_eq!(
        outputs.reviews, expected.reviews,
        "identity reviews equal the oracle's"
    );
    assert!(
        !expected.alerts.is_empty()
            && !expected.handovers.is_empty()
            && !expected.merges.is_empty()
    );
    eprintln!(
        "records {n}, dead letters {bad}, customers {}, handovers {}, alerts {}, merges {}",
        journeys.len(),
        outputs.handovers.len(),
        outputs.alerts.len(),
        outputs.merges.len()
    );
}
