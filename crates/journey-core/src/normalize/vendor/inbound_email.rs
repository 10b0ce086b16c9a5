//! Inbound email → one canonical email `contact` event (see
//! `docs/formats/inbound_email.md`). Two shapes:
//!
//! - raw RFC 5322 bytes (an `.eml`), parsed with `mail-parser` (RFC 2047
//!   encoded words, folded headers, any charset);
//! - the SendGrid Inbound Parse field set as a flat JSON object of strings:
//!   `headers` (the raw header block), `from`, `to`, `subject`, `text`,
//!   `html`, `envelope` (JSON inside a string), ...; in "raw" mode the whole
//!   message is in `email`.
//!
//! `Message-ID` is the dedupe key, `Date` the event time (RFC 2822, trailing
//! comments such as `(CEST)` allowed), `From` and `Reply-To` the customer. The
//! thread root (first `References`, else `In-Reply-To`, else the message's own
//! id) is the interaction id; a ticket marker `[... #35436]` in the subject is
//! the case id. Bodies, attachments and the subject text are never copied.

use mail_parser::{HeaderValue, Message, MessageParser};
use serde_json::{Map, Value};

use crate::ids;
use crate::model::{Activity, Channel, IdType, Identifier, JourneyEvent, SourceRef};
use crate::normalize::native::wrong_type;
use crate::normalize::{
    identifiers, parse_object, time, Format, NormalizeConfig, NormalizeError,
    NormalizeErrorKind as Kind, MAX_PAYLOAD_BYTES,
};

const FORMAT: Format = Format::InboundEmail;

/// How far into a raw payload `detect` looks for the header block.
const DETECT_WINDOW: usize = 16 * 1024;

/// Headers of which at least one must sit beside `From:` for a payload to be raw email.
const MAIL_HEADERS: &[&str] = &[
    "message-id",
    "date",
    "subject",
    "received",
    "mime-version",
    "to",
    "return-path",
];

pub(super) fn normalize(
    channel: Channel,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(NormalizeError::new(
            Kind::InvalidValue,
            None,
            format!(
                "payload of {} bytes exceeds the limit of {MAX_PAYLOAD_BYTES} bytes",
                payload.len()
            ),
        ));
    }
    let first = payload.iter().find(|b| !b.is_ascii_whitespace());
    let event = if first == Some(&b'{') {
        sendgrid(channel, &parse_object(payload)?, source, cfg)?
    } else {
        let message = parse_raw(payload, "")?;
        from_message(channel, &message, "", Vec::new(), source, cfg)?
    };
    Ok(vec![event])
}

/// Raw RFC 5322 (a header block with `From:` and another mail header), or a
/// SendGrid Inbound Parse object (`headers` beside `envelope` or `from`, all strings).
pub(super) fn detect(payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    match object {
        Some(o) => {
            o.get("headers").is_some_and(Value::is_string)
                && (o.get("envelope").is_some_and(Value::is_string)
                    || o.get("from").is_some_and(Value::is_string))
        }
        None => looks_like_raw_email(payload),
    }
}

fn looks_like_raw_email(payload: &[u8]) -> bool {
    let window = &payload[..payload.len().min(DETECT_WINDOW)];
    let text = String::from_utf8_lossy(window);
    let mut has_from = false;
    let mut has_other = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue; // folded continuation
        }
        let Some((name, _)) = line.split_once(':') else {
            // An mbox `From ` separator may precede the headers; anything else is not a header.
            if i == 0 && line.starts_with("From ") {
                continue;
            }
            return false;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            return false;
        }
        let name = name.to_ascii_lowercase();
        has_from |= name == "from";
        has_other |= MAIL_HEADERS.contains(&name.as_str());
    }
    has_from && has_other
}

/// Parses raw message bytes; `prefix` names the field they came from (`email.`, `headers.`).
fn parse_raw<'x>(raw: &'x [u8], prefix: &str) -> Result<Message<'x>, NormalizeError> {
    MessageParser::default().parse(raw).ok_or_else(|| {
        NormalizeError::new(
            Kind::InvalidValue,
            (!prefix.is_empty()).then(|| prefix.trim_end_matches('.')),
            "not an rfc 5322 message",
        )
    })
}

fn sendgrid(
    channel: Channel,
    obj: &Map<String, Value>,
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<JourneyEvent, NormalizeError> {
    // Every Inbound Parse field is a string (multipart form fields).
    for (key, v) in obj {
        if !v.is_string() && !v.is_null() {
            return Err(wrong_type(key, "a string", v));
        }
    }
    let field = |key: &str| obj.get(key).and_then(Value::as_str);
    let mut fallback = Vec::new();
    if let Some(from) = field("from") {
        push(&mut fallback, IdType::Email, from, cfg);
    }
    if let Some(env) = field("envelope") {
        let parsed: Value = serde_json::from_str(env).map_err(|e| {
            NormalizeError::field(
                Kind::InvalidValue,
                "envelope",
                format!("not a json object: {e}"),
            )
        })?;
        let Value::Object(env) = parsed else {
            return Err(NormalizeError::field(
                Kind::InvalidValue,
                "envelope",
                "not a json object",
            ));
        };
        match env.get("from") {
            Some(Value::String(s)) => push(&mut fallback, IdType::Email, s, cfg),
            Some(Value::Null) | None => {}
            Some(other) => return Err(wrong_type("envelope.from", "a string", other)),
        }
    }
    // "Raw" mode: the full message; otherwise the header block alone.
    if let Some(raw) = field("email").filter(|s| !s.trim().is_empty()) {
        let message = parse_raw(raw.as_bytes(), "email.")?;
        return from_message(channel, &message, "email.", fallback, source, cfg);
    }
    let headers = match field("headers") {
        Some(h) if !h.trim().is_empty() => h,
        _ => return Err(missing("headers")),
    };
    let block = format!("{}\r\n\r\n", headers.trim_end());
    let message = parse_raw(block.as_bytes(), "headers.")?;
    from_message(channel, &message, "headers.", fallback, source, cfg)
}

/// The canonical event of one message. `fallback` identifiers (SendGrid
/// `from`, `envelope.from`) count only when the headers name nobody.
fn from_message(
    channel: Channel,
    message: &Message<'_>,
    prefix: &str,
    fallback: Vec<Identifier>,
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<JourneyEvent, NormalizeError> {
    let path = |h: &str| format!("{prefix}{h}");
    let message_id = message
        .message_id()
        .map(|s| {
            s.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
                .to_string()
        })
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing(&path("Message-ID")))?;
    if message_id.len() > identifiers::MAX_IDENTIFIER_LEN {
        return Err(NormalizeError::field(
            Kind::InvalidValue,
            &path("Message-ID"),
            format!("longer than {} bytes", identifiers::MAX_IDENTIFIER_LEN),
        ));
    }
    let event_time_ms = date(message, &path("Date"), cfg)?;

    let mut ids_out = Vec::new();
    let mut saw_from = false;
    for addr in [message.from(), message.reply_to()].into_iter().flatten() {
        for a in addr.iter() {
            saw_from = true;
            if let Some(raw) = a.address() {
                push(&mut ids_out, IdType::Email, raw, cfg);
            }
        }
    }
    if !saw_from && fallback.is_empty() && message.header_raw("From").is_none() {
        return Err(missing(&path("From")));
    }
    if ids_out.is_empty() {
        ids_out = fallback;
    }

    let interaction_id = texts(message.references())
        .into_iter()
        .chain(texts(message.in_reply_to()))
        .map(|s| {
            s.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
                .to_string()
        })
        .find(|s| !s.is_empty() && s.len() <= identifiers::MAX_IDENTIFIER_LEN)
        .unwrap_or_else(|| message_id.clone());
    let case_id = message.subject().and_then(ticket_marker);

    Ok(JourneyEvent {
        event_id: ids::event_id(channel.as_str(), FORMAT.as_str(), &message_id),
        source_event_id: message_id,
        channel,
        format: FORMAT.as_str().to_string(),
        activity: Activity::Contact,
        event_time_ms,
        identifiers: ids_out,
        interaction_id: Some(interaction_id),
        case_id,
        topic: None,
        promise: None,
        fulfils: None,
        resolves: false,
        score: None,
        sentiment: None,
        transfer_count: 0,
        needs_enrichment: false,
        source_updated_ms: None,
        source: source.clone(),
    })
}

/// The `Date` header: read with the shared tolerant parser (RFC 2822 with a
/// comment, RFC 3339, zone-less in the configured zone), else as `mail-parser`
/// understood it.
fn date(message: &Message<'_>, field: &str, cfg: &NormalizeConfig) -> Result<i64, NormalizeError> {
    let raw = message.header_raw("Date").ok_or_else(|| missing(field))?;
    let unfolded = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    match time::parse_str(&unfolded, &cfg.time_zone) {
        Ok(ms) => Ok(ms),
        Err(e) => match message.date() {
            Some(d) if d.is_valid() && d.to_timestamp() > 0 => {
                Ok(d.to_timestamp().saturating_mul(1000))
            }
            _ => Err(NormalizeError::field(
                Kind::InvalidValue,
                field,
                e.to_string(),
            )),
        },
    }
}

fn texts<'a>(v: &'a HeaderValue<'_>) -> Vec<&'a str> {
    match v {
        HeaderValue::Text(t) => vec![t.as_ref()],
        HeaderValue::TextList(l) => l.iter().map(|t| t.as_ref()).collect(),
        _ => Vec::new(),
    }
}

/// A ticket marker in a subject, `[Ticket #35436]` or `Re: [#T-4242]`: the text
/// after `#` inside square brackets, when it is a plain id.
fn ticket_marker(subject: &str) -> Option<String> {
    let mut rest = subject;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let close = after.find(']')?;
        let inside = &after[..close];
        if let Some((_, id)) = inside.rsplit_once('#') {
            let id = id.trim();
            if !id.is_empty()
                && id.len() <= 64
                && id.chars().any(|c| c.is_ascii_digit())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Some(id.to_string());
            }
        }
        rest = &after[close + 1..];
    }
    None
}

fn missing(path: &str) -> NormalizeError {
    NormalizeError::field(Kind::MissingField, path, "required field is missing")
}

fn push(out: &mut Vec<Identifier>, id_type: IdType, raw: &str, cfg: &NormalizeConfig) {
    out.extend(identifiers::normalize(
        id_type,
        raw,
        &cfg.default_region,
        &cfg.blocked_values,
    ));
}

#[cfg(test)]
mod tests {
    use super::super::super::{detect as detect_format, normalize as run};
    use super::*;
    use serde_json::json;

    const RAW: &str = "Return-Path: <anna.schmidt@example.de>\r\n\
Received: from mail.example.de by mx.shop.example.de; Tue, 10 Nov 2026 09:12:03 +0100\r\n\
From: =?UTF-8?Q?Anna_Schmidt_=28J=C3=BCrgen=29?= <Anna.Schmidt@Example.DE>\r\n\
To: Kundenservice <service@shop.example.de>\r\n\
Subject: =?UTF-8?Q?R=C3=BCckerstattung_fehlt?= [Ticket #35436]\r\n\
Date: Tue, 10 Nov 2026 09:12:00 +0100 (CET)\r\n\
Message-ID: <CAF=abc123@mail.example.de>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
My IBAN is DE02120300000000202051, please refund the wallbox.\r\n";

    fn cfg() -> NormalizeConfig {
        NormalizeConfig {
            blocked_values: vec!["service@shop.example.de".into()],
            ..NormalizeConfig::default()
        }
    }

    fn raw(s: &str) -> Result<Vec<JourneyEvent>, NormalizeError> {
        run(
            Channel::Email,
            Format::InboundEmail,
            s.as_bytes(),
            &SourceRef::default(),
            &cfg(),
        )
    }

    fn grid(v: &Value) -> Result<Vec<JourneyEvent>, NormalizeError> {
        let bytes = serde_json::to_vec(v).expect("json");
        run(
            Channel::Email,
            Format::InboundEmail,
            &bytes,
            &SourceRef::default(),
            &cfg(),
        )
    }

    fn sendgrid_fields() -> Value {
        json!({
            "headers": "Received: by mx0047p1mdw1.sendgrid.net\nFrom: Anna Schmidt <anna.schmidt@example.de>\nTo: service@shop.example.de\nSubject: Where is my refund?\nDate: Tue, 10 Nov 2026 09:12:00 +0100\nMessage-ID: <m-55@mail.example.de>\nIn-Reply-To: <root-1@shop.example.de>\nMIME-Version: 1.0\n",
            "dkim": "{@example.de : pass}",
            "to": "service@shop.example.de",
            "from": "Anna Schmidt <anna.schmidt@example.de>",
            "subject": "Where is my refund?",
            "text": "Hello, my refund for order 1234 is still missing\n",
            "html": "<p>Hello, my refund for order 1234 is still missing</p>",
            "sender_ip": "192.0.2.10",
            "envelope": "{\"to\":[\"service@shop.example.de\"],\"from\":\"anna.schmidt@example.de\"}",
            "attachments": "0",
            "charsets": "{\"to\":\"UTF-8\",\"subject\":\"UTF-8\",\"from\":\"UTF-8\",\"text\":\"UTF-8\"}",
            "SPF": "pass"
        })
    }

    #[test]
    fn raw_message_with_encoded_words_and_dated_comment() {
        let ev = raw(RAW).expect("ok").remove(0);
        assert_eq!(ev.activity, Activity::Contact);
        assert_eq!(ev.source_event_id, "CAF=abc123@mail.example.de");
        assert_eq!(
            ev.event_id,
            ids::event_id("email", "inbound_email", "CAF=abc123@mail.example.de")
        );
        assert_eq!(ev.event_time_ms, 1_794_298_320_000);
        assert_eq!(
            ev.identifiers,
            vec![Identifier::new(IdType::Email, "anna.schmidt@example.de")]
        );
        assert_eq!(ev.case_id.as_deref(), Some("35436"));
        assert_eq!(
            ev.interaction_id.as_deref(),
            Some("CAF=abc123@mail.example.de")
        );
    }

    #[test]
    fn bodies_and_subjects_are_never_copied() {
        let out = serde_json::to_string(&raw(RAW).expect("ok")).expect("json");
        for text in [
            "IBAN",
            "DE0212",
            "Rückerstattung",
            "Jürgen",
            "Schmidt (",
            "wallbox",
        ] {
            assert!(!out.contains(text), "{text}");
        }
        let out = serde_json::to_string(&grid(&sendgrid_fields()).expect("ok")).expect("json");
        assert!(!out.contains("order 1234") && !out.contains("refund?"));
    }

    #[test]
    fn lf_only_line_ends_and_summer_comment_work() {
        let s = RAW.replace("\r\n", "\n").replace(
            "Date: Tue, 10 Nov 2026 09:12:00 +0100 (CET)",
            "Date: Sat, 13 Jun 2026 12:00:00 +0200 (CEST)",
        );
        let ev = raw(&s).expect("ok").remove(0);
        assert_eq!(ev.event_time_ms, 1_781_344_800_000);
    }

    #[test]
    fn reply_to_names_the_customer_behind_a_noreply_form_mailer() {
        let s = RAW
            .replace(
                "From: =?UTF-8?Q?Anna_Schmidt_=28J=C3=BCrgen=29?= <Anna.Schmidt@Example.DE>",
                "From: Kontaktformular <noreply@shop.example.de>\r\nReply-To: =?utf-8?B?SsO8cmdlbg==?= <juergen.mueller@example.de>",
            );
        let ev = raw(&s).expect("ok").remove(0);
        assert_eq!(
            ev.identifiers,
            vec![Identifier::new(IdType::Email, "juergen.mueller@example.de")]
        );
    }

    #[test]
    fn thread_root_is_the_interaction() {
        let s = RAW.replace(
            "MIME-Version: 1.0\r\n",
            "In-Reply-To: <reply-2@shop.example.de>\r\nReferences: <root-1@shop.example.de> <reply-2@shop.example.de>\r\nMIME-Version: 1.0\r\n",
        );
        let ev = raw(&s).expect("ok").remove(0);
        assert_eq!(ev.interaction_id.as_deref(), Some("root-1@shop.example.de"));
    }

    #[test]
    fn zone_less_date_uses_the_configured_zone() {
        let s = RAW.replace(
            "Tue, 10 Nov 2026 09:12:00 +0100 (CET)",
            "2026-11-10 09:12:00",
        );
        let c = NormalizeConfig {
            time_zone: jiff::tz::TimeZone::fixed(jiff::tz::offset(1)),
            ..cfg()
        };
        let ev = run(
            Channel::Email,
            Format::InboundEmail,
            s.as_bytes(),
            &SourceRef::default(),
            &c,
        )
        .expect("ok")
        .remove(0);
        assert_eq!(ev.event_time_ms, 1_794_298_320_000);
    }

    #[test]
    fn missing_or_bad_headers_are_named() {
        let no_id = RAW.replace("Message-ID: <CAF=abc123@mail.example.de>\r\n", "");
        assert_eq!(
            raw(&no_id).expect_err("e").to_string(),
            "field `Message-ID`: required field is missing"
        );
        let no_date = RAW.replace("Date: Tue, 10 Nov 2026 09:12:00 +0100 (CET)\r\n", "");
        assert_eq!(
            raw(&no_date).expect_err("e").to_string(),
            "field `Date`: required field is missing"
        );
        let bad_date = RAW.replace("Tue, 10 Nov 2026 09:12:00 +0100 (CET)", "last tuesday");
        assert_eq!(
            raw(&bad_date).expect_err("e").field.as_deref(),
            Some("Date")
        );
        let no_from = RAW.replace(
            "From: =?UTF-8?Q?Anna_Schmidt_=28J=C3=BCrgen=29?= <Anna.Schmidt@Example.DE>\r\n",
            "",
        );
        assert_eq!(
            raw(&no_from).expect_err("e").to_string(),
            "field `From`: required field is missing"
        );
        let only_shop = RAW.replace("Anna.Schmidt@Example.DE", "Service@Shop.Example.de");
        assert_eq!(raw(&only_shop).expect_err("e").kind, Kind::NoIdentifier);
    }

    #[test]
    fn sendgrid_fields_parse_headers_and_json_envelope() {
        let ev = grid(&sendgrid_fields()).expect("ok").remove(0);
        assert_eq!(ev.source_event_id, "m-55@mail.example.de");
        assert_eq!(ev.interaction_id.as_deref(), Some("root-1@shop.example.de"));
        assert_eq!(ev.event_time_ms, 1_794_298_320_000);
        assert_eq!(
            ev.identifiers,
            vec![Identifier::new(IdType::Email, "anna.schmidt@example.de")]
        );
        let mut v = sendgrid_fields();
        v["envelope"] = json!("{to: nobody");
        assert_eq!(grid(&v).expect_err("e").field.as_deref(), Some("envelope"));
        let mut v = sendgrid_fields();
        v["attachments"] = json!(0);
        assert_eq!(
            grid(&v).expect_err("e").to_string(),
            "field `attachments`: expected a string, found a number"
        );
        let mut v = sendgrid_fields();
        v["headers"] = json!("From: a@example.de\nDate: Tue, 10 Nov 2026 09:12:00 +0100\n");
        assert_eq!(
            grid(&v).expect_err("e").to_string(),
            "field `headers.Message-ID`: required field is missing"
        );
    }

    #[test]
    fn sendgrid_raw_mode_reads_the_email_field() {
        let v = json!({"email": RAW, "headers": "", "envelope": "{\"from\":\"anna.schmidt@example.de\"}", "to": "service@shop.example.de"});
        let bytes = serde_json::to_vec(&v).expect("json");
        assert_eq!(
            detect_format(Channel::Email, &bytes),
            Some(Format::InboundEmail)
        );
        let ev = grid(&v).expect("ok").remove(0);
        assert_eq!(ev.source_event_id, "CAF=abc123@mail.example.de");
    }

    #[test]
    fn detect_is_specific() {
        assert_eq!(
            detect_format(Channel::Email, RAW.as_bytes()),
            Some(Format::InboundEmail)
        );
        let bytes = serde_json::to_vec(&sendgrid_fields()).expect("json");
        assert_eq!(
            detect_format(Channel::Email, &bytes),
            Some(Format::InboundEmail)
        );
        let native = br#"{"id": "m-55", "time": "2026-11-11 08:00:00Z", "type": "email_received", "customer": {"email": "a@example.de"}}"#;
        assert_eq!(detect_format(Channel::Email, native), Some(Format::Native));
        assert!(!looks_like_raw_email(b"Hello: world\n\nno from header"));
        assert!(!looks_like_raw_email(
            b"just some text\nFrom: x@example.de\n"
        ));
        assert!(!looks_like_raw_email(b""));
    }

    #[test]
    fn ticket_markers() {
        assert_eq!(
            ticket_marker("Re: [Ticket #35436] refund").as_deref(),
            Some("35436")
        );
        assert_eq!(
            ticket_marker("[ext] Re: [#T-4242]").as_deref(),
            Some("T-4242")
        );
        assert_eq!(ticket_marker("[#] nothing [# ] [#abc]"), None);
        assert_eq!(ticket_marker("no brackets #35436"), None);
    }
}
