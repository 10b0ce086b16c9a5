//! Properties of the stitching fold that the distributed pipeline relies on:
//! the result depends only on the set of events (not their arrival order,
//! not duplicates), and folding each identity component on its own gives the
//! same result as folding the whole input (so state can be partitioned by
//! component).

use journey_core::fold::{fold, StitchConfig};
use journey_core::generate::{generate, GeneratorConfig};
use journey_core::model::{JourneyEvent, SourceRef};
use journey_core::normalize::{normalize, Format, NormalizeConfig};
use journey_core::oracle::{oracle, per_component};
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::SeedableRng;

fn events(seed: u64, customers: usize) -> Vec<JourneyEvent> {
    let g = generate(&GeneratorConfig {
        seed,
        customers,
        malformed_per_mille: 0,
        ..GeneratorConfig::default()
    });
    g.records
        .iter()
        .flat_map(|r| {
            normalize(
                r.channel,
                Format::Native,
                &r.payload,
                &SourceRef::default(),
                &NormalizeConfig::default(),
            )
            .unwrap_or_default()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn any_order_and_duplicates_give_the_oracle_result(seed in 0u64..1_000, shuffle in any::<u64>(), dup in 0usize..50) {
        let evs = events(seed, 40);
        let cfg = StitchConfig::default();
        let expected = oracle(&evs, &cfg);
        let mut shuffled = evs.clone();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(shuffle);
        shuffled.shuffle(&mut rng);
        shuffled.extend(evs.iter().take(dup).cloned());
        prop_assert_eq!(oracle(&shuffled, &cfg), expected.clone());
        prop_assert_eq!(per_component(&shuffled, &cfg), expected);
    }
}

#[test]
fn a_prefix_never_emits_a_merge_the_whole_would_contradict_when_arriving_in_order() {
    // In event-time order, outputs of a prefix are a subset of the outputs of
    // the whole (rules only look back), so in-order input needs no retraction.
    let mut evs = events(3, 60);
    evs.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
    let cfg = StitchConfig::default();
    let whole = oracle(&evs, &cfg);
    let half = &evs[..evs.len() / 2];
    let wm = half.last().map_or(0, |e| e.event_time_ms);
    let part = fold(half, wm, &cfg);
    for m in &part.merges {
        assert!(
            whole.merges.contains(m),
            "merge {} of the prefix missing from the whole",
            m.merge_id
        );
    }
    for h in &part.handovers {
        assert!(whole
            .handovers
            .iter()
            .any(|w| w.handover_id == h.handover_id));
    }
}

#[test]
fn of_two_deliveries_of_a_contact_record_the_latest_update_wins_in_any_order() {
    use journey_core::component::ComponentState;
    use journey_core::model::Channel;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/phone/amazon_connect/abandoned_in_queue_attributes.json"
    );
    let first: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let mut later = first.clone();
    later["LastUpdateTimestamp"] = serde_json::json!("2026-11-10T10:00:00Z");
    later["Attributes"]["topic"] = serde_json::json!("Delivery");
    let norm = |v: &serde_json::Value| {
        normalize(
            Channel::Phone,
            Format::AmazonConnect,
            v.to_string().as_bytes(),
            &SourceRef::default(),
            &NormalizeConfig::default(),
        )
        .expect("valid contact record")
        .remove(0)
    };
    let (a, b) = (norm(&first), norm(&later));
    assert_eq!(a.event_id, b.event_id, "one contact, one event id");
    assert!(b.supersedes(&a) && !a.supersedes(&b));
    let cfg = StitchConfig::default();
    let expected = oracle(std::slice::from_ref(&b), &cfg);
    assert_eq!(oracle(&[a.clone(), b.clone()], &cfg), expected);
    assert_eq!(oracle(&[b.clone(), a.clone()], &cfg), expected);
    for order in [[a.clone(), b.clone()], [b.clone(), a.clone()]] {
        let mut state = ComponentState::default();
        for e in order {
            state.add(e);
        }
        assert_eq!(
            state.events,
            vec![b.clone()],
            "the stitcher keeps the latest update"
        );
    }
    assert_eq!(
        expected.customers[0].touchpoints[0].topic.as_deref(),
        Some("delivery")
    );
}
