//! Segment Spec messages (`track`, `page`, `screen`, `identify`, `alias`), as
//! delivered by Segment webhooks/destinations or the HTTP tracking API, and
//! RudderStack, which emits the same spec. A `{"batch": [...]}` envelope of
//! the HTTP batch API yields one canonical event per message.
//!
//! Mapping (see `docs/formats/segment.md`):
//! - `messageId` → `source_event_id` (the dedupe key);
//! - `timestamp` → `event_time_ms`; without it `originalTimestamp` corrected
//!   for client clock skew by `receivedAt - sentAt` (what Segment itself does),
//!   else `originalTimestamp`, else `receivedAt`;
//! - `userId` → user_id, `anonymousId` → anonymous_id, alias `previousId` →
//!   anonymous_id, `context.traits.email|phone` and identify `traits.email|phone`
//!   → email/phone, `context.device.id` → device_id;
//! - `type`/`event` → activity (e-commerce spec events `Checkout Started`,
//!   `Order Completed`, `Order Refunded`; `Signed Up`/`Signed In` → identify);
//! - `properties.order_id` (else `checkout_id`) → `interaction_id`;
//!   `properties.topic`, or a page's `category` → `topic`.
//!
//! Everything else (properties, traits such as names and addresses, page
//! urls, user agents, ip addresses) is ignored: free text never reaches a
//! canonical event.

use serde_json::{Map, Value};

use crate::ids;
use crate::model::{Activity, Channel, IdType, Identifier, JourneyEvent, PromiseKind, SourceRef};
use crate::normalize::native::{describe, id_value, parse_time, shorten};
use crate::normalize::{identifiers, NormalizeConfig, NormalizeError, NormalizeErrorKind as Kind};

const FORMAT: &str = "segment";

/// The Spec calls this normaliser maps.
const TYPES: &[&str] = &["track", "page", "screen", "identify", "alias"];

/// Every Spec call type (`group` is recognised, but names an account, not a person).
const SPEC_TYPES: &[&str] = &["track", "page", "screen", "identify", "alias", "group"];

/// Track events with a canonical meaning, compared after [`event_key`].
const TRACK_EVENTS: &[(&str, Activity, Option<PromiseKind>)] = &[
    ("checkout started", Activity::CheckoutStarted, None),
    ("order completed", Activity::Purchase, None),
    (
        "order refunded",
        Activity::Refund,
        Some(PromiseKind::Refund),
    ),
    ("signed up", Activity::Identify, None),
    ("signed in", Activity::Identify, None),
];

pub(super) fn normalize(
    channel: Channel,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let obj = crate::normalize::parse_object(payload)?;
    if obj.contains_key("type") {
        return message(channel, &obj, "", source, cfg).map(|e| vec![e]);
    }
    match get(&obj, "batch") {
        Some(Value::Array(items)) if items.is_empty() => Err(NormalizeError::field(
            Kind::InvalidValue,
            "batch",
            "the batch holds no messages",
        )),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let path = format!("batch[{i}]");
                match item {
                    Value::Object(m) => message(channel, m, &format!("{path}."), source, cfg),
                    other => Err(wrong_type(&path, "an object", other)),
                }
            })
            .collect(),
        Some(other) => Err(wrong_type("batch", "an array", other)),
        None => Err(NormalizeError::field(
            Kind::MissingField,
            "type",
            "required field is missing (a segment message needs `type`, a batch needs `batch`)",
        )),
    }
}

/// Whether the payload is a Segment message (or batch of them): a Spec `type`,
/// a `messageId` and a user or anonymous id. The native format has none of
/// `messageId`, `userId`, `anonymousId`; Snowplow uses snake_case names.
pub(super) fn detect(_payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    let Some(o) = object else { return false };
    match o.get("batch") {
        Some(Value::Array(items)) if !o.contains_key("type") => items
            .first()
            .and_then(Value::as_object)
            .is_some_and(looks_like_message),
        _ => looks_like_message(o),
    }
}

fn looks_like_message(o: &Map<String, Value>) -> bool {
    o.get("type")
        .and_then(Value::as_str)
        .is_some_and(|t| SPEC_TYPES.contains(&t.trim().to_ascii_lowercase().as_str()))
        && o.contains_key("messageId")
        && ["userId", "anonymousId", "previousId"]
            .iter()
            .any(|k| o.contains_key(*k))
}

/// One Spec message; `prefix` is the field path prefix (`batch[2].`) for errors.
fn message(
    channel: Channel,
    m: &Map<String, Value>,
    prefix: &str,
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<JourneyEvent, NormalizeError> {
    let p = |k: &str| format!("{prefix}{k}");
    let kind = match get(m, "type") {
        Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
        Some(other) => return Err(wrong_type(&p("type"), "a string", other)),
        None => return Err(missing(&p("type"))),
    };
    if !TYPES.contains(&kind.as_str()) {
        return Err(NormalizeError::field(
            Kind::UnknownType,
            &p("type"),
            format!(
                "unknown segment type `{}` (expected one of {})",
                shorten(&kind),
                TYPES.join(", ")
            ),
        ));
    }
    let source_event_id = required_id(m, "messageId", prefix)?;
    let event_time_ms = event_time(m, prefix, cfg)?;

    let mut fulfils = None;
    let activity = match kind.as_str() {
        "track" => {
            let name = match get(m, "event") {
                Some(Value::String(s)) if !s.trim().is_empty() => s,
                Some(Value::String(_)) => {
                    return Err(NormalizeError::field(
                        Kind::InvalidValue,
                        &p("event"),
                        "must not be empty",
                    ))
                }
                Some(other) => return Err(wrong_type(&p("event"), "a string", other)),
                None => return Err(missing(&p("event"))),
            };
            let key = event_key(name);
            match TRACK_EVENTS.iter().find(|(n, _, _)| *n == key) {
                Some((_, activity, f)) => {
                    fulfils = *f;
                    *activity
                }
                None => Activity::Track,
            }
        }
        "page" | "screen" => Activity::PageView,
        _ => Activity::Identify,
    };

    let mut ids = Vec::new();
    ident(
        &mut ids,
        IdType::UserId,
        get(m, "userId"),
        &p("userId"),
        cfg,
    )?;
    ident(
        &mut ids,
        IdType::AnonymousId,
        get(m, "anonymousId"),
        &p("anonymousId"),
        cfg,
    )?;
    if kind == "alias" {
        // `previousId` is usually the anonymous id the visitor had before
        // signing in (analytics.js sends exactly that); see the format docs.
        ident(
            &mut ids,
            IdType::AnonymousId,
            get(m, "previousId"),
            &p("previousId"),
            cfg,
        )?;
    }
    let context = object_at(m, "context", prefix)?;
    if let Some(ctx) = context {
        if let Some(traits) = object_at(ctx, "traits", &p("context."))? {
            traits_ids(&mut ids, traits, &p("context.traits."), cfg)?;
        }
        if let Some(device) = object_at(ctx, "device", &p("context."))? {
            ident(
                &mut ids,
                IdType::DeviceId,
                get(device, "id"),
                &p("context.device.id"),
                cfg,
            )?;
        }
    }
    if let Some(traits) = object_at(m, "traits", prefix)? {
        traits_ids(&mut ids, traits, &p("traits."), cfg)?;
    }
    if ids.is_empty() {
        return Err(NormalizeError::field(
            Kind::NoIdentifier,
            &p("userId"),
            "no usable customer identifier (userId, anonymousId, previousId, traits.email, traits.phone, context.device.id all absent or junk)",
        ));
    }

    let properties = object_at(m, "properties", prefix)?;
    let mut interaction_id = None;
    let mut topic = None;
    if let Some(props) = properties {
        interaction_id = match get(props, "order_id") {
            Some(v) => id_value(v, &p("properties.order_id"))?,
            None => None,
        };
        if interaction_id.is_none() {
            interaction_id = match get(props, "checkout_id") {
                Some(v) => id_value(v, &p("properties.checkout_id"))?,
                None => None,
            };
        }
        topic = topic_at(props, "topic", &p("properties."))?;
    }
    if topic.is_none() && kind == "page" {
        topic = topic_at(m, "category", prefix)?;
    }

    Ok(JourneyEvent {
        event_id: ids::event_id(channel.as_str(), FORMAT, &source_event_id),
        source_event_id,
        channel,
        format: FORMAT.to_string(),
        activity,
        event_time_ms,
        identifiers: ids,
        interaction_id,
        case_id: None,
        topic,
        promise: None,
        fulfils,
        resolves: false,
        score: None,
        sentiment: None,
        transfer_count: 0,
        needs_enrichment: false,
        source_updated_ms: None,
        source: source.clone(),
    })
}

/// `timestamp`; else `originalTimestamp` + (`receivedAt` - `sentAt`) when all
/// three are there; else `originalTimestamp`; else `receivedAt`.
fn event_time(
    m: &Map<String, Value>,
    prefix: &str,
    cfg: &NormalizeConfig,
) -> Result<i64, NormalizeError> {
    let at = |k: &str| -> Result<Option<i64>, NormalizeError> {
        get(m, k)
            .map(|v| parse_time(v, &format!("{prefix}{k}"), cfg))
            .transpose()
    };
    if let Some(t) = at("timestamp")? {
        return Ok(t);
    }
    if let Some(original) = at("originalTimestamp")? {
        if let (Some(sent), Some(received)) = (at("sentAt")?, at("receivedAt")?) {
            return Ok(original + (received - sent));
        }
        return Ok(original);
    }
    at("receivedAt")?.ok_or_else(|| {
        NormalizeError::field(
            Kind::MissingField,
            &format!("{prefix}timestamp"),
            "required field is missing (nor originalTimestamp or receivedAt)",
        )
    })
}

/// `Order Completed`, `order_completed`, `orderCompleted`? The Spec names use
/// Title Case with spaces; RudderStack and server libraries often send
/// snake_case. Lower-case, `_`/`-` read as spaces.
fn event_key(name: &str) -> String {
    name.trim()
        .to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn traits_ids(
    ids: &mut Vec<Identifier>,
    traits: &Map<String, Value>,
    prefix: &str,
    cfg: &NormalizeConfig,
) -> Result<(), NormalizeError> {
    ident(
        ids,
        IdType::Email,
        get(traits, "email"),
        &format!("{prefix}email"),
        cfg,
    )?;
    ident(
        ids,
        IdType::Phone,
        get(traits, "phone"),
        &format!("{prefix}phone"),
        cfg,
    )
}

/// Adds the normalised identifier of a string-or-integer field; junk is dropped.
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

fn topic_at(
    m: &Map<String, Value>,
    key: &str,
    prefix: &str,
) -> Result<Option<String>, NormalizeError> {
    match get(m, key) {
        Some(Value::String(s)) => Ok(Some(s.trim().to_lowercase()).filter(|t| !t.is_empty())),
        Some(other) => Err(wrong_type(&format!("{prefix}{key}"), "a string", other)),
        None => Ok(None),
    }
}

fn object_at<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    prefix: &str,
) -> Result<Option<&'a Map<String, Value>>, NormalizeError> {
    match get(m, key) {
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(other) => Err(wrong_type(&format!("{prefix}{key}"), "an object", other)),
        None => Ok(None),
    }
}

fn required_id(m: &Map<String, Value>, key: &str, prefix: &str) -> Result<String, NormalizeError> {
    let path = format!("{prefix}{key}");
    let v = get(m, key).ok_or_else(|| missing(&path))?;
    let id = id_value(v, &path)?
        .ok_or_else(|| NormalizeError::field(Kind::InvalidValue, &path, "must not be empty"))?;
    if id.len() > identifiers::MAX_IDENTIFIER_LEN {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            &path,
            format!("longer than {} bytes", identifiers::MAX_IDENTIFIER_LEN),
        ));
    }
    Ok(id)
}

/// A present, non-null field.
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

    fn cfg() -> NormalizeConfig {
        NormalizeConfig::default()
    }

    fn events(v: &Value) -> Result<Vec<JourneyEvent>, NormalizeError> {
        let bytes = serde_json::to_vec(v).expect("serialisable");
        run(
            Channel::Web,
            Format::Segment,
            &bytes,
            &SourceRef::default(),
            &cfg(),
        )
    }

    fn one(v: &Value) -> Result<JourneyEvent, NormalizeError> {
        events(v).map(|mut e| e.remove(0))
    }

    fn track(event: &str) -> Value {
        json!({
            "type": "track", "event": event, "messageId": "ajs-1",
            "anonymousId": "507f191e810c19729de860ea",
            "timestamp": "2026-11-10T08:12:00.123Z"
        })
    }

    fn id(t: IdType, v: &str) -> Identifier {
        Identifier::new(t, v)
    }

    #[test]
    fn ecommerce_events_map_to_activities() {
        for (name, activity) in [
            ("Order Completed", Activity::Purchase),
            ("order_completed", Activity::Purchase),
            ("Checkout Started", Activity::CheckoutStarted),
            ("Signed Up", Activity::Identify),
            ("Product Viewed", Activity::Track),
        ] {
            assert_eq!(
                one(&track(name)).map(|e| e.activity),
                Ok(activity),
                "{name}"
            );
        }
        let refund = one(&track("Order Refunded")).expect("ok");
        assert_eq!(
            (refund.activity, refund.fulfils),
            (Activity::Refund, Some(PromiseKind::Refund))
        );
    }

    #[test]
    fn message_id_is_the_dedupe_key() {
        let a = one(&track("Product Viewed")).expect("ok");
        let b = one(&track("Product Viewed")).expect("ok");
        assert_eq!(a.event_id, b.event_id);
        assert_eq!(a.source_event_id, "ajs-1");
        assert_eq!(a.event_id, ids::event_id("web", "segment", "ajs-1"));
        let mut other = track("Product Viewed");
        other["messageId"] = json!("ajs-2");
        assert_ne!(one(&other).map(|e| e.event_id), Ok(a.event_id));
    }

    #[test]
    fn alias_links_previous_anonymous_id_and_user_id() {
        let e = one(&json!({
            "type": "alias", "messageId": "m-1", "previousId": "a9f3-77",
            "userId": "u-4711", "timestamp": "2026-11-10T08:12:00Z"
        }))
        .expect("ok");
        assert_eq!(e.activity, Activity::Identify);
        assert_eq!(
            e.identifiers,
            vec![
                id(IdType::UserId, "u-4711"),
                id(IdType::AnonymousId, "a9f3-77")
            ]
        );
    }

    #[test]
    fn identify_traits_and_context_traits_give_email_and_phone() {
        let e = one(&json!({
            "type": "identify", "messageId": "m-2", "userId": 4711,
            "anonymousId": "undefined",
            "traits": {"email": " Peter@Example.COM ", "name": "Peter Gibbons"},
            "context": {"traits": {"phone": "+49 (0)170 1234567"}},
            "timestamp": "2026-11-10T08:12:00Z"
        }))
        .expect("ok");
        // Numeric userId, junk anonymousId dropped, name ignored.
        assert_eq!(
            e.identifiers,
            vec![
                id(IdType::UserId, "4711"),
                id(IdType::Email, "peter@example.com"),
                id(IdType::Phone, "+491701234567"),
            ]
        );
        assert!(!serde_json::to_string(&e).expect("json").contains("Gibbons"));
    }

    #[test]
    fn junk_ids_only_is_no_identifier_naming_user_id() {
        let e = one(&json!({
            "type": "page", "messageId": "m-3", "anonymousId": "null", "userId": "",
            "context": {"traits": {"email": "test@test.com"}},
            "timestamp": "2026-11-10T08:12:00Z"
        }))
        .expect_err("junk");
        assert_eq!(e.kind, NormalizeErrorKind::NoIdentifier);
        assert!(e.to_string().starts_with("field `userId`: "), "{e}");
    }

    #[test]
    fn times_skew_correction_and_fallbacks() {
        let mut v = track("x");
        v.as_object_mut().expect("object").remove("timestamp");
        v["originalTimestamp"] = json!("2026-11-10T09:12:00+01:00");
        assert_eq!(one(&v).map(|e| e.event_time_ms), Ok(1_794_298_320_000));
        // Client clock 5 s fast: sent 08:12:10 by its clock, received 08:12:05.
        v["sentAt"] = json!("2026-11-10T08:12:10.000Z");
        v["receivedAt"] = json!("2026-11-10T08:12:05.000Z");
        assert_eq!(one(&v).map(|e| e.event_time_ms), Ok(1_794_298_315_000));
        // Epoch milliseconds and offsets without a colon are read too.
        v["timestamp"] = json!(1_794_298_320_123_i64);
        assert_eq!(one(&v).map(|e| e.event_time_ms), Ok(1_794_298_320_123));
        v["timestamp"] = json!("2026-11-10 09:12:00.123456789+0100");
        assert_eq!(one(&v).map(|e| e.event_time_ms), Ok(1_794_298_320_123));
        for k in ["timestamp", "originalTimestamp", "sentAt", "receivedAt"] {
            v.as_object_mut().expect("object").remove(k);
        }
        let e = one(&v).expect_err("no time");
        assert_eq!(e.kind, NormalizeErrorKind::MissingField);
        assert!(e.to_string().starts_with("field `timestamp`"), "{e}");
    }

    #[test]
    fn zone_less_timestamp_uses_the_configured_zone() {
        let mut v = track("x");
        v["timestamp"] = json!("2026-11-10 09:12:00");
        let bytes = serde_json::to_vec(&v).expect("json");
        let berlin = NormalizeConfig {
            time_zone: jiff::tz::TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("tz"),
            ..cfg()
        };
        let e = run(
            Channel::Web,
            Format::Segment,
            &bytes,
            &SourceRef::default(),
            &berlin,
        )
        .expect("ok");
        assert_eq!(e[0].event_time_ms, 1_794_298_320_000);
    }

    #[test]
    fn batch_yields_one_event_per_message_and_names_the_index() {
        let mut bad = track("x");
        bad["messageId"] = json!(true);
        let batch = json!({"batch": [track("Order Completed"), {
            "type": "page", "messageId": "m-9", "userId": "u-1", "name": "Home",
            "timestamp": "2026-11-10T08:13:00Z"
        }]});
        let evs = events(&batch).expect("ok");
        assert_eq!(evs.len(), 2);
        assert_eq!(evs[1].activity, Activity::PageView);
        let e = events(&json!({"batch": [track("x"), bad]})).expect_err("bad");
        assert_eq!(
            e.to_string(),
            "field `batch[1].messageId`: expected a string or an integer, found a boolean"
        );
        assert_eq!(
            events(&json!({"batch": []})).map_err(|e| e.kind),
            Err(NormalizeErrorKind::InvalidValue)
        );
    }

    #[test]
    fn unknown_type_and_missing_fields_name_the_field() {
        let mut v = track("x");
        v["type"] = json!("group");
        let e = one(&v).expect_err("group");
        assert_eq!(e.kind, NormalizeErrorKind::UnknownType);
        assert_eq!(
            e.to_string(),
            "field `type`: unknown segment type `group` (expected one of track, page, screen, identify, alias)"
        );
        let mut v = track("x");
        v.as_object_mut().expect("object").remove("event");
        assert_eq!(
            one(&v).expect_err("event").to_string(),
            "field `event`: required field is missing"
        );
        let mut v = track("x");
        v["context"] = json!("web");
        assert_eq!(
            one(&v).expect_err("ctx").kind,
            NormalizeErrorKind::WrongType
        );
    }

    #[test]
    fn order_id_number_or_string_and_topic() {
        let mut v = track("Order Completed");
        v["properties"] = json!({"order_id": 50314, "topic": " Refund ", "revenue": 25.0});
        let e = one(&v).expect("ok");
        assert_eq!(e.interaction_id.as_deref(), Some("50314"));
        assert_eq!(e.topic.as_deref(), Some("refund"));
        v["properties"]["order_id"] = json!("50314");
        assert_eq!(
            one(&v).map(|e| e.interaction_id),
            Ok(Some("50314".to_string()))
        );
    }

    #[test]
    fn free_text_properties_are_not_copied() {
        let mut v = track("Review Submitted");
        v["properties"] = json!({"review_body": "the delivery driver was rude"});
        let out = serde_json::to_string(&one(&v).expect("ok")).expect("json");
        assert!(!out.contains("driver was rude"));
    }

    #[test]
    fn detect_is_specific() {
        let seg = serde_json::to_vec(&track("x")).expect("json");
        assert_eq!(detect_format(Channel::Web, &seg), Some(Format::Segment));
        let native = br#"{"id": "w-1", "time": 1762765920123, "type": "track", "customer": {"user_id": "u-1"}}"#;
        assert_eq!(detect_format(Channel::Web, native), Some(Format::Native));
        let snowplow = br#"{"event_id": "c6ef3124-b53a-4b13-a233-0088f79dcbcb", "event": "page_view", "collector_tstamp": "2026-11-10T08:12:00Z", "v_collector": "ssc-3.0.0-kafka", "domain_userid": "a"}"#;
        assert!(!detect(
            snowplow,
            serde_json::from_slice(snowplow).ok().as_ref()
        ));
        assert!(!detect(b"{}", None));
    }
}
