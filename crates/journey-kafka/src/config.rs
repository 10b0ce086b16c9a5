//! Configuration of the Kafka edges: where the cluster is, which topics, how
//! big a batch is. Composed by the binary into its TOML config (sections
//! `[kafka]`, `[topics]`, `[batch]`); every field's doc comment is its
//! operator documentation.

use std::collections::BTreeMap;

use journey_core::model::Channel;
use journey_core::normalize::Format;
use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// `[kafka]`: the cluster and the consumer groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list.
    pub bootstrap_servers: String,
    /// Names the consumer groups (`<id>.normalise`, `<id>.identity`,
    /// `<id>.stitch`) and prefixes the internal topics (`<id>.identity-hops`,
    /// `<id>.aliases`, `<id>.stitch`). Instances with the same id share the work.
    pub application_id: String,
    /// Passed to librdkafka unchanged for every client, e.g.
    /// `"security.protocol" = "SASL_SSL"`, `"sasl.mechanism" = "SCRAM-SHA-512"`,
    /// `"sasl.username"`, `"sasl.password"`, `"ssl.ca.location"`.
    pub librdkafka: BTreeMap<String, String>,
    /// Consumer session timeout; short values let a group rebalance quickly.
    pub session_timeout_ms: u32,
    /// Exactly-once mode: each batch's outputs, changelog records and input
    /// offsets are committed in one Kafka transaction, fenced by the consumer
    /// group's generation (KIP-447; Kafka 2.5 or later). Needs
    /// `state.changelog`; consumers of the outputs read with
    /// `isolation.level=read_committed`. Off: at-least-once with
    /// deterministic ids. The embedded demo broker does not honour transactions.
    pub transactions: bool,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: "localhost:9092".into(),
            application_id: "journey-stitch".into(),
            librdkafka: BTreeMap::new(),
            session_timeout_ms: 10_000,
            transactions: false,
        }
    }
}

impl KafkaConfig {
    /// The one place that turns configuration into a librdkafka client config.
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap_servers);
        c.set("client.id", &self.application_id);
        for (k, v) in &self.librdkafka {
            c.set(k, v);
        }
        c
    }

    pub fn consumer_config(&self, stage: &str) -> ClientConfig {
        let mut c = self.client_config();
        c.set("group.id", format!("{}.{stage}", self.application_id))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("partition.assignment.strategy", "cooperative-sticky")
            .set("session.timeout.ms", self.session_timeout_ms.to_string())
            .set(
                "max.poll.interval.ms",
                (self.session_timeout_ms.max(6_000) * 3).to_string(),
            )
            .set("fetch.wait.max.ms", "50");
        for (k, v) in &self.librdkafka {
            c.set(k, v);
        }
        c
    }

    pub fn producer_config(&self) -> ClientConfig {
        let mut c = self.client_config();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("batch.num.messages", "10000");
        for (k, v) in &self.librdkafka {
            c.set(k, v);
        }
        c
    }

    pub fn internal_topic(&self, name: &str) -> String {
        format!("{}.{name}", self.application_id)
    }
}

/// One raw input topic and the format its payloads are in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTopic {
    pub channel: Channel,
    pub topic: String,
    /// Payload format: `native` (docs/native-format.md), a vendor format
    /// (`segment`, `amazon_connect`, `zendesk`, ...), or `auto` (the default)
    /// to detect it per payload; the detected format is recorded on the event.
    #[serde(with = "format_serde", default = "auto")]
    pub format: Format,
}

fn auto() -> Format {
    Format::Auto
}

mod format_serde {
    use journey_core::normalize::Format;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(f: &Format, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(f.as_str())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Format, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// `[topics]`: input and output topics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TopicsConfig {
    /// Raw input topics, one or more per channel.
    pub raw: Vec<RawTopic>,
    /// Canonical `JourneyEvent` records (Avro), keyed by routing identifier.
    pub events: String,
    pub handover: String,
    pub alerts: String,
    pub merges: String,
    /// Dead letters: original bytes, reason and source coordinates in headers.
    pub dlq: String,
    /// Identity review records (`IdentityReview`, Avro): links the guards refused.
    pub quarantine: String,
    /// Canonical events older than the allowed lateness (Avro `JourneyEvent`).
    pub late: String,
    /// Operator commands (JSON, e.g. unmerges); see `journey unmerge`.
    pub control: String,
    /// Partition count for topics the pipeline creates (internal topics, and
    /// the others in `journey demo`/`replay`). Internal topics must all have
    /// the same count as `events`.
    pub partitions: i32,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        TopicsConfig {
            raw: Channel::ALL
                .iter()
                .map(|&channel| RawTopic {
                    channel,
                    topic: format!("cx.raw.{channel}"),
                    format: Format::Auto,
                })
                .collect(),
            events: "cx.journey.events".into(),
            handover: "cx.journey.handover".into(),
            alerts: "cx.journey.alerts".into(),
            merges: "cx.journey.merges".into(),
            dlq: "cx.journey.dlq".into(),
            quarantine: "cx.journey.identity-review".into(),
            late: "cx.journey.late-events".into(),
            control: "cx.journey.control".into(),
            partitions: 6,
        }
    }
}

/// `[batch]`: how much to poll before one state write and one flush.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    pub max_records: usize,
    pub max_wait_ms: u64,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_records: 5_000,
            max_wait_ms: 20,
        }
    }
}

impl TopicsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.raw.is_empty() {
            return Err("field `topics.raw`: at least one raw topic is needed".into());
        }
        if self.partitions < 1 {
            return Err("field `topics.partitions`: must be at least 1".into());
        }
        for (name, t) in [
            ("events", &self.events),
            ("handover", &self.handover),
            ("alerts", &self.alerts),
            ("merges", &self.merges),
            ("dlq", &self.dlq),
            ("quarantine", &self.quarantine),
            ("late", &self.late),
            ("control", &self.control),
        ] {
            if t.trim().is_empty() {
                return Err(format!("field `topics.{name}`: must not be empty"));
            }
        }
        Ok(())
    }
}
