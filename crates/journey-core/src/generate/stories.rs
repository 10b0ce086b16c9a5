//! The scripted breakage stories of the source articles, one customer each,
//! with what a correct pipeline must output for them.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::background::{HOUR, MIN};
use super::emit::Sink;
use super::population::{IdK, Person};
use super::{Expectation, StoryInfo, StoryKind};
use crate::model::{Channel, IdType, Identifier, Rule};

struct Script<'a> {
    p: &'a mut Person,
    rng: &'a mut ChaCha8Rng,
    sink: &'a mut Sink,
    events: Vec<(Channel, String)>,
}

impl Script<'_> {
    /// Writes one event: envelope, customer, then `fields(json)`.
    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        ch: Channel,
        ty: &str,
        t: i64,
        ids: &[IdK],
        anon: Option<&str>,
        key: Option<String>,
        fields: impl FnOnce(&mut super::emit::Json),
    ) {
        let mut e = self.sink.ev(self.rng, ch, ty, t);
        self.p.write_customer(&mut e.j, self.rng, ch, ids, anon);
        fields(&mut e.j);
        let sid = self.sink.push(e, self.p.idx, key);
        self.events.push((ch, sid));
    }

    fn serial(&mut self, prefix: &str) -> String {
        format!("{prefix}-{}", self.sink.serial())
    }

    /// A logged-in web purchase (the order the story is about).
    fn web_purchase(&mut self, t: i64, product: &str, price: f64) -> String {
        let anon = self.p.cookie(self.rng);
        let order = self.serial("O");
        self.emit(
            Channel::Web,
            "page_view",
            t,
            &[IdK::User],
            Some(&anon),
            Some(anon.clone()),
            |j| {
                j.str("page", &format!("/accessories/{product}"));
            },
        );
        self.emit(
            Channel::Web,
            "checkout_started",
            t + 2 * MIN,
            &[IdK::User],
            Some(&anon),
            Some(anon.clone()),
            |j| {
                j.str("product", product);
                j.num2("cart_value", price);
                j.str("currency", "EUR");
            },
        );
        let o = order.clone();
        self.emit(
            Channel::Web,
            "purchase",
            t + 5 * MIN,
            &[IdK::User, IdK::Email, IdK::Cn],
            Some(&anon),
            Some(anon.clone()),
            |j| {
                j.str("interaction_id", &o);
                j.str("order_id", &o);
                j.str("product", product);
                j.num2("revenue", price);
                j.str("currency", "EUR");
            },
        );
        order
    }
}

/// Plays story `kind` for person `p`, starting around `t0` (whole seconds).
pub(crate) fn play(
    kind: StoryKind,
    instance: usize,
    p: &mut Person,
    rng: &mut ChaCha8Rng,
    sink: &mut Sink,
    t0: i64,
) -> StoryInfo {
    let customer = p.idx;
    let mut s = Script {
        p,
        rng,
        sink,
        events: Vec::new(),
    };
    let variant = instance % 2;
    let (summary, expected, end) = match kind {
        StoryKind::BrokenRefundPromise | StoryKind::KeptRefundPromise => {
            let order = s.web_purchase(t0 - 3 * 24 * HOUR, "roof-box", 449.0);
            let promised_at = if variant == 0 {
                // On the phone: the agent promises the refund within 24 hours.
                let call = s.serial("call");
                let (c1, c2) = (call.clone(), call.clone());
                s.emit(
                    Channel::Phone,
                    "call_started",
                    t0,
                    &[IdK::Mobile, IdK::Cn],
                    None,
                    Some(call.clone()),
                    |j| {
                        j.str("interaction_id", &c1);
                        j.str("topic", "refund");
                        j.str("queue", "service");
                    },
                );
                let o = order.clone();
                s.emit(Channel::Phone, "call_ended", t0 + 7 * MIN, &[IdK::Mobile, IdK::Cn], None, Some(call), |j| {
                    j.str("interaction_id", &c2);
                    j.str("topic", "refund");
                    j.int("duration_s", 420);
                    j.raw("promise", b"{\"kind\": \"refund\", \"within_hours\": 24}");
                    j.str("text", &format!("Order {o} cancelled, customer was told the refund arrives within 24 hours"));
                });
                t0 + 7 * MIN
            } else {
                // In the app: the refund request is confirmed "within 24 h".
                let anon = s.p.cookie(s.rng);
                let o = order.clone();
                s.emit(
                    Channel::Web,
                    "page_view",
                    t0 - 2 * MIN,
                    &[IdK::User],
                    Some(&anon),
                    Some(anon.clone()),
                    |j| {
                        j.str("page", &format!("/account/orders/{o}/cancel"));
                    },
                );
                let o = order.clone();
                s.emit(
                    Channel::Web,
                    "promise",
                    t0,
                    &[IdK::User],
                    Some(&anon),
                    Some(anon.clone()),
                    |j| {
                        j.str("topic", "refund");
                        j.str("interaction_id", &o);
                        j.raw("promise", b"{\"kind\": \"refund\", \"within_hours\": 24}");
                        j.str("text", "Your refund will be credited within 24 hours.");
                    },
                );
                t0
            };
            if kind == StoryKind::KeptRefundPromise {
                let t = promised_at + 20 * HOUR;
                let o = order.clone();
                if variant == 0 {
                    s.emit(
                        Channel::Store,
                        "refund",
                        t,
                        &[IdK::Cn, IdK::Loyalty],
                        None,
                        None,
                        |j| {
                            j.str("fulfils", "refund");
                            j.str("topic", "refund");
                            j.str("order_id", &o);
                            j.num2("amount", 449.0);
                            j.str("currency", "EUR");
                            j.str("store_id", "backoffice");
                        },
                    );
                } else {
                    let anon = s.p.cookie(s.rng);
                    s.emit(
                        Channel::Web,
                        "refund",
                        t,
                        &[IdK::User],
                        Some(&anon),
                        Some(anon.clone()),
                        |j| {
                            j.str("fulfils", "refund");
                            j.str("topic", "refund");
                            j.str("order_id", &o);
                            j.num2("amount", 449.0);
                            j.str("currency", "EUR");
                        },
                    );
                }
                (
                    format!(
                        "refund promised {} within 24 h, paid after 20 h: no alert",
                        if variant == 0 {
                            "on the phone"
                        } else {
                            "in the app"
                        }
                    ),
                    vec![Expectation::NoAlert],
                    t,
                )
            } else {
                // The customer keeps looking for the money; nothing arrives.
                let anon = s.p.cookie(s.rng);
                let t = promised_at + 49 * HOUR;
                s.emit(
                    Channel::Web,
                    "page_view",
                    t,
                    &[IdK::User],
                    Some(&anon),
                    Some(anon.clone()),
                    |j| {
                        j.str("page", "/account/orders");
                    },
                );
                (
                    format!(
                        "refund promised {} within 24 h never arrives: broken promise",
                        if variant == 0 {
                            "on the phone"
                        } else {
                            "in the app"
                        }
                    ),
                    vec![Expectation::Alert {
                        rule: Rule::BrokenPromise,
                        topic: Some("refund".into()),
                    }],
                    t,
                )
            }
        }
        StoryKind::ConfiguratorHandover => {
            let anon = s.p.cookie(s.rng);
            s.emit(
                Channel::Web,
                "page_view",
                t0 - 10 * MIN,
                &[IdK::User],
                Some(&anon),
                Some(anon.clone()),
                |j| {
                    j.str("page", "/configurator/paint");
                },
            );
            s.emit(
                Channel::Web,
                "track",
                t0 - 8 * MIN,
                &[IdK::User, IdK::Email],
                Some(&anon),
                Some(anon.clone()),
                |j| {
                    j.str("event", "Configurator Error");
                    j.str("error", "timeout while pricing");
                },
            );
            let conv = s.serial("conv");
            let c = conv.clone();
            s.emit(
                Channel::Chat,
                "chat_started",
                t0,
                &[IdK::Email, IdK::Cn],
                None,
                Some(conv.clone()),
                |j| {
                    j.str("interaction_id", &c);
                    j.str("topic", "configurator");
                    j.num2("sentiment", -0.6);
                    j.str(
                        "text",
                        "the online configurator crashed twice, I want to see the car in real life",
                    );
                },
            );
            let c = conv.clone();
            s.emit(
                Channel::Chat,
                "agent_message",
                t0 + 3 * MIN,
                &[IdK::Email],
                None,
                Some(conv.clone()),
                |j| {
                    j.str("interaction_id", &c);
                    j.str("agent_id", "agent-7");
                    j.str(
                        "text",
                        "Sorry about that! You can book a test drive at your dealer.",
                    );
                },
            );
            let c = conv.clone();
            s.emit(
                Channel::Chat,
                "chat_closed",
                t0 + 9 * MIN,
                &[IdK::Email],
                None,
                Some(conv),
                |j| {
                    j.str("interaction_id", &c);
                },
            );
            let t = t0 + 3 * 24 * HOUR + 2 * HOUR;
            s.emit(
                Channel::Store,
                "appointment",
                t,
                &[IdK::Cn, IdK::Mobile],
                None,
                Some("store-berlin-mitte".into()),
                |j| {
                    j.str("topic", "test_drive");
                    j.str("store_id", "store-berlin-mitte");
                    j.str("model", "family-suv");
                },
            );
            (
                "chat complaint: the online configurator failed; three days later a test drive at the store: the dealer must know"
                    .to_string(),
                vec![Expectation::Handover { channel: Channel::Store, mentions: "configurator".into() }],
                t,
            )
        }
        StoryKind::RepeatDeliveryContact => {
            let order = s.web_purchase(t0 - 6 * 24 * HOUR, "wallbox", 799.0);
            let case = (variant == 0).then(|| s.serial("T"));
            let ticket = case.clone().unwrap_or_else(|| s.serial("T"));
            let (tk, cs) = (ticket.clone(), case.clone());
            s.emit(
                Channel::Email,
                "email_received",
                t0,
                &[IdK::Email],
                None,
                Some(ticket.clone()),
                |j| {
                    j.str("interaction_id", &tk);
                    if let Some(c) = &cs {
                        j.str("case_id", c);
                    }
                    j.str("topic", "delivery");
                    j.str("subject", &format!("Order {order}"));
                    j.str(
                        "text",
                        "My wallbox was supposed to arrive last week. Where is it?",
                    );
                },
            );
            let (tk, cs) = (ticket.clone(), case.clone());
            s.emit(
                Channel::Email,
                "email_sent",
                t0 + 14 * HOUR,
                &[IdK::Email],
                None,
                Some(ticket),
                |j| {
                    j.str("interaction_id", &tk);
                    if let Some(c) = &cs {
                        j.str("case_id", c);
                    }
                    j.str(
                        "text",
                        "We are checking with the carrier and will get back to you.",
                    );
                },
            );
            let conv = s.serial("conv");
            let (c, cs) = (conv.clone(), case.clone());
            s.emit(
                Channel::Chat,
                "chat_started",
                t0 + 18 * HOUR,
                &[IdK::Email, IdK::Cn],
                None,
                Some(conv.clone()),
                |j| {
                    j.str("interaction_id", &c);
                    if let Some(cid) = &cs {
                        j.str("case_id", cid);
                    }
                    j.str("topic", "delivery");
                    j.num2("sentiment", -0.7);
                    j.str(
                        "text",
                        "I already wrote an email yesterday, still no wallbox and no answer",
                    );
                },
            );
            let c = conv.clone();
            s.emit(
                Channel::Chat,
                "chat_closed",
                t0 + 18 * HOUR + 12 * MIN,
                &[IdK::Email],
                None,
                Some(conv),
                |j| {
                    j.str("interaction_id", &c);
                },
            );
            let call = s.serial("call");
            let (c, cs) = (call.clone(), case.clone());
            let t = t0 + 42 * HOUR;
            s.emit(
                Channel::Phone,
                "call_started",
                t,
                &[IdK::Mobile, IdK::Cn],
                None,
                Some(call.clone()),
                |j| {
                    j.str("interaction_id", &c);
                    if let Some(cid) = &cs {
                        j.str("case_id", cid);
                    }
                    j.str("topic", "delivery");
                    j.str("queue", "service");
                },
            );
            let c = call.clone();
            s.emit(
                Channel::Phone,
                "call_ended",
                t + 11 * MIN,
                &[IdK::Mobile, IdK::Cn],
                None,
                Some(call),
                |j| {
                    j.str("interaction_id", &c);
                    j.int("duration_s", 660);
                    j.num2("sentiment", -0.8);
                    j.str(
                        "text",
                        "third contact about the missing wallbox, customer very upset",
                    );
                },
            );
            (
                format!(
                    "late delivery: email, then chat, then phone within 48 h ({}): repeat contact, handovers on chat and phone",
                    if case.is_some() { "same case id" } else { "same topic" }
                ),
                vec![
                    Expectation::Alert { rule: Rule::RepeatContact, topic: Some("delivery".into()) },
                    Expectation::Handover { channel: Channel::Chat, mentions: "delivery".into() },
                    Expectation::Handover { channel: Channel::Phone, mentions: "delivery".into() },
                ],
                t + 11 * MIN,
            )
        }
        StoryKind::StoreDetractor => {
            s.emit(
                Channel::Store,
                "visit",
                t0,
                &[IdK::Loyalty, IdK::Cn],
                None,
                Some("store-koeln-deutz".into()),
                |j| {
                    j.str("store_id", "store-koeln-deutz");
                    j.str("topic", "product");
                    j.num2("sentiment", -0.5);
                    j.str(
                        "text",
                        "the charging cable was out of stock although the website said available",
                    );
                },
            );
            let t = t0 + 26 * HOUR;
            s.emit(
                Channel::Survey,
                "response",
                t,
                &[IdK::Email, IdK::Cn],
                None,
                None,
                |j| {
                    j.str("survey_id", "nps-after-visit");
                    j.raw("score", b"{\"type\": \"nps\", \"value\": 2}");
                    j.str("text", "Drove 40 km for nothing. Nobody called me back.");
                },
            );
            (
                "failed store visit (product out of stock), then an NPS 2 survey: detractor"
                    .to_string(),
                vec![Expectation::Alert {
                    rule: Rule::Detractor,
                    topic: None,
                }],
                t,
            )
        }
        StoryKind::AnonymousCheckoutLogin => {
            // Known before: a logged-in session on another device.
            let known = s.p.new_cookie(s.rng);
            let tk = t0 - 4 * 24 * HOUR;
            s.emit(
                Channel::Web,
                "page_view",
                tk,
                &[IdK::User],
                Some(&known),
                Some(known.clone()),
                |j| {
                    j.str("page", "/account");
                },
            );
            s.emit(
                Channel::Web,
                "track",
                tk + MIN,
                &[IdK::User, IdK::Email],
                Some(&known),
                Some(known.clone()),
                |j| {
                    j.str("event", "Newsletter Subscribed");
                },
            );
            // Today: anonymous on a new device.
            let anon = s.p.new_cookie(s.rng);
            let pages = ["/", "/accessories/wallbox", "/help/delivery"];
            for (i, page) in pages.iter().enumerate() {
                s.emit(
                    Channel::Web,
                    "page_view",
                    t0 + i as i64 * 2 * MIN,
                    &[],
                    Some(&anon),
                    Some(anon.clone()),
                    |j| {
                        j.str("page", page);
                    },
                );
            }
            s.emit(
                Channel::Web,
                "track",
                t0 + 7 * MIN,
                &[],
                Some(&anon),
                Some(anon.clone()),
                |j| {
                    j.str("event", "Product Viewed");
                    j.str("product", "wallbox");
                },
            );
            s.emit(
                Channel::Web,
                "checkout_started",
                t0 + 9 * MIN,
                &[],
                Some(&anon),
                Some(anon.clone()),
                |j| {
                    j.str("product", "wallbox");
                    j.num2("cart_value", 799.0);
                    j.str("currency", "EUR");
                },
            );
            s.emit(
                Channel::Web,
                "login",
                t0 + 11 * MIN,
                &[IdK::User],
                Some(&anon),
                Some(anon.clone()),
                |j| {
                    j.str("method", "checkout");
                },
            );
            let order = s.serial("O");
            let t = t0 + 14 * MIN;
            s.emit(
                Channel::Web,
                "purchase",
                t,
                &[IdK::User],
                Some(&anon),
                Some(anon.clone()),
                |j| {
                    j.str("interaction_id", &order);
                    j.str("order_id", &order);
                    j.str("product", "wallbox");
                    j.num2("revenue", 799.0);
                    j.str("currency", "EUR");
                },
            );
            let user = s.p.user.clone().unwrap_or_default();
            (
                "anonymous visitor browses, starts checkout, then logs in: the anonymous history joins the known customer"
                    .to_string(),
                vec![Expectation::Merge {
                    identifiers: vec![Identifier::new(IdType::UserId, user), Identifier::new(IdType::AnonymousId, anon)],
                }],
                t,
            )
        }
    };
    StoryInfo {
        kind,
        instance,
        customer,
        start_ms: t0,
        end_ms: end,
        summary,
        source_events: s.events,
        expected,
    }
}

/// A start time for a story: a weekday-ish working hour, early enough that
/// the whole story (up to ~4 days) and the due times fit into the window.
pub(crate) fn start_time(rng: &mut ChaCha8Rng, start_ms: i64, days: u32, kind: StoryKind) -> i64 {
    let lead = match kind {
        StoryKind::RepeatDeliveryContact => 6,
        StoryKind::AnonymousCheckoutLogin => 4,
        StoryKind::BrokenRefundPromise | StoryKind::KeptRefundPromise => 3,
        _ => 0,
    };
    let tail = match kind {
        StoryKind::ConfiguratorHandover => 4,
        StoryKind::BrokenRefundPromise
        | StoryKind::KeptRefundPromise
        | StoryKind::RepeatDeliveryContact => 3,
        _ => 2,
    };
    let lo = lead.min(days.saturating_sub(1));
    let hi = days.saturating_sub(tail).max(lo + 1);
    let day = rng.gen_range(lo..hi) as i64;
    // Stories start at 09:00–16:00 local time; the late-delivery email is
    // written after work (17:00–20:00), so that chat and call fall on the
    // following days' working hours.
    let (lo, hi) = if kind == StoryKind::RepeatDeliveryContact {
        (17, 20)
    } else {
        (9, 16)
    };
    let local = rng.gen_range(lo * 3600..hi * 3600) as i64 * 1000;
    let start_local = (start_ms + 3_600_000).rem_euclid(86_400_000);
    let t = start_ms + day * 86_400_000 + local - start_local;
    t.max(start_ms) / 1000 * 1000
}
