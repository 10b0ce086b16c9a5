//! Operator-facing settings of the state store (`[store]` in the config file).

use serde::{Deserialize, Serialize};

/// How the RocksDB state store is opened.
///
/// Every field has a default; an empty `[store]` section is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreOptions {
    /// Fsync the write-ahead log on every batch before the batch is
    /// acknowledged.
    ///
    /// Default `false`. Either way the WAL is written (to the OS) before a
    /// write returns, so a process crash — including `SIGKILL` or an
    /// out-of-memory kill — never loses an acknowledged batch. Only a machine
    /// crash or power loss can lose the last acknowledged batches, and then
    /// the store reopens at an earlier, consistent point: state and input
    /// offsets still agree, so the stage simply re-reads those records from
    /// Kafka. Set to `true` only if the input topics might no longer hold
    /// them (very short retention); it costs one fsync per batch.
    #[serde(default = "default_sync_writes")]
    pub sync_writes: bool,

    /// Size of one column family's in-memory write buffer (memtable), in
    /// bytes, before it is flushed to disk. Default 64 MiB (the RocksDB
    /// default). Memory use is up to about two buffers per column family.
    #[serde(default = "default_write_buffer_size_bytes")]
    pub write_buffer_size_bytes: usize,

    /// Compress stored tables with LZ4. Default `true`; turn off only to
    /// trade disk space for a little CPU.
    #[serde(default = "default_compression")]
    pub compression: bool,

    /// How many files RocksDB keeps open. Default 1000; `-1` keeps every file
    /// open (fastest, but needs a high file-descriptor limit).
    #[serde(default = "default_max_open_files")]
    pub max_open_files: i32,
}

/// RocksDB acknowledges a write once its WAL record reached the OS, which
/// survives a process crash; fsync per batch is opt-in.
fn default_sync_writes() -> bool {
    false
}

/// RocksDB's own default `write_buffer_size`.
fn default_write_buffer_size_bytes() -> usize {
    64 << 20
}

/// The workspace builds RocksDB with LZ4 only.
fn default_compression() -> bool {
    true
}

/// Bounded so that an instance stays below the usual 4096 file-descriptor
/// limit alongside its Kafka sockets.
fn default_max_open_files() -> i32 {
    1000
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            sync_writes: default_sync_writes(),
            write_buffer_size_bytes: default_write_buffer_size_bytes(),
            compression: default_compression(),
            max_open_files: default_max_open_files(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_section_gives_defaults_and_unknown_fields_are_rejected() {
        let parsed: StoreOptions = serde_json::from_str("{}").expect("empty section is valid");
        assert_eq!(parsed, StoreOptions::default());
        assert!(!parsed.sync_writes);
        let err = serde_json::from_str::<StoreOptions>(r#"{"sync_write": true}"#)
            .expect_err("a misspelt field is an error");
        assert!(err.to_string().contains("sync_write"), "{err}");
    }
}
