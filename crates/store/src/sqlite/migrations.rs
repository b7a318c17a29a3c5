//! Versioned schema migrations. A store's version is SQLite's `user_version`; opening applies
//! every migration above it, in order, each recording its version when it completes, and
//! refuses a store whose version is newer than this build knows (it was made by a newer
//! `agora`, and this one would misread it).
//!
//! Version 1 is the schema of `schema.sql` with the upgrades stores made before versions
//! needed (each detects its own work and does nothing on a new store). `schema.sql` is frozen
//! as version 1: a change to the schema is a new migration at the end of [`MIGRATIONS`].

use rusqlite::Connection;

use crate::StoreError;

/// One step of the schema: it brings a store at `version - 1` to `version`.
struct Migration {
    version: u32,
    what: &'static str,
    apply: fn(&mut Connection) -> Result<(), StoreError>,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        what: "the schema, and the upgrades of stores made before versions",
        apply: version_1,
    },
    Migration {
        version: 2,
        what: "spent challenges and the challenge key in the store",
        apply: version_2,
    },
];

/// The version this build writes.
pub const LATEST: u32 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Brings the store on `connection` to [`LATEST`].
pub(super) fn apply(connection: &mut Connection) -> Result<(), StoreError> {
    let version = version_of(connection)?;
    if version > LATEST {
        return Err(StoreError::Invalid(format!(
            "this store's schema is version {version}, newer than the {LATEST} this agora knows; \
             run the agora that made it, or a newer one"
        )));
    }
    for migration in MIGRATIONS.iter().filter(|m| m.version > version) {
        tracing::info!(
            version = migration.version,
            "migrating the store: {}",
            migration.what
        );
        (migration.apply)(connection)?;
        // `user_version` is written in the file header, so it commits with the transaction
        // around it; the migrations above commit their own work first, and each is idempotent,
        // so a crash between the two repeats it harmlessly.
        connection.pragma_update(None, "user_version", migration.version)?;
    }
    Ok(())
}

/// The store's schema version: 0 for a new file (and for stores made before versions).
pub(super) fn version_of(connection: &Connection) -> Result<u32, StoreError> {
    Ok(connection.pragma_query_value(None, "user_version", |row| row.get(0))?)
}

fn version_1(connection: &mut Connection) -> Result<(), StoreError> {
    super::scores::add_column(connection)?;
    connection.execute_batch(include_str!("schema.sql"))?;
    super::identity::prepare(connection)?;
    super::identity::fold_handles(connection)?;
    super::ingest::index_follows(connection)?;
    super::scores::backfill(connection)?;
    super::vocabulary::rebuild_once(connection)?;
    Ok(())
}

fn version_2(connection: &mut Connection) -> Result<(), StoreError> {
    let tx = connection.transaction()?;
    tx.execute_batch(include_str!("migrations/0002_challenges.sql"))?;
    let mut key = [0_u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    tx.execute(
        "INSERT OR IGNORE INTO store_settings (name, value) VALUES ('challenge_key', ?1)",
        [&key[..]],
    )?;
    tx.pragma_update(None, "user_version", 2)?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store as _;
    use crate::sqlite::{SqliteOptions, SqliteStore};

    fn raw(dir: &std::path::Path) -> Connection {
        Connection::open(dir.join(SqliteStore::FILE_NAME)).expect("raw")
    }

    #[test]
    fn a_new_store_is_at_the_latest_version_and_a_newer_one_is_refused_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        drop(SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open"));
        assert_eq!(version_of(&raw(dir.path())).expect("version"), LATEST);

        raw(dir.path())
            .pragma_update(None, "user_version", LATEST + 1)
            .expect("a newer store");
        let refused = SqliteStore::open(dir.path(), SqliteOptions::default())
            .expect_err("a newer schema is refused");
        let message = refused.to_string();
        assert!(
            message.contains(&format!("version {}", LATEST + 1)),
            "{message}"
        );
    }

    #[test]
    fn migrating_again_from_nothing_changes_nothing_that_was_made() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        let key = store.challenge_key();
        drop(store);
        // A crash after a migration's work and before its version was recorded repeats it.
        raw(dir.path())
            .pragma_update(None, "user_version", 0)
            .expect("forget the version");
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen");
        assert_eq!(store.challenge_key(), key);
        assert_eq!(version_of(&raw(dir.path())).expect("version"), LATEST);
    }
}
