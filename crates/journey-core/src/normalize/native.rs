//! The native JSON format (`docs/native-format.md`): one envelope for all six
//! channels, one event per record.
//!
//! The envelope is read field by field from a `serde_json` object (not derived
//! with serde) so that every error names its field path and ids may be strings
//! or integers. Unknown fields are ignored; `text` is never read.

use super::{identifiers, time, NormalizeConfig, NormalizeError, NormalizeErrorKind as Kind};
use crate::ids;
use crate::model::{
    Activity, Channel, IdType, Identifier, JourneyEvent, Promise, PromiseKind, Score, ScoreKind,
    SourceRef,
};
use serde_json::{Map, Value};

const FORMAT: &str = "native";

/// Promises further out than ten years are typos.
const MAX_WITHIN_HOURS: f64 = 24.0 * 366.0 * 10.0;

/// One allowed `type`: the activity, the promise kind it fulfils unless the
/// event says otherwise, and whether it resolves its issue unless it says otherwise.
struct TypeRule {
    name: &'static str,
    activity: Activity,
    fulfils: Option<PromiseKind>,
    resolves: bool,
}

const fn rule(name: &'static str, activity: Activity) -> TypeRule {
    TypeRule {
        name,
        activity,
        fulfils: None,
        resolves: false,
    }
}

const fn fulfilling(name: &'static str, activity: Activity, kind: PromiseKind) -> TypeRule {
    TypeRule {
        name,
        activity,
        fulfils: Some(kind),
        resolves: false,
    }
}

const CHAT: &[TypeRule] = &[
    rule("chat_started", Activity::Contact),
    rule("agent_message", Activity::AgentReply),
    rule("chat_closed", Activity::Closed),
];
const PHONE: &[TypeRule] = &[
    rule("call_started", Activity::Contact),
    fulfilling("callback", Activity::Outbound, PromiseKind::Callback),
    rule("call_ended", Activity::Closed),
];
const EMAIL: &[TypeRule] = &[
    rule("email_received", Activity::Contact),
    rule("email_sent", Activity::Outbound),
    TypeRule {
        name: "ticket_solved",
        activity: Activity::Closed,
        fulfils: None,
        resolves: true,
    },
];
const WEB: &[TypeRule] = &[
    rule("page_view", Activity::PageView),
    rule("track", Activity::Track),
    rule("checkout_started", Activity::CheckoutStarted),
    rule("purchase", Activity::Purchase),
    rule("login", Activity::Identify),
    rule("signup", Activity::Identify),
];
const STORE: &[TypeRule] = &[
    rule("visit", Activity::Contact),
    rule("appointment", Activity::Appointment),
    rule("purchase", Activity::Purchase),
    fulfilling("refund", Activity::Refund, PromiseKind::Refund),
    fulfilling("delivery", Activity::Delivery, PromiseKind::Delivery),
];
const SURVEY: &[TypeRule] = &[rule("response", Activity::SurveyResponse)];
/// Allowed on every channel.
const EXTRAS: &[TypeRule] = &[
    fulfilling("refund", Activity::Refund, PromiseKind::Refund),
    fulfilling("delivery", Activity::Delivery, PromiseKind::Delivery),
    rule("promise", Activity::Outbound),
];

fn channel_rules(channel: Channel) -> &'static [TypeRule] {
    match channel {
        Channel::Chat => CHAT,
        Channel::Phone => PHONE,
        Channel::Email => EMAIL,
        Channel::Web => WEB,
        Channel::Store => STORE,
        Channel::Survey => SURVEY,
    }
}

fn find_rule(channel: Channel, name: &str) -> Option<&'static TypeRule> {
    channel_rules(channel)
        .iter()
        .chain(EXTRAS)
        .find(|r| r.name == name)
}

/// The allowed `type` values of a channel, in table order, without repeats.
pub(super) fn allowed_types(channel: Channel) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for r in channel_rules(channel).iter().chain(EXTRAS) {
        if !names.contains(&r.name) {
            names.push(r.name);
        }
    }
    names
}

/// Customer fields and the identifier type each becomes.
const CUSTOMER_FIELDS: &[(&str, IdType)] = &[
    ("customer_number", IdType::CustomerNumber),
    ("loyalty_id", IdType::LoyaltyId),
    ("user_id", IdType::UserId),
    ("email", IdType::Email),
    ("phone", IdType::Phone),
    ("device_id", IdType::DeviceId),
    ("anonymous_id", IdType::AnonymousId),
    ("vendor_contact", IdType::VendorContact),
];

pub(super) fn normalize(
    channel: Channel,
    obj: &Map<String, Value>,
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let source_event_id = required_id(obj, "id")?;
    let event_time_ms = parse_time(required(obj, "time")?, "time", cfg)?;
    let type_name = required_str(obj, "type")?.trim().to_ascii_lowercase();
    let rule = find_rule(channel, &type_name).ok_or_else(|| {
        NormalizeError::field(
            Kind::UnknownType,
            "type",
            format!(
                "unknown {channel} type `{}` (expected one of {})",
                shorten(&type_name),
                allowed_types(channel).join(", ")
            ),
        )
    })?;
    let identifiers = customer_identifiers(required(obj, "customer")?, cfg)?;

    let promise = match optional(obj, "promise") {
        Some(v) => Some(parse_promise(v, event_time_ms, cfg)?),
        None if rule.name == "promise" => {
            return Err(NormalizeError::field(
                Kind::MissingField,
                "promise",
                "a `promise` event must carry a promise",
            ))
        }
        None => None,
    };
    let fulfils = match optional(obj, "fulfils") {
        Some(Value::String(s)) => Some(promise_kind(s, "fulfils")?),
        Some(other) => return Err(wrong_type("fulfils", "a string", other)),
        None => rule.fulfils,
    };
    let resolves = match optional(obj, "resolved") {
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(wrong_type("resolved", "a boolean", other)),
        None => rule.resolves,
    };
    let score = match optional(obj, "score") {
        Some(v) => Some(parse_score(v)?),
        None if rule.activity == Activity::SurveyResponse => {
            return Err(NormalizeError::field(
                Kind::MissingField,
                "score",
                "a survey response needs a score",
            ))
        }
        None => None,
    };
    let sentiment = optional(obj, "sentiment")
        .map(parse_sentiment)
        .transpose()?;
    let topic = match optional(obj, "topic") {
        Some(Value::String(s)) => Some(s.trim().to_lowercase()).filter(|t| !t.is_empty()),
        Some(other) => return Err(wrong_type("topic", "a string", other)),
        None => None,
    };

    Ok(vec![JourneyEvent {
        event_id: ids::event_id(channel.as_str(), FORMAT, &source_event_id),
        source_event_id,
        channel,
        format: FORMAT.to_string(),
        activity: rule.activity,
        event_time_ms,
        identifiers,
        interaction_id: optional_id(obj, "interaction_id")?,
        case_id: optional_id(obj, "case_id")?,
        topic,
        promise,
        fulfils,
        resolves,
        score,
        sentiment,
        transfer_count: 0,
        needs_enrichment: false,
        source_updated_ms: None,
        source: source.clone(),
    }])
}

/// A present, non-null field.
fn optional<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

fn required<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a Value, NormalizeError> {
    optional(obj, key)
        .ok_or_else(|| NormalizeError::field(Kind::MissingField, key, "required field is missing"))
}

fn required_str<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, NormalizeError> {
    match required(obj, key)? {
        Value::String(s) => Ok(s),
        other => Err(wrong_type(key, "a string", other)),
    }
}

pub(super) fn wrong_type(field: &str, expected: &str, found: &Value) -> NormalizeError {
    NormalizeError::field(
        Kind::WrongType,
        field,
        format!("expected {expected}, found {}", describe(found)),
    )
}

pub(super) fn describe(v: &Value) -> &'static str {
    match v {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => "a fractional number",
        other => time::json_type_name(other),
    }
}

/// A string or an integer as a string; `None` for `null` and blank strings.
pub(super) fn id_value(v: &Value, field: &str) -> Result<Option<String>, NormalizeError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_string()).filter(|s| !s.is_empty())),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
        other => Err(wrong_type(field, "a string or an integer", other)),
    }
}

pub(super) fn required_id(obj: &Map<String, Value>, key: &str) -> Result<String, NormalizeError> {
    let id = id_value(required(obj, key)?, key)?
        .ok_or_else(|| NormalizeError::field(Kind::InvalidValue, key, "must not be empty"))?;
    if id.len() > identifiers::MAX_IDENTIFIER_LEN {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            key,
            format!("longer than {} bytes", identifiers::MAX_IDENTIFIER_LEN),
        ));
    }
    Ok(id)
}

pub(super) fn optional_id(
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, NormalizeError> {
    optional(obj, key).map_or(Ok(None), |v| id_value(v, key))
}

pub(super) fn parse_time(
    v: &Value,
    field: &str,
    cfg: &NormalizeConfig,
) -> Result<i64, NormalizeError> {
    time::parse_value(v, &cfg.time_zone).map_err(|e| {
        let kind = match e {
            time::TimeError::WrongType(_) => Kind::WrongType,
            _ => Kind::InvalidValue,
        };
        NormalizeError::field(kind, field, e.to_string())
    })
}

pub(super) fn customer_identifiers(
    customer: &Value,
    cfg: &NormalizeConfig,
) -> Result<Vec<Identifier>, NormalizeError> {
    let Value::Object(fields) = customer else {
        return Err(wrong_type("customer", "an object", customer));
    };
    let mut out = Vec::new();
    for (key, id_type) in CUSTOMER_FIELDS {
        let Some(v) = fields.get(*key) else { continue };
        let path = format!("customer.{key}");
        let Some(raw) = id_value(v, &path)? else {
            continue;
        };
        out.extend(identifiers::normalize(
            *id_type,
            &raw,
            &cfg.default_region,
            &cfg.blocked_values,
        ));
    }
    Ok(out)
}

pub(super) fn parse_promise(
    v: &Value,
    event_time_ms: i64,
    cfg: &NormalizeConfig,
) -> Result<Promise, NormalizeError> {
    let Value::Object(p) = v else {
        return Err(wrong_type("promise", "an object", v));
    };
    let kind = match optional(p, "kind") {
        Some(Value::String(s)) => promise_kind(s, "promise.kind")?,
        Some(other) => return Err(wrong_type("promise.kind", "a string", other)),
        None => {
            return Err(NormalizeError::field(
                Kind::MissingField,
                "promise.kind",
                "required field is missing",
            ))
        }
    };
    let due_ms = match (optional(p, "due"), optional(p, "within_hours")) {
        (Some(due), None) => parse_time(due, "promise.due", cfg)?,
        (None, Some(hours)) => {
            let h = match hours {
                Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                other => return Err(wrong_type("promise.within_hours", "a number", other)),
            };
            if !(0.0..=MAX_WITHIN_HOURS).contains(&h) {
                return Err(NormalizeError::field(
                    Kind::InvalidValue,
                    "promise.within_hours",
                    format!("{h} is outside 0..={MAX_WITHIN_HOURS}"),
                ));
            }
            // In range by the check above: at most ~3.2e11 ms, no overflow.
            event_time_ms + (h * 3_600_000.0).round() as i64
        }
        (Some(_), Some(_)) => {
            return Err(NormalizeError::field(
                Kind::InvalidValue,
                "promise",
                "give either `due` or `within_hours`, not both",
            ))
        }
        (None, None) => {
            return Err(NormalizeError::field(
                Kind::MissingField,
                "promise.due",
                "a promise needs `due` or `within_hours`",
            ))
        }
    };
    Ok(Promise { kind, due_ms })
}

pub(super) fn promise_kind(s: &str, field: &str) -> Result<PromiseKind, NormalizeError> {
    s.parse::<PromiseKind>().map_err(|_| {
        let known: Vec<&str> = PromiseKind::ALL.iter().map(|k| k.as_str()).collect();
        NormalizeError::field(
            Kind::InvalidValue,
            field,
            format!(
                "unknown promise kind `{}` (expected one of {})",
                shorten(s),
                known.join(", ")
            ),
        )
    })
}

pub(super) fn parse_sentiment(v: &Value) -> Result<f64, NormalizeError> {
    let s = number(v, "sentiment")?;
    if !(-1.0..=1.0).contains(&s) {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            "sentiment",
            format!("{s} is outside -1.0..=1.0"),
        ));
    }
    Ok(s)
}

/// A JSON number, or a numeric string (survey tools send both).
pub(super) fn number(v: &Value, field: &str) -> Result<f64, NormalizeError> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        other => return Err(wrong_type(field, "a number", other)),
    };
    n.filter(|n| n.is_finite()).ok_or_else(|| {
        NormalizeError::field(
            Kind::InvalidValue,
            field,
            format!("`{}` is not a number", shorten(&v.to_string())),
        )
    })
}

pub(super) fn parse_score(v: &Value) -> Result<Score, NormalizeError> {
    let Value::Object(s) = v else {
        return Err(wrong_type("score", "an object", v));
    };
    let kind = match optional(s, "type") {
        Some(Value::String(t)) => match t.trim().to_ascii_lowercase().as_str() {
            "nps" => ScoreKind::Nps,
            "csat" => ScoreKind::Csat,
            "ces" => ScoreKind::Ces,
            "rating" => ScoreKind::Rating,
            _ => {
                return Err(NormalizeError::field(
                    Kind::InvalidValue,
                    "score.type",
                    format!(
                        "unknown score type `{}` (expected one of nps, csat, ces, rating)",
                        shorten(t)
                    ),
                ))
            }
        },
        Some(other) => return Err(wrong_type("score.type", "a string", other)),
        None => {
            return Err(NormalizeError::field(
                Kind::MissingField,
                "score.type",
                "required field is missing",
            ))
        }
    };
    let value = match optional(s, "value") {
        Some(v) => number(v, "score.value")?,
        None => {
            return Err(NormalizeError::field(
                Kind::MissingField,
                "score.value",
                "required field is missing",
            ))
        }
    };
    let (default_min, default_max) = match kind {
        ScoreKind::Nps => (0.0, 10.0),
        ScoreKind::Csat => (1.0, 5.0),
        ScoreKind::Ces => (1.0, 7.0),
        ScoreKind::Rating => (1.0, 5.0),
    };
    let scale_min = optional(s, "scale_min")
        .map(|v| number(v, "score.scale_min"))
        .transpose()?
        .unwrap_or(default_min);
    let scale_max = optional(s, "scale_max")
        .map(|v| number(v, "score.scale_max"))
        .transpose()?
        .unwrap_or(default_max);
    if kind == ScoreKind::Nps && (scale_min, scale_max) != (0.0, 10.0) {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            "score",
            "an nps score is always on the scale 0..=10",
        ));
    }
    if scale_min >= scale_max {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            "score.scale_max",
            format!("scale {scale_min}..={scale_max} is empty"),
        ));
    }
    if !(scale_min..=scale_max).contains(&value) {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            "score.value",
            format!(
                "{value} is outside the {} scale {scale_min}..={scale_max}",
                kind.as_str()
            ),
        ));
    }
    Ok(Score {
        kind,
        value,
        scale_min,
        scale_max,
    })
}

/// Error messages quote input values, but never more than 64 characters of them.
pub(super) fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Whether an object looks like the native format (used by `format = "auto"`).
pub(super) fn detect(obj: &Map<String, Value>) -> bool {
    ["id", "time", "type", "customer"]
        .iter()
        .all(|k| obj.contains_key(*k))
}

#[cfg(test)]
mod tests {
    use super::super::{normalize as run, Format, NormalizeConfig, NormalizeErrorKind};
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn one(channel: Channel, v: Value) -> Result<JourneyEvent, NormalizeError> {
        let bytes = serde_json::to_vec(&v).expect("serialisable");
        run(
            channel,
            Format::Native,
            &bytes,
            &SourceRef::default(),
            &NormalizeConfig::default(),
        )
        .map(|mut evs| evs.remove(0))
    }

    fn base(ty: &str) -> Value {
        json!({"id": "x-1", "time": 1_762_765_920, "type": ty, "customer": {"user_id": "u-1"}})
    }

    #[test]
    fn every_channel_type_maps_and_extras_work_everywhere() {
        for channel in Channel::ALL {
            for name in allowed_types(channel) {
                let mut v = base(name);
                v["promise"] = json!({"kind": "callback", "within_hours": 2});
                v["score"] = json!({"type": "nps", "value": 9});
                let ev = one(channel, v).unwrap_or_else(|e| panic!("{channel} {name}: {e}"));
                assert_eq!(
                    ev.activity,
                    find_rule(channel, name).map(|r| r.activity).expect("rule")
                );
            }
            assert_eq!(
                one(channel, base("refund")).map(|e| e.fulfils),
                Ok(Some(PromiseKind::Refund))
            );
        }
    }

    #[test]
    fn unknown_type_lists_allowed_values() {
        let e = one(Channel::Chat, base("call_started")).expect_err("phone type on chat");
        assert_eq!(e.kind, NormalizeErrorKind::UnknownType);
        assert_eq!(
            e.to_string(),
            "field `type`: unknown chat type `call_started` (expected one of chat_started, agent_message, chat_closed, refund, delivery, promise)"
        );
    }

    #[test]
    fn explicit_fulfils_and_resolved_override_type_defaults() {
        let mut v = base("callback");
        v["fulfils"] = json!("technician");
        assert_eq!(
            one(Channel::Phone, v).map(|e| e.fulfils),
            Ok(Some(PromiseKind::Technician))
        );
        let mut v = base("ticket_solved");
        assert_eq!(one(Channel::Email, v.clone()).map(|e| e.resolves), Ok(true));
        v["resolved"] = json!(false);
        assert_eq!(one(Channel::Email, v).map(|e| e.resolves), Ok(false));
    }

    #[test]
    fn same_source_id_same_event_id_string_or_number() {
        let mut a = base("page_view");
        a["id"] = json!(42);
        let mut b = base("page_view");
        b["id"] = json!("42");
        let (a, b) = (
            one(Channel::Web, a).expect("ok"),
            one(Channel::Web, b).expect("ok"),
        );
        assert_eq!(a.event_id, b.event_id);
        assert_eq!(a.event_id, ids::event_id("web", "native", "42"));
        // Another channel: another id.
        assert_ne!(
            one(Channel::Chat, base("promise")).map(|e| e.event_id).ok(),
            Some(a.event_id)
        );
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[ -~]{0,20}".prop_map(Value::from),
            prop_oneof![
                Just("call_started"),
                Just("response"),
                Just("promise"),
                Just("refund"),
                Just("nps"),
                Just("0170 1234567"),
                Just("2026-11-10 09:12:00"),
                Just("Anna@Example.de"),
                Just("-1"),
            ]
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            let keys = prop_oneof![
                Just("id"),
                Just("time"),
                Just("type"),
                Just("customer"),
                Just("email"),
                Just("phone"),
                Just("customer_number"),
                Just("promise"),
                Just("kind"),
                Just("due"),
                Just("within_hours"),
                Just("score"),
                Just("value"),
                Just("scale_min"),
                Just("scale_max"),
                Just("sentiment"),
                Just("fulfils"),
                Just("resolved"),
                Just("topic"),
                Just("case_id"),
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map(keys.prop_map(str::to_string), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            for channel in Channel::ALL {
                let _ = run(channel, Format::Native, &bytes, &SourceRef::default(), &NormalizeConfig::default());
            }
        }

        #[test]
        fn never_panics_on_json_and_output_is_canonical(v in arb_json()) {
            let bytes = serde_json::to_vec(&v).expect("serialisable");
            for channel in Channel::ALL {
                if let Ok(events) = run(channel, Format::Native, &bytes, &SourceRef::default(), &NormalizeConfig::default()) {
                    for e in events {
                        prop_assert!(!e.identifiers.is_empty());
                        prop_assert!(e.identifiers.windows(2).all(|w| w[0] < w[1]));
                        prop_assert_eq!(e.format.as_str(), "native");
                    }
                }
            }
        }
    }
}
