//! Byte encodings of stored keys and offsets.
//!
//! Every key starts with the partition as 4 big-endian bytes with the sign
//! bit flipped, so that RocksDB's bytewise order is the numeric order of
//! partitions (`i32::MIN` first, `-1` before `0`) and all keys of one
//! partition form one contiguous range that a single `delete_range` or a
//! bounded iterator covers.

/// Length of the partition prefix of every key.
pub(crate) const PARTITION_LEN: usize = 4;

/// The 4-byte, order-preserving encoding of a partition.
pub(crate) fn partition_prefix(partition: i32) -> [u8; PARTITION_LEN] {
    ((partition as u32) ^ 0x8000_0000).to_be_bytes()
}

/// The partition a key starts with, or `None` if the key is too short.
pub(crate) fn decode_partition(key: &[u8]) -> Option<i32> {
    let bytes: [u8; PARTITION_LEN] = key.get(..PARTITION_LEN)?.try_into().ok()?;
    Some((u32::from_be_bytes(bytes) ^ 0x8000_0000) as i32)
}

/// `partition ‖ key`: the stored key of a state entry.
pub(crate) fn state_key(partition: i32, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PARTITION_LEN + key.len());
    out.extend_from_slice(&partition_prefix(partition));
    out.extend_from_slice(key);
    out
}

/// `partition ‖ topic`: the stored key of an input offset.
pub(crate) fn offset_key(topic: &str, partition: i32) -> Vec<u8> {
    state_key(partition, topic.as_bytes())
}

/// An offset value: the next offset to read, as 8 big-endian bytes.
pub(crate) fn encode_offset(next_offset: i64) -> [u8; 8] {
    next_offset.to_be_bytes()
}

/// Decodes an offset value; `None` if it is not 8 bytes long.
pub(crate) fn decode_offset(value: &[u8]) -> Option<i64> {
    Some(i64::from_be_bytes(value.try_into().ok()?))
}

/// The smallest key greater than every key that starts with `prefix`, or
/// `None` when no such key exists (the prefix is empty or all `0xFF`).
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut out = prefix[..=last].to_vec();
    out[last] += 1;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARTITIONS: [i32; 9] = [
        i32::MIN,
        i32::MIN + 1,
        -65_536,
        -1,
        0,
        1,
        255,
        65_536,
        i32::MAX,
    ];

    #[test]
    fn partition_encoding_orders_numerically_and_round_trips() {
        for pair in PARTITIONS.windows(2) {
            assert!(
                partition_prefix(pair[0]) < partition_prefix(pair[1]),
                "{} < {}",
                pair[0],
                pair[1]
            );
        }
        for p in PARTITIONS {
            assert_eq!(decode_partition(&state_key(p, b"k")), Some(p));
        }
        assert_eq!(partition_prefix(0), [0x80, 0, 0, 0]);
        assert_eq!(decode_partition(b"abc"), None);
    }

    #[test]
    fn keys_of_one_partition_sort_before_the_next_partition() {
        // The longest, highest key of a partition still sorts below the next partition.
        let high = state_key(-1, &[0xFF; 64]);
        assert!(high < state_key(0, b""));
        assert!(offset_key("zzz", 3) < offset_key("aaa", 4));
    }

    #[test]
    fn offsets_round_trip() {
        for v in [i64::MIN, -1, 0, 1, 42, i64::MAX] {
            assert_eq!(decode_offset(&encode_offset(v)), Some(v));
        }
        assert_eq!(decode_offset(b"short"), None);
    }

    #[test]
    fn prefix_successor_bounds_the_prefix() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xFF, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
        assert_eq!(prefix_successor(b""), None);
        let p = partition_prefix(7);
        let upper = prefix_successor(&p).expect("partition 7 has a successor");
        assert!(state_key(7, &[0xFF; 16]) < upper);
        assert_eq!(upper, partition_prefix(8).to_vec());
    }
}
