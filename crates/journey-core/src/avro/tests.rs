//! The codec against `apache_avro` as reference, and the proof that the Rust
//! model and the `.avsc` files agree.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::fmt::Debug;

use apache_avro::rabin::Rabin;
use apache_avro::schema::{Name, ResolvedSchema};
use apache_avro::Schema;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::*;
use crate::model::*;

// ---------------------------------------------------------------- fixtures

fn touchpoint(n: u32) -> Touchpoint {
    Touchpoint {
        event_id: format!("ev-{n}"),
        source_event_id: format!("src-{n}"),
        channel: Channel::Chat,
        activity: Activity::AgentReply,
        event_time_ms: 1_700_000_000_000 + i64::from(n),
        topic: Some("refund".into()),
        case_id: Some(format!("case-{n}")),
    }
}

fn score() -> Score {
    Score {
        kind: ScoreKind::Nps,
        value: 3.0,
        scale_min: 0.0,
        scale_max: 10.0,
    }
}

fn full_event() -> JourneyEvent {
    JourneyEvent {
        event_id: "9f2c4e1a7b3d5f60".into(),
        source_event_id: "ajs-msg-0f1e2d3c".into(),
        channel: Channel::Survey,
        format: "segment".into(),
        activity: Activity::SurveyResponse,
        event_time_ms: 1_718_000_123_456,
        identifiers: vec![
            Identifier::new(IdType::CustomerNumber, "C-100234"),
            Identifier::new(IdType::Email, "ana@example.com"),
            Identifier::new(IdType::Phone, "+4915112345678"),
            Identifier::new(IdType::VendorContact, "intercom:5f1a"),
            Identifier::new(IdType::AnonymousId, "anon-ü-🙂"),
        ],
        interaction_id: Some("conv-77".into()),
        case_id: Some("ZD-4711".into()),
        topic: Some("refund".into()),
        promise: Some(Promise {
            kind: PromiseKind::Callback,
            due_ms: 1_718_086_523_456,
        }),
        fulfils: Some(PromiseKind::Refund),
        resolves: true,
        score: Some(score()),
        sentiment: Some(-0.375),
        transfer_count: 2,
        needs_enrichment: true,
        source_updated_ms: Some(1_794_300_000_000),
        source: SourceRef {
            topic: "raw.survey.segment".into(),
            partition: 7,
            offset: 1_234_567_890_123,
        },
    }
}

fn min_event() -> JourneyEvent {
    JourneyEvent {
        event_id: String::new(),
        source_event_id: String::new(),
        channel: Channel::Chat,
        format: String::new(),
        activity: Activity::Contact,
        event_time_ms: -1,
        identifiers: vec![],
        interaction_id: None,
        case_id: None,
        topic: None,
        promise: None,
        fulfils: None,
        resolves: false,
        score: None,
        sentiment: None,
        transfer_count: 0,
        needs_enrichment: false,
        source_updated_ms: None,
        source: SourceRef::default(),
    }
}

fn full_handover() -> Handover {
    Handover {
        handover_id: "h-1".into(),
        customer_id: "cust-1".into(),
        trigger: Touchpoint {
            channel: Channel::Phone,
            activity: Activity::Contact,
            ..touchpoint(1)
        },
        open_issues: vec![
            OpenIssue {
                issue_key: "case:ZD-4711".into(),
                topic: Some("refund".into()),
                case_id: Some("ZD-4711".into()),
                contacts: 3,
                channels: vec![Channel::Chat, Channel::Email, Channel::Phone],
                first_seen_ms: 1_700_000_000_000,
                last_seen_ms: 1_700_000_900_000,
            },
            OpenIssue {
                issue_key: "topic:delivery".into(),
                topic: Some("delivery".into()),
                case_id: None,
                contacts: u32::MAX,
                channels: vec![],
                first_seen_ms: 0,
                last_seen_ms: i64::MAX,
            },
        ],
        pending_promises: vec![PendingPromise {
            kind: PromiseKind::Technician,
            due_ms: 1_700_100_000_000,
            made_ms: 1_700_000_000_000,
            made_on: Channel::Store,
            event_id: "ev-0".into(),
        }],
        recent_touchpoints: vec![touchpoint(2), touchpoint(3)],
        last_score: Some(Score {
            kind: ScoreKind::Csat,
            value: 4.5,
            scale_min: 1.0,
            scale_max: 5.0,
        }),
        linked_by: vec![IdType::LoyaltyId, IdType::DeviceId],
        summary: "refund promised 3 days ago, 3 contacts".into(),
    }
}

fn min_handover() -> Handover {
    Handover {
        handover_id: String::new(),
        customer_id: String::new(),
        trigger: Touchpoint {
            topic: None,
            case_id: None,
            ..touchpoint(0)
        },
        open_issues: vec![],
        pending_promises: vec![],
        recent_touchpoints: vec![],
        last_score: None,
        linked_by: vec![],
        summary: String::new(),
    }
}

fn full_alert() -> JourneyAlert {
    JourneyAlert {
        alert_id: "a-1".into(),
        customer_id: "cust-1".into(),
        rule: Rule::BrokenPromise,
        severity: Severity::High,
        fired_at_ms: 1_700_100_000_000,
        issue_key: Some("case:ZD-4711".into()),
        owner: "billing".into(),
        evidence: vec![
            touchpoint(1),
            Touchpoint {
                channel: Channel::Web,
                activity: Activity::Track,
                ..touchpoint(2)
            },
        ],
        summary: "callback not made by due time".into(),
        status: AlertStatus::Resolved,
        resolves_alert_id: Some("al-0".into()),
    }
}

fn min_alert() -> JourneyAlert {
    JourneyAlert {
        alert_id: String::new(),
        customer_id: String::new(),
        rule: Rule::RepeatContact,
        severity: Severity::Low,
        fired_at_ms: 0,
        issue_key: None,
        owner: String::new(),
        evidence: vec![],
        summary: String::new(),
        status: AlertStatus::Open,
        resolves_alert_id: None,
    }
}

fn full_merge() -> MergeRecord {
    MergeRecord {
        merge_id: "m-1".into(),
        kind: MergeKind::Split,
        winner: "cust-1".into(),
        loser: "cust-2".into(),
        event_id: "ev-9".into(),
        event_time_ms: 1_700_000_000_000,
        identifiers: vec![
            Identifier::new(IdType::UserId, "u-1"),
            Identifier::new(IdType::LoyaltyId, "L-9"),
        ],
        rule: "shared_identifier".into(),
    }
}

fn full_review() -> IdentityReview {
    IdentityReview {
        review_id: "rv-1".into(),
        reason: "unique_conflict".into(),
        event_id: "ev-3".into(),
        event_time_ms: 1_700_000_000_000,
        customers: vec!["cust-1".into(), "cust-2".into()],
        identifiers: vec![Identifier::new(IdType::Phone, "+4930123")],
        summary: "link refused".into(),
    }
}

fn min_review() -> IdentityReview {
    IdentityReview {
        review_id: String::new(),
        reason: String::new(),
        event_id: String::new(),
        event_time_ms: 0,
        customers: vec![],
        identifiers: vec![],
        summary: String::new(),
    }
}

fn min_merge() -> MergeRecord {
    MergeRecord {
        merge_id: String::new(),
        kind: MergeKind::Merge,
        winner: String::new(),
        loser: String::new(),
        event_id: String::new(),
        event_time_ms: 0,
        identifiers: vec![],
        rule: String::new(),
    }
}

// ---------------------------------------------------------------- reference

/// The `apache_avro` path: serde → `Value` → resolve against the schema (turns
/// variant names into `Value::Enum`, wraps options into `Value::Union`) → datum.
fn reference_encode<T: Serialize>(record: RecordType, value: &T) -> Vec<u8> {
    let v = apache_avro::to_value(value)
        .unwrap()
        .resolve(record.schema())
        .unwrap();
    apache_avro::to_avro_datum(record.schema(), v).unwrap()
}

fn reference_decode<T: DeserializeOwned>(record: RecordType, mut datum: &[u8]) -> T {
    let v = apache_avro::from_avro_datum(record.schema(), &mut datum, None).unwrap();
    assert!(
        datum.is_empty(),
        "reference decoder left {} bytes",
        datum.len()
    );
    apache_avro::from_value(&v).unwrap()
}

/// Encode with both framings, decode, compare; re-encode gives the same
/// bytes; the datum is byte-identical to the `apache_avro` encoding and the
/// `apache_avro` decoder reads it back to the same value.
fn roundtrip<T>(record: RecordType, value: &T)
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let reference = reference_encode(record, value);
    for framing in [Framing::SingleObject, Framing::Confluent { schema_id: 42 }] {
        let codec = AvroCodec::new(record, framing);
        let bytes = codec.encode(value).unwrap();
        let header_len = codec.header().len();
        assert_eq!(&bytes[..header_len], codec.header());
        assert_eq!(
            &bytes[header_len..],
            &reference[..],
            "{record} {framing:?}: datum differs from apache_avro"
        );

        let back: T = codec.decode(&bytes).unwrap();
        assert_eq!(&back, value, "{record} {framing:?}");
        assert_eq!(
            codec.encode(&back).unwrap(),
            bytes,
            "{record} {framing:?}: re-encoding differs"
        );

        let via_reference: T = reference_decode(record, &bytes[header_len..]);
        assert_eq!(
            &via_reference, value,
            "{record}: apache_avro reads a different value"
        );
    }
}

#[test]
fn avro_roundtrip_journey_event() {
    roundtrip(RecordType::JourneyEvent, &full_event());
    roundtrip(RecordType::JourneyEvent, &min_event());
}

#[test]
fn avro_roundtrip_every_enum_symbol() {
    // Enum symbols are written as indexes: every variant must land on its own symbol.
    let activities = [
        Activity::Contact,
        Activity::AgentReply,
        Activity::Outbound,
        Activity::Closed,
        Activity::PageView,
        Activity::Track,
        Activity::CheckoutStarted,
        Activity::Purchase,
        Activity::Identify,
        Activity::Appointment,
        Activity::Refund,
        Activity::Delivery,
        Activity::SurveyResponse,
    ];
    let score_kinds = [
        ScoreKind::Nps,
        ScoreKind::Csat,
        ScoreKind::Ces,
        ScoreKind::Rating,
    ];
    for (i, activity) in activities.into_iter().enumerate() {
        let mut e = full_event();
        e.activity = activity;
        e.channel = Channel::ALL[i % Channel::ALL.len()];
        e.identifiers = IdType::ALL
            .iter()
            .map(|t| Identifier::new(*t, t.as_str()))
            .collect();
        e.fulfils = Some(PromiseKind::ALL[i % PromiseKind::ALL.len()]);
        e.promise = Some(Promise {
            kind: PromiseKind::ALL[(i + 1) % PromiseKind::ALL.len()],
            due_ms: 5,
        });
        e.score = Some(Score {
            kind: score_kinds[i % score_kinds.len()],
            ..score()
        });
        roundtrip(RecordType::JourneyEvent, &e);
    }
    for (rule, severity) in Rule::ALL.into_iter().zip(
        [Severity::Low, Severity::Medium, Severity::High]
            .into_iter()
            .cycle(),
    ) {
        roundtrip(
            RecordType::JourneyAlert,
            &JourneyAlert {
                rule,
                severity,
                ..full_alert()
            },
        );
    }
}

#[test]
fn avro_roundtrip_handover() {
    roundtrip(RecordType::Handover, &full_handover());
    roundtrip(RecordType::Handover, &min_handover());
}

#[test]
fn avro_roundtrip_journey_alert() {
    roundtrip(RecordType::JourneyAlert, &full_alert());
    roundtrip(RecordType::JourneyAlert, &min_alert());
}

#[test]
fn avro_roundtrip_merge_record() {
    roundtrip(RecordType::MergeRecord, &full_merge());
    roundtrip(RecordType::MergeRecord, &min_merge());
    roundtrip(RecordType::IdentityReview, &full_review());
    roundtrip(RecordType::IdentityReview, &min_review());
}

// ---------------------------------------------------------------- framing

#[test]
fn avro_single_object_header_and_fingerprint() {
    for record in RecordType::ALL {
        let expected = record.schema().fingerprint::<Rabin>().bytes;
        assert_eq!(
            record.fingerprint().as_slice(),
            expected.as_slice(),
            "{record}"
        );
        let codec = AvroCodec::new(record, Framing::SingleObject);
        assert_eq!(codec.header()[..2], [0xC3, 0x01]);
        assert_eq!(&codec.header()[2..], expected.as_slice());
    }
    let bytes = AvroCodec::new(RecordType::JourneyEvent, Framing::SingleObject)
        .encode(&min_event())
        .unwrap();
    assert_eq!(bytes[..2], [0xC3, 0x01]);
    assert_eq!(
        &bytes[2..10],
        RecordType::JourneyEvent
            .schema()
            .fingerprint::<Rabin>()
            .bytes
            .as_slice()
    );
    // Fingerprints differ between record types.
    let mut all: Vec<[u8; 8]> = RecordType::ALL.iter().map(|r| r.fingerprint()).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), RecordType::ALL.len());
}

#[test]
fn avro_confluent_header() {
    let codec = AvroCodec::new(
        RecordType::MergeRecord,
        Framing::Confluent {
            schema_id: 0x0102_0304,
        },
    );
    let bytes = codec.encode(&full_merge()).unwrap();
    assert_eq!(bytes[..5], [0x00, 0x01, 0x02, 0x03, 0x04]);
    assert_eq!(
        &bytes[5..],
        reference_encode(RecordType::MergeRecord, &full_merge()).as_slice()
    );
}

#[test]
fn avro_wrong_fingerprint_fails() {
    let codec = AvroCodec::new(RecordType::JourneyEvent, Framing::SingleObject);
    let mut bytes = codec.encode(&full_event()).unwrap();
    bytes[9] ^= 0xFF;
    let err = codec.decode::<JourneyEvent>(&bytes).unwrap_err();
    assert!(
        matches!(err, AvroError::FingerprintMismatch { .. }),
        "{err:?}"
    );
    assert!(err.is_bad_input());
    assert!(err.to_string().starts_with("schema fingerprint "), "{err}");

    // A Handover is not a JourneyEvent, even though the header is well formed.
    let handover = AvroCodec::new(RecordType::Handover, Framing::SingleObject)
        .encode(&min_handover())
        .unwrap();
    assert!(matches!(
        codec.decode::<JourneyEvent>(&handover),
        Err(AvroError::FingerprintMismatch { .. })
    ));

    let mut bad_magic = codec.encode(&full_event()).unwrap();
    bad_magic[1] = 0x02;
    assert!(matches!(
        codec.decode::<JourneyEvent>(&bad_magic),
        Err(AvroError::BadMagic { .. })
    ));
    assert!(matches!(
        codec.decode::<JourneyEvent>(&[0xC3, 0x01, 0]),
        Err(AvroError::Truncated { .. })
    ));
}

#[test]
fn avro_wrong_schema_id_fails() {
    let writer = AvroCodec::new(
        RecordType::JourneyEvent,
        Framing::Confluent { schema_id: 7 },
    );
    let reader = AvroCodec::new(
        RecordType::JourneyEvent,
        Framing::Confluent { schema_id: 8 },
    );
    let bytes = writer.encode(&full_event()).unwrap();
    let err = reader.decode::<JourneyEvent>(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            AvroError::SchemaIdMismatch {
                found: 7,
                expected: 8,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "schema id 7 is not the configured JourneyEvent schema id 8"
    );
    let single = AvroCodec::new(RecordType::JourneyEvent, Framing::SingleObject)
        .encode(&full_event())
        .unwrap();
    assert!(matches!(
        writer.decode::<JourneyEvent>(&single),
        Err(AvroError::BadMagic { .. })
    ));
}

#[test]
fn avro_truncated_datum_fails() {
    let codec = AvroCodec::new(RecordType::JourneyEvent, Framing::SingleObject);
    let bytes = codec.encode(&full_event()).unwrap();
    for cut in [11, bytes.len() / 2, bytes.len() - 1] {
        let err = codec.decode::<JourneyEvent>(&bytes[..cut]).unwrap_err();
        assert!(
            matches!(err, AvroError::Decode { .. }),
            "cut at {cut}: {err:?}"
        );
        assert!(
            err.to_string()
                .starts_with("cannot decode JourneyEvent avro datum: "),
            "{err}"
        );
    }
}

#[test]
fn avro_encode_into_appends_and_reuses_buffer() {
    let codec = AvroCodec::new(RecordType::JourneyEvent, Framing::SingleObject);
    let one = codec.encode(&full_event()).unwrap();
    let mut buf = b"prefix".to_vec();
    codec.encode_into(&full_event(), &mut buf).unwrap();
    assert_eq!(&buf[..6], b"prefix");
    assert_eq!(&buf[6..], one.as_slice());
    // A value of the wrong shape fails and leaves the buffer untouched.
    let before = buf.clone();
    let err = codec.encode_into(&full_merge(), &mut buf).unwrap_err();
    assert!(
        matches!(err, AvroError::Encode { .. }) && !err.is_bad_input(),
        "{err:?}"
    );
    assert_eq!(buf, before);
}

// ---------------------------------------------------------------- schemas agree with the model

#[test]
fn avro_every_schema_file_parses_and_is_compiled_in() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("avsc") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let schema = Schema::parse_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let record = RecordType::ALL
            .into_iter()
            .find(|r| r.name() == stem)
            .unwrap_or_else(|| panic!("{} has no RecordType", path.display()));
        assert_eq!(
            record.schema_json(),
            text,
            "{stem}: compiled-in text differs from the file"
        );
        let Schema::Record(r) = &schema else {
            panic!("{stem}: top level is not a record")
        };
        assert_eq!(r.name.fullname(None), format!("io.journeystitch.{stem}"));
        assert_documented(&schema, &stem);
        seen.push(stem);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "Handover",
            "IdentityReview",
            "JourneyAlert",
            "JourneyEvent",
            "MergeRecord"
        ]
    );
}

/// Every record and every field carries a `doc` (the contract for other languages).
fn assert_documented(schema: &Schema, at: &str) {
    match schema {
        Schema::Record(r) => {
            assert!(
                r.doc.as_deref().is_some_and(|d| !d.is_empty()),
                "{at}: record {} has no doc",
                r.name
            );
            for f in &r.fields {
                let path = format!("{at}.{}", f.name);
                assert!(
                    f.doc.as_deref().is_some_and(|d| !d.is_empty()),
                    "{path}: field has no doc"
                );
                assert_documented(&f.schema, &path);
            }
        }
        Schema::Enum(e) => assert!(
            e.doc.as_deref().is_some_and(|d| !d.is_empty()),
            "{at}: enum has no doc"
        ),
        Schema::Array(a) => assert_documented(&a.items, at),
        Schema::Union(u) => u.variants().iter().for_each(|v| assert_documented(v, at)),
        _ => {}
    }
}

/// Walks the serde_json form of a value against the schema: every JSON key is
/// a field, every field is a JSON key, every enum string is a symbol, every
/// option is a `["null", T]` union with default null, and `*_ms` fields are
/// `timestamp-millis`.
fn assert_agrees(
    schema: &Schema,
    names: &HashMap<Name, &Schema>,
    json: &serde_json::Value,
    at: &str,
) {
    use serde_json::Value as J;
    match (schema, json) {
        (Schema::Ref { name }, _) => assert_agrees(names[name], names, json, at),
        (Schema::Record(r), J::Object(map)) => {
            for key in map.keys() {
                assert!(
                    r.lookup.contains_key(key),
                    "{at}: serde field `{key}` is not in record {}",
                    r.name
                );
            }
            for f in &r.fields {
                let path = format!("{at}.{}", f.name);
                let value = map
                    .get(&f.name)
                    .unwrap_or_else(|| panic!("{path}: schema field missing in serde form"));
                if f.name.ends_with("_ms") {
                    // A time, or an optional time: ["null", timestamp-millis].
                    let time = match &f.schema {
                        Schema::Union(u) => u
                            .variants()
                            .iter()
                            .any(|v| matches!(v, Schema::TimestampMillis)),
                        other => matches!(other, Schema::TimestampMillis),
                    };
                    assert!(time, "{path}: not timestamp-millis");
                }
                if let Schema::Union(u) = &f.schema {
                    assert!(
                        matches!(u.variants()[0], Schema::Null),
                        "{path}: null is not the first branch"
                    );
                    assert_eq!(
                        f.default,
                        Some(serde_json::Value::Null),
                        "{path}: default is not null"
                    );
                }
                assert_agrees(&f.schema, names, value, &path);
            }
        }
        (Schema::Union(u), J::Null) => assert!(matches!(u.variants()[0], Schema::Null), "{at}"),
        (Schema::Union(u), _) => {
            assert_eq!(
                u.variants().len(),
                2,
                "{at}: only [\"null\", T] unions are expected"
            );
            assert_agrees(&u.variants()[1], names, json, at);
        }
        (Schema::Enum(e), J::String(s)) => assert!(
            e.symbols.contains(s),
            "{at}: `{s}` is not a symbol of {}",
            e.name
        ),
        (Schema::Array(a), J::Array(items)) => items
            .iter()
            .for_each(|i| assert_agrees(&a.items, names, i, at)),
        (Schema::String, J::String(_)) | (Schema::Boolean, J::Bool(_)) => {}
        (Schema::Int, J::Number(n)) => {
            assert!(n.as_i64().is_some_and(|n| i32::try_from(n).is_ok()), "{at}")
        }
        (Schema::Long | Schema::TimestampMillis, J::Number(n)) => {
            assert!(n.is_i64() || n.is_u64(), "{at}")
        }
        (Schema::Double, J::Number(_)) => {}
        (s, j) => panic!("{at}: schema {s:?} does not fit serde value {j}"),
    }
}

fn check_agrees<T: Serialize>(record: RecordType, value: &T) {
    let resolved = ResolvedSchema::try_from(record.schema()).unwrap();
    let names: HashMap<Name, &Schema> = resolved
        .get_names()
        .iter()
        .map(|(n, s)| (n.clone(), *s))
        .collect();
    let json = serde_json::to_value(value).unwrap();
    assert_agrees(record.schema(), &names, &json, record.name());
}

#[test]
fn avro_schemas_agree_with_rust_types() {
    check_agrees(RecordType::JourneyEvent, &full_event());
    check_agrees(RecordType::JourneyEvent, &min_event());
    check_agrees(RecordType::Handover, &full_handover());
    check_agrees(RecordType::Handover, &min_handover());
    check_agrees(RecordType::JourneyAlert, &full_alert());
    check_agrees(RecordType::JourneyAlert, &min_alert());
    check_agrees(RecordType::MergeRecord, &full_merge());
    check_agrees(RecordType::MergeRecord, &min_merge());
    check_agrees(RecordType::IdentityReview, &full_review());
    check_agrees(RecordType::IdentityReview, &min_review());

    // Every enum variant's serde name is a symbol (variants not in the fixtures included).
    let resolved = ResolvedSchema::try_from(RecordType::JourneyEvent.schema()).unwrap();
    let symbols = |name: &str| -> Vec<String> {
        let s = resolved.get_names()[&Name::new(&format!("io.journeystitch.{name}")).unwrap()];
        let Schema::Enum(e) = s else {
            panic!("{name} is not an enum")
        };
        e.symbols.clone()
    };
    let serde_names = |v: serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        symbols("Channel"),
        serde_names(serde_json::to_value(Channel::ALL).unwrap())
    );
    assert_eq!(
        symbols("IdType"),
        serde_names(serde_json::to_value(IdType::ALL).unwrap())
    );
    assert_eq!(
        symbols("PromiseKind"),
        serde_names(serde_json::to_value(PromiseKind::ALL).unwrap())
    );
    let rule = ResolvedSchema::try_from(RecordType::JourneyAlert.schema()).unwrap();
    let Schema::Enum(e) = rule.get_names()[&Name::new("io.journeystitch.Rule").unwrap()] else {
        panic!()
    };
    assert_eq!(
        e.symbols,
        serde_names(serde_json::to_value(Rule::ALL).unwrap())
    );
}
