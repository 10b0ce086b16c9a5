//! The JSON-lines files that `journey demo` and `journey replay` write:
//! `handovers.jsonl`, `alerts.jsonl`, `merges.jsonl`, `identity-reviews.jsonl`,
//! `journeys.jsonl` and `dlq.jsonl`.
//!
//! Deterministic by construction: every list is sorted into its canonical
//! order (by event time, then id; journeys by customer id; dead letters by
//! source coordinates), serde_json writes struct fields in declaration order,
//! and nothing about the run (wall-clock times, temp paths) is written. The
//! same pipeline result gives byte-identical files.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use journey_core::journey::CustomerJourney;
use journey_kafka::outputs::{DeadLetter, Outputs};
use serde::Serialize;

/// One line of `dlq.jsonl`. The payload is written as text when it is valid
/// UTF-8 (`payload`), else base64-encoded (`payload_base64`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DlqLine {
    pub reason: String,
    pub kind: String,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
}

impl DlqLine {
    pub fn new(
        reason: String,
        kind: String,
        topic: String,
        partition: i32,
        offset: i64,
        payload: &[u8],
    ) -> Self {
        let (payload, payload_base64) = match std::str::from_utf8(payload) {
            Ok(s) => (Some(s.to_string()), None),
            Err(_) => (None, Some(base64(payload))),
        };
        DlqLine {
            reason,
            kind,
            topic,
            partition,
            offset,
            payload,
            payload_base64,
        }
    }
}

impl From<&DeadLetter> for DlqLine {
    fn from(d: &DeadLetter) -> Self {
        DlqLine::new(
            d.reason.clone(),
            d.kind.clone(),
            d.topic.clone(),
            d.partition,
            d.offset,
            &d.payload,
        )
    }
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Everything a run writes, in canonical order.
pub struct RunOutputs {
    pub outputs: Outputs,
    pub journeys: Vec<CustomerJourney>,
    /// Dead letters produced outside the pipeline (e.g. replay lines without a channel).
    pub extra_dead_letters: Vec<DlqLine>,
}

impl RunOutputs {
    /// Sorts every list into its canonical order.
    pub fn sort(&mut self) {
        let o = &mut self.outputs;
        o.handovers.sort_by(|a, b| {
            (a.trigger.event_time_ms, &a.handover_id)
                .cmp(&(b.trigger.event_time_ms, &b.handover_id))
        });
        o.alerts
            .sort_by(|a, b| (a.fired_at_ms, &a.alert_id).cmp(&(b.fired_at_ms, &b.alert_id)));
        o.merges
            .sort_by(|a, b| (a.event_time_ms, &a.merge_id).cmp(&(b.event_time_ms, &b.merge_id)));
        o.reviews
            .sort_by(|a, b| (a.event_time_ms, &a.review_id).cmp(&(b.event_time_ms, &b.review_id)));
        self.journeys
            .sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    }

    /// All dead letters as output lines, sorted by source coordinates.
    pub fn dlq_lines(&self) -> Vec<DlqLine> {
        let mut lines: Vec<DlqLine> = self
            .outputs
            .dead_letters
            .iter()
            .map(DlqLine::from)
            .collect();
        lines.extend(self.extra_dead_letters.iter().cloned());
        lines.sort_by(|a, b| {
            (&a.topic, a.partition, a.offset, &a.reason).cmp(&(
                &b.topic,
                b.partition,
                b.offset,
                &b.reason,
            ))
        });
        lines
    }

    /// Writes the six files into `dir` (created when missing) and returns their paths.
    ///
    /// # Errors
    /// When the folder or a file cannot be written.
    pub fn write(&mut self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        self.sort();
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create output folder {}", dir.display()))?;
        Ok(vec![
            write_jsonl(dir, "handovers.jsonl", &self.outputs.handovers)?,
            write_jsonl(dir, "alerts.jsonl", &self.outputs.alerts)?,
            write_jsonl(dir, "merges.jsonl", &self.outputs.merges)?,
            write_jsonl(dir, "identity-reviews.jsonl", &self.outputs.reviews)?,
            write_jsonl(dir, "journeys.jsonl", &self.journeys)?,
            write_jsonl(dir, "dlq.jsonl", &self.dlq_lines())?,
        ])
    }
}

/// Writes one value per line, atomically (temp file, then rename).
fn write_jsonl<T: Serialize>(dir: &Path, name: &str, items: &[T]) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = std::io::BufWriter::new(file);
    for item in items {
        serde_json::to_writer(&mut w, item)?;
        w.write_all(b"\n")?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn dlq_payload_is_text_or_base64() {
        let t = DlqLine::new(
            "r".into(),
            "invalid_json".into(),
            "cx.raw.chat".into(),
            0,
            7,
            b"{oops",
        );
        assert_eq!(
            serde_json::to_string(&t).expect("json"),
            r#"{"reason":"r","kind":"invalid_json","topic":"cx.raw.chat","partition":0,"offset":7,"payload":"{oops"}"#
        );
        let b = DlqLine::new(
            "r".into(),
            "invalid_utf8".into(),
            "t".into(),
            1,
            2,
            b"\xff\xfe",
        );
        assert_eq!(b.payload, None);
        assert_eq!(b.payload_base64.as_deref(), Some("//4="));
    }
}
