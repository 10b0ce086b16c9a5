//! Broker outages: while a stage cannot reach any broker it keeps retrying
//! with backoff instead of stopping, the pipeline reports not ready, and the
//! gauge `journey_broker_unreachable` is 1.
//!
//! Its clients' error callbacks (librdkafka's `AllBrokersDown`) and transport
//! errors from its consumer's poll only make a stage *suspect* an outage:
//! librdkafka queues these events and serves them late, long after the
//! broker is back. A suspicion is settled at once by a metadata request to
//! the cluster: if it fails, the stage is unreachable, and it is probed again
//! with backoff; only a successful request clears the mark (a message can
//! come from librdkafka's local queue while the brokers are gone, and an idle
//! stage receives no messages at all, so neither is evidence of a broker).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::Client;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use tracing::{info, warn};

use crate::metrics::Metrics;
use crate::stage::Shared;
use crate::PipelineError;

/// The longest pause between two attempts to reach the brokers.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// Whether `e` says that no broker can be reached (as opposed to a refused request).
pub fn is_unreachable(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::Resolve
                | RDKafkaErrorCode::OperationTimedOut
                | RDKafkaErrorCode::RequestTimedOut
        )
    )
}

/// Per stage: reachability as the stage loop last established it.
#[derive(Debug, Default)]
pub struct Flags {
    down: [AtomicBool; 3],
    suspect: [AtomicBool; 3],
}

impl Flags {
    /// Whether stage `index` reaches no broker.
    pub fn is_down(&self, index: usize) -> bool {
        self.down[index].load(Ordering::Relaxed)
    }
}

/// One stage's view of [`Shared::broker`], shared by its consumer and
/// producer contexts and its loop.
#[derive(Clone)]
pub struct Reach {
    pub shared: Arc<Shared>,
    pub metrics: Arc<Metrics>,
    pub stage: &'static str,
    pub index: usize,
}

impl Reach {
    /// Called from librdkafka's error callback: only `AllBrokersDown` counts
    /// (a single broker's transport error is routine, e.g. an idle connection closed).
    pub fn on_client_error(&self, e: &KafkaError) {
        if e.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.suspect();
        }
    }

    /// An error hinted at an outage; the loop's next probe decides.
    pub fn suspect(&self) {
        self.shared.broker.suspect[self.index].store(true, Ordering::Relaxed);
    }

    /// Probes the cluster if an outage is suspected, or known and `backoff` is due.
    pub fn probe<C: ClientContext>(&self, client: &Client<C>, backoff: &mut Backoff) {
        let flags = &self.shared.broker;
        let suspect = flags.suspect[self.index].swap(false, Ordering::Relaxed);
        if !(suspect || self.is_down() && backoff.due()) {
            return;
        }
        match client.fetch_metadata(None, Duration::from_secs(1)) {
            Ok(_) => {
                self.up();
                backoff.reset();
            }
            Err(e) => {
                self.down(&e);
                backoff.step();
            }
        }
    }

    /// The cluster was just found unreachable.
    pub fn down(&self, e: &KafkaError) {
        if !self.shared.broker.down[self.index].swap(true, Ordering::Relaxed) {
            warn!(stage = self.stage, error = %e, "brokers unreachable; retrying with backoff, not ready");
        }
        self.update_gauge();
    }

    pub fn up(&self) {
        if self.shared.broker.down[self.index].swap(false, Ordering::Relaxed) {
            info!(stage = self.stage, "brokers reachable again");
        }
        self.update_gauge();
    }

    pub fn is_down(&self) -> bool {
        self.shared.broker.is_down(self.index)
    }

    fn update_gauge(&self) {
        let any = self
            .shared
            .broker
            .down
            .iter()
            .any(|d| d.load(Ordering::Relaxed));
        self.metrics.broker_unreachable.set(i64::from(any));
    }
}

/// Exponential backoff from 200 ms to [`MAX_BACKOFF`].
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    not_before: Option<Instant>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: FIRST_BACKOFF,
            not_before: None,
        }
    }
}

impl Backoff {
    /// The pause before the next attempt; each call doubles the following one.
    pub fn step(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        self.not_before = Some(Instant::now() + d);
        d
    }

    /// Whether the pause set by the last [`Backoff::step`] is over.
    pub fn due(&self) -> bool {
        self.not_before.is_none_or(|t| Instant::now() >= t)
    }

    pub fn reset(&mut self) {
        *self = Backoff::default();
    }
}

/// Runs `f` until it succeeds, retrying Kafka errors with backoff (marking
/// the stage unreachable when they say so) until the pipeline stops; any
/// other error is returned at once.
pub fn retry<T>(
    reach: &Reach,
    what: &str,
    mut f: impl FnMut() -> Result<T, PipelineError>,
) -> Result<T, PipelineError> {
    let mut backoff = Backoff::default();
    loop {
        match f() {
            Err(PipelineError::Kafka(e)) if !reach.shared.stop.load(Ordering::Relaxed) => {
                if is_unreachable(&e) {
                    reach.down(&e);
                }
                let pause = backoff.step();
                warn!(stage = reach.stage, error = %e, what, pause_ms = pause.as_millis() as u64, "kafka error, retrying");
                std::thread::sleep(pause);
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::default();
        let steps: Vec<u128> = (0..7).map(|_| b.step().as_millis()).collect();
        assert_eq!(steps, vec![200, 400, 800, 1600, 2000, 2000, 2000]);
        assert!(!b.due());
        b.reset();
        assert!(b.due());
        assert_eq!(b.step(), FIRST_BACKOFF);
    }

    #[test]
    fn only_transport_failures_count_as_unreachable() {
        let g = |c| KafkaError::Global(c);
        assert!(is_unreachable(&g(RDKafkaErrorCode::AllBrokersDown)));
        assert!(is_unreachable(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::BrokerTransportFailure
        )));
        assert!(!is_unreachable(&g(
            RDKafkaErrorCode::UnknownTopicOrPartition
        )));
        assert!(!is_unreachable(&KafkaError::MessageConsumption(
            RDKafkaErrorCode::AutoOffsetReset
        )));
    }
}
