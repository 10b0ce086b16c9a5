//! `repeat_contact`: the same issue contacted `min_contacts` times within
//! `window_hours` without resolution. One alert per occurrence: not again
//! until the issue resolves or the window has passed since the last alert.

use crate::handover::span;
use crate::journey::{counts_as_contact, Journey};
use crate::model::{JourneyEvent, Rule, Touchpoint};

use super::{touchpoint, Draft, Resolver, RulesConfig, HOUR_MS};

pub(super) fn evaluate(
    cfg: &RulesConfig,
    journey: &mut Journey,
    e: &JourneyEvent,
) -> Option<(Draft, Option<Resolver>)> {
    let rc = &cfg.repeat_contact;
    if !rc.enabled || !counts_as_contact(e) {
        return None;
    }
    let key = e.issue_key()?;
    let issue = journey.issues.get(&key)?;
    let from = e.event_time_ms - rc.window_hours * HOUR_MS;
    let recent: Vec<_> = issue
        .open_contacts()
        .filter(|c| c.time_ms >= from)
        .collect();
    if recent.len() < rc.min_contacts.max(1) {
        return None;
    }
    if issue.alerted_since(issue.alerted_at_ms, from) {
        return None;
    }
    let evidence: Vec<Touchpoint> = recent
        .iter()
        .filter_map(|c| touchpoint(journey, &c.event_id))
        .collect();
    let about = issue.about();
    let channels: Vec<&str> = evidence.iter().map(|t| t.channel.as_str()).collect();
    let summary = format!(
        "{} contacts about {} within {} ({}), still unresolved",
        evidence.len(),
        about,
        span(
            evidence.first().map_or(0, |t| t.event_time_ms),
            e.event_time_ms
        ),
        channels.join(", ")
    );
    let owner = cfg.owner_of(issue.topic.as_deref());
    if let Some(issue) = journey.issues.get_mut(&key) {
        issue.alerted_at_ms = Some(e.event_time_ms);
    }
    let draft = Draft {
        rule: Rule::RepeatContact,
        severity: rc.severity,
        fired_at_ms: e.event_time_ms,
        issue_key: Some(key.clone()),
        owner,
        evidence,
        summary,
    };
    Some((draft, Some(Resolver::Issue(key))))
}
