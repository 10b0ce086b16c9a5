//! Avro encoding of the canonical records ([`crate::model`]) for Kafka.
//!
//! The schemas are the `.avsc` files in `schemas/` at the workspace root,
//! compiled in with `include_str!` and parsed once. A value goes
//! `T: Serialize` → Avro datum (straight from the struct, no intermediate
//! `Value` tree) → framed with either the Avro single-object header or the
//! Confluent wire-format header; decoding checks the header first, then reads
//! the datum into `T`.
//!
//! The datum is written and read by `serde_avro_fast` (measured several times
//! faster than the `apache_avro::types::Value` path, with byte-identical
//! output: see `docs/avro.md` and the `journey-benches` crate); `apache_avro`
//! parses the schemas, computes the fingerprints and is the reference the tests
//! check every byte against.
//!
//! ```
//! use journey_core::avro::{AvroCodec, Framing, RecordType};
//! # use journey_core::model::*;
//! # let event = JourneyEvent {
//! #     event_id: "e1".into(), source_event_id: "m1".into(), channel: Channel::Web,
//! #     format: "segment".into(), activity: Activity::PageView, event_time_ms: 1,
//! #     identifiers: vec![], interaction_id: None, case_id: None, topic: None,
//! #     promise: None, fulfils: None, resolves: false, score: None, sentiment: None, transfer_count: 0, source_updated_ms: None, needs_enrichment: false,
//! #     source: SourceRef::default(),
//! # };
//! let codec = AvroCodec::new(RecordType::JourneyEvent, Framing::SingleObject);
//! let bytes = codec.encode(&event)?;
//! assert_eq!(&bytes[..2], &[0xC3, 0x01]);
//! let back: JourneyEvent = codec.decode(&bytes)?;
//! assert_eq!(back, event);
//! # Ok::<(), journey_core::avro::AvroError>(())
//! ```

use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// How an encoded datum is framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// Avro single-object encoding: `0xC3 0x01`, the 8-byte little-endian
    /// CRC-64-AVRO (Rabin) fingerprint of the schema's canonical form, then the datum.
    SingleObject,
    /// Confluent wire format: `0x00`, the 4-byte big-endian schema id from the
    /// registry, then the datum.
    Confluent { schema_id: u32 },
}

impl Framing {
    fn label(self) -> &'static str {
        match self {
            Framing::SingleObject => "single-object",
            Framing::Confluent { .. } => "confluent",
        }
    }
}

/// The records that have a schema in `schemas/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordType {
    JourneyEvent,
    Handover,
    JourneyAlert,
    MergeRecord,
    IdentityReview,
}

/// A schema compiled once per process: both libraries' views and the fingerprint.
struct Compiled {
    schema: apache_avro::Schema,
    fast: serde_avro_fast::Schema,
    fingerprint: [u8; 8],
}

static COMPILED: [OnceLock<Compiled>; 5] = [const { OnceLock::new() }; 5];

impl RecordType {
    pub const ALL: [RecordType; 5] = [
        RecordType::JourneyEvent,
        RecordType::Handover,
        RecordType::JourneyAlert,
        RecordType::MergeRecord,
        RecordType::IdentityReview,
    ];

    /// The record name (without namespace), also the `.avsc` file stem.
    pub fn name(&self) -> &'static str {
        match self {
            RecordType::JourneyEvent => "JourneyEvent",
            RecordType::Handover => "Handover",
            RecordType::JourneyAlert => "JourneyAlert",
            RecordType::MergeRecord => "MergeRecord",
            RecordType::IdentityReview => "IdentityReview",
        }
    }

    /// The schema's JSON text, exactly as in `schemas/<name>.avsc`.
    pub fn schema_json(&self) -> &'static str {
        match self {
            RecordType::JourneyEvent => include_str!("../../../schemas/JourneyEvent.avsc"),
            RecordType::Handover => include_str!("../../../schemas/Handover.avsc"),
            RecordType::JourneyAlert => include_str!("../../../schemas/JourneyAlert.avsc"),
            RecordType::MergeRecord => include_str!("../../../schemas/MergeRecord.avsc"),
            RecordType::IdentityReview => include_str!("../../../schemas/IdentityReview.avsc"),
        }
    }

    /// The parsed schema (parsed on first use, then shared).
    pub fn schema(&self) -> &'static apache_avro::Schema {
        &self.compiled().schema
    }

    /// The CRC-64-AVRO (Rabin) fingerprint of the schema's canonical form,
    /// little-endian, as it appears in the single-object header.
    pub fn fingerprint(&self) -> [u8; 8] {
        self.compiled().fingerprint
    }

    fn compiled(&self) -> &'static Compiled {
        COMPILED[*self as usize].get_or_init(|| {
            let json = self.schema_json();
            // The schemas are compiled in and the tests parse every one of them,
            // so a failure here is a build defect, not an input error.
            let schema = apache_avro::Schema::parse_str(json)
                .unwrap_or_else(|e| panic!("schemas/{}.avsc does not parse: {e}", self.name()));
            let fast: serde_avro_fast::Schema = json
                .parse()
                .unwrap_or_else(|e| panic!("schemas/{}.avsc does not parse: {e}", self.name()));
            // apache_avro's fingerprint, not serde_avro_fast's: for fields with a
            // logical type the two canonical forms differ (`{"type":"long"}` vs
            // `"long"`); apache_avro agrees with the Python `avro` package. See
            // docs/avro.md.
            let mut fingerprint = [0u8; 8];
            fingerprint.copy_from_slice(&schema.fingerprint::<apache_avro::rabin::Rabin>().bytes);
            Compiled {
                schema,
                fast,
                fingerprint,
            }
        })
    }
}

impl std::fmt::Display for RecordType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    #[error("{framing} message of {len} bytes is shorter than its {header_len}-byte header")]
    Truncated {
        framing: &'static str,
        len: usize,
        header_len: usize,
    },
    #[error("bad {framing} magic bytes {found:02x?} (expected {expected:02x?})")]
    BadMagic {
        framing: &'static str,
        found: Vec<u8>,
        expected: Vec<u8>,
    },
    #[error(
        "schema fingerprint {found:02x?} is not the {record} schema fingerprint {expected:02x?}"
    )]
    FingerprintMismatch {
        record: RecordType,
        found: [u8; 8],
        expected: [u8; 8],
    },
    #[error("schema id {found} is not the configured {record} schema id {expected}")]
    SchemaIdMismatch {
        record: RecordType,
        found: u32,
        expected: u32,
    },
    #[error("cannot encode {record} as avro: {detail}")]
    Encode { record: RecordType, detail: String },
    #[error("cannot decode {record} avro datum: {detail}")]
    Decode { record: RecordType, detail: String },
}

impl AvroError {
    /// The bytes are at fault (→ dead letter), not the program: everything but
    /// [`AvroError::Encode`], which means a value does not fit its schema.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, AvroError::Encode { .. })
    }
}

/// Encodes and decodes one record type with one framing. Cheap to build and
/// to share between threads (`Send + Sync`, no interior state).
#[derive(Debug, Clone)]
pub struct AvroCodec {
    record: RecordType,
    framing: Framing,
    header: [u8; 10],
    header_len: usize,
}

impl AvroCodec {
    pub fn new(record: RecordType, framing: Framing) -> Self {
        let mut header = [0u8; 10];
        let header_len = match framing {
            Framing::SingleObject => {
                header[..2].copy_from_slice(&[0xC3, 0x01]);
                header[2..].copy_from_slice(&record.fingerprint());
                10
            }
            Framing::Confluent { schema_id } => {
                header[0] = 0x00;
                header[1..5].copy_from_slice(&schema_id.to_be_bytes());
                5
            }
        };
        AvroCodec {
            record,
            framing,
            header,
            header_len,
        }
    }

    pub fn record(&self) -> RecordType {
        self.record
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The framing header every message of this codec starts with.
    pub fn header(&self) -> &[u8] {
        &self.header[..self.header_len]
    }

    /// Encodes `value` into a new buffer: header, then the Avro datum.
    ///
    /// # Errors
    /// [`AvroError::Encode`] when the value does not fit the schema (a type
    /// that disagrees with its `.avsc`; the tests rule this out for the model).
    pub fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, AvroError> {
        let mut out = Vec::with_capacity(256);
        self.encode_into(value, &mut out)?;
        Ok(out)
    }

    /// Appends header and datum to `out`, so that a hot loop can reuse one
    /// buffer. On error `out` is left as it was.
    ///
    /// # Errors
    /// As [`AvroCodec::encode`].
    pub fn encode_into<T: Serialize>(&self, value: &T, out: &mut Vec<u8>) -> Result<(), AvroError> {
        let start = out.len();
        out.extend_from_slice(self.header());
        let compiled = self.record.compiled();
        let mut config = serde_avro_fast::ser::SerializerConfig::new(&compiled.fast);
        match serde_avro_fast::to_datum(value, &mut *out, &mut config) {
            Ok(_) => Ok(()),
            Err(e) => {
                out.truncate(start);
                Err(AvroError::Encode {
                    record: self.record,
                    detail: e.to_string(),
                })
            }
        }
    }

    /// Checks the framing header (magic byte(s) and fingerprint or schema id),
    /// then decodes the datum that follows into `T`.
    ///
    /// Bytes after the datum are ignored, as Avro and Confluent readers do.
    ///
    /// # Errors
    /// [`AvroError::Truncated`], [`AvroError::BadMagic`],
    /// [`AvroError::FingerprintMismatch`] or [`AvroError::SchemaIdMismatch`] for a
    /// wrong header; [`AvroError::Decode`] when the datum does not decode.
    pub fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, AvroError> {
        let datum = self.check_header(bytes)?;
        serde_avro_fast::from_datum_slice(datum, &self.record.compiled().fast).map_err(|e| {
            AvroError::Decode {
                record: self.record,
                detail: e.to_string(),
            }
        })
    }

    /// Returns the datum after a valid header.
    fn check_header<'b>(&self, bytes: &'b [u8]) -> Result<&'b [u8], AvroError> {
        let framing = self.framing.label();
        let header = self.header();
        if bytes.len() < header.len() {
            return Err(AvroError::Truncated {
                framing,
                len: bytes.len(),
                header_len: header.len(),
            });
        }
        let (found, datum) = bytes.split_at(header.len());
        if found == header {
            return Ok(datum);
        }
        match self.framing {
            Framing::SingleObject => {
                if found[..2] != header[..2] {
                    return Err(AvroError::BadMagic {
                        framing,
                        found: found[..2].to_vec(),
                        expected: header[..2].to_vec(),
                    });
                }
                let mut fingerprint = [0u8; 8];
                fingerprint.copy_from_slice(&found[2..]);
                Err(AvroError::FingerprintMismatch {
                    record: self.record,
                    found: fingerprint,
                    expected: self.record.fingerprint(),
                })
            }
            Framing::Confluent { schema_id } => {
                if found[0] != header[0] {
                    return Err(AvroError::BadMagic {
                        framing,
                        found: found[..1].to_vec(),
                        expected: header[..1].to_vec(),
                    });
                }
                Err(AvroError::SchemaIdMismatch {
                    record: self.record,
                    found: u32::from_be_bytes([found[1], found[2], found[3], found[4]]),
                    expected: schema_id,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests;
