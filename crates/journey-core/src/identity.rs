//! Who is it? The identity graph of one component: identifiers are nodes,
//! every event links the identifiers it carries, links chain transitively,
//! and the [`IdentityPolicy`] guards refuse links that would put two people
//! into one customer.
//!
//! The graph is fed events in canonical `(event_time, event_id)` order by
//! [`crate::fold`]. Values that are *contested* — seen next to two different
//! values of a unique identifier type anywhere in the component (a household
//! phone next to two customer numbers) — are known before the fold starts and
//! link nothing, so the result does not depend on which event came first.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{IdType, Identifier, JourneyEvent};

/// The guards against over-merging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityPolicy {
    /// Identifier types a customer has at most one value of: a second,
    /// different value never merges two customers.
    pub unique_types: Vec<IdType>,
    /// Types households share (a landline): a value of such a type seen
    /// next to two different emails is contested too, not only next to two
    /// values of a unique type. Precision first: a person with two emails
    /// and one phone then needs other evidence to join them.
    pub household_types: Vec<IdType>,
    /// Values that never link anyone (compared after normalisation), e.g. a
    /// shop's shared mailbox.
    pub blocked_values: Vec<String>,
    /// Patterns of values that never link anyone: `*` matches any run of
    /// characters, `?` one character, case-insensitive (e.g. `info@*`,
    /// `*@test.example`, `+4900000*`).
    pub blocked_patterns: Vec<String>,
    /// At most this many values of a type per customer (e.g. 5 emails),
    /// optionally counting only values first seen within a window.
    pub caps: BTreeMap<IdType, TypeCap>,
    /// A link that would make a customer hold more identifiers than this is refused.
    pub max_cluster_size: usize,
    /// Hub detection: a non-unique value seen next to more than this many
    /// distinct other identifiers (anonymous ids not counted) in one
    /// component links nothing and goes to review. 0 turns it off.
    pub max_degree: usize,
}

/// A cap on the values of one identifier type a customer may hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeCap {
    pub max: usize,
    /// Count only values first seen within this many hours before the link.
    #[serde(default)]
    pub window_hours: Option<i64>,
}

impl Default for IdentityPolicy {
    fn default() -> Self {
        let cap = |max| TypeCap {
            max,
            window_hours: None,
        };
        IdentityPolicy {
            unique_types: vec![IdType::CustomerNumber, IdType::LoyaltyId, IdType::UserId],
            household_types: vec![IdType::Phone],
            blocked_values: Vec::new(),
            blocked_patterns: Vec::new(),
            caps: [
                (IdType::Email, cap(5)),
                (IdType::Phone, cap(5)),
                (IdType::DeviceId, cap(10)),
            ]
            .into_iter()
            .collect(),
            max_cluster_size: 64,
            max_degree: 32,
        }
    }
}

impl IdentityPolicy {
    fn is_unique(&self, t: IdType) -> bool {
        self.unique_types.contains(&t)
    }

    fn is_blocked(&self, id: &Identifier) -> bool {
        self.blocked_values
            .iter()
            .any(|b| b.eq_ignore_ascii_case(&id.value))
            || self
                .blocked_patterns
                .iter()
                .any(|p| wildmatch::WildMatch::new_case_insensitive(p).matches(&id.value))
    }

    /// Problems with the policy, each naming its field.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_cluster_size < 2 {
            problems.push("field `identity.max_cluster_size`: must be at least 2".to_string());
        }
        for (t, cap) in &self.caps {
            if cap.max == 0 {
                problems.push(format!(
                    "identity.caps.{}.max: must be at least 1",
                    t.as_str()
                ));
            }
            if cap.window_hours.is_some_and(|w| w <= 0) {
                problems.push(format!(
                    "field `identity.caps.{}.window_hours`: must be positive",
                    t.as_str()
                ));
            }
            if self.is_unique(*t) {
                problems.push(format!(
                    "field `identity.caps.{}`: the type is unique already (`unique_types`)",
                    t.as_str()
                ));
            }
        }
        for p in &self.blocked_patterns {
            if p.trim().is_empty() || p.chars().all(|c| c == '*' || c == '?') {
                problems.push(format!(
                    "field `identity.blocked_patterns`: `{p}` would block every value"
                ));
            }
        }
        problems
    }
}

/// Why a value links nothing in a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Contest {
    /// On the blocklist (values or patterns).
    Blocked,
    /// Seen next to two different values of a unique type (a household phone).
    Contested,
    /// Seen next to more than `max_degree` other identifiers.
    Hub,
}

impl Contest {
    pub fn as_str(self) -> &'static str {
        match self {
            Contest::Blocked => "blocked_value",
            Contest::Contested => "contested_value",
            Contest::Hub => "hub_value",
        }
    }
}

/// Identifiers that link nothing in this set of events, and why: blocked
/// values, non-unique values seen together with two different values of one
/// unique type (or, for household types, two different emails), and hubs. Depends only on the set, not on its order.
pub fn contested(
    events: &[&JourneyEvent],
    policy: &IdentityPolicy,
) -> BTreeMap<Identifier, Contest> {
    let mut seen_with: BTreeMap<&Identifier, BTreeMap<IdType, BTreeSet<&str>>> = BTreeMap::new();
    let mut neighbours: BTreeMap<&Identifier, BTreeSet<&Identifier>> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for e in events {
        for id in &e.identifiers {
            if policy.is_blocked(id) {
                out.insert(id.clone(), Contest::Blocked);
                continue;
            }
            if policy.is_unique(id.id_type) {
                continue;
            }
            let household = policy.household_types.contains(&id.id_type);
            let entry = seen_with.entry(id).or_default();
            for u in e.identifiers.iter().filter(|u| {
                policy.is_unique(u.id_type) || (household && u.id_type == IdType::Email)
            }) {
                entry.entry(u.id_type).or_default().insert(u.value.as_str());
            }
            if policy.max_degree > 0 {
                let n = neighbours.entry(id).or_default();
                n.extend(
                    e.identifiers
                        .iter()
                        .filter(|o| *o != id && o.id_type != IdType::AnonymousId),
                );
            }
        }
    }
    for (id, by_type) in seen_with {
        if out.contains_key(id) {
            continue;
        }
        if by_type.values().any(|values| values.len() > 1) {
            out.insert(id.clone(), Contest::Contested);
        } else if policy.max_degree > 0
            && neighbours
                .get(id)
                .is_some_and(|n| n.len() > policy.max_degree)
        {
            out.insert(id.clone(), Contest::Hub);
        }
    }
    out
}

/// Why a link was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// The two customers hold different values of a unique identifier type.
    UniqueConflict,
    /// The merged customer would exceed `max_cluster_size`.
    ClusterTooLarge,
    /// The merged customer would hold more values of a type than its cap.
    TypeCap,
    /// An operator unmerged these identifiers.
    Unmerged,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UniqueConflict => "unique_conflict",
            Refusal::ClusterTooLarge => "cluster_too_large",
            Refusal::TypeCap => "type_cap",
            Refusal::Unmerged => "unmerged",
        }
    }
}

/// A link the guards refused: why, and the roots of the two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub reason: Refusal,
    pub a: usize,
    pub b: usize,
}

/// What adding one event did to the graph.
#[derive(Debug, Default)]
pub struct LinkOutcome {
    /// The node (cluster root) the event belongs to.
    pub root: usize,
    /// Clusters that were joined: `(absorbed root, surviving root)`.
    pub joined: Vec<(usize, usize)>,
    pub refused: Vec<Refused>,
}

/// Union-find over identifiers with guards.
#[derive(Debug)]
pub struct IdentityGraph<'p> {
    policy: &'p IdentityPolicy,
    contested: BTreeMap<Identifier, Contest>,
    /// Operator unmerges: identifier → the identifiers it must never share a customer with.
    severed: BTreeMap<Identifier, BTreeSet<Identifier>>,
    index: BTreeMap<Identifier, usize>,
    nodes: Vec<Identifier>,
    /// Event time each node was first seen (canonical order: the earliest).
    first_seen: Vec<i64>,
    parent: Vec<usize>,
    /// Per root: the members.
    members: Vec<Vec<usize>>,
}

impl<'p> IdentityGraph<'p> {
    pub fn new(policy: &'p IdentityPolicy, contested: BTreeMap<Identifier, Contest>) -> Self {
        IdentityGraph {
            policy,
            contested,
            severed: BTreeMap::new(),
            index: BTreeMap::new(),
            nodes: Vec::new(),
            first_seen: Vec::new(),
            parent: Vec::new(),
            members: Vec::new(),
        }
    }

    /// Adds an operator unmerge: `a` and `b` never end up in one customer.
    pub fn sever(&mut self, a: &Identifier, b: &Identifier) {
        self.severed.entry(a.clone()).or_default().insert(b.clone());
        self.severed.entry(b.clone()).or_default().insert(a.clone());
    }

    fn node(&mut self, id: &Identifier, time_ms: i64) -> usize {
        if let Some(&n) = self.index.get(id) {
            return n;
        }
        let n = self.nodes.len();
        self.nodes.push(id.clone());
        self.first_seen.push(time_ms);
        self.parent.push(n);
        self.members.push(vec![n]);
        self.index.insert(id.clone(), n);
        n
    }

    pub fn find(&mut self, mut n: usize) -> usize {
        while self.parent[n] != n {
            self.parent[n] = self.parent[self.parent[n]];
            n = self.parent[n];
        }
        n
    }

    /// The node of an identifier already in the graph.
    pub fn lookup(&self, id: &Identifier) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Why `id` links nothing, if it does not.
    pub fn contest(&self, id: &Identifier) -> Option<Contest> {
        self.contested.get(id).copied()
    }

    /// The identifiers of the cluster rooted at `root`, sorted by priority.
    pub fn identifiers(&self, root: usize) -> Vec<Identifier> {
        let mut ids: Vec<Identifier> = self.members[root]
            .iter()
            .map(|&n| self.nodes[n].clone())
            .collect();
        ids.sort();
        ids
    }

    /// The highest-priority identifier of the cluster: it names the customer.
    pub fn best(&self, root: usize) -> &Identifier {
        self.members[root]
            .iter()
            .map(|&n| &self.nodes[n])
            .min()
            .unwrap_or(&self.nodes[root])
    }

    fn conflict(&self, a: usize, b: usize, now_ms: i64) -> Option<Refusal> {
        let (ma, mb) = (&self.members[a], &self.members[b]);
        if !self.severed.is_empty() {
            let (small, large) = if ma.len() <= mb.len() {
                (ma, mb)
            } else {
                (mb, ma)
            };
            let severed = small.iter().any(|&n| {
                self.severed.get(&self.nodes[n]).is_some_and(|others| {
                    others
                        .iter()
                        .any(|o| self.index.get(o).is_some_and(|m| large.contains(m)))
                })
            });
            if severed {
                return Some(Refusal::Unmerged);
            }
        }
        if ma.len() + mb.len() > self.policy.max_cluster_size {
            return Some(Refusal::ClusterTooLarge);
        }
        let unique_of = |root: usize| -> BTreeMap<IdType, &str> {
            self.members[root]
                .iter()
                .map(|&n| &self.nodes[n])
                .filter(|id| self.policy.is_unique(id.id_type))
                .map(|id| (id.id_type, id.value.as_str()))
                .collect()
        };
        let (ua, ub) = (unique_of(a), unique_of(b));
        if ua.iter().any(|(t, v)| ub.get(t).is_some_and(|w| w != v)) {
            return Some(Refusal::UniqueConflict);
        }
        for (t, cap) in &self.policy.caps {
            let since = cap
                .window_hours
                .map_or(i64::MIN, |h| now_ms.saturating_sub(h * 3_600_000));
            let held = ma
                .iter()
                .chain(mb.iter())
                .filter(|&&n| self.nodes[n].id_type == *t && self.first_seen[n] >= since)
                .count();
            if held > cap.max {
                return Some(Refusal::TypeCap);
            }
        }
        None
    }

    /// Adds the event's identifiers and applies the links it carries.
    pub fn add_event(&mut self, event: &JourneyEvent) -> LinkOutcome {
        let mut out = LinkOutcome::default();
        let t = event.event_time_ms;
        let nodes: Vec<usize> = event
            .identifiers
            .iter()
            .map(|id| self.node(id, t))
            .collect();
        let linkable: Vec<usize> = nodes
            .iter()
            .zip(&event.identifiers)
            .filter(|(_, id)| !self.contested.contains_key(*id))
            .map(|(&n, _)| n)
            .collect();
        for pair in linkable.windows(2) {
            let (a, b) = (self.find(pair[0]), self.find(pair[1]));
            if a == b {
                continue;
            }
            if let Some(reason) = self.conflict(a, b, t) {
                out.refused.push(Refused { reason, a, b });
                continue;
            }
            // The surviving root is the one holding the better identifier, so
            // that roots are stable names.
            let (keep, gone) = if self.best(a) <= self.best(b) {
                (a, b)
            } else {
                (b, a)
            };
            self.parent[gone] = keep;
            let moved = std::mem::take(&mut self.members[gone]);
            self.members[keep].extend(moved);
            out.joined.push((gone, keep));
        }
        // The event belongs to the cluster of its highest-priority identifier
        // (identifiers are sorted by priority; contested ones last resort).
        let first = nodes
            .iter()
            .zip(&event.identifiers)
            .find(|(_, id)| !self.contested.contains_key(*id))
            .or_else(|| nodes.iter().zip(&event.identifiers).next())
            .map(|(&n, _)| n);
        out.root = match first {
            Some(n) => self.find(n),
            None => usize::MAX,
        };
        // Joins recorded before later joins may name roots that were absorbed
        // again; resolve them to the final root.
        for j in &mut out.joined {
            j.1 = self.find(j.1);
        }
        out
    }
}

/// The customer id for a cluster named by its best identifier.
pub fn customer_id(best: &Identifier) -> String {
    crate::ids::id("cust", &[best.id_type.as_str(), &best.value])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Activity, Channel};

    fn ev(id: &str, ids: &[(IdType, &str)]) -> JourneyEvent {
        let ids = ids.iter().map(|(t, v)| Identifier::new(*t, *v)).collect();
        JourneyEvent::bare(id, Channel::Web, Activity::PageView, 0, ids)
    }

    #[test]
    fn links_chain_transitively() {
        let p = IdentityPolicy::default();
        let es = [
            ev("1", &[(IdType::Email, "a@x.de"), (IdType::Phone, "+491")]),
            ev("2", &[(IdType::Phone, "+491"), (IdType::AnonymousId, "c")]),
        ];
        let refs: Vec<&JourneyEvent> = es.iter().collect();
        let mut g = IdentityGraph::new(&p, contested(&refs, &p));
        let r1 = g.add_event(&es[0]).root;
        let r2 = g.add_event(&es[1]).root;
        assert_eq!(g.find(r1), r2);
        assert_eq!(g.identifiers(r2).len(), 3);
    }

    #[test]
    fn household_phone_is_contested_and_links_nothing() {
        let p = IdentityPolicy::default();
        let es = [
            ev(
                "1",
                &[(IdType::CustomerNumber, "1"), (IdType::Phone, "+4930")],
            ),
            ev(
                "2",
                &[(IdType::CustomerNumber, "2"), (IdType::Phone, "+4930")],
            ),
        ];
        let refs: Vec<&JourneyEvent> = es.iter().collect();
        let c = contested(&refs, &p);
        assert_eq!(
            c.get(&Identifier::new(IdType::Phone, "+4930")),
            Some(&Contest::Contested)
        );
        let mut g = IdentityGraph::new(&p, c);
        let r1 = g.add_event(&es[0]).root;
        let r2 = g.add_event(&es[1]).root;
        assert_ne!(g.find(r1), g.find(r2));
    }

    #[test]
    fn unique_conflict_through_a_chain_is_refused() {
        let p = IdentityPolicy::default();
        let es = [
            ev(
                "1",
                &[(IdType::CustomerNumber, "1"), (IdType::Email, "e@x.de")],
            ),
            ev(
                "2",
                &[(IdType::CustomerNumber, "2"), (IdType::Phone, "+4930")],
            ),
            ev("3", &[(IdType::Email, "e@x.de"), (IdType::Phone, "+4930")]),
        ];
        let refs: Vec<&JourneyEvent> = es.iter().collect();
        let mut g = IdentityGraph::new(&p, contested(&refs, &p));
        let r1 = g.add_event(&es[0]).root;
        let r2 = g.add_event(&es[1]).root;
        let out = g.add_event(&es[2]);
        assert_eq!(
            out.refused.iter().map(|r| r.reason).collect::<Vec<_>>(),
            vec![Refusal::UniqueConflict]
        );
        assert_ne!(g.find(r1), g.find(r2));
    }
}
