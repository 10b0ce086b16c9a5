//! Zendesk Sunshine Conversations v2 webhooks (`{app, webhook, events[]}`) →
//! canonical chat events, one per relevant entry of `events[]` (see
//! `docs/formats/sunshine.md`).
//!
//! Every event's `id` is its dedupe key. The customer comes from the message
//! author (`author.userId`, `author.user.externalId`, `author.user.profile.email`),
//! the event's `user`, and the channel client: a WhatsApp client's
//! `externalId` is the phone number without `+`. In a `personal` conversation
//! the conversation belongs to one user, so its id is also a vendor contact
//! (`sunshine_conversation:<id>`): that links business replies, which carry no
//! user, to the customer. Message contents are never read.

use serde_json::{Map, Value};

use crate::ids;
use crate::model::{Activity, Channel, IdType, Identifier, JourneyEvent, SourceRef};
use crate::normalize::native::{id_value, parse_time, shorten, wrong_type};
use crate::normalize::{
    identifiers, parse_object, Format, NormalizeConfig, NormalizeError, NormalizeErrorKind as Kind,
};

const FORMAT: Format = Format::Sunshine;

/// Event types that become canonical events.
const SUPPORTED: &[&str] = &[
    "conversation:create",
    "conversation:message",
    "conversation:postback",
];

/// Event types a subscription may deliver that say nothing about the journey
/// (typing indicators, read and delivery receipts, membership and client
/// bookkeeping): skipped without an error.
const IGNORED: &[&str] = &[
    "conversation:read",
    "conversation:typing",
    "conversation:message:delivery:channel",
    "conversation:message:delivery:user",
    "conversation:message:delivery:failure",
    "conversation:join",
    "conversation:leave",
    "conversation:remove",
    "conversation:referral",
    "user:merge",
    "user:remove",
    "client:add",
    "client:update",
    "client:remove",
    "switchboard:acceptControl",
    "switchboard:offerControl",
    "switchboard:passControl",
    "switchboard:releaseControl",
];

/// Channel types whose client `externalId` is a phone number.
const PHONE_CHANNELS: &[&str] = &["whatsapp", "twilio", "messagebird", "sms"];

pub(super) fn normalize(
    channel: Channel,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let obj = parse_object(payload)?;
    let events = match get(&obj, "events") {
        Some(Value::Array(e)) if !e.is_empty() => e,
        Some(Value::Array(_)) => {
            return Err(NormalizeError::field(
                Kind::InvalidValue,
                "events",
                "the batch is empty",
            ))
        }
        Some(other) => return Err(wrong_type("events", "an array", other)),
        None => return Err(missing("events")),
    };
    let mut out = Vec::with_capacity(events.len());
    for (i, ev) in events.iter().enumerate() {
        let path = format!("events[{i}]");
        let Value::Object(ev) = ev else {
            return Err(wrong_type(&path, "an object", ev));
        };
        if let Some(e) = one_event(channel, ev, &path, source, cfg)? {
            out.push(e);
        }
    }
    Ok(out)
}

/// A v2 webhook batch: an `events` array beside the `webhook` or `app` object.
pub(super) fn detect(_payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    object.is_some_and(|o| {
        o.get("events").is_some_and(Value::is_array)
            && (o.get("webhook").is_some_and(Value::is_object)
                || o.get("app").is_some_and(Value::is_object))
    })
}

fn one_event(
    channel: Channel,
    ev: &Map<String, Value>,
    path: &str,
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Option<JourneyEvent>, NormalizeError> {
    let type_name = match get(ev, "type") {
        Some(Value::String(s)) => s.trim(),
        Some(other) => return Err(wrong_type(&format!("{path}.type"), "a string", other)),
        None => return Err(missing(&format!("{path}.type"))),
    };
    if IGNORED.contains(&type_name) {
        return Ok(None);
    }
    if !SUPPORTED.contains(&type_name) {
        return Err(NormalizeError::field(
            Kind::UnknownType,
            &format!("{path}.type"),
            format!(
                "unknown sunshine event type `{}` (expected one of {})",
                shorten(type_name),
                SUPPORTED.join(", ")
            ),
        ));
    }
    let source_event_id = required_id(ev, "id", path)?;
    let payload = object(ev, "payload", &format!("{path}.payload"))?;
    let ppath = format!("{path}.payload");
    let conversation = object(payload, "conversation", &format!("{ppath}.conversation"))?;
    let interaction_id = required_id(conversation, "id", &format!("{ppath}.conversation"))?;

    let mut ids_out = Vec::new();
    if conversation.get("type").and_then(Value::as_str) == Some("personal") {
        push(
            &mut ids_out,
            IdType::VendorContact,
            &format!("sunshine_conversation:{interaction_id}"),
            cfg,
        );
    }
    user(payload, "user", &format!("{ppath}.user"), &mut ids_out, cfg)?;
    client_of(
        payload,
        "source",
        &format!("{ppath}.source"),
        &mut ids_out,
        cfg,
    )?;

    let (activity, time_value, time_path) = match type_name {
        "conversation:create" => (Activity::Contact, None, String::new()),
        "conversation:postback" => (Activity::Track, None, String::new()),
        _ => {
            let mpath = format!("{ppath}.message");
            let message = object(payload, "message", &mpath)?;
            let author = object(message, "author", &format!("{mpath}.author"))?;
            let apath = format!("{mpath}.author");
            let author_type = match get(author, "type") {
                Some(Value::String(s)) => s.as_str(),
                Some(other) => return Err(wrong_type(&format!("{apath}.type"), "a string", other)),
                None => return Err(missing(&format!("{apath}.type"))),
            };
            let activity = match author_type {
                // A customer message in a running conversation: a touchpoint, not a new contact.
                "user" => {
                    if let Some(raw) = opt_id(author, "userId", &apath)? {
                        push_vendor(&mut ids_out, "sunshine", &raw, cfg);
                    }
                    user(author, "user", &format!("{apath}.user"), &mut ids_out, cfg)?;
                    client_of(
                        message,
                        "source",
                        &format!("{mpath}.source"),
                        &mut ids_out,
                        cfg,
                    )?;
                    Activity::Track
                }
                "business" => Activity::AgentReply,
                other => {
                    return Err(NormalizeError::field(
                        Kind::InvalidValue,
                        &format!("{apath}.type"),
                        format!(
                            "unknown author type `{}` (expected user or business)",
                            shorten(other)
                        ),
                    ))
                }
            };
            (
                activity,
                get(message, "received"),
                format!("{mpath}.received"),
            )
        }
    };
    let (time_value, time_path) = match time_value {
        Some(v) => (v, time_path),
        None => (
            get(ev, "createdAt").ok_or_else(|| missing(&format!("{path}.createdAt")))?,
            format!("{path}.createdAt"),
        ),
    };
    let event_time_ms = parse_time(time_value, &time_path, cfg)?;

    if ids_out.is_empty() {
        return Err(NormalizeError::field(
            Kind::NoIdentifier,
            path,
            "no usable customer identifier (all absent or junk)",
        ));
    }
    Ok(Some(JourneyEvent {
        event_id: ids::event_id(channel.as_str(), FORMAT.as_str(), &source_event_id),
        source_event_id,
        channel,
        format: FORMAT.as_str().to_string(),
        activity,
        event_time_ms,
        identifiers: ids_out,
        interaction_id: Some(interaction_id),
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
        source: source.clone(),
    }))
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

/// An optional id (string or integer) at `base.key`.
fn opt_id(
    obj: &Map<String, Value>,
    key: &str,
    base: &str,
) -> Result<Option<String>, NormalizeError> {
    obj.get(key)
        .map_or(Ok(None), |v| id_value(v, &format!("{base}.{key}")))
}

fn required_id(obj: &Map<String, Value>, key: &str, base: &str) -> Result<String, NormalizeError> {
    let path = format!("{base}.{key}");
    let id = opt_id(obj, key, base)?.ok_or_else(|| missing(&path))?;
    if id.len() > identifiers::MAX_IDENTIFIER_LEN {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            &path,
            format!("longer than {} bytes", identifiers::MAX_IDENTIFIER_LEN),
        ));
    }
    Ok(id)
}

fn push(out: &mut Vec<Identifier>, id_type: IdType, raw: &str, cfg: &NormalizeConfig) {
    out.extend(identifiers::normalize(
        id_type,
        raw,
        &cfg.default_region,
        &cfg.blocked_values,
    ));
}

fn push_vendor(out: &mut Vec<Identifier>, vendor: &str, raw: &str, cfg: &NormalizeConfig) {
    if !identifiers::is_junk(raw) {
        push(
            out,
            IdType::VendorContact,
            &format!("{vendor}:{}", raw.trim()),
            cfg,
        );
    }
}

/// A Sunshine user object at `obj.key`: `id` (vendor contact), `externalId`
/// (the company's user id), `profile.email`.
fn user(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    out: &mut Vec<Identifier>,
    cfg: &NormalizeConfig,
) -> Result<(), NormalizeError> {
    let u = match get(obj, key) {
        Some(Value::Object(u)) => u,
        Some(other) => return Err(wrong_type(path, "an object", other)),
        None => return Ok(()),
    };
    if let Some(raw) = opt_id(u, "id", path)? {
        push_vendor(out, "sunshine", &raw, cfg);
    }
    if let Some(raw) = opt_id(u, "externalId", path)? {
        push(out, IdType::UserId, &raw, cfg);
    }
    match get(u, "profile") {
        Some(Value::Object(p)) => {
            if let Some(raw) = opt_id(p, "email", &format!("{path}.profile"))? {
                push(out, IdType::Email, &raw, cfg);
            }
        }
        Some(other) => return Err(wrong_type(&format!("{path}.profile"), "an object", other)),
        None => {}
    }
    Ok(())
}

/// The channel client of a message or conversation source (`source.client`):
/// on WhatsApp and SMS channels its `externalId` is the phone number (digits
/// without `+`); elsewhere (Messenger, LINE, web) it is a platform id and ignored.
fn client_of(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
    out: &mut Vec<Identifier>,
    cfg: &NormalizeConfig,
) -> Result<(), NormalizeError> {
    let src = match get(obj, key) {
        Some(Value::Object(s)) => s,
        Some(other) => return Err(wrong_type(path, "an object", other)),
        None => return Ok(()),
    };
    let client = match get(src, "client") {
        Some(Value::Object(c)) => c,
        Some(other) => return Err(wrong_type(&format!("{path}.client"), "an object", other)),
        None => return Ok(()),
    };
    let kind = client
        .get("type")
        .or_else(|| src.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    if PHONE_CHANNELS.contains(&kind.as_str()) {
        if let Some(raw) = opt_id(client, "externalId", &format!("{path}.client"))? {
            push(out, IdType::Phone, &raw, cfg);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::super::{detect as detect_format, normalize as run};
    use super::*;
    use serde_json::json;

    fn run_json(v: &Value) -> Result<Vec<JourneyEvent>, NormalizeError> {
        let bytes = serde_json::to_vec(v).expect("serialisable");
        run(
            Channel::Chat,
            Format::Sunshine,
            &bytes,
            &SourceRef::default(),
            &NormalizeConfig::default(),
        )
    }

    fn message(id: &str, author: Value) -> Value {
        json!({
            "id": id,
            "type": "conversation:message",
            "createdAt": "2026-11-10T08:12:00.547Z",
            "payload": {
                "conversation": {"id": "13f32c6cf7d0d38e6e0eba93", "type": "personal"},
                "message": {
                    "id": "5e55622dac66fb73a3c01877",
                    "received": "2026-11-10T08:12:00.123456Z",
                    "content": {"type": "text", "text": "my wallbox charges only at 3 kW"},
                    "author": author,
                    "source": {"type": "whatsapp", "integrationId": "5e4af71a81966cfff3ef6550",
                               "client": {"type": "whatsapp", "externalId": "491701234567", "id": "c1"}}
                }
            }
        })
    }

    fn batch(events: Vec<Value>) -> Value {
        json!({"app": {"id": "5698edbf2a43bd081be982f1"}, "webhook": {"id": "5e554d2cac66fb73a3c01869", "version": "v2"}, "events": events})
    }

    fn user_author() -> Value {
        json!({"type": "user", "userId": "cbec0073faeda4dfcd21d0f1", "displayName": "Anna",
               "user": {"id": "cbec0073faeda4dfcd21d0f1", "externalId": "u-4711", "profile": {"email": "Anna@Example.de"}}})
    }

    #[test]
    fn one_batch_several_events_each_with_its_own_id() {
        let v = batch(vec![
            message("ev-1", user_author()),
            message(
                "ev-2",
                json!({"type": "business", "displayName": "Support"}),
            ),
            json!({"id": "ev-3", "type": "conversation:read", "createdAt": "2026-11-10T08:13:00Z", "payload": {}}),
        ]);
        let evs = run_json(&v).expect("ok");
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[0].activity, Activity::Track);
        assert_eq!(evs[1].activity, Activity::AgentReply);
        assert_eq!(evs[0].event_id, ids::event_id("chat", "sunshine", "ev-1"));
        assert_ne!(evs[0].event_id, evs[1].event_id);
        // Both carry the personal conversation as a link.
        let conv = Identifier::new(
            IdType::VendorContact,
            "sunshine_conversation:13f32c6cf7d0d38e6e0eba93",
        );
        assert!(evs.iter().all(|e| e.identifiers.contains(&conv)));
        assert_eq!(evs[0].event_time_ms, 1_794_298_320_123);
    }

    #[test]
    fn whatsapp_client_id_is_a_phone_and_user_ids_are_read() {
        let ev = run_json(&batch(vec![message("ev-1", user_author())]))
            .expect("ok")
            .remove(0);
        for want in [
            Identifier::new(IdType::Phone, "+491701234567"),
            Identifier::new(IdType::UserId, "u-4711"),
            Identifier::new(IdType::Email, "anna@example.de"),
            Identifier::new(IdType::VendorContact, "sunshine:cbec0073faeda4dfcd21d0f1"),
        ] {
            assert!(
                ev.identifiers.contains(&want),
                "{want:?} in {:?}",
                ev.identifiers
            );
        }
    }

    #[test]
    fn messenger_client_ids_are_not_phones() {
        let mut m = message("ev-1", json!({"type": "user", "userId": "u1"}));
        m["payload"]["message"]["source"] = json!({"type": "messenger", "client": {"type": "messenger", "externalId": "4917012345678"}});
        let ev = run_json(&batch(vec![m])).expect("ok").remove(0);
        assert!(ev.identifiers.iter().all(|i| i.id_type != IdType::Phone));
    }

    #[test]
    fn message_text_is_never_copied() {
        let out = serde_json::to_string(
            &run_json(&batch(vec![message("ev-1", user_author())])).expect("ok"),
        )
        .expect("json");
        assert!(!out.contains("3 kW"));
    }

    #[test]
    fn conversation_create_is_a_contact_at_created_at() {
        let v = batch(vec![json!({
            "id": "ev-9", "type": "conversation:create", "createdAt": "2026-11-10T09:12:00+01:00",
            "payload": {"conversation": {"id": "c-1", "type": "personal"}, "creationReason": "message",
                        "user": {"id": "u1", "externalId": 4711}}
        })]);
        let ev = run_json(&v).expect("ok").remove(0);
        assert_eq!(ev.activity, Activity::Contact);
        assert_eq!(ev.event_time_ms, 1_794_298_320_000);
        assert!(ev
            .identifiers
            .contains(&Identifier::new(IdType::UserId, "4711")));
    }

    #[test]
    fn unknown_type_names_the_event_and_lists_supported() {
        let v = batch(vec![
            message("ev-1", user_author()),
            json!({"id": "ev-2", "type": "conversation:exploded", "payload": {}}),
        ]);
        let e = run_json(&v).expect_err("unknown");
        assert_eq!(e.kind, Kind::UnknownType);
        assert_eq!(e.field.as_deref(), Some("events[1].type"));
        assert!(e
            .reason
            .contains("conversation:create, conversation:message, conversation:postback"));
    }

    #[test]
    fn almost_right_payloads_name_the_field() {
        let mut m = message("ev-1", user_author());
        m["payload"]["conversation"]
            .as_object_mut()
            .expect("obj")
            .remove("id");
        assert_eq!(
            run_json(&batch(vec![m])).expect_err("e").to_string(),
            "field `events[0].payload.conversation.id`: required field is missing"
        );
        let mut m = message("ev-1", user_author());
        m["payload"]["message"]["received"] = json!(true);
        assert_eq!(
            run_json(&batch(vec![m])).expect_err("e").kind,
            Kind::WrongType
        );
        assert_eq!(
            run_json(&batch(vec![])).expect_err("e").to_string(),
            "field `events`: the batch is empty"
        );
        assert_eq!(
            run_json(&json!({"webhook": {}, "events": "x"}))
                .expect_err("e")
                .kind,
            Kind::WrongType
        );
    }

    #[test]
    fn group_business_message_without_customer_is_no_identifier() {
        let mut m = message("ev-1", json!({"type": "business"}));
        m["payload"]["conversation"]["type"] = json!("sdkGroup");
        let e = run_json(&batch(vec![m])).expect_err("nobody");
        assert_eq!(e.kind, Kind::NoIdentifier);
        assert_eq!(e.field.as_deref(), Some("events[0]"));
    }

    #[test]
    fn detect_is_specific() {
        let bytes = serde_json::to_vec(&batch(vec![message("ev-1", user_author())])).expect("json");
        assert_eq!(detect_format(Channel::Chat, &bytes), Some(Format::Sunshine));
        let native = br#"{"id": "c-1", "time": 1794298320, "type": "chat_started", "customer": {"email": "a@example.de"}}"#;
        assert_eq!(detect_format(Channel::Chat, native), Some(Format::Native));
        let intercom = br#"{"type": "notification_event", "id": "n", "topic": "conversation.user.created", "data": {"item": {}}}"#;
        assert_ne!(
            detect_format(Channel::Chat, intercom),
            Some(Format::Sunshine)
        );
    }
}
