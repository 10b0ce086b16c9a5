//! Normalisers: raw record bytes of any supported input format → canonical
//! [`JourneyEvent`]s.
//!
//! Data flows: `payload` bytes → UTF-8 and JSON checks (here, shared by every
//! format) → the format's mapper (`native`, later vendor formats), which reads
//! the envelope and uses [`identifiers`] for customer identifiers and [`time`]
//! for timestamps → [`finish`] sorts and deduplicates identifiers and rejects
//! events left without any. Every failure is a [`NormalizeError`]: bad input,
//! destined for the dead-letter topic; nothing here panics on any input.
//!
//! Pure and synchronous: a [`NormalizeConfig`] per source is all the context.

pub mod identifiers;
mod native;
pub mod time;
mod vendor;

use crate::model::{Channel, JourneyEvent, SourceRef};
use serde_json::{Map, Value};

/// Payloads above this size are rejected (the Kafka default `message.max.bytes` is 1 MiB).
pub const MAX_PAYLOAD_BYTES: usize = 4 * 1024 * 1024;

/// Input formats. A closed set: dispatch with `match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Detect the format from the payload (the detected one is recorded on the event).
    Auto,
    /// The native JSON format of `docs/native-format.md`.
    Native,
    /// Segment Spec `track`/`page`/`identify`/`alias` (also RudderStack).
    Segment,
    /// Snowplow enriched event, Analytics SDK JSON.
    Snowplow,
    /// Amazon Connect contact trace record.
    AmazonConnect,
    /// Twilio Voice status callback or TaskRouter event callback.
    Twilio,
    /// Intercom webhook notification (conversation model).
    Intercom,
    /// Zendesk Sunshine Conversations v2 webhook (`events[]` batch).
    Sunshine,
    /// Zendesk ticket events (`zen:event-type:ticket.*`).
    Zendesk,
    /// Inbound email: raw RFC 5322, or the SendGrid Inbound Parse field set as JSON.
    InboundEmail,
    /// Square webhooks: `payment.*`, `booking.*`, `loyalty.event.created`.
    Square,
    /// Shopify order with `source_name: "pos"`.
    ShopifyPos,
    /// Qualtrics survey response (NPS, CSAT/CES, embedded data).
    Qualtrics,
    /// Typeform `form_response` webhook.
    Typeform,
}

impl Format {
    pub const ALL: [Format; 14] = [
        Format::Auto,
        Format::Native,
        Format::Segment,
        Format::Snowplow,
        Format::AmazonConnect,
        Format::Twilio,
        Format::Intercom,
        Format::Sunshine,
        Format::Zendesk,
        Format::InboundEmail,
        Format::Square,
        Format::ShopifyPos,
        Format::Qualtrics,
        Format::Typeform,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Native => "native",
            Format::Segment => "segment",
            Format::Snowplow => "snowplow",
            Format::AmazonConnect => "amazon_connect",
            Format::Twilio => "twilio",
            Format::Intercom => "intercom",
            Format::Sunshine => "sunshine",
            Format::Zendesk => "zendesk",
            Format::InboundEmail => "inbound_email",
            Format::Square => "square",
            Format::ShopifyPos => "shopify_pos",
            Format::Qualtrics => "qualtrics",
            Format::Typeform => "typeform",
        }
    }

    /// The channel a vendor format belongs to (`None` for `auto` and `native`).
    pub fn channel(self) -> Option<Channel> {
        match self {
            Format::Auto | Format::Native => None,
            Format::Segment | Format::Snowplow => Some(Channel::Web),
            Format::AmazonConnect | Format::Twilio => Some(Channel::Phone),
            Format::Intercom | Format::Sunshine => Some(Channel::Chat),
            Format::Zendesk | Format::InboundEmail => Some(Channel::Email),
            Format::Square | Format::ShopifyPos => Some(Channel::Store),
            Format::Qualtrics | Format::Typeform => Some(Channel::Survey),
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let known: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
                format!(
                    "unknown format `{s}` (expected one of {})",
                    known.join(", ")
                )
            })
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-source settings of a normaliser.
#[derive(Debug, Clone)]
pub struct NormalizeConfig {
    /// ISO 3166 alpha-2 region for phone numbers written without a country
    /// code (`0170 1234567`). Default `DE`.
    pub default_region: String,
    /// Time zone for timestamps without an offset (`2026-11-14 09:12:00`).
    /// Default UTC; never the server's local zone.
    pub time_zone: jiff::tz::TimeZone,
    /// Extra junk identifier values (a shop's shared mailbox, a hotline number),
    /// lower-case, compared after normalisation (`+4930123456`, `info@shop.de`).
    pub blocked_values: Vec<String>,
    /// `(keyword, topic)`: an event without a topic whose free text (message,
    /// body, subject, comment, note) contains the keyword gets the topic. The
    /// text itself is never copied. Longer keywords are tried first.
    pub keyword_topics: Vec<(String, String)>,
}

impl Default for NormalizeConfig {
    fn default() -> Self {
        NormalizeConfig {
            default_region: "DE".to_string(),
            time_zone: jiff::tz::TimeZone::UTC,
            blocked_values: Vec::new(),
            keyword_topics: Vec::new(),
        }
    }
}

impl NormalizeConfig {
    /// Checks the settings once at start.
    ///
    /// # Errors
    /// A message naming the field and the fix when `default_region` is not a
    /// region the phone-number library knows or a blocked value is not lower-case.
    pub fn validate(&self) -> Result<(), String> {
        if self
            .default_region
            .trim()
            .to_ascii_uppercase()
            .parse::<phonenumber::country::Id>()
            .is_err()
        {
            return Err(format!(
                "default_region `{}` is not an ISO 3166 alpha-2 region (e.g. DE, US)",
                self.default_region
            ));
        }
        if let Some(b) = self
            .blocked_values
            .iter()
            .find(|b| b.trim().to_lowercase() != **b)
        {
            return Err(format!(
                "blocked value `{b}` must be trimmed and lower-case"
            ));
        }
        Ok(())
    }
}

/// Why a record could not be normalised. Always bad input: dead-letter it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", render(.field.as_deref(), .reason))]
pub struct NormalizeError {
    pub kind: NormalizeErrorKind,
    /// The field path (`customer.phone`, `promise.kind`), when one field is to blame.
    pub field: Option<String>,
    /// Lower-case, no full stop.
    pub reason: String,
}

fn render(field: Option<&str>, reason: &str) -> String {
    match field {
        Some(f) => format!("field `{f}`: {reason}"),
        None => reason.to_string(),
    }
}

impl NormalizeError {
    pub fn new(kind: NormalizeErrorKind, field: Option<&str>, reason: impl Into<String>) -> Self {
        NormalizeError {
            kind,
            field: field.map(str::to_string),
            reason: reason.into(),
        }
    }

    pub(crate) fn field(kind: NormalizeErrorKind, field: &str, reason: impl Into<String>) -> Self {
        Self::new(kind, Some(field), reason)
    }
}

/// The class of a [`NormalizeError`]: a bounded metrics label and dead-letter field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NormalizeErrorKind {
    InvalidUtf8,
    InvalidJson,
    NotAnObject,
    MissingField,
    WrongType,
    InvalidValue,
    UnknownType,
    NoIdentifier,
    /// `format = "auto"` and the payload matches no known format.
    UnknownFormat,
}

impl NormalizeErrorKind {
    pub const ALL: [NormalizeErrorKind; 9] = [
        NormalizeErrorKind::InvalidUtf8,
        NormalizeErrorKind::InvalidJson,
        NormalizeErrorKind::NotAnObject,
        NormalizeErrorKind::MissingField,
        NormalizeErrorKind::WrongType,
        NormalizeErrorKind::InvalidValue,
        NormalizeErrorKind::UnknownType,
        NormalizeErrorKind::NoIdentifier,
        NormalizeErrorKind::UnknownFormat,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NormalizeErrorKind::InvalidUtf8 => "invalid_utf8",
            NormalizeErrorKind::InvalidJson => "invalid_json",
            NormalizeErrorKind::NotAnObject => "not_an_object",
            NormalizeErrorKind::MissingField => "missing_field",
            NormalizeErrorKind::WrongType => "wrong_type",
            NormalizeErrorKind::InvalidValue => "invalid_value",
            NormalizeErrorKind::UnknownType => "unknown_type",
            NormalizeErrorKind::NoIdentifier => "no_identifier",
            NormalizeErrorKind::UnknownFormat => "unknown_format",
        }
    }
}

impl std::fmt::Display for NormalizeErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Normalises one raw record of `channel` in `format` into canonical events
/// (one for the native format; batch formats may yield several).
///
/// # Errors
/// A [`NormalizeError`] naming the field and the reason when the payload is
/// not valid UTF-8 JSON, misses or mistypes a field, or identifies no one.
///
/// # Example
/// ```
/// use journey_core::model::{Channel, SourceRef};
/// use journey_core::normalize::{normalize, Format, NormalizeConfig};
///
/// let payload = br#"{"id": "c-1", "time": "2026-11-10T09:12:00+01:00", "type": "chat_started",
///                    "customer": {"email": " Anna@Example.DE "}}"#;
/// let events = normalize(Channel::Chat, Format::Native, payload, &SourceRef::default(), &NormalizeConfig::default())?;
/// assert_eq!(events[0].identifiers[0].value, "anna@example.de");
/// assert_eq!(events[0].event_time_ms, 1_794_298_320_000);
/// # Ok::<(), journey_core::normalize::NormalizeError>(())
/// ```
pub fn normalize(
    channel: Channel,
    format: Format,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    let format = match format {
        Format::Auto => detect(channel, payload).ok_or_else(|| {
            NormalizeError::new(
                NormalizeErrorKind::UnknownFormat,
                None,
                format!("payload matches no known {channel} format (native or a vendor format)"),
            )
        })?,
        f => f,
    };
    let mut events = match format {
        Format::Auto | Format::Native => {
            native::normalize(channel, &parse_object(payload)?, source, cfg)?
        }
        vendor => vendor::normalize(vendor, channel, payload, source, cfg)?,
    };
    if !cfg.keyword_topics.is_empty() && events.iter().any(|e| e.topic.is_none()) {
        if let Some(topic) = keyword_topic(payload, &cfg.keyword_topics) {
            for e in events.iter_mut().filter(|e| e.topic.is_none()) {
                e.topic = Some(topic.clone());
            }
        }
    }
    events.into_iter().map(finish).collect()
}

/// Keys whose string values are free text, in any format.
const FREE_TEXT_KEYS: [&str; 11] = [
    "text",
    "body",
    "subject",
    "message",
    "comment",
    "comments",
    "note",
    "notes",
    "description",
    "content",
    "plain",
];

/// The topic of the first (longest) keyword found in the payload's free text:
/// string values under free-text keys of a JSON payload, or the whole text of
/// any other payload (a raw email).
fn keyword_topic(payload: &[u8], map: &[(String, String)]) -> Option<String> {
    fn collect(v: &Value, under_text_key: bool, out: &mut String) {
        match v {
            Value::String(s) if under_text_key => {
                out.push_str(&s.to_lowercase());
                out.push('\n');
            }
            Value::Array(items) => items.iter().for_each(|i| collect(i, under_text_key, out)),
            Value::Object(m) => {
                for (k, v) in m {
                    let k = k.to_ascii_lowercase();
                    let is_text = FREE_TEXT_KEYS
                        .iter()
                        .any(|t| k == *t || k.ends_with(&format!("_{t}")));
                    collect(v, is_text, out);
                }
            }
            _ => {}
        }
    }
    let text = match serde_json::from_slice::<Value>(payload) {
        Ok(v) => {
            let mut out = String::new();
            collect(&v, false, &mut out);
            out
        }
        Err(_) => String::from_utf8_lossy(payload).to_lowercase(),
    };
    let mut keywords: Vec<&(String, String)> = map.iter().collect();
    keywords.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    keywords
        .into_iter()
        .find(|(k, _)| !k.trim().is_empty() && text.contains(&k.trim().to_lowercase()))
        .map(|(_, t)| t.trim().to_lowercase())
}

/// The format of a payload on a topic of `channel`: the channel's vendor
/// formats are tried first, then the native format.
pub fn detect(channel: Channel, payload: &[u8]) -> Option<Format> {
    let object = parse_object(payload).ok();
    Format::ALL
        .into_iter()
        .filter(|f| f.channel() == Some(channel))
        .find(|&f| vendor::detect(f, payload, object.as_ref()))
        .or_else(|| {
            object
                .as_ref()
                .filter(|o| native::detect(o))
                .map(|_| Format::Native)
        })
}

/// Bytes → a JSON object, or the reason why not.
pub(crate) fn parse_object(payload: &[u8]) -> Result<Map<String, Value>, NormalizeError> {
    use NormalizeErrorKind::*;
    if payload.len() > MAX_PAYLOAD_BYTES {
        return Err(NormalizeError::new(
            InvalidJson,
            None,
            format!(
                "payload of {} bytes exceeds the limit of {MAX_PAYLOAD_BYTES} bytes",
                payload.len()
            ),
        ));
    }
    let text = std::str::from_utf8(payload).map_err(|e| {
        NormalizeError::new(
            InvalidUtf8,
            None,
            format!("payload is not valid utf-8 (at byte {})", e.valid_up_to()),
        )
    })?;
    // serde_json stops at 128 levels of nesting with an error, never a stack overflow.
    let value: Value = serde_json::from_str(text).map_err(|e| {
        NormalizeError::new(InvalidJson, None, format!("payload is not valid json: {e}"))
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(NormalizeError::new(
            NotAnObject,
            None,
            format!(
                "payload must be a json object, found {}",
                time::json_type_name(&other)
            ),
        )),
    }
}

/// Common post-processing of every format: identifiers sorted and deduplicated,
/// at least one left.
fn finish(mut event: JourneyEvent) -> Result<JourneyEvent, NormalizeError> {
    event.identifiers.sort();
    event.identifiers.dedup();
    if event.identifiers.is_empty() {
        return Err(NormalizeError::field(
            NormalizeErrorKind::NoIdentifier,
            "customer",
            "no usable customer identifier (all absent or junk)",
        ));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_topics_derive_a_topic_from_free_text_without_copying_it() {
        let cfg = NormalizeConfig {
            keyword_topics: vec![
                ("configurator".into(), "configurator".into()),
                ("geld zurück".into(), "refund".into()),
            ],
            ..NormalizeConfig::default()
        };
        let chat = br#"{"id": "c-1", "time": "2026-11-10T09:12:00Z", "type": "chat_started",
                        "customer": {"email": "a@example.de"}, "text": "The online CONFIGURATOR crashed twice"}"#;
        let events = normalize(
            Channel::Chat,
            Format::Native,
            chat,
            &SourceRef::default(),
            &cfg,
        )
        .expect("valid");
        assert_eq!(events[0].topic.as_deref(), Some("configurator"));
        assert!(!serde_json::to_string(&events)
            .expect("json")
            .contains("crashed"));
        // A topic the source gave wins; field names and ids never match.
        let given = r#"{"id": "configurator", "time": "2026-11-10T09:12:00Z", "type": "chat_started", "topic": "billing",
                         "customer": {"email": "a@example.de"}, "text": "ich will mein Geld zurück"}"#;
        let events = normalize(
            Channel::Chat,
            Format::Native,
            given.as_bytes(),
            &SourceRef::default(),
            &cfg,
        )
        .expect("valid");
        assert_eq!(events[0].topic.as_deref(), Some("billing"));
        let no_text =
            br#"{"id": "configurator", "time": "2026-11-10T09:12:00Z", "type": "chat_started",
                           "customer": {"email": "a@example.de"}}"#;
        let events = normalize(
            Channel::Chat,
            Format::Native,
            no_text,
            &SourceRef::default(),
            &cfg,
        )
        .expect("valid");
        assert_eq!(events[0].topic, None);
        let raw_email = b"From: a@example.de\r\nMessage-ID: <1@example.de>\r\nDate: Tue, 10 Nov 2026 09:12:00 +0000\r\n\r\nBitte Geld zur\xc3\xbcck\r\n";
        assert_eq!(
            keyword_topic(raw_email, &cfg.keyword_topics).as_deref(),
            Some("refund")
        );
    }

    #[test]
    fn format_round_trips_and_rejects_unknown() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>(), Ok(f));
        }
        assert_eq!(" Native ".parse::<Format>(), Ok(Format::Native));
        assert_eq!(
            "segmnt".parse::<Format>(),
            Err("unknown format `segmnt` (expected one of auto, native, segment, snowplow, amazon_connect, twilio, intercom, sunshine, zendesk, inbound_email, square, shopify_pos, qualtrics, typeform)".to_string())
        );
    }

    #[test]
    fn error_display_names_the_field() {
        let e = NormalizeError::field(NormalizeErrorKind::InvalidValue, "customer.phone", "bad");
        assert_eq!(e.to_string(), "field `customer.phone`: bad");
        let e = NormalizeError::new(NormalizeErrorKind::InvalidJson, None, "bad");
        assert_eq!(e.to_string(), "bad");
    }

    #[test]
    fn error_kind_labels_are_unique_snake_case() {
        let labels: std::collections::BTreeSet<&str> =
            NormalizeErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(labels.len(), NormalizeErrorKind::ALL.len());
        assert!(labels.iter().all(|l| l
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')));
    }

    #[test]
    fn config_validation() {
        assert_eq!(NormalizeConfig::default().validate(), Ok(()));
        let bad = NormalizeConfig {
            default_region: "Germany".into(),
            ..NormalizeConfig::default()
        };
        assert!(bad.validate().is_err());
        let bad = NormalizeConfig {
            blocked_values: vec!["Info@Shop.de".into()],
            ..NormalizeConfig::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn bad_payloads_are_classified() {
        let cfg = NormalizeConfig::default();
        let src = SourceRef::default();
        let kind = |p: &[u8]| {
            normalize(Channel::Chat, Format::Native, p, &src, &cfg)
                .map(|_| ())
                .map_err(|e| e.kind)
        };
        assert_eq!(kind(b"\xff\xfe{}"), Err(NormalizeErrorKind::InvalidUtf8));
        assert_eq!(kind(b"{"), Err(NormalizeErrorKind::InvalidJson));
        assert_eq!(kind(b""), Err(NormalizeErrorKind::InvalidJson));
        assert_eq!(kind(b"[1]"), Err(NormalizeErrorKind::NotAnObject));
        assert_eq!(kind(b"null"), Err(NormalizeErrorKind::NotAnObject));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(kind(deep.as_bytes()), Err(NormalizeErrorKind::InvalidJson));
        let huge = vec![b' '; MAX_PAYLOAD_BYTES + 1];
        assert_eq!(kind(&huge), Err(NormalizeErrorKind::InvalidJson));
    }
}
