//! Intercom webhook notifications (`type: notification_event`) about
//! conversations → canonical chat events (see `docs/formats/intercom.md`).
//!
//! One notification is one event. The notification `id` is the dedupe key; the
//! conversation (`data.item`) gives the interaction id, the customer
//! (`source.author`, `contacts.contacts[]`, legacy `user`), the topic (Intercom
//! `topics` or `tags`), reassignments (`statistics.count_reassignments`) and,
//! for `conversation.rating.added`, the 1–5 rating. Message bodies
//! (`source.body`, `conversation_parts[].body`) and rating remarks are never read.

use serde_json::{Map, Value};

use crate::ids;
use crate::model::{
    Activity, Channel, IdType, Identifier, JourneyEvent, Score, ScoreKind, SourceRef,
};
use crate::normalize::native::{id_value, number, parse_time, required_id, shorten, wrong_type};
use crate::normalize::{
    identifiers, parse_object, Format, NormalizeConfig, NormalizeError, NormalizeErrorKind as Kind,
};

const FORMAT: Format = Format::Intercom;

/// Supported topics: (topic, activity, whether the event time is the conversation's start).
const TOPICS: &[(&str, Activity, bool)] = &[
    ("conversation.user.created", Activity::Contact, true),
    // A customer message inside a running conversation: a touchpoint, not a new contact.
    ("conversation.user.replied", Activity::Track, false),
    ("conversation.admin.replied", Activity::AgentReply, false),
    (
        "conversation.admin.single.created",
        Activity::Outbound,
        true,
    ),
    ("conversation.admin.closed", Activity::Closed, false),
    ("conversation.rating.added", Activity::SurveyResponse, false),
];

/// Author / contact types that are the customer (admins, bots and teams are not).
const CUSTOMER_TYPES: &[&str] = &["user", "lead", "contact"];

pub(super) fn normalize(
    channel: Channel,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let obj = parse_object(payload)?;
    match get(&obj, "type") {
        Some(Value::String(t)) if t == "notification_event" => {}
        Some(Value::String(t)) => {
            return Err(NormalizeError::field(
                Kind::UnknownType,
                "type",
                format!("expected `notification_event`, found `{}`", shorten(t)),
            ))
        }
        Some(other) => return Err(wrong_type("type", "a string", other)),
        None => return Err(missing("type")),
    }
    let source_event_id = required_id(&obj, "id")?;
    let topic_name = match get(&obj, "topic") {
        Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
        Some(other) => return Err(wrong_type("topic", "a string", other)),
        None => return Err(missing("topic")),
    };
    let &(_, activity, starts) = TOPICS
        .iter()
        .find(|(name, _, _)| *name == topic_name)
        .ok_or_else(|| {
            let known: Vec<&str> = TOPICS.iter().map(|t| t.0).collect();
            NormalizeError::field(
                Kind::UnknownType,
                "topic",
                format!(
                    "unknown intercom topic `{}` (expected one of {})",
                    shorten(&topic_name),
                    known.join(", ")
                ),
            )
        })?;
    let data = object(&obj, "data", "data")?;
    let item = object(data, "item", "data.item")?;
    let interaction_id = required_id(item, "id").map_err(|e| prefix(e, "data.item."))?;

    // The start of the conversation for topics that start one, else when the
    // notification was created (the moment of the reply, close or rating).
    let time_fields: &[(&Map<String, Value>, &str, &str)] = if starts {
        &[
            (item, "created_at", "data.item.created_at"),
            (&obj, "created_at", "created_at"),
        ]
    } else {
        &[
            (&obj, "created_at", "created_at"),
            (item, "updated_at", "data.item.updated_at"),
        ]
    };
    let (t_obj, t_key, t_path) = time_fields
        .iter()
        .find(|(o, k, _)| get(o, k).is_some())
        .copied()
        .ok_or_else(|| missing(time_fields[0].2))?;
    let event_time_ms = parse_time(get(t_obj, t_key).unwrap_or(&Value::Null), t_path, cfg)?;

    let identifiers = customer_identifiers(item, cfg)?;
    let topic = conversation_topic(item)?;
    let score = if activity == Activity::SurveyResponse {
        Some(rating(item)?)
    } else {
        None
    };
    let transfer_count = match get(item, "statistics").and_then(|s| s.get("count_reassignments")) {
        None | Some(Value::Null) => 0,
        Some(v) => {
            let n = number(v, "data.item.statistics.count_reassignments")?;
            if n < 0.0 || n.fract() != 0.0 {
                return Err(NormalizeError::field(
                    Kind::InvalidValue,
                    "data.item.statistics.count_reassignments",
                    format!("{n} is not a count"),
                ));
            }
            n.min(f64::from(u32::MAX)) as u32
        }
    };

    Ok(vec![JourneyEvent {
        event_id: ids::event_id(channel.as_str(), FORMAT.as_str(), &source_event_id),
        source_event_id,
        channel,
        format: FORMAT.as_str().to_string(),
        activity,
        event_time_ms,
        identifiers,
        interaction_id: Some(interaction_id),
        case_id: None,
        topic,
        promise: None,
        fulfils: None,
        resolves: false,
        score,
        sentiment: None,
        transfer_count,
        needs_enrichment: false,
        source_updated_ms: None,
        source: source.clone(),
    }])
}

/// A notification: `type: notification_event` with a `topic` and `data`.
pub(super) fn detect(_payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    object.is_some_and(|o| {
        o.get("type").and_then(Value::as_str) == Some("notification_event")
            && o.get("topic").is_some_and(Value::is_string)
            && o.get("data").is_some_and(Value::is_object)
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

/// Re-roots an error of a helper that only knew the last path segment.
fn prefix(mut e: NormalizeError, prefix: &str) -> NormalizeError {
    if let Some(f) = e.field.take() {
        e.field = Some(format!("{prefix}{f}"));
    }
    e
}

fn push(out: &mut Vec<Identifier>, id_type: IdType, raw: &str, cfg: &NormalizeConfig) {
    out.extend(identifiers::normalize(
        id_type,
        raw,
        &cfg.default_region,
        &cfg.blocked_values,
    ));
}

/// An Intercom contact id as a vendor contact (`intercom:<id>`), unless junk.
fn push_contact(out: &mut Vec<Identifier>, raw: &str, cfg: &NormalizeConfig) {
    if !identifiers::is_junk(raw) {
        push(
            out,
            IdType::VendorContact,
            &format!("intercom:{}", raw.trim()),
            cfg,
        );
    }
}

/// Reads the customer's identifiers from one person object (`source.author`,
/// a `contacts` entry or the legacy `user`): `email`, `phone`, `external_id` /
/// `user_id` (the company's own user id) and `id` (Intercom's contact id).
fn person(
    p: &Map<String, Value>,
    path: &str,
    out: &mut Vec<Identifier>,
    cfg: &NormalizeConfig,
) -> Result<(), NormalizeError> {
    for (key, id_type) in [
        ("email", IdType::Email),
        ("phone", IdType::Phone),
        ("external_id", IdType::UserId),
        ("user_id", IdType::UserId),
    ] {
        if let Some(v) = p.get(key) {
            if let Some(raw) = id_value(v, &format!("{path}.{key}"))? {
                push(out, id_type, &raw, cfg);
            }
        }
    }
    if let Some(v) = p.get("id") {
        if let Some(raw) = id_value(v, &format!("{path}.id"))? {
            push_contact(out, &raw, cfg);
        }
    }
    Ok(())
}

fn is_customer(p: &Map<String, Value>) -> bool {
    // Contacts in `contacts.contacts[]` may omit the type; admins never appear there.
    p.get("type")
        .and_then(Value::as_str)
        .is_none_or(|t| CUSTOMER_TYPES.contains(&t))
}

fn customer_identifiers(
    item: &Map<String, Value>,
    cfg: &NormalizeConfig,
) -> Result<Vec<Identifier>, NormalizeError> {
    let mut out = Vec::new();
    if let Some(author) = get(item, "source").and_then(|s| s.get("author")) {
        match author {
            Value::Object(a) if is_customer(a) => {
                person(a, "data.item.source.author", &mut out, cfg)?
            }
            Value::Object(_) | Value::Null => {}
            other => return Err(wrong_type("data.item.source.author", "an object", other)),
        }
    }
    // API 2.x: `contacts: {type: contact.list, contacts: [...]}`; some exports: a plain array.
    let contacts = match get(item, "contacts") {
        Some(Value::Object(c)) => c.get("contacts").filter(|v| !v.is_null()),
        other => other,
    };
    match contacts {
        Some(Value::Array(list)) => {
            for (i, c) in list.iter().enumerate() {
                match c {
                    Value::Object(c) if is_customer(c) => person(
                        c,
                        &format!("data.item.contacts.contacts[{i}]"),
                        &mut out,
                        cfg,
                    )?,
                    Value::Object(_) => {}
                    other => {
                        return Err(wrong_type(
                            &format!("data.item.contacts.contacts[{i}]"),
                            "an object",
                            other,
                        ))
                    }
                }
            }
        }
        Some(other) => return Err(wrong_type("data.item.contacts.contacts", "an array", other)),
        None => {}
    }
    // API 1.x: `user: {type: user|lead, id, user_id, email}`.
    match get(item, "user") {
        Some(Value::Object(u)) if is_customer(u) => person(u, "data.item.user", &mut out, cfg)?,
        Some(Value::Object(_)) | None => {}
        Some(other) => return Err(wrong_type("data.item.user", "an object", other)),
    }
    Ok(out)
}

/// The first Intercom conversation topic, else the first tag, lower-cased.
fn conversation_topic(item: &Map<String, Value>) -> Result<Option<String>, NormalizeError> {
    for (key, path) in [
        ("topics", "data.item.topics.topics"),
        ("tags", "data.item.tags.tags"),
    ] {
        let list = match get(item, key) {
            Some(Value::Object(o)) => o.get(key).filter(|v| !v.is_null()),
            other => other,
        };
        let list = match list {
            Some(Value::Array(l)) => l,
            Some(other) => return Err(wrong_type(path, "an array", other)),
            None => continue,
        };
        for (i, t) in list.iter().enumerate() {
            let name = match t {
                Value::Object(o) => o.get("name"),
                plain @ Value::String(_) => Some(plain),
                other => return Err(wrong_type(&format!("{path}[{i}]"), "an object", other)),
            };
            match name {
                Some(Value::String(s)) if !s.trim().is_empty() => {
                    return Ok(Some(s.trim().to_lowercase()))
                }
                Some(Value::String(_)) | Some(Value::Null) | None => {}
                Some(other) => {
                    return Err(wrong_type(&format!("{path}[{i}].name"), "a string", other))
                }
            }
        }
    }
    Ok(None)
}

/// `conversation_rating.rating`: a CSAT on 1..=5.
fn rating(item: &Map<String, Value>) -> Result<Score, NormalizeError> {
    const PATH: &str = "data.item.conversation_rating.rating";
    let r = object(item, "conversation_rating", "data.item.conversation_rating")?;
    let value = match get(r, "rating") {
        Some(v) => number(v, PATH)?,
        None => return Err(missing(PATH)),
    };
    if !(1.0..=5.0).contains(&value) {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            PATH,
            format!("{value} is outside the rating scale 1..=5"),
        ));
    }
    Ok(Score {
        kind: ScoreKind::Csat,
        value,
        scale_min: 1.0,
        scale_max: 5.0,
    })
}

#[cfg(test)]
mod tests {
    use super::super::super::{detect as detect_format, normalize as run};
    use super::*;
    use serde_json::json;

    fn cfg() -> NormalizeConfig {
        NormalizeConfig::default()
    }

    fn run_json(v: &Value) -> Result<Vec<JourneyEvent>, NormalizeError> {
        let bytes = serde_json::to_vec(v).expect("serialisable");
        run(
            Channel::Chat,
            Format::Intercom,
            &bytes,
            &SourceRef::default(),
            &cfg(),
        )
    }

    fn base(topic: &str) -> Value {
        json!({
            "type": "notification_event",
            "app_id": "abc123",
            "id": "notif_4e3504a3-ba3f-46dc-ab48-8e4d5bdfdf4e",
            "topic": topic,
            "created_at": 1_794_298_400,
            "data": {"type": "notification_event_data", "item": {
                "type": "conversation",
                "id": "1911149811",
                "created_at": 1_794_298_320,
                "updated_at": 1_794_298_400,
                "source": {"type": "conversation", "body": "<p>my wallbox is broken</p>",
                           "author": {"type": "user", "id": "5f8a", "email": " Anna.Schmidt@Example.DE "}},
                "contacts": {"type": "contact.list", "contacts": [{"type": "contact", "id": "5f8a", "external_id": "u-4711"}]},
                "tags": {"type": "tag.list", "tags": [{"type": "tag", "id": "1", "name": "Wallbox"}]}
            }}
        })
    }

    #[test]
    fn created_uses_conversation_start_and_reads_all_identifiers() {
        let ev = run_json(&base("conversation.user.created"))
            .expect("ok")
            .remove(0);
        assert_eq!(ev.activity, Activity::Contact);
        assert_eq!(ev.event_time_ms, 1_794_298_320_000);
        assert_eq!(ev.interaction_id.as_deref(), Some("1911149811"));
        assert_eq!(ev.topic.as_deref(), Some("wallbox"));
        let ids: Vec<(IdType, &str)> = ev
            .identifiers
            .iter()
            .map(|i| (i.id_type, i.value.as_str()))
            .collect();
        assert_eq!(
            ids,
            vec![
                (IdType::UserId, "u-4711"),
                (IdType::Email, "anna.schmidt@example.de"),
                (IdType::VendorContact, "intercom:5f8a"),
            ]
        );
        assert_eq!(
            ev.source_event_id,
            "notif_4e3504a3-ba3f-46dc-ab48-8e4d5bdfdf4e"
        );
        assert_eq!(
            ev.event_id,
            ids::event_id(
                "chat",
                "intercom",
                "notif_4e3504a3-ba3f-46dc-ab48-8e4d5bdfdf4e"
            )
        );
    }

    #[test]
    fn replies_use_the_notification_time() {
        let ev = run_json(&base("conversation.admin.replied"))
            .expect("ok")
            .remove(0);
        assert_eq!(ev.activity, Activity::AgentReply);
        assert_eq!(ev.event_time_ms, 1_794_298_400_000);
        let ev = run_json(&base("conversation.user.replied"))
            .expect("ok")
            .remove(0);
        assert_eq!(ev.activity, Activity::Track);
    }

    #[test]
    fn body_text_is_never_copied() {
        let out = serde_json::to_string(&run_json(&base("conversation.user.created")).expect("ok"))
            .expect("json");
        assert!(!out.contains("wallbox is broken"));
    }

    #[test]
    fn redelivery_gets_the_same_event_id() {
        let a = run_json(&base("conversation.admin.closed")).expect("ok");
        let mut again = base("conversation.admin.closed");
        again["delivery_attempts"] = json!(2);
        again["first_sent_at"] = json!(1_794_298_401);
        assert_eq!(a, run_json(&again).expect("ok"));
    }

    #[test]
    fn rating_becomes_a_csat_score_and_out_of_range_is_named() {
        let mut v = base("conversation.rating.added");
        v["data"]["item"]["conversation_rating"] =
            json!({"rating": 2, "remark": "too slow, nobody called", "created_at": 1_794_298_500});
        let ev = run_json(&v).expect("ok").remove(0);
        assert_eq!(ev.activity, Activity::SurveyResponse);
        let s = ev.score.as_ref().expect("score");
        assert_eq!(
            (s.kind, s.value, s.scale_min, s.scale_max),
            (ScoreKind::Csat, 2.0, 1.0, 5.0)
        );
        assert!(!serde_json::to_string(&ev)
            .expect("json")
            .contains("nobody called"));
        v["data"]["item"]["conversation_rating"]["rating"] = json!(7);
        let e = run_json(&v).expect_err("out of range");
        assert_eq!(
            e.field.as_deref(),
            Some("data.item.conversation_rating.rating")
        );
        v["data"]["item"]["conversation_rating"] = Value::Null;
        assert_eq!(
            run_json(&v).expect_err("missing").to_string(),
            "field `data.item.conversation_rating`: required field is missing"
        );
    }

    #[test]
    fn numeric_and_string_ids_are_the_same() {
        let mut v = base("conversation.admin.closed");
        v["data"]["item"]["id"] = json!(1_911_149_811_u64);
        v["data"]["item"]["contacts"]["contacts"][0]["external_id"] = json!(4711);
        let ev = run_json(&v).expect("ok").remove(0);
        assert_eq!(ev.interaction_id.as_deref(), Some("1911149811"));
        assert!(ev
            .identifiers
            .contains(&Identifier::new(IdType::UserId, "4711")));
    }

    #[test]
    fn admin_authors_and_junk_do_not_identify_anyone() {
        let mut v = base("conversation.admin.single.created");
        v["data"]["item"]["source"]["author"] =
            json!({"type": "admin", "id": "814860", "email": "agent@shop.example.de"});
        v["data"]["item"]["contacts"]["contacts"][0] = json!({"type": "contact", "id": "null", "external_id": "undefined", "email": "test@test.com"});
        let e = run_json(&v).expect_err("no customer");
        assert_eq!(e.kind, Kind::NoIdentifier);
        v["data"]["item"]["contacts"]["contacts"][0]["external_id"] = json!("u-1");
        let ev = run_json(&v).expect("ok").remove(0);
        assert_eq!(ev.activity, Activity::Outbound);
        assert_eq!(ev.identifiers, vec![Identifier::new(IdType::UserId, "u-1")]);
    }

    #[test]
    fn unknown_topic_lists_the_supported_ones() {
        let e = run_json(&base("contact.created")).expect_err("unknown");
        assert_eq!(e.kind, Kind::UnknownType);
        assert!(e.to_string().starts_with("field `topic`: unknown intercom topic `contact.created` (expected one of conversation.user.created, "));
    }

    #[test]
    fn almost_right_payloads_name_the_field() {
        let mut v = base("conversation.user.created");
        v["data"]["item"].as_object_mut().expect("obj").remove("id");
        assert_eq!(
            run_json(&v).expect_err("e").to_string(),
            "field `data.item.id`: required field is missing"
        );
        let mut v = base("conversation.user.created");
        v["data"]["item"]["created_at"] = json!("yesterday");
        assert_eq!(
            run_json(&v).expect_err("e").field.as_deref(),
            Some("data.item.created_at")
        );
        let mut v = base("conversation.user.created");
        v["data"]["item"]["contacts"]["contacts"] = json!("5f8a");
        assert_eq!(run_json(&v).expect_err("e").kind, Kind::WrongType);
        let mut v = base("conversation.user.created");
        v["data"]["item"]["statistics"] = json!({"count_reassignments": 2});
        assert_eq!(run_json(&v).expect("ok")[0].transfer_count, 2);
    }

    #[test]
    fn detect_is_specific() {
        let bytes = serde_json::to_vec(&base("conversation.user.created")).expect("json");
        assert_eq!(detect_format(Channel::Chat, &bytes), Some(Format::Intercom));
        let native = br#"{"id": "c-1", "time": 1794298320, "type": "chat_started", "customer": {"email": "a@example.de"}}"#;
        assert_eq!(detect_format(Channel::Chat, native), Some(Format::Native));
        let sunshine =
            br#"{"app": {"id": "a"}, "webhook": {"id": "w", "version": "v2"}, "events": []}"#;
        assert_ne!(
            detect_format(Channel::Chat, sunshine),
            Some(Format::Intercom)
        );
    }
}
