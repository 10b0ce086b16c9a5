//! Shadow mode of `journey replay --rules CANDIDATE`: which alerts the
//! candidate rules would add and remove against the current ones, before
//! anyone deploys them.
//!
//! Both sides come from the oracle (`journey_core::oracle`) over the replay's
//! input, normalised here exactly as the pipeline normalises it: by the
//! contract the pipeline's alerts equal the oracle's, so no second Kafka run
//! is needed. Alerts are matched by id (a hash of rule and triggering events),
//! so an alert that both rule sets raise from the same events is the same
//! alert; when only its content differs (severity, owner, summary) it is
//! listed as changed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use journey_core::fold::StitchConfig;
use journey_core::model::{AlertStatus, JourneyAlert, JourneyEvent, Rule, SourceRef};
use journey_core::normalize::{normalize, NormalizeConfig};
use journey_core::oracle::oracle;
use journey_core::rules::RulesConfig;
use journey_kafka::TopicsConfig;

use crate::embedded::Outgoing;

/// The alert difference between the current and the candidate rules.
#[derive(Debug, Default)]
pub struct ShadowDiff {
    /// Raised only under the candidate rules.
    pub appear: Vec<JourneyAlert>,
    /// Raised only under the current rules.
    pub disappear: Vec<JourneyAlert>,
    /// Same id, different content: `(current, candidate)`.
    pub changed: Vec<(JourneyAlert, JourneyAlert)>,
    /// Rule → alerts (status open) under the current and the candidate rules.
    pub per_rule: BTreeMap<Rule, (usize, usize)>,
}

/// Normalises the routed records as the pipeline does (records that fail are
/// dead letters there and skipped here).
pub fn events(
    records: &[Outgoing],
    topics: &TopicsConfig,
    cfg: &NormalizeConfig,
) -> Vec<JourneyEvent> {
    let mut out = Vec::new();
    for (offset, r) in records.iter().enumerate() {
        let Some(raw) = topics.raw.iter().find(|t| t.topic == r.topic) else {
            continue;
        };
        let source = SourceRef {
            topic: r.topic.clone(),
            partition: 0,
            offset: offset as i64,
        };
        if let Ok(es) = normalize(raw.channel, raw.format, &r.payload, &source, cfg) {
            out.extend(es);
        }
    }
    out
}

/// Folds `events` under the current configuration and under it with the candidate rules.
pub fn diff(
    events: &[JourneyEvent],
    current: &StitchConfig,
    candidate: &RulesConfig,
) -> ShadowDiff {
    let cand_cfg = StitchConfig {
        rules: candidate.clone(),
        ..current.clone()
    };
    let (now, then) = (
        oracle(events, current).alerts,
        oracle(events, &cand_cfg).alerts,
    );
    let index = |v: &[JourneyAlert]| -> BTreeMap<String, JourneyAlert> {
        v.iter().map(|a| (a.alert_id.clone(), a.clone())).collect()
    };
    let (now_ix, then_ix) = (index(&now), index(&then));
    let mut d = ShadowDiff::default();
    for rule in Rule::ALL {
        let count = |v: &[JourneyAlert]| {
            v.iter()
                .filter(|a| a.rule == rule && a.status == AlertStatus::Open)
                .count()
        };
        d.per_rule.insert(rule, (count(&now), count(&then)));
    }
    for a in &then {
        match now_ix.get(&a.alert_id) {
            None => d.appear.push(a.clone()),
            Some(old) if old != a => d.changed.push((old.clone(), a.clone())),
            Some(_) => {}
        }
    }
    d.disappear = now
        .iter()
        .filter(|a| !then_ix.contains_key(&a.alert_id))
        .cloned()
        .collect();
    d
}

fn line(sign: char, a: &JourneyAlert) -> String {
    let status = if a.status == AlertStatus::Resolved {
        " [resolution]"
    } else {
        ""
    };
    format!(
        "{sign} {:<18} {:<21} {}{status}: {}\n",
        a.rule.as_str(),
        a.customer_id,
        a.alert_id,
        a.summary
    )
}

impl ShadowDiff {
    pub fn is_empty(&self) -> bool {
        self.appear.is_empty() && self.disappear.is_empty() && self.changed.is_empty()
    }

    /// The report: one line per alert that appears (`+`), disappears (`-`)
    /// or changes (`~`), with rule, customer, id and summary; then the counts per rule.
    pub fn render(&self, candidate: &str) -> String {
        let mut s = format!(
            "shadow mode: candidate rules {candidate}: {} alerts appear, {} disappear, {} change\n",
            self.appear.len(),
            self.disappear.len(),
            self.changed.len()
        );
        if self.is_empty() {
            s.push_str("no alert would change\n");
        }
        for a in &self.appear {
            s.push_str(&line('+', a));
        }
        for a in &self.disappear {
            s.push_str(&line('-', a));
        }
        for (old, new) in &self.changed {
            s.push_str(&line('~', new));
            let _ = writeln!(
                s,
                "    was: severity {:?}, owner {}: {}",
                old.severity, old.owner, old.summary
            );
        }
        s.push_str("alerts per rule (open): current → candidate\n");
        for (rule, (now, then)) in &self.per_rule {
            if now + then > 0 {
                let _ = writeln!(
                    s,
                    "  {:<18} {now:>5} → {then:<5} ({:+})",
                    rule.as_str(),
                    *then as i64 - *now as i64
                );
            }
        }
        s
    }
}
