//! The pure logic of journey-stitch. No Kafka, no RocksDB: everything here is
//! synchronous and deterministic, so it tests fast and serves as the oracle.
//!
//! Data flows one way:
//! raw bytes → [`normalize`] → [`model::JourneyEvent`] → [`identity`] (who is it?)
//! → [`journey`] (per-customer state) → [`rules`] and [`handover`] → outputs.
//! [`fold`] composes identity, journeys, rules and handovers over one
//! component's events in `(event_time, event_id)` order; [`oracle`] is the same
//! fold over a whole input, the specification the distributed pipeline is
//! tested against.

pub mod avro;
pub mod component;
pub mod fold;
pub mod generate;
pub mod handover;
pub mod identity;
pub mod ids;
pub mod journey;
pub mod model;
pub mod normalize;
pub mod oracle;
pub mod rules;
pub mod store;
