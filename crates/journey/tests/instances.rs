//! Three `journey run` processes in one consumer group on the mock cluster
//! (a real Kafka-protocol broker on a loopback port, in the test process):
//! one instance is SIGKILLed mid-stream and started again. The outputs read
//! back from the broker, and the journeys restored from the changelogs into a
//! fresh instance, must equal the single-threaded oracle.

#[path = "../../../tests/support/instances.rs"]
mod instances;
#[path = "../../../tests/support/scenario.rs"]
mod scenario;

use std::process::Command;
use std::time::{Duration, Instant};

use instances::Fleet;
use journey_core::avro::Framing;
use journey_core::fold::StitchConfig;
use journey_core::generate::{generate, GeneratorConfig};
use journey_core::normalize::NormalizeConfig;
use journey_kafka::embedded::MockBroker;
use journey_kafka::metrics::Metrics;
use journey_kafka::{BatchConfig, KafkaConfig, Pipeline, PipelineConfig, TopicsConfig};

const APP: &str = "journey-3i";
const PARTITIONS: i32 = 6;

#[test]
fn three_instances_with_a_kill_equal_the_oracle() {
    let broker = MockBroker::start().expect("mock cluster");
    let kafka = KafkaConfig {
        bootstrap_servers: broker.bootstrap(),
        application_id: APP.into(),
        session_timeout_ms: 6_000,
        ..KafkaConfig::default()
    };
    let topics = TopicsConfig {
        partitions: PARTITIONS,
        ..TopicsConfig::default()
    };
    broker
        .create_pipeline_topics(&kafka, &topics, 3)
        .expect("topics");
    let dir = tempfile::tempdir().expect("temp dir");

    let generated = generate(&GeneratorConfig {
        seed: 21,
        customers: 150,
        malformed_per_mille: 10,
        ..GeneratorConfig::default()
    });
    let (first, second) = generated.records.split_at(generated.records.len() / 2);
    let mut fleet = Fleet::new(dir.path(), &kafka.bootstrap_servers, APP, PARTITIONS);
    for n in 0..3 {
        fleet.start(n);
    }
    scenario::produce(&kafka, &topics, first);
    std::thread::sleep(Duration::from_secs(8));
    fleet.kill(1);
    scenario::produce(&kafka, &topics, second);
    std::thread::sleep(Duration::from_secs(3));
    fleet.start(1);

    let (expected, bad) = scenario::expected(&generated.records);
    let logs = || fleet.log_tails(15);
    scenario::wait_for_outputs(
        &kafka,
        &topics,
        &expected,
        bad,
        Duration::from_secs(300),
        logs,
    );
    // `journey status` sees the three members and every stitch partition held
    // once, and the stitch lag returns to zero within a bound (I6: commits
    // are reported asynchronously and retried, so not necessarily at once).
    let status_of_stitch = || {
        let status = Command::new(env!("CARGO_BIN_EXE_journey"))
            .args(["status", "--json", "--config"])
            .arg(dir.path().join("journey-0.toml"))
            .env("JOURNEY_LOG", "warn")
            .output()
            .expect("journey status runs");
        assert!(
            status.status.success(),
            "journey status failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&status.stdout).expect("status is json");
        let stages = doc["stages"].as_array().expect("stages");
        assert_eq!(stages.len(), 3, "normalise, identity and stitch");
        stages
            .iter()
            .find(|s| s["stage"] == "stitch")
            .expect("stitch stage")
            .clone()
    };
    let asked = Instant::now();
    let stitch = loop {
        let s = status_of_stitch();
        if s["lag"] == 0 || asked.elapsed() > Duration::from_secs(60) {
            break s;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    eprintln!(
        "status: stitch group state {}, lag {}",
        stitch["state"], stitch["lag"]
    );
    // The mock cluster cannot describe groups; a real broker lists the members.
    if stitch["state"] != "not reported by the broker" {
        let held: usize = stitch["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| m["partitions"].as_array().map_or(0, Vec::len))
            .sum();
        assert_eq!(
            held, PARTITIONS as usize,
            "every stitch partition held by exactly one member"
        );
    }
    assert!(stitch["partitions"]
        .as_array()
        .is_some_and(|p| p.len() == PARTITIONS as usize));
    assert_eq!(
        stitch["lag"],
        0,
        "nothing left to process within 60 s (took {:?})",
        asked.elapsed()
    );
    fleet.terminate_all(Duration::from_secs(40));

    // A fresh instance restores every partition from the changelogs.
    let cfg = PipelineConfig {
        kafka: kafka.clone(),
        topics: topics.clone(),
        batch: BatchConfig::default(),
        normalize: NormalizeConfig::default(),
        stitch: StitchConfig::default(),
        state_dir: dir.path().join("state-fresh"),
        framing: Framing::SingleObject,
        changelog: true,
        standby: false,
    };
    let fresh = Pipeline::start(cfg, Metrics::new()).expect("fresh instance starts");
    let start = Instant::now();
    let journeys = loop {
        let j = fresh.journeys().expect("journeys");
        if j == expected.customers || start.elapsed() > Duration::from_secs(120) {
            break j;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    fresh.shutdown().expect("clean shutdown");
    assert_eq!(
        journeys.len(),
        expected.customers.len(),
        "customer count after restore"
    );
    assert_eq!(
        journeys, expected.customers,
        "journeys restored from the changelogs equal the oracle's"
    );
    eprintln!(
        "3 instances, 1 killed: {} customers, {} alerts, {} handovers, {} merges, {} dead letters, converged in {:.1} s",
        journeys.len(),
        expected.alerts.len(),
        expected.handovers.len(),
        expected.merges.len(),
        bad,
        start.elapsed().as_secs_f64()
    );
}
