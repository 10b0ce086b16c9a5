//! End to end on a separate broker process: starts Tansu on 127.0.0.1 (or
//! uses `KAFKA_BOOTSTRAP_SERVERS`), creates the topics, produces raw events
//! of all six channels, runs `journey run` as a child process, and asserts
//! the handovers, alerts, merges and dead letters read back from the broker
//! against the oracle (the single-threaded reference fold of the same input).

#[path = "support/scenario.rs"]
mod scenario;
#[path = "support/tansu.rs"]
mod tansu;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use journey_core::generate::{generate, GeneratorConfig};
use journey_kafka::{KafkaConfig, RawTopic, TopicsConfig};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn journey_run_on_a_broker_process_matches_the_oracle() {
    let _serial = tansu::serial();
    let broker = tansu::TestKafka::start();
    let app = tansu::unique_name("journey-e2e");
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
    for internal in ["identity-hops", "aliases", "stitch"] {
        let name = format!("{app}.{internal}");
        assert_eq!(
            broker.create_topic(&name, 3),
            name,
            "internal topics are named after the application id"
        );
    }
    let kafka = KafkaConfig {
        bootstrap_servers: broker.bootstrap(),
        application_id: app.clone(),
        session_timeout_ms: 6_000,
        ..KafkaConfig::default()
    };

    let generated = generate(&GeneratorConfig {
        seed: 11,
        customers: 60,
        malformed_per_mille: 25,
        ..GeneratorConfig::default()
    });
    scenario::produce(&kafka, &topics, &generated.records);

    // The service, configured by file and environment like in production.
    let dir = tempfile::tempdir().expect("temp dir");
    let raw: Vec<String> = topics
        .raw
        .iter()
        .map(|r| {
            format!(
                "[[topics.raw]]\nchannel = \"{}\"\ntopic = \"{}\"\nformat = \"native\"\n",
                r.channel, r.topic
            )
        })
        .collect();
    let config = format!(
        "[kafka]\nbootstrap_servers = \"{}\"\napplication_id = \"{app}\"\nsession_timeout_ms = 6000\n\n\
         [topics]\nevents = \"{}\"\nhandover = \"{}\"\nalerts = \"{}\"\nmerges = \"{}\"\ndlq = \"{}\"\npartitions = 3\n{}\n\
         [state]\ndir = \"{}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n",
        kafka.bootstrap_servers,
        topics.events,
        topics.handover,
        topics.alerts,
        topics.merges,
        topics.dlq,
        raw.join("\n"),
        dir.path().join("state").display()
    );
    let config_path = dir.path().join("journey.toml");
    std::fs::write(&config_path, config).expect("config written");
    let log = std::fs::File::create(dir.path().join("journey.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_journey"))
        .args(["run", "--config"])
        .arg(&config_path)
        .env("JOURNEY_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("journey run starts");
    let mut child = KillOnDrop(child);

    // The reference, and the outputs converging to it.
    let (expected, bad) = scenario::expected(&generated.records);
    assert!(
        bad > 0
            && !expected.alerts.is_empty()
            && !expected.handovers.is_empty()
            && !expected.merges.is_empty()
    );
    let start = Instant::now();
    let log = || std::fs::read_to_string(dir.path().join("journey.log")).unwrap_or_default();
    let outputs = scenario::wait_for_outputs(
        &kafka,
        &topics,
        &expected,
        bad,
        Duration::from_secs(240),
        log,
    );
    assert!(
        child.0.try_wait().ok().flatten().is_none(),
        "journey run still running:\n{}",
        log()
    );
    // A clean stop on SIGTERM.
    let pid = child.0.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let stopped = Instant::now();
    while child.0.try_wait().ok().flatten().is_none() && stopped.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = child
        .0
        .try_wait()
        .ok()
        .flatten()
        .expect("journey run stops within 30 s of SIGTERM");
    assert!(
        status.success(),
        "journey run exits cleanly on SIGTERM: {status}"
    );
    assert!(outputs.dead_letters.iter().all(|d| !d.reason.is_empty()
        && d.offset >= 0
        && topics.raw.iter().any(|r| r.topic == d.topic)));
    eprintln!(
        "e2e on {}: alerts {}, handovers {}, merges {}, dead letters {} in {:.1} s",
        if broker.is_tansu() {
            "tansu"
        } else {
            "external kafka"
        },
        outputs.alerts.len(),
        outputs.handovers.len(),
        outputs.merges.len(),
        outputs.dead_letters.len(),
        start.elapsed().as_secs_f64()
    );
}
