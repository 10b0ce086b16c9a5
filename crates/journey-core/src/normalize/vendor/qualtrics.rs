//! (being written: qualtrics)

use serde_json::{Map, Value};

use crate::model::{Channel, JourneyEvent, SourceRef};
use crate::normalize::{NormalizeConfig, NormalizeError, NormalizeErrorKind};

pub(super) fn normalize(
    _channel: Channel,
    _payload: &[u8],
    _source: &SourceRef,
    _cfg: &NormalizeConfig,
) -> Result<Vec<JourneyEvent>, NormalizeError> {
    Err(NormalizeError::new(NormalizeErrorKind::UnknownFormat, None, "format qualtrics is not available yet"))
}

pub(super) fn detect(_payload: &[u8], _object: Option<&Map<String, Value>>) -> bool {
    false
}
