//! The customers: their identifiers, households that share a landline, and the
//! noisy notations in which each channel writes those identifiers.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::emit::{uuid_like, Json};
use super::TrueCustomer;
use crate::model::{Channel, IdType, Identifier};

const FIRST: &[&str] = &[
    "anna", "lukas", "marie", "leon", "sophie", "finn", "emma", "paul", "mia", "jonas", "hannah",
    "felix", "lea", "elias", "lena", "noah", "laura", "ben", "julia", "max", "sarah", "tim",
    "katrin", "juergen", "ursula", "stefan", "sabine", "thomas", "petra", "michael", "aylin",
    "mehmet", "olga", "dmitri", "chiara", "luca",
];
const LAST: &[&str] = &[
    "mueller",
    "schmidt",
    "schneider",
    "fischer",
    "weber",
    "meyer",
    "wagner",
    "becker",
    "schulz",
    "hoffmann",
    "koch",
    "richter",
    "klein",
    "wolf",
    "schroeder",
    "neumann",
    "schwarz",
    "braun",
    "zimmermann",
    "hartmann",
    "krueger",
    "lange",
    "werner",
    "krause",
    "lehmann",
    "koehler",
    "maier",
    "huber",
    "kaiser",
    "fuchs",
    "yilmaz",
    "kowalski",
];
/// Reserved example domains: no generated address can belong to a real person.
const DOMAINS: &[&str] = &[
    "example.de",
    "example.com",
    "example.org",
    "example.net",
    "mail.example",
    "post.example",
];
/// German mobile prefixes (without the trunk 0) and the subscriber length libphonenumber accepts.
const MOBILE: &[(&str, usize)] = &[
    ("151", 8),
    ("152", 8),
    ("157", 8),
    ("159", 8),
    ("160", 7),
    ("162", 7),
    ("163", 7),
    ("170", 7),
    ("171", 7),
    ("172", 7),
    ("173", 7),
    ("174", 7),
    ("175", 7),
    ("176", 8),
    ("177", 7),
    ("178", 7),
    ("179", 7),
];
/// Area codes for household landlines: Berlin, Hamburg, Munich, Cologne, Frankfurt.
const AREAS: &[&str] = &["30", "40", "89", "221", "69"];

/// A deterministic per-customer random stream.
pub(crate) fn rng_for(seed: u64, idx: usize, purpose: u64) -> ChaCha8Rng {
    let s = super::emit::mix64(seed ^ super::emit::mix64((idx as u64) << 8 | purpose));
    ChaCha8Rng::seed_from_u64(s)
}

/// A bijection on `0..modulus` (for unique, non-sequential numbers).
fn perm(idx: usize, modulus: u64, salt: u64) -> u64 {
    // 1_000_003 is prime and shares no factor with powers of ten.
    ((idx as u64 % modulus) * 1_000_003 + salt % modulus) % modulus
}

/// A German phone number: national significant number split into area/prefix and subscriber.
#[derive(Debug, Clone)]
pub(crate) struct Phone {
    pub area: String,
    pub sub: String,
}

impl Phone {
    pub fn e164(&self) -> String {
        format!("+49{}{}", self.area, self.sub)
    }

    /// One of the notations people and systems write.
    pub fn notation(&self, rng: &mut ChaCha8Rng, ch: Channel) -> String {
        let (a, s) = (&self.area, &self.sub);
        let r = rng.gen_range(0..100);
        let style = match ch {
            // CTI systems: mostly E.164, sometimes without the plus or as a tel: URI.
            Channel::Phone => match r {
                0..=54 => 3,
                55..=79 => 5,
                80..=89 => 4,
                _ => 0,
            },
            // Typed by a clerk or the customer.
            _ => match r {
                0..=29 => 0,
                30..=44 => 1,
                45..=59 => 2,
                60..=74 => 3,
                75..=82 => 4,
                83..=90 => 5,
                _ => 6,
            },
        };
        match style {
            0 => format!("0{a} {s}"),
            1 => format!("0{a}/{s}"),
            2 => format!("+49 (0){a} {s}"),
            3 => format!("+49{a}{s}"),
            4 => format!("tel:+49{a}{s}"),
            5 => format!("49{a}{s}"),
            _ => format!("0049 {a} {s}"),
        }
    }
}

/// The kinds of identifier a record can carry (anonymous ids are passed separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdK {
    Cn,
    Email,
    Mobile,
    Landline,
    Loyalty,
    User,
}

#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub idx: usize,
    pub cn: Option<u64>,
    pub email: Option<String>,
    pub mobile: Option<Phone>,
    pub landline: Option<Phone>,
    pub partner: Option<usize>,
    pub loyalty: Option<String>,
    pub user: Option<String>,
    pub cookies: Vec<String>,
    /// Channel affinity for episodes: web, chat, phone, email, store.
    pub weights: [u32; 5],
    /// Mean number of episodes over 14 days.
    pub activity: f64,
    /// Plays a scripted story: quiet background only.
    pub story: bool,
}

impl Person {
    pub fn new(seed: u64, idx: usize, story: bool) -> Person {
        let mut rng = rng_for(seed, idx, 1);
        let first = *FIRST.choose(&mut rng).unwrap_or(&"anna");
        let last = *LAST.choose(&mut rng).unwrap_or(&"schmidt");
        let mut cn = rng
            .gen_bool(0.85)
            .then(|| 1_000_000 + perm(idx, 9_000_000, seed));
        let mut email = rng
            .gen_bool(0.88)
            .then(|| make_email(&mut rng, first, last, idx));
        let mut mobile = rng.gen_bool(0.6).then(|| make_mobile(&mut rng, idx, seed));
        let store_person = rng.gen_bool(0.45);
        let mut loyalty = (store_person && rng.gen_bool(0.55))
            .then(|| format!("L-{:08}", perm(idx, 100_000_000, seed >> 7)));
        let mut user = rng
            .gen_bool(0.5)
            .then(|| format!("u-{:07x}", 0x100_0000 + perm(idx, 0xf00_0000, seed >> 13)));
        let count = |cn: &Option<u64>,
                     e: &Option<String>,
                     m: &Option<Phone>,
                     l: &Option<String>,
                     u: &Option<String>| {
            cn.is_some() as u32
                + e.is_some() as u32
                + m.is_some() as u32
                + l.is_some() as u32
                + u.is_some() as u32
        };
        while count(&cn, &email, &mobile, &loyalty, &user) < 2 {
            if cn.is_none() {
                cn = Some(1_000_000 + perm(idx, 9_000_000, seed));
            } else if email.is_none() {
                email = Some(make_email(&mut rng, first, last, idx));
            }
        }
        if story {
            cn.get_or_insert(1_000_000 + perm(idx, 9_000_000, seed));
            if email.is_none() {
                email = Some(make_email(&mut rng, first, last, idx));
            }
            if mobile.is_none() {
                mobile = Some(make_mobile(&mut rng, idx, seed));
            }
            if user.is_none() {
                user = Some(format!(
                    "u-{:07x}",
                    0x100_0000 + perm(idx, 0xf00_0000, seed >> 13)
                ));
            }
            if loyalty.is_none() {
                loyalty = Some(format!("L-{:08}", perm(idx, 100_000_000, seed >> 7)));
            }
        }
        let mut weights = [40, 12, 12, 14, if store_person { 30 } else { 8 }];
        // Personas: digital natives, phone people, mail writers.
        match rng.gen_range(0..10) {
            0..=2 => {
                weights[0] += 25;
                weights[1] += 10;
            }
            3 => weights[2] += 25,
            4 => weights[3] += 20,
            _ => {}
        }
        let activity = [1.5, 2.5, 3.0, 3.5, 4.0, 5.0, 7.0][rng.gen_range(0..7)];
        Person {
            idx,
            cn,
            email,
            mobile,
            landline: None,
            partner: None,
            loyalty,
            user,
            cookies: Vec::new(),
            weights,
            activity,
            story,
        }
    }

    pub fn has(&self, k: IdK) -> bool {
        match k {
            IdK::Cn => self.cn.is_some(),
            IdK::Email => self.email.is_some(),
            IdK::Mobile => self.mobile.is_some(),
            IdK::Landline => self.landline.is_some(),
            IdK::Loyalty => self.loyalty.is_some(),
            IdK::User => self.user.is_some(),
        }
    }

    /// A device cookie: usually a known device, sometimes a fresh one (new
    /// browser, cleared cookies).
    pub fn cookie(&mut self, rng: &mut ChaCha8Rng) -> String {
        if self.cookies.is_empty() || (self.cookies.len() < 4 && rng.gen_bool(0.2)) {
            self.new_cookie(rng)
        } else {
            self.cookies[rng.gen_range(0..self.cookies.len())].clone()
        }
    }

    pub fn new_cookie(&mut self, rng: &mut ChaCha8Rng) -> String {
        let c = uuid_like(rng);
        self.cookies.push(c.clone());
        c
    }

    /// Identifiers an assisted channel typically captures for this person.
    pub fn pick_ids(&self, rng: &mut ChaCha8Rng, ch: Channel) -> Vec<IdK> {
        let mut out = Vec::with_capacity(3);
        let prefs: &[IdK] = match ch {
            Channel::Chat => &[IdK::Email, IdK::User, IdK::Cn, IdK::Mobile, IdK::Loyalty],
            Channel::Phone => {
                if self.landline.is_some() && (self.mobile.is_none() || rng.gen_bool(0.5)) {
                    &[IdK::Landline]
                } else {
                    &[IdK::Mobile, IdK::Cn, IdK::Email, IdK::User, IdK::Loyalty]
                }
            }
            Channel::Email | Channel::Survey => {
                &[IdK::Email, IdK::Cn, IdK::User, IdK::Mobile, IdK::Loyalty]
            }
            Channel::Store => {
                if self.loyalty.is_some() && rng.gen_bool(0.6) {
                    &[IdK::Loyalty]
                } else {
                    &[IdK::Cn, IdK::Loyalty, IdK::Mobile, IdK::Email, IdK::User]
                }
            }
            Channel::Web => &[IdK::User, IdK::Email, IdK::Cn],
        };
        if let Some(&k) = prefs.iter().find(|&&k| self.has(k)) {
            out.push(k);
        }
        if out == [IdK::Landline] {
            // A shared landline alone does not say who calls: the IVR asks.
            if let Some(k) = [IdK::Cn, IdK::Email].into_iter().find(|&k| self.has(k)) {
                out.push(k);
            }
        }
        let extra = match ch {
            Channel::Chat => 0.3,
            Channel::Phone => 0.45,
            Channel::Email => 0.25,
            Channel::Store => 0.5,
            Channel::Survey => 0.4,
            Channel::Web => 0.0,
        };
        if rng.gen_bool(extra) {
            let k = [IdK::Cn, IdK::Email, IdK::Mobile, IdK::Loyalty][rng.gen_range(0..4)];
            if self.has(k) && !out.contains(&k) {
                out.push(k);
            }
        }
        if out.is_empty() {
            // Every person has at least two of these.
            if let Some(k) = [IdK::Cn, IdK::Email, IdK::Mobile, IdK::Loyalty, IdK::User]
                .into_iter()
                .find(|&k| self.has(k))
            {
                out.push(k);
            }
        }
        out
    }

    /// Writes the `customer` object: the given identifiers in the channel's
    /// notations, the anonymous id if any, and now and then a junk value in a
    /// field that is not otherwise used.
    pub fn write_customer(
        &self,
        j: &mut Json,
        rng: &mut ChaCha8Rng,
        ch: Channel,
        ids: &[IdK],
        anon: Option<&str>,
    ) {
        j.open_obj("customer");
        let mut used: [bool; 6] = [false; 6]; // customer_number, email, phone, loyalty_id, user_id, anonymous_id
        for &k in ids {
            match k {
                IdK::Cn => {
                    if let Some(cn) = self.cn {
                        let as_number = match ch {
                            Channel::Phone => rng.gen_bool(0.7),
                            Channel::Store => rng.gen_bool(0.8),
                            Channel::Chat => rng.gen_bool(0.3),
                            _ => rng.gen_bool(0.15),
                        };
                        if as_number {
                            j.int("customer_number", cn as i64);
                        } else {
                            j.str("customer_number", &cn.to_string());
                        }
                        used[0] = true;
                    }
                }
                IdK::Email => {
                    if let Some(e) = &self.email {
                        j.str("email", &email_notation(rng, e, ch));
                        used[1] = true;
                    }
                }
                IdK::Mobile | IdK::Landline => {
                    let p = if k == IdK::Mobile {
                        &self.mobile
                    } else {
                        &self.landline
                    };
                    if let (Some(p), false) = (p, used[2]) {
                        j.str("phone", &p.notation(rng, ch));
                        used[2] = true;
                    }
                }
                IdK::Loyalty => {
                    if let Some(l) = &self.loyalty {
                        j.str("loyalty_id", l);
                        used[3] = true;
                    }
                }
                IdK::User => {
                    if let Some(u) = &self.user {
                        j.str("user_id", u);
                        used[4] = true;
                    }
                }
            }
        }
        if let Some(a) = anon {
            j.str("anonymous_id", a);
            used[5] = true;
        }
        if rng.gen_ratio(1, 25) {
            write_junk(j, rng, &used);
        }
        j.close();
    }

    pub fn truth(&self) -> TrueCustomer {
        let mut identifiers = Vec::new();
        if let Some(cn) = self.cn {
            identifiers.push(Identifier::new(IdType::CustomerNumber, cn.to_string()));
        }
        if let Some(l) = &self.loyalty {
            identifiers.push(Identifier::new(IdType::LoyaltyId, l.clone()));
        }
        if let Some(u) = &self.user {
            identifiers.push(Identifier::new(IdType::UserId, u.clone()));
        }
        if let Some(e) = &self.email {
            identifiers.push(Identifier::new(IdType::Email, e.clone()));
        }
        if let Some(m) = &self.mobile {
            identifiers.push(Identifier::new(IdType::Phone, m.e164()));
        }
        for c in &self.cookies {
            identifiers.push(Identifier::new(IdType::AnonymousId, c.clone()));
        }
        identifiers.sort();
        TrueCustomer {
            index: self.idx,
            identifiers,
            shared_identifiers: self
                .landline
                .iter()
                .map(|p| Identifier::new(IdType::Phone, p.e164()))
                .collect(),
            household_partner: self.partner,
        }
    }
}

fn make_email(rng: &mut ChaCha8Rng, first: &str, last: &str, idx: usize) -> String {
    let domain = DOMAINS[rng.gen_range(0..DOMAINS.len())];
    // The index keeps every address unique; the style varies.
    match rng.gen_range(0..4) {
        0 => format!("{first}.{last}{idx}@{domain}"),
        1 => format!("{}{last}{idx}@{domain}", &first[..1]),
        2 => format!("{first}_{last}{idx}@{domain}"),
        _ => format!("{last}.{first}{idx}@{domain}"),
    }
}

fn make_mobile(rng: &mut ChaCha8Rng, idx: usize, seed: u64) -> Phone {
    let (prefix, len) = MOBILE[rng.gen_range(0..MOBILE.len())];
    // Unique per customer: the first 7 digits are a bijection of the index.
    let mut sub = format!("{:07}", perm(idx, 10_000_000, seed >> 3));
    if len == 8 {
        sub.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    Phone {
        area: prefix.to_string(),
        sub,
    }
}

/// A landline for household `h` (unique per household).
pub(crate) fn make_landline(rng: &mut ChaCha8Rng, h: usize, seed: u64) -> Phone {
    let area = AREAS[rng.gen_range(0..AREAS.len())];
    let digits = if area.len() == 2 { 8 } else { 7 };
    let modulus = 10u64.pow(digits - 1);
    let lead = rng.gen_range(2..10u8);
    let sub = format!(
        "{}{:0width$}",
        lead,
        perm(h, modulus, seed >> 5),
        width = (digits - 1) as usize
    );
    Phone {
        area: area.to_string(),
        sub,
    }
}

fn email_notation(rng: &mut ChaCha8Rng, e: &str, ch: Channel) -> String {
    let r = rng.gen_range(0..100);
    let (cap, upper, spaces) = match ch {
        Channel::Chat => (r < 25, false, (25..35).contains(&r)),
        Channel::Email => (r < 30, false, false),
        Channel::Store => (r < 15, (15..30).contains(&r), (30..45).contains(&r)),
        Channel::Web => (r < 10, false, (10..15).contains(&r)),
        _ => (r < 10, false, false),
    };
    let mut s = if upper {
        e.to_uppercase()
    } else if cap {
        capitalise(e)
    } else {
        e.to_string()
    };
    if spaces {
        s = format!(" {s} ");
    }
    s
}

/// `anna.schmidt7@example.de` → `Anna.Schmidt7@Example.DE`
fn capitalise(e: &str) -> String {
    let (local, domain) = e.split_once('@').unwrap_or((e, ""));
    let mut out = String::with_capacity(e.len());
    let mut up = true;
    for c in local.chars() {
        out.push(if up { c.to_ascii_uppercase() } else { c });
        up = !c.is_ascii_alphanumeric();
    }
    out.push('@');
    match domain.rsplit_once('.') {
        Some((host, tld)) => {
            let mut h = host.chars();
            if let Some(c) = h.next() {
                out.push(c.to_ascii_uppercase());
            }
            out.extend(h);
            out.push('.');
            out.push_str(&tld.to_ascii_uppercase());
        }
        None => out.push_str(domain),
    }
    out
}

/// One junk value in an identifier field not already used.
fn write_junk(j: &mut Json, rng: &mut ChaCha8Rng, used: &[bool; 6]) {
    let options: [(usize, &str, &[u8]); 10] = [
        (0, "customer_number", b"-1"),
        (0, "customer_number", b"\"0\""),
        (0, "customer_number", b"\"\""),
        (1, "email", b"\"test@test.com\""),
        (1, "email", b"\"\""),
        (2, "phone", b"\"\""),
        (2, "phone", b"\"undefined\""),
        (3, "loyalty_id", b"\"null\""),
        (4, "user_id", b"\"undefined\""),
        (4, "user_id", b"\"null\""),
    ];
    let start = rng.gen_range(0..options.len());
    for i in 0..options.len() {
        let (slot, k, v) = options[(start + i) % options.len()];
        if !used[slot] {
            j.raw(k, v);
            return;
        }
    }
}

/// Builds the population; story customers are never in a household.
pub(crate) fn population(seed: u64, n: usize, story: &[bool]) -> Vec<Person> {
    let mut people: Vec<Person> = (0..n)
        .map(|i| Person::new(seed, i, story.get(i).copied().unwrap_or(false)))
        .collect();
    // Households: about 4% of customers live in pairs that share a landline.
    let mut rng = rng_for(seed, usize::MAX, 9);
    let mut households = 0usize;
    let mut i = 0;
    while i + 1 < n {
        if !people[i].story && !people[i + 1].story && rng.gen_ratio(1, 50) {
            let phone = make_landline(&mut rng, households, seed);
            households += 1;
            people[i].landline = Some(phone.clone());
            people[i + 1].landline = Some(phone);
            people[i].partner = Some(i + 1);
            people[i + 1].partner = Some(i);
            i += 2;
        } else {
            i += 1;
        }
    }
    people
}
