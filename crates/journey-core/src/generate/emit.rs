//! Writing native JSON records: a tiny, allocation-light JSON writer, the time
//! notations of the source systems, and the sink that numbers events and
//! collects [`RawRecord`]s.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::RawRecord;
use crate::model::Channel;

/// A minimal JSON object writer (objects of scalars and nested objects), in the
/// `{"key": value, ...}` layout of the format documentation.
#[derive(Debug, Default)]
pub(crate) struct Json {
    pub buf: Vec<u8>,
    first: Vec<bool>,
}

impl Json {
    pub fn clear(&mut self) {
        self.buf.clear();
        self.first.clear();
    }

    pub fn open(&mut self) {
        self.buf.push(b'{');
        self.first.push(true);
    }

    pub fn close(&mut self) {
        self.buf.push(b'}');
        self.first.pop();
    }

    pub fn key(&mut self, k: &str) {
        if let Some(first) = self.first.last_mut() {
            if !*first {
                self.buf.extend_from_slice(b", ");
            }
            *first = false;
        }
        self.buf.push(b'"');
        self.buf.extend_from_slice(k.as_bytes());
        self.buf.extend_from_slice(b"\": ");
    }

    pub fn open_obj(&mut self, k: &str) {
        self.key(k);
        self.open();
    }

    pub fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        write_json_str(&mut self.buf, v);
    }

    pub fn int(&mut self, k: &str, v: i64) {
        self.key(k);
        push_int(&mut self.buf, v);
    }

    /// A number with two decimals (sentiments, amounts).
    pub fn num2(&mut self, k: &str, v: f64) {
        self.key(k);
        let cents = (v * 100.0).round() as i64;
        if cents < 0 {
            self.buf.push(b'-');
        }
        let a = cents.unsigned_abs();
        push_int(&mut self.buf, (a / 100) as i64);
        self.buf.push(b'.');
        let c = a % 100;
        self.buf.push(b'0' + (c / 10) as u8);
        self.buf.push(b'0' + (c % 10) as u8);
    }

    pub fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.buf
            .extend_from_slice(if v { b"true" } else { b"false" });
    }

    /// Raw, already valid JSON (or deliberately broken bytes).
    pub fn raw(&mut self, k: &str, v: &[u8]) {
        self.key(k);
        self.buf.extend_from_slice(v);
    }
}

pub(crate) fn push_int(buf: &mut Vec<u8>, v: i64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    let neg = v < 0;
    let mut a = v.unsigned_abs();
    loop {
        i -= 1;
        tmp[i] = b'0' + (a % 10) as u8;
        a /= 10;
        if a == 0 {
            break;
        }
    }
    if neg {
        buf.push(b'-');
    }
    buf.extend_from_slice(&tmp[i..]);
}

pub(crate) fn write_json_str(buf: &mut Vec<u8>, s: &str) {
    buf.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'\n' => buf.extend_from_slice(b"\\n"),
            b'\t' => buf.extend_from_slice(b"\\t"),
            0..=0x1f => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[(b >> 4) as usize]);
                buf.push(HEX[(b & 15) as usize]);
            }
            _ => buf.push(b),
        }
    }
    buf.push(b'"');
}

// ---------------------------------------------------------------- time

/// The time notations source systems use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeNotation {
    /// `2026-11-14T08:12:00Z`
    IsoZ,
    /// `2026-11-14T08:12:00.123Z`
    IsoZMillis,
    /// `2026-11-14T09:12:00+01:00`
    IsoOffset,
    /// `2026-11-14T09:12:00+0100`
    IsoOffsetNoColon,
    /// `2026-11-14 08:12:00.123000+0000`
    SpaceMicros,
    /// `1794643920`
    EpochSeconds,
    /// `1794643920123`
    EpochMillis,
}

const ALL_NOTATIONS: [TimeNotation; 7] = [
    TimeNotation::IsoZ,
    TimeNotation::IsoZMillis,
    TimeNotation::IsoOffset,
    TimeNotation::IsoOffsetNoColon,
    TimeNotation::SpaceMicros,
    TimeNotation::EpochSeconds,
    TimeNotation::EpochMillis,
];

/// Central European Time in November: UTC+01:00.
const LOCAL_OFFSET_MS: i64 = 3_600_000;

impl TimeNotation {
    /// The habit of each channel's source system, with some drift.
    pub fn pick(rng: &mut ChaCha8Rng, ch: Channel) -> TimeNotation {
        if rng.gen_ratio(1, 7) {
            return ALL_NOTATIONS[rng.gen_range(0..ALL_NOTATIONS.len())];
        }
        match ch {
            Channel::Chat => TimeNotation::IsoOffset,
            Channel::Phone => TimeNotation::EpochSeconds,
            Channel::Email => TimeNotation::SpaceMicros,
            Channel::Web => TimeNotation::EpochMillis,
            Channel::Store => TimeNotation::IsoZ,
            Channel::Survey => TimeNotation::IsoOffsetNoColon,
        }
    }

    pub fn carries_millis(self) -> bool {
        matches!(
            self,
            TimeNotation::IsoZMillis | TimeNotation::SpaceMicros | TimeNotation::EpochMillis
        )
    }
}

/// Days since 1970-01-01 → (year, month, day) (proleptic Gregorian).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn push2(buf: &mut Vec<u8>, v: u32) {
    buf.push(b'0' + (v / 10 % 10) as u8);
    buf.push(b'0' + (v % 10) as u8);
}

/// `YYYY-MM-DD<sep>HH:MM:SS` of the wall-clock time `ms` (already shifted).
fn push_civil(buf: &mut Vec<u8>, ms: i64, sep: u8) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    push_int(buf, y);
    buf.push(b'-');
    push2(buf, m);
    buf.push(b'-');
    push2(buf, d);
    buf.push(sep);
    push2(buf, sod / 3600);
    buf.push(b':');
    push2(buf, sod / 60 % 60);
    buf.push(b':');
    push2(buf, sod % 60);
}

fn push_millis(buf: &mut Vec<u8>, ms: i64) {
    let f = ms.rem_euclid(1000) as u32;
    buf.push(b'.');
    buf.push(b'0' + (f / 100) as u8);
    push2(buf, f % 100);
}

/// Writes `t_ms` in the notation as a JSON value (string or number).
pub(crate) fn push_time(buf: &mut Vec<u8>, n: TimeNotation, t_ms: i64) {
    match n {
        TimeNotation::EpochSeconds => push_int(buf, t_ms.div_euclid(1000)),
        TimeNotation::EpochMillis => push_int(buf, t_ms),
        TimeNotation::IsoZ | TimeNotation::IsoZMillis => {
            buf.push(b'"');
            push_civil(buf, t_ms, b'T');
            if n == TimeNotation::IsoZMillis {
                push_millis(buf, t_ms);
            }
            buf.extend_from_slice(b"Z\"");
        }
        TimeNotation::IsoOffset | TimeNotation::IsoOffsetNoColon => {
            buf.push(b'"');
            push_civil(buf, t_ms + LOCAL_OFFSET_MS, b'T');
            buf.extend_from_slice(if n == TimeNotation::IsoOffset {
                b"+01:00\""
            } else {
                b"+0100\""
            });
        }
        TimeNotation::SpaceMicros => {
            buf.push(b'"');
            push_civil(buf, t_ms, b' ');
            push_millis(buf, t_ms);
            buf.extend_from_slice(b"000+0000\"");
        }
    }
}

// ---------------------------------------------------------------- ids

/// SplitMix64: a bijection on u64, used to make counters look random.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uuid-looking string from 128 random bits.
pub(crate) fn uuid_like(rng: &mut ChaCha8Rng) -> String {
    let a: u64 = rng.gen();
    let b: u64 = rng.gen();
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

// ---------------------------------------------------------------- sink

/// An event being written: the JSON object is open until [`Sink::push`].
pub(crate) struct Ev {
    pub ch: Channel,
    pub t: i64,
    pub sid: String,
    pub j: Json,
}

/// Collects records and hands out unique event, interaction, case and order ids.
pub(crate) struct Sink {
    pub records: Vec<RawRecord>,
    counter: u64,
    base: u64,
    spare: Vec<Json>,
    /// Every anonymous web session ends identified (see `GeneratorConfig::unidentified_sessions`).
    pub identify_every_session: bool,
}

impl Sink {
    pub fn new(seed: u64, capacity: usize) -> Sink {
        Sink {
            records: Vec::with_capacity(capacity),
            counter: 0,
            base: 100_000 + mix64(seed) % 800_000,
            spare: Vec::new(),
            identify_every_session: false,
        }
    }

    fn next(&mut self) -> u64 {
        self.counter += 1;
        self.counter
    }

    /// A fresh number, unique within this generation run (for interaction ids).
    pub fn serial(&mut self) -> u64 {
        self.base * 1000 + self.next()
    }

    /// Starts an event: writes `id`, `time` (in the channel's notation; `t_sec`
    /// is cut to whole seconds, then notations that carry milliseconds get a
    /// random millisecond part) and `type`.
    pub fn ev(&mut self, rng: &mut ChaCha8Rng, ch: Channel, ty: &str, t_sec: i64) -> Ev {
        let n = self.next();
        let mut j = self.spare.pop().unwrap_or_default();
        j.clear();
        j.open();
        let sid = match ch {
            Channel::Chat => format!("c-{}", self.base * 10_000 + n),
            Channel::Phone => (self.base * 10_000 + n).to_string(),
            Channel::Email => format!("m-{}", self.base * 10_000 + n),
            Channel::Web => {
                let h = mix64(n ^ (self.base << 40));
                format!(
                    "{:08x}-{:04x}-4{:03x}-a{:03x}-{:012x}",
                    h >> 32,
                    (h >> 16) & 0xffff,
                    h & 0xfff,
                    (n >> 48) & 0xfff,
                    n & 0xffff_ffff_ffff
                )
            }
            Channel::Store => format!("s-{}", self.base * 10_000 + n),
            Channel::Survey => format!("q-{}", self.base * 10_000 + n),
        };
        if ch == Channel::Phone {
            j.raw("id", sid.as_bytes());
        } else {
            j.str("id", &sid);
        }
        let notation = TimeNotation::pick(rng, ch);
        let t_sec = t_sec.div_euclid(1000) * 1000;
        let t = if notation.carries_millis() {
            t_sec + rng.gen_range(0..1000)
        } else {
            t_sec
        };
        j.key("time");
        push_time(&mut j.buf, notation, t);
        j.str("type", ty);
        Ev { ch, t, sid, j }
    }

    /// Finishes the event and stores it; returns its source event id.
    pub fn push(&mut self, mut ev: Ev, truth: usize, key: Option<String>) -> String {
        ev.j.close();
        self.records.push(RawRecord {
            channel: ev.ch,
            key,
            payload: ev.j.buf.as_slice().to_vec(),
            event_time_ms: ev.t,
            truth: Some(truth),
            malformed: false,
        });
        self.spare.push(ev.j);
        ev.sid
    }

    /// Stores a broken record as is.
    pub fn push_malformed(&mut self, ch: Channel, key: Option<String>, payload: Vec<u8>, t: i64) {
        self.records.push(RawRecord {
            channel: ch,
            key,
            payload,
            event_time_ms: t,
            truth: None,
            malformed: true,
        });
    }
}
