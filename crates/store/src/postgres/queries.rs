//! Reads of the sync protocol on PostgreSQL: ranges, events, head, latest, feeds, references,
//! edits and the live stream (the SQLite engine's `sqlite/queries.rs`).

use agora_protocol::{PublicKey, wire};
use tokio_postgres::Transaction;

use crate::{
    IndexPage, IndexQuery, ProcessRanges, ReferencesPage, ReferencesQuery, StoreError,
    StreamFilter, StreamPage,
};

type Result<T> = std::result::Result<T, StoreError>;

pub(super) async fn events_in_ranges(
    tx: &Transaction<'_>,
    system: &PublicKey,
    ranges: &[ProcessRanges],
    limit: usize,
    moderation: Option<&str>,
) -> Result<Vec<wire::SignedEvent>> {
    let _ = (tx, system, ranges, limit, moderation);
    Err(super::unported("events_in_ranges"))
}

pub(super) async fn head(
    tx: &Transaction<'_>,
    system: &PublicKey,
) -> Result<Vec<wire::SignedEvent>> {
    let _ = (tx, system);
    Err(super::unported("head"))
}

pub(super) async fn ranges(tx: &Transaction<'_>, system: &PublicKey) -> Result<Vec<ProcessRanges>> {
    let _ = (tx, system);
    Err(super::unported("ranges"))
}

pub(super) async fn latest(
    tx: &Transaction<'_>,
    system: &PublicKey,
    content_types: &[u64],
) -> Result<Vec<wire::SignedEvent>> {
    let _ = (tx, system, content_types);
    Err(super::unported("latest"))
}

pub(super) async fn index(
    tx: &Transaction<'_>,
    query: &IndexQuery,
    moderation: Option<&str>,
) -> Result<IndexPage> {
    let _ = (tx, query, moderation);
    Err(super::unported("index"))
}

pub(super) async fn references(
    tx: &Transaction<'_>,
    query: &ReferencesQuery,
    moderation: Option<&str>,
) -> Result<ReferencesPage> {
    let _ = (tx, query, moderation);
    Err(super::unported("references"))
}

/// Every stored edit of the post in `slot` signed by the post's key, in edit order.
pub(super) async fn edits(tx: &Transaction<'_>, slot: &[u8]) -> Result<Vec<wire::SignedEvent>> {
    let _ = (tx, slot);
    Err(super::unported("edits"))
}

pub(super) async fn stream_after(
    tx: &Transaction<'_>,
    after: u64,
    filter: &StreamFilter,
    limit: usize,
) -> Result<StreamPage> {
    let _ = (tx, after, filter, limit);
    Err(super::unported("stream_after"))
}

pub(super) async fn stream_head(tx: &Transaction<'_>) -> Result<u64> {
    let _ = tx;
    Err(super::unported("stream_head"))
}
