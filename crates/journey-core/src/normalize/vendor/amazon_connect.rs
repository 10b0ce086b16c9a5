//! Amazon Connect contact records (CTRs), as exported to Kinesis Data Streams
//! or Firehose: one JSON object per contact leg.
//!
//! Mapping (see `docs/formats/amazon_connect.md`):
//! - `ContactId` → `source_event_id`. Connect delivers a record at least once
//!   and again when it changes (`LastUpdateTimestamp`); every copy gets the
//!   same event id;
//! - `InitiationTimestamp` → `event_time_ms` (the start of the leg);
//! - `CustomerEndpoint.Address` → phone (or email for `EMAIL_ADDRESS`
//!   endpoints); `CustomerId` → vendor contact `amazon_connect:…`; the
//!   contact attributes `customer_number`, `loyalty_id`, `user_id`, `email`,
//!   `phone` → the identifier of that name;
//! - `InitiationMethod`, `Agent`, `Queue`, `DisconnectReason` → activity
//!   (a queued contact without an agent is abandoned; a transfer leg is an
//!   agent reply on the same interaction, not a new contact);
//! - `InitialContactId` (else `ContactId`) → `interaction_id`;
//!   `PreviousContactId`/`NextContactId` → `transfer_count`;
//! - attribute `topic`, else `Queue.Name` → `topic`; attribute `case_id` →
//!   `case_id`; attributes `promise_kind` + `promise_due`/`promise_within_hours`
//!   → `promise`; attribute `resolved` (`true`/`false`) → `resolves`.
//!
//! Ignored: agent names and ARNs, recordings, media streams, transcripts,
//! hold and talk durations, `Tags`, every other attribute.

use serde_json::{Map, Value};

use crate::ids;
use crate::model::{
    Activity, Channel, IdType, Identifier, JourneyEvent, Promise, PromiseKind, SourceRef,
};
use crate::normalize::native::{describe, id_value, number, parse_time, promise_kind, shorten};
use crate::normalize::{identifiers, NormalizeConfig, NormalizeError, NormalizeErrorKind as Kind};

const FORMAT: &str = "amazon_connect";

/// The `InitiationMethod` values mapped to a touchpoint.
const METHODS: &[&str] = &[
    "INBOUND",
    "OUTBOUND",
    "TRANSFER",
    "QUEUE_TRANSFER",
    "CALLBACK",
    "API",
    "WEBRTC_API",
    "EXTERNAL_OUTBOUND",
    "AGENT_REPLY",
    "FLOW",
    "DISCONNECT",
];

/// Disconnect reasons of an outbound or callback contact that never reached the customer.
const NOT_REACHED: &[&str] = &[
    "OUTBOUND_DESTINATION_ENDPOINT_ERROR",
    "OUTBOUND_RESOURCE_ERROR",
    "OUTBOUND_ATTEMPT_FAILED",
    "EXPIRED",
];

/// Promises further out than ten years are typos.
const MAX_WITHIN_HOURS: f64 = 24.0 * 366.0 * 10.0;

pub(super) fn normalize(
    channel: Channel,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let m = crate::normalize::parse_object(payload)?;
    let contact_id = required_id(&m, "ContactId")?;
    let event_time_ms = match get(&m, "InitiationTimestamp") {
        Some(v) => parse_time(v, "InitiationTimestamp", cfg)?,
        None => return Err(missing("InitiationTimestamp")),
    };
    // A contact record is delivered again whenever it changes: the latest update wins.
    let updated_ms = get(&m, "LastUpdateTimestamp")
        .map(|v| parse_time(v, "LastUpdateTimestamp", cfg))
        .transpose()?;
    let initial = optional_id(&m, "InitialContactId")?;
    let previous = optional_id(&m, "PreviousContactId")?;
    let next = optional_id(&m, "NextContactId")?;

    let method = match get(&m, "InitiationMethod") {
        Some(Value::String(s)) => s.trim().to_ascii_uppercase(),
        Some(other) => return Err(wrong_type("InitiationMethod", "a string", other)),
        // Older exports: infer from the transfer link.
        None if previous.is_some() => "TRANSFER".to_string(),
        None => "INBOUND".to_string(),
    };
    let agent = object_at(&m, "Agent")?;
    let queue = object_at(&m, "Queue")?;
    let reason = str_at(&m, "DisconnectReason")?.map(str::to_ascii_uppercase);
    let voice = str_at(&m, "Channel")?.is_none_or(|c| c.eq_ignore_ascii_case("VOICE"));
    let reached = agent.is_some() && !reason.as_deref().is_some_and(|r| NOT_REACHED.contains(&r));

    let (activity, fulfils) = match method.as_str() {
        "INBOUND" | "WEBRTC_API" => (Activity::Contact, None),
        // StartOutboundVoiceContact for voice; StartChatContact/StartTaskContact otherwise.
        "API" if voice => (Activity::Outbound, None),
        "API" => (Activity::Contact, None),
        "OUTBOUND" | "CALLBACK" | "EXTERNAL_OUTBOUND" => {
            (Activity::Outbound, reached.then_some(PromiseKind::Callback))
        }
        "FLOW" => (Activity::Outbound, None),
        // A transfer leg continues the same interaction: another agent takes
        // over (or nobody does, and the customer hangs up in the queue).
        "TRANSFER" | "QUEUE_TRANSFER" if agent.is_some() => (Activity::AgentReply, None),
        "TRANSFER" | "QUEUE_TRANSFER" => (Activity::Closed, None),
        "AGENT_REPLY" => (Activity::AgentReply, None),
        "DISCONNECT" => (Activity::Closed, None),
        "MONITOR" => {
            return Err(NormalizeError::field(
                Kind::UnknownType,
                "InitiationMethod",
                format!(
                    "`MONITOR` records a supervisor listening in, not a customer touchpoint (expected one of {})",
                    METHODS.join(", ")
                ),
            ))
        }
        other => {
            return Err(NormalizeError::field(
                Kind::UnknownType,
                "InitiationMethod",
                format!(
                    "unknown initiation method `{}` (expected one of {})",
                    shorten(other),
                    METHODS.join(", ")
                ),
            ))
        }
    };

    let mut ids = Vec::new();
    if let Some(endpoint) = object_at(&m, "CustomerEndpoint")? {
        let id_type = match str_at(endpoint, "Type")? {
            None => Some(IdType::Phone),
            Some(t) if t.eq_ignore_ascii_case("TELEPHONE_NUMBER") => Some(IdType::Phone),
            Some(t) if t.eq_ignore_ascii_case("EMAIL_ADDRESS") => Some(IdType::Email),
            // CONTACT_FLOW, AGENT, VOIP (app-to-app calling), ... are no customer address.
            Some(_) => None,
        };
        if let Some(t) = id_type {
            ident(
                &mut ids,
                t,
                get(endpoint, "Address"),
                "CustomerEndpoint.Address",
                cfg,
            )?;
        }
    }
    if let Some(v) = get(&m, "CustomerId") {
        if let Some(raw) = id_value(v, "CustomerId")?.filter(|r| !identifiers::is_junk(r)) {
            ident(
                &mut ids,
                IdType::VendorContact,
                Some(&Value::String(format!("amazon_connect:{raw}"))),
                "CustomerId",
                cfg,
            )?;
        }
    }
    let attributes = object_at(&m, "Attributes")?;
    if let Some(attrs) = attributes {
        for (key, t) in [
            ("customer_number", IdType::CustomerNumber),
            ("loyalty_id", IdType::LoyaltyId),
            ("user_id", IdType::UserId),
            ("email", IdType::Email),
            ("phone", IdType::Phone),
        ] {
            ident(
                &mut ids,
                t,
                get(attrs, key),
                &format!("Attributes.{key}"),
                cfg,
            )?;
        }
    }
    if ids.is_empty() {
        return Err(NormalizeError::field(
            Kind::NoIdentifier,
            "CustomerEndpoint.Address",
            "no usable customer identifier (CustomerEndpoint.Address, CustomerId and the identifier attributes are all absent or junk)",
        ));
    }

    let mut topic = None;
    let mut case_id = None;
    let mut promise = None;
    let mut resolves = false;
    if let Some(attrs) = attributes {
        topic = topic_of(get(attrs, "topic"), "Attributes.topic")?;
        case_id = match get(attrs, "case_id") {
            Some(v) => id_value(v, "Attributes.case_id")?,
            None => None,
        };
        promise = attribute_promise(attrs, event_time_ms, cfg)?;
        resolves = match get(attrs, "resolved") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("true") => true,
            Some(Value::String(s))
                if s.trim().eq_ignore_ascii_case("false") || s.trim().is_empty() =>
            {
                false
            }
            Some(other) => {
                return Err(NormalizeError::field(
                    Kind::InvalidValue,
                    "Attributes.resolved",
                    format!(
                        "expected `true` or `false`, found `{}`",
                        shorten(&other.to_string())
                    ),
                ))
            }
            None => false,
        };
    }
    if topic.is_none() {
        if let Some(q) = queue {
            topic = topic_of(get(q, "Name"), "Queue.Name")?;
        }
    }

    // Legs: 0 for a first contact, 1 when the previous leg was the initial
    // one, at least 2 when it was not; one more when this leg was transferred
    // onwards. The maximum over an interaction's legs is its transfer count.
    let mut transfer_count = match (&previous, &initial) {
        (None, _) => 0,
        (Some(p), Some(i)) if p != i => 2,
        (Some(_), _) => 1,
    };
    if next.is_some() {
        transfer_count += 1;
    }

    let interaction_id = initial.unwrap_or_else(|| contact_id.clone());
    Ok(vec![JourneyEvent {
        event_id: ids::event_id(channel.as_str(), FORMAT, &contact_id),
        source_event_id: contact_id,
        channel,
        format: FORMAT.to_string(),
        activity,
        event_time_ms,
        identifiers: ids,
        interaction_id: Some(interaction_id),
        case_id,
        topic,
        promise,
        fulfils,
        resolves,
        score: None,
        sentiment: None,
        transfer_count,
        needs_enrichment: false,
        source_updated_ms: updated_ms,
        source: source.clone(),
    }])
}

/// A contact record: `ContactId`, `InitiationTimestamp` and one of the
/// record's own fields. Twilio (`CallSid`), the native format (`id`, `time`)
/// share none of them.
pub(super) fn detect(_payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    let Some(o) = object else { return false };
    o.contains_key("ContactId")
        && o.contains_key("InitiationTimestamp")
        && [
            "AWSContactTraceRecordFormatVersion",
            "InitiationMethod",
            "CustomerEndpoint",
            "InstanceARN",
        ]
        .iter()
        .any(|k| o.contains_key(*k))
}

/// Contact attributes are strings: `promise_kind` and `promise_due` or
/// `promise_within_hours`.
fn attribute_promise(
    attrs: &Map<String, Value>,
    event_time_ms: i64,
    cfg: &NormalizeConfig,
) -> Result<Option<Promise>, NormalizeError> {
    let kind = match get(attrs, "promise_kind") {
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => promise_kind(s, "Attributes.promise_kind")?,
        Some(other) => return Err(wrong_type("Attributes.promise_kind", "a string", other)),
        None => return Ok(None),
    };
    let due_ms = match (
        get(attrs, "promise_due"),
        get(attrs, "promise_within_hours"),
    ) {
        (Some(due), _) => parse_time(due, "Attributes.promise_due", cfg)?,
        (None, Some(h)) => {
            let h = number(h, "Attributes.promise_within_hours")?;
            if !(0.0..=MAX_WITHIN_HOURS).contains(&h) {
                return Err(NormalizeError::field(
                    Kind::InvalidValue,
                    "Attributes.promise_within_hours",
                    format!("{h} is outside 0..={MAX_WITHIN_HOURS}"),
                ));
            }
            event_time_ms + (h * 3_600_000.0).round() as i64
        }
        (None, None) => {
            return Err(NormalizeError::field(
                Kind::MissingField,
                "Attributes.promise_due",
                "a promise needs `promise_due` or `promise_within_hours`",
            ))
        }
    };
    Ok(Some(Promise { kind, due_ms }))
}

fn topic_of(v: Option<&Value>, path: &str) -> Result<Option<String>, NormalizeError> {
    match v {
        Some(Value::String(s)) => Ok(Some(s.trim().to_lowercase()).filter(|t| !t.is_empty())),
        Some(other) => Err(wrong_type(path, "a string", other)),
        None => Ok(None),
    }
}

fn ident(
    ids: &mut Vec<Identifier>,
    id_type: IdType,
    v: Option<&Value>,
    path: &str,
    cfg: &NormalizeConfig,
) -> Result<(), NormalizeError> {
    let Some(v) = v else { return Ok(()) };
    if let Some(raw) = id_value(v, path)? {
        ids.extend(identifiers::normalize(
            id_type,
            &raw,
            &cfg.default_region,
            &cfg.blocked_values,
        ));
    }
    Ok(())
}

fn required_id(m: &Map<String, Value>, key: &str) -> Result<String, NormalizeError> {
    let v = get(m, key).ok_or_else(|| missing(key))?;
    id_value(v, key)?
        .filter(|s| s.len() <= identifiers::MAX_IDENTIFIER_LEN)
        .ok_or_else(|| NormalizeError::field(Kind::InvalidValue, key, "must be a non-empty id"))
}

fn optional_id(m: &Map<String, Value>, key: &str) -> Result<Option<String>, NormalizeError> {
    get(m, key).map_or(Ok(None), |v| id_value(v, key))
}

fn str_at<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, NormalizeError> {
    match get(m, key) {
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(other) => Err(wrong_type(key, "a string", other)),
        None => Ok(None),
    }
}

fn object_at<'a>(
    m: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, NormalizeError> {
    match get(m, key) {
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(wrong_type(key, "an object", other)),
        None => Ok(None),
    }
}

fn get<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
}

fn missing(path: &str) -> NormalizeError {
    NormalizeError::field(Kind::MissingField, path, "required field is missing")
}

fn wrong_type(path: &str, expected: &str, found: &Value) -> NormalizeError {
    NormalizeError::field(
        Kind::WrongType,
        path,
        format!("expected {expected}, found {}", describe(found)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::{detect as detect_format, normalize as run, Format, NormalizeErrorKind};
    use serde_json::json;

    fn one(v: &Value) -> Result<JourneyEvent, NormalizeError> {
        let bytes = serde_json::to_vec(v).expect("json");
        run(
            Channel::Phone,
            Format::AmazonConnect,
            &bytes,
            &SourceRef::default(),
            &NormalizeConfig::default(),
        )
        .map(|mut e| e.remove(0))
    }

    fn ctr() -> Value {
        json!({
            "AWSContactTraceRecordFormatVersion": "2017-03-10",
            "Agent": {"ARN": "arn:aws:connect:…/agent/1", "Username": "jdoe", "ConnectedToAgentTimestamp": "2026-11-10T08:13:10Z"},
            "Attributes": {},
            "Channel": "VOICE",
            "ContactId": "5ca32fbd-8f92-46af-92a5-6b0f970f0efe",
            "CustomerEndpoint": {"Address": "+491701234567", "Type": "TELEPHONE_NUMBER"},
            "DisconnectReason": "CUSTOMER_DISCONNECT",
            "InitialContactId": null,
            "InitiationMethod": "INBOUND",
            "InitiationTimestamp": "2026-11-10T08:12:00Z",
            "LastUpdateTimestamp": "2026-11-10T08:20:00Z",
            "PreviousContactId": null,
            "Queue": {"Name": "Refunds", "ARN": "arn:aws:connect:…/queue/1"},
            "SystemEndpoint": {"Address": "+4930123456", "Type": "TELEPHONE_NUMBER"}
        })
    }

    #[test]
    fn inbound_answered_call() {
        let e = one(&ctr()).expect("ok");
        assert_eq!(e.activity, Activity::Contact);
        assert_eq!(e.event_time_ms, 1_794_298_320_000);
        assert_eq!(
            e.identifiers,
            vec![Identifier::new(IdType::Phone, "+491701234567")]
        );
        assert_eq!(e.topic.as_deref(), Some("refunds"));
        assert_eq!(
            e.interaction_id.as_deref(),
            Some("5ca32fbd-8f92-46af-92a5-6b0f970f0efe")
        );
        assert_eq!(e.transfer_count, 0);
    }

    #[test]
    fn redelivered_record_keeps_its_event_id() {
        let a = one(&ctr()).expect("ok");
        let mut v = ctr();
        v["LastUpdateTimestamp"] = json!("2026-11-10T09:00:00Z");
        v["Attributes"] = json!({"case_id": "T-4242"});
        let b = one(&v).expect("ok");
        assert_eq!(a.event_id, b.event_id);
        assert_eq!(
            a.event_id,
            ids::event_id(
                "phone",
                "amazon_connect",
                "5ca32fbd-8f92-46af-92a5-6b0f970f0efe"
            )
        );
    }

    #[test]
    fn abandoned_in_queue_is_still_a_contact() {
        let mut v = ctr();
        v["Agent"] = Value::Null;
        let e = one(&v).expect("ok");
        assert_eq!(e.activity, Activity::Contact);
    }

    #[test]
    fn transfer_legs_share_the_interaction_and_count_transfers() {
        let mut first = ctr();
        first["NextContactId"] = json!("leg-2");
        assert_eq!(one(&first).map(|e| e.transfer_count), Ok(1));
        let mut second = ctr();
        second["ContactId"] = json!("leg-2");
        second["InitialContactId"] = json!("5ca32fbd-8f92-46af-92a5-6b0f970f0efe");
        second["PreviousContactId"] = json!("5ca32fbd-8f92-46af-92a5-6b0f970f0efe");
        second["InitiationMethod"] = json!("TRANSFER");
        let e = one(&second).expect("ok");
        assert_eq!((e.activity, e.transfer_count), (Activity::AgentReply, 1));
        assert_eq!(
            e.interaction_id.as_deref(),
            Some("5ca32fbd-8f92-46af-92a5-6b0f970f0efe")
        );
        let mut third = second.clone();
        third["ContactId"] = json!("leg-3");
        third["PreviousContactId"] = json!("leg-2");
        third["Agent"] = Value::Null;
        let e = one(&third).expect("ok");
        assert_eq!((e.activity, e.transfer_count), (Activity::Closed, 2));
    }

    #[test]
    fn callbacks_fulfil_only_when_the_customer_was_reached() {
        let mut v = ctr();
        v["InitiationMethod"] = json!("CALLBACK");
        assert_eq!(
            one(&v).map(|e| (e.activity, e.fulfils)),
            Ok((Activity::Outbound, Some(PromiseKind::Callback)))
        );
        v["DisconnectReason"] = json!("OUTBOUND_DESTINATION_ENDPOINT_ERROR");
        assert_eq!(one(&v).map(|e| e.fulfils), Ok(None));
        v["DisconnectReason"] = json!("CUSTOMER_DISCONNECT");
        v["Agent"] = Value::Null;
        assert_eq!(one(&v).map(|e| e.fulfils), Ok(None));
    }

    #[test]
    fn attributes_give_ids_case_topic_promise_and_resolution() {
        let mut v = ctr();
        v["CustomerEndpoint"]["Address"] = json!("anonymous");
        v["Attributes"] = json!({
            "customer_number": "4711", "case_id": "T-4242", "topic": "Delivery",
            "promise_kind": "callback", "promise_within_hours": "24", "resolved": "false",
            "note": "customer was furious about the late parcel"
        });
        let e = one(&v).expect("ok");
        assert_eq!(
            e.identifiers,
            vec![Identifier::new(IdType::CustomerNumber, "4711")]
        );
        assert_eq!(
            (e.case_id.as_deref(), e.topic.as_deref()),
            (Some("T-4242"), Some("delivery"))
        );
        assert_eq!(
            e.promise,
            Some(Promise {
                kind: PromiseKind::Callback,
                due_ms: 1_794_298_320_000 + 24 * 3_600_000
            })
        );
        assert!(!e.resolves);
        assert!(!serde_json::to_string(&e).expect("json").contains("furious"));
    }

    #[test]
    fn bad_records_name_the_field() {
        let mut v = ctr();
        v["CustomerEndpoint"]["Address"] = json!("anonymous");
        let e = one(&v).expect_err("junk");
        assert_eq!(e.kind, NormalizeErrorKind::NoIdentifier);
        assert!(
            e.to_string()
                .starts_with("field `CustomerEndpoint.Address`"),
            "{e}"
        );
        let mut v = ctr();
        v["CustomerEndpoint"]["Address"] = json!(491701234567_i64);
        assert!(one(&v).is_ok(), "an integer address is still read");
        v["CustomerEndpoint"]["Address"] = json!(["+491701234567"]);
        assert_eq!(
            one(&v).expect_err("type").kind,
            NormalizeErrorKind::WrongType
        );
        let mut v = ctr();
        v["InitiationMethod"] = json!("MONITOR");
        assert_eq!(
            one(&v).expect_err("monitor").kind,
            NormalizeErrorKind::UnknownType
        );
        let mut v = ctr();
        v.as_object_mut()
            .expect("obj")
            .remove("InitiationTimestamp");
        assert_eq!(
            one(&v).expect_err("time").to_string(),
            "field `InitiationTimestamp`: required field is missing"
        );
        let mut v = ctr();
        v["Attributes"] = json!({"promise_kind": "pizza", "promise_within_hours": "1"});
        assert!(one(&v)
            .expect_err("kind")
            .to_string()
            .starts_with("field `Attributes.promise_kind`"));
    }

    #[test]
    fn detect_is_specific() {
        let bytes = serde_json::to_vec(&ctr()).expect("json");
        assert_eq!(
            detect_format(Channel::Phone, &bytes),
            Some(Format::AmazonConnect)
        );
        let native = br#"{"id": 88123, "time": 1762765920, "type": "call_started", "customer": {"phone": "0170/1234567"}}"#;
        assert_eq!(detect_format(Channel::Phone, native), Some(Format::Native));
        let twilio = br#"{"CallSid": "CA1", "AccountSid": "AC1", "CallStatus": "ringing", "From": "+491701234567"}"#;
        assert!(!detect(
            twilio,
            serde_json::from_slice(twilio).ok().as_ref()
        ));
    }
}
