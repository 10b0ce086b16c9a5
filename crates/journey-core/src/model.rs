//! The canonical records: what every normaliser produces (`JourneyEvent`) and
//! what the stitcher emits (`Handover`, `JourneyAlert`, `MergeRecord`).
//!
//! Every type here has an Avro schema of the same name in `schemas/`; the test
//! in `avro.rs` proves that they agree. Times are milliseconds since the Unix
//! epoch (UTC), Avro `timestamp-millis`.

use serde::{Deserialize, Serialize};

/// The six contact channels. A closed set: dispatch with `match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Chat,
    Phone,
    Email,
    Web,
    Store,
    Survey,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Chat,
        Channel::Phone,
        Channel::Email,
        Channel::Web,
        Channel::Store,
        Channel::Survey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Chat => "chat",
            Channel::Phone => "phone",
            Channel::Email => "email",
            Channel::Web => "web",
            Channel::Store => "store",
            Channel::Survey => "survey",
        }
    }

    /// Channels where a person (agent, clerk) serves the customer.
    pub fn is_assisted(self) -> bool {
        matches!(
            self,
            Channel::Chat | Channel::Phone | Channel::Email | Channel::Store
        )
    }
}

impl std::str::FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown channel `{s}` (expected one of chat, phone, email, web, store, survey)"))
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kinds of customer identifier, in descending priority for naming a customer
/// (the customer id is derived from the highest-priority identifier).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// The company's own customer number: unique per customer.
    CustomerNumber,
    /// Loyalty card / account id: unique per customer.
    LoyaltyId,
    /// Logged-in web/app user id.
    UserId,
    /// Email address, trimmed and lower-cased.
    Email,
    /// Phone number in E.164.
    Phone,
    /// Device id (app install, push token).
    DeviceId,
    /// A contact id in a vendor system (Intercom contact, Zendesk requester, ...), `vendor:value`.
    VendorContact,
    /// Anonymous web cookie id.
    AnonymousId,
}

impl IdType {
    pub const ALL: [IdType; 8] = [
        IdType::CustomerNumber,
        IdType::LoyaltyId,
        IdType::UserId,
        IdType::Email,
        IdType::Phone,
        IdType::DeviceId,
        IdType::VendorContact,
        IdType::AnonymousId,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdType::CustomerNumber => "customer_number",
            IdType::LoyaltyId => "loyalty_id",
            IdType::UserId => "user_id",
            IdType::Email => "email",
            IdType::Phone => "phone",
            IdType::DeviceId => "device_id",
            IdType::VendorContact => "vendor_contact",
            IdType::AnonymousId => "anonymous_id",
        }
    }
}

/// A normalised identifier. Ordering is (type priority, value).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub id_type: IdType,
    pub value: String,
}

impl Identifier {
    pub fn new(id_type: IdType, value: impl Into<String>) -> Self {
        Identifier {
            id_type,
            value: value.into(),
        }
    }

    /// Stable 64-bit hash of `type:value`, used for routing and labels.
    pub fn hash64(&self) -> u64 {
        crate::ids::hash_parts(&[self.id_type.as_str(), &self.value])
    }
}

/// What happened, in channel-independent terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    /// An inbound contact starts: chat opened, call answered/queued, email received, store visit.
    Contact,
    /// An agent answers a contact.
    AgentReply,
    /// An outbound contact by the company (callback, outbound email).
    Outbound,
    /// A contact or ticket is closed.
    Closed,
    PageView,
    /// Any other tracked web/app action.
    Track,
    CheckoutStarted,
    Purchase,
    /// The customer identified themselves (login, sign-up, alias).
    Identify,
    /// An appointment was booked (test drive, technician, store visit).
    Appointment,
    /// Money went back to the customer.
    Refund,
    /// A delivery reached the customer.
    Delivery,
    SurveyResponse,
}

impl Activity {
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Contact => "contact",
            Activity::AgentReply => "agent_reply",
            Activity::Outbound => "outbound",
            Activity::Closed => "closed",
            Activity::PageView => "page_view",
            Activity::Track => "track",
            Activity::CheckoutStarted => "checkout_started",
            Activity::Purchase => "purchase",
            Activity::Identify => "identify",
            Activity::Appointment => "appointment",
            Activity::Refund => "refund",
            Activity::Delivery => "delivery",
            Activity::SurveyResponse => "survey_response",
        }
    }
}

/// The kinds of promise a company makes to a customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromiseKind {
    Refund,
    Callback,
    Delivery,
    Appointment,
    Technician,
}

impl PromiseKind {
    pub const ALL: [PromiseKind; 5] = [
        PromiseKind::Refund,
        PromiseKind::Callback,
        PromiseKind::Delivery,
        PromiseKind::Appointment,
        PromiseKind::Technician,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PromiseKind::Refund => "refund",
            PromiseKind::Callback => "callback",
            PromiseKind::Delivery => "delivery",
            PromiseKind::Appointment => "appointment",
            PromiseKind::Technician => "technician",
        }
    }
}

impl std::str::FromStr for PromiseKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PromiseKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown promise kind `{s}` (expected one of refund, callback, delivery, appointment, technician)"))
    }
}

/// A promise made to the customer during this event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promise {
    pub kind: PromiseKind,
    /// When it must be fulfilled, ms since epoch.
    pub due_ms: i64,
}

/// Survey score kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreKind {
    Nps,
    Csat,
    Ces,
    Rating,
}

impl ScoreKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ScoreKind::Nps => "nps",
            ScoreKind::Csat => "csat",
            ScoreKind::Ces => "ces",
            ScoreKind::Rating => "rating",
        }
    }
}

/// A survey answer with its scale, e.g. NPS 3 on 0..10.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Score {
    pub kind: ScoreKind,
    pub value: f64,
    pub scale_min: f64,
    pub scale_max: f64,
}

/// Where a record came from (lineage).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SourceRef {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// The canonical event: one touchpoint of one (not yet resolved) customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JourneyEvent {
    /// Deterministic id: hash of channel, format and the source event id.
    pub event_id: String,
    /// The source system's own id for this event (Segment `messageId`, Connect `ContactId`, ...).
    pub source_event_id: String,
    pub channel: Channel,
    /// The input format that produced it (`native`, `segment`, ...).
    pub format: String,
    pub activity: Activity,
    /// When it happened (ms since epoch, UTC).
    pub event_time_ms: i64,
    /// Normalised identifiers, sorted and deduplicated; junk values are already gone.
    pub identifiers: Vec<Identifier>,
    /// The conversation / call / ticket this event belongs to, if any.
    pub interaction_id: Option<String>,
    /// A case or ticket id that names the issue across channels.
    pub case_id: Option<String>,
    /// The issue topic (`refund`, `delivery`, `configurator`, ...), lower-case.
    pub topic: Option<String>,
    /// A promise made in this event.
    pub promise: Option<Promise>,
    /// Promise kind this event fulfils (refund paid, callback made, ...).
    pub fulfils: Option<PromiseKind>,
    /// The issue this event is about is resolved by it.
    pub resolves: bool,
    pub score: Option<Score>,
    /// Sentiment in -1.0..=1.0 when the source provides it.
    pub sentiment: Option<f64>,
    /// How often the interaction was transferred between agents or queues
    /// (call legs, chat reassignments); 0 when unknown.
    #[serde(default)]
    pub transfer_count: u32,
    /// The source carried only ids (e.g. Square `order.updated`): the event is
    /// what was there, and downstream enrichment may add more.
    #[serde(default)]
    pub needs_enrichment: bool,
    /// When the source last updated this record (Connect `LastUpdateTimestamp`).
    /// Of several deliveries with the same `event_id`, the latest update wins.
    #[serde(default)]
    pub source_updated_ms: Option<i64>,
    pub source: SourceRef,
}

impl JourneyEvent {
    /// The key that orders every fold: `(event_time, event_id)`.
    pub fn order_key(&self) -> (i64, &str) {
        (self.event_time_ms, self.event_id.as_str())
    }

    /// Whether `self` replaces `other`, a delivery with the same `event_id`: the
    /// later source update wins; equal updates are told apart by content, so
    /// the choice never depends on arrival order.
    pub fn supersedes(&self, other: &JourneyEvent) -> bool {
        match self.source_updated_ms.cmp(&other.source_updated_ms) {
            std::cmp::Ordering::Equal => {
                let (a, b) = (
                    serde_json::to_string(self).unwrap_or_default(),
                    serde_json::to_string(other).unwrap_or_default(),
                );
                a > b
            }
            ord => ord.is_gt(),
        }
    }

    /// A bare event: the given ids, time and activity, nothing else (tests,
    /// and the envelope a control command travels in).
    pub fn bare(
        event_id: &str,
        channel: Channel,
        activity: Activity,
        event_time_ms: i64,
        mut identifiers: Vec<Identifier>,
    ) -> Self {
        identifiers.sort();
        JourneyEvent {
            event_id: event_id.into(),
            source_event_id: event_id.into(),
            channel,
            format: "native".into(),
            activity,
            event_time_ms,
            identifiers,
            interaction_id: None,
            case_id: None,
            topic: None,
            promise: None,
            fulfils: None,
            resolves: false,
            score: None,
            sentiment: None,
            transfer_count: 0,
            needs_enrichment: false,
            source_updated_ms: None,
            source: SourceRef::default(),
        }
    }

    /// The issue key: the case id when present, else the topic.
    pub fn issue_key(&self) -> Option<String> {
        match (&self.case_id, &self.topic) {
            (Some(case), _) => Some(format!("case:{case}")),
            (None, Some(topic)) => Some(format!("topic:{topic}")),
            (None, None) => None,
        }
    }

    /// An assisted contact starts (the moment a handover is due).
    pub fn is_assisted_contact(&self) -> bool {
        self.channel.is_assisted()
            && matches!(self.activity, Activity::Contact | Activity::Appointment)
    }
}

/// A touchpoint as it appears in journeys, handovers and alert evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touchpoint {
    pub event_id: String,
    pub source_event_id: String,
    pub channel: Channel,
    pub activity: Activity,
    pub event_time_ms: i64,
    pub topic: Option<String>,
    pub case_id: Option<String>,
}

impl From<&JourneyEvent> for Touchpoint {
    fn from(e: &JourneyEvent) -> Self {
        Touchpoint {
            event_id: e.event_id.clone(),
            source_event_id: e.source_event_id.clone(),
            channel: e.channel,
            activity: e.activity,
            event_time_ms: e.event_time_ms,
            topic: e.topic.clone(),
            case_id: e.case_id.clone(),
        }
    }
}

/// An unresolved issue of a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIssue {
    pub issue_key: String,
    pub topic: Option<String>,
    pub case_id: Option<String>,
    pub contacts: u32,
    pub channels: Vec<Channel>,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// A promise that is not yet fulfilled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPromise {
    pub kind: PromiseKind,
    pub due_ms: i64,
    pub made_ms: i64,
    pub made_on: Channel,
    pub event_id: String,
}

/// Context for the agent or system that receives a customer on an assisted channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handover {
    /// Deterministic: hash of the triggering event id.
    pub handover_id: String,
    pub customer_id: String,
    /// The contact that starts now.
    pub trigger: Touchpoint,
    pub open_issues: Vec<OpenIssue>,
    pub pending_promises: Vec<PendingPromise>,
    /// The last touchpoints before this one, newest first.
    pub recent_touchpoints: Vec<Touchpoint>,
    pub last_score: Option<Score>,
    /// Identifier types that link this customer (how sure the identity is).
    pub linked_by: Vec<IdType>,
    /// One line for the agent.
    pub summary: String,
}

/// The journey-breakage rules (docs/rules.md). The Avro enum `Rule` in
/// `schemas/JourneyAlert.avsc` has the same symbols in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    RepeatContact,
    Detractor,
    BrokenPromise,
    ChannelHop,
    AbandonedCheckout,
    TransferLoop,
    Unanswered,
    SentimentDrop,
}

impl Rule {
    pub const ALL: [Rule; 8] = [
        Rule::RepeatContact,
        Rule::Detractor,
        Rule::BrokenPromise,
        Rule::ChannelHop,
        Rule::AbandonedCheckout,
        Rule::TransferLoop,
        Rule::Unanswered,
        Rule::SentimentDrop,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::RepeatContact => "repeat_contact",
            Rule::Detractor => "detractor",
            Rule::BrokenPromise => "broken_promise",
            Rule::ChannelHop => "channel_hop",
            Rule::AbandonedCheckout => "abandoned_checkout",
            Rule::TransferLoop => "transfer_loop",
            Rule::Unanswered => "unanswered",
            Rule::SentimentDrop => "sentiment_drop",
        }
    }
}

/// Whether an alert record opens an alert or closes one emitted earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// The breakage was detected (the alert itself).
    #[default]
    Open,
    /// A resolution record: the issue of the alert `resolves_alert_id` is resolved.
    Resolved,
}

impl AlertStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Resolved => "resolved",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

/// A journey-breakage alert, or (with `status` resolved) the record that closes one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JourneyAlert {
    /// Deterministic: hash of rule and triggering event ids (never of the customer id).
    pub alert_id: String,
    pub customer_id: String,
    pub rule: Rule,
    pub severity: Severity,
    /// Event time at which the rule fired (for broken promises: the due time).
    pub fired_at_ms: i64,
    pub issue_key: Option<String>,
    /// Team that owns this journey.
    pub owner: String,
    /// The touchpoints that triggered it; a resolution record adds the resolving event last.
    pub evidence: Vec<Touchpoint>,
    pub summary: String,
    /// `open` for an alert, `resolved` for the record that closes one.
    #[serde(default)]
    pub status: AlertStatus,
    /// For a resolution record: the id of the alert it closes. Its own id is
    /// `hash("resolved", that alert id)`.
    #[serde(default)]
    pub resolves_alert_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeKind {
    Merge,
    Split,
}

/// An identity decision: two customers became one (or a wrong link was undone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeRecord {
    /// Deterministic: hash of kind, winner, loser and the event id.
    pub merge_id: String,
    pub kind: MergeKind,
    pub winner: String,
    pub loser: String,
    /// The event that caused it.
    pub event_id: String,
    pub event_time_ms: i64,
    /// The identifiers on that event that linked the two.
    pub identifiers: Vec<Identifier>,
    /// The identity rule that allowed it (e.g. `shared_identifier`).
    pub rule: String,
}

/// A link the identity guards did not apply, for a person to review (the
/// quarantine topic). The event still counts for the customer it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityReview {
    /// Deterministic: hash of the reason and what it is about (the two
    /// customers of a refused link, or the contested value).
    pub review_id: String,
    /// `unique_conflict`, `cluster_too_large`, `type_cap`, `contested_value` or `hub_value`.
    pub reason: String,
    /// The first event (in event-time order) the decision was taken on.
    pub event_id: String,
    pub event_time_ms: i64,
    /// The customers the link would have merged, or that share the value.
    pub customers: Vec<String>,
    /// The identifiers involved: the refused link's, or the contested value.
    pub identifiers: Vec<Identifier>,
    /// One line for the reviewer, without personal data.
    pub summary: String,
}

/// An operator's unmerge: `a` and `b` must never be in one customer. It
/// reaches the component through the identity stage like an event and is
/// kept as a constraint of that component, never as a touchpoint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Unmerge {
    /// Deterministic: hash of the two identifiers.
    pub control_id: String,
    /// When the operator issued it (ms since epoch); not an event time.
    pub issued_ms: i64,
    pub a: Identifier,
    pub b: Identifier,
    /// Free text from the operator; never emitted.
    #[serde(default)]
    pub reason: String,
}

impl Unmerge {
    pub fn new(a: Identifier, b: Identifier, issued_ms: i64, reason: &str) -> Unmerge {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        Unmerge {
            control_id: crate::ids::id(
                "um",
                &[a.id_type.as_str(), &a.value, b.id_type.as_str(), &b.value],
            ),
            issued_ms,
            a,
            b,
            reason: reason.to_string(),
        }
    }
}
