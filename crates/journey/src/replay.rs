//! `journey replay`: feeds raw JSON-lines files through the full pipeline on
//! the in-process broker and writes the outputs as JSON lines.
//!
//! Which raw topic a line goes to:
//! 1. a line that is a JSON object with a `"channel"` field naming one of the
//!    six channels goes to that channel, as-is (the field wins over the file name);
//! 2. otherwise the channel named in the file name: the name must contain
//!    exactly one channel name (`chat.jsonl`, `2026-11-chat.jsonl`);
//! 3. a line with neither cannot be routed: it is written to `dlq.jsonl`
//!    with kind `no_channel`, the file name as topic and the line number as
//!    offset (partition -1).
//!
//! Empty lines are skipped. Every other line is produced raw, even when it is
//! not JSON, so that the pipeline dead-letters it like any bad record.
//! Keys are `file:line`, so partitioning and therefore every output is the
//! same on every run: same input twice → byte-identical files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use journey_core::model::Channel;
use journey_kafka::TopicsConfig;

use crate::config::Config;
use crate::embedded::{self, Embedded, Outgoing};
use crate::output_files::{DlqLine, RunOutputs};

/// The options of `journey replay`.
pub struct ReplayArgs {
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    pub partitions: Option<i32>,
    pub config: Option<PathBuf>,
    /// Shadow mode: candidate rules to compare against the current ones.
    pub rules: Option<PathBuf>,
    pub timeout: Duration,
}

/// The channel named in a file name, when exactly one is.
pub fn channel_from_file_name(path: &Path) -> Option<Channel> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let found: Vec<Channel> = Channel::ALL
        .into_iter()
        .filter(|c| name.contains(c.as_str()))
        .collect();
    match found.as_slice() {
        [one] => Some(*one),
        _ => None,
    }
}

/// The channel of one line's `"channel"` field, when it names one.
pub fn channel_from_line(line: &[u8]) -> Option<Channel> {
    #[derive(serde::Deserialize)]
    struct Probe {
        channel: Option<String>,
    }
    let probe: Probe = serde_json::from_slice(line).ok()?;
    probe.channel?.parse().ok()
}

/// Routes the lines of the input files to raw topics.
///
/// # Errors
/// When a file cannot be read.
pub fn route(
    inputs: &[PathBuf],
    topics: &TopicsConfig,
) -> anyhow::Result<(Vec<Outgoing>, Vec<DlqLine>)> {
    let mut records = Vec::new();
    let mut unrouted = Vec::new();
    for path in inputs {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let file_channel = channel_from_file_name(path);
        let file_label = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        if file_channel.is_none() {
            tracing::info!(file = %file_label, "no single channel in the file name: each line needs a \"channel\" field");
        }
        for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let line_no = i as i64 + 1;
            let channel = channel_from_line(line).or(file_channel);
            match channel.and_then(|c| embedded::raw_topic(topics, c)) {
                Some(topic) => records.push(Outgoing {
                    topic: topic.to_string(),
                    key: Some(format!("{file_label}:{line_no}").into_bytes()),
                    payload: line.to_vec(),
                }),
                None => unrouted.push(DlqLine::new(
                    match channel {
                        Some(c) => format!("no raw topic is configured for channel {c}"),
                        None => "no channel: the file name names none (or several) and the line has no \"channel\" field".into(),
                    },
                    "no_channel".into(),
                    file_label.clone(),
                    -1,
                    line_no,
                    line,
                )),
            }
        }
    }
    Ok((records, unrouted))
}

/// Runs the replay and writes the files; returns their paths.
///
/// # Errors
/// When the configuration, the broker, the pipeline or the files fail.
pub fn run(args: ReplayArgs) -> anyhow::Result<Vec<PathBuf>> {
    let mut config = match &args.config {
        Some(path) => Config::load(Some(path)).map_err(|e| anyhow::anyhow!("{e}"))?,
        None => Config::default(),
    };
    if let Some(p) = args.partitions {
        anyhow::ensure!(p >= 1, "--partitions must be at least 1");
        config.topics.partitions = p;
    }
    // Shadow mode fails fast on a bad candidate, before anything runs.
    let candidate = args
        .rules
        .as_deref()
        .map(crate::rules_cmd::load)
        .transpose()?;
    let (records, unrouted) = route(&args.inputs, &config.topics)?;
    let embedded = Embedded::start("journey-replay")?;
    config.kafka = embedded.kafka.clone();
    let kafka = config.kafka.clone();
    let pipeline_cfg = config
        .into_pipeline_config()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    embedded.create_topics(&pipeline_cfg.topics, &pipeline_cfg.stitch.rules)?;
    let shadow_inputs = candidate.as_ref().map(|_| {
        (
            pipeline_cfg.topics.clone(),
            pipeline_cfg.normalize.clone(),
            pipeline_cfg.stitch.clone(),
        )
    });
    let produced = embedded::produce(&kafka, &records, false)?;
    tracing::info!(
        records = produced,
        unrouted = unrouted.len(),
        "raw records produced"
    );
    let finished = embedded::run_to_quiet(pipeline_cfg, produced, args.timeout, false)?;
    let mut out = RunOutputs {
        outputs: finished.outputs,
        journeys: finished.journeys,
        extra_dead_letters: unrouted,
    };
    let files = out.write(&args.out)?;
    eprintln!(
        "replayed {produced} records: {} customers, {} handovers, {} alerts, {} merges, {} dead letters",
        out.journeys.len(),
        out.outputs.handovers.len(),
        out.outputs.alerts.len(),
        out.outputs.merges.len(),
        out.dlq_lines().len()
    );
    if let (Some(candidate), Some((topics, normalize, current)), Some(path)) =
        (candidate, shadow_inputs, &args.rules)
    {
        let events = crate::shadow::events(&records, &topics, &normalize);
        let diff = crate::shadow::diff(&events, &current, &candidate);
        print!("{}", diff.render(&path.display().to_string()));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_from_the_file_name_needs_exactly_one() {
        assert_eq!(
            channel_from_file_name(Path::new("in/chat.jsonl")),
            Some(Channel::Chat)
        );
        assert_eq!(
            channel_from_file_name(Path::new("2026-11-Phone.jsonl")),
            Some(Channel::Phone)
        );
        assert_eq!(channel_from_file_name(Path::new("events.jsonl")), None);
        assert_eq!(
            channel_from_file_name(Path::new("chat-and-email.jsonl")),
            None
        );
        // The folder does not count.
        assert_eq!(channel_from_file_name(Path::new("chat/all.jsonl")), None);
    }

    #[test]
    fn lines_route_by_field_then_file_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let chat = dir.path().join("chat.jsonl");
        std::fs::write(
            &chat,
            "{\"id\":1}\n\n{\"id\":2,\"channel\":\"survey\"}\nnot json\r\n",
        )
        .expect("write");
        let mixed = dir.path().join("mixed.jsonl");
        std::fs::write(&mixed, "{\"id\":3,\"channel\":\"web\"}\n{\"id\":4}\n").expect("write");
        let (records, unrouted) = route(&[chat, mixed], &TopicsConfig::default()).expect("route");
        let got: Vec<(&str, String, &[u8])> = records
            .iter()
            .map(|r| {
                (
                    r.topic.as_str(),
                    String::from_utf8_lossy(r.key.as_deref().unwrap_or_default()).into_owned(),
                    r.payload.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "cx.raw.chat",
                    "chat.jsonl:1".to_string(),
                    &b"{\"id\":1}"[..]
                ),
                (
                    "cx.raw.survey",
                    "chat.jsonl:3".to_string(),
                    &b"{\"id\":2,\"channel\":\"survey\"}"[..]
                ),
                ("cx.raw.chat", "chat.jsonl:4".to_string(), &b"not json"[..]),
                (
                    "cx.raw.web",
                    "mixed.jsonl:1".to_string(),
                    &b"{\"id\":3,\"channel\":\"web\"}"[..]
                ),
            ]
        );
        assert_eq!(unrouted.len(), 1);
        assert_eq!(
            (
                unrouted[0].topic.as_str(),
                unrouted[0].offset,
                unrouted[0].kind.as_str()
            ),
            ("mixed.jsonl", 2, "no_channel")
        );
    }
}
