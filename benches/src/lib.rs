//! Shared inputs of the benchmarks in `benches/`, and the `apache_avro`
//! reference path that the Avro benchmark compares `AvroCodec` against.

use journey_core::avro::RecordType;
use journey_core::model::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A realistic canonical event: a survey answer with four identifiers, a case,
/// a promise, a score and lineage.
pub fn sample_event() -> JourneyEvent {
    JourneyEvent {
        event_id: "9f2c4e1a7b3d5f60".into(),
        source_event_id: "ajs-msg-0f1e2d3c-77aa-4c1e-9b0d-5e2f1a6c8d90".into(),
        channel: Channel::Survey,
        format: "segment".into(),
        activity: Activity::SurveyResponse,
        event_time_ms: 1_718_000_123_456,
        identifiers: vec![
            Identifier::new(IdType::CustomerNumber, "C-100234"),
            Identifier::new(IdType::Email, "ana.lopez@example.com"),
            Identifier::new(IdType::Phone, "+4915112345678"),
            Identifier::new(IdType::AnonymousId, "3f1d6a2e-8c4b-4e0f-a1b2-c3d4e5f60718"),
        ],
        interaction_id: Some("conv-77412".into()),
        case_id: Some("ZD-4711".into()),
        topic: Some("refund".into()),
        promise: Some(Promise {
            kind: PromiseKind::Callback,
            due_ms: 1_718_086_523_456,
        }),
        fulfils: None,
        resolves: false,
        score: Some(Score {
            kind: ScoreKind::Nps,
            value: 3.0,
            scale_min: 0.0,
            scale_max: 10.0,
        }),
        sentiment: Some(-0.375),
        transfer_count: 1,
        needs_enrichment: false,
        source_updated_ms: None,
        source: SourceRef {
            topic: "raw.survey.segment".into(),
            partition: 7,
            offset: 1_234_567,
        },
    }
}

/// The `apache_avro` generic path: serde → `types::Value` → resolve against the
/// schema (variant names become `Value::Enum`, options `Value::Union`) → datum.
///
/// # Errors
/// When the value does not fit the schema.
pub fn apache_encode<T: Serialize>(
    record: RecordType,
    value: &T,
) -> Result<Vec<u8>, Box<apache_avro::Error>> {
    let v = apache_avro::to_value(value)?.resolve(record.schema())?;
    Ok(apache_avro::to_avro_datum(record.schema(), v)?)
}

/// The `apache_avro` generic path back: datum → `types::Value` → serde.
///
/// # Errors
/// When the datum does not decode or does not fit `T`.
pub fn apache_decode<T: DeserializeOwned>(
    record: RecordType,
    mut datum: &[u8],
) -> Result<T, Box<apache_avro::Error>> {
    let v = apache_avro::from_avro_datum(record.schema(), &mut datum, None)?;
    Ok(apache_avro::from_value(&v)?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use journey_core::avro::{AvroCodec, Framing};

    /// The benchmark compares like with like: both paths write the same bytes.
    #[test]
    fn codec_and_apache_avro_write_identical_bytes() {
        let codec = AvroCodec::new(RecordType::JourneyEvent, Framing::SingleObject);
        let event = sample_event();
        let framed = codec.encode(&event).unwrap();
        let reference = apache_encode(RecordType::JourneyEvent, &event).unwrap();
        assert_eq!(&framed[codec.header().len()..], reference.as_slice());
        let back: JourneyEvent = apache_decode(RecordType::JourneyEvent, &reference).unwrap();
        assert_eq!(back, event);
        assert_eq!(codec.decode::<JourneyEvent>(&framed).unwrap(), event);
    }
}
