//! Plain producing and reading, for the demo, replay, bench and tests.
//!
//! "Read everything" never trusts high watermarks (Tansu reports wrong ones):
//! it reads until no new record arrived for a quiet period.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::{KafkaConfig, PipelineError};

/// Produces every record and waits until all are acknowledged; returns the count.
pub fn produce_all<'a>(
    kafka: &KafkaConfig,
    records: impl Iterator<Item = (&'a str, Option<&'a [u8]>, &'a [u8])>,
    progress: &dyn Fn(u64),
) -> Result<u64, PipelineError> {
    let producer: BaseProducer<crate::stage::DeliveryCounter> = kafka
        .producer_config()
        .set("linger.ms", "20")
        .create_with_context(crate::stage::DeliveryCounter::default())?;
    let mut n = 0u64;
    for (topic, key, payload) in records {
        let mut rec = BaseRecord::<[u8], [u8]>::to(topic).payload(payload);
        if let Some(k) = key {
            rec = rec.key(k);
        }
        let mut rec = Some(rec);
        while let Some(r) = rec.take() {
            match producer.send(r) {
                Ok(()) => {}
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    producer.poll(Duration::from_millis(10));
                    rec = Some(r);
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        n += 1;
        if n.is_multiple_of(10_000) {
            producer.poll(Duration::ZERO);
            progress(n);
        }
    }
    producer.flush(Duration::from_secs(120))?;
    let failed = producer
        .context()
        .failed
        .load(std::sync::atomic::Ordering::Relaxed);
    if failed > 0 {
        return Err(PipelineError::Stage {
            stage: "produce",
            reason: format!("{failed} of {n} records were not acknowledged"),
        });
    }
    progress(n);
    Ok(n)
}

/// One record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl ReadRecord {
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Everything currently in `topic`, in partition then offset order.
pub fn read_topic(kafka: &KafkaConfig, topic: &str) -> Result<Vec<ReadRecord>, PipelineError> {
    Ok(read_topics(kafka, &[topic])?
        .remove(topic)
        .unwrap_or_default())
}

/// Everything currently in each of `topics` (one consumer, one quiet
/// period), per topic in partition then offset order.
pub fn read_topics(
    kafka: &KafkaConfig,
    topics: &[&str],
) -> Result<std::collections::HashMap<String, Vec<ReadRecord>>, PipelineError> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", format!("{}.reader", kafka.application_id))
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    let mut out: std::collections::HashMap<String, Vec<ReadRecord>> =
        std::collections::HashMap::new();
    // Partitions that hold records: read at least up to their reported end.
    // Tansu under-reports ends (never as 0 when records exist), so after that
    // the read goes on until a quiet period brings nothing new.
    let mut pending: std::collections::HashMap<(String, i32), i64> =
        std::collections::HashMap::new();
    for topic in topics {
        let partitions = crate::topics::partition_count(kafka, topic)?;
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
            let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
            if high > low {
                pending.insert((topic.to_string(), p), high - 1);
            }
        }
        out.insert(topic.to_string(), Vec::new());
    }
    consumer.assign(&tpl)?;
    let started = Instant::now();
    let mut last_new = Instant::now();
    while !pending.is_empty() || last_new.elapsed() < Duration::from_millis(1_200) {
        if started.elapsed() > Duration::from_secs(60) {
            return Err(PipelineError::Stage {
                stage: "read",
                reason: format!(
                    "{} partition(s) not read to their end within 60 s",
                    pending.len()
                ),
            });
        }
        match consumer.poll(Duration::from_millis(100)) {
            None => drop_read_to_end(&consumer, &mut pending),
            Some(Err(e)) => return Err(e.into()),
            Some(Ok(m)) => {
                last_new = Instant::now();
                let key = (m.topic().to_string(), m.partition());
                if pending.get(&key).is_some_and(|&last| m.offset() >= last) {
                    pending.remove(&key);
                }
                let record = ReadRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec),
                    headers: m
                        .headers()
                        .map(|hs| {
                            hs.iter()
                                .map(|h| (h.key.to_string(), h.value.unwrap_or_default().to_vec()))
                                .collect()
                        })
                        .unwrap_or_default(),
                };
                out.entry(key.0).or_default().push(record);
            }
        }
    }
    for records in out.values_mut() {
        records.sort_by_key(|r| (r.partition, r.offset));
    }
    Ok(out)
}

/// Removes from `pending` (`(topic, partition)` → last offset to read) the
/// partitions whose fetch position is past that offset. A partition written
/// by transactions ends in a commit marker, which no consumer ever receives,
/// so its last offset is passed, never read.
pub(crate) fn drop_read_to_end<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    pending: &mut std::collections::HashMap<(String, i32), i64>,
) {
    if pending.is_empty() {
        return;
    }
    let Ok(positions) = consumer.position() else {
        return;
    };
    for e in positions.elements() {
        if let Offset::Offset(next) = e.offset() {
            let key = (e.topic().to_string(), e.partition());
            if pending.get(&key).is_some_and(|&last| next > last) {
                pending.remove(&key);
            }
        }
    }
}

/// The plain-consumer baseline: a consumer group draining `topics` until
/// `expected` records were read (no processing). Returns count and elapsed time.
pub fn drain_count(
    kafka: &KafkaConfig,
    topics: &[&str],
    group: &str,
    expected: u64,
) -> Result<(u64, Duration), PipelineError> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.wait.max.ms", "50")
        .create()?;
    consumer.subscribe(topics)?;
    let start = Instant::now();
    let mut n = 0u64;
    let mut bytes = 0usize;
    while n < expected {
        if start.elapsed() > Duration::from_secs(600) {
            return Err(PipelineError::Timeout(format!(
                "drained {n} of {expected} records in 600 s"
            )));
        }
        if let Some(r) = consumer.poll(Duration::from_millis(100)) {
            let m = r?;
            // Touch the payload so the baseline reads what the pipeline reads.
            bytes += m.payload().map_or(0, <[u8]>::len);
            n += 1;
        }
    }
    std::hint::black_box(bytes);
    Ok((n, start.elapsed()))
}
