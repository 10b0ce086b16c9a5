//! The stitching fold: identity, journeys, rules and handovers over a set of
//! events taken in `(event_time, event_id)` order. This is the specification
//! of the product's logic: the oracle runs it over a whole input, the stitch
//! stage over one identity component at a time. Both give the same result
//! because nothing in the fold crosses component boundaries.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::handover::handover;
use crate::identity::{self, Contest, IdentityGraph, IdentityPolicy, Refusal, Refused};
use crate::ids;
use crate::journey::{CustomerJourney, Journey};
use crate::model::{
    Handover, IdType, Identifier, IdentityReview, JourneyAlert, JourneyEvent, MergeKind,
    MergeRecord, Unmerge,
};
use crate::rules::{self, RulesConfig, TimerKind};

/// The logic's configuration: identity guards and rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StitchConfig {
    pub identity: IdentityPolicy,
    pub rules: RulesConfig,
    pub lateness: Lateness,
}

/// `[lateness]`: how late an event may arrive and still join its journey.
/// Journeys are not windowed: an event within this bound joins in event-time
/// order and corrects earlier outputs. One older than the stitch partition's
/// watermark minus this bound goes to the late-events topic instead (counted).
/// Arrival order decides this, so the oracle, which has no arrival, never
/// applies it: the one documented exception to "pipeline = oracle".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Lateness {
    pub allowed_hours: i64,
}

impl Default for Lateness {
    fn default() -> Self {
        Lateness {
            allowed_hours: 30 * 24,
        }
    }
}

impl Lateness {
    /// Whether an event at `event_time_ms` is too late under `watermark_ms`.
    pub fn too_late(&self, event_time_ms: i64, watermark_ms: i64) -> bool {
        watermark_ms != i64::MIN
            && event_time_ms
                < watermark_ms.saturating_sub(self.allowed_hours.saturating_mul(3_600_000))
    }
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
    /// Refused links and values that link nothing, for the quarantine topic.
    pub reviews: Vec<IdentityReview>,
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
        self.reviews
            .sort_by(|a, b| (a.event_time_ms, &a.review_id).cmp(&(b.event_time_ms, &b.review_id)));
    }

    pub fn extend(&mut self, other: FoldOutput) {
        self.customers.extend(other.customers);
        self.handovers.extend(other.handovers);
        self.alerts.extend(other.alerts);
        self.merges.extend(other.merges);
        self.refused_links.extend(other.refused_links);
        self.reviews.extend(other.reviews);
    }
}

struct Customer {
    id: String,
    journey: Journey,
}

/// Folds `events` (any order; duplicates by `event_id` are applied once) with
/// event-time timers firing up to `watermark_ms`.
pub fn fold(events: &[JourneyEvent], watermark_ms: i64, cfg: &StitchConfig) -> FoldOutput {
    fold_with(events, &[], watermark_ms, cfg)
}

/// [`fold`] under operator unmerges: each keeps its two identifiers in
/// different customers, whenever in the order their link would come.
pub fn fold_with(
    events: &[JourneyEvent],
    unmerges: &[Unmerge],
    watermark_ms: i64,
    cfg: &StitchConfig,
) -> FoldOutput {
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

    let contested = identity::contested(&order, &cfg.identity);
    let mut graph = IdentityGraph::new(&cfg.identity, contested.clone());
    for u in unmerges {
        graph.sever(&u.a, &u.b);
    }
    let mut reviews = Reviews::default();
    // Unmerges that kept at least one link apart.
    let mut effective: BTreeSet<usize> = BTreeSet::new();
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
        for r in &link.refused {
            out.refused_links.push(RefusedLink {
                event_id: e.event_id.clone(),
                reason: r.reason,
            });
            if r.reason == Refusal::Unmerged {
                effective.extend(
                    unmerges
                        .iter()
                        .enumerate()
                        .filter_map(|(i, u)| separates(&mut graph, u, r).then_some(i)),
                );
            } else {
                reviews.refused(&mut graph, e, r, &cfg.identity);
            }
        }
        for id in &e.identifiers {
            if let Some(c @ (Contest::Contested | Contest::Hub)) = contested.get(id) {
                reviews.value(id, *c, e, root);
            }
        }

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

    for i in effective {
        out.merges.push(split_record(&mut graph, &unmerges[i]));
    }
    out.reviews = reviews.finish(&mut graph);
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

/// Whether unmerge `u` is what kept the two sides of refusal `r` apart.
fn separates(graph: &mut IdentityGraph<'_>, u: &Unmerge, r: &Refused) -> bool {
    let root_of =
        |graph: &mut IdentityGraph<'_>, id: &Identifier| graph.lookup(id).map(|n| graph.find(n));
    let (a, b) = (root_of(graph, &u.a), root_of(graph, &u.b));
    (a == Some(r.a) && b == Some(r.b)) || (a == Some(r.b) && b == Some(r.a))
}

/// The split an effective unmerge emits on the merges topic: the customer
/// that holds `a` stays, the one that holds `b` is split off.
fn split_record(graph: &mut IdentityGraph<'_>, u: &Unmerge) -> MergeRecord {
    let mut customer_of = |id: &Identifier| match graph.lookup(id) {
        Some(n) => {
            let root = graph.find(n);
            identity::customer_id(graph.best(root))
        }
        None => identity::customer_id(id),
    };
    let winner = customer_of(&u.a);
    let loser = customer_of(&u.b);
    MergeRecord {
        merge_id: ids::id("mg", &["split", &u.control_id]),
        kind: MergeKind::Split,
        winner,
        loser,
        event_id: u.control_id.clone(),
        event_time_ms: u.issued_ms,
        identifiers: vec![u.a.clone(), u.b.clone()],
        rule: "unmerge".to_string(),
    }
}

/// Review records collected during a fold, one per decision: the first event
/// (canonical order) that met it names it.
#[derive(Default)]
struct Reviews {
    by_id: BTreeMap<String, IdentityReview>,
    /// Contested value → review id and the roots of the events carrying it.
    values: BTreeMap<Identifier, (String, BTreeSet<usize>)>,
}

impl Reviews {
    fn refused(
        &mut self,
        graph: &mut IdentityGraph<'_>,
        e: &JourneyEvent,
        r: &Refused,
        policy: &IdentityPolicy,
    ) {
        let mut customers = vec![
            identity::customer_id(graph.best(r.a)),
            identity::customer_id(graph.best(r.b)),
        ];
        customers.sort();
        let review_id = ids::id("rv", &[r.reason.as_str(), &customers[0], &customers[1]]);
        if self.by_id.contains_key(&review_id) {
            return;
        }
        let identifiers: Vec<Identifier> = e
            .identifiers
            .iter()
            .filter(|id| {
                graph.lookup(id).is_some_and(|n| {
                    let root = graph.find(n);
                    root == r.a || root == r.b
                })
            })
            .cloned()
            .collect();
        let summary = match r.reason {
            Refusal::UniqueConflict => {
                "link refused: the two customers hold different values of a unique identifier type"
                    .to_string()
            }
            Refusal::ClusterTooLarge => format!(
                "link refused: the merged customer would hold more than {} identifiers",
                policy.max_cluster_size
            ),
            Refusal::TypeCap => {
                "link refused: the merged customer would hold more values of one identifier type than its cap"
                    .to_string()
            }
            Refusal::Unmerged => "link refused: an operator unmerged these customers".to_string(),
        };
        self.by_id.insert(
            review_id.clone(),
            IdentityReview {
                review_id,
                reason: r.reason.as_str().to_string(),
                event_id: e.event_id.clone(),
                event_time_ms: e.event_time_ms,
                customers,
                identifiers,
                summary,
            },
        );
    }

    fn value(&mut self, id: &Identifier, why: Contest, e: &JourneyEvent, root: usize) {
        if let Some((_, roots)) = self.values.get_mut(id) {
            roots.insert(root);
            return;
        }
        let review_id = ids::id("rv", &[why.as_str(), id.id_type.as_str(), &id.value]);
        let summary = match why {
            Contest::Hub => format!(
                "{} value seen next to too many other identifiers: treated as a hub, links nothing",
                id.id_type.as_str()
            ),
            _ => format!(
                "{} value seen next to different values of a unique identifier type: links nothing",
                id.id_type.as_str()
            ),
        };
        self.by_id.insert(
            review_id.clone(),
            IdentityReview {
                review_id: review_id.clone(),
                reason: why.as_str().to_string(),
                event_id: e.event_id.clone(),
                event_time_ms: e.event_time_ms,
                customers: Vec::new(),
                identifiers: vec![id.clone()],
                summary,
            },
        );
        self.values
            .insert(id.clone(), (review_id, BTreeSet::from([root])));
    }

    fn finish(mut self, graph: &mut IdentityGraph<'_>) -> Vec<IdentityReview> {
        for (review_id, roots) in self.values.into_values() {
            let mut customers: Vec<String> = roots
                .into_iter()
                .filter(|&r| r != usize::MAX)
                .map(|r| {
                    let root = graph.find(r);
                    identity::customer_id(graph.best(root))
                })
                .collect();
            customers.sort();
            customers.dedup();
            if let Some(review) = self.by_id.get_mut(&review_id) {
                review.customers = customers;
            }
        }
        self.by_id.into_values().collect()
    }
}
