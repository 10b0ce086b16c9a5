//! The stitching fold: identity, journeys, rules and handovers over a set of
//! events taken in `(event_time, event_id)` order. This is the specification
//! of the product's logic: the oracle runs it over a whole input, the stitch
//! stage over one identity component at a time. Both give the same result
//! because nothing in the fold crosses component boundaries.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::handover::handover;
use crate::identity::{self, IdentityGraph, IdentityPolicy, Refusal};
use crate::ids;
use crate::journey::{CustomerJourney, Journey};
use crate::model::{Handover, IdType, JourneyAlert, JourneyEvent, MergeKind, MergeRecord};
use crate::rules::{self, RulesConfig, TimerKind};

/// The logic's configuration: identity guards and rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StitchConfig {
    pub identity: IdentityPolicy,
    pub rules: RulesConfig,
}

/// A link the identity guards refused (goes to review, counted per guard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedLink {
    pub event_id: String,
    pub reason: Refusal,
}

/// Everything the fold decided.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FoldOutput {
    pub customers: Vec<CustomerJourney>,
    pub handovers: Vec<Handover>,
    pub alerts: Vec<JourneyAlert>,
    pub merges: Vec<MergeRecord>,
    pub refused_links: Vec<RefusedLink>,
}

impl FoldOutput {
    /// Puts every list in its canonical order (by time, then id).
    pub fn sort(&mut self) {
        self.customers
            .sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        self.handovers.sort_by(|a, b| {
            (a.trigger.event_time_ms, &a.handover_id)
                .cmp(&(b.trigger.event_time_ms, &b.handover_id))
        });
        self.alerts
            .sort_by(|a, b| (a.fired_at_ms, &a.alert_id).cmp(&(b.fired_at_ms, &b.alert_id)));
        self.merges
            .sort_by(|a, b| (a.event_time_ms, &a.merge_id).cmp(&(b.event_time_ms, &b.merge_id)));
        self.refused_links
            .sort_by(|a, b| (&a.event_id, a.reason).cmp(&(&b.event_id, b.reason)));
    }

    pub fn extend(&mut self, other: FoldOutput) {
        self.customers.extend(other.customers);
        self.handovers.extend(other.handovers);
        self.alerts.extend(other.alerts);
        self.merges.extend(other.merges);
        self.refused_links.extend(other.refused_links);
    }
}

struct Customer {
    id: String,
    journey: Journey,
}

/// Folds `events` (any order; duplicates by `event_id` are applied once) with
/// event-time timers firing up to `watermark_ms`.
pub fn fold(events: &[JourneyEvent], watermark_ms: i64, cfg: &StitchConfig) -> FoldOutput {
    let mut order: Vec<&JourneyEvent> = events.iter().collect();
    order.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    // One delivery per event id: the latest source update wins.
    let mut best: std::collections::HashMap<&str, &JourneyEvent> = std::collections::HashMap::new();
    for e in order.iter().copied() {
        match best.get(e.event_id.as_str()) {
            Some(held) if !e.supersedes(held) => {}
            _ => {
                best.insert(e.event_id.as_str(), e);
            }
        }
    }
    order.retain(|e| std::ptr::eq(*e, best[e.event_id.as_str()]));

    let mut graph = IdentityGraph::new(&cfg.identity, identity::contested(&order, &cfg.identity));
    let mut customers: BTreeMap<usize, Customer> = BTreeMap::new();
    // (due, kind, the event that armed it, a node of the customer that holds it)
    let mut timers: BTreeSet<Timer> = BTreeSet::new();
    let mut out = FoldOutput::default();

    for e in order {
        fire_timers(
            &mut timers,
            e.event_time_ms - 1,
            &mut graph,
            &mut customers,
            cfg,
            &mut out,
        );
        if e.identifiers.is_empty() {
            continue;
        }
        let link = graph.add_event(e);
        let root = link.root;
        out.refused_links
            .extend(link.refused.iter().map(|&reason| RefusedLink {
                event_id: e.event_id.clone(),
                reason,
            }));

        // Gather every earlier customer that now lives in `root`.
        let mut parts: Vec<Customer> = link
            .joined
            .iter()
            .filter_map(|(gone, _)| customers.remove(gone))
            .collect();
        parts.extend(customers.remove(&root));
        parts.sort_by(|a, b| a.id.cmp(&b.id));
        let id = identity::customer_id(graph.best(root));
        let mut journey = Journey::default();
        let joined_several = parts.len() > 1;
        for part in parts {
            if part.id != id {
                let rule = if joined_several {
                    "shared_identifier"
                } else {
                    "better_identifier"
                };
                out.merges.push(merge_record(&id, &part.id, e, rule));
            }
            journey.absorb(part.journey);
        }

        let linked_by = linked_by(&graph, root);
        if let Some(h) = handover(&cfg.rules, &journey, e, &id, linked_by) {
            out.handovers.push(h);
        }
        journey.apply(e);
        out.alerts
            .extend(rules::on_event(&cfg.rules, &mut journey, e, &id));
        for (due, kind) in rules::timers_for(&cfg.rules, e) {
            timers.insert((due, kind, e.event_id.clone(), root));
        }
        customers.insert(root, Customer { id, journey });
    }
    fire_timers(
        &mut timers,
        watermark_ms,
        &mut graph,
        &mut customers,
        cfg,
        &mut out,
    );

    out.customers = customers
        .into_iter()
        .map(|(root, c)| CustomerJourney {
            customer_id: c.id,
            identifiers: graph.identifiers(root),
            open_issues: c.journey.open_issues(),
            pending_promises: c.journey.pending_promises(watermark_ms),
            last_score: c.journey.last_score.map(|(_, s)| s),
            touchpoints: c.journey.touchpoints,
        })
        .collect();
    out.sort();
    out
}

/// An armed event-time timer: due time, kind, the event that armed it and a
/// node of the customer that holds it (found again through identity merges).
type Timer = (i64, TimerKind, String, usize);

/// Fires the timers due at or before `upto_ms`, in `(due, kind, event id)` order.
fn fire_timers(
    timers: &mut BTreeSet<Timer>,
    upto_ms: i64,
    graph: &mut IdentityGraph<'_>,
    customers: &mut BTreeMap<usize, Customer>,
    cfg: &StitchConfig,
    out: &mut FoldOutput,
) {
    while timers.first().is_some_and(|t| t.0 <= upto_ms) {
        let Some((due, kind, event_id, anchor)) = timers.pop_first() else {
            break;
        };
        let Some(customer) = customers.get_mut(&graph.find(anchor)) else {
            continue;
        };
        if let Some(a) = rules::on_timer(
            &cfg.rules,
            &mut customer.journey,
            kind,
            due,
            &event_id,
            &customer.id,
        ) {
            out.alerts.push(a);
        }
    }
}

/// The earliest timer of `events` due after `watermark_ms` — promise due
/// times, checkout windows and service levels alike: when the stitch stage
/// must fold the component again even if no event arrives.
pub fn next_due(events: &[JourneyEvent], watermark_ms: i64, cfg: &StitchConfig) -> Option<i64> {
    rules::next_due(events, watermark_ms, &cfg.rules)
}

fn linked_by(graph: &IdentityGraph<'_>, root: usize) -> Vec<IdType> {
    let mut types: Vec<IdType> = graph
        .identifiers(root)
        .into_iter()
        .map(|i| i.id_type)
        .collect();
    types.dedup();
    types
}

fn merge_record(winner: &str, loser: &str, e: &JourneyEvent, rule: &str) -> MergeRecord {
    MergeRecord {
        merge_id: ids::id("mg", &["merge", winner, loser, &e.event_id]),
        kind: MergeKind::Merge,
        winner: winner.to_string(),
        loser: loser.to_string(),
        event_id: e.event_id.clone(),
        event_time_ms: e.event_time_ms,
        identifiers: e.identifiers.clone(),
        rule: rule.to_string(),
    }
}
