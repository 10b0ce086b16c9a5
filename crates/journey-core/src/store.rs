//! The state-store interface shared by every stateful stage, and an
//! in-memory implementation for tests and the oracle. The RocksDB
//! implementation lives in the `journey-store` crate.
//!
//! State is partitioned: every key belongs to one input partition, so that a
//! partition's state can be dropped, restored or moved on its own. A
//! [`WriteBatch`] holds state changes *and* the input offsets they consumed;
//! a store applies it atomically, so stored offsets and stored state always
//! agree.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// The tables (RocksDB column families) a stage may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Identity stage: identifier → label.
    Identity,
    /// Stitch stage: component label → component state.
    Components,
    /// Event-time timers: `due_ms ‖ key` → ().
    Timers,
    /// Small per-partition metadata (watermark, ...).
    Meta,
}

impl Table {
    pub const ALL: [Table; 4] = [
        Table::Identity,
        Table::Components,
        Table::Timers,
        Table::Meta,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Table::Identity => "identity",
            Table::Components => "components",
            Table::Timers => "timers",
            Table::Meta => "meta",
        }
    }
}

/// One operation of a write batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Put {
        table: Table,
        partition: i32,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        table: Table,
        partition: i32,
        key: Vec<u8>,
    },
    /// The next offset to read of `(topic, partition)`.
    Offset {
        topic: String,
        partition: i32,
        next_offset: i64,
    },
}

/// State changes and consumed offsets, applied atomically.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub ops: Vec<Op>,
}

impl WriteBatch {
    pub fn put(
        &mut self,
        table: Table,
        partition: i32,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) {
        self.ops.push(Op::Put {
            table,
            partition,
            key: key.into(),
            value: value.into(),
        });
    }
    pub fn delete(&mut self, table: Table, partition: i32, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Delete {
            table,
            partition,
            key: key.into(),
        });
    }
    pub fn offset(&mut self, topic: &str, partition: i32, next_offset: i64) {
        self.ops.push(Op::Offset {
            topic: topic.to_string(),
            partition,
            next_offset,
        });
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be written or read (I/O error, disk full, corruption):
    /// the stage must stop consuming and report unhealthy.
    #[error("state store failure: {0}")]
    Io(String),
}

/// Key–value pairs of a scan, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// A partitioned key-value store with atomic batches.
pub trait StateStore: Send + Sync {
    fn get(&self, table: Table, partition: i32, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// All `(key, value)` of a partition whose key starts with `prefix`, in key order.
    fn scan(&self, table: Table, partition: i32, prefix: &[u8]) -> Result<Entries, StoreError>;
    /// Applies the batch atomically and durably (a crash leaves all or none of it).
    fn write(&self, batch: &WriteBatch) -> Result<(), StoreError>;
    /// The stored next offset of `(topic, partition)`, if any.
    fn offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, StoreError>;
    /// Removes every key and offset of the partition (its state moved elsewhere).
    fn drop_partition(&self, partition: i32) -> Result<(), StoreError>;
}

type Key = (Table, i32, Vec<u8>);

/// A `BTreeMap` store for tests and the oracle.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    data: BTreeMap<Key, Vec<u8>>,
    offsets: BTreeMap<(String, i32), i64>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A poisoned lock only means another test thread panicked; the map is still consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl StateStore for MemoryStore {
    fn get(&self, table: Table, partition: i32, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .lock()
            .data
            .get(&(table, partition, key.to_vec()))
            .cloned())
    }

    fn scan(&self, table: Table, partition: i32, prefix: &[u8]) -> Result<Entries, StoreError> {
        let inner = self.lock();
        Ok(inner
            .data
            .range((table, partition, prefix.to_vec())..)
            .take_while(|((t, p, k), _)| *t == table && *p == partition && k.starts_with(prefix))
            .map(|((_, _, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn write(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for op in &batch.ops {
            match op {
                Op::Put {
                    table,
                    partition,
                    key,
                    value,
                } => {
                    inner
                        .data
                        .insert((*table, *partition, key.clone()), value.clone());
                }
                Op::Delete {
                    table,
                    partition,
                    key,
                } => {
                    inner.data.remove(&(*table, *partition, key.clone()));
                }
                Op::Offset {
                    topic,
                    partition,
                    next_offset,
                } => {
                    inner
                        .offsets
                        .insert((topic.clone(), *partition), *next_offset);
                }
            }
        }
        Ok(())
    }

    fn offset(&self, topic: &str, partition: i32) -> Result<Option<i64>, StoreError> {
        Ok(self
            .lock()
            .offsets
            .get(&(topic.to_string(), partition))
            .copied())
    }

    fn drop_partition(&self, partition: i32) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.data.retain(|(_, p, _), _| *p != partition);
        inner.offsets.retain(|(_, p), _| *p != partition);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_scans_and_partition_drop() {
        let s = MemoryStore::new();
        let mut b = WriteBatch::default();
        b.put(Table::Components, 0, b"a1".to_vec(), b"x".to_vec());
        b.put(Table::Components, 0, b"a2".to_vec(), b"y".to_vec());
        b.put(Table::Components, 1, b"a3".to_vec(), b"z".to_vec());
        b.offset("t", 0, 42);
        s.write(&b).unwrap();
        assert_eq!(s.scan(Table::Components, 0, b"a").unwrap().len(), 2);
        assert_eq!(s.offset("t", 0).unwrap(), Some(42));
        s.drop_partition(0).unwrap();
        assert_eq!(s.scan(Table::Components, 0, b"").unwrap().len(), 0);
        assert_eq!(
            s.get(Table::Components, 1, b"a3").unwrap(),
            Some(b"z".to_vec())
        );
        assert_eq!(s.offset("t", 0).unwrap(), None);
    }
}
