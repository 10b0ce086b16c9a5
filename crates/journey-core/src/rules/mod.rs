//! Journey-breakage rules. A rule looks at one customer's journey, in event
//! time, and either fires when an event is applied (`repeat_contact`,
//! `channel_hop`, `detractor`, `transfer_loop`, `sentiment_drop`) or when an
//! event-time timer falls due under the watermark (`broken_promise`,
//! `abandoned_checkout`, `unanswered`). Every alert it emits stays open in the
//! journey until an event resolves it; then a resolution record follows
//! ([`resolution`]).
//!
//! Data flow inside the fold ([`crate::fold`]), per event in
//! `(event_time, event_id)` order:
//! due timers fire ([`on_timer`]) → the event is applied to the journey →
//! [`on_event`] emits the resolution records of the alerts it resolves, then
//! the alerts it raises → [`timers_for`] arms the event's timers.
//!
//! Every alert id is a hash of the rule and the triggering event ids — never of
//! the customer id, which a later merge can change — so any instance count and
//! any replay emit the same ids. Settings live in [`config`] (docs/rules.md).

mod abandoned_checkout;
mod broken_promise;
mod channel_hop;
pub mod config;
mod detractor;
mod repeat_contact;
pub mod resolution;
mod sentiment_drop;
mod transfer_loop;
mod unanswered;
mod validate;

#[cfg(test)]
mod tests;

pub use config::{
    AbandonedCheckout, BrokenPromise, ChannelHop, Detractor, RepeatContact, RulesConfig,
    SentimentDrop, TransferLoop, Unanswered,
};
pub use detractor::is_detractor;
pub use resolution::{OpenAlert, Resolver};
pub use validate::Problem;

use crate::ids;
use crate::journey::Journey;
use crate::model::{
    Activity, AlertStatus, Channel, JourneyAlert, JourneyEvent, Rule, Severity, Touchpoint,
};

pub(crate) const HOUR_MS: i64 = 3_600_000;

/// The kinds of event-time timer a rule arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// A promise's due time (`broken_promise`).
    Promise,
    /// A web checkout's purchase window (`abandoned_checkout`).
    Checkout,
    /// An inbound contact's service level (`unanswered`).
    Unanswered,
}

/// An alert before it is addressed to a customer.
pub(crate) struct Draft {
    pub rule: Rule,
    pub severity: Severity,
    pub fired_at_ms: i64,
    pub issue_key: Option<String>,
    pub owner: String,
    pub evidence: Vec<Touchpoint>,
    pub summary: String,
}

impl Draft {
    /// The alert: its id hashes the rule and the evidence's event ids only.
    pub fn into_alert(self, customer_id: &str) -> JourneyAlert {
        let mut parts: Vec<&str> = vec![self.rule.as_str()];
        parts.extend(self.evidence.iter().map(|t| t.event_id.as_str()));
        JourneyAlert {
            alert_id: ids::id("al", &parts),
            customer_id: customer_id.to_string(),
            rule: self.rule,
            severity: self.severity,
            fired_at_ms: self.fired_at_ms,
            issue_key: self.issue_key,
            owner: self.owner,
            evidence: self.evidence,
            summary: self.summary,
            status: AlertStatus::Open,
            resolves_alert_id: None,
        }
    }
}

/// Records an alert as open (when something can resolve it) and returns it.
fn open(journey: &mut Journey, alert: JourneyAlert, resolver: Option<Resolver>) -> JourneyAlert {
    if let Some(resolver) = resolver {
        journey.open_alerts.push(OpenAlert {
            alert: alert.clone(),
            resolver,
        });
    }
    alert
}

/// The touchpoint of `event_id` in `journey`.
pub(crate) fn touchpoint(journey: &Journey, event_id: &str) -> Option<Touchpoint> {
    journey
        .touchpoints
        .iter()
        .rev()
        .find(|t| t.event_id == event_id)
        .cloned()
}

/// `topic:<t>` for a touchpoint's issue, by case first.
pub(crate) fn issue_key_of(t: &Touchpoint) -> Option<String> {
    match (&t.case_id, &t.topic) {
        (Some(c), _) => Some(format!("case:{c}")),
        (None, Some(topic)) => Some(format!("topic:{topic}")),
        (None, None) => None,
    }
}

/// After `e` was applied to `journey`: the resolution records of the open
/// alerts `e` resolves, then the alerts `e` raises.
pub fn on_event(
    cfg: &RulesConfig,
    journey: &mut Journey,
    e: &JourneyEvent,
    customer_id: &str,
) -> Vec<JourneyAlert> {
    let mut out = resolution::resolve(cfg, journey, e, customer_id);
    let raised = [
        repeat_contact::evaluate(cfg, journey, e),
        channel_hop::evaluate(cfg, journey, e),
        detractor::evaluate(cfg, journey, e),
        transfer_loop::evaluate(cfg, journey, e),
        sentiment_drop::evaluate(cfg, journey, e),
    ];
    for (draft, resolver) in raised.into_iter().flatten() {
        let alert = draft.into_alert(customer_id);
        out.push(open(journey, alert, resolver));
    }
    out
}

/// The timers `e` arms: `(due time, kind)`. The timer's key is `e`'s event id.
pub fn timers_for(cfg: &RulesConfig, e: &JourneyEvent) -> Vec<(i64, TimerKind)> {
    let mut out = Vec::new();
    if let Some(p) = &e.promise {
        if cfg.broken_promise.enabled {
            out.push((p.due_ms, TimerKind::Promise));
        }
    }
    if cfg.abandoned_checkout.enabled
        && e.channel == Channel::Web
        && e.activity == Activity::CheckoutStarted
    {
        out.push((
            e.event_time_ms
                .saturating_add(cfg.abandoned_checkout.window_hours * HOUR_MS),
            TimerKind::Checkout,
        ));
    }
    if cfg.unanswered.enabled && e.activity == Activity::Contact {
        if let Some(sla) = cfg.unanswered.service_level_ms(e.channel) {
            out.push((e.event_time_ms.saturating_add(sla), TimerKind::Unanswered));
        }
    }
    out
}

/// A timer armed by event `event_id` fell due at `due_ms` (the watermark
/// passed it): the alert, if the awaited event did not come by then.
pub fn on_timer(
    cfg: &RulesConfig,
    journey: &mut Journey,
    kind: TimerKind,
    due_ms: i64,
    event_id: &str,
    customer_id: &str,
) -> Option<JourneyAlert> {
    let (draft, resolver) = match kind {
        TimerKind::Promise => broken_promise::fire(cfg, journey, event_id)?,
        TimerKind::Checkout => abandoned_checkout::fire(cfg, journey, event_id, due_ms)?,
        TimerKind::Unanswered => unanswered::fire(cfg, journey, event_id, due_ms)?,
    };
    let alert = draft.into_alert(customer_id);
    Some(open(journey, alert, resolver))
}

/// The earliest timer of `events` due after `watermark_ms`: when the stitch
/// stage must look at the component again (all timer kinds, under `cfg`).
pub fn next_due(events: &[JourneyEvent], watermark_ms: i64, cfg: &RulesConfig) -> Option<i64> {
    events
        .iter()
        .flat_map(|e| timers_for(cfg, e))
        .map(|(due, _)| due)
        .filter(|&d| d > watermark_ms)
        .min()
}
