//! The embedded SQLite engine: WAL, one writer thread with group commit, parallel readers.

mod ingest;
mod queries;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_protocol::{PublicKey, VerifiedEvent, wire};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use tokio::sync::{Semaphore, oneshot};

use crate::{
    IndexPage, IndexQuery, IngestOutcome, ProcessRanges, ReferencesPage, ReferencesQuery, Store,
    StoreError,
};

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
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            group_events_max: 20_000,
            readers_max: 8,
            writer_cache_kib: 256 * 1024,
            reader_cache_kib: 64 * 1024,
        }
    }
}

/// The SQLite store. Cloning shares the same database, writer and readers.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// Batches for the writer thread, which owns the only write connection.
    writer: mpsc::Sender<WriteJob>,
    readers: Arc<ReaderPool>,
}

struct WriteJob {
    events: Vec<VerifiedEvent>,
    reply: oneshot::Sender<Result<Vec<IngestOutcome>, StoreError>>,
}

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
        let writer_connection = open_connection(&path, options.writer_cache_kib, false)?;
        writer_connection.execute_batch(include_str!("schema.sql"))?;
        let (writer, jobs) = mpsc::channel();
        let group_events_max = options.group_events_max;
        std::thread::Builder::new()
            .name("agora-store-writer".into())
            .spawn(move || run_writer(writer_connection, jobs, group_events_max))
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let readers = Arc::new(ReaderPool {
            path,
            cache_kib: options.reader_cache_kib,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(options.readers_max),
        });
        Ok(Self { writer, readers })
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
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(Duration::from_secs(5))?;
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

/// The writer loop: wait for one batch, take every batch already queued (up to
/// `group_events_max` events), apply them all in one transaction, then answer each.
fn run_writer(mut connection: Connection, jobs: mpsc::Receiver<WriteJob>, group_events_max: usize) {
    while let Ok(first) = jobs.recv() {
        let mut group = vec![first];
        let mut events = group[0].events.len();
        while events < group_events_max {
            let Ok(job) = jobs.try_recv() else { break };
            events += job.events.len();
            group.push(job);
        }
        match commit_group(&mut connection, &group) {
            Ok(outcomes) => {
                for (job, outcome) in group.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(outcome));
                }
            }
            // A failed group is retried batch by batch, so one batch cannot fail the others.
            Err(error) => {
                tracing::warn!(%error, batches = group.len(), "group commit failed; retrying singly");
                for job in group {
                    let result = commit_group(&mut connection, std::slice::from_ref(&job))
                        .map(|mut outcomes| outcomes.pop().unwrap_or_default());
                    let _ = job.reply.send(result);
                }
            }
        }
    }
}

fn commit_group(
    connection: &mut Connection,
    group: &[WriteJob],
) -> Result<Vec<Vec<IngestOutcome>>, StoreError> {
    let received_ms = now_ms();
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut outcomes = Vec::with_capacity(group.len());
    for job in group {
        let mut job_outcomes = Vec::with_capacity(job.events.len());
        for event in &job.events {
            job_outcomes.push(ingest::apply(&tx, event, received_ms)?);
        }
        outcomes.push(job_outcomes);
    }
    tx.commit()?;
    Ok(outcomes)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

impl Store for SqliteStore {
    async fn ingest(&self, events: Vec<VerifiedEvent>) -> Result<Vec<IngestOutcome>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(WriteJob { events, reply })
            .map_err(|_| StoreError::WriterGone)?;
        answer.await.map_err(|_| StoreError::WriterGone)?
    }

    async fn events_in_ranges(
        &self,
        system: PublicKey,
        ranges: Vec<ProcessRanges>,
        limit: usize,
    ) -> Result<Vec<wire::SignedEvent>, StoreError> {
        self.read(move |connection| queries::events_in_ranges(connection, &system, &ranges, limit))
            .await
    }

    async fn head(&self, system: PublicKey) -> Result<Vec<wire::SignedEvent>, StoreError> {
        self.read(move |connection| queries::head(connection, &system))
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
        self.read(move |connection| queries::latest(connection, &system, &content_types))
            .await
    }

    async fn index(&self, query: IndexQuery) -> Result<IndexPage, StoreError> {
        self.read(move |connection| queries::index(connection, &query))
            .await
    }

    async fn references(&self, query: ReferencesQuery) -> Result<ReferencesPage, StoreError> {
        self.read(move |connection| queries::references(connection, &query))
            .await
    }

    async fn healthy(&self) -> bool {
        self.read(|connection| Ok(connection.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
            .is_ok()
    }
}
