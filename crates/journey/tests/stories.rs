//! The articles' stories end to end through `journey replay` (embedded
//! broker, full pipeline), with input in the native format from
//! `tests/stories/articles.jsonl`. Every line's source id starts with the
//! story's customer (`anna-1`), so outputs are told apart by their evidence.
//!
//! - anna: a refund promised in the app within 24 h, never paid → `broken_promise` owned by payments;
//! - bernd: the same promise, paid after 20 h → silent;
//! - clara: a chat complaint about the configurator, then a store appointment for a
//!   test drive → the store's handover mentions the configurator issue;
//! - dora: email, chat, phone about the same late delivery within 48 h → `channel_hop` and
//!   `repeat_contact`, and a handover on each new channel;
//! - emil: a detractor survey after a failed store visit → `detractor` naming the visit;
//! - fritz (issue resolved before the third channel) and greta (contacts spread over
//!   eight days) are near-misses → silent.
//!
//! Also: `journey rules check` on good and broken files, and shadow mode
//! (`journey replay --rules`) printing the alert difference.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn stories_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stories")
}

fn journey(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_journey"))
        .args(args)
        .env("JOURNEY_LOG", "warn")
        .output()
        .expect("journey runs")
}

fn replay(out: &Path, rules: Option<&Path>) -> Output {
    let input = stories_dir().join("articles.jsonl");
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "replay".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--partitions".as_ref(),
        "3".as_ref(),
    ];
    if let Some(r) = rules {
        args.extend(["--rules".as_ref(), r.as_os_str()]);
    }
    let output = journey(&args);
    assert!(
        output.status.success(),
        "journey replay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn lines(dir: &Path, name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(name)).expect("output file");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

/// The story a record belongs to: the prefix of its first evidence / trigger source id.
fn story(source_event_id: &Value) -> String {
    source_event_id
        .as_str()
        .unwrap_or_default()
        .split('-')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn alerts_of<'a>(alerts: &'a [Value], who: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| story(&a["evidence"][0]["source_event_id"]) == who)
        .collect()
}

fn open_rules(alerts: &[&Value]) -> Vec<String> {
    let mut r: Vec<String> = alerts
        .iter()
        .filter(|a| a["status"] == "open")
        .map(|a| a["rule"].as_str().unwrap_or_default().to_string())
        .collect();
    r.sort();
    r
}

#[test]
fn the_articles_stories_fire_their_alerts_and_handovers_and_near_misses_stay_silent() {
    let dir = tempfile::tempdir().expect("temp dir");
    replay(dir.path(), None);
    let alerts = lines(dir.path(), "alerts.jsonl");
    let handovers = lines(dir.path(), "handovers.jsonl");
    let dump = serde_json::to_string_pretty(&alerts).unwrap_or_default();

    // anna: refund promised in the app within 24 h, not paid.
    let anna = alerts_of(&alerts, "anna");
    assert_eq!(open_rules(&anna), ["broken_promise"], "{dump}");
    assert_eq!(anna[0]["owner"], "payments");
    assert_eq!(anna[0]["evidence"][0]["channel"], "web");
    let summary = anna[0]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.starts_with("refund promised on web") && summary.ends_with("not yet paid"),
        "{summary}"
    );

    // bernd: paid after 20 h.
    assert!(alerts_of(&alerts, "bernd").is_empty(), "{dump}");

    // clara: configurator complaint in chat, then the store's test-drive appointment.
    let store: Vec<&Value> = handovers
        .iter()
        .filter(|h| h["trigger"]["source_event_id"] == "clara-3")
        .collect();
    assert_eq!(store.len(), 1, "the store gets a handover");
    let summary = store[0]["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains("configurator"),
        "store handover mentions the configurator: {summary}"
    );
    assert_eq!(store[0]["open_issues"][0]["topic"], "configurator");
    assert_eq!(store[0]["trigger"]["channel"], "store");
    assert!(store[0]["recent_touchpoints"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["source_event_id"] == "clara-1")));
    assert!(alerts_of(&alerts, "clara").is_empty(), "{dump}");

    // dora: email, chat, phone about the same late delivery within 48 h.
    let dora = alerts_of(&alerts, "dora");
    let rules = open_rules(&dora);
    assert!(
        rules.contains(&"channel_hop".to_string()) && rules.contains(&"repeat_contact".to_string()),
        "{rules:?}"
    );
    let hop = dora
        .iter()
        .find(|a| a["rule"] == "channel_hop")
        .expect("hop");
    assert_eq!(hop["owner"], "logistics");
    let hop_sources: Vec<&str> = hop["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .filter_map(|t| t["source_event_id"].as_str())
        .collect();
    assert_eq!(hop_sources, ["dora-1", "dora-2", "dora-4"]);
    for (trigger, expected) in [
        ("dora-2", "2nd contact about delivery in 12 h, after email"),
        (
            "dora-4",
            "3rd contact about delivery in 23 h, after email and chat",
        ),
    ] {
        let h = handovers
            .iter()
            .find(|h| h["trigger"]["source_event_id"] == trigger)
            .unwrap_or_else(|| panic!("handover for {trigger}"));
        let summary = h["summary"].as_str().unwrap_or_default();
        assert!(summary.starts_with(expected), "{trigger}: {summary}");
        assert!(h["linked_by"]
            .as_array()
            .is_some_and(|l| l.contains(&Value::from("email"))));
    }

    // emil: detractor after a failed store visit, naming the visit.
    let emil = alerts_of(&alerts, "emil");
    assert_eq!(open_rules(&emil), ["detractor"], "{dump}");
    assert_eq!(emil[0]["evidence"][0]["source_event_id"], "emil-1");
    assert_eq!(emil[0]["evidence"][0]["channel"], "store");
    assert_eq!(emil[0]["owner"], "retail");
    assert!(
        emil[0]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("store contact about product")),
        "{}",
        emil[0]["summary"]
    );

    // Near-misses: resolved before the third channel; contacts outside the windows.
    assert!(alerts_of(&alerts, "fritz").is_empty(), "{dump}");
    assert!(alerts_of(&alerts, "greta").is_empty(), "{dump}");

    // Ids are unique, deterministic hashes, never containing the customer id.
    for a in &alerts {
        let (id, customer) = (
            a["alert_id"].as_str().unwrap_or_default(),
            a["customer_id"].as_str().unwrap_or_default(),
        );
        assert!(id.starts_with("al-") && !id.contains(customer));
    }
}

#[test]
fn shadow_mode_prints_the_alerts_a_candidate_would_add_and_remove() {
    let dir = tempfile::tempdir().expect("temp dir");
    let candidate = stories_dir().join("candidate-rules.toml");
    let output = replay(dir.path(), Some(&candidate));
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The replay itself ran with the current (default) rules.
    let alerts = lines(dir.path(), "alerts.jsonl");
    assert!(
        alerts.iter().any(|a| a["rule"] == "channel_hop"),
        "replay uses the current rules"
    );

    let customer = |who: &str, rule: &str| -> String {
        alerts_of(&alerts, who)
            .iter()
            .find(|a| a["rule"] == rule)
            .and_then(|a| a["customer_id"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let has = |sign: char, rule: &str, customer: &str| {
        stdout
            .lines()
            .any(|l| l.starts_with(sign) && l.contains(rule) && l.contains(customer))
    };
    assert!(stdout.contains("shadow mode: candidate rules"), "{stdout}");
    assert!(
        has('-', "channel_hop", &customer("dora", "channel_hop")),
        "dora's hop disappears:\n{stdout}"
    );
    assert!(
        has('-', "detractor", &customer("emil", "detractor")),
        "NPS 2 is no detractor under nps_max 1:\n{stdout}"
    );
    assert!(
        stdout.lines().any(|l| l.starts_with('+')
            && l.contains("repeat_contact")
            && l.contains("2 contacts about delivery")),
        "{stdout}"
    );
    let hop_counts = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("channel_hop "))
        .unwrap_or_default();
    assert!(hop_counts.contains("1 → 0"), "per-rule counts: {stdout}");
}

#[test]
fn rules_check_accepts_good_files_and_names_line_and_field_of_bad_ones() {
    let good = stories_dir().join("candidate-rules.toml");
    let ok = journey(&["rules".as_ref(), "check".as_ref(), good.as_os_str()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok; 7 rules enabled"));

    let broken = stories_dir().join("broken-rules.toml");
    let bad = journey(&["rules".as_ref(), "check".as_ref(), broken.as_os_str()]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains(
            "broken-rules.toml:6:1: field `rules.channel_hop.window_hours`: must be greater than 0"
        ),
        "{stderr}"
    );

    let typo = stories_dir().join("typo-rules.toml");
    let bad = journey(&["rules".as_ref(), "check".as_ref(), typo.as_os_str()]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains(
            "typo-rules.toml:3:1: field `rules.broken_promise.severty`: unknown field `severty`"
        ),
        "{stderr}"
    );

    // Shadow mode refuses a broken candidate before running anything.
    let dir = tempfile::tempdir().expect("temp dir");
    let input = stories_dir().join("articles.jsonl");
    let out = dir.path().join("out");
    let refused = journey(&[
        "replay".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--rules".as_ref(),
        broken.as_os_str(),
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("field `rules.channel_hop.window_hours`")
    );
}
