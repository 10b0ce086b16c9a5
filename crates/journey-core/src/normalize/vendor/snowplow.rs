//! Snowplow enriched events in the JSON shape of the Snowplow Analytics SDKs
//! (and Snowbridge's `spEnrichedToJson`): the atomic fields by name, one key
//! per self-describing event (`unstruct_event_<vendor>_<name>_<major>`) and
//! per context (`contexts_<vendor>_<name>_<major>`, an array). Unpopulated
//! fields are absent.
//!
//! Mapping (see `docs/formats/snowplow.md`):
//! - `event_id` → `source_event_id`;
//! - `derived_tstamp` (else `true_tstamp`, else `collector_tstamp`) →
//!   `event_time_ms`. All Snowplow timestamps are UTC: a zone-less value
//!   (`2026-11-10 08:12:00.123`, the TSV notation) is read as UTC, not in
//!   the source's configured zone;
//! - `user_id` → user_id; `domain_userid`, `network_userid` and the mobile
//!   `client_session` entity's `userId` → anonymous_id (the all-zero
//!   `network_userid` of anonymous tracking is junk);
//! - `event` / `event_name` → activity (page views, screen views,
//!   transactions and the Snowplow e-commerce actions `transaction`,
//!   `checkout_step`, `refund`);
//! - `tr_orderid` / `ti_orderid` / the e-commerce transaction or refund
//!   entity's `transaction_id` → `interaction_id`.
//!
//! Ignored: urls, referrers, ip addresses, geo fields, user agents, the
//! fingerprint, `se_*` labels and every other free-form property.

use jiff::tz::TimeZone;
use serde_json::{Map, Value};

use crate::ids;
use crate::model::{Activity, Channel, IdType, Identifier, JourneyEvent, PromiseKind, SourceRef};
use crate::normalize::native::{describe, id_value, shorten};
use crate::normalize::{
    identifiers, time, NormalizeConfig, NormalizeError, NormalizeErrorKind as Kind,
};

const FORMAT: &str = "snowplow";

/// The values of the atomic `event` field.
const EVENTS: &[&str] = &[
    "page_view",
    "page_ping",
    "struct",
    "unstruct",
    "transaction",
    "transaction_item",
    "ad_impression",
];

const ECOMMERCE_ACTION: &str =
    "unstruct_event_com_snowplowanalytics_snowplow_ecommerce_snowplow_ecommerce_action_1";
const ECOMMERCE_TRANSACTION: &str =
    "contexts_com_snowplowanalytics_snowplow_ecommerce_transaction_1";
const ECOMMERCE_REFUND: &str = "contexts_com_snowplowanalytics_snowplow_ecommerce_refund_1";
const ECOMMERCE_CHECKOUT_STEP: &str =
    "contexts_com_snowplowanalytics_snowplow_ecommerce_checkout_step_1";
const CLIENT_SESSION: &str = "contexts_com_snowplowanalytics_snowplow_client_session_1";

/// The collector's `network_userid` when the tracker asked for anonymous tracking.
const NIL_UUID: &str = "00000000-0000-0000-0000-000000000000";

pub(super) fn normalize(
    channel: Channel,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let m = crate::normalize::parse_object(payload)?;
    let source_event_id = match get(&m, "event_id") {
        Some(v) => id_value(v, "event_id")?
            .filter(|s| s.len() <= identifiers::MAX_IDENTIFIER_LEN)
            .ok_or_else(|| {
                NormalizeError::field(Kind::InvalidValue, "event_id", "must be a non-empty id")
            })?,
        None => return Err(missing("event_id")),
    };
    let event_time_ms = event_time(&m)?;

    let event = match (get(&m, "event"), get(&m, "event_name")) {
        (Some(Value::String(e)), _) => e.trim().to_ascii_lowercase(),
        (Some(other), _) => return Err(wrong_type("event", "a string", other)),
        (None, Some(Value::String(name))) => match name.trim() {
            "page_view" | "page_ping" | "transaction" | "transaction_item" | "ad_impression" => {
                name.trim().to_string()
            }
            "event" => "struct".to_string(),
            _ => "unstruct".to_string(),
        },
        (None, Some(other)) => return Err(wrong_type("event_name", "a string", other)),
        (None, None) => return Err(missing("event")),
    };
    let event_name = match get(&m, "event_name") {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(other) => return Err(wrong_type("event_name", "a string", other)),
        None => String::new(),
    };

    let mut fulfils = None;
    let mut interaction_id = None;
    let activity = match event.as_str() {
        "page_view" => Activity::PageView,
        "page_ping" | "struct" | "ad_impression" => Activity::Track,
        "transaction" => {
            interaction_id = optional_id(&m, "tr_orderid")?;
            Activity::Purchase
        }
        "transaction_item" => {
            interaction_id = optional_id(&m, "ti_orderid")?;
            Activity::Track
        }
        "unstruct" => match event_name.as_str() {
            "screen_view" => Activity::PageView,
            "snowplow_ecommerce_action" => {
                let (activity, f, order) = ecommerce(&m)?;
                fulfils = f;
                interaction_id = order;
                activity
            }
            _ => Activity::Track,
        },
        other => {
            return Err(NormalizeError::field(
                Kind::UnknownType,
                "event",
                format!(
                    "unknown snowplow event `{}` (expected one of {})",
                    shorten(other),
                    EVENTS.join(", ")
                ),
            ))
        }
    };

    let mut ids = Vec::new();
    ident(&mut ids, IdType::UserId, get(&m, "user_id"), "user_id", cfg)?;
    ident(
        &mut ids,
        IdType::AnonymousId,
        get(&m, "domain_userid"),
        "domain_userid",
        cfg,
    )?;
    match get(&m, "network_userid") {
        Some(Value::String(s)) if s.trim() == NIL_UUID => {}
        v => ident(&mut ids, IdType::AnonymousId, v, "network_userid", cfg)?,
    }
    if let Some(session) = first_entity(&m, CLIENT_SESSION)? {
        ident(
            &mut ids,
            IdType::AnonymousId,
            get(session, "userId"),
            &format!("{CLIENT_SESSION}[0].userId"),
            cfg,
        )?;
    }
    if ids.is_empty() {
        return Err(NormalizeError::field(
            Kind::NoIdentifier,
            "user_id",
            "no usable customer identifier (user_id, domain_userid, network_userid, client_session.userId all absent or junk)",
        ));
    }

    Ok(vec![JourneyEvent {
        event_id: ids::event_id(channel.as_str(), FORMAT, &source_event_id),
        source_event_id,
        channel,
        format: FORMAT.to_string(),
        activity,
        event_time_ms,
        identifiers: ids,
        interaction_id,
        case_id: None,
        topic: None,
        promise: None,
        fulfils,
        resolves: false,
        score: None,
        sentiment: None,
        transfer_count: 0,
        needs_enrichment: false,
        source_updated_ms: None,
        source: source.clone(),
    }])
}

/// An enriched event: `event_id`, `collector_tstamp` (set by every collector)
/// and one more atomic field. Segment and the native format use other names.
pub(super) fn detect(_payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    let Some(o) = object else { return false };
    o.contains_key("event_id")
        && o.contains_key("collector_tstamp")
        && ["v_collector", "platform", "event", "event_name"]
            .iter()
            .any(|k| o.contains_key(*k))
        && !o.contains_key("messageId")
}

/// `derived_tstamp`, else `true_tstamp`, else `collector_tstamp`; UTC when zone-less.
fn event_time(m: &Map<String, Value>) -> Result<i64, NormalizeError> {
    for key in ["derived_tstamp", "true_tstamp", "collector_tstamp"] {
        if let Some(v) = get(m, key) {
            return time::parse_value(v, &TimeZone::UTC).map_err(|e| {
                let kind = match e {
                    time::TimeError::WrongType(_) => Kind::WrongType,
                    _ => Kind::InvalidValue,
                };
                NormalizeError::field(kind, key, e.to_string())
            });
        }
    }
    Err(NormalizeError::field(
        Kind::MissingField,
        "collector_tstamp",
        "required field is missing (nor derived_tstamp or true_tstamp)",
    ))
}

/// The Snowplow e-commerce action: activity, fulfilled promise, order id.
fn ecommerce(
    m: &Map<String, Value>,
) -> Result<(Activity, Option<PromiseKind>, Option<String>), NormalizeError> {
    let action = match get(m, ECOMMERCE_ACTION) {
        Some(Value::Object(a)) => a,
        Some(other) => return Err(wrong_type(ECOMMERCE_ACTION, "an object", other)),
        None => return Ok((Activity::Track, None, None)),
    };
    let path = format!("{ECOMMERCE_ACTION}.type");
    let kind = match get(action, "type") {
        Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
        Some(other) => return Err(wrong_type(&path, "a string", other)),
        None => return Err(missing(&path)),
    };
    let order = |ctx: &str| -> Result<Option<String>, NormalizeError> {
        match first_entity(m, ctx)? {
            Some(e) => match get(e, "transaction_id") {
                Some(v) => id_value(v, &format!("{ctx}[0].transaction_id")),
                None => Ok(None),
            },
            None => Ok(None),
        }
    };
    Ok(match kind.as_str() {
        "transaction" => (Activity::Purchase, None, order(ECOMMERCE_TRANSACTION)?),
        "refund" => (
            Activity::Refund,
            Some(PromiseKind::Refund),
            order(ECOMMERCE_REFUND)?,
        ),
        "checkout_step" => {
            let step = first_entity(m, ECOMMERCE_CHECKOUT_STEP)?
                .and_then(|s| get(s, "step"))
                .and_then(Value::as_f64);
            if step.is_none_or(|s| s <= 1.0) {
                (Activity::CheckoutStarted, None, None)
            } else {
                (Activity::Track, None, None)
            }
        }
        _ => (Activity::Track, None, None),
    })
}

/// The first entity of a context array (`contexts_…` keys hold arrays).
fn first_entity<'a>(
    m: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a Map<String, Value>>, NormalizeError> {
    match get(m, key) {
        Some(Value::Array(items)) => match items.first() {
            Some(Value::Object(o)) => Ok(Some(o)),
            Some(other) => Err(wrong_type(&format!("{key}[0]"), "an object", other)),
            None => Ok(None),
        },
        Some(other) => Err(wrong_type(key, "an array", other)),
        None => Ok(None),
    }
}

fn optional_id(m: &Map<String, Value>, key: &str) -> Result<Option<String>, NormalizeError> {
    get(m, key).map_or(Ok(None), |v| id_value(v, key))
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

    fn berlin() -> NormalizeConfig {
        NormalizeConfig {
            time_zone: TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("tz"),
            ..NormalizeConfig::default()
        }
    }

    fn one(v: &Value) -> Result<JourneyEvent, NormalizeError> {
        let bytes = serde_json::to_vec(v).expect("json");
        run(
            Channel::Web,
            Format::Snowplow,
            &bytes,
            &SourceRef::default(),
            &berlin(),
        )
        .map(|mut e| e.remove(0))
    }

    fn page_view() -> Value {
        json!({
            "app_id": "shop", "platform": "web", "event": "page_view", "event_name": "page_view",
            "event_id": "c6ef3124-b53a-4b13-a233-0088f79dcbcb",
            "collector_tstamp": "2026-11-10T08:12:01.000Z",
            "derived_tstamp": "2026-11-10T08:12:00.123Z",
            "domain_userid": "bc2e92ec6c204a14", "network_userid": "ecdff4d0-9175-40ac-a8bb-325c49733607",
            "user_id": "u-4711", "v_collector": "ssc-3.2.0-kafka",
            "page_title": "Returns", "user_ipaddress": "203.0.113.7"
        })
    }

    #[test]
    fn page_view_ids_and_event_id() {
        let e = one(&page_view()).expect("ok");
        assert_eq!(e.activity, Activity::PageView);
        assert_eq!(e.event_time_ms, 1_794_298_320_123);
        assert_eq!(
            e.event_id,
            ids::event_id("web", "snowplow", "c6ef3124-b53a-4b13-a233-0088f79dcbcb")
        );
        assert_eq!(
            e.identifiers
                .iter()
                .map(|i| (i.id_type, i.value.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (IdType::UserId, "u-4711"),
                (IdType::AnonymousId, "bc2e92ec6c204a14"),
                (IdType::AnonymousId, "ecdff4d0-9175-40ac-a8bb-325c49733607"),
            ]
        );
    }

    #[test]
    fn zone_less_tstamps_are_utc_not_the_configured_zone() {
        let mut v = page_view();
        v["derived_tstamp"] = json!("2026-11-10 08:12:00.123");
        assert_eq!(one(&v).map(|e| e.event_time_ms), Ok(1_794_298_320_123));
        v.as_object_mut().expect("obj").remove("derived_tstamp");
        assert_eq!(one(&v).map(|e| e.event_time_ms), Ok(1_794_298_321_000));
        v["collector_tstamp"] = json!(1_794_298_321);
        assert_eq!(one(&v).map(|e| e.event_time_ms), Ok(1_794_298_321_000));
    }

    #[test]
    fn anonymous_tracking_nil_network_userid_is_junk() {
        let mut v = page_view();
        v.as_object_mut().expect("obj").remove("user_id");
        v.as_object_mut().expect("obj").remove("domain_userid");
        v["network_userid"] = json!(NIL_UUID);
        let e = one(&v).expect_err("no ids");
        assert_eq!(e.kind, NormalizeErrorKind::NoIdentifier);
        assert!(e.to_string().starts_with("field `user_id`"));
    }

    #[test]
    fn ecommerce_actions_and_legacy_transactions() {
        let mut v = page_view();
        v["event"] = json!("unstruct");
        v["event_name"] = json!("snowplow_ecommerce_action");
        v[ECOMMERCE_ACTION] = json!({"type": "refund"});
        v[ECOMMERCE_REFUND] =
            json!([{"transaction_id": 50314, "refund_amount": 20, "currency": "EUR"}]);
        let e = one(&v).expect("ok");
        assert_eq!(
            (e.activity, e.fulfils),
            (Activity::Refund, Some(PromiseKind::Refund))
        );
        assert_eq!(e.interaction_id.as_deref(), Some("50314"));
        v[ECOMMERCE_ACTION] = json!({"type": "checkout_step"});
        v[ECOMMERCE_CHECKOUT_STEP] = json!([{"step": 1}]);
        assert_eq!(one(&v).map(|e| e.activity), Ok(Activity::CheckoutStarted));
        v[ECOMMERCE_CHECKOUT_STEP] = json!([{"step": 3}]);
        assert_eq!(one(&v).map(|e| e.activity), Ok(Activity::Track));
        let mut t = page_view();
        t["event"] = json!("transaction");
        t["tr_orderid"] = json!("o-77");
        let e = one(&t).expect("ok");
        assert_eq!(
            (e.activity, e.interaction_id.as_deref()),
            (Activity::Purchase, Some("o-77"))
        );
    }

    #[test]
    fn struct_events_do_not_copy_labels() {
        let mut v = page_view();
        v["event"] = json!("struct");
        v["se_category"] = json!("feedback");
        v["se_label"] = json!("the configurator crashed twice");
        let e = one(&v).expect("ok");
        assert_eq!(e.activity, Activity::Track);
        assert!(!serde_json::to_string(&e).expect("json").contains("crashed"));
    }

    #[test]
    fn bad_payloads_name_the_field() {
        let mut v = page_view();
        v["event"] = json!("click");
        let e = one(&v).expect_err("unknown");
        assert_eq!(e.kind, NormalizeErrorKind::UnknownType);
        assert_eq!(
            e.to_string(),
            "field `event`: unknown snowplow event `click` (expected one of page_view, page_ping, struct, unstruct, transaction, transaction_item, ad_impression)"
        );
        let mut v = page_view();
        v.as_object_mut().expect("obj").remove("event_id");
        assert_eq!(
            one(&v).expect_err("id").to_string(),
            "field `event_id`: required field is missing"
        );
        let mut v = page_view();
        v["derived_tstamp"] = json!("yesterday");
        assert_eq!(
            one(&v).expect_err("t").kind,
            NormalizeErrorKind::InvalidValue
        );
        let mut v = page_view();
        v[CLIENT_SESSION] = json!({"userId": "x"});
        assert_eq!(
            one(&v).expect_err("ctx").kind,
            NormalizeErrorKind::WrongType
        );
    }

    #[test]
    fn detect_is_specific() {
        let bytes = serde_json::to_vec(&page_view()).expect("json");
        assert_eq!(detect_format(Channel::Web, &bytes), Some(Format::Snowplow));
        let native = br#"{"id": "w-1", "time": 1762765920123, "type": "page_view", "customer": {"user_id": "u-1"}}"#;
        assert_eq!(detect_format(Channel::Web, native), Some(Format::Native));
        let segment = br#"{"type": "page", "messageId": "m", "anonymousId": "a", "timestamp": "2026-11-10T08:12:00Z"}"#;
        assert_eq!(detect_format(Channel::Web, segment), Some(Format::Segment));
    }
}
