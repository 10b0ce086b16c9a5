//! `journey normalize`: runs one normaliser over a file of JSON lines without
//! Kafka and prints the canonical events as pretty JSON on stdout, or
//! `line N: <error>` on stderr for every line that cannot be normalised.
//! Empty lines are skipped. The source coordinates of each event are the file
//! name (topic), partition 0 and the 1-based line number (offset).

use std::io::{BufRead, Write};

use journey_core::model::{Channel, SourceRef};
use journey_core::normalize::{normalize, Format, NormalizeConfig};

/// The outcome of a run: how many lines were read, normalised and rejected.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub lines: u64,
    pub events: u64,
    pub failed: u64,
}

/// Normalises every non-empty line of `input`, writing events to `out` and
/// errors to `err`.
///
/// # Errors
/// Only I/O errors; a bad line is counted in [`Tally::failed`] and reported on `err`.
pub fn run(
    channel: Channel,
    format: Format,
    source_name: &str,
    input: impl BufRead,
    cfg: &NormalizeConfig,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<Tally> {
    let mut tally = Tally::default();
    for (i, line) in input.split(b'\n').enumerate() {
        let mut line = line?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_no = i as u64 + 1;
        tally.lines += 1;
        let source = SourceRef {
            topic: source_name.to_string(),
            partition: 0,
            offset: line_no as i64,
        };
        match normalize(channel, format, &line, &source, cfg) {
            Ok(events) => {
                for e in events {
                    let json = serde_json::to_string_pretty(&e).map_err(std::io::Error::other)?;
                    writeln!(out, "{json}")?;
                    tally.events += 1;
                }
            }
            Err(e) => {
                writeln!(err, "line {line_no}: {e}")?;
                tally.failed += 1;
            }
        }
    }
    out.flush()?;
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_lines_print_bad_lines_are_reported() {
        let input = concat!(
            r#"{"id": "c-1", "time": "2026-11-10T09:12:00+01:00", "type": "chat_started", "customer": {"email": " Anna@Example.DE "}}"#,
            "\n\n",
            "{not json\n",
            r#"{"id": "c-2", "time": 1762765920, "type": "no_such_type", "customer": {"email": "a@b.de"}}"#,
            "\n"
        );
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let tally = run(
            Channel::Chat,
            Format::Native,
            "chat.jsonl",
            input.as_bytes(),
            &NormalizeConfig::default(),
            &mut out,
            &mut err,
        )
        .expect("io");
        assert_eq!(
            tally,
            Tally {
                lines: 3,
                events: 1,
                failed: 2
            }
        );
        let out = String::from_utf8(out).expect("utf8");
        assert!(out.contains("\"anna@example.de\""), "{out}");
        assert!(out.contains("\"offset\": 1"), "{out}");
        let err = String::from_utf8(err).expect("utf8");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 2, "{err}");
        assert!(
            lines[0].starts_with("line 3: payload is not valid json"),
            "{err}"
        );
        assert!(lines[1].starts_with("line 4: "), "{err}");
    }
}
