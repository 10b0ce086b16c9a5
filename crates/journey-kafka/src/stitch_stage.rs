//! Stage 3, keyed by component label: holds each identity component's
//! events in RocksDB, re-folds a component when it changes (new events, a
//! merged-in component, a timer due under the advancing watermark) and emits
//! the handovers, alerts and merges that are new or changed.
//!
//! Records addressed to a label that has become an alias are forwarded to
//! the winner's partition; a loser's stored state moves there as one record.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use journey_core::component::{ComponentState, Emission, Emitted};
use journey_core::fold::StitchConfig;
use journey_core::journey::CustomerJourney;
use journey_core::model::JourneyEvent;
use journey_core::store::{StateStore, Table, WriteBatch};
use rdkafka::message::{BorrowedMessage, Message};
use tracing::warn;

use crate::aliases::{lock, SharedAliases};
use crate::metrics::Metrics;
use crate::partition_of;
use crate::records::*;
use crate::stage::StageLogic;
use crate::PipelineError;

const WATERMARK_KEY: &[u8] = b"watermark";

pub struct StitchStage {
    pub store: Arc<dyn StateStore>,
    pub aliases: SharedAliases,
    pub codecs: Codecs,
    pub cfg: StitchConfig,
    pub stitch_topic: String,
    pub handover_topic: String,
    pub alerts_topic: String,
    pub merges_topic: String,
    pub quarantine_topic: String,
    pub late_topic: String,
    pub dlq_topic: String,
    pub partitions: i32,
    pub metrics: Arc<Metrics>,
    watermarks: HashMap<i32, i64>,
    ran: bool,
    /// The partitions this instance holds; `None`: all of them (tests).
    pub assignment: Option<crate::stage::SharedAssignment>,
}

/// The components touched in one batch.
#[derive(Default)]
struct Touched {
    comps: HashMap<u64, ComponentState>,
    dirty: HashSet<u64>,
    deleted: HashSet<u64>,
}

impl StitchStage {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn StateStore>,
        aliases: SharedAliases,
        codecs: Codecs,
        cfg: StitchConfig,
        topics: &crate::TopicsConfig,
        stitch_topic: String,
        partitions: i32,
        metrics: Arc<Metrics>,
    ) -> Self {
        StitchStage {
            store,
            aliases,
            codecs,
            cfg,
            stitch_topic,
            handover_topic: topics.handover.clone(),
            alerts_topic: topics.alerts.clone(),
            merges_topic: topics.merges.clone(),
            quarantine_topic: topics.quarantine.clone(),
            late_topic: topics.late.clone(),
            dlq_topic: topics.dlq.clone(),
            partitions,
            metrics,
            watermarks: HashMap::new(),
            ran: false,
            assignment: None,
        }
    }

    fn watermark(&mut self, partition: i32) -> Result<i64, PipelineError> {
        if let Some(&w) = self.watermarks.get(&partition) {
            return Ok(w);
        }
        let w = stored_watermark(self.store.as_ref(), partition)?;
        self.watermarks.insert(partition, w);
        Ok(w)
    }

    fn load<'t>(
        &self,
        t: &'t mut Touched,
        label: u64,
    ) -> Result<&'t mut ComponentState, PipelineError> {
        if let std::collections::hash_map::Entry::Vacant(slot) = t.comps.entry(label) {
            let p = partition_of(label, self.partitions);
            let state = match self.store.get(Table::Components, p, &label.to_be_bytes())? {
                Some(bytes) => {
                    ComponentState::decode(&bytes).map_err(|e| PipelineError::Stage {
                        stage: "stitch",
                        reason: e.to_string(),
                    })?
                }
                None => ComponentState::default(),
            };
            slot.insert(state);
        }
        t.deleted.remove(&label);
        Ok(t.comps.get_mut(&label).expect("inserted above"))
    }

    fn exists(&self, t: &Touched, label: u64) -> Result<bool, PipelineError> {
        if t.deleted.contains(&label) {
            return Ok(false);
        }
        if t.comps.get(&label).is_some_and(|c| !c.events.is_empty()) {
            return Ok(true);
        }
        let p = partition_of(label, self.partitions);
        Ok(self
            .store
            .get(Table::Components, p, &label.to_be_bytes())?
            .is_some())
    }

    /// Moves the state of labels that became aliases to their winners.
    fn apply_moves(&mut self, t: &mut Touched, out: &mut Outgoing) -> Result<(), PipelineError> {
        let moves = lock(&self.aliases).take_moves();
        for (loser, _) in moves {
            // Only the owner moves a loser's state: local state of a partition
            // this instance does not hold (yet) may be stale, e.g. after a
            // restart; `on_restored` queues the moves again on assignment.
            if !self.owns(partition_of(loser, self.partitions)) || !self.exists(t, loser)? {
                continue;
            }
            let winner = lock(&self.aliases).resolve(loser);
            let state = std::mem::take(self.load(t, loser)?);
            t.comps.remove(&loser);
            t.dirty.remove(&loser);
            t.deleted.insert(loser);
            self.metrics.stitch.forget(loser);
            self.receive_state(t, out, winner, state)?;
        }
        Ok(())
    }

    fn receive_state(
        &mut self,
        t: &mut Touched,
        out: &mut Outgoing,
        label: u64,
        state: ComponentState,
    ) -> Result<(), PipelineError> {
        let root = lock(&self.aliases).resolve(label);
        let p = partition_of(root, self.partitions);
        // Only partitions this instance owns hold state here; others get the record.
        if self.owns(p) {
            self.load(t, root)?.absorb(state);
            t.dirty.insert(root);
        } else {
            out.push(
                &self.stitch_topic,
                Some(p),
                Some(root.to_be_bytes().to_vec()),
                Some(state.encode()),
                vec![
                    (H_LABEL, root.to_string().into_bytes()),
                    (H_MOVE, b"1".to_vec()),
                ],
            );
        }
        Ok(())
    }

    /// Whether this instance holds `partition`; state for other partitions is
    /// forwarded through Kafka to whoever holds them.
    fn owns(&self, partition: i32) -> bool {
        self.assignment
            .as_ref()
            .is_none_or(|a| crate::stage::lock_assignment(a).owns(partition))
    }

    fn run(
        &mut self,
        batch: &[BorrowedMessage<'_>],
        out: &mut Outgoing,
        state: &mut WriteBatch,
    ) -> Result<(), PipelineError> {
        let mut t = Touched::default();
        self.apply_moves(&mut t, out)?;
        let mut advanced: HashSet<i32> = HashSet::new();
        for m in batch {
            let partition = m.partition();
            let headers = m.headers();
            if let Some(wm) = header_i64(headers, H_WATERMARK) {
                if wm > self.watermark(partition)? {
                    self.watermarks.insert(partition, wm);
                    advanced.insert(partition);
                }
                continue;
            }
            let (Some(label), Some(payload)) = (header_u64(headers, H_LABEL), m.payload()) else {
                warn!(
                    partition,
                    offset = m.offset(),
                    "stitch record without label or payload ignored"
                );
                continue;
            };
            let root = lock(&self.aliases).resolve(label);
            let root_partition = partition_of(root, self.partitions);
            if header(headers, H_MOVE).is_some() {
                match ComponentState::decode(payload) {
                    Ok(s) => self.receive_state(&mut t, out, root, s)?,
                    Err(e) => self.dead_letter(m, &e.to_string(), out),
                }
                continue;
            }
            let control = header(headers, H_CONTROL).map(<[u8]>::to_vec);
            if root_partition != partition {
                let mut forward = vec![(H_LABEL, root.to_string().into_bytes())];
                if let Some(c) = control {
                    forward.push((H_CONTROL, c));
                }
                out.push(
                    &self.stitch_topic,
                    Some(root_partition),
                    Some(root.to_be_bytes().to_vec()),
                    Some(payload.to_vec()),
                    forward,
                );
                continue;
            }
            let event: JourneyEvent = match self.codecs.event.decode(payload) {
                Ok(e) => e,
                Err(e) => {
                    self.dead_letter(m, &e.to_string(), out);
                    continue;
                }
            };
            if control.is_some() {
                // An operator unmerge: a constraint of the component, never a
                // touchpoint, and no event time (the watermark stays).
                match crate::control::from_envelope(&event) {
                    Some(u) => {
                        self.metrics.stitch.unmerges.inc();
                        if self.load(&mut t, root)?.add_unmerge(u) {
                            t.dirty.insert(root);
                        }
                    }
                    None => self.dead_letter(m, "malformed unmerge envelope", out),
                }
                continue;
            }
            let watermark = self.watermark(partition)?;
            if self.cfg.lateness.too_late(event.event_time_ms, watermark) {
                self.metrics
                    .stitch
                    .late_events
                    .with_label_values(&[event.channel.as_str()])
                    .inc();
                out.push(
                    &self.late_topic,
                    None,
                    m.key().map(<[u8]>::to_vec),
                    Some(payload.to_vec()),
                    vec![(H_LATE_WATERMARK, watermark.to_string().into_bytes())],
                );
                continue;
            }
            if event.event_time_ms > watermark {
                self.watermarks.insert(partition, event.event_time_ms);
                advanced.insert(partition);
            }
            if self.load(&mut t, root)?.add(event) {
                self.metrics.stitched.inc();
                t.dirty.insert(root);
            }
        }
        // Timers due under the advanced watermarks.
        for &p in &advanced {
            let wm = self.watermark(p)?;
            for (key, _) in self.store.scan(Table::Timers, p, b"")? {
                let Some((due, label)) = decode_timer(&key) else {
                    continue;
                };
                if due > wm {
                    break;
                }
                state.delete(Table::Timers, p, key);
                let root = lock(&self.aliases).resolve(label);
                if self.exists(&t, root)? {
                    self.load(&mut t, root)?;
                    t.dirty.insert(root);
                }
            }
            state.put(
                Table::Meta,
                p,
                WATERMARK_KEY.to_vec(),
                wm.to_be_bytes().to_vec(),
            );
        }
        self.metrics.components.set(t.dirty.len() as i64);
        let mut dirty: Vec<u64> = t.dirty.iter().copied().collect();
        dirty.sort_unstable();
        for label in dirty {
            let p = partition_of(label, self.partitions);
            let wm = self.watermark(p)?;
            let comp = t
                .comps
                .get_mut(&label)
                .expect("dirty components are loaded");
            self.metrics
                .component_size
                .observe(comp.events.len() as f64);
            let (fold, emissions) = comp.evaluate(wm, &self.cfg);
            self.metrics.stitch.observe_fold(label, &fold);
            if let Some(due) = comp.next_timer(wm, &self.cfg) {
                state.put(Table::Timers, p, encode_timer(due, label), Vec::new());
            }
            for e in emissions {
                self.emit(e, &fold, out)?;
            }
            state.put(
                Table::Components,
                p,
                label.to_be_bytes().to_vec(),
                comp.encode(),
            );
        }
        for label in t.deleted {
            state.delete(
                Table::Components,
                partition_of(label, self.partitions),
                label.to_be_bytes().to_vec(),
            );
        }
        Ok(())
    }

    fn emit(
        &self,
        emitted: Emitted,
        fold: &journey_core::fold::FoldOutput,
        out: &mut Outgoing,
    ) -> Result<(), PipelineError> {
        let Emitted {
            emission,
            revision,
            first,
        } = emitted;
        let encode_err = |e: journey_core::avro::AvroError| PipelineError::Stage {
            stage: "stitch",
            reason: e.to_string(),
        };
        let alert_topic = |owner: &str| self.cfg.rules.alert_topic(&self.alerts_topic, owner);
        let (topic, id, customer, bytes) = match &emission {
            Emission::Handover(h) => {
                self.metrics.handovers.inc();
                (
                    self.handover_topic.clone(),
                    &h.handover_id,
                    &h.customer_id,
                    self.codecs.handover.encode(h).map_err(encode_err)?,
                )
            }
            Emission::Alert(a) => {
                self.metrics
                    .alerts
                    .with_label_values(&[a.rule.as_str()])
                    .inc();
                if first {
                    self.metrics.stitch.observe_alert(a, fold, &self.cfg.rules);
                }
                (
                    alert_topic(&a.owner),
                    &a.alert_id,
                    &a.customer_id,
                    self.codecs.alert.encode(a).map_err(encode_err)?,
                )
            }
            Emission::Merge(m) => {
                self.metrics.merges.inc();
                if m.kind == journey_core::model::MergeKind::Split {
                    self.metrics.stitch.splits.inc();
                }
                (
                    self.merges_topic.clone(),
                    &m.merge_id,
                    &m.winner,
                    self.codecs.merge.encode(m).map_err(encode_err)?,
                )
            }
            Emission::Review(r) => {
                self.metrics
                    .stitch
                    .reviews
                    .with_label_values(&[r.reason.as_str()])
                    .inc();
                self.metrics
                    .refused_links
                    .with_label_values(&[r.reason.as_str()])
                    .inc();
                (
                    self.quarantine_topic.clone(),
                    &r.review_id,
                    &r.review_id,
                    self.codecs.review.encode(r).map_err(encode_err)?,
                )
            }
            Emission::Retract { id, owner } => {
                let topic = match id.split('-').next() {
                    Some("ho") => self.handover_topic.clone(),
                    Some("al") => {
                        alert_topic(owner.as_deref().unwrap_or(&self.cfg.rules.default_owner))
                    }
                    Some("rv") => self.quarantine_topic.clone(),
                    _ => self.merges_topic.clone(),
                };
                self.metrics.retractions.inc();
                out.push(
                    &topic,
                    None,
                    Some(id.as_bytes().to_vec()),
                    None,
                    vec![
                        (H_ID, id.as_bytes().to_vec()),
                        (H_REVISION, revision.to_string().into_bytes()),
                        (H_RETRACTED, b"1".to_vec()),
                    ],
                );
                return Ok(());
            }
        };
        out.push(
            &topic,
            None,
            Some(customer.as_bytes().to_vec()),
            Some(bytes),
            vec![
                (H_ID, id.as_bytes().to_vec()),
                (H_REVISION, revision.to_string().into_bytes()),
            ],
        );
        Ok(())
    }

    fn dead_letter(&self, m: &BorrowedMessage<'_>, reason: &str, out: &mut Outgoing) {
        dead_letter(
            out,
            &self.dlq_topic,
            &self.metrics,
            m,
            "internal",
            "decode",
            reason,
        );
    }
}

impl StageLogic for StitchStage {
    const NAME: &'static str = "stitch";

    fn on_restored(&mut self, partitions: &[i32]) {
        for p in partitions {
            self.watermarks.remove(p);
            // Labels that became aliases while another instance held the
            // partition move on the next round.
            if let Ok(entries) = self.store.scan(Table::Components, *p, b"") {
                let mut aliases = lock(&self.aliases);
                for (key, _) in entries {
                    let Ok(label) = <[u8; 8]>::try_from(key.as_slice()).map(u64::from_be_bytes)
                    else {
                        continue;
                    };
                    let root = aliases.resolve(label);
                    if root != label {
                        aliases.requeue(label, root);
                    }
                }
            }
        }
    }

    fn on_revoked(&mut self, partitions: &[i32]) {
        for p in partitions {
            self.watermarks.remove(p);
        }
    }

    fn process(
        &mut self,
        batch: &[BorrowedMessage<'_>],
        out: &mut Outgoing,
        state: &mut WriteBatch,
    ) -> Result<(), PipelineError> {
        self.ran = true;
        self.run(batch, out, state)
    }

    fn tick(&mut self, out: &mut Outgoing, state: &mut WriteBatch) -> Result<(), PipelineError> {
        // Moves are applied against durable state: only in a round without a batch.
        if std::mem::replace(&mut self.ran, false) {
            return Ok(());
        }
        self.run(&[], out, state)
    }
}

fn stored_watermark(store: &dyn StateStore, partition: i32) -> Result<i64, PipelineError> {
    Ok(store
        .get(Table::Meta, partition, WATERMARK_KEY)?
        .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
        .map_or(i64::MIN, i64::from_be_bytes))
}

/// Timer keys sort by due time: the sign-flipped big-endian due, then the label.
fn encode_timer(due: i64, label: u64) -> Vec<u8> {
    let mut k = ((due as u64) ^ (1 << 63)).to_be_bytes().to_vec();
    k.extend_from_slice(&label.to_be_bytes());
    k
}

fn decode_timer(key: &[u8]) -> Option<(i64, u64)> {
    let due = u64::from_be_bytes(key.get(..8)?.try_into().ok()?) ^ (1 << 63);
    let label = u64::from_be_bytes(key.get(8..16)?.try_into().ok()?);
    Some((due as i64, label))
}

/// Every customer's final journey held in `store` for the partitions `holds`
/// accepts, folded at each partition's watermark.
pub fn journeys(
    store: &dyn StateStore,
    partitions: i32,
    cfg: &StitchConfig,
    holds: impl Fn(i32) -> bool,
) -> Result<Vec<CustomerJourney>, PipelineError> {
    let mut out = Vec::new();
    for p in (0..partitions).filter(|&p| holds(p)) {
        let wm = stored_watermark(store, p)?;
        for (_, bytes) in store.scan(Table::Components, p, b"")? {
            let comp = ComponentState::decode(&bytes).map_err(|e| PipelineError::Stage {
                stage: "stitch",
                reason: e.to_string(),
            })?;
            out.extend(
                journey_core::fold::fold_with(&comp.events, &comp.unmerges, wm, cfg).customers,
            );
        }
    }
    out.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_keys_sort_by_due_time() {
        let a = encode_timer(-5, 9);
        let b = encode_timer(3, 1);
        assert!(a < b);
        assert_eq!(decode_timer(&b), Some((3, 1)));
        assert_eq!(decode_timer(&a), Some((-5, 9)));
    }
}
