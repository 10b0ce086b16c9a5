//! Starting one stage: its consumer (with the context that positions
//! assigned partitions and watches the brokers), its producer, and the thread
//! that runs its loop and records its failure for the pipeline's health.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use journey_core::store::StateStore;
use rdkafka::consumer::Consumer;
use tracing::error;

use crate::assign::StageState;
use crate::metrics::Metrics;
use crate::outage::Reach;
use crate::stage::{
    Assignment, DeliveryCounter, Shared, SharedAssignment, StageConsumer, StageContext, StageLogic,
    StageProducer, StageRunner,
};
use crate::{PipelineConfig, PipelineError};

pub(crate) fn assignment(state_topic: &str) -> SharedAssignment {
    Arc::new(Mutex::new(Assignment {
        state_topic: state_topic.to_string(),
        ..Assignment::default()
    }))
}

pub(crate) fn spawn_err(e: std::io::Error) -> PipelineError {
    PipelineError::Stage {
        stage: "pipeline",
        reason: format!("cannot start thread: {e}"),
    }
}

/// A stage's name and the thread that runs it.
pub(crate) type StageThread = (&'static str, JoinHandle<Result<(), PipelineError>>);

pub(crate) struct StageEnv<'a> {
    pub cfg: &'a PipelineConfig,
    pub shared: &'a Arc<Shared>,
    pub metrics: &'a Arc<Metrics>,
    pub errors: &'a Arc<Mutex<Vec<String>>>,
}

impl StageEnv<'_> {
    pub fn spawn<L: StageLogic + Send + 'static>(
        &self,
        logic: L,
        topics: &[String],
        store: Option<Arc<dyn StateStore>>,
        index: usize,
        assignment: SharedAssignment,
        changelog: Option<String>,
    ) -> Result<StageThread, PipelineError> {
        let reach = Reach {
            shared: self.shared.clone(),
            metrics: self.metrics.clone(),
            stage: L::NAME,
            index,
        };
        let changelog = changelog.map(|topic| (self.cfg.kafka.clone(), topic));
        let ctx = StageContext {
            stage: L::NAME,
            metrics: self.metrics.clone(),
            assignment: assignment.clone(),
            reach: reach.clone(),
            acked: crate::progress::Acked::default(),
            state: store.clone().map(|store| StageState {
                store,
                changelog: changelog.clone(),
                inputs: topics.to_vec(),
            }),
        };
        let strategy = if topics.len() > 1 && store.is_some() {
            "range"
        } else {
            "cooperative-sticky"
        };
        let consumer: StageConsumer = self
            .cfg
            .kafka
            .consumer_config(L::NAME)
            .set("statistics.interval.ms", "5000")
            .set("partition.assignment.strategy", strategy)
            // A stateful stage starts at its stored offsets; one the broker
            // does not hold is an error, never a silent reset.
            .set(
                "auto.offset.reset",
                if store.is_some() { "error" } else { "earliest" },
            )
            .create_with_context(ctx)?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        let transactional = self.cfg.kafka.transactions;
        let mut producer_config = self.cfg.kafka.producer_config();
        if transactional {
            producer_config.set(
                "transactional.id",
                format!(
                    "{}.{}.{}",
                    self.cfg.kafka.application_id,
                    L::NAME,
                    crate::txn::instance_id(&self.cfg.state_dir)?
                ),
            );
        }
        let producer: StageProducer = producer_config.create_with_context(DeliveryCounter {
            reach: Some(reach),
            changelog: changelog.as_ref().map(|(_, topic)| topic.clone()),
            ..DeliveryCounter::default()
        })?;
        let runner = StageRunner {
            logic,
            consumer,
            producer,
            store,
            shared: self.shared.clone(),
            metrics: self.metrics.clone(),
            max_records: self.cfg.batch.max_records,
            max_wait: Duration::from_millis(self.cfg.batch.max_wait_ms),
            index,
            assignment,
            changelog,
            standby: self.cfg.standby,
            transactional,
        };
        let (shared, errors) = (self.shared.clone(), self.errors.clone());
        let handle = std::thread::Builder::new()
            .name(L::NAME.into())
            .spawn(move || {
                let r = runner.run();
                if let Err(e) = &r {
                    error!(stage = L::NAME, error = %e, "stage stopped");
                    errors
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(format!("{}: {e}", L::NAME));
                    shared.failed.store(true, Ordering::Relaxed);
                }
                r
            })
            .map_err(spawn_err)?;
        Ok((L::NAME, handle))
    }
}
