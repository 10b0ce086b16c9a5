//! The stitch stage's unit of state: one identity component (the events whose
//! identifiers are connected) and the ids and content hashes of what was
//! already emitted for it. After new events, a watermark step or a merge of
//! two components, [`ComponentState::evaluate`] re-folds the component and
//! returns only the outputs that are new or changed, so that re-delivered
//! input emits nothing twice and a late event emits corrections.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::fold::{fold_with, FoldOutput, StitchConfig};
use crate::ids::hash_parts;
use crate::model::{Handover, IdentityReview, JourneyAlert, JourneyEvent, MergeRecord, Unmerge};

/// Format version of the stored bytes; bump with a migration when it changes.
const VERSION: u8 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ComponentState {
    /// The component's events, in `(event_time, event_id)` order, each once.
    pub events: Vec<JourneyEvent>,
    /// Output id → hash of the content last emitted under it.
    pub emitted: BTreeMap<String, u64>,
    /// Emissions so far; each emission carries the next value as its revision,
    /// so the latest version of an output id is the one with the highest revision.
    #[serde(default)]
    pub revision: u64,
    /// Operator unmerges that reached this component, each once.
    #[serde(default)]
    pub unmerges: Vec<Unmerge>,
    /// Alert id → owner, for alerts emitted and not retracted: a retraction
    /// goes to the same (per-owner) topic as the alert.
    #[serde(default)]
    pub alert_owners: BTreeMap<String, String>,
}

/// An output to produce downstream.
#[derive(Debug, Clone, PartialEq)]
pub enum Emission {
    Handover(Handover),
    Alert(JourneyAlert),
    Merge(MergeRecord),
    Review(IdentityReview),
    /// An output emitted earlier that the component no longer produces (a
    /// late or re-routed event changed history): consumers drop this id.
    /// For an alert, `owner` names the owner it was emitted for.
    Retract {
        id: String,
        owner: Option<String>,
    },
}

/// One emission with its revision; `first` when its id was never emitted
/// before (else it corrects an earlier version).
#[derive(Debug, Clone, PartialEq)]
pub struct Emitted {
    pub emission: Emission,
    pub revision: u64,
    pub first: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown component state version {0}")]
    Version(u8),
    #[error("corrupt component state: {0}")]
    Corrupt(String),
}

impl ComponentState {
    /// Adds an event; `false` when this delivery changes nothing (an event
    /// with that id is here and the new one does not supersede it).
    pub fn add(&mut self, e: JourneyEvent) -> bool {
        if let Some(pos) = self.events.iter().position(|x| x.event_id == e.event_id) {
            if !e.supersedes(&self.events[pos]) {
                return false;
            }
            self.events.remove(pos);
        }
        let pos = self
            .events
            .partition_point(|x| x.order_key() < e.order_key());
        self.events.insert(pos, e);
        true
    }

    /// Adds an operator unmerge; `false` when the component has it already.
    pub fn add_unmerge(&mut self, u: Unmerge) -> bool {
        if self.unmerges.iter().any(|x| x.control_id == u.control_id) {
            return false;
        }
        let pos = self.unmerges.partition_point(|x| x < &u);
        self.unmerges.insert(pos, u);
        true
    }

    /// Takes in another component (identity joined them).
    pub fn absorb(&mut self, other: ComponentState) {
        for e in other.events {
            self.add(e);
        }
        for u in other.unmerges {
            self.add_unmerge(u);
        }
        for (id, hash) in other.emitted {
            self.emitted.entry(id).or_insert(hash);
        }
        for (id, owner) in other.alert_owners {
            self.alert_owners.entry(id).or_insert(owner);
        }
        self.revision = self.revision.max(other.revision);
    }

    /// Re-folds and returns the fold and the outputs that are new or changed,
    /// each with its revision.
    pub fn evaluate(
        &mut self,
        watermark_ms: i64,
        cfg: &StitchConfig,
    ) -> (FoldOutput, Vec<Emitted>) {
        let out = fold_with(&self.events, &self.unmerges, watermark_ms, cfg);
        let mut emit = Vec::new();
        for h in &out.handovers {
            if let Some(first) = self.changed(&h.handover_id, h) {
                emit.push(self.emitted(Emission::Handover(h.clone()), first));
            }
        }
        for a in &out.alerts {
            if let Some(first) = self.changed(&a.alert_id, a) {
                self.alert_owners
                    .insert(a.alert_id.clone(), a.owner.clone());
                emit.push(self.emitted(Emission::Alert(a.clone()), first));
            }
        }
        for m in &out.merges {
            if let Some(first) = self.changed(&m.merge_id, m) {
                emit.push(self.emitted(Emission::Merge(m.clone()), first));
            }
        }
        for r in &out.reviews {
            if let Some(first) = self.changed(&r.review_id, r) {
                emit.push(self.emitted(Emission::Review(r.clone()), first));
            }
        }
        let current: std::collections::BTreeSet<&str> = out
            .handovers
            .iter()
            .map(|h| h.handover_id.as_str())
            .chain(out.alerts.iter().map(|a| a.alert_id.as_str()))
            .chain(out.merges.iter().map(|m| m.merge_id.as_str()))
            .chain(out.reviews.iter().map(|r| r.review_id.as_str()))
            .collect();
        let vanished: Vec<String> = self
            .emitted
            .keys()
            .filter(|id| !current.contains(id.as_str()))
            .cloned()
            .collect();
        for id in vanished {
            self.emitted.remove(&id);
            let owner = self.alert_owners.remove(&id);
            emit.push(self.emitted(Emission::Retract { id, owner }, false));
        }
        (out, emit)
    }

    fn next_revision(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }

    fn emitted(&mut self, emission: Emission, first: bool) -> Emitted {
        Emitted {
            emission,
            revision: self.next_revision(),
            first,
        }
    }

    /// `None` when `id` was emitted with this content already, else whether
    /// this is its first emission.
    fn changed<T: Serialize>(&mut self, id: &str, value: &T) -> Option<bool> {
        let json = serde_json::to_string(value).unwrap_or_default();
        let hash = hash_parts(&[&json]);
        match self.emitted.insert(id.to_string(), hash) {
            Some(old) if old == hash => None,
            old => Some(old.is_none()),
        }
    }

    /// The earliest event-time timer (promise due, checkout window, reply
    /// service level, ...) after `watermark_ms`: when the component must be
    /// looked at again.
    pub fn next_timer(&self, watermark_ms: i64, cfg: &StitchConfig) -> Option<i64> {
        crate::fold::next_due(&self.events, watermark_ms, cfg)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        // Serialising plain data to a Vec cannot fail.
        out.extend(serde_json::to_vec(self).unwrap_or_default());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes.first() {
            Some(&VERSION) => {
                serde_json::from_slice(&bytes[1..]).map_err(|e| DecodeError::Corrupt(e.to_string()))
            }
            Some(&v) => Err(DecodeError::Version(v)),
            None => Err(DecodeError::Corrupt("empty value".into())),
        }
    }
}
