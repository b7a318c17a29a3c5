//! Operator curation on PostgreSQL (the SQLite engine's `sqlite/curation.rs`): censorships,
//! what ingest sees of them, and removing one slot.

use tokio_postgres::Transaction;

use crate::ingest::Curation;
use crate::{CensorOutcome, CensorTarget, Censorship, CensorshipKind, StoreError};

type Result<T> = std::result::Result<T, StoreError>;

/// Removes the event stored in one slot, if any, and the tombstone it holds when it is a
/// DELETE. A tombstone *in* the slot is kept.
pub(super) async fn remove_slot(
    tx: &Transaction<'_>,
    system: &[u8],
    process: &[u8],
    clock: i64,
) -> Result<bool> {
    let _ = (tx, system, process, clock);
    Err(super::unported("remove_slot"))
}

/// The curation the ingest rules see for an event in this slot.
pub(super) async fn in_force(
    tx: &Transaction<'_>,
    system: &[u8],
    process: &[u8],
    clock: i64,
) -> Result<Curation> {
    let _ = (tx, system, process, clock);
    Ok(Curation::default())
}

pub(super) async fn censor(
    tx: &Transaction<'_>,
    target: &CensorTarget,
    requested: CensorshipKind,
    now_ms: i64,
) -> Result<CensorOutcome> {
    let _ = (tx, target, requested, now_ms);
    Err(super::unported("censor"))
}

pub(super) async fn uncensor(
    tx: &Transaction<'_>,
    target: &CensorTarget,
) -> Result<Option<CensorshipKind>> {
    let _ = (tx, target);
    Err(super::unported("uncensor"))
}

pub(super) async fn censorships(tx: &Transaction<'_>) -> Result<Vec<Censorship>> {
    let _ = tx;
    Err(super::unported("censorships"))
}
