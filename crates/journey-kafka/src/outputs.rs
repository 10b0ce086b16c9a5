//! Reading the output topics back: decoded, the latest revision of every
//! output id, in canonical order. Used by `journey demo`, `journey replay`
//! and the end-to-end tests.

use std::collections::BTreeMap;

use journey_core::avro::{AvroCodec, Framing, RecordType};
use journey_core::model::{Handover, IdentityReview, JourneyAlert, MergeRecord};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::io::{read_topics, ReadRecord};
use crate::records::*;
use crate::{KafkaConfig, PipelineError, TopicsConfig};

/// A dead letter as read back from the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    pub reason: String,
    pub kind: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    #[serde(skip)]
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outputs {
    pub handovers: Vec<Handover>,
    pub alerts: Vec<JourneyAlert>,
    pub merges: Vec<MergeRecord>,
    /// Identity review records from the quarantine topic.
    pub reviews: Vec<IdentityReview>,
    pub dead_letters: Vec<DeadLetter>,
}

impl Outputs {
    pub fn read(
        kafka: &KafkaConfig,
        topics: &TopicsConfig,
        framing: &Framing,
    ) -> Result<Outputs, PipelineError> {
        let mut all = read_topics(
            kafka,
            &[
                &topics.handover,
                &topics.alerts,
                &topics.merges,
                &topics.quarantine,
                &topics.dlq,
            ],
        )?;
        let mut take = |t: &str| all.remove(t).unwrap_or_default();
        let mut handovers: Vec<Handover> = latest(
            take(&topics.handover),
            &AvroCodec::new(RecordType::Handover, *framing),
        )?;
        handovers.sort_by(|a, b| {
            (a.trigger.event_time_ms, &a.handover_id)
                .cmp(&(b.trigger.event_time_ms, &b.handover_id))
        });
        let mut alerts: Vec<JourneyAlert> = latest(
            take(&topics.alerts),
            &AvroCodec::new(RecordType::JourneyAlert, *framing),
        )?;
        alerts.sort_by(|a, b| (a.fired_at_ms, &a.alert_id).cmp(&(b.fired_at_ms, &b.alert_id)));
        let mut merges: Vec<MergeRecord> = latest(
            take(&topics.merges),
            &AvroCodec::new(RecordType::MergeRecord, *framing),
        )?;
        merges.sort_by(|a, b| (a.event_time_ms, &a.merge_id).cmp(&(b.event_time_ms, &b.merge_id)));
        let mut reviews: Vec<IdentityReview> = latest(
            take(&topics.quarantine),
            &AvroCodec::new(RecordType::IdentityReview, *framing),
        )?;
        reviews
            .sort_by(|a, b| (a.event_time_ms, &a.review_id).cmp(&(b.event_time_ms, &b.review_id)));
        let mut dead_letters: Vec<DeadLetter> = take(&topics.dlq)
            .into_iter()
            .map(|r| {
                let text = |h: &str| {
                    r.header(h)
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_default()
                };
                DeadLetter {
                    reason: text(H_DLQ_REASON),
                    kind: text(H_DLQ_KIND),
                    topic: text(H_SRC_TOPIC),
                    partition: text(H_SRC_PARTITION).parse().unwrap_or(-1),
                    offset: text(H_SRC_OFFSET).parse().unwrap_or(-1),
                    payload: r.payload.unwrap_or_default(),
                }
            })
            .collect();
        dead_letters.sort_by(|a, b| {
            (&a.topic, a.partition, a.offset).cmp(&(&b.topic, b.partition, b.offset))
        });
        // A re-delivered raw record yields the same dead letter twice: keep one.
        dead_letters.dedup_by(|a, b| {
            (&a.topic, a.partition, a.offset) == (&b.topic, b.partition, b.offset)
        });
        Ok(Outputs {
            handovers,
            alerts,
            merges,
            reviews,
            dead_letters,
        })
    }
}

/// The alerts of several alert topics (one per owner when alerts are routed
/// by owner), the latest revision of every alert id, in canonical order, each
/// with the topic it was read from.
pub fn read_alert_topics(
    kafka: &KafkaConfig,
    topics: &[String],
    framing: &Framing,
) -> Result<Vec<(String, JourneyAlert)>, PipelineError> {
    let codec = AvroCodec::new(RecordType::JourneyAlert, *framing);
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let mut all = read_topics(kafka, &names)?;
    let mut out = Vec::new();
    for topic in topics {
        let alerts: Vec<JourneyAlert> = latest(all.remove(topic).unwrap_or_default(), &codec)?;
        out.extend(alerts.into_iter().map(|a| (topic.clone(), a)));
    }
    out.sort_by(|a, b| (a.1.fired_at_ms, &a.1.alert_id).cmp(&(b.1.fired_at_ms, &b.1.alert_id)));
    Ok(out)
}

/// Decodes every record and keeps, per output id, the one with the highest revision.
fn latest<T: DeserializeOwned>(
    records: Vec<ReadRecord>,
    codec: &AvroCodec,
) -> Result<Vec<T>, PipelineError> {
    // id → (revision, payload; `None` when retracted)
    let mut by_id: BTreeMap<Vec<u8>, (u64, Option<Vec<u8>>)> = BTreeMap::new();
    for r in records {
        let Some(id) = r.header(H_ID).map(<[u8]>::to_vec) else {
            continue;
        };
        let payload = if r.header(H_RETRACTED).is_some() {
            None
        } else {
            r.payload.clone()
        };
        let revision = r
            .header(H_REVISION)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0);
        match by_id.get(&id) {
            Some((rev, _)) if *rev >= revision => {}
            _ => {
                by_id.insert(id, (revision, payload));
            }
        }
    }
    by_id
        .into_values()
        .filter_map(|(_, payload)| payload)
        .map(|bytes| {
            codec.decode(&bytes).map_err(|e| PipelineError::Stage {
                stage: "outputs",
                reason: e.to_string(),
            })
        })
        .collect()
}
