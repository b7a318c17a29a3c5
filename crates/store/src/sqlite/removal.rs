//! Removing a whole system (purge, refuse_storage of a system) in bounded steps, so a system
//! with a million events never holds the single writer for more than one step.
//!
//! A thread of its own sends the writer the removal's first transaction, which writes the
//! system's `pending_removals` row (ingest refuses its events from then on) and releases its
//! handle ([`begin`], in the purge's or the censorship's transaction), then one step at a time, each its own transaction removing at most
//! `events_per_step` events through ingest's `remove_event` (so every count stays exact), then
//! the tombstones, and last the profile row and the pending row. Ingest batches queued
//! meanwhile commit between the steps. Whoever asked may stop waiting: the thread goes on. A
//! crash leaves the pending row, and the next open starts the thread again ([`resume`]).

use std::sync::mpsc;

use rusqlite::{Connection, Transaction, params};
use tokio::sync::oneshot;

use super::ingest::remove_event;
use super::{Job, write_job};
use crate::StoreError;

/// Why a system is being removed, as `pending_removals.reason` says.
#[derive(Clone, Copy, Debug)]
pub(super) enum Reason {
    /// `POST /purge`: the system's own request.
    Purge,
    /// An operator refused storage of the system.
    RefuseStorage,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Purge => "purge",
            Self::RefuseStorage => "refuse_storage",
        }
    }
}

/// Starts removing `system`: from this transaction on, ingest refuses its events and it holds
/// no handle. Beginning a removal that is under way changes nothing.
pub(super) fn begin(
    tx: &Transaction<'_>,
    system: &[u8],
    reason: Reason,
    now_ms: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO pending_removals (system, reason, created_ms) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![system, reason.as_str(), now_ms])?;
    tx.prepare_cached("DELETE FROM handles WHERE system = ?1")?
        .execute([system])?;
    Ok(())
}

/// Whether a removal of `system` is under way, for ingest's refusal.
pub(super) fn pending(tx: &Transaction<'_>, system: &[u8]) -> rusqlite::Result<bool> {
    tx.prepare_cached("SELECT 1 FROM pending_removals WHERE system = ?1")?
        .exists([system])
}

/// What one step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// Removed this many events; more steps are needed.
    More { events_removed: usize },
    /// Nothing of the system is left, and its pending row is gone (or some other thread
    /// finished the removal first).
    Done,
}

/// One bounded step of the removal of `system`: at most `events_max` events, else at most
/// `events_max` tombstones, else the last rows (profile, pending marker).
pub(super) fn step(
    tx: &Transaction<'_>,
    system: &[u8],
    events_max: usize,
) -> rusqlite::Result<Step> {
    // Checked first, so that once a removal is done, a step still queued for it never removes
    // what the system published after it.
    if !pending(tx, system)? {
        return Ok(Step::Done);
    }
    let limit = events_max.max(1) as i64;
    let slots: Vec<(Vec<u8>, i64)> = tx
        .prepare_cached("SELECT process, logical_clock FROM events WHERE system = ?1 LIMIT ?2")?
        .query_map(params![system, limit], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    if !slots.is_empty() {
        let mut events_removed = 0;
        for (process, clock) in &slots {
            events_removed += usize::from(remove_event(tx, system, process, *clock)?);
        }
        return Ok(Step::More { events_removed });
    }
    let tombstones = tx
        .prepare_cached(
            "DELETE FROM deletions WHERE system = ?1 AND (process, logical_clock) IN
                 (SELECT process, logical_clock FROM deletions WHERE system = ?1 LIMIT ?2)",
        )?
        .execute(params![system, limit])?;
    if tombstones > 0 {
        return Ok(Step::More { events_removed: 0 });
    }
    // The triggers emptied the profile's search document with its last field; its id row is
    // the system's only trace left in discovery.
    tx.prepare_cached("DELETE FROM profiles WHERE system = ?1")?
        .execute([system])?;
    tx.prepare_cached("DELETE FROM pending_removals WHERE system = ?1")?
        .execute([system])?;
    Ok(Step::Done)
}

/// The first write of a removal: what it answers, and the system whose removal it began (none
/// when it began nothing, as a censorship that does not refuse storage).
pub(super) type First<T> =
    Box<dyn FnOnce(&Transaction<'_>) -> Result<(T, Option<[u8; 32]>), StoreError> + Send>;

/// Where the answer of a removal comes: `first`'s answer and the number of events removed.
pub(super) type Answer<T> = oneshot::Receiver<Result<(T, usize), StoreError>>;

/// Runs `first` and then the steps of the removal it began, on a thread of its own, so that
/// the removal goes on whoever stops waiting; the answer is `first`'s with the number of events
/// removed, once nothing of the system is left.
pub(super) fn spawn<T: Send + 'static>(
    writer: mpsc::SyncSender<Job>,
    events_per_step: usize,
    first: First<T>,
) -> Result<Answer<T>, StoreError> {
    let (reply, answer) = oneshot::channel();
    std::thread::Builder::new()
        .name("agora-store-removal".into())
        .spawn(move || {
            let result = run(&writer, events_per_step, first);
            if let Err(error) = &result {
                tracing::error!(%error, "removing a system failed; the next open resumes it");
            }
            let _ = reply.send(result);
        })
        .map_err(|source| StoreError::Thread {
            name: "agora-store-removal",
            source,
        })?;
    Ok(answer)
}

/// Times a failed step is tried again (another process writing the same file, such as `agora
/// admin`, can keep the database busy past the busy timeout), a second apart.
const STEP_RETRIES: u32 = 10;

/// Sends the writer `first`, then one step at a time, waiting for each, until the removal is
/// done.
fn run<T: Send + 'static>(
    writer: &mpsc::SyncSender<Job>,
    events_per_step: usize,
    first: First<T>,
) -> Result<(T, usize), StoreError> {
    let (value, system) = send(writer, first)?;
    let Some(system) = system else {
        return Ok((value, 0));
    };
    let mut events_removed = 0;
    let mut retries = 0;
    loop {
        match send(writer, move |tx| Ok(step(tx, &system, events_per_step)?)) {
            Ok(Step::More {
                events_removed: removed,
            }) => events_removed += removed,
            Ok(Step::Done) => {
                tracing::info!(events = events_removed, "removed a system");
                return Ok((value, events_removed));
            }
            Err(error @ StoreError::Engine { .. }) if retries < STEP_RETRIES => {
                retries += 1;
                tracing::warn!(%error, retries, "a removal step failed; trying again");
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
            Err(error) => return Err(error),
        }
    }
}

/// Sends the writer one write and waits for its result. A full write queue makes this wait for
/// room instead of failing: a removal is never refused half way.
fn send<T, F>(writer: &mpsc::SyncSender<Job>, write: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
{
    let (job, answer) = write_job(write);
    writer.send(job).map_err(|_| StoreError::WriterGone)?;
    answer.blocking_recv().map_err(|_| StoreError::WriterGone)?
}

/// The systems whose removal a crash interrupted, read at open before the writer starts.
pub(super) fn interrupted(connection: &Connection) -> rusqlite::Result<Vec<[u8; 32]>> {
    let systems: Vec<Vec<u8>> = connection
        .prepare("SELECT system FROM pending_removals")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(systems
        .into_iter()
        .filter_map(|system| <[u8; 32]>::try_from(system).ok())
        .collect())
}

/// Starts again, in the background, every removal a crash interrupted.
pub(super) fn resume(
    writer: &mpsc::SyncSender<Job>,
    systems: Vec<[u8; 32]>,
    events_per_step: usize,
) -> Result<(), StoreError> {
    if !systems.is_empty() {
        tracing::info!(systems = systems.len(), "resuming interrupted removals");
    }
    for system in systems {
        // Begun before the crash: the first write has nothing left to do. Nobody waits for
        // these; the thread logs how it ended.
        let first: First<()> = Box::new(move |_| Ok(((), Some(system))));
        drop(spawn(writer.clone(), events_per_step, first)?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! A large removal runs in steps that let other ingest through and leaves nothing, and one
    //! interrupted by a crash finishes after the next open.

    use std::time::{Duration, Instant};

    use agora_protocol::author::Author;
    use agora_protocol::content::opinion;
    use agora_protocol::{PublicKey, VerifiedEvent};
    use rusqlite::Connection;

    use super::{Reason, Step};
    use crate::sqlite::curation::tests::{assert_consistent, assert_system_gone, author};
    use crate::sqlite::{SqliteOptions, SqliteStore};
    use crate::{IngestOutcome, Store as _};

    const STEP_EVENTS: usize = 100;

    /// Events of `who` around `post` (another system's) of which `count` stay stored: a like,
    /// replies, a post and its DELETE (the post goes, the DELETE and its tombstone stay), and
    /// plain posts for the rest.
    fn events_of(who: &mut Author, post: &VerifiedEvent, count: usize) -> Vec<VerifiedEvent> {
        let mut events = vec![
            who.opinion(&post.pointer(), opinion::LIKE, 1_000)
                .expect("like"),
        ];
        let regret = who.post("regret", 1_001).expect("post");
        let delete = who.delete(&regret, 1_002).expect("delete");
        events.extend([regret, delete]);
        for n in 0..10 {
            events.push(who.reply("re", &post.pointer(), 1_010 + n).expect("reply"));
        }
        let mut at = 2_000;
        while events.len() < count + 1 {
            events.push(who.post("one of many", at).expect("post"));
            at += 1;
        }
        events
    }

    async fn ingest_all(store: &SqliteStore, events: Vec<VerifiedEvent>) {
        for batch in events.chunks(1_000) {
            let outcomes = store.ingest(batch.to_vec()).await.expect("ingest");
            assert!(
                outcomes
                    .iter()
                    .all(|outcome| *outcome == IngestOutcome::Stored),
                "{outcomes:?}"
            );
        }
    }

    fn stored_of(connection: &Connection, system: &PublicKey) -> i64 {
        connection
            .query_row(
                "SELECT count(*) FROM events WHERE system = ?1",
                [system.as_bytes().as_slice()],
                |row| row.get(0),
            )
            .expect("count")
    }

    fn pending_rows(connection: &Connection) -> i64 {
        connection
            .query_row("SELECT count(*) FROM pending_removals", [], |row| {
                row.get(0)
            })
            .expect("count")
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_large_removal_lets_other_ingest_through_and_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = SqliteOptions {
            removal_events_per_step: STEP_EVENTS,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open(dir.path(), options).expect("open");
        let (mut alice, mut bob, mut carol) = (author(1), author(2), author(3));
        let bob_post = bob.post("bob's", 500).expect("post");
        let mut events = vec![bob_post.clone()];
        events.extend(events_of(&mut alice, &bob_post, 5_000));
        ingest_all(&store, events).await;
        let bound = store
            .claim_handle(alice.system(), "alice".into(), true)
            .await
            .expect("claim");
        assert_eq!(bound, crate::HandleClaimOutcome::Bound);
        let connection = Connection::open(dir.path().join(SqliteStore::FILE_NAME)).expect("raw");
        assert_eq!(stored_of(&connection, &alice.system()), 5_000);

        let purge = tokio::spawn({
            let store = store.clone();
            let alice = alice.system();
            async move { store.remove_system(alice).await }
        });
        // Once the removal has begun, alice's new events are refused; those stored before it
        // are removed with the rest.
        let stored_before = until_refused(&store, &mut alice).await;
        let carol_post = carol.post("carol's", 600).expect("post");
        let outcomes = store.ingest(vec![carol_post]).await.expect("ingest");
        assert_eq!(outcomes, [IngestOutcome::Stored]);
        assert!(
            !purge.is_finished(),
            "carol's ingest waited for a step of the removal, not for all of it"
        );

        let removed = purge.await.expect("task").expect("remove");
        assert_eq!(removed, 5_000 + stored_before);
        assert_eq!(stored_of(&connection, &alice.system()), 0);
        assert!(
            store
                .ranges(alice.system())
                .await
                .expect("ranges")
                .is_empty()
        );
        assert_eq!(
            store.resolve_handle("alice".into()).await.expect("resolve"),
            None
        );
        assert_consistent(&connection);
        assert_system_gone(&connection, alice.system().as_bytes());
        assert_eq!(stored_of(&connection, &carol.system()), 1);

        // A purge is not a refusal: once it is done, alice may publish again.
        let again = alice.post("back", 30_000).expect("post");
        let outcomes = store.ingest(vec![again]).await.expect("ingest");
        assert_eq!(outcomes, [IngestOutcome::Stored]);
    }

    /// Ingests new events of `who` until one is refused, which shows its removal has begun;
    /// returns how many were stored before that.
    async fn until_refused(store: &SqliteStore, who: &mut Author) -> usize {
        let mut stored_before = 0;
        for at in 10_000.. {
            let late = who.post("during the removal", at).expect("post");
            match &store.ingest(vec![late]).await.expect("ingest")[..] {
                [IngestOutcome::Stored] => stored_before += 1,
                [IngestOutcome::Rejected(reason)] => {
                    assert_eq!(*reason, crate::ingest::Rejection::SystemBeingRemoved);
                    return stored_before;
                }
                other => panic!("{other:?}"),
            }
            assert!(at < 20_000, "the removal never began");
        }
        unreachable!("the loop returns or fails")
    }

    async fn until_no_removal_is_pending(connection: &Connection) {
        let started = Instant::now();
        while pending_rows(connection) > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the removal did not finish"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_removal_goes_on_when_its_caller_stops_waiting() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = SqliteOptions {
            removal_events_per_step: STEP_EVENTS,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open(dir.path(), options).expect("open");
        let (mut alice, mut bob) = (author(1), author(2));
        let bob_post = bob.post("bob's", 500).expect("post");
        let mut events = vec![bob_post.clone()];
        events.extend(events_of(&mut alice, &bob_post, 2_000));
        ingest_all(&store, events).await;
        let connection = Connection::open(dir.path().join(SqliteStore::FILE_NAME)).expect("raw");

        let purge = tokio::spawn({
            let store = store.clone();
            let alice = alice.system();
            async move { store.remove_system(alice).await }
        });
        until_refused(&store, &mut alice).await;
        // What a request deadline does to a purge in flight.
        purge.abort();
        until_no_removal_is_pending(&connection).await;
        assert_eq!(stored_of(&connection, &alice.system()), 0);
        assert_consistent(&connection);
        assert_system_gone(&connection, alice.system().as_bytes());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_removal_interrupted_by_a_crash_finishes_after_the_next_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        let (mut alice, mut bob) = (author(1), author(2));
        let bob_post = bob.post("bob's", 500).expect("post");
        let mut events = vec![bob_post.clone()];
        events.extend(events_of(&mut alice, &bob_post, 3_000));
        ingest_all(&store, events).await;
        drop(store);

        // What a crash leaves: the removal's first transaction and three steps committed.
        let mut connection =
            Connection::open(dir.path().join(SqliteStore::FILE_NAME)).expect("raw");
        let system = alice.system();
        let tx = connection.transaction().expect("transaction");
        super::begin(&tx, system.as_bytes(), Reason::Purge, 0).expect("begin");
        for _ in 0..3 {
            let step = super::step(&tx, system.as_bytes(), STEP_EVENTS).expect("step");
            assert_eq!(
                step,
                Step::More {
                    events_removed: STEP_EVENTS
                }
            );
        }
        tx.commit().expect("commit");
        assert_eq!(stored_of(&connection, &system), 2_700);

        let options = SqliteOptions {
            removal_events_per_step: STEP_EVENTS,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open(dir.path(), options).expect("reopen");
        until_no_removal_is_pending(&connection).await;
        assert_eq!(stored_of(&connection, &system), 0);
        assert_consistent(&connection);
        assert_system_gone(&connection, system.as_bytes());
        let again = alice.post("back", 30_000).expect("post");
        let outcomes = store.ingest(vec![again]).await.expect("ingest");
        assert_eq!(outcomes, [IngestOutcome::Stored]);
    }
}
