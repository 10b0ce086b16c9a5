//! The reliability invariants (RELIABILITY-PLAN.md, I1–I7), one named
//! function each, so a failure says which invariant broke, plus what they
//! read: every record of the output topics (duplicates included), the
//! committed offsets of the stage groups, the offsets stored in the state
//! folders of stopped instances, and the journeys a fresh instance restores
//! from the changelogs.
//!
//! Shared by source inclusion:
//! `#[path = "../../../tests/support/invariants.rs"] mod invariants;` from
//! `crates/<package>/tests/*.rs`. The including package needs `journey-core`,
//! `journey-kafka`, `journey-store` and `rdkafka`.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use journey_core::avro::{AvroCodec, Framing, RecordType};
use journey_core::fold::{FoldOutput, StitchConfig};
use journey_core::journey::CustomerJourney;
use journey_core::model::{Handover, JourneyAlert, MergeRecord};
use journey_core::normalize::NormalizeConfig;
use journey_kafka::io::ReadRecord;
use journey_kafka::metrics::Metrics;
use journey_kafka::{BatchConfig, KafkaConfig, Pipeline, PipelineConfig, TopicsConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde::de::DeserializeOwned;

// Header names of the output records (journey-kafka's `records` module is private).
pub const H_ID: &str = "js.id";
pub const H_REVISION: &str = "js.revision";
pub const H_RETRACTED: &str = "js.retracted";
pub const H_DLQ_KIND: &str = "js.error.kind";
pub const H_DLQ_REASON: &str = "js.error.reason";
pub const H_SRC_TOPIC: &str = "js.source.topic";
pub const H_SRC_PARTITION: &str = "js.source.partition";
pub const H_SRC_OFFSET: &str = "js.source.offset";

/// The result of one invariant check.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
}

impl Check {
    fn new(name: &'static str, problems: Vec<String>, ok_detail: String) -> Check {
        if problems.is_empty() {
            Check {
                name,
                ok: true,
                detail: ok_detail,
            }
        } else {
            let shown: Vec<String> = problems.iter().take(8).cloned().collect();
            Check {
                name,
                ok: false,
                detail: format!(
                    "{} problem(s): {}{}",
                    problems.len(),
                    shown.join("; "),
                    if problems.len() > 8 { "; …" } else { "" }
                ),
            }
        }
    }
}

/// Every record of the output topics as read back, duplicates included.
#[derive(Debug, Clone, Default)]
pub struct RawOutputs {
    pub handover: Vec<ReadRecord>,
    pub alerts: Vec<ReadRecord>,
    pub merges: Vec<ReadRecord>,
    pub dlq: Vec<ReadRecord>,
}

/// The latest revision of every output id, decoded and in canonical order,
/// and the dead letters (one per source record).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latest {
    pub handovers: Vec<Handover>,
    pub alerts: Vec<JourneyAlert>,
    pub merges: Vec<MergeRecord>,
    /// `(source topic, partition, offset)` of every dead letter.
    pub dead_letters: BTreeSet<(String, i32, i64)>,
}

fn header<'a>(r: &'a ReadRecord, name: &str) -> Option<&'a [u8]> {
    r.header(name)
}

fn text(r: &ReadRecord, name: &str) -> String {
    header(r, name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

fn revision(r: &ReadRecord) -> u64 {
    header(r, H_REVISION)
        .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
        .unwrap_or(0)
}

/// The source coordinates a dead letter names.
pub fn dead_letter_source(r: &ReadRecord) -> (String, i32, i64) {
    (
        text(r, H_SRC_TOPIC),
        text(r, H_SRC_PARTITION).parse().unwrap_or(-1),
        text(r, H_SRC_OFFSET).parse().unwrap_or(-1),
    )
}

/// Reads every record of the handover, alert, merge and dead-letter topics
/// with one consumer, until nothing new arrived for a quiet period
/// (watermarks are not trusted, as in `journey_kafka::io::read_topic`).
pub fn read_outputs(kafka: &KafkaConfig, topics: &TopicsConfig) -> RawOutputs {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", format!("{}.verifier", kafka.application_id))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .expect("verifier consumer");
    let names = [
        &topics.handover,
        &topics.alerts,
        &topics.merges,
        &topics.dlq,
    ];
    let mut tpl = TopicPartitionList::new();
    for t in names {
        let n = journey_kafka::topics::partition_count(kafka, t).expect("output topic exists");
        for p in 0..n {
            tpl.add_partition_offset(t, p, Offset::Beginning)
                .expect("partition");
        }
    }
    consumer.assign(&tpl).expect("assign");
    let mut by_topic: HashMap<String, Vec<ReadRecord>> = HashMap::new();
    let mut last_new = Instant::now();
    while last_new.elapsed() < Duration::from_millis(1_200) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => panic!("reading the outputs: {e}"),
            Some(Ok(m)) => {
                last_new = Instant::now();
                by_topic
                    .entry(m.topic().to_string())
                    .or_default()
                    .push(ReadRecord {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        payload: m.payload().map(<[u8]>::to_vec),
                        headers: m
                            .headers()
                            .map(|hs| {
                                hs.iter()
                                    .map(|h| {
                                        (h.key.to_string(), h.value.unwrap_or_default().to_vec())
                                    })
                                    .collect()
                            })
                            .unwrap_or_default(),
                    });
            }
        }
    }
    let mut take = |t: &str| {
        let mut v = by_topic.remove(t).unwrap_or_default();
        v.sort_by_key(|r| (r.partition, r.offset));
        v
    };
    RawOutputs {
        handover: take(&topics.handover),
        alerts: take(&topics.alerts),
        merges: take(&topics.merges),
        dlq: take(&topics.dlq),
    }
}

/// Per output id, the payload of its highest revision (`None` when retracted).
pub fn latest_payloads(records: &[ReadRecord]) -> BTreeMap<Vec<u8>, (u64, Option<Vec<u8>>)> {
    let mut by_id: BTreeMap<Vec<u8>, (u64, Option<Vec<u8>>)> = BTreeMap::new();
    for r in records {
        let Some(id) = header(r, H_ID).map(<[u8]>::to_vec) else {
            continue;
        };
        let payload = if header(r, H_RETRACTED).is_some() {
            None
        } else {
            r.payload.clone()
        };
        let rev = revision(r);
        match by_id.get(&id) {
            Some((have, _)) if *have >= rev => {}
            _ => {
                by_id.insert(id, (rev, payload));
            }
        }
    }
    by_id
}

fn decode_latest<T: DeserializeOwned>(records: &[ReadRecord], record: RecordType) -> Vec<T> {
    let codec = AvroCodec::new(record, Framing::SingleObject);
    latest_payloads(records)
        .into_values()
        .filter_map(|(_, p)| p)
        .map(|bytes| codec.decode(&bytes).expect("output record decodes"))
        .collect()
}

impl RawOutputs {
    pub fn latest(&self) -> Latest {
        let mut handovers: Vec<Handover> = decode_latest(&self.handover, RecordType::Handover);
        handovers.sort_by(|a, b| {
            (a.trigger.event_time_ms, &a.handover_id)
                .cmp(&(b.trigger.event_time_ms, &b.handover_id))
        });
        let mut alerts: Vec<JourneyAlert> = decode_latest(&self.alerts, RecordType::JourneyAlert);
        alerts.sort_by(|a, b| (a.fired_at_ms, &a.alert_id).cmp(&(b.fired_at_ms, &b.alert_id)));
        let mut merges: Vec<MergeRecord> = decode_latest(&self.merges, RecordType::MergeRecord);
        merges.sort_by(|a, b| (a.event_time_ms, &a.merge_id).cmp(&(b.event_time_ms, &b.merge_id)));
        Latest {
            handovers,
            alerts,
            merges,
            dead_letters: self.dlq.iter().map(dead_letter_source).collect(),
        }
    }

    pub fn total(&self) -> usize {
        self.handover.len() + self.alerts.len() + self.merges.len() + self.dlq.len()
    }

    /// `(topic name, records)` of the three id-carrying output topics.
    fn with_ids<'a>(&'a self, topics: &'a TopicsConfig) -> [(&'a str, &'a [ReadRecord]); 3] {
        [
            (topics.handover.as_str(), &self.handover[..]),
            (topics.alerts.as_str(), &self.alerts[..]),
            (topics.merges.as_str(), &self.merges[..]),
        ]
    }
}

/// Whether the outputs equal the expectation (what I3 checks), for polling.
pub fn outputs_match(latest: &Latest, expected: &FoldOutput, dead_letters: usize) -> bool {
    latest.alerts == expected.alerts
        && latest.handovers == expected.handovers
        && latest.merges == expected.merges
        && latest.dead_letters.len() == dead_letters
}

fn id_diff<T>(
    what: &str,
    got: &[T],
    want: &[T],
    id: impl Fn(&T) -> &str,
    problems: &mut Vec<String>,
) where
    T: PartialEq + std::fmt::Debug,
{
    let got_ids: BTreeMap<&str, &T> = got.iter().map(|x| (id(x), x)).collect();
    let want_ids: BTreeMap<&str, &T> = want.iter().map(|x| (id(x), x)).collect();
    let missing: Vec<&str> = want_ids
        .keys()
        .filter(|k| !got_ids.contains_key(*k))
        .copied()
        .collect();
    let extra: Vec<&str> = got_ids
        .keys()
        .filter(|k| !want_ids.contains_key(*k))
        .copied()
        .collect();
    let differ: Vec<&str> = want_ids
        .iter()
        .filter(|(k, v)| got_ids.get(*k).is_some_and(|g| g != *v))
        .map(|(k, _)| *k)
        .collect();
    if !missing.is_empty() {
        problems.push(format!(
            "{} {what} missing (e.g. {:?})",
            missing.len(),
            &missing[..missing.len().min(3)]
        ));
    }
    if !extra.is_empty() {
        problems.push(format!(
            "{} {what} not in the oracle (e.g. {:?})",
            extra.len(),
            &extra[..extra.len().min(3)]
        ));
    }
    if let Some(k) = differ.first() {
        problems.push(format!(
            "{} {what} differ in content; first {k}: got {:?}, oracle {:?}",
            differ.len(),
            got_ids[k],
            want_ids[k]
        ));
    }
    if missing.is_empty() && extra.is_empty() && differ.is_empty() && got != want {
        problems.push(format!(
            "{what}: same ids and contents but a different order"
        ));
    }
}

/// I1 no loss: every event the oracle applied to a customer is in the
/// journeys a fresh instance restored from the changelogs, and every oracle
/// customer exists.
pub fn i1_no_loss(expected: &FoldOutput, journeys: &[CustomerJourney]) -> Check {
    let got: BTreeSet<&str> = journeys
        .iter()
        .flat_map(|j| j.touchpoints.iter().map(|t| t.event_id.as_str()))
        .collect();
    let customers: BTreeSet<&str> = journeys.iter().map(|j| j.customer_id.as_str()).collect();
    let mut problems = Vec::new();
    let mut events = 0;
    for c in &expected.customers {
        if !customers.contains(c.customer_id.as_str()) {
            problems.push(format!("customer {} missing", c.customer_id));
        }
        for t in &c.touchpoints {
            events += 1;
            if !got.contains(t.event_id.as_str()) {
                problems.push(format!(
                    "event {} of customer {} missing",
                    t.event_id, c.customer_id
                ));
            }
        }
    }
    Check::new(
        "I1 no loss",
        problems,
        format!(
            "{events} events of {} customers present",
            expected.customers.len()
        ),
    )
}

/// I2 applied once: no event appears twice in the restored journeys, and per
/// customer the restored journey equals the oracle's (no double application,
/// no event applied to the wrong customer).
pub fn i2_applied_once(expected: &FoldOutput, journeys: &[CustomerJourney]) -> Check {
    let mut problems = Vec::new();
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for j in journeys {
        for t in &j.touchpoints {
            if let Some(other) = seen.insert(t.event_id.as_str(), j.customer_id.as_str()) {
                problems.push(format!(
                    "event {} applied twice (customers {other} and {})",
                    t.event_id, j.customer_id
                ));
            }
        }
    }
    id_diff(
        "customer journeys",
        journeys,
        &expected.customers,
        |c| c.customer_id.as_str(),
        &mut problems,
    );
    Check::new(
        "I2 applied once",
        problems,
        format!("{} journeys equal the oracle's", journeys.len()),
    )
}

/// I3 outputs: the latest revision of every alert, handover and merge id
/// equals the oracle's (ids and contents), and there is one dead letter per
/// bad input record.
pub fn i3_outputs(latest: &Latest, expected: &FoldOutput, dead_letters: usize) -> Check {
    let mut problems = Vec::new();
    id_diff(
        "alerts",
        &latest.alerts,
        &expected.alerts,
        |a| a.alert_id.as_str(),
        &mut problems,
    );
    id_diff(
        "handovers",
        &latest.handovers,
        &expected.handovers,
        |h| h.handover_id.as_str(),
        &mut problems,
    );
    id_diff(
        "merges",
        &latest.merges,
        &expected.merges,
        |m| m.merge_id.as_str(),
        &mut problems,
    );
    if latest.dead_letters.len() != dead_letters {
        problems.push(format!(
            "{} dead letters (by source record), expected {dead_letters}",
            latest.dead_letters.len()
        ));
    }
    Check::new(
        "I3 outputs",
        problems,
        format!(
            "{} alerts, {} handovers, {} merges, {} dead letters equal the oracle's",
            expected.alerts.len(),
            expected.handovers.len(),
            expected.merges.len(),
            dead_letters
        ),
    )
}

/// I4 duplicates: an output record repeated (after a crash, a rebalance) is
/// identical to the first: the same id and revision always carry the same
/// payload bytes and the same retraction flag. Dead letters repeated for the
/// same source record carry the same bytes and reason.
pub fn i4_repeats_identical(raw: &RawOutputs, topics: &TopicsConfig) -> Check {
    let mut problems = Vec::new();
    let mut repeats = 0usize;
    for (topic, records) in raw.with_ids(topics) {
        // (id, revision) → (retracted, payload, partition, offset) of its first emission
        type First<'a> = HashMap<(&'a [u8], u64), (bool, Option<&'a [u8]>, i32, i64)>;
        let mut first: First<'_> = HashMap::new();
        for r in records {
            let Some(id) = header(r, H_ID) else {
                problems.push(format!(
                    "{topic} {}@{} has no {H_ID} header",
                    r.partition, r.offset
                ));
                continue;
            };
            let this = (
                header(r, H_RETRACTED).is_some(),
                r.payload.as_deref(),
                r.partition,
                r.offset,
            );
            match first.get(&(id, revision(r))) {
                None => {
                    first.insert((id, revision(r)), this);
                }
                Some(f) => {
                    repeats += 1;
                    if (f.0, f.1) != (this.0, this.1) {
                        problems.push(format!(
                            "{topic} id {} revision {}: {}@{} differs from the first emission {}@{} ({} vs {} bytes, retracted {} vs {})",
                            String::from_utf8_lossy(id),
                            revision(r),
                            r.partition,
                            r.offset,
                            f.2,
                            f.3,
                            this.1.map_or(0, <[u8]>::len),
                            f.1.map_or(0, <[u8]>::len),
                            this.0,
                            f.0
                        ));
                    }
                }
            }
        }
    }
    // source coordinates → (payload, reason) of the first dead letter
    type FirstDead<'a> = HashMap<(String, i32, i64), (Option<&'a [u8]>, String)>;
    let mut dl: FirstDead<'_> = HashMap::new();
    for r in &raw.dlq {
        let src = dead_letter_source(r);
        let this = (r.payload.as_deref(), text(r, H_DLQ_REASON));
        match dl.get(&src) {
            None => {
                dl.insert(src, this);
            }
            Some(f) => {
                repeats += 1;
                if *f != this {
                    problems.push(format!(
                        "dead letter of {src:?} repeated with different bytes or reason"
                    ));
                }
            }
        }
    }
    Check::new(
        "I4 repeats identical",
        problems,
        format!(
            "{} output records, {repeats} repeats, all identical",
            raw.total()
        ),
    )
}

/// I5 order: every restored journey lists its touchpoints in
/// `(event_time, event_id)` order; every handover lists its recent
/// touchpoints newest first, all before its trigger; and on every output
/// partition the revisions of an id never go backwards (a compacted topic
/// keeps the last record, which must be the newest revision).
pub fn i5_order(journeys: &[CustomerJourney], raw: &RawOutputs, topics: &TopicsConfig) -> Check {
    let mut problems = Vec::new();
    for j in journeys {
        for w in j.touchpoints.windows(2) {
            if (w[0].event_time_ms, &w[0].event_id) >= (w[1].event_time_ms, &w[1].event_id) {
                problems.push(format!(
                    "customer {}: touchpoint {} ({}) before {} ({})",
                    j.customer_id,
                    w[0].event_id,
                    w[0].event_time_ms,
                    w[1].event_id,
                    w[1].event_time_ms
                ));
            }
        }
    }
    let handovers: Vec<Handover> = decode_latest(&raw.handover, RecordType::Handover);
    let mut per_customer: BTreeMap<&str, usize> = BTreeMap::new();
    for h in &handovers {
        *per_customer.entry(h.customer_id.as_str()).or_default() += 1;
        let trigger = (h.trigger.event_time_ms, &h.trigger.event_id);
        for w in h.recent_touchpoints.windows(2) {
            if (w[0].event_time_ms, &w[0].event_id) <= (w[1].event_time_ms, &w[1].event_id) {
                problems.push(format!(
                    "handover {}: recent touchpoints not newest first ({} then {})",
                    h.handover_id, w[0].event_id, w[1].event_id
                ));
            }
        }
        if let Some(t) = h
            .recent_touchpoints
            .iter()
            .find(|t| (t.event_time_ms, &t.event_id) >= trigger)
        {
            problems.push(format!(
                "handover {}: recent touchpoint {} is not before the trigger {}",
                h.handover_id, t.event_id, h.trigger.event_id
            ));
        }
    }
    for (topic, records) in raw.with_ids(topics) {
        let mut last: HashMap<(i32, &[u8]), (u64, i64)> = HashMap::new();
        for r in records {
            let Some(id) = header(r, H_ID) else { continue };
            let rev = revision(r);
            if let Some(&(prev, at)) = last.get(&(r.partition, id)) {
                if rev < prev {
                    problems.push(format!(
                        "{topic} partition {}: id {} revision {rev} at offset {} after revision {prev} at offset {at}",
                        r.partition,
                        String::from_utf8_lossy(id),
                        r.offset
                    ));
                }
            }
            let e = last.entry((r.partition, id)).or_insert((rev, r.offset));
            if rev >= e.0 {
                *e = (rev, r.offset);
            }
        }
    }
    Check::new(
        "I5 order",
        problems,
        format!(
            "{} journeys in event-time order, {} handovers of {} customers ordered, revisions monotonic per partition",
            journeys.len(),
            handovers.len(),
            per_customer.len()
        ),
    )
}

/// Total lag of the three stage groups, and the partitions that lag.
pub fn lag(kafka: &KafkaConfig, topics: &TopicsConfig) -> Result<(i64, Vec<String>), String> {
    let stages = journey_kafka::status::status(kafka, topics).map_err(|e| e.to_string())?;
    let mut total = 0;
    let mut lagging = Vec::new();
    for s in &stages {
        total += s.lag;
        for p in &s.partitions {
            if p.lag > 0 {
                lagging.push(format!(
                    "{} {}/{} committed {:?} end {}",
                    s.stage, p.topic, p.partition, p.committed, p.end
                ));
            }
        }
    }
    Ok((total, lagging))
}

/// I6 liveness: the lag of every stage group (`journey status`: committed
/// offset to partition end) returns to zero within `bound` after the last
/// fault. `tick` runs between polls (the caller supervises its instances).
pub fn i6_lag_returns_to_zero(
    kafka: &KafkaConfig,
    topics: &TopicsConfig,
    last_fault: Instant,
    bound: Duration,
    mut tick: impl FnMut(),
) -> Check {
    loop {
        let last = match lag(kafka, topics) {
            Ok((0, _)) => {
                return Check::new(
                    "I6 lag to zero",
                    vec![],
                    format!(
                        "lag 0 after {:.1} s since the last fault (bound {} s)",
                        last_fault.elapsed().as_secs_f64(),
                        bound.as_secs()
                    ),
                )
            }
            Ok(l) => l,
            Err(e) => (-1, vec![format!("status failed: {e}")]),
        };
        if last_fault.elapsed() > bound {
            let mut problems = vec![format!(
                "lag {} still not 0 {:.0} s after the last fault",
                last.0,
                last_fault.elapsed().as_secs_f64()
            )];
            problems.extend(last.1);
            return Check::new("I6 lag to zero", problems, String::new());
        }
        tick();
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The committed offsets of consumer group `group` for every partition of `topics`.
pub fn committed_offsets(
    kafka: &KafkaConfig,
    group: &str,
    topics: &[String],
) -> BTreeMap<(String, i32), Option<i64>> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for t in topics {
        for p in 0..journey_kafka::topics::partition_count(kafka, t).expect("topic exists") {
            tpl.add_partition(t, p);
        }
    }
    consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets")
        .elements()
        .iter()
        .map(|e| {
            (
                (e.topic().to_string(), e.partition()),
                match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                },
            )
        })
        .collect()
}

/// The highest offset stored for each `(topic, partition)` over the stage's
/// RocksDB databases in `state_dirs` (`<dir>/<stage>`). The processes that
/// used them must have exited (RocksDB's lock).
pub fn stored_offsets(state_dirs: &[PathBuf], stage: &str) -> BTreeMap<(String, i32), i64> {
    let mut out: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for d in state_dirs {
        let path = d.join(stage);
        if !path.exists() {
            continue;
        }
        let store = journey_store::RocksStore::open(&path, &journey_store::StoreOptions::default())
            .unwrap_or_else(|e| panic!("state {} reopens after the faults: {e}", path.display()));
        for (topic, partition, next) in store
            .partitions_with_offsets()
            .expect("stored offsets readable")
        {
            let e = out.entry((topic, partition)).or_insert(next);
            *e = (*e).max(next);
        }
    }
    out
}

/// I7 state/offsets: for the stateful stages (identity, stitch), the offset
/// committed to Kafka is never ahead of durable state: the offsets stored with
/// the state in some instance's RocksDB, or in the stage's changelog (a
/// partition revoked from an instance is dropped from its local store and
/// lives on in the changelog until its next owner restores it). Read after
/// the instances stopped; every database must reopen.
pub fn i7_committed_not_ahead(
    kafka: &KafkaConfig,
    topics: &TopicsConfig,
    state_dirs: &[PathBuf],
) -> Check {
    let mut problems = Vec::new();
    let mut checked = 0;
    let stages = [
        (
            "identity",
            vec![topics.events.clone(), kafka.internal_topic("identity-hops")],
        ),
        ("stitch", vec![kafka.internal_topic("stitch")]),
    ];
    for (stage, inputs) in stages {
        let group = format!("{}.{stage}", kafka.application_id);
        let committed = committed_offsets(kafka, &group, &inputs);
        let local = stored_offsets(state_dirs, stage);
        let partitions: Vec<i32> = committed
            .keys()
            .map(|(_, p)| *p)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let changelog = journey_kafka::changelog_offsets(kafka, stage, &partitions)
            .expect("changelog readable");
        for ((topic, partition), c) in committed {
            let Some(c) = c else { continue };
            checked += 1;
            let key = (topic.clone(), partition);
            let (l, d) = (local.get(&key).copied(), changelog.get(&key).copied());
            if l.max(d).is_none_or(|s| s < c) {
                problems.push(format!(
                    "{group} {topic}/{partition}: committed {c}, stored locally {l:?}, in the changelog {d:?}"
                ));
            }
        }
    }
    Check::new(
        "I7 committed <= stored",
        problems,
        format!("{checked} committed partition offsets, none ahead of stored state"),
    )
}

/// A fresh instance (new state folder, same application) restores every
/// partition from the changelogs; returns the journeys it holds once they
/// equal `want` or `timeout` passed, and how long that took.
pub fn restore_journeys(
    kafka: &KafkaConfig,
    topics: &TopicsConfig,
    dir: &Path,
    want: &[CustomerJourney],
    timeout: Duration,
) -> (Vec<CustomerJourney>, Duration) {
    let cfg = PipelineConfig {
        kafka: kafka.clone(),
        topics: topics.clone(),
        batch: BatchConfig::default(),
        normalize: NormalizeConfig::default(),
        stitch: StitchConfig::default(),
        state_dir: dir.to_path_buf(),
        framing: Framing::SingleObject,
        changelog: true,
        standby: false,
    };
    let fresh = Pipeline::start(cfg, Metrics::new()).expect("fresh instance starts");
    let start = Instant::now();
    let journeys = loop {
        let j = fresh.journeys().expect("journeys");
        if j == want || start.elapsed() > timeout {
            break j;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let took = start.elapsed();
    fresh.shutdown().expect("clean shutdown");
    (journeys, took)
}
