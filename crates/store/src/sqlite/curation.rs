//! Operator curation on SQLite: removing stored events with all their derived rows, the
//! `censored_systems` / `censored_events` tables, and the ingest refusal they cause.
//!
//! Removal goes through ingest's own [`super::ingest::remove_event`], so reference counts,
//! LWW winners and opinion counts are kept by the same code that keeps them on a DELETE; the
//! AFTER DELETE triggers on `events` clean every other derived table (claims, discovery).
//! Removing a whole system (refuse_storage of a system, and purge) is done in steps by
//! `removal.rs`.

use agora_protocol::{Process, PublicKey};
use rusqlite::{Connection, OptionalExtension as _, Transaction, params};

use super::ingest::{clock_sql, remove_event};
use crate::ingest::Curation;
use crate::{CensorOutcome, CensorTarget, Censorship, CensorshipKind, StoreError};

/// Removes the event stored in one slot, if any, and the tombstone it holds when it is a
/// DELETE (the deleted slot then holds nothing). A tombstone *in* the slot is kept: it records
/// the author's own deletion, not the removed content.
pub(super) fn remove_slot(
    tx: &Transaction<'_>,
    system: &[u8],
    process: &[u8],
    clock: i64,
) -> rusqlite::Result<bool> {
    tx.prepare_cached(
        "DELETE FROM deletions WHERE system = ?1 AND delete_id =
             (SELECT id FROM events WHERE system = ?1 AND process = ?2 AND logical_clock = ?3)",
    )?
    .execute(params![system, process, clock])?;
    remove_event(tx, system, process, clock)
}

/// The curation the ingest rules see for an event in this slot: whether an operator refused
/// storage of it or of its whole system, and whether the system is being removed.
pub(super) fn in_force(
    tx: &Transaction<'_>,
    system: &[u8],
    process: &[u8],
    clock: i64,
) -> rusqlite::Result<Curation> {
    let (system_refused, event_refused): (bool, bool) = tx
        .prepare_cached(
            "SELECT
                 EXISTS (SELECT 1 FROM censored_systems
                         WHERE system = ?1 AND kind = 'refuse_storage'),
                 EXISTS (SELECT 1 FROM censored_events
                         WHERE system = ?1 AND process = ?2 AND logical_clock = ?3
                           AND kind = 'refuse_storage')",
        )?
        .query_row(params![system, process, clock], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
    Ok(Curation {
        system_refused,
        event_refused,
        system_being_removed: super::removal::pending(tx, system)?,
    })
}

/// Records a censorship (a stronger kind replaces a weaker one; a weaker or equal one changes
/// nothing), and for refuse_storage removes what is stored of an event target, or begins the
/// removal of a system target (`removal.rs`; the caller runs its steps once this commits).
pub(super) fn censor(
    tx: &Transaction<'_>,
    target: &CensorTarget,
    requested: CensorshipKind,
    now_ms: i64,
) -> Result<CensorOutcome, StoreError> {
    let plan = crate::curation::CensorPlan::new(kind_of(tx, target)?, requested);
    let (kind, changed) = (plan.kind, plan.changed);
    if changed {
        match target {
            CensorTarget::System(system) => tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO censored_systems (system, kind, created_ms)
                     VALUES (?1, ?2, ?3)",
                )?
                .execute(params![system.as_bytes().as_slice(), kind.as_str(), now_ms])?,
            CensorTarget::Event {
                system,
                process,
                logical_clock,
            } => tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO censored_events
                         (system, process, logical_clock, kind, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    system.as_bytes().as_slice(),
                    process.as_bytes().as_slice(),
                    clock_sql(*logical_clock),
                    kind.as_str(),
                    now_ms
                ])?,
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
                )?;
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
                    clock_sql(*logical_clock),
                )?;
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
pub(super) fn uncensor(
    tx: &Transaction<'_>,
    target: &CensorTarget,
) -> Result<Option<CensorshipKind>, StoreError> {
    let previous = kind_of(tx, target)?;
    match target {
        CensorTarget::System(system) => tx
            .prepare_cached("DELETE FROM censored_systems WHERE system = ?1")?
            .execute([system.as_bytes().as_slice()])?,
        CensorTarget::Event {
            system,
            process,
            logical_clock,
        } => tx
            .prepare_cached(
                "DELETE FROM censored_events
                 WHERE system = ?1 AND process = ?2 AND logical_clock = ?3",
            )?
            .execute(params![
                system.as_bytes().as_slice(),
                process.as_bytes().as_slice(),
                clock_sql(*logical_clock)
            ])?,
    };
    Ok(previous)
}

/// Every censorship in force: systems first, then events, oldest first within each.
pub(super) fn censorships(connection: &Connection) -> Result<Vec<Censorship>, StoreError> {
    let mut list = Vec::new();
    let systems: Vec<(Vec<u8>, String, i64)> = connection
        .prepare_cached(
            "SELECT system, kind, created_ms FROM censored_systems ORDER BY created_ms, system",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (system, kind, created_ms) in systems {
        list.push(Censorship {
            target: CensorTarget::System(public_key(&system)?),
            kind: stored_kind(&kind)?,
            created_ms: created_ms.max(0) as u64,
        });
    }
    let events: Vec<CensoredEventRow> = connection
        .prepare_cached(
            "SELECT system, process, logical_clock, kind, created_ms FROM censored_events
             ORDER BY created_ms, system, process, logical_clock",
        )?
        .query_map([], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    for (system, process, clock, kind, created_ms) in events {
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

/// A `censored_events` row: system, process, clock, kind, created_ms.
type CensoredEventRow = (Vec<u8>, Vec<u8>, i64, String, i64);

fn kind_of(
    tx: &Transaction<'_>,
    target: &CensorTarget,
) -> Result<Option<CensorshipKind>, StoreError> {
    let stored: Option<String> = match target {
        CensorTarget::System(system) => tx
            .prepare_cached("SELECT kind FROM censored_systems WHERE system = ?1")?
            .query_row([system.as_bytes().as_slice()], |row| row.get(0))
            .optional()?,
        CensorTarget::Event {
            system,
            process,
            logical_clock,
        } => tx
            .prepare_cached(
                "SELECT kind FROM censored_events
                 WHERE system = ?1 AND process = ?2 AND logical_clock = ?3",
            )?
            .query_row(
                params![
                    system.as_bytes().as_slice(),
                    process.as_bytes().as_slice(),
                    clock_sql(*logical_clock)
                ],
                |row| row.get(0),
            )
            .optional()?,
    };
    stored.as_deref().map(stored_kind).transpose()
}

fn stored_kind(text: &str) -> Result<CensorshipKind, StoreError> {
    CensorshipKind::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown censorship kind {text:?}")))
}

fn public_key(bytes: &[u8]) -> Result<PublicKey, StoreError> {
    PublicKey::from_bytes(bytes)
        .map_err(|error| StoreError::Corrupt(format!("censored system: {error}")))
}

#[cfg(test)]
pub(super) mod tests {
    //! Removal leaves no derived row behind, whatever tables the schema holds: every table with
    //! an `event_id` column (and the search indexes) points at live events or profiles only,
    //! every counter equals what its source rows say, and a removed system is left only in the
    //! censorship tables.

    use agora_protocol::author::{Author, Draft};
    use agora_protocol::content::{self, opinion};
    use agora_protocol::{Process, SecretKey, VerifiedEvent, wire};
    use prost::Message as _;
    use rusqlite::Connection;

    use crate::Store as _;
    use crate::sqlite::{SqliteOptions, SqliteStore};

    pub(in crate::sqlite) fn author(seed: u8) -> Author {
        Author::new(
            SecretKey::from_seed(&[seed; 32]),
            Process::from_bytes(&[seed; 16]).expect("16 bytes"),
        )
    }

    fn count(connection: &Connection, sql: &str) -> i64 {
        connection
            .query_row(sql, [], |row| row.get(0))
            .unwrap_or_else(|error| panic!("{sql}: {error}"))
    }

    fn rows(connection: &Connection, sql: &str) -> Vec<Vec<rusqlite::types::Value>> {
        let mut statement = connection.prepare(sql).expect("prepare");
        let width = statement.column_count();
        let mut rows: Vec<Vec<rusqlite::types::Value>> = statement
            .query_map([], |row| (0..width).map(|index| row.get(index)).collect())
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        rows.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        rows
    }

    fn tables(connection: &Connection) -> Vec<String> {
        let mut statement = connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND sql NOT LIKE 'CREATE VIRTUAL%'")
            .expect("prepare");
        statement
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("names")
    }

    fn columns(connection: &Connection, table: &str) -> Vec<String> {
        let mut statement = connection
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .expect("prepare");
        statement
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("columns")
    }

    /// No table holds a row keyed by `system`, but the operator's curation rows.
    pub(in crate::sqlite) fn assert_system_gone(connection: &Connection, system: &[u8]) {
        for table in tables(connection) {
            let columns = columns(connection, &table);
            let keeps = ["censored_systems", "censored_events"];
            for column in ["system", "author"] {
                if columns.iter().any(|c| c == column) && !keeps.contains(&table.as_str()) {
                    let left: i64 = connection
                        .query_row(
                            &format!("SELECT count(*) FROM {table} WHERE {column} = ?1"),
                            [system],
                            |row| row.get(0),
                        )
                        .expect("count");
                    assert_eq!(left, 0, "{table}.{column} still holds the removed system");
                }
            }
        }
    }

    /// Every derived row points at a live event, and every count equals its source rows.
    pub(in crate::sqlite) fn assert_consistent(connection: &Connection) {
        for table in tables(connection) {
            if table != "events" && columns(connection, &table).iter().any(|c| c == "event_id") {
                let dangling = count(
                    connection,
                    &format!(
                        "SELECT count(*) FROM {table} WHERE event_id NOT IN (SELECT id FROM events)"
                    ),
                );
                assert_eq!(dangling, 0, "{table} has rows of removed events");
            }
        }
        assert_eq!(
            count(
                connection,
                "SELECT count(*) FROM deletions WHERE delete_id NOT IN (SELECT id FROM events)"
            ),
            0,
            "tombstones whose DELETE is gone"
        );
        if tables(connection).iter().any(|t| t == "post_search_data") {
            assert_eq!(
                count(
                    connection,
                    "SELECT count(*) FROM post_search WHERE rowid NOT IN (SELECT id FROM events)"
                ),
                0,
                "search documents of removed posts"
            );
        }
        if tables(connection)
            .iter()
            .any(|t| t == "profile_search_data")
        {
            assert_eq!(
                count(
                    connection,
                    "SELECT count(*) FROM profile_search WHERE rowid NOT IN (SELECT id FROM profiles)"
                ),
                0,
                "search documents of removed profiles"
            );
        }
        assert_eq!(
            rows(
                connection,
                "SELECT kind, subject, from_type, count FROM ref_counts"
            ),
            rows(
                connection,
                "SELECT kind, subject, from_type, count(*) FROM refs GROUP BY kind, subject, from_type"
            ),
            "reference counts equal the live references"
        );
        assert_eq!(
            rows(
                connection,
                "SELECT author, content_type, kind, subject, event_id, value FROM lww_latest"
            ),
            rows(
                connection,
                concat!(
                    "SELECT author, content_type, kind, subject, event_id, value FROM (
                         SELECT *, row_number() OVER (
                             PARTITION BY author, content_type, kind, subject
                             ORDER BY ",
                    crate::lww::winner_first!(),
                    ") AS rank
                     FROM lww_refs)
                     WHERE rank = 1"
                )
            ),
            "each winner is the latest live write"
        );
        assert_eq!(
            rows(
                connection,
                "SELECT kind, subject, value, from_type, count FROM lww_counts"
            ),
            rows(
                connection,
                "SELECT kind, subject, value, content_type, count(*) FROM lww_latest
                 GROUP BY kind, subject, value, content_type"
            ),
            "opinion counts equal the winners"
        );
        assert_scores_exact(connection);
        crate::sqlite::vocabulary::tests::assert_counts_live_texts(connection);
    }

    /// Every `refs` row holds its event's likes minus dislikes.
    fn assert_scores_exact(connection: &Connection) {
        let mut statement = connection
            .prepare(
                "SELECT r.score, e.system, e.process, e.logical_clock
                 FROM refs r JOIN events e ON e.id = r.event_id",
            )
            .expect("prepare");
        let rows: Vec<(i64, Vec<u8>, Vec<u8>, i64)> = statement
            .query_map([], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        for (score, system, process, clock) in rows {
            let mut slot = system;
            slot.extend_from_slice(&process);
            slot.extend_from_slice(&(clock as u64).to_be_bytes());
            let exact = crate::sqlite::scores::of_slot(connection, &slot).expect("score");
            assert_eq!(score, exact, "the score of the event at clock {clock}");
        }
    }

    /// A CLAIM of type 1 with one field (key 1) holding `value`.
    pub(in crate::sqlite) fn claim(author: &mut Author, value: &str, at: u64) -> VerifiedEvent {
        let body = wire::Claim {
            claim_type: 1,
            claim_fields: vec![wire::ClaimFieldEntry {
                key: 1,
                value: value.to_owned(),
            }],
        };
        author
            .publish(
                Draft {
                    content_type: content::CLAIM,
                    content: body.encode_to_vec(),
                    ..Draft::default()
                },
                at,
            )
            .expect("claim")
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn removal_leaves_no_derived_row_behind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        let (mut alice, mut bob, mut carol) = (author(1), author(2), author(3));
        let alice_post = alice.post("alice", 100).expect("post");
        let bob_post = bob
            .topic_post("bob on walruses", "/walrus", 110)
            .expect("post");
        let mut events = vec![alice_post.clone(), bob_post.clone()];
        events.push(
            bob.set_element(content::USERNAME, b"bobname", 120)
                .expect("name"),
        );
        events.push(
            bob.set_element(content::DESCRIPTION, b"about bob", 130)
                .expect("about"),
        );
        events.push(
            bob.reply("hi alice", &alice_post.pointer(), 140)
                .expect("reply"),
        );
        events.push(
            bob.opinion(&alice_post.pointer(), opinion::LIKE, 150)
                .expect("like"),
        );
        events.push(
            bob.opinion(&alice_post.pointer(), opinion::DISLIKE, 160)
                .expect("revote"),
        );
        events.push(claim(&mut bob, "bob@example", 170));
        let regret = bob.post("regret", 180).expect("post");
        events.push(regret.clone());
        events.push(bob.delete(&regret, 190).expect("delete"));
        let carol_like = carol
            .opinion(&bob_post.pointer(), opinion::LIKE, 200)
            .expect("like");
        events.push(carol_like.clone());
        events.push(
            carol
                .reply("hi bob", &bob_post.pointer(), 210)
                .expect("reply"),
        );
        events.push(
            carol
                .opinion(&alice_post.pointer(), opinion::LIKE, 220)
                .expect("like"),
        );
        events.push(
            alice
                .opinion(&bob_post.pointer(), opinion::DISLIKE, 230)
                .expect("opinion"),
        );
        let outcomes = store.ingest(events).await.expect("ingest");
        assert!(
            outcomes.iter().all(|o| *o == crate::IngestOutcome::Stored),
            "{outcomes:?}"
        );

        assert_eq!(
            store
                .claim_handle(bob.system(), "bob".into(), true)
                .await
                .expect("claim"),
            crate::HandleClaimOutcome::Bound
        );

        let connection = Connection::open(dir.path().join(SqliteStore::FILE_NAME)).expect("open");
        assert_consistent(&connection);
        let bob_key = bob.system();
        let bob_bytes = bob_key.as_bytes().as_slice();
        assert!(
            count(&connection, "SELECT count(*) FROM claims") > 0,
            "the claim is indexed"
        );

        assert_eq!(
            store.remove_system(bob_key).await.expect("remove"),
            8,
            "nine published, one of them deleted"
        );
        assert_consistent(&connection);
        assert_system_gone(&connection, bob_bytes);

        let removed = store
            .remove_event(
                carol.system(),
                *carol_like.process(),
                carol_like.logical_clock(),
            )
            .await
            .expect("remove");
        assert!(removed);
        assert_consistent(&connection);
    }
}
