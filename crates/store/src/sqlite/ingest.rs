//! Applying verified events inside the writer's transaction: the ingest rules of spec section 5,
//! with the reference server's counter and range bugs fixed.

use agora_protocol::{Reference, VerifiedEvent, content};
use rusqlite::{OptionalExtension as _, Transaction, params};

use crate::IngestOutcome;
use crate::ingest::{self, Decision, Facts, FeedPlace, Lookups, Slot, SlotState};

/// Applies one event: the rules of [`crate::ingest`] decide, over what this transaction reads.
/// Errors are store failures; bad input is an `IngestOutcome::Rejected`.
pub(super) fn apply(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    received_ms: i64,
) -> rusqlite::Result<IngestOutcome> {
    let lookups = match ingest::check(event) {
        Ok(lookups) => lookups,
        Err(rejection) => return Ok(IngestOutcome::Rejected(rejection)),
    };
    let facts = facts(tx, &lookups)?;
    let placement = match ingest::decide(event, &lookups, &facts) {
        Decision::Reject(rejection) => return Ok(IngestOutcome::Rejected(rejection)),
        Decision::Duplicate => return Ok(IngestOutcome::Duplicate),
        Decision::AlreadyDeleted => return Ok(IngestOutcome::AlreadyDeleted),
        Decision::Store(placement) => placement,
    };
    let id = insert_event(tx, event, received_ms, placement.feed.as_ref())?;
    insert_references(tx, event, id)?;
    super::discovery::index_event(tx, event, id, received_ms)?;
    super::identity::record_claim(tx, event, id)?;
    super::devices::record(tx, event, id)?;
    tx.prepare_cached("INSERT INTO stream_log (event_id) VALUES (?1)")?
        .execute([id])?;
    if let Some(target) = agora_protocol::edits::edit_target(event) {
        super::discovery::reindex_post(tx, &target.slot_key())?;
    }
    if let Some((process, clock)) = placement.deletes {
        let (system, process) = (event.system().as_bytes().as_slice(), process.as_bytes());
        let clock = clock_sql(clock);
        tx.prepare_cached(
            "INSERT OR IGNORE INTO deletions (system, process, logical_clock, delete_id)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![system, process, clock, id])?;
        remove_event(tx, system, process, clock)?;
    }
    Ok(IngestOutcome::Stored)
}

/// Reads what [`ingest::decide`] needs.
fn facts(tx: &Transaction<'_>, lookups: &Lookups) -> rusqlite::Result<Facts> {
    let (system, process, clock) = lookups.slot;
    let state_of = |slot: Option<Slot>| match slot {
        Some(slot) => slot_state(tx, &slot),
        None => Ok(SlotState::Empty),
    };
    Ok(Facts {
        curation: super::curation::in_force(
            tx,
            system.as_bytes(),
            process.as_bytes(),
            clock_sql(clock),
        )?,
        slot: slot_state(tx, &lookups.slot)?,
        delete_target: state_of(lookups.delete_target())?,
        edit_target: state_of(lookups.edit_target)?,
        revocations_of_system: super::devices::revocations(tx, &system)?,
        revocations_of_authorized: match &lookups.authorized_device {
            Some(device) => super::devices::revocations(tx, device)?,
            None => Vec::new(),
        },
    })
}

/// Clocks are u64 on the wire and i64 in SQLite. Ingest stores none over
/// [`crate::bounds::STORED_MAX`], so a stored clock keeps its value and its order. A larger clock
/// looked up by equality (an edit's or a curation's target, an index entry) keeps its bit
/// pattern and finds nothing; reads that compare clocks by order bound them first
/// (`queries.rs`).
pub(super) fn clock_sql(clock: u64) -> i64 {
    clock as i64
}

/// What a slot holds: a tombstone, an event (of its type), or nothing.
fn slot_state(
    tx: &Transaction<'_>,
    (system, process, clock): &Slot,
) -> rusqlite::Result<SlotState> {
    let (system, process) = (system.as_bytes().as_slice(), process.as_bytes().as_slice());
    let clock = clock_sql(*clock);
    let deleted = tx
        .prepare_cached(
            "SELECT 1 FROM deletions WHERE system = ?1 AND process = ?2 AND logical_clock = ?3",
        )?
        .exists(params![system, process, clock])?;
    if deleted {
        return Ok(SlotState::Deleted);
    }
    let stored: Option<i64> = tx
        .prepare_cached(
            "SELECT content_type FROM events
             WHERE system = ?1 AND process = ?2 AND logical_clock = ?3",
        )?
        .query_row(params![system, process, clock], |row| row.get(0))
        .optional()?;
    Ok(stored.map_or(SlotState::Empty, |content_type| {
        SlotState::Stored(content_type as u64)
    }))
}

fn insert_event(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    received_ms: i64,
    feed: Option<&FeedPlace>,
) -> rusqlite::Result<i64> {
    tx.prepare_cached(
        "INSERT INTO events (system, process, logical_clock, content_type, unix_ms, received_ms,
                             signature, event, feed_type, feed_ms, feed_process, feed_lc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        event.system().as_bytes().as_slice(),
        event.process().as_bytes().as_slice(),
        clock_sql(event.logical_clock()),
        event.content_type() as i64,
        event.unix_milliseconds().map(|ms| ms as i64),
        received_ms,
        event.signature().as_slice(),
        event.event_bytes().as_ref(),
        feed.map(|feed| feed.0 as i64),
        feed.map(|feed| feed.1 as i64),
        feed.map(|feed| feed.2.as_bytes().as_slice()),
        feed.map(|feed| clock_sql(feed.3)),
    ])?;
    Ok(tx.last_insert_rowid())
}

/// The key a FOLLOW event adds or removes: FOLLOW carries no reference (the followed key is
/// the LWW set value), so Agora indexes it as a system reference, which `/query_references` of
/// that system finds (docs/protocol.md, "Followers").
fn followed_key(event: &VerifiedEvent) -> Option<[u8; 32]> {
    use prost::Message as _;
    if event.content_type() != content::FOLLOW {
        return None;
    }
    let value = &event.event().lww_element_set.as_ref()?.value;
    let key = agora_protocol::wire::PublicKey::decode(value.clone()).ok()?;
    let key = agora_protocol::PublicKey::try_from(&key).ok()?;
    Some(*key.as_bytes())
}

fn insert_follow_reference(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    id: i64,
    score: i64,
) -> rusqlite::Result<()> {
    let Some(followed) = followed_key(event) else {
        return Ok(());
    };
    let (kind, from_type) = (content::REFERENCE_SYSTEM as i64, content::FOLLOW as i64);
    insert_reference(tx, id, (kind, &followed), from_type, score)
}

/// One `refs` row of the event `id`, with its count. `score` is the event's own score
/// ([`super::scores::of_slot`]), the same on each of its rows.
fn insert_reference(
    tx: &Transaction<'_>,
    id: i64,
    (kind, subject): (i64, &[u8]),
    from_type: i64,
    score: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO refs (event_id, kind, subject, from_type, score)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![id, kind, subject, from_type, score])?;
    add_ref_count(tx, kind, subject, from_type, 1)
}

/// The `identity_meta` key present once every stored FOLLOW is indexed as a system reference.
const FOLLOWS_INDEXED: &str = "follows_indexed";

/// Indexes the FOLLOW events stored before Agora indexed them, once, in one transaction (a
/// crash leaves the marker unset and the next open redoes it).
pub(super) fn index_follows(connection: &mut rusqlite::Connection) -> rusqlite::Result<()> {
    let indexed = connection
        .prepare_cached("SELECT 1 FROM identity_meta WHERE key = ?1")?
        .exists([FOLLOWS_INDEXED])?;
    if indexed {
        return Ok(());
    }
    let tx = connection.transaction()?;
    let kind = content::REFERENCE_SYSTEM as i64;
    tx.execute(
        "DELETE FROM ref_counts WHERE kind = ?1 AND from_type = ?2",
        params![kind, content::FOLLOW as i64],
    )?;
    tx.execute(
        "DELETE FROM refs WHERE kind = ?1 AND from_type = ?2",
        params![kind, content::FOLLOW as i64],
    )?;
    let stored: Vec<(i64, Vec<u8>, Vec<u8>)> = tx
        .prepare("SELECT id, signature, event FROM events WHERE content_type = ?1")?
        .query_map([content::FOLLOW as i64], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (id, signature, event) in stored {
        let signed = agora_protocol::wire::SignedEvent {
            signature: signature.into(),
            event: event.into(),
            moderation_tags: Vec::new(),
        };
        // Stored events were verified at ingest; one that no longer parses is left unindexed.
        if let Ok(event) = VerifiedEvent::verify(&signed) {
            let score = super::scores::of_slot(&tx, &event.slot_key())?;
            insert_follow_reference(&tx, &event, id, score)?;
        }
    }
    tx.execute(
        "INSERT INTO identity_meta (key, value) VALUES (?1, '1')",
        [FOLLOWS_INDEXED],
    )?;
    tx.commit()
}

fn insert_references(tx: &Transaction<'_>, event: &VerifiedEvent, id: i64) -> rusqlite::Result<()> {
    if event.references().is_empty() && followed_key(event).is_none() {
        return Ok(());
    }
    // Opinions about this event may have come before it.
    let score = super::scores::of_slot(tx, &event.slot_key())?;
    insert_follow_reference(tx, event, id, score)?;
    let from_type = event.content_type() as i64;
    let lww = event.event().lww_element.as_ref();
    for reference in event.references() {
        let Some((kind, subject)) = reference_subject(reference) else {
            continue;
        };
        insert_reference(tx, id, (kind, &subject), from_type, score)?;
        if let Some(lww) = lww {
            tx.prepare_cached(
                "INSERT INTO lww_refs (event_id, author, content_type, kind, subject, lww_ms,
                                       process, value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                id,
                event.system().as_bytes().as_slice(),
                from_type,
                kind,
                subject,
                lww.unix_milliseconds as i64,
                event.process().as_bytes().as_slice(),
                lww.value.as_ref(),
            ])?;
            refresh_winner(tx, event.system().as_bytes(), from_type, kind, &subject)?;
        }
    }
    Ok(())
}

fn reference_subject(reference: &Reference) -> Option<(i64, Vec<u8>)> {
    reference
        .subject_key()
        .map(|(kind, subject)| (kind as i64, subject))
}

/// Removes a stored event and everything derived from it; a no-op when it is not stored.
/// Returns whether an event was removed. Also used by operator curation and purge.
pub(super) fn remove_event(
    tx: &Transaction<'_>,
    system: &[u8],
    process: &[u8],
    clock: i64,
) -> rusqlite::Result<bool> {
    let Some(id) = tx
        .prepare_cached(
            "SELECT id FROM events WHERE system = ?1 AND process = ?2 AND logical_clock = ?3",
        )?
        .query_row(params![system, process, clock], |row| row.get::<_, i64>(0))
        .optional()?
    else {
        return Ok(false);
    };
    let references: Vec<(i64, Vec<u8>, i64)> = tx
        .prepare_cached("SELECT kind, subject, from_type FROM refs WHERE event_id = ?1")?
        .query_map([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<Result<_, _>>()?;
    // An edit that goes leaves its post's search text to the edit before it (or the original).
    let edited: Option<Vec<u8>> = references
        .iter()
        .find(|(kind, _, from_type)| {
            *kind == content::REFERENCE_POINTER as i64 && *from_type == content::POST_EDIT as i64
        })
        .map(|(_, subject, _)| subject.clone());
    for (kind, subject, from_type) in &references {
        add_ref_count(tx, *kind, subject, *from_type, -1)?;
    }
    tx.prepare_cached("DELETE FROM refs WHERE event_id = ?1")?
        .execute([id])?;
    let lww_subjects: Vec<(i64, i64, Vec<u8>)> = tx
        .prepare_cached("SELECT content_type, kind, subject FROM lww_refs WHERE event_id = ?1")?
        .query_map([id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<Result<_, _>>()?;
    tx.prepare_cached("DELETE FROM lww_refs WHERE event_id = ?1")?
        .execute([id])?;
    for (content_type, kind, subject) in &lww_subjects {
        refresh_winner(tx, system, *content_type, *kind, subject)?;
    }
    super::vocabulary::forget(tx, id)?;
    tx.prepare_cached("DELETE FROM events WHERE id = ?1")?
        .execute([id])?;
    if let Some(slot) = edited {
        super::discovery::reindex_post(tx, &slot)?;
    }
    Ok(true)
}

/// Recomputes the winning LWW write of (author, type, subject) from the live writes, and moves
/// the count from the old winner's value to the new one's, and the subject's score with it.
/// Counts therefore depend only on the set of live events, never on the order they arrived in.
fn refresh_winner(
    tx: &Transaction<'_>,
    author: &[u8],
    content_type: i64,
    kind: i64,
    subject: &[u8],
) -> rusqlite::Result<()> {
    let winner: Option<(i64, Vec<u8>)> = tx
        .prepare_cached(concat!(
            "SELECT event_id, value FROM lww_refs
                 WHERE author = ?1 AND content_type = ?2 AND kind = ?3 AND subject = ?4
                 ORDER BY ",
            crate::lww::winner_first!(),
            " LIMIT 1"
        ))?
        .query_row(params![author, content_type, kind, subject], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    let previous: Option<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT event_id, value FROM lww_latest
             WHERE author = ?1 AND content_type = ?2 AND kind = ?3 AND subject = ?4",
        )?
        .query_row(params![author, content_type, kind, subject], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .optional()?;
    if winner == previous {
        return Ok(());
    }
    // The subject's score moves when a like or dislike comes or goes.
    let scored = kind == content::REFERENCE_POINTER as i64
        && [&previous, &winner]
            .into_iter()
            .flatten()
            .any(|(_, value)| super::scores::counts_in_score(value));
    if let Some((_, value)) = &previous {
        add_lww_count(tx, kind, subject, value, content_type, -1)?;
    }
    match &winner {
        Some((event_id, value)) => {
            add_lww_count(tx, kind, subject, value, content_type, 1)?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO lww_latest (author, content_type, kind, subject, event_id,
                                                    value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                author,
                content_type,
                kind,
                subject,
                event_id,
                value
            ])?;
        }
        None => {
            tx.prepare_cached(
                "DELETE FROM lww_latest
                 WHERE author = ?1 AND content_type = ?2 AND kind = ?3 AND subject = ?4",
            )?
            .execute(params![author, content_type, kind, subject])?;
        }
    }
    if scored {
        super::scores::refresh(tx, subject)?;
    }
    Ok(())
}

/// Adds `delta` to a live reference count, deleting the row when it reaches zero.
fn add_ref_count(
    tx: &Transaction<'_>,
    kind: i64,
    subject: &[u8],
    from_type: i64,
    delta: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO ref_counts (kind, subject, from_type, count) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (kind, subject, from_type) DO UPDATE SET count = count + ?4",
    )?
    .execute(params![kind, subject, from_type, delta])?;
    if delta < 0 {
        tx.prepare_cached(
            "DELETE FROM ref_counts WHERE kind = ?1 AND subject = ?2 AND from_type = ?3 AND count <= 0",
        )?
        .execute(params![kind, subject, from_type])?;
    }
    Ok(())
}

/// Adds `delta` to the count of winning LWW writes with `value`, deleting the row at zero.
fn add_lww_count(
    tx: &Transaction<'_>,
    kind: i64,
    subject: &[u8],
    value: &[u8],
    from_type: i64,
    delta: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO lww_counts (kind, subject, value, from_type, count) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (kind, subject, value, from_type) DO UPDATE SET count = count + ?5",
    )?
    .execute(params![kind, subject, value, from_type, delta])?;
    if delta < 0 {
        tx.prepare_cached(
            "DELETE FROM lww_counts
             WHERE kind = ?1 AND subject = ?2 AND value = ?3 AND from_type = ?4 AND count <= 0",
        )?
        .execute(params![kind, subject, value, from_type])?;
    }
    Ok(())
}
