//! Broken records, as real sources produce them now and then: truncated JSON,
//! invalid UTF-8, a missing `type`, wrong JSON types, no usable identifier.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::emit::{push_time, Json, Sink, TimeNotation};
use crate::model::Channel;

/// What is wrong with a malformed record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MalformedKind {
    /// The JSON text ends in the middle.
    Truncated,
    /// A string contains bytes that are not UTF-8.
    InvalidUtf8,
    /// No `type` field.
    MissingType,
    /// `time` is an object.
    TimeObject,
    /// A field with the wrong JSON type (`type` a number, `customer` a string, `id` an array).
    WrongType,
    /// Only junk identifier values (`""`, `"null"`, `-1`, `test@test.com`, …) or none.
    NoIdentifier,
}

impl MalformedKind {
    pub const ALL: [MalformedKind; 6] = [
        MalformedKind::Truncated,
        MalformedKind::InvalidUtf8,
        MalformedKind::MissingType,
        MalformedKind::TimeObject,
        MalformedKind::WrongType,
        MalformedKind::NoIdentifier,
    ];
}

fn type_for(ch: Channel, rng: &mut ChaCha8Rng) -> &'static str {
    let t: &[&str] = match ch {
        Channel::Chat => &["chat_started", "agent_message", "chat_closed"],
        Channel::Phone => &["call_started", "call_ended"],
        Channel::Email => &["email_received", "email_sent"],
        Channel::Web => &["page_view", "track"],
        Channel::Store => &["visit", "purchase"],
        Channel::Survey => &["response"],
    };
    t[rng.gen_range(0..t.len())]
}

/// Writes one malformed record of `kind` at time `t` on channel `ch`.
pub(crate) fn malformed(
    rng: &mut ChaCha8Rng,
    sink: &mut Sink,
    ch: Channel,
    t: i64,
    kind: MalformedKind,
) {
    let n = sink.serial();
    let mut j = Json::default();
    j.open();
    let id = format!("x-{n}");
    if kind == MalformedKind::WrongType && rng.gen_bool(0.3) {
        j.raw("id", format!("[\"{id}\"]").as_bytes());
    } else {
        j.str("id", &id);
    }
    match kind {
        MalformedKind::TimeObject => {
            j.open_obj("time");
            j.int("seconds", t / 1000);
            j.int("nanos", 0);
            j.close();
        }
        _ => {
            j.key("time");
            push_time(&mut j.buf, TimeNotation::pick(rng, ch), t / 1000 * 1000);
        }
    }
    match kind {
        MalformedKind::MissingType => {}
        MalformedKind::WrongType if rng.gen_bool(0.5) => j.int("type", rng.gen_range(1..40)),
        _ => j.str("type", type_for(ch, rng)),
    }
    let cust = format!(
        "{}{}@example.de",
        ["anna.", "leon.", "mia.", "paul."][rng.gen_range(0..4)],
        n % 9973
    );
    match kind {
        MalformedKind::NoIdentifier => {
            let junk: [&[u8]; 6] = [
                b"{}",
                b"{\"email\": \"\", \"phone\": \"undefined\"}",
                b"{\"customer_number\": -1}",
                b"{\"email\": \"test@test.com\", \"user_id\": \"null\"}",
                b"{\"customer_number\": \"0\", \"anonymous_id\": \"undefined\"}",
                b"{\"phone\": \"not a number\", \"email\": \"no-email\"}",
            ];
            j.raw("customer", junk[rng.gen_range(0..junk.len())]);
        }
        MalformedKind::WrongType => j.str("customer", &cust),
        _ => {
            j.open_obj("customer");
            j.str("email", &cust);
            j.close();
        }
    }
    if kind == MalformedKind::InvalidUtf8 {
        j.key("text");
        j.buf
            .extend_from_slice(b"\"Stra\xdfe kaputt \xc3\x28 \xff\xfe\"");
    } else {
        j.str("text", "hello?");
    }
    j.close();
    let mut payload = j.buf;
    if kind == MalformedKind::Truncated {
        let cut = rng.gen_range(payload.len() / 3..payload.len() - 1);
        payload.truncate(cut);
    }
    let key = rng.gen_bool(0.5).then(|| format!("k-{n}"));
    sink.push_malformed(ch, key, payload, t);
}
