//! A customer's journey drawn as a readable timeline for the terminal: one
//! line per touchpoint (`Tue 10 Nov 09:12  chat    contact        configurator`)
//! with the handovers, alerts and merges the pipeline emitted interleaved at
//! the moment they happened, each marked with a symbol (see [`LEGEND`]).
//!
//! Only ids, channels, activities, topics and summaries are shown: never an
//! identifier in clear.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use journey_core::journey::CustomerJourney;
use journey_core::model::{Handover, JourneyAlert, MergeRecord, Severity, Touchpoint};

/// What the symbols mean.
pub const LEGEND: &str =
    "  ● touchpoint   ⇢ handover to the receiving agent   ⚠ alert   ⋈ identity merge";

/// A time as `Tue 10 Nov 09:12` in `tz`.
pub fn short_time(ms: i64, tz: &TimeZone) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(t) => t
            .to_zoned(tz.clone())
            .strftime("%a %d %b %H:%M")
            .to_string(),
        Err(_) => format!("@{ms}ms"),
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
    }
}

fn touchpoint_line(t: &Touchpoint, tz: &TimeZone) -> String {
    let about = match (&t.topic, &t.case_id) {
        (Some(topic), Some(case)) => format!("{topic} (case {case})"),
        (Some(topic), None) => topic.clone(),
        (None, Some(case)) => format!("case {case}"),
        (None, None) => String::new(),
    };
    format!(
        "  ● {}  {:<6}  {:<16} {about}",
        short_time(t.event_time_ms, tz),
        t.channel.as_str(),
        t.activity.as_str()
    )
    .trim_end()
    .to_string()
}

/// Draws `journey` with its outputs. Entries outside `window` (event time,
/// ms, inclusive) are left out with a note; of the rest at most `max_lines`
/// are drawn (the earliest are elided).
pub fn render(
    journey: &CustomerJourney,
    handovers: &[&Handover],
    alerts: &[&JourneyAlert],
    merges: &[&MergeRecord],
    tz: &TimeZone,
    window: Option<(i64, i64)>,
    max_lines: usize,
) -> String {
    // (time, rank, text): at equal times the touchpoint comes first, then what it caused.
    let mut entries: Vec<(i64, u8, String)> = Vec::new();
    for t in &journey.touchpoints {
        entries.push((t.event_time_ms, 0, touchpoint_line(t, tz)));
    }
    for m in merges {
        entries.push((
            m.event_time_ms,
            1,
            format!(
                "    ⋈ merge     {} joined into this customer ({})",
                m.loser, m.rule
            ),
        ));
    }
    for h in handovers {
        entries.push((
            h.trigger.event_time_ms,
            2,
            format!("    ⇢ handover  to {}: {}", h.trigger.channel, h.summary),
        ));
    }
    for a in alerts {
        let when = short_time(a.fired_at_ms, tz);
        entries.push((
            a.fired_at_ms,
            3,
            format!(
                "    ⚠ alert     {} at {when}, {} → {}: {}",
                a.rule.as_str(),
                severity(a.severity),
                a.owner,
                a.summary
            ),
        ));
    }
    entries.sort_by_key(|e| (e.0, e.1));
    let (from, to) = window.unwrap_or((i64::MIN, i64::MAX));
    let before = entries.iter().filter(|e| e.0 < from).count();
    let after = entries.iter().filter(|e| e.0 > to).count();
    let inside: Vec<String> = entries
        .into_iter()
        .filter(|e| e.0 >= from && e.0 <= to)
        .map(|e| e.2)
        .collect();
    let skip = inside.len().saturating_sub(max_lines.max(1));
    let mut out = String::new();
    if before + skip > 0 {
        out.push_str(&format!("  … {} earlier entries\n", before + skip));
    }
    for line in inside.into_iter().skip(skip) {
        out.push_str(&line);
        out.push('\n');
    }
    if after > 0 {
        out.push_str(&format!("  … {after} later entries\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use journey_core::model::{Activity, Channel, Rule};

    fn tp(
        id: &str,
        ms: i64,
        channel: Channel,
        activity: Activity,
        topic: Option<&str>,
    ) -> Touchpoint {
        Touchpoint {
            event_id: id.into(),
            source_event_id: id.into(),
            channel,
            activity,
            event_time_ms: ms,
            topic: topic.map(str::to_string),
            case_id: None,
        }
    }

    #[test]
    fn touchpoints_and_outputs_interleave_in_time_order() {
        // 2026-11-10T09:12:00Z is a Tuesday.
        let t0 = 1_794_301_920_000;
        let chat = tp(
            "e1",
            t0,
            Channel::Chat,
            Activity::Contact,
            Some("configurator"),
        );
        let store = tp(
            "e2",
            t0 + 3 * 86_400_000,
            Channel::Store,
            Activity::Appointment,
            Some("test_drive"),
        );
        let journey = CustomerJourney {
            customer_id: "cust-1".into(),
            identifiers: vec![],
            touchpoints: vec![chat.clone(), store.clone()],
            open_issues: vec![],
            pending_promises: vec![],
            last_score: None,
        };
        let handover = Handover {
            handover_id: "ho-1".into(),
            customer_id: "cust-1".into(),
            trigger: store,
            open_issues: vec![],
            pending_promises: vec![],
            recent_touchpoints: vec![chat.clone()],
            last_score: None,
            linked_by: vec![],
            summary: "open: configurator".into(),
        };
        let alert = JourneyAlert {
            alert_id: "al-1".into(),
            customer_id: "cust-1".into(),
            rule: Rule::Detractor,
            severity: Severity::High,
            fired_at_ms: t0 + 60_000,
            issue_key: None,
            owner: "digital".into(),
            evidence: vec![chat],
            summary: "nps 2".into(),
            status: journey_core::model::AlertStatus::Open,
            resolves_alert_id: None,
        };
        let text = render(
            &journey,
            &[&handover],
            &[&alert],
            &[],
            &TimeZone::UTC,
            None,
            10,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(
            lines[0],
            "  ● Tue 10 Nov 09:12  chat    contact          configurator"
        );
        assert!(
            lines[1].starts_with(
                "    ⚠ alert     detractor at Tue 10 Nov 09:13, high → digital: nps 2"
            ),
            "{text}"
        );
        assert!(
            lines[2].starts_with("  ● Fri 13 Nov 09:12  store   appointment"),
            "{text}"
        );
        assert_eq!(lines[3], "    ⇢ handover  to store: open: configurator");
        let short = render(
            &journey,
            &[&handover],
            &[&alert],
            &[],
            &TimeZone::UTC,
            None,
            2,
        );
        assert!(short.starts_with("  … 2 earlier entries\n"), "{short}");
        let window = render(
            &journey,
            &[&handover],
            &[&alert],
            &[],
            &TimeZone::UTC,
            Some((t0, t0 + 60_000)),
            10,
        );
        assert!(window.ends_with("  … 2 later entries\n"), "{window}");
        assert_eq!(window.lines().count(), 3, "{window}");
    }
}
