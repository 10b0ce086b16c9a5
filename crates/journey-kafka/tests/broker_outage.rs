//! The only broker goes down for ~10 s in the middle of the stream: the
//! pipeline must stay healthy (no stage stops), report not ready and
//! `journey_broker_unreachable 1` during the outage, become ready again
//! afterwards and end with outputs and journeys equal to the oracle's.

#[path = "../../../tests/support/scenario.rs"]
mod scenario;

use std::time::{Duration, Instant};

use journey_core::avro::Framing;
use journey_core::fold::StitchConfig;
use journey_core::generate::{generate, GeneratorConfig};
use journey_core::normalize::NormalizeConfig;
use journey_kafka::embedded::MockBroker;
use journey_kafka::metrics::Metrics;
use journey_kafka::{BatchConfig, KafkaConfig, Pipeline, PipelineConfig, TopicsConfig};

#[test]
fn a_broker_outage_makes_the_pipeline_not_ready_then_it_recovers() {
    // `JOURNEY_TEST_LOG=debug` shows the pipeline's log.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("JOURNEY_TEST_LOG"))
        .with_test_writer()
        .try_init();
    let broker = MockBroker::start().expect("mock cluster");
    let kafka = KafkaConfig {
        bootstrap_servers: broker.bootstrap(),
        application_id: "outage".into(),
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
        seed: 5,
        customers: 100,
        malformed_per_mille: 10,
        ..GeneratorConfig::default()
    });
    let (first, second) = generated.records.split_at(generated.records.len() / 2);
    scenario::produce(&kafka, &topics, first);

    let state = tempfile::tempdir().expect("temp dir");
    let metrics = Metrics::new();
    let pipeline = Pipeline::start(
        PipelineConfig {
            kafka: kafka.clone(),
            topics: topics.clone(),
            batch: BatchConfig {
                max_records: 200,
                max_wait_ms: 20,
            },
            normalize: NormalizeConfig::default(),
            stitch: StitchConfig::default(),
            state_dir: state.path().to_path_buf(),
            framing: Framing::SingleObject,
            changelog: true,
            standby: false,
        },
        metrics.clone(),
    )
    .expect("pipeline starts");
    let start = Instant::now();
    while pipeline.counters().stitched == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(pipeline.health().ready);
    assert_eq!(metrics.broker_unreachable.get(), 0);

    broker.cluster().broker_down(1).expect("broker down");
    let down = Instant::now();
    let (mut not_ready_after, mut gauge_seen) = (None, false);
    while down.elapsed() < Duration::from_secs(10) {
        let h = pipeline.health();
        assert!(
            h.healthy,
            "no stage may stop during an outage: {}",
            h.detail
        );
        if !h.ready && not_ready_after.is_none() {
            not_ready_after = Some(down.elapsed());
            assert!(h.detail.contains("unreachable"), "{}", h.detail);
        }
        gauge_seen |= metrics.broker_unreachable.get() == 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        not_ready_after.is_some(),
        "the pipeline must report not ready while the broker is down"
    );
    assert!(
        gauge_seen,
        "journey_broker_unreachable must be 1 during the outage"
    );
    broker.cluster().broker_up(1).expect("broker up");
    let up = Instant::now();

    scenario::produce(&kafka, &topics, second);
    while !pipeline.health().ready || metrics.broker_unreachable.get() != 0 {
        assert!(
            up.elapsed() < Duration::from_secs(60),
            "not ready 60 s after the broker returned: {}",
            pipeline.health().detail
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let ready_after = up.elapsed();
    let (expected, bad) = scenario::expected(&generated.records);
    scenario::wait_for_outputs(
        &kafka,
        &topics,
        &expected,
        bad,
        Duration::from_secs(120),
        || format!("{:?}", pipeline.health()),
    );
    pipeline
        .wait_quiet(0, Duration::from_secs(2), Duration::from_secs(60))
        .expect("pipeline settles");
    let health = pipeline.health();
    let journeys = pipeline.journeys().expect("journeys");
    pipeline.shutdown().expect("clean shutdown");
    assert!(health.healthy && health.ready, "{}", health.detail);
    assert_eq!(journeys, expected.customers, "journeys equal the oracle's");
    eprintln!(
        "not ready {:?} after the broker went down, ready {ready_after:?} after it returned",
        not_ready_after.unwrap_or_default()
    );
}
