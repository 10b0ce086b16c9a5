//! Deterministic ids: every id the pipeline emits is a hash of what caused it,
//! never of arrival order, so that any instance count and any replay produce
//! the same ids.

use xxhash_rust::xxh3::xxh3_64;

/// Stable 64-bit hash of the parts, separated by an ASCII unit separator.
pub fn hash_parts(parts: &[&str]) -> u64 {
    let mut buf = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            buf.push(0x1f);
        }
        buf.extend_from_slice(p.as_bytes());
    }
    xxh3_64(&buf)
}

/// `prefix-` followed by the 16 hex digits of `hash_parts(parts)`.
pub fn id(prefix: &str, parts: &[&str]) -> String {
    format!("{prefix}-{:016x}", hash_parts(parts))
}

/// The canonical event id: channel, format and the source system's event id.
pub fn event_id(channel: &str, format: &str, source_event_id: &str) -> String {
    id("ev", &[channel, format, source_event_id])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_separated() {
        assert_eq!(
            event_id("chat", "native", "1"),
            event_id("chat", "native", "1")
        );
        assert_ne!(hash_parts(&["ab", "c"]), hash_parts(&["a", "bc"]));
        assert_eq!(event_id("chat", "native", "1").len(), 3 + 16);
    }
}
