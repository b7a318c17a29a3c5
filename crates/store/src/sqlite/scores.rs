//! Reference scores: every `refs` row carries the score of its referencing event (likes minus
//! dislikes: the winning LWW writes about the event's slot with value `[1]` or `[2]`), kept
//! exact in the transaction that changes a winner, so a `/query_references` page is an index
//! range after its cursor (`refs_ranked`, `refs_ranked_any_type`) instead of a ranking of every
//! referencing event.
//!
//! Stores older than the column get it at open ([`add_column`], before the schema's indexes
//! need it) and their scores computed once ([`backfill`], under the `reference_scores` marker).

use agora_protocol::content::{self, opinion};
use rusqlite::{Connection, OptionalExtension as _, params};

/// The `identity_meta` key present once every `refs` row holds its event's score.
const SCORES_KEPT: &str = "reference_scores";

/// The score of the event in `slot` (a slot key), from the winning writes only; 0 when nobody
/// likes or dislikes it. The event need not be stored: opinions may arrive first.
pub(super) fn of_slot(connection: &Connection, slot: &[u8]) -> rusqlite::Result<i64> {
    connection
        .prepare_cached(
            "SELECT COALESCE(SUM(CASE value WHEN X'01' THEN count WHEN X'02' THEN -count
                                            ELSE 0 END), 0)
             FROM lww_counts WHERE kind = ?1 AND subject = ?2",
        )?
        .query_row(params![content::REFERENCE_POINTER as i64, slot], |row| {
            row.get(0)
        })
}

/// Whether a winning write with `value` about a pointer counts in its subject's score.
pub(super) fn counts_in_score(value: &[u8]) -> bool {
    value == opinion::LIKE || value == opinion::DISLIKE
}

/// Sets the score of the `refs` rows of the event stored in `slot`, if one is; called after
/// the winners about `slot` changed.
pub(super) fn refresh(connection: &Connection, slot: &[u8]) -> rusqlite::Result<()> {
    let Some(id) = event_in_slot(connection, slot)? else {
        return Ok(());
    };
    let score = of_slot(connection, slot)?;
    connection
        .prepare_cached("UPDATE refs SET score = ?1 WHERE event_id = ?2 AND score != ?1")?
        .execute(params![score, id])?;
    Ok(())
}

/// The row id of the event stored in a slot key, if any.
fn event_in_slot(connection: &Connection, slot: &[u8]) -> rusqlite::Result<Option<i64>> {
    let Some((system, rest)) = slot.split_at_checked(32) else {
        return Ok(None);
    };
    let Some((process, clock)) = rest.split_at_checked(16) else {
        return Ok(None);
    };
    let Ok(clock) = <[u8; 8]>::try_from(clock) else {
        return Ok(None);
    };
    connection
        .prepare_cached(
            "SELECT id FROM events WHERE system = ?1 AND process = ?2 AND logical_clock = ?3",
        )?
        .query_row(
            params![
                system,
                process,
                super::ingest::clock_sql(u64::from_be_bytes(clock))
            ],
            |row| row.get(0),
        )
        .optional()
}

/// Adds the `score` column to the `refs` table of a store created before it, so the schema's
/// indexes over it can be built. Runs before the schema; a new store has no table yet.
pub(super) fn add_column(connection: &Connection) -> rusqlite::Result<()> {
    let columns: Vec<String> = connection
        .prepare("SELECT name FROM pragma_table_info('refs')")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    if columns.is_empty() || columns.iter().any(|column| column == "score") {
        return Ok(());
    }
    connection.execute(
        "ALTER TABLE refs ADD COLUMN score INTEGER NOT NULL DEFAULT 0",
        [],
    )?;
    tracing::info!("added reference scores to the refs table");
    Ok(())
}

/// Computes every `refs` score once, in one transaction, for a store without the marker: only
/// slots somebody liked or disliked are visited. A crash leaves the marker unset and the next
/// open redoes it; a new store sets the marker at no cost.
pub(super) fn backfill(connection: &mut Connection) -> rusqlite::Result<()> {
    let kept = connection
        .prepare_cached("SELECT 1 FROM identity_meta WHERE key = ?1")?
        .exists([SCORES_KEPT])?;
    if kept {
        return Ok(());
    }
    let tx = connection.transaction()?;
    tx.execute("UPDATE refs SET score = 0 WHERE score != 0", [])?;
    let scored: Vec<Vec<u8>> = tx
        .prepare(
            "SELECT DISTINCT subject FROM lww_counts
             WHERE kind = ?1 AND value IN (X'01', X'02')",
        )?
        .query_map([content::REFERENCE_POINTER as i64], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for slot in &scored {
        refresh(&tx, slot)?;
    }
    tx.execute(
        "INSERT INTO identity_meta (key, value) VALUES (?1, '1')",
        [SCORES_KEPT],
    )?;
    tx.commit()?;
    if !scored.is_empty() {
        tracing::info!(
            slots = scored.len(),
            "computed the scores of referencing events"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! A store from before the `score` column: the column, its indexes and every score arrive
    //! at the next open, and pages come back in score order.

    use agora_protocol::content::opinion;
    use rusqlite::Connection;

    use crate::sqlite::curation::tests::author;
    use crate::sqlite::{SqliteOptions, SqliteStore};
    use crate::{IngestOutcome, ReferencesQuery, ReferencingEvents, Store as _, Subject};

    fn scores(connection: &Connection) -> Vec<(i64, i64)> {
        connection
            .prepare("SELECT event_id, score FROM refs ORDER BY event_id")
            .expect("prepare")
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
    }

    fn indexes(connection: &Connection) -> Vec<String> {
        connection
            .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'refs'")
            .expect("prepare")
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("names")
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_store_without_scores_gets_them_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut alice, mut bob, mut carol, mut dave) =
            (author(1), author(2), author(3), author(4));
        let post = alice.post("post", 100).expect("post");
        let replies: Vec<_> = (1..=3)
            .map(|n| bob.reply("reply", &post.pointer(), 100 + n).expect("reply"))
            .collect();
        let mut events = vec![post.clone()];
        events.extend(replies.iter().cloned());
        events.push(
            carol
                .opinion(&replies[0].pointer(), opinion::LIKE, 200)
                .expect("like"),
        );
        events.push(
            dave.opinion(&replies[0].pointer(), opinion::LIKE, 201)
                .expect("like"),
        );
        events.push(
            dave.opinion(&replies[2].pointer(), opinion::DISLIKE, 202)
                .expect("dislike"),
        );
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        let outcomes = store.ingest(events).await.expect("ingest");
        assert!(outcomes.iter().all(|o| *o == IngestOutcome::Stored));
        drop(store);
        let raw = Connection::open(dir.path().join(SqliteStore::FILE_NAME)).expect("raw");
        let kept = scores(&raw);
        assert!(kept.iter().any(|(_, score)| *score == 2), "{kept:?}");
        assert!(kept.iter().any(|(_, score)| *score == -1), "{kept:?}");

        // What a store from before the column looks like: no column, its old index, no marker,
        // no schema version.
        raw.execute_batch(
            "PRAGMA user_version = 0;
             DROP INDEX refs_ranked; DROP INDEX refs_ranked_any_type;
             ALTER TABLE refs DROP COLUMN score;
             CREATE INDEX refs_subject ON refs (kind, subject, from_type, event_id);
             DELETE FROM identity_meta WHERE key = 'reference_scores';",
        )
        .expect("an old store");

        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen");
        assert_eq!(scores(&raw), kept, "every score computed again");
        let mut names = indexes(&raw);
        names.sort();
        assert_eq!(names, ["refs_event", "refs_ranked", "refs_ranked_any_type"]);
        let page = store
            .references(ReferencesQuery {
                subject: Subject::Pointer(post.slot_key()),
                events: Some(ReferencingEvents {
                    from_type: Some(agora_protocol::content::POST),
                    counts: Vec::new(),
                }),
                counts: Vec::new(),
                cursor: None,
                page_size: 20,
            })
            .await
            .expect("references");
        let clocks: Vec<u64> = page
            .items
            .iter()
            .map(|(event, _)| {
                agora_protocol::VerifiedEvent::verify(event)
                    .expect("verifies")
                    .logical_clock()
            })
            .collect();
        assert_eq!(clocks, [1, 2, 3], "liked twice, unliked, disliked");
    }
}
