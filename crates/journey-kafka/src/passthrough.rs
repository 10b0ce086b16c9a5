//! The plumbing without the logic, for `journey bench`: the same three
//! consumer groups, Kafka hops, batch loop, acknowledgement waits and
//! RocksDB offset writes as the pipeline, but every stage only forwards the
//! bytes (raw → events → stitch → nothing). The gap between this and the
//! plain drain is what the plumbing costs; the gap between this and the
//! pipeline is what the logic adds.

use journey_core::store::WriteBatch;
use prometheus::IntCounter;
use rdkafka::message::{BorrowedMessage, Message};

use crate::partition_of;
use crate::records::Outgoing;
use crate::stage::StageLogic;
use crate::PipelineError;

const NAMES: [&str; 3] = [
    "passthrough-normalise",
    "passthrough-identity",
    "passthrough-stitch",
];

/// Forwards every record to `to` (or nowhere), spreading by key hash like the pipeline.
pub struct Forward<const STAGE: usize> {
    pub to: Option<String>,
    pub partitions: i32,
    pub counter: IntCounter,
}

impl<const STAGE: usize> StageLogic for Forward<STAGE> {
    const NAME: &'static str = NAMES[STAGE];

    fn process(
        &mut self,
        batch: &[BorrowedMessage<'_>],
        out: &mut Outgoing,
        _: &mut WriteBatch,
    ) -> Result<(), PipelineError> {
        self.counter.inc_by(batch.len() as u64);
        let Some(to) = &self.to else { return Ok(()) };
        for m in batch {
            let hash = journey_core::ids::hash_parts(&[
                &m.offset().to_string(),
                &m.partition().to_string(),
            ]);
            out.push(
                to,
                Some(partition_of(hash, self.partitions)),
                m.key().map(<[u8]>::to_vec),
                m.payload().map(<[u8]>::to_vec),
                vec![],
            );
        }
        Ok(())
    }
}
