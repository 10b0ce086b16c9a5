//! The identity guards and operator unmerges, through the real native
//! normalisation and the oracle: type caps (plain and windowed), blocked
//! patterns, hubs, review records, and an unmerge that restores two
//! customers exactly as they would have been without the wrong link.

use journey_core::fold::StitchConfig;
use journey_core::identity::TypeCap;
use journey_core::model::{IdType, Identifier, JourneyEvent, MergeKind, SourceRef, Unmerge};
use journey_core::normalize::{normalize, Format, NormalizeConfig};
use journey_core::oracle::{oracle, oracle_with};

/// Native events: `(id, channel, type, iso time, customer json)`.
fn events(rows: &[(&str, &str, &str, &str, &str)]) -> Vec<JourneyEvent> {
    rows.iter()
        .flat_map(|(id, channel, kind, time, customer)| {
            let json = format!(
                r#"{{"channel": "{channel}", "id": "{id}", "time": "{time}", "type": "{kind}", "customer": {customer}}}"#
            );
            let channel = channel.parse().expect("channel");
            normalize(
                channel,
                Format::Native,
                json.as_bytes(),
                &SourceRef::default(),
                &NormalizeConfig::default(),
            )
            .unwrap_or_else(|e| panic!("{id}: {e}"))
        })
        .collect()
}

fn customer_of<'a>(out: &'a journey_core::fold::FoldOutput, event_id: &str) -> &'a str {
    out.customers
        .iter()
        .find(|c| c.touchpoints.iter().any(|t| t.source_event_id == event_id))
        .map(|c| c.customer_id.as_str())
        .unwrap_or_else(|| panic!("{event_id} is in no journey"))
}

#[test]
fn a_type_cap_refuses_the_sixth_email_and_sends_it_to_review() {
    let mut rows = Vec::new();
    let ids: Vec<String> = (0..7).map(|i| format!("e{i}")).collect();
    let customers: Vec<String> = (0..7)
        .map(|i| format!(r#"{{"customer_number": "C1", "email": "p{i}@x.de"}}"#))
        .collect();
    for i in 0..7 {
        rows.push((
            ids[i].as_str(),
            "web",
            "page_view",
            [
                "2026-11-01T10:00:00Z",
                "2026-11-02T10:00:00Z",
                "2026-11-03T10:00:00Z",
                "2026-11-04T10:00:00Z",
                "2026-11-05T10:00:00Z",
                "2026-11-06T10:00:00Z",
                "2026-11-07T10:00:00Z",
            ][i],
            customers[i].as_str(),
        ));
    }
    let evs = events(&rows);
    let out = oracle(&evs, &StitchConfig::default());
    let c1 = out
        .customers
        .iter()
        .find(|c| {
            c.identifiers
                .contains(&Identifier::new(IdType::CustomerNumber, "C1"))
        })
        .expect("customer C1");
    let emails = c1
        .identifiers
        .iter()
        .filter(|i| i.id_type == IdType::Email)
        .count();
    assert_eq!(emails, 5, "the default cap holds five emails per customer");
    assert!(out.reviews.iter().any(|r| r.reason == "type_cap"));
    assert!(out
        .refused_links
        .iter()
        .all(|r| r.reason.as_str() == "type_cap"));

    // Within a 30-hour window, the emails first seen a day apart never pile up.
    let mut cfg = StitchConfig::default();
    cfg.identity.caps.insert(
        IdType::Email,
        TypeCap {
            max: 2,
            window_hours: Some(30),
        },
    );
    let out = oracle(&evs, &cfg);
    assert!(out.refused_links.is_empty(), "{:?}", out.refused_links);
    // Without the window the same cap refuses.
    cfg.identity.caps.insert(
        IdType::Email,
        TypeCap {
            max: 2,
            window_hours: None,
        },
    );
    assert!(!oracle(&evs, &cfg).refused_links.is_empty());
}

#[test]
fn blocked_patterns_and_hubs_link_nobody() {
    let evs = events(&[
        (
            "a1",
            "store",
            "visit",
            "2026-11-01T10:00:00Z",
            r#"{"customer_number": "A", "email": "info@shop.de"}"#,
        ),
        (
            "b1",
            "store",
            "visit",
            "2026-11-01T11:00:00Z",
            r#"{"email": "b@x.de", "loyalty_id": "L-1"}"#,
        ),
        (
            "b2",
            "store",
            "visit",
            "2026-11-01T12:00:00Z",
            r#"{"email": "info@shop.de", "loyalty_id": "L-1"}"#,
        ),
    ]);
    // Unguarded, the shared mailbox makes one customer of two people.
    let mut cfg = StitchConfig::default();
    let out = oracle(&evs, &cfg);
    assert_eq!(customer_of(&out, "a1"), customer_of(&out, "b1"));
    cfg.identity.blocked_patterns = vec!["INFO@*".into()];
    let out = oracle(&evs, &cfg);
    assert_ne!(customer_of(&out, "a1"), customer_of(&out, "b1"));
    assert_eq!(customer_of(&out, "b1"), customer_of(&out, "b2"));

    // A store's tablet id recorded on every walk-in's record: a hub.
    let rows: Vec<(String, String)> = (0..8)
        .map(|i| {
            (
                format!("w{i}"),
                format!(r#"{{"email": "walk{i}@x.de", "device_id": "store-tablet-1"}}"#),
            )
        })
        .collect();
    let table: Vec<(&str, &str, &str, &str, &str)> = rows
        .iter()
        .map(|(id, c)| {
            (
                id.as_str(),
                "store",
                "visit",
                "2026-11-02T10:00:00Z",
                c.as_str(),
            )
        })
        .collect();
    let evs = events(&table);
    let mut cfg = StitchConfig::default();
    cfg.identity.max_degree = 4;
    let out = oracle(&evs, &cfg);
    assert_eq!(out.customers.len(), 8, "the hub links none of the eight");
    let hub: Vec<_> = out
        .reviews
        .iter()
        .filter(|r| r.reason == "hub_value")
        .collect();
    assert_eq!(hub.len(), 1);
    assert_eq!(
        hub[0].customers.len(),
        8,
        "the review names every customer sharing it"
    );
    cfg.identity.max_degree = 0;
    assert_eq!(
        oracle(&evs, &cfg).customers.len(),
        4,
        "without the hub limit only the email cap (5) stops the blob"
    );
    cfg.identity.caps.clear();
    assert_eq!(
        oracle(&evs, &cfg).customers.len(),
        1,
        "without any guard: one blob"
    );
}

#[test]
fn unmerge_restores_the_two_customers_as_without_the_wrong_link() {
    // Anna and Ben, each with history; a clerk typed Anna's phone into Ben's store visit.
    let rows = [
        (
            "anna-1",
            "web",
            "page_view",
            "2026-11-01T09:00:00Z",
            r#"{"email": "anna@x.de", "phone": "+49 170 1111111"}"#,
        ),
        (
            "anna-2",
            "chat",
            "chat_started",
            "2026-11-02T09:00:00Z",
            r#"{"email": "anna@x.de"}"#,
        ),
        (
            "ben-1",
            "phone",
            "call_started",
            "2026-11-01T10:00:00Z",
            r#"{"customer_number": "B-7", "email": "ben@x.de"}"#,
        ),
        (
            "ben-2",
            "email",
            "email_received",
            "2026-11-03T10:00:00Z",
            r#"{"email": "ben@x.de"}"#,
        ),
        (
            "anna-3",
            "phone",
            "call_started",
            "2026-11-04T09:00:00Z",
            r#"{"phone": "+49 170 1111111"}"#,
        ),
    ];
    let wrong = (
        "ben-store",
        "store",
        "visit",
        "2026-11-03T12:00:00Z",
        r#"{"customer_number": "B-7", "phone": "+49 170 1111111"}"#,
    );
    let without = (
        "ben-store",
        "store",
        "visit",
        "2026-11-03T12:00:00Z",
        r#"{"customer_number": "B-7"}"#,
    );
    let with_wrong: Vec<_> = rows.iter().copied().chain([wrong]).collect();
    let clean: Vec<_> = rows.iter().copied().chain([without]).collect();
    let cfg = StitchConfig::default();

    let merged = oracle(&events(&with_wrong), &cfg);
    assert_eq!(
        customer_of(&merged, "anna-1"),
        customer_of(&merged, "ben-1"),
        "the wrong link merged them"
    );
    assert!(merged.merges.iter().any(|m| m.kind == MergeKind::Merge));

    let unmerge = Unmerge::new(
        Identifier::new(IdType::CustomerNumber, "B-7"),
        Identifier::new(IdType::Phone, "+491701111111"),
        1_800_000_000_000,
        "typo at the store",
    );
    let split = oracle_with(&events(&with_wrong), std::slice::from_ref(&unmerge), &cfg);
    let expected = oracle(&events(&clean), &cfg);
    assert_eq!(split.customers.len(), 2);
    for (got, want) in split.customers.iter().zip(&expected.customers) {
        assert_eq!(got.customer_id, want.customer_id);
        assert_eq!(got.identifiers, want.identifiers);
        let ids = |c: &journey_core::journey::CustomerJourney| {
            c.touchpoints
                .iter()
                .map(|t| t.source_event_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(got), ids(want), "journey of {}", want.customer_id);
        assert_eq!(got.open_issues, want.open_issues);
    }
    let alert_ids = |o: &journey_core::fold::FoldOutput| {
        o.alerts
            .iter()
            .map(|a| a.alert_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(alert_ids(&split), alert_ids(&expected));
    let splits: Vec<_> = split
        .merges
        .iter()
        .filter(|m| m.kind == MergeKind::Split)
        .collect();
    assert_eq!(splits.len(), 1, "one split record on the merges topic");
    assert_eq!(splits[0].rule, "unmerge");
    assert_eq!(splits[0].event_id, unmerge.control_id);
    assert_ne!(splits[0].winner, splits[0].loser);
    assert!(
        split
            .merges
            .iter()
            .all(|m| m.kind == MergeKind::Split || expected.merges.contains(m)),
        "no merge of the wrong link survives"
    );
    // An unmerge of two identifiers that were never linked changes nothing.
    let idle = Unmerge::new(
        Identifier::new(IdType::Email, "anna@x.de"),
        Identifier::new(IdType::Email, "ben@x.de"),
        1_800_000_000_000,
        "",
    );
    assert_eq!(oracle_with(&events(&clean), &[idle], &cfg), expected);
}
