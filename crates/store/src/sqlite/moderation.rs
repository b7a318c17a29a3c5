//! Moderation in the SQLite engine: labels written at ingest, relabeling when the rules change,
//! the read filter as SQL, and the server's tags attached to served events.
//!
//! Tables (schema.sql, "Moderation"): `moderation_status` says an event was labeled and by which
//! rules; `moderation_tags` holds one (name, level) row per category. A trigger removes both
//! when the event row goes, whatever removed it.

use agora_protocol::{VerifiedEvent, wire};
use rusqlite::{Connection, OptionalExtension as _, Transaction, params};

use super::ingest::clock_sql;
use crate::StoreError;
use crate::moderation::{Labeler, is_moderated};
use crate::prepare::decode_event;

/// The only status Agora writes: labeled by the local rules. Events without a status row are
/// "unprocessed" and, as in the reference's LAZY mode, are shown whatever the filters say.
const APPROVED: &str = "approved";

/// Labels a just-stored event, in the ingest transaction. A no-op for other types. Without a
/// labeler, storing a post, username or description forgets which rules the stored labels
/// follow, so the next start with rules labels what arrived meanwhile.
pub(super) fn label_stored(
    tx: &Transaction<'_>,
    labeler: Option<&Labeler>,
    event: &VerifiedEvent,
) -> Result<(), StoreError> {
    let Some(labeler) = labeler else {
        if is_moderated(event.content_type()) {
            tx.prepare_cached("DELETE FROM moderation_meta WHERE key = 'rules'")?
                .execute([])?;
        }
        return Ok(());
    };
    let Some(tags) = labeler.label_event(event.event()) else {
        return Ok(());
    };
    let id: Option<i64> = tx
        .prepare_cached(
            "SELECT id FROM events WHERE system = ?1 AND process = ?2 AND logical_clock = ?3",
        )?
        .query_row(
            params![
                event.system().as_bytes().as_slice(),
                event.process().as_bytes().as_slice(),
                clock_sql(event.logical_clock())
            ],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(id) = id {
        write_labels(tx, id, &tags, labeler.digest())?;
    }
    Ok(())
}

fn write_labels(
    tx: &Connection,
    id: i64,
    tags: &[(String, u32)],
    digest: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM moderation_tags WHERE event_id = ?1")?
        .execute([id])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO moderation_tags (event_id, name, level) VALUES (?1, ?2, ?3)",
    )?;
    for (name, level) in tags {
        insert.execute(params![id, name, level])?;
    }
    tx.prepare_cached(
        "INSERT OR REPLACE INTO moderation_status (event_id, status, rules) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![id, APPROVED, digest])?;
    Ok(())
}

/// Events relabeled per transaction while catching up with new rules.
const RELABEL_CHUNK: i64 = 2_000;

/// Brings stored labels in line with the configured rules, before the server takes requests.
/// With the same rules as last time this is one lookup; after a change (or the first start with
/// rules) every post, username and description is relabeled once, in chunks. Opening without
/// rules changes nothing (`agora admin` does that while the server runs).
pub(super) fn prepare(
    connection: &mut Connection,
    labeler: Option<&Labeler>,
) -> Result<(), StoreError> {
    let Some(labeler) = labeler else {
        return Ok(());
    };
    let applied: Option<String> = connection
        .query_row(
            "SELECT value FROM moderation_meta WHERE key = 'rules'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    if applied.as_deref() == Some(labeler.digest()) {
        return Ok(());
    }
    let mut after = 0i64;
    let mut relabeled = 0usize;
    loop {
        let tx = connection.transaction()?;
        let rows: Vec<(i64, Vec<u8>)> = tx
            .prepare_cached(
                "SELECT id, event FROM events WHERE id > ?1 AND content_type IN (3, 5, 6)
                 ORDER BY id LIMIT ?2",
            )?
            .query_map(params![after, RELABEL_CHUNK], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let Some(&(last, _)) = rows.last() else {
            tx.execute(
                "INSERT OR REPLACE INTO moderation_meta (key, value) VALUES ('rules', ?1)",
                [labeler.digest()],
            )?;
            tx.commit()?;
            break;
        };
        for (id, bytes) in &rows {
            if let Some(tags) = labeler.label_event(&decode_event(bytes)?) {
                write_labels(&tx, *id, &tags, labeler.digest())?;
                relabeled += 1;
            }
        }
        tx.commit()?;
        after = last;
    }
    tracing::info!(relabeled, "moderation labels follow the configured rules");
    Ok(())
}

/// A SQL condition that is true when the row `table` (an `events` row or alias) may be shown
/// under the filters bound at parameter `?{param}` (see [`crate::moderation::filter_param`]). Spec section 7:
/// moderation off, a type that is not moderated, or an unlabeled event shows; otherwise every
/// filter must pass. Costs a primary-key probe per filter, only on rows of moderated types.
pub(super) fn visible(table: &str, param: usize) -> String {
    format!(
        "(?{param} IS NULL OR {table}.content_type NOT IN (3, 5, 6)
          OR NOT EXISTS (SELECT 1 FROM moderation_status s WHERE s.event_id = {table}.id)
          OR NOT EXISTS (
            SELECT 1 FROM json_each(?{param}) f
            LEFT JOIN moderation_tags t
              ON t.event_id = {table}.id AND t.name = json_extract(f.value, '$[0]')
            WHERE (t.level IS NULL AND json_extract(f.value, '$[2]'))
               OR t.level > json_extract(f.value, '$[1]')))"
    )
}

/// Whether the event row `id` may be shown under the filters `moderation` (see [`visible`]),
/// for pages assembled one event at a time.
pub(super) fn shown(
    connection: &Connection,
    id: i64,
    moderation: Option<&str>,
) -> Result<bool, StoreError> {
    if moderation.is_none() {
        return Ok(true);
    }
    Ok(connection
        .prepare_cached(&format!(
            "SELECT {} FROM events WHERE id = ?1",
            visible("events", 2)
        ))?
        .query_row(params![id, moderation], |row| row.get(0))
        .optional()?
        .unwrap_or(true))
}

/// Sets the server's tags on served events of moderated types (moderation on only). The tags
/// sit beside the signed bytes, so clients still verify the signature.
pub(super) fn attach_tags(
    connection: &Connection,
    events: &mut [wire::SignedEvent],
) -> Result<(), StoreError> {
    let mut tags = connection.prepare_cached(
        "SELECT t.name, t.level FROM events e JOIN moderation_tags t ON t.event_id = e.id
         WHERE e.system = ?1 AND e.process = ?2 AND e.logical_clock = ?3 ORDER BY t.name",
    )?;
    for signed in events {
        let event = decode_event(&signed.event)?;
        if !is_moderated(event.content_type) {
            continue;
        }
        let (Some(system), Some(process)) = (&event.system, &event.process) else {
            continue;
        };
        signed.moderation_tags = tags
            .query_map(
                params![
                    system.key.as_ref(),
                    process.process.as_ref(),
                    clock_sql(event.logical_clock)
                ],
                |row| {
                    Ok(wire::ModerationTag {
                        name: row.get(0)?,
                        level: row.get(1)?,
                    })
                },
            )?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use agora_protocol::author::Author;
    use agora_protocol::{Process, SecretKey};

    use super::*;
    use crate::Store as _;
    use crate::sqlite::{SqliteOptions, SqliteStore};

    fn count(connection: &Connection, table: &str) -> i64 {
        connection
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .expect("count")
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn removing_an_event_row_removes_its_labels() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let labeler = Labeler::parse("spam 2 buy now\n").expect("rules");
        let store = SqliteStore::open(
            dir.path(),
            SqliteOptions {
                labeler: Some(Arc::new(labeler)),
                ..SqliteOptions::default()
            },
        )
        .expect("store");
        let mut alice = Author::new(
            SecretKey::from_seed(&[1; 32]),
            Process::from_bytes(&[1; 16]).expect("16"),
        );
        let post = alice.post("buy now", 1_000).expect("sign");
        let other = alice.post("hello", 2_000).expect("sign");
        store
            .ingest(vec![post.clone(), other])
            .await
            .expect("ingest");
        let file = dir.path().join(SqliteStore::FILE_NAME);
        let connection = Connection::open(&file).expect("open");
        assert_eq!(count(&connection, "moderation_tags"), 2);
        assert_eq!(count(&connection, "moderation_status"), 2);

        let delete = alice.delete(&post, 3_000).expect("sign");
        store.ingest(vec![delete]).await.expect("ingest");

        assert_eq!(count(&connection, "moderation_tags"), 1);
        assert_eq!(count(&connection, "moderation_status"), 1);
    }

    #[test]
    fn the_filter_keeps_a_feed_page_on_its_index() {
        let connection = Connection::open_in_memory().expect("memory");
        connection
            .execute_batch(include_str!("schema.sql"))
            .expect("schema");
        let plan: Vec<String> = connection
            .prepare(&format!(
                "EXPLAIN QUERY PLAN SELECT signature FROM events
                 WHERE system = ?1 AND feed_type = ?2 AND {}
                 ORDER BY feed_ms DESC, feed_process DESC, feed_lc DESC LIMIT ?3",
                visible("events", 4)
            ))
            .expect("prepare")
            .query_map(
                params![vec![0u8; 32], 3, 10, r#"[["spam",1,true]]"#],
                |row| row.get::<_, String>(3),
            )
            .expect("plan")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let plan = plan.join("\n");
        assert!(plan.contains("USING INDEX events_feed"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "no sort: {plan}");
        assert!(
            plan.contains("SEARCH t USING PRIMARY KEY (event_id=? AND name=?)"),
            "tags are probed by key: {plan}"
        );
        assert!(
            plan.contains("SEARCH s USING INTEGER PRIMARY KEY"),
            "status is probed by key: {plan}"
        );
    }
}
