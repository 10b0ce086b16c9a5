//! The reliability suite (RELIABILITY-PLAN.md): `journey run` child processes
//! in one consumer group on the mock cluster (hosted in the test process),
//! fed by the seeded generator, while the test injects faults: SIGKILLs at
//! random moments (and `JOURNEY_FAULT` aborts at the stage loop's fault
//! sites), scaling 1 → 3 → 1, a SIGSTOPped zombie, a broker outage, request
//! errors, a slow broker with a member stalled past `max.poll.interval.ms`,
//! a poison corpus, duplicated and reordered input. After every scenario the
//! invariants I1–I7 are checked against the oracle
//! (tests/support/invariants.rs) and a one-line summary is printed.
//!
//! Bounded mode (part of `make test`): every scenario below but the soak.
//! Findings so far: a commit the broker rejected during a rebalance or outage
//! was never retried (faults 3, 5, 6: lag never returned to zero; fixed in
//! `crates/journey-kafka/src/progress.rs`), and a zombie that got its
//! partitions back kept re-committing its old offsets over the new owner's
//! (fault 4; the progress of revoked partitions is now forgotten), and a
//! zombie's stale changelog batch, written after the new owner's, reached a
//! fresh restore (fault 4, 1 run of 8: changelogs are now fenced by
//! ownership epochs, and a stage that notices its process was paused puts
//! its batch back unwritten).
//! Long mode (soak, many SIGKILLs):
//!
//! ```text
//! JOURNEY_SOAK=1 JOURNEY_SOAK_KILLS=300 cargo test --release -p journey \
//!     --test reliability -- --ignored --nocapture soak
//! ```
//! (`JOURNEY_SOAK_CUSTOMERS`, default 200, and `JOURNEY_SOAK_SEED` as well).
//!
//! `JOURNEY_RELIABILITY_FAULT` overrides the fault spec passed to the children
//! as `JOURNEY_FAULT` in the kill scenarios. Do not set `JOURNEY_FAULT` for
//! the test process itself: the fresh instance that restores the journeys
//! runs in the test process.
//!
//! Elsewhere: fault 11 (state write errors) in
//! `crates/journey-kafka/tests/fault_points.rs`, fault 12 (a broker that lost
//! data) in `offsets_backwards.rs` and `tansu_restart.rs`. Fault 3 runs on
//! the mock cluster only; the transactional mode is not exercised here (the
//! mock cluster does not honour transactions).

#[path = "../../../tests/support/instances.rs"]
mod instances;
#[path = "../../../tests/support/invariants.rs"]
mod invariants;
#[path = "../../../tests/support/scenario.rs"]
mod scenario;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use instances::{FaultEnv, Fleet};
use invariants::{Check, RawOutputs};
use journey_core::fold::FoldOutput;
use journey_core::generate::{generate, GeneratorConfig, RawRecord};
use journey_core::model::{Channel, SourceRef};
use journey_core::normalize::{normalize, Format, NormalizeConfig};
use journey_kafka::embedded::MockBroker;
use journey_kafka::{KafkaConfig, TopicsConfig};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const PARTITIONS: i32 = 6;
const RAW_PARTITIONS: i32 = 3;
/// How long the outputs may take to equal the oracle after the last fault.
const CONVERGE: Duration = Duration::from_secs(150);
/// I6: the lag must be zero this long after the last fault at the latest.
const LAG_BOUND: Duration = Duration::from_secs(90);
/// The default fault spec for the kill scenarios (per batch and site).
const FAULT_SPEC: &str =
    "after_poll:0.003,after_process:0.003,after_produce:0.003,after_state_write:0.003,before_commit:0.003";

/// One scenario at a time: each runs several processes on a 2-core budget.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    assert!(
        std::env::var_os("JOURNEY_FAULT").is_none(),
        "JOURNEY_FAULT is set for the test process, whose in-process restore would abort; \
         use JOURNEY_RELIABILITY_FAULT to change what the children get"
    );
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn fault_env(seed: u64) -> FaultEnv {
    FaultEnv {
        spec: std::env::var("JOURNEY_RELIABILITY_FAULT").unwrap_or_else(|_| FAULT_SPEC.into()),
        seed,
        stall_ms: None,
    }
}

/// One scenario: a mock cluster, its topics, instances, what was produced.
struct Run {
    // Dropped first: the children die before their broker and folder go.
    fleet: Fleet,
    dir: tempfile::TempDir,
    broker: MockBroker,
    kafka: KafkaConfig,
    topics: TopicsConfig,
    name: String,
    seed: u64,
    started: Instant,
    produced: usize,
}

impl Run {
    fn new(name: &str, seed: u64) -> Run {
        Self::on_brokers(name, seed, 1)
    }

    /// A scenario on a mock cluster of `brokers` brokers.
    fn on_brokers(name: &str, seed: u64, brokers: i32) -> Run {
        let broker = MockBroker::start_brokers(brokers).expect("mock cluster");
        let app = "journey-rel";
        let kafka = KafkaConfig {
            bootstrap_servers: broker.bootstrap(),
            application_id: app.into(),
            session_timeout_ms: 6_000,
            ..KafkaConfig::default()
        };
        let topics = TopicsConfig {
            partitions: PARTITIONS,
            ..TopicsConfig::default()
        };
        broker
            .create_pipeline_topics(&kafka, &topics, RAW_PARTITIONS)
            .expect("topics");
        let dir = tempfile::Builder::new()
            .prefix(&format!("reliability-{name}-"))
            .tempdir()
            .expect("temp dir");
        let fleet = Fleet::new(dir.path(), &kafka.bootstrap_servers, app, PARTITIONS);
        eprintln!(
            "[{name}] seed {seed}, logs and state in {}",
            dir.path().display()
        );
        Run {
            fleet,
            dir,
            broker,
            kafka,
            topics,
            name: name.to_string(),
            seed,
            started: Instant::now(),
            produced: 0,
        }
    }

    fn produce(&mut self, records: &[RawRecord]) {
        if !records.is_empty() {
            self.produced += scenario::produce(&self.kafka, &self.topics, records) as usize;
        }
    }

    /// Ends the fault phase, waits for convergence, stops the instances and
    /// checks I1–I7 (plus `extra` checks); prints the summary line and panics
    /// with the failed invariants and the instances' log tails.
    fn finish(
        mut self,
        expected: &FoldOutput,
        dead_letters: usize,
        mut last_fault: Instant,
        extra: impl FnOnce(&RawOutputs) -> Vec<Check>,
    ) -> RawOutputs {
        // Fault injection ends with the fault phase: a rolling clean restart
        // without JOURNEY_FAULT (otherwise aborts would go on forever).
        if self.fleet.fault.take().is_some() {
            for n in self.fleet.running() {
                self.fleet.terminate(n, Duration::from_secs(40));
                self.fleet.start(n);
            }
            last_fault = Instant::now();
        }
        // Convergence (I3 is checked on the final read below).
        let mut converged = None;
        while last_fault.elapsed() < CONVERGE {
            let latest = invariants::read_outputs(&self.kafka, &self.topics).latest();
            if invariants::outputs_match(&latest, expected, dead_letters) {
                converged = Some(last_fault.elapsed());
                break;
            }
            self.fleet.sleep_supervised(Duration::from_millis(500));
        }
        let mut checks = Vec::new();
        let fleet = &mut self.fleet;
        checks.push(invariants::i6_lag_returns_to_zero(
            &self.kafka,
            &self.topics,
            last_fault,
            LAG_BOUND,
            || {
                fleet.supervise();
            },
        ));
        let raw = invariants::read_outputs(&self.kafka, &self.topics);
        let latest = raw.latest();
        checks.push(invariants::i3_outputs(&latest, expected, dead_letters));
        if !checks[0].ok && checks[1].ok {
            checks[0].detail.push_str(
                " (the outputs equal the oracle's, so these records were processed: \
                 the committed offsets stayed behind)",
            );
        }
        checks.push(invariants::i4_repeats_identical(&raw, &self.topics));
        checks.extend(extra(&raw));
        let counts = self.fleet.counts;
        self.fleet.terminate_all(Duration::from_secs(40));
        let state_dirs: Vec<_> = (0..self.fleet.slots.len())
            .map(|n| self.fleet.state_dir(n))
            .collect();
        checks.push(invariants::i7_committed_not_ahead(
            &self.kafka,
            &self.topics,
            &state_dirs,
        ));
        let (journeys, restore) = invariants::restore_journeys(
            &self.kafka,
            &self.topics,
            &self.dir.path().join("state-fresh"),
            &expected.customers,
            Duration::from_secs(90),
        );
        checks.push(invariants::i1_no_loss(expected, &journeys));
        checks.push(invariants::i2_applied_once(expected, &journeys));
        checks.push(invariants::i5_order(&journeys, &raw, &self.topics));
        checks.sort_by_key(|c| c.name);

        let verdicts: Vec<String> = checks
            .iter()
            .map(|c| format!("{} {}", c.name, if c.ok { "ok" } else { "FAILED" }))
            .collect();
        eprintln!(
            "[reliability] {} seed={}: {} raw records, {} customers, {} output records read; \
             kills {}, fault exits {}, liveness restarts {}, starts {}; {:.1} s total, \
             converged {} after the last fault, restore {:.1} s | {}",
            self.name,
            self.seed,
            self.produced,
            expected.customers.len(),
            raw.total(),
            counts.kills,
            counts.exits,
            counts.liveness_restarts,
            counts.starts,
            self.started.elapsed().as_secs_f64(),
            converged.map_or("never".into(), |d| format!("{:.1} s", d.as_secs_f64())),
            restore.as_secs_f64(),
            verdicts.join(" | ")
        );
        for c in &checks {
            eprintln!("    {}: {}", c.name, c.detail);
        }
        let failed: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
        if !failed.is_empty() {
            // Keep logs and state for the post-mortem.
            self.dir.disable_cleanup(true);
            let tails = self.fleet.log_tails(25);
            panic!(
                "{} (seed {}): invariants broken (logs and state kept in {}):\n{}\n{tails}",
                self.name,
                self.seed,
                self.dir.path().display(),
                failed
                    .iter()
                    .map(|c| format!("  {}: {}", c.name, c.detail))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        raw
    }
}

fn generated(seed: u64, customers: usize) -> Vec<RawRecord> {
    generate(&GeneratorConfig {
        seed,
        customers,
        malformed_per_mille: 10,
        ..GeneratorConfig::default()
    })
    .records
}

/// Fault 1: the same input twice, on fresh brokers: the live outputs (latest
/// revision of every id, unless retracted) are byte-identical between the
/// runs (and equal the oracle); the dead letters carry the same bytes.
#[test]
fn f01_run_twice_identical_outputs() {
    let _serial = serial();
    let seed = 101;
    let records = generated(seed, 80);
    let (expected, bad) = scenario::expected(&records);
    let mut outputs = Vec::new();
    for run in 1..=2 {
        let mut r = Run::new(&format!("f01_run_twice_{run}"), seed);
        r.fleet.start(0);
        r.produce(&records);
        outputs.push(r.finish(&expected, bad, Instant::now(), |_| vec![]));
    }
    let topics = TopicsConfig::default();
    let view = |o: &RawOutputs| {
        // The live outputs (latest revision not retracted). Which transient
        // outputs were emitted and then retracted depends on the order the
        // stitch stage sees events in, which differs between runs (18 raw
        // partitions polled concurrently): they are counted, not compared.
        let ids = |rs| {
            invariants::latest_payloads(rs)
                .into_iter()
                .filter_map(|(id, (_, payload))| Some((id, payload?)))
                .collect::<BTreeMap<_, _>>()
        };
        let mut dead: Vec<(Option<Vec<u8>>, String)> = o
            .dlq
            .iter()
            .map(|r| {
                (
                    r.payload.clone(),
                    r.header(invariants::H_DLQ_REASON)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default(),
                )
            })
            .collect();
        dead.sort();
        dead.dedup();
        (ids(&o.handover), ids(&o.alerts), ids(&o.merges), dead)
    };
    let (a, b) = (view(&outputs[0]), view(&outputs[1]));
    assert_eq!(
        a.0, b.0,
        "{}: handovers differ between the runs",
        topics.handover
    );
    assert_eq!(
        a.1, b.1,
        "{}: alerts differ between the runs",
        topics.alerts
    );
    assert_eq!(
        a.2, b.2,
        "{}: merges differ between the runs",
        topics.merges
    );
    assert_eq!(a.3, b.3, "dead letters differ between the runs");
    let retracted = |o: &RawOutputs| {
        [&o.handover, &o.alerts, &o.merges]
            .into_iter()
            .flat_map(|rs| invariants::latest_payloads(rs).into_values())
            .filter(|(_, p)| p.is_none())
            .count()
    };
    eprintln!(
        "[reliability] f01_run_twice: {} handover, {} alert, {} merge ids and {} dead letters byte-identical between the runs \
         (ids emitted then retracted: {} in run 1, {} in run 2)",
        a.0.len(),
        a.1.len(),
        a.2.len(),
        a.3.len(),
        retracted(&outputs[0]),
        retracted(&outputs[1])
    );
}

/// Faults 2 and 10: `kills` SIGKILLs of a random instance at random moments
/// while the stream is produced, children restarted after a random pause;
/// the children also get `JOURNEY_FAULT` (aborts at the stage loop's fault
/// sites, when the binary supports it) and are restarted when they exit.
fn random_kills(name: &str, seed: u64, customers: usize, kills: usize) {
    let records = generated(seed, customers);
    let (expected, bad) = scenario::expected(&records);
    let mut r = Run::new(name, seed);
    r.fleet.fault = Some(fault_env(seed * 1_000));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for n in 0..3 {
        r.fleet.start(n);
    }
    let chunk = records.len().div_ceil(kills.max(1)).max(1);
    let mut last_fault = Instant::now();
    for (i, part) in records.chunks(chunk).enumerate() {
        r.produce(part);
        r.fleet
            .sleep_supervised(Duration::from_millis(rng.gen_range(200..1_200)));
        if i < kills {
            let running = r.fleet.running();
            let n = *running.choose(&mut rng).expect("an instance runs");
            r.fleet.kill(n);
            last_fault = Instant::now();
            r.fleet
                .sleep_supervised(Duration::from_millis(rng.gen_range(0..1_500)));
            r.fleet.start(n);
        }
    }
    // Fewer chunks than kills (tiny inputs): the rest after the stream.
    while r.fleet.counts.kills < kills {
        let running = r.fleet.running();
        let n = *running.choose(&mut rng).expect("an instance runs");
        r.fleet.kill(n);
        last_fault = Instant::now();
        r.fleet
            .sleep_supervised(Duration::from_millis(rng.gen_range(0..1_500)));
        r.fleet.start(n);
    }
    r.finish(&expected, bad, last_fault, |_| vec![]);
}

#[test]
fn f02_random_sigkills() {
    let _serial = serial();
    random_kills("f02_random_sigkills", 202, 150, 20);
}

/// Fault 3: one instance, then three, then one again, while producing.
#[test]
fn f03_scale_1_3_1() {
    let _serial = serial();
    let seed = 303;
    let records = generated(seed, 150);
    let (expected, bad) = scenario::expected(&records);
    let mut r = Run::new("f03_scale_1_3_1", seed);
    let parts: Vec<&[RawRecord]> = records.chunks(records.len().div_ceil(6)).collect();
    r.fleet.start(0);
    r.produce(parts[0]);
    r.fleet.sleep_supervised(Duration::from_secs(2));
    r.fleet.start(1);
    r.produce(parts[1]);
    r.fleet.start(2);
    r.produce(parts[2]);
    r.fleet.sleep_supervised(Duration::from_secs(5));
    r.produce(parts[3]);
    r.fleet.terminate(1, Duration::from_secs(40));
    r.produce(parts[4]);
    r.fleet.terminate(2, Duration::from_secs(40));
    let last_fault = Instant::now();
    r.produce(parts.get(5).copied().unwrap_or_default());
    r.finish(&expected, bad, last_fault, |_| vec![]);
}

/// Fault 4: a zombie. An instance stops itself (SIGSTOP, fault site
/// `freeze`) at the worst moment: with a processed batch in hand, after it
/// checked that it still holds its partitions and before it writes anything.
/// It stays stopped past the session timeout while the stream goes on and
/// the group gives its partitions to the others, then gets SIGCONT, when
/// its consumer does not know yet that it lost them. It must notice the pause and put its batch back unwritten
/// ("zombie stopped"); the final state (I1, I2 through the fresh restore),
/// outputs (I3, I4) and offsets (I6, I7) must equal the oracle's. (Changelog
/// records a zombie writes anyway are fenced by the new owner's epoch:
/// `crates/journey-kafka/src/changelog_tests.rs`.)
#[test]
fn f04_zombie_sigstop() {
    let _serial = serial();
    let seed = 404;
    let records = generated(seed, 150);
    let (expected, bad) = scenario::expected(&records);
    let mut r = Run::new("f04_zombie_sigstop", seed);
    let parts: Vec<&[RawRecord]> = records.chunks(records.len().div_ceil(6)).collect();
    r.fleet.start(0);
    r.fleet.start(2);
    r.fleet.sleep_supervised(Duration::from_secs(2));
    // Only instance 1 freezes (the environment is read when a child starts).
    r.fleet.fault = Some(FaultEnv {
        spec: "freeze:0.5".into(),
        seed,
        stall_ms: None,
    });
    r.fleet.start(1);
    r.fleet.fault = None;
    r.fleet.sleep_supervised(Duration::from_secs(3));
    r.produce(parts[0]);
    assert!(
        r.fleet.wait_frozen(1, Duration::from_secs(60)),
        "instance 1 never reached the freeze site with a batch\n{}",
        r.fleet.log_tails(30)
    );
    let paused = Instant::now();
    for p in &parts[1..5] {
        r.produce(p);
        r.fleet.sleep_supervised(Duration::from_secs(2));
    }
    // Session timeout 6 s: well past it.
    r.fleet
        .sleep_supervised(Duration::from_secs(12).saturating_sub(paused.elapsed()));
    r.fleet.resume(1);
    let last_fault = Instant::now();
    r.produce(parts.get(5).copied().unwrap_or_default());
    let kafka = r.kafka.clone();
    let log = r.fleet.log_path(1);
    r.finish(&expected, bad, last_fault, |_| {
        vec![zombie_stopped(
            &std::fs::read_to_string(log).unwrap_or_default(),
            &kafka,
        )]
    });
}

/// The scenario's own check: the zombie noticed its pause and put its batch
/// back unwritten. Changelog records it wrote anyway (a pause during its
/// produce) would be outside the epoch in force: counted, for the record;
/// readers ignore them (`changelog_tests.rs`).
fn zombie_stopped(log: &str, kafka: &KafkaConfig) -> invariants::Check {
    let mut fenced = 0;
    for name in ["identity-changelog", "stitch-changelog"] {
        let records =
            journey_kafka::io::read_topic(kafka, &kafka.internal_topic(name)).expect("changelog");
        let mut epoch: BTreeMap<i32, Vec<u8>> = BTreeMap::new();
        for rec in records {
            match rec.key.as_deref() {
                // An epoch record: 0xFD ‖ id.
                Some([0xFD, id @ ..]) => {
                    epoch.insert(rec.partition, id.to_vec());
                }
                _ => {
                    let writer = rec.header("js.epoch");
                    if writer.is_some() && writer != epoch.get(&rec.partition).map(Vec::as_slice) {
                        fenced += 1;
                    }
                }
            }
        }
    }
    let put_back = log
        .matches("process was paused while processing: batch put back unwritten")
        .count();
    invariants::Check {
        name: "zombie stopped",
        ok: put_back > 0,
        detail: format!(
            "the paused instance put {put_back} batch(es) back unwritten; \
             {fenced} changelog records were written outside the epoch in force"
        ),
    }
}

/// Fault 5: the broker refuses every connection for ~10 s while records are
/// being produced, then comes back.
#[test]
fn f05_broker_outage() {
    let _serial = serial();
    let seed = 505;
    let records = generated(seed, 150);
    let (expected, bad) = scenario::expected(&records);
    let mut r = Run::new("f05_broker_outage", seed);
    r.fleet.start(0);
    r.fleet.start(1);
    let (first, rest) = records.split_at(records.len() / 2);
    let (during, after) = rest.split_at(rest.len() / 2);
    r.produce(first);
    r.fleet.sleep_supervised(Duration::from_secs(4));
    let (kafka, topics) = (r.kafka.clone(), r.topics.clone());
    let last_fault = std::thread::scope(|s| {
        r.broker.cluster().broker_down(-1).expect("broker down");
        let producer = s.spawn(|| scenario::produce(&kafka, &topics, during));
        r.fleet.sleep_supervised(Duration::from_secs(10));
        r.broker.cluster().broker_up(-1).expect("broker up");
        let up = Instant::now();
        r.produced += producer.join().expect("producer thread") as usize;
        up
    });
    r.produce(after);
    r.finish(&expected, bad, last_fault, |_| vec![]);
}

/// Fault 6: request errors on OffsetCommit, Produce and Heartbeat (and
/// transport drops on them), in rounds while producing.
#[test]
fn f06_request_errors() {
    let _serial = serial();
    let seed = 606;
    let records = generated(seed, 150);
    let (expected, bad) = scenario::expected(&records);
    let mut r = Run::new("f06_request_errors", seed);
    r.fleet.start(0);
    r.fleet.start(1);
    r.fleet.sleep_supervised(Duration::from_secs(3));
    use RDKafkaRespErr::*;
    let rounds: [(RDKafkaApiKey, Vec<RDKafkaRespErr>); 3] = [
        (
            RDKafkaApiKey::OffsetCommit,
            vec![
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                RD_KAFKA_RESP_ERR__TRANSPORT,
                RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
            ],
        ),
        (
            RDKafkaApiKey::Produce,
            vec![
                RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
                RD_KAFKA_RESP_ERR__TRANSPORT,
                RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            ],
        ),
        (
            RDKafkaApiKey::Heartbeat,
            vec![
                RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
                RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
                RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
                RD_KAFKA_RESP_ERR__TRANSPORT,
            ],
        ),
    ];
    let parts: Vec<&[RawRecord]> = records.chunks(records.len().div_ceil(6)).collect();
    let mut last_fault = Instant::now();
    for (i, part) in parts.iter().enumerate() {
        r.produce(part);
        if i < 5 {
            // Each error is used by the next request of that kind, whichever client sends it.
            for (api, errors) in &rounds {
                r.broker.cluster().request_errors(*api, &errors.repeat(2));
            }
            last_fault = Instant::now();
        }
        r.fleet.sleep_supervised(Duration::from_secs(2));
    }
    for (api, _) in &rounds {
        r.broker.cluster().clear_request_errors(*api);
    }
    r.finish(&expected, bad, last_fault, |_| vec![]);
}

/// Fault 7: a slow broker (300 ms per request for a while) and a member that
/// stops polling past `max.poll.interval.ms` (18 s here) while its process
/// lives and heartbeats: the `stall` fault site holds one stage of instance 1
/// for 25 s between processing a batch and writing it. The group moves that
/// stage's partitions; the batch it wakes up with belongs to a lost
/// assignment and must be discarded unwritten, not land in the changelog
/// behind the new owner's writes.
#[test]
fn f07_slow_broker_and_stalled_member() {
    let _serial = serial();
    let seed = 707;
    let records = generated(seed, 150);
    let (expected, bad) = scenario::expected(&records);
    let mut r = Run::new("f07_slow_broker_and_stalled_member", seed);
    let parts: Vec<&[RawRecord]> = records.chunks(records.len().div_ceil(6)).collect();
    r.fleet.start(0);
    r.fleet.start(2);
    r.fleet.sleep_supervised(Duration::from_secs(3));
    r.produce(parts[0]);
    r.fleet.sleep_supervised(Duration::from_secs(2));
    // Only instance 1 stalls (the environment is read when a child starts).
    r.fleet.fault = Some(FaultEnv {
        spec: "stall:1".into(),
        seed,
        stall_ms: Some(25_000),
    });
    r.fleet.start(1);
    r.fleet.fault = None;
    r.fleet.sleep_supervised(Duration::from_secs(2));
    r.produce(parts[1]);
    // The slow broker, while the stalled member's partitions move.
    r.broker
        .cluster()
        .broker_round_trip_time(1, Duration::from_millis(300))
        .expect("round-trip time set");
    r.produce(parts[2]);
    r.fleet.sleep_supervised(Duration::from_secs(8));
    r.broker
        .cluster()
        .broker_round_trip_time(1, Duration::ZERO)
        .expect("round-trip time reset");
    r.produce(parts[3]);
    // The stall ends ~25 s after instance 1's first batch; its stale batch is discarded.
    let log = r.fleet.log_path(1);
    let discarded = |log: &std::path::Path| {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains("assignment lost while processing: batch discarded unwritten")
    };
    let waiting = Instant::now();
    while !discarded(&log) && waiting.elapsed() < Duration::from_secs(60) {
        r.fleet.sleep_supervised(Duration::from_millis(500));
    }
    assert!(
        discarded(&log),
        "instance 1 stalled past max.poll.interval.ms but never discarded its stale batch \
         (log {})",
        log.display()
    );
    let last_fault = Instant::now();
    r.produce(parts[4]);
    r.produce(parts.get(5).copied().unwrap_or_default());
    r.finish(&expected, bad, last_fault, |_| vec![]);
}

/// One poison record: where it goes and what it is.
struct Poison {
    channel: Channel,
    what: &'static str,
    key: Option<Vec<u8>>,
    payload: Option<Vec<u8>>,
}

/// The poison corpus for every channel: invalid JSON, invalid UTF-8, a huge
/// payload (~1 MB on one topic, 300 kB on the others: the mock cluster keeps
/// 5 MB per partition and dead letters may share one), deep nesting, a null
/// key with a null value, an empty value, wrong types. Every payload is
/// unique (a marker), so its dead letter can be found by its bytes.
fn poison_corpus() -> Vec<Poison> {
    let mut out = Vec::new();
    for (i, &channel) in Channel::ALL.iter().enumerate() {
        let mark = format!("poison-{channel}");
        let huge_len = if i == 0 { 980_000 } else { 300_000 };
        let mut invalid_utf8 = format!(r#"{{"type":"x","id":"{mark}-utf8","text":""#).into_bytes();
        invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
        invalid_utf8.extend_from_slice(br#""}"#);
        let mut huge = format!(r#"{{"id":"{mark}-huge","text":""#).into_bytes();
        huge.resize(huge_len, b'a');
        let depth = 100_000;
        let mut deep = format!(r#"{{"id":"{mark}-deep","x":"#).into_bytes();
        deep.extend(std::iter::repeat_n(b'[', depth));
        deep.extend(std::iter::repeat_n(b']', depth));
        deep.push(b'}');
        type Case = (&'static str, Option<Vec<u8>>, Option<Vec<u8>>); // (what, key, value)
        let cases: Vec<Case> = vec![
            (
                "invalid JSON",
                Some(b"k".to_vec()),
                Some(format!(r#"{{"type": "chat_started", "id": "{mark}-json", "#).into_bytes()),
            ),
            ("invalid UTF-8", Some(b"k".to_vec()), Some(invalid_utf8)),
            ("huge payload", Some(b"k".to_vec()), Some(huge)),
            ("deep nesting", None, Some(deep)),
            ("null key and null value", None, None),
            ("empty value", Some(b"empty".to_vec()), Some(Vec::new())),
            (
                "wrong types",
                None,
                Some(
                    format!(
                        r#"{{"type": 17, "id": ["{mark}-types"], "time": {{"a": 1}}, "customer": {{"email": 5}}}}"#
                    )
                    .into_bytes(),
                ),
            ),
        ];
        for (what, key, payload) in cases {
            out.push(Poison {
                channel,
                what,
                key,
                payload,
            });
        }
    }
    out
}

fn raw_topic(topics: &TopicsConfig, c: Channel) -> String {
    topics
        .raw
        .iter()
        .find(|r| r.channel == c)
        .map(|r| r.topic.clone())
        .expect("raw topic")
}

fn produce_poison(kafka: &KafkaConfig, topics: &TopicsConfig, corpus: &[Poison]) {
    let producer: BaseProducer = kafka
        .producer_config()
        .set("message.max.bytes", "2000000")
        .create()
        .expect("producer");
    for p in corpus {
        let topic = raw_topic(topics, p.channel);
        let mut rec = BaseRecord::<[u8], [u8]>::to(&topic);
        if let Some(k) = &p.key {
            rec = rec.key(k.as_slice());
        }
        if let Some(v) = &p.payload {
            rec = rec.payload(v.as_slice());
        }
        producer
            .send(rec)
            .map_err(|(e, _)| e)
            .expect("poison queued");
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("poison acknowledged");
}

/// Fault 8: a poison corpus on every raw topic, amid ordinary traffic: no
/// panic, no stall (the ordinary records still equal the oracle), exactly one
/// dead letter per poison record.
#[test]
fn f08_poison_corpus() {
    let _serial = serial();
    let seed = 808;
    let records = generated(seed, 120);
    let (expected, bad) = scenario::expected(&records);
    let corpus = poison_corpus();
    for p in &corpus {
        if let Some(payload) = &p.payload {
            for format in [Format::Native, Format::Auto] {
                assert!(
                    normalize(
                        p.channel,
                        format,
                        payload,
                        &SourceRef::default(),
                        &NormalizeConfig::default()
                    )
                    .is_err(),
                    "poison {} on {} is accepted by normalize ({format:?})",
                    p.what,
                    p.channel
                );
            }
        }
    }
    let mut r = Run::new("f08_poison_corpus", seed);
    r.fleet.start(0);
    let (first, second) = records.split_at(records.len() / 2);
    r.produce(first);
    produce_poison(&r.kafka, &r.topics, &corpus);
    r.produced += corpus.len();
    r.produce(second);
    let topics = r.topics.clone();
    r.finish(&expected, bad + corpus.len(), Instant::now(), |raw| {
        let mut problems = Vec::new();
        for p in &corpus {
            let topic = raw_topic(&topics, p.channel);
            let n = raw
                .dlq
                .iter()
                .filter(|d| {
                    d.header(invariants::H_SRC_TOPIC) == Some(topic.as_bytes())
                        // librdkafka may deliver an empty value as null.
                        && d.payload.as_deref().unwrap_or_default()
                            == p.payload.as_deref().unwrap_or_default()
                        && d.key == p.key
                })
                .count();
            if n != 1 {
                problems.push(format!("{} on {topic}: {n} dead letters", p.what));
            }
        }
        vec![Check {
            name: "F8 one dead letter per poison record",
            ok: problems.is_empty(),
            detail: if problems.is_empty() {
                format!("{} poison records, one dead letter each", corpus.len())
            } else {
                problems.join("; ")
            },
        }]
    });
}

/// Duplicates and bounded reordering across topics: about 10 % of the records
/// are produced twice (some right after the original, some up to 80 records
/// later), and every record moves up to `window` places.
fn duplicate_and_reorder(records: &[RawRecord], seed: u64, window: usize) -> Vec<RawRecord> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut keyed: Vec<(f64, RawRecord)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        keyed.push((i as f64 + rng.gen_range(0.0..window as f64), r.clone()));
        if rng.gen_bool(0.1) {
            let later = if rng.gen_bool(0.5) {
                0.5
            } else {
                rng.gen_range(1.0..80.0)
            };
            keyed.push((i as f64 + later, r.clone()));
        }
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    keyed.into_iter().map(|(_, r)| r).collect()
}

/// Faults 5 and 6, the moving parts: on a three-broker cluster, every
/// partition's leader and the three consumer groups' coordinators move to
/// another broker, five times while the stream is produced.
#[test]
fn f05_f06_leaders_and_coordinators_move() {
    use rdkafka::mocking::MockCoordinator;
    let _serial = serial();
    let seed = 565;
    let records = generated(seed, 150);
    let (expected, bad) = scenario::expected(&records);
    let mut r = Run::on_brokers("f05_f06_leaders_and_coordinators_move", seed, 3);
    for n in 0..3 {
        r.fleet.start(n);
    }
    let topics = journey_kafka::embedded::pipeline_topics(&r.kafka, &r.topics, RAW_PARTITIONS);
    let parts: Vec<&[RawRecord]> = records.chunks(records.len().div_ceil(6)).collect();
    let mut last_fault = Instant::now();
    for (round, part) in parts.iter().enumerate() {
        r.produce(part);
        r.fleet.sleep_supervised(Duration::from_secs(2));
        if round < 5 {
            let cluster = r.broker.cluster();
            for (topic, partitions) in &topics {
                for p in 0..*partitions {
                    let to = 1 + (p + round as i32 + 1) % 3;
                    cluster
                        .partition_leader(topic, p, Some(to))
                        .expect("leader moved");
                }
            }
            for stage in ["normalise", "identity", "stitch"] {
                cluster
                    .coordinator(
                        MockCoordinator::Group(format!("{}.{stage}", r.kafka.application_id)),
                        1 + (round as i32 + 1) % 3,
                    )
                    .expect("coordinator moved");
            }
            last_fault = Instant::now();
        }
    }
    r.finish(&expected, bad, last_fault, |_| vec![]);
}

/// Fault 9: duplicated and reordered input: the result equals the oracle of
/// the deduplicated input (every raw copy of a bad record is its own dead letter).
#[test]
fn f09_duplicates_and_reordering() {
    let _serial = serial();
    let seed = 909;
    let records = generated(seed, 150);
    let (expected, _) = scenario::expected(&records);
    let input = duplicate_and_reorder(&records, seed, 40);
    let (_, bad) = scenario::expected(&input);
    assert!(input.len() > records.len(), "duplicates were added");
    let mut r = Run::new("f09_duplicates_and_reordering", seed);
    r.fleet.start(0);
    r.fleet.start(1);
    for part in input.chunks(input.len().div_ceil(4)) {
        r.produce(part);
        r.fleet.sleep_supervised(Duration::from_secs(1));
    }
    r.finish(&expected, bad, Instant::now(), |_| vec![]);
}

/// Long mode: many SIGKILLs (faults 2/10). Not part of `make test`.
#[test]
#[ignore = "soak: JOURNEY_SOAK=1 JOURNEY_SOAK_KILLS=300 cargo test --release -p journey --test reliability -- --ignored --nocapture soak"]
fn soak_random_sigkills() {
    if std::env::var("JOURNEY_SOAK").as_deref() != Ok("1") {
        eprintln!("soak_random_sigkills: set JOURNEY_SOAK=1 (and JOURNEY_SOAK_KILLS, default 300) to run the soak");
        return;
    }
    let _serial = serial();
    let num = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    random_kills(
        "soak_random_sigkills",
        num("JOURNEY_SOAK_SEED", 1_000),
        num("JOURNEY_SOAK_CUSTOMERS", 200) as usize,
        num("JOURNEY_SOAK_KILLS", 300) as usize,
    );
}

/// The invariant checks themselves fail on violations (no broker needed):
/// a lost event, an event applied twice, a missing alert, a repeated output
/// with other bytes, a revision going backwards, touchpoints out of order.
#[test]
fn invariant_checks_catch_violations() {
    use journey_kafka::io::ReadRecord;
    let records = generated(7, 40);
    let (expected, bad) = scenario::expected(&records);
    let good = expected.customers.clone();
    assert!(invariants::i1_no_loss(&expected, &good).ok);
    assert!(invariants::i2_applied_once(&expected, &good).ok);
    let who = good
        .iter()
        .position(|c| c.touchpoints.len() >= 2)
        .expect("a customer with two touchpoints");

    let mut lost = good.clone();
    lost[who].touchpoints.pop();
    assert!(
        !invariants::i1_no_loss(&expected, &lost).ok,
        "I1 misses a lost event"
    );

    let mut twice = good.clone();
    let t = twice[who].touchpoints[0].clone();
    twice[who].touchpoints.push(t);
    assert!(
        !invariants::i2_applied_once(&expected, &twice).ok,
        "I2 misses a double application"
    );

    let latest = invariants::Latest {
        handovers: expected.handovers.clone(),
        alerts: expected.alerts.clone(),
        merges: expected.merges.clone(),
        dead_letters: (0..bad as i64)
            .map(|o| ("cx.raw.chat".to_string(), 0, o))
            .collect(),
    };
    assert!(invariants::i3_outputs(&latest, &expected, bad).ok);
    let mut short = latest.clone();
    assert!(!short.alerts.is_empty() || !short.handovers.is_empty());
    short.alerts.pop();
    short.handovers.pop();
    assert!(
        !invariants::i3_outputs(&short, &expected, bad).ok,
        "I3 misses a missing output"
    );
    assert!(
        !invariants::i3_outputs(&latest, &expected, bad + 1).ok,
        "I3 misses a missing dead letter"
    );

    let topics = TopicsConfig::default();
    let rec = |offset: i64, rev: &str, payload: &[u8]| ReadRecord {
        partition: 0,
        offset,
        key: Some(b"c".to_vec()),
        payload: Some(payload.to_vec()),
        headers: vec![
            (invariants::H_ID.into(), b"a1".to_vec()),
            (invariants::H_REVISION.into(), rev.as_bytes().to_vec()),
        ],
    };
    let same = RawOutputs {
        alerts: vec![rec(0, "1", b"x"), rec(1, "1", b"x"), rec(2, "2", b"y")],
        ..RawOutputs::default()
    };
    assert!(invariants::i4_repeats_identical(&same, &topics).ok);
    assert!(invariants::i5_order(&good, &same, &topics).ok);
    let differing = RawOutputs {
        alerts: vec![rec(0, "1", b"x"), rec(1, "1", b"z")],
        ..RawOutputs::default()
    };
    assert!(
        !invariants::i4_repeats_identical(&differing, &topics).ok,
        "I4 misses a repeat with other bytes"
    );
    let backwards = RawOutputs {
        alerts: vec![rec(0, "2", b"y"), rec(1, "1", b"x")],
        ..RawOutputs::default()
    };
    assert!(
        !invariants::i5_order(&good, &backwards, &topics).ok,
        "I5 misses a revision going backwards"
    );
    let mut reversed = good.clone();
    reversed[who].touchpoints.reverse();
    assert!(
        !invariants::i5_order(&reversed, &RawOutputs::default(), &topics).ok,
        "I5 misses touchpoints out of order"
    );
}
