//! Identifier normalisation: turns the raw customer identifiers of any format
//! into canonical [`Identifier`]s, or drops them as junk.
//!
//! - emails: trimmed, lower-cased, `mailto:` and `Name <addr>` unwrapped; an
//!   address without `@` or with an impossible domain is junk;
//! - phones: E.164 via the `phonenumber` crate (libphonenumber metadata) with
//!   the source's default region; `tel:` URIs, `(0)` trunk prefixes and
//!   WhatsApp-style digits without `+` are understood, `client:`/`sip:`
//!   addresses are not phone numbers;
//! - everything else: trimmed, case kept.
//!
//! Junk values (`""`, `"null"`, `"0"`, `"-1"`, `anonymous`, shared addresses
//! such as `test@test.com` or `noreply@…`, plus the configured blocked values)
//! never identify anyone: they are dropped as if absent.

use crate::model::{IdType, Identifier};
use phonenumber::country;

/// Longer values are not identifiers but accidents (a pasted body, a token dump).
pub const MAX_IDENTIFIER_LEN: usize = 256;

/// Values that mean "no value", compared trimmed and lower-cased.
const JUNK_VALUES: &[&str] = &[
    "",
    "null",
    "(null)",
    "nil",
    "nan",
    "undefined",
    "none",
    "n/a",
    "na",
    "0",
    "-1",
    "anonymous",
    "unknown",
    "[object object]",
];

/// Shared mailbox local parts: an address starting with one of these and `@`
/// belongs to a system, not a customer.
const SHARED_LOCAL_PARTS: &[&str] = &[
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
    "mailer-daemon",
];

/// Shared whole addresses (test and placeholder accounts).
const SHARED_ADDRESSES: &[&str] = &[
    "test@test.com",
    "test@test.de",
    "test@example.com",
    "example@example.com",
    "email@example.com",
    "user@example.com",
    "a@a.com",
];

/// Normalises one raw identifier value of the given type.
///
/// Returns `None` when the value is junk, cannot be normalised (an email
/// without `@`, a phone number the phone-number library rejects) or is one of
/// `blocked` (lower-case values, compared after normalisation).
pub fn normalize(
    id_type: IdType,
    raw: &str,
    default_region: &str,
    blocked: &[String],
) -> Option<Identifier> {
    if is_junk(raw) {
        return None;
    }
    let value = match id_type {
        IdType::Email => email(raw)?,
        IdType::Phone => phone(raw, default_region)?,
        _ => plain(raw)?,
    };
    if is_junk(&value) || is_blocked(&value, blocked) {
        return None;
    }
    Some(Identifier::new(id_type, value))
}

/// True for values that mean "no value" (see the module docs), whatever the type.
pub fn is_junk(raw: &str) -> bool {
    let v = raw.trim();
    v.len() > MAX_IDENTIFIER_LEN
        || v.chars().any(char::is_control)
        || JUNK_VALUES.iter().any(|j| v.eq_ignore_ascii_case(j))
}

fn is_blocked(value: &str, blocked: &[String]) -> bool {
    let lower = value.to_lowercase();
    blocked.iter().any(|b| b.trim() == lower)
}

/// A generic identifier: trimmed, case kept; `None` when junk.
pub fn plain(raw: &str) -> Option<String> {
    let v = raw.trim();
    (!is_junk(v)).then(|| v.to_string())
}

/// An email address: trimmed and lower-cased; `None` when it is not an address
/// or a shared one (`noreply@…`, `test@test.com`).
///
/// Accepts `mailto:` URIs and header notation `Name <addr>` (the display name,
/// possibly RFC 2047-encoded, is ignored).
pub fn email(raw: &str) -> Option<String> {
    let mut v = raw.trim();
    if let (Some(open), true) = (v.rfind('<'), v.ends_with('>')) {
        v = &v[open + 1..v.len() - 1];
    }
    let v = v.trim();
    let v = v
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("mailto:"))
        .map_or(v, |_| &v[7..]);
    let v = v.split('?').next().unwrap_or(v).trim().to_lowercase();
    let (local, domain) = v.rsplit_once('@')?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    let local_ok = !local.is_empty()
        && !local
            .chars()
            .any(|c| c.is_whitespace() || c == '<' || c == '>');
    if !domain_ok || !local_ok || is_shared_email(&v) {
        return None;
    }
    Some(v)
}

/// True for shared/system mailboxes that must never identify a customer.
pub fn is_shared_email(normalised: &str) -> bool {
    let Some((local, _)) = normalised.rsplit_once('@') else {
        return false;
    };
    SHARED_ADDRESSES.contains(&normalised) || SHARED_LOCAL_PARTS.contains(&local)
}

/// A phone number in E.164 (`+491701234567`), or `None` when it is not a
/// valid phone number.
///
/// `default_region` (ISO 3166 alpha-2, e.g. `DE`) applies to numbers written
/// without a country code; an unknown region means only international
/// notations are understood.
pub fn phone(raw: &str, default_region: &str) -> Option<String> {
    let mut v = raw.trim();
    let lower = v.to_ascii_lowercase();
    if ["client:", "sip:", "sips:", "mailto:"]
        .iter()
        .any(|p| lower.starts_with(p))
        || v.contains('@')
    {
        return None;
    }
    if lower.starts_with("tel:") {
        v = &v[4..];
        // RFC 3966 parameters (`;ext=`, `;phone-context=`) are not part of the number.
        v = v.split(';').next().unwrap_or(v);
    }
    // Letters are not phone numbers here (no vanity numbers, no `ext.`).
    if v.chars().any(char::is_alphabetic) {
        return None;
    }
    // `+49 (0)170 …`: the `(0)` trunk prefix is not dialled after a country code.
    let cleaned = if v.starts_with('+') {
        v.replacen("(0)", "", 1)
    } else {
        v.to_string()
    };
    let region: Option<country::Id> = default_region.trim().to_ascii_uppercase().parse().ok();

    if let Some(e164) = parse_valid(region, &cleaned) {
        return Some(e164);
    }
    // WhatsApp ids and some exports drop the `+`: `491701234567`.
    let digits: String = cleaned
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '/'))
        .collect();
    if (10..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
    {
        return parse_valid(None, &format!("+{digits}"));
    }
    None
}

fn parse_valid(region: Option<country::Id>, s: &str) -> Option<String> {
    let number = phonenumber::parse(region, s).ok()?;
    if !phonenumber::is_valid(&number) {
        return None;
    }
    Some(number.format().mode(phonenumber::Mode::E164).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANNA: &str = "+491701234567";

    #[test]
    fn german_phone_notations_become_e164() {
        for raw in [
            "0170 1234567",
            "0170/1234567",
            "0170-123 45 67",
            "+49 (0)170 1234567",
            "+49 170 1234567",
            "+491701234567",
            "0049 170 1234567",
            "tel:+49-170-1234567",
            "TEL:+491701234567;ext=12",
            "  01701234567  ",
        ] {
            assert_eq!(phone(raw, "DE").as_deref(), Some(ANNA), "{raw}");
        }
    }

    #[test]
    fn whatsapp_digits_without_plus() {
        assert_eq!(phone("491701234567", "DE").as_deref(), Some(ANNA));
        // With another default region the country code still comes from the digits.
        assert_eq!(phone("491701234567", "US").as_deref(), Some(ANNA));
        assert_eq!(phone("14155550142", "DE").as_deref(), Some("+14155550142"));
    }

    #[test]
    fn us_notation_with_region_us() {
        assert_eq!(
            phone("(415) 555-0142", "US").as_deref(),
            Some("+14155550142")
        );
        assert_eq!(phone("415.555.0142", "us").as_deref(), Some("+14155550142"));
        // The region decides: the same digits read in Germany are a landline in Wedel.
        assert_eq!(
            phone("(415) 555-0142", "DE").as_deref(),
            Some("+494155550142")
        );
    }

    #[test]
    fn non_phone_addresses_are_rejected() {
        for raw in [
            "client:anna",
            "client:+491701234567",
            "sip:+491701234567@pbx.example.de",
            "SIP:agent@example.com",
            "mailto:anna@example.de",
            "anna@example.de",
            "1-800-FLOWERS",
            "12",
            "0000",
            "+49 0",
            "+999 1234567",
            "",
        ] {
            assert_eq!(phone(raw, "DE"), None, "{raw}");
        }
    }

    #[test]
    fn unknown_region_still_reads_international_numbers() {
        assert_eq!(phone("+49 170 1234567", "XX").as_deref(), Some(ANNA));
        assert_eq!(phone("0170 1234567", "XX"), None);
    }

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(
            email(" Anna.Schmidt@Example.DE ").as_deref(),
            Some("anna.schmidt@example.de")
        );
        assert_eq!(
            email("mailto:Anna@Example.de").as_deref(),
            Some("anna@example.de")
        );
        assert_eq!(
            email("MAILTO:anna@example.de?subject=hi").as_deref(),
            Some("anna@example.de")
        );
        assert_eq!(
            email("Anna Schmidt <Anna@Example.de>").as_deref(),
            Some("anna@example.de")
        );
    }

    #[test]
    fn rfc2047_encoded_display_names_do_not_disturb_the_address() {
        assert_eq!(
            email("=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <Juergen.Mueller@Example.DE>").as_deref(),
            Some("juergen.mueller@example.de")
        );
        assert_eq!(
            email("=?utf-8?B?QW5uYQ==?= <anna@example.de>").as_deref(),
            Some("anna@example.de")
        );
    }

    #[test]
    fn not_an_email_is_dropped() {
        for raw in [
            "anna.example.de",
            "anna@",
            "@example.de",
            "anna@localhost",
            "anna@exa mple.de",
            "anna@.de",
            "a b@example.de",
        ] {
            assert_eq!(email(raw), None, "{raw}");
        }
    }

    #[test]
    fn shared_addresses_are_dropped() {
        for raw in [
            "test@test.com",
            "TEST@test.com ",
            "noreply@shop.example.de",
            "No-Reply@bank.de",
            "do-not-reply@x.com",
        ] {
            assert_eq!(email(raw), None, "{raw}");
        }
        // ... but a customer whose address merely contains such a word is fine.
        assert_eq!(
            email("noreplyfan@example.de").as_deref(),
            Some("noreplyfan@example.de")
        );
    }

    #[test]
    fn junk_values_never_identify_anyone() {
        for raw in [
            "",
            "  ",
            "null",
            "NULL",
            "undefined",
            "None",
            "n/a",
            "N/A",
            "0",
            "-1",
            "anonymous",
            "Unknown",
        ] {
            for t in IdType::ALL {
                assert_eq!(normalize(t, raw, "DE", &[]), None, "{t:?} {raw:?}");
            }
        }
        assert_eq!(
            normalize(
                IdType::UserId,
                &"x".repeat(MAX_IDENTIFIER_LEN + 1),
                "DE",
                &[]
            ),
            None
        );
        assert_eq!(normalize(IdType::UserId, "u-1\n2", "DE", &[]), None);
    }

    #[test]
    fn real_values_survive_with_case_kept_except_email() {
        assert_eq!(
            normalize(IdType::UserId, " U-4711 ", "DE", &[]),
            Some(Identifier::new(IdType::UserId, "U-4711"))
        );
        assert_eq!(
            normalize(IdType::Email, "Anna@Example.de", "DE", &[]),
            Some(Identifier::new(IdType::Email, "anna@example.de"))
        );
        assert_eq!(
            normalize(IdType::Phone, "0170/1234567", "DE", &[]),
            Some(Identifier::new(IdType::Phone, ANNA))
        );
        // A customer number 10 is not the junk 0.
        assert_eq!(
            normalize(IdType::CustomerNumber, "10", "DE", &[]),
            Some(Identifier::new(IdType::CustomerNumber, "10"))
        );
    }

    #[test]
    fn blocked_values_compare_after_normalisation() {
        let blocked = vec![
            "info@shop.example.de".to_string(),
            "+4930123456".to_string(),
            "guest".to_string(),
        ];
        assert_eq!(
            normalize(IdType::Email, " INFO@Shop.Example.de", "DE", &blocked),
            None
        );
        assert_eq!(normalize(IdType::Phone, "030 123456", "DE", &blocked), None);
        assert_eq!(normalize(IdType::UserId, "Guest", "DE", &blocked), None);
        assert!(normalize(IdType::UserId, "guest-2", "DE", &blocked).is_some());
    }
}
