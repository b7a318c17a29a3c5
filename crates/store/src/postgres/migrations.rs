//! Versioned schema migrations for PostgreSQL, safe when several nodes start at once: a start
//! takes a session advisory lock, applies every numbered migration above the recorded version
//! in its own transaction (recording it there), and releases the lock, so the second node to
//! start waits and then finds nothing to do. A schema newer than this build is refused by name.

use tokio_postgres::Client;

use crate::StoreError;

/// The advisory lock key of schema changes ("agmg" in ASCII), taken with a hash of the schema
/// (as [`super::WRITE_LOCK`]): nodes of one store take turns, other schemas' stores do not wait.
const MIGRATION_LOCK: i32 = 0x6167_6d67;

/// (version, what it brings, its SQL), in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "the core schema",
        include_str!("migrations/0001_core.sql"),
    ),
    (
        2,
        "discovery",
        include_str!("migrations/0002_discovery.sql"),
    ),
    (
        3,
        "search words in document order",
        include_str!("migrations/0003_post_words.sql"),
    ),
];

/// The version this build writes.
pub const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

/// Brings the schema on `client`'s search path to [`LATEST`].
pub(super) async fn apply(client: &mut Client) -> Result<(), StoreError> {
    // The schema's hash, read once: unlocking must name the key that was locked.
    let schema: i32 = client
        .query_one("SELECT hashtext(coalesce(current_schema(), ''))", &[])
        .await?
        .get(0);
    client
        .execute(
            "SELECT pg_advisory_lock($1, $2)",
            &[&MIGRATION_LOCK, &schema],
        )
        .await?;
    let applied = apply_locked(client).await;
    client
        .execute(
            "SELECT pg_advisory_unlock($1, $2)",
            &[&MIGRATION_LOCK, &schema],
        )
        .await?;
    applied
}

async fn apply_locked(client: &mut Client) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version bigint PRIMARY KEY,
                 applied_ms bigint NOT NULL
             )",
        )
        .await?;
    let version: i64 = client
        .query_one("SELECT COALESCE(max(version), 0) FROM schema_version", &[])
        .await?
        .get(0);
    if version > LATEST {
        return Err(StoreError::Invalid(format!(
            "this database's schema is version {version}, newer than the {LATEST} this agora \
             knows; run the agora that made it, or a newer one"
        )));
    }
    for (number, what, sql) in MIGRATIONS.iter().filter(|(number, ..)| *number > version) {
        tracing::info!(version = number, "migrating the database: {what}");
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_version (version, applied_ms) VALUES ($1, $2)",
            &[number, &super::now_ms()],
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}
