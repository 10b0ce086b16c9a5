//! Operator commands on the control topic. A command is one JSON object:
//!
//! ```json
//! {"action": "unmerge",
//!  "a": {"type": "customer_number", "value": "B-7"},
//!  "b": {"type": "phone", "value": "+49 170 1111111"},
//!  "issued_ms": 1764500000000, "reason": "typo at the store"}
//! ```
//!
//! The normalise stage reads it, normalises both identifiers like event
//! identifiers and sends it on as an *envelope*: a canonical event carrying
//! the two identifiers and the `js.control` header, so that the identity
//! hops route it to the component that holds them. The stitch stage keeps it
//! as a constraint of that component (never as a touchpoint) and re-folds.

use journey_core::model::{Activity, Channel, IdType, Identifier, JourneyEvent, Unmerge};
use journey_core::normalize::{identifiers, NormalizeConfig};
use serde::{Deserialize, Serialize};

/// The `js.control` header value of an unmerge envelope.
pub const UNMERGE: &[u8] = b"unmerge";

/// One identifier as an operator writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentifier {
    #[serde(rename = "type")]
    pub id_type: IdType,
    pub value: String,
}

/// A command on the control topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Command {
    /// `a` and `b` must never be in one customer.
    Unmerge {
        a: RawIdentifier,
        b: RawIdentifier,
        /// When it was issued; the record timestamp when absent.
        #[serde(default)]
        issued_ms: Option<i64>,
        #[serde(default)]
        reason: String,
    },
}

/// Parses and normalises a control record into an unmerge.
///
/// # Errors
/// A message naming the field when the JSON or an identifier is not usable.
pub fn parse(
    payload: &[u8],
    record_time_ms: i64,
    cfg: &NormalizeConfig,
) -> Result<Unmerge, String> {
    let cmd: Command =
        serde_json::from_slice(payload).map_err(|e| format!("invalid control command: {e}"))?;
    let Command::Unmerge {
        a,
        b,
        issued_ms,
        reason,
    } = cmd;
    let norm = |field: &str, raw: &RawIdentifier| {
        identifiers::normalize(raw.id_type, &raw.value, &cfg.default_region, &[]).ok_or_else(|| {
            format!(
                "field `{field}.value`: not a usable {} (junk or malformed)",
                raw.id_type.as_str()
            )
        })
    };
    let (a, b) = (norm("a", &a)?, norm("b", &b)?);
    if a == b {
        return Err(
            "fields `a` and `b`: the same identifier cannot be unmerged from itself".into(),
        );
    }
    Ok(Unmerge::new(
        a,
        b,
        issued_ms.unwrap_or(record_time_ms),
        &reason,
    ))
}

/// The canonical-event envelope an unmerge travels in through the identity hops.
pub fn envelope(u: &Unmerge) -> JourneyEvent {
    let mut e = JourneyEvent::bare(
        &u.control_id,
        Channel::Web,
        Activity::Identify,
        u.issued_ms,
        vec![u.a.clone(), u.b.clone()],
    );
    e.format = "control".into();
    e
}

/// The unmerge inside an envelope (the operator's reason stays out of the pipeline).
pub fn from_envelope(e: &JourneyEvent) -> Option<Unmerge> {
    match e.identifiers.as_slice() {
        [a, b] => {
            let u = Unmerge::new(a.clone(), b.clone(), e.event_time_ms, "");
            (u.control_id == e.event_id).then_some(u)
        }
        _ => None,
    }
}

/// The JSON of an unmerge command, as `journey unmerge` writes it.
pub fn unmerge_command(a: &Identifier, b: &Identifier, issued_ms: i64, reason: &str) -> Vec<u8> {
    let raw = |i: &Identifier| RawIdentifier {
        id_type: i.id_type,
        value: i.value.clone(),
    };
    serde_json::to_vec(&Command::Unmerge {
        a: raw(a),
        b: raw(b),
        issued_ms: Some(issued_ms),
        reason: reason.to_string(),
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_is_normalised_and_survives_the_envelope() {
        let json = br#"{"action": "unmerge", "a": {"type": "phone", "value": "0170 1111111"},
            "b": {"type": "email", "value": " Ben@X.de "}, "issued_ms": 5, "reason": "typo"}"#;
        let u = parse(json, 9, &NormalizeConfig::default()).expect("valid");
        assert_eq!(u.a, Identifier::new(IdType::Email, "ben@x.de"));
        assert_eq!(u.b, Identifier::new(IdType::Phone, "+491701111111"));
        assert_eq!(u.issued_ms, 5);
        let back = from_envelope(&envelope(&u)).expect("an envelope");
        assert_eq!(back.control_id, u.control_id);
        assert_eq!((back.a, back.b), (u.a, u.b));
    }

    #[test]
    fn bad_commands_name_the_field() {
        let cfg = NormalizeConfig::default();
        let e = parse(br#"{"action": "merge"}"#, 0, &cfg).expect_err("unknown action");
        assert!(e.contains("unknown variant"), "{e}");
        let e = parse(
            br#"{"action": "unmerge", "a": {"type": "email", "value": "null"}, "b": {"type": "phone", "value": "+49301"}}"#,
            0,
            &cfg,
        )
        .expect_err("junk");
        assert!(e.contains("field `a.value`"), "{e}");
        assert!(parse(b"\xff", 0, &cfg).is_err());
    }
}
