//! The RocksDB implementation of [`journey_core::store::StateStore`].
//!
//! # Layout
//!
//! One RocksDB database per instance, in the configured directory, with one
//! column family per [`Table`](journey_core::store::Table) (`identity`,
//! `components`, `timers`, `meta`) plus `offsets`. Missing column families
//! are created on open.
//!
//! Every key starts with its input partition as 4 big-endian bytes with the
//! sign bit flipped, so byte order is numeric partition order and one
//! partition's keys are one contiguous range:
//!
//! - state: `partition ‖ caller key` → caller value;
//! - `offsets`: `partition ‖ topic` → next offset to read, `i64` big-endian.
//!
//! [`RocksStore::drop_partition`](journey_core::store::StateStore::drop_partition)
//! is one `delete_range` per column family; `scan` is a bounded iteration
//! over `partition ‖ prefix`.
//!
//! # Durability
//!
//! A [`WriteBatch`](journey_core::store::WriteBatch) — state changes *and* the
//! input offsets they consumed — becomes one RocksDB write batch, applied
//! atomically through the write-ahead log, so after any crash stored state
//! and stored offsets agree (invariant I7). The WAL record reaches the OS
//! before `write` returns: a process crash never loses an acknowledged batch.
//! By default the WAL is not fsynced per batch
//! ([`StoreOptions::sync_writes`]), so a machine crash may roll the store
//! back to an earlier consistent point, from which the stage re-reads its
//! input; [`RocksStore::flush`] makes everything durable at a chosen moment.
//!
//! A failed write (disk full, I/O error) is reported as
//! [`StoreError::Io`](journey_core::store::StoreError::Io) and applies
//! nothing; RocksDB may then refuse every further write until the store is
//! reopened, so the stage must stop consuming, report unhealthy and reopen
//! once the cause is gone. Errors never carry keys or values: they can be
//! personal data.

mod keys;
mod options;
mod rocks;

pub use options::StoreOptions;
pub use rocks::{RocksStore, OFFSETS_CF};

#[cfg(test)]
mod tests;
