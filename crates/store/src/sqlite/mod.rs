//! The embedded SQLite engine: WAL, one writer thread with group commit, parallel readers.

mod curation;
mod devices;
mod discovery;
mod identity;
mod ingest;
mod migrations;
mod moderation;
mod queries;
mod removal;
mod scores;
mod vocabulary;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_protocol::{Process, PublicKey, VerifiedEvent, wire};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{Semaphore, oneshot};

use crate::moderation::ReadFilter;
use crate::{
    CensorOutcome, CensorTarget, Censorship, CensorshipKind, ClaimQuery, ClaimVouchQuery,
    HandleBinding, HandleClaimOutcome, IndexPage, IndexQuery, IngestOutcome, ProcessRanges,
    ReferencesPage, ReferencesQuery, Store, StoreError, StreamFilter, StreamPage, VouchedClaim,
};
use crate::{ExploreCursor, ExplorePage, SearchPage, SearchQuery, TopicCount, TrendingQuery};

/// Tuning of the SQLite engine. `Default` is what `agora serve` uses.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Most events one writer transaction takes from queued batches. Default 20 000.
    pub group_events_max: usize,
    /// Most reader connections open at once. Default 8.
    pub readers_max: usize,
    /// Page cache per connection, in KiB. Default 256 MiB for the writer, shared by design of
    /// the OS page cache for readers (they get 64 MiB each).
    pub writer_cache_kib: i64,
    pub reader_cache_kib: i64,
    /// The local labeler (`agora serve --labeler-rules`). `None` is moderation off: no tags
    /// are served and `moderation_filters` hide nothing.
    pub labeler: Option<Arc<crate::moderation::Labeler>>,
    /// Most events one transaction of a system's removal (purge, refuse_storage) takes, so
    /// other writes wait at most that long. Default 1 000.
    pub removal_events_per_step: usize,
    /// Most writes waiting for the writer; one more is refused with [`StoreError::Busy`]
    /// (the server answers 503 with `Retry-After`). Default 1 024.
    pub write_queue_max: usize,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            group_events_max: 20_000,
            readers_max: 8,
            writer_cache_kib: 256 * 1024,
            reader_cache_kib: 64 * 1024,
            labeler: None,
            removal_events_per_step: 1_000,
            write_queue_max: 1_024,
        }
    }
}

/// The SQLite store. Cloning shares the same database, writer and readers.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Work for the writer thread, which owns the only write connection; bounded.
    writer: mpsc::SyncSender<Job>,
    /// What stops writes now, set by the writer thread (`Store::write_problem`).
    write_problem: Arc<Mutex<Option<String>>>,
    readers: Arc<ReaderPool>,
    labeler: Option<Arc<crate::moderation::Labeler>>,
    /// [`SqliteOptions::removal_events_per_step`].
    removal_events_per_step: usize,
    /// The `store_settings` challenge key, read at open.
    challenge_key: [u8; 32],
}

struct WriteJob {
    events: Vec<VerifiedEvent>,
    reply: oneshot::Sender<Result<Vec<IngestOutcome>, StoreError>>,
}

/// Work for the writer thread. Ingest batches queued together share one transaction; any other
/// write (handles, purge, curation) runs alone, in order with the batches around it.
enum Job {
    Ingest(WriteJob),
    Write(WriteTask),
}

/// A write other than ingest: runs on the writer connection and answers through its own channel.
type WriteTask = Box<dyn FnOnce(&mut Connection) + Send>;

impl SqliteStore {
    /// The database file inside a data directory.
    pub const FILE_NAME: &str = "agora.sqlite3";

    /// Opens (creating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path, options: SqliteOptions) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Open {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join(Self::FILE_NAME);
        let mut writer_connection = open_connection(&path, options.writer_cache_kib, false)?;
        migrations::apply(&mut writer_connection)?;
        moderation::prepare(&mut writer_connection, options.labeler.as_deref())?;
        discovery::prepare_merging(&writer_connection)?;
        let challenge_key = identity::challenge_key(&writer_connection)?;
        let interrupted = removal::interrupted(&writer_connection)?;
        let labeler = options.labeler.clone();
        let (writer, jobs) = mpsc::sync_channel(options.write_queue_max.max(1));
        let group_events_max = options.group_events_max;
        let write_problem = Arc::new(Mutex::new(None));
        let problem = WriterHealth(Arc::clone(&write_problem));
        std::thread::Builder::new()
            .name("agora-store-writer".into())
            .spawn(move || run_writer(writer_connection, jobs, group_events_max, labeler, problem))
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        removal::resume(&writer, interrupted, options.removal_events_per_step)?;
        let readers = Arc::new(ReaderPool {
            path,
            cache_kib: options.reader_cache_kib,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(options.readers_max),
        });
        Ok(Self {
            writer,
            write_problem,
            readers,
            labeler: options.labeler,
            removal_events_per_step: options.removal_events_per_step,
            challenge_key,
        })
    }

    /// Runs `write` in its own immediate transaction on the writer thread, committing when it
    /// returns `Ok`. For every write that is not ingest.
    async fn write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let (job, answer) = write_job(write);
        self.enqueue(job)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    /// Queues a job for the writer, refusing it when the queue is full.
    fn enqueue(&self, job: Job) -> Result<(), StoreError> {
        self.writer.try_send(job).map_err(|error| match error {
            mpsc::TrySendError::Full(_) => StoreError::Busy,
            mpsc::TrySendError::Disconnected(_) => StoreError::WriterGone,
        })
    }

    /// The systems with events here whose key starts with `prefix` (at most `limit`), for a
    /// person who names one by the first characters of its key.
    pub async fn systems_with_prefix(
        &self,
        prefix: Vec<u8>,
        limit: usize,
    ) -> Result<Vec<PublicKey>, StoreError> {
        self.read(move |connection| {
            let mut upper = prefix.clone();
            // The smallest key above every key with the prefix: the prefix plus one, carried.
            while let Some(last) = upper.pop() {
                if last < u8::MAX {
                    upper.push(last + 1);
                    break;
                }
            }
            let mut statement = connection.prepare_cached(
                "SELECT DISTINCT system FROM events WHERE system >= ?1 \
                 AND (?2 IS NULL OR system < ?2) ORDER BY system LIMIT ?3",
            )?;
            let upper = (!upper.is_empty()).then_some(upper);
            let rows = statement
                .query_map(rusqlite::params![prefix, upper, limit as i64], |row| {
                    row.get::<_, Vec<u8>>(0)
                })?;
            let mut systems = Vec::new();
            for row in rows {
                let bytes = row?;
                systems.push(
                    PublicKey::from_bytes(&bytes)
                        .map_err(|error| StoreError::Corrupt(error.to_string()))?,
                );
            }
            Ok(systems)
        })
        .await
    }

    /// Stored events after row `after_id`, at most `limit`, in the order they were stored,
    /// each with its row id (for copying a whole store: `agora admin migrate`).
    pub async fn events_after(
        &self,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, wire::SignedEvent)>, StoreError> {
        self.read(move |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT id, signature, event FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
            )?;
            let rows = statement.query_map(rusqlite::params![after_id, limit as i64], |row| {
                Ok((
                    row.get(0)?,
                    crate::prepare::signed_event(row.get(1)?, row.get(2)?),
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    /// Every handle binding (for copying a whole store).
    pub async fn handles(&self) -> Result<Vec<HandleBinding>, StoreError> {
        self.read(identity::all_bindings).await
    }

    /// Every challenge spent and not yet expired at `now_ms`, with its expiry (for copying a
    /// whole store).
    pub async fn spent_challenges(&self, now_ms: u64) -> Result<Vec<([u8; 32], u64)>, StoreError> {
        self.read(move |connection| identity::spent_challenges(connection, now_ms))
            .await
    }

    /// Runs `read` on a reader connection, off the async runtime.
    async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let _permit = readers
            .permits
            .acquire()
            .await
            .map_err(|_| StoreError::WriterGone)?;
        let pool = Arc::clone(&readers);
        tokio::task::spawn_blocking(move || {
            let connection = pool.take()?;
            // One transaction per read, so every statement of a query sees one snapshot even
            // while the writer commits.
            let result = connection
                .unchecked_transaction()
                .map_err(StoreError::from)
                .and_then(|snapshot| read(&snapshot));
            pool.give_back(connection);
            result
        })
        .await
        .map_err(|error| StoreError::Invalid(format!("reader task failed: {error}")))?
    }
}

/// Pages are read through a memory map of up to this size: readers share the OS page cache
/// instead of copying pages into per-connection caches with a system call each.
const MMAP_BYTES: u64 = 64 * 1024 * 1024 * 1024;

fn open_connection(path: &Path, cache_kib: i64, read_only: bool) -> Result<Connection, StoreError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let mut connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(Duration::from_secs(5))?;
    if !read_only {
        // The writer's transactions take the write lock when they begin, waiting out the busy
        // timeout for another writer (a store still closing in this process, a second
        // `agora` on the same directory). A deferred transaction that reads first and then
        // writes would instead fail at once with "database is locked" when it met one.
        connection.set_transaction_behavior(TransactionBehavior::Immediate);
    }
    // WAL lets readers run beside the writer. synchronous=FULL fsyncs the WAL at every commit,
    // so an acknowledged batch survives power loss; group commit keeps that to one fsync for
    // many batches.
    connection.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA temp_store = MEMORY;
         PRAGMA mmap_size = {MMAP_BYTES};
         PRAGMA cache_size = -{cache_kib};"
    ))?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

/// Reader connections, opened on demand and kept for reuse.
struct ReaderPool {
    path: PathBuf,
    cache_kib: i64,
    /// Connections not in use right now.
    idle: Mutex<Vec<Connection>>,
    /// Bounds how many readers run at once (and so how many connections exist).
    permits: Semaphore,
}

impl std::fmt::Debug for ReaderPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderPool")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ReaderPool {
    fn take(&self) -> Result<Connection, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop();
        match idle {
            Some(connection) => Ok(connection),
            None => open_connection(&self.path, self.cache_kib, true),
        }
    }

    fn give_back(&self, connection: Connection) {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(connection);
    }
}

/// A job running `write` in its own immediate transaction on the writer thread (committed when
/// it returns `Ok`), and where its result comes. For every write that is not ingest.
fn write_job<T, F>(write: F) -> (Job, oneshot::Receiver<Result<T, StoreError>>)
where
    T: Send + 'static,
    F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    let task: WriteTask = Box::new(move |connection: &mut Connection| {
        let result = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)
            .and_then(|tx| {
                let value = write(&tx)?;
                tx.commit()?;
                Ok(value)
            })
            .map_err(of_write);
        let _ = reply.send(result);
    });
    (Job::Write(task), answer)
}

/// The writer loop: wait for one batch, take every batch already queued (up to
/// `group_events_max` events), apply them all in one transaction, then answer each.
/// The writer thread's report of what stops writes: set on a full disk or a read-only store,
/// cleared by the next write that commits, and "stopped" when the thread ends (even by a
/// panic), since nothing will be written after that.
struct WriterHealth(Arc<Mutex<Option<String>>>);

impl WriterHealth {
    fn set(&self, problem: Option<String>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = problem;
    }

    /// Notes what a write's result says about the store's health.
    fn observe<T>(&self, result: &Result<T, StoreError>) {
        match result {
            Ok(_) => self.set(None),
            Err(error @ (StoreError::Full(_) | StoreError::ReadOnly(_))) => {
                self.set(Some(error.to_string()));
            }
            Err(_) => {}
        }
    }
}

impl Drop for WriterHealth {
    fn drop(&mut self) {
        self.set(Some("the store's writer has stopped".to_owned()));
    }
}

fn run_writer(
    mut connection: Connection,
    jobs: mpsc::Receiver<Job>,
    group_events_max: usize,
    labeler: Option<Arc<crate::moderation::Labeler>>,
    health: WriterHealth,
) {
    let labeler = labeler.as_deref();
    // A non-ingest job met while gathering a group waits here and runs right after it.
    let mut next: Option<Job> = None;
    // Whether the full-text indexes were merged as far as they go since the last write.
    let mut indexes_merged = false;
    loop {
        let job = match next.take() {
            Some(job) => job,
            None => match jobs.try_recv() {
                Ok(job) => job,
                Err(mpsc::TryRecvError::Disconnected) => break,
                // Idle: merge a few pages of the search indexes' segments between jobs, so a
                // term is looked up in few segments (each step is short, so a job that comes
                // waits little), then sleep until the next job.
                Err(mpsc::TryRecvError::Empty) if !indexes_merged => {
                    match discovery::merge_step(&connection) {
                        Ok(true) => {}
                        Ok(false) => indexes_merged = true,
                        Err(error) => {
                            tracing::debug!(%error, "merging the search indexes failed");
                            indexes_merged = true;
                        }
                    }
                    continue;
                }
                Err(mpsc::TryRecvError::Empty) => match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                },
            },
        };
        indexes_merged = false;
        let first = match job {
            Job::Write(task) => {
                task(&mut connection);
                continue;
            }
            Job::Ingest(first) => first,
        };
        let mut group = vec![first];
        let mut events = group[0].events.len();
        while events < group_events_max {
            match jobs.try_recv() {
                Ok(Job::Ingest(job)) => {
                    events += job.events.len();
                    group.push(job);
                }
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let committed = commit_group(&mut connection, &group, labeler).map_err(of_write);
        health.observe(&committed);
        match committed {
            Ok(outcomes) => {
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            // A failed group is retried batch by batch, so one batch cannot fail the others.
            Err(error) => {
                tracing::warn!(%error, batches = group.len(), "group commit failed; retrying singly");
                for job in group {
                    let result = commit_group(&mut connection, std::slice::from_ref(&job), labeler)
                        .map(|mut outcomes| outcomes.pop().unwrap_or_default())
                        .map_err(of_write);
                    health.observe(&result);
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

fn commit_group(
    connection: &mut Connection,
    group: &[WriteJob],
    labeler: Option<&crate::moderation::Labeler>,
) -> Result<Vec<Vec<IngestOutcome>>, StoreError> {
    let received_ms = now_ms();
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(group.len());
    for job in group {
        let mut job_outcomes = Vec::with_capacity(job.events.len());
        for event in &job.events {
            let outcome = ingest::apply(&tx, event, received_ms)?;
            if outcome == IngestOutcome::Stored {
                moderation::label_stored(&tx, labeler, event)?;
            }
            job_outcomes.push(outcome);
        }
        outcomes.push(job_outcomes);
    }
    tx.commit()?;
    Ok(outcomes)
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        StoreError::Engine {
            engine: "sqlite",
            source: Box::new(error),
        }
    }
}

/// The error a failed write means for whoever sent it: a full disk and a read-only store are
/// named as such (the request may succeed later), anything else stays as it was.
fn of_write(error: StoreError) -> StoreError {
    let StoreError::Engine { source, .. } = &error else {
        return error;
    };
    let Some(sqlite) = source.downcast_ref::<rusqlite::Error>() else {
        return error;
    };
    match sqlite.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full(sqlite.to_string()),
        Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen) => {
            StoreError::ReadOnly(sqlite.to_string())
        }
        _ => error,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

impl SqliteStore {
    /// The SQL filter parameter of a read (`None`: hide nothing) and whether to attach tags.
    fn moderation(&self, filter: &ReadFilter) -> (Option<String>, bool) {
        let labeler = self.labeler.as_deref();
        (
            crate::moderation::filter_param(filter, labeler),
            labeler.is_some(),
        )
    }
}

/// Attaches the server's tags to served events when moderation is on.
fn tag(
    connection: &Connection,
    tagged: bool,
    events: &mut [wire::SignedEvent],
) -> Result<(), StoreError> {
    if tagged {
        moderation::attach_tags(connection, events)?;
    }
    Ok(())
}

impl Store for SqliteStore {
    async fn ingest(&self, events: Vec<VerifiedEvent>) -> Result<Vec<IngestOutcome>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.enqueue(Job::Ingest(WriteJob { events, reply }))?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    async fn events_in_ranges_moderated(
        &self,
        system: PublicKey,
        ranges: Vec<ProcessRanges>,
        limit: usize,
        filter: ReadFilter,
    ) -> Result<Vec<wire::SignedEvent>, StoreError> {
        let (filter, tagged) = self.moderation(&filter);
        self.read(move |connection| {
            let mut events =
                queries::events_in_ranges(connection, &system, &ranges, limit, filter.as_deref())?;
            tag(connection, tagged, &mut events)?;
            Ok(events)
        })
        .await
    }

    async fn head(&self, system: PublicKey) -> Result<Vec<wire::SignedEvent>, StoreError> {
        let tagged = self.labeler.is_some();
        self.read(move |connection| {
            let mut events = queries::head(connection, &system)?;
            tag(connection, tagged, &mut events)?;
            Ok(events)
        })
        .await
    }

    async fn ranges(&self, system: PublicKey) -> Result<Vec<ProcessRanges>, StoreError> {
        self.read(move |connection| queries::ranges(connection, &system))
            .await
    }

    async fn latest(
        &self,
        system: PublicKey,
        content_types: Vec<u64>,
    ) -> Result<Vec<wire::SignedEvent>, StoreError> {
        let tagged = self.labeler.is_some();
        self.read(move |connection| {
            let mut events = queries::latest(connection, &system, &content_types)?;
            tag(connection, tagged, &mut events)?;
            Ok(events)
        })
        .await
    }

    async fn index_moderated(
        &self,
        query: IndexQuery,
        filter: ReadFilter,
    ) -> Result<IndexPage, StoreError> {
        let (filter, tagged) = self.moderation(&filter);
        self.read(move |connection| {
            let mut page = queries::index(connection, &query, filter.as_deref())?;
            tag(connection, tagged, &mut page.events)?;
            tag(connection, tagged, &mut page.proof)?;
            Ok(page)
        })
        .await
    }

    async fn references_moderated(
        &self,
        query: ReferencesQuery,
        filter: ReadFilter,
    ) -> Result<ReferencesPage, StoreError> {
        // Spec section 7: a pointer subject (replies to one post) applies no moderation.
        let filter = match query.subject {
            crate::Subject::Pointer(_) | crate::Subject::System(_) => ReadFilter::default(),
            crate::Subject::Bytes(_) => filter,
        };
        let (filter, tagged) = self.moderation(&filter);
        self.read(move |connection| {
            let mut page = queries::references(connection, &query, filter.as_deref())?;
            for (event, _) in &mut page.items {
                tag(connection, tagged, std::slice::from_mut(event))?;
            }
            Ok(page)
        })
        .await
    }

    async fn claim_handle(
        &self,
        system: PublicKey,
        handle: String,
        proven: bool,
    ) -> Result<HandleClaimOutcome, StoreError> {
        self.write(move |tx| identity::claim_handle(tx, &system, &handle, proven, now_ms()))
            .await
    }

    async fn resolve_handle(&self, handle: String) -> Result<Option<HandleBinding>, StoreError> {
        self.read(move |connection| identity::binding_of_handle(connection, &handle))
            .await
    }

    async fn release_handle(&self, system: PublicKey) -> Result<Option<String>, StoreError> {
        self.write(move |tx| identity::release_handle(tx, &system))
            .await
    }

    async fn resolve_claims(&self, query: ClaimQuery) -> Result<Vec<VouchedClaim>, StoreError> {
        self.read(move |connection| identity::resolve_claims(connection, &query))
            .await
    }

    async fn find_claim_and_vouch(
        &self,
        query: ClaimVouchQuery,
    ) -> Result<Option<VouchedClaim>, StoreError> {
        self.read(move |connection| identity::find_claim_and_vouch(connection, &query))
            .await
    }

    async fn search_moderated(
        &self,
        query: SearchQuery,
        filter: ReadFilter,
    ) -> Result<SearchPage, StoreError> {
        // Spec section 7: only the messages search is filtered.
        let filter = match query.kind {
            crate::SearchKind::Messages => filter,
            crate::SearchKind::Profiles => ReadFilter::default(),
        };
        let (filter, tagged) = self.moderation(&filter);
        self.read(move |connection| {
            let mut page = discovery::search(connection, &query, filter.as_deref())?;
            tag(connection, tagged, &mut page.events)?;
            Ok(page)
        })
        .await
    }

    async fn explore_moderated(
        &self,
        cursor: Option<ExploreCursor>,
        limit: usize,
        filter: ReadFilter,
    ) -> Result<ExplorePage, StoreError> {
        let (filter, tagged) = self.moderation(&filter);
        self.read(move |connection| {
            let mut page = discovery::explore(connection, cursor, limit, filter.as_deref())?;
            tag(connection, tagged, &mut page.events)?;
            Ok(page)
        })
        .await
    }

    async fn trending_topics(&self, query: TrendingQuery) -> Result<Vec<TopicCount>, StoreError> {
        self.read(move |connection| discovery::trending(connection, &query))
            .await
    }

    async fn recommended_profiles_moderated(
        &self,
        count: usize,
        filter: ReadFilter,
    ) -> Result<Vec<PublicKey>, StoreError> {
        let (filter, _) = self.moderation(&filter);
        self.read(move |connection| discovery::recommended(connection, count, filter.as_deref()))
            .await
    }

    async fn remove_system(&self, system: PublicKey) -> Result<usize, StoreError> {
        let first: removal::First<()> = Box::new(move |tx| {
            let reason = removal::Reason::Purge;
            removal::begin(tx, system.as_bytes(), reason, now_ms())?;
            Ok(((), Some(*system.as_bytes())))
        });
        let answer = removal::spawn(self.writer.clone(), self.removal_events_per_step, first)?;
        let ((), events_removed) = answer.await.map_err(|_| StoreError::WriterGone)??;
        Ok(events_removed)
    }

    async fn remove_event(
        &self,
        system: PublicKey,
        process: Process,
        logical_clock: u64,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| {
            Ok(curation::remove_slot(
                tx,
                system.as_bytes(),
                process.as_bytes(),
                ingest::clock_sql(logical_clock),
            )?)
        })
        .await
    }

    async fn censor(
        &self,
        target: CensorTarget,
        kind: CensorshipKind,
    ) -> Result<CensorOutcome, StoreError> {
        // Refusing a system begins its removal in the censorship's transaction; its steps
        // follow on the removal's thread.
        let first: removal::First<CensorOutcome> = Box::new(move |tx| {
            let outcome = curation::censor(tx, &target, kind, now_ms())?;
            let removed = match target {
                CensorTarget::System(system) if outcome.kind == CensorshipKind::RefuseStorage => {
                    Some(*system.as_bytes())
                }
                _ => None,
            };
            Ok((outcome, removed))
        });
        let answer = removal::spawn(self.writer.clone(), self.removal_events_per_step, first)?;
        let (outcome, events_removed) = answer.await.map_err(|_| StoreError::WriterGone)??;
        Ok(CensorOutcome {
            events_removed: outcome.events_removed + events_removed,
            ..outcome
        })
    }

    async fn uncensor(&self, target: CensorTarget) -> Result<Option<CensorshipKind>, StoreError> {
        self.write(move |tx| curation::uncensor(tx, &target)).await
    }

    async fn censorships(&self) -> Result<Vec<Censorship>, StoreError> {
        self.read(curation::censorships).await
    }

    async fn edits(&self, slot: [u8; 56]) -> Result<Vec<wire::SignedEvent>, StoreError> {
        self.read(move |connection| queries::edits(connection, &slot))
            .await
    }

    async fn latest_edits(
        &self,
        slots: Vec<[u8; 56]>,
    ) -> Result<Vec<wire::SignedEvent>, StoreError> {
        self.read(move |connection| {
            let mut latest = Vec::new();
            for slot in &slots {
                latest.extend(queries::edits(connection, slot)?.pop());
            }
            Ok(latest)
        })
        .await
    }

    async fn stream_after(
        &self,
        after: u64,
        filter: StreamFilter,
        limit: usize,
    ) -> Result<StreamPage, StoreError> {
        self.read(move |connection| queries::stream_after(connection, after, &filter, limit))
            .await
    }

    async fn stream_head(&self) -> Result<u64, StoreError> {
        self.read(queries::stream_head).await
    }

    fn challenge_key(&self) -> [u8; 32] {
        self.challenge_key
    }

    async fn spend_challenge(
        &self,
        challenge: [u8; 32],
        expires_ms: u64,
        now_ms: u64,
    ) -> Result<bool, StoreError> {
        self.write(move |tx| identity::spend_challenge(tx, &challenge, expires_ms, now_ms))
            .await
    }

    async fn healthy(&self) -> bool {
        self.read(|connection| Ok(connection.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
            .is_ok()
    }

    fn write_problem(&self) -> Option<String> {
        self.write_problem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The database file with its write-ahead log and shared-memory index.
    fn size_bytes(&self) -> Option<u64> {
        let path = &self.readers.path;
        let mut total = std::fs::metadata(path).ok()?.len();
        for suffix in ["-wal", "-shm"] {
            let mut side = path.clone().into_os_string();
            side.push(suffix);
            total += std::fs::metadata(&side).map_or(0, |meta| meta.len());
        }
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_protocol::author::Author;
    use agora_protocol::{Process, SecretKey};

    fn post() -> VerifiedEvent {
        let mut author = Author::new(
            SecretKey::from_seed(&[5; 32]),
            Process::from_bytes(&[5; 16]).expect("16 bytes"),
        );
        author.post("queued", 1_000).expect("sign")
    }

    #[tokio::test]
    async fn a_full_write_queue_refuses_the_next_write_as_busy() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = SqliteOptions {
            write_queue_max: 1,
            ..SqliteOptions::default()
        };
        let store = SqliteStore::open(dir.path(), options).expect("open");
        // The writer is held by a write that waits for the test.
        let (release, held) = std::sync::mpsc::channel::<()>();
        let blocker = store.write(move |_| {
            let _ = held.recv();
            Ok(())
        });
        tokio::pin!(blocker);
        let running = tokio::time::timeout(Duration::from_millis(200), &mut blocker).await;
        assert!(running.is_err(), "the blocking write holds the writer");
        // One ingest takes the queue's one place (its answer is not awaited) ...
        let queued = tokio::time::timeout(Duration::from_millis(100), store.ingest(vec![post()]));
        assert!(queued.await.is_err(), "queued behind the blocking write");
        // ... and the next is refused at once.
        assert!(matches!(
            store.ingest(vec![post()]).await,
            Err(StoreError::Busy)
        ));
        release.send(()).expect("release");
        blocker.await.expect("the blocking write commits");
        // Once the writer has caught up, writes are taken again.
        let mut outcome = store.ingest(vec![post()]).await;
        for _ in 0..50 {
            if !matches!(outcome, Err(StoreError::Busy)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            outcome = store.ingest(vec![post()]).await;
        }
        assert!(outcome.is_ok(), "{outcome:?}");
        assert_eq!(store.write_problem(), None);
    }

    #[tokio::test]
    async fn a_writer_that_stops_is_reported_and_later_writes_fail_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        assert_eq!(store.write_problem(), None);
        let crashed: Result<(), StoreError> = store.write(|_| panic!("a bug in a write")).await;
        assert!(
            matches!(crashed, Err(StoreError::WriterGone)),
            "{crashed:?}"
        );
        // The thread reports as it unwinds, just after the caller hears of it.
        for _ in 0..100 {
            if store.write_problem().is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            store
                .write_problem()
                .is_some_and(|problem| problem.contains("stopped")),
            "{:?}",
            store.write_problem()
        );
        assert!(matches!(
            store.ingest(vec![post()]).await,
            Err(StoreError::WriterGone)
        ));
        assert!(store.healthy().await, "reads still work");
    }
}
