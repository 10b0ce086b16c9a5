//! `detractor`: a survey answer at or beyond the configured thresholds (NPS,
//! CSAT, CES, other ratings). The evidence is what preceded the survey within
//! `lookback_hours` (up to `handover_touchpoints`), then the survey itself, so
//! the alert names the failed visit or contact that caused it. A later answer
//! of the same kind that is not a detractor resolves it.

use crate::journey::Journey;
use crate::model::{Activity, JourneyEvent, Rule, Score, ScoreKind, Touchpoint};

use super::{Detractor, Draft, Resolver, RulesConfig, HOUR_MS};

/// Whether `score` is a detractor under `d`.
pub fn is_detractor(d: &Detractor, score: &Score) -> bool {
    let span = (score.scale_max - score.scale_min).max(f64::EPSILON);
    let share = (score.value - score.scale_min) / span;
    match score.kind {
        ScoreKind::Nps => score.value <= d.nps_max,
        ScoreKind::Csat => share <= d.csat_max_share,
        ScoreKind::Ces => share >= d.ces_min_share,
        ScoreKind::Rating => share <= d.rating_max_share,
    }
}

pub(super) fn evaluate(
    cfg: &RulesConfig,
    journey: &mut Journey,
    e: &JourneyEvent,
) -> Option<(Draft, Option<Resolver>)> {
    let d = &cfg.detractor;
    let score = e.score.as_ref()?;
    if !d.enabled || e.activity != Activity::SurveyResponse || !is_detractor(d, score) {
        return None;
    }
    let from = e.event_time_ms - d.lookback_hours * HOUR_MS;
    let mut evidence: Vec<Touchpoint> = journey
        .touchpoints
        .iter()
        .filter(|t| {
            t.event_time_ms >= from && t.event_id != e.event_id && t.activity != Activity::PageView
        })
        .rev()
        .take(cfg.handover_touchpoints)
        .cloned()
        .collect();
    evidence.reverse();
    let preceding: Vec<String> = evidence
        .iter()
        .map(|t| {
            let about = t
                .topic
                .as_ref()
                .map(|x| format!(" about {x}"))
                .unwrap_or_default();
            format!(
                "{} {}{about}",
                t.channel.as_str(),
                t.activity.as_str().replace('_', " ")
            )
        })
        .collect();
    evidence.push(crate::model::Touchpoint::from(e));
    let issue_topic = evidence.iter().rev().find_map(|t| t.topic.clone());
    let summary = format!(
        "{} {} of {}{}",
        score.kind.as_str().to_uppercase(),
        score.value,
        score.scale_max,
        if preceding.is_empty() {
            String::new()
        } else {
            format!(" after {}", preceding.join(", "))
        }
    );
    let owner = cfg.owner_of(issue_topic.as_deref());
    let issue_key = issue_topic.map(|t| format!("topic:{t}"));
    let draft = Draft {
        rule: Rule::Detractor,
        severity: d.severity,
        fired_at_ms: e.event_time_ms,
        issue_key,
        owner,
        evidence,
        summary,
    };
    Some((draft, Some(Resolver::Survey(score.kind))))
}
