//! One customer's journey as it stands at a point in event time: the
//! touchpoints in order, the issues with their contacts, the promises made and
//! the fulfilments seen, the last survey score and the sentiment trend.
//!
//! A journey is built by [`Journey::apply`] in `(event_time, event_id)` order;
//! when identity joins two customers, [`Journey::absorb`] combines their
//! journeys into one that equals applying both histories in order.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::model::{
    Activity, Channel, Identifier, JourneyEvent, OpenIssue, PendingPromise, PromiseKind, Score,
    Touchpoint,
};

/// A contact about an issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueContact {
    pub time_ms: i64,
    pub event_id: String,
    pub channel: Channel,
}

/// Everything known about one issue of one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueState {
    pub topic: Option<String>,
    pub case_id: Option<String>,
    /// Every touchpoint about this issue, in order.
    pub contacts: Vec<IssueContact>,
    /// The last resolving event's time.
    pub resolved_at_ms: Option<i64>,
    /// When the last repeat-contact alert fired for it.
    pub alerted_at_ms: Option<i64>,
    /// When the last channel-hop alert fired for it.
    pub hop_alerted_at_ms: Option<i64>,
}

impl IssueState {
    /// How the issue is named in summaries: its topic, else its case id.
    pub fn about(&self) -> String {
        self.topic
            .clone()
            .or_else(|| self.case_id.clone())
            .unwrap_or_default()
    }

    /// Whether an alert that fired at `alerted_at_ms` still covers this
    /// occurrence: inside the window starting at `from_ms` and not followed by
    /// a resolution (one alert per occurrence).
    pub fn alerted_since(&self, alerted_at_ms: Option<i64>, from_ms: i64) -> bool {
        alerted_at_ms.is_some_and(|a| a >= from_ms && self.resolved_at_ms.is_none_or(|r| a > r))
    }

    /// Contacts since the last resolution.
    pub fn open_contacts(&self) -> impl Iterator<Item = &IssueContact> {
        let since = self.resolved_at_ms;
        self.contacts
            .iter()
            .filter(move |c| since.is_none_or(|r| c.time_ms > r))
    }

    pub fn is_open(&self) -> bool {
        self.open_contacts().next().is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromiseState {
    pub kind: PromiseKind,
    pub due_ms: i64,
    pub made_ms: i64,
    pub made_on: Channel,
    pub event_id: String,
    pub topic: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fulfilment {
    pub kind: PromiseKind,
    pub time_ms: i64,
    pub event_id: String,
}

/// A sentiment reading of one touchpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct SentimentPoint {
    pub time_ms: i64,
    pub event_id: String,
    pub value: f64,
}

/// An inbound contact (activity `contact`) that may await an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub time_ms: i64,
    pub event_id: String,
    pub channel: Channel,
    pub interaction_id: Option<String>,
    pub issue_key: Option<String>,
}

/// What answers an inbound contact: an agent reply or an outbound contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub time_ms: i64,
    pub event_id: String,
    pub channel: Channel,
    pub interaction_id: Option<String>,
    pub issue_key: Option<String>,
}

impl Reply {
    /// Whether this answers `inbound`: the same interaction when the contact
    /// names one, else the same channel and issue.
    pub fn answers(&self, inbound: &Inbound) -> bool {
        self.time_ms >= inbound.time_ms
            && match &inbound.interaction_id {
                Some(id) => self.interaction_id.as_ref() == Some(id),
                None => self.channel == inbound.channel && self.issue_key == inbound.issue_key,
            }
    }
}

/// Transfers seen on one interaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InteractionState {
    /// The largest `transfer_count` any of its events reported.
    pub max_transfer_count: u32,
    /// `(time, event id)` of its events that reported a transfer (`transfer_count > 0`), in order.
    pub transfer_events: Vec<(i64, String)>,
    pub issue_key: Option<String>,
    /// A transfer-loop alert fired for it.
    pub loop_alerted: bool,
}

impl InteractionState {
    /// Transfers of the interaction: sources that report a running count give
    /// the maximum, sources that report one transfer per event give the count
    /// of such events; the larger of the two.
    pub fn transfers(&self) -> u32 {
        self.max_transfer_count
            .max(self.transfer_events.len() as u32)
    }
}

/// One customer's journey state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Journey {
    pub touchpoints: Vec<Touchpoint>,
    pub issues: BTreeMap<String, IssueState>,
    pub promises: Vec<PromiseState>,
    pub fulfilments: Vec<Fulfilment>,
    /// `(time, score)` of the last survey answer.
    pub last_score: Option<(i64, Score)>,
    /// Touchpoints that carried a sentiment, in order.
    pub sentiments: Vec<SentimentPoint>,
    /// Inbound contacts, in order (for `unanswered`).
    pub inbound: Vec<Inbound>,
    /// Agent replies and outbound contacts, in order (for `unanswered`).
    pub replies: Vec<Reply>,
    /// Interaction id → its transfers (for `transfer_loop`).
    pub interactions: BTreeMap<String, InteractionState>,
    /// First event id of the falling-sentiment run that last raised an alert.
    pub sentiment_alerted_run: Option<String>,
    /// Alerts emitted and not yet resolved, in order of firing.
    pub open_alerts: Vec<crate::rules::OpenAlert>,
}

impl Journey {
    pub fn is_empty(&self) -> bool {
        self.touchpoints.is_empty()
    }

    /// Appends an event that is not older than anything already applied.
    pub fn apply(&mut self, e: &JourneyEvent) {
        self.touchpoints.push(Touchpoint::from(e));
        if let Some(key) = e.issue_key() {
            let issue = self.issues.entry(key).or_default();
            if issue.topic.is_none() {
                issue.topic.clone_from(&e.topic);
            }
            if issue.case_id.is_none() {
                issue.case_id.clone_from(&e.case_id);
            }
            if e.resolves {
                issue.resolved_at_ms = Some(e.event_time_ms);
            } else if counts_as_contact(e) {
                issue.contacts.push(IssueContact {
                    time_ms: e.event_time_ms,
                    event_id: e.event_id.clone(),
                    channel: e.channel,
                });
            }
        }
        if let Some(p) = &e.promise {
            self.promises.push(PromiseState {
                kind: p.kind,
                due_ms: p.due_ms,
                made_ms: e.event_time_ms,
                made_on: e.channel,
                event_id: e.event_id.clone(),
                topic: e.topic.clone(),
            });
        }
        if let Some(kind) = e.fulfils {
            self.fulfilments.push(Fulfilment {
                kind,
                time_ms: e.event_time_ms,
                event_id: e.event_id.clone(),
            });
        }
        if let Some(s) = &e.score {
            self.last_score = Some((e.event_time_ms, s.clone()));
        }
        if let Some(value) = e.sentiment {
            self.sentiments.push(SentimentPoint {
                time_ms: e.event_time_ms,
                event_id: e.event_id.clone(),
                value,
            });
        }
        match e.activity {
            Activity::Contact => self.inbound.push(Inbound {
                time_ms: e.event_time_ms,
                event_id: e.event_id.clone(),
                channel: e.channel,
                interaction_id: e.interaction_id.clone(),
                issue_key: e.issue_key(),
            }),
            Activity::AgentReply | Activity::Outbound => self.replies.push(Reply {
                time_ms: e.event_time_ms,
                event_id: e.event_id.clone(),
                channel: e.channel,
                interaction_id: e.interaction_id.clone(),
                issue_key: e.issue_key(),
            }),
            _ => {}
        }
        if let Some(id) = &e.interaction_id {
            let it = self.interactions.entry(id.clone()).or_default();
            it.max_transfer_count = it.max_transfer_count.max(e.transfer_count);
            if e.transfer_count > 0 {
                it.transfer_events
                    .push((e.event_time_ms, e.event_id.clone()));
            }
            if it.issue_key.is_none() {
                it.issue_key = e.issue_key();
            }
        }
    }

    /// Takes in another customer's journey (identity joined them).
    pub fn absorb(&mut self, other: Journey) {
        self.touchpoints.extend(other.touchpoints);
        self.touchpoints
            .sort_by(|a, b| (a.event_time_ms, &a.event_id).cmp(&(b.event_time_ms, &b.event_id)));
        for (key, theirs) in other.issues {
            let mine = self.issues.entry(key).or_default();
            if mine.topic.is_none() {
                mine.topic = theirs.topic;
            }
            if mine.case_id.is_none() {
                mine.case_id = theirs.case_id;
            }
            mine.contacts.extend(theirs.contacts);
            mine.contacts
                .sort_by(|a, b| (a.time_ms, &a.event_id).cmp(&(b.time_ms, &b.event_id)));
            mine.resolved_at_ms = mine.resolved_at_ms.max(theirs.resolved_at_ms);
            mine.alerted_at_ms = mine.alerted_at_ms.max(theirs.alerted_at_ms);
            mine.hop_alerted_at_ms = mine.hop_alerted_at_ms.max(theirs.hop_alerted_at_ms);
        }
        self.promises.extend(other.promises);
        self.promises
            .sort_by(|a, b| (a.made_ms, &a.event_id).cmp(&(b.made_ms, &b.event_id)));
        self.fulfilments.extend(other.fulfilments);
        self.fulfilments
            .sort_by(|a, b| (a.time_ms, &a.event_id).cmp(&(b.time_ms, &b.event_id)));
        self.last_score = match (self.last_score.take(), other.last_score) {
            (Some(a), Some(b)) => Some(if b.0 > a.0 { b } else { a }),
            (a, b) => a.or(b),
        };
        self.sentiments.extend(other.sentiments);
        self.sentiments
            .sort_by(|a, b| (a.time_ms, &a.event_id).cmp(&(b.time_ms, &b.event_id)));
        self.inbound.extend(other.inbound);
        self.inbound
            .sort_by(|a, b| (a.time_ms, &a.event_id).cmp(&(b.time_ms, &b.event_id)));
        self.replies.extend(other.replies);
        self.replies
            .sort_by(|a, b| (a.time_ms, &a.event_id).cmp(&(b.time_ms, &b.event_id)));
        for (id, theirs) in other.interactions {
            let mine = self.interactions.entry(id).or_default();
            mine.max_transfer_count = mine.max_transfer_count.max(theirs.max_transfer_count);
            mine.transfer_events.extend(theirs.transfer_events);
            mine.transfer_events.sort();
            mine.transfer_events.dedup();
            if mine.issue_key.is_none() {
                mine.issue_key = theirs.issue_key;
            }
            mine.loop_alerted |= theirs.loop_alerted;
        }
        self.sentiment_alerted_run = self
            .sentiment_alerted_run
            .take()
            .max(other.sentiment_alerted_run);
        self.open_alerts.extend(other.open_alerts);
        self.open_alerts.sort_by(|a, b| {
            (a.alert.fired_at_ms, &a.alert.alert_id).cmp(&(b.alert.fired_at_ms, &b.alert.alert_id))
        });
    }

    /// Whether `promise` was fulfilled by `until_ms`.
    pub fn fulfilled(&self, promise: &PromiseState, until_ms: i64) -> bool {
        self.fulfilments.iter().any(|f| {
            f.kind == promise.kind && f.time_ms >= promise.made_ms && f.time_ms <= until_ms
        })
    }

    pub fn open_issues(&self) -> Vec<OpenIssue> {
        self.issues
            .iter()
            .filter(|(_, i)| i.is_open())
            .map(|(key, i)| {
                let open: Vec<&IssueContact> = i.open_contacts().collect();
                let channels: BTreeSet<Channel> = open.iter().map(|c| c.channel).collect();
                OpenIssue {
                    issue_key: key.clone(),
                    topic: i.topic.clone(),
                    case_id: i.case_id.clone(),
                    contacts: open.len() as u32,
                    channels: channels.into_iter().collect(),
                    first_seen_ms: open.first().map_or(0, |c| c.time_ms),
                    last_seen_ms: open.last().map_or(0, |c| c.time_ms),
                }
            })
            .collect()
    }

    /// Promises not fulfilled by `now_ms` (overdue ones included).
    pub fn pending_promises(&self, now_ms: i64) -> Vec<PendingPromise> {
        self.promises
            .iter()
            .filter(|p| !self.fulfilled(p, now_ms))
            .map(|p| PendingPromise {
                kind: p.kind,
                due_ms: p.due_ms,
                made_ms: p.made_ms,
                made_on: p.made_on,
                event_id: p.event_id.clone(),
            })
            .collect()
    }
}

/// Touchpoints that count as the customer contacting the company about an issue.
pub fn counts_as_contact(e: &JourneyEvent) -> bool {
    matches!(e.activity, Activity::Contact | Activity::Appointment) && e.channel.is_assisted()
}

/// A customer's final journey, as written to `journeys.jsonl` and compared with the oracle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CustomerJourney {
    pub customer_id: String,
    pub identifiers: Vec<Identifier>,
    pub touchpoints: Vec<Touchpoint>,
    pub open_issues: Vec<OpenIssue>,
    pub pending_promises: Vec<PendingPromise>,
    pub last_score: Option<Score>,
}
