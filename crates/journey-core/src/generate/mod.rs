//! A seeded, deterministic generator of realistic raw multi-channel input in
//! the native JSON format (`docs/native-format.md`): customers with several
//! identifiers written in noisy notations, households that share a landline,
//! ordinary traffic on all six channels, the scripted breakage stories of the
//! source articles (each with what the pipeline must output), and a small
//! share of malformed records.
//!
//! Same config → byte-identical output. Every customer has its own random
//! stream (ChaCha8 seeded from the seed and the customer index), so output does
//! not depend on any iteration order.
//!
//! Files: `population.rs` (customers, households, identifier notations),
//! `background.rs` (ordinary traffic), `stories.rs` (scripted stories),
//! `malformed.rs` (broken records), `emit.rs` (JSON writer, time notations).

mod background;
mod emit;
mod malformed;
mod population;
mod stories;
#[cfg(test)]
mod tests;

use rand::Rng;

pub use malformed::MalformedKind;

use crate::model::{Channel, Identifier, Rule};
use background::Window;
use population::rng_for;

/// 2026-11-02T08:00:00Z.
pub const DEFAULT_START_MS: i64 = 1_793_606_400_000;

#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    pub seed: u64,
    /// Number of true customers.
    pub customers: usize,
    /// Start of the window (ms since epoch, UTC).
    pub start_ms: i64,
    /// Length of the window in days.
    pub days: u32,
    /// Share of broken records in per mille (invalid JSON, invalid UTF-8,
    /// missing type, wrong types, no identifier).
    pub malformed_per_mille: u32,
    /// Play the scripted stories.
    pub stories: bool,
    /// `false` (default): realistic traffic, in which some anonymous web
    /// sessions never identify and some customers never use two of their
    /// identifiers together. `true`: the identity-quality set, in which all
    /// of the truth is linkable: every anonymous session ends with a login or
    /// sign-up, and every customer registers once with all their identifiers
    /// (in the channel's noisy notations).
    pub linkable_only: bool,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 42,
            customers: 2000,
            start_ms: DEFAULT_START_MS,
            days: 14,
            malformed_per_mille: 2,
            stories: true,
            linkable_only: false,
        }
    }
}

impl GeneratorConfig {
    pub fn with_seed(seed: u64) -> Self {
        GeneratorConfig {
            seed,
            ..Self::default()
        }
    }
}

/// One raw Kafka record as a source system would produce it.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRecord {
    pub channel: Channel,
    /// A plausible Kafka key from the source (conversation, call, ticket,
    /// cookie, store); may be `None`.
    pub key: Option<String>,
    /// Native JSON, one object (or broken bytes when `malformed`).
    pub payload: Vec<u8>,
    /// When it happened (exactly what the payload's `time` says, in ms UTC).
    pub event_time_ms: i64,
    /// Index of the true customer; `None` for malformed records.
    pub truth: Option<usize>,
    pub malformed: bool,
}

/// Ground truth for one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrueCustomer {
    pub index: usize,
    /// Canonical identifiers this customer alone owns (customer number as a
    /// decimal string, e-mail lower-cased, phone in E.164, anonymous ids used),
    /// sorted.
    pub identifiers: Vec<Identifier>,
    /// Identifiers shared with other customers (the household landline): a
    /// good identity policy must not merge on them.
    pub shared_identifiers: Vec<Identifier>,
    /// The other member of the household, if any.
    pub household_partner: Option<usize>,
}

/// The scripted stories, after the source articles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoryKind {
    /// A refund promised within 24 h (phone or app) never arrives.
    BrokenRefundPromise,
    /// The same promise, kept: the refund arrives after 20 h.
    KeptRefundPromise,
    /// Chat complaint about the online configurator, test drive at the store three days later.
    ConfiguratorHandover,
    /// Email, chat, phone about the same late delivery within 48 h.
    RepeatDeliveryContact,
    /// Failed store visit, then an NPS 2 survey.
    StoreDetractor,
    /// Anonymous browsing and checkout, then login: the history joins the known customer.
    AnonymousCheckoutLogin,
}

impl StoryKind {
    pub const ALL: [StoryKind; 6] = [
        StoryKind::BrokenRefundPromise,
        StoryKind::KeptRefundPromise,
        StoryKind::ConfiguratorHandover,
        StoryKind::RepeatDeliveryContact,
        StoryKind::StoreDetractor,
        StoryKind::AnonymousCheckoutLogin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StoryKind::BrokenRefundPromise => "broken_refund_promise",
            StoryKind::KeptRefundPromise => "kept_refund_promise",
            StoryKind::ConfiguratorHandover => "configurator_handover",
            StoryKind::RepeatDeliveryContact => "repeat_delivery_contact",
            StoryKind::StoreDetractor => "store_detractor",
            StoryKind::AnonymousCheckoutLogin => "anonymous_checkout_login",
        }
    }
}

impl std::fmt::Display for StoryKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a correct pipeline outputs for a story customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// At least one alert of this rule for the customer (about this topic, when given).
    Alert { rule: Rule, topic: Option<String> },
    /// No alert at all for the customer.
    NoAlert,
    /// A handover when the customer arrives on `channel`, whose context
    /// (open issues, recent touchpoints, summary) mentions `mentions`.
    Handover { channel: Channel, mentions: String },
    /// An identity merge that joins these identifiers into one customer.
    Merge { identifiers: Vec<Identifier> },
}

/// One played story.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoryInfo {
    pub kind: StoryKind,
    /// 0, 1, … among the instances of this kind (even/odd instances use
    /// different variants: phone vs app, case id vs topic).
    pub instance: usize,
    /// Index of the true customer who plays it.
    pub customer: usize,
    pub start_ms: i64,
    /// Time of the story's last event.
    pub end_ms: i64,
    pub summary: String,
    /// The story's records: channel and source event id (`id` in the payload;
    /// the canonical event id is `ids::event_id(channel, "native", id)`).
    pub source_events: Vec<(Channel, String)>,
    pub expected: Vec<Expectation>,
}

/// The generated input and its ground truth.
#[derive(Debug, Clone)]
pub struct Generated {
    /// Sorted by `event_time_ms`; ties keep generation order (stable sort).
    pub records: Vec<RawRecord>,
    pub customers: Vec<TrueCustomer>,
    pub stories: Vec<StoryInfo>,
}

/// How many instances of each story kind: one, or several at scale.
fn instances_per_story(customers: usize) -> usize {
    if customers >= 500 {
        (customers / 250).clamp(2, 40)
    } else {
        1
    }
}

pub fn generate(cfg: &GeneratorConfig) -> Generated {
    generate_inner(cfg, None)
}

fn generate_inner(cfg: &GeneratorConfig, capacity_hint: Option<usize>) -> Generated {
    let n = cfg.customers;
    let w = Window {
        start_ms: cfg.start_ms / 1000 * 1000,
        days: cfg.days.max(1),
    };
    let mut plan_rng = rng_for(cfg.seed, usize::MAX, 3);

    // Which customers play which story: a deterministic sample without replacement.
    let mut cast: Vec<(StoryKind, usize, usize)> = Vec::new(); // (kind, instance, customer)
    if cfg.stories && n > 0 {
        let per = instances_per_story(n);
        let wanted = (per * StoryKind::ALL.len()).min(n);
        let chosen = rand::seq::index::sample(&mut plan_rng, n, wanted).into_vec();
        let mut it = chosen.into_iter();
        'outer: for instance in 0..per {
            for kind in StoryKind::ALL {
                match it.next() {
                    Some(c) => cast.push((kind, instance, c)),
                    None => break 'outer,
                }
            }
        }
    }
    let mut is_story = vec![false; n];
    for &(_, _, c) in &cast {
        is_story[c] = true;
    }

    let mut people = population::population(cfg.seed, n, &is_story);
    let mut sink = emit::Sink::new(cfg.seed, capacity_hint.unwrap_or(n * 20));
    sink.identify_every_session = cfg.linkable_only;
    for p in people.iter_mut() {
        let mut rng = rng_for(cfg.seed, p.idx, 2);
        background::traffic(p, &mut rng, &mut sink, w);
        if cfg.linkable_only {
            background::registration(p, &mut rng, &mut sink, w);
        }
    }
    let mut stories = Vec::with_capacity(cast.len());
    for &(kind, instance, c) in &cast {
        let mut rng = rng_for(cfg.seed, c, 4);
        let t0 = stories::start_time(&mut rng, w.start_ms, w.days, kind);
        stories.push(stories::play(
            kind,
            instance,
            &mut people[c],
            &mut rng,
            &mut sink,
            t0,
        ));
    }

    // Malformed records: their share of all records is malformed_per_mille.
    let pm = cfg.malformed_per_mille.min(999) as usize;
    let good = sink.records.len();
    let bad = (good * pm + (1000 - pm) / 2) / (1000 - pm);
    let mut mrng = rng_for(cfg.seed, usize::MAX, 5);
    for i in 0..bad {
        let ch = Channel::ALL[mrng.gen_range(0..6)];
        let t = w.time(&mut mrng, ch);
        let kind = MalformedKind::ALL[i % MalformedKind::ALL.len()];
        malformed::malformed(&mut mrng, &mut sink, ch, t, kind);
    }

    let mut records = sink.records;
    records.sort_by_key(|r| r.event_time_ms);
    let customers = people.iter().map(|p| p.truth()).collect();
    Generated {
        records,
        customers,
        stories,
    }
}

/// Records per channel, in [`Channel::ALL`] order.
pub fn records_per_channel(g: &Generated) -> [(Channel, usize); 6] {
    let mut out = Channel::ALL.map(|c| (c, 0));
    for r in &g.records {
        let i = Channel::ALL
            .iter()
            .position(|&c| c == r.channel)
            .unwrap_or(0);
        out[i].1 += 1;
    }
    out
}

/// About how many records one customer produces over the default 14 days.
const RECORDS_PER_CUSTOMER: f64 = 16.0;

/// Exactly `n` records (for benchmarks): enough customers over the default
/// window, cut at the `n` earliest records. Stories and 2‰ malformed records
/// included.
pub fn generate_n(seed: u64, n: usize) -> Vec<RawRecord> {
    if n == 0 {
        return Vec::new();
    }
    let mut customers = ((n as f64 / RECORDS_PER_CUSTOMER) * 1.08).ceil() as usize + 1;
    loop {
        let cfg = GeneratorConfig {
            seed,
            customers,
            ..GeneratorConfig::default()
        };
        let mut g = generate_inner(&cfg, Some(n + n / 5 + 64));
        if g.records.len() >= n {
            g.records.truncate(n);
            g.records.shrink_to_fit();
            return g.records;
        }
        customers = customers * 5 / 4 + 10;
    }
}
