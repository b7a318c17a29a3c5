//! Signed events: verification of received bytes, and signing of new events.

use bytes::Bytes;
use ed25519_dalek::{Signature, Verifier as _};
use prost::Message as _;

use crate::content::{self, REFERENCE_BYTES, REFERENCE_POINTER, REFERENCE_SYSTEM};
use crate::keys::{Digest, KeyError, Pointer, Process, PublicKey, SecretKey, slot_key};
use crate::wire;

/// Why a signed event was refused. Each message names what was wrong, for the publisher.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("malformed event bytes: {0}")]
    Decode(prost::DecodeError),
    #[error("signature must be 64 bytes, got {0}")]
    SignatureLength(usize),
    #[error("signature does not verify for this system")]
    BadSignature,
    #[error("event system: {0}")]
    System(KeyError),
    #[error("event process: {0}")]
    Process(KeyError),
    #[error("event is missing {0}")]
    Missing(&'static str),
    #[error("logical_clock must be at least 1")]
    ZeroClock,
    #[error("reference {index}: {reason}")]
    Reference { index: usize, reason: String },
    #[error("{0}")]
    Content(String),
}

/// A parsed reference (spec section 3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reference {
    System(PublicKey),
    Pointer(Pointer),
    Bytes(Bytes),
}

impl Reference {
    pub fn parse(wire: &wire::Reference) -> Result<Self, String> {
        match wire.reference_type {
            REFERENCE_SYSTEM => {
                let key = wire::PublicKey::decode(wire.reference.clone())
                    .map_err(|error| format!("malformed system reference: {error}"))?;
                Ok(Self::System(
                    PublicKey::try_from(&key).map_err(|error| error.to_string())?,
                ))
            }
            REFERENCE_POINTER => {
                let pointer = wire::Pointer::decode(wire.reference.clone())
                    .map_err(|error| format!("malformed pointer reference: {error}"))?;
                Ok(Self::Pointer(
                    Pointer::try_from(&pointer).map_err(|error| error.to_string())?,
                ))
            }
            REFERENCE_BYTES => Ok(Self::Bytes(wire.reference.clone())),
            other => Err(format!("unsupported reference type {other} (1, 2 or 3)")),
        }
    }

    /// The key a subject is indexed and counted under: a pointer's slot key (digest ignored, so
    /// every pointer to the same slot counts together) or the raw bytes.
    pub fn subject_key(&self) -> Option<(u64, Vec<u8>)> {
        match self {
            Self::System(_) => None,
            Self::Pointer(pointer) => Some((REFERENCE_POINTER, pointer.slot_key().to_vec())),
            Self::Bytes(bytes) => Some((REFERENCE_BYTES, bytes.to_vec())),
        }
    }
}

/// An event whose signature was checked over the exact bytes it keeps.
///
/// This is the only way an event enters a store or a client's state. The bytes are never
/// re-encoded: they are what the author signed, and what every reader verifies again.
#[derive(Clone, Debug)]
pub struct VerifiedEvent {
    event_bytes: Bytes,
    signature: [u8; 64],
    event: wire::Event,
    system: PublicKey,
    process: Process,
    references: Vec<Reference>,
}

impl VerifiedEvent {
    /// Verifies a received `SignedEvent`. Moderation tags are dropped: they are not signed, so
    /// only the server that attaches them may set them.
    pub fn verify(signed: &wire::SignedEvent) -> Result<Self, EventError> {
        let signature: [u8; 64] = signed
            .signature
            .as_ref()
            .try_into()
            .map_err(|_| EventError::SignatureLength(signed.signature.len()))?;
        let event_bytes = signed.event.clone();
        let event = wire::Event::decode(event_bytes.clone()).map_err(EventError::Decode)?;
        let system = event.system.as_ref().ok_or(EventError::Missing("system"))?;
        let system = PublicKey::try_from(system).map_err(EventError::System)?;
        let process = event
            .process
            .as_ref()
            .ok_or(EventError::Missing("process"))?;
        let process = Process::try_from(process).map_err(EventError::Process)?;
        if event.vector_clock.is_none() {
            return Err(EventError::Missing("vector_clock"));
        }
        if event.indices.is_none() {
            return Err(EventError::Missing("indices"));
        }
        if event.logical_clock == 0 {
            return Err(EventError::ZeroClock);
        }
        let references = event
            .references
            .iter()
            .enumerate()
            .map(|(index, reference)| {
                Reference::parse(reference)
                    .map_err(|reason| EventError::Reference { index, reason })
            })
            .collect::<Result<Vec<_>, _>>()?;
        // Ordinary (non-strict) verification, as the reference server and clients use.
        system
            .verifying_key()
            .verify(&event_bytes, &Signature::from_bytes(&signature))
            .map_err(|_| EventError::BadSignature)?;
        Ok(Self {
            event_bytes,
            signature,
            event,
            system,
            process,
            references,
        })
    }

    /// Decodes and verifies a serialized `SignedEvent`.
    pub fn verify_bytes(signed_bytes: &[u8]) -> Result<Self, EventError> {
        let signed = wire::SignedEvent::decode(signed_bytes).map_err(EventError::Decode)?;
        Self::verify(&signed)
    }

    /// Encodes and signs a new event. The caller builds the `Event`; this fills nothing in.
    pub fn sign(secret: &SecretKey, event: &wire::Event) -> Result<Self, EventError> {
        let event_bytes = event.encode_to_vec();
        let signed = wire::SignedEvent {
            signature: secret.sign(&event_bytes).to_vec().into(),
            event: event_bytes.into(),
            moderation_tags: Vec::new(),
        };
        Self::verify(&signed)
    }

    pub fn event(&self) -> &wire::Event {
        &self.event
    }

    /// The exact signed bytes of the `Event`.
    pub fn event_bytes(&self) -> &Bytes {
        &self.event_bytes
    }

    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    pub fn system(&self) -> &PublicKey {
        &self.system
    }

    pub fn process(&self) -> &Process {
        &self.process
    }

    pub fn logical_clock(&self) -> u64 {
        self.event.logical_clock
    }

    pub fn content_type(&self) -> u64 {
        self.event.content_type
    }

    pub fn unix_milliseconds(&self) -> Option<u64> {
        self.event.unix_milliseconds
    }

    pub fn references(&self) -> &[Reference] {
        &self.references
    }

    pub fn digest(&self) -> Digest {
        Digest::of_event_bytes(&self.event_bytes)
    }

    pub fn pointer(&self) -> Pointer {
        Pointer {
            system: self.system,
            process: self.process,
            logical_clock: self.event.logical_clock,
            digest: Some(self.digest()),
        }
    }

    pub fn slot_key(&self) -> [u8; 56] {
        slot_key(&self.system, &self.process, self.event.logical_clock)
    }

    /// The `SignedEvent` to send: the exact bytes, the signature, and no moderation tags.
    pub fn to_signed(&self) -> wire::SignedEvent {
        wire::SignedEvent {
            signature: Bytes::copy_from_slice(&self.signature),
            event: self.event_bytes.clone(),
            moderation_tags: Vec::new(),
        }
    }

    /// The parsed body of a DELETE event, or `None` for other types.
    pub fn delete_body(&self) -> Result<Option<DeleteBody>, EventError> {
        if self.event.content_type != content::DELETE {
            return Ok(None);
        }
        let delete = wire::Delete::decode(self.event.content.clone())
            .map_err(|error| EventError::Content(format!("malformed Delete body: {error}")))?;
        let process = delete
            .process
            .as_ref()
            .ok_or_else(|| EventError::Content("delete body is missing process".into()))?;
        let process = Process::try_from(process)
            .map_err(|error| EventError::Content(format!("delete target {error}")))?;
        Ok(Some(DeleteBody {
            process,
            logical_clock: delete.logical_clock,
            content_type: delete.content_type,
            unix_milliseconds: delete.unix_milliseconds,
        }))
    }
}

/// What a DELETE removes: its system's event at (process, logical clock), plus the copies of the
/// target's type and time that let feeds put the tombstone where the target sat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeleteBody {
    pub process: Process,
    pub logical_clock: u64,
    pub content_type: u64,
    pub unix_milliseconds: Option<u64>,
}
