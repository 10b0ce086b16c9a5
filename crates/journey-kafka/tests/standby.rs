//! Standby replicas: with `standby` on, each instance keeps the state of
//! the partitions it does not own warm from the changelogs, so that taking
//! them over after the owner leaves only catches up from the warm copy's
//! position — no partition is restored from the beginning.
//!
//! Instances A and B process the first half of the input; each one's local
//! state (owned and standby partitions) must come to equal the oracle's
//! journeys for all customers. A stops; B takes A's partitions over by
//! catching up only, processes the second half, and its journeys and the
//! outputs equal the oracle's on the whole input.

#[path = "../../../tests/support/scenario.rs"]
mod scenario;

use std::path::Path;
use std::time::{Duration, Instant};

use journey_core::generate::{generate, GeneratorConfig};
use journey_kafka::metrics::Metrics;
use journey_kafka::{Pipeline, PipelineConfig};

const PARTITIONS: i32 = 4;

#[test]
fn standby_replicas_make_fail_over_a_catch_up() {
    // `JOURNEY_TEST_LOG=info` shows the pipeline's log.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("JOURNEY_TEST_LOG"))
        .with_test_writer()
        .try_init();
    let (_broker, kafka, topics) = scenario::mock_cluster("standby", PARTITIONS);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = |state: &Path| PipelineConfig {
        standby: true,
        ..scenario::pipeline_config(&kafka, &topics, state)
    };
    let generated = generate(&GeneratorConfig {
        seed: 77,
        customers: 90,
        malformed_per_mille: 0,
        ..GeneratorConfig::default()
    });
    let records = &generated.records;
    let half = &records[..records.len() / 2];

    let mb = Metrics::new();
    let a = Pipeline::start(config(&dir.path().join("a")), Metrics::new()).expect("A starts");
    let b = Pipeline::start(config(&dir.path().join("b")), mb.clone()).expect("B starts");
    scenario::produce(&kafka, &topics, half);
    let (first, bad) = scenario::expected(half);
    scenario::wait_for_outputs(
        &kafka,
        &topics,
        &first,
        bad,
        Duration::from_secs(120),
        || format!("A {:?}, B {:?}", a.health(), b.health()),
    );
    for p in [&a, &b] {
        p.wait_quiet(0, Duration::from_secs(2), Duration::from_secs(60))
            .expect("instance settles");
    }
    // Both hold some partitions; each one's local state covers everyone.
    let held = |p: &Pipeline| p.journeys().expect("journeys").len();
    assert!(
        held(&a) > 0 && held(&b) > 0 && held(&a) + held(&b) == first.customers.len(),
        "the two instances share the customers: A {}, B {} of {}",
        held(&a),
        held(&b),
        first.customers.len()
    );
    for (name, p) in [("A", &a), ("B", &b)] {
        let start = Instant::now();
        loop {
            let local = p.local_journeys().expect("local journeys");
            if local == first.customers {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{name}'s standby state never came to equal the oracle's journeys \
                 ({} of {} customers held locally)",
                local.len(),
                first.customers.len()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    // A leaves; B takes its partitions over from the warm copies.
    let (full_before, catch_up_before) = (
        scenario::restores(&mb, "full"),
        scenario::restores(&mb, "catch_up"),
    );
    a.shutdown().expect("A stops");
    let start = Instant::now();
    while held(&b) < first.customers.len() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "B never took A's partitions over"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        scenario::restores(&mb, "full"),
        full_before,
        "a partition with a warm standby copy is never restored from the beginning"
    );
    assert!(
        scenario::restores(&mb, "catch_up") > catch_up_before,
        "B caught A's partitions up from its standby positions"
    );
    assert_eq!(
        b.journeys().expect("journeys"),
        first.customers,
        "after the take-over B's journeys are the oracle's"
    );

    scenario::produce(&kafka, &topics, &records[half.len()..]);
    let (expected, bad) = scenario::expected(records);
    scenario::wait_for_outputs(
        &kafka,
        &topics,
        &expected,
        bad,
        Duration::from_secs(120),
        || format!("{:?}", b.health()),
    );
    b.wait_quiet(0, Duration::from_secs(2), Duration::from_secs(60))
        .expect("B settles");
    let journeys = b.journeys().expect("journeys");
    let standby_rounds =
        scenario::restores(&mb, "standby_catch_up") + scenario::restores(&mb, "standby_full");
    b.shutdown().expect("B stops");
    assert_eq!(journeys, expected.customers, "journeys equal the oracle's");
    assert!(
        standby_rounds > 0,
        "B's standby thread applied changelog batches"
    );
}
