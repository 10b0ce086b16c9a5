//! Golden fixtures of every input format:
//! `tests/fixtures/<channel>/<format>/<case>.json` (or `.eml` for raw email)
//! with either `<case>.expected.json` (the canonical events, pretty-printed
//! serde_json) or `<case>.error.txt` (the expected error message) beside it.
//! Each case is normalised with its folder's format, and again with
//! `format = "auto"`, which must detect the same format.
//!
//! Every case runs with the same config: default region `DE`, time zone
//! Central European Time (a POSIX rule, so no tzdb is needed), and
//! `info@shop.example.de` as a blocked value. The source is
//! `cx.raw.<channel>`, partition 3, offset 42.
//!
//! `UPDATE_FIXTURES=1 cargo test -p journey-core --test fixtures`
//! rewrites the expected files from the current output; check them by eye
//! before committing.

use journey_core::model::{Channel, JourneyEvent, SourceRef};
use journey_core::normalize::{normalize, Format, NormalizeConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn config() -> NormalizeConfig {
    NormalizeConfig {
        default_region: "DE".to_string(),
        time_zone: jiff::tz::TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("valid posix tz"),
        blocked_values: vec!["info@shop.example.de".to_string()],
        keyword_topics: Vec::new(),
    }
}

fn source(channel: Channel) -> SourceRef {
    SourceRef {
        topic: format!("cx.raw.{channel}"),
        partition: 3,
        offset: 42,
    }
}

struct Case {
    channel: Channel,
    format: Format,
    input: PathBuf,
    expected: PathBuf,
    error: PathBuf,
}

fn cases() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for (channel, format) in Channel::ALL.into_iter().flat_map(|c| {
        Format::ALL
            .into_iter()
            .filter(|f| *f != Format::Auto)
            .map(move |f| (c, f))
    }) {
        let dir = root.join(channel.as_str()).join(format.as_str());
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut inputs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                (name.ends_with(".json") || name.ends_with(".eml"))
                    && !name.ends_with(".expected.json")
            })
            .collect();
        inputs.sort();
        for input in inputs {
            let stem = input
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("utf-8 name")
                .to_string();
            out.push(Case {
                channel,
                format,
                expected: dir.join(format!("{stem}.expected.json")),
                error: dir.join(format!("{stem}.error.txt")),
                input,
            });
        }
    }
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn fixtures_match() {
    let update = std::env::var_os("UPDATE_FIXTURES").is_some_and(|v| v == "1");
    let cfg = config();
    let mut failures = Vec::new();
    let cases = cases();
    for case in &cases {
        let name = case.input.display().to_string();
        let payload = std::fs::read(&case.input).expect("readable fixture");
        let result = normalize(
            case.channel,
            case.format,
            &payload,
            &source(case.channel),
            &cfg,
        );
        if result.is_ok() {
            let detected = journey_core::normalize::detect(case.channel, &payload);
            if detected != Some(case.format) {
                failures.push(format!(
                    "{name}: format auto-detected as {detected:?}, want {}",
                    case.format
                ));
            }
        }
        let (has_expected, has_error) = (case.expected.exists(), case.error.exists());
        if update {
            match &result {
                Ok(events) => {
                    let text = serde_json::to_string_pretty(events).expect("serialisable") + "\n";
                    std::fs::write(&case.expected, text).expect("writable");
                    if has_error {
                        std::fs::remove_file(&case.error).expect("removable");
                    }
                }
                Err(e) => {
                    std::fs::write(&case.error, format!("{e}\n")).expect("writable");
                    if has_expected {
                        std::fs::remove_file(&case.expected).expect("removable");
                    }
                }
            }
            continue;
        }
        match (has_expected, has_error, result) {
            (true, true, _) => {
                failures.push(format!("{name}: both .expected.json and .error.txt exist"))
            }
            (false, false, _) => failures.push(format!(
                "{name}: neither .expected.json nor .error.txt exists"
            )),
            (true, false, Ok(events)) => {
                let expected: Value =
                    serde_json::from_str(&read(&case.expected)).expect("expected file is json");
                let actual = serde_json::to_value(&events).expect("serialisable");
                if expected != actual {
                    failures.push(format!(
                        "{name}: output differs\nexpected: {expected}\nactual:   {actual}"
                    ));
                }
                // The expected file must be real canonical events, not just any JSON.
                let _: Vec<JourneyEvent> =
                    serde_json::from_value(expected).expect("expected file holds JourneyEvents");
                check_text_not_copied(&name, &payload, &events, &mut failures);
            }
            (true, false, Err(e)) => {
                failures.push(format!("{name}: expected events, got error: {e}"))
            }
            (false, true, Ok(events)) => failures.push(format!(
                "{name}: expected an error, got {}",
                serde_json::to_string(&events).unwrap_or_default()
            )),
            (false, true, Err(e)) => {
                let expected = read(&case.error);
                if expected.trim_end() != e.to_string() {
                    failures.push(format!(
                        "{name}: error differs\nexpected: {}\nactual:   {e}",
                        expected.trim_end()
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixture cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// Free text never reaches canonical events.
fn check_text_not_copied(
    name: &str,
    payload: &[u8],
    events: &[JourneyEvent],
    failures: &mut Vec<String>,
) {
    let Ok(input) = serde_json::from_slice::<Value>(payload) else {
        return;
    };
    if let Some(text) = input
        .get("text")
        .and_then(Value::as_str)
        .filter(|t| t.len() >= 4)
    {
        let out = serde_json::to_string(events).expect("serialisable");
        if out.contains(text) {
            failures.push(format!("{name}: `text` was copied into the output"));
        }
    }
}

#[test]
fn every_channel_has_good_and_bad_native_cases() {
    let cases = cases();
    for channel in Channel::ALL {
        let native = |c: &&Case| c.channel == channel && c.format == Format::Native;
        let ok = cases
            .iter()
            .filter(native)
            .filter(|c| c.expected.exists())
            .count();
        let bad = cases
            .iter()
            .filter(native)
            .filter(|c| c.error.exists())
            .count();
        assert!(
            ok >= 3,
            "{channel}: {ok} good native fixtures, want at least 3"
        );
        assert!(
            bad >= 2,
            "{channel}: {bad} bad native fixtures, want at least 2"
        );
    }
}

#[test]
fn every_vendor_format_has_three_good_and_two_bad_cases() {
    let cases = cases();
    for format in Format::ALL.into_iter().filter(|f| f.channel().is_some()) {
        let channel = format.channel().expect("vendor formats have a channel");
        let of = |c: &&Case| c.channel == channel && c.format == format;
        let ok = cases
            .iter()
            .filter(of)
            .filter(|c| c.expected.exists())
            .count();
        let bad = cases.iter().filter(of).filter(|c| c.error.exists()).count();
        assert!(ok >= 3, "{format}: {ok} good fixtures, want at least 3");
        assert!(bad >= 2, "{format}: {bad} bad fixtures, want at least 2");
    }
}
