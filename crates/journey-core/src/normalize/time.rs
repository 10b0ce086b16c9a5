//! Tolerant event-time parsing: whatever notation a source uses, the result is
//! milliseconds since the Unix epoch (UTC).
//!
//! Accepted notations:
//! - RFC 3339 / ISO 8601 with an offset: `Z`, `+02:00`, `+0200`, `+02`, a
//!   space (or `t`) instead of `T`, 0–9 fractional digits, an optional
//!   `[Europe/Berlin]` annotation;
//! - RFC 2822 (`Tue, 10 Nov 2026 09:12:00 +0100`), with a trailing comment such
//!   as `(CET)`;
//! - epoch seconds or milliseconds, as a JSON number or a numeric string; values
//!   of magnitude ≥ 10^11 are milliseconds (10^11 seconds is the year 5138,
//!   10^11 milliseconds is March 1973);
//! - a zone-less local timestamp (`2026-11-14 09:12:00`), read in the
//!   configured time zone of the source — never the server's local zone.

use jiff::civil::DateTime;
use jiff::fmt::{rfc2822, temporal};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde_json::Value;

/// Epoch values with at least this magnitude are milliseconds, smaller ones seconds.
pub const EPOCH_MILLIS_THRESHOLD: i64 = 100_000_000_000;

/// Why a time value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The value is neither a string nor a number.
    #[error("expected a string or a number, found {0}")]
    WrongType(&'static str),
    #[error("time is empty")]
    Empty,
    /// The string matches none of the accepted notations.
    #[error("unrecognised time `{0}` (expected RFC 3339, RFC 2822 or epoch seconds/milliseconds)")]
    Unrecognised(String),
    /// A date without a time of day.
    #[error("time `{0}` has no time of day")]
    NoTimeOfDay(String),
    /// Epoch values must be positive.
    #[error("epoch time {0} is not positive")]
    NotPositive(String),
    /// Outside the range jiff (and Avro `timestamp-millis`) can represent.
    #[error("time `{0}` is out of range")]
    OutOfRange(String),
}

/// Reads a time given as a JSON string or number.
///
/// # Errors
/// [`TimeError`] when the value is not a string or number, or cannot be read.
pub fn parse_value(value: &Value, tz: &TimeZone) -> Result<i64, TimeError> {
    match value {
        Value::String(s) => parse_str(s, tz),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                from_epoch_int(i)
            } else if let Some(f) = n.as_f64() {
                from_epoch_float(f, &n.to_string())
            } else {
                Err(TimeError::OutOfRange(n.to_string()))
            }
        }
        other => Err(TimeError::WrongType(json_type_name(other))),
    }
}

/// Reads a time given as a string (any accepted notation, numeric strings included).
///
/// # Errors
/// [`TimeError`] when the string matches no accepted notation or is out of range.
pub fn parse_str(raw: &str, tz: &TimeZone) -> Result<i64, TimeError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(TimeError::Empty);
    }
    if looks_numeric(s) {
        return if let Ok(i) = s.parse::<i64>() {
            from_epoch_int(i)
        } else {
            match s.parse::<f64>() {
                Ok(f) if f.is_finite() => from_epoch_float(f, s),
                _ => Err(TimeError::OutOfRange(shorten(s))),
            }
        };
    }
    if let Ok(pieces) = temporal::Pieces::parse(s) {
        return from_pieces(s, &pieces, tz);
    }
    static RFC2822: rfc2822::DateTimeParser = rfc2822::DateTimeParser::new();
    if let Ok(ts) = RFC2822.parse_timestamp(s) {
        return Ok(ts.as_millisecond());
    }
    Err(TimeError::Unrecognised(shorten(s)))
}

fn from_pieces(s: &str, pieces: &temporal::Pieces<'_>, tz: &TimeZone) -> Result<i64, TimeError> {
    static TEMPORAL: temporal::DateTimeParser = temporal::DateTimeParser::new();
    let Some(time) = pieces.time() else {
        return Err(TimeError::NoTimeOfDay(shorten(s)));
    };
    if pieces.offset().is_some() {
        // An explicit offset wins over any bracketed time zone annotation.
        return TEMPORAL
            .parse_timestamp(s)
            .map(|ts| ts.as_millisecond())
            .map_err(|_| TimeError::OutOfRange(shorten(s)));
    }
    if pieces.time_zone_annotation().is_some() {
        return TEMPORAL
            .parse_zoned(s)
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|_| TimeError::Unrecognised(shorten(s)));
    }
    let dt = DateTime::from_parts(pieces.date(), time);
    // `compatible`: a time in a DST gap moves forward, one in a fold takes the earlier instant.
    tz.to_timestamp(dt)
        .map(|ts| ts.as_millisecond())
        .map_err(|_| TimeError::OutOfRange(shorten(s)))
}

/// Epoch seconds or milliseconds, told apart by magnitude.
///
/// # Errors
/// [`TimeError::NotPositive`] for zero or negative values, [`TimeError::OutOfRange`]
/// for values beyond the year 9999.
pub fn from_epoch_int(v: i64) -> Result<i64, TimeError> {
    if v <= 0 {
        return Err(TimeError::NotPositive(v.to_string()));
    }
    let ts = if v >= EPOCH_MILLIS_THRESHOLD {
        Timestamp::from_millisecond(v)
    } else {
        Timestamp::from_second(v)
    };
    ts.map(|t| t.as_millisecond())
        .map_err(|_| TimeError::OutOfRange(v.to_string()))
}

fn from_epoch_float(v: f64, shown: &str) -> Result<i64, TimeError> {
    if v.is_nan() || v <= 0.0 {
        return Err(TimeError::NotPositive(shorten(shown)));
    }
    let ms = if v >= EPOCH_MILLIS_THRESHOLD as f64 {
        v
    } else {
        v * 1000.0
    };
    // `as` saturates; the range check below rejects the saturated values.
    let ms = ms.floor() as i64;
    Timestamp::from_millisecond(ms)
        .map(|t| t.as_millisecond())
        .map_err(|_| TimeError::OutOfRange(shorten(shown)))
}

/// Digits with an optional sign and an optional fractional part (no exponent:
/// nobody writes a time as `1.7e9` in a string).
fn looks_numeric(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Error messages quote the value, but never more than 64 characters of it.
fn shorten(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

pub(crate) fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// 2026-11-10T08:12:00Z
    const T: i64 = 1_794_298_320_000;

    fn utc(s: &str) -> Result<i64, TimeError> {
        parse_str(s, &TimeZone::UTC)
    }

    fn berlin() -> TimeZone {
        // A POSIX rule needs no tzdb on the test machine.
        TimeZone::posix("CET-1CEST,M3.5.0,M10.5.0/3").expect("valid posix tz")
    }

    #[test]
    fn rfc3339_offsets_with_and_without_colon_and_z() {
        assert_eq!(utc("2026-11-10T08:12:00Z"), Ok(T));
        assert_eq!(utc("2026-11-10T09:12:00+01:00"), Ok(T));
        assert_eq!(utc("2026-11-10T09:12:00+0100"), Ok(T));
        assert_eq!(utc("2026-11-10T10:12:00+02"), Ok(T));
        assert_eq!(utc("2026-11-10T03:12:00-05:00"), Ok(T));
        assert_eq!(utc("2026-11-10T08:12:00+0000"), Ok(T));
        assert_eq!(utc("2026-11-10t08:12:00z"), Ok(T));
    }

    #[test]
    fn space_instead_of_t() {
        assert_eq!(utc("2026-11-10 09:12:00+01:00"), Ok(T));
        assert_eq!(utc("  2026-11-10 08:12:00Z  "), Ok(T));
    }

    #[test]
    fn zero_to_nine_fractional_digits() {
        assert_eq!(utc("2026-11-10T08:12:00Z"), Ok(T));
        assert_eq!(utc("2026-11-10T08:12:00.1Z"), Ok(T + 100));
        assert_eq!(utc("2026-11-10T08:12:00.123Z"), Ok(T + 123));
        assert_eq!(utc("2026-11-10 08:12:00.123456+0000"), Ok(T + 123));
        assert_eq!(utc("2026-11-10T08:12:00.987654321Z"), Ok(T + 987));
        assert_eq!(utc("2026-11-10T08:12:00,5Z"), Ok(T + 500));
        assert!(utc("2026-11-10T08:12:00.1234567891Z").is_err());
    }

    #[test]
    fn rfc2822_with_and_without_trailing_comment() {
        assert_eq!(utc("Tue, 10 Nov 2026 09:12:00 +0100"), Ok(T));
        assert_eq!(utc("Tue, 10 Nov 2026 09:12:00 +0100 (CET)"), Ok(T));
        assert_eq!(utc("10 Nov 2026 08:12:00 GMT"), Ok(T));
        // Summer: CEST is +0200.
        assert_eq!(
            utc("Sat, 13 Jun 2026 12:00:00 +0200 (CEST)"),
            utc("2026-06-13T10:00:00Z")
        );
    }

    #[test]
    fn epoch_seconds_versus_milliseconds_by_magnitude() {
        assert_eq!(parse_value(&json!(1_794_298_320), &TimeZone::UTC), Ok(T));
        assert_eq!(
            parse_value(&json!(1_794_298_320_123_i64), &TimeZone::UTC),
            Ok(T + 123)
        );
        assert_eq!(parse_value(&json!("1794298320"), &TimeZone::UTC), Ok(T));
        assert_eq!(
            parse_value(&json!("1794298320123"), &TimeZone::UTC),
            Ok(T + 123)
        );
        assert_eq!(
            parse_value(&json!(1_794_298_320.5), &TimeZone::UTC),
            Ok(T + 500)
        );
        assert_eq!(
            parse_value(&json!("1794298320.25"), &TimeZone::UTC),
            Ok(T + 250)
        );
        // Just below the threshold: seconds (year 5138); at it: milliseconds (1973).
        assert_eq!(from_epoch_int(99_999_999_999), Ok(99_999_999_999_000));
        assert_eq!(
            from_epoch_int(EPOCH_MILLIS_THRESHOLD),
            Ok(EPOCH_MILLIS_THRESHOLD)
        );
    }

    #[test]
    fn bad_epochs_are_rejected() {
        assert!(matches!(from_epoch_int(0), Err(TimeError::NotPositive(_))));
        assert!(matches!(from_epoch_int(-1), Err(TimeError::NotPositive(_))));
        assert!(matches!(
            from_epoch_int(i64::MAX),
            Err(TimeError::OutOfRange(_))
        ));
        assert!(matches!(
            parse_value(&json!(1e300), &TimeZone::UTC),
            Err(TimeError::OutOfRange(_))
        ));
        assert!(matches!(
            utc("99999999999999999999999"),
            Err(TimeError::OutOfRange(_))
        ));
    }

    #[test]
    fn zone_less_timestamps_use_the_configured_zone_not_the_servers() {
        // Winter: CET (+01:00).
        assert_eq!(parse_str("2026-11-10 09:12:00", &berlin()), Ok(T));
        assert_eq!(parse_str("2026-11-10T09:12:00.000", &berlin()), Ok(T));
        // Summer: CEST (+02:00).
        assert_eq!(
            parse_str("2026-06-13 12:00:00", &berlin()),
            utc("2026-06-13T10:00:00Z")
        );
        // The default is UTC, whatever TZ the test process has.
        assert_eq!(parse_str("2026-11-10 08:12:00", &TimeZone::UTC), Ok(T));
        // An explicit offset wins over the configured zone.
        assert_eq!(parse_str("2026-11-10T08:12:00Z", &berlin()), Ok(T));
        // A fixed-offset zone works too.
        let plus3 = TimeZone::fixed(jiff::tz::offset(3));
        assert_eq!(parse_str("2026-11-10 11:12:00", &plus3), Ok(T));
    }

    #[test]
    fn dst_gap_resolves_forward() {
        // 02:30 does not exist on 2026-03-29 in Berlin; `compatible` gives 03:30 CEST.
        assert_eq!(
            parse_str("2026-03-29 02:30:00", &berlin()),
            utc("2026-03-29T01:30:00Z")
        );
    }

    #[test]
    fn junk_and_wrong_types_are_errors() {
        assert_eq!(utc(""), Err(TimeError::Empty));
        assert_eq!(utc("   "), Err(TimeError::Empty));
        assert!(matches!(utc("yesterday"), Err(TimeError::Unrecognised(_))));
        assert!(matches!(
            utc("2026-13-45T00:00:00Z"),
            Err(TimeError::Unrecognised(_))
        ));
        assert!(matches!(
            utc("2026-11-10T08:12:00Z trailing"),
            Err(TimeError::Unrecognised(_))
        ));
        assert!(matches!(utc("2026-11-10"), Err(TimeError::NoTimeOfDay(_))));
        assert_eq!(
            parse_value(&json!(true), &TimeZone::UTC),
            Err(TimeError::WrongType("a boolean"))
        );
        assert_eq!(
            parse_value(&json!(null), &TimeZone::UTC),
            Err(TimeError::WrongType("null"))
        );
    }

    #[test]
    fn error_messages_quote_at_most_64_characters() {
        let long = "x".repeat(1000);
        let msg = utc(&long).expect_err("junk").to_string();
        assert!(msg.len() < 200, "{msg}");
        assert!(msg.starts_with("unrecognised time `xxxx"), "{msg}");
    }
}
