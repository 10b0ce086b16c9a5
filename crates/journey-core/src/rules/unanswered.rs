//! `unanswered`: an inbound contact without an agent reply or outbound
//! contact on the same interaction (or, without an interaction id, on the
//! same channel and issue) within the channel's service level. Fired by the
//! event-time timer armed at contact + service level; one alert per
//! interaction while it is open; the late answer resolves it.

use crate::handover::{date, span};
use crate::journey::{Inbound, Journey};
use crate::model::Rule;

use super::{touchpoint, Draft, Resolver, RulesConfig};

fn same_thread(a: &Inbound, b: &Inbound) -> bool {
    match (&a.interaction_id, &b.interaction_id) {
        (Some(x), Some(y)) => x == y,
        (None, None) => a.channel == b.channel && a.issue_key == b.issue_key,
        _ => false,
    }
}

pub(super) fn fire(
    cfg: &RulesConfig,
    journey: &Journey,
    contact_event: &str,
    due_ms: i64,
) -> Option<(Draft, Option<Resolver>)> {
    let un = &cfg.unanswered;
    let inbound = journey
        .inbound
        .iter()
        .rev()
        .find(|i| i.event_id == contact_event)?
        .clone();
    let sla = un.service_level_ms(inbound.channel)?;
    if !un.enabled
        || journey
            .replies
            .iter()
            .any(|r| r.time_ms <= due_ms && r.answers(&inbound))
    {
        return None;
    }
    let already = journey
        .open_alerts
        .iter()
        .any(|o| matches!(&o.resolver, Resolver::Reply(other) if same_thread(other, &inbound)));
    if already {
        return None;
    }
    let contact = touchpoint(journey, contact_event)?;
    let summary = format!(
        "{} contact{} at {} not answered within {}",
        contact.channel.as_str(),
        contact
            .topic
            .as_ref()
            .map(|t| format!(" about {t}"))
            .unwrap_or_default(),
        date(contact.event_time_ms),
        span(0, sla)
    );
    let draft = Draft {
        rule: Rule::Unanswered,
        severity: un.severity,
        fired_at_ms: due_ms,
        issue_key: inbound.issue_key.clone(),
        owner: cfg.owner_of(contact.topic.as_deref()),
        evidence: vec![contact],
        summary,
    };
    Some((draft, Some(Resolver::Reply(inbound))))
}
