//! Handover records: when an assisted contact starts for a customer with
//! history, the receiving agent or system gets the context — open issues,
//! pending promises, the last touchpoints across channels, the last survey
//! score and a one-line summary — so the customer does not start over.

use crate::ids;
use crate::journey::Journey;
use crate::model::{
    Activity, Channel, Handover, IdType, JourneyEvent, OpenIssue, PendingPromise, PromiseKind,
    Touchpoint,
};
use crate::rules::RulesConfig;

/// Builds the handover for `e`, given the journey as it stood before `e`.
/// `None` when the customer has no history or `e` is not an assisted contact.
pub fn handover(
    cfg: &RulesConfig,
    before: &Journey,
    e: &JourneyEvent,
    customer_id: &str,
    linked_by: Vec<IdType>,
) -> Option<Handover> {
    if !e.is_assisted_contact() || before.is_empty() {
        return None;
    }
    let open_issues = before.open_issues();
    let pending_promises = before.pending_promises(e.event_time_ms);
    let recent_touchpoints: Vec<Touchpoint> = before
        .touchpoints
        .iter()
        .rev()
        .take(cfg.handover_touchpoints)
        .cloned()
        .collect();

    let summary = summary(before, e, &open_issues, &pending_promises);
    Some(Handover {
        handover_id: ids::id("ho", &[&e.event_id]),
        customer_id: customer_id.to_string(),
        trigger: Touchpoint::from(e),
        open_issues,
        pending_promises,
        recent_touchpoints,
        last_score: before.last_score.as_ref().map(|(_, s)| s.clone()),
        linked_by,
        summary,
    })
}

/// The one line for the agent: what this contact is about given the
/// history, the promises still open, the last survey and the sentiment trend,
/// e.g. `3rd contact about refund in 2 days, after chat and email; refund
/// promised for 14 Nov 09:12 UTC, not yet paid`.
fn summary(
    before: &Journey,
    e: &JourneyEvent,
    open_issues: &[OpenIssue],
    pending: &[PendingPromise],
) -> String {
    let mut parts = Vec::new();
    let key = e.issue_key();
    let same_issue = key
        .as_ref()
        .and_then(|k| open_issues.iter().find(|i| &i.issue_key == k));
    if let Some(issue) = same_issue {
        // Channels of the earlier contacts, in the order the customer used them.
        let mut channels: Vec<Channel> = Vec::new();
        if let Some(state) = key.as_ref().and_then(|k| before.issues.get(k)) {
            for c in state.open_contacts() {
                if !channels.contains(&c.channel) {
                    channels.push(c.channel);
                }
            }
        }
        let names: Vec<&str> = channels.iter().map(|c| c.as_str()).collect();
        parts.push(format!(
            "{} contact about {} in {}, after {}",
            ordinal(issue.contacts as usize + 1),
            about(issue),
            span(issue.first_seen_ms, e.event_time_ms),
            and_list(&names)
        ));
    } else {
        let resolved_before = key
            .as_ref()
            .and_then(|k| before.issues.get(k))
            .and_then(|i| i.resolved_at_ms);
        match (&e.topic, resolved_before) {
            (Some(topic), Some(at)) => {
                parts.push(format!(
                    "contact about {} again, resolved on {}",
                    topic.replace('_', " "),
                    date(at)
                ));
            }
            (Some(topic), None) => {
                parts.push(format!("new contact about {}", topic.replace('_', " ")))
            }
            (None, _) => {}
        }
        for issue in open_issues {
            let names: Vec<&str> = issue.channels.iter().map(|c| c.as_str()).collect();
            parts.push(format!(
                "open issue: {} ({} on {}, last {} ago)",
                about(issue),
                plural(issue.contacts as usize, "contact"),
                and_list(&names),
                span(issue.last_seen_ms, e.event_time_ms)
            ));
        }
        if open_issues.is_empty() {
            if let Some(last) = before.touchpoints.last() {
                parts.push(format!(
                    "returning customer, {}, last {} {} on {}",
                    plural(before.touchpoints.len(), "touchpoint"),
                    last.channel.as_str(),
                    last.activity.as_str().replace('_', " "),
                    date(last.event_time_ms)
                ));
            }
        }
    }
    for p in pending {
        let overdue = if p.due_ms < e.event_time_ms {
            "overdue, "
        } else {
            ""
        };
        parts.push(format!(
            "{} promised for {}, {overdue}{}",
            p.kind.as_str(),
            date(p.due_ms),
            not_yet(p.kind)
        ));
    }
    if let Some((_, s)) = &before.last_score {
        parts.push(format!(
            "last survey {} {}/{}",
            s.kind.as_str().to_uppercase(),
            s.value,
            s.scale_max
        ));
    }
    if let Some(trend) = sentiment_trend(before) {
        parts.push(trend.to_string());
    }
    parts.join("; ")
}

fn about(issue: &OpenIssue) -> String {
    issue
        .topic
        .clone()
        .or_else(|| issue.case_id.as_ref().map(|c| format!("case {c}")))
        .unwrap_or_default()
        .replace('_', " ")
}

/// `chat`, `chat and email`, `chat, email and phone`.
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// What is still missing for a promise of `kind`: `not yet paid`, `no callback yet`, ...
pub fn not_yet(kind: PromiseKind) -> &'static str {
    match kind {
        PromiseKind::Refund => "not yet paid",
        PromiseKind::Callback => "no callback yet",
        PromiseKind::Delivery => "not yet delivered",
        PromiseKind::Appointment => "not yet kept",
        PromiseKind::Technician => "no technician visit yet",
    }
}

fn sentiment_trend(j: &Journey) -> Option<&'static str> {
    let n = j.sentiments.len();
    if n < 2 {
        return None;
    }
    let (prev, last) = (j.sentiments[n - 2].value, j.sentiments[n - 1].value);
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
        assert_eq!(
            and_list(&["chat", "email", "phone"]),
            "chat, email and phone"
        );
        assert_eq!(and_list(&["chat"]), "chat");
        assert_eq!(plural(1, "contact"), "1 contact");
    }
}
