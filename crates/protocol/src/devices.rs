//! Device keys (Agora extension; docs/protocol.md, "Devices"): the statements that bind a device
//! key to an identity and revoke it, parsed and checked here once for servers and clients.
//!
//! A device signs its events with its own key, so every event stays a plain Polycentric event.
//! The binding is two signed statements: the device's DEVICE_ACCEPT names the identity, and the
//! identity's DEVICE_AUTHORIZE embeds that acceptance whole. A DEVICE_REVOKE by the identity
//! embeds it too, so a server can check who may revoke a key from the revocation alone.

use prost::Message as _;
use sha2::{Digest as _, Sha256};

use crate::author::Draft;
use crate::content::{DEVICE_ACCEPT, DEVICE_AUTHORIZE, DEVICE_REVOKE};
use crate::event::VerifiedEvent;
use crate::keys::{Process, PublicKey};
use crate::wire;

/// The longest device name, in UTF-8 bytes.
pub const DEVICE_NAME_BYTES_MAX: usize = 64;
/// How many processes one revocation may bound.
pub const REVOCATION_BOUNDS_MAX: usize = 1024;

/// A device's statement that its key is a device of `identity`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    pub device: PublicKey,
    pub identity: PublicKey,
}

/// An identity's statement that a device, which accepted it, is one of its devices.
#[derive(Clone, Debug)]
pub struct Authorization {
    pub identity: PublicKey,
    pub device: PublicKey,
    pub name: String,
    /// The device's own DEVICE_ACCEPT event, verified.
    pub acceptance: VerifiedEvent,
}

/// An identity's statement that a device of it is revoked, and which of its events stay valid.
#[derive(Clone, Debug)]
pub struct Revocation {
    pub identity: PublicKey,
    pub device: PublicKey,
    /// Per process of the device, the last logical clock that stays valid.
    pub bounds: Vec<(Process, u64)>,
    pub acceptance: VerifiedEvent,
    /// When the identity signed the revocation (its event's time).
    pub unix_milliseconds: Option<u64>,
}

impl Revocation {
    /// Whether the device's event at (`process`, `logical_clock`) stays valid: it lies within
    /// its process's bound. A process the revocation does not list keeps nothing.
    pub fn permits(&self, process: &Process, logical_clock: u64) -> bool {
        self.bounds
            .iter()
            .any(|(bounded, last)| bounded == process && logical_clock <= *last)
    }
}

/// Whether `content_type` is one of the device statements, which can never be deleted: a
/// revocation must not be undone and an authorization is superseded only by a revocation.
pub fn is_device_statement(content_type: u64) -> bool {
    matches!(
        content_type,
        DEVICE_ACCEPT | DEVICE_AUTHORIZE | DEVICE_REVOKE
    )
}

/// Reads a DEVICE_ACCEPT event.
pub fn acceptance(event: &VerifiedEvent) -> Result<Acceptance, String> {
    expect_type(event.content_type(), DEVICE_ACCEPT)?;
    let identity = acceptance_identity(&event.event().content)?;
    if identity == *event.system() {
        return Err("a device cannot accept its own key as its identity".into());
    }
    Ok(Acceptance {
        device: *event.system(),
        identity,
    })
}

/// Reads a DEVICE_AUTHORIZE event, checking the embedded acceptance both ways.
pub fn authorization(event: &VerifiedEvent) -> Result<Authorization, String> {
    expect_type(event.content_type(), DEVICE_AUTHORIZE)?;
    let body = wire::DeviceAuthorization::decode(event.event().content.clone())
        .map_err(|error| format!("malformed DeviceAuthorization body: {error}"))?;
    if body.name.len() > DEVICE_NAME_BYTES_MAX {
        return Err(format!(
            "device name is {} bytes, over the limit of {DEVICE_NAME_BYTES_MAX}",
            body.name.len()
        ));
    }
    let acceptance = embedded_acceptance(body.acceptance.as_ref(), event.system())?;
    Ok(Authorization {
        identity: *event.system(),
        device: *acceptance.system(),
        name: body.name,
        acceptance,
    })
}

/// Reads a DEVICE_REVOKE event, checking that the revoked device accepted the revoker.
pub fn revocation(event: &VerifiedEvent) -> Result<Revocation, String> {
    expect_type(event.content_type(), DEVICE_REVOKE)?;
    let body = wire::DeviceRevocation::decode(event.event().content.clone())
        .map_err(|error| format!("malformed DeviceRevocation body: {error}"))?;
    if body.bounds.len() > REVOCATION_BOUNDS_MAX {
        return Err(format!(
            "a revocation bounds at most {REVOCATION_BOUNDS_MAX} processes, got {}",
            body.bounds.len()
        ));
    }
    let acceptance = embedded_acceptance(body.acceptance.as_ref(), event.system())?;
    let mut bounds = Vec::with_capacity(body.bounds.len());
    for bound in &body.bounds {
        let process = bound
            .process
            .as_ref()
            .ok_or("revocation bound is missing its process")?;
        let process = Process::try_from(process)
            .map_err(|error| format!("revocation bound process: {error}"))?;
        if bounds.iter().any(|(seen, _)| *seen == process) {
            return Err("revocation bounds the same process twice".into());
        }
        bounds.push((process, bound.last_logical_clock));
    }
    Ok(Revocation {
        identity: *event.system(),
        device: *acceptance.system(),
        bounds,
        acceptance,
        unix_milliseconds: event.unix_milliseconds(),
    })
}

/// The content rule servers enforce on the three statements (see [`crate::content::check`]).
pub fn check(event: &VerifiedEvent) -> Result<(), String> {
    match event.content_type() {
        DEVICE_ACCEPT => acceptance(event).map(drop),
        DEVICE_AUTHORIZE => authorization(event).map(drop),
        DEVICE_REVOKE => revocation(event).map(drop),
        _ => Ok(()),
    }
}

/// What a device publishes to accept `identity`.
pub fn acceptance_draft(identity: &PublicKey) -> Draft {
    let body = wire::DeviceAcceptance {
        identity: Some(identity.to_wire()),
    };
    Draft {
        content_type: DEVICE_ACCEPT,
        content: body.encode_to_vec(),
        ..Draft::default()
    }
}

/// What the identity publishes to authorize (or rename) the device of `acceptance`.
pub fn authorization_draft(acceptance: &VerifiedEvent, name: &str) -> Draft {
    let body = wire::DeviceAuthorization {
        acceptance: Some(acceptance.to_signed()),
        name: name.to_owned(),
    };
    Draft {
        content_type: DEVICE_AUTHORIZE,
        content: body.encode_to_vec(),
        ..Draft::default()
    }
}

/// What the identity publishes to revoke the device of `acceptance`, keeping its events up to
/// each process's bound.
pub fn revocation_draft(acceptance: &VerifiedEvent, bounds: &[(Process, u64)]) -> Draft {
    let body = wire::DeviceRevocation {
        acceptance: Some(acceptance.to_signed()),
        bounds: bounds
            .iter()
            .map(|(process, last)| wire::DeviceBound {
                process: Some(process.to_wire()),
                last_logical_clock: *last,
            })
            .collect(),
    };
    Draft {
        content_type: DEVICE_REVOKE,
        content: body.encode_to_vec(),
        ..Draft::default()
    }
}

/// How many words the pairing confirmation has: 5 words of 2048 are 55 bits, so no one can
/// make a key whose confirmation matches another's while a person is pairing.
pub const CONFIRMATION_WORDS: usize = 5;

/// The pairing confirmation both devices show, as indices into a 2048-word list: derived from
/// the identity and the device key, so the two agree exactly when they pair the same keys.
pub fn confirmation_indices(identity: &PublicKey, device: &PublicKey) -> [u16; CONFIRMATION_WORDS] {
    let mut hasher = Sha256::new();
    hasher.update(b"agora device pairing v1\0");
    hasher.update(identity.as_bytes());
    hasher.update(device.as_bytes());
    let digest = hasher.finalize();
    let mut indices = [0u16; CONFIRMATION_WORDS];
    for (position, index) in indices.iter_mut().enumerate() {
        // 11 bits per word, read big-endian from the digest.
        let bit = position * 11;
        let window =
            u32::from_be_bytes([digest[bit / 8], digest[bit / 8 + 1], digest[bit / 8 + 2], 0]);
        *index = ((window >> (32 - 11 - bit % 8)) & 0x7ff) as u16;
    }
    indices
}

fn expect_type(content_type: u64, expected: u64) -> Result<(), String> {
    if content_type == expected {
        Ok(())
    } else {
        Err(format!(
            "expected content type {expected}, got {content_type}"
        ))
    }
}

fn acceptance_identity(content: &[u8]) -> Result<PublicKey, String> {
    let body = wire::DeviceAcceptance::decode(content)
        .map_err(|error| format!("malformed DeviceAcceptance body: {error}"))?;
    let identity = body
        .identity
        .as_ref()
        .ok_or("device acceptance is missing its identity")?;
    PublicKey::try_from(identity).map_err(|error| format!("device acceptance identity: {error}"))
}

/// The embedded DEVICE_ACCEPT of an authorization or revocation by `identity`: present,
/// verified, and naming `identity`, so no identity can annex a key that did not accept it.
fn embedded_acceptance(
    signed: Option<&wire::SignedEvent>,
    identity: &PublicKey,
) -> Result<VerifiedEvent, String> {
    let signed = signed.ok_or("missing the device's acceptance")?;
    let acceptance_event = VerifiedEvent::verify(signed)
        .map_err(|error| format!("the device's acceptance does not verify: {error}"))?;
    let accepted = acceptance(&acceptance_event)
        .map_err(|error| format!("the device's acceptance: {error}"))?;
    if accepted.identity != *identity {
        return Err(format!(
            "device {} accepted identity {}, not {identity}",
            accepted.device, accepted.identity
        ));
    }
    Ok(acceptance_event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::author::Author;
    use crate::keys::SecretKey;

    fn author() -> Author {
        Author::new(SecretKey::generate(), Process::random())
    }

    #[test]
    fn an_authorization_binds_both_ways() {
        let mut identity = author();
        let mut device = author();
        let accept = device
            .publish(acceptance_draft(&identity.system()), 1)
            .expect("sign");
        let authorize = identity
            .publish(authorization_draft(&accept, "phone"), 2)
            .expect("sign");
        let read = authorization(&authorize).expect("valid");
        assert_eq!(read.device, device.system());
        assert_eq!(read.identity, identity.system());
        assert_eq!(read.name, "phone");
    }

    #[test]
    fn an_identity_cannot_annex_a_key_that_accepted_another() {
        let mut identity = author();
        let mut other = author();
        let mut device = author();
        let accept = device
            .publish(acceptance_draft(&other.system()), 1)
            .expect("sign");
        let authorize = identity
            .publish(authorization_draft(&accept, "stolen"), 2)
            .expect("sign");
        let error = authorization(&authorize).expect_err("must be refused");
        assert!(error.contains("accepted identity"), "{error}");
        let revoke = other
            .publish(revocation_draft(&accept, &[]), 3)
            .expect("sign");
        assert!(
            revocation(&revoke).is_ok(),
            "the accepted identity may revoke"
        );
        let foreign = identity
            .publish(revocation_draft(&accept, &[]), 4)
            .expect("sign");
        assert!(revocation(&foreign).is_err());
    }

    #[test]
    fn a_revocation_keeps_exactly_the_bounded_events() {
        let mut identity = author();
        let mut device = author();
        let accept = device
            .publish(acceptance_draft(&identity.system()), 1)
            .expect("sign");
        let kept = device.process();
        let revoke = identity
            .publish(revocation_draft(&accept, &[(kept, 7)]), 2)
            .expect("sign");
        let read = revocation(&revoke).expect("valid");
        assert!(read.permits(&kept, 7));
        assert!(!read.permits(&kept, 8));
        assert!(!read.permits(&Process::random(), 1));
    }

    #[test]
    fn confirmation_words_depend_on_both_keys() {
        let a = SecretKey::generate().public_key();
        let b = SecretKey::generate().public_key();
        let c = SecretKey::generate().public_key();
        assert_eq!(confirmation_indices(&a, &b), confirmation_indices(&a, &b));
        assert_ne!(confirmation_indices(&a, &b), confirmation_indices(&a, &c));
        assert!(
            confirmation_indices(&a, &b)
                .iter()
                .all(|index| *index < 2048)
        );
    }
}
