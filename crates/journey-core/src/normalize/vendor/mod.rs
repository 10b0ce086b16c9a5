//! Vendor formats: the payloads real contact systems emit, one module per
//! format (see `docs/formats/`). Each module offers
//! `normalize(channel, payload, source, cfg)` — raw bytes to canonical events,
//! several for batch payloads — and `detect(payload, object)` for
//! `format = "auto"`. Shared field helpers live in `super::native` and
//! `super::identifiers`/`super::time`.

use serde_json::{Map, Value};

use super::{Format, NormalizeConfig, NormalizeError, NormalizeErrorKind};
use crate::model::{Channel, JourneyEvent, SourceRef};

mod amazon_connect;
mod inbound_email;
mod intercom;
mod qualtrics;
mod segment;
mod shopify_pos;
mod snowplow;
mod square;
mod sunshine;
mod twilio;
mod typeform;
mod zendesk;

/// Normalises a payload of a vendor format.
pub(super) fn normalize(
    format: Format,
    channel: Channel,
    payload: &[u8],
    source: &SourceRef,
    cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    match format {
        Format::Segment => segment::normalize(channel, payload, source, cfg),
        Format::Snowplow => snowplow::normalize(channel, payload, source, cfg),
        Format::AmazonConnect => amazon_connect::normalize(channel, payload, source, cfg),
        Format::Twilio => twilio::normalize(channel, payload, source, cfg),
        Format::Intercom => intercom::normalize(channel, payload, source, cfg),
        Format::Sunshine => sunshine::normalize(channel, payload, source, cfg),
        Format::Zendesk => zendesk::normalize(channel, payload, source, cfg),
        Format::InboundEmail => inbound_email::normalize(channel, payload, source, cfg),
        Format::Square => square::normalize(channel, payload, source, cfg),
        Format::ShopifyPos => shopify_pos::normalize(channel, payload, source, cfg),
        Format::Qualtrics => qualtrics::normalize(channel, payload, source, cfg),
        Format::Typeform => typeform::normalize(channel, payload, source, cfg),
        Format::Auto | Format::Native => Err(NormalizeError::new(
            NormalizeErrorKind::UnknownFormat,
            None,
            "not a vendor format",
        )),
    }
}

/// Whether a payload looks like `format`. `object` is the payload parsed as a
/// JSON object when it is one.
pub(super) fn detect(format: Format, payload: &[u8], object: Option<&Map<String, Value>>) -> bool {
    match format {
        Format::Segment => segment::detect(payload, object),
        Format::Snowplow => snowplow::detect(payload, object),
        Format::AmazonConnect => amazon_connect::detect(payload, object),
        Format::Twilio => twilio::detect(payload, object),
        Format::Intercom => intercom::detect(payload, object),
        Format::Sunshine => sunshine::detect(payload, object),
        Format::Zendesk => zendesk::detect(payload, object),
        Format::InboundEmail => inbound_email::detect(payload, object),
        Format::Square => square::detect(payload, object),
        Format::ShopifyPos => shopify_pos::detect(payload, object),
        Format::Qualtrics => qualtrics::detect(payload, object),
        Format::Typeform => typeform::detect(payload, object),
        Format::Auto | Format::Native => false,
    }
}
