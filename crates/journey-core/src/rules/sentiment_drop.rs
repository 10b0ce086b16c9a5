//! `sentiment_drop`: consecutive touchpoints whose sentiment keeps falling —
//! at least `min_drops` falls in a row within `window_hours`, together at
//! least `min_total_drop`. One alert per falling run; a later sentiment back
//! at the run's starting level resolves it.

use crate::handover::span;
use crate::journey::Journey;
use crate::model::{JourneyEvent, Rule, Touchpoint};

use super::{touchpoint, Draft, Resolver, RulesConfig, HOUR_MS};

pub(super) fn evaluate(
    cfg: &RulesConfig,
    journey: &mut Journey,
    e: &JourneyEvent,
) -> Option<(Draft, Option<Resolver>)> {
    let sd = &cfg.sentiment_drop;
    if !sd.enabled || e.sentiment.is_none() {
        return None;
    }
    let pts = &journey.sentiments;
    let last = pts.len().checked_sub(1)?;
    let from = e.event_time_ms - sd.window_hours * HOUR_MS;
    let mut start = last;
    while start > 0 && pts[start - 1].value > pts[start].value && pts[start - 1].time_ms >= from {
        start -= 1;
    }
    let drops = last - start;
    let (first, end) = (&pts[start], &pts[last]);
    if drops < sd.min_drops.max(1) || first.value - end.value < sd.min_total_drop {
        return None;
    }
    if journey.sentiment_alerted_run.as_deref() == Some(first.event_id.as_str()) {
        return None;
    }
    let evidence: Vec<Touchpoint> = pts[start..]
        .iter()
        .filter_map(|p| touchpoint(journey, &p.event_id))
        .collect();
    let channels: Vec<&str> = evidence.iter().map(|t| t.channel.as_str()).collect();
    let topic = evidence.iter().rev().find_map(|t| t.topic.clone());
    let summary = format!(
        "sentiment fell {} times in a row, from {:+.1} to {:+.1} within {} ({}){}",
        drops,
        first.value,
        end.value,
        span(first.time_ms, end.time_ms),
        channels.join(", "),
        topic
            .as_ref()
            .map(|t| format!(", about {t}"))
            .unwrap_or_default()
    );
    let level = first.value;
    journey.sentiment_alerted_run = Some(first.event_id.clone());
    let draft = Draft {
        rule: Rule::SentimentDrop,
        severity: sd.severity,
        fired_at_ms: e.event_time_ms,
        issue_key: topic.as_ref().map(|t| format!("topic:{t}")),
        owner: cfg.owner_of(topic.as_deref()),
        evidence,
        summary,
    };
    Some((draft, Some(Resolver::Sentiment(level))))
}
