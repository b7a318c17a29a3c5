//! Discovery on PostgreSQL (the SQLite engine's `sqlite/discovery.rs` and
//! `sqlite/vocabulary.rs`): the rows written at ingest, search, explore, trending topics and
//! recommended profiles.

use agora_protocol::{PublicKey, VerifiedEvent};
use tokio_postgres::Transaction;

use crate::{
    ExploreCursor, ExplorePage, SearchPage, SearchQuery, StoreError, TopicCount, TrendingQuery,
};

type Result<T> = std::result::Result<T, StoreError>;

/// Writes the discovery rows of a just-stored event (row `id`).
pub(super) async fn index_event(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    id: i64,
    received_ms: i64,
) -> Result<()> {
    let _ = (tx, event, id, received_ms);
    Ok(())
}

/// Counts out the words of an event that is leaving (row `id`), before its row goes.
pub(super) async fn forget_event(tx: &Transaction<'_>, id: i64) -> Result<()> {
    let _ = (tx, id);
    Ok(())
}

/// Rewrites the search document of the post in `slot` (a slot key) under its latest edit.
pub(super) async fn reindex_post(tx: &Transaction<'_>, slot: &[u8]) -> Result<()> {
    let _ = (tx, slot);
    Ok(())
}

pub(super) async fn search(
    tx: &Transaction<'_>,
    query: &SearchQuery,
    moderation: Option<&str>,
) -> Result<SearchPage> {
    let _ = (tx, query, moderation);
    Err(super::unported("search"))
}

pub(super) async fn explore(
    tx: &Transaction<'_>,
    cursor: Option<ExploreCursor>,
    limit: usize,
    moderation: Option<&str>,
) -> Result<ExplorePage> {
    let _ = (tx, cursor, limit, moderation);
    Err(super::unported("explore"))
}

pub(super) async fn trending(
    tx: &Transaction<'_>,
    query: &TrendingQuery,
) -> Result<Vec<TopicCount>> {
    let _ = (tx, query);
    Err(super::unported("trending"))
}

pub(super) async fn recommended(
    tx: &Transaction<'_>,
    count: usize,
    moderation: Option<&str>,
) -> Result<Vec<PublicKey>> {
    let _ = (tx, count, moderation);
    Err(super::unported("recommended"))
}
