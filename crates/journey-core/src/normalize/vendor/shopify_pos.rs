//! Shopify orders from the point of sale (`docs/formats/shopify_pos.md`): the
//! Admin REST `Order` resource as the `orders/create`/`orders/updated`/
//! `orders/paid` webhooks send it (the bare order object), or wrapped as the
//! REST API returns it (`{"order": {...}}`). Only orders with
//! `source_name: "pos"` are accepted; others are rejected naming the field.
//!
//! One payload → one `purchase` event (source id `order:<id>`) plus one
//! `refund` event per element of `refunds[]` (source id `refund:<id>`), so a
//! re-sent or updated order re-emits the same event ids and the stitcher
//! applies each once. Shopify's delivery id (`X-Shopify-Webhook-Id`) is a
//! header, not part of the body, hence these body-derived ids.
//!
//! Identifiers: `customer.id` (→ vendor contact `shopify:<id>`),
//! `customer.email`, `customer.phone`, `email`, `contact_email`, `phone`.
//! Notes (`note`, `refunds[].note`), `note_attributes`, addresses, line items
//! and payment details are never read.

use serde_json::{Map, Value};

use super::square::{
    join, opt, opt_id, opt_string, push, push_vendor, req, req_id, req_str, time_or, Draft,
};
use crate::model::{Activity, Channel, IdType, Identifier, JourneyEvent, PromiseKind, SourceRef};
use crate::normalize::native::{shorten, wrong_type};
use crate::normalize::{parse_object, NormalizeConfig, NormalizeError, NormalizeErrorKind as Kind};

const FORMAT: &str = "shopify_pos";

pub(super) fn normalize(
    channel: Channel,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let top = parse_object(payload)?;
    let (order, base) = match top.get("order") {
        Some(Value::Object(o)) => (o, "order"),
        Some(other) if !top.contains_key("source_name") => {
            return Err(wrong_type("order", "an object", other))
        }
        _ => (&top, ""),
    };
    let path = |key: &str| join(base, key);

    let order_id = req_id(order, "id", &path("id"))?;
    let source_name = req_str(order, "source_name", &path("source_name"))?
        .trim()
        .to_ascii_lowercase();
    if source_name != "pos" {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            &path("source_name"),
            format!(
                "order from source `{}` is not a point-of-sale order (expected `pos`; online orders belong on the web channel)",
                shorten(&source_name)
            ),
        ));
    }
    let created = req(order, "created_at", &path("created_at"))?;
    let created_ms = crate::normalize::native::parse_time(created, &path("created_at"), cfg)?;
    let ids = identifiers(order, base, cfg)?;
    let financial = opt_string(order, "financial_status", base)?
        .map(|s| s.trim().to_ascii_lowercase())
        .unwrap_or_default();

    let mut purchase = Draft::new(format!("order:{order_id}"));
    purchase.activity = Activity::Purchase;
    purchase.time = created_ms;
    purchase.ids = ids.clone();
    purchase.interaction_id = Some(order_id.clone());
    let mut out = vec![purchase.finish(channel, FORMAT, source)];

    match opt(order, "refunds") {
        None => {}
        Some(Value::Array(refunds)) => {
            for (i, r) in refunds.iter().enumerate() {
                let rpath = format!("{}[{i}]", path("refunds"));
                let Value::Object(r) = r else {
                    return Err(wrong_type(&rpath, "an object", r));
                };
                let refund_id = req_id(r, "id", &join(&rpath, "id"))?;
                let mut ev = Draft::new(format!("refund:{refund_id}"));
                ev.activity = Activity::Refund;
                // `processed_at` is when the money went back; `created_at` when it was entered.
                let key = if opt(r, "processed_at").is_some() {
                    "processed_at"
                } else {
                    "created_at"
                };
                ev.time = time_or(r, key, &rpath, Some(created), cfg)?;
                ev.fulfils = refund_succeeded(r, &rpath)?.then_some(PromiseKind::Refund);
                ev.ids = ids.clone();
                ev.interaction_id = Some(order_id.clone());
                out.push(ev.finish(channel, FORMAT, source));
            }
        }
        Some(other) => return Err(wrong_type(&path("refunds"), "an array", other)),
    }
    // Refunded by status but without the `refunds[]` detail (e.g. a trimmed
    // `orders/updated` body): one refund event for the status, marked for enrichment.
    if out.len() == 1 && matches!(financial.as_str(), "refunded" | "partially_refunded") {
        let mut ev = Draft::new(format!("refund-status:{order_id}:{financial}"));
        ev.activity = Activity::Refund;
        ev.time = time_or(order, "updated_at", base, Some(created), cfg)?;
        ev.fulfils = Some(PromiseKind::Refund);
        ev.ids = ids;
        ev.interaction_id = Some(order_id);
        ev.needs_enrichment = true;
        out.push(ev.finish(channel, FORMAT, source));
    }
    Ok(out)
}

/// A refund fulfils the refund promise unless all its transactions failed
/// (`status` of every `transactions[]` is `failure` or `error`).
fn refund_succeeded(r: &Map<String, Value>, rpath: &str) -> Result<bool, NormalizeError> {
    let Some(txs) = opt(r, "transactions") else {
        return Ok(true);
    };
    let Value::Array(txs) = txs else {
        return Err(wrong_type(&join(rpath, "transactions"), "an array", txs));
    };
    if txs.is_empty() {
        return Ok(true);
    }
    let mut any_ok = false;
    for (i, t) in txs.iter().enumerate() {
        let tpath = format!("{rpath}.transactions[{i}]");
        let Value::Object(t) = t else {
            return Err(wrong_type(&tpath, "an object", t));
        };
        let status = opt_string(t, "status", &tpath)?
            .unwrap_or_default()
            .to_ascii_lowercase();
        any_ok |= !matches!(status.as_str(), "failure" | "error");
    }
    Ok(any_ok)
}

fn identifiers(
    order: &Map<String, Value>,
    base: &str,
    cfg: &NormalizeConfig,
) -> Result<Vec<Identifier>, NormalizeError> {
    let mut ids = Vec::new();
    push(
        &mut ids,
        IdType::Email,
        opt_string(order, "email", base)?,
        cfg,
    );
    push(
        &mut ids,
        IdType::Email,
        opt_string(order, "contact_email", base)?,
        cfg,
    );
    push(
        &mut ids,
        IdType::Phone,
        opt_string(order, "phone", base)?,
        cfg,
    );
    match opt(order, "customer") {
        None => {}
        Some(Value::Object(c)) => {
            let cpath = join(base, "customer");
            push_vendor(&mut ids, "shopify", opt_id(c, "id", &cpath)?, cfg);
            push(
                &mut ids,
                IdType::Email,
                opt_string(c, "email", &cpath)?,
                cfg,
            );
            push(
                &mut ids,
                IdType::Phone,
                opt_string(c, "phone", &cpath)?,
                cfg,
            );
        }
        Some(other) => return Err(wrong_type(&join(base, "customer"), "an object", other)),
    }
    Ok(ids)
}

/// A Shopify order (bare or as `{"order": {...}}`): `source_name` plus
/// `financial_status` or `line_items`, and no native `time`/`type` envelope.
/// Orders from other sources are detected too, so that they get a clear error.
pub(super) fn detect(_payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    fn is_order(o: &Map<String, Value>) -> bool {
        o.get("source_name").is_some_and(Value::is_string)
            && (o.contains_key("financial_status") || o.contains_key("line_items"))
            && o.contains_key("id")
            && !o.contains_key("time")
            && !o.contains_key("event_id")
    }
    object.is_some_and(|o| match o.get("order") {
        Some(Value::Object(inner)) => is_order(inner),
        _ => is_order(o),
    })
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
            Format::ShopifyPos,
            &bytes,
            &SourceRef::default(),
            &NormalizeConfig::default(),
        )
    }

    fn order() -> Value {
        json!({
            "id": 450789469, "admin_graphql_api_id": "gid://shopify/Order/450789469",
            "created_at": "2026-11-12T10:00:00-05:00", "source_name": "pos",
            "email": "anna.schmidt@example.de", "phone": "+49 (0)170 1234567",
            "financial_status": "partially_refunded", "note": "customer was upset about the zipper",
            "customer": {"id": 207119551, "email": "Anna.Schmidt@Example.de", "phone": "0170/1234567"},
            "billing_address": {"address1": "Chestnut Street 92"},
            "refunds": [{"id": 509562969, "order_id": 450789469, "created_at": "2026-11-13T09:00:00-05:00",
                         "processed_at": "2026-11-13T09:01:00-05:00", "note": "zipper broken",
                         "transactions": [{"id": 1, "kind": "refund", "status": "success"}]}]
        })
    }

    #[test]
    fn order_and_refunds_become_several_events() {
        let evs = events(&order()).expect("ok");
        assert_eq!(evs.len(), 2);
        assert_eq!(
            (evs[0].activity, evs[0].source_event_id.as_str()),
            (Activity::Purchase, "order:450789469")
        );
        assert_eq!(evs[0].event_time_ms, 1_794_495_600_000);
        assert_eq!(
            (evs[1].activity, evs[1].fulfils),
            (Activity::Refund, Some(PromiseKind::Refund))
        );
        assert_eq!(evs[1].source_event_id, "refund:509562969");
        assert_eq!(
            evs[1].event_time_ms,
            1_794_495_600_000 + 86_400_000 - 3_600_000 + 60_000
        );
        assert_eq!(evs[1].interaction_id.as_deref(), Some("450789469"));
        let values: Vec<&str> = evs[0]
            .identifiers
            .iter()
            .map(|i| i.value.as_str())
            .collect();
        assert_eq!(
            values,
            [
                "anna.schmidt@example.de",
                "+491701234567",
                "shopify:207119551"
            ]
        );
        let out = serde_json::to_string(&evs).expect("json");
        assert!(!out.contains("zipper") && !out.contains("Chestnut"));
    }

    #[test]
    fn ids_as_numbers_or_strings_give_the_same_event() {
        let mut s = order();
        s["id"] = json!("450789469");
        s["customer"]["id"] = json!("207119551");
        s["refunds"][0]["id"] = json!("509562969");
        assert_eq!(events(&order()).expect("ok"), events(&s).expect("ok"));
    }

    #[test]
    fn wrapped_order_is_accepted_and_paths_say_so() {
        let wrapped = json!({"order": order()});
        assert_eq!(events(&wrapped).expect("ok"), events(&order()).expect("ok"));
        let mut bad = wrapped;
        bad["order"]["source_name"] = json!("web");
        let e = events(&bad).expect_err("web");
        assert_eq!(e.kind, NormalizeErrorKind::InvalidValue);
        assert!(
            e.to_string()
                .starts_with("field `order.source_name`: order from source `web`"),
            "{e}"
        );
    }

    #[test]
    fn failed_refund_does_not_fulfil() {
        let mut v = order();
        v["refunds"][0]["transactions"] = json!([{"id": 1, "status": "failure"}]);
        assert_eq!(events(&v).expect("ok")[1].fulfils, None);
        v["refunds"] = json!("x");
        assert_eq!(
            events(&v).expect_err("wrong").to_string(),
            "field `refunds`: expected an array, found a string"
        );
    }

    #[test]
    fn missing_source_name_and_junk_contacts() {
        let mut v = order();
        v.as_object_mut().expect("obj").remove("source_name");
        assert_eq!(
            events(&v).expect_err("missing").to_string(),
            "field `source_name`: required field is missing"
        );
        let v = json!({"id": 1, "created_at": "2026-11-12T10:00:00Z", "source_name": "pos",
                       "email": "undefined", "phone": "", "customer": {"id": 0, "email": "noreply@shop.example.de"}});
        assert_eq!(
            events(&v).expect_err("junk").kind,
            NormalizeErrorKind::NoIdentifier
        );
    }

    #[test]
    fn refunded_status_without_refund_detail_needs_enrichment() {
        let mut v = order();
        v.as_object_mut().expect("obj").remove("refunds");
        v["updated_at"] = json!("2026-11-14 08:00:00");
        let evs = events(&v).expect("ok");
        assert_eq!(evs.len(), 2);
        assert_eq!(
            evs[1].source_event_id,
            "refund-status:450789469:partially_refunded"
        );
        assert!(evs[1].needs_enrichment);
        assert_eq!(
            evs[1].event_time_ms,
            1_794_495_600_000 + 2 * 86_400_000 - 7 * 3_600_000,
            "zone-less in UTC"
        );
        v["financial_status"] = json!("paid");
        assert_eq!(events(&v).expect("ok").len(), 1);
    }

    #[test]
    fn detect_is_specific() {
        let o = |v: Value| v.as_object().cloned();
        assert!(detect(b"", o(order()).as_ref()));
        assert!(detect(b"", o(json!({"order": order()})).as_ref()));
        let native =
            json!({"id": "s-1", "time": 1, "type": "purchase", "customer": {"email": "a@b.de"}});
        assert!(!detect(b"", o(native).as_ref()));
        let square =
            json!({"merchant_id": "M", "event_id": "e", "type": "payment.created", "data": {}});
        assert!(!detect(b"", o(square).as_ref()));
    }
}
