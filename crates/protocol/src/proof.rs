//! Proof-of-ownership messages for Agora's signed identity requests (docs/protocol.md, "Identity
//! routes"). Each message starts with its own domain tag, so a signature made for one request can
//! never be replayed as another, nor as the official purge signature (over the bare challenge).

use crate::PublicKey;

/// Domain tag of a signed `POST /claim_handle`.
pub const CLAIM_HANDLE_TAG: &[u8] = b"agora claim_handle v1\0";

/// What `system` signs to claim `handle` with a server challenge: the tag, the 32 challenge
/// bytes, then the handle's UTF-8 bytes.
pub fn claim_handle_message(challenge: &[u8], handle: &str) -> Vec<u8> {
    let mut message = Vec::with_capacity(CLAIM_HANDLE_TAG.len() + challenge.len() + handle.len());
    message.extend_from_slice(CLAIM_HANDLE_TAG);
    message.extend_from_slice(challenge);
    message.extend_from_slice(handle.as_bytes());
    message
}

/// Domain tag of a signed `POST /release_handle`.
pub const RELEASE_HANDLE_TAG: &[u8] = b"agora release_handle v1\0";

/// What `system` signs to release its handle with a server challenge: the tag, then the 32
/// challenge bytes.
pub fn release_handle_message(challenge: &[u8]) -> Vec<u8> {
    [RELEASE_HANDLE_TAG, challenge].concat()
}

/// Whether `signature` is a valid Ed25519 signature by `system` over `message`.
pub fn verify(system: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(signature) = ed25519_dalek::Signature::from_slice(signature) else {
        return false;
    };
    system
        .verifying_key()
        .verify_strict(message, &signature)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_binds_challenge_and_handle_after_the_tag() {
        let message = claim_handle_message(&[7; 32], "alice");
        assert_eq!(&message[..CLAIM_HANDLE_TAG.len()], CLAIM_HANDLE_TAG);
        assert_eq!(&message[CLAIM_HANDLE_TAG.len()..][..32], &[7; 32]);
        assert!(message.ends_with(b"alice"));
        assert_ne!(message, claim_handle_message(&[7; 32], "alicf"));
    }

    #[test]
    fn verify_accepts_the_signer_only() {
        let alice = crate::SecretKey::generate();
        let bob = crate::SecretKey::generate();
        let message = claim_handle_message(&[1; 32], "alice");
        let signature = alice.sign(&message);
        assert!(verify(&alice.public_key(), &message, &signature));
        assert!(!verify(&bob.public_key(), &message, &signature));
        assert!(!verify(&alice.public_key(), b"other", &signature));
        assert!(!verify(&alice.public_key(), &message, &signature[..63]));
    }
}
