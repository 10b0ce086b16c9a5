//! `journey demo`: the embedded default. Generates a realistic multi-channel
//! stream (journey_core's generator: thousands of customers, noisy
//! identifiers, scripted breakage stories, a few malformed records), runs it
//! through the full pipeline on the in-process broker, prints a summary with
//! three example journeys and writes the outputs as JSON lines.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::tz::TimeZone;
use journey_core::avro::Framing;
use journey_core::fold::StitchConfig;
use journey_core::generate::{generate, Generated, GeneratorConfig, StoryInfo, StoryKind};
use journey_core::ids;
use journey_core::journey::CustomerJourney;
use journey_core::model::{Channel, Rule};
use journey_core::normalize::NormalizeConfig;
use journey_kafka::{BatchConfig, PipelineConfig, TopicsConfig};

use crate::embedded::{self, Embedded, Outgoing};
use crate::output_files::RunOutputs;
use crate::timeline;

/// The options of `journey demo`.
pub struct DemoArgs {
    pub customers: usize,
    pub seed: u64,
    pub out: PathBuf,
    pub partitions: i32,
    pub timeout: Duration,
}

/// Runs the demo and prints its summary on stdout.
///
/// # Errors
/// When the broker, the pipeline or the output files fail.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.partitions >= 1, "--partitions must be at least 1");
    let t0 = Instant::now();
    let generated = generate(&GeneratorConfig {
        seed: args.seed,
        customers: args.customers,
        ..GeneratorConfig::default()
    });
    let topics = TopicsConfig {
        partitions: args.partitions,
        ..TopicsConfig::default()
    };
    let records: Vec<Outgoing> = generated
        .records
        .iter()
        .filter_map(|r| {
            Some(Outgoing {
                topic: embedded::raw_topic(&topics, r.channel)?.to_string(),
                key: r.key.as_ref().map(|k| k.clone().into_bytes()),
                payload: r.payload.clone(),
            })
        })
        .collect();
    eprintln!(
        "generated {} raw records of {} customers ({} scripted stories) in {:.1} s",
        records.len(),
        args.customers,
        generated.stories.len(),
        t0.elapsed().as_secs_f64()
    );

    let embedded = Embedded::start("journey-demo")?;
    embedded.create_topics(&topics, &journey_core::rules::RulesConfig::default())?;
    let produced = embedded::produce(&embedded.kafka, &records, false)?;
    let cfg = PipelineConfig {
        kafka: embedded.kafka.clone(),
        topics,
        batch: BatchConfig::default(),
        normalize: NormalizeConfig::default(),
        stitch: StitchConfig::default(),
        state_dir: PathBuf::new(), // replaced by a temp folder
        framing: Framing::SingleObject,
        changelog: true,
        standby: false,
    };
    let started = Instant::now();
    let finished = embedded::run_to_quiet(cfg.clone(), produced, args.timeout, false)?;
    let took = started.elapsed();
    let counters = finished.counters;
    let mut out = RunOutputs {
        outputs: finished.outputs,
        journeys: finished.journeys,
        extra_dead_letters: Vec::new(),
    };
    out.sort();

    print!(
        "{}",
        summary(&args, &generated, &cfg.topics, &out, produced, took)
    );
    println!("  canonical events      {:>8}", counters.events_out);
    print!("{}", examples(&generated, &out));
    let files = out.write(&args.out)?;
    let dir = std::fs::canonicalize(&args.out).unwrap_or(args.out.clone());
    println!("\nOutputs written to {}:", dir.display());
    for f in files {
        let lines = std::fs::read(&f)
            .map(|b| b.iter().filter(|&&c| c == b'\n').count())
            .unwrap_or(0);
        println!(
            "  {:<16} {lines:>7} lines",
            f.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
    }
    Ok(())
}

fn summary(
    args: &DemoArgs,
    g: &Generated,
    topics: &TopicsConfig,
    out: &RunOutputs,
    produced: u64,
    took: Duration,
) -> String {
    let mut s = String::new();
    let o = &out.outputs;
    s.push_str(&format!(
        "\njourney demo: {} customers (seed {}), {} partitions, {produced} raw records processed in {:.1} s ({:.0} records/s)\n\n",
        args.customers,
        args.seed,
        args.partitions,
        took.as_secs_f64(),
        produced as f64 / took.as_secs_f64().max(1e-9)
    ));
    let mut raw: BTreeMap<Channel, u64> = BTreeMap::new();
    for r in &g.records {
        *raw.entry(r.channel).or_default() += 1;
    }
    let channel_of_topic: HashMap<&str, Channel> = topics
        .raw
        .iter()
        .map(|r| (r.topic.as_str(), r.channel))
        .collect();
    let mut dead: BTreeMap<Channel, u64> = BTreeMap::new();
    for d in &o.dead_letters {
        if let Some(c) = channel_of_topic.get(d.topic.as_str()) {
            *dead.entry(*c).or_default() += 1;
        }
    }
    let mut touch: BTreeMap<Channel, u64> = BTreeMap::new();
    for j in &out.journeys {
        for t in &j.touchpoints {
            *touch.entry(t.channel).or_default() += 1;
        }
    }
    let mut handovers: BTreeMap<Channel, u64> = BTreeMap::new();
    for h in &o.handovers {
        *handovers.entry(h.trigger.channel).or_default() += 1;
    }
    s.push_str("  channel   raw records   dead letters   touchpoints   handovers\n");
    let get = |m: &BTreeMap<Channel, u64>, c: Channel| m.get(&c).copied().unwrap_or(0);
    for c in Channel::ALL {
        s.push_str(&format!(
            "  {:<8} {:>12} {:>14} {:>13} {:>11}\n",
            c.as_str(),
            get(&raw, c),
            get(&dead, c),
            get(&touch, c),
            get(&handovers, c)
        ));
    }
    let sum = |m: &BTreeMap<Channel, u64>| m.values().sum::<u64>();
    s.push_str(&format!(
        "  {:<8} {:>12} {:>14} {:>13} {:>11}\n\n",
        "total",
        sum(&raw),
        o.dead_letters.len(),
        sum(&touch),
        o.handovers.len()
    ));
    s.push_str(&format!(
        "  customers (journeys)  {:>8}\n",
        out.journeys.len()
    ));
    s.push_str(&format!("  identity merges       {:>8}\n", o.merges.len()));
    s.push_str(&format!(
        "  handovers             {:>8}\n",
        o.handovers.len()
    ));
    s.push_str(&format!(
        "  dead letters          {:>8}\n",
        o.dead_letters.len()
    ));
    s.push_str(&format!("  alerts                {:>8}\n", o.alerts.len()));
    for rule in Rule::ALL {
        let n = o.alerts.iter().filter(|a| a.rule == rule).count();
        s.push_str(&format!("    {:<19} {n:>8}\n", rule.as_str()));
    }
    s
}

const HOUR_MS: i64 = 3_600_000;

/// The order in which story kinds are preferred as examples.
const EXAMPLE_KINDS: [StoryKind; 6] = [
    StoryKind::BrokenRefundPromise,
    StoryKind::ConfiguratorHandover,
    StoryKind::RepeatDeliveryContact,
    StoryKind::StoreDetractor,
    StoryKind::AnonymousCheckoutLogin,
    StoryKind::KeptRefundPromise,
];

/// The customer whose journey holds the story's last event.
fn story_customer<'a>(
    story: &StoryInfo,
    by_event: &HashMap<&str, &'a CustomerJourney>,
) -> Option<&'a CustomerJourney> {
    story.source_events.iter().rev().find_map(|(channel, id)| {
        let event_id = ids::event_id(channel.as_str(), "native", id);
        by_event.get(event_id.as_str()).copied()
    })
}

fn examples(g: &Generated, out: &RunOutputs) -> String {
    let o = &out.outputs;
    let by_event: HashMap<&str, &CustomerJourney> = out
        .journeys
        .iter()
        .flat_map(|j| j.touchpoints.iter().map(move |t| (t.event_id.as_str(), j)))
        .collect();
    let mut s = String::from("\nExample journeys (scripted stories; times in UTC)\n");
    s.push_str(timeline::LEGEND);
    s.push('\n');
    let mut shown = 0;
    for kind in EXAMPLE_KINDS {
        if shown == 3 {
            break;
        }
        let found = g
            .stories
            .iter()
            .filter(|st| st.kind == kind)
            .find_map(|st| {
                let j = story_customer(st, &by_event)?;
                let has_output = o.alerts.iter().any(|a| a.customer_id == j.customer_id)
                    || o.handovers.iter().any(|h| h.customer_id == j.customer_id);
                has_output.then_some((st, j))
            });
        let Some((story, journey)) = found else {
            continue;
        };
        let handovers: Vec<_> = o
            .handovers
            .iter()
            .filter(|h| h.customer_id == journey.customer_id)
            .collect();
        let alerts: Vec<_> = o
            .alerts
            .iter()
            .filter(|a| a.customer_id == journey.customer_id)
            .collect();
        let merges: Vec<_> = o
            .merges
            .iter()
            .filter(|m| m.winner == journey.customer_id)
            .collect();
        s.push_str(&format!(
            "\n── {}: {}\n   customer {} · {} touchpoints · {} handovers · {} alerts · {} merges\n",
            kind.as_str(),
            story.summary,
            journey.customer_id,
            journey.touchpoints.len(),
            handovers.len(),
            alerts.len(),
            merges.len()
        ));
        // The story's time span, widened to show what it caused (broken promises fire later).
        let last_output = alerts
            .iter()
            .map(|a| a.fired_at_ms)
            .chain(handovers.iter().map(|h| h.trigger.event_time_ms))
            .max();
        let window = (
            story.start_ms - HOUR_MS,
            story.end_ms.max(last_output.unwrap_or(i64::MIN)) + HOUR_MS,
        );
        s.push_str(&timeline::render(
            journey,
            &handovers,
            &alerts,
            &merges,
            &TimeZone::UTC,
            Some(window),
            22,
        ));
        shown += 1;
    }
    if shown == 0 {
        s.push_str("  (no scripted story customer had an alert or a handover)\n");
    }
    s
}
