//! Applying verified events on PostgreSQL, inside a write transaction: the rules of
//! [`crate::ingest`] decide over what this transaction reads; this writes the rows that keep
//! counters, LWW winners, scores and the rest exact, and removes them when an event goes.

use agora_protocol::content::{self, opinion};
use agora_protocol::{Reference, VerifiedEvent};
use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::cached::Cached as _;

use super::int;
use crate::ingest::{self, Decision, Facts, FeedPlace, Lookups, Slot, SlotState};
use crate::{IngestOutcome, StoreError};

type Result<T> = std::result::Result<T, StoreError>;

/// Which events of a batch are already stored, by one read before the write lock, so a batch a
/// client sends again (a retry, a second sync, a mirror) costs one statement instead of a wait
/// for the lock and a lookup per event. An event counts only when the read's snapshot would
/// decide it a duplicate: its slot holds an event and no tombstone, and no refusal or removal
/// of its system or slot is in force. Its outcome is then what ingest would have said at that
/// snapshot. Left to the locked write: the slots another event of the batch deletes (their
/// state changes within the batch), and every event of a batch that revokes a device (a
/// revocation removes stored events in its transaction).
pub(super) async fn already_stored(
    client: &deadpool_postgres::Object,
    events: &[VerifiedEvent],
) -> Result<Vec<bool>> {
    let mut held = vec![false; events.len()];
    if events
        .iter()
        .any(|event| event.content_type() == content::DEVICE_REVOKE)
    {
        return Ok(held);
    }
    let deleted_here: std::collections::HashSet<Slot> = events
        .iter()
        .filter_map(|event| ingest::check(event).ok()?.delete_target())
        .collect();
    let (mut systems, mut processes, mut clocks, mut positions) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (position, event) in events.iter().enumerate() {
        let slot = (*event.system(), *event.process(), event.logical_clock());
        if deleted_here.contains(&slot) {
            continue;
        }
        systems.push(event.system().as_bytes().to_vec());
        processes.push(event.process().as_bytes().to_vec());
        clocks.push(int(event.logical_clock()));
        positions.push(position as i64);
    }
    let statement = client
        .prepare_cached(
            "SELECT b.position FROM unnest($1::bytea[], $2::bytea[], $3::bigint[], $4::bigint[])
                 AS b (system, process, clock, position)
             WHERE EXISTS (SELECT 1 FROM events e WHERE e.system = b.system
                             AND e.process = b.process AND e.logical_clock = b.clock)
               AND NOT EXISTS (SELECT 1 FROM deletions d WHERE d.system = b.system
                                 AND d.process = b.process AND d.logical_clock = b.clock)
               AND NOT EXISTS (SELECT 1 FROM censored_systems c
                                 WHERE c.system = b.system AND c.kind = 'refuse_storage')
               AND NOT EXISTS (SELECT 1 FROM censored_events c WHERE c.system = b.system
                                 AND c.process = b.process AND c.logical_clock = b.clock
                                 AND c.kind = 'refuse_storage')
               AND NOT EXISTS (SELECT 1 FROM pending_removals p WHERE p.system = b.system)",
        )
        .await?;
    for row in client
        .query(&statement, &[&systems, &processes, &clocks, &positions])
        .await?
    {
        held[row.get::<_, i64>(0) as usize] = true;
    }
    Ok(held)
}

/// Applies a batch, in order, and labels what was stored.
pub(super) async fn apply_batch(
    tx: &Transaction<'_>,
    events: &[VerifiedEvent],
    labeler: Option<&crate::moderation::Labeler>,
) -> Result<Vec<IngestOutcome>> {
    let received_ms = super::now_ms();
    super::discovery::vocabulary_batched(tx, async {
        let mut outcomes = Vec::with_capacity(events.len());
        for event in events {
            // Boxed: the chains an event's rows go out in make a large future.
            outcomes.push(Box::pin(apply(tx, event, received_ms, labeler)).await?);
        }
        Ok(outcomes)
    })
    .await
}

async fn apply(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    received_ms: i64,
    labeler: Option<&crate::moderation::Labeler>,
) -> Result<IngestOutcome> {
    let lookups = match ingest::check(event) {
        Ok(lookups) => lookups,
        Err(rejection) => return Ok(IngestOutcome::Rejected(rejection)),
    };
    let facts = facts(tx, &lookups).await?;
    let placement = match ingest::decide(event, &lookups, &facts) {
        Decision::Reject(rejection) => return Ok(IngestOutcome::Rejected(rejection)),
        Decision::Duplicate => return Ok(IngestOutcome::Duplicate),
        Decision::AlreadyDeleted => return Ok(IngestOutcome::AlreadyDeleted),
        Decision::Store(placement) => placement,
    };
    let id = insert_event(tx, event, received_ms, placement.feed.as_ref()).await?;
    // The derived rows of the new event, in four independent chains over disjoint tables (none
    // reads what another writes): their statements go out together, pipelined on the
    // connection, so the event waits for the longest chain instead of their sum.
    futures::try_join!(
        Box::pin(insert_references(tx, event, id)),
        Box::pin(super::discovery::index_event(tx, event, id, received_ms)),
        super::identity::record_claim(tx, event, id),
        super::moderation::label_stored(tx, labeler, event, id),
    )?;
    record_revocation(tx, event, id).await?;
    if let Some(target) = agora_protocol::edits::edit_target(event) {
        super::discovery::reindex_post(tx, &target.slot_key()).await?;
    }
    if let Some((process, clock)) = placement.deletes {
        let (system, process) = (event.system().as_bytes().as_slice(), process.as_bytes());
        tx.execute(
            "INSERT INTO deletions (system, process, logical_clock, delete_id)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&system, &&process[..], &int(clock), &id],
        )
        .await?;
        remove_event(tx, system, process, int(clock)).await?;
    }
    Ok(IngestOutcome::Stored)
}

/// Reads what [`ingest::decide`] needs.
async fn facts(tx: &Transaction<'_>, lookups: &Lookups) -> Result<Facts> {
    let (system, process, clock) = lookups.slot;
    let state_of = |slot: Option<Slot>| async move {
        match slot {
            Some(slot) => slot_state(tx, &slot).await,
            None => Ok(SlotState::Empty),
        }
    };
    let revocations_of = |device: Option<agora_protocol::PublicKey>| async move {
        match device {
            Some(device) => revocations(tx, &device).await,
            None => Ok(Vec::new()),
        }
    };
    // Independent reads, sent together: the connection pipelines them, one wait for all.
    let (curation, slot, delete_target, edit_target, of_system, of_authorized) = futures::try_join!(
        super::curation::in_force(tx, system.as_bytes(), process.as_bytes(), int(clock)),
        slot_state(tx, &lookups.slot),
        state_of(lookups.delete_target()),
        state_of(lookups.edit_target),
        revocations(tx, &system),
        revocations_of(lookups.authorized_device),
    )?;
    Ok(Facts {
        curation,
        slot,
        delete_target,
        edit_target,
        revocations_of_system: of_system,
        revocations_of_authorized: of_authorized,
    })
}

/// What a slot holds: a tombstone, an event (of its type), or nothing.
async fn slot_state(tx: &Transaction<'_>, (system, process, clock): &Slot) -> Result<SlotState> {
    let (system, process) = (&system.as_bytes()[..], &process.as_bytes()[..]);
    let clock = int(*clock);
    let row = tx
        .query_opt(
            "SELECT EXISTS (SELECT 1 FROM deletions
                            WHERE system = $1 AND process = $2 AND logical_clock = $3),
                    (SELECT content_type FROM events
                     WHERE system = $1 AND process = $2 AND logical_clock = $3)",
            &[&system, &process, &clock],
        )
        .await?;
    let (deleted, stored): (bool, Option<i64>) =
        row.map_or((false, None), |row| (row.get(0), row.get(1)));
    Ok(if deleted {
        SlotState::Deleted
    } else {
        stored.map_or(SlotState::Empty, |content_type| {
            SlotState::Stored(content_type as u64)
        })
    })
}

/// Every stored revocation of `device`, read back from its event.
pub(super) async fn revocations(
    tx: &Transaction<'_>,
    device: &agora_protocol::PublicKey,
) -> Result<Vec<agora_protocol::devices::Revocation>> {
    let rows = tx
        .query(
            "SELECT e.signature, e.event FROM device_revocations r
             JOIN events e ON e.id = r.event_id WHERE r.device = $1",
            &[&&device.as_bytes()[..]],
        )
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let signed = crate::prepare::signed_event(row.get(0), row.get(1));
            VerifiedEvent::verify(&signed).ok()
        })
        .filter_map(|event| crate::devices::revocation(&event))
        .collect())
}

/// After a DEVICE_REVOKE was stored as row `id`: indexes it and removes the device's stored
/// events that it does not keep, with everything derived from them.
async fn record_revocation(tx: &Transaction<'_>, event: &VerifiedEvent, id: i64) -> Result<()> {
    let Some(revocation) = crate::devices::revocation(event) else {
        return Ok(());
    };
    let device = &revocation.device.as_bytes()[..];
    tx.execute(
        "INSERT INTO device_revocations (event_id, device) VALUES ($1, $2)
         ON CONFLICT DO NOTHING",
        &[&id, &device],
    )
    .await?;
    let slots = tx
        .query(
            "SELECT process, logical_clock FROM events WHERE system = $1",
            &[&device],
        )
        .await?;
    for row in slots {
        let (process, clock): (Vec<u8>, i64) = (row.get(0), row.get(1));
        let kept = agora_protocol::Process::from_bytes(&process)
            .is_ok_and(|process| revocation.permits(&process, clock as u64));
        if !kept {
            super::curation::remove_slot(tx, device, &process, clock).await?;
        }
    }
    Ok(())
}

async fn insert_event(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    received_ms: i64,
    feed: Option<&FeedPlace>,
) -> Result<i64> {
    let row = tx
        .query_one(
            "INSERT INTO events (system, process, logical_clock, content_type, unix_ms,
                                 received_ms, signature, event, feed_type, feed_ms,
                                 feed_process, feed_lc)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             RETURNING id",
            &[
                &&event.system().as_bytes()[..],
                &&event.process().as_bytes()[..],
                &int(event.logical_clock()),
                &int(event.content_type()),
                &event.unix_milliseconds().map(int),
                &received_ms,
                &event.signature().as_slice(),
                &event.event_bytes().as_ref(),
                &feed.map(|feed| int(feed.0)),
                &feed.map(|feed| int(feed.1)),
                &feed.map(|feed| feed.2.as_bytes().to_vec()),
                &feed.map(|feed| int(feed.3)),
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// The key a FOLLOW follows, indexed as a system reference.
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

async fn insert_references(tx: &Transaction<'_>, event: &VerifiedEvent, id: i64) -> Result<()> {
    let followed = followed_key(event);
    if event.references().is_empty() && followed.is_none() {
        return Ok(());
    }
    // Opinions about this event may have come before it.
    let score = score_of_slot(tx, &event.slot_key()).await?;
    if let Some(followed) = followed {
        let kind = int(content::REFERENCE_SYSTEM);
        insert_reference(tx, id, (kind, &followed), int(content::FOLLOW), score).await?;
    }
    let from_type = int(event.content_type());
    let lww = event.event().lww_element.as_ref();
    for reference in event.references() {
        let Some((kind, subject)) = reference_subject(reference) else {
            continue;
        };
        let Some(lww) = lww else {
            insert_reference(tx, id, (kind, &subject), from_type, score).await?;
            continue;
        };
        // Sent together; the winner is read after both.
        futures::try_join!(
            insert_reference(tx, id, (kind, &subject), from_type, score),
            async {
                tx.execute(
                    "INSERT INTO lww_refs (event_id, author, content_type, kind, subject, lww_ms,
                                           process, value)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    &[
                        &id,
                        &&event.system().as_bytes()[..],
                        &from_type,
                        &kind,
                        &subject,
                        &int(lww.unix_milliseconds),
                        &&event.process().as_bytes()[..],
                        &lww.value.as_ref(),
                    ],
                )
                .await
                .map_err(StoreError::from)
            },
        )?;
        refresh_winner(tx, event.system().as_bytes(), from_type, kind, &subject).await?;
    }
    Ok(())
}

fn reference_subject(reference: &Reference) -> Option<(i64, Vec<u8>)> {
    reference
        .subject_key()
        .map(|(kind, subject)| (int(kind), subject))
}

/// One `refs` row of the event `id`, with its count.
async fn insert_reference(
    tx: &Transaction<'_>,
    id: i64,
    (kind, subject): (i64, &[u8]),
    from_type: i64,
    score: i64,
) -> Result<()> {
    futures::try_join!(
        async {
            tx.execute(
                "INSERT INTO refs (event_id, kind, subject, from_type, score)
                 VALUES ($1, $2, $3, $4, $5)",
                &[&id, &kind, &subject, &from_type, &score],
            )
            .await
            .map_err(StoreError::from)
        },
        add_ref_count(tx, kind, subject, from_type, 1),
    )?;
    Ok(())
}

/// Removes a stored event and everything derived from it; a no-op when it is not stored.
/// Returns whether an event was removed. Every removal path goes through here.
pub(super) async fn remove_event(
    tx: &Transaction<'_>,
    system: &[u8],
    process: &[u8],
    clock: i64,
) -> Result<bool> {
    let Some(row) = tx
        .query_opt(
            "SELECT id FROM events WHERE system = $1 AND process = $2 AND logical_clock = $3",
            &[&system, &process, &clock],
        )
        .await?
    else {
        return Ok(false);
    };
    let id: i64 = row.get(0);
    let references: Vec<(i64, Vec<u8>, i64)> = tx
        .query(
            "SELECT kind, subject, from_type FROM refs WHERE event_id = $1",
            &[&id],
        )
        .await?
        .into_iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    // An edit that goes leaves its post's search text to the edit before it (or the original).
    let edited: Option<Vec<u8>> = references
        .iter()
        .find(|(kind, _, from_type)| {
            *kind == int(content::REFERENCE_POINTER) && *from_type == int(content::POST_EDIT)
        })
        .map(|(_, subject, _)| subject.clone());
    for (kind, subject, from_type) in &references {
        add_ref_count(tx, *kind, subject, *from_type, -1).await?;
    }
    tx.execute("DELETE FROM refs WHERE event_id = $1", &[&id])
        .await?;
    let lww_subjects: Vec<(i64, i64, Vec<u8>)> = tx
        .query(
            "DELETE FROM lww_refs WHERE event_id = $1 RETURNING content_type, kind, subject",
            &[&id],
        )
        .await?
        .into_iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    for (content_type, kind, subject) in &lww_subjects {
        refresh_winner(tx, system, *content_type, *kind, subject).await?;
    }
    super::discovery::forget_event(tx, id).await?;
    tx.execute("DELETE FROM events WHERE id = $1", &[&id])
        .await?;
    if let Some(slot) = edited {
        super::discovery::reindex_post(tx, &slot).await?;
    }
    Ok(true)
}

/// Recomputes the winning LWW write of (author, type, subject) from the live writes, moves the
/// count from the old winner's value to the new one's, and the subject's score with it.
async fn refresh_winner(
    tx: &Transaction<'_>,
    author: &[u8],
    content_type: i64,
    kind: i64,
    subject: &[u8],
) -> Result<()> {
    let key: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&author, &content_type, &kind, &subject];
    let (winner, previous) = futures::try_join!(
        tx.query_opt(
            concat!(
                "SELECT event_id, value FROM lww_refs
                 WHERE author = $1 AND content_type = $2 AND kind = $3 AND subject = $4
                 ORDER BY ",
                crate::lww::winner_first!(),
                " LIMIT 1"
            ),
            &key,
        ),
        tx.query_opt(
            "SELECT event_id, value FROM lww_latest
             WHERE author = $1 AND content_type = $2 AND kind = $3 AND subject = $4",
            &key,
        ),
    )?;
    let pair = |row: tokio_postgres::Row| -> (i64, Vec<u8>) { (row.get(0), row.get(1)) };
    let (winner, previous) = (winner.map(pair), previous.map(pair));
    if winner == previous {
        return Ok(());
    }
    // The subject's score moves when a like or dislike comes or goes.
    let scored = kind == int(content::REFERENCE_POINTER)
        && [&previous, &winner]
            .into_iter()
            .flatten()
            .any(|(_, value)| counts_in_score(value));
    // Every write below depends only on what was read above: they go out together and run in
    // the order written.
    let uncount = async {
        match &previous {
            Some((_, value)) => add_lww_count(tx, kind, subject, value, content_type, -1).await,
            None => Ok(()),
        }
    };
    let count_and_record = async {
        match &winner {
            Some((event_id, value)) => {
                futures::try_join!(
                    add_lww_count(tx, kind, subject, value, content_type, 1),
                    async {
                        tx.execute(
                            "INSERT INTO lww_latest (author, content_type, kind, subject, event_id,
                                                     value)
                             VALUES ($1, $2, $3, $4, $5, $6)
                             ON CONFLICT (author, content_type, kind, subject)
                             DO UPDATE SET event_id = excluded.event_id, value = excluded.value",
                            &[&author, &content_type, &kind, &subject, event_id, value],
                        )
                        .await
                        .map_err(StoreError::from)
                    },
                )?;
            }
            None => {
                tx.execute(
                    "DELETE FROM lww_latest
                     WHERE author = $1 AND content_type = $2 AND kind = $3 AND subject = $4",
                    &key,
                )
                .await?;
            }
        }
        Ok(())
    };
    let rescore = async {
        match scored {
            true => refresh_score(tx, subject).await,
            false => Ok(()),
        }
    };
    futures::try_join!(uncount, count_and_record, rescore)?;
    Ok(())
}

/// Adds `delta` to a live reference count, deleting the row when it reaches zero.
async fn add_ref_count(
    tx: &Transaction<'_>,
    kind: i64,
    subject: &[u8],
    from_type: i64,
    delta: i64,
) -> Result<()> {
    add_count(
        tx,
        "INSERT INTO ref_counts (kind, subject, from_type, count) VALUES ($1, $2, $3, $4)
         ON CONFLICT (kind, subject, from_type) DO UPDATE SET count = ref_counts.count + $4",
        "DELETE FROM ref_counts
         WHERE kind = $1 AND subject = $2 AND from_type = $3 AND count <= 0",
        &[&kind, &subject, &from_type],
        delta,
    )
    .await
}

/// Runs `add` (an upsert adding its last parameter, `delta`, to the count of the row `key`
/// names) and, when it subtracts, `drop` (deleting that row at zero), sent together.
async fn add_count(
    tx: &Transaction<'_>,
    add: &str,
    drop: &str,
    key: &[&(dyn ToSql + Sync)],
    delta: i64,
) -> Result<()> {
    let mut params = key.to_vec();
    params.push(&delta);
    let add = tx.execute(add, &params);
    if delta >= 0 {
        add.await?;
        return Ok(());
    }
    futures::try_join!(add, tx.execute(drop, key))?;
    Ok(())
}

/// Adds `delta` to the count of winning LWW writes with `value`, deleting the row at zero.
async fn add_lww_count(
    tx: &Transaction<'_>,
    kind: i64,
    subject: &[u8],
    value: &[u8],
    from_type: i64,
    delta: i64,
) -> Result<()> {
    add_count(
        tx,
        "INSERT INTO lww_counts (kind, subject, value, from_type, count)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (kind, subject, value, from_type)
         DO UPDATE SET count = lww_counts.count + $5",
        "DELETE FROM lww_counts
         WHERE kind = $1 AND subject = $2 AND value = $3 AND from_type = $4 AND count <= 0",
        &[&kind, &subject, &value, &from_type],
        delta,
    )
    .await
}

/// Whether a winning write with `value` about a pointer counts in its subject's score.
fn counts_in_score(value: &[u8]) -> bool {
    value == opinion::LIKE || value == opinion::DISLIKE
}

/// Likes minus dislikes among the winning writes about `subject` ($1 kind, $2 subject).
macro_rules! score_sql {
    () => {
        "SELECT COALESCE(SUM(CASE WHEN value = '\\x01'::bytea THEN count
                                  WHEN value = '\\x02'::bytea THEN -count
                                  ELSE 0 END), 0)::bigint AS score
         FROM lww_counts WHERE kind = $1 AND subject = $2"
    };
}

/// The score of the event in `slot` (a slot key): likes minus dislikes among the winners.
async fn score_of_slot(tx: &Transaction<'_>, slot: &[u8]) -> Result<i64> {
    let row = tx
        .query_one(score_sql!(), &[&int(content::REFERENCE_POINTER), &slot])
        .await?;
    Ok(row.get(0))
}

/// Sets the score of the `refs` rows of the event stored in `slot`, if one is, in one
/// statement (so it can go out behind the count changes it reads).
async fn refresh_score(tx: &Transaction<'_>, slot: &[u8]) -> Result<()> {
    let Some((system, rest)) = slot.split_at_checked(32) else {
        return Ok(());
    };
    let Some((process, clock)) = rest.split_at_checked(16) else {
        return Ok(());
    };
    let Ok(clock) = <[u8; 8]>::try_from(clock) else {
        return Ok(());
    };
    tx.execute(
        concat!(
            "WITH s AS (",
            score_sql!(),
            ") UPDATE refs SET score = s.score FROM s
               WHERE refs.score <> s.score AND refs.event_id =
                 (SELECT id FROM events WHERE system = $3 AND process = $4 AND logical_clock = $5)"
        ),
        &[
            &int(content::REFERENCE_POINTER),
            &slot,
            &system,
            &process,
            &int(u64::from_be_bytes(clock)),
        ],
    )
    .await?;
    Ok(())
}
