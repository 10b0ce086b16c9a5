//! Twilio webhooks of a voice contact centre: Voice status callbacks (one per
//! call leg and status) and TaskRouter event callbacks. Twilio posts them
//! form-encoded; they arrive either as a flat JSON object of strings (what a
//! webhook-to-Kafka bridge usually produces) or as the raw
//! `application/x-www-form-urlencoded` body.
//!
//! Voice status callback (see `docs/formats/twilio.md`):
//! - the call start (`queued`, `initiated`, `ringing`, `in-progress`) → one
//!   event with `source_event_id` = `CallSid`: every start status of a leg is
//!   the same event, so the stitcher applies it once;
//! - a final status (`completed`, `busy`, `no-answer`, `failed`, `canceled`) →
//!   the start event again (at `Timestamp` − `CallDuration`, for accounts that
//!   only subscribe to `completed`) plus a `closed` event `CallSid:status`;
//! - the customer is `From` on inbound calls, `To` on `outbound-api` calls;
//!   on a dialled child leg (`outbound-dial`) `From` when it is a phone number
//!   (the caller forwarded to an agent), else `To` (an agent's `client:`/`sip:`
//!   softphone calling a customer). `client:` and `sip:` are never phones;
//! - `ParentCallSid` (else `CallSid`) → `interaction_id`; a child leg carries
//!   `transfer_count` 1;
//! - `Timestamp` (RFC 2822) → `event_time_ms`.
//!
//! TaskRouter event callback:
//! - `EventType` `task.created` → contact, `reservation.accepted` → agent
//!   reply, `task.transfer-initiated` → agent reply with `transfer_count` 1,
//!   `task.canceled` / `task.completed` → closed;
//! - `TaskAttributes` is JSON inside a string: `from`, `caller`, `contact`,
//!   `email`, `phone`, `customers.email|phone` → identifiers; `call_sid` →
//!   `interaction_id` (else `TaskSid`); `topic` (else `TaskQueueName`) →
//!   `topic`; `case_id` → `case_id`;
//! - `task.created` of a call uses the call's `CallSid` as `source_event_id`,
//!   so that the call's start reported by both webhooks is one event;
//!   other events use `EventType:ResourceSid:Timestamp`.

use serde_json::{Map, Value};

use crate::ids;
use crate::model::{Activity, Channel, IdType, Identifier, JourneyEvent, PromiseKind, SourceRef};
use crate::normalize::native::{describe, id_value, parse_time, shorten};
use crate::normalize::{identifiers, NormalizeConfig, NormalizeError, NormalizeErrorKind as Kind};

const FORMAT: &str = "twilio";

const START_STATUSES: &[&str] = &["queued", "initiated", "ringing", "in-progress"];
const FINAL_STATUSES: &[&str] = &["completed", "busy", "no-answer", "failed", "canceled"];

/// TaskRouter event types that are customer touchpoints (set the
/// workspace's `EventsFilter` to these).
const TASK_EVENTS: &[&str] = &[
    "task.created",
    "reservation.accepted",
    "task.transfer-initiated",
    "task.canceled",
    "task.completed",
];

pub(super) fn normalize(
    channel: Channel,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let m = if is_form(payload) {
        parse_form(payload)?
    } else {
        crate::normalize::parse_object(payload)?
    };
    if m.contains_key("EventType") {
        return task_event(channel, &m, source, cfg);
    }
    if m.contains_key("CallSid") {
        return call_status(channel, &m, source, cfg);
    }
    Err(NormalizeError::field(
        Kind::MissingField,
        "CallSid",
        "required field is missing (a voice status callback needs `CallSid`, a TaskRouter event `EventType`)",
    ))
}

/// A voice status callback (`CallSid`, `AccountSid`, `CallStatus`) or a
/// TaskRouter event (`EventType`, `WorkspaceSid`), as JSON or form body.
pub(super) fn detect(payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    let has = |o: &Map<String, Value>, k: &str| o.contains_key(k);
    match object {
        Some(o) => {
            (has(o, "CallSid")
                && has(o, "AccountSid")
                && (has(o, "CallStatus") || has(o, "Direction")))
                || (has(o, "EventType") && has(o, "WorkspaceSid"))
        }
        None if is_form(payload) => {
            let head = &payload[..payload.len().min(64 * 1024)];
            let contains = |needle: &[u8]| head.windows(needle.len()).any(|w| w == needle);
            (contains(b"CallSid=") && contains(b"AccountSid="))
                || (contains(b"EventType=") && contains(b"WorkspaceSid="))
        }
        None => false,
    }
}

fn call_status(
    channel: Channel,
    m: &Map<String, Value>,
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let call_sid = required_id(m, "CallSid")?;
    let status = match str_at(m, "CallStatus")? {
        Some(s) => s.to_ascii_lowercase(),
        None => return Err(missing("CallStatus")),
    };
    let is_final = FINAL_STATUSES.contains(&status.as_str());
    if !is_final && !START_STATUSES.contains(&status.as_str()) {
        let all: Vec<&str> = START_STATUSES
            .iter()
            .chain(FINAL_STATUSES)
            .copied()
            .collect();
        return Err(NormalizeError::field(
            Kind::UnknownType,
            "CallStatus",
            format!(
                "unknown call status `{}` (expected one of {})",
                shorten(&status),
                all.join(", ")
            ),
        ));
    }
    let timestamp = match get(m, "Timestamp") {
        Some(v) => parse_time(v, "Timestamp", cfg)?,
        None => return Err(missing("Timestamp")),
    };
    let direction = str_at(m, "Direction")?
        .unwrap_or("inbound")
        .to_ascii_lowercase();
    let parent = optional_id(m, "ParentCallSid")?;

    let from = party(m, "From", "Caller", cfg)?;
    let to = party(m, "To", "Called", cfg)?;
    // (customer identifiers, the field they came from, whether the company called the customer)
    let (ids, field, outbound) = match direction.as_str() {
        "inbound" => (from, "From", false),
        "outbound-api" => (to, "To", true),
        "outbound-dial" if !from.is_empty() => (from, "From", false),
        "outbound-dial" => (to, "To", true),
        other => {
            return Err(NormalizeError::field(
                Kind::InvalidValue,
                "Direction",
                format!(
                    "unknown direction `{}` (expected one of inbound, outbound-api, outbound-dial)",
                    shorten(other)
                ),
            ))
        }
    };
    if ids.is_empty() {
        return Err(NormalizeError::field(
            Kind::NoIdentifier,
            field,
            format!("no usable customer phone number in `{field}` (absent, junk, or a client:/sip: address)"),
        ));
    }

    let start_activity = match (outbound, parent.is_some()) {
        (true, _) => Activity::Outbound,
        (false, false) => Activity::Contact,
        // The caller's call dialled through to an agent (or on to another number).
        (false, true) => Activity::AgentReply,
    };
    let duration_ms = match get(m, "CallDuration") {
        Some(v) => {
            let secs = crate::normalize::native::number(v, "CallDuration")?;
            if !(0.0..=86_400.0 * 7.0).contains(&secs) {
                return Err(NormalizeError::field(
                    Kind::InvalidValue,
                    "CallDuration",
                    format!("{secs} seconds is not a call duration"),
                ));
            }
            (secs * 1000.0).round() as i64
        }
        None => 0,
    };
    let interaction_id = parent.clone().unwrap_or_else(|| call_sid.clone());
    let transfer_count = u32::from(parent.is_some());
    let event = |source_event_id: String, activity, time, fulfils| JourneyEvent {
        event_id: ids::event_id(channel.as_str(), FORMAT, &source_event_id),
        source_event_id,
        channel,
        format: FORMAT.to_string(),
        activity,
        event_time_ms: time,
        identifiers: ids.clone(),
        interaction_id: Some(interaction_id.clone()),
        case_id: None,
        topic: None,
        promise: None,
        fulfils,
        resolves: false,
        score: None,
        sentiment: None,
        transfer_count,
        needs_enrichment: false,
        source_updated_ms: None,
        source: source.clone(),
    };
    let mut out = vec![event(
        call_sid.clone(),
        start_activity,
        if is_final {
            timestamp - duration_ms
        } else {
            timestamp
        },
        None,
    )];
    if is_final {
        // The company reached the customer: a promised callback is made.
        let fulfils =
            (outbound && status == "completed" && duration_ms > 0).then_some(PromiseKind::Callback);
        out.push(event(
            format!("{call_sid}:{status}"),
            Activity::Closed,
            timestamp,
            fulfils,
        ));
    }
    Ok(out)
}

fn task_event(
    channel: Channel,
    m: &Map<String, Value>,
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let event_type = match str_at(m, "EventType")? {
        Some(s) => s.to_ascii_lowercase(),
        None => return Err(missing("EventType")),
    };
    let (activity, transfer_count) = match event_type.as_str() {
        "task.created" => (Activity::Contact, 0),
        "reservation.accepted" => (Activity::AgentReply, 0),
        "task.transfer-initiated" => (Activity::AgentReply, 1),
        "task.canceled" | "task.completed" => (Activity::Closed, 0),
        other => {
            return Err(NormalizeError::field(
                Kind::UnknownType,
                "EventType",
                format!(
                    "unsupported TaskRouter event `{}` (expected one of {}; set the workspace's EventsFilter to these)",
                    shorten(other),
                    TASK_EVENTS.join(", ")
                ),
            ))
        }
    };
    let task_sid = required_id(m, "TaskSid")?;
    let (time_field, time_value) = match (get(m, "TimestampMs"), get(m, "Timestamp")) {
        (Some(v), _) => ("TimestampMs", v),
        (None, Some(v)) => ("Timestamp", v),
        (None, None) => return Err(missing("Timestamp")),
    };
    let event_time_ms = parse_time(time_value, time_field, cfg)?;

    let attrs: Map<String, Value> = match get(m, "TaskAttributes") {
        Some(Value::String(s)) if s.trim().is_empty() => Map::new(),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => o,
            Ok(other) => {
                return Err(wrong_type(
                    "TaskAttributes",
                    "a json object in a string",
                    &other,
                ))
            }
            Err(e) => {
                return Err(NormalizeError::field(
                    Kind::InvalidValue,
                    "TaskAttributes",
                    format!("not valid json: {e}"),
                ))
            }
        },
        // Already decoded by a bridge.
        Some(Value::Object(o)) => o.clone(),
        Some(other) => return Err(wrong_type("TaskAttributes", "a json string", other)),
        None => Map::new(),
    };

    let mut ids = Vec::new();
    for key in ["from", "caller", "contact", "email", "phone"] {
        address(
            &mut ids,
            get(&attrs, key),
            &format!("TaskAttributes.{key}"),
            cfg,
        )?;
    }
    match get(&attrs, "customers") {
        Some(Value::Object(c)) => {
            for key in ["email", "phone"] {
                address(
                    &mut ids,
                    get(c, key),
                    &format!("TaskAttributes.customers.{key}"),
                    cfg,
                )?;
            }
        }
        Some(other) => return Err(wrong_type("TaskAttributes.customers", "an object", other)),
        None => {}
    }
    if ids.is_empty() {
        return Err(NormalizeError::field(
            Kind::NoIdentifier,
            "TaskAttributes",
            "no usable customer identifier (from, caller, contact, email, phone, customers.email, customers.phone all absent or junk)",
        ));
    }

    let call_sid = match get(&attrs, "call_sid").or_else(|| get(&attrs, "callSid")) {
        Some(v) => id_value(v, "TaskAttributes.call_sid")?,
        None => None,
    };
    let source_event_id = match (&call_sid, event_type.as_str()) {
        (Some(call), "task.created") => call.clone(),
        _ => {
            let resource = optional_id(m, "ResourceSid")?.unwrap_or_else(|| task_sid.clone());
            format!("{event_type}:{resource}:{event_time_ms}")
        }
    };
    let topic = match topic_of(get(&attrs, "topic"), "TaskAttributes.topic")? {
        Some(t) => Some(t),
        None => topic_of(get(m, "TaskQueueName"), "TaskQueueName")?,
    };
    let case_id = match get(&attrs, "case_id") {
        Some(v) => id_value(v, "TaskAttributes.case_id")?,
        None => None,
    };
    Ok(vec![JourneyEvent {
        event_id: ids::event_id(channel.as_str(), FORMAT, &source_event_id),
        source_event_id,
        channel,
        format: FORMAT.to_string(),
        activity,
        event_time_ms,
        identifiers: ids,
        interaction_id: Some(call_sid.unwrap_or(task_sid)),
        case_id,
        topic,
        promise: None,
        fulfils: None,
        resolves: false,
        score: None,
        sentiment: None,
        transfer_count,
        needs_enrichment: false,
        source_updated_ms: None,
        source: source.clone(),
    }])
}

/// The phone number of one call party (`From`, else `Caller`).
fn party(
    m: &Map<String, Value>,
    key: &str,
    alt: &str,
    cfg: &NormalizeConfig,
) -> Result<Vec<Identifier>, NormalizeError> {
    let (field, v) = match (get(m, key), get(m, alt)) {
        (Some(v), _) => (key, v),
        (None, Some(v)) => (alt, v),
        (None, None) => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    if let Some(raw) = id_value(v, field)? {
        out.extend(identifiers::normalize(
            IdType::Phone,
            &raw,
            &cfg.default_region,
            &cfg.blocked_values,
        ));
    }
    Ok(out)
}

/// A task attribute holding an email address or a phone number.
fn address(
    ids: &mut Vec<Identifier>,
    v: Option<&Value>,
    path: &str,
    cfg: &NormalizeConfig,
) -> Result<(), NormalizeError> {
    let Some(v) = v else { return Ok(()) };
    if let Some(raw) = id_value(v, path)? {
        let lower = raw.to_ascii_lowercase();
        let id_type =
            if raw.contains('@') && !lower.starts_with("sip:") && !lower.starts_with("sips:") {
                IdType::Email
            } else {
                IdType::Phone
            };
        ids.extend(identifiers::normalize(
            id_type,
            &raw,
            &cfg.default_region,
            &cfg.blocked_values,
        ));
    }
    Ok(())
}

fn topic_of(v: Option<&Value>, path: &str) -> Result<Option<String>, NormalizeError> {
    match v {
        Some(Value::String(s)) => Ok(Some(s.trim().to_lowercase()).filter(|t| !t.is_empty())),
        Some(other) => Err(wrong_type(path, "a string", other)),
        None => Ok(None),
    }
}

/// A raw form body: not JSON (JSON objects start with `{`) and `key=value` pairs.
fn is_form(payload: &[u8]) -> bool {
    let start = payload.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|i| payload[i] != b'{' && payload[i] != b'[') && payload.contains(&b'=')
}

/// `application/x-www-form-urlencoded` → a flat object of strings.
fn parse_form(payload: &[u8]) -> Result<Map<String, Value>, NormalizeError> {
    if payload.len() > crate::normalize::MAX_PAYLOAD_BYTES {
        return Err(NormalizeError::new(
            Kind::InvalidJson,
            None,
            "form payload exceeds the size limit",
        ));
    }
    let mut out = Map::new();
    for pair in payload
        .trim_ascii()
        .split(|b| *b == b'&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        let key = percent_decode(k)?;
        let value = percent_decode(v)?;
        out.insert(key, Value::String(value));
    }
    Ok(out)
}

fn percent_decode(raw: &[u8]) -> Result<String, NormalizeError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hex = raw
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        bytes.push(b);
                        i += 2;
                    }
                    None => bytes.push(b'%'),
                }
            }
            b => bytes.push(b),
        }
        i += 1;
    }
    String::from_utf8(bytes).map_err(|e| {
        NormalizeError::new(
            Kind::InvalidUtf8,
            None,
            format!(
                "form value is not valid utf-8 (at byte {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
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
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(other) => Err(wrong_type(key, "a string", other)),
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

    const CALL: &str = "CA5d2a1f0b8c9e4d7f6a3b2c1d0e9f8a7b";

    fn all(bytes: &[u8]) -> Result<Vec<JourneyEvent>, NormalizeError> {
        run(
            Channel::Phone,
            Format::Twilio,
            bytes,
            &SourceRef::default(),
            &NormalizeConfig::default(),
        )
    }

    fn events(v: &Value) -> Result<Vec<JourneyEvent>, NormalizeError> {
        all(&serde_json::to_vec(v).expect("json"))
    }

    fn status(s: &str) -> Value {
        json!({
            "AccountSid": "AC00000000000000000000000000000001", "ApiVersion": "2010-04-01",
            "CallSid": CALL, "CallStatus": s, "Direction": "inbound",
            "From": "+491701234567", "To": "+4930123456", "CallerName": "Anna Schmidt",
            "Timestamp": "Tue, 10 Nov 2026 09:12:00 +0100", "SequenceNumber": "0"
        })
    }

    fn task(event_type: &str, attrs: &str) -> Value {
        json!({
            "EventType": event_type, "AccountSid": "AC00000000000000000000000000000001",
            "WorkspaceSid": "WS00000000000000000000000000000001", "ResourceType": "task",
            "ResourceSid": "WT00000000000000000000000000000001", "TaskSid": "WT00000000000000000000000000000001",
            "TaskAttributes": attrs, "TaskQueueName": "Refunds", "Timestamp": "1794298320",
            "TimestampMs": "1794298320123"
        })
    }

    #[test]
    fn start_statuses_of_a_leg_are_one_event() {
        let ringing = events(&status("ringing")).expect("ok");
        let answered = events(&status("in-progress")).expect("ok");
        assert_eq!(ringing.len(), 1);
        assert_eq!(ringing[0].event_id, answered[0].event_id);
        assert_eq!(ringing[0].source_event_id, CALL);
        assert_eq!(ringing[0].activity, Activity::Contact);
        assert_eq!(ringing[0].event_time_ms, 1_794_298_320_000);
        assert!(!serde_json::to_string(&ringing)
            .expect("json")
            .contains("Anna"));
    }

    #[test]
    fn completed_gives_the_start_and_the_end() {
        let mut v = status("completed");
        v["CallDuration"] = json!("95");
        v["Timestamp"] = json!("Tue, 10 Nov 2026 09:13:35 +0100 (CET)");
        let evs = events(&v).expect("ok");
        assert_eq!(evs.len(), 2);
        assert_eq!(
            evs[0].event_id,
            events(&status("ringing")).expect("ok")[0].event_id
        );
        assert_eq!(evs[0].event_time_ms, 1_794_298_320_000);
        assert_eq!(
            (evs[1].activity, evs[1].source_event_id.as_str()),
            (Activity::Closed, format!("{CALL}:completed").as_str())
        );
        assert_eq!(evs[1].event_time_ms, 1_794_298_415_000);
        assert_eq!(evs[1].fulfils, None);
    }

    #[test]
    fn outbound_api_customer_is_to_and_a_completed_call_fulfils_a_callback() {
        let mut v = status("completed");
        v["Direction"] = json!("outbound-api");
        v["From"] = json!("+4930123456");
        v["To"] = json!("0170 1234567");
        v["CallDuration"] = json!(42);
        let evs = events(&v).expect("ok");
        assert_eq!(evs[0].activity, Activity::Outbound);
        assert_eq!(
            evs[0].identifiers,
            vec![Identifier::new(IdType::Phone, "+491701234567")]
        );
        assert_eq!(evs[1].fulfils, Some(PromiseKind::Callback));
        v["CallStatus"] = json!("no-answer");
        v["CallDuration"] = json!("0");
        assert_eq!(events(&v).expect("ok")[1].fulfils, None);
    }

    #[test]
    fn child_legs_share_the_parent_interaction_and_client_sip_are_not_phones() {
        let mut v = status("in-progress");
        v["CallSid"] = json!("CAchild1");
        v["ParentCallSid"] = json!(CALL);
        v["Direction"] = json!("outbound-dial");
        v["To"] = json!("client:agent_jdoe");
        let e = events(&v).expect("ok").remove(0);
        assert_eq!((e.activity, e.transfer_count), (Activity::AgentReply, 1));
        assert_eq!(e.interaction_id.as_deref(), Some(CALL));
        assert_eq!(
            e.identifiers,
            vec![Identifier::new(IdType::Phone, "+491701234567")]
        );
        // Click-to-call: the agent's softphone dials the customer.
        v["From"] = json!("client:agent_jdoe");
        v["To"] = json!("+1 415 555 0142");
        let e = events(&v).expect("ok").remove(0);
        assert_eq!(e.activity, Activity::Outbound);
        assert_eq!(
            e.identifiers,
            vec![Identifier::new(IdType::Phone, "+14155550142")]
        );
        // Inbound from a SIP trunk user: no customer phone at all.
        let mut v = status("ringing");
        v["From"] = json!("sip:+491701234567@pbx.example.de");
        let e = events(&v).expect_err("sip");
        assert_eq!(e.kind, NormalizeErrorKind::NoIdentifier);
        assert!(e.to_string().starts_with("field `From`"), "{e}");
    }

    #[test]
    fn raw_form_body_is_read_like_the_flat_object() {
        let body = format!(
            "AccountSid=AC00000000000000000000000000000001&CallSid={CALL}&CallStatus=ringing&Direction=inbound\
             &From=%2B49+170+1234567&To=%2B4930123456&Timestamp=Tue%2C+10+Nov+2026+09%3A12%3A00+%2B0100"
        );
        assert_eq!(
            detect_format(Channel::Phone, body.as_bytes()),
            Some(Format::Twilio)
        );
        let form = all(body.as_bytes()).expect("ok");
        assert_eq!(form, events(&status("ringing")).expect("ok"));
        assert_eq!(percent_decode(b"100%").as_deref(), Ok("100%"));
        assert_eq!(percent_decode(b"%zz%2").as_deref(), Ok("%zz%2"));
        assert_eq!(
            all(b"CallSid=%ff&AccountSid=x").map_err(|e| e.kind),
            Err(NormalizeErrorKind::InvalidUtf8)
        );
    }

    #[test]
    fn task_attributes_json_inside_a_string() {
        let attrs = r#"{"type": "inbound", "from": "+49 (0)170 1234567", "call_sid": "CA5d2a1f0b8c9e4d7f6a3b2c1d0e9f8a7b", "customers": {"email": "Anna.Schmidt@Example.DE"}, "topic": "Refund", "case_id": 4242, "conversations": {"content": "wants to know where the refund is"}}"#;
        let e = events(&task("task.created", attrs)).expect("ok").remove(0);
        assert_eq!(e.activity, Activity::Contact);
        assert_eq!(e.event_time_ms, 1_794_298_320_123);
        // The same event id as the call's start from the voice webhook.
        assert_eq!(
            e.event_id,
            events(&status("ringing")).expect("ok")[0].event_id
        );
        assert_eq!(e.interaction_id.as_deref(), Some(CALL));
        assert_eq!(
            (e.topic.as_deref(), e.case_id.as_deref()),
            (Some("refund"), Some("4242"))
        );
        assert_eq!(
            e.identifiers,
            vec![
                Identifier::new(IdType::Email, "anna.schmidt@example.de"),
                Identifier::new(IdType::Phone, "+491701234567")
            ]
        );
        assert!(!serde_json::to_string(&e)
            .expect("json")
            .contains("where the refund is"));
        let accepted = events(&task("reservation.accepted", attrs))
            .expect("ok")
            .remove(0);
        assert_eq!(accepted.activity, Activity::AgentReply);
        assert_ne!(accepted.event_id, e.event_id);
        let transfer = events(&task("task.transfer-initiated", attrs))
            .expect("ok")
            .remove(0);
        assert_eq!(transfer.transfer_count, 1);
    }

    #[test]
    fn bad_payloads_name_the_field() {
        let e = events(&task("task.created", "{\"from\": ")).expect_err("json");
        assert_eq!(e.kind, NormalizeErrorKind::InvalidValue);
        assert!(
            e.to_string()
                .starts_with("field `TaskAttributes`: not valid json"),
            "{e}"
        );
        let e = events(&task("worker.activity.update", "{}")).expect_err("type");
        assert_eq!(e.kind, NormalizeErrorKind::UnknownType);
        let e = events(&task("task.created", r#"{"from": "client:anna"}"#)).expect_err("ids");
        assert_eq!(e.kind, NormalizeErrorKind::NoIdentifier);
        let mut v = status("ringing");
        v.as_object_mut().expect("obj").remove("Timestamp");
        assert_eq!(
            events(&v).expect_err("t").to_string(),
            "field `Timestamp`: required field is missing"
        );
        let e = events(&status("answered")).expect_err("status");
        assert_eq!(e.kind, NormalizeErrorKind::UnknownType);
        let mut v = status("ringing");
        v["CallSid"] = json!(["CA1"]);
        assert_eq!(
            events(&v).expect_err("sid").kind,
            NormalizeErrorKind::WrongType
        );
    }

    #[test]
    fn detect_is_specific() {
        let bytes = serde_json::to_vec(&status("ringing")).expect("json");
        assert_eq!(detect_format(Channel::Phone, &bytes), Some(Format::Twilio));
        let bytes = serde_json::to_vec(&task("task.created", "{}")).expect("json");
        assert_eq!(detect_format(Channel::Phone, &bytes), Some(Format::Twilio));
        let native = br#"{"id": 88123, "time": 1762765920, "type": "call_started", "customer": {"phone": "0170/1234567"}}"#;
        assert_eq!(detect_format(Channel::Phone, native), Some(Format::Native));
        assert!(!detect(b"not a form", None));
        assert!(!detect(b"{\"CallSid\": 1", None));
    }
}
