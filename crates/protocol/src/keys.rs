//! Identities and addresses: public and secret keys, processes, digests and pointers.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use prost::Message as _;
use sha2::{Digest as _, Sha256};

use crate::content::{DIGEST_TYPE_SHA256, KEY_TYPE_ED25519};
use crate::encoding::{base64url_decode, base64url_encode};
use crate::wire;

/// Why a key, process, digest or pointer was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("unsupported key type {0} (only 1, Ed25519, exists)")]
    KeyType(u64),
    #[error("public key must be 32 bytes, got {0}")]
    KeyLength(usize),
    #[error("public key is not a valid Ed25519 point")]
    KeyPoint,
    #[error("process must be 16 bytes, got {0}")]
    ProcessLength(usize),
    #[error("unsupported digest type {0} (only 1, SHA-256, exists)")]
    DigestType(u64),
    #[error("digest must be 32 bytes, got {0}")]
    DigestLength(usize),
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("malformed {what}: {source}")]
    Decode {
        what: &'static str,
        source: prost::DecodeError,
    },
    #[error("malformed base64url: {0}")]
    Base64(#[from] base64::DecodeError),
}

/// An identity (a *system*): an Ed25519 public key known to be a valid curve point.
///
/// It keeps the decompressed point beside the bytes: decompressing costs about a third of a
/// signature check, and every received event needs its key once to parse and once to verify.
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; 32],
    key: VerifyingKey,
}

impl PublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::KeyLength(bytes.len()))?;
        let key = VerifyingKey::from_bytes(&array).map_err(|_| KeyError::KeyPoint)?;
        Ok(Self { bytes: array, key })
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    pub fn to_wire(&self) -> wire::PublicKey {
        wire::PublicKey {
            key_type: KEY_TYPE_ED25519,
            key: self.bytes.to_vec().into(),
        }
    }

    /// The `system` query parameter: base64url of the `PublicKey` protobuf.
    pub fn to_query_param(&self) -> String {
        base64url_encode(&self.to_wire().encode_to_vec())
    }

    pub fn from_query_param(text: &str) -> Result<Self, KeyError> {
        Self::from_wire_bytes(&base64url_decode(text)?)
    }

    /// A serialized `PublicKey` protobuf.
    fn from_wire_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let wire = wire::PublicKey::decode(bytes).map_err(|source| KeyError::Decode {
            what: "PublicKey",
            source,
        })?;
        Self::try_from(&wire)
    }
}

// Identity, order and hashing are those of the 32 key bytes.
impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl TryFrom<&wire::PublicKey> for PublicKey {
    type Error = KeyError;

    fn try_from(wire: &wire::PublicKey) -> Result<Self, KeyError> {
        if wire.key_type != KEY_TYPE_ED25519 {
            return Err(KeyError::KeyType(wire.key_type));
        }
        Self::from_bytes(&wire.key)
    }
}

impl fmt::Display for PublicKey {
    /// The key's one text form in everything Agora prints: the 32 key bytes in base64url without
    /// padding (43 characters). [`PublicKey::parse_text`] reads it back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&base64url_encode(&self.bytes))
    }
}

impl PublicKey {
    /// Characters of [`PublicKey::abbreviation`]: 6 key bytes, enough to tell apart the people
    /// one home knows.
    pub const ABBREVIATION_CHARS: usize = 8;

    /// The first characters of the key's text form, for lists a person reads.
    pub fn abbreviation(&self) -> String {
        base64url_encode(&self.bytes[..6])
    }

    /// A key as a person may paste it: the text form Agora prints (base64url of the 32 bytes),
    /// the same bytes in standard base64, or the base64 `PublicKey` protobuf that official
    /// clients print; padding is optional.
    pub fn parse_text(text: &str) -> Result<Self, KeyError> {
        let bytes = crate::encoding::base64_any_decode(text.trim())?;
        if bytes.len() == 32 {
            return Self::from_bytes(&bytes);
        }
        Self::from_wire_bytes(&bytes)
    }
}

impl fmt::Debug for PublicKey {
    /// A short form for logs: the first bytes of the key in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex_prefix(&self.bytes))
    }
}

/// An identity's secret: the 32-byte Ed25519 seed. Zeroized on drop, never printed.
pub struct SecretKey(SigningKey);

impl SecretKey {
    pub fn generate() -> Self {
        Self(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    pub fn from_seed(seed: &[u8; 32]) -> Self {
        Self(SigningKey::from_bytes(seed))
    }

    pub fn seed(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        let key = self.0.verifying_key();
        PublicKey {
            bytes: key.to_bytes(),
            key,
        }
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(for {:?})", self.public_key())
    }
}

/// One device or installation of a system: 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Process([u8; 16]);

impl Process {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; 16] = bytes
            .try_into()
            .map_err(|_| KeyError::ProcessLength(bytes.len()))?;
        Ok(Self(array))
    }

    pub fn random() -> Self {
        Self(rand::random())
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    pub fn to_wire(&self) -> wire::Process {
        wire::Process {
            process: self.0.to_vec().into(),
        }
    }
}

impl TryFrom<&wire::Process> for Process {
    type Error = KeyError;

    fn try_from(wire: &wire::Process) -> Result<Self, KeyError> {
        Self::from_bytes(&wire.process)
    }
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Process({})", hex_prefix(&self.0))
    }
}

/// A SHA-256 digest of an event's exact signed bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    pub fn of_event_bytes(event_bytes: &[u8]) -> Self {
        Self(Sha256::digest(event_bytes).into())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_wire(&self) -> wire::Digest {
        wire::Digest {
            digest_type: DIGEST_TYPE_SHA256,
            digest: self.0.to_vec().into(),
        }
    }
}

impl TryFrom<&wire::Digest> for Digest {
    type Error = KeyError;

    fn try_from(wire: &wire::Digest) -> Result<Self, KeyError> {
        if wire.digest_type != DIGEST_TYPE_SHA256 {
            return Err(KeyError::DigestType(wire.digest_type));
        }
        let array: [u8; 32] = wire
            .digest
            .as_ref()
            .try_into()
            .map_err(|_| KeyError::DigestLength(wire.digest.len()))?;
        Ok(Self(array))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", hex_prefix(&self.0))
    }
}

/// The address of one event: (system, process, logical clock), with the digest of its bytes when
/// the pointer carries one. The digest lets a reader check it got the event that was meant.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Pointer {
    pub system: PublicKey,
    pub process: Process,
    pub logical_clock: u64,
    pub digest: Option<Digest>,
}

impl Pointer {
    /// The fixed-width key `system ‖ process ‖ logical_clock (big-endian)`. Sorting these keys
    /// sorts by (system, process, clock), so one index serves point and per-system lookups.
    pub fn slot_key(&self) -> [u8; 56] {
        slot_key(&self.system, &self.process, self.logical_clock)
    }

    pub fn to_wire(&self) -> wire::Pointer {
        wire::Pointer {
            system: Some(self.system.to_wire()),
            process: Some(self.process.to_wire()),
            logical_clock: self.logical_clock,
            event_digest: self.digest.map(|digest| digest.to_wire()),
        }
    }
}

impl TryFrom<&wire::Pointer> for Pointer {
    type Error = KeyError;

    fn try_from(wire: &wire::Pointer) -> Result<Self, KeyError> {
        let system = wire
            .system
            .as_ref()
            .ok_or(KeyError::Missing("pointer system"))?;
        let process = wire
            .process
            .as_ref()
            .ok_or(KeyError::Missing("pointer process"))?;
        Ok(Self {
            system: system.try_into()?,
            process: process.try_into()?,
            logical_clock: wire.logical_clock,
            digest: wire
                .event_digest
                .as_ref()
                .map(Digest::try_from)
                .transpose()?,
        })
    }
}

/// See [`Pointer::slot_key`].
pub fn slot_key(system: &PublicKey, process: &Process, logical_clock: u64) -> [u8; 56] {
    let mut key = [0u8; 56];
    key[..32].copy_from_slice(system.as_bytes());
    key[32..48].copy_from_slice(process.as_bytes());
    key[48..].copy_from_slice(&logical_clock.to_be_bytes());
    key
}

/// The slot key of an event that was verified when it was stored, read from its raw key bytes:
/// unlike [`PublicKey::try_from`], this does not decompress the key (a few microseconds of curve
/// arithmetic that a read path answering many events should not pay again). `None` when the
/// fields are not an Ed25519 key and a process of the right sizes.
pub fn stored_slot_key(event: &wire::Event) -> Option<[u8; 56]> {
    let system = event.system.as_ref()?;
    let process = event.process.as_ref()?;
    if system.key_type != KEY_TYPE_ED25519 || system.key.len() != 32 || process.process.len() != 16
    {
        return None;
    }
    let mut key = [0u8; 56];
    key[..32].copy_from_slice(&system.key);
    key[32..48].copy_from_slice(&process.process);
    key[48..].copy_from_slice(&event.logical_clock.to_be_bytes());
    Some(key)
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(6)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_query_param_round_trips_and_is_48_chars() {
        let key = SecretKey::from_seed(&[7; 32]).public_key();
        let param = key.to_query_param();
        assert_eq!(param.len(), 48);
        assert_eq!(PublicKey::from_query_param(&param), Ok(key));
    }

    #[test]
    fn the_printed_key_form_and_the_official_clients_form_both_parse() {
        let key = SecretKey::from_seed(&[7; 32]).public_key();
        let printed = key.to_string();
        assert_eq!(printed.len(), 43);
        assert!(printed.starts_with(&key.abbreviation()));
        assert_eq!(key.abbreviation().len(), PublicKey::ABBREVIATION_CHARS);
        assert_eq!(PublicKey::parse_text(&printed), Ok(key));
        let official = crate::encoding::base64_standard_encode(&key.to_wire().encode_to_vec());
        assert_eq!(PublicKey::parse_text(&official), Ok(key));
        assert_eq!(PublicKey::parse_text(&key.to_query_param()), Ok(key));
        assert!(PublicKey::parse_text("alice").is_err());
        assert!(PublicKey::parse_text(&printed[..20]).is_err());
    }

    #[test]
    fn a_stored_events_slot_key_is_read_from_its_raw_fields() {
        let system = SecretKey::from_seed(&[7; 32]).public_key();
        let process = Process::from_bytes(&[3; 16]).expect("16 bytes");
        let mut event = wire::Event {
            system: Some(system.to_wire()),
            process: Some(process.to_wire()),
            logical_clock: 42,
            ..Default::default()
        };
        assert_eq!(
            stored_slot_key(&event),
            Some(slot_key(&system, &process, 42))
        );
        event.process = Some(wire::Process {
            process: vec![3; 15].into(),
        });
        assert_eq!(stored_slot_key(&event), None, "a short process");
        event.process = Some(process.to_wire());
        event.system = Some(wire::PublicKey {
            key_type: 2,
            key: system.as_bytes().to_vec().into(),
        });
        assert_eq!(stored_slot_key(&event), None, "another key type");
    }

    #[test]
    fn wrong_lengths_and_types_are_named() {
        assert_eq!(
            PublicKey::from_bytes(&[1; 31]),
            Err(KeyError::KeyLength(31))
        );
        assert_eq!(
            Process::from_bytes(&[1; 15]),
            Err(KeyError::ProcessLength(15))
        );
        let wire = wire::PublicKey {
            key_type: 2,
            key: vec![0; 32].into(),
        };
        assert_eq!(PublicKey::try_from(&wire), Err(KeyError::KeyType(2)));
    }

    #[test]
    fn secret_key_debug_does_not_print_the_seed() {
        let secret = SecretKey::from_seed(&[0xab; 32]);
        let printed = format!("{secret:?}");
        assert!(!printed.contains("abab"), "{printed}");
        assert!(printed.starts_with("SecretKey(for PublicKey("));
    }

    #[test]
    fn slot_keys_sort_by_clock_numerically() {
        let system = SecretKey::from_seed(&[1; 32]).public_key();
        let process = Process::from_bytes(&[2; 16]).expect("16 bytes");
        assert!(slot_key(&system, &process, 255) < slot_key(&system, &process, 256));
    }
}
