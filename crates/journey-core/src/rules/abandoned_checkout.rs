//! `abandoned_checkout`: a checkout started on the web and no purchase on any
//! channel within `window_hours`. Fired by the event-time timer armed at
//! checkout + window; one alert while an earlier one is still open (a
//! customer who restarts the checkout three times gets one alert); a later
//! purchase resolves it.

use crate::handover::{date, span};
use crate::journey::Journey;
use crate::model::{Activity, Rule};

use super::{issue_key_of, touchpoint, Draft, Resolver, RulesConfig, HOUR_MS};

pub(super) fn fire(
    cfg: &RulesConfig,
    journey: &Journey,
    checkout_event: &str,
    due_ms: i64,
) -> Option<(Draft, Option<Resolver>)> {
    let ac = &cfg.abandoned_checkout;
    if !ac.enabled {
        return None;
    }
    let start = touchpoint(journey, checkout_event)?;
    let bought = journey.touchpoints.iter().any(|t| {
        t.activity == Activity::Purchase
            && t.event_time_ms >= start.event_time_ms
            && t.event_time_ms <= due_ms
    });
    if bought
        || journey
            .open_alerts
            .iter()
            .any(|o| o.alert.rule == Rule::AbandonedCheckout)
    {
        return None;
    }
    let summary = format!(
        "checkout started on the web {}{}, no purchase on any channel within {}",
        date(start.event_time_ms),
        start
            .topic
            .as_ref()
            .map(|t| format!(" ({t})"))
            .unwrap_or_default(),
        span(0, ac.window_hours * HOUR_MS)
    );
    let draft = Draft {
        rule: Rule::AbandonedCheckout,
        severity: ac.severity,
        fired_at_ms: due_ms,
        issue_key: issue_key_of(&start),
        owner: cfg.owner_of(Some(start.topic.as_deref().unwrap_or("checkout"))),
        evidence: vec![start],
        summary,
    };
    Some((draft, Some(Resolver::Purchase)))
}
