//! The behaviour every [`StateStore`] must show, run against `MemoryStore`
//! (the reference) and `RocksStore`.

use journey_core::store::{StateStore, Table, WriteBatch};

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

fn entries(pairs: &[(&[u8], &[u8])]) -> Entries {
    pairs
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect()
}

/// Checks the full [`StateStore`] contract on an empty store.
pub(crate) fn conformance(store: &dyn StateStore) {
    gets_puts_and_deletes(store);
    scans_by_prefix_in_key_order(store);
    scans_stay_inside_table_and_partition(store);
    offsets_per_topic_and_partition(store);
    later_ops_of_a_batch_win(store);
    drop_partition_removes_only_that_partition(store);
}

fn gets_puts_and_deletes(s: &dyn StateStore) {
    assert_eq!(s.get(Table::Identity, 0, b"k").unwrap(), None);
    s.write(&WriteBatch::default()).unwrap();
    let mut b = WriteBatch::default();
    b.put(Table::Identity, 0, b"k".to_vec(), b"v1".to_vec());
    b.put(Table::Identity, 0, b"".to_vec(), b"empty key".to_vec());
    b.put(Table::Identity, 0, b"e".to_vec(), b"".to_vec());
    s.write(&b).unwrap();
    assert_eq!(
        s.get(Table::Identity, 0, b"k").unwrap(),
        Some(b"v1".to_vec())
    );
    assert_eq!(
        s.get(Table::Identity, 0, b"").unwrap(),
        Some(b"empty key".to_vec())
    );
    assert_eq!(s.get(Table::Identity, 0, b"e").unwrap(), Some(Vec::new()));

    let mut b = WriteBatch::default();
    b.put(Table::Identity, 0, b"k".to_vec(), b"v2".to_vec());
    b.delete(Table::Identity, 0, b"e".to_vec());
    b.delete(Table::Identity, 0, b"never written".to_vec());
    s.write(&b).unwrap();
    assert_eq!(
        s.get(Table::Identity, 0, b"k").unwrap(),
        Some(b"v2".to_vec())
    );
    assert_eq!(s.get(Table::Identity, 0, b"e").unwrap(), None);

    let mut b = WriteBatch::default();
    b.delete(Table::Identity, 0, b"k".to_vec());
    b.delete(Table::Identity, 0, b"".to_vec());
    s.write(&b).unwrap();
    assert_eq!(s.scan(Table::Identity, 0, b"").unwrap(), Entries::new());
}

fn scans_by_prefix_in_key_order(s: &dyn StateStore) {
    let p = 3;
    let keys: [&[u8]; 8] = [
        b"b",
        b"a2",
        b"a",
        b"a1",
        b"a\xFF",
        b"a\xFF\xFF",
        b"\xFF",
        b"\xFF\xFF\x00",
    ];
    let mut b = WriteBatch::default();
    for k in keys {
        b.put(
            Table::Components,
            p,
            k.to_vec(),
            [b"v-".as_slice(), k].concat(),
        );
    }
    s.write(&b).unwrap();
    let scan = |prefix: &[u8]| s.scan(Table::Components, p, prefix).unwrap();

    let all = scan(b"");
    let mut sorted: Vec<&[u8]> = keys.to_vec();
    sorted.sort();
    assert_eq!(
        all.iter().map(|(k, _)| k.as_slice()).collect::<Vec<_>>(),
        sorted
    );
    assert!(all
        .iter()
        .all(|(k, v)| *v == [b"v-".as_slice(), k].concat()));

    assert_eq!(
        scan(b"a"),
        entries(&[
            (b"a", b"v-a"),
            (b"a1", b"v-a1"),
            (b"a2", b"v-a2"),
            (b"a\xFF", b"v-a\xFF"),
            (b"a\xFF\xFF", b"v-a\xFF\xFF")
        ])
    );
    assert_eq!(
        scan(b"a\xFF"),
        entries(&[(b"a\xFF", b"v-a\xFF"), (b"a\xFF\xFF", b"v-a\xFF\xFF")])
    );
    assert_eq!(scan(b"a1"), entries(&[(b"a1", b"v-a1")]));
    assert_eq!(
        scan(b"\xFF"),
        entries(&[(b"\xFF", b"v-\xFF"), (b"\xFF\xFF\x00", b"v-\xFF\xFF\x00")])
    );
    assert_eq!(
        scan(b"\xFF\xFF"),
        entries(&[(b"\xFF\xFF\x00", b"v-\xFF\xFF\x00")])
    );
    assert_eq!(scan(b"a3"), Entries::new());
    assert_eq!(scan(b"a1-longer"), Entries::new());
    assert_eq!(scan(b"c"), Entries::new());
}

fn scans_stay_inside_table_and_partition(s: &dyn StateStore) {
    let partitions = [i32::MIN, -2, -1, 0, 1, 255, 256, i32::MAX - 1, i32::MAX];
    let mut b = WriteBatch::default();
    for p in partitions {
        for t in Table::ALL {
            b.put(
                t,
                p,
                b"x\xFF".to_vec(),
                format!("{}/{p}", t.name()).into_bytes(),
            );
        }
    }
    s.write(&b).unwrap();
    for p in partitions {
        for t in Table::ALL {
            let expected = vec![(b"x\xFF".to_vec(), format!("{}/{p}", t.name()).into_bytes())];
            assert_eq!(
                s.scan(t, p, b"x").unwrap(),
                expected,
                "table {} partition {p}",
                t.name()
            );
            assert_eq!(s.get(t, p, b"x\xFF").unwrap(), Some(expected[0].1.clone()));
        }
    }
    // Partitions 2 and 257 hold nothing, whatever their neighbours hold.
    assert_eq!(s.scan(Table::Meta, 2, b"").unwrap(), Entries::new());
    assert_eq!(s.scan(Table::Meta, 257, b"").unwrap(), Entries::new());
    // Clean up so later checks start from known content.
    let mut b = WriteBatch::default();
    for p in partitions {
        for t in Table::ALL {
            b.delete(t, p, b"x\xFF".to_vec());
        }
    }
    s.write(&b).unwrap();
    assert_eq!(s.scan(Table::Meta, i32::MAX, b"").unwrap(), Entries::new());
}

fn offsets_per_topic_and_partition(s: &dyn StateStore) {
    assert_eq!(s.offset("in", 0).unwrap(), None);
    let mut b = WriteBatch::default();
    b.offset("in", 0, 10);
    b.offset("in", 1, 20);
    b.offset("in.other", 0, 30);
    b.offset("in", -1, i64::MAX);
    s.write(&b).unwrap();
    assert_eq!(s.offset("in", 0).unwrap(), Some(10));
    assert_eq!(s.offset("in", 1).unwrap(), Some(20));
    assert_eq!(s.offset("in.other", 0).unwrap(), Some(30));
    assert_eq!(s.offset("in", -1).unwrap(), Some(i64::MAX));
    assert_eq!(s.offset("i", 0).unwrap(), None);
    assert_eq!(s.offset("in", 2).unwrap(), None);

    let mut b = WriteBatch::default();
    b.offset("in", 0, 11);
    b.offset("in", 0, 12);
    s.write(&b).unwrap();
    assert_eq!(s.offset("in", 0).unwrap(), Some(12));
}

fn later_ops_of_a_batch_win(s: &dyn StateStore) {
    let mut b = WriteBatch::default();
    b.put(Table::Timers, 5, b"t".to_vec(), b"1".to_vec());
    b.delete(Table::Timers, 5, b"t".to_vec());
    b.put(Table::Timers, 5, b"u".to_vec(), b"1".to_vec());
    b.delete(Table::Timers, 5, b"u".to_vec());
    b.put(Table::Timers, 5, b"u".to_vec(), b"2".to_vec());
    s.write(&b).unwrap();
    assert_eq!(
        s.scan(Table::Timers, 5, b"").unwrap(),
        entries(&[(b"u", b"2")])
    );
}

fn drop_partition_removes_only_that_partition(s: &dyn StateStore) {
    let mut b = WriteBatch::default();
    for p in [-1, 0, 1, 2, i32::MAX] {
        for t in Table::ALL {
            b.put(t, p, b"d1".to_vec(), b"v".to_vec());
            b.put(t, p, b"d2".to_vec(), b"v".to_vec());
        }
        b.offset("drop.in", p, 100 + i64::from(p));
    }
    s.write(&b).unwrap();

    s.drop_partition(0).unwrap();
    s.drop_partition(i32::MAX).unwrap();
    s.drop_partition(77).unwrap(); // never written: a no-op
    for t in Table::ALL {
        for gone in [0, i32::MAX] {
            assert_eq!(
                s.scan(t, gone, b"").unwrap(),
                Entries::new(),
                "{} {gone}",
                t.name()
            );
        }
        for kept in [-1, 1, 2] {
            assert_eq!(
                s.scan(t, kept, b"d").unwrap().len(),
                2,
                "{} {kept}",
                t.name()
            );
        }
    }
    assert_eq!(s.offset("drop.in", 0).unwrap(), None);
    assert_eq!(s.offset("in", 0).unwrap(), None);
    assert_eq!(s.offset("in.other", 0).unwrap(), None);
    assert_eq!(s.offset("drop.in", i32::MAX).unwrap(), None);
    assert_eq!(s.offset("drop.in", -1).unwrap(), Some(99));
    assert_eq!(s.offset("drop.in", 1).unwrap(), Some(101));
    assert_eq!(s.offset("in", 1).unwrap(), Some(20));
    assert_eq!(s.offset("in", -1).unwrap(), Some(i64::MAX));
    // Partition 3's earlier scan keys and partition 5's timer survive.
    assert_eq!(s.scan(Table::Components, 3, b"").unwrap().len(), 8);
    assert_eq!(s.get(Table::Timers, 5, b"u").unwrap(), Some(b"2".to_vec()));

    // A dropped partition can be written again.
    let mut b = WriteBatch::default();
    b.put(Table::Meta, 0, b"again".to_vec(), b"v".to_vec());
    b.offset("drop.in", 0, 1);
    s.write(&b).unwrap();
    assert_eq!(
        s.scan(Table::Meta, 0, b"").unwrap(),
        entries(&[(b"again", b"v")])
    );
    assert_eq!(s.offset("drop.in", 0).unwrap(), Some(1));
}
