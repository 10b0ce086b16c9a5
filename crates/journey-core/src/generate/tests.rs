use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::*;
use crate::model::IdType;

fn small() -> GeneratorConfig {
    GeneratorConfig {
        customers: 600,
        ..GeneratorConfig::default()
    }
}

fn allowed_types(ch: Channel) -> &'static [&'static str] {
    match ch {
        Channel::Chat => &["chat_started", "agent_message", "chat_closed"],
        Channel::Phone => &["call_started", "callback", "call_ended"],
        Channel::Email => &["email_received", "email_sent", "ticket_solved"],
        Channel::Web => &[
            "page_view",
            "track",
            "checkout_started",
            "purchase",
            "login",
            "signup",
        ],
        Channel::Store => &["visit", "appointment", "purchase", "refund", "delivery"],
        Channel::Survey => &["response"],
    }
}

fn time_ms(v: &Value) -> i64 {
    match v {
        Value::Number(n) => {
            let x = n.as_i64().expect("integer time");
            if x >= 100_000_000_000 {
                x
            } else {
                x * 1000
            }
        }
        Value::String(s) => {
            // jiff wants a colon in the offset.
            let mut s = s.clone();
            let b = s.as_bytes();
            if b.len() > 5 && (b[b.len() - 5] == b'+' || b[b.len() - 5] == b'-') {
                s.insert(s.len() - 2, ':');
            }
            let ts: jiff::Timestamp = s.parse().unwrap_or_else(|e| panic!("bad time {s}: {e}"));
            ts.as_millisecond()
        }
        other => panic!("time of wrong type: {other}"),
    }
}

const JUNK: &[&str] = &[
    "",
    "null",
    "undefined",
    "none",
    "n/a",
    "0",
    "-1",
    "anonymous",
    "unknown",
    "test@test.com",
];

/// The identifiers of a `customer` object, normalised like the native normaliser
/// will: trimmed/lower-cased e-mail, E.164 phone, decimal customer number.
fn identifiers(c: &serde_json::Map<String, Value>) -> Vec<Identifier> {
    let mut out = Vec::new();
    for (k, v) in c {
        let s = match v {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => n.to_string(),
            other => panic!("identifier of wrong type: {other}"),
        };
        if JUNK.contains(&s.to_lowercase().as_str()) {
            continue;
        }
        let id = match k.as_str() {
            "customer_number" => Identifier::new(IdType::CustomerNumber, s),
            "loyalty_id" => Identifier::new(IdType::LoyaltyId, s),
            "user_id" => Identifier::new(IdType::UserId, s),
            "anonymous_id" => Identifier::new(IdType::AnonymousId, s),
            "email" => Identifier::new(IdType::Email, s.to_lowercase()),
            "phone" => {
                let p = phonenumber::parse(Some(phonenumber::country::Id::DE), &s)
                    .unwrap_or_else(|e| panic!("phone {s} does not parse: {e}"));
                assert!(phonenumber::is_valid(&p), "phone {s} is not valid");
                Identifier::new(
                    IdType::Phone,
                    p.format().mode(phonenumber::Mode::E164).to_string(),
                )
            }
            other => panic!("unknown identifier field {other}"),
        };
        out.push(id);
    }
    out
}

#[test]
fn same_config_same_output_and_seeds_differ() {
    let a = generate(&small());
    let b = generate(&small());
    assert_eq!(a.records, b.records);
    assert_eq!(a.customers, b.customers);
    assert_eq!(a.stories, b.stories);
    let c = generate(&GeneratorConfig { seed: 7, ..small() });
    assert_ne!(a.records, c.records);
}

#[test]
fn default_config_has_all_channels_and_all_stories() {
    let g = generate(&GeneratorConfig::default());
    let per = records_per_channel(&g);
    eprintln!("records: {} {:?}", g.records.len(), per);
    for (ch, n) in per {
        assert!(n > 500, "channel {ch} has only {n} records");
    }
    let kinds: BTreeMap<StoryKind, usize> = g.stories.iter().fold(BTreeMap::new(), |mut m, s| {
        *m.entry(s.kind).or_default() += 1;
        m
    });
    eprintln!("stories: {kinds:?}");
    for k in StoryKind::ALL {
        assert!(
            kinds.get(&k).copied().unwrap_or(0) >= 2,
            "story {k} missing"
        );
    }
    let cast: BTreeSet<usize> = g.stories.iter().map(|s| s.customer).collect();
    let by_id: BTreeMap<(Channel, String), Option<usize>> = g
        .records
        .iter()
        .filter(|r| !r.malformed)
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.payload).expect("json");
            let id = match &v["id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            ((r.channel, id), r.truth)
        })
        .collect();
    assert_eq!(cast.len(), g.stories.len(), "one customer per story");
    for s in &g.stories {
        assert!(!s.expected.is_empty());
        assert!(
            s.end_ms <= GeneratorConfig::default().start_ms + 14 * 86_400_000,
            "{s:?}"
        );
        // Every story event is in the output, with the story customer as truth.
        for ev in &s.source_events {
            assert_eq!(
                by_id.get(ev).copied(),
                Some(Some(s.customer)),
                "story event {ev:?}"
            );
        }
    }
    // With only a handful of customers, stories still appear.
    let g = generate(&GeneratorConfig {
        customers: 6,
        ..GeneratorConfig::default()
    });
    assert_eq!(g.stories.len(), 6);
}

#[test]
fn payloads_are_native_format_and_agree_with_the_truth() {
    let g = generate(&small());
    assert!(
        g.records
            .windows(2)
            .all(|w| w[0].event_time_ms <= w[1].event_time_ms),
        "sorted"
    );
    let start = small().start_ms;
    assert!(
        g.records[0].event_time_ms >= start,
        "nothing before the window"
    );
    let last = g.records[g.records.len() - 1].event_time_ms;
    assert!(
        last < start + 18 * 86_400_000,
        "follow-ups end soon after the window"
    );
    let mut ids: BTreeSet<(Channel, String)> = BTreeSet::new();
    let mut notations = BTreeSet::new();
    let mut phones_seen = BTreeSet::new();
    let mut junk_seen = 0;
    let mut text_seen = 0;
    // interaction → (first type, first time, last type, last time)
    let mut interactions: BTreeMap<(Channel, String), Vec<(i64, String)>> = BTreeMap::new();
    for r in g.records.iter().filter(|r| !r.malformed) {
        let v: Value = serde_json::from_slice(&r.payload).unwrap_or_else(|e| {
            panic!("invalid JSON {e}: {}", String::from_utf8_lossy(&r.payload))
        });
        let o = v.as_object().expect("an object");
        let id = match &o["id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("id {other}"),
        };
        assert!(ids.insert((r.channel, id.clone())), "duplicate id {id}");
        let ty = o["type"].as_str().expect("type");
        let extra = ["refund", "delivery", "promise"];
        assert!(
            allowed_types(r.channel).contains(&ty) || extra.contains(&ty),
            "{} type {ty}",
            r.channel
        );
        assert_eq!(
            time_ms(&o["time"]),
            r.event_time_ms,
            "{}",
            String::from_utf8_lossy(&r.payload)
        );
        notations.insert(match &o["time"] {
            Value::Number(n) if n.as_i64().unwrap_or(0) >= 100_000_000_000 => {
                "epoch_ms".to_string()
            }
            Value::Number(_) => "epoch_s".to_string(),
            Value::String(s) => s
                .chars()
                .skip(19)
                .filter(|c| !c.is_ascii_digit())
                .collect::<String>(),
            _ => unreachable!(),
        });
        let c = o["customer"].as_object().expect("customer object");
        if c.values()
            .any(|v| JUNK.contains(&v.to_string().trim_matches('"').to_lowercase().as_str()))
        {
            junk_seen += 1;
        }
        if let Some(p) = c
            .get("phone")
            .and_then(Value::as_str)
            .filter(|p| !JUNK.contains(p))
        {
            phones_seen.insert(p.to_string());
        }
        let found = identifiers(c);
        assert!(
            !found.is_empty(),
            "no usable identifier: {}",
            String::from_utf8_lossy(&r.payload)
        );
        let truth = &g.customers[r.truth.expect("truth")];
        for i in &found {
            assert!(
                truth.identifiers.contains(i) || truth.shared_identifiers.contains(i),
                "{i:?} is not customer {}'s: {}",
                truth.index,
                String::from_utf8_lossy(&r.payload)
            );
        }
        assert!(
            found.iter().any(|i| truth.identifiers.contains(i)),
            "only shared identifiers"
        );
        if o.contains_key("text") {
            text_seen += 1;
        }
        if let Some(s) = o.get("score") {
            let kind = s["type"].as_str().expect("score type");
            let val = s["value"].as_i64().expect("score value");
            match kind {
                "nps" => assert!((0..=10).contains(&val)),
                "csat" => assert!((1..=5).contains(&val)),
                _ => panic!("score {kind}"),
            }
        }
        if let Some(i) = o.get("interaction_id").and_then(Value::as_str) {
            if matches!(r.channel, Channel::Chat | Channel::Phone) {
                interactions
                    .entry((r.channel, i.to_string()))
                    .or_default()
                    .push((r.event_time_ms, ty.to_string()));
            }
        }
    }
    eprintln!("time notations: {notations:?}");
    assert!(notations.len() >= 6, "{notations:?}");
    assert!(junk_seen > 100, "junk values: {junk_seen}");
    assert!(text_seen > 1000, "free text: {text_seen}");
    let styles: BTreeSet<&str> = phones_seen
        .iter()
        .map(|p| match p {
            p if p.starts_with("tel:+49") => "tel",
            p if p.starts_with("+49 (0)") => "+49 (0)",
            p if p.starts_with("+49") => "e164",
            p if p.starts_with("0049 ") => "0049",
            p if p.starts_with("49") => "49",
            p if p.starts_with('0') && p.contains('/') => "slash",
            p if p.starts_with('0') && p.contains(' ') => "spaced",
            p => panic!("phone notation {p}"),
        })
        .collect();
    assert_eq!(styles.len(), 7, "{styles:?}");
    for ((ch, i), evs) in &interactions {
        let first = &evs.first().expect("event").1;
        let last = &evs.last().expect("event").1;
        assert!(
            evs.windows(2).all(|w| w[0].0 < w[1].0),
            "{ch} {i} not strictly ordered: {evs:?}"
        );
        if evs.len() > 1 {
            assert!(first.ends_with("started"), "{ch} {i}: {evs:?}");
            assert!(
                last.ends_with("closed") || last.ends_with("ended"),
                "{ch} {i}: {evs:?}"
            );
        }
    }
}

#[test]
fn population_is_realistic() {
    let g = generate(&GeneratorConfig::default());
    let mut owner: BTreeMap<&Identifier, usize> = BTreeMap::new();
    let mut households = 0;
    for c in &g.customers {
        let known = c
            .identifiers
            .iter()
            .filter(|i| i.id_type != IdType::AnonymousId)
            .count();
        assert!(
            (2..=5).contains(&known),
            "customer {} has {known} identifiers",
            c.index
        );
        for i in &c.identifiers {
            assert_eq!(owner.insert(i, c.index), None, "{i:?} owned twice");
        }
        if let Some(p) = c.household_partner {
            households += 1;
            let other = &g.customers[p];
            assert_eq!(other.household_partner, Some(c.index));
            assert_eq!(c.shared_identifiers, other.shared_identifiers);
            assert_eq!(c.shared_identifiers[0].id_type, IdType::Phone);
        }
    }
    assert!(households >= 20, "households: {households}");
    // Some anonymous sessions log in: a login carries both ids.
    let logins = g
        .records
        .iter()
        .filter(|r| r.channel == Channel::Web && !r.malformed)
        .filter(|r| {
            let v: Value = serde_json::from_slice(&r.payload).expect("json");
            v["type"] == "login"
                && v["customer"].get("anonymous_id").is_some()
                && v["customer"].get("user_id").is_some()
        })
        .count();
    assert!(logins > 100, "logins: {logins}");
    // Surveys: mostly promoters, some detractors.
    let (mut promoters, mut detractors) = (0, 0);
    for r in g
        .records
        .iter()
        .filter(|r| r.channel == Channel::Survey && !r.malformed)
    {
        let v: Value = serde_json::from_slice(&r.payload).expect("json");
        if v["score"]["type"] == "nps" {
            let x = v["score"]["value"].as_i64().expect("value");
            promoters += (x >= 9) as usize;
            detractors += (x <= 6) as usize;
        }
    }
    assert!(
        promoters > 2 * detractors && detractors > 10,
        "promoters {promoters}, detractors {detractors}"
    );
}

#[test]
fn malformed_share_is_as_configured() {
    let g = generate(&GeneratorConfig {
        malformed_per_mille: 20,
        ..small()
    });
    let bad: Vec<&RawRecord> = g.records.iter().filter(|r| r.malformed).collect();
    let share = bad.len() as f64 / g.records.len() as f64;
    assert!((0.018..0.022).contains(&share), "share {share}");
    for r in &bad {
        assert_eq!(r.truth, None);
        // Each one is broken in a way the normaliser must reject.
        let broken = match serde_json::from_slice::<Value>(&r.payload) {
            Err(_) => true,
            Ok(v) => {
                v.get("type").and_then(Value::as_str).is_none()
                    || !v["time"].is_string() && !v["time"].is_number()
                    || !v["id"].is_string() && !v["id"].is_number()
                    || v["customer"].as_object().is_none_or(|c| {
                        c.values().all(|x| {
                            let s = x.to_string().trim_matches('"').to_lowercase();
                            JUNK.contains(&s.as_str()) || s == "not a number" || s == "no-email"
                        })
                    })
            }
        };
        assert!(
            broken,
            "not broken: {}",
            String::from_utf8_lossy(&r.payload)
        );
    }
    let none = generate(&GeneratorConfig {
        malformed_per_mille: 0,
        ..small()
    });
    assert!(none.records.iter().all(|r| !r.malformed));
    let default = generate(&GeneratorConfig::default());
    let n = default.records.iter().filter(|r| r.malformed).count();
    let expect = default.records.len() as f64 * 0.002;
    assert!((n as f64 - expect).abs() <= 2.0, "{n} vs {expect}");
}

#[test]
fn generate_n_yields_that_many() {
    let t = std::time::Instant::now();
    let r = generate_n(11, 100_000);
    eprintln!("generate_n(100k): {:?}", t.elapsed());
    assert_eq!(r.len(), 100_000);
    assert!(r
        .windows(2)
        .all(|w| w[0].event_time_ms <= w[1].event_time_ms));
    assert_eq!(generate_n(11, 1000), generate_n(11, 1000));
    let channels: BTreeSet<Channel> = r.iter().map(|x| x.channel).collect();
    assert_eq!(channels.len(), 6);
}

/// `cargo test --release -p journey-core generate_n_million -- --ignored --nocapture`
#[test]
#[ignore = "timing, run in release"]
fn generate_n_million() {
    let t = std::time::Instant::now();
    let r = generate_n(1, 1_000_000);
    let bytes: usize = r
        .iter()
        .map(|x| x.payload.len() + x.key.as_ref().map_or(0, |k| k.len()))
        .sum();
    eprintln!(
        "generate_n(1M): {:?}, payload+key bytes {} MB, records {} MB",
        t.elapsed(),
        bytes >> 20,
        (r.len() * std::mem::size_of::<RawRecord>()) >> 20
    );
    assert_eq!(r.len(), 1_000_000);
}

/// `cargo test -p journey-core generate::tests::show_sample -- --ignored --nocapture`
#[test]
#[ignore = "prints a sample"]
fn show_sample() {
    let g = generate(&GeneratorConfig::default());
    for ch in Channel::ALL {
        for r in g
            .records
            .iter()
            .filter(|r| r.channel == ch && !r.malformed)
            .skip(100)
            .take(4)
        {
            eprintln!(
                "{ch:6} key={:?} truth={:?} {}",
                r.key,
                r.truth,
                String::from_utf8_lossy(&r.payload)
            );
        }
    }
    for r in g.records.iter().filter(|r| r.malformed).take(6) {
        eprintln!(
            "MALFORMED {} {}",
            r.channel,
            String::from_utf8_lossy(&r.payload)
        );
    }
    for k in StoryKind::ALL {
        for s in g.stories.iter().filter(|s| s.kind == k).take(2) {
            eprintln!(
                "\n== {} #{} customer {}: {}\n   expected {:?}",
                s.kind, s.instance, s.customer, s.summary, s.expected
            );
            for (ch, id) in &s.source_events {
                let r = g
                    .records
                    .iter()
                    .find(|r| {
                        r.channel == *ch
                            && r.truth == Some(s.customer)
                            && String::from_utf8_lossy(&r.payload).contains(id.as_str())
                    })
                    .expect("story record");
                eprintln!("   {ch:6} {}", String::from_utf8_lossy(&r.payload));
            }
        }
    }
}

/// Cross-check with the native normaliser: every good record normalises to
/// the recorded time and to identifiers of its true customer; every malformed
/// record is rejected (a dead letter).
#[test]
fn native_normaliser_agrees() {
    use crate::model::SourceRef;
    use crate::normalize::{normalize, Format, NormalizeConfig};
    let g = generate(&GeneratorConfig {
        malformed_per_mille: 20,
        ..small()
    });
    let cfg = NormalizeConfig::default();
    let mut failures = Vec::new();
    for r in &g.records {
        let out = normalize(
            r.channel,
            Format::Native,
            &r.payload,
            &SourceRef::default(),
            &cfg,
        );
        match (r.malformed, out) {
            (true, Ok(_)) => failures.push(format!(
                "accepted malformed: {}",
                String::from_utf8_lossy(&r.payload)
            )),
            (true, Err(_)) => {}
            (false, Err(e)) => failures.push(format!(
                "rejected ({e}): {}",
                String::from_utf8_lossy(&r.payload)
            )),
            (false, Ok(events)) => {
                let truth = &g.customers[r.truth.expect("truth")];
                for ev in events {
                    if ev.event_time_ms != r.event_time_ms {
                        failures.push(format!(
                            "time {} != {}: {}",
                            ev.event_time_ms,
                            r.event_time_ms,
                            String::from_utf8_lossy(&r.payload)
                        ));
                    }
                    for i in &ev.identifiers {
                        if !truth.identifiers.contains(i) && !truth.shared_identifiers.contains(i) {
                            failures.push(format!(
                                "{i:?} not customer {}'s: {}",
                                truth.index,
                                String::from_utf8_lossy(&r.payload)
                            ));
                        }
                    }
                }
            }
        }
    }
    let n = failures.len();
    failures.truncate(10);
    assert!(n == 0, "{n} disagreements, e.g.\n{}", failures.join("\n"));
}

/// The stories' expectations, checked against the oracle (normalise → fold).
/// `cargo test -p journey-core generate::tests::stories_hold_in_the_oracle -- --ignored --nocapture`
#[test]
#[ignore = "cross-module check against the oracle"]
fn stories_hold_in_the_oracle() {
    use crate::fold::StitchConfig;
    use crate::model::SourceRef;
    use crate::normalize::{normalize, Format, NormalizeConfig};
    let g = generate(&GeneratorConfig::default());
    let ncfg = NormalizeConfig::default();
    let mut events = Vec::new();
    for r in g.records.iter().filter(|r| !r.malformed) {
        events.extend(
            normalize(
                r.channel,
                Format::Native,
                &r.payload,
                &SourceRef::default(),
                &ncfg,
            )
            .expect("normalises"),
        );
    }
    let out = crate::oracle::oracle(&events, &StitchConfig::default());
    eprintln!(
        "oracle: {} events, {} customers, {} handovers, {} alerts, {} merges, {} refused links",
        events.len(),
        out.customers.len(),
        out.handovers.len(),
        out.alerts.len(),
        out.merges.len(),
        out.refused_links.len()
    );
    let mut alerts_by_rule: BTreeMap<String, usize> = BTreeMap::new();
    for a in &out.alerts {
        *alerts_by_rule
            .entry(a.rule.as_str().to_string())
            .or_default() += 1;
    }
    eprintln!(
        "alerts by rule: {alerts_by_rule:?}; true customers {}",
        g.customers.len()
    );
    let mut failed = Vec::new();
    for s in &g.stories {
        let evs: BTreeSet<String> = s
            .source_events
            .iter()
            .map(|(ch, id)| crate::ids::event_id(ch.as_str(), "native", id))
            .collect();
        let cids: BTreeSet<&str> = out
            .customers
            .iter()
            .filter(|c| c.touchpoints.iter().any(|t| evs.contains(&t.event_id)))
            .map(|c| c.customer_id.as_str())
            .collect();
        for x in &s.expected {
            let ok = match x {
                Expectation::Alert { rule, topic } => out.alerts.iter().any(|a| {
                    cids.contains(a.customer_id.as_str())
                        && a.rule == *rule
                        && topic.as_ref().is_none_or(|t| {
                            format!("{:?}{:?}", a.issue_key, a.evidence).contains(t.as_str())
                        })
                }),
                Expectation::NoAlert => !out
                    .alerts
                    .iter()
                    .any(|a| cids.contains(a.customer_id.as_str())),
                Expectation::Handover { channel, mentions } => out.handovers.iter().any(|h| {
                    cids.contains(h.customer_id.as_str())
                        && h.trigger.channel == *channel
                        && format!("{:?}{:?}{}", h.open_issues, h.recent_touchpoints, h.summary)
                            .contains(mentions.as_str())
                }),
                Expectation::Merge { identifiers } => out
                    .merges
                    .iter()
                    .any(|m| identifiers.iter().all(|i| m.identifiers.contains(i))),
            };
            if !ok {
                failed.push(format!(
                    "{} #{} (customer {}, {} journeys): {x:?}",
                    s.kind,
                    s.instance,
                    s.customer,
                    cids.len()
                ));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} unmet:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
