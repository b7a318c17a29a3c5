//! Moderation labels on PostgreSQL (the SQLite engine's `sqlite/moderation.rs`): labels written
//! at ingest, relabeling at start when the rules changed, the read filter's SQL condition, and
//! the tags attached to served events.
//!
//! Tables (migrations/0001_core.sql): `moderation_status` says an event was labeled and by
//! which rules; `moderation_tags` holds one (name, level) row per category. Both reference the
//! event row ON DELETE CASCADE, so they go with it, whatever removed it.

use agora_protocol::{VerifiedEvent, wire};
use deadpool_postgres::Object;
use deadpool_postgres::Transaction;

use super::cached::Cached as _;

use super::int;
use crate::StoreError;
use crate::moderation::{Labeler, is_moderated};
use crate::prepare::decode_event;

type Result<T> = std::result::Result<T, StoreError>;

/// The only status Agora writes: labeled by the local rules. Events without a status row are
/// "unprocessed" and, as in the reference's LAZY mode, are shown whatever the filters say.
const APPROVED: &str = "approved";

/// Labels a just-stored event of a moderated type (row `id`) under the local rules, in the
/// ingest transaction. A no-op for other types. Without a labeler, storing a post, username or
/// description forgets which rules the stored labels follow, so the next start with rules
/// labels what arrived meanwhile.
pub(super) async fn label_stored(
    tx: &Transaction<'_>,
    labeler: Option<&Labeler>,
    event: &VerifiedEvent,
    id: i64,
) -> Result<()> {
    let Some(labeler) = labeler else {
        if is_moderated(event.content_type()) {
            tx.execute("DELETE FROM moderation_meta WHERE key = 'rules'", &[])
                .await?;
        }
        return Ok(());
    };
    let Some(tags) = labeler.label_event(event.event()) else {
        return Ok(());
    };
    write_labels(tx, id, &tags, labeler.digest()).await
}

async fn write_labels(
    tx: &Transaction<'_>,
    id: i64,
    tags: &[(String, u32)],
    digest: &str,
) -> Result<()> {
    tx.execute("DELETE FROM moderation_tags WHERE event_id = $1", &[&id])
        .await?;
    let insert = tx
        .prepare_cached("INSERT INTO moderation_tags (event_id, name, level) VALUES ($1, $2, $3)")
        .await?;
    for (name, level) in tags {
        tx.execute(&insert, &[&id, name, &i64::from(*level)])
            .await?;
    }
    tx.execute(
        "INSERT INTO moderation_status (event_id, status, rules) VALUES ($1, $2, $3)
         ON CONFLICT (event_id) DO UPDATE SET status = excluded.status, rules = excluded.rules",
        &[&id, &APPROVED, &digest],
    )
    .await?;
    Ok(())
}

/// Events relabeled per transaction while catching up with new rules.
const RELABEL_CHUNK: i64 = 2_000;

/// Brings stored labels in line with the configured rules, before the server takes requests.
/// With the same rules as last time this is one lookup; after a change (or the first start with
/// rules) every post, username and description is relabeled once, in chunks. Opening without
/// rules changes nothing (`agora admin` does that while the server runs).
///
/// Each chunk is a write holding the store's write lock, so it does not race with the ingest
/// of other nodes; the chunk that finds nothing left records the rules in the same transaction,
/// so an event another node stored meanwhile (a later row id) is labeled before they are.
pub(super) async fn prepare(client: &mut Object, labeler: Option<&Labeler>) -> Result<()> {
    let Some(labeler) = labeler else {
        return Ok(());
    };
    let applied: Option<String> = client
        .query_opt("SELECT value FROM moderation_meta WHERE key = 'rules'", &[])
        .await?
        .map(|row| row.get(0));
    if applied.as_deref() == Some(labeler.digest()) {
        return Ok(());
    }
    let mut after = 0i64;
    let mut relabeled = 0usize;
    loop {
        let tx = super::begin_write(client).await?;
        let rows: Vec<(i64, Vec<u8>)> = tx
            .query(
                "SELECT id, event FROM events WHERE id > $1 AND content_type IN (3, 5, 6)
                 ORDER BY id LIMIT $2",
                &[&after, &RELABEL_CHUNK],
            )
            .await?
            .into_iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let Some(&(last, _)) = rows.last() else {
            tx.execute(
                "INSERT INTO moderation_meta (key, value) VALUES ('rules', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&labeler.digest()],
            )
            .await?;
            tx.commit().await?;
            break;
        };
        for (id, bytes) in &rows {
            if let Some(tags) = labeler.label_event(&decode_event(bytes)?) {
                write_labels(&tx, *id, &tags, labeler.digest()).await?;
                relabeled += 1;
            }
        }
        tx.commit().await?;
        after = last;
    }
    tracing::info!(relabeled, "moderation labels follow the configured rules");
    Ok(())
}

/// A SQL condition, true when the `events` row `table` (a table name or alias) may be shown
/// under the filters bound at parameter `$param` (a `text` holding
/// [`crate::moderation::filter_param`]'s JSON array of `[name, max_level, strict]`, or NULL).
/// Spec section 7: moderation off, a type that is not moderated, or an unlabeled event shows;
/// otherwise every filter must pass. Costs a primary-key probe per filter, only on rows of
/// moderated types. The parameter is read as `text` first, so that is the type it binds as.
pub(super) fn visible(table: &str, param: usize) -> String {
    format!(
        "(${param}::text IS NULL OR {table}.content_type NOT IN (3, 5, 6)
          OR NOT EXISTS (SELECT 1 FROM moderation_status ms WHERE ms.event_id = {table}.id)
          OR NOT EXISTS (
            SELECT 1 FROM jsonb_array_elements(${param}::text::jsonb) mf (value)
            LEFT JOIN moderation_tags mt
              ON mt.event_id = {table}.id AND mt.name = mf.value ->> 0
            WHERE (mt.level IS NULL AND (mf.value ->> 2)::boolean)
               OR mt.level > (mf.value ->> 1)::bigint))"
    )
}

/// Attaches the server's tags to served events when moderation is on: sets them on served
/// events of moderated types. The tags sit beside the signed bytes, so clients still verify the
/// signature.
pub(super) async fn tag(
    tx: &Transaction<'_>,
    tagged: bool,
    events: &mut [wire::SignedEvent],
) -> Result<()> {
    if !tagged {
        return Ok(());
    }
    attach_tags(tx, events).await
}

async fn attach_tags(tx: &Transaction<'_>, events: &mut [wire::SignedEvent]) -> Result<()> {
    let mut statement = None;
    for signed in events {
        let event = decode_event(&signed.event)?;
        if !is_moderated(event.content_type) {
            continue;
        }
        let (Some(system), Some(process)) = (&event.system, &event.process) else {
            continue;
        };
        let statement = match &statement {
            Some(statement) => statement,
            // Names in byte order, as SQLite sorts them, whatever the database's collation.
            None => statement.insert(
                tx.prepare(
                    "SELECT t.name, t.level FROM events e JOIN moderation_tags t ON t.event_id = e.id
                     WHERE e.system = $1 AND e.process = $2 AND e.logical_clock = $3
                     ORDER BY t.name COLLATE \"C\"",
                )
                .await?,
            ),
        };
        let rows = tx
            .query(
                statement,
                &[
                    &system.key.as_ref(),
                    &process.process.as_ref(),
                    &int(event.logical_clock),
                ],
            )
            .await?;
        signed.moderation_tags = rows
            .iter()
            .map(|row| {
                let level: i64 = row.get(1);
                Ok(wire::ModerationTag {
                    name: row.get(0),
                    level: u32::try_from(level)
                        .map_err(|_| StoreError::Corrupt(format!("a tag level of {level}")))?,
                })
            })
            .collect::<Result<_>>()?;
    }
    Ok(())
}
