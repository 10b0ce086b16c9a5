//! `broken_promise`: a promise (refund, callback, delivery, appointment,
//! technician) whose due time passed without a fulfilling event. Fired by the
//! event-time timer armed at the promise's due time; a late fulfilment
//! resolves it. The owner is the owner of the promise kind.

use crate::handover::date;
use crate::journey::Journey;

use super::{issue_key_of, touchpoint, Draft, Resolver, RulesConfig};
use crate::model::Rule;

pub(super) fn fire(
    cfg: &RulesConfig,
    journey: &Journey,
    promise_event: &str,
) -> Option<(Draft, Option<Resolver>)> {
    let bp = &cfg.broken_promise;
    let promise = journey
        .promises
        .iter()
        .find(|p| p.event_id == promise_event)?;
    if !bp.enabled || journey.fulfilled(promise, promise.due_ms) {
        return None;
    }
    let made = touchpoint(journey, &promise.event_id)?;
    let summary = format!(
        "{} promised on {} {} for {}, {}",
        promise.kind.as_str(),
        made.channel.as_str(),
        date(promise.made_ms),
        date(promise.due_ms),
        crate::handover::not_yet(promise.kind)
    );
    let draft = Draft {
        rule: Rule::BrokenPromise,
        severity: bp.severity,
        fired_at_ms: promise.due_ms,
        issue_key: issue_key_of(&made),
        owner: cfg.owner_of(Some(promise.kind.as_str())),
        evidence: vec![made],
        summary,
    };
    Some((
        draft,
        Some(Resolver::Fulfilment {
            kind: promise.kind,
            made_ms: promise.made_ms,
        }),
    ))
}
