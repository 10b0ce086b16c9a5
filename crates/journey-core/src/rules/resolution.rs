//! Resolution records: when the issue behind an open alert resolves, the fold
//! emits a record that closes it, so dashboards can close alerts.
//!
//! A resolution record is a [`JourneyAlert`] with status `resolved`, the rule,
//! owner, severity and issue of the alert it closes, `resolves_alert_id`
//! naming that alert, its evidence followed by the resolving event, and its
//! own deterministic id `hash("resolved", alert id)`.

use crate::handover::date;
use crate::ids;
use crate::journey::{Inbound, Journey, Reply};
use crate::model::{
    Activity, AlertStatus, JourneyAlert, JourneyEvent, PromiseKind, ScoreKind, Touchpoint,
};

use super::{is_detractor, RulesConfig};

/// What resolves an open alert.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolver {
    /// An event that resolves this issue key (`repeat_contact`, `channel_hop`, `transfer_loop`).
    Issue(String),
    /// A fulfilment of the promise's kind, late (`broken_promise`).
    Fulfilment { kind: PromiseKind, made_ms: i64 },
    /// A purchase on any channel (`abandoned_checkout`).
    Purchase,
    /// An agent reply or outbound contact that answers this contact (`unanswered`).
    Reply(Inbound),
    /// A later survey answer of this kind that is not a detractor (`detractor`).
    Survey(ScoreKind),
    /// A later sentiment at least this high: back where the drop started (`sentiment_drop`).
    Sentiment(f64),
}

impl Resolver {
    fn resolved_by(&self, cfg: &RulesConfig, e: &JourneyEvent) -> bool {
        match self {
            Resolver::Issue(key) => e.resolves && e.issue_key().as_deref() == Some(key.as_str()),
            Resolver::Fulfilment { kind, made_ms } => {
                e.fulfils == Some(*kind) && e.event_time_ms >= *made_ms
            }
            Resolver::Purchase => e.activity == Activity::Purchase,
            Resolver::Reply(inbound) => {
                matches!(e.activity, Activity::AgentReply | Activity::Outbound)
                    && Reply {
                        time_ms: e.event_time_ms,
                        event_id: e.event_id.clone(),
                        channel: e.channel,
                        interaction_id: e.interaction_id.clone(),
                        issue_key: e.issue_key(),
                    }
                    .answers(inbound)
            }
            Resolver::Survey(kind) => {
                e.activity == Activity::SurveyResponse
                    && e.score
                        .as_ref()
                        .is_some_and(|s| s.kind == *kind && !is_detractor(&cfg.detractor, s))
            }
            Resolver::Sentiment(level) => e.sentiment.is_some_and(|s| s >= *level),
        }
    }
}

/// An alert that was emitted and is not resolved yet.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAlert {
    pub alert: JourneyAlert,
    pub resolver: Resolver,
}

/// The id of the record that resolves `alert_id`.
pub fn resolution_id(alert_id: &str) -> String {
    ids::id("al", &["resolved", alert_id])
}

/// Closes every open alert of `journey` that `e` resolves; returns their resolution records.
pub fn resolve(
    cfg: &RulesConfig,
    journey: &mut Journey,
    e: &JourneyEvent,
    customer_id: &str,
) -> Vec<JourneyAlert> {
    if journey.open_alerts.is_empty() {
        return Vec::new();
    }
    let (closed, still_open): (Vec<OpenAlert>, Vec<OpenAlert>) =
        std::mem::take(&mut journey.open_alerts)
            .into_iter()
            .partition(|o| o.resolver.resolved_by(cfg, e));
    journey.open_alerts = still_open;
    closed
        .into_iter()
        .map(|o| record(&o.alert, e, customer_id))
        .collect()
}

fn record(alert: &JourneyAlert, e: &JourneyEvent, customer_id: &str) -> JourneyAlert {
    let by = Touchpoint::from(e);
    let summary = format!(
        "{} resolved by {} {} on {}; was: {}",
        alert.rule.as_str().replace('_', " "),
        by.channel.as_str(),
        by.activity.as_str().replace('_', " "),
        date(e.event_time_ms),
        alert.summary
    );
    let mut evidence = alert.evidence.clone();
    evidence.push(by);
    JourneyAlert {
        alert_id: resolution_id(&alert.alert_id),
        customer_id: customer_id.to_string(),
        rule: alert.rule,
        severity: alert.severity,
        fired_at_ms: e.event_time_ms,
        issue_key: alert.issue_key.clone(),
        owner: alert.owner.clone(),
        evidence,
        summary,
        status: AlertStatus::Resolved,
        resolves_alert_id: Some(alert.alert_id.clone()),
    }
}
