//! Identity quality against ground truth: the generator knows which true
//! customer produced every record (2–5 identifiers in noisy notations,
//! households sharing a landline, junk values, anonymous sessions that later
//! log in). Pairwise precision and recall of the oracle's customers over
//! records, printed; precision must be 1.0 (no two people in one customer).
//!
//! Two sets. The set (`linkable_only: true`): every anonymous session
//! later identifies and every customer registers once with all identifiers; there recall over all pairs of a true customer's
//! records must reach 0.99. The realistic set also has sessions that never
//! identify: recall is reported over all pairs and over the *linkable* pairs
//! — records connected through identifiers that the customer alone owns. An
//! anonymous session that never logs in carries no such identifier, so no
//! system can link it; it lowers the first figure only.

use std::collections::{BTreeMap, HashMap};

use journey_core::fold::StitchConfig;
use journey_core::generate::{generate, GeneratorConfig};
use journey_core::model::{Identifier, SourceRef};
use journey_core::normalize::{normalize, Format, NormalizeConfig};
use journey_core::oracle::oracle;

fn pairs(n: usize) -> u64 {
    (n as u64) * (n as u64).saturating_sub(1) / 2
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

struct Quality {
    precision: f64,
    recall_all: f64,
    recall_linkable: f64,
}

#[test]
fn precision_is_one_and_recall_at_least_0_99_when_every_session_identifies() {
    let q = measure("every session identifies", true);
    assert!(
        q.recall_all >= 0.99,
        "recall over all pairs {:.4} < 0.99",
        q.recall_all
    );
    assert!(q.recall_linkable >= 0.99);
    assert_eq!(q.precision, 1.0);
}

#[test]
fn precision_is_one_and_recall_of_linkable_pairs_at_least_0_99_on_the_realistic_set() {
    let q = measure("realistic", false);
    assert!(
        q.recall_linkable >= 0.99,
        "recall over linkable pairs {:.4} < 0.99",
        q.recall_linkable
    );
    assert_eq!(q.precision, 1.0);
}

fn measure(name: &str, linkable_only: bool) -> Quality {
    let g = generate(&GeneratorConfig {
        seed: 42,
        customers: 2000,
        malformed_per_mille: 0,
        linkable_only,
        ..GeneratorConfig::default()
    });
    let cfg = NormalizeConfig::default();
    let mut events = Vec::new();
    let mut truth_of: HashMap<String, usize> = HashMap::new();
    let mut ids_of: HashMap<String, Vec<Identifier>> = HashMap::new();
    for r in &g.records {
        let Ok(evs) = normalize(
            r.channel,
            Format::Native,
            &r.payload,
            &SourceRef::default(),
            &cfg,
        ) else {
            continue;
        };
        for e in evs {
            truth_of.insert(
                e.event_id.clone(),
                r.truth.expect("generated records know their customer"),
            );
            ids_of.insert(e.event_id.clone(), e.identifiers.clone());
            events.push(e);
        }
    }
    let out = oracle(&events, &StitchConfig::default());
    let mut predicted_of: HashMap<&str, &str> = HashMap::new();
    for c in &out.customers {
        for t in &c.touchpoints {
            predicted_of.insert(t.event_id.as_str(), c.customer_id.as_str());
        }
    }
    assert_eq!(
        predicted_of.len(),
        events.len(),
        "every event is in exactly one journey"
    );

    // Contingency counts.
    let mut by_pred: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_truth: BTreeMap<usize, usize> = BTreeMap::new();
    let mut by_both: BTreeMap<(&str, usize), usize> = BTreeMap::new();
    for e in &events {
        let (p, t) = (predicted_of[e.event_id.as_str()], truth_of[&e.event_id]);
        *by_pred.entry(p).or_default() += 1;
        *by_truth.entry(t).or_default() += 1;
        *by_both.entry((p, t)).or_default() += 1;
    }
    let same_both: u64 = by_both.values().map(|&n| pairs(n)).sum();
    let same_pred: u64 = by_pred.values().map(|&n| pairs(n)).sum();
    let same_truth: u64 = by_truth.values().map(|&n| pairs(n)).sum();

    // Linkable truth: a true customer's records joined through identifiers that customer alone owns.
    let own: HashMap<(usize, &Identifier), ()> = g
        .customers
        .iter()
        .flat_map(|c| c.identifiers.iter().map(move |i| ((c.index, i), ())))
        .collect();
    let mut parent: Vec<usize> = (0..events.len()).collect();
    let mut first_with: HashMap<(usize, &Identifier), usize> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        let t = truth_of[&e.event_id];
        for id in &ids_of[&e.event_id] {
            if !own.contains_key(&(t, id)) {
                continue;
            }
            match first_with.get(&(t, id)) {
                Some(&j) => {
                    let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                    parent[a.max(b)] = a.min(b);
                }
                None => {
                    first_with.insert((t, id), i);
                }
            }
        }
    }
    let mut linkable_groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..events.len() {
        let root = find(&mut parent, i);
        linkable_groups.entry(root).or_default().push(i);
    }
    let mut linkable = 0u64;
    let mut linked = 0u64;
    for members in linkable_groups.values() {
        linkable += pairs(members.len());
        let mut per_pred: BTreeMap<&str, usize> = BTreeMap::new();
        for &i in members {
            *per_pred
                .entry(predicted_of[events[i].event_id.as_str()])
                .or_default() += 1;
        }
        linked += per_pred.values().map(|&n| pairs(n)).sum::<u64>();
    }

    let precision = same_both as f64 / same_pred.max(1) as f64;
    let recall_all = same_both as f64 / same_truth.max(1) as f64;
    let recall_linkable = linked as f64 / linkable.max(1) as f64;
    println!(
        "identity quality ({name}) on {} records of {} true customers → {} customers: precision {precision:.4}, \
         recall {recall_all:.4} (all pairs), {recall_linkable:.4} (linkable pairs), refused links {}",
        events.len(),
        g.customers.len(),
        out.customers.len(),
        out.refused_links.len()
    );
    assert_eq!(
        same_both, same_pred,
        "precision 1.0: no customer holds records of two true customers"
    );
    Quality {
        precision,
        recall_all,
        recall_linkable,
    }
}
