//! A restart on a broker process (Tansu, or `KAFKA_BOOTSTRAP_SERVERS`): the
//! pipeline processes half the input, stops, and starts again on the same
//! state. Its stored offsets are at the ends of the partitions, where Tansu
//! 0.6.0 under-reports high watermarks; the offsets-backwards checks must not
//! fire, the local state must be caught up from its changelog positions, and
//! the rest of the input must bring outputs and journeys to the oracle's.
//! And a restarted Tansu (memory storage: everything lost) must halt a
//! pipeline that starts on it with its old state: Tansu answers a fetch
//! beyond a partition's end with no records rather than an out-of-range
//! error, so this relies on the empty-partition check.

#[path = "../../../tests/support/invariants.rs"]
mod invariants;
#[path = "../../../tests/support/scenario.rs"]
mod scenario;
#[path = "../../../tests/support/tansu.rs"]
mod tansu;

use std::time::{Duration, Instant};

use journey_core::generate::{generate, GeneratorConfig};
use journey_kafka::metrics::Metrics;
use journey_kafka::{KafkaConfig, Pipeline, RawTopic, TopicsConfig};

/// Creates every topic of the pipeline `app` on `broker`.
fn create_topics(broker: &tansu::TestKafka, app: &str) -> TopicsConfig {
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
    topics
}

/// Processes `records` to the end and stops.
fn first_run(
    kafka: &KafkaConfig,
    topics: &TopicsConfig,
    state: &std::path::Path,
    records: &[journey_core::generate::RawRecord],
) {
    scenario::produce(kafka, topics, records);
    let pipeline = Pipeline::start(
        scenario::pipeline_config(kafka, topics, state),
        Metrics::new(),
    )
    .expect("pipeline starts");
    let (expected, bad) = scenario::expected(records);
    scenario::wait_for_outputs(
        kafka,
        topics,
        &expected,
        bad,
        Duration::from_secs(180),
        || format!("{:?}", pipeline.health()),
    );
    pipeline
        .wait_quiet(0, Duration::from_secs(3), Duration::from_secs(60))
        .expect("pipeline settles");
    pipeline.shutdown().expect("clean shutdown");
}

fn kafka(broker: &tansu::TestKafka, app: &str) -> KafkaConfig {
    KafkaConfig {
        bootstrap_servers: broker.bootstrap(),
        application_id: app.to_string(),
        session_timeout_ms: 6_000,
        ..KafkaConfig::default()
    }
}

#[test]
fn a_restart_on_a_broker_process_resumes_without_a_false_alarm() {
    let _serial = tansu::serial();
    let broker = tansu::TestKafka::start();
    let app = tansu::unique_name("journey-restart");
    let topics = create_topics(&broker, &app);
    let kafka = kafka(&broker, &app);
    let state = tempfile::tempdir().expect("temp dir");
    let generated = generate(&GeneratorConfig {
        seed: 17,
        customers: 50,
        malformed_per_mille: 0,
        ..GeneratorConfig::default()
    });
    let (first, second) = generated.records.split_at(generated.records.len() / 2);

    first_run(&kafka, &topics, state.path(), first);

    let metrics = Metrics::new();
    let pipeline = Pipeline::start(
        scenario::pipeline_config(&kafka, &topics, state.path()),
        metrics.clone(),
    )
    .expect("pipeline restarts");
    let restores = |kind: &str| scenario::restores(&metrics, kind);
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

/// Tansu with memory storage loses everything on restart: a pipeline started
/// on the restarted broker with its old state must halt, not start over.
#[test]
fn a_broker_process_that_lost_its_data_halts_the_pipeline() {
    // `JOURNEY_TEST_LOG=info` shows the pipeline's log.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("JOURNEY_TEST_LOG"))
        .with_test_writer()
        .try_init();
    let _serial = tansu::serial();
    if tansu::external_bootstrap().is_some() {
        return; // an external cluster cannot be made to lose its data here
    }
    let app = tansu::unique_name("journey-lost");
    let state = tempfile::tempdir().expect("temp dir");
    let generated = generate(&GeneratorConfig {
        seed: 19,
        customers: 30,
        malformed_per_mille: 0,
        ..GeneratorConfig::default()
    });
    {
        let broker = tansu::TestKafka::start();
        let topics = create_topics(&broker, &app);
        first_run(
            &kafka(&broker, &app),
            &topics,
            state.path(),
            &generated.records,
        );
    }
    let broker = tansu::TestKafka::start();
    let topics = create_topics(&broker, &app);
    let kafka = kafka(&broker, &app);
    let metrics = Metrics::new();
    let pipeline = Pipeline::start(
        scenario::pipeline_config(&kafka, &topics, state.path()),
        metrics.clone(),
    )
    .expect("pipeline starts");
    let start = Instant::now();
    let health = loop {
        let h = pipeline.health();
        if !h.healthy {
            break h;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "still healthy 90 s after starting on a broker that lost its data"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = pipeline.shutdown();
    assert!(
        health.detail.contains("offsets went backwards"),
        "{}",
        health.detail
    );
    eprintln!("halted after {:?}: {}", start.elapsed(), health.detail);
}

/// Transactional mode on a broker that honours transactions: each batch's
/// outputs, changelog records and input offsets are one transaction. The
/// offsets committed in the transactions are exact (every raw record
/// counted once by the normalise group), a restart on the same state
/// resumes from them without reading a raw record again, and the outputs
/// and journeys equal the oracle's.
#[test]
fn transactional_mode_commits_offsets_in_its_transactions() {
    // `JOURNEY_TEST_LOG=info` shows the pipeline's log.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("JOURNEY_TEST_LOG"))
        .with_test_writer()
        .try_init();
    let _serial = tansu::serial();
    let broker = tansu::TestKafka::start();
    let app = tansu::unique_name("journey-txn");
    let topics = create_topics(&broker, &app);
    let kafka = KafkaConfig {
        transactions: true,
        ..kafka(&broker, &app)
    };
    let state = tempfile::tempdir().expect("temp dir");
    let generated = generate(&GeneratorConfig {
        seed: 23,
        customers: 50,
        malformed_per_mille: 10,
        ..GeneratorConfig::default()
    });
    let (first, second) = generated.records.split_at(generated.records.len() / 2);

    first_run(&kafka, &topics, state.path(), first);
    // The normalise group's offsets came with the transactions: together
    // they count every raw record of the first half exactly once.
    let raw: Vec<String> = topics.raw.iter().map(|r| r.topic.clone()).collect();
    let raw_committed: i64 =
        invariants::committed_offsets(&kafka, &format!("{app}.normalise"), &raw)
            .values()
            .map(|o| o.unwrap_or(0))
            .sum();
    assert_eq!(
        raw_committed,
        first.len() as i64,
        "the offsets committed in the transactions cover the first half exactly"
    );

    let metrics = Metrics::new();
    let pipeline = Pipeline::start(
        scenario::pipeline_config(&kafka, &topics, state.path()),
        metrics.clone(),
    )
    .expect("pipeline restarts");
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
    let counters = pipeline.counters();
    let journeys = pipeline.journeys().expect("journeys");
    pipeline.shutdown().expect("clean shutdown");
    assert!(health.healthy, "{}", health.detail);
    assert_eq!(
        counters.raw_in,
        second.len() as u64,
        "the restart read only the second half (from the offsets committed in the transactions)"
    );
    assert_eq!(
        metrics
            .stale_batches
            .with_label_values(&["normalise"])
            .get()
            + metrics.stale_batches.with_label_values(&["identity"]).get()
            + metrics.stale_batches.with_label_values(&["stitch"]).get(),
        0,
        "no transaction was aborted"
    );
    assert_eq!(journeys, expected.customers, "journeys equal the oracle's");
}
