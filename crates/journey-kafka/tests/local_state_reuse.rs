//! Local-state reuse: an instance that gets back partitions whose state it
//! still holds catches up from the changelog position its state recorded
//! instead of dropping it and reading the changelog from the beginning.
//!
//! Instance A processes the first third of the input and stops; instance B
//! (empty state: full restores) processes the second third and stops; A
//! starts again on its old state directory — every partition must be caught
//! up, none fully restored — and processes the last third. Outputs and A's
//! journeys must equal the oracle's on the whole input, which they cannot if
//! the catch-up missed or re-applied any of B's batches.

#[path = "../../../tests/support/scenario.rs"]
mod scenario;

use std::path::Path;
use std::time::Duration;

use journey_core::generate::{generate, GeneratorConfig};
use journey_kafka::metrics::Metrics;
use journey_kafka::Pipeline;

const PARTITIONS: i32 = 3;

#[test]
fn a_returning_instance_catches_up_from_its_local_state() {
    // `JOURNEY_TEST_LOG=info` shows the pipeline's log.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("JOURNEY_TEST_LOG"))
        .with_test_writer()
        .try_init();
    let (_broker, kafka, topics) = scenario::mock_cluster("reuse", PARTITIONS);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = |state: &Path| scenario::pipeline_config(&kafka, &topics, state);
    let generated = generate(&GeneratorConfig {
        seed: 31,
        customers: 90,
        malformed_per_mille: 0,
        ..GeneratorConfig::default()
    });
    let records = &generated.records;
    let third = records.len() / 3;
    let parts = [&records[..third], &records[..2 * third], &records[..]];
    let run = |state: &Path, upto: usize, metrics: &std::sync::Arc<Metrics>| {
        let pipeline = Pipeline::start(config(state), metrics.clone()).expect("instance starts");
        let from = if upto == 0 { 0 } else { parts[upto - 1].len() };
        scenario::produce(&kafka, &topics, &parts[upto][from..]);
        let (expected, bad) = scenario::expected(parts[upto]);
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
            .expect("instance settles");
        (pipeline, expected)
    };

    let a = dir.path().join("a");
    let first = Metrics::new();
    let (pipeline, _) = run(&a, 0, &first);
    pipeline.shutdown().expect("A stops");
    assert_eq!(scenario::restores(&first, "catch_up"), 0, "A started empty");

    let b = Metrics::new();
    let (pipeline, _) = run(&dir.path().join("b"), 1, &b);
    pipeline.shutdown().expect("B stops");
    assert_eq!(
        scenario::restores(&b, "full"),
        2 * PARTITIONS as u64,
        "B has no local state: every partition of both stages is restored in full"
    );
    assert_eq!(scenario::restores(&b, "catch_up"), 0);

    // A again: caught up to where B stopped before it reads any input, so it
    // re-processes nothing (stale stored offsets would make it re-read B's input).
    let again = Metrics::new();
    let pipeline = Pipeline::start(config(&a), again.clone()).expect("A starts again");
    let start = std::time::Instant::now();
    while scenario::restores(&again, "catch_up") + scenario::restores(&again, "full")
        < 2 * PARTITIONS as u64
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "A got no partitions"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The restores are counted inside the rebalance callback, a moment
    // before the partitions count as held.
    let (two_thirds, _) = scenario::expected(parts[1]);
    let mut journeys = pipeline.journeys().expect("journeys");
    while journeys != two_thirds.customers && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
        journeys = pipeline.journeys().expect("journeys");
    }
    pipeline
        .wait_quiet(0, Duration::from_secs(3), Duration::from_secs(60))
        .expect("A settles");
    assert_eq!(
        scenario::restores(&again, "catch_up"),
        2 * PARTITIONS as u64,
        "A still holds every partition's state: each is caught up from its position"
    );
    assert_eq!(
        scenario::restores(&again, "full"),
        0,
        "nothing is restored in full"
    );
    assert_eq!(
        pipeline.counters().stitched,
        0,
        "nothing is processed twice"
    );
    assert_eq!(
        journeys, two_thirds.customers,
        "after catching up, A's state is B's"
    );
    scenario::produce(&kafka, &topics, &parts[2][parts[1].len()..]);
    let (expected, bad) = scenario::expected(parts[2]);
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
        .expect("A settles");
    let journeys = pipeline.journeys().expect("journeys");
    pipeline.shutdown().expect("A stops again");
    assert_eq!(journeys, expected.customers, "journeys equal the oracle's");
}
