//! Zendesk ticket events (`type: zen:event-type:ticket.*`) → canonical email
//! events (see `docs/formats/zendesk.md`).
//!
//! One webhook request is one event; its `id` is the dedupe key. The ticket
//! (`detail`) gives the interaction and case id (`detail.id`), the topic (first
//! of `detail.tags`) and the customer, who is only an id (`detail.requester_id`
//! → `zendesk:<id>`): the event is marked as needing enrichment. A status
//! change to `solved` or `closed` closes and resolves the ticket. Subjects,
//! descriptions and comment bodies are never read.

use serde_json::{Map, Value};

use crate::ids;
use crate::model::{Activity, Channel, IdType, Identifier, JourneyEvent, SourceRef};
use crate::normalize::native::{id_value, parse_time, shorten, wrong_type};
use crate::normalize::{
    identifiers, parse_object, Format, NormalizeConfig, NormalizeError, NormalizeErrorKind as Kind,
};

const FORMAT: Format = Format::Zendesk;
const PREFIX: &str = "zen:event-type:ticket.";
const SUPPORTED: &[&str] = &[
    "ticket.created",
    "ticket.comment_added",
    "ticket.status_changed",
];

pub(super) fn normalize(
    channel: Channel,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let obj = parse_object(payload)?;
    let type_name = match get(&obj, "type") {
        Some(Value::String(s)) => s.trim(),
        Some(other) => return Err(wrong_type("type", "a string", other)),
        None => return Err(missing("type")),
    };
    let short = type_name
        .strip_prefix("zen:event-type:")
        .unwrap_or(type_name);
    if !SUPPORTED.contains(&short) {
        let known: Vec<String> = SUPPORTED
            .iter()
            .map(|s| format!("zen:event-type:{s}"))
            .collect();
        return Err(NormalizeError::field(
            Kind::UnknownType,
            "type",
            format!(
                "unknown zendesk event type `{}` (expected one of {})",
                shorten(type_name),
                known.join(", ")
            ),
        ));
    }
    let source_event_id = required_id(&obj, "id", "id")?;
    let detail = object(&obj, "detail", "detail")?;
    let ticket_id = required_id(detail, "id", "detail.id")?;
    let event = match get(&obj, "event") {
        Some(Value::Object(e)) => Some(e),
        Some(other) => return Err(wrong_type("event", "an object", other)),
        None => None,
    };

    let (activity, resolves) = match short {
        "ticket.created" => (Activity::Contact, false),
        "ticket.comment_added" => {
            let event = event.ok_or_else(|| missing("event"))?;
            let comment = object(event, "comment", "event.comment")?;
            // Internal notes are not part of the customer's journey.
            if matches!(get(comment, "is_public"), Some(Value::Bool(false))) {
                return Ok(Vec::new());
            }
            let author = object(comment, "author", "event.comment.author")?;
            match get(author, "is_staff") {
                Some(Value::Bool(true)) => (Activity::AgentReply, false),
                // The requester (or a CC) wrote again on the same ticket: a touchpoint, not a new contact.
                Some(Value::Bool(false)) => (Activity::Track, false),
                Some(other) => {
                    return Err(wrong_type(
                        "event.comment.author.is_staff",
                        "a boolean",
                        other,
                    ))
                }
                None => return Err(missing("event.comment.author.is_staff")),
            }
        }
        _ => {
            let event = event.ok_or_else(|| missing("event"))?;
            let current = match get(event, "current") {
                Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
                Some(other) => return Err(wrong_type("event.current", "a string", other)),
                None => return Err(missing("event.current")),
            };
            match current.as_str() {
                "solved" | "closed" => (Activity::Closed, true),
                "new" | "open" | "pending" | "hold" => (Activity::Track, false),
                other => {
                    return Err(NormalizeError::field(
                        Kind::InvalidValue,
                        "event.current",
                        format!(
                            "unknown ticket status `{}` (expected one of new, open, pending, hold, solved, closed)",
                            shorten(other)
                        ),
                    ))
                }
            }
        }
    };

    // A new ticket starts at its creation; every other event at the event's time.
    let (time, time_path) = match (short, get(detail, "created_at"), get(&obj, "time")) {
        ("ticket.created", Some(t), _) => (t, "detail.created_at"),
        (_, _, Some(t)) => (t, "time"),
        (_, Some(t), None) => (t, "detail.created_at"),
        (_, None, None) => return Err(missing("time")),
    };
    let event_time_ms = parse_time(time, time_path, cfg)?;

    let mut ids_out = Vec::new();
    if let Some(raw) = opt_id(detail, "requester_id", "detail.requester_id")? {
        push_contact(&mut ids_out, &raw, cfg);
    }
    // A comment by the requester names the same person; by staff, an agent.
    if activity == Activity::Track && short == "ticket.comment_added" {
        if let Some(author) = event
            .and_then(|e| e.get("comment"))
            .and_then(|c| c.get("author"))
            .and_then(Value::as_object)
        {
            if let Some(raw) = opt_id(author, "id", "event.comment.author.id")? {
                push_contact(&mut ids_out, &raw, cfg);
            }
        }
    }

    Ok(vec![JourneyEvent {
        event_id: ids::event_id(channel.as_str(), FORMAT.as_str(), &source_event_id),
        source_event_id,
        channel,
        format: FORMAT.as_str().to_string(),
        activity,
        event_time_ms,
        identifiers: ids_out,
        interaction_id: Some(ticket_id.clone()),
        case_id: Some(ticket_id),
        topic: first_tag(detail)?,
        promise: None,
        fulfils: None,
        resolves,
        score: None,
        sentiment: None,
        transfer_count: 0,
        // Ticket events carry the requester only as an id: the address must be looked up.
        needs_enrichment: true,
        source_updated_ms: None,
        source: source.clone(),
    }])
}

/// A ticket event: `type` starts with `zen:event-type:ticket.`.
pub(super) fn detect(_payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    object.is_some_and(|o| {
        o.get("type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.starts_with(PREFIX))
    })
}

/// A present, non-null field.
fn get<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn missing(path: &str) -> NormalizeError {
    NormalizeError::field(Kind::MissingField, path, "required field is missing")
}

fn object<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Map<String, Value>, NormalizeError> {
    match get(obj, key) {
        Some(Value::Object(o)) => Ok(o),
        Some(other) => Err(wrong_type(path, "an object", other)),
        None => Err(missing(path)),
    }
}

fn opt_id(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, NormalizeError> {
    obj.get(key).map_or(Ok(None), |v| id_value(v, path))
}

fn required_id(obj: &Map<String, Value>, key: &str, path: &str) -> Result<String, NormalizeError> {
    let id = opt_id(obj, key, path)?.ok_or_else(|| missing(path))?;
    if id.len() > identifiers::MAX_IDENTIFIER_LEN {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            path,
            format!("longer than {} bytes", identifiers::MAX_IDENTIFIER_LEN),
        ));
    }
    Ok(id)
}

/// A Zendesk user id as a vendor contact (`zendesk:<id>`), unless junk.
fn push_contact(out: &mut Vec<Identifier>, raw: &str, cfg: &NormalizeConfig) {
    if !identifiers::is_junk(raw) {
        out.extend(identifiers::normalize(
            IdType::VendorContact,
            &format!("zendesk:{}", raw.trim()),
            &cfg.default_region,
            &cfg.blocked_values,
        ));
    }
}

/// The first non-empty tag, lower-cased.
fn first_tag(detail: &Map<String, Value>) -> Result<Option<String>, NormalizeError> {
    match get(detail, "tags") {
        Some(Value::Array(tags)) => {
            for (i, t) in tags.iter().enumerate() {
                match t {
                    Value::String(s) if !s.trim().is_empty() => {
                        return Ok(Some(s.trim().to_lowercase()))
                    }
                    Value::String(_) | Value::Null => {}
                    other => {
                        return Err(wrong_type(&format!("detail.tags[{i}]"), "a string", other))
                    }
                }
            }
            Ok(None)
        }
        Some(other) => Err(wrong_type("detail.tags", "an array", other)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{detect as detect_format, normalize as run};
    use super::*;
    use serde_json::json;

    fn run_json(v: &Value) -> Result<Vec<JourneyEvent>, NormalizeError> {
        let bytes = serde_json::to_vec(v).expect("serialisable");
        run(
            Channel::Email,
            Format::Zendesk,
            &bytes,
            &SourceRef::default(),
            &NormalizeConfig::default(),
        )
    }

    fn base(ty: &str, event: Value) -> Value {
        json!({
            "type": format!("zen:event-type:{ty}"),
            "account_id": 12_514_403,
            "id": "2b24ef10-19d4-4740-93cf-8f98ec4776c0",
            "time": "2026-11-11T08:00:00.123456Z",
            "zendesk_event_version": "2022-11-06",
            "subject": "zen:ticket:35436",
            "detail": {
                "id": "35436", "requester_id": 20_978_392, "status": "OPEN",
                "subject": "Refund for order 1234 still missing",
                "description": "I returned the wallbox three weeks ago",
                "tags": ["Refund", "vip"], "via": {"channel": "email"},
                "created_at": "2026-11-10T08:12:00Z", "updated_at": "2026-11-11T08:00:00Z"
            },
            "event": event
        })
    }

    #[test]
    fn created_is_a_contact_at_creation_with_case_topic_and_enrichment() {
        let ev = run_json(&base("ticket.created", json!({})))
            .expect("ok")
            .remove(0);
        assert_eq!(ev.activity, Activity::Contact);
        assert_eq!(ev.event_time_ms, 1_794_298_320_000);
        assert_eq!(ev.case_id.as_deref(), Some("35436"));
        assert_eq!(ev.interaction_id.as_deref(), Some("35436"));
        assert_eq!(ev.topic.as_deref(), Some("refund"));
        assert!(ev.needs_enrichment);
        assert_eq!(
            ev.identifiers,
            vec![Identifier::new(IdType::VendorContact, "zendesk:20978392")]
        );
        assert_eq!(
            ev.event_id,
            ids::event_id("email", "zendesk", "2b24ef10-19d4-4740-93cf-8f98ec4776c0")
        );
    }

    #[test]
    fn solved_resolves_and_other_statuses_do_not() {
        let ev = run_json(&base(
            "ticket.status_changed",
            json!({"current": "SOLVED", "previous": "OPEN"}),
        ))
        .expect("ok")
        .remove(0);
        assert_eq!((ev.activity, ev.resolves), (Activity::Closed, true));
        assert_eq!(ev.event_time_ms, 1_794_384_000_123);
        let ev = run_json(&base(
            "ticket.status_changed",
            json!({"current": "pending", "previous": "OPEN"}),
        ))
        .expect("ok")
        .remove(0);
        assert_eq!((ev.activity, ev.resolves), (Activity::Track, false));
        let e = run_json(&base("ticket.status_changed", json!({"current": "melted"})))
            .expect_err("bad");
        assert_eq!(e.field.as_deref(), Some("event.current"));
    }

    #[test]
    fn comments_by_staff_are_replies_private_notes_are_skipped() {
        let c = |public: bool, staff: bool| {
            json!({"comment": {"id": "1", "body": "internal: customer is angry", "is_public": public,
                               "author": {"id": "900", "is_staff": staff, "name": "Agent"}}})
        };
        let ev = run_json(&base("ticket.comment_added", c(true, true)))
            .expect("ok")
            .remove(0);
        assert_eq!(ev.activity, Activity::AgentReply);
        assert!(!ev.identifiers.iter().any(|i| i.value == "zendesk:900"));
        let ev = run_json(&base("ticket.comment_added", c(true, false)))
            .expect("ok")
            .remove(0);
        assert_eq!(ev.activity, Activity::Track);
        assert_eq!(
            run_json(&base("ticket.comment_added", c(false, true))).expect("ok"),
            vec![]
        );
    }

    #[test]
    fn subject_description_and_bodies_are_never_copied() {
        let v = base(
            "ticket.comment_added",
            json!({"comment": {"body": "my IBAN is DE00 1234", "is_public": true, "author": {"id": "1", "is_staff": false}}}),
        );
        let out = serde_json::to_string(&run_json(&v).expect("ok")).expect("json");
        for text in ["IBAN", "order 1234", "three weeks"] {
            assert!(!out.contains(text), "{text}");
        }
    }

    #[test]
    fn numeric_and_string_ids_agree_and_junk_requester_is_no_identifier() {
        let mut a = base("ticket.created", json!({}));
        a["detail"]["id"] = json!(35436);
        a["detail"]["requester_id"] = json!("20978392");
        assert_eq!(
            run_json(&a).expect("ok"),
            run_json(&base("ticket.created", json!({}))).expect("ok")
        );
        a["detail"]["requester_id"] = json!(-1);
        assert_eq!(run_json(&a).expect_err("junk").kind, Kind::NoIdentifier);
    }

    #[test]
    fn unknown_type_and_missing_fields_are_named() {
        let e = run_json(&base("ticket.priority_changed", json!({}))).expect_err("unknown");
        assert_eq!(e.kind, Kind::UnknownType);
        assert!(e
            .to_string()
            .contains("zen:event-type:ticket.created, zen:event-type:ticket.comment_added"));
        let mut v = base("ticket.created", json!({}));
        v["detail"].as_object_mut().expect("obj").remove("id");
        assert_eq!(
            run_json(&v).expect_err("e").to_string(),
            "field `detail.id`: required field is missing"
        );
        let mut v = base("ticket.created", json!({}));
        v["detail"]["tags"] = json!("refund vip");
        assert_eq!(run_json(&v).expect_err("e").kind, Kind::WrongType);
    }

    #[test]
    fn detect_is_specific() {
        let bytes = serde_json::to_vec(&base("ticket.created", json!({}))).expect("json");
        assert_eq!(detect_format(Channel::Email, &bytes), Some(Format::Zendesk));
        let user_event = br#"{"type": "zen:event-type:user.active_changed", "id": "x", "time": "2026-11-10T08:12:00Z", "detail": {}}"#;
        assert_ne!(
            detect_format(Channel::Email, user_event),
            Some(Format::Zendesk)
        );
        let native = br#"{"id": "m-55", "time": "2026-11-11 08:00:00Z", "type": "email_received", "customer": {"email": "a@example.de"}}"#;
        assert_eq!(detect_format(Channel::Email, native), Some(Format::Native));
    }
}
