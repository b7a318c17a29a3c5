//! The PostgreSQL engine: the same [`Store`] contract and rules as the SQLite engine, over a
//! database that several `agora serve` nodes share.
//!
//! Every write is one transaction that first takes the store's write lock (a transaction-level
//! advisory lock, [`WRITE_LOCK`]), so writes from every node apply one at a time, as on the
//! SQLite engine's single writer: the rules read what is stored and decide without races, and
//! stream positions (a sequence, taken under the lock) commit in order. Reads run beside the
//! writes, each in one snapshot. Nothing a node keeps in memory is needed for correctness.

mod cached;
mod curation;
mod discovery;
mod identity;
mod ingest;
mod migrations;
mod moderation;
mod queries;
mod removal;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use agora_protocol::{Process, PublicKey, VerifiedEvent, wire};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Transaction};
use tokio_postgres::NoTls;

use crate::moderation::ReadFilter;
use crate::{
    CensorOutcome, CensorTarget, Censorship, CensorshipKind, ClaimQuery, ClaimVouchQuery,
    ExploreCursor, ExplorePage, HandleBinding, HandleClaimOutcome, IndexPage, IndexQuery,
    IngestOutcome, ProcessRanges, ReferencesPage, ReferencesQuery, SearchPage, SearchQuery, Store,
    StoreError, StreamFilter, StreamPage, TopicCount, TrendingQuery, VouchedClaim,
};

pub use migrations::LATEST as SCHEMA_VERSION;

/// Where a database URL points, without its password: `the PostgreSQL database D at H:P`.
pub fn describe(url: &str) -> String {
    let Ok(config) = url.parse::<tokio_postgres::Config>() else {
        return "a PostgreSQL database".to_owned();
    };
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let database = config.get_dbname().unwrap_or("(default)");
    format!("the PostgreSQL database {database} at {host}:{port}")
}

/// The advisory lock every write transaction holds: this key ("agwr" in ASCII) with a hash of
/// the store's schema, so stores in other schemas of the database (a test's, another
/// deployment's) never wait for it. A hash collision only makes two stores take turns.
pub const WRITE_LOCK: i32 = 0x6167_7772;

/// Takes [`WRITE_LOCK`] of the schema on the search path until the transaction ends.
const TAKE_WRITE_LOCK: &str =
    "SELECT pg_advisory_xact_lock($1, hashtext(coalesce(current_schema(), '')))";

/// How to reach the database, and tuning. [`PgOptions::new`] has what `agora serve` uses.
#[derive(Clone, Debug)]
pub struct PgOptions {
    /// `postgres://user@host:port/database` (libpq's URL or key=value forms).
    pub url: String,
    /// The schema the store lives in (the connections' `search_path`); `None`: the database's
    /// default, `public`. Tests give each store a schema of its own.
    pub schema: Option<String>,
    /// Most connections this node holds. Default 16.
    pub connections_max: usize,
    /// The local labeler, as [`crate::sqlite::SqliteOptions::labeler`].
    pub labeler: Option<Arc<crate::moderation::Labeler>>,
    /// Most events one transaction of a system's removal takes. Default 1 000.
    pub removal_events_per_step: usize,
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            connections_max: 16,
            labeler: None,
            removal_events_per_step: 1_000,
        }
    }
}

/// The PostgreSQL store. Cloning shares the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    labeler: Option<Arc<crate::moderation::Labeler>>,
    removal_events_per_step: usize,
    challenge_key: [u8; 32],
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("connections", &self.pool.status())
            .finish_non_exhaustive()
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        match error.code() {
            Some(code) if *code == SqlState::DISK_FULL => StoreError::Full(error.to_string()),
            Some(code) if *code == SqlState::READ_ONLY_SQL_TRANSACTION => {
                StoreError::ReadOnly(error.to_string())
            }
            _ => StoreError::Engine {
                engine: "postgres",
                source: Box::new(error),
            },
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        StoreError::Engine {
            engine: "postgres",
            source: Box::new(error),
        }
    }
}

impl PgStore {
    /// Connects, brings the schema to [`SCHEMA_VERSION`] (waiting for another node doing the
    /// same), and resumes removals a crash interrupted.
    pub async fn open(options: PgOptions) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = options
            .url
            .parse()
            .map_err(|error| StoreError::Invalid(format!("the database URL: {error}")))?;
        if let Some(schema) = &options.schema {
            config.options(format!("-c search_path={schema}"));
        }
        config.application_name("agora");
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.connections_max.max(2))
            .build()
            .map_err(|error| StoreError::Invalid(format!("the connection pool: {error}")))?;
        let mut client = pool.get().await?;
        migrations::apply(&mut client).await?;
        let challenge_key = identity::challenge_key(&client).await?;
        moderation::prepare(&mut client, options.labeler.as_deref()).await?;
        drop(client);
        let store = Self {
            pool,
            labeler: options.labeler,
            removal_events_per_step: options.removal_events_per_step,
            challenge_key,
        };
        removal::resume(&store).await?;
        Ok(store)
    }

    /// Whether no event was ever stored here (a copy goes only into an empty store).
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one("SELECT NOT EXISTS (SELECT 1 FROM events)", &[])
            .await?;
        Ok(row.get(0))
    }

    /// After a bulk load (`agora admin migrate`): `VACUUM (ANALYZE)` on every table of the
    /// store's schema, so the planner knows the tables' sizes and reads of freshly loaded rows
    /// are index-only scans instead of a heap page per row (autovacuum gets there too, later;
    /// on a store loaded with 500,000 events, `/ranges` served 680 requests/s before and 2,200
    /// after).
    pub async fn vacuum_analyze(&self) -> Result<(), StoreError> {
        let client = self.client().await?;
        let tables: Vec<String> = client
            .query(
                "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
                 WHERE schemaname = current_schema()",
                &[],
            )
            .await?
            .into_iter()
            .map(|row| row.get(0))
            .collect();
        for table in tables {
            // VACUUM cannot run in a transaction: each is a statement of its own.
            client
                .batch_execute(&format!("VACUUM (ANALYZE) {table}"))
                .await?;
        }
        Ok(())
    }

    /// Takes `key` as the challenge key of every node opened from now on, so challenges issued
    /// under the store this one was copied from stay valid (this handle keeps the old key).
    pub async fn adopt_challenge_key(&self, key: [u8; 32]) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE store_settings SET value = $1 WHERE name = 'challenge_key'",
                &[&&key[..]],
            )
            .await?;
        Ok(())
    }

    async fn client(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// The SQL filter parameter of a read (`None`: hide nothing) and whether to attach tags.
    fn moderation(&self, filter: &ReadFilter) -> (Option<String>, bool) {
        let labeler = self.labeler.as_deref();
        (
            crate::moderation::filter_param(filter, labeler),
            labeler.is_some(),
        )
    }
}

/// Begins a write: a transaction holding the store's write lock.
pub(crate) async fn begin_write(client: &mut Object) -> Result<Transaction<'_>, StoreError> {
    let tx = client.transaction().await?;
    tx.execute(TAKE_WRITE_LOCK, &[&WRITE_LOCK]).await?;
    Ok(tx)
}

/// Begins a read: one snapshot for every statement of the read.
pub(crate) async fn begin_read(client: &mut Object) -> Result<Transaction<'_>, StoreError> {
    Ok(client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// Clocks and times are u64 on the wire and bigint here; ingest stores none over
/// [`crate::bounds::STORED_MAX`], so a stored value keeps its value and its order.
pub(crate) fn int(value: u64) -> i64 {
    value as i64
}

/// Runs `$body` (an expression using `$tx`) in a write transaction and commits it.
macro_rules! write {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let $tx = begin_write(&mut client).await?;
        let answer = $body;
        $tx.commit().await?;
        Ok::<_, StoreError>(answer)
    }};
}

/// Runs `$body` (an expression using `$tx`) in a read-only snapshot.
macro_rules! read {
    ($store:expr, |$tx:ident| $body:expr) => {{
        let mut client = $store.client().await?;
        let $tx = begin_read(&mut client).await?;
        let answer = $body;
        $tx.commit().await?;
        Ok::<_, StoreError>(answer)
    }};
}

impl Store for PgStore {
    async fn ingest(&self, events: Vec<VerifiedEvent>) -> Result<Vec<IngestOutcome>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let held = ingest::already_stored(&self.client().await?, &events).await?;
        let fresh: Vec<VerifiedEvent> = events
            .into_iter()
            .zip(&held)
            .filter_map(|(event, &held)| (!held).then_some(event))
            .collect();
        let applied = if fresh.is_empty() {
            Vec::new()
        } else {
            write!(self, |tx| ingest::apply_batch(
                &tx,
                &fresh,
                self.labeler.as_deref()
            )
            .await?)?
        };
        let mut applied = applied.into_iter();
        held.into_iter()
            .map(|held| match held {
                true => Ok(IngestOutcome::Duplicate),
                false => applied.next().ok_or_else(|| {
                    StoreError::Corrupt("ingest answered fewer outcomes than events".into())
                }),
            })
            .collect()
    }

    async fn events_in_ranges_moderated(
        &self,
        system: PublicKey,
        ranges: Vec<ProcessRanges>,
        limit: usize,
        filter: ReadFilter,
    ) -> Result<Vec<wire::SignedEvent>, StoreError> {
        let (filter, tagged) = self.moderation(&filter);
        read!(self, |tx| {
            let mut events =
                queries::events_in_ranges(&tx, &system, &ranges, limit, filter.as_deref()).await?;
            moderation::tag(&tx, tagged, &mut events).await?;
            events
        })
    }

    async fn head(&self, system: PublicKey) -> Result<Vec<wire::SignedEvent>, StoreError> {
        let tagged = self.labeler.is_some();
        read!(self, |tx| {
            let mut events = queries::head(&tx, &system).await?;
            moderation::tag(&tx, tagged, &mut events).await?;
            events
        })
    }

    async fn ranges(&self, system: PublicKey) -> Result<Vec<ProcessRanges>, StoreError> {
        read!(self, |tx| queries::ranges(&tx, &system).await?)
    }

    async fn latest(
        &self,
        system: PublicKey,
        content_types: Vec<u64>,
    ) -> Result<Vec<wire::SignedEvent>, StoreError> {
        let tagged = self.labeler.is_some();
        read!(self, |tx| {
            let mut events = queries::latest(&tx, &system, &content_types).await?;
            moderation::tag(&tx, tagged, &mut events).await?;
            events
        })
    }

    async fn index_moderated(
        &self,
        query: IndexQuery,
        filter: ReadFilter,
    ) -> Result<IndexPage, StoreError> {
        let (filter, tagged) = self.moderation(&filter);
        read!(self, |tx| {
            let mut page = queries::index(&tx, &query, filter.as_deref()).await?;
            moderation::tag(&tx, tagged, &mut page.events).await?;
            moderation::tag(&tx, tagged, &mut page.proof).await?;
            page
        })
    }

    async fn references_moderated(
        &self,
        query: ReferencesQuery,
        filter: ReadFilter,
    ) -> Result<ReferencesPage, StoreError> {
        let (filter, tagged) = self.moderation(&filter);
        read!(self, |tx| {
            let mut page = queries::references(&tx, &query, filter.as_deref()).await?;
            for (event, _) in &mut page.items {
                moderation::tag(&tx, tagged, std::slice::from_mut(event)).await?;
            }
            page
        })
    }

    async fn claim_handle(
        &self,
        system: PublicKey,
        handle: String,
        proven: bool,
    ) -> Result<HandleClaimOutcome, StoreError> {
        write!(self, |tx| identity::claim_handle(
            &tx,
            &system,
            &handle,
            proven,
            now_ms()
        )
        .await?)
    }

    async fn resolve_handle(&self, handle: String) -> Result<Option<HandleBinding>, StoreError> {
        read!(self, |tx| identity::binding_of_handle(&tx, &handle).await?)
    }

    async fn release_handle(&self, system: PublicKey) -> Result<Option<String>, StoreError> {
        write!(self, |tx| identity::release_handle(&tx, &system).await?)
    }

    async fn resolve_claims(&self, query: ClaimQuery) -> Result<Vec<VouchedClaim>, StoreError> {
        read!(self, |tx| identity::resolve_claims(&tx, &query).await?)
    }

    async fn find_claim_and_vouch(
        &self,
        query: ClaimVouchQuery,
    ) -> Result<Option<VouchedClaim>, StoreError> {
        read!(self, |tx| identity::find_claim_and_vouch(&tx, &query)
            .await?)
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
        read!(self, |tx| {
            let mut page = discovery::search(&tx, &query, filter.as_deref()).await?;
            moderation::tag(&tx, tagged, &mut page.events).await?;
            page
        })
    }

    async fn explore_moderated(
        &self,
        cursor: Option<ExploreCursor>,
        limit: usize,
        filter: ReadFilter,
    ) -> Result<ExplorePage, StoreError> {
        let (filter, tagged) = self.moderation(&filter);
        read!(self, |tx| {
            let mut page = discovery::explore(&tx, cursor, limit, filter.as_deref()).await?;
            moderation::tag(&tx, tagged, &mut page.events).await?;
            page
        })
    }

    async fn trending_topics(&self, query: TrendingQuery) -> Result<Vec<TopicCount>, StoreError> {
        read!(self, |tx| discovery::trending(&tx, &query).await?)
    }

    async fn recommended_profiles_moderated(
        &self,
        count: usize,
        filter: ReadFilter,
    ) -> Result<Vec<PublicKey>, StoreError> {
        let (filter, _) = self.moderation(&filter);
        read!(self, |tx| discovery::recommended(
            &tx,
            count,
            filter.as_deref()
        )
        .await?)
    }

    async fn remove_system(&self, system: PublicKey) -> Result<usize, StoreError> {
        write!(self, |tx| removal::begin(
            &tx,
            system.as_bytes(),
            removal::Reason::Purge,
            now_ms()
        )
        .await?)?;
        removal::run(self, system).await
    }

    async fn remove_event(
        &self,
        system: PublicKey,
        process: Process,
        logical_clock: u64,
    ) -> Result<bool, StoreError> {
        write!(self, |tx| curation::remove_slot(
            &tx,
            system.as_bytes(),
            process.as_bytes(),
            int(logical_clock)
        )
        .await?)
    }

    async fn censor(
        &self,
        target: CensorTarget,
        kind: CensorshipKind,
    ) -> Result<CensorOutcome, StoreError> {
        // Refusing a system begins its removal in the censorship's transaction; its steps
        // follow, each a write of its own.
        let outcome = write!(self, |tx| curation::censor(&tx, &target, kind, now_ms())
            .await?)?;
        let events_removed = match target {
            CensorTarget::System(system) if outcome.kind == CensorshipKind::RefuseStorage => {
                removal::run(self, system).await?
            }
            _ => 0,
        };
        Ok(CensorOutcome {
            events_removed: outcome.events_removed + events_removed,
            ..outcome
        })
    }

    async fn uncensor(&self, target: CensorTarget) -> Result<Option<CensorshipKind>, StoreError> {
        write!(self, |tx| curation::uncensor(&tx, &target).await?)
    }

    async fn censorships(&self) -> Result<Vec<Censorship>, StoreError> {
        read!(self, |tx| curation::censorships(&tx).await?)
    }

    async fn edits(&self, slot: [u8; 56]) -> Result<Vec<wire::SignedEvent>, StoreError> {
        read!(self, |tx| queries::edits(&tx, &slot).await?)
    }

    async fn latest_edits(
        &self,
        slots: Vec<[u8; 56]>,
    ) -> Result<Vec<wire::SignedEvent>, StoreError> {
        read!(self, |tx| {
            // One read per post, sent together: the connection pipelines them.
            let edits =
                futures::future::try_join_all(slots.iter().map(|slot| queries::edits(&tx, slot)))
                    .await?;
            edits
                .into_iter()
                .filter_map(|mut edits| edits.pop())
                .collect()
        })
    }

    async fn stream_after(
        &self,
        after: u64,
        filter: StreamFilter,
        limit: usize,
    ) -> Result<StreamPage, StoreError> {
        read!(self, |tx| queries::stream_after(&tx, after, &filter, limit)
            .await?)
    }

    async fn stream_head(&self) -> Result<u64, StoreError> {
        read!(self, |tx| queries::stream_head(&tx).await?)
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
        // No write lock: the primary key decides between racing spends.
        let client = self.client().await?;
        identity::spend_challenge(&client, &challenge, expires_ms, now_ms).await
    }

    async fn healthy(&self) -> bool {
        match self.client().await {
            Ok(client) => client.execute("SELECT 1", &[]).await.is_ok(),
            Err(_) => false,
        }
    }
}
