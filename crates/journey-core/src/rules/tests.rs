//! Each rule fires on its story and stays silent on the near-misses; alerts
//! resolve; ids do not depend on the customer id; timers are all reported by
//! `next_due`.

use super::*;
use crate::fold::{fold, StitchConfig};
use crate::model::{IdType, Identifier, Promise, PromiseKind, Score, ScoreKind};

const T0: i64 = 1_763_110_800_000; // 2025-11-14 09:00 UTC
const MIN: i64 = 60_000;
const H: i64 = 3_600_000;

fn ev(id: &str, min: i64, channel: Channel, activity: Activity) -> JourneyEvent {
    let mut e = JourneyEvent::bare(
        &format!("ev-{id}"),
        channel,
        activity,
        T0 + min * MIN,
        vec![Identifier::new(IdType::Email, "anna@example.de")],
    );
    e.source_event_id = id.into();
    e
}

fn topic(mut e: JourneyEvent, t: &str) -> JourneyEvent {
    e.topic = Some(t.into());
    e
}

fn contact(id: &str, min: i64, channel: Channel, t: &str) -> JourneyEvent {
    topic(ev(id, min, channel, Activity::Contact), t)
}

fn run(events: &[JourneyEvent], cfg: &StitchConfig) -> Vec<JourneyAlert> {
    let wm = events.iter().map(|e| e.event_time_ms).max().unwrap_or(0);
    fold(events, wm, cfg).alerts
}

fn quiet() -> StitchConfig {
    // Only the rule under test: unanswered is off unless a test turns it on.
    let mut cfg = StitchConfig::default();
    cfg.rules.unanswered.enabled = false;
    cfg
}

fn rules_of(alerts: &[JourneyAlert]) -> Vec<(Rule, AlertStatus)> {
    alerts.iter().map(|a| (a.rule, a.status)).collect()
}

#[test]
fn channel_hop_fires_on_three_channels_within_the_window_and_resolves() {
    let cfg = quiet();
    let mut evs = vec![
        contact("1", 0, Channel::Email, "delivery"),
        contact("2", 20 * 60, Channel::Chat, "delivery"),
        contact("3", 40 * 60, Channel::Phone, "delivery"),
    ];
    let alerts = run(&evs, &cfg);
    let hop: Vec<_> = alerts
        .iter()
        .filter(|a| a.rule == Rule::ChannelHop)
        .collect();
    assert_eq!(hop.len(), 1, "{alerts:#?}");
    assert_eq!(hop[0].evidence.len(), 3);
    assert_eq!(hop[0].owner, "logistics");
    assert!(
        hop[0].summary.contains("email → chat → phone"),
        "{}",
        hop[0].summary
    );
    // The same three contacts also make a repeat contact.
    assert!(alerts.iter().any(|a| a.rule == Rule::RepeatContact));

    let mut solved = topic(
        ev("4", 41 * 60, Channel::Email, Activity::Closed),
        "delivery",
    );
    solved.resolves = true;
    evs.push(solved);
    let alerts = run(&evs, &cfg);
    let resolved: Vec<_> = alerts
        .iter()
        .filter(|a| a.status == AlertStatus::Resolved)
        .collect();
    assert_eq!(
        resolved.len(),
        2,
        "hop and repeat contact both close: {alerts:#?}"
    );
    let hop_id = &hop[0].alert_id;
    let closing = resolved
        .iter()
        .find(|a| a.resolves_alert_id.as_ref() == Some(hop_id))
        .expect("hop resolved");
    assert_eq!(closing.alert_id, resolution::resolution_id(hop_id));
    assert_eq!(
        closing.evidence.last().map(|t| t.source_event_id.as_str()),
        Some("4")
    );
}

#[test]
fn channel_hop_stays_silent_outside_the_window_or_on_two_channels() {
    let cfg = quiet();
    let spread = [
        contact("1", 0, Channel::Email, "delivery"),
        contact("2", 30 * 60, Channel::Chat, "delivery"),
        contact("3", 50 * 60, Channel::Phone, "delivery"),
    ];
    assert!(!rules_of(&run(&spread, &cfg)).contains(&(Rule::ChannelHop, AlertStatus::Open)));
    let two = [
        contact("1", 0, Channel::Email, "delivery"),
        contact("2", 60, Channel::Chat, "delivery"),
        contact("3", 120, Channel::Chat, "delivery"),
    ];
    assert!(run(&two, &cfg).iter().all(|a| a.rule != Rule::ChannelHop));
}

#[test]
fn abandoned_checkout_fires_when_the_window_passes_without_a_purchase() {
    let cfg = quiet();
    let checkout = ev("1", 0, Channel::Web, Activity::CheckoutStarted);
    let later = ev("2", 25 * 60, Channel::Web, Activity::PageView);
    let alerts = run(&[checkout.clone(), later.clone()], &cfg);
    assert_eq!(
        rules_of(&alerts),
        vec![(Rule::AbandonedCheckout, AlertStatus::Open)]
    );
    assert_eq!(alerts[0].fired_at_ms, checkout.event_time_ms + 24 * H);
    assert_eq!(alerts[0].owner, "digital");

    // Not yet due at the watermark: nothing, but the component has a timer.
    assert!(run(std::slice::from_ref(&checkout), &cfg).is_empty());
    assert_eq!(
        next_due(
            std::slice::from_ref(&checkout),
            checkout.event_time_ms,
            &cfg.rules
        ),
        Some(checkout.event_time_ms + 24 * H)
    );

    // A purchase in the store within the window: silent.
    let bought = ev("3", 20 * 60, Channel::Store, Activity::Purchase);
    assert!(run(&[checkout.clone(), bought, later.clone()], &cfg).is_empty());

    // Three restarts give one alert; a late purchase resolves it.
    let again = ev("4", 30, Channel::Web, Activity::CheckoutStarted);
    let late = ev("5", 30 * 60, Channel::Web, Activity::Purchase);
    let alerts = run(&[checkout, again, later, late], &cfg);
    assert_eq!(
        rules_of(&alerts),
        vec![
            (Rule::AbandonedCheckout, AlertStatus::Open),
            (Rule::AbandonedCheckout, AlertStatus::Resolved)
        ]
    );
}

#[test]
fn transfer_loop_counts_transfer_events_or_the_running_count() {
    let cfg = quiet();
    let leg = |id: &str, min: i64, count: u32| {
        let mut e = topic(ev(id, min, Channel::Phone, Activity::AgentReply), "billing");
        e.interaction_id = Some("call-1".into());
        e.transfer_count = count;
        e
    };
    let mut start = contact("0", 0, Channel::Phone, "billing");
    start.interaction_id = Some("call-1".into());
    let per_event = [
        start.clone(),
        leg("1", 1, 1),
        leg("2", 2, 1),
        leg("3", 3, 1),
        leg("4", 4, 1),
    ];
    let alerts = run(&per_event, &cfg);
    assert_eq!(
        rules_of(&alerts),
        vec![(Rule::TransferLoop, AlertStatus::Open)],
        "once per interaction"
    );
    assert_eq!(alerts[0].evidence.len(), 3);
    assert_eq!(alerts[0].owner, "payments");
    let running = [start.clone(), leg("1", 1, 1), leg("2", 2, 3)];
    assert_eq!(
        rules_of(&run(&running, &cfg)),
        vec![(Rule::TransferLoop, AlertStatus::Open)]
    );
    let two = [start, leg("1", 1, 1), leg("2", 2, 2)];
    assert!(run(&two, &cfg).is_empty(), "two transfers are no loop");
}

#[test]
fn unanswered_uses_the_channel_service_level() {
    let mut cfg = quiet();
    cfg.rules.unanswered.enabled = true;
    let mut chat = contact("1", 0, Channel::Chat, "account");
    chat.interaction_id = Some("conv-1".into());
    let mut reply = ev("2", 8, Channel::Chat, Activity::AgentReply);
    reply.interaction_id = Some("conv-1".into());
    let tick = ev("9", 60, Channel::Web, Activity::PageView);
    assert!(
        run(&[chat.clone(), reply.clone(), tick.clone()], &cfg).is_empty(),
        "answered in 8 min"
    );

    let mut late = reply.clone();
    late.event_time_ms = T0 + 30 * MIN;
    let alerts = run(&[chat.clone(), late, tick.clone()], &cfg);
    assert_eq!(
        rules_of(&alerts),
        vec![
            (Rule::Unanswered, AlertStatus::Open),
            (Rule::Unanswered, AlertStatus::Resolved)
        ]
    );
    assert_eq!(alerts[0].fired_at_ms, chat.event_time_ms + 10 * MIN);

    // A reply on another conversation does not count; phone has no service level.
    let mut other = reply;
    other.interaction_id = Some("conv-2".into());
    assert_eq!(
        rules_of(&run(&[chat, other, tick.clone()], &cfg)),
        vec![(Rule::Unanswered, AlertStatus::Open)]
    );
    assert!(run(&[contact("5", 0, Channel::Phone, "billing"), tick], &cfg).is_empty());
}

#[test]
fn sentiment_drop_fires_once_per_falling_run_and_resolves_on_recovery() {
    let cfg = quiet();
    let s = |id: &str, min: i64, v: f64| {
        let mut e = contact(id, min, Channel::Chat, &format!("t{id}"));
        e.sentiment = Some(v);
        e
    };
    let falling = [
        s("1", 0, 0.4),
        s("2", 60, 0.0),
        s("3", 120, -0.5),
        s("4", 180, -0.8),
    ];
    let alerts = run(&falling, &cfg);
    assert_eq!(
        rules_of(&alerts),
        vec![(Rule::SentimentDrop, AlertStatus::Open)],
        "{alerts:#?}"
    );
    assert_eq!(alerts[0].evidence.len(), 3);
    let mut recovered = falling.to_vec();
    recovered.push(s("5", 240, 0.5));
    assert_eq!(
        rules_of(&run(&recovered, &cfg)),
        vec![
            (Rule::SentimentDrop, AlertStatus::Open),
            (Rule::SentimentDrop, AlertStatus::Resolved)
        ]
    );
    // Small dips are no drop; a rise breaks the run.
    assert!(run(&[s("1", 0, 0.4), s("2", 60, 0.3), s("3", 120, 0.2)], &cfg).is_empty());
    assert!(run(
        &[
            s("1", 0, 0.4),
            s("2", 60, -0.5),
            s("3", 120, 0.0),
            s("4", 180, -0.3)
        ],
        &cfg
    )
    .is_empty());
}

#[test]
fn broken_promise_resolves_on_late_fulfilment_and_detractor_on_a_good_answer() {
    let cfg = quiet();
    let mut promise = contact("1", 0, Channel::Phone, "refund");
    promise.promise = Some(Promise {
        kind: PromiseKind::Refund,
        due_ms: T0 + 24 * H,
    });
    let mut paid = ev("2", 30 * 60, Channel::Web, Activity::Refund);
    paid.fulfils = Some(PromiseKind::Refund);
    let alerts = run(&[promise, paid], &cfg);
    assert_eq!(
        rules_of(&alerts),
        vec![
            (Rule::BrokenPromise, AlertStatus::Open),
            (Rule::BrokenPromise, AlertStatus::Resolved)
        ]
    );
    assert!(
        alerts[0].summary.contains("not yet paid"),
        "{}",
        alerts[0].summary
    );

    let survey = |id: &str, min: i64, v: f64| {
        let mut e = ev(id, min, Channel::Survey, Activity::SurveyResponse);
        e.score = Some(Score {
            kind: ScoreKind::Nps,
            value: v,
            scale_min: 0.0,
            scale_max: 10.0,
        });
        e
    };
    let alerts = run(
        &[
            survey("1", 0, 3.0),
            survey("2", 60, 5.0),
            survey("3", 120, 9.0),
        ],
        &cfg,
    );
    assert_eq!(
        rules_of(&alerts),
        vec![
            (Rule::Detractor, AlertStatus::Open),
            (Rule::Detractor, AlertStatus::Open),
            (Rule::Detractor, AlertStatus::Resolved),
            (Rule::Detractor, AlertStatus::Resolved)
        ]
    );
}

#[test]
fn disabled_rules_stay_silent_and_ids_ignore_the_customer() {
    let evs = [
        contact("1", 0, Channel::Email, "delivery"),
        contact("2", 60, Channel::Chat, "delivery"),
        contact("3", 120, Channel::Phone, "delivery"),
    ];
    let mut cfg = quiet();
    cfg.rules.channel_hop.enabled = false;
    cfg.rules.repeat_contact.enabled = false;
    assert!(run(&evs, &cfg).is_empty());
    // The same events under another identifier: another customer id, the same alert ids.
    let cfg = quiet();
    let other: Vec<JourneyEvent> = evs
        .iter()
        .cloned()
        .map(|mut e| {
            e.identifiers = vec![Identifier::new(IdType::CustomerNumber, "4711")];
            e
        })
        .collect();
    let (a, b) = (run(&evs, &cfg), run(&other, &cfg));
    assert_ne!(a[0].customer_id, b[0].customer_id);
    let ids = |v: &[JourneyAlert]| v.iter().map(|a| a.alert_id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a), ids(&b));
}

#[test]
fn next_due_covers_every_timer_kind() {
    let mut cfg = quiet();
    cfg.rules.unanswered.enabled = true;
    let mut p = contact("1", 0, Channel::Phone, "refund");
    p.promise = Some(Promise {
        kind: PromiseKind::Refund,
        due_ms: T0 + 48 * H,
    });
    let c = ev("2", 0, Channel::Web, Activity::CheckoutStarted);
    let e = contact("3", 0, Channel::Email, "billing");
    let evs = [p, c, e];
    assert_eq!(
        next_due(&evs, T0, &cfg.rules),
        Some(T0 + 24 * H),
        "email service level and checkout window (24 h)"
    );
    assert_eq!(next_due(&evs, T0 + 24 * H, &cfg.rules), Some(T0 + 48 * H));
    assert_eq!(next_due(&evs, T0 + 48 * H, &cfg.rules), None);
}

#[test]
fn config_validation_names_the_field_and_topics_route_by_owner() {
    let mut cfg = RulesConfig::default();
    assert!(cfg.validate().is_empty(), "{:?}", cfg.validate());
    cfg.channel_hop.window_hours = 0;
    cfg.detractor.nps_max = 11.0;
    cfg.unanswered.service_level_minutes.insert("fax".into(), 5);
    let fields: Vec<String> = cfg.validate().into_iter().map(|p| p.field).collect();
    assert_eq!(
        fields,
        [
            "channel_hop.window_hours",
            "detractor.nps_max",
            "unanswered.service_level_minutes.fax"
        ]
    );
    assert_eq!(
        cfg.alert_topic("cx.journey.alerts", "payments"),
        "cx.journey.alerts"
    );
    cfg.route_by_owner = true;
    assert_eq!(
        cfg.alert_topic("cx.journey.alerts", "Field Service"),
        "cx.journey.alerts.field-service"
    );
}
