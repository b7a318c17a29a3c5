//! Device revocations at ingest (docs/protocol.md, "Devices"): which events of a revoked device
//! a store refuses, and which it drops when a revocation arrives after them. Engine-neutral: an
//! engine finds the revocations stored for a key; these rules decide.

use agora_protocol::devices::{self, Revocation};
use agora_protocol::{PublicKey, VerifiedEvent, content};

/// Why `event` must be refused, given every stored revocation of its system (as a device) and,
/// for a DEVICE_AUTHORIZE, every stored revocation of the device it authorizes.
pub fn refusal(
    event: &VerifiedEvent,
    revocations_of_system: &[Revocation],
    revocations_of_authorized: &[Revocation],
) -> Option<String> {
    if let Some(revocation) = revocations_of_system
        .iter()
        .find(|revocation| !revocation.permits(event.process(), event.logical_clock()))
    {
        return Some(format!(
            "device {} was revoked by identity {}{}",
            revocation.device,
            revocation.identity,
            bound_text(revocation, event)
        ));
    }
    // An authorization the identity signed after revoking the key is refused. One signed
    // before arrives late only because events of different processes arrive in any order (the
    // revocation from the process that restored the words, the authorization from the one
    // that paired the device): it is stored, and the revocation still bounds the device.
    if event.content_type() == content::DEVICE_AUTHORIZE
        && let Some(revocation) = revocations_of_authorized.iter().find(|revocation| {
            revocation.identity == *event.system()
                && !signed_before(event.unix_milliseconds(), revocation.unix_milliseconds)
        })
    {
        return Some(format!(
            "device {} was revoked by this identity; a revoked key is never authorized again",
            revocation.device
        ));
    }
    None
}

/// Whether an event of time `event` was signed before a revocation of time `revocation`; an
/// unknown time is never before.
fn signed_before(event: Option<u64>, revocation: Option<u64>) -> bool {
    matches!((event, revocation), (Some(event), Some(revocation)) if event < revocation)
}

/// The device a DEVICE_AUTHORIZE event authorizes, when it is one (content rules already
/// checked it, so a malformed one is simply not an authorization here).
pub fn authorized_device(event: &VerifiedEvent) -> Option<PublicKey> {
    (event.content_type() == content::DEVICE_AUTHORIZE)
        .then(|| devices::authorization(event).ok())
        .flatten()
        .map(|authorization| authorization.device)
}

/// The revocation a DEVICE_REVOKE event makes, when it is one.
pub fn revocation(event: &VerifiedEvent) -> Option<Revocation> {
    (event.content_type() == content::DEVICE_REVOKE)
        .then(|| devices::revocation(event).ok())
        .flatten()
}

fn bound_text(revocation: &Revocation, event: &VerifiedEvent) -> String {
    match revocation
        .bounds
        .iter()
        .find(|(process, _)| process == event.process())
    {
        Some((_, last)) => format!(
            ": events of this process after logical clock {last} are refused (this one is {})",
            event.logical_clock()
        ),
        None => ": no event of this process stays valid".to_owned(),
    }
}
