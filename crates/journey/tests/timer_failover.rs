//! Event-time timers survive the instance that holds them (issue 5): two
//! `journey run` processes in one consumer group on the mock cluster (a
//! Kafka-protocol broker on a loopback port, in the test process).
//!
//! 1. Instance A runs alone and takes refund promises due in 24 h (one
//!    unfulfilled customer `x…` and one later-fulfilled customer `y…` per
//!    stitch partition) plus unrelated customers' events at the same time,
//!    until the outputs equal the oracle's for that input: each promise is
//!    then in A's state and its timer in A's timers table and the changelog.
//! 2. Instance B joins; the partitions A still holds are read from B's log
//!    (the complement of what B restored). No `broken_promise` alert exists
//!    yet. A is SIGKILLed and B restores A's partitions from the changelogs.
//! 3. The `y…` customers get their refund before the due time (after the kill).
//! 4. Other customers' events 30 h later, on every stitch partition, move the
//!    watermark past the due time.
//!
//! Then every `x…` has exactly one live `broken_promise` alert, owned by
//! payments, equal to the single-threaded oracle's, no `y…` ever got one,
//! and all outputs equal the oracle's — the timers of A's partitions fired
//! on B, restored from the changelog.

#[path = "../../../tests/support/scenario.rs"]
mod scenario;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use journey_core::avro::{AvroCodec, Framing, RecordType};
use journey_core::fold::FoldOutput;
use journey_core::generate::RawRecord;
use journey_core::model::{Channel, JourneyAlert, Rule, SourceRef};
use journey_core::normalize::{normalize, Format, NormalizeConfig};
use journey_kafka::embedded::MockBroker;
use journey_kafka::io::read_topic;
use journey_kafka::outputs::Outputs;
use journey_kafka::{KafkaConfig, TopicsConfig};
use serde_json::{json, Value};

const APP: &str = "journey-timer";
const PARTITIONS: i32 = 6;
const HOUR_MS: i64 = 3_600_000;
/// 2026-11-10T09:00:00Z, when the promises are made.
const T0_MS: i64 = 1_794_301_200_000;

struct Instance {
    child: Child,
    log: PathBuf,
}

impl Instance {
    fn start(dir: &Path, bootstrap: &str, name: &str) -> Instance {
        let state = dir.join(format!("state-{name}"));
        let config = format!(
            "[kafka]\nbootstrap_servers = \"{bootstrap}\"\napplication_id = \"{APP}\"\nsession_timeout_ms = 6000\n\n\
             [topics]\npartitions = {PARTITIONS}\n\n[state]\ndir = \"{}\"\n\n[http]\nlisten = \"127.0.0.1:0\"\n",
            state.display()
        );
        let path = dir.join(format!("journey-{name}.toml"));
        std::fs::write(&path, config).expect("config written");
        let log = dir.join(format!("journey-{name}.log"));
        let file = std::fs::File::create(&log).expect("log");
        let child = Command::new(env!("CARGO_BIN_EXE_journey"))
            .args(["--log-format", "json", "run", "--config"])
            .arg(&path)
            .env("JOURNEY_LOG", "info")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("journey run starts");
        Instance { child, log }
    }

    /// The partition sets this instance restored from `changelog`, in log order.
    fn restores(&self, changelog: &str) -> Vec<BTreeSet<i32>> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| {
                l["fields"]["message"] == "state restored from changelog"
                    && l["fields"]["topic"] == changelog
            })
            .map(|l| {
                l["fields"]["partitions"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_matches(|c| c == '[' || c == ']')
                    .split(',')
                    .filter_map(|p| p.trim().parse().ok())
                    .collect()
            })
            .collect()
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_none()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One native-format raw record; keyed by the customer's email so that one
/// customer's records on one channel stay in order.
fn raw(channel: Channel, email: &str, mut body: Value) -> RawRecord {
    body["customer"] = json!({ "email": email });
    let event_time_ms = body["time"].as_i64().expect("time in epoch ms");
    RawRecord {
        channel,
        key: Some(email.to_string()),
        payload: serde_json::to_vec(&body).expect("json"),
        event_time_ms,
        truth: None,
        malformed: false,
    }
}

/// The stitch partition of a customer known by one email: the identity
/// stage labels a one-identifier component with the identifier's hash.
fn stitch_partition(email: &str) -> i32 {
    let r = raw(
        Channel::Web,
        email,
        json!({"id": "probe", "time": T0_MS, "type": "page_view"}),
    );
    let events = normalize(
        r.channel,
        Format::Native,
        &r.payload,
        &SourceRef::default(),
        &NormalizeConfig::default(),
    )
    .expect("probe normalises");
    (events[0].identifiers[0].hash64() % PARTITIONS as u64) as i32
}

/// One name `<prefix><n>` per stitch partition (index = partition).
fn one_per_partition(prefix: &str) -> Vec<String> {
    let mut names: Vec<Option<String>> = vec![None; PARTITIONS as usize];
    let mut n = 0;
    while names.iter().any(Option::is_none) {
        let name = format!("{prefix}{n}");
        let p = stitch_partition(&format!("{name}@example.de")) as usize;
        names[p].get_or_insert(name);
        n += 1;
    }
    names.into_iter().flatten().collect()
}

fn email(name: &str) -> String {
    format!("{name}@example.de")
}

/// The story a record belongs to: the prefix of its first evidence source id (`x3-1` → `x3`).
fn story(a: &JourneyAlert) -> &str {
    a.evidence
        .first()
        .map(|t| t.source_event_id.split('-').next().unwrap_or_default())
        .unwrap_or_default()
}

fn same_outputs(out: &Outputs, expected: &FoldOutput) -> bool {
    out.alerts == expected.alerts
        && out.handovers == expected.handovers
        && out.merges == expected.merges
        && out.dead_letters.is_empty()
}

/// Polls the outputs until they equal the oracle's for `records`.
fn wait_for_oracle(
    kafka: &KafkaConfig,
    topics: &TopicsConfig,
    records: &[RawRecord],
    timeout: Duration,
    what: &str,
    context: impl Fn() -> String,
) -> (Outputs, FoldOutput) {
    let (expected, bad) = scenario::expected(records);
    assert_eq!(bad, 0, "the test input is well-formed");
    let start = Instant::now();
    loop {
        let out = Outputs::read(kafka, topics, &Framing::SingleObject).expect("outputs readable");
        if same_outputs(&out, &expected) {
            return (out, expected);
        }
        assert!(
            start.elapsed() < timeout,
            "{what}: outputs did not equal the oracle's in {timeout:?}: alerts {:?} vs {:?}, handovers {}/{}, merges {}/{}, dead letters {}\n{}",
            out.alerts.iter().map(|a| (story(a), a.rule, a.status)).collect::<Vec<_>>(),
            expected.alerts.iter().map(|a| (story(a), a.rule, a.status)).collect::<Vec<_>>(),
            out.handovers.len(),
            expected.handovers.len(),
            out.merges.len(),
            expected.merges.len(),
            out.dead_letters.len(),
            context()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Polls until `cond` holds; panics after `timeout` with `what` and `context()`.
fn wait_until(
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
    context: impl Fn() -> String,
) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < timeout,
            "{what} not within {timeout:?}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_pending_timer_fires_on_the_instance_that_takes_over_after_a_kill() {
    let began = Instant::now();
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
    let stitch_changelog = kafka.internal_topic("stitch-changelog");
    let identity_changelog = kafka.internal_topic("identity-changelog");
    let dir = tempfile::tempdir().expect("temp dir");

    // Index = stitch partition of that customer.
    let xs = one_per_partition("x"); // promised a refund, never paid
    let ys = one_per_partition("y"); // promised a refund, paid after 20 h
    let us = one_per_partition("u"); // unrelated, at the same time as the promises
    let vs = one_per_partition("v"); // unrelated, 30 h later: moves the watermark
                                     // Event times in epoch milliseconds (≥ 10^11), as the native format allows.
    let t = |h: f64| T0_MS + (h * HOUR_MS as f64) as i64;

    let mut before_kill = Vec::new();
    for name in xs.iter().chain(&ys) {
        let e = email(name);
        before_kill.push(raw(
            Channel::Web,
            &e,
            json!({"id": format!("{name}-1"), "time": t(0.0), "type": "promise", "topic": "refund",
                   "promise": {"kind": "refund", "within_hours": 24}}),
        ));
        // Asks in the store an hour later: a handover listing the pending promise,
        // so the outputs show that the promise reached the stitch stage.
        before_kill.push(raw(
            Channel::Store,
            &e,
            json!({"id": format!("{name}-2"), "time": t(1.0), "type": "visit", "topic": "refund"}),
        ));
    }
    for name in &us {
        let e = email(name);
        before_kill.push(raw(
            Channel::Web,
            &e,
            json!({"id": format!("{name}-1"), "time": t(0.25), "type": "page_view"}),
        ));
        before_kill.push(raw(
            Channel::Phone,
            &e,
            json!({"id": format!("{name}-2"), "time": t(0.5), "type": "call_started",
                   "interaction_id": format!("call-{name}"), "topic": "delivery"}),
        ));
    }
    let mut paid = Vec::new();
    for name in &ys {
        let e = email(name);
        paid.push(raw(
            Channel::Store,
            &e,
            json!({"id": format!("{name}-3"), "time": t(20.0), "type": "refund", "topic": "refund"}),
        ));
        // Back in the store: a handover without the (now fulfilled) promise.
        paid.push(raw(
            Channel::Store,
            &e,
            json!({"id": format!("{name}-4"), "time": t(21.0), "type": "visit", "topic": "refund"}),
        ));
    }
    let later: Vec<RawRecord> = vs
        .iter()
        .map(|name| {
            raw(
                Channel::Web,
                &email(name),
                json!({"id": format!("{name}-1"), "time": t(30.0), "type": "page_view"}),
            )
        })
        .collect();

    // 1. A alone takes the promises.
    let mut a = Instance::start(dir.path(), &kafka.bootstrap_servers, "a");
    scenario::produce(&kafka, &topics, &before_kill);
    let (_, expected) = wait_for_oracle(
        &kafka,
        &topics,
        &before_kill,
        Duration::from_secs(60),
        "A alone",
        || a.tail(),
    );
    for name in xs.iter().chain(&ys) {
        let h = expected
            .handovers
            .iter()
            .find(|h| h.trigger.source_event_id == format!("{name}-2"))
            .unwrap_or_else(|| panic!("handover for {name}-2"));
        assert_eq!(
            h.pending_promises.len(),
            1,
            "{name}'s handover lists the pending refund"
        );
    }
    assert!(
        expected
            .alerts
            .iter()
            .all(|a| a.rule != Rule::BrokenPromise),
        "no promise is due yet"
    );
    let processed = began.elapsed();

    // 2. B joins; then A, holding some of the timers, is killed.
    let mut b = Instance::start(dir.path(), &kafka.bootstrap_servers, "b");
    let logs = |a: &Instance, b: &Instance| format!("A:\n{}\n---\nB:\n{}", a.tail(), b.tail());
    wait_until(
        Duration::from_secs(60),
        "B joining the stitch and identity groups",
        || !b.restores(&stitch_changelog).is_empty() && !b.restores(&identity_changelog).is_empty(),
        || logs(&a, &b),
    );
    let all: BTreeSet<i32> = (0..PARTITIONS).collect();
    let held_by_a = |changelog: &str| -> BTreeSet<i32> {
        let b_holds = b.restores(changelog).pop().unwrap_or_default();
        all.difference(&b_holds).copied().collect()
    };
    let a_stitch = held_by_a(&stitch_changelog);
    let a_identity = held_by_a(&identity_changelog);
    assert!(
        !a_stitch.is_empty(),
        "A still holds stitch partitions after B joined"
    );
    let b_restores_before = (
        b.restores(&stitch_changelog).len(),
        b.restores(&identity_changelog).len(),
    );
    // The alerts right before the kill: no promise has broken yet.
    let out = Outputs::read(&kafka, &topics, &Framing::SingleObject).expect("outputs");
    assert!(
        out.alerts.iter().all(|a| a.rule != Rule::BrokenPromise),
        "no broken_promise before the kill: {:?}",
        out.alerts
    );
    assert!(a.alive(), "A is still running before the kill");
    let killed = Instant::now();
    a.kill();

    // B takes over A's stitch and identity partitions, restored from the changelogs.
    let taken_over = |changelog: &str, skip: usize, wanted: &BTreeSet<i32>| {
        let got: BTreeSet<i32> = b
            .restores(changelog)
            .into_iter()
            .skip(skip)
            .flatten()
            .collect();
        wanted.is_subset(&got)
    };
    wait_until(
        Duration::from_secs(45),
        "B taking over A's partitions",
        || {
            taken_over(&stitch_changelog, b_restores_before.0, &a_stitch)
                && taken_over(&identity_changelog, b_restores_before.1, &a_identity)
        },
        || logs(&a, &b),
    );
    let takeover = killed.elapsed();

    // 3. The y customers are paid before the due time.
    let mut records = before_kill.clone();
    scenario::produce(&kafka, &topics, &paid);
    records.extend(paid.iter().cloned());
    let (out, _) = wait_for_oracle(
        &kafka,
        &topics,
        &records,
        Duration::from_secs(30),
        "after the kill, refunds paid",
        || logs(&a, &b),
    );
    assert!(out.alerts.iter().all(|a| a.rule != Rule::BrokenPromise));

    // 4. Later events on every stitch partition move the watermark past the due time.
    let watermark_moved = Instant::now();
    scenario::produce(&kafka, &topics, &later);
    records.extend(later.iter().cloned());
    let (out, expected) = wait_for_oracle(
        &kafka,
        &topics,
        &records,
        Duration::from_secs(30),
        "watermark past the due time",
        || logs(&a, &b),
    );
    let (alerted, alerted_after_kill) = (watermark_moved.elapsed(), killed.elapsed());
    assert!(b.alive(), "B survived: {}", b.tail());

    let broken: Vec<&JourneyAlert> = out
        .alerts
        .iter()
        .filter(|a| a.rule == Rule::BrokenPromise)
        .collect();
    for (p, name) in xs.iter().enumerate() {
        let mine: Vec<&JourneyAlert> = broken
            .iter()
            .copied()
            .filter(|a| story(a) == name.as_str())
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "exactly one live broken_promise for {name} (stitch partition {p})"
        );
        let alert = mine[0];
        assert_eq!(alert.owner, "payments");
        assert_eq!(
            alert.fired_at_ms,
            T0_MS + 24 * HOUR_MS,
            "fired at the due time"
        );
        assert_eq!(alert.evidence[0].source_event_id, format!("{name}-1"));
        let oracle = expected
            .alerts
            .iter()
            .find(|a| a.alert_id == alert.alert_id)
            .unwrap_or_else(|| panic!("the oracle has {name}'s alert"));
        assert_eq!(alert, oracle, "{name}'s alert equals the oracle's");
    }
    assert_eq!(
        broken.len(),
        xs.len(),
        "broken promises only for the x customers"
    );

    // No y ever got a broken_promise, not even one later retracted or resolved.
    let codec = AvroCodec::new(RecordType::JourneyAlert, Framing::SingleObject);
    let ever: Vec<JourneyAlert> = read_topic(&kafka, &topics.alerts)
        .expect("alerts readable")
        .into_iter()
        .filter_map(|r| r.payload)
        .map(|bytes| codec.decode(&bytes).expect("alert decodes"))
        .collect();
    for name in &ys {
        assert!(
            !ever
                .iter()
                .any(|a| a.rule == Rule::BrokenPromise && story(a) == name.as_str()),
            "{name} was paid before the due time"
        );
    }
    let records_of_x = ever
        .iter()
        .filter(|a| a.rule == Rule::BrokenPromise)
        .count();

    let failed_over: Vec<&str> = a_stitch.iter().map(|&p| xs[p as usize].as_str()).collect();
    eprintln!(
        "timer failover: promises processed by A in {:.1} s; A held stitch partitions {a_stitch:?} \
         (timers of {failed_over:?}), identity {a_identity:?}; B took over {:.1} s after the kill; \
         {} broken_promise alerts ({} records) {:.1} s after the watermark events, {:.1} s after the kill; \
         total {:.1} s",
        processed.as_secs_f64(),
        takeover.as_secs_f64(),
        broken.len(),
        records_of_x,
        alerted.as_secs_f64(),
        alerted_after_kill.as_secs_f64(),
        began.elapsed().as_secs_f64(),
    );
}
