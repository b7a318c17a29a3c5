//! The Polycentric v1 protocol: wire types, identities, signed events, links and CRDT rules.
//!
//! This crate is pure: no I/O, no async runtime, no SQL, and it never reads the clock. Untrusted
//! bytes become domain types here, in one place: an event can only be held as a [`VerifiedEvent`],
//! which is built by checking the Ed25519 signature over the exact bytes it keeps.

pub mod author;
pub mod content;
pub mod crdt;
pub mod devices;
pub mod edits;
pub mod encoding;
pub mod event;
pub mod keys;
pub mod links;
pub mod proof;
pub mod wire;

pub use content::{ContentType, ReferenceType};
pub use event::{EventError, Reference, VerifiedEvent};
pub use keys::{Digest, KeyError, Pointer, Process, PublicKey, SecretKey};
