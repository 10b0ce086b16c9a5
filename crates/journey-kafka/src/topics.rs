//! Creating topics (idempotent), for the embedded broker and for internal topics.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::{KafkaConfig, PipelineError};

/// Creates the topics that do not exist yet; existing ones are left as they are.
pub fn create_topics(kafka: &KafkaConfig, topics: &[(&str, i32)]) -> Result<(), PipelineError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let probe: BaseConsumer = kafka.client_config().create()?;
    let md = probe.fetch_metadata(None, Duration::from_secs(10))?;
    let existing: std::collections::HashSet<&str> = md
        .topics()
        .iter()
        .filter(|t| !t.partitions().is_empty())
        .map(|t| t.name())
        .collect();
    let missing: Vec<&(&str, i32)> = topics
        .iter()
        .filter(|(name, _)| !existing.contains(name))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = kafka.client_config().create()?;
    let new: Vec<NewTopic<'_>> = missing
        .iter()
        .map(|(name, partitions)| {
            NewTopic::new(name, *partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1")
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = block_on(admin.create_topics(new.iter(), &opts))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(PipelineError::Config(format!(
                    "cannot create topic {name}: {code}"
                )));
            }
        }
    }
    Ok(())
}

/// Partition count of a topic as the cluster reports it.
pub fn partition_count(kafka: &KafkaConfig, topic: &str) -> Result<i32, PipelineError> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let c: BaseConsumer = kafka.client_config().create()?;
    let md = c.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let n = md
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len() as i32);
    if n == 0 {
        return Err(PipelineError::Config(format!(
            "topic {topic} does not exist or has no partitions"
        )));
    }
    Ok(n)
}

/// Runs a future to completion on the current thread (the admin API is async;
/// the pipeline is not).
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake, Waker};
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park_timeout(Duration::from_millis(50)),
        }
    }
}

/// Reads partition watermarks as stored — the high watermark, not the last
/// stable offset that read_committed clients (librdkafka's default) are
/// given. Deciding that a partition is empty needs the former: the last
/// stable offset stops at an open transaction, and Tansu 0.6 reports it as 0
/// for partitions written in transactions.
pub struct Watermarks(rdkafka::consumer::BaseConsumer);

impl Watermarks {
    pub fn new(kafka: &KafkaConfig) -> Result<Watermarks, PipelineError> {
        Ok(Watermarks(
            kafka
                .client_config()
                .set("group.id", kafka.internal_topic("watermarks"))
                .set("isolation.level", "read_uncommitted")
                .create()?,
        ))
    }

    /// `(low, high)` of `topic`/`partition`.
    pub fn get(
        &self,
        topic: &str,
        partition: i32,
        timeout: Duration,
    ) -> rdkafka::error::KafkaResult<(i64, i64)> {
        use rdkafka::consumer::Consumer;
        self.0.fetch_watermarks(topic, partition, timeout)
    }
}
