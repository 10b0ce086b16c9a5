//! Typeform `form_response` webhooks (`docs/formats/typeform.md`):
//! `{event_id, event_type: "form_response", form_response: {form_id, token,
//! landed_at, submitted_at, hidden, definition: {fields}, answers}}`.
//!
//! - dedupe key `event_id`; time `form_response.submitted_at`;
//! - identifiers from `hidden` fields (customer id/number, loyalty id, user id,
//!   email, phone, anonymous id; names matched case-insensitively, `_`
//!   ignored) and from `email` / `phone_number` answers; `case_id`,
//!   `interaction_id` and `topic` from hidden fields of those names;
//! - one score from the answers: `nps` (0–10), then `opinion_scale` and
//!   `rating`, whose scale comes from the field's `properties` in
//!   `definition.fields` (`steps`, `start_at_one`) and whose kind is `csat` /
//!   `ces` / `nps` when the field `ref` says so, else `rating`;
//! - text, choice, date, file and payment answers, titles and metadata (user
//!   agent, referer) are never read.

use serde_json::{Map, Value};

use super::square::{join, opt, opt_string, push, req, req_id, req_obj, req_str, Draft};
use crate::model::{Activity, Channel, IdType, JourneyEvent, Score, ScoreKind, SourceRef};
use crate::normalize::native::{number, parse_time, shorten, wrong_type};
use crate::normalize::{parse_object, NormalizeConfig, NormalizeError, NormalizeErrorKind as Kind};

const FORMAT: &str = "typeform";

#[derive(Clone, Copy)]
enum Target {
    Id(IdType),
    Interaction,
    Case,
    Topic,
}

/// Hidden-field names (lower-case, `_`/`-` removed) and what they become.
const HIDDEN: &[(&str, Target)] = &[
    ("customerid", Target::Id(IdType::CustomerNumber)),
    ("customernumber", Target::Id(IdType::CustomerNumber)),
    ("loyaltyid", Target::Id(IdType::LoyaltyId)),
    ("userid", Target::Id(IdType::UserId)),
    ("email", Target::Id(IdType::Email)),
    ("phone", Target::Id(IdType::Phone)),
    ("phonenumber", Target::Id(IdType::Phone)),
    ("anonymousid", Target::Id(IdType::AnonymousId)),
    ("deviceid", Target::Id(IdType::DeviceId)),
    ("interactionid", Target::Interaction),
    ("conversationid", Target::Interaction),
    ("contactid", Target::Interaction),
    ("callid", Target::Interaction),
    ("caseid", Target::Case),
    ("ticketid", Target::Case),
    ("topic", Target::Topic),
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
    let event_type = req_str(&obj, "event_type", "event_type")?.trim();
    if event_type != "form_response" {
        return Err(NormalizeError::field(
            Kind::UnknownType,
            "event_type",
            format!(
                "unknown typeform event type `{}` (expected one of form_response)",
                shorten(event_type)
            ),
        ));
    }
    let mut ev = Draft::new(req_id(&obj, "event_id", "event_id")?);
    ev.activity = Activity::SurveyResponse;
    let fr = req_obj(&obj, "form_response", "form_response")?;
    ev.time = parse_time(
        req(fr, "submitted_at", "form_response.submitted_at")?,
        "form_response.submitted_at",
        cfg,
    )?;

    match opt(fr, "hidden") {
        None => {}
        Some(Value::Object(hidden)) => {
            for (key, v) in hidden {
                let Some((_, target)) = HIDDEN.iter().find(|(n, _)| *n == squash(key)) else {
                    continue;
                };
                let path = format!("form_response.hidden.{key}");
                let raw = match v {
                    Value::Null => continue,
                    Value::String(s) => s.trim().to_string(),
                    Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
                    other => return Err(wrong_type(&path, "a string or an integer", other)),
                };
                if raw.is_empty() {
                    continue;
                }
                match target {
                    Target::Id(t) => push(&mut ev.ids, *t, Some(raw), cfg),
                    Target::Interaction => {
                        ev.interaction_id = ev.interaction_id.take().or(Some(raw))
                    }
                    Target::Case => ev.case_id = ev.case_id.take().or(Some(raw)),
                    Target::Topic => ev.topic = ev.topic.take().or(Some(raw)),
                }
            }
        }
        Some(other) => return Err(wrong_type("form_response.hidden", "an object", other)),
    }

    let definitions = field_definitions(fr)?;
    let answers = match opt(fr, "answers") {
        None => &Vec::new(),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(wrong_type("form_response.answers", "an array", other)),
    };
    let mut scores: Vec<Score> = Vec::new();
    for (i, a) in answers.iter().enumerate() {
        let path = format!("form_response.answers[{i}]");
        let Value::Object(a) = a else {
            return Err(wrong_type(&path, "an object", a));
        };
        let field = req_obj(a, "field", &join(&path, "field"))?;
        let field_type = opt_string(field, "type", &join(&path, "field"))?.unwrap_or_default();
        let answer_type = opt_string(a, "type", &path)?.unwrap_or_default();
        match (answer_type.as_str(), field_type.as_str()) {
            ("email", _) | (_, "email") => push(
                &mut ev.ids,
                IdType::Email,
                opt_string(a, "email", &path)?,
                cfg,
            ),
            ("phone_number", _) | (_, "phone_number") => push(
                &mut ev.ids,
                IdType::Phone,
                opt_string(a, "phone_number", &path)?,
                cfg,
            ),
            (_, "nps" | "rating" | "opinion_scale") => {
                let Some(v) = opt(a, "number") else { continue };
                let value = number(v, &join(&path, "number"))?;
                let def = opt_string(field, "id", &join(&path, "field"))?
                    .and_then(|id| definitions.get(&id).cloned());
                let field_ref = opt_string(field, "ref", &join(&path, "field"))?
                    .or_else(|| def.as_ref().and_then(|d| d.field_ref.clone()))
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                scores.push(scale(
                    &field_type,
                    &field_ref,
                    value,
                    def.as_ref(),
                    &join(&path, "number"),
                )?);
            }
            _ => {} // text, choices, dates, files, payments: never read
        }
    }
    let rank = |s: &Score| match s.kind {
        ScoreKind::Nps => 0,
        ScoreKind::Csat => 1,
        ScoreKind::Ces => 2,
        ScoreKind::Rating => 3,
    };
    ev.score = scores.into_iter().min_by_key(rank);
    Ok(vec![ev.finish(channel, FORMAT, source)])
}

#[derive(Clone, Default)]
struct FieldDef {
    field_ref: Option<String>,
    steps: Option<f64>,
    start_at_one: Option<bool>,
}

/// `definition.fields[]` by id: the field `ref` and scale properties.
fn field_definitions(
    fr: &Map<String, Value>,
) -> Result<std::collections::BTreeMap<String, FieldDef>, NormalizeError> {
    let mut out = std::collections::BTreeMap::new();
    let Some(def) = opt(fr, "definition") else {
        return Ok(out);
    };
    let Value::Object(def) = def else {
        return Err(wrong_type("form_response.definition", "an object", def));
    };
    let Some(fields) = opt(def, "fields") else {
        return Ok(out);
    };
    let Value::Array(fields) = fields else {
        return Err(wrong_type(
            "form_response.definition.fields",
            "an array",
            fields,
        ));
    };
    for (i, f) in fields.iter().enumerate() {
        let path = format!("form_response.definition.fields[{i}]");
        let Value::Object(f) = f else {
            return Err(wrong_type(&path, "an object", f));
        };
        let Some(id) = opt_string(f, "id", &path)? else {
            continue;
        };
        let mut d = FieldDef {
            field_ref: opt_string(f, "ref", &path)?,
            ..FieldDef::default()
        };
        if let Some(Value::Object(p)) = opt(f, "properties") {
            let ppath = join(&path, "properties");
            d.steps = opt(p, "steps")
                .map(|v| number(v, &join(&ppath, "steps")))
                .transpose()?;
            d.start_at_one = match opt(p, "start_at_one") {
                None => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(other) => {
                    return Err(wrong_type(
                        &join(&ppath, "start_at_one"),
                        "a boolean",
                        other,
                    ))
                }
            };
        }
        out.insert(id, d);
    }
    Ok(out)
}

/// The score of one scale answer, with its scale.
fn scale(
    field_type: &str,
    field_ref: &str,
    value: f64,
    def: Option<&FieldDef>,
    path: &str,
) -> Result<Score, NormalizeError> {
    let steps = def.and_then(|d| d.steps);
    let (min, max) = match field_type {
        "nps" => (0.0, 10.0),
        // Ratings start at 1; 3–10 steps, 5 by default. Without a definition a value
        // above 5 can only come from a longer scale (at most 10).
        "rating" => (1.0, steps.unwrap_or(if value > 5.0 { 10.0 } else { 5.0 })),
        // Opinion scales: 5–11 steps, 11 by default, from 0 unless `start_at_one`.
        _ => {
            let start = if def.and_then(|d| d.start_at_one).unwrap_or(false) {
                1.0
            } else {
                0.0
            };
            (start, start + steps.unwrap_or(11.0) - 1.0)
        }
    };
    let kind = if field_type == "nps" || (field_ref.contains("nps") && (min, max) == (0.0, 10.0)) {
        ScoreKind::Nps
    } else if field_ref.contains("csat") || field_ref.contains("satisfaction") {
        ScoreKind::Csat
    } else if field_ref.contains("ces") || field_ref.contains("effort") {
        ScoreKind::Ces
    } else {
        ScoreKind::Rating
    };
    if min >= max || !(min..=max).contains(&value) {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            path,
            format!("{value} is outside the {field_type} scale {min}..={max}"),
        ));
    }
    Ok(Score {
        kind,
        value,
        scale_min: min,
        scale_max: max,
    })
}

/// `event_type` `form_response…` with a `form_response` object.
pub(super) fn detect(_payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    object.is_some_and(|o| {
        o.get("form_response").is_some_and(Value::is_object)
            && (o
                .get("event_type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.starts_with("form_response"))
                || o.contains_key("event_id"))
    })
}

#[cfg(test)]
mod tests {
    use super::super::super::{normalize as run, Format, NormalizeErrorKind};
    use super::*;
    use crate::ids;
    use crate::model::Identifier;
    use serde_json::json;

    fn events(v: &Value) -> Result<Vec<JourneyEvent>, NormalizeError> {
        let bytes = serde_json::to_vec(v).expect("serialisable");
        run(
            Channel::Survey,
            Format::Typeform,
            &bytes,
            &SourceRef::default(),
            &NormalizeConfig::default(),
        )
    }

    fn hook(answers: Value, fields: Value) -> Value {
        json!({"event_id": "01HTEST", "event_type": "form_response", "form_response": {
            "form_id": "lT4Z3j", "token": "tok", "landed_at": "2026-11-13T09:55:00Z",
            "submitted_at": "2026-11-13T10:00:00Z",
            "hidden": {"customer_id": 4711, "Email": "Anna@Example.de", "ticket_id": "T-4242", "utm": "x"},
            "definition": {"id": "lT4Z3j", "title": "t", "fields": fields},
            "answers": answers}})
    }

    #[test]
    fn nps_answer_hidden_ids_and_no_text() {
        let v = hook(
            json!([
                {"type": "text", "text": "the courier was rude to me", "field": {"id": "t1", "type": "long_text"}},
                {"type": "number", "number": 2, "field": {"id": "n1", "type": "nps"}},
                {"type": "phone_number", "phone_number": "+4917012345678", "field": {"id": "p1", "type": "phone_number"}}
            ]),
            json!([]),
        );
        let ev = events(&v).expect("ok").remove(0);
        assert_eq!(ev.event_id, ids::event_id("survey", "typeform", "01HTEST"));
        assert_eq!(
            ev.score,
            Some(Score {
                kind: ScoreKind::Nps,
                value: 2.0,
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
                Identifier::new(IdType::Email, "anna@example.de"),
                Identifier::new(IdType::Phone, "+4917012345678"),
            ]
        );
        assert!(!serde_json::to_string(&ev)
            .expect("json")
            .contains("courier"));
    }

    #[test]
    fn opinion_scale_and_rating_take_their_scale_from_the_definition() {
        let fields = json!([
            {"id": "o1", "ref": "csat_overall", "type": "opinion_scale", "properties": {"steps": 5, "start_at_one": true}},
            {"id": "r1", "ref": "stars", "type": "rating", "properties": {"steps": 10}}
        ]);
        let answers = json!([{"type": "number", "number": 4, "field": {"id": "o1", "type": "opinion_scale"}}]);
        let s = events(&hook(answers, fields.clone()))
            .expect("ok")
            .remove(0)
            .score;
        assert_eq!(
            s,
            Some(Score {
                kind: ScoreKind::Csat,
                value: 4.0,
                scale_min: 1.0,
                scale_max: 5.0
            })
        );
        let answers =
            json!([{"type": "number", "number": 7, "field": {"id": "r1", "type": "rating"}}]);
        let s = events(&hook(answers, fields.clone()))
            .expect("ok")
            .remove(0)
            .score;
        assert_eq!(
            s,
            Some(Score {
                kind: ScoreKind::Rating,
                value: 7.0,
                scale_min: 1.0,
                scale_max: 10.0
            })
        );
        // Without properties: opinion scale 0..10, rating 1..5.
        let answers = json!([{"type": "number", "number": 0, "field": {"id": "zz", "type": "opinion_scale", "ref": "effort"}}]);
        let s = events(&hook(answers, json!([])))
            .expect("ok")
            .remove(0)
            .score;
        assert_eq!(
            s,
            Some(Score {
                kind: ScoreKind::Ces,
                value: 0.0,
                scale_min: 0.0,
                scale_max: 10.0
            })
        );
        let answers = json!([{"type": "number", "number": 6, "field": {"id": "o1", "type": "opinion_scale"}}]);
        let e = events(&hook(answers, fields)).expect_err("outside 1..5");
        assert_eq!(
            e.to_string(),
            "field `form_response.answers[0].number`: 6 is outside the opinion_scale scale 1..=5"
        );
    }

    #[test]
    fn nps_wins_over_other_scales() {
        let answers = json!([
            {"type": "number", "number": 5, "field": {"id": "r", "type": "rating"}},
            {"type": "number", "number": 9, "field": {"id": "n", "type": "nps"}}
        ]);
        let s = events(&hook(answers, json!([])))
            .expect("ok")
            .remove(0)
            .score
            .expect("score");
        assert_eq!((s.kind, s.value), (ScoreKind::Nps, 9.0));
    }

    #[test]
    fn almost_right_payloads_name_the_field() {
        let mut v = hook(json!([]), json!([]));
        v["event_type"] = json!("form_response_partial");
        let e = events(&v).expect_err("unknown");
        assert_eq!(e.kind, NormalizeErrorKind::UnknownType);
        let mut v = hook(json!([]), json!([]));
        v["form_response"]
            .as_object_mut()
            .expect("obj")
            .remove("submitted_at");
        assert_eq!(
            events(&v).expect_err("missing").to_string(),
            "field `form_response.submitted_at`: required field is missing"
        );
        let mut v = hook(json!([]), json!([]));
        v["form_response"]["hidden"] = json!({"email": "", "customer_id": "undefined"});
        assert_eq!(
            events(&v).expect_err("junk").kind,
            NormalizeErrorKind::NoIdentifier
        );
        let v = hook(
            json!([{"type": "number", "number": "x", "field": {"id": "n", "type": "nps"}}]),
            json!([]),
        );
        assert_eq!(
            events(&v).expect_err("nan").kind,
            NormalizeErrorKind::InvalidValue
        );
    }

    #[test]
    fn detect_is_specific() {
        let o = |v: Value| v.as_object().cloned();
        assert!(detect(b"", o(hook(json!([]), json!([]))).as_ref()));
        let native = json!({"id": "q", "time": 1, "type": "response", "customer": {}, "score": {}});
        assert!(!detect(b"", o(native).as_ref()));
        let qualtrics = json!({"ResponseID": "R", "SurveyID": "SV"});
        assert!(!detect(b"", o(qualtrics).as_ref()));
    }
}
