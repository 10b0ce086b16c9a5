//! `channel_hop`: the same unresolved issue contacted on `min_channels`
//! different assisted channels within `window_hours`. The evidence is the
//! first contact on each channel; one alert per occurrence, like
//! `repeat_contact`.

use std::collections::BTreeSet;

use crate::handover::span;
use crate::journey::{counts_as_contact, Journey};
use crate::model::{JourneyEvent, Rule, Touchpoint};

use super::{touchpoint, Draft, Resolver, RulesConfig, HOUR_MS};

pub(super) fn evaluate(
    cfg: &RulesConfig,
    journey: &mut Journey,
    e: &JourneyEvent,
) -> Option<(Draft, Option<Resolver>)> {
    let ch = &cfg.channel_hop;
    if !ch.enabled || !counts_as_contact(e) {
        return None;
    }
    let key = e.issue_key()?;
    let issue = journey.issues.get(&key)?;
    let from = e.event_time_ms - ch.window_hours * HOUR_MS;
    let mut seen = BTreeSet::new();
    let firsts: Vec<_> = issue
        .open_contacts()
        .filter(|c| c.time_ms >= from && seen.insert(c.channel))
        .collect();
    if firsts.len() < ch.min_channels.max(2) {
        return None;
    }
    if issue.alerted_since(issue.hop_alerted_at_ms, from) {
        return None;
    }
    let evidence: Vec<Touchpoint> = firsts
        .iter()
        .filter_map(|c| touchpoint(journey, &c.event_id))
        .collect();
    let about = issue.about();
    let channels: Vec<&str> = evidence.iter().map(|t| t.channel.as_str()).collect();
    let summary = format!(
        "{} raised on {} channels within {} ({}), still unresolved",
        about,
        evidence.len(),
        span(
            evidence.first().map_or(0, |t| t.event_time_ms),
            e.event_time_ms
        ),
        channels.join(" → ")
    );
    let owner = cfg.owner_of(issue.topic.as_deref());
    if let Some(issue) = journey.issues.get_mut(&key) {
        issue.hop_alerted_at_ms = Some(e.event_time_ms);
    }
    let draft = Draft {
        rule: Rule::ChannelHop,
        severity: ch.severity,
        fired_at_ms: e.event_time_ms,
        issue_key: Some(key.clone()),
        owner,
        evidence,
        summary,
    };
    Some((draft, Some(Resolver::Issue(key))))
}
