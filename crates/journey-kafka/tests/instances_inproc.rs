//! Three pipeline instances in one process (one consumer group, separate
//! state directories) on the mock cluster must reach the oracle's outputs.

use std::time::{Duration, Instant};

use journey_core::avro::Framing;
use journey_core::fold::StitchConfig;
use journey_core::generate::{generate, GeneratorConfig};
use journey_core::model::SourceRef;
use journey_core::normalize::{normalize, Format, NormalizeConfig};
use journey_core::oracle::oracle;
use journey_kafka::embedded::MockBroker;
use journey_kafka::io::produce_all;
use journey_kafka::metrics::Metrics;
use journey_kafka::outputs::Outputs;
use journey_kafka::{BatchConfig, KafkaConfig, Pipeline, PipelineConfig, TopicsConfig};

#[test]
fn three_instances_in_one_group_equal_the_oracle() {
    let broker = MockBroker::start().expect("mock cluster");
    let kafka = KafkaConfig {
        bootstrap_servers: broker.bootstrap(),
        application_id: "inproc".into(),
        session_timeout_ms: 6_000,
        ..KafkaConfig::default()
    };
    let topics = TopicsConfig {
        partitions: 6,
        ..TopicsConfig::default()
    };
    broker
        .create_pipeline_topics(&kafka, &topics, 3)
        .expect("topics");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = |n: usize| PipelineConfig {
        kafka: kafka.clone(),
        topics: topics.clone(),
        batch: BatchConfig::default(),
        normalize: NormalizeConfig::default(),
        stitch: StitchConfig::default(),
        state_dir: dir.path().join(format!("s{n}")),
        framing: Framing::SingleObject,
        changelog: true,
    };
    let mut instances: Vec<Pipeline> = (0..3)
        .map(|n| Pipeline::start(config(n), Metrics::new()).expect("instance starts"))
        .collect();
    std::thread::sleep(Duration::from_secs(10));
    let generated = generate(&GeneratorConfig {
        seed: 21,
        customers: 150,
        malformed_per_mille: 0,
        ..GeneratorConfig::default()
    });
    let topic_of = |c| {
        topics
            .raw
            .iter()
            .find(|r| r.channel == c)
            .map(|r| r.topic.clone())
            .expect("raw topic")
    };
    let named: Vec<(String, &journey_core::generate::RawRecord)> = generated
        .records
        .iter()
        .map(|r| (topic_of(r.channel), r))
        .collect();
    let (first, second) = named.split_at(named.len() / 2);
    produce_all(
        &kafka,
        first.iter().map(|(t, r)| {
            (
                t.as_str(),
                r.key.as_deref().map(str::as_bytes),
                r.payload.as_slice(),
            )
        }),
        &|_| {},
    )
    .expect("produce");
    std::thread::sleep(Duration::from_secs(3));
    instances.remove(1).shutdown().expect("instance 1 stops");
    produce_all(
        &kafka,
        second.iter().map(|(t, r)| {
            (
                t.as_str(),
                r.key.as_deref().map(str::as_bytes),
                r.payload.as_slice(),
            )
        }),
        &|_| {},
    )
    .expect("produce");
    std::thread::sleep(Duration::from_secs(3));
    instances.push(Pipeline::start(config(1), Metrics::new()).expect("instance 1 restarts"));
    let events: Vec<_> = generated
        .records
        .iter()
        .flat_map(|r| {
            normalize(
                r.channel,
                Format::Native,
                &r.payload,
                &SourceRef::default(),
                &NormalizeConfig::default(),
            )
            .unwrap_or_default()
        })
        .collect();
    let expected = oracle(&events, &StitchConfig::default());
    let start = Instant::now();
    let out = loop {
        let out = Outputs::read(&kafka, &topics, &Framing::SingleObject).expect("outputs");
        if (out.alerts == expected.alerts
            && out.handovers == expected.handovers
            && out.merges == expected.merges)
            || start.elapsed() > Duration::from_secs(90)
        {
            break out;
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    let ids = |v: Vec<String>| {
        v.into_iter()
            .collect::<std::collections::BTreeSet<String>>()
    };
    let (ea, oa) = (
        ids(expected.alerts.iter().map(|a| a.alert_id.clone()).collect()),
        ids(out.alerts.iter().map(|a| a.alert_id.clone()).collect()),
    );
    let (eh, oh) = (
        ids(expected
            .handovers
            .iter()
            .map(|a| a.handover_id.clone())
            .collect()),
        ids(out
            .handovers
            .iter()
            .map(|a| a.handover_id.clone())
            .collect()),
    );
    let (em, om) = (
        ids(expected.merges.iter().map(|a| a.merge_id.clone()).collect()),
        ids(out.merges.iter().map(|a| a.merge_id.clone()).collect()),
    );
    eprintln!(
        "alerts missing {:?} extra {:?}",
        ea.difference(&oa).count(),
        oa.difference(&ea).count()
    );
    eprintln!(
        "handovers missing {:?} extra {:?}",
        eh.difference(&oh).count(),
        oh.difference(&eh).count()
    );
    eprintln!(
        "merges missing {:?} extra {:?}",
        em.difference(&om).count(),
        om.difference(&em).count()
    );
    for a in out
        .alerts
        .iter()
        .filter(|a| !ea.contains(&a.alert_id))
        .take(3)
    {
        eprintln!("extra alert {} {:?} {}", a.alert_id, a.rule, a.summary);
    }
    for h in expected
        .handovers
        .iter()
        .filter(|h| !oh.contains(&h.handover_id))
        .take(3)
    {
        eprintln!(
            "missing handover {} customer {} trigger {:?}",
            h.handover_id, h.customer_id, h.trigger.event_id
        );
    }
    let same_content = out
        .handovers
        .iter()
        .filter(|h| expected.handovers.contains(h))
        .count();
    eprintln!(
        "handovers with equal content {same_content} of {}",
        out.handovers.len()
    );
    let mut journeys = Vec::new();
    for p in instances {
        journeys.extend(p.journeys().expect("journeys"));
        p.shutdown().expect("shutdown");
    }
    journeys.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    eprintln!(
        "journeys {} expected {}",
        journeys.len(),
        expected.customers.len()
    );
    assert_eq!(out.alerts, expected.alerts);
    assert_eq!(out.handovers, expected.handovers);
    assert_eq!(out.merges, expected.merges);
    assert_eq!(journeys, expected.customers);
}
