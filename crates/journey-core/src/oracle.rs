//! The oracle: the single-threaded reference semantics. It folds the whole
//! input, sorted by `(event_time, event_id)`, with the watermark at the
//! largest event time seen. The distributed pipeline must reach the same
//! customers, journeys, alerts, handovers and merges for any partition count,
//! instance count and arrival order (see ARCHITECTURE-NOTES, "The contract").

use std::collections::BTreeMap;

use crate::fold::{fold_with, FoldOutput, StitchConfig};
use crate::model::{Identifier, JourneyEvent, Unmerge};

/// The reference result for `events`.
pub fn oracle(events: &[JourneyEvent], cfg: &StitchConfig) -> FoldOutput {
    oracle_with(events, &[], cfg)
}

/// The reference result for `events` under operator unmerges (an unmerge
/// holds whatever the order of its arrival: it constrains the whole fold).
pub fn oracle_with(
    events: &[JourneyEvent],
    unmerges: &[Unmerge],
    cfg: &StitchConfig,
) -> FoldOutput {
    fold_with(events, unmerges, watermark(events), cfg)
}

fn watermark(events: &[JourneyEvent]) -> i64 {
    events
        .iter()
        .map(|e| e.event_time_ms)
        .max()
        .unwrap_or(i64::MIN)
}

/// The unguarded connected components of the identifier graph (events are
/// hyperedges over their identifiers): what the identity stage computes.
pub fn components(events: &[JourneyEvent]) -> Vec<Vec<JourneyEvent>> {
    let mut index: BTreeMap<&Identifier, usize> = BTreeMap::new();
    let mut parent: Vec<usize> = Vec::new();
    fn find(parent: &mut [usize], mut n: usize) -> usize {
        while parent[n] != n {
            parent[n] = parent[parent[n]];
            n = parent[n];
        }
        n
    }
    for e in events {
        let nodes: Vec<usize> = e
            .identifiers
            .iter()
            .map(|id| {
                *index.entry(id).or_insert_with(|| {
                    parent.push(parent.len());
                    parent.len() - 1
                })
            })
            .collect();
        for w in nodes.windows(2) {
            let (a, b) = (find(&mut parent, w[0]), find(&mut parent, w[1]));
            if a != b {
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut groups: BTreeMap<usize, Vec<JourneyEvent>> = BTreeMap::new();
    for e in events {
        if let Some(first) = e.identifiers.first() {
            let root = find(&mut parent, index[first]);
            groups.entry(root).or_default().push(e.clone());
        }
    }
    groups.into_values().collect()
}

/// Folds every component on its own and unions the results: must equal [`oracle`].
pub fn per_component(events: &[JourneyEvent], cfg: &StitchConfig) -> FoldOutput {
    let watermark = watermark(events);
    let mut out = FoldOutput::default();
    for c in components(events) {
        out.extend(fold_with(&c, &[], watermark, cfg));
    }
    out.sort();
    out
}
