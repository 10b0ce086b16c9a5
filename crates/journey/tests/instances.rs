//! Three `journey run` processes in one consumer group on the mock cluster
//! (a real Kafka-protocol broker on a loopback port, in the test process):
//! one instance is SIGKILLed mid-stream and started again. The outputs read
//! back from the broker, and the journeys restored from the changelogs into a
//! fresh instance, must equal the single-threaded oracle.

#[path = "../../../tests/support/scenario.rs"]
mod scenario;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use journey_core::avro::Framing;
use journey_core::fold::StitchConfig;
use journey_core::generate::{generate, GeneratorConfig};
use journey_core::normalize::NormalizeConfig;
use journey_kafka::embedded::MockBroker;
use journey_kafka::metrics::Metrics;
use journey_kafka::{BatchConfig, KafkaConfig, Pipeline, PipelineConfig, TopicsConfig};

const APP: &str = "journey-3i";
const PARTITIONS: i32 = 6;

struct Instance {
    child: Child,
}

impl Instance {
    fn start(dir: &Path, bootstrap: &str, n: usize) -> Instance {
        let state = dir.join(format!("state-{n}"));
        let config = format!(
            "[kafka]\nbootstrap_servers = \"{bootstrap}\"\napplication_id = \"{APP}\"\nsession_timeout_ms = 6000\n\n\
             [topics]\npartitions = {PARTITIONS}\n\n[state]\ndir = \"{}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n",
            state.display()
        );
        let path = dir.join(format!("journey-{n}.toml"));
        std::fs::write(&path, config).expect("config written");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("journey-{n}.log")))
            .expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_journey"))
            .args(["run", "--config"])
            .arg(&path)
            .env("JOURNEY_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("journey run starts");
        Instance { child }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

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
    let mut instances: Vec<Instance> = (0..3)
        .map(|n| Instance::start(dir.path(), &kafka.bootstrap_servers, n))
        .collect();
    scenario::produce(&kafka, &topics, first);
    std::thread::sleep(Duration::from_secs(8));
    instances[1].kill();
    scenario::produce(&kafka, &topics, second);
    std::thread::sleep(Duration::from_secs(3));
    instances[1] = Instance::start(dir.path(), &kafka.bootstrap_servers, 1);

    let (expected, bad) = scenario::expected(&generated.records);
    let logs = || {
        (0..3)
            .map(|n| {
                std::fs::read_to_string(dir.path().join(format!("journey-{n}.log")))
                    .unwrap_or_default()
            })
            .map(|l| l.lines().rev().take(15).collect::<Vec<_>>().join("\n"))
            .collect::<Vec<_>>()
            .join("\n---\n")
    };
    scenario::wait_for_outputs(
        &kafka,
        &topics,
        &expected,
        bad,
        Duration::from_secs(300),
        logs,
    );
    // `journey status` sees the three members and every stitch partition held once.
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
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).expect("status is json");
    let stages = doc["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 3, "normalise, identity and stitch");
    let stitch = stages
        .iter()
        .find(|s| s["stage"] == "stitch")
        .expect("stitch stage")
        .clone();
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
    assert_eq!(stitch["lag"], 0, "nothing left to process");
    for i in &mut instances {
        i.terminate();
    }
    for i in &mut instances {
        let deadline = Instant::now() + Duration::from_secs(40);
        while i.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

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
