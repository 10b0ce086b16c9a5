//! The embedded default shared by `journey demo`, `journey replay` and
//! `journey bench`: an in-process Kafka-protocol broker (librdkafka's mock
//! cluster), every topic created up front, raw records produced with a
//! progress bar, then the full pipeline driven until it has consumed every
//! raw record and gone quiet.
//!
//! Data flows: raw records → [`produce`] → raw topics → [`run_to_quiet`]
//! (Pipeline: normalise → stitch → outputs) → journeys from the state and
//! the output topics read back.

use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use journey_core::journey::CustomerJourney;
use journey_core::model::Channel;
use journey_kafka::embedded::MockBroker;
use journey_kafka::metrics::Metrics;
use journey_kafka::outputs::Outputs;
use journey_kafka::{Counters, KafkaConfig, Pipeline, PipelineConfig, TopicsConfig};

/// How long every stage must be idle before a run counts as finished.
pub const QUIET: Duration = Duration::from_millis(1500);

/// A running in-process broker and the Kafka settings that reach it.
pub struct Embedded {
    /// Kept alive while the broker is used.
    broker: MockBroker,
    pub kafka: KafkaConfig,
}

impl Embedded {
    /// Starts the mock cluster; clients of `application_id` will use it.
    ///
    /// # Errors
    /// When librdkafka cannot start the mock cluster.
    pub fn start(application_id: &str) -> anyhow::Result<Embedded> {
        let broker = MockBroker::start().context("cannot start the in-process kafka broker")?;
        let kafka = KafkaConfig {
            bootstrap_servers: broker.bootstrap(),
            application_id: application_id.to_string(),
            ..KafkaConfig::default()
        };
        tracing::info!(bootstrap = %kafka.bootstrap_servers, "in-process broker started");
        Ok(Embedded { broker, kafka })
    }
}

impl Embedded {
    /// Creates every topic the pipeline uses (raw, canonical events, outputs,
    /// internal) with `topics.partitions` partitions. The mock cluster does not
    /// implement the admin API's CreateTopics, so this goes through the broker.
    ///
    /// # Errors
    /// When the mock cluster refuses a topic.
    /// The topics of the pass-through baseline (its own events and stitch topics).
    pub fn create_passthrough_topics(
        &self,
        kafka: &journey_kafka::KafkaConfig,
        topics: &TopicsConfig,
    ) -> anyhow::Result<()> {
        for name in [topics.events.clone(), kafka.internal_topic("stitch")] {
            self.broker
                .create_topic(&name, topics.partitions)
                .context("cannot create topics")?;
        }
        Ok(())
    }

    /// The pipeline's topics, and one alerts topic per owner when `rules` routes by owner.
    pub fn create_topics(
        &self,
        topics: &TopicsConfig,
        rules: &journey_core::rules::RulesConfig,
    ) -> anyhow::Result<()> {
        self.broker
            .create_pipeline_topics(&self.kafka, topics, topics.partitions)
            .context("cannot create topics")?;
        for t in journey_kafka::owner_alert_topics(topics, rules) {
            self.broker
                .create_topic(&t, topics.partitions)
                .with_context(|| format!("cannot create topic {t}"))?;
        }
        Ok(())
    }
}

/// The raw topic that carries `channel` (the first one configured).
pub fn raw_topic(topics: &TopicsConfig, channel: Channel) -> Option<&str> {
    topics
        .raw
        .iter()
        .find(|r| r.channel == channel)
        .map(|r| r.topic.as_str())
}

/// A record to produce: topic, key, payload.
pub struct Outgoing {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// A progress bar on stderr (hidden when stderr is not a terminal or `quiet`).
pub fn bar(len: u64, prefix: &str, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template(
        "{prefix:>10} [{bar:40.cyan/blue}] {human_pos}/{human_len} {per_sec:>12} {msg}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(prefix.to_string());
    bar
}

/// Produces `records` with a progress bar and waits until all are acknowledged.
///
/// # Errors
/// When the broker does not acknowledge every record.
pub fn produce(kafka: &KafkaConfig, records: &[Outgoing], quiet: bool) -> anyhow::Result<u64> {
    let bar = bar(records.len() as u64, "producing", quiet);
    let iter = records
        .iter()
        .map(|r| (r.topic.as_str(), r.key.as_deref(), r.payload.as_slice()));
    let n = journey_kafka::io::produce_all(kafka, iter, &|done| bar.set_position(done))
        .context("cannot produce the raw records")?;
    bar.finish_and_clear();
    anyhow::ensure!(
        n == records.len() as u64,
        "only {n} of {} raw records were acknowledged",
        records.len()
    );
    Ok(n)
}

/// When the pipeline got where during a run.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// From `Pipeline::start` to the last raw record consumed.
    pub consumed: Duration,
    /// From `Pipeline::start` to the last change of any counter (the work done).
    pub processed: Duration,
}

/// Polls the counters with a progress bar until `expected_raw` raw records
/// are consumed, then waits for [`QUIET`].
///
/// # Errors
/// When the pipeline fails or does not finish within `timeout`.
pub fn drive(
    pipeline: &Pipeline,
    expected_raw: u64,
    timeout: Duration,
    quiet: bool,
) -> anyhow::Result<(Timings, Counters)> {
    let started = Instant::now();
    let bar = bar(expected_raw, "processing", quiet);
    let mut last = pipeline.counters();
    let mut last_change = Duration::ZERO;
    let mut consumed = None;
    loop {
        let c = pipeline.counters();
        if total(&c) != total(&last) {
            last_change = started.elapsed();
        }
        last = c;
        bar.set_position(c.raw_in.min(expected_raw));
        bar.set_message(format!(
            "{} stitched, {} dead letters",
            c.stitched, c.dead_letters
        ));
        if c.raw_in >= expected_raw {
            consumed.get_or_insert(started.elapsed());
            if started.elapsed() - last_change >= QUIET {
                break;
            }
        }
        anyhow::ensure!(
            started.elapsed() < timeout,
            "the pipeline consumed {} of {expected_raw} raw records within {timeout:?}",
            c.raw_in
        );
        let health = pipeline.health();
        anyhow::ensure!(
            health.healthy || !health.ready,
            "the pipeline is unhealthy: {}",
            health.detail
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let remaining = timeout.saturating_sub(started.elapsed()).max(QUIET * 2);
    pipeline
        .wait_quiet(expected_raw, QUIET, remaining)
        .context("the pipeline did not go quiet")?;
    bar.finish_and_clear();
    let timings = Timings {
        consumed: consumed.unwrap_or(last_change),
        processed: last_change,
    };
    Ok((timings, pipeline.counters()))
}

fn total(c: &Counters) -> u64 {
    c.raw_in + c.dead_letters + c.events_out + c.stitched + c.handovers + c.alerts + c.merges
}

/// What a full run left behind.
pub struct Finished {
    pub journeys: Vec<CustomerJourney>,
    pub outputs: Outputs,
    pub counters: Counters,
}

/// Starts the pipeline on `cfg` (state in a fresh temp folder), drives it to
/// quiet, reads the journeys and the output topics back and shuts it down.
///
/// # Errors
/// When any step fails or the run exceeds `timeout`.
pub fn run_to_quiet(
    mut cfg: PipelineConfig,
    expected_raw: u64,
    timeout: Duration,
    quiet: bool,
) -> anyhow::Result<Finished> {
    let state = tempfile::Builder::new()
        .prefix("journey-state-")
        .tempdir()
        .context("cannot create a temp state folder")?;
    cfg.state_dir = state.path().to_path_buf();
    let (kafka, topics, framing) = (cfg.kafka.clone(), cfg.topics.clone(), cfg.framing);
    let owner_topics = journey_kafka::owner_alert_topics(&topics, &cfg.stitch.rules);
    let pipeline = Pipeline::start(cfg, Metrics::new()).context("cannot start the pipeline")?;
    let driven = drive(&pipeline, expected_raw, timeout, quiet);
    let (_timings, counters) = match driven {
        Ok(d) => d,
        Err(e) => {
            if let Err(stop) = pipeline.shutdown() {
                tracing::warn!(error = %stop, "shutdown after a failed run failed too");
            }
            return Err(e);
        }
    };
    let journeys = pipeline
        .journeys()
        .context("cannot read the journeys from the state")?;
    pipeline
        .shutdown()
        .context("the pipeline did not shut down cleanly")?;
    let mut outputs =
        Outputs::read(&kafka, &topics, &framing).context("cannot read the output topics back")?;
    if !owner_topics.is_empty() {
        // Alerts routed by owner: gathered from every owner's topic.
        outputs.alerts = journey_kafka::outputs::read_alert_topics(&kafka, &owner_topics, &framing)
            .context("cannot read the owner alert topics back")?
            .into_iter()
            .map(|(_, a)| a)
            .collect();
    }
    drop(state);
    Ok(Finished {
        journeys,
        outputs,
        counters,
    })
}
