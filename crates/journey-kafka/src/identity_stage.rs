//! Stage 2, keyed by identifier: computes the unguarded connected components
//! of the identifier graph. Each identifier holds a label (initially its own
//! hash). An event visits its identifiers one by one — hop 0 on the events
//! topic, later hops through `<app>.identity-hops`, each in the partition that
//! owns that identifier — carrying the smallest label seen so far. Wherever
//! two different labels meet, the larger becomes an alias of the smaller
//! (published on `<app>.aliases`). After the last hop the event goes to the
//! stitch topic, addressed to its label.

use std::collections::HashMap;
use std::sync::Arc;

use journey_core::model::JourneyEvent;
use journey_core::store::{StateStore, Table, WriteBatch};
use rdkafka::message::{BorrowedMessage, Message};

use crate::aliases::{lock, SharedAliases};
use crate::metrics::Metrics;
use crate::partition_of;
use crate::records::*;
use crate::stage::StageLogic;
use crate::PipelineError;

pub struct IdentityStage {
    pub store: Arc<dyn StateStore>,
    pub aliases: SharedAliases,
    pub codecs: Codecs,
    pub hops_topic: String,
    pub aliases_topic: String,
    pub stitch_topic: String,
    pub dlq_topic: String,
    pub partitions: i32,
    pub metrics: Arc<Metrics>,
}

impl IdentityStage {
    fn label_of(
        &self,
        cache: &mut HashMap<u64, u64>,
        partition: i32,
        id_hash: u64,
    ) -> Result<Option<u64>, PipelineError> {
        if let Some(&l) = cache.get(&id_hash) {
            return Ok(Some(l));
        }
        Ok(self
            .store
            .get(Table::Identity, partition, &id_hash.to_be_bytes())?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map(u64::from_be_bytes))
    }
}

impl StageLogic for IdentityStage {
    const NAME: &'static str = "identity";

    fn process(
        &mut self,
        batch: &[BorrowedMessage<'_>],
        out: &mut Outgoing,
        state: &mut WriteBatch,
    ) -> Result<(), PipelineError> {
        // identifier hash → label, as changed within this batch
        let mut changed: HashMap<(i32, u64), u64> = HashMap::new();
        let mut cache: HashMap<u64, u64> = HashMap::new();
        for m in batch {
            let headers_in = m.headers();
            let hop = header_u64(headers_in, H_HOP).unwrap_or(0) as usize;
            let carried = header_u64(headers_in, H_LABEL);
            let Some(payload) = m.payload() else { continue };
            let event: JourneyEvent = match self.codecs.event.decode(payload) {
                Ok(e) => e,
                Err(err) => {
                    let reason = format!("cannot decode canonical event: {err}");
                    dead_letter(
                        out,
                        &self.dlq_topic,
                        &self.metrics,
                        m,
                        "internal",
                        "decode",
                        &reason,
                    );
                    continue;
                }
            };
            let Some(id) = event.identifiers.get(hop) else {
                continue;
            };
            let id_hash = id.hash64();
            let partition = m.partition();
            let own = self
                .label_of(&mut cache, partition, id_hash)?
                .unwrap_or(id_hash);
            let mut aliases = lock(&self.aliases);
            let own_root = aliases.resolve(own);
            let label = carried.map_or(own_root, |c| aliases.resolve(c).min(own_root));
            for other in [Some(own_root), carried].into_iter().flatten() {
                let other_root = aliases.resolve(other);
                if other_root != label {
                    if let Some((loser, winner)) = aliases.union(other_root, label) {
                        out.push(
                            &self.aliases_topic,
                            Some(partition_of(loser, self.partitions)),
                            Some(loser.to_be_bytes().to_vec()),
                            Some(winner.to_be_bytes().to_vec()),
                            vec![],
                        );
                    }
                }
            }
            drop(aliases);
            if own != label {
                cache.insert(id_hash, label);
                changed.insert((partition, id_hash), label);
            } else if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(id_hash) {
                slot.insert(own);
                if own == id_hash {
                    changed.insert((partition, id_hash), own);
                }
            }
            let mut headers = vec![(H_LABEL, label.to_string().into_bytes())];
            if let Some(c) = header(headers_in, H_CONTROL) {
                headers.push((H_CONTROL, c.to_vec()));
            }
            if let Some(next) = event.identifiers.get(hop + 1) {
                headers.push((H_HOP, (hop + 1).to_string().into_bytes()));
                let h = next.hash64();
                out.push(
                    &self.hops_topic,
                    Some(partition_of(h, self.partitions)),
                    Some(format!("{h:016x}").into_bytes()),
                    Some(payload.to_vec()),
                    headers,
                );
            } else {
                out.push(
                    &self.stitch_topic,
                    Some(partition_of(label, self.partitions)),
                    Some(label.to_be_bytes().to_vec()),
                    Some(payload.to_vec()),
                    headers,
                );
            }
        }
        for ((partition, id_hash), label) in changed {
            state.put(
                Table::Identity,
                partition,
                id_hash.to_be_bytes().to_vec(),
                label.to_be_bytes().to_vec(),
            );
        }
        Ok(())
    }
}
