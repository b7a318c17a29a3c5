//! The event store: one [`Store`] contract, the ingest rules, and the SQLite engine.
//!
//! Ingest rules (dedupe on (system, process, clock), deletes with tombstones, late arrivals,
//! exact counters, limits) are defined once here; an engine only decides how to keep them.

mod prepare;
mod ranges;
pub mod sqlite;
mod types;

pub use prepare::{IngestLimits, prepare_batch};
pub use ranges::{ProcessRanges, normalize};
pub use types::*;

use std::future::Future;

use agora_protocol::{PublicKey, VerifiedEvent, wire};

/// The storage contract every engine implements. Every method is a single consistent read or a
/// single transaction: no caller sees a half-applied batch.
pub trait Store: Send + Sync + 'static {
    /// Applies a batch of verified events, in order, and reports what happened to each.
    /// Once this returns, every `Stored` outcome is durable.
    fn ingest(
        &self,
        events: Vec<VerifiedEvent>,
    ) -> impl Future<Output = Result<Vec<IngestOutcome>, StoreError>> + Send;

    /// The stored events of `system` whose (process, clock) falls in any of `ranges`, at most
    /// `limit` of them, in (process, clock) order. Tombstones are not events: a DELETE is
    /// returned for its own slot only.
    fn events_in_ranges(
        &self,
        system: PublicKey,
        ranges: Vec<ProcessRanges>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<wire::SignedEvent>, StoreError>> + Send;

    /// Per process: the event with the highest clock, then the SYSTEM_PROCESSES event that
    /// head's indices point to, when it is stored.
    fn head(
        &self,
        system: PublicKey,
    ) -> impl Future<Output = Result<Vec<wire::SignedEvent>, StoreError>> + Send;

    /// The clocks held per process (events and tombstones), as sorted, disjoint, non-adjacent
    /// inclusive ranges; processes in byte order.
    fn ranges(
        &self,
        system: PublicKey,
    ) -> impl Future<Output = Result<Vec<ProcessRanges>, StoreError>> + Send;

    /// Per process and per content type, the stored event with the highest clock.
    fn latest(
        &self,
        system: PublicKey,
        content_types: Vec<u64>,
    ) -> impl Future<Output = Result<Vec<wire::SignedEvent>, StoreError>> + Send;

    /// One page of a system's feed of one content type, newest first, with tombstones in the
    /// slots of what they deleted, and the proof events of spec section 6.2.
    fn index(
        &self,
        query: IndexQuery,
    ) -> impl Future<Output = Result<IndexPage, StoreError>> + Send;

    /// Events referencing a subject, and counts (spec section 6.3).
    fn references(
        &self,
        query: ReferencesQuery,
    ) -> impl Future<Output = Result<ReferencesPage, StoreError>> + Send;

    /// Whether the store answers at all, for `/health`.
    fn healthy(&self) -> impl Future<Output = bool> + Send;
}
