//! Ordinary traffic: web sessions, chats, calls, email tickets, store visits and
//! surveys of every customer over the generation window, with the usual mix of
//! resolved and unresolved issues, kept and (rarely) broken promises, and
//! follow-ups on another channel.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::emit::Sink;
use super::population::{IdK, Person};
use crate::model::Channel;

pub(crate) const TOPICS: &[(&str, u32)] = &[
    ("delivery", 25),
    ("refund", 15),
    ("billing", 15),
    ("product", 15),
    ("account", 10),
    ("configurator", 10),
    ("test_drive", 10),
];

pub(crate) fn customer_text(topic: &str, rng: &mut ChaCha8Rng) -> &'static str {
    let options: &[&str] = match topic {
        "delivery" => &[
            "my order has not arrived yet, tracking says 'in transit' since Monday",
            "Where is my parcel? It was promised for yesterday.",
            "the courier left a note but nobody rang the bell",
            "Lieferung fehlt immer noch, bitte um Rückmeldung",
        ],
        "refund" => &[
            "I returned the item two weeks ago and still have no refund",
            "please refund my cancelled order",
            "Wo bleibt meine Erstattung?",
        ],
        "billing" => &[
            "I was charged twice for the same invoice",
            "the invoice shows the wrong address",
            "why is there a late fee on my account?",
        ],
        "product" => &[
            "the wallbox keeps tripping the fuse",
            "the roof box does not fit my car",
            "item was out of stock in the store although the website said available",
        ],
        "account" => &[
            "I cannot log in, the reset link expires immediately",
            "please change my email address",
            "my loyalty points are missing",
        ],
        "configurator" => &[
            "the online configurator crashed twice when I chose the paint",
            "configurator shows a price that differs from the dealer's",
            "I lost my saved configuration",
        ],
        "test_drive" => &[
            "I would like to book a test drive for Saturday",
            "can I test drive the family SUV with the bigger battery?",
        ],
        _ => &["hello, I have a question"],
    };
    options[rng.gen_range(0..options.len())]
}

pub(crate) fn agent_text(rng: &mut ChaCha8Rng) -> &'static str {
    const T: &[&str] = &[
        "Thanks for reaching out, let me check that for you.",
        "I have forwarded this to the responsible team.",
        "Could you please send me your order number?",
        "I'm sorry for the inconvenience, I'll take care of it.",
        "Vielen Dank für Ihre Geduld.",
    ];
    T[rng.gen_range(0..T.len())]
}

pub(crate) fn pick_topic(rng: &mut ChaCha8Rng) -> &'static str {
    let total: u32 = TOPICS.iter().map(|t| t.1).sum();
    let mut r = rng.gen_range(0..total);
    for &(t, w) in TOPICS {
        if r < w {
            return t;
        }
        r -= w;
    }
    "delivery"
}

const PAGES: &[&str] = &[
    "/",
    "/models/e-compact",
    "/models/family-suv",
    "/configurator",
    "/configurator/paint",
    "/accessories/wallbox",
    "/accessories/roof-box",
    "/accessories/winter-tyres",
    "/help/delivery",
    "/help/returns",
    "/account/orders",
    "/stores/berlin-mitte",
];
const PRODUCTS: &[(&str, f64)] = &[
    ("wallbox", 799.0),
    ("roof-box", 449.0),
    ("winter-tyres", 696.0),
    ("charging-cable", 249.0),
    ("floor-mats", 89.9),
    ("child-seat", 329.0),
];
const STORES: &[&str] = &[
    "store-berlin-mitte",
    "store-hamburg-altona",
    "store-muenchen-ost",
    "store-koeln-deutz",
    "store-frankfurt-west",
];

/// The generation window.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub start_ms: i64,
    pub days: u32,
}

impl Window {
    /// A whole-second time on a random day, at a local hour typical of the channel.
    pub fn time(&self, rng: &mut ChaCha8Rng, ch: Channel) -> i64 {
        let day = rng.gen_range(0..self.days.max(1)) as i64;
        let (lo, hi) = match ch {
            Channel::Web => (7, 23),
            Channel::Store => (9, 19),
            Channel::Email => (6, 23),
            _ => (8, 20),
        };
        // Local wall-clock hours, counted from the window start (whatever its
        // hour), kept inside [start, end).
        let day_ms = 86_400_000;
        let start_local = (self.start_ms + 3_600_000).rem_euclid(day_ms);
        let local = rng.gen_range(lo * 3600..hi * 3600) as i64 * 1000;
        let mut t = self.start_ms + day * day_ms + (local - start_local);
        let end = self.start_ms + self.days.max(1) as i64 * day_ms;
        if t < self.start_ms {
            t += day_ms;
        }
        if t >= end {
            t -= day_ms;
        }
        t.max(self.start_ms)
    }
}

pub(crate) const MIN: i64 = 60_000;
pub(crate) const HOUR: i64 = 3_600_000;

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> u32 {
    let l = (-lambda).exp();
    let mut k = 0;
    let mut p = 1.0;
    loop {
        p *= rng.gen::<f64>();
        if p <= l || k > 60 {
            return k;
        }
        k += 1;
    }
}

fn amount(rng: &mut ChaCha8Rng) -> (&'static str, f64) {
    PRODUCTS[rng.gen_range(0..PRODUCTS.len())]
}

/// All ordinary traffic of one customer.
pub(crate) fn traffic(p: &mut Person, rng: &mut ChaCha8Rng, sink: &mut Sink, w: Window) {
    let lambda = p.activity * w.days as f64 / 14.0;
    let n = poisson(rng, lambda).max(1);
    for _ in 0..n {
        if p.story {
            // Story customers only browse: their scripted story is their journey.
            let t = w.time(rng, Channel::Web);
            web_session(p, rng, sink, t, true);
            continue;
        }
        let total: u32 = p.weights.iter().sum();
        let mut r = rng.gen_range(0..total);
        let mut kind = 0;
        for (i, &wt) in p.weights.iter().enumerate() {
            if r < wt {
                kind = i;
                break;
            }
            r -= wt;
        }
        match kind {
            0 => {
                let t = w.time(rng, Channel::Web);
                web_session(p, rng, sink, t, false);
            }
            1 => issue(p, rng, sink, w, Channel::Chat),
            2 => issue(p, rng, sink, w, Channel::Phone),
            3 => issue(p, rng, sink, w, Channel::Email),
            _ => store_visit(p, rng, sink, w),
        }
    }
}

/// An issue contact on an assisted channel, maybe followed up on another
/// channel, maybe followed by a survey.
fn issue(p: &mut Person, rng: &mut ChaCha8Rng, sink: &mut Sink, w: Window, ch: Channel) {
    let topic = pick_topic(rng);
    let t = w.time(rng, ch);
    let case = (ch == Channel::Email || rng.gen_bool(0.15)).then(|| format!("T-{}", sink.serial()));
    let (mut resolved, mut end) = contact(p, rng, sink, ch, t, topic, case.as_deref());
    // Unresolved: the customer comes back, often on another channel.
    let mut hops = 0;
    while !resolved && hops < 2 && rng.gen_bool(0.22) {
        hops += 1;
        let next = [Channel::Chat, Channel::Phone, Channel::Email][rng.gen_range(0..3)];
        let t2 = end + rng.gen_range(3 * HOUR..40 * HOUR);
        let case2 = if next == Channel::Email || rng.gen_bool(0.5) {
            case.clone()
        } else {
            None
        };
        let case2 =
            case2.or_else(|| (next == Channel::Email).then(|| format!("T-{}", sink.serial())));
        (resolved, end) = contact(p, rng, sink, next, t2, topic, case2.as_deref());
    }
    if rng.gen_bool(0.25) {
        let ts = end + rng.gen_range(2 * HOUR..36 * HOUR);
        survey(p, rng, sink, ts, resolved);
    }
}

/// One contact about `topic` on chat, phone or email. Returns (resolved, end time).
pub(crate) fn contact(
    p: &mut Person,
    rng: &mut ChaCha8Rng,
    sink: &mut Sink,
    ch: Channel,
    t: i64,
    topic: &str,
    case: Option<&str>,
) -> (bool, i64) {
    let ids = p.pick_ids(rng, ch);
    let resolved = rng.gen_bool(0.6);
    let sentiment = if resolved {
        rng.gen_range(-0.4..0.6)
    } else {
        rng.gen_range(-0.9..0.1)
    };
    let mut t = t;
    match ch {
        Channel::Chat => {
            let conv = format!("conv-{}", sink.serial());
            let mut e = sink.ev(rng, ch, "chat_started", t);
            p.write_customer(&mut e.j, rng, ch, &ids, None);
            e.j.str("interaction_id", &conv);
            if let Some(c) = case {
                e.j.str("case_id", c);
            }
            e.j.str("topic", topic);
            e.j.num2("sentiment", sentiment);
            e.j.str("text", customer_text(topic, rng));
            sink.push(e, p.idx, Some(conv.clone()));
            for _ in 0..rng.gen_range(1..4) {
                t += rng.gen_range(20..300) * 1000;
                let mut e = sink.ev(rng, ch, "agent_message", t);
                p.write_customer(&mut e.j, rng, ch, &ids, None);
                e.j.str("interaction_id", &conv);
                e.j.str("agent_id", &format!("agent-{}", rng.gen_range(1..60)));
                e.j.str("text", agent_text(rng));
                sink.push(e, p.idx, Some(conv.clone()));
            }
            t += rng.gen_range(30..600) * 1000;
            let mut e = sink.ev(rng, ch, "chat_closed", t);
            p.write_customer(&mut e.j, rng, ch, &ids, None);
            e.j.str("interaction_id", &conv);
            e.j.bool("resolved", resolved);
            let callback = !resolved && p.mobile.is_some() && rng.gen_bool(0.3);
            if callback {
                e.j.raw("promise", b"{\"kind\": \"callback\", \"within_hours\": 4}");
            }
            sink.push(e, p.idx, Some(conv));
            if callback && rng.gen_bool(0.85) {
                let tc = t + rng.gen_range(20 * MIN..230 * MIN);
                t = callback_call(p, rng, sink, tc, topic, &ids);
            }
        }
        Channel::Phone => {
            let call = format!("call-{}", sink.serial());
            let mut e = sink.ev(rng, ch, "call_started", t);
            p.write_customer(&mut e.j, rng, ch, &ids, None);
            e.j.str("interaction_id", &call);
            if let Some(c) = case {
                e.j.str("case_id", c);
            }
            e.j.str("topic", topic);
            e.j.str(
                "queue",
                if topic == "billing" {
                    "billing"
                } else {
                    "service"
                },
            );
            sink.push(e, p.idx, Some(call.clone()));
            let dur = rng.gen_range(60..1500);
            t += dur * 1000;
            let mut e = sink.ev(rng, ch, "call_ended", t);
            p.write_customer(&mut e.j, rng, ch, &ids, None);
            e.j.str("interaction_id", &call);
            e.j.int("duration_s", dur);
            e.j.bool("resolved", resolved);
            e.j.num2("sentiment", sentiment);
            e.j.str("text", customer_text(topic, rng));
            let refund_promise = !resolved && topic == "refund" && rng.gen_bool(0.6);
            if refund_promise {
                e.j.raw("promise", b"{\"kind\": \"refund\", \"within_hours\": 72}");
            }
            sink.push(e, p.idx, Some(call));
            if refund_promise && rng.gen_bool(0.9) {
                let tr = t + rng.gen_range(2 * HOUR..60 * HOUR);
                refund(p, rng, sink, tr, &ids);
            }
        }
        _ => {
            let ticket = case
                .map(str::to_string)
                .unwrap_or_else(|| format!("T-{}", sink.serial()));
            let mut e = sink.ev(rng, ch, "email_received", t);
            p.write_customer(&mut e.j, rng, ch, &ids, None);
            e.j.str("interaction_id", &ticket);
            e.j.str("case_id", &ticket);
            e.j.str("topic", topic);
            e.j.str("subject", &format!("Re: {topic}"));
            e.j.str("text", customer_text(topic, rng));
            sink.push(e, p.idx, Some(ticket.clone()));
            let rounds = if rng.gen_bool(0.35) { 2 } else { 1 };
            for round in 0..rounds {
                if round > 0 {
                    t += rng.gen_range(HOUR..20 * HOUR);
                    let mut e = sink.ev(rng, ch, "email_received", t);
                    p.write_customer(&mut e.j, rng, ch, &ids, None);
                    e.j.str("interaction_id", &ticket);
                    e.j.str("case_id", &ticket);
                    e.j.str("text", "Thanks, but this does not answer my question.");
                    sink.push(e, p.idx, Some(ticket.clone()));
                }
                t += rng.gen_range(20 * MIN..12 * HOUR);
                let mut e = sink.ev(rng, ch, "email_sent", t);
                p.write_customer(&mut e.j, rng, ch, &ids, None);
                e.j.str("interaction_id", &ticket);
                e.j.str("case_id", &ticket);
                e.j.str("text", agent_text(rng));
                sink.push(e, p.idx, Some(ticket.clone()));
            }
            if resolved {
                t += rng.gen_range(10 * MIN..48 * HOUR);
                let mut e = sink.ev(rng, ch, "ticket_solved", t);
                p.write_customer(&mut e.j, rng, ch, &ids, None);
                e.j.str("interaction_id", &ticket);
                e.j.str("case_id", &ticket);
                sink.push(e, p.idx, Some(ticket));
            }
        }
    }
    (resolved, t)
}

/// The promised callback. Returns its time.
fn callback_call(
    p: &mut Person,
    rng: &mut ChaCha8Rng,
    sink: &mut Sink,
    t: i64,
    topic: &str,
    ids: &[IdK],
) -> i64 {
    let call = format!("call-{}", sink.serial());
    // Dialled from the CRM record: the mobile plus what the chat knew.
    let mut ids = linked(p, ids);
    ids.insert(0, IdK::Mobile);
    ids.dedup();
    let mut e = sink.ev(rng, Channel::Phone, "callback", t);
    p.write_customer(&mut e.j, rng, Channel::Phone, &ids, None);
    e.j.str("interaction_id", &call);
    e.j.str("topic", topic);
    sink.push(e, p.idx, Some(call));
    t
}

/// The identifiers a back-office system records for a follow-up of an event
/// that carried `ids`: the same ones (without a shared landline) plus the
/// customer number, so that the follow-up lands on the same journey.
fn linked(p: &Person, ids: &[IdK]) -> Vec<IdK> {
    let mut out: Vec<IdK> = ids
        .iter()
        .copied()
        .filter(|&k| k != IdK::Landline)
        .collect();
    if p.cn.is_some() && !out.contains(&IdK::Cn) {
        out.push(IdK::Cn);
    }
    if out.is_empty() {
        out.extend(
            [IdK::Email, IdK::Mobile, IdK::Loyalty, IdK::User]
                .into_iter()
                .find(|&k| p.has(k)),
        );
    }
    out
}

/// A refund payment for a request made on an event with `ids`, reported by
/// the web shop back end (when the customer is a logged-in user) or by the
/// store/back-office system.
pub(crate) fn refund(
    p: &mut Person,
    rng: &mut ChaCha8Rng,
    sink: &mut Sink,
    t: i64,
    ids: &[IdK],
) -> (Channel, String) {
    let (_, price) = amount(rng);
    if p.user.is_some() && (ids.contains(&IdK::User) || rng.gen_bool(0.3)) {
        let anon = p.cookie(rng);
        let mut e = sink.ev(rng, Channel::Web, "refund", t);
        let mut web_ids = vec![IdK::User];
        if !ids.contains(&IdK::User) {
            web_ids.extend(
                linked(p, ids)
                    .into_iter()
                    .filter(|&k| k != IdK::User)
                    .take(1),
            );
        }
        p.write_customer(&mut e.j, rng, Channel::Web, &web_ids, Some(&anon));
        e.j.str("fulfils", "refund");
        e.j.str("topic", "refund");
        e.j.num2("amount", price);
        e.j.str("currency", "EUR");
        (Channel::Web, sink.push(e, p.idx, Some(anon)))
    } else {
        let ids = linked(p, ids);
        let mut e = sink.ev(rng, Channel::Store, "refund", t);
        p.write_customer(&mut e.j, rng, Channel::Store, &ids, None);
        e.j.str("fulfils", "refund");
        e.j.str("topic", "refund");
        e.j.num2("amount", price);
        e.j.str("currency", "EUR");
        e.j.str("store_id", "backoffice");
        (Channel::Store, sink.push(e, p.idx, None))
    }
}

/// A survey response some time after a contact.
pub(crate) fn survey(
    p: &mut Person,
    rng: &mut ChaCha8Rng,
    sink: &mut Sink,
    t: i64,
    resolved: bool,
) {
    let ids: Vec<IdK> = if p.email.is_some() && rng.gen_bool(0.8) {
        let mut v = vec![IdK::Email];
        if p.cn.is_some() && rng.gen_bool(0.4) {
            v.push(IdK::Cn);
        }
        v
    } else {
        p.pick_ids(rng, Channel::Survey)
    };
    let r = rng.gen_range(0..100);
    let nps = rng.gen_bool(0.7);
    let mut e = sink.ev(rng, Channel::Survey, "response", t);
    p.write_customer(&mut e.j, rng, Channel::Survey, &ids, None);
    e.j.str(
        "survey_id",
        if nps {
            "nps-after-contact"
        } else {
            "csat-after-contact"
        },
    );
    // Mostly promoters; unresolved contacts produce more detractors.
    let detractor_share = if resolved { 8 } else { 30 };
    let passive_share = 25;
    let (value, comment): (i64, Option<&str>) = if nps {
        if r < detractor_share {
            (
                rng.gen_range(0..7),
                Some("Nobody got back to me, very disappointing."),
            )
        } else if r < detractor_share + passive_share {
            (rng.gen_range(7..9), None)
        } else {
            (
                rng.gen_range(9..11),
                rng.gen_bool(0.3)
                    .then_some("Quick and friendly help, thank you!"),
            )
        }
    } else if r < detractor_share {
        (
            rng.gen_range(1..3),
            Some("I had to explain everything again."),
        )
    } else if r < detractor_share + passive_share {
        (3, None)
    } else {
        (rng.gen_range(4..6), None)
    };
    e.j.key("score");
    e.j.buf.extend_from_slice(if nps {
        b"{\"type\": \"nps\", \"value\": "
    } else {
        b"{\"type\": \"csat\", \"value\": "
    });
    super::emit::push_int(&mut e.j.buf, value);
    e.j.buf.push(b'}');
    if let Some(c) = comment {
        e.j.str("text", c);
    }
    let key = rng.gen_bool(0.5).then(|| format!("resp-{}", sink.serial()));
    sink.push(e, p.idx, key);
}

/// An account registration carrying all of a customer's own identifiers
/// (not the household landline, which is shared): the evidence that makes
/// the whole truth linkable in the identity-quality set.
pub(crate) fn registration(p: &mut Person, rng: &mut ChaCha8Rng, sink: &mut Sink, w: Window) {
    let t = w.time(rng, Channel::Web);
    let all = [IdK::Cn, IdK::Email, IdK::Mobile, IdK::Loyalty, IdK::User];
    let mut e = sink.ev(rng, Channel::Web, "signup", t);
    p.write_customer(&mut e.j, rng, Channel::Web, &all, None);
    sink.push(e, p.idx, None);
}

/// A web session: page views and tracked actions, sometimes a checkout with
/// login and purchase. `quiet`: browsing only.
pub(crate) fn web_session(
    p: &mut Person,
    rng: &mut ChaCha8Rng,
    sink: &mut Sink,
    t: i64,
    quiet: bool,
) {
    let anon = p.cookie(rng);
    let ch = Channel::Web;
    let r = rng.gen_range(0..100);
    let mut logged_in = p.user.is_some() && r < 35;
    let logs_in_later = p.user.is_some() && !logged_in && r < 65;
    let views = rng.gen_range(1..8);
    let mut t = t;
    let push_ids = |_p: &Person, logged_in: bool| {
        if logged_in {
            vec![IdK::User]
        } else {
            Vec::new()
        }
    };
    for v in 0..views {
        if v > 0 {
            t += rng.gen_range(10..240) * 1000;
        }
        let page = PAGES[rng.gen_range(0..PAGES.len())];
        let mut e = sink.ev(rng, ch, "page_view", t);
        p.write_customer(&mut e.j, rng, ch, &push_ids(p, logged_in), Some(&anon));
        e.j.str("page", page);
        e.j.str("url", &format!("https://shop.example.de{page}"));
        sink.push(e, p.idx, Some(anon.clone()));
        if rng.gen_bool(0.25) {
            t += rng.gen_range(2..60) * 1000;
            let (product, _) = amount(rng);
            let mut e = sink.ev(rng, ch, "track", t);
            p.write_customer(&mut e.j, rng, ch, &push_ids(p, logged_in), Some(&anon));
            e.j.str(
                "event",
                if page.starts_with("/configurator") {
                    "Configuration Saved"
                } else {
                    "Product Viewed"
                },
            );
            e.j.str("product", product);
            sink.push(e, p.idx, Some(anon.clone()));
        }
        if logs_in_later && !logged_in && v + 1 == views / 2 + 1 {
            t += rng.gen_range(5..60) * 1000;
            let mut e = sink.ev(rng, ch, "login", t);
            p.write_customer(&mut e.j, rng, ch, &[IdK::User], Some(&anon));
            e.j.str("method", "password");
            sink.push(e, p.idx, Some(anon.clone()));
            logged_in = true;
        }
    }
    if sink.identify_every_session && !logged_in {
        let (kind, ids) = if p.user.is_some() {
            ("login", vec![IdK::User])
        } else if p.email.is_some() {
            ("signup", vec![IdK::Email])
        } else {
            ("signup", vec![IdK::Cn])
        };
        t += rng.gen_range(5..60) * 1000;
        let mut e = sink.ev(rng, ch, kind, t);
        p.write_customer(&mut e.j, rng, ch, &ids, Some(&anon));
        sink.push(e, p.idx, Some(anon.clone()));
        logged_in = p.user.is_some();
    }
    if quiet || !rng.gen_bool(0.18) {
        return;
    }
    let (product, price) = amount(rng);
    let qty = rng.gen_range(1..3);
    t += rng.gen_range(30..300) * 1000;
    let mut e = sink.ev(rng, ch, "checkout_started", t);
    p.write_customer(&mut e.j, rng, ch, &push_ids(p, logged_in), Some(&anon));
    e.j.str("product", product);
    e.j.num2("cart_value", price * qty as f64);
    e.j.str("currency", "EUR");
    sink.push(e, p.idx, Some(anon.clone()));
    if !rng.gen_bool(0.6) {
        return; // abandoned
    }
    let mut ids = Vec::new();
    if p.user.is_some() {
        if !logged_in {
            t += rng.gen_range(10..120) * 1000;
            let mut e = sink.ev(rng, ch, "login", t);
            p.write_customer(&mut e.j, rng, ch, &[IdK::User], Some(&anon));
            e.j.str("method", "checkout");
            sink.push(e, p.idx, Some(anon.clone()));
        }
        ids.push(IdK::User);
    } else if p.email.is_some() {
        ids.push(IdK::Email); // guest checkout
    } else if p.cn.is_some() {
        ids.push(IdK::Cn);
    }
    let order = format!("O-{}", sink.serial());
    t += rng.gen_range(60..600) * 1000;
    let ships = product != "floor-mats" || rng.gen_bool(0.5);
    let mut e = sink.ev(rng, ch, "purchase", t);
    p.write_customer(&mut e.j, rng, ch, &ids, Some(&anon));
    e.j.str("interaction_id", &order);
    e.j.str("order_id", &order);
    e.j.str("product", product);
    e.j.num2("revenue", price * qty as f64);
    e.j.str("currency", "EUR");
    if ships {
        e.j.raw("promise", b"{\"kind\": \"delivery\", \"within_hours\": 96}");
    }
    sink.push(e, p.idx, Some(anon.clone()));
    if ships && rng.gen_bool(0.93) {
        let td = t + rng.gen_range(18 * HOUR..90 * HOUR);
        let ids = linked(p, &ids);
        let mut e = sink.ev(rng, Channel::Store, "delivery", td);
        p.write_customer(&mut e.j, rng, Channel::Store, &ids, None);
        e.j.str("interaction_id", &order);
        e.j.str("order_id", &order);
        e.j.str("fulfils", "delivery");
        e.j.str("carrier", ["DHL", "Hermes", "DPD"][rng.gen_range(0..3)]);
        sink.push(e, p.idx, Some(order));
    }
}

/// A store visit: shopping, a question or complaint, a test-drive appointment.
fn store_visit(p: &mut Person, rng: &mut ChaCha8Rng, sink: &mut Sink, w: Window) {
    let ch = Channel::Store;
    let mut t = w.time(rng, ch);
    let store = STORES[rng.gen_range(0..STORES.len())];
    let ids = p.pick_ids(rng, ch);
    let r = rng.gen_range(0..100);
    if r < 20 {
        // A booked test drive.
        let mut e = sink.ev(rng, ch, "appointment", t);
        p.write_customer(&mut e.j, rng, ch, &ids, None);
        e.j.str("topic", "test_drive");
        e.j.str("store_id", store);
        e.j.str("model", ["e-compact", "family-suv"][rng.gen_range(0..2)]);
        sink.push(e, p.idx, Some(store.to_string()));
        if rng.gen_bool(0.3) {
            let ts = t + rng.gen_range(3 * HOUR..30 * HOUR);
            survey(p, rng, sink, ts, true);
        }
        return;
    }
    let topic = if r < 45 {
        Some(["product", "refund", "billing"][rng.gen_range(0..3)])
    } else {
        None
    };
    let mut e = sink.ev(rng, ch, "visit", t);
    p.write_customer(&mut e.j, rng, ch, &ids, None);
    e.j.str("store_id", store);
    if let Some(tp) = topic {
        e.j.str("topic", tp);
        e.j.str("text", customer_text(tp, rng));
    }
    sink.push(e, p.idx, Some(store.to_string()));
    let resolved = rng.gen_bool(0.7);
    if topic == Some("refund") && resolved {
        t += rng.gen_range(5..30) * MIN;
        refund(p, rng, sink, t, &ids);
    } else if topic.is_none() && rng.gen_bool(0.6) {
        let (product, price) = amount(rng);
        t += rng.gen_range(5..60) * MIN;
        let mut e = sink.ev(rng, ch, "purchase", t);
        p.write_customer(&mut e.j, rng, ch, &ids, None);
        e.j.str("store_id", store);
        e.j.str("interaction_id", &format!("O-{}", sink.serial()));
        e.j.str("product", product);
        e.j.num2("amount", price);
        e.j.str("currency", "EUR");
        sink.push(e, p.idx, Some(store.to_string()));
    }
    if rng.gen_bool(0.2) {
        let ts = t + rng.gen_range(2 * HOUR..30 * HOUR);
        survey(p, rng, sink, ts, resolved);
    }
}
