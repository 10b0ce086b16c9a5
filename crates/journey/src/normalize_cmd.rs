//! `journey normalize`: runs one normaliser over a file of JSON lines without
//! Kafka and prints the canonical events as pretty JSON on stdout, or
//! `line N: <error>` on stderr for every line that cannot be normalised.
//! With `--whole` the file is one payload (a raw RFC 5322 email, a
//! pretty-printed webhook body).
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

/// Normalises the whole of `input` as one payload (`--whole`).
///
/// # Errors
/// Only I/O errors.
pub fn run_whole(
    channel: Channel,
    format: Format,
    source_name: &str,
    mut input: impl std::io::Read,
    cfg: &NormalizeConfig,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<Tally> {
    let mut payload = Vec::new();
    input.read_to_end(&mut payload)?;
    let source = SourceRef {
        topic: source_name.to_string(),
        partition: 0,
        offset: 1,
    };
    let mut tally = Tally {
        lines: 1,
        ..Tally::default()
    };
    emit(
        normalize(channel, format, &payload, &source, cfg),
        1,
        &mut tally,
        out,
        err,
    )?;
    out.flush()?;
    Ok(tally)
}

fn emit(
    result: Result<Vec<journey_core::model::JourneyEvent>, journey_core::normalize::NormalizeError>,
    line_no: u64,
    tally: &mut Tally,
    out: &mut impl Write,
    err: &mut impl Write,
) -> std::io::Result<()> {
    match result {
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
    Ok(())
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
        emit(
            normalize(channel, format, &line, &source, cfg),
            line_no,
            &mut tally,
            out,
            err,
        )?;
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

    #[test]
    fn whole_file_is_one_payload() {
        let eml = "From: =?UTF-8?Q?J=C3=BCrgen?= <Juergen@Example.DE>\r\nMessage-ID: <m1@example.de>\r\n\
                   Date: Tue, 10 Nov 2026 09:12:00 +0100 (CET)\r\nSubject: refund\r\n\r\nbody text\r\n";
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let tally = run_whole(
            Channel::Email,
            Format::InboundEmail,
            "mail.eml",
            eml.as_bytes(),
            &NormalizeConfig::default(),
            &mut out,
            &mut err,
        )
        .expect("io");
        assert_eq!(
            (tally.events, tally.failed),
            (1, 0),
            "{}",
            String::from_utf8_lossy(&err)
        );
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("juergen@example.de") && !text.contains("body text"));
    }
}
