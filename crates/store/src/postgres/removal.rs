//! Removing a whole system on PostgreSQL (purge, refuse_storage) in bounded steps, each a write
//! of its own (the SQLite engine's `sqlite/removal.rs`), so a system with a million events never
//! holds the write lock for more than one step.
//!
//! The removal's first transaction writes the system's `pending_removals` row (ingest refuses
//! its events from then on) and releases its handle ([`begin`], in the purge's or the
//! censorship's transaction). Then a task of its own runs one step at a time, each its own
//! write transaction removing at most `removal_events_per_step` events through ingest's
//! `remove_event` (so every count stays exact), then the tombstones, and last the pending row.
//! Writes from every node commit between the steps. Whoever asked may stop waiting: the task
//! goes on. A crash leaves the pending row, and the next start of any node runs the steps again
//! ([`resume`]); steps of one removal run by several nodes at once are harmless, each taking
//! the write lock and checking the pending row first.

use agora_protocol::PublicKey;
use deadpool_postgres::Transaction;

use super::cached::Cached as _;

use super::ingest::remove_event;
use super::{PgStore, begin_write};
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
    tx.execute(
        "INSERT INTO pending_removals (system, reason, created_ms) VALUES ($1, $2, $3)
         ON CONFLICT (system) DO NOTHING",
        &[&system, &reason.as_str(), &now_ms],
    )
    .await?;
    tx.execute("DELETE FROM handles WHERE system = $1", &[&system])
        .await?;
    Ok(())
}

/// Whether a removal of `system` is under way.
async fn pending(tx: &Transaction<'_>, system: &[u8]) -> Result<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM pending_removals WHERE system = $1",
            &[&system],
        )
        .await?
        .is_some())
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Removed this many events; more steps are needed.
    More { events_removed: usize },
    /// Nothing of the system is left, and its pending row is gone (or some other task, on this
    /// node or another, finished the removal first).
    Done,
}

/// One bounded step of the removal of `system`: at most `events_max` events, else at most
/// `events_max` tombstones, else the last row (the pending marker).
async fn step(tx: &Transaction<'_>, system: &[u8], events_max: usize) -> Result<Step> {
    // Checked first, so that once a removal is done, a step still running for it never removes
    // what the system published after it.
    if !pending(tx, system).await? {
        return Ok(Step::Done);
    }
    let limit = i64::try_from(events_max.max(1)).unwrap_or(i64::MAX);
    let slots: Vec<(Vec<u8>, i64)> = tx
        .query(
            "SELECT process, logical_clock FROM events WHERE system = $1 LIMIT $2",
            &[&system, &limit],
        )
        .await?
        .into_iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    if !slots.is_empty() {
        let mut events_removed = 0;
        for (process, clock) in &slots {
            events_removed += usize::from(remove_event(tx, system, process, *clock).await?);
        }
        return Ok(Step::More { events_removed });
    }
    let tombstones = tx
        .execute(
            "DELETE FROM deletions WHERE system = $1 AND (process, logical_clock) IN
                 (SELECT process, logical_clock FROM deletions WHERE system = $1 LIMIT $2)",
            &[&system, &limit],
        )
        .await?;
    if tombstones > 0 {
        return Ok(Step::More { events_removed: 0 });
    }
    // The SQLite engine deletes the system's profile row here, its only trace left in
    // discovery once its events are gone. This engine's discovery schema (migration 2) has no
    // such row yet; a per-system discovery row not tied to an event would go here.
    tx.execute("DELETE FROM pending_removals WHERE system = $1", &[&system])
        .await?;
    Ok(Step::Done)
}

/// Times a failed step is tried again (a connection lost, the pool exhausted), a second apart.
const STEP_RETRIES: u32 = 10;

/// Runs the steps of `system`'s removal until nothing is left; returns how many events went.
/// The steps run on a task of their own, so the removal goes on whoever stops waiting.
pub(super) async fn run(store: &PgStore, system: PublicKey) -> Result<usize> {
    let task = tokio::spawn(steps(store.clone(), *system.as_bytes()));
    task.await.map_err(|error| StoreError::Engine {
        engine: "postgres",
        source: Box::new(error),
    })?
}

/// One write transaction per step, until the removal is done.
async fn steps(store: PgStore, system: [u8; 32]) -> Result<usize> {
    let mut events_removed = 0;
    let mut retries = 0;
    loop {
        match one_step(&store, &system).await {
            Ok(Step::More {
                events_removed: removed,
            }) => events_removed += removed,
            Ok(Step::Done) => {
                tracing::info!(events = events_removed, "removed a system");
                return Ok(events_removed);
            }
            Err(error @ StoreError::Engine { .. }) if retries < STEP_RETRIES => {
                retries += 1;
                tracing::warn!(%error, retries, "a removal step failed; trying again");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(error) => {
                tracing::error!(%error, "removing a system failed; the next start resumes it");
                return Err(error);
            }
        }
    }
}

async fn one_step(store: &PgStore, system: &[u8]) -> Result<Step> {
    let mut client = store.client().await?;
    let tx = begin_write(&mut client).await?;
    let step = step(&tx, system, store.removal_events_per_step).await?;
    tx.commit().await?;
    Ok(step)
}

/// Starts again, in the background, every removal a crash interrupted (at start).
pub(super) async fn resume(store: &PgStore) -> Result<()> {
    let client = store.client().await?;
    let systems: Vec<[u8; 32]> = client
        .query("SELECT system FROM pending_removals", &[])
        .await?
        .into_iter()
        .filter_map(|row| <[u8; 32]>::try_from(row.get::<_, Vec<u8>>(0)).ok())
        .collect();
    drop(client);
    if !systems.is_empty() {
        tracing::info!(systems = systems.len(), "resuming interrupted removals");
    }
    for system in systems {
        // Begun before the crash: only the steps are left. Nobody waits for these; the task
        // logs how it ended.
        drop(tokio::spawn(steps(store.clone(), system)));
    }
    Ok(())
}
