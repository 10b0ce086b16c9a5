//! Fault 10 of the reliability plan: SIGKILL a writer at random moments and
//! check, after every reopen, that stored offsets and stored state agree
//! (invariant I7) and that no acknowledged batch was lost.
//!
//! The writer is this test binary itself, re-run on the ignored test
//! [`crash_child_writer`] with [`CHILD_DIR_ENV`] set. Per batch it appends,
//! for every partition, entries `count..count + n` to two tables and sets the
//! partition's offset to `count + n`; after each acknowledged write it
//! appends the new counts to an `acks` file.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use journey_core::store::{StateStore, Table, WriteBatch};

use crate::{RocksStore, StoreOptions};

const CHILD_DIR_ENV: &str = "JOURNEY_STORE_CRASH_CHILD_DIR";
const CHILD_SEED_ENV: &str = "JOURNEY_STORE_CRASH_CHILD_SEED";
const PARTITIONS: [i32; 4] = [i32::MIN, -1, 0, 3];
const TOPIC: &str = "crash.in";
const ROUNDS: usize = 12;

/// Tiny write buffers so that flushes and compactions run while the writer is killed.
fn crash_opts() -> StoreOptions {
    StoreOptions {
        write_buffer_size_bytes: 32 << 10,
        ..StoreOptions::default()
    }
}

/// xorshift64*: enough randomness for kill times and batch shapes, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn value_for(entry: i64, len: usize) -> Vec<u8> {
    vec![(entry % 251) as u8; len]
}

#[test]
#[ignore = "the writer process of sigkill_never_breaks_offsets_state_agreement"]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let dir = Path::new(&dir);
    let seed = std::env::var(CHILD_SEED_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut rng = Rng::new(seed);
    let store = RocksStore::open(&dir.join("db"), &crash_opts()).unwrap();
    let mut counts = PARTITIONS.map(|p| store.offset(TOPIC, p).unwrap().unwrap_or(0));
    let mut acks = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("acks"))
        .unwrap();
    // Bounded, so that a writer whose parent died does not run forever.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let mut b = WriteBatch::default();
        for (p, count) in PARTITIONS.iter().zip(counts.iter_mut()) {
            let n = 1 + rng.below(32) as i64;
            for entry in *count..*count + n {
                let len = 16 + rng.below(240) as usize;
                b.put(
                    Table::Components,
                    *p,
                    entry.to_be_bytes().to_vec(),
                    value_for(entry, len),
                );
                b.put(Table::Timers, *p, entry.to_be_bytes().to_vec(), Vec::new());
            }
            *count += n;
            b.offset(TOPIC, *p, *count);
        }
        store.write(&b).unwrap();
        let line = counts.map(|c| c.to_string()).join(" ") + "\n";
        // One write(2) per line: a kill leaves at most an incomplete last line.
        acks.write_all(line.as_bytes()).unwrap();
    }
}

/// The counts of the last completely written line of the `acks` file.
fn last_acked(dir: &Path) -> [i64; PARTITIONS.len()] {
    let text = fs::read_to_string(dir.join("acks")).unwrap_or_default();
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    let Some(line) = complete.lines().last() else {
        return [0; PARTITIONS.len()];
    };
    let counts: Vec<i64> = line.split(' ').map(|c| c.parse().unwrap()).collect();
    counts.try_into().unwrap()
}

/// Reopens the store and checks I7 for every partition; returns the offsets.
fn verify(dir: &Path, round: usize, seed: u64) -> [i64; PARTITIONS.len()] {
    let store = RocksStore::open(&dir.join("db"), &crash_opts())
        .unwrap_or_else(|e| panic!("round {round} (seed {seed}): reopen failed: {e}"));
    let acked = last_acked(dir);
    let mut offsets = [0; PARTITIONS.len()];
    for (i, p) in PARTITIONS.into_iter().enumerate() {
        let offset = store.offset(TOPIC, p).unwrap().unwrap_or(0);
        let state = store.scan(Table::Components, p, b"").unwrap();
        let timers = store.scan(Table::Timers, p, b"").unwrap();
        let ctx = format!("round {round} (seed {seed}), partition {p}");
        assert_eq!(
            state.len() as i64,
            offset,
            "{ctx}: state entries and stored offset disagree"
        );
        assert_eq!(
            timers.len() as i64,
            offset,
            "{ctx}: timer entries and stored offset disagree"
        );
        for (entry, (key, value)) in (0..offset).zip(&state) {
            assert_eq!(
                key.as_slice(),
                entry.to_be_bytes(),
                "{ctx}: entries are not 0..{offset}"
            );
            assert!(
                value.len() >= 16 && *value == value_for(entry, value.len()),
                "{ctx}: entry {entry} corrupt"
            );
        }
        assert!(
            offset >= acked[i],
            "{ctx}: acknowledged count {} lost, store has {offset}",
            acked[i]
        );
        offsets[i] = offset;
    }
    offsets
}

fn fail_if_exited(child: &mut Child, dir: &Path, round: usize, seed: u64) {
    if let Some(status) = child.try_wait().unwrap() {
        let err = fs::read_to_string(dir.join("child.stderr")).unwrap_or_default();
        panic!("round {round} (seed {seed}): writer exited by itself with {status}:\n{err}");
    }
}

fn acks_len(dir: &Path) -> u64 {
    fs::metadata(dir.join("acks")).map_or(0, |m| m.len())
}

fn wait_for_new_ack(child: &mut Child, dir: &Path, len_before: u64, round: usize, seed: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while acks_len(dir) <= len_before {
        fail_if_exited(child, dir, round, seed);
        assert!(
            Instant::now() < deadline,
            "round {round} (seed {seed}): writer never acknowledged a batch"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn sigkill_never_breaks_offsets_state_agreement() {
    let dir = tempfile::tempdir().unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    let mut rng = Rng::new(seed);
    let exe = std::env::current_exe().unwrap();
    let child_test = format!(
        "{}::crash_child_writer",
        module_path!().split_once("::").unwrap().1
    );
    let mut previous_total = 0;
    let mut rounds_with_progress = 0;
    for round in 0..ROUNDS {
        let acks_before = acks_len(dir.path());
        let stderr = File::create(dir.path().join("child.stderr")).unwrap();
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                child_test.as_str(),
                "--ignored",
                "--test-threads=1",
                "--nocapture",
            ])
            .env(CHILD_DIR_ENV, dir.path())
            .env(CHILD_SEED_ENV, (seed ^ round as u64).to_string())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        if round % 4 == 0 {
            // During start-up or open.
            std::thread::sleep(Duration::from_millis(rng.below(40)));
        } else {
            // While batches are being written: once the writer acknowledged one more.
            wait_for_new_ack(&mut child, dir.path(), acks_before, round, seed);
            std::thread::sleep(Duration::from_millis(rng.below(250)));
        }
        fail_if_exited(&mut child, dir.path(), round, seed);
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let total: i64 = verify(dir.path(), round, seed).iter().sum();
        assert!(
            total >= previous_total,
            "round {round} (seed {seed}): store went back from {previous_total} to {total}"
        );
        if total > previous_total {
            rounds_with_progress += 1;
        }
        previous_total = total;
    }
    eprintln!("crash test: {ROUNDS} kills, {previous_total} entries per table, seed {seed}");
    assert!(
        rounds_with_progress >= ROUNDS * 3 / 4,
        "writer made progress in only {rounds_with_progress} of {ROUNDS} rounds (seed {seed})"
    );
}
