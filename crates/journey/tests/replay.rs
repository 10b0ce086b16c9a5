//! `journey replay` end to end (embedded broker, full pipeline): the same
//! input twice gives byte-identical output files, every malformed line is
//! one dead letter with a reason, and the valid lines are processed.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use journey_core::generate::{generate, GeneratorConfig};

fn replay(inputs: &[std::path::PathBuf], out: &Path) {
    let status = Command::new(env!("CARGO_BIN_EXE_journey"))
        .arg("replay")
        .args(inputs)
        .arg("--out")
        .arg(out)
        .env("JOURNEY_LOG", "warn")
        .status()
        .expect("journey replay runs");
    assert!(status.success(), "journey replay failed: {status}");
}

fn read_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("output dir")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                std::fs::read(&p).expect("readable"),
            )
        })
        .collect()
}

#[test]
fn replay_twice_is_byte_identical_and_dead_letters_each_bad_line_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let generated = generate(&GeneratorConfig {
        seed: 5,
        customers: 50,
        malformed_per_mille: 0,
        ..GeneratorConfig::default()
    });
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for r in &generated.records {
        let file = files.entry(format!("{}.jsonl", r.channel)).or_default();
        file.extend_from_slice(&r.payload);
        file.push(b'\n');
    }
    // Malformed lines among valid ones, on two channels.
    let bad = ["{\"id\": \"broken\", \"time\": ", "{\"id\": 1, \"time\": \"2026-11-10T09:00:00Z\", \"type\": \"chat_started\", \"customer\": {\"email\": \"null\"}}", "[1, 2, 3]"];
    for (i, line) in bad.iter().enumerate() {
        let file = files
            .get_mut(if i % 2 == 0 {
                "chat.jsonl"
            } else {
                "store.jsonl"
            })
            .expect("file exists");
        file.extend_from_slice(line.as_bytes());
        file.push(b'\n');
    }
    let mut inputs = Vec::new();
    for (name, content) in &files {
        let path = dir.path().join(name);
        std::fs::write(&path, content).expect("input written");
        inputs.push(path);
    }
    let (a, b) = (dir.path().join("out-a"), dir.path().join("out-b"));
    replay(&inputs, &a);
    replay(&inputs, &b);
    let (first, second) = (read_dir(&a), read_dir(&b));
    for name in [
        "handovers.jsonl",
        "alerts.jsonl",
        "merges.jsonl",
        "journeys.jsonl",
        "dlq.jsonl",
    ] {
        assert!(first.contains_key(name), "{name} written");
    }
    assert_eq!(
        first, second,
        "two replays of the same input give byte-identical files"
    );

    let dlq = String::from_utf8(first["dlq.jsonl"].clone()).expect("utf-8");
    let lines: Vec<serde_json::Value> = dlq
        .lines()
        .map(|l| serde_json::from_str(l).expect("dlq line is json"))
        .collect();
    assert_eq!(
        lines.len(),
        bad.len(),
        "each malformed line once in dlq.jsonl:\n{dlq}"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["reason"].as_str().is_some_and(|r| !r.is_empty())),
        "every dead letter has a reason"
    );
    let journeys = String::from_utf8(first["journeys.jsonl"].clone()).expect("utf-8");
    let touchpoints: usize = journeys
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).expect("json")["touchpoints"]
                .as_array()
                .map_or(0, Vec::len)
        })
        .sum();
    assert_eq!(
        touchpoints,
        generated.records.len(),
        "every valid line is a touchpoint of some journey"
    );
}
