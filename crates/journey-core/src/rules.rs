//! Journey-breakage rules, evaluated against a customer's journey as it stood
//! just before an event (or, for timers, at a promise's due time).
//!
//! Every alert id is a hash of the rule and the triggering event ids — never of
//! the customer id, which a later merge can change — so any instance count and
//! any replay emit the same ids.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids;
use crate::journey::{Journey, PromiseState};
use crate::model::{Activity, JourneyAlert, JourneyEvent, Rule, ScoreKind, Severity, Touchpoint};

const HOUR_MS: i64 = 3_600_000;

/// All rule settings, owners and handover settings: one `[rules]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    pub repeat_contact: RepeatContact,
    pub detractor: Detractor,
    pub broken_promise: BrokenPromise,
    /// Issue topic or promise kind → owning team (e.g. `refund = "payments"`).
    pub owners: BTreeMap<String, String>,
    /// Owner of journeys no entry in `owners` matches.
    pub default_owner: String,
    /// How many earlier touchpoints a handover carries.
    pub handover_touchpoints: usize,
}

impl Default for RulesConfig {
    fn default() -> Self {
        let owners = [
            ("refund", "payments"),
            ("billing", "payments"),
            ("delivery", "logistics"),
            ("configurator", "digital"),
            ("account", "digital"),
            ("product", "retail"),
            ("test_drive", "retail"),
            ("appointment", "retail"),
            ("technician", "field-service"),
            ("callback", "customer-care"),
        ];
        RulesConfig {
            repeat_contact: RepeatContact::default(),
            detractor: Detractor::default(),
            broken_promise: BrokenPromise::default(),
            owners: owners.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            default_owner: "customer-care".into(),
            handover_touchpoints: 5,
        }
    }
}

/// The same issue contacted `min_contacts` times within `window_hours`, unresolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepeatContact {
    pub enabled: bool,
    pub min_contacts: usize,
    pub window_hours: i64,
    pub severity: Severity,
}

impl Default for RepeatContact {
    fn default() -> Self {
        RepeatContact { enabled: true, min_contacts: 3, window_hours: 7 * 24, severity: Severity::Medium }
    }
}

/// A survey answer at or beyond these thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Detractor {
    pub enabled: bool,
    /// NPS 0–10: at most this is a detractor (default 6).
    pub nps_max: f64,
    /// CSAT: at most this share of the scale (default 0.25, i.e. 1–2 of 5).
    pub csat_max_share: f64,
    /// CES: at least this share of the scale (high effort; default 0.66, i.e. 5–7 of 7).
    pub ces_min_share: f64,
    /// Other ratings: at most this share of the scale.
    pub rating_max_share: f64,
    /// How far back the alert's evidence reaches.
    pub lookback_hours: i64,
    pub severity: Severity,
}

impl Default for Detractor {
    fn default() -> Self {
        Detractor {
            enabled: true,
            nps_max: 6.0,
            csat_max_share: 0.25,
            ces_min_share: 0.66,
            rating_max_share: 0.25,
            lookback_hours: 14 * 24,
            severity: Severity::High,
        }
    }
}

/// A promise whose due time passed without a fulfilling event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokenPromise {
    pub enabled: bool,
    pub severity: Severity,
}

impl Default for BrokenPromise {
    fn default() -> Self {
        BrokenPromise { enabled: true, severity: Severity::High }
    }
}

impl RulesConfig {
    pub fn owner_of(&self, key: Option<&str>) -> String {
        key.and_then(|k| self.owners.get(k)).cloned().unwrap_or_else(|| self.default_owner.clone())
    }
}

fn alert(
    rule: Rule,
    severity: Severity,
    customer_id: &str,
    fired_at_ms: i64,
    issue_key: Option<String>,
    owner: String,
    evidence: Vec<Touchpoint>,
    summary: String,
) -> JourneyAlert {
    let mut parts: Vec<&str> = vec![rule.as_str()];
    parts.extend(evidence.iter().map(|t| t.event_id.as_str()));
    JourneyAlert {
        alert_id: ids::id("al", &parts),
        customer_id: customer_id.to_string(),
        rule,
        severity,
        fired_at_ms,
        issue_key,
        owner,
        evidence,
        summary,
    }
}

/// `repeat_contact`: evaluated after `e` was applied to `journey`.
pub fn repeat_contact(cfg: &RulesConfig, journey: &mut Journey, e: &JourneyEvent, customer_id: &str) -> Option<JourneyAlert> {
    let rc = &cfg.repeat_contact;
    if !rc.enabled || !crate::journey::counts_as_contact(e) {
        return None;
    }
    let key = e.issue_key()?;
    let issue = journey.issues.get_mut(&key)?;
    let from = e.event_time_ms - rc.window_hours * HOUR_MS;
    let recent: Vec<_> = issue.open_contacts().filter(|c| c.time_ms >= from).collect();
    if recent.len() < rc.min_contacts.max(1) {
        return None;
    }
    // One alert per occurrence: not again until resolved or the window has passed.
    if issue.alerted_at_ms.is_some_and(|a| a >= from && issue.resolved_at_ms.is_none_or(|r| a > r)) {
        return None;
    }
    let evidence: Vec<Touchpoint> = recent
        .iter()
        .filter_map(|c| journey.touchpoints.iter().rev().find(|t| t.event_id == c.event_id).cloned())
        .collect();
    let topic = issue.topic.clone().or_else(|| issue.case_id.clone()).unwrap_or_default();
    let channels: Vec<&str> = evidence.iter().map(|t| t.channel.as_str()).collect();
    let summary = format!(
        "{} contacts about {} within {}, on {}, still unresolved",
        evidence.len(),
        topic,
        crate::handover::span(evidence.first().map_or(0, |t| t.event_time_ms), e.event_time_ms),
        channels.join(", ")
    );
    let owner = cfg.owner_of(issue.topic.as_deref());
    issue.alerted_at_ms = Some(e.event_time_ms);
    Some(alert(Rule::RepeatContact, rc.severity, customer_id, e.event_time_ms, Some(key), owner, evidence, summary))
}

/// `detractor`: a survey answer below the thresholds; evidence is what preceded it.
pub fn detractor(cfg: &RulesConfig, journey: &Journey, e: &JourneyEvent, customer_id: &str) -> Option<JourneyAlert> {
    let d = &cfg.detractor;
    let score = e.score.as_ref()?;
    if !d.enabled || e.activity != Activity::SurveyResponse {
        return None;
    }
    let span = (score.scale_max - score.scale_min).max(f64::EPSILON);
    let share = (score.value - score.scale_min) / span;
    let bad = match score.kind {
        ScoreKind::Nps => score.value <= d.nps_max,
        ScoreKind::Csat => share <= d.csat_max_share,
        ScoreKind::Ces => share >= d.ces_min_share,
        ScoreKind::Rating => share <= d.rating_max_share,
    };
    if !bad {
        return None;
    }
    let from = e.event_time_ms - d.lookback_hours * HOUR_MS;
    let mut evidence: Vec<Touchpoint> = journey
        .touchpoints
        .iter()
        .filter(|t| t.event_time_ms >= from && t.event_id != e.event_id && t.activity != Activity::PageView)
        .rev()
        .take(cfg.handover_touchpoints)
        .cloned()
        .collect();
    evidence.reverse();
    let preceding: Vec<String> = evidence
        .iter()
        .map(|t| format!("{} {}", t.channel.as_str(), t.activity.as_str().replace('_', " ")))
        .collect();
    evidence.push(Touchpoint::from(e));
    let issue_topic = evidence.iter().rev().find_map(|t| t.topic.clone());
    let summary = format!(
        "{} {} of {}{}",
        score.kind.as_str().to_uppercase(),
        score.value,
        score.scale_max,
        if preceding.is_empty() { String::new() } else { format!(" after {}", preceding.join(", ")) }
    );
    let owner = cfg.owner_of(issue_topic.as_deref());
    let issue_key = issue_topic.map(|t| format!("topic:{t}"));
    Some(alert(Rule::Detractor, d.severity, customer_id, e.event_time_ms, issue_key, owner, evidence, summary))
}

/// `broken_promise`: fired by the event-time timer at the promise's due time.
pub fn broken_promise(cfg: &RulesConfig, journey: &Journey, promise: &PromiseState, customer_id: &str) -> Option<JourneyAlert> {
    let bp = &cfg.broken_promise;
    if !bp.enabled || journey.fulfilled(promise, promise.due_ms) {
        return None;
    }
    let made = journey.touchpoints.iter().find(|t| t.event_id == promise.event_id).cloned()?;
    let summary = format!(
        "{} promised on {} {} for {}, not fulfilled",
        promise.kind.as_str(),
        made.channel.as_str(),
        crate::handover::date(promise.made_ms),
        crate::handover::date(promise.due_ms)
    );
    let owner = cfg.owner_of(Some(promise.kind.as_str()));
    let issue_key = made.case_id.as_ref().map(|c| format!("case:{c}")).or(made.topic.as_ref().map(|t| format!("topic:{t}")));
    Some(alert(Rule::BrokenPromise, bp.severity, customer_id, promise.due_ms, issue_key, owner, vec![made], summary))
}
