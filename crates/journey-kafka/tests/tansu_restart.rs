//! A restart on a broker process (Tansu, or `KAFKA_BOOTSTRAP_SERVERS`): the
//! pipeline processes half the input, stops, and starts again on the same
//! state. Its stored offsets are at the ends of the partitions, where Tansu
//! 0.6.0 under-reports high watermarks; the offsets-backwards checks must not
//! fire, the local state must be caught up from its changelog positions, and
//! the rest of the input must bring outputs and journeys to the oracle's.

#[path = "../../../tests/support/scenario.rs"]
mod scenario;
#[path = "../../../tests/support/tansu.rs"]
mod tansu;

use std::time::{Duration, Instant};

use journey_core::avro::Framing;
use journey_core::fold::StitchConfig;
use journey_core::generate::{generate, GeneratorConfig};
use journey_core::normalize::NormalizeConfig;
use journey_kafka::metrics::Metrics;
use journey_kafka::{BatchConfig, KafkaConfig, Pipeline, PipelineConfig, RawTopic, TopicsConfig};

#[test]
fn a_restart_on_a_broker_process_resumes_without_a_false_alarm() {
    let _serial = tansu::serial();
    let broker = tansu::TestKafka::start();
    let app = tansu::unique_name("journey-restart");
    let mut topics = TopicsConfig {
        partitions: 3,
        ..TopicsConfig::default()
    };
    topics.raw = topics
        .raw
        .iter()
        .map(|r| RawTopic {
            topic: broker.create_topic(&r.topic, 2),
            ..r.clone()
        })
        .collect();
    topics.events = broker.create_topic(&topics.events, 3);
    topics.handover = broker.create_topic(&topics.handover, 3);
    topics.alerts = broker.create_topic(&topics.alerts, 3);
    topics.merges = broker.create_topic(&topics.merges, 3);
    topics.dlq = broker.create_topic(&topics.dlq, 3);
    for internal in [
        "identity-hops",
        "aliases",
        "stitch",
        "identity-changelog",
        "stitch-changelog",
    ] {
        let name = format!("{app}.{internal}");
        assert_eq!(broker.create_topic(&name, 3), name);
    }
    let kafka = KafkaConfig {
        bootstrap_servers: broker.bootstrap(),
        application_id: app.clone(),
        session_timeout_ms: 6_000,
        ..KafkaConfig::default()
    };
    let state = tempfile::tempdir().expect("temp dir");
    let config = || PipelineConfig {
        kafka: kafka.clone(),
        topics: topics.clone(),
        batch: BatchConfig::default(),
        normalize: NormalizeConfig::default(),
        stitch: StitchConfig::default(),
        state_dir: state.path().to_path_buf(),
        framing: Framing::SingleObject,
        changelog: true,
    };
    let generated = generate(&GeneratorConfig {
        seed: 17,
        customers: 50,
        malformed_per_mille: 0,
        ..GeneratorConfig::default()
    });
    let (first, second) = generated.records.split_at(generated.records.len() / 2);

    scenario::produce(&kafka, &topics, first);
    let pipeline = Pipeline::start(config(), Metrics::new()).expect("pipeline starts");
    let (expected, bad) = scenario::expected(first);
    scenario::wait_for_outputs(
        &kafka,
        &topics,
        &expected,
        bad,
        Duration::from_secs(180),
        || format!("{:?}", pipeline.health()),
    );
    pipeline
        .wait_quiet(0, Duration::from_secs(3), Duration::from_secs(60))
        .expect("pipeline settles");
    pipeline.shutdown().expect("clean shutdown");

    let metrics = Metrics::new();
    let pipeline = Pipeline::start(config(), metrics.clone()).expect("pipeline restarts");
    let restores = |kind: &str| -> u64 {
        ["identity", "stitch"]
            .iter()
            .map(|s| metrics.state_restores.with_label_values(&[s, kind]).get())
            .sum()
    };
    let start = Instant::now();
    while restores("catch_up") + restores("full") < 6 {
        let h = pipeline.health();
        assert!(h.healthy, "false alarm after a restart: {}", h.detail);
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "partitions not assigned after 90 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(restores("catch_up"), 6, "every partition caught up locally");
    scenario::produce(&kafka, &topics, second);
    let (expected, bad) = scenario::expected(&generated.records);
    scenario::wait_for_outputs(
        &kafka,
        &topics,
        &expected,
        bad,
        Duration::from_secs(180),
        || format!("{:?}", pipeline.health()),
    );
    pipeline
        .wait_quiet(0, Duration::from_secs(3), Duration::from_secs(60))
        .expect("pipeline settles");
    let health = pipeline.health();
    let journeys = pipeline.journeys().expect("journeys");
    pipeline.shutdown().expect("clean shutdown");
    assert!(health.healthy, "{}", health.detail);
    let backwards: u64 = ["identity", "stitch"]
        .iter()
        .map(|s| metrics.offsets_backwards.with_label_values(&[s]).get())
        .sum();
    assert_eq!(backwards, 0);
    assert_eq!(journeys, expected.customers, "journeys equal the oracle's");
}
