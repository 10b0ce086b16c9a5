//! Reading the output topics back: decoded, the latest revision of every
//! output id, in canonical order. Used by `journey demo`, `journey replay`
//! and the end-to-end tests.

use std::collections::BTreeMap;

use journey_core::avro::{AvroCodec, Framing, RecordType};
use journey_core::model::{Handover, JourneyAlert, MergeRecord};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::io::{read_topic, ReadRecord};
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
    pub dead_letters: Vec<DeadLetter>,
}

impl Outputs {
    pub fn read(
        kafka: &KafkaConfig,
        topics: &TopicsConfig,
        framing: &Framing,
    ) -> Result<Outputs, PipelineError> {
        let mut handovers: Vec<Handover> = latest(
            read_topic(kafka, &topics.handover)?,
            &AvroCodec::new(RecordType::Handover, *framing),
        )?;
        handovers.sort_by(|a, b| {
            (a.trigger.event_time_ms, &a.handover_id)
                .cmp(&(b.trigger.event_time_ms, &b.handover_id))
        });
        let mut alerts: Vec<JourneyAlert> = latest(
            read_topic(kafka, &topics.alerts)?,
            &AvroCodec::new(RecordType::JourneyAlert, *framing),
        )?;
        alerts.sort_by(|a, b| (a.fired_at_ms, &a.alert_id).cmp(&(b.fired_at_ms, &b.alert_id)));
        let mut merges: Vec<MergeRecord> = latest(
            read_topic(kafka, &topics.merges)?,
            &AvroCodec::new(RecordType::MergeRecord, *framing),
        )?;
        merges.sort_by(|a, b| (a.event_time_ms, &a.merge_id).cmp(&(b.event_time_ms, &b.merge_id)));
        let mut dead_letters: Vec<DeadLetter> = read_topic(kafka, &topics.dlq)?
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
            dead_letters,
        })
    }
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
