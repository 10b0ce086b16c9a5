//! `transfer_loop`: one interaction (call, chat) transferred `min_transfers`
//! times. The transfers of an interaction are the larger of the highest
//! `transfer_count` any of its events reported (sources with a running count)
//! and the number of its events that reported one (sources with one event per
//! transfer). Fired once per interaction, by the transfer that reaches the
//! threshold; resolved when the interaction's issue resolves.

use crate::journey::Journey;
use crate::model::{JourneyEvent, Rule, Touchpoint};

use super::{touchpoint, Draft, Resolver, RulesConfig};

pub(super) fn evaluate(
    cfg: &RulesConfig,
    journey: &mut Journey,
    e: &JourneyEvent,
) -> Option<(Draft, Option<Resolver>)> {
    let tl = &cfg.transfer_loop;
    if !tl.enabled || e.transfer_count == 0 {
        return None;
    }
    let id = e.interaction_id.as_ref()?;
    let it = journey.interactions.get(id)?;
    if it.loop_alerted || it.transfers() < tl.min_transfers.max(1) {
        return None;
    }
    let transfers = it.transfers();
    let issue_key = it.issue_key.clone();
    let evidence: Vec<Touchpoint> = it
        .transfer_events
        .iter()
        .filter_map(|(_, ev)| touchpoint(journey, ev))
        .collect();
    let topic = evidence
        .iter()
        .find_map(|t| t.topic.clone())
        .or_else(|| e.topic.clone());
    let summary = format!(
        "{} interaction transferred {} times{}",
        e.channel.as_str(),
        transfers,
        topic
            .as_ref()
            .map(|t| format!(" about {t}"))
            .unwrap_or_default()
    );
    if let Some(it) = journey.interactions.get_mut(id) {
        it.loop_alerted = true;
    }
    let draft = Draft {
        rule: Rule::TransferLoop,
        severity: tl.severity,
        fired_at_ms: e.event_time_ms,
        issue_key: issue_key.clone(),
        owner: cfg.owner_of(topic.as_deref()),
        evidence,
        summary,
    };
    Some((draft, issue_key.map(Resolver::Issue)))
}
