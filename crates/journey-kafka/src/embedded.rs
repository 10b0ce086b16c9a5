//! The embedded broker for `journey demo`, `journey replay`, `journey bench`
//! and fast tests: librdkafka's in-process mock cluster, spoken to over the
//! real Kafka protocol on a loopback port.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

use crate::PipelineError;

/// Keep it alive as long as clients use it.
pub struct MockBroker {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl MockBroker {
    /// A one-broker mock cluster.
    pub fn start() -> Result<MockBroker, PipelineError> {
        Ok(MockBroker { cluster: MockCluster::new(1)? })
    }

    pub fn bootstrap(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// The mock cluster, for fault injection in tests.
    pub fn cluster(&self) -> &MockCluster<'static, DefaultProducerContext> {
        &self.cluster
    }
}
