//! Square webhooks (`docs/formats/square.md`): one event notification per
//! record, `{merchant_id, type, event_id, created_at, data: {type, id,
//! object: {<kind>: {...}}}}`.
//!
//! Supported types: `payment.created`/`payment.updated` (→ purchase),
//! `refund.created`/`refund.updated` (→ refund, fulfils `refund` once
//! `COMPLETED`), `booking.created`/`booking.updated` (→ appointment, or closed
//! when cancelled / no-show), `loyalty.event.created` (→ identify) and
//! `order.created`/`order.updated`/`order.fulfillment.updated`, which carry
//! only ids (→ purchase with `needs_enrichment`).
//!
//! The dedupe key is the notification's `event_id`. Customer identifiers:
//! `customer_id` (→ vendor contact `square:<id>`), `buyer_email_address`,
//! `loyalty_account_id` (→ loyalty id) and the order id (→ vendor contact
//! `square_order:<id>`, so that id-only order and refund notifications join
//! the payer of that order). Notes (`customer_note`, `seller_note`, refund
//! `reason`, `note`), addresses and card details are never read.
//!
//! The small field helpers at the bottom are shared with the other store and
//! survey formats of this crate (`shopify_pos`, `qualtrics`, `typeform`).

use serde_json::{Map, Value};

use crate::ids;
use crate::model::{Activity, Channel, IdType, Identifier, JourneyEvent, PromiseKind, SourceRef};
use crate::normalize::native::{id_value, parse_time, shorten, wrong_type};
use crate::normalize::{
    identifiers, parse_object, NormalizeConfig, NormalizeError, NormalizeErrorKind as Kind,
};

const FORMAT: &str = "square";

const SUPPORTED: &[&str] = &[
    "payment.created",
    "payment.updated",
    "refund.created",
    "refund.updated",
    "booking.created",
    "booking.updated",
    "loyalty.event.created",
    "order.created",
    "order.updated",
    "order.fulfillment.updated",
];

pub(super) fn normalize(
    channel: Channel,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let obj = parse_object(payload)?;
    let event_type = req_str(&obj, "type", "type")?.trim().to_ascii_lowercase();
    if !SUPPORTED.contains(&event_type.as_str()) {
        return Err(NormalizeError::field(
            Kind::UnknownType,
            "type",
            format!(
                "unknown square event type `{}` (expected one of {})",
                shorten(&event_type),
                SUPPORTED.join(", ")
            ),
        ));
    }
    let source_event_id = req_id(&obj, "event_id", "event_id")?;
    let data = req_obj(&obj, "data", "data")?;
    let object = req_obj(data, "object", "data.object")?;
    let envelope_time = opt(&obj, "created_at");

    let mut ev = Draft::new(source_event_id);
    match event_type.as_str() {
        "payment.created" | "payment.updated" => {
            let p = req_obj(object, "payment", "data.object.payment")?;
            let path = "data.object.payment";
            ev.time = time_or(p, "created_at", path, envelope_time, cfg)?;
            ev.activity = Activity::Purchase;
            let order = opt_id(p, "order_id", path)?;
            ev.interaction_id = order.clone().or(opt_id(p, "id", path)?);
            push_vendor(&mut ev.ids, "square", opt_id(p, "customer_id", path)?, cfg);
            push_vendor(&mut ev.ids, "square_order", order, cfg);
            push(
                &mut ev.ids,
                IdType::Email,
                opt_string(p, "buyer_email_address", path)?,
                cfg,
            );
        }
        "refund.created" | "refund.updated" => {
            let r = req_obj(object, "refund", "data.object.refund")?;
            let path = "data.object.refund";
            ev.time = time_or(r, "created_at", path, envelope_time, cfg)?;
            ev.activity = Activity::Refund;
            let status = opt_string(r, "status", path)?
                .unwrap_or_default()
                .to_ascii_uppercase();
            // PENDING: the money is not back yet; REJECTED/FAILED: it never will be.
            ev.fulfils = (status == "COMPLETED").then_some(PromiseKind::Refund);
            let order = opt_id(r, "order_id", path)?;
            ev.interaction_id = order.clone().or(opt_id(r, "payment_id", path)?);
            push_vendor(&mut ev.ids, "square_order", order, cfg);
            // Not documented on Refund, but some integrations add it: use it when there.
            push_vendor(&mut ev.ids, "square", opt_id(r, "customer_id", path)?, cfg);
        }
        "booking.created" | "booking.updated" => {
            let b = req_obj(object, "booking", "data.object.booking")?;
            let path = "data.object.booking";
            // When the booking was made (or changed), not the appointment's `start_at`.
            let key = if event_type == "booking.created" {
                "created_at"
            } else {
                "updated_at"
            };
            ev.time = time_or(b, key, path, envelope_time, cfg)?;
            let status = req_str(b, "status", &format!("{path}.status"))?
                .trim()
                .to_ascii_uppercase();
            (ev.activity, ev.topic) = match status.as_str() {
                "PENDING" | "ACCEPTED" => (Activity::Appointment, None),
                "CANCELLED_BY_CUSTOMER" | "CANCELLED_BY_SELLER" | "DECLINED" => {
                    (Activity::Closed, Some("appointment_cancelled".to_string()))
                }
                "NO_SHOW" => (Activity::Closed, Some("appointment_no_show".to_string())),
                other => {
                    return Err(NormalizeError::field(
                        Kind::InvalidValue,
                        &format!("{path}.status"),
                        format!(
                            "unknown booking status `{}` (expected one of PENDING, ACCEPTED, CANCELLED_BY_CUSTOMER, CANCELLED_BY_SELLER, DECLINED, NO_SHOW)",
                            shorten(other)
                        ),
                    ))
                }
            };
            ev.interaction_id = opt_id(b, "id", path)?;
            push_vendor(&mut ev.ids, "square", opt_id(b, "customer_id", path)?, cfg);
        }
        "loyalty.event.created" => {
            let l = req_obj(object, "loyalty_event", "data.object.loyalty_event")?;
            let path = "data.object.loyalty_event";
            ev.time = time_or(l, "created_at", path, envelope_time, cfg)?;
            ev.activity = Activity::Identify;
            push(
                &mut ev.ids,
                IdType::LoyaltyId,
                opt_id(l, "loyalty_account_id", path)?,
                cfg,
            );
            // The order the points were earned or redeemed on links the loyalty account to the payer.
            for detail in [
                "accumulate_points",
                "redeem_reward",
                "accumulate_promotion_points",
            ] {
                if let Some(d) = opt(l, detail) {
                    let dpath = format!("{path}.{detail}");
                    let Value::Object(d) = d else {
                        return Err(wrong_type(&dpath, "an object", d));
                    };
                    let order = opt_id(d, "order_id", &dpath)?;
                    if ev.interaction_id.is_none() {
                        ev.interaction_id = order.clone();
                    }
                    push_vendor(&mut ev.ids, "square_order", order, cfg);
                }
            }
        }
        _ => {
            // order.created / order.updated / order.fulfillment.updated: ids and a state only.
            let key = match event_type.as_str() {
                "order.created" => "order_created",
                "order.updated" => "order_updated",
                _ => "order_fulfillment_updated",
            };
            let path = format!("data.object.{key}");
            let o = req_obj(object, key, &path)?;
            ev.time = time_or(o, "created_at", &path, envelope_time, cfg)?;
            ev.activity = Activity::Purchase;
            ev.needs_enrichment = true;
            let order = Some(req_id(o, "order_id", &format!("{path}.order_id"))?);
            ev.interaction_id = order.clone();
            push_vendor(&mut ev.ids, "square_order", order, cfg);
        }
    }
    Ok(vec![ev.finish(channel, FORMAT, source)])
}

/// A Square notification: `event_id`, `merchant_id`, a dotted `type` and a `data` object.
pub(super) fn detect(_payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    object.is_some_and(|o| {
        o.get("event_id").is_some_and(Value::is_string)
            && o.contains_key("merchant_id")
            && o.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.contains('.'))
            && o.get("data").is_some_and(Value::is_object)
    })
}

// ---------------------------------------------------------------------------
// Helpers shared by the store and survey formats (square, shopify_pos,
// qualtrics, typeform).

/// A canonical event under construction.
pub(super) struct Draft {
    pub source_event_id: String,
    pub activity: Activity,
    pub time: i64,
    pub ids: Vec<Identifier>,
    pub interaction_id: Option<String>,
    pub case_id: Option<String>,
    pub topic: Option<String>,
    pub fulfils: Option<PromiseKind>,
    pub resolves: bool,
    pub score: Option<crate::model::Score>,
    pub sentiment: Option<f64>,
    pub needs_enrichment: bool,
}

impl Draft {
    pub fn new(source_event_id: String) -> Self {
        Draft {
            source_event_id,
            activity: Activity::Contact,
            time: 0,
            ids: Vec::new(),
            interaction_id: None,
            case_id: None,
            topic: None,
            fulfils: None,
            resolves: false,
            score: None,
            sentiment: None,
            needs_enrichment: false,
        }
    }

    pub fn finish(self, channel: Channel, format: &str, source: &SourceRef) -> JourneyEvent {
        JourneyEvent {
            event_id: ids::event_id(channel.as_str(), format, &self.source_event_id),
            source_event_id: self.source_event_id,
            channel,
            format: format.to_string(),
            activity: self.activity,
            event_time_ms: self.time,
            identifiers: self.ids,
            interaction_id: self.interaction_id,
            case_id: self.case_id,
            topic: self
                .topic
                .map(|t| t.trim().to_lowercase())
                .filter(|t| !t.is_empty()),
            promise: None,
            fulfils: self.fulfils,
            resolves: self.resolves,
            score: self.score,
            sentiment: self.sentiment,
            transfer_count: 0,
            needs_enrichment: self.needs_enrichment,
            source_updated_ms: None,
            source: source.clone(),
        }
    }
}

/// `parent.key` (or `key` when the parent path is empty).
pub(super) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// A present, non-null field.
pub(super) fn opt<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// A required field; `path` is its full path for the error.
pub(super) fn req<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Value, NormalizeError> {
    opt(obj, key)
        .ok_or_else(|| NormalizeError::field(Kind::MissingField, path, "required field is missing"))
}

pub(super) fn req_obj<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Map<String, Value>, NormalizeError> {
    match req(obj, key, path)? {
        Value::Object(m) => Ok(m),
        other => Err(wrong_type(path, "an object", other)),
    }
}

pub(super) fn req_str<'a>(
    obj: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, NormalizeError> {
    match req(obj, key, path)? {
        Value::String(s) => Ok(s),
        other => Err(wrong_type(path, "a string", other)),
    }
}

/// A required id (string or integer, not blank).
pub(super) fn req_id(
    obj: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<String, NormalizeError> {
    let id = id_value(req(obj, key, path)?, path)?
        .ok_or_else(|| NormalizeError::field(Kind::InvalidValue, path, "must not be empty"))?;
    if id.len() > identifiers::MAX_IDENTIFIER_LEN {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            path,
            format!("longer than {} bytes", identifiers::MAX_IDENTIFIER_LEN),
        ));
    }
    Ok(id)
}

/// An optional id (string or integer) of `obj` at `parent.key`.
pub(super) fn opt_id(
    obj: &Map<String, Value>,
    key: &str,
    parent: &str,
) -> Result<Option<String>, NormalizeError> {
    opt(obj, key).map_or(Ok(None), |v| id_value(v, &join(parent, key)))
}

/// An optional string of `obj` at `parent.key`.
pub(super) fn opt_string(
    obj: &Map<String, Value>,
    key: &str,
    parent: &str,
) -> Result<Option<String>, NormalizeError> {
    match opt(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(&join(parent, key), "a string", other)),
    }
}

/// The time at `parent.key`, else the fallback (the notification's own time), else an error naming `parent.key`.
pub(super) fn time_or(
    obj: &Map<String, Value>,
    key: &str,
    parent: &str,
    fallback: Option<&Value>,
    cfg: &NormalizeConfig,
) -> Result<i64, NormalizeError> {
    let path = join(parent, key);
    match (opt(obj, key), fallback) {
        (Some(v), _) => parse_time(v, &path, cfg),
        (None, Some(v)) => parse_time(v, "created_at", cfg),
        (None, None) => Err(NormalizeError::field(
            Kind::MissingField,
            &path,
            "required field is missing",
        )),
    }
}

/// Normalises `raw` as `id_type` and keeps it unless it is junk.
pub(super) fn push(
    out: &mut Vec<Identifier>,
    id_type: IdType,
    raw: Option<String>,
    cfg: &NormalizeConfig,
) {
    if let Some(raw) = raw {
        out.extend(identifiers::normalize(
            id_type,
            &raw,
            &cfg.default_region,
            &cfg.blocked_values,
        ));
    }
}

/// A vendor contact id `prefix:raw`, unless `raw` is junk.
pub(super) fn push_vendor(
    out: &mut Vec<Identifier>,
    prefix: &str,
    raw: Option<String>,
    cfg: &NormalizeConfig,
) {
    if let Some(v) = raw.as_deref().and_then(identifiers::plain) {
        push(
            out,
            IdType::VendorContact,
            Some(format!("{prefix}:{v}")),
            cfg,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{normalize as run, Format, NormalizeErrorKind};
    use super::*;
    use serde_json::json;

    fn events(v: &Value) -> Result<Vec<JourneyEvent>, NormalizeError> {
        let bytes = serde_json::to_vec(v).expect("serialisable");
        run(
            Channel::Store,
            Format::Square,
            &bytes,
            &SourceRef::default(),
            &NormalizeConfig::default(),
        )
    }

    fn payment() -> Value {
        json!({
            "merchant_id": "ML82H4QPKMGXY",
            "type": "payment.created",
            "event_id": "evt-1",
            "created_at": "2026-11-12T15:00:05Z",
            "data": {"type": "payment", "id": "pay-1", "object": {"payment": {
                "id": "pay-1", "created_at": "2026-11-12T15:00:00.123456Z", "status": "COMPLETED",
                "order_id": "ord-1", "customer_id": "CUST1", "buyer_email_address": " Anna@Example.DE ",
                "note": "secret note text", "shipping_address": {"address_line_1": "Hauptstr. 1"},
                "card_details": {"card": {"fingerprint": "sq-1-fingerprint"}}
            }}}
        })
    }

    #[test]
    fn payment_maps_ids_time_and_no_free_text() {
        let ev = events(&payment()).expect("ok").remove(0);
        assert_eq!(ev.activity, Activity::Purchase);
        assert_eq!(ev.event_time_ms, 1_794_495_600_123);
        assert_eq!(ev.format, "square");
        assert_eq!(ev.event_id, ids::event_id("store", "square", "evt-1"));
        assert_eq!(ev.interaction_id.as_deref(), Some("ord-1"));
        let values: Vec<&str> = ev.identifiers.iter().map(|i| i.value.as_str()).collect();
        assert_eq!(
            values,
            ["anna@example.de", "square:CUST1", "square_order:ord-1"]
        );
        let out = serde_json::to_string(&ev).expect("json");
        for secret in ["secret note text", "Hauptstr", "fingerprint"] {
            assert!(!out.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn redelivery_gives_the_same_event_id() {
        let a = events(&payment()).expect("ok");
        let b = events(&payment()).expect("ok");
        assert_eq!(a, b);
    }

    #[test]
    fn junk_customer_values_are_dropped() {
        let mut v = payment();
        v["data"]["object"]["payment"]["customer_id"] = json!("null");
        v["data"]["object"]["payment"]["buyer_email_address"] = json!("test@test.com");
        v["data"]["object"]["payment"]["order_id"] = json!("");
        let e = events(&v).expect_err("nothing left");
        assert_eq!(e.kind, NormalizeErrorKind::NoIdentifier);
    }

    #[test]
    fn booking_status_decides_activity() {
        let booking = |status: &str| {
            json!({"merchant_id": "M", "type": "booking.updated", "event_id": format!("b-{status}"),
                   "created_at": "2026-11-12T15:00:00Z",
                   "data": {"type": "booking", "id": "bk:2", "object": {"booking": {
                       "id": "bk", "status": status, "customer_id": "C9", "updated_at": "2026-11-12T14:59:00Z",
                       "start_at": "2026-11-20T10:00:00Z", "customer_note": "window seat please"}}}})
        };
        let one = |s: &str| events(&booking(s)).map(|mut e| e.remove(0));
        let ok = one("ACCEPTED").expect("ok");
        assert_eq!(
            (ok.activity, ok.topic.as_deref()),
            (Activity::Appointment, None)
        );
        assert_eq!(ok.event_time_ms, 1_794_495_540_000);
        let c = one("CANCELLED_BY_CUSTOMER").expect("ok");
        assert_eq!(
            (c.activity, c.topic.as_deref()),
            (Activity::Closed, Some("appointment_cancelled"))
        );
        let n = one("NO_SHOW").expect("ok");
        assert_eq!(
            (n.activity, n.topic.as_deref()),
            (Activity::Closed, Some("appointment_no_show"))
        );
        let e = one("LOST").expect_err("unknown status");
        assert_eq!(
            e.to_string().split(':').next(),
            Some("field `data.object.booking.status`")
        );
    }

    #[test]
    fn refund_fulfils_only_when_completed() {
        let refund = |status: &str| {
            json!({"merchant_id": "M", "type": "refund.updated", "event_id": format!("r-{status}"),
                   "data": {"type": "refund", "id": "rf", "object": {"refund": {
                       "id": "rf", "status": status, "payment_id": "pay-1", "order_id": "ord-1",
                       "reason": "broken on arrival", "created_at": 1_794_495_600}}}})
        };
        let done = events(&refund("COMPLETED")).expect("ok").remove(0);
        assert_eq!(
            (done.activity, done.fulfils),
            (Activity::Refund, Some(PromiseKind::Refund))
        );
        assert_eq!(done.event_time_ms, 1_794_495_600_000, "epoch seconds");
        let pending = events(&refund("PENDING")).expect("ok").remove(0);
        assert_eq!(pending.fulfils, None);
    }

    #[test]
    fn order_updated_is_id_only_and_needs_enrichment() {
        let v = json!({"merchant_id": "M", "type": "order.updated", "event_id": "o-1",
                       "created_at": "2026-11-12T15:00:00+0100",
                       "data": {"type": "order_updated", "id": "ord-1", "object": {"order_updated": {
                           "order_id": "ord-1", "state": "OPEN", "version": 2, "location_id": "L1"}}}});
        let ev = events(&v).expect("ok").remove(0);
        assert!(ev.needs_enrichment);
        assert_eq!(
            ev.event_time_ms, 1_794_492_000_000,
            "falls back to the notification time, +0100"
        );
        assert_eq!(
            ev.identifiers,
            vec![Identifier::new(IdType::VendorContact, "square_order:ord-1")]
        );
    }

    #[test]
    fn loyalty_event_links_account_and_order() {
        let v = json!({"merchant_id": "C337NFWQT2A6W", "type": "loyalty.event.created", "event_id": "l-1",
                       "created_at": "2026-11-12T15:00:00Z",
                       "data": {"type": "loyalty", "id": "x", "object": {"loyalty_event": {
                           "id": "le", "type": "ACCUMULATE_POINTS", "loyalty_account_id": "acc-7",
                           "accumulate_points": {"points": 5, "order_id": "ord-1"},
                           "created_at": "2026-11-12T15:00:00Z"}}}});
        let ev = events(&v).expect("ok").remove(0);
        assert_eq!(ev.activity, Activity::Identify);
        assert_eq!(
            ev.identifiers,
            vec![
                Identifier::new(IdType::LoyaltyId, "acc-7"),
                Identifier::new(IdType::VendorContact, "square_order:ord-1")
            ]
        );
    }

    #[test]
    fn almost_right_payloads_name_the_field() {
        let mut v = payment();
        v["type"] = json!("invoice.payment_made");
        let e = events(&v).expect_err("unknown");
        assert_eq!(e.kind, NormalizeErrorKind::UnknownType);
        assert!(e.to_string().contains("payment.created"), "{e}");

        let mut v = payment();
        v.as_object_mut().expect("object").remove("event_id");
        assert_eq!(
            events(&v).expect_err("missing").to_string(),
            "field `event_id`: required field is missing"
        );

        let mut v = payment();
        v["data"]["object"]["payment"]["customer_id"] = json!(["x"]);
        assert_eq!(
            events(&v).expect_err("wrong type").to_string(),
            "field `data.object.payment.customer_id`: expected a string or an integer, found an array"
        );

        let mut v = payment();
        v["data"]["object"] = json!({"refund": {}});
        assert_eq!(
            events(&v).expect_err("missing payment").to_string(),
            "field `data.object.payment`: required field is missing"
        );
    }

    #[test]
    fn detect_is_specific() {
        let o = |v: Value| v.as_object().cloned();
        assert!(detect(b"", o(payment()).as_ref()));
        let native =
            json!({"id": "s-1", "time": 1, "type": "visit", "customer": {"loyalty_id": "L"}});
        assert!(!detect(b"", o(native).as_ref()));
        let shopify = json!({"id": 1, "created_at": "2026-11-12T15:00:00Z", "source_name": "pos", "financial_status": "paid"});
        assert!(!detect(b"", o(shopify).as_ref()));
        assert!(!detect(b"", None));
    }
}
