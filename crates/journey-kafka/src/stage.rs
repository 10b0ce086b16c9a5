//! The loop every stage runs: poll a batch, skip what the state already
//! holds, let the stage logic process it, produce its outputs and wait for
//! their acknowledgement, then write state *and* input offsets in one
//! atomic batch, and only then commit the offsets to Kafka (which reports
//! progress; the stored offsets are the truth). In transactional mode the
//! outputs and the offsets are committed in one Kafka transaction before the
//! state is written ([`crate::txn`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use journey_core::store::{StateStore, StoreError, WriteBatch};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use tracing::{debug, error, info, warn};

pub use crate::assign::{lock_assignment, Assignment, SharedAssignment, StageContext};
use crate::fault::{self, Site};
use crate::metrics::Metrics;
use crate::outage::{self, Backoff, Reach};
use crate::records::Outgoing;
use crate::PipelineError;

/// How long a stage keeps retrying a failing state write after a stop
/// request before it gives up and ends with the error.
const STOP_WRITE_BUDGET: Duration = Duration::from_secs(5);

/// What a stage does with one batch.
pub trait StageLogic {
    const NAME: &'static str;

    /// Processes records that the state does not hold yet.
    fn process(
        &mut self,
        batch: &[BorrowedMessage<'_>],
        out: &mut Outgoing,
        state: &mut WriteBatch,
    ) -> Result<(), PipelineError>;

    /// Called once per loop, also when nothing arrived (timers, moves).
    fn tick(&mut self, _out: &mut Outgoing, _state: &mut WriteBatch) -> Result<(), PipelineError> {
        Ok(())
    }

    /// The state of these partitions was just replaced from the changelog.
    fn on_restored(&mut self, _partitions: &[i32]) {}

    /// These partitions went to another instance; their local state is gone.
    fn on_revoked(&mut self, _partitions: &[i32]) {}
}

/// State shared between the stage threads and the pipeline handle.
#[derive(Debug, Default)]
pub struct Shared {
    pub stop: AtomicBool,
    pub failed: AtomicBool,
    /// Records processed by each stage (normalise, identity, stitch).
    pub processed: [AtomicU64; 3],
    /// Milliseconds since the pipeline started when any stage last did work.
    pub last_activity_ms: AtomicU64,
    pub started: std::sync::OnceLock<Instant>,
    pub ready: AtomicBool,
    /// Per stage: whether it reaches the brokers (see [`crate::outage`]).
    pub broker: outage::Flags,
    /// Per stage: the error of a state write it is retrying (a full disk).
    pub state_error: [std::sync::Mutex<Option<String>>; 3],
    /// Stages inside a take-over (opening epochs, restoring): busy, however
    /// long it takes, even though no record moves.
    pub taking_over: AtomicU64,
}

impl Shared {
    /// The state write error stage `index` is retrying, if any.
    pub fn state_error(&self, index: usize) -> Option<String> {
        self.state_error[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn set_state_error(&self, index: usize, error: Option<String>) {
        *self.state_error[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = error;
    }

    pub fn touch(&self) {
        let start = *self.started.get_or_init(Instant::now);
        self.last_activity_ms
            .store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
    }
}

/// Producer context: counts failed deliveries so a batch never counts as done
/// when one failed, and (for a stage) notices when no broker can be reached.
#[derive(Default)]
pub struct DeliveryCounter {
    pub failed: AtomicU64,
    pub reach: Option<Reach>,
    /// The changelog topic whose acknowledged offsets are tracked in `acked`.
    pub changelog: Option<String>,
    /// Changelog partition → highest acknowledged offset since the last take.
    pub acked: std::sync::Mutex<HashMap<i32, i64>>,
}

impl DeliveryCounter {
    /// The changelog offsets acknowledged since the last call.
    pub fn take_acked(&self) -> HashMap<i32, i64> {
        std::mem::take(&mut *self.acked.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl ClientContext for DeliveryCounter {
    fn error(&self, error: KafkaError, reason: &str) {
        match &self.reach {
            Some(reach) => {
                debug!(stage = reach.stage, error = %error, reason, "librdkafka producer error");
                reach.on_client_error(&error);
            }
            None => warn!(error = %error, reason, "librdkafka producer error"),
        }
    }
}
impl ProducerContext for DeliveryCounter {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Err((e, _)) => {
                warn!(error = %e, "delivery failed");
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
            Ok(m) if self.changelog.as_deref() == Some(m.topic()) => {
                let mut acked = self.acked.lock().unwrap_or_else(|e| e.into_inner());
                let e = acked.entry(m.partition()).or_insert(m.offset());
                *e = (*e).max(m.offset());
            }
            Ok(_) => {}
        }
    }
}

pub type StageConsumer = BaseConsumer<StageContext>;
pub type StageProducer = BaseProducer<DeliveryCounter>;

pub struct StageRunner<L: StageLogic> {
    pub logic: L,
    pub consumer: StageConsumer,
    pub producer: StageProducer,
    /// `None` for a stateless stage: offsets live in Kafka only.
    pub store: Option<Arc<dyn StateStore>>,
    pub shared: Arc<Shared>,
    pub metrics: Arc<Metrics>,
    pub max_records: usize,
    pub max_wait: Duration,
    pub index: usize,
    pub assignment: SharedAssignment,
    /// `(cluster, changelog topic)` when state changes go to a changelog.
    pub changelog: Option<(crate::KafkaConfig, String)>,
    /// Standby replicas on: revoked partitions stay in the local state (kept
    /// warm by the standby thread) unless the assignment was lost.
    pub standby: bool,
    /// Transactional mode ([`crate::txn`]): the producer has a transactional
    /// id, each batch is one transaction, offsets are committed in it.
    pub transactional: bool,
}

impl<L: StageLogic> StageRunner<L> {
    pub fn run(mut self) -> Result<(), PipelineError> {
        let mut stored: HashMap<(String, i32), i64> = HashMap::new();
        let mut progress = crate::progress::Progress::new(self.consumer.context().acked.clone());
        let failures_seen = self.producer.context().failed.load(Ordering::Relaxed);
        let reach = self.consumer.context().reach.clone();
        if self.transactional {
            outage::retry(&reach, "initialise transactions", || {
                Ok(self.producer.init_transactions(crate::txn::TIMEOUT)?)
            })?;
        }
        let (mut poll_backoff, mut probe_backoff) = (Backoff::default(), Backoff::default());
        while !self.shared.stop.load(Ordering::Relaxed) {
            reach.probe(self.consumer.client(), &mut probe_backoff);
            let started = Instant::now();
            let mut batch: Vec<BorrowedMessage<'_>> = Vec::new();
            let deadline = started + self.max_wait;
            while batch.len() < self.max_records {
                let left = deadline.saturating_duration_since(Instant::now());
                let timeout = if batch.is_empty() {
                    self.max_wait.max(Duration::from_millis(50))
                } else {
                    left
                };
                let polled = self.consumer.poll(timeout);
                // Rebalance callbacks ran inside that poll, before what it returned.
                let moved = std::mem::take(&mut lock_assignment(&self.assignment).moved);
                if !moved.is_empty() {
                    batch.retain(|m| !moved.contains(&(m.topic().to_string(), m.partition())));
                    progress.forget(&moved);
                    stored.retain(|k, _| !moved.contains(k));
                }
                match polled {
                    None => break,
                    Some(Ok(m)) => {
                        poll_backoff.reset();
                        batch.push(m);
                    }
                    Some(Err(KafkaError::PartitionEOF(_))) => {}
                    Some(Err(KafkaError::MessageConsumption(
                        RDKafkaErrorCode::AutoOffsetReset,
                    ))) if self.store.is_some() => {
                        let store = self.store.as_deref().expect("checked");
                        return Err(crate::assign::offsets_backwards(
                            L::NAME,
                            &self.consumer,
                            store,
                            &self.metrics,
                        ));
                    }
                    Some(Err(e)) => {
                        if outage::is_unreachable(&e) {
                            reach.suspect();
                        } else {
                            warn!(stage = L::NAME, error = %e, "consumer error, retrying");
                        }
                        let pause = poll_backoff.step();
                        if batch.is_empty() {
                            std::thread::sleep(pause);
                        }
                        break;
                    }
                }
                if Instant::now() >= deadline {
                    break;
                }
            }
            // Partitions that moved: drop what left, restore what arrived, and
            // only process records of partitions this instance still holds.
            let (newly, revoked, lost, claimed) = {
                let mut a = lock_assignment(&self.assignment);
                if let Some(e) = a.error.take() {
                    return Err(e);
                }
                (
                    std::mem::take(&mut a.newly),
                    std::mem::take(&mut a.revoked),
                    std::mem::take(&mut a.lost),
                    a.claimed.clone(),
                )
            };
            // Newly assigned partitions were restored (with a changelog) and
            // positioned in the rebalance callback; revoked ones are dropped
            // when a changelog will bring them back, unless a standby keeps
            // them warm (never after a lost assignment).
            if let (Some(store), Some(_)) = (&self.store, &self.changelog) {
                let revoked: Vec<i32> = revoked.into_iter().collect();
                if !self.standby || lost {
                    let claimed = crate::standby::lock(&claimed);
                    for &p in revoked.iter().filter(|p| !claimed.contains(p)) {
                        store.drop_partition(p)?;
                    }
                }
                if !revoked.is_empty() {
                    self.logic.on_revoked(&revoked);
                }
            }
            if let (Some(store), false) = (&self.store, newly.is_empty()) {
                let newly: Vec<i32> = newly.into_iter().collect();
                stored.retain(|(_, p), _| !newly.contains(p));
                // The restored state is at its stored offsets: report them even
                // if no new record ever arrives (the previous owner's last
                // commit may be behind what it made durable).
                let inputs: Vec<(String, i32)> = lock_assignment(&self.assignment)
                    .assigned
                    .iter()
                    .filter(|(_, p)| newly.contains(p))
                    .cloned()
                    .collect();
                for (topic, p) in inputs {
                    if let Some(n) = store.offset(&topic, p)? {
                        progress.advance(&topic, p, n);
                    }
                }
                self.logic.on_restored(&newly);
                // Taking partitions over is work: a pipeline waiting to be
                // quiet waits for what they bring.
                self.shared.touch();
            }
            {
                let a = lock_assignment(&self.assignment);
                batch.retain(|m| a.assigned.contains(&(m.topic().to_string(), m.partition())));
            }
            // Skip what durable state already holds (re-delivery after a crash).
            if let Some(store) = &self.store {
                let mut keep = Vec::with_capacity(batch.len());
                for m in batch {
                    let key = (m.topic().to_string(), m.partition());
                    let next = match stored.get(&key) {
                        Some(&n) => n,
                        None => {
                            let n = store.offset(&key.0, key.1)?.unwrap_or(-1);
                            stored.insert(key, n);
                            n
                        }
                    };
                    if m.offset() >= next {
                        keep.push(m);
                    } else {
                        // Already durable (re-delivery after a crash): report it.
                        progress.advance(m.topic(), m.partition(), next);
                    }
                }
                batch = keep;
            }
            if !batch.is_empty() {
                fault::point(Site::AfterPoll, L::NAME);
            }
            let mut out = Outgoing::default();
            let mut wb = WriteBatch::default();
            if !batch.is_empty() {
                self.logic.process(&batch, &mut out, &mut wb)?;
            }
            self.logic.tick(&mut out, &mut wb)?;
            if batch.is_empty() && out.records.is_empty() && wb.is_empty() {
                self.report(&mut progress, false);
                continue;
            }
            fault::point(Site::AfterProcess, L::NAME);
            // Offsets of this batch: highest offset + 1 per partition.
            let mut next: HashMap<(&str, i32), i64> = HashMap::new();
            for m in &batch {
                let e = next.entry((m.topic(), m.partition())).or_insert(0);
                *e = (*e).max(m.offset() + 1);
            }
            if self.store.is_some() {
                for ((topic, partition), n) in &next {
                    wb.offset(topic, *partition, *n);
                }
            }
            if let Some((_, topic)) = &self.changelog {
                let a = lock_assignment(&self.assignment);
                crate::changelog::record(&wb, topic, &a.epochs, &mut out);
            }
            fault::stall(Site::Stall, L::NAME);
            if self.consumer.assignment_lost() {
                // Processing outlived the session or max.poll.interval.ms: the
                // group gave these partitions to another member, whose
                // changelog and outputs must not be overwritten by this
                // stale batch. The next poll revokes them; whatever comes
                // back is restored and positioned afresh.
                warn!(
                    stage = L::NAME,
                    records = batch.len(),
                    "assignment lost while processing: batch discarded unwritten"
                );
                self.metrics
                    .stale_batches
                    .with_label_values(&[L::NAME])
                    .inc();
                continue;
            }
            if let Some((kafka, _)) = &self.changelog {
                fault::freeze(Site::Freeze, L::NAME);
                // A process paused near the session timeout may have lost its
                // partitions without its consumer knowing yet (its threads
                // were paused too): the batch goes back, unwritten, and is
                // polled again if the partitions are still ours.
                let limit = Duration::from_millis(u64::from(kafka.session_timeout_ms) / 2);
                if let Some(gap) = crate::pause::longest_since(started).filter(|g| *g >= limit) {
                    warn!(
                        stage = L::NAME,
                        records = batch.len(),
                        paused_ms = gap.as_millis() as u64,
                        "process was paused while processing: batch put back unwritten"
                    );
                    let mut first: HashMap<(&str, i32), i64> = HashMap::new();
                    for m in &batch {
                        let e = first.entry((m.topic(), m.partition())).or_insert(i64::MAX);
                        *e = (*e).min(m.offset());
                    }
                    for ((topic, partition), offset) in first {
                        // A partition that moved meanwhile cannot be sought: its new owner reads it.
                        let _ = self.consumer.seek(
                            topic,
                            partition,
                            rdkafka::Offset::Offset(offset),
                            Duration::from_secs(5),
                        );
                    }
                    self.metrics
                        .stale_batches
                        .with_label_values(&[L::NAME])
                        .inc();
                    continue;
                }
            }
            if self.transactional {
                self.producer.begin_transaction()?;
            }
            self.produce(out)?;
            let failed = self.producer.context().failed.load(Ordering::Relaxed);
            if failed > failures_seen && !self.transactional {
                return Err(PipelineError::Stage {
                    stage: L::NAME,
                    reason: "output delivery failed; state not advanced".into(),
                });
            }
            fault::point(Site::AfterProduce, L::NAME);
            if self.transactional {
                let mut first: HashMap<(&str, i32), i64> = HashMap::new();
                for m in &batch {
                    let e = first.entry((m.topic(), m.partition())).or_insert(i64::MAX);
                    *e = (*e).min(m.offset());
                }
                let outcome =
                    crate::txn::commit(&self.producer, &self.consumer, L::NAME, &next, &first)?;
                if let crate::txn::Outcome::Aborted = outcome {
                    self.producer.context().take_acked();
                    self.metrics
                        .stale_batches
                        .with_label_values(&[L::NAME])
                        .inc();
                    continue;
                }
            }
            if self.changelog.is_some() {
                // The changelog position the state is at after this batch, for
                // the partitions this instance holds (any other is restored in
                // full or caught up from its older position when it arrives).
                let acked = self.producer.context().take_acked();
                let a = lock_assignment(&self.assignment);
                for (p, last) in acked.into_iter().filter(|(p, _)| a.owns(*p)) {
                    let at = crate::changelog::Position {
                        next: last + 1,
                        epoch: a.epochs.get(&p).copied(),
                        verified: false,
                    };
                    crate::changelog::set_position(&mut wb, p, at);
                }
            }
            if let Some(store) = &self.store {
                self.write_state(store.as_ref(), &wb)?;
                fault::point(Site::MidStateWrite, L::NAME);
                for ((topic, partition), n) in &next {
                    stored.insert((topic.to_string(), *partition), *n);
                }
                fault::point(Site::AfterStateWrite, L::NAME);
            }
            if !next.is_empty() {
                fault::point(Site::BeforeCommit, L::NAME);
                for ((topic, partition), n) in &next {
                    progress.advance(topic, *partition, *n);
                }
                self.report(&mut progress, true);
                self.shared.processed[self.index].fetch_add(batch.len() as u64, Ordering::Relaxed);
                self.shared.touch();
            }
            self.metrics
                .batch_seconds
                .with_label_values(&[L::NAME])
                .observe(started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    /// Writes one batch's state and input offsets. A failed write (a full
    /// disk, an I/O error) is retried with backoff (200 ms doubling to 2 s)
    /// while the stage consumes and commits nothing and health reports the
    /// error; once a write succeeds (space came back) the stage carries on
    /// with the same batch. After a stop request the retries go on for at
    /// most [`STOP_WRITE_BUDGET`] (a stop drains in bounded time), then the
    /// stage ends with the error; nothing past durable state is committed.
    fn write_state(&self, store: &dyn StateStore, wb: &WriteBatch) -> Result<(), PipelineError> {
        let mut backoff = Backoff::default();
        let mut stop_deadline: Option<Instant> = None;
        loop {
            let written = if fault::fails(Site::StateWriteError) {
                Err(StoreError::Io(
                    "injected state write error (JOURNEY_FAULT)".into(),
                ))
            } else {
                store.write(wb)
            };
            match written {
                Ok(()) => {
                    if self.shared.state_error(self.index).is_some() {
                        self.shared.set_state_error(self.index, None);
                        info!(stage = L::NAME, "state writes succeed again, consuming");
                    }
                    return Ok(());
                }
                Err(e) => {
                    self.metrics.state_write_errors.inc();
                    if self.shared.stop.load(Ordering::Relaxed) {
                        let deadline = *stop_deadline
                            .get_or_insert_with(|| Instant::now() + STOP_WRITE_BUDGET);
                        if Instant::now() >= deadline {
                            return Err(e.into());
                        }
                    }
                    let pause = backoff.step();
                    error!(stage = L::NAME, error = %e, pause_ms = pause.as_millis() as u64,
                           "state write failed: consumption paused, retrying");
                    self.shared
                        .set_state_error(self.index, Some(format!("{}: {e}", L::NAME)));
                    std::thread::sleep(pause);
                }
            }
        }
    }

    /// Commits the progress the broker has not acknowledged yet, for the
    /// partitions this instance still holds.
    fn report(&self, progress: &mut crate::progress::Progress, now: bool) {
        if self.transactional {
            // The offsets were committed in each batch's transaction.
            return;
        }
        let a = lock_assignment(&self.assignment);
        progress.commit(
            &self.consumer,
            L::NAME,
            |t, p| a.assigned.contains(&(t.to_string(), p)),
            now,
        );
    }

    fn produce(&self, out: Outgoing) -> Result<(), PipelineError> {
        if out.records.is_empty() {
            return Ok(());
        }
        for r in &out.records {
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for (k, v) in &r.headers {
                headers = headers.insert(Header {
                    key: k,
                    value: Some(v.as_slice()),
                });
            }
            let mut rec = BaseRecord::<[u8], [u8]>::to(&r.topic).headers(headers);
            if let Some(p) = r.partition {
                rec = rec.partition(p);
            }
            if let Some(k) = &r.key {
                rec = rec.key(k.as_slice());
            }
            if let Some(v) = &r.payload {
                rec = rec.payload(v.as_slice());
            }
            let mut pending = Some(rec);
            while let Some(rec) = pending.take() {
                match self.producer.send(rec) {
                    Ok(()) => {}
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), rec)) => {
                        self.producer.poll(Duration::from_millis(5));
                        pending = Some(rec);
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
        }
        // Wait for every acknowledgement before state advances (at-least-once).
        loop {
            match self.producer.flush(Duration::from_secs(5)) {
                Ok(()) => return Ok(()),
                Err(KafkaError::Flush(_)) if !self.shared.stop.load(Ordering::Relaxed) => {
                    warn!(stage = L::NAME, "outputs not yet acknowledged, waiting");
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
