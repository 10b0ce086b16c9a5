//! The records the stages exchange: header names, internal encodings and the
//! outgoing-record buffer a stage fills during one batch.

use journey_core::avro::{AvroCodec, Framing, RecordType};

/// Component label an internal record is addressed to (decimal u64).
pub const H_LABEL: &str = "js.label";
/// Index of the identifier an identity hop visits next (decimal).
pub const H_HOP: &str = "js.hop";
/// Event-time watermark broadcast by the normalise stage (decimal ms).
pub const H_WATERMARK: &str = "js.watermark";
/// The record carries a whole component state moving to its new label.
pub const H_MOVE: &str = "js.move";
/// How many times an output id was emitted (the latest revision wins).
pub const H_REVISION: &str = "js.revision";
/// The record retracts the output id it names (value is null).
pub const H_RETRACTED: &str = "js.retracted";
/// The output id (alert, handover or merge id).
pub const H_ID: &str = "js.id";
/// The record is an operator command, not an event (value: `unmerge`).
pub const H_CONTROL: &str = "js.control";
/// Why a record went to the late-events topic, and the watermark it missed.
pub const H_LATE_WATERMARK: &str = "js.late.watermark";
// Dead-letter headers.
pub const H_DLQ_REASON: &str = "js.error.reason";
pub const H_DLQ_KIND: &str = "js.error.kind";
pub const H_DLQ_CHANNEL: &str = "js.error.channel";
pub const H_SRC_TOPIC: &str = "js.source.topic";
pub const H_SRC_PARTITION: &str = "js.source.partition";
pub const H_SRC_OFFSET: &str = "js.source.offset";

/// A record to produce at the end of a batch.
#[derive(Debug, Clone)]
pub struct OutRecord {
    pub topic: String,
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: Vec<(&'static str, Vec<u8>)>,
}

/// Everything one batch produces.
#[derive(Debug, Default)]
pub struct Outgoing {
    pub records: Vec<OutRecord>,
}

impl Outgoing {
    pub fn push(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<Vec<u8>>,
        payload: Option<Vec<u8>>,
        headers: Vec<(&'static str, Vec<u8>)>,
    ) {
        self.records.push(OutRecord {
            topic: topic.to_string(),
            partition,
            key,
            payload,
            headers,
        });
    }
}

/// Queues the dead letter of record `m`: its original key and bytes, the
/// reason and kind, and its source coordinates in headers; counted per
/// channel (`internal` for the pipeline's own topics) and kind.
pub fn dead_letter(
    out: &mut Outgoing,
    dlq_topic: &str,
    metrics: &crate::metrics::Metrics,
    m: &rdkafka::message::BorrowedMessage<'_>,
    channel: &str,
    kind: &str,
    reason: &str,
) {
    use rdkafka::message::Message;
    metrics
        .dead_letters
        .with_label_values(&[channel, kind])
        .inc();
    tracing::debug!(
        channel,
        kind,
        partition = m.partition(),
        offset = m.offset(),
        "dead letter"
    );
    out.push(
        dlq_topic,
        None,
        m.key().map(<[u8]>::to_vec),
        m.payload().map(<[u8]>::to_vec),
        vec![
            (H_DLQ_REASON, reason.as_bytes().to_vec()),
            (H_DLQ_KIND, kind.as_bytes().to_vec()),
            (H_DLQ_CHANNEL, channel.as_bytes().to_vec()),
            (H_SRC_TOPIC, m.topic().as_bytes().to_vec()),
            (H_SRC_PARTITION, m.partition().to_string().into_bytes()),
            (H_SRC_OFFSET, m.offset().to_string().into_bytes()),
        ],
    );
}

/// The codecs of one pipeline.
#[derive(Debug, Clone)]
pub struct Codecs {
    pub event: AvroCodec,
    pub handover: AvroCodec,
    pub alert: AvroCodec,
    pub merge: AvroCodec,
    pub review: AvroCodec,
}

impl Codecs {
    pub fn new(framing: Framing) -> Codecs {
        Codecs {
            // Internal and canonical events are always self-describing.
            event: AvroCodec::new(RecordType::JourneyEvent, Framing::SingleObject),
            handover: AvroCodec::new(RecordType::Handover, framing),
            alert: AvroCodec::new(RecordType::JourneyAlert, framing),
            merge: AvroCodec::new(RecordType::MergeRecord, framing),
            review: AvroCodec::new(RecordType::IdentityReview, framing),
        }
    }
}

pub fn header<'a>(
    headers: Option<&'a rdkafka::message::BorrowedHeaders>,
    name: &str,
) -> Option<&'a [u8]> {
    use rdkafka::message::Headers;
    headers?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
}

pub fn header_u64(headers: Option<&rdkafka::message::BorrowedHeaders>, name: &str) -> Option<u64> {
    std::str::from_utf8(header(headers, name)?)
        .ok()?
        .parse()
        .ok()
}

pub fn header_i64(headers: Option<&rdkafka::message::BorrowedHeaders>, name: &str) -> Option<i64> {
    std::str::from_utf8(header(headers, name)?)
        .ok()?
        .parse()
        .ok()
}
