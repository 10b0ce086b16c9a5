//! `journey unmerge`: removes a wrong identity link. Writes one command to
//! the control topic; the running pipeline routes it to the component that
//! holds both identifiers, re-derives its customers and journeys, and emits
//! a split record on the merges topic (and corrected handovers and alerts).

use std::path::Path;

use anyhow::{bail, Context};
use journey_core::model::{IdType, Identifier};

use crate::config::Config;

/// Parses `type:value`, e.g. `email:anna@example.de` or `phone:+49 170 1111111`.
pub fn parse_identifier(s: &str) -> anyhow::Result<Identifier> {
    let Some((t, v)) = s.split_once(':') else {
        bail!("`{s}`: expected TYPE:VALUE, e.g. email:anna@example.de");
    };
    let id_type: IdType = serde_json::from_value(serde_json::Value::String(t.trim().into()))
        .map_err(|_| {
            let all: Vec<&str> = IdType::ALL.iter().map(|t| t.as_str()).collect();
            anyhow::anyhow!("`{t}`: unknown identifier type (one of {})", all.join(", "))
        })?;
    if v.trim().is_empty() {
        bail!("`{s}`: the value is empty");
    }
    Ok(Identifier::new(id_type, v.trim()))
}

pub fn run(config: &Path, a: &str, b: &str, reason: &str) -> anyhow::Result<()> {
    let cfg = Config::load(Some(config)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (a, b) = (parse_identifier(a)?, parse_identifier(b)?);
    let issued_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let command = journey_kafka::control::unmerge_command(&a, &b, issued_ms, reason);
    // Validate exactly as the pipeline will, so a typo fails here and not as a dead letter.
    let normalize = cfg
        .normalize
        .to_normalize_config()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let unmerge = journey_kafka::control::parse(&command, issued_ms, &normalize)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    journey_kafka::io::produce_all(
        &cfg.kafka,
        [(cfg.topics.control.as_str(), None, command.as_slice())].into_iter(),
        &|_| {},
    )
    .with_context(|| format!("cannot write to the control topic {}", cfg.topics.control))?;
    println!(
        "unmerge {} sent to {}: the split appears on {} once the pipeline has processed it",
        unmerge.control_id, cfg.topics.control, cfg.topics.merges
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_parse_with_type_and_value() {
        let id = parse_identifier("phone:+49 170 1111111").expect("valid");
        assert_eq!(id.id_type, IdType::Phone);
        assert!(parse_identifier("fax:123").is_err());
        assert!(parse_identifier("email").is_err());
        assert!(parse_identifier("email: ").is_err());
    }
}
