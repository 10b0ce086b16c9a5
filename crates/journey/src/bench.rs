//! `journey bench`: throughput and latency on the in-process broker, all in
//! one run on the same data.
//!
//! 1. Load N generated raw events (`generate_n`) into the six raw topics.
//! 2. (a) plain: a bare consumer group drains the raw topics (`io::drain_count`);
//!    the ceiling for anything that reads them.
//!    (b) pass-through: the pipeline's Kafka hops, consumer groups and offset
//!    writes without logic (`Pipeline::start_passthrough`);
//!    (c) pipeline: the full pipeline from start until every stage is idle
//!    (time of the last counter change, the quiet wait not included).
//! 3. Latency: with the pipeline still running, fresh events (a later time
//!    window, so nothing is late) are produced at a fixed rate for ~10 s; a
//!    consumer on the handover, alert and merge topics matches each output to
//!    the event that caused it (handover trigger, merge event, the newest
//!    evidence of a repeat-contact or detractor alert) and records produce →
//!    output-on-topic. Broken-promise alerts are left out: they fire when
//!    event time passes a due time, not when an event arrives.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use journey_core::avro::{AvroCodec, Framing, RecordType};
use journey_core::fold::StitchConfig;
use journey_core::generate::{generate, generate_n, GeneratorConfig, DEFAULT_START_MS};
use journey_core::model::{Handover, JourneyAlert, MergeRecord, Rule, SourceRef};
use journey_core::normalize::{normalize, Format, NormalizeConfig};
use journey_kafka::metrics::Metrics;
use journey_kafka::{BatchConfig, KafkaConfig, Pipeline, PipelineConfig, TopicsConfig};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::embedded::{self, Embedded, Outgoing};

/// The options of `journey bench`.
pub struct BenchArgs {
    pub events: usize,
    pub partitions: i32,
    pub latency_rate: u32,
    pub latency_secs: u32,
    pub seed: u64,
    pub record: Option<PathBuf>,
    pub timeout: Duration,
}

/// The figures of one run.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub plain_per_s: f64,
    /// The same hops without logic; `None` when not measured.
    pub passthrough_per_s: Option<f64>,
    pub pipeline_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub latency_samples: usize,
}

/// Runs the benchmark and prints the figures.
///
/// # Errors
/// When the broker, the pipeline or the record file fail.
pub fn run(args: BenchArgs) -> anyhow::Result<Figures> {
    anyhow::ensure!(args.partitions >= 1, "--partitions must be at least 1");
    // librdkafka's mock cluster keeps at most 100,000 records or 5 MB per
    // partition and drops older ones (rdkafka_mock.c). The raw topics are
    // loaded before anything reads them, so more than that per partition would
    // silently lose input and the drains would never finish.
    let per_partition = args.events as u64 / (6 * args.partitions as u64);
    let needed = (args.events as u64 * 300).div_ceil(6 * 4_000_000).max(1);
    anyhow::ensure!(
        per_partition * 300 < 4_000_000 && per_partition < 90_000,
        "{} events over 6 raw topics × {} partitions exceed what the embedded broker retains per partition \
         (100,000 records or 5 MB; older records are dropped): use --partitions {needed} or more, or fewer --events",
        args.events,
        args.partitions
    );
    anyhow::ensure!(args.latency_rate >= 1, "--latency-rate must be at least 1");
    let mut command: Vec<String> = std::env::args().collect();
    if let Some(bin) = command.first_mut() {
        *bin = "journey".into();
    }
    let command = command.join(" ");
    let topics = TopicsConfig {
        partitions: args.partitions,
        ..TopicsConfig::default()
    };

    let t = Instant::now();
    let records: Vec<Outgoing> = generate_n(args.seed, args.events)
        .into_iter()
        .filter_map(|r| {
            Some(Outgoing {
                topic: embedded::raw_topic(&topics, r.channel)?.to_string(),
                key: r.key.map(String::into_bytes),
                payload: r.payload,
            })
        })
        .collect();
    eprintln!(
        "generated {} raw events in {:.1} s",
        records.len(),
        t.elapsed().as_secs_f64()
    );
    let embedded = Embedded::start("journey-bench")?;
    let kafka = embedded.kafka.clone();
    embedded.create_topics(&topics, &journey_core::rules::RulesConfig::default())?;
    let t = Instant::now();
    let n = embedded::produce(&kafka, &records, false)?;
    drop(records);
    eprintln!(
        "loaded {n} raw events into the broker in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // (a) plain consumer
    let raw: Vec<&str> = topics.raw.iter().map(|r| r.topic.as_str()).collect();
    let (count, elapsed) = journey_kafka::io::drain_count(&kafka, &raw, "journey-bench.plain", n)
        .context("plain drain failed")?;
    let mut figures = Figures {
        plain_per_s: count as f64 / elapsed.as_secs_f64().max(1e-9),
        ..Figures::default()
    };
    eprintln!(
        "plain consumer: {count} records in {:.2} s",
        elapsed.as_secs_f64()
    );

    // (b) pass-through: the same hops and offset writes, no logic
    {
        let state = tempfile::Builder::new()
            .prefix("journey-bench-pass-")
            .tempdir()?;
        let mut pass_topics = topics.clone();
        pass_topics.events = format!("{}.passthrough", topics.events);
        let mut pass_kafka = kafka.clone();
        pass_kafka.application_id = format!("{}-passthrough", kafka.application_id);
        embedded.create_passthrough_topics(&pass_kafka, &pass_topics)?;
        let cfg = PipelineConfig {
            kafka: pass_kafka,
            topics: pass_topics,
            batch: BatchConfig::default(),
            normalize: NormalizeConfig::default(),
            stitch: StitchConfig::default(),
            state_dir: state.path().to_path_buf(),
            framing: Framing::SingleObject,
            changelog: true,
            standby: false,
        };
        let pass = Pipeline::start_passthrough(cfg, Metrics::new())
            .context("cannot start the pass-through")?;
        let (timings, counters) = embedded::drive(&pass, n, args.timeout, false)?;
        figures.passthrough_per_s = Some(n as f64 / timings.processed.as_secs_f64().max(1e-9));
        eprintln!(
            "pass-through: {n} records consumed in {:.2} s, all stages idle after {:.2} s ({} reached the last stage)",
            timings.consumed.as_secs_f64(),
            timings.processed.as_secs_f64(),
            counters.stitched
        );
        pass.shutdown()
            .context("the pass-through did not shut down cleanly")?;
    }

    // (c) the full pipeline
    let state = tempfile::Builder::new()
        .prefix("journey-bench-state-")
        .tempdir()?;
    let framing = Framing::SingleObject;
    let cfg = PipelineConfig {
        kafka: kafka.clone(),
        topics: topics.clone(),
        batch: BatchConfig::default(),
        normalize: NormalizeConfig::default(),
        stitch: StitchConfig::default(),
        state_dir: state.path().to_path_buf(),
        framing,
        changelog: true,
        standby: false,
    };
    let pipeline = Pipeline::start(cfg, Metrics::new()).context("cannot start the pipeline")?;
    let (timings, counters) = embedded::drive(&pipeline, n, args.timeout, false)?;
    figures.pipeline_per_s = n as f64 / timings.processed.as_secs_f64().max(1e-9);
    eprintln!(
        "pipeline: {n} records consumed in {:.2} s, all stages idle after {:.2} s ({} stitched, {} dead letters)",
        timings.consumed.as_secs_f64(),
        timings.processed.as_secs_f64(),
        counters.stitched,
        counters.dead_letters
    );

    // latency at a fixed rate
    let samples = latency(
        &kafka,
        &topics,
        framing,
        args.seed,
        args.latency_rate,
        args.latency_secs,
    )?;
    figures.latency_samples = samples.len();
    figures.p50_ms = percentile(&samples, 0.50);
    figures.p99_ms = percentile(&samples, 0.99);
    pipeline
        .shutdown()
        .context("the pipeline did not shut down cleanly")?;

    print_figures(&command, &args, &figures);
    if let Some(path) = &args.record {
        record(path, &command, &args, &figures)?;
        println!("appended a row to {}", path.display());
    }
    Ok(figures)
}

/// A raw record for the latency run: topic, key, payload, and the event id
/// it normalises to (to match it at the end of the pipeline).
type RawTuple = (String, Option<String>, Vec<u8>, Option<String>);

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |ms| format!("{ms:.1} ms"))
}

fn print_figures(command: &str, args: &BenchArgs, f: &Figures) {
    println!("\n$ {command}");
    println!(
        "  events                 {} over 6 raw topics × {} partitions",
        args.events, args.partitions
    );
    println!("  plain consumer         {:>12.0} events/s", f.plain_per_s);
    match f.passthrough_per_s {
        Some(v) => println!(
            "  pass-through           {v:>12.0} events/s   (same hops and offset writes, no logic)"
        ),
        None => println!("  pass-through           not measured"),
    }
    println!(
        "  pipeline               {:>12.0} events/s",
        f.pipeline_per_s
    );
    println!(
        "  ratio pipeline/plain   {:>12.2}",
        f.pipeline_per_s / f.plain_per_s.max(1e-9)
    );
    if let Some(pass) = f.passthrough_per_s {
        println!(
            "  ratio pass-through/plain {:>10.2}",
            pass / f.plain_per_s.max(1e-9)
        );
        println!(
            "  ratio pipeline/pass-through {:>7.2}",
            f.pipeline_per_s / pass.max(1e-9)
        );
    }
    println!(
        "  latency at {} events/s  p50 {}, p99 {} (produce → output on its topic, {} samples)",
        args.latency_rate,
        fmt_ms(f.p50_ms),
        fmt_ms(f.p99_ms),
        f.latency_samples
    );
}

fn record(path: &PathBuf, command: &str, args: &BenchArgs, f: &Figures) -> anyhow::Result<()> {
    let fresh = std::fs::metadata(path)
        .map(|m| m.len() == 0)
        .unwrap_or(true);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if fresh {
        writeln!(file, "| date | command | events | partitions | plain events/s | pass-through events/s | pipeline events/s | pipeline/plain | latency rate | p50 | p99 |")?;
        writeln!(
            file,
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        )?;
    }
    let date = jiff::Timestamp::now().strftime("%Y-%m-%d").to_string();
    writeln!(
        file,
        "| {date} | `{command}` | {} | {} | {:.0} | {} | {:.0} | {:.2} | {}/s | {} | {} |",
        args.events,
        args.partitions,
        f.plain_per_s,
        f.passthrough_per_s
            .map_or_else(|| "n/a".to_string(), |v| format!("{v:.0}")),
        f.pipeline_per_s,
        f.pipeline_per_s / f.plain_per_s.max(1e-9),
        args.latency_rate,
        fmt_ms(f.p50_ms),
        fmt_ms(f.p99_ms)
    )?;
    Ok(())
}

/// The `q` quantile of `samples` (ms), nearest rank.
pub fn percentile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    Some(s[rank - 1])
}

type Sent = Arc<Mutex<HashMap<String, Instant>>>;

/// Produces fresh events at `rate`/s for `secs` s and measures produce → output.
fn latency(
    kafka: &KafkaConfig,
    topics: &TopicsConfig,
    framing: Framing,
    seed: u64,
    rate: u32,
    secs: u32,
) -> anyhow::Result<Vec<f64>> {
    let wanted = rate as usize * secs.max(1) as usize;
    let g = generate(&GeneratorConfig {
        seed: seed.wrapping_add(1),
        customers: wanted / 12 + 50,
        start_ms: DEFAULT_START_MS + 30 * 86_400_000,
        malformed_per_mille: 0,
        ..GeneratorConfig::default()
    });
    let ncfg = NormalizeConfig::default();
    let records: Vec<RawTuple> = g
        .records
        .into_iter()
        .take(wanted)
        .filter_map(|r| {
            let topic = embedded::raw_topic(topics, r.channel)?.to_string();
            let event_id = normalize(
                r.channel,
                Format::Native,
                &r.payload,
                &SourceRef::default(),
                &ncfg,
            )
            .ok()
            .and_then(|e| e.first().map(|e| e.event_id.clone()));
            Some((topic, r.key, r.payload, event_id))
        })
        .collect();

    let sent: Sent = Arc::default();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let consumer = start_output_consumer(kafka, topics)?;
    let reader = {
        let (sent, samples, done) = (sent.clone(), samples.clone(), done.clone());
        std::thread::spawn(move || read_outputs(consumer, framing, &sent, &samples, &done))
    };

    let producer: BaseProducer = kafka.producer_config().set("linger.ms", "0").create()?;
    let start = Instant::now();
    for (i, (topic, key, payload, event_id)) in records.iter().enumerate() {
        let due = start + Duration::from_secs_f64(i as f64 / f64::from(rate));
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if let Some(id) = event_id {
            sent.lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone(), Instant::now());
        }
        let mut rec = BaseRecord::<String, [u8]>::to(topic).payload(payload.as_slice());
        if let Some(k) = key {
            rec = rec.key(k);
        }
        if let Err((e, _)) = producer.send(rec) {
            tracing::warn!(error = %e, "latency producer: send failed");
        }
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30))?;
    eprintln!(
        "latency: produced {} events at {rate}/s in {:.1} s",
        records.len(),
        start.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(5));
    done.store(true, Ordering::Relaxed);
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("latency reader panicked"))?;
    let out = samples.lock().unwrap_or_else(|p| p.into_inner()).clone();
    Ok(out)
}

/// A consumer on the output topics, positioned at their current ends.
fn start_output_consumer(
    kafka: &KafkaConfig,
    topics: &TopicsConfig,
) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = kafka
        .consumer_config("bench-latency")
        .set("fetch.wait.max.ms", "5")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for topic in [&topics.handover, &topics.alerts, &topics.merges] {
        for p in 0..topics.partitions {
            let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
            tpl.add_partition_offset(topic, p, Offset::Offset(high))?;
        }
    }
    consumer.assign(&tpl)?;
    Ok(consumer)
}

fn read_outputs(
    consumer: BaseConsumer,
    framing: Framing,
    sent: &Sent,
    samples: &Mutex<Vec<f64>>,
    done: &AtomicBool,
) {
    let handover = AvroCodec::new(RecordType::Handover, framing);
    let alert = AvroCodec::new(RecordType::JourneyAlert, framing);
    let merge = AvroCodec::new(RecordType::MergeRecord, framing);
    while !done.load(Ordering::Relaxed) {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let arrived = Instant::now();
        let Some(payload) = m.payload() else { continue };
        let causes: Vec<String> = if let Ok(h) = handover.decode::<Handover>(payload) {
            vec![h.trigger.event_id]
        } else if let Ok(a) = alert.decode::<JourneyAlert>(payload) {
            if a.rule == Rule::BrokenPromise {
                vec![]
            } else {
                a.evidence.into_iter().map(|t| t.event_id).collect()
            }
        } else if let Ok(mg) = merge.decode::<MergeRecord>(payload) {
            vec![mg.event_id]
        } else {
            vec![]
        };
        let sent = sent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(at) = causes.iter().filter_map(|id| sent.get(id)).max() {
            let ms = arrived.duration_since(*at).as_secs_f64() * 1000.0;
            samples.lock().unwrap_or_else(|p| p.into_inner()).push(ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&s, 0.5), Some(50.0));
        assert_eq!(percentile(&s, 0.99), Some(99.0));
        assert_eq!(percentile(&[7.0], 0.99), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
