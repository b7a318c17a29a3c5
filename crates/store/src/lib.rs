//! The event store: one [`Store`] contract, the ingest rules, and the SQLite engine.
//!
//! Ingest rules (dedupe on (system, process, clock), deletes with tombstones, late arrivals,
//! exact counters, limits) are defined once here; an engine only decides how to keep them.
//!
//! # Cursors and positions with several writers
//!
//! A page cursor (feeds, references, search, explore) is a place in an order over keys that
//! never change for a row: a time or a score, then a row id. Ids must be unique and stable but
//! need not follow commit order, so several writers may hand them out: every row that is there
//! when a client reads its first page, and stays, comes on exactly one page, and a row committed
//! later comes on at most one. (A search pins the highest id of its first page; a row committed
//! later under a smaller id, which several writers allow, may join its remaining pages, once.)
//!
//! Stream positions are the exception: [`Store::stream_after`] promises that a subscriber who
//! resumes after a position misses nothing, so a position may become visible only once every
//! smaller position is visible or will never be used. One writer gives that by itself; an
//! engine with several writers must hand out positions in commit order. The conformance suite's
//! concurrency tests hold every engine to these, with several nodes where it has them.

pub mod bounds;
mod curation;
pub mod devices;
pub mod discovery;
pub mod edits;
mod identity;
pub mod ingest;
mod lww;
pub mod migrate;
pub mod moderation;
pub mod postgres;
mod prepare;
mod ranges;
pub mod reconcile;
pub mod sqlite;
pub mod stream;
mod types;

pub use curation::*;
pub use discovery::{
    ExploreCursor, ExplorePage, SearchCursor, SearchKind, SearchPage, SearchQuery, TopicCount,
    TrendingQuery,
};
pub use identity::*;
pub use prepare::{IngestLimits, prepare_batch};
pub use ranges::{ProcessRanges, normalize};
pub use stream::{STREAM_SCAN_MAX, StreamFilter, StreamPage};
pub use types::*;

use std::future::Future;

use agora_protocol::{Process, PublicKey, VerifiedEvent, wire};

/// The storage contract every engine implements. Every method is a single consistent read or a
/// single transaction: no caller sees a half-applied batch. Each read that moderation can filter
/// is implemented once, as its `*_moderated` form; the unfiltered form is provided and passes
/// [`moderation::ReadFilter::default`], which hides nothing.
pub trait Store: Send + Sync + 'static {
    /// Applies a batch of verified events, in order, and reports what happened to each.
    /// Once this returns, every `Stored` outcome is durable. An event carrying a clock or time
    /// over [`bounds::STORED_MAX`] is `Rejected` with [`ingest::Rejection::OverBound`]. The
    /// decisions are [`ingest::decide`]'s.
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
    ) -> impl Future<Output = Result<Vec<wire::SignedEvent>, StoreError>> + Send {
        self.events_in_ranges_moderated(system, ranges, limit, moderation::ReadFilter::default())
    }

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
    ) -> impl Future<Output = Result<IndexPage, StoreError>> + Send {
        self.index_moderated(query, moderation::ReadFilter::default())
    }

    /// Events referencing a subject, and counts (spec section 6.3).
    fn references(
        &self,
        query: ReferencesQuery,
    ) -> impl Future<Output = Result<ReferencesPage, StoreError>> + Send {
        self.references_moderated(query, moderation::ReadFilter::default())
    }

    /// Binds `handle` to `system`, releasing the system's previous handle, in one transaction.
    /// Handles are compared without regard to case: a handle held by another system in any
    /// spelling is refused, and so is an unproven claim by a system whose current binding was
    /// made with proof (see [`HandleClaimOutcome`]). The binding keeps the spelling claimed.
    fn claim_handle(
        &self,
        system: PublicKey,
        handle: String,
        proven: bool,
    ) -> impl Future<Output = Result<HandleClaimOutcome, StoreError>> + Send;

    /// The binding of a handle in any case (`ALICE` finds `alice`), if any, with the handle
    /// spelled as it was claimed.
    fn resolve_handle(
        &self,
        handle: String,
    ) -> impl Future<Output = Result<Option<HandleBinding>, StoreError>> + Send;

    /// Removes the system's handle binding; returns the handle it held, if any.
    fn release_handle(
        &self,
        system: PublicKey,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Live CLAIM events matching the query, each with a live VOUCH by the trust root that
    /// points at it: one item per (claim, vouch) pair, newest vouch first (spec section 6.4).
    fn resolve_claims(
        &self,
        query: ClaimQuery,
    ) -> impl Future<Output = Result<Vec<VouchedClaim>, StoreError>> + Send;

    /// The claim of one system holding all the fields, with the latest vouch of another.
    fn find_claim_and_vouch(
        &self,
        query: ClaimVouchQuery,
    ) -> impl Future<Output = Result<Option<VouchedClaim>, StoreError>> + Send;

    /// [`Store::events_in_ranges`] without the events `filter` hides (spec section 7; `GET
    /// /events` passes [`moderation::ReadFilter::supplied`]).
    fn events_in_ranges_moderated(
        &self,
        system: PublicKey,
        ranges: Vec<ProcessRanges>,
        limit: usize,
        filter: moderation::ReadFilter,
    ) -> impl Future<Output = Result<Vec<wire::SignedEvent>, StoreError>> + Send;

    /// [`Store::index`] without the events (and proof events) `filter` hides.
    fn index_moderated(
        &self,
        query: IndexQuery,
        filter: moderation::ReadFilter,
    ) -> impl Future<Output = Result<IndexPage, StoreError>> + Send;

    /// [`Store::references`] without the referencing events `filter` hides. A pointer subject
    /// is never filtered (spec section 7).
    fn references_moderated(
        &self,
        query: ReferencesQuery,
        filter: moderation::ReadFilter,
    ) -> impl Future<Output = Result<ReferencesPage, StoreError>> + Send;

    /// One page of a full-text search over live posts or current profiles (spec section 6.5),
    /// best match first, never showing curated-out events or identities.
    fn search(
        &self,
        query: SearchQuery,
    ) -> impl Future<Output = Result<SearchPage, StoreError>> + Send {
        self.search_moderated(query, moderation::ReadFilter::default())
    }

    /// One page of every live POST, newest first by order time (spec section 6.7, with the
    /// time capped at arrival plus [`discovery::FUTURE_MARGIN_MS`]), without curated-out ones.
    fn explore(
        &self,
        cursor: Option<ExploreCursor>,
        limit: usize,
    ) -> impl Future<Output = Result<ExplorePage, StoreError>> + Send {
        self.explore_moderated(cursor, limit, moderation::ReadFilter::default())
    }

    /// [`Store::search`] without the posts `filter` hides (messages only; spec section 7).
    fn search_moderated(
        &self,
        query: SearchQuery,
        filter: moderation::ReadFilter,
    ) -> impl Future<Output = Result<SearchPage, StoreError>> + Send;

    /// [`Store::explore`] without the posts `filter` hides.
    fn explore_moderated(
        &self,
        cursor: Option<ExploreCursor>,
        limit: usize,
        filter: moderation::ReadFilter,
    ) -> impl Future<Output = Result<ExplorePage, StoreError>> + Send;

    /// The UTF-8 topics most carried by live posts since `query.since_ms`, by count then topic.
    fn trending_topics(
        &self,
        query: TrendingQuery,
    ) -> impl Future<Output = Result<Vec<TopicCount>, StoreError>> + Send;

    /// Up to `count` distinct identities, varying per call, each with at least one live post
    /// that is not curated out (neither the post nor the identity).
    fn recommended_profiles(
        &self,
        count: usize,
    ) -> impl Future<Output = Result<Vec<PublicKey>, StoreError>> + Send {
        self.recommended_profiles_moderated(count, moderation::ReadFilter::default())
    }

    /// [`Store::recommended_profiles`] where the qualifying post must also pass `filter`.
    fn recommended_profiles_moderated(
        &self,
        count: usize,
        filter: moderation::ReadFilter,
    ) -> impl Future<Output = Result<Vec<PublicKey>, StoreError>> + Send;

    /// Removes every stored event of `system` (and its tombstones) with everything derived
    /// from them, and its handle; returns how many events went, once nothing is left. Counters
    /// on other systems' events (likes, replies) drop by what the removed events contributed.
    /// The removal is durable from its start and bounded per transaction: the first one
    /// releases the handle and makes ingest refuse the system's events until the removal ends,
    /// the events go in steps that let other writes through between them, and an interrupted
    /// removal goes on by itself (after a crash, at the next open). Afterwards `/ranges` lists
    /// nothing for the system, so its events can be published again unless storage of the
    /// system is refused, and only censorships still name it.
    fn remove_system(
        &self,
        system: PublicKey,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Removes the event stored in one slot with everything derived from it, in one
    /// transaction; returns whether one was stored. When it is a DELETE, the tombstone it
    /// holds goes too.
    fn remove_event(
        &self,
        system: PublicKey,
        process: Process,
        logical_clock: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Censors a system or an event slot (idempotent; a stronger kind replaces a weaker one,
    /// never the reverse). `RefuseStorage` removes what is stored of the target: an event in
    /// the censorship's transaction, a system as [`Store::remove_system`] does, begun in that
    /// transaction. Ingest refuses the target from then on.
    fn censor(
        &self,
        target: CensorTarget,
        kind: CensorshipKind,
    ) -> impl Future<Output = Result<CensorOutcome, StoreError>> + Send;

    /// Lifts the censorship of a target; returns the kind that was in force, if any.
    fn uncensor(
        &self,
        target: CensorTarget,
    ) -> impl Future<Output = Result<Option<CensorshipKind>, StoreError>> + Send;

    /// Every censorship in force: systems first, then events, oldest first within each.
    fn censorships(&self) -> impl Future<Output = Result<Vec<Censorship>, StoreError>> + Send;

    /// Every stored edit of the post in `slot` (a slot key) signed by the post's own key, in
    /// edit order, oldest first ([`agora_protocol::edits::edit_order`]).
    fn edits(
        &self,
        slot: [u8; 56],
    ) -> impl Future<Output = Result<Vec<wire::SignedEvent>, StoreError>> + Send;

    /// The latest stored edit of each of the posts in `slots`, for those that have one.
    fn latest_edits(
        &self,
        slots: Vec<[u8; 56]>,
    ) -> impl Future<Output = Result<Vec<wire::SignedEvent>, StoreError>> + Send;

    /// The stored events after `after` in commit order that match `filter`, at most `limit`
    /// of them, looking at no more than [`STREAM_SCAN_MAX`] positions (see [`stream`]).
    fn stream_after(
        &self,
        after: u64,
        filter: StreamFilter,
        limit: usize,
    ) -> impl Future<Output = Result<StreamPage, StoreError>> + Send;

    /// The position of the newest stored event (0 when none was stored since positions began).
    fn stream_head(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The key that authenticates this store's challenges (`GET /challenge`): 32 random bytes
    /// made with the store, the same for every node over it and after every restart.
    fn challenge_key(&self) -> [u8; 32];

    /// Spends a challenge: records it until `expires_ms` and returns true, or returns false
    /// when it was spent already, by any node. Records that expired by `now_ms` may be
    /// forgotten (a caller refuses an expired challenge before spending it).
    fn spend_challenge(
        &self,
        challenge: [u8; 32],
        expires_ms: u64,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether the store answers at all, for `/health`.
    fn healthy(&self) -> impl Future<Output = bool> + Send;

    /// Why the store cannot take writes now (a full disk, a read-only store, a writer that
    /// stopped), or `None` when it can; `/health` reports it.
    fn write_problem(&self) -> Option<String> {
        None
    }

    /// Bytes the store's files take on disk, when the engine can tell (for `/metrics`).
    fn size_bytes(&self) -> Option<u64> {
        None
    }
}
