//! Operator curation on PostgreSQL (the SQLite engine's `sqlite/curation.rs`): removing stored
//! events with all their derived rows, the `censored_systems` / `censored_events` tables, and
//! the ingest refusal they cause.
//!
//! Removal goes through ingest's own [`super::ingest::remove_event`], so reference counts,
//! LWW winners and opinion counts are kept by the same code that keeps them on a DELETE; the
//! other derived tables reference `events` with ON DELETE CASCADE. Removing a whole system
//! (refuse_storage of a system, and purge) is done in steps by `removal.rs`.

use agora_protocol::{Process, PublicKey};
use deadpool_postgres::Transaction;

use super::cached::Cached as _;

use super::ingest::remove_event;
use super::int;
use crate::ingest::Curation;
use crate::{CensorOutcome, CensorTarget, Censorship, CensorshipKind, StoreError};

type Result<T> = std::result::Result<T, StoreError>;

/// Removes the event stored in one slot, if any, and the tombstone it holds when it is a
/// DELETE (the deleted slot then holds nothing). A tombstone *in* the slot is kept: it records
/// the author's own deletion, not the removed content.
pub(super) async fn remove_slot(
    tx: &Transaction<'_>,
    system: &[u8],
    process: &[u8],
    clock: i64,
) -> Result<bool> {
    tx.execute(
        "DELETE FROM deletions WHERE system = $1 AND delete_id =
             (SELECT id FROM events WHERE system = $1 AND process = $2 AND logical_clock = $3)",
        &[&system, &process, &clock],
    )
    .await?;
    remove_event(tx, system, process, clock).await
}

/// The curation the ingest rules see for an event in this slot: whether an operator refused
/// storage of it or of its whole system, and whether the system is being removed.
pub(super) async fn in_force(
    tx: &Transaction<'_>,
    system: &[u8],
    process: &[u8],
    clock: i64,
) -> Result<Curation> {
    let row = tx
        .query_one(
            "SELECT
                 EXISTS (SELECT 1 FROM censored_systems
                         WHERE system = $1 AND kind = 'refuse_storage'),
                 EXISTS (SELECT 1 FROM censored_events
                         WHERE system = $1 AND process = $2 AND logical_clock = $3
                           AND kind = 'refuse_storage'),
                 EXISTS (SELECT 1 FROM pending_removals WHERE system = $1)",
            &[&system, &process, &clock],
        )
        .await?;
    Ok(Curation {
        system_refused: row.get(0),
        event_refused: row.get(1),
        system_being_removed: row.get(2),
    })
}

/// Records a censorship (a stronger kind replaces a weaker one; a weaker or equal one changes
/// nothing), and for refuse_storage removes what is stored of an event target, or begins the
/// removal of a system target (`removal.rs`; the caller runs its steps once this commits).
pub(super) async fn censor(
    tx: &Transaction<'_>,
    target: &CensorTarget,
    requested: CensorshipKind,
    now_ms: i64,
) -> Result<CensorOutcome> {
    let plan = crate::curation::CensorPlan::new(kind_of(tx, target).await?, requested);
    let (kind, changed) = (plan.kind, plan.changed);
    if changed {
        match target {
            CensorTarget::System(system) => {
                tx.execute(
                    "INSERT INTO censored_systems (system, kind, created_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (system)
                     DO UPDATE SET kind = excluded.kind, created_ms = excluded.created_ms",
                    &[&&system.as_bytes()[..], &kind.as_str(), &now_ms],
                )
                .await?
            }
            CensorTarget::Event {
                system,
                process,
                logical_clock,
            } => {
                tx.execute(
                    "INSERT INTO censored_events
                         (system, process, logical_clock, kind, created_ms)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (system, process, logical_clock)
                     DO UPDATE SET kind = excluded.kind, created_ms = excluded.created_ms",
                    &[
                        &&system.as_bytes()[..],
                        &&process.as_bytes()[..],
                        &int(*logical_clock),
                        &kind.as_str(),
                        &now_ms,
                    ],
                )
                .await?
            }
        };
    }
    let mut events_removed = 0;
    if plan.removes {
        match target {
            CensorTarget::System(system) => {
                // Nothing of a refused system stays, its handle included: the handle goes now,
                // the events in the removal's steps, which the caller runs after this commits.
                super::removal::begin(
                    tx,
                    system.as_bytes(),
                    super::removal::Reason::RefuseStorage,
                    now_ms,
                )
                .await?;
            }
            CensorTarget::Event {
                system,
                process,
                logical_clock,
            } => {
                let removed = remove_slot(
                    tx,
                    system.as_bytes(),
                    process.as_bytes(),
                    int(*logical_clock),
                )
                .await?;
                events_removed = usize::from(removed);
            }
        }
    }
    Ok(CensorOutcome {
        kind,
        changed,
        events_removed,
    })
}

/// Lifts a censorship; returns the kind that was in force, if any. Removed events stay
/// removed: they come back only when someone publishes them again.
pub(super) async fn uncensor(
    tx: &Transaction<'_>,
    target: &CensorTarget,
) -> Result<Option<CensorshipKind>> {
    let previous = kind_of(tx, target).await?;
    match target {
        CensorTarget::System(system) => {
            tx.execute(
                "DELETE FROM censored_systems WHERE system = $1",
                &[&&system.as_bytes()[..]],
            )
            .await?
        }
        CensorTarget::Event {
            system,
            process,
            logical_clock,
        } => {
            tx.execute(
                "DELETE FROM censored_events
                 WHERE system = $1 AND process = $2 AND logical_clock = $3",
                &[
                    &&system.as_bytes()[..],
                    &&process.as_bytes()[..],
                    &int(*logical_clock),
                ],
            )
            .await?
        }
    };
    Ok(previous)
}

/// Every censorship in force: systems first, then events, oldest first within each.
pub(super) async fn censorships(tx: &Transaction<'_>) -> Result<Vec<Censorship>> {
    let mut list = Vec::new();
    let systems = tx
        .query(
            "SELECT system, kind, created_ms FROM censored_systems ORDER BY created_ms, system",
            &[],
        )
        .await?;
    for row in systems {
        let (system, kind, created_ms): (Vec<u8>, String, i64) =
            (row.get(0), row.get(1), row.get(2));
        list.push(Censorship {
            target: CensorTarget::System(public_key(&system)?),
            kind: stored_kind(&kind)?,
            created_ms: created_ms.max(0) as u64,
        });
    }
    let events = tx
        .query(
            "SELECT system, process, logical_clock, kind, created_ms FROM censored_events
             ORDER BY created_ms, system, process, logical_clock",
            &[],
        )
        .await?;
    for row in events {
        let (system, process, clock, kind, created_ms): (Vec<u8>, Vec<u8>, i64, String, i64) =
            (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
        list.push(Censorship {
            target: CensorTarget::Event {
                system: public_key(&system)?,
                process: Process::from_bytes(&process)
                    .map_err(|error| StoreError::Corrupt(format!("censored process: {error}")))?,
                logical_clock: clock as u64,
            },
            kind: stored_kind(&kind)?,
            created_ms: created_ms.max(0) as u64,
        });
    }
    Ok(list)
}

async fn kind_of(tx: &Transaction<'_>, target: &CensorTarget) -> Result<Option<CensorshipKind>> {
    let row = match target {
        CensorTarget::System(system) => {
            tx.query_opt(
                "SELECT kind FROM censored_systems WHERE system = $1",
                &[&&system.as_bytes()[..]],
            )
            .await?
        }
        CensorTarget::Event {
            system,
            process,
            logical_clock,
        } => {
            tx.query_opt(
                "SELECT kind FROM censored_events
                 WHERE system = $1 AND process = $2 AND logical_clock = $3",
                &[
                    &&system.as_bytes()[..],
                    &&process.as_bytes()[..],
                    &int(*logical_clock),
                ],
            )
            .await?
        }
    };
    row.map(|row| stored_kind(row.get::<_, &str>(0)))
        .transpose()
}

fn stored_kind(text: &str) -> Result<CensorshipKind> {
    CensorshipKind::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown censorship kind {text:?}")))
}

fn public_key(bytes: &[u8]) -> Result<PublicKey> {
    PublicKey::from_bytes(bytes)
        .map_err(|error| StoreError::Corrupt(format!("censored system: {error}")))
}
