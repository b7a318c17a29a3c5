//! The generated protobuf messages of package `userpackage` (see `proto/protocol.proto`).
//!
//! These types stay at the edge: parse them into domain types ([`crate::VerifiedEvent`],
//! [`crate::PublicKey`], ...) before acting on them.
#![allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]

include!(concat!(env!("OUT_DIR"), "/userpackage.rs"));
