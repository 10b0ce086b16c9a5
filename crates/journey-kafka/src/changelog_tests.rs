//! The changelog reader against a real (mock) broker and a real RocksDB:
//! epochs fence a zombie's writes, whatever the interleaving.

use std::collections::HashMap;
use std::time::Duration;

use journey_core::store::{StateStore, Table, WriteBatch};
use journey_store::{RocksStore, StoreOptions};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::*;
use crate::embedded::MockBroker;

const TOPIC: &str = "test.changelog";
const INPUT: &str = "input";

struct Log {
    _broker: MockBroker,
    kafka: KafkaConfig,
    producer: BaseProducer,
}

impl Log {
    fn new() -> Log {
        let broker = MockBroker::start().expect("mock cluster");
        broker.create_topic(TOPIC, 1).expect("topic");
        let kafka = KafkaConfig {
            bootstrap_servers: broker.bootstrap(),
            application_id: "epochs".into(),
            ..KafkaConfig::default()
        };
        let producer = kafka.client_config().create().expect("producer");
        Log {
            _broker: broker,
            kafka,
            producer,
        }
    }

    fn epoch(&self) -> Epoch {
        open_epochs(&self.kafka, TOPIC, &[0]).expect("epoch")[&0]
    }

    /// The changelog records of one batch writing `key = value` and the
    /// input offset `next`, under `epoch`.
    fn batch(&self, epoch: Epoch, key: &str, value: &str, next: i64) -> Outgoing {
        let mut wb = WriteBatch::default();
        wb.put(Table::Identity, 0, key.as_bytes(), value.as_bytes());
        wb.offset(INPUT, 0, next);
        let mut out = Outgoing::default();
        record(&wb, TOPIC, &HashMap::from([(0, epoch)]), &mut out);
        out
    }

    /// Produces `records`, returns the offset after the last one.
    fn send(&self, records: &[crate::records::OutRecord]) -> i64 {
        for r in records {
            let mut headers = OwnedHeaders::new();
            for (k, v) in &r.headers {
                headers = headers.insert(Header {
                    key: k,
                    value: Some(v.as_slice()),
                });
            }
            let mut rec = BaseRecord::<[u8], [u8]>::to(TOPIC)
                .partition(0)
                .headers(headers);
            if let Some(k) = &r.key {
                rec = rec.key(k.as_slice());
            }
            if let Some(v) = &r.payload {
                rec = rec.payload(v.as_slice());
            }
            self.producer.send(rec).map_err(|(e, _)| e).expect("send");
        }
        self.producer.flush(Duration::from_secs(10)).expect("flush");
        let (_, high) = crate::topics::Watermarks::new(&self.kafka)
            .expect("watermarks")
            .get(TOPIC, 0, Duration::from_secs(5))
            .expect("watermarks");
        high
    }
}

fn store() -> (tempfile::TempDir, RocksStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RocksStore::open(dir.path(), &StoreOptions::default()).expect("rocksdb");
    (dir, store)
}

fn value(store: &dyn StateStore, key: &str) -> Option<String> {
    store
        .get(Table::Identity, 0, key.as_bytes())
        .expect("get")
        .map(|v| String::from_utf8(v).expect("utf-8"))
}

/// Catches partition 0 of `store` up from its recorded position.
fn caught_up(log: &Log, store: &dyn StateStore) -> CaughtUp {
    let at = position(store, 0).expect("position").expect("a position");
    catch_up(&log.kafka, TOPIC, &[(0, at)], store).expect("catch up")
}

/// Local state as its owner would have written it after its last batch.
fn owner_state(log: &Log, store: &dyn StateStore, epoch: Epoch, kv: &[(&str, &str)], next: i64) {
    let mut wb = WriteBatch::default();
    for (k, v) in kv {
        wb.put(Table::Identity, 0, k.as_bytes(), v.as_bytes());
    }
    wb.offset(INPUT, 0, 0);
    set_position(
        &mut wb,
        0,
        Position {
            next,
            epoch: Some(epoch),
            verified: false,
        },
    );
    store.write(&wb).expect("write");
    let _ = log;
}

#[test]
fn readers_ignore_what_a_zombie_writes_after_the_new_owners_epoch() {
    let log = Log::new();
    let a = log.epoch();
    let a_done = log.send(&log.batch(a, "x", "a1", 5).records);
    // A's next batch starts before B takes over and ends after it.
    let torn = log.batch(a, "torn", "a2", 7).records;
    log.send(&torn[..1]);
    let b = log.epoch();
    log.send(&torn[1..]);
    let b_done = log.send(&log.batch(b, "x", "b1", 8).records);
    // A, a zombie, writes a whole batch after B's epoch.
    let zombie = log.send(&log.batch(a, "x", "zombie", 12).records);
    log.send(&log.batch(a, "y", "zombie", 13).records);

    let (_d, fresh) = store();
    restore(&log.kafka, TOPIC, &[0], &fresh).expect("restore");
    assert_eq!(value(&fresh, "x").as_deref(), Some("b1"), "B's batch wins");
    assert_eq!(value(&fresh, "torn"), None, "A's torn batch is dropped");
    assert_eq!(value(&fresh, "y"), None, "the zombie's batch is ignored");
    assert_eq!(fresh.offset(INPUT, 0).expect("offset"), Some(8));
    let at = position(&fresh, 0).expect("position").expect("a position");
    assert_eq!((at.next, at.epoch, at.verified), (b_done, Some(b), true));
    let offsets = stored_offsets(&log.kafka, TOPIC, &[0]).expect("offsets");
    assert_eq!(offsets.get(&(INPUT.to_string(), 0)), Some(&8));

    // A's local state after its zombie batch: stale, restored in full.
    let (_d, zombie_local) = store();
    owner_state(&log, &zombie_local, a, &[("x", "zombie")], zombie);
    let done = caught_up(&log, &zombie_local);
    assert_eq!(done.stale, vec![0], "the zombie's local state is stale");
    assert_eq!(
        value(&zombie_local, "x").as_deref(),
        Some("zombie"),
        "untouched"
    );

    // A's local state from before B's epoch is sound: caught up, B's batch
    // applied, the zombie's not; it is then recorded as verified.
    let (_d, sound) = store();
    owner_state(&log, &sound, a, &[("x", "a1")], a_done);
    let done = caught_up(&log, &sound);
    assert!(done.stale.is_empty(), "{done:?}");
    assert_eq!(value(&sound, "x").as_deref(), Some("b1"));
    assert_eq!(value(&sound, "y"), None);
    let at = position(&sound, 0).unwrap().unwrap();
    assert_eq!((at.next, at.epoch, at.verified), (b_done, Some(b), true));

    // State written before epochs existed is restored in full.
    let (_d, legacy) = store();
    let mut wb = WriteBatch::default();
    set_position(
        &mut wb,
        0,
        Position {
            next: a_done,
            epoch: None,
            verified: false,
        },
    );
    legacy.write(&wb).expect("write");
    let done = caught_up(&log, &legacy);
    assert_eq!(done.stale, vec![0]);
}

#[test]
fn an_owner_with_no_rival_epoch_is_caught_up_from_its_own_epoch() {
    let log = Log::new();
    let a = log.epoch();
    let first = log.send(&log.batch(a, "x", "a1", 5).records);
    log.send(&log.batch(a, "x", "a2", 9).records);
    // The local state is at A's first batch (a crash lost nothing durable).
    let (_d, local) = store();
    owner_state(&log, &local, a, &[("x", "a1")], first);
    let done = caught_up(&log, &local);
    assert!(done.stale.is_empty());
    assert_eq!(value(&local, "x").as_deref(), Some("a2"));
    assert_eq!(local.offset(INPUT, 0).unwrap(), Some(9));
}
