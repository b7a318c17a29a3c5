//! Turning a received batch into verified events, in parallel and outside the writer.

use agora_protocol::{VerifiedEvent, content, wire};
use prost::Message as _;
use rayon::prelude::*;

/// Limits applied to each received event. Each has a documented default.
#[derive(Clone, Copy, Debug)]
pub struct IngestLimits {
    /// Largest serialized `Event`, in bytes. Default 1 MiB: a 512 KiB blob section plus room.
    pub event_bytes_max: usize,
    /// Largest post text, in UTF-8 bytes. Default 10 000, as the reference server.
    pub post_text_bytes_max: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            event_bytes_max: 1024 * 1024,
            post_text_bytes_max: content::POST_TEXT_BYTES_MAX,
        }
    }
}

/// Verifies every event's signature and checks its content rules, using every core. The result
/// is in batch order: a verified event, or the reason it was refused.
pub fn prepare_batch(
    events: Vec<wire::SignedEvent>,
    limits: IngestLimits,
) -> Vec<Result<VerifiedEvent, String>> {
    events
        .into_par_iter()
        .map(|signed| prepare_one(&signed, limits))
        .collect()
}

fn prepare_one(signed: &wire::SignedEvent, limits: IngestLimits) -> Result<VerifiedEvent, String> {
    if signed.event.len() > limits.event_bytes_max {
        return Err(format!(
            "event is {} bytes, over the limit of {}",
            signed.event.len(),
            limits.event_bytes_max
        ));
    }
    let verified = VerifiedEvent::verify(signed).map_err(|error| error.to_string())?;
    content::check(&verified, limits.post_text_bytes_max)?;
    Ok(verified)
}

/// The `SignedEvent` to serve for stored bytes: no moderation tags from the author.
pub(crate) fn signed_event(signature: Vec<u8>, event: Vec<u8>) -> wire::SignedEvent {
    wire::SignedEvent {
        signature: signature.into(),
        event: event.into(),
        moderation_tags: Vec::new(),
    }
}

/// Decodes an `Event` the store itself wrote; failure means the store is corrupt.
pub(crate) fn decode_event(bytes: &[u8]) -> Result<wire::Event, crate::StoreError> {
    wire::Event::decode(bytes).map_err(|error| crate::StoreError::Corrupt(error.to_string()))
}
