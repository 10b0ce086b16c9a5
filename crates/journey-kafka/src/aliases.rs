//! Component labels and their aliases. A label is the smallest identifier
//! hash of an identity component; when two components meet, the larger label
//! becomes an alias of the smaller one (`loser → winner`). Aliases only point
//! to smaller labels, so chains never cycle and every label resolves to the
//! component's minimum — whatever order the links arrived in.
//!
//! Every instance holds the whole table in memory, fed from the compacted
//! `<app>.aliases` topic (read in full from the beginning, like a global
//! table) and from its own identity stage. Root changes are queued for the
//! stitch stage, which moves a loser's state to the winner's partition.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use tracing::warn;

use crate::stage::Shared;
use crate::{KafkaConfig, PipelineError};

#[derive(Debug, Default)]
pub struct AliasTable {
    parent: HashMap<u64, u64>,
    /// Root changes not yet handled by the stitch stage: `(loser, winner)`.
    moves: Vec<(u64, u64)>,
}

impl AliasTable {
    pub fn resolve(&mut self, label: u64) -> u64 {
        let mut root = label;
        while let Some(&p) = self.parent.get(&root) {
            root = p;
        }
        // Path compression.
        let mut l = label;
        while let Some(&p) = self.parent.get(&l) {
            if p == root {
                break;
            }
            self.parent.insert(l, root);
            l = p;
        }
        root
    }

    /// Joins two labels; returns `(loser, winner)` of the roots when they were apart.
    pub fn union(&mut self, a: u64, b: u64) -> Option<(u64, u64)> {
        let (ra, rb) = (self.resolve(a), self.resolve(b));
        if ra == rb {
            return None;
        }
        let (winner, loser) = (ra.min(rb), ra.max(rb));
        self.parent.insert(loser, winner);
        self.moves.push((loser, winner));
        Some((loser, winner))
    }

    /// Queues a move again (a restored partition holds a label that is an alias now).
    pub fn requeue(&mut self, loser: u64, winner: u64) {
        self.moves.push((loser, winner));
    }

    pub fn take_moves(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.moves)
    }
}

pub type SharedAliases = Arc<Mutex<AliasTable>>;

pub fn lock(a: &SharedAliases) -> std::sync::MutexGuard<'_, AliasTable> {
    a.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reads the alias topic from the beginning and keeps following it.
pub fn follow(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: i32,
    table: SharedAliases,
    shared: Arc<Shared>,
) -> Result<(), PipelineError> {
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", kafka.internal_topic("alias-reader"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "20")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    let mut backoff = crate::outage::Backoff::default();
    while !shared.stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Err(e)) => {
                let pause = backoff.step();
                if pause < crate::outage::MAX_BACKOFF {
                    warn!(error = %e, "alias reader error, retrying");
                }
                std::thread::sleep(pause);
            }
            Some(Ok(m)) => {
                backoff.reset();
                let (Some(k), Some(v)) = (m.key(), m.payload()) else {
                    continue;
                };
                let (Ok(k), Ok(v)) = (<[u8; 8]>::try_from(k), <[u8; 8]>::try_from(v)) else {
                    warn!(
                        partition = m.partition(),
                        offset = m.offset(),
                        "malformed alias record ignored"
                    );
                    continue;
                };
                lock(&table).union(u64::from_be_bytes(k), u64::from_be_bytes(v));
                shared.touch();
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_union_order_resolves_to_the_minimum() {
        let links = [(9u64, 7u64), (5, 9), (3, 8), (8, 7)];
        let mut orders = vec![links.to_vec()];
        let mut rev = links.to_vec();
        rev.reverse();
        orders.push(rev);
        for order in orders {
            let mut t = AliasTable::default();
            for (a, b) in order {
                t.union(a, b);
            }
            for l in [9, 7, 5, 3, 8] {
                assert_eq!(t.resolve(l), 3);
            }
        }
    }
}
