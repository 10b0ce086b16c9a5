//! [`RulesConfig::validate`]: every value checked once, each problem naming
//! its field under `rules` and the fix (used at start and by `journey rules check`).

use crate::model::Channel;

use super::RulesConfig;

/// A value that fails validation: the dotted field path under `rules` and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// e.g. `repeat_contact.window_hours` or `unanswered.service_level_minutes.fax`.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field `rules.{}`: {}", self.field, self.message)
    }
}

impl RulesConfig {
    /// Checks every value; an empty list means the configuration is usable.
    pub fn validate(&self) -> Vec<Problem> {
        let mut p = Vec::new();
        let mut need = |ok: bool, field: &str, message: &str| {
            if !ok {
                p.push(Problem {
                    field: field.to_string(),
                    message: message.to_string(),
                });
            }
        };
        need(
            self.repeat_contact.min_contacts >= 2,
            "repeat_contact.min_contacts",
            "must be at least 2 (default 3)",
        );
        need(
            self.repeat_contact.window_hours > 0,
            "repeat_contact.window_hours",
            "must be greater than 0 (default 168)",
        );
        need(
            self.channel_hop.min_channels >= 2,
            "channel_hop.min_channels",
            "must be at least 2 (default 3)",
        );
        need(
            self.channel_hop.min_channels <= 4,
            "channel_hop.min_channels",
            "at most 4: there are four assisted channels (chat, phone, email, store)",
        );
        need(
            self.channel_hop.window_hours > 0,
            "channel_hop.window_hours",
            "must be greater than 0 (default 48)",
        );
        let d = &self.detractor;
        need(
            (0.0..=10.0).contains(&d.nps_max),
            "detractor.nps_max",
            "must be within 0..=10 (default 6)",
        );
        need(
            (0.0..=1.0).contains(&d.csat_max_share),
            "detractor.csat_max_share",
            "must be a share within 0..=1 (default 0.25)",
        );
        need(
            (0.0..=1.0).contains(&d.ces_min_share),
            "detractor.ces_min_share",
            "must be a share within 0..=1 (default 0.66)",
        );
        need(
            (0.0..=1.0).contains(&d.rating_max_share),
            "detractor.rating_max_share",
            "must be a share within 0..=1 (default 0.25)",
        );
        need(
            d.lookback_hours > 0,
            "detractor.lookback_hours",
            "must be greater than 0 (default 336)",
        );
        need(
            self.abandoned_checkout.window_hours > 0,
            "abandoned_checkout.window_hours",
            "must be greater than 0 (default 24)",
        );
        need(
            self.transfer_loop.min_transfers >= 1,
            "transfer_loop.min_transfers",
            "must be at least 1 (default 3)",
        );
        for (channel, minutes) in &self.unanswered.service_level_minutes {
            let field = format!("unanswered.service_level_minutes.{channel}");
            match channel.parse::<Channel>() {
                Ok(c) if c.is_assisted() => {
                    need(*minutes > 0, &field, "must be greater than 0 minutes")
                }
                Ok(c) => need(
                    false,
                    &field,
                    &format!("{c} is not an assisted channel (use chat, phone, email or store)"),
                ),
                Err(e) => need(false, &field, &e),
            }
        }
        let s = &self.sentiment_drop;
        need(
            s.min_drops >= 1,
            "sentiment_drop.min_drops",
            "must be at least 1 (default 2)",
        );
        need(
            (0.0..=2.0).contains(&s.min_total_drop),
            "sentiment_drop.min_total_drop",
            "must be within 0..=2 on the -1..1 sentiment scale (default 0.5)",
        );
        need(
            s.window_hours > 0,
            "sentiment_drop.window_hours",
            "must be greater than 0 (default 168)",
        );
        need(
            !self.default_owner.trim().is_empty(),
            "default_owner",
            "must name a team (e.g. \"customer-care\")",
        );
        for (key, team) in &self.owners {
            need(
                !team.trim().is_empty(),
                &format!("owners.{key}"),
                "must name a team",
            );
        }
        need(
            self.handover_touchpoints <= 100,
            "handover_touchpoints",
            "must be at most 100 (default 5)",
        );
        p
    }
}
