//! The `[rules]` section: one struct per rule (on/off, thresholds, window,
//! severity), the journey owners, the per-owner alert topics and the handover
//! size. Every struct rejects unknown fields; [`RulesConfig::validate`] checks
//! the values and names the field of each problem (`journey rules check`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Channel, Severity};

/// All rule settings, owners and handover settings: one `[rules]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    pub repeat_contact: RepeatContact,
    pub channel_hop: ChannelHop,
    pub detractor: Detractor,
    pub broken_promise: BrokenPromise,
    pub abandoned_checkout: AbandonedCheckout,
    pub transfer_loop: TransferLoop,
    pub unanswered: Unanswered,
    pub sentiment_drop: SentimentDrop,
    /// Issue topic, journey type or promise kind → owning team (e.g. `refund = "payments"`).
    pub owners: BTreeMap<String, String>,
    /// Owner of journeys no entry in `owners` matches.
    pub default_owner: String,
    /// Route each alert to a topic per owner: `<alerts topic>.<owner>` (see
    /// [`RulesConfig::alert_topic`]). Default false: one alerts topic.
    pub route_by_owner: bool,
    /// How many earlier touchpoints a handover carries (and detractor evidence reaches back).
    pub handover_touchpoints: usize,
}

impl Default for RulesConfig {
    fn default() -> Self {
        let owners = [
            ("refund", "payments"),
            ("billing", "payments"),
            ("delivery", "logistics"),
            ("configurator", "digital"),
            ("account", "digital"),
            ("checkout", "digital"),
            ("product", "retail"),
            ("test_drive", "retail"),
            ("appointment", "retail"),
            ("technician", "field-service"),
            ("callback", "customer-care"),
        ];
        RulesConfig {
            repeat_contact: RepeatContact::default(),
            channel_hop: ChannelHop::default(),
            detractor: Detractor::default(),
            broken_promise: BrokenPromise::default(),
            abandoned_checkout: AbandonedCheckout::default(),
            transfer_loop: TransferLoop::default(),
            unanswered: Unanswered::default(),
            sentiment_drop: SentimentDrop::default(),
            owners: owners
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            default_owner: "customer-care".into(),
            route_by_owner: false,
            handover_touchpoints: 5,
        }
    }
}

/// `repeat_contact`: the same issue contacted `min_contacts` times within `window_hours`, unresolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RepeatContact {
    pub enabled: bool,
    /// Contacts (assisted channels) about the issue that make a repeat (default 3).
    pub min_contacts: usize,
    /// Window the contacts must fall in (default 168 h, a week).
    pub window_hours: i64,
    pub severity: Severity,
}

impl Default for RepeatContact {
    fn default() -> Self {
        RepeatContact {
            enabled: true,
            min_contacts: 3,
            window_hours: 7 * 24,
            severity: Severity::Medium,
        }
    }
}

/// `channel_hop`: the same unresolved issue contacted on `min_channels` different channels within `window_hours`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChannelHop {
    pub enabled: bool,
    /// Distinct assisted channels (chat, phone, email, store) that make a hop (default 3).
    pub min_channels: usize,
    /// Window the contacts must fall in (default 48 h).
    pub window_hours: i64,
    pub severity: Severity,
}

impl Default for ChannelHop {
    fn default() -> Self {
        ChannelHop {
            enabled: true,
            min_channels: 3,
            window_hours: 48,
            severity: Severity::Medium,
        }
    }
}

/// `detractor`: a survey answer at or beyond these thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Detractor {
    pub enabled: bool,
    /// NPS 0–10: at most this is a detractor (default 6).
    pub nps_max: f64,
    /// CSAT: at most this share of the scale (default 0.25, i.e. 1–2 of 5).
    pub csat_max_share: f64,
    /// CES: at least this share of the scale (high effort; default 0.66, i.e. 5–7 of 7).
    pub ces_min_share: f64,
    /// Other ratings: at most this share of the scale.
    pub rating_max_share: f64,
    /// How far back the alert's evidence reaches (default 336 h, two weeks).
    pub lookback_hours: i64,
    pub severity: Severity,
}

impl Default for Detractor {
    fn default() -> Self {
        Detractor {
            enabled: true,
            nps_max: 6.0,
            csat_max_share: 0.25,
            ces_min_share: 0.66,
            rating_max_share: 0.25,
            lookback_hours: 14 * 24,
            severity: Severity::High,
        }
    }
}

/// `broken_promise`: a promise whose due time passed without a fulfilling event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokenPromise {
    pub enabled: bool,
    pub severity: Severity,
}

impl Default for BrokenPromise {
    fn default() -> Self {
        BrokenPromise {
            enabled: true,
            severity: Severity::High,
        }
    }
}

/// `abandoned_checkout`: a checkout started on the web and no purchase on any channel within `window_hours`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AbandonedCheckout {
    pub enabled: bool,
    /// How long a purchase may take (default 24 h).
    pub window_hours: i64,
    pub severity: Severity,
}

impl Default for AbandonedCheckout {
    fn default() -> Self {
        AbandonedCheckout {
            enabled: true,
            window_hours: 24,
            severity: Severity::Low,
        }
    }
}

/// `transfer_loop`: one interaction transferred `min_transfers` times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferLoop {
    pub enabled: bool,
    /// Transfers of one interaction that make a loop (default 3).
    pub min_transfers: u32,
    pub severity: Severity,
}

impl Default for TransferLoop {
    fn default() -> Self {
        TransferLoop {
            enabled: true,
            min_transfers: 3,
            severity: Severity::Medium,
        }
    }
}

/// `unanswered`: an inbound contact without an agent reply or outbound contact
/// on the same interaction within the channel's service level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Unanswered {
    pub enabled: bool,
    /// Channel → service level in minutes. Channels not listed are not
    /// checked (default: chat 10 min, email 1440 min = 24 h; a phone call or
    /// store visit is answered when it starts).
    pub service_level_minutes: BTreeMap<String, i64>,
    pub severity: Severity,
}

impl Default for Unanswered {
    fn default() -> Self {
        Unanswered {
            enabled: true,
            service_level_minutes: [("chat".to_string(), 10), ("email".to_string(), 24 * 60)]
                .into_iter()
                .collect(),
            severity: Severity::Medium,
        }
    }
}

impl Unanswered {
    /// The service level of `channel` in ms, when it has one.
    pub fn service_level_ms(&self, channel: Channel) -> Option<i64> {
        self.service_level_minutes
            .get(channel.as_str())
            .map(|m| m * 60_000)
    }
}

/// `sentiment_drop`: consecutive contacts with falling sentiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SentimentDrop {
    pub enabled: bool,
    /// Consecutive falls that make a drop (default 2, i.e. three contacts each worse than the one before).
    pub min_drops: usize,
    /// The fall from the first to the last of them, on the −1..1 scale (default 0.5).
    pub min_total_drop: f64,
    /// Window the contacts must fall in (default 168 h).
    pub window_hours: i64,
    pub severity: Severity,
}

impl Default for SentimentDrop {
    fn default() -> Self {
        SentimentDrop {
            enabled: true,
            min_drops: 2,
            min_total_drop: 0.5,
            window_hours: 7 * 24,
            severity: Severity::Medium,
        }
    }
}

impl RulesConfig {
    /// The owner of a topic, journey type or promise kind, else `default_owner`.
    pub fn owner_of(&self, key: Option<&str>) -> String {
        key.and_then(|k| self.owners.get(k))
            .cloned()
            .unwrap_or_else(|| self.default_owner.clone())
    }

    /// The topic an alert owned by `owner` goes to. With `route_by_owner`
    /// false (the default) that is `base`; with true it is `base.<owner>`,
    /// the owner lower-cased with every character Kafka does not allow in a
    /// topic name replaced by `-` (`cx.journey.alerts.payments`). The Kafka
    /// stitch stage calls this for every alert it emits; resolution records go
    /// to the same topic as the alert they close (same owner).
    pub fn alert_topic(&self, base: &str, owner: &str) -> String {
        if !self.route_by_owner {
            return base.to_string();
        }
        let slug: String = owner
            .trim()
            .chars()
            .map(|c| c.to_ascii_lowercase())
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let slug = if slug.is_empty() {
            "unowned".to_string()
        } else {
            slug
        };
        let mut topic = format!("{base}.{slug}");
        topic.truncate(249);
        topic
    }
}
