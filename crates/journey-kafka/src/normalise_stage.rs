//! Stage 1, stateless: raw records of the six channels → canonical
//! `JourneyEvent`s on the events topic, partitioned by the hash of their
//! first (highest-priority) identifier; anything that cannot be understood →
//! one dead letter with reason and source coordinates. After each batch it
//! broadcasts its event-time watermark to every partition of the stitch
//! topic, so that idle partitions still fire their timers.

use std::collections::HashMap;
use std::sync::Arc;

use journey_core::model::{Channel, SourceRef};
use journey_core::normalize::{normalize, Format, NormalizeConfig};
use journey_core::store::WriteBatch;
use rdkafka::message::{BorrowedMessage, Message};

use crate::metrics::Metrics;
use crate::partition_of;
use crate::records::*;
use crate::stage::StageLogic;
use crate::PipelineError;

pub struct NormaliseStage {
    pub formats: HashMap<String, (Channel, Format)>,
    pub cfg: NormalizeConfig,
    pub codecs: Codecs,
    pub events_topic: String,
    /// Operator commands (see [`crate::control`]).
    pub control_topic: String,
    pub stitch_topic: String,
    pub dlq_topic: String,
    pub partitions: i32,
    pub metrics: Arc<Metrics>,
    pub watermark_ms: i64,
    pub broadcast_ms: i64,
}

impl NormaliseStage {
    fn dead_letter(
        &self,
        m: &BorrowedMessage<'_>,
        channel: &str,
        kind: &str,
        reason: &str,
        out: &mut Outgoing,
    ) {
        dead_letter(
            out,
            &self.dlq_topic,
            &self.metrics,
            m,
            channel,
            kind,
            reason,
        );
    }
}

impl NormaliseStage {
    /// A command from the control topic: normalised and sent on as an
    /// envelope addressed like an event, or one dead letter.
    fn control(&self, m: &BorrowedMessage<'_>, out: &mut Outgoing) {
        let record_ms = m.timestamp().to_millis().unwrap_or(0);
        let parsed = m
            .payload()
            .ok_or_else(|| "record has no value".to_string())
            .and_then(|p| crate::control::parse(p, record_ms, &self.cfg));
        let unmerge = match parsed {
            Ok(u) => u,
            Err(reason) => {
                self.dead_letter(m, "control", "invalid_command", &reason, out);
                return;
            }
        };
        let envelope = crate::control::envelope(&unmerge);
        let bytes = match self.codecs.event.encode(&envelope) {
            Ok(b) => b,
            Err(e) => {
                self.dead_letter(m, "control", "encode", &e.to_string(), out);
                return;
            }
        };
        let hash = envelope.identifiers[0].hash64();
        out.push(
            &self.events_topic,
            Some(partition_of(hash, self.partitions)),
            Some(format!("{hash:016x}").into_bytes()),
            Some(bytes),
            vec![
                (H_HOP, b"0".to_vec()),
                (H_CONTROL, crate::control::UNMERGE.to_vec()),
            ],
        );
    }
}

impl StageLogic for NormaliseStage {
    const NAME: &'static str = "normalise";

    fn process(
        &mut self,
        batch: &[BorrowedMessage<'_>],
        out: &mut Outgoing,
        _: &mut WriteBatch,
    ) -> Result<(), PipelineError> {
        for m in batch {
            if m.topic() == self.control_topic {
                self.control(m, out);
                continue;
            }
            let Some(&(channel, format)) = self.formats.get(m.topic()) else {
                self.dead_letter(
                    m,
                    "unknown",
                    "unknown_topic",
                    "no channel configured for this topic",
                    out,
                );
                continue;
            };
            self.metrics
                .events_in
                .with_label_values(&[channel.as_str()])
                .inc();
            let Some(payload) = m.payload() else {
                self.dead_letter(
                    m,
                    channel.as_str(),
                    "empty_payload",
                    "record has no value",
                    out,
                );
                continue;
            };
            let source = SourceRef {
                topic: m.topic().to_string(),
                partition: m.partition(),
                offset: m.offset(),
            };
            match normalize(channel, format, payload, &source, &self.cfg) {
                Err(e) => {
                    self.dead_letter(m, channel.as_str(), e.kind.as_str(), &e.to_string(), out)
                }
                Ok(events) => {
                    for e in events {
                        let Some(first) = e.identifiers.first() else {
                            continue;
                        };
                        let hash = first.hash64();
                        let bytes = match self.codecs.event.encode(&e) {
                            Ok(b) => b,
                            Err(err) => {
                                self.dead_letter(
                                    m,
                                    channel.as_str(),
                                    "encode",
                                    &err.to_string(),
                                    out,
                                );
                                continue;
                            }
                        };
                        self.watermark_ms = self.watermark_ms.max(e.event_time_ms);
                        self.metrics
                            .events_out
                            .with_label_values(&[channel.as_str()])
                            .inc();
                        out.push(
                            &self.events_topic,
                            Some(partition_of(hash, self.partitions)),
                            Some(format!("{hash:016x}").into_bytes()),
                            Some(bytes),
                            vec![(H_HOP, b"0".to_vec())],
                        );
                    }
                }
            }
        }
        Ok(())
    }

    fn tick(&mut self, out: &mut Outgoing, _: &mut WriteBatch) -> Result<(), PipelineError> {
        if self.watermark_ms > self.broadcast_ms {
            self.broadcast_ms = self.watermark_ms;
            for p in 0..self.partitions {
                out.push(
                    &self.stitch_topic,
                    Some(p),
                    None,
                    None,
                    vec![(H_WATERMARK, self.watermark_ms.to_string().into_bytes())],
                );
            }
        }
        Ok(())
    }
}
