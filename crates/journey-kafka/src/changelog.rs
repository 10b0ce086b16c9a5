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
//! Writers are fenced by ownership epochs. An instance that takes a
//! partition over first appends an epoch record (a fresh random id) to the
//! changelog partition ([`open_epochs`]) and only then restores it, so it
//! reads past its own epoch. Every record it writes for the partition carries
//! the epoch id in the [`H_EPOCH`] header. A reader follows the latest epoch
//! record it has read and applies only records of that epoch; a batch begun
//! under an older epoch and finished after a newer one is dropped whole. So a
//! zombie (an instance that lost the partition without noticing yet, e.g.
//! paused past its session) can still append to the changelog, but no reader
//! ever applies what it wrote after the new owner's epoch.
//!
//! The local state of a partition records its epoch beside its position
//! ([`EPOCH_KEY`]). State a reader wrote is the changelog's by construction
//! and is caught up from its position. State the owner wrote may hold a
//! batch the owner wrote as a zombie, so its catch-up reads from the owner's
//! epoch record and checks that no other epoch began before the local
//! position; if one did, the partition is restored in full instead.
//!
//! Records: key = table tag ‖ key (offsets: [`TAG_OFFSET`] ‖ topic; epochs:
//! [`TAG_EPOCH`] ‖ id, unique so compaction keeps every epoch), value =
//! `0x01` ‖ the new value (offsets: i64 big-endian), or null for a deletion
//! (the prefix keeps an empty value distinct from a deletion).

use std::collections::{BTreeSet, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use journey_core::store::{Op, StateStore, Table, WriteBatch};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tracing::{debug, warn};

use crate::records::Outgoing;
use crate::{KafkaConfig, PipelineError};

/// `meta` key of a partition's changelog position: the changelog offset
/// after the last batch the local state holds (i64 big-endian). Never itself
/// written to the changelog.
pub const POSITION_KEY: &[u8] = b"changelog.next";
/// `meta` key of the epoch a partition's local state was written under: id
/// (u64) ‖ the epoch record's offset (i64) ‖ `1` if a reader wrote it (the
/// changelog's state by construction), `0` if the owner did. Never itself
/// written to the changelog.
pub const EPOCH_KEY: &[u8] = b"changelog.epoch";
/// Header carrying the writer's epoch id (u64 big-endian) on every changelog
/// record but the epoch records themselves.
pub const H_EPOCH: &str = "js.epoch";
const OUT_OF_RANGE: &str = "changelog position out of range";

const TAG_OFFSET: u8 = 0xFF;
const TAG_MARKER: u8 = 0xFE;
const TAG_EPOCH: u8 = 0xFD;

/// An ownership epoch of a changelog partition: the random id its owner
/// writes under and the offset of its epoch record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    pub id: u64,
    pub offset: i64,
}

/// Where a partition's local state stands against its changelog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The changelog offset after the last batch the local state holds.
    pub next: i64,
    /// The epoch the last batch was written under (`None`: state written
    /// before epochs existed; it is restored in full).
    pub epoch: Option<Epoch>,
    /// A reader wrote the state (restore, catch-up, standby), so it equals
    /// the changelog's up to `next`; otherwise the owner wrote it.
    pub verified: bool,
}

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

/// Appends the changelog records of `batch` to `out`, each carrying the
/// epoch its partition is owned under (`epochs`: partition → epoch id). A
/// partition without an epoch is written without one, and readers that
/// follow an epoch ignore it: the stage opens an epoch for every partition
/// it takes over.
pub fn record(batch: &WriteBatch, topic: &str, epochs: &HashMap<i32, Epoch>, out: &mut Outgoing) {
    let header = |p: i32| -> Vec<(&'static str, Vec<u8>)> {
        match epochs.get(&p) {
            Some(e) => vec![(H_EPOCH, e.id.to_be_bytes().to_vec())],
            None => {
                warn!(
                    topic,
                    partition = p,
                    "changelog write for a partition without an epoch"
                );
                vec![]
            }
        }
    };
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
        out.push(topic, Some(partition), Some(key), value, header(partition));
    }
    for p in touched {
        out.push(
            topic,
            Some(p),
            Some(vec![TAG_MARKER]),
            Some(Vec::new()),
            header(p),
        );
    }
}

/// Opens a new ownership epoch on each of `partitions`: appends an epoch
/// record with a fresh id and waits for the broker to acknowledge it, so a
/// restore that follows reads past it and every reader from then on ignores
/// what earlier owners write.
pub fn open_epochs(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: &[i32],
) -> Result<HashMap<i32, Epoch>, PipelineError> {
    if partitions.is_empty() {
        return Ok(HashMap::new());
    }
    let producer: BaseProducer<EpochAcks> = kafka
        .client_config()
        .set("acks", "all")
        .set("linger.ms", "0")
        .create_with_context(EpochAcks::default())?;
    let mut ids = HashMap::new();
    for &p in partitions {
        let id = fresh_id(p);
        ids.insert(p, id);
        let key = [&[TAG_EPOCH][..], &id.to_be_bytes()].concat();
        let value = [&[1u8][..], &id.to_be_bytes()].concat();
        producer
            .send(BaseRecord::to(topic).partition(p).key(&key).payload(&value))
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(30))?;
    let acked = std::mem::take(
        &mut *producer
            .context()
            .acked
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    let mut epochs = HashMap::new();
    for (p, id) in ids {
        match acked.get(&p) {
            Some(Ok(offset)) => {
                epochs.insert(
                    p,
                    Epoch {
                        id,
                        offset: *offset,
                    },
                );
            }
            Some(Err(e)) => {
                return Err(PipelineError::Stage {
                    stage: "changelog",
                    reason: format!("opening an epoch on {topic}/{p} failed: {e}"),
                })
            }
            None => {
                return Err(PipelineError::Timeout(format!(
                    "opening an epoch on {topic}/{p}: no acknowledgement"
                )))
            }
        }
    }
    debug!(topic, epochs = ?epochs, "epochs opened");
    Ok(epochs)
}

/// A random epoch id: a per-process random hasher over the clock, the
/// partition and a counter.
fn fresh_id(partition: i32) -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_i32(partition);
    h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.write_u32(std::process::id());
    h.finish()
}

/// Delivery reports of epoch records: partition → offset or error.
#[derive(Default)]
struct EpochAcks {
    acked: Mutex<HashMap<i32, Result<i64, String>>>,
}

impl ClientContext for EpochAcks {}
impl ProducerContext for EpochAcks {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let mut acked = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(m) => acked.insert(m.partition(), Ok(m.offset())),
            Err((e, m)) => acked.insert(m.partition(), Err(e.to_string())),
        };
    }
}

/// The changelog position the local state of `partition` is at, if recorded.
pub fn position(store: &dyn StateStore, partition: i32) -> Result<Option<Position>, PipelineError> {
    let Some(next) = store
        .get(Table::Meta, partition, POSITION_KEY)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map(i64::from_be_bytes)
    else {
        return Ok(None);
    };
    let (epoch, verified) = match store.get(Table::Meta, partition, EPOCH_KEY)? {
        Some(v) if v.len() == 17 => (
            Some(Epoch {
                id: u64::from_be_bytes(v[..8].try_into().unwrap_or_default()),
                offset: i64::from_be_bytes(v[8..16].try_into().unwrap_or_default()),
            }),
            v[16] == 1,
        ),
        _ => (None, false),
    };
    Ok(Some(Position {
        next,
        epoch,
        verified,
    }))
}

/// Records in `batch` where the local state of `partition` stands after it.
pub fn set_position(batch: &mut WriteBatch, partition: i32, at: Position) {
    batch.put(
        Table::Meta,
        partition,
        POSITION_KEY.to_vec(),
        at.next.to_be_bytes().to_vec(),
    );
    match at.epoch {
        Some(e) => batch.put(
            Table::Meta,
            partition,
            EPOCH_KEY.to_vec(),
            [
                &e.id.to_be_bytes()[..],
                &e.offset.to_be_bytes(),
                &[u8::from(at.verified)],
            ]
            .concat(),
        ),
        None => batch.delete(Table::Meta, partition, EPOCH_KEY.to_vec()),
    }
}

/// Whether `e` says that a changelog position is beyond what the changelog holds.
pub fn is_out_of_range(e: &PipelineError) -> bool {
    matches!(e, PipelineError::Stage { stage: "changelog", reason } if reason == OUT_OF_RANGE)
}

/// Where a read of one changelog partition starts.
#[derive(Debug, Clone, Copy)]
struct Start {
    partition: i32,
    offset: Offset,
    /// The epoch in force at `offset` (`None` from the beginning).
    epoch: Option<Epoch>,
    /// Batches before this offset are already applied: they are read only
    /// to check that no other epoch began before it.
    apply_from: i64,
}

impl Start {
    /// The whole partition, from the first record on.
    fn beginning(partition: i32) -> Start {
        Start {
            partition,
            offset: Offset::Beginning,
            epoch: None,
            apply_from: 0,
        }
    }
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
    let from: Vec<Start> = partitions.iter().map(|&p| Start::beginning(p)).collect();
    let (applied, _) = apply(kafka, topic, &from, store)?;
    debug!(topic, partitions = ?partitions, applied, seconds = started.elapsed().as_secs_f64(), "state restored from changelog");
    Ok(applied)
}

/// What a catch-up did.
#[derive(Debug, Default)]
pub struct CaughtUp {
    /// Records applied.
    pub applied: u64,
    /// Partitions whose local state holds a batch its owner wrote after
    /// another owner's epoch had begun (it wrote as a zombie): not caught up,
    /// they need a full [`restore`].
    pub stale: Vec<i32>,
}

/// Brings the local state of partitions up to date from their recorded
/// changelog positions, keeping what it holds. State its owner wrote is
/// checked from the owner's epoch record on (see the module documentation);
/// state without an epoch is reported stale.
pub fn catch_up(
    kafka: &KafkaConfig,
    topic: &str,
    positions: &[(i32, Position)],
    store: &dyn StateStore,
) -> Result<CaughtUp, PipelineError> {
    let started = Instant::now();
    let mut stale = Vec::new();
    let mut from = Vec::new();
    for &(p, at) in positions {
        match at.epoch {
            None => stale.push(p),
            Some(e) => from.push(Start {
                partition: p,
                offset: Offset::Offset(if at.verified { at.next } else { e.offset }),
                epoch: Some(e),
                apply_from: at.next,
            }),
        }
    }
    let (applied, found) = apply(kafka, topic, &from, store)?;
    // Owner-written state that passed the check is the changelog's too.
    for &(p, at) in positions {
        if at.verified || at.epoch.is_none() || found.contains(&p) {
            continue;
        }
        if let Some(now) = position(store, p)?.filter(|now| !now.verified) {
            let mut batch = WriteBatch::default();
            set_position(
                &mut batch,
                p,
                Position {
                    verified: true,
                    ..now
                },
            );
            store.write(&batch)?;
        }
    }
    stale.extend(found);
    debug!(topic, positions = ?positions, applied, stale = ?stale, seconds = started.elapsed().as_secs_f64(), "local state caught up from changelog");
    Ok(CaughtUp { applied, stale })
}

/// Writes the complete batches read from `from`, each with its position;
/// returns the records applied and the partitions found stale.
fn apply(
    kafka: &KafkaConfig,
    topic: &str,
    from: &[Start],
    store: &dyn StateStore,
) -> Result<(u64, Vec<i32>), PipelineError> {
    let mut applied = 0u64;
    let stale = read(kafka, topic, from, &mut |p, mut batch, next, epoch| {
        applied += batch.ops.len() as u64;
        set_position(
            &mut batch,
            p,
            Position {
                next,
                epoch,
                verified: true,
            },
        );
        store.write(&batch)?;
        Ok(())
    })?;
    Ok((applied, stale))
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
    let from: Vec<Start> = partitions.iter().map(|&p| Start::beginning(p)).collect();
    read(kafka, topic, &from, &mut |_, batch, _, _| {
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

/// Hands every complete batch (ending in a marker) of the epoch in force to
/// `apply`, with the offset after its marker and the epoch, in changelog
/// order per partition; returns the partitions found stale (another epoch
/// began before their `apply_from`; nothing of them is applied). Reads at
/// least up to the high watermark the broker reports, then until nothing new
/// arrives for a quiet period (watermarks alone are not trusted: Tansu
/// reports too low ones). A start the changelog does not hold fails
/// ([`is_out_of_range`]).
fn read(
    kafka: &KafkaConfig,
    topic: &str,
    from: &[Start],
    apply: &mut dyn FnMut(i32, WriteBatch, i64, Option<Epoch>) -> Result<(), PipelineError>,
) -> Result<Vec<i32>, PipelineError> {
    let partitions: Vec<i32> = from.iter().map(|s| s.partition).collect();
    if from.is_empty() {
        return Ok(Vec::new());
    }
    let started = Instant::now();
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", kafka.internal_topic("restore"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .set("auto.offset.reset", "error")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for s in from {
        tpl.add_partition_offset(topic, s.partition, s.offset)?;
    }
    consumer.assign(&tpl)?;
    // partition → the offset it must be read to (high watermark - 1)
    let mut unread: HashMap<i32, i64> = HashMap::new();
    let marks = crate::topics::Watermarks::new(kafka)?;
    for s in from {
        let p = s.partition;
        let (low, high) = marks.get(topic, p, Duration::from_secs(10))?;
        let first = match s.offset {
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
        if let Offset::Offset(n) = s.offset {
            if crate::assign::empty_below(n.max(s.apply_from), low, high) {
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
    let mut cursors: HashMap<i32, Cursor> = from
        .iter()
        .map(|s| {
            (
                s.partition,
                Cursor {
                    epoch: s.epoch,
                    apply_from: s.apply_from,
                    stale: false,
                    pending: WriteBatch::default(),
                },
            )
        })
        .collect();
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
        let Some(c) = cursors.get_mut(&p) else {
            continue;
        };
        if c.stale {
            continue;
        }
        if key.first() == Some(&TAG_EPOCH) {
            let Some(id) = key.get(1..9).and_then(|b| <[u8; 8]>::try_from(b).ok()) else {
                continue;
            };
            let id = u64::from_be_bytes(id);
            if m.offset() < c.apply_from && c.epoch.is_some_and(|e| e.id != id) {
                // Another owner's epoch began before the local state's last
                // batch: that batch was written by a zombie.
                c.stale = true;
                c.pending = WriteBatch::default();
                continue;
            }
            // A batch of the previous owner that has not completed by now never will.
            c.pending = WriteBatch::default();
            c.epoch = Some(Epoch {
                id,
                offset: m.offset(),
            });
            continue;
        }
        let writer = m
            .headers()
            .and_then(|h| h.iter().find(|h| h.key == H_EPOCH))
            .and_then(|h| <[u8; 8]>::try_from(h.value?).ok())
            .map(u64::from_be_bytes);
        if writer != c.epoch.map(|e| e.id) || m.offset() < c.apply_from {
            // Written outside the epoch in force (a zombie), or already applied.
            continue;
        }
        let batch = &mut c.pending;
        match key.first() {
            Some(&TAG_MARKER) => {
                let batch = std::mem::take(batch);
                apply(p, batch, m.offset() + 1, c.epoch)?
            }
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
    let mut stale: Vec<i32> = cursors
        .into_iter()
        .filter(|(_, c)| c.stale)
        .map(|(p, _)| p)
        .collect();
    stale.sort_unstable();
    Ok(stale)
}

/// A partition being read: the epoch in force and the batch being collected.
struct Cursor {
    epoch: Option<Epoch>,
    apply_from: i64,
    stale: bool,
    pending: WriteBatch,
}

#[cfg(test)]
#[path = "changelog_tests.rs"]
mod tests;
