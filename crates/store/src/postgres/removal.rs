//! Removing a whole system on PostgreSQL (purge, refuse_storage) in bounded steps, each a write
//! of its own (the SQLite engine's `sqlite/removal.rs`).

use agora_protocol::PublicKey;
use tokio_postgres::Transaction;

use super::PgStore;
use crate::StoreError;

type Result<T> = std::result::Result<T, StoreError>;

/// Why a system is being removed, as `pending_removals.reason` says.
#[derive(Clone, Copy, Debug)]
pub(super) enum Reason {
    /// `POST /purge`: the system's own request.
    Purge,
    /// An operator refused storage of the system.
    RefuseStorage,
}

impl Reason {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Purge => "purge",
            Self::RefuseStorage => "refuse_storage",
        }
    }
}

/// Starts removing `system`: from this transaction on, ingest refuses its events and it holds
/// no handle. Beginning a removal that is under way changes nothing.
pub(super) async fn begin(
    tx: &Transaction<'_>,
    system: &[u8],
    reason: Reason,
    now_ms: i64,
) -> Result<()> {
    let _ = (tx, system, reason, now_ms);
    Err(super::unported("begin removal"))
}

/// Runs the steps of `system`'s removal until nothing is left; returns how many events went.
pub(super) async fn run(store: &PgStore, system: PublicKey) -> Result<usize> {
    let _ = (store, system);
    Err(super::unported("removal steps"))
}

/// Finishes every removal a crash interrupted (at start).
pub(super) async fn resume(store: &PgStore) -> Result<()> {
    let _ = store;
    Ok(())
}
