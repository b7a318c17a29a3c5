//! Read queries of the SQLite engine. Each runs on a reader connection in one snapshot.

use agora_protocol::{Process, PublicKey, content, keys::slot_key, wire};
use rusqlite::{Connection, OptionalExtension as _, Row, params};

use super::ingest::clock_sql;
use super::moderation::visible;
use crate::bounds::STORED_MAX;
use crate::prepare::{decode_event, signed_event};
use crate::{
    CountSpec, IndexCursor, IndexPage, IndexQuery, ProcessRanges, ReferencesCursor, ReferencesPage,
    ReferencesQuery, STREAM_SCAN_MAX, StoreError, StreamFilter, StreamPage, Subject,
};

type Result<T> = std::result::Result<T, StoreError>;

fn signed_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<wire::SignedEvent> {
    Ok(signed_event(row.get(first)?, row.get(first + 1)?))
}

pub(super) fn events_in_ranges(
    connection: &Connection,
    system: &PublicKey,
    ranges: &[ProcessRanges],
    limit: usize,
    moderation: Option<&str>,
) -> Result<Vec<wire::SignedEvent>> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT signature, event FROM events
         WHERE system = ?1 AND process = ?2 AND logical_clock BETWEEN ?3 AND ?4 AND {}
         ORDER BY logical_clock LIMIT ?5",
        visible("events", 6)
    ))?;
    let mut events = Vec::new();
    for process_ranges in merge_overlaps(ranges) {
        for &(low, high) in &process_ranges.ranges {
            let remaining = limit.saturating_sub(events.len());
            if remaining == 0 {
                return Ok(events);
            }
            let Some((low, high)) = stored_clocks(low, high) else {
                continue;
            };
            let rows = statement.query_map(
                params![
                    system.as_bytes().as_slice(),
                    process_ranges.process.as_bytes().as_slice(),
                    low,
                    high,
                    remaining as i64,
                    moderation
                ],
                |row| signed_from_row(row, 0),
            )?;
            for row in rows {
                events.push(row?);
            }
        }
    }
    Ok(events)
}

/// The SQL bounds of a requested clock range, cut to the clocks the store holds (none is over
/// [`STORED_MAX`]); `None` when it holds none of them. Bounds past `i64::MAX` would otherwise
/// turn negative and make `(1, u64::MAX)` an empty range.
fn stored_clocks(low: u64, high: u64) -> Option<(i64, i64)> {
    let high = high.min(STORED_MAX);
    (low <= high).then(|| (clock_sql(low), clock_sql(high)))
}

/// Sorts and merges the requested ranges per process, so overlapping requests return each event
/// once.
fn merge_overlaps(ranges: &[ProcessRanges]) -> Vec<ProcessRanges> {
    let mut by_process: std::collections::BTreeMap<Process, Vec<(u64, u64)>> = Default::default();
    for process_ranges in ranges {
        by_process
            .entry(process_ranges.process)
            .or_default()
            .extend(&process_ranges.ranges);
    }
    by_process
        .into_iter()
        .map(|(process, ranges)| ProcessRanges {
            process,
            ranges: crate::normalize(ranges),
        })
        .collect()
}

/// The processes of a system, in byte order, found by skipping through the slot index one
/// process at a time: cost grows with the number of processes, not of events.
fn processes(connection: &Connection, system: &PublicKey) -> Result<Vec<Vec<u8>>> {
    let mut next = connection.prepare_cached(
        "SELECT process FROM events WHERE system = ?1 AND process > ?2 ORDER BY process LIMIT 1",
    )?;
    let mut processes: Vec<Vec<u8>> = Vec::new();
    loop {
        let after = processes.last().cloned().unwrap_or_default();
        let found: Option<Vec<u8>> = next
            .query_row(params![system.as_bytes().as_slice(), after], |row| {
                row.get(0)
            })
            .optional()?;
        match found {
            Some(process) => processes.push(process),
            None => return Ok(processes),
        }
    }
}

pub(super) fn head(connection: &Connection, system: &PublicKey) -> Result<Vec<wire::SignedEvent>> {
    let mut newest = connection.prepare_cached(
        "SELECT signature, event FROM events WHERE system = ?1 AND process = ?2
         ORDER BY logical_clock DESC LIMIT 1",
    )?;
    let mut heads = Vec::new();
    for process in processes(connection, system)? {
        let head = newest.query_row(params![system.as_bytes().as_slice(), process], |row| {
            signed_from_row(row, 0)
        })?;
        heads.push((process, head));
    }
    let mut system_processes = Vec::new();
    for (process, head) in &heads {
        let event = decode_event(&head.event)?;
        if event.content_type == content::SYSTEM_PROCESSES {
            continue;
        }
        let pointed = event
            .indices
            .iter()
            .flat_map(|indices| &indices.indices)
            .find(|index| index.index_type == content::SYSTEM_PROCESSES);
        if let Some(index) = pointed
            && let Some(found) = event_at(connection, system, process, index.logical_clock)?
        {
            system_processes.push(found);
        }
    }
    Ok(heads
        .into_iter()
        .map(|(_, event)| event)
        .chain(system_processes)
        .collect())
}

fn event_at(
    connection: &Connection,
    system: &PublicKey,
    process: &[u8],
    clock: u64,
) -> Result<Option<wire::SignedEvent>> {
    Ok(connection
        .prepare_cached(
            "SELECT signature, event FROM events
             WHERE system = ?1 AND process = ?2 AND logical_clock = ?3",
        )?
        .query_row(
            params![system.as_bytes().as_slice(), process, clock_sql(clock)],
            |row| signed_from_row(row, 0),
        )
        .optional()?)
}

pub(super) fn ranges(connection: &Connection, system: &PublicKey) -> Result<Vec<ProcessRanges>> {
    let held = |sql: &str| -> Result<Vec<(Vec<u8>, i64)>> {
        Ok(connection
            .prepare_cached(sql)?
            .query_map([system.as_bytes().as_slice()], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })?
            .collect::<rusqlite::Result<_>>()?)
    };
    crate::ranges::from_held_clocks(
        held(crate::ranges::HELD_STORED_SQL)?,
        held(crate::ranges::HELD_DELETED_SQL)?,
    )
}

pub(super) fn latest(
    connection: &Connection,
    system: &PublicKey,
    content_types: &[u64],
) -> Result<Vec<wire::SignedEvent>> {
    let mut statement = connection.prepare_cached(
        "SELECT MAX(logical_clock), signature, event FROM events
         WHERE system = ?1 AND content_type = ?2 GROUP BY process",
    )?;
    let mut events = Vec::new();
    for &content_type in content_types {
        let rows = statement.query_map(
            params![system.as_bytes().as_slice(), content_type as i64],
            |row| signed_from_row(row, 1),
        )?;
        for row in rows {
            events.push(row?);
        }
    }
    Ok(events)
}

/// One row of a per-type feed, with its position.
struct FeedRow {
    event: wire::SignedEvent,
    ms: i64,
    process: Vec<u8>,
    clock: i64,
}

const FEED_COLUMNS: &str = "signature, event, feed_ms, feed_process, feed_lc";

fn feed_row(row: &Row<'_>) -> rusqlite::Result<FeedRow> {
    Ok(FeedRow {
        event: signed_from_row(row, 0)?,
        ms: row.get(2)?,
        process: row.get(3)?,
        clock: row.get(4)?,
    })
}

pub(super) fn index(
    connection: &Connection,
    query: &IndexQuery,
    moderation: Option<&str>,
) -> Result<IndexPage> {
    let system = query.system.as_bytes().as_slice();
    let content_type = query.content_type as i64;
    let limit = query.limit as i64;
    let order = "ORDER BY feed_ms DESC, feed_process DESC, feed_lc DESC";
    let mut rows: Vec<FeedRow> = match stored_cursor(query.cursor) {
        StoredCursor::Start => connection
            .prepare_cached(&format!(
                "SELECT {FEED_COLUMNS} FROM events WHERE system = ?1 AND feed_type = ?2 AND {}
                 {order} LIMIT ?3",
                visible("events", 4)
            ))?
            .query_map(params![system, content_type, limit, moderation], feed_row)?
            .collect::<rusqlite::Result<_>>()?,
        StoredCursor::BeforeMillis(before) => connection
            .prepare_cached(&format!(
                "SELECT {FEED_COLUMNS} FROM events
                 WHERE system = ?1 AND feed_type = ?2 AND feed_ms < ?3 AND {} {order} LIMIT ?4",
                visible("events", 5)
            ))?
            .query_map(params![system, content_type, before, limit, moderation], feed_row)?
            .collect::<rusqlite::Result<_>>()?,
        StoredCursor::AtOrBefore { ms, process, clock } => connection
            .prepare_cached(&format!(
                "SELECT {FEED_COLUMNS} FROM events
                 WHERE system = ?1 AND feed_type = ?2 AND (feed_ms, feed_process, feed_lc) <= (?3, ?4, ?5)
                   AND {} {order} LIMIT ?6",
                visible("events", 7)
            ))?
            .query_map(
                params![
                    system,
                    content_type,
                    ms,
                    process.as_bytes().as_slice(),
                    clock,
                    limit,
                    moderation
                ],
                feed_row,
            )?
            .collect::<rusqlite::Result<_>>()?,
    };
    let full = rows.len() as i64 == limit && limit > 0;
    if full {
        complete_last_millisecond(connection, query, &mut rows, moderation)?;
    }
    let next = full.then(|| rows.last().map(feed_cursor)).flatten();
    let proof = proof(connection, query, &rows, moderation)?;
    Ok(IndexPage {
        events: rows.into_iter().map(|row| row.event).collect(),
        proof,
        next,
    })
}

/// An [`IndexCursor`] as SQL bounds, exact over the whole u64 range of its values.
enum StoredCursor {
    Start,
    /// Rows with `feed_ms` below this.
    BeforeMillis(i64),
    /// Rows at or before this position in feed order.
    AtOrBefore {
        ms: i64,
        process: Process,
        clock: i64,
    },
}

/// Every stored time is at most [`STORED_MAX`], so a cursor time above it starts at the newest
/// row. "Strictly after (ms, process, clock)" in descending order is "at or before (ms, process,
/// clock - 1)": written so, a clock above the bound becomes the bound, and clock 0 becomes -1,
/// below every stored clock.
fn stored_cursor(cursor: IndexCursor) -> StoredCursor {
    match cursor {
        IndexCursor::Start => StoredCursor::Start,
        IndexCursor::BeforeMillis(before) => match i64::try_from(before) {
            Ok(before) => StoredCursor::BeforeMillis(before),
            Err(_) => StoredCursor::Start,
        },
        IndexCursor::After {
            unix_milliseconds,
            process,
            logical_clock,
        } => match i64::try_from(unix_milliseconds) {
            Ok(ms) => StoredCursor::AtOrBefore {
                ms,
                process,
                clock: logical_clock
                    .checked_sub(1)
                    .map_or(-1, |clock| clock.min(STORED_MAX) as i64),
            },
            Err(_) => StoredCursor::Start,
        },
    }
}

/// Most rows a page grows by to finish its last millisecond. Only a system that publishes more
/// than this many events of one type in one millisecond can make `after` paging skip any.
const TIE_ROWS_MAX: i64 = 10_000;

/// Extends a full page with the rest of its last millisecond, so a client that continues with
/// the official `after = last time` skips nothing at the boundary.
fn complete_last_millisecond(
    connection: &Connection,
    query: &IndexQuery,
    rows: &mut Vec<FeedRow>,
    moderation: Option<&str>,
) -> Result<()> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    let more: Vec<FeedRow> = connection
        .prepare_cached(&format!(
            "SELECT {FEED_COLUMNS} FROM events
             WHERE system = ?1 AND feed_type = ?2 AND feed_ms = ?3 AND (feed_process, feed_lc) < (?4, ?5)
               AND {}
             ORDER BY feed_process DESC, feed_lc DESC LIMIT ?6",
            visible("events", 7)
        ))?
        .query_map(
            params![
                query.system.as_bytes().as_slice(),
                query.content_type as i64,
                last.ms,
                last.process,
                last.clock,
                TIE_ROWS_MAX,
                moderation
            ],
            feed_row,
        )?
        .collect::<rusqlite::Result<_>>()?;
    rows.extend(more);
    Ok(())
}

fn feed_cursor(row: &FeedRow) -> Vec<u8> {
    let mut bytes = (row.ms as u64).to_be_bytes().to_vec();
    bytes.extend_from_slice(&row.process);
    bytes.extend_from_slice(&(row.clock as u64).to_be_bytes());
    bytes
}

/// Spec section 6.2: for every other process, its first event at or after the newest returned
/// time and its last event at or before the oldest, so a client can tell nothing was skipped.
fn proof(
    connection: &Connection,
    query: &IndexQuery,
    rows: &[FeedRow],
    moderation: Option<&str>,
) -> Result<Vec<wire::SignedEvent>> {
    let (Some(latest), Some(earliest)) = (rows.first(), rows.last()) else {
        return Ok(Vec::new());
    };
    let system = query.system.as_bytes().as_slice();
    let content_type = query.content_type as i64;
    let processes = processes(connection, &query.system)?;
    let mut after = connection.prepare_cached(&format!(
        "SELECT signature, event FROM events
         WHERE system = ?1 AND feed_type = ?2 AND feed_process = ?3 AND feed_ms >= ?4 AND {}
         ORDER BY feed_ms, feed_lc LIMIT 1",
        visible("events", 5)
    ))?;
    let mut before = connection.prepare_cached(&format!(
        "SELECT signature, event FROM events
         WHERE system = ?1 AND feed_type = ?2 AND feed_process = ?3 AND feed_ms <= ?4 AND {}
         ORDER BY feed_ms DESC, feed_lc DESC LIMIT 1",
        visible("events", 5)
    ))?;
    let mut proof = Vec::new();
    for process in &processes {
        if *process != latest.process {
            let params = params![system, content_type, process, latest.ms, moderation];
            proof.extend(
                after
                    .query_row(params, |row| signed_from_row(row, 0))
                    .optional()?,
            );
        }
        if *process != earliest.process {
            let params = params![system, content_type, process, earliest.ms, moderation];
            proof.extend(
                before
                    .query_row(params, |row| signed_from_row(row, 0))
                    .optional()?,
            );
        }
    }
    Ok(proof)
}

/// A referencing event on a page, with what orders it and the slot its own counts are about.
struct Item {
    id: i64,
    score: i64,
    event: wire::SignedEvent,
    slot: [u8; 56],
}

pub(super) fn references(
    connection: &Connection,
    query: &ReferencesQuery,
    moderation: Option<&str>,
) -> Result<ReferencesPage> {
    let (kind, subjects) = subject_keys(&query.subject);
    let counts = query
        .counts
        .iter()
        .map(|spec| count(connection, kind, &subjects, spec))
        .collect::<Result<Vec<_>>>()?;
    let Some(events) = &query.events else {
        return Ok(ReferencesPage {
            items: Vec::new(),
            counts,
            cursor: None,
        });
    };
    let page = Page {
        kind,
        from_type: events.from_type.map(|t| t as i64),
        cursor: query.cursor,
        size: query.page_size,
        moderation,
    };
    let items = ranked_items(connection, &subjects, &page)?;
    let cursor = (items.len() == query.page_size && query.page_size > 0)
        .then(|| {
            items.last().map(|item| {
                ReferencesCursor {
                    score: item.score,
                    id: item.id,
                }
                .encode()
            })
        })
        .flatten();
    let mut page_items = Vec::with_capacity(items.len());
    for item in items {
        let item_counts = events
            .counts
            .iter()
            .map(|spec| count(connection, i64::from(2u8), &[item.slot.to_vec()], spec))
            .collect::<Result<Vec<_>>>()?;
        page_items.push((item.event, item_counts));
    }
    Ok(ReferencesPage {
        items: page_items,
        counts,
        cursor,
    })
}

fn subject_keys(subject: &Subject) -> (i64, Vec<Vec<u8>>) {
    match subject {
        Subject::Pointer(slot) => (content::REFERENCE_POINTER as i64, vec![slot.to_vec()]),
        Subject::Bytes(subjects) => (content::REFERENCE_BYTES as i64, subjects.clone()),
        Subject::System(key) => (content::REFERENCE_SYSTEM as i64, vec![key.to_vec()]),
    }
}

/// What one page of referencing events asks for, whatever the subject.
struct Page<'a> {
    kind: i64,
    from_type: Option<i64>,
    cursor: Option<ReferencesCursor>,
    size: usize,
    moderation: Option<&'a str>,
}

/// The page's items over the union of `subjects`, best first: each subject's first
/// `page.size` items after the cursor, merged. That is enough, because an item of the merged
/// page has fewer than `page.size` distinct items above it in its own subject's list.
fn ranked_items(
    connection: &Connection,
    subjects: &[Vec<u8>],
    page: &Page<'_>,
) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for subject in subjects {
        items.extend(ranked_items_of(connection, subject, page)?);
    }
    items.sort_by_key(|item| std::cmp::Reverse((item.score, item.id)));
    // One event referencing several subjects of the union is listed once.
    items.dedup_by_key(|item| item.id);
    items.truncate(page.size);
    Ok(items)
}

/// Which rows of one subject's ranking a query reads, in `(score, event_id)` order.
#[derive(Clone, Copy)]
enum Range {
    /// From the best.
    All,
    /// The rest of the cursor's score: its ids below the cursor's.
    RestOfScore,
    /// Every score below the cursor's.
    Below,
}

/// The first `page.size` events referencing one subject after the cursor, best first: at most
/// two index ranges of `refs_ranked` (one type) or `refs_ranked_any_type`, whatever the
/// number of references. An event with several references to the subject is read once (its
/// first row).
fn ranked_items_of(connection: &Connection, subject: &[u8], page: &Page<'_>) -> Result<Vec<Item>> {
    let ranges = match page.cursor {
        None => vec![Range::All],
        Some(_) => vec![Range::RestOfScore, Range::Below],
    };
    let (score, id) = page
        .cursor
        .map_or((0, 0), |cursor| (cursor.score, cursor.id));
    let mut items: Vec<Item> = Vec::new();
    for range in ranges {
        let left = page.size.saturating_sub(items.len());
        if left == 0 {
            break;
        }
        let mut statement =
            connection.prepare_cached(&ranked_sql(page.from_type.is_some(), range))?;
        let rows = statement.query_map(
            params![
                page.kind,
                subject,
                page.from_type,
                score,
                id,
                left as i64,
                page.moderation
            ],
            |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, i64>(1)?,
                    signed_from_row(row, 2)?,
                    row.get::<_, Vec<u8>>(4)?,
                    row.get::<_, Vec<u8>>(5)?,
                    row.get::<_, i64>(6)?,
                ))
            },
        )?;
        for row in rows {
            let (score, id, event, system, process, clock) = row?;
            let system =
                PublicKey::from_bytes(&system).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let process =
                Process::from_bytes(&process).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            items.push(Item {
                id,
                score,
                event,
                slot: slot_key(&system, &process, clock as u64),
            });
        }
    }
    Ok(items)
}

/// The query of one [`Range`]: parameters kind, subject, from_type, cursor score, cursor id,
/// limit, moderation filter (a range that needs no cursor leaves ?4 and ?5 unused).
fn ranked_sql(of_one_type: bool, range: Range) -> String {
    let of_type = if of_one_type {
        "r.from_type = ?3"
    } else {
        "?3 IS NULL"
    };
    let range = match range {
        Range::All => "1",
        Range::RestOfScore => "r.score = ?4 AND r.event_id < ?5",
        Range::Below => "r.score < ?4",
    };
    format!(
        "SELECT r.score, r.event_id, e.signature, e.event, e.system, e.process, e.logical_clock
         FROM refs r JOIN events e ON e.id = r.event_id
         WHERE r.kind = ?1 AND r.subject = ?2 AND {of_type} AND {range}
           AND NOT EXISTS (SELECT 1 FROM refs twin
                           WHERE twin.event_id = r.event_id AND twin.kind = r.kind
                             AND twin.subject = r.subject AND twin.rowid < r.rowid)
           AND {}
         ORDER BY r.score DESC, r.event_id DESC LIMIT ?6",
        visible("e", 7)
    )
}

fn count(
    connection: &Connection,
    kind: i64,
    subjects: &[Vec<u8>],
    spec: &CountSpec,
) -> Result<u64> {
    let mut total = 0i64;
    for subject in subjects {
        total += match spec {
            CountSpec::LwwValue { value, from_type } => connection
                .prepare_cached(
                    "SELECT COALESCE(SUM(count), 0) FROM lww_counts
                     WHERE kind = ?1 AND subject = ?2 AND value = ?3 AND (?4 IS NULL OR from_type = ?4)",
                )?
                .query_row(
                    params![kind, subject, value, from_type.map(|t| t as i64)],
                    |row| row.get::<_, i64>(0),
                )?,
            CountSpec::References { from_type } => connection
                .prepare_cached(
                    "SELECT COALESCE(SUM(count), 0) FROM ref_counts
                     WHERE kind = ?1 AND subject = ?2 AND (?3 IS NULL OR from_type = ?3)",
                )?
                .query_row(params![kind, subject, from_type.map(|t| t as i64)], |row| {
                    row.get::<_, i64>(0)
                })?,
        };
    }
    Ok(total.max(0) as u64)
}

/// The edits of the post in `slot` by the post's own key, oldest first in edit order.
pub(super) fn edits(connection: &Connection, slot: &[u8]) -> Result<Vec<wire::SignedEvent>> {
    let system = slot.get(..32).unwrap_or_default();
    let events = connection
        .prepare_cached(
            "SELECT events.signature, events.event FROM refs JOIN events ON events.id = refs.event_id
             WHERE refs.kind = ?1 AND refs.subject = ?2 AND refs.from_type = ?3
               AND events.system = ?4
             ORDER BY COALESCE(events.unix_ms, 0), events.process, events.logical_clock",
        )?
        .query_map(
            params![
                content::REFERENCE_POINTER as i64,
                slot,
                content::POST_EDIT as i64,
                system
            ],
            |row| signed_from_row(row, 0),
        )?
        .collect::<rusqlite::Result<_>>()?;
    Ok(events)
}

/// The events after `after` in commit order matching `filter` (see [`crate::stream`]).
pub(super) fn stream_after(
    connection: &Connection,
    after: u64,
    filter: &StreamFilter,
    limit: usize,
) -> Result<StreamPage> {
    let head = stream_head(connection)?;
    // No position is past i64::MAX, SQLite's largest rowid: nothing comes after such an `after`.
    if i64::try_from(after).is_err() {
        return Ok(StreamPage {
            events: Vec::new(),
            position: after,
            head,
        });
    }
    let last = head.min(after.saturating_add(STREAM_SCAN_MAX));
    let mut sql = String::from(
        "SELECT stream_log.position, events.signature, events.event FROM stream_log
         JOIN events ON events.id = stream_log.event_id
         WHERE stream_log.position > ?1 AND stream_log.position <= ?2",
    );
    let mut values: Vec<rusqlite::types::Value> = vec![(after as i64).into(), (last as i64).into()];
    let mut list = |column: &str, items: Vec<rusqlite::types::Value>, sql: &mut String| {
        if items.is_empty() {
            return;
        }
        let start = values.len() + 1;
        let marks: Vec<String> = (start..start + items.len())
            .map(|n| format!("?{n}"))
            .collect();
        sql.push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
        values.extend(items);
    };
    list(
        "events.system",
        filter
            .systems
            .iter()
            .map(|key| key.as_bytes().to_vec().into())
            .collect(),
        &mut sql,
    );
    list(
        "events.content_type",
        filter
            .content_types
            .iter()
            .map(|t| (*t as i64).into())
            .collect(),
        &mut sql,
    );
    if !filter.references.is_empty() {
        let clauses: Vec<String> = filter
            .references
            .iter()
            .enumerate()
            .map(|(index, _)| {
                let n = values.len() + 1 + index * 2;
                format!("(kind = ?{n} AND subject = ?{})", n + 1)
            })
            .collect();
        sql.push_str(&format!(
            " AND events.id IN (SELECT event_id FROM refs WHERE {})",
            clauses.join(" OR ")
        ));
        for (kind, subject) in &filter.references {
            values.push((*kind as i64).into());
            values.push(subject.clone().into());
        }
    }
    sql.push_str(&format!(" ORDER BY stream_log.position LIMIT {limit}"));
    let events: Vec<(u64, wire::SignedEvent)> = connection
        .prepare(&sql)?
        .query_map(rusqlite::params_from_iter(values), |row| {
            let position: i64 = row.get(0)?;
            Ok((position as u64, signed_event(row.get(1)?, row.get(2)?)))
        })?
        .collect::<rusqlite::Result<_>>()?;
    // A full page ends at its last event; otherwise the whole stretch up to `last` was read.
    let position = match events.last() {
        Some((position, _)) if events.len() == limit => *position,
        _ => last.max(after),
    };
    Ok(StreamPage {
        events,
        position,
        head,
    })
}

pub(super) fn stream_head(connection: &Connection) -> Result<u64> {
    // The sequence remembers the highest position ever handed out, even after its row went.
    let head: Option<i64> = connection
        .query_row(
            "SELECT seq FROM sqlite_sequence WHERE name = 'stream_log'",
            [],
            |row| row.get(0),
        )
        .optional()?;
    Ok(head.unwrap_or(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlapping_and_adjacent_requests_merge_and_inverted_ones_drop() {
        let process = Process::from_bytes(&[1; 16]).expect("16");
        let asked = [
            ProcessRanges {
                process,
                ranges: vec![(5, 9), (1, 3), (9, 12), (20, 10)],
            },
            ProcessRanges {
                process,
                ranges: vec![(4, 4), (30, 31)],
            },
        ];
        let merged = merge_overlaps(&asked);
        assert_eq!(
            merged,
            vec![ProcessRanges {
                process,
                ranges: vec![(1, 12), (30, 31)]
            }]
        );
    }
}
