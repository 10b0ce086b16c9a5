//! State that moves with its partition. Every state change of a stateful
//! stage is also produced to the stage's changelog topic (one partition per
//! state partition), followed by a commit marker per partition and batch.
//! When a partition is assigned to an instance, the instance brings its
//! local state up to date from the changelog before it processes any record
//! of that partition; only complete batches (ending in a marker) are
//! applied, so stored offsets and state always agree.
//!
//! Every local write of a partition's state also records the changelog
//! position it corresponds to (the offset after its batch's marker, under
//! [`POSITION_KEY`] in the `meta` table, in the same atomic write). When the
//! instance gets back a partition whose state it still has (after a restart
//! or a crash), it applies only the changelog batches after that position
//! ([`catch_up`]); otherwise it drops what it has and reads the changelog
//! from the beginning ([`restore`]). A position the changelog does not hold
//! is reported ([`is_out_of_range`]), never silently read from elsewhere.
//!
//! Records: key = table tag ‖ key (offsets: [`TAG_OFFSET`] ‖ topic), value =
//! `0x01` ‖ the new value (offsets: i64 big-endian), or null for a deletion
//! (the prefix keeps an empty value distinct from a deletion).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use journey_core::store::{Op, StateStore, Table, WriteBatch};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use tracing::debug;

use crate::records::Outgoing;
use crate::{KafkaConfig, PipelineError};

/// `meta` key of a partition's changelog position: the changelog offset
/// after the last batch the local state holds (i64 big-endian). Never itself
/// written to the changelog.
pub const POSITION_KEY: &[u8] = b"changelog.next";
const OUT_OF_RANGE: &str = "changelog position out of range";

const TAG_OFFSET: u8 = 0xFF;
const TAG_MARKER: u8 = 0xFE;

fn tag(t: Table) -> u8 {
    match t {
        Table::Identity => 0,
        Table::Components => 1,
        Table::Timers => 2,
        Table::Meta => 3,
    }
}

fn table(tag: u8) -> Option<Table> {
    Table::ALL.into_iter().find(|t| self::tag(*t) == tag)
}

/// Appends the changelog records of `batch` to `out`.
pub fn record(batch: &WriteBatch, topic: &str, out: &mut Outgoing) {
    let mut touched = BTreeSet::new();
    for op in &batch.ops {
        let (partition, key, value) = match op {
            Op::Put {
                table,
                partition,
                key,
                value,
            } => (
                *partition,
                [&[tag(*table)][..], key].concat(),
                Some([&[1u8][..], value].concat()),
            ),
            Op::Delete {
                table,
                partition,
                key,
            } => (*partition, [&[tag(*table)][..], key].concat(), None),
            Op::Offset {
                topic,
                partition,
                next_offset,
            } => (
                *partition,
                [&[TAG_OFFSET][..], topic.as_bytes()].concat(),
                Some([&[1u8][..], &next_offset.to_be_bytes()].concat()),
            ),
        };
        touched.insert(partition);
        out.push(topic, Some(partition), Some(key), value, vec![]);
    }
    for p in touched {
        out.push(
            topic,
            Some(p),
            Some(vec![TAG_MARKER]),
            Some(Vec::new()),
            vec![],
        );
    }
}

/// The changelog position the local state of `partition` is at, if recorded.
pub fn position(store: &dyn StateStore, partition: i32) -> Result<Option<i64>, PipelineError> {
    Ok(store
        .get(Table::Meta, partition, POSITION_KEY)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(i64::from_be_bytes))
}

/// Records in `batch` that the local state of `partition` is at changelog offset `next`.
pub fn set_position(batch: &mut WriteBatch, partition: i32, next: i64) {
    batch.put(
        Table::Meta,
        partition,
        POSITION_KEY.to_vec(),
        next.to_be_bytes().to_vec(),
    );
}

/// Whether `e` says that a changelog position is beyond what the changelog holds.
pub fn is_out_of_range(e: &PipelineError) -> bool {
    matches!(e, PipelineError::Stage { stage: "changelog", reason } if reason == OUT_OF_RANGE)
}

/// Replaces the local state of `partitions` with what the changelog holds.
pub fn restore(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: &[i32],
    store: &dyn StateStore,
) -> Result<u64, PipelineError> {
    let started = Instant::now();
    for &p in partitions {
        store.drop_partition(p)?;
    }
    let from: Vec<(i32, Offset)> = partitions.iter().map(|&p| (p, Offset::Beginning)).collect();
    let applied = apply(kafka, topic, &from, store)?;
    debug!(topic, partitions = ?partitions, applied, seconds = started.elapsed().as_secs_f64(), "state restored from changelog");
    Ok(applied)
}

/// Brings the local state of partitions up to date from their recorded
/// changelog positions `(partition, position)`, keeping what it holds.
pub fn catch_up(
    kafka: &KafkaConfig,
    topic: &str,
    positions: &[(i32, i64)],
    store: &dyn StateStore,
) -> Result<u64, PipelineError> {
    let started = Instant::now();
    let from: Vec<(i32, Offset)> = positions
        .iter()
        .map(|&(p, n)| (p, Offset::Offset(n)))
        .collect();
    let applied = apply(kafka, topic, &from, store)?;
    debug!(topic, positions = ?positions, applied, seconds = started.elapsed().as_secs_f64(), "local state caught up from changelog");
    Ok(applied)
}

/// Writes the complete batches from `from` on, each with its position.
fn apply(
    kafka: &KafkaConfig,
    topic: &str,
    from: &[(i32, Offset)],
    store: &dyn StateStore,
) -> Result<u64, PipelineError> {
    let mut applied = 0u64;
    read(kafka, topic, from, &mut |p, mut batch, next| {
        applied += batch.ops.len() as u64;
        set_position(&mut batch, p, next);
        store.write(&batch)?;
        Ok(())
    })?;
    Ok(applied)
}

/// The input offsets the changelog holds for `partitions`: `(input topic,
/// partition)` → the latest stored next offset. Reads the changelog without
/// touching the local state.
pub fn stored_offsets(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: &[i32],
) -> Result<HashMap<(String, i32), i64>, PipelineError> {
    let mut offsets = HashMap::new();
    let from: Vec<(i32, Offset)> = partitions.iter().map(|&p| (p, Offset::Beginning)).collect();
    read(kafka, topic, &from, &mut |_, batch, _| {
        for op in batch.ops {
            if let Op::Offset {
                topic,
                partition,
                next_offset,
            } = op
            {
                offsets.insert((topic, partition), next_offset);
            }
        }
        Ok(())
    })?;
    Ok(offsets)
}

/// Hands every complete batch (ending in a marker) from `(partition, start)`
/// on to `apply`, with the offset after its marker, in changelog order per
/// partition. Reads at least up to the high watermark the broker reports,
/// then until nothing new arrives for a quiet period (watermarks alone are
/// not trusted: Tansu reports too low ones). A start the changelog does not
/// hold fails ([`is_out_of_range`]).
fn read(
    kafka: &KafkaConfig,
    topic: &str,
    from: &[(i32, Offset)],
    apply: &mut dyn FnMut(i32, WriteBatch, i64) -> Result<(), PipelineError>,
) -> Result<(), PipelineError> {
    let partitions: Vec<i32> = from.iter().map(|(p, _)| *p).collect();
    let started = Instant::now();
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", kafka.internal_topic("restore"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .set("auto.offset.reset", "error")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for &(p, start) in from {
        tpl.add_partition_offset(topic, p, start)?;
    }
    consumer.assign(&tpl)?;
    // partition → the offset it must be read to (high watermark - 1)
    let mut unread: HashMap<i32, i64> = HashMap::new();
    let marks = crate::topics::Watermarks::new(kafka)?;
    for &(p, start) in from {
        let (low, high) = marks.get(topic, p, Duration::from_secs(10))?;
        let first = match start {
            Offset::Offset(n) => n.max(low),
            _ => low,
        };
        debug!(
            topic,
            partition = p,
            first,
            low,
            high,
            "changelog range to read"
        );
        if let Offset::Offset(n) = start {
            if crate::assign::empty_below(n, low, high) {
                return Err(PipelineError::Stage {
                    stage: "changelog",
                    reason: OUT_OF_RANGE.into(),
                });
            }
        }
        if high > first {
            unread.insert(p, high - 1);
        }
    }
    let mut pending: HashMap<i32, WriteBatch> = HashMap::new();
    let mut last_new = Instant::now();
    while !unread.is_empty() || last_new.elapsed() < Duration::from_millis(500) {
        if started.elapsed() > Duration::from_secs(300) {
            return Err(PipelineError::Timeout(format!(
                "restoring {topic} partitions {partitions:?} took over 300 s"
            )));
        }
        let Some(r) = consumer.poll(Duration::from_millis(100)) else {
            let mut ends: HashMap<(String, i32), i64> = unread
                .iter()
                .map(|(&p, &end)| ((topic.to_string(), p), end))
                .collect();
            crate::io::drop_read_to_end(&consumer, &mut ends);
            unread.retain(|p, _| ends.contains_key(&(topic.to_string(), *p)));
            continue;
        };
        let m = match r {
            Ok(m) => m,
            Err(KafkaError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset)) => {
                return Err(PipelineError::Stage {
                    stage: "changelog",
                    reason: OUT_OF_RANGE.into(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        last_new = Instant::now();
        let p = m.partition();
        if unread.get(&p).is_some_and(|&end| m.offset() >= end) {
            unread.remove(&p);
        }
        let Some(key) = m.key() else { continue };
        let batch = pending.entry(p).or_default();
        match key.first() {
            Some(&TAG_MARKER) => apply(p, std::mem::take(batch), m.offset() + 1)?,
            Some(&TAG_OFFSET) => {
                let topic = String::from_utf8_lossy(&key[1..]).into_owned();
                if let Some(v) = m
                    .payload()
                    .and_then(|v| <[u8; 8]>::try_from(v.get(1..)?).ok())
                {
                    batch.offset(&topic, p, i64::from_be_bytes(v));
                }
            }
            Some(&t) => {
                let Some(table) = table(t) else { continue };
                match m.payload() {
                    Some(v) if !v.is_empty() => {
                        batch.put(table, p, key[1..].to_vec(), v[1..].to_vec())
                    }
                    _ => batch.delete(table, p, key[1..].to_vec()),
                }
            }
            None => {}
        }
    }
    // Ops after the last marker belong to a batch that never completed: dropped.
    Ok(())
}
