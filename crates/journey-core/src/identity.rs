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
    /// Values that never link anyone (compared after normalisation), e.g. a
    /// shop's shared mailbox.
    pub blocked_values: Vec<String>,
    /// A link that would make a customer hold more identifiers than this is refused.
    pub max_cluster_size: usize,
}

impl Default for IdentityPolicy {
    fn default() -> Self {
        IdentityPolicy {
            unique_types: vec![IdType::CustomerNumber, IdType::LoyaltyId, IdType::UserId],
            blocked_values: Vec::new(),
            max_cluster_size: 64,
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
    }
}

/// Identifiers that link nothing in this set of events: blocked values, and
/// non-unique values seen together with two different values of one unique type.
pub fn contested(events: &[&JourneyEvent], policy: &IdentityPolicy) -> BTreeSet<Identifier> {
    let mut seen_with: BTreeMap<&Identifier, BTreeMap<IdType, BTreeSet<&str>>> = BTreeMap::new();
    let mut out = BTreeSet::new();
    for e in events {
        for id in &e.identifiers {
            if policy.is_blocked(id) {
                out.insert(id.clone());
                continue;
            }
            if policy.is_unique(id.id_type) {
                continue;
            }
            let entry = seen_with.entry(id).or_default();
            for u in e.identifiers.iter().filter(|u| policy.is_unique(u.id_type)) {
                entry.entry(u.id_type).or_default().insert(u.value.as_str());
            }
        }
    }
    for (id, by_type) in seen_with {
        if by_type.values().any(|values| values.len() > 1) {
            out.insert(id.clone());
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
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UniqueConflict => "unique_conflict",
            Refusal::ClusterTooLarge => "cluster_too_large",
        }
    }
}

/// What adding one event did to the graph.
#[derive(Debug, Default)]
pub struct LinkOutcome {
    /// The node (cluster root) the event belongs to.
    pub root: usize,
    /// Clusters that were joined: `(absorbed root, surviving root)`.
    pub joined: Vec<(usize, usize)>,
    pub refused: Vec<Refusal>,
}

/// Union-find over identifiers with guards.
#[derive(Debug)]
pub struct IdentityGraph<'p> {
    policy: &'p IdentityPolicy,
    contested: BTreeSet<Identifier>,
    index: BTreeMap<Identifier, usize>,
    nodes: Vec<Identifier>,
    parent: Vec<usize>,
    /// Per root: the members.
    members: Vec<Vec<usize>>,
}

impl<'p> IdentityGraph<'p> {
    pub fn new(policy: &'p IdentityPolicy, contested: BTreeSet<Identifier>) -> Self {
        IdentityGraph {
            policy,
            contested,
            index: BTreeMap::new(),
            nodes: Vec::new(),
            parent: Vec::new(),
            members: Vec::new(),
        }
    }

    fn node(&mut self, id: &Identifier) -> usize {
        if let Some(&n) = self.index.get(id) {
            return n;
        }
        let n = self.nodes.len();
        self.nodes.push(id.clone());
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

    fn conflict(&self, a: usize, b: usize) -> Option<Refusal> {
        if self.members[a].len() + self.members[b].len() > self.policy.max_cluster_size {
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
        ua.iter()
            .any(|(t, v)| ub.get(t).is_some_and(|w| w != v))
            .then_some(Refusal::UniqueConflict)
    }

    /// Adds the event's identifiers and applies the links it carries.
    pub fn add_event(&mut self, event: &JourneyEvent) -> LinkOutcome {
        let mut out = LinkOutcome::default();
        let nodes: Vec<usize> = event.identifiers.iter().map(|id| self.node(id)).collect();
        let linkable: Vec<usize> = nodes
            .iter()
            .zip(&event.identifiers)
            .filter(|(_, id)| !self.contested.contains(*id))
            .map(|(&n, _)| n)
            .collect();
        for pair in linkable.windows(2) {
            let (a, b) = (self.find(pair[0]), self.find(pair[1]));
            if a == b {
                continue;
            }
            if let Some(r) = self.conflict(a, b) {
                out.refused.push(r);
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
            .find(|(_, id)| !self.contested.contains(*id))
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
        assert!(c.contains(&Identifier::new(IdType::Phone, "+4930")));
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
        assert_eq!(out.refused, vec![Refusal::UniqueConflict]);
        assert_ne!(g.find(r1), g.find(r2));
    }
}
