//! Handover records: when an assisted contact starts for a customer with
//! history, the receiving agent or system gets the context — open issues,
//! pending promises, the last touchpoints across channels, the last survey
//! score and a one-line summary — so the customer does not start over.

use crate::ids;
use crate::journey::Journey;
use crate::model::{Activity, Handover, IdType, JourneyEvent, Touchpoint};
use crate::rules::RulesConfig;

/// Builds the handover for `e`, given the journey as it stood before `e`.
/// `None` when the customer has no history or `e` is not an assisted contact.
pub fn handover(cfg: &RulesConfig, before: &Journey, e: &JourneyEvent, customer_id: &str, linked_by: Vec<IdType>) -> Option<Handover> {
    if !e.is_assisted_contact() || before.is_empty() {
        return None;
    }
    let open_issues = before.open_issues();
    let pending_promises = before.pending_promises(e.event_time_ms);
    let recent_touchpoints: Vec<Touchpoint> =
        before.touchpoints.iter().rev().take(cfg.handover_touchpoints).cloned().collect();

    let mut parts = Vec::new();
    let same_issue = e.issue_key().and_then(|k| open_issues.iter().find(|i| i.issue_key == k));
    if let Some(issue) = same_issue {
        let about = issue.topic.clone().or_else(|| issue.case_id.clone()).unwrap_or_default();
        let channels: Vec<&str> = issue.channels.iter().map(|c| c.as_str()).collect();
        parts.push(format!(
            "{} contact about {} in {}, after {}",
            ordinal(issue.contacts as usize + 1),
            about,
            span(issue.first_seen_ms, e.event_time_ms),
            channels.join(" and ")
        ));
    } else if !open_issues.is_empty() {
        let topics: Vec<String> =
            open_issues.iter().map(|i| i.topic.clone().or_else(|| i.case_id.clone()).unwrap_or_default()).collect();
        parts.push(format!("open: {}", topics.join(", ")));
    } else {
        let last = &before.touchpoints[before.touchpoints.len() - 1];
        parts.push(format!(
            "returning customer, {} touchpoints, last {} {} on {}",
            before.touchpoints.len(),
            last.channel.as_str(),
            last.activity.as_str().replace('_', " "),
            date(last.event_time_ms)
        ));
    }
    for p in &pending_promises {
        let state = if p.due_ms < e.event_time_ms { "overdue" } else { "pending" };
        parts.push(format!("{} promised for {}, {}", p.kind.as_str(), date(p.due_ms), state));
    }
    if let Some((_, s)) = &before.last_score {
        parts.push(format!("last survey {} {}/{}", s.kind.as_str().to_uppercase(), s.value, s.scale_max));
    }
    if let Some(trend) = sentiment_trend(before) {
        parts.push(trend.to_string());
    }
    Some(Handover {
        handover_id: ids::id("ho", &[&e.event_id]),
        customer_id: customer_id.to_string(),
        trigger: Touchpoint::from(e),
        open_issues,
        pending_promises,
        recent_touchpoints,
        last_score: before.last_score.as_ref().map(|(_, s)| s.clone()),
        linked_by,
        summary: parts.join("; "),
    })
}

fn sentiment_trend(j: &Journey) -> Option<&'static str> {
    let n = j.sentiments.len();
    if n < 2 {
        return None;
    }
    let (prev, last) = (j.sentiments[n - 2].1, j.sentiments[n - 1].1);
    (last < prev - 0.2).then_some("sentiment falling")
}

/// `1st`, `2nd`, `3rd`, `4th`, ...
pub fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A readable span: `40 min`, `5 h`, `2 days`.
pub fn span(from_ms: i64, to_ms: i64) -> String {
    let mins = (to_ms - from_ms).max(0) / 60_000;
    match mins {
        m if m < 120 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} days", m / (24 * 60)),
    }
}

/// `14 Nov 09:12 UTC`.
pub fn date(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(t) => t.strftime("%-d %b %H:%M UTC").to_string(),
        Err(_) => ms.to_string(),
    }
}

/// Touchpoint activities worth showing in a timeline.
pub fn is_notable(a: Activity) -> bool {
    !matches!(a, Activity::PageView)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_read_well() {
        assert_eq!(ordinal(1), "1st");
        assert_eq!(ordinal(3), "3rd");
        assert_eq!(ordinal(12), "12th");
        assert_eq!(span(0, 90 * 60_000), "90 min");
        assert_eq!(span(0, 50 * 3_600_000), "2 days");
        assert_eq!(date(1_763_111_520_000), "14 Nov 09:12 UTC");
    }
}
