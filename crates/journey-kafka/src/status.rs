//! What `journey status` reports, read from the cluster: per stage, the
//! consumer group's members and the partitions each holds, and per input
//! partition the committed offset, the end of the partition and the lag.
//! Committed offsets only report progress (the stored offsets in the state
//! are the truth); Tansu under-reports partition ends, so its lag can read low.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::{KafkaConfig, PipelineError, TopicsConfig};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionStatus {
    pub topic: String,
    pub partition: i32,
    /// Next offset the group will read; `None` before its first commit.
    pub committed: Option<i64>,
    /// The partition's end (high watermark) as the broker reports it.
    pub end: i64,
    pub lag: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberStatus {
    pub client_id: String,
    pub host: String,
    /// `topic/partition` held by this member.
    pub partitions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageStatus {
    pub stage: String,
    pub group: String,
    pub state: String,
    pub members: Vec<MemberStatus>,
    pub partitions: Vec<PartitionStatus>,
    pub lag: i64,
}

/// The status of the three stages of the pipeline named by `kafka.application_id`.
pub fn status(
    kafka: &KafkaConfig,
    topics: &TopicsConfig,
) -> Result<Vec<StageStatus>, PipelineError> {
    let raw: Vec<String> = topics.raw.iter().map(|r| r.topic.clone()).collect();
    let stages = [
        ("normalise", raw),
        (
            "identity",
            vec![topics.events.clone(), kafka.internal_topic("identity-hops")],
        ),
        ("stitch", vec![kafka.internal_topic("stitch")]),
    ];
    stages
        .iter()
        .map(|(stage, inputs)| stage_status(kafka, stage, inputs))
        .collect()
}

fn stage_status(
    kafka: &KafkaConfig,
    stage: &str,
    inputs: &[String],
) -> Result<StageStatus, PipelineError> {
    let group = format!("{}.{stage}", kafka.application_id);
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()?;
    let timeout = Duration::from_secs(10);
    let mut tpl = TopicPartitionList::new();
    for topic in inputs {
        for p in 0..crate::topics::partition_count(kafka, topic)? {
            tpl.add_partition(topic, p);
        }
    }
    let committed = consumer.committed_offsets(tpl, timeout)?;
    let mut partitions = Vec::new();
    for e in committed.elements() {
        let (_, end) = consumer.fetch_watermarks(e.topic(), e.partition(), timeout)?;
        let committed = match e.offset() {
            Offset::Offset(o) => Some(o),
            _ => None,
        };
        partitions.push(PartitionStatus {
            topic: e.topic().to_string(),
            partition: e.partition(),
            committed,
            end,
            lag: (end - committed.unwrap_or(0)).max(0),
        });
    }
    // Some brokers (librdkafka's mock cluster) cannot list groups: report that
    // instead of failing, the offsets and lag are still right.
    let groups = match consumer.fetch_group_list(Some(&group), timeout) {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::warn!(group = %group, error = %e, "the broker does not describe consumer groups");
            None
        }
    };
    let (state, members) = match groups.as_ref().and_then(|g| g.groups().first()) {
        Some(g) => (
            g.state().to_string(),
            g.members()
                .iter()
                .map(|m| MemberStatus {
                    client_id: m.client_id().to_string(),
                    host: m.client_host().to_string(),
                    partitions: m.assignment().map(decode_assignment).unwrap_or_default(),
                })
                .collect(),
        ),
        None if groups.is_none() => ("not reported by the broker".to_string(), Vec::new()),
        None => ("unknown".to_string(), Vec::new()),
    };
    let lag = partitions.iter().map(|p| p.lag).sum();
    Ok(StageStatus {
        stage: stage.to_string(),
        group,
        state,
        members,
        partitions,
        lag,
    })
}

/// Decodes a consumer-protocol member assignment: version (i16), then an
/// array of (topic string, array of i32 partitions), then user data.
fn decode_assignment(bytes: &[u8]) -> Vec<String> {
    fn take<const N: usize>(b: &mut &[u8]) -> Option<[u8; N]> {
        let (head, rest) = b.split_at_checked(N)?;
        *b = rest;
        head.try_into().ok()
    }
    let mut b = bytes;
    let mut out = Vec::new();
    let parse = |b: &mut &[u8], out: &mut Vec<String>| -> Option<()> {
        take::<2>(b)?;
        let topics = i32::from_be_bytes(take::<4>(b)?);
        for _ in 0..topics.max(0) {
            let len = i16::from_be_bytes(take::<2>(b)?).max(0) as usize;
            let (name, rest) = b.split_at_checked(len)?;
            let name = String::from_utf8_lossy(name).into_owned();
            *b = rest;
            let n = i32::from_be_bytes(take::<4>(b)?);
            for _ in 0..n.max(0) {
                out.push(format!("{name}/{}", i32::from_be_bytes(take::<4>(b)?)));
            }
        }
        Some(())
    };
    let _ = parse(&mut b, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_a_consumer_protocol_assignment() {
        let mut b = vec![0, 1, 0, 0, 0, 1, 0, 3];
        b.extend_from_slice(b"abc");
        b.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 0]);
        assert_eq!(
            decode_assignment(&b),
            vec!["abc/4".to_string(), "abc/7".to_string()]
        );
        assert!(decode_assignment(&[0, 1, 0]).is_empty());
    }
}
