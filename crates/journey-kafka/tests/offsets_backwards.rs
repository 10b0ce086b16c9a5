//! A broker that lost its data (here: a fresh mock cluster with the same
//! topics, as a broker restarted with memory storage would be) must not make
//! the pipeline silently start over from offset 0 with the state of the old
//! one: the stateful stages stop with an error naming topic, partition and
//! stored offset, the pipeline reports unhealthy, the metric counts it, no
//! output is produced and the local state is left as it was.
//!
//! With changelogs the check happens before the local state would be
//! replaced from the (empty) changelog; without, the stored offset is beyond
//! the end of the input partition and the fetch fails (`auto.offset.reset=error`).

#[path = "../../../tests/support/scenario.rs"]
mod scenario;

use std::path::Path;
use std::time::{Duration, Instant};

use journey_core::avro::Framing;
use journey_core::fold::StitchConfig;
use journey_core::generate::{generate, GeneratorConfig, RawRecord};
use journey_core::journey::CustomerJourney;
use journey_core::normalize::NormalizeConfig;
use journey_kafka::embedded::MockBroker;
use journey_kafka::metrics::Metrics;
use journey_kafka::outputs::Outputs;
use journey_kafka::{BatchConfig, KafkaConfig, Pipeline, PipelineConfig, TopicsConfig};

fn setup(broker: &MockBroker) -> (KafkaConfig, TopicsConfig) {
    let kafka = KafkaConfig {
        bootstrap_servers: broker.bootstrap(),
        application_id: "backwards".into(),
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
    (kafka, topics)
}

fn config(
    kafka: &KafkaConfig,
    topics: &TopicsConfig,
    state: &Path,
    changelog: bool,
) -> PipelineConfig {
    PipelineConfig {
        kafka: kafka.clone(),
        topics: topics.clone(),
        batch: BatchConfig::default(),
        normalize: NormalizeConfig::default(),
        stitch: StitchConfig::default(),
        state_dir: state.to_path_buf(),
        framing: Framing::SingleObject,
        changelog,
        standby: false,
    }
}

/// Processes `records` to the end on a first cluster; returns the journeys.
fn first_run(records: &[RawRecord], state: &Path, changelog: bool) -> Vec<CustomerJourney> {
    let broker = MockBroker::start().expect("mock cluster");
    let (kafka, topics) = setup(&broker);
    scenario::produce(&kafka, &topics, records);
    let pipeline = Pipeline::start(config(&kafka, &topics, state, changelog), Metrics::new())
        .expect("pipeline starts");
    let (expected, bad) = scenario::expected(records);
    scenario::wait_for_outputs(
        &kafka,
        &topics,
        &expected,
        bad,
        Duration::from_secs(120),
        String::new,
    );
    pipeline
        .wait_quiet(0, Duration::from_secs(2), Duration::from_secs(60))
        .expect("pipeline settles");
    let journeys = pipeline.journeys().expect("journeys");
    pipeline.shutdown().expect("clean shutdown");
    assert_eq!(journeys, expected.customers);
    journeys
}

/// Which local state the second run starts from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Local {
    /// As the first run left it.
    AsLeft,
    /// Without the recorded changelog positions (state written by a version
    /// that did not record them): the changelog's offsets are compared instead.
    WithoutPositions,
    /// As the first run left it, on a cluster whose input partitions got a
    /// record each after the loss: not empty, but short of the stored
    /// offsets, so only the out-of-range fetch can tell.
    AsLeftPartlyRefilled,
}

/// One record in every partition of the stateful stages' input topics.
fn refill(kafka: &KafkaConfig, topics: &TopicsConfig) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = kafka.producer_config().create().expect("producer");
    for topic in [
        topics.events.clone(),
        kafka.internal_topic("identity-hops"),
        kafka.internal_topic("stitch"),
    ] {
        for p in 0..topics.partitions {
            producer
                .send(
                    BaseRecord::<[u8], [u8]>::to(&topic)
                        .partition(p)
                        .payload(b"x"),
                )
                .map_err(|(e, _)| e)
                .expect("queued");
        }
    }
    producer.flush(Duration::from_secs(10)).expect("refilled");
}

fn forget_positions(state: &Path) {
    use journey_core::store::{StateStore, Table, WriteBatch};
    for stage in ["identity", "stitch"] {
        let store = journey_store::RocksStore::open(&state.join(stage), &Default::default())
            .expect("store opens");
        let mut batch = WriteBatch::default();
        for p in 0..3 {
            assert!(
                store
                    .get(Table::Meta, p, b"changelog.next")
                    .expect("read")
                    .is_some(),
                "the first run recorded a changelog position for {stage} partition {p}"
            );
            batch.delete(Table::Meta, p, b"changelog.next".to_vec());
        }
        store.write(&batch).expect("positions removed");
    }
}

fn halts_on_a_cluster_that_lost_its_data(changelog: bool, local: Local) {
    let generated = generate(&GeneratorConfig {
        seed: 3,
        customers: 60,
        malformed_per_mille: 0,
        ..GeneratorConfig::default()
    });
    let state = tempfile::tempdir().expect("temp dir");
    let before = first_run(&generated.records, state.path(), changelog);
    if local == Local::WithoutPositions {
        forget_positions(state.path());
    }

    let fresh = MockBroker::start().expect("fresh mock cluster");
    let (kafka, topics) = setup(&fresh);
    if local == Local::AsLeftPartlyRefilled {
        refill(&kafka, &topics);
    }
    if changelog {
        // The input again: a pipeline that silently started over would emit outputs.
        scenario::produce(&kafka, &topics, &generated.records);
    }
    let metrics = Metrics::new();
    let pipeline = Pipeline::start(
        config(&kafka, &topics, state.path(), changelog),
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
            start.elapsed() < Duration::from_secs(60),
            "still healthy 60 s after starting on a cluster that lost data"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let halted_after = start.elapsed();
    assert!(!health.ready);
    assert!(
        health.detail.contains("offsets went backwards"),
        "{}",
        health.detail
    );
    assert!(health.detail.contains("stored offset"), "{}", health.detail);
    let named = ["cx.journey.events/", "backwards.stitch/"]
        .iter()
        .any(|t| health.detail.contains(t));
    assert!(
        named,
        "the error names the input partition: {}",
        health.detail
    );
    let counted: u64 = ["identity", "stitch"]
        .iter()
        .map(|s| metrics.offsets_backwards.with_label_values(&[s]).get())
        .sum();
    assert!(counted >= 1, "journey_offsets_backwards_total counts it");
    std::thread::sleep(Duration::from_secs(3));
    let outputs = Outputs::read(&kafka, &topics, &Framing::SingleObject).expect("outputs");
    assert!(
        outputs.alerts.is_empty() && outputs.handovers.is_empty() && outputs.merges.is_empty(),
        "nothing may be emitted from a state that does not match the cluster"
    );
    // The halted pipeline holds no partition: read its whole local state.
    let after = pipeline.local_journeys().expect("journeys");
    assert!(
        pipeline.shutdown().is_err(),
        "the failed stage reports its error"
    );
    assert_eq!(after, before, "the local state is left as it was");
    if local == Local::WithoutPositions {
        assert!(health.detail.contains("holds none"), "{}", health.detail);
    }
    if local == Local::AsLeftPartlyRefilled {
        assert!(
            health.detail.contains("the broker holds offsets 0..1"),
            "the out-of-range fetch names the partitions: {}",
            health.detail
        );
    }
    eprintln!(
        "changelog {changelog}: halted {halted_after:?} after start: {}",
        health.detail
    );
}

#[test]
fn with_changelogs_a_cluster_that_lost_data_halts_the_pipeline() {
    halts_on_a_cluster_that_lost_its_data(true, Local::AsLeft);
}

#[test]
fn with_changelogs_and_no_recorded_positions_a_cluster_that_lost_data_halts_the_pipeline() {
    halts_on_a_cluster_that_lost_its_data(true, Local::WithoutPositions);
}

#[test]
fn without_changelogs_a_cluster_that_lost_data_halts_the_pipeline() {
    halts_on_a_cluster_that_lost_its_data(false, Local::AsLeft);
}

#[test]
fn without_changelogs_a_cluster_that_lost_data_and_got_new_records_halts_the_pipeline() {
    halts_on_a_cluster_that_lost_its_data(false, Local::AsLeftPartlyRefilled);
}
