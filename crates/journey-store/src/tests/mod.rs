//! Tests of [`RocksStore`]: the shared [`StateStore`] conformance check (also
//! run against the in-memory reference), persistence, atomicity, partition
//! handling and a SIGKILL crash test (`crash.rs`).

#![allow(clippy::unwrap_used)]

mod conformance;
mod crash;

use std::path::Path;

use journey_core::store::{MemoryStore, StateStore, Table, WriteBatch};

use self::conformance::conformance;
use crate::{RocksStore, StoreOptions};

fn open(dir: &Path) -> RocksStore {
    RocksStore::open(dir, &StoreOptions::default()).unwrap()
}

#[test]
fn memory_store_conformance() {
    conformance(&MemoryStore::new());
}

#[test]
fn rocks_store_conformance() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&open(dir.path()));
}

#[test]
fn rocks_store_conformance_with_sync_writes_and_no_compression() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        sync_writes: true,
        compression: false,
        ..StoreOptions::default()
    };
    conformance(&RocksStore::open(dir.path(), &opts).unwrap());
}

#[test]
fn reopen_keeps_state_and_offsets() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        let mut b = WriteBatch::default();
        b.put(Table::Components, 4, b"c1".to_vec(), b"state".to_vec());
        b.put(Table::Timers, -4, b"t1".to_vec(), b"".to_vec());
        b.offset("events", 4, 1234);
        b.offset("events", -4, 7);
        s.write(&b).unwrap();
        let mut b = WriteBatch::default();
        b.put(Table::Meta, 4, b"watermark".to_vec(), b"99".to_vec());
        s.write(&b).unwrap();
    } // closed without flush: data comes back from the WAL
    {
        let s = open(dir.path());
        assert_eq!(
            s.get(Table::Components, 4, b"c1").unwrap(),
            Some(b"state".to_vec())
        );
        assert_eq!(s.get(Table::Timers, -4, b"t1").unwrap(), Some(Vec::new()));
        assert_eq!(
            s.get(Table::Meta, 4, b"watermark").unwrap(),
            Some(b"99".to_vec())
        );
        assert_eq!(s.offset("events", 4).unwrap(), Some(1234));
        assert_eq!(s.offset("events", -4).unwrap(), Some(7));
        s.flush().unwrap();
        assert!(s.approximate_size_bytes() > 0);
    }
    // Reopen once more after the flush: data now comes from table files.
    let s = open(dir.path());
    assert_eq!(
        s.partitions_with_offsets().unwrap(),
        vec![
            ("events".to_string(), -4, 7),
            ("events".to_string(), 4, 1234)
        ]
    );
    assert_eq!(
        s.scan(Table::Components, 4, b"").unwrap(),
        vec![(b"c1".to_vec(), b"state".to_vec())]
    );
}

#[test]
fn batch_with_state_and_offsets_is_applied_whole() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let mut b = WriteBatch::default();
    for t in Table::ALL {
        b.put(t, 1, b"k".to_vec(), t.name().as_bytes().to_vec());
    }
    b.delete(Table::Identity, 1, b"k".to_vec());
    b.offset("in", 1, 5);
    b.offset("in", 2, 6);
    // Before the write nothing is visible; after it, everything is.
    assert_eq!(s.offset("in", 1).unwrap(), None);
    s.write(&b).unwrap();
    assert_eq!(s.get(Table::Identity, 1, b"k").unwrap(), None);
    for t in [Table::Components, Table::Timers, Table::Meta] {
        assert_eq!(
            s.get(t, 1, b"k").unwrap(),
            Some(t.name().as_bytes().to_vec())
        );
    }
    assert_eq!(s.offset("in", 1).unwrap(), Some(5));
    assert_eq!(s.offset("in", 2).unwrap(), Some(6));
    assert_eq!(s.partitions_with_offsets().unwrap().len(), 2);
}

#[test]
fn drop_partition_leaves_other_partitions_intact_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let parts = [i32::MIN, -1, 0, 1, i32::MAX];
    {
        let s = open(dir.path());
        let mut b = WriteBatch::default();
        for p in parts {
            for i in 0..100u32 {
                b.put(Table::Components, p, i.to_be_bytes().to_vec(), vec![7; 64]);
            }
            b.offset("a", p, 100);
            b.offset("b", p, 200);
        }
        s.write(&b).unwrap();
        s.flush().unwrap(); // half the partitions' data in table files, half in the memtable
        s.drop_partition(0).unwrap();
        s.drop_partition(i32::MIN).unwrap();
    }
    let s = open(dir.path());
    for p in [i32::MIN, 0] {
        assert!(s.scan(Table::Components, p, b"").unwrap().is_empty());
        assert_eq!(s.offset("a", p).unwrap(), None);
    }
    for p in [-1, 1, i32::MAX] {
        assert_eq!(s.scan(Table::Components, p, b"").unwrap().len(), 100);
        assert_eq!(s.offset("b", p).unwrap(), Some(200));
    }
    s.drop_partition(i32::MAX).unwrap();
    assert!(s.scan(Table::Components, i32::MAX, b"").unwrap().is_empty());
    assert_eq!(s.scan(Table::Components, 1, b"").unwrap().len(), 100);
    let listed: Vec<i32> = s
        .partitions_with_offsets()
        .unwrap()
        .iter()
        .map(|(_, p, _)| *p)
        .collect();
    assert_eq!(listed, vec![-1, -1, 1, 1]);
}

#[test]
fn negative_and_large_partitions_order_numerically() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let shuffled = [
        7,
        i32::MIN,
        0,
        -1,
        i32::MAX,
        65_536,
        -65_536,
        1,
        i32::MIN + 1,
        255,
        256,
    ];
    let mut b = WriteBatch::default();
    for p in shuffled {
        b.offset("t", p, i64::from(p) * 2);
        b.put(Table::Meta, p, b"m".to_vec(), p.to_be_bytes().to_vec());
    }
    s.write(&b).unwrap();
    let mut sorted = shuffled.to_vec();
    sorted.sort();
    let listed = s.partitions_with_offsets().unwrap();
    assert_eq!(
        listed.iter().map(|(_, p, _)| *p).collect::<Vec<_>>(),
        sorted
    );
    assert!(listed
        .iter()
        .all(|(t, p, o)| t == "t" && *o == i64::from(*p) * 2));
    for p in shuffled {
        assert_eq!(
            s.scan(Table::Meta, p, b"").unwrap(),
            vec![(b"m".to_vec(), p.to_be_bytes().to_vec())]
        );
    }
}

#[test]
fn second_open_of_the_same_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let err = RocksStore::open(dir.path(), &StoreOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("state store failure: open: "), "{msg}");
    assert!(msg.to_lowercase().contains("lock"), "{msg}");
}
