//! Qualtrics survey responses (`docs/formats/qualtrics.md`). Accepted shapes:
//!
//! - a response export file, `{"responses": [{responseId, values, ...}, ...]}`
//!   (one canonical event per response);
//! - one response from the API, `{"result": {responseId, values, ...}, "meta": ...}`,
//!   or a bare `{responseId, values, ...}`;
//! - a form-encoded event notification (`surveyengine.completedResponse.*`) or
//!   a workflow web-service post, given as a flat object of strings:
//!   `ResponseID`, `SurveyID`, `RecipientID`, `CompletedDate`, plus whatever
//!   embedded data the workflow adds.
//!
//! From the response values (or the flat object): the time (`recordedDate`,
//! else `endDate`, `CompletedDate`, `startDate`; zone-less values are read in
//! the source's time zone), identifiers and links from well-known embedded
//! data names (matched case-insensitively, `_` ignored), and one score: the
//! NPS question that has a `<QID>_NPS_GROUP` (1/2/3 = detractor/passive/
//! promoter, checked against the value), else an `nps`, `csat` or `ces` field
//! (scale from `displayedValues` when present). A response without any score
//! (an id-only notification) is marked `needs_enrichment`. Text answers
//! (`QIDn_TEXT`), labels, IP address and location are never read.

use serde_json::{Map, Value};

use super::square::{join, opt, push, push_vendor, req, req_id, Draft};
use crate::model::{Activity, Channel, IdType, JourneyEvent, Score, ScoreKind, SourceRef};
use crate::normalize::native::{number, parse_time, wrong_type};
use crate::normalize::{parse_object, NormalizeConfig, NormalizeError, NormalizeErrorKind as Kind};

const FORMAT: &str = "qualtrics";

/// Time fields, first present wins.
const TIME_KEYS: &[&str] = &["recordedDate", "endDate", "CompletedDate", "startDate"];

/// Embedded-data names (lower-case, `_` removed) and what they become.
#[derive(Clone, Copy)]
enum Target {
    Id(IdType),
    /// A Qualtrics directory contact (`MLRP_…`): vendor contact `qualtrics:<id>`.
    Recipient,
    Interaction,
    Case,
    Topic,
}

const NAMES: &[(&str, Target)] = &[
    ("recipientemail", Target::Id(IdType::Email)),
    ("email", Target::Id(IdType::Email)),
    ("emailaddress", Target::Id(IdType::Email)),
    ("recipientphone", Target::Id(IdType::Phone)),
    ("phone", Target::Id(IdType::Phone)),
    ("phonenumber", Target::Id(IdType::Phone)),
    ("mobile", Target::Id(IdType::Phone)),
    ("externaldatareference", Target::Id(IdType::CustomerNumber)),
    ("externalreference", Target::Id(IdType::CustomerNumber)),
    ("customernumber", Target::Id(IdType::CustomerNumber)),
    ("customerid", Target::Id(IdType::CustomerNumber)),
    ("loyaltyid", Target::Id(IdType::LoyaltyId)),
    ("userid", Target::Id(IdType::UserId)),
    ("recipientid", Target::Recipient),
    ("contactid", Target::Interaction),
    ("interactionid", Target::Interaction),
    ("conversationid", Target::Interaction),
    ("callid", Target::Interaction),
    ("ticketid", Target::Case),
    ("ticketnumber", Target::Case),
    ("caseid", Target::Case),
    ("topic", Target::Topic),
    ("contactreason", Target::Topic),
];

fn squash(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

pub(super) fn normalize(
    channel: Channel,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let obj = parse_object(payload)?;
    if let Some(responses) = opt(&obj, "responses") {
        let Value::Array(list) = responses else {
            return Err(wrong_type("responses", "an array", responses));
        };
        if list.is_empty() {
            return Err(NormalizeError::field(
                Kind::InvalidValue,
                "responses",
                "the export holds no responses",
            ));
        }
        return list
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let path = format!("responses[{i}]");
                match r {
                    Value::Object(r) => response(channel, r, &path, source, cfg),
                    other => Err(wrong_type(&path, "an object", other)),
                }
            })
            .collect();
    }
    if let Some(result) = opt(&obj, "result") {
        return match result {
            Value::Object(r) => Ok(vec![response(channel, r, "result", source, cfg)?]),
            other => Err(wrong_type("result", "an object", other)),
        };
    }
    if obj.contains_key("values") {
        return Ok(vec![response(channel, &obj, "", source, cfg)?]);
    }
    Ok(vec![flat(channel, &obj, source, cfg)?])
}

/// A response record: `responseId`, `values`, optional `displayedValues`.
fn response(
    channel: Channel,
    r: &Map<String, Value>,
    path: &str,
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<JourneyEvent, NormalizeError> {
    let id = req_id(r, "responseId", &join(path, "responseId"))?;
    let vpath = join(path, "values");
    let values = match req(r, "values", &vpath)? {
        Value::Object(v) => v,
        other => return Err(wrong_type(&vpath, "an object", other)),
    };
    let displayed = match opt(r, "displayedValues") {
        Some(Value::Object(d)) => Some(d),
        _ => None,
    };
    let mut ev = Draft::new(id);
    fill(&mut ev, values, &vpath, displayed, cfg)?;
    Ok(ev.finish(channel, FORMAT, source))
}

/// A flat notification / workflow post (all values usually strings).
fn flat(
    channel: Channel,
    obj: &Map<String, Value>,
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<JourneyEvent, NormalizeError> {
    let key = ["ResponseID", "responseId", "ResponseId"]
        .into_iter()
        .find(|k| opt(obj, k).is_some())
        .unwrap_or("ResponseID");
    let id = req_id(obj, key, key)?;
    // An event-subscription notification is its own delivery: keep it apart from the
    // full response (`completedResponse:R_…` vs `R_…`) so that a later export still counts.
    let source_event_id = match opt(obj, "Topic") {
        Some(Value::String(t)) => {
            let event = t
                .split('.')
                .nth(1)
                .filter(|e| !e.is_empty())
                .unwrap_or("notification");
            format!("{event}:{id}")
        }
        Some(other) => return Err(wrong_type("Topic", "a string", other)),
        None => id,
    };
    let mut ev = Draft::new(source_event_id);
    fill(&mut ev, obj, "", None, cfg)?;
    Ok(ev.finish(channel, FORMAT, source))
}

fn fill(
    ev: &mut Draft,
    values: &Map<String, Value>,
    vpath: &str,
    displayed: Option<&Map<String, Value>>,
    cfg: &NormalizeConfig,
) -> Result<(), NormalizeError> {
    ev.activity = Activity::SurveyResponse;
    let Some((tkey, tval)) = TIME_KEYS
        .iter()
        .find_map(|k| opt(values, k).map(|v| (*k, v)))
    else {
        return Err(NormalizeError::field(
            Kind::MissingField,
            &join(vpath, "recordedDate"),
            "required field is missing (also looked for endDate, CompletedDate, startDate)",
        ));
    };
    ev.time = parse_time(tval, &join(vpath, tkey), cfg)?;

    for (key, v) in values {
        let Some((_, target)) = NAMES.iter().find(|(n, _)| *n == squash(key)) else {
            continue;
        };
        let path = join(vpath, key);
        let raw = match v {
            Value::Null => continue,
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            other => return Err(wrong_type(&path, "a string or an integer", other)),
        };
        // The notification's own `Topic` (`surveyengine.completedResponse.SV_…`) is no issue topic.
        if raw.is_empty() || (matches!(target, Target::Topic) && raw.starts_with("surveyengine.")) {
            continue;
        }
        match target {
            Target::Id(t) => push(&mut ev.ids, *t, Some(raw), cfg),
            Target::Recipient => push_vendor(&mut ev.ids, "qualtrics", Some(raw), cfg),
            Target::Interaction => ev.interaction_id = ev.interaction_id.take().or(Some(raw)),
            Target::Case => ev.case_id = ev.case_id.take().or(Some(raw)),
            Target::Topic => ev.topic = ev.topic.take().or(Some(raw)),
        }
    }
    ev.score = score(values, vpath, displayed)?;
    ev.needs_enrichment = ev.score.is_none();
    Ok(())
}

/// NPS by its `_NPS_GROUP` companion first, then named `nps`/`csat`/`ces` fields.
fn score(
    values: &Map<String, Value>,
    vpath: &str,
    displayed: Option<&Map<String, Value>>,
) -> Result<Option<Score>, NormalizeError> {
    for (key, group) in values {
        let Some(question) = key
            .len()
            .checked_sub("_NPS_GROUP".len())
            .filter(|&i| key.is_char_boundary(i) && key[i..].eq_ignore_ascii_case("_NPS_GROUP"))
            .map(|i| &key[..i])
        else {
            continue;
        };
        let Some(v) = opt(values, question) else {
            continue;
        };
        if group.is_null() || group.as_str().is_some_and(|s| s.trim().is_empty()) {
            continue;
        }
        let value = number(v, &join(vpath, question))?;
        if !(0.0..=10.0).contains(&value) {
            return Err(NormalizeError::field(
                Kind::InvalidValue,
                &join(vpath, question),
                format!("{value} is outside the nps scale 0..=10"),
            ));
        }
        let gpath = join(vpath, key);
        let g = number(group, &gpath)?;
        let expected = if value <= 6.0 {
            1.0
        } else if value <= 8.0 {
            2.0
        } else {
            3.0
        };
        if g != expected {
            return Err(NormalizeError::field(
                Kind::InvalidValue,
                &gpath,
                format!("nps group {g} does not match the score {value} (1 = detractor 0–6, 2 = passive 7–8, 3 = promoter 9–10)"),
            ));
        }
        return Ok(Some(Score {
            kind: ScoreKind::Nps,
            value,
            scale_min: 0.0,
            scale_max: 10.0,
        }));
    }
    const NAMED: &[(&str, ScoreKind, f64, f64)] = &[
        ("nps", ScoreKind::Nps, 0.0, 10.0),
        ("npsscore", ScoreKind::Nps, 0.0, 10.0),
        ("csat", ScoreKind::Csat, 1.0, 5.0),
        ("csatscore", ScoreKind::Csat, 1.0, 5.0),
        ("ces", ScoreKind::Ces, 1.0, 7.0),
        ("cesscore", ScoreKind::Ces, 1.0, 7.0),
        ("customereffort", ScoreKind::Ces, 1.0, 7.0),
    ];
    for (name, kind, dmin, dmax) in NAMED {
        let Some((key, v)) = values
            .iter()
            .find(|(k, v)| squash(k) == *name && !v.is_null())
        else {
            continue;
        };
        if v.as_str().is_some_and(|s| s.trim().is_empty()) {
            continue;
        }
        let path = join(vpath, key);
        let value = number(v, &path)?;
        let (min, max) = match (kind, displayed.and_then(|d| d.get(key)).and_then(scale_of)) {
            (ScoreKind::Nps, _) | (_, None) => (*dmin, *dmax),
            (_, Some(s)) => s,
        };
        if !(min..=max).contains(&value) {
            return Err(NormalizeError::field(
                Kind::InvalidValue,
                &path,
                format!(
                    "{value} is outside the {} scale {min}..={max}",
                    kind.as_str()
                ),
            ));
        }
        return Ok(Some(Score {
            kind: *kind,
            value,
            scale_min: min,
            scale_max: max,
        }));
    }
    Ok(None)
}

/// `displayedValues.<key>`: the choices shown, e.g. `[1, 2, 3, 4, 5]`.
fn scale_of(v: &Value) -> Option<(f64, f64)> {
    let nums: Vec<f64> = v
        .as_array()?
        .iter()
        .filter_map(|x| match x {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
        .collect();
    let min = nums.iter().copied().fold(f64::INFINITY, f64::min);
    let max = nums.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (nums.len() >= 2 && min < max).then_some((min, max))
}

/// An export (`responses[]` of records with `responseId`), one API response
/// (`result.responseId`), a bare record (`responseId` + `values`) or a
/// notification / workflow post (`ResponseID` with `SurveyID` or `Topic`).
pub(super) fn detect(_payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    let Some(o) = object else { return false };
    let record = |r: &Map<String, Value>| r.contains_key("responseId") && r.contains_key("values");
    match (o.get("responses"), o.get("result")) {
        (Some(Value::Array(list)), _) => {
            list.first().and_then(Value::as_object).is_some_and(record)
        }
        (_, Some(Value::Object(r))) => record(r),
        _ => {
            record(o)
                || (["ResponseID", "ResponseId", "responseId"]
                    .iter()
                    .any(|k| o.contains_key(*k))
                    && ["SurveyID", "SurveyId", "surveyId", "Topic"]
                        .iter()
                        .any(|k| o.contains_key(*k)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::{normalize as run, Format, NormalizeErrorKind};
    use super::*;
    use crate::model::Identifier;
    use serde_json::json;

    fn cfg_berlin() -> NormalizeConfig {
        NormalizeConfig {
            time_zone: jiff::tz::TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("tz"),
            ..NormalizeConfig::default()
        }
    }

    fn events_cfg(v: &Value, cfg: &NormalizeConfig) -> Result<Vec<JourneyEvent>, NormalizeError> {
        let bytes = serde_json::to_vec(v).expect("serialisable");
        run(
            Channel::Survey,
            Format::Qualtrics,
            &bytes,
            &SourceRef::default(),
            cfg,
        )
    }

    fn events(v: &Value) -> Result<Vec<JourneyEvent>, NormalizeError> {
        events_cfg(v, &NormalizeConfig::default())
    }

    fn record(nps: Value, group: Value) -> Value {
        json!({"responseId": "R_1", "values": {
            "recordedDate": "2026-11-13T10:00:00.000Z", "startDate": "2026-11-13T09:55:00Z",
            "ipAddress": "203.0.113.9", "QID1": nps, "QID1_NPS_GROUP": group,
            "QID2_TEXT": "nobody ever called me back", "recipientEmail": "Anna.Schmidt@Example.de",
            "externalDataReference": 4711, "TicketID": "T-4242"}})
    }

    #[test]
    fn nps_with_group_and_embedded_links() {
        let ev = events(&record(json!(3), json!(1))).expect("ok").remove(0);
        assert_eq!(
            ev.score,
            Some(Score {
                kind: ScoreKind::Nps,
                value: 3.0,
                scale_min: 0.0,
                scale_max: 10.0
            })
        );
        assert_eq!(ev.case_id.as_deref(), Some("T-4242"));
        assert_eq!(ev.event_time_ms, 1_794_564_000_000);
        assert_eq!(
            ev.identifiers,
            vec![
                Identifier::new(IdType::CustomerNumber, "4711"),
                Identifier::new(IdType::Email, "anna.schmidt@example.de")
            ]
        );
        assert!(!ev.needs_enrichment);
        let out = serde_json::to_string(&ev).expect("json");
        assert!(!out.contains("called me back") && !out.contains("203.0.113.9"));
    }

    #[test]
    fn nps_group_must_match_the_value() {
        for (v, g) in [(0, 1), (6, 1), (7, 2), (8, 2), (9, 3), (10, 3)] {
            assert!(events(&record(json!(v), json!(g))).is_ok(), "{v}/{g}");
        }
        let e = events(&record(json!(9), json!("1"))).expect_err("mismatch");
        assert!(
            e.to_string()
                .starts_with("field `values.QID1_NPS_GROUP`: nps group 1 does not match"),
            "{e}"
        );
        let e = events(&record(json!("nine"), json!(3))).expect_err("nan");
        assert_eq!(e.kind, NormalizeErrorKind::InvalidValue);
        assert!(e.to_string().starts_with("field `values.QID1`"), "{e}");
    }

    #[test]
    fn flat_strings_and_zone_less_time_use_the_source_zone() {
        let v = json!({"ResponseID": "R_2", "SurveyID": "SV_1", "recordedDate": "2026-07-13 12:00:00",
                       "QID5": "9", "QID5_NPS_GROUP": "3", "recipientEmail": "anna@example.de"});
        let ev = events_cfg(&v, &cfg_berlin()).expect("ok").remove(0);
        // 12:00 CEST = 10:00 UTC, whatever the server's zone.
        assert_eq!(ev.event_time_ms, 1_783_936_800_000);
        assert_eq!(ev.score.map(|s| s.value), Some(9.0));
        assert_eq!(ev.source_event_id, "R_2");
        let utc = events(&v).expect("ok").remove(0);
        assert_eq!(utc.event_time_ms - ev.event_time_ms, 2 * 3_600_000);
    }

    #[test]
    fn id_only_notification_needs_enrichment() {
        let v = json!({"Topic": "surveyengine.completedResponse.SV_1", "Status": "Complete", "SurveyID": "SV_1",
                       "ResponseID": "R_3", "RecipientID": "MLRP_abc", "CompletedDate": "2026-11-13 11:00:00", "BrandID": "b"});
        let ev = events(&v).expect("ok").remove(0);
        assert!(ev.needs_enrichment);
        assert_eq!(ev.source_event_id, "completedResponse:R_3");
        assert_eq!(
            ev.identifiers,
            vec![Identifier::new(IdType::VendorContact, "qualtrics:MLRP_abc")]
        );
        assert_eq!(
            ev.topic, None,
            "the subscription topic is not an issue topic"
        );
    }

    #[test]
    fn export_with_several_responses_and_csat_scale() {
        let v = json!({"responses": [
            record(json!(10), json!(3)),
            {"responseId": "R_9", "values": {"endDate": 1_794_564_000, "CSAT": "4", "email": "b@example.de"},
             "displayedValues": {"CSAT": [1, 2, 3, 4, 5, 6, 7]}},
            {"responseId": "R_10", "values": {"endDate": "2026-11-13T10:00:00+0100", "CES": 2, "phone": "0170 1234567"}}
        ]});
        let evs = events(&v).expect("ok");
        assert_eq!(evs.len(), 3);
        assert_eq!(
            evs[1].score,
            Some(Score {
                kind: ScoreKind::Csat,
                value: 4.0,
                scale_min: 1.0,
                scale_max: 7.0
            })
        );
        assert_eq!(
            evs[2].score.as_ref().map(|s| (s.kind, s.scale_max)),
            Some((ScoreKind::Ces, 7.0))
        );
        assert_eq!(
            evs[2].identifiers,
            vec![Identifier::new(IdType::Phone, "+491701234567")]
        );
        let e = events(&json!({"responses": [record(json!(1), json!(1)), {"values": {}}]}))
            .expect_err("missing");
        assert_eq!(
            e.to_string(),
            "field `responses[1].responseId`: required field is missing"
        );
    }

    #[test]
    fn missing_time_names_the_field() {
        let e =
            events(&json!({"result": {"responseId": "R_1", "values": {"email": "a@example.de"}}}))
                .expect_err("no time");
        assert!(
            e.to_string()
                .starts_with("field `result.values.recordedDate`: required field is missing"),
            "{e}"
        );
    }

    #[test]
    fn detect_is_specific() {
        let o = |v: Value| v.as_object().cloned();
        assert!(detect(b"", o(record(json!(1), json!(1))).as_ref()));
        assert!(detect(
            b"",
            o(json!({"result": record(json!(1), json!(1)), "meta": {}})).as_ref()
        ));
        assert!(detect(
            b"",
            o(json!({"ResponseID": "R", "SurveyID": "SV"})).as_ref()
        ));
        let native = json!({"id": "q-8", "time": 1, "type": "response", "customer": {}, "score": {"type": "nps", "value": 3}});
        assert!(!detect(b"", o(native).as_ref()));
        let typeform = json!({"event_id": "e", "event_type": "form_response", "form_response": {}});
        assert!(!detect(b"", o(typeform).as_ref()));
    }
}
