//! Smoke test of the end-to-end test broker (tests/support/tansu.rs): start Tansu (or use
//! `KAFKA_BOOTSTRAP_SERVERS`), create a 3-partition topic, produce 100 records with a
//! `BaseProducer`, read them back with a `BaseConsumer` in a consumer group.
//!
//! Wired as an integration test of the `journey` package (crates/journey/Cargo.toml,
//! `[[test]] name = "tansu_smoke"`): `cargo test --release -p journey --test tansu_smoke`.

#[path = "support/tansu.rs"]
mod tansu;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};

const RECORDS: usize = 100;
const PARTITIONS: i32 = 3;

/// Counts delivery reports, so the test knows every record was acknowledged.
#[derive(Default)]
struct Deliveries {
    ok: AtomicUsize,
    partitions: Mutex<BTreeSet<i32>>,
    errors: Mutex<Vec<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(m) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                self.partitions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(m.partition());
            }
            Err((e, _)) => self
                .errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(e.to_string()),
        }
    }
}

#[test]
fn produce_and_consume_100_records_in_a_group() {
    let t0 = Instant::now();
    let kafka = tansu::TestKafka::start();
    let started = t0.elapsed();

    let topic = kafka.create_topic("journey.smoke", PARTITIONS);
    let created = t0.elapsed();

    // Produce: keys spread over the partitions by librdkafka's default partitioner.
    let producer: BaseProducer<Deliveries> = kafka
        .producer_config()
        .create_with_context(Deliveries::default())
        .expect("producer");
    for i in 0..RECORDS {
        let key = format!("customer-{i:03}");
        let payload = format!("event-{i:03}");
        let mut record = BaseRecord::to(&topic).key(&key).payload(&payload);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) => {
                    assert!(
                        e.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::QueueFull),
                        "send failed: {e}"
                    );
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let ctx = producer.context();
    let errors = ctx.errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert!(errors.is_empty(), "delivery errors: {errors:?}");
    assert_eq!(ctx.ok.load(Ordering::Relaxed), RECORDS, "delivery reports");
    let used = ctx
        .partitions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert_eq!(
        used.len(),
        PARTITIONS as usize,
        "records went to partitions {used:?}"
    );
    let produced = t0.elapsed();

    // Consume in a group. "Done" is decided by counting records, never from high
    // watermarks (Tansu 0.6 reports them wrong for multi-record batches).
    let group = kafka.group_id("journey.smoke.group");
    let consumer: BaseConsumer = kafka.consumer_config(&group).create().expect("consumer");
    consumer.subscribe(&[&topic]).expect("subscribe");
    let mut seen = BTreeSet::new();
    let mut coordinates = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut first_record = None;
    while seen.len() < RECORDS && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Err(e)) => eprintln!("consumer error (retrying): {e}"),
            Some(Ok(m)) => {
                first_record.get_or_insert_with(|| t0.elapsed());
                let payload = m
                    .payload_view::<str>()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                let key = m.key_view::<str>().and_then(Result::ok).unwrap_or_default();
                assert_eq!(
                    key.trim_start_matches("customer-"),
                    payload.trim_start_matches("event-")
                );
                assert!(
                    coordinates.insert((m.partition(), m.offset())),
                    "record at {}:{} delivered twice",
                    m.partition(),
                    m.offset()
                );
                seen.insert(payload.to_string());
            }
        }
    }
    let consumed = t0.elapsed();
    let partitions_read: BTreeSet<i32> = coordinates.iter().map(|(p, _)| *p).collect();
    eprintln!(
        "smoke ({}): broker ready {:?}, topic created {:?}, produced {:?}, first record {:?}, \
         {} records from partitions {:?} by {:?}",
        if kafka.is_tansu() {
            "tansu"
        } else {
            "external kafka"
        },
        started,
        created,
        produced,
        first_record,
        seen.len(),
        partitions_read,
        consumed
    );
    assert_eq!(seen.len(), RECORDS, "records consumed within 60 s");
    assert_eq!(partitions_read.len(), PARTITIONS as usize);
    consumer.unsubscribe();
}

/// The helper creates topics with `retention.ms` set, because Tansu reports only topic
/// configs that were set explicitly and some clients read it.
#[test]
fn created_topics_report_retention_ms() {
    let kafka = tansu::TestKafka::start();
    let topic = kafka.create_topic("journey.smoke.config", 1);
    let admin: AdminClient<DefaultClientContext> = kafka.client_config().create().expect("admin");
    let opts = AdminOptions::new().request_timeout(Some(Duration::from_secs(10)));
    let results =
        tansu::block_on(admin.describe_configs([&ResourceSpecifier::Topic(&topic)], &opts))
            .expect("describe configs");
    let resource = results
        .into_iter()
        .next()
        .expect("one result")
        .expect("describe configs of the topic");
    let retention = resource.get("retention.ms").and_then(|e| e.value.clone());
    assert_eq!(retention.as_deref(), Some(tansu::DEFAULT_RETENTION_MS));
}
