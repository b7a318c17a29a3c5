//! Reads of the sync protocol on PostgreSQL: ranges, events, head, latest, feeds, references,
//! edits and the live stream (the SQLite engine's `sqlite/queries.rs`). Each runs in the read
//! transaction it is given, one snapshot for all its statements.

use agora_protocol::{Process, PublicKey, content, keys::slot_key, wire};
use deadpool_postgres::Transaction;
use tokio_postgres::Row;
use tokio_postgres::types::{ToSql, Type};

use super::cached::Cached as _;

use super::int;
use super::moderation::visible;
use crate::bounds::STORED_MAX;
use crate::prepare::{decode_event, signed_event};
use crate::{
    CountSpec, IndexCursor, IndexPage, IndexQuery, ProcessRanges, ReferencesCursor, ReferencesPage,
    ReferencesQuery, STREAM_SCAN_MAX, StoreError, StreamFilter, StreamPage, Subject,
};

type Result<T> = std::result::Result<T, StoreError>;

/// A parameter of a statement.
type Param<'a> = &'a (dyn ToSql + Sync);

fn signed_from_row(row: &Row, first: usize) -> wire::SignedEvent {
    signed_event(row.get(first), row.get(first + 1))
}

pub(super) async fn events_in_ranges(
    tx: &Transaction<'_>,
    system: &PublicKey,
    ranges: &[ProcessRanges],
    limit: usize,
    moderation: Option<&str>,
) -> Result<Vec<wire::SignedEvent>> {
    let statement = tx
        .prepare_cached(&format!(
            "SELECT signature, event FROM events
             WHERE system = $1 AND process = $2 AND logical_clock BETWEEN $3 AND $4 AND {}
             ORDER BY logical_clock LIMIT $5",
            visible("events", 6)
        ))
        .await?;
    let system = &system.as_bytes()[..];
    let mut events = Vec::new();
    for process_ranges in merge_overlaps(ranges) {
        let process = &process_ranges.process.as_bytes()[..];
        for &(low, high) in &process_ranges.ranges {
            let remaining = limit.saturating_sub(events.len());
            if remaining == 0 {
                return Ok(events);
            }
            let Some((low, high)) = stored_clocks(low, high) else {
                continue;
            };
            let rows = tx
                .query(
                    &statement,
                    &[
                        &system,
                        &process,
                        &low,
                        &high,
                        &(remaining as i64),
                        &moderation,
                    ],
                )
                .await?;
            events.extend(rows.iter().map(|row| signed_from_row(row, 0)));
        }
    }
    Ok(events)
}

/// The SQL bounds of a requested clock range, cut to the clocks the store holds (none is over
/// [`STORED_MAX`]); `None` when it holds none of them. Bounds past `i64::MAX` would otherwise
/// turn negative and make `(1, u64::MAX)` an empty range.
fn stored_clocks(low: u64, high: u64) -> Option<(i64, i64)> {
    let high = high.min(STORED_MAX);
    (low <= high).then(|| (int(low), int(high)))
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
async fn processes(tx: &Transaction<'_>, system: &PublicKey) -> Result<Vec<Vec<u8>>> {
    let next = tx
        .prepare_cached(
            "SELECT process FROM events WHERE system = $1 AND process > $2
             ORDER BY process LIMIT 1",
        )
        .await?;
    let system = &system.as_bytes()[..];
    let mut processes: Vec<Vec<u8>> = Vec::new();
    loop {
        let after = processes.last().cloned().unwrap_or_default();
        let found = tx.query_opt(&next, &[&system, &after]).await?;
        match found {
            Some(row) => processes.push(row.get(0)),
            None => return Ok(processes),
        }
    }
}

pub(super) async fn head(
    tx: &Transaction<'_>,
    system: &PublicKey,
) -> Result<Vec<wire::SignedEvent>> {
    let newest = tx
        .prepare_cached(
            "SELECT signature, event FROM events WHERE system = $1 AND process = $2
             ORDER BY logical_clock DESC LIMIT 1",
        )
        .await?;
    let mut heads = Vec::new();
    for process in processes(tx, system).await? {
        let row = tx
            .query_one(&newest, &[&&system.as_bytes()[..], &process])
            .await?;
        heads.push((process, signed_from_row(&row, 0)));
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
            && let Some(found) = event_at(tx, system, process, index.logical_clock).await?
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

async fn event_at(
    tx: &Transaction<'_>,
    system: &PublicKey,
    process: &[u8],
    clock: u64,
) -> Result<Option<wire::SignedEvent>> {
    Ok(tx
        .query_opt(
            "SELECT signature, event FROM events
             WHERE system = $1 AND process = $2 AND logical_clock = $3",
            &[&&system.as_bytes()[..], &process, &int(clock)],
        )
        .await?
        .map(|row| signed_from_row(&row, 0)))
}

pub(super) async fn ranges(tx: &Transaction<'_>, system: &PublicKey) -> Result<Vec<ProcessRanges>> {
    let system = &system.as_bytes()[..];
    let held = |sql: &'static str| async move {
        Ok::<_, StoreError>(
            tx.query(sql, &[&system])
                .await?
                .into_iter()
                .map(|row| (row.get::<_, Vec<u8>>(0), row.get::<_, i64>(1)))
                .collect::<Vec<_>>(),
        )
    };
    // Both go out at once, pipelined on the connection.
    let (stored, deleted) = futures::try_join!(
        held(crate::ranges::HELD_STORED_SQL),
        held(crate::ranges::HELD_DELETED_SQL)
    )?;
    crate::ranges::from_held_clocks(stored, deleted)
}

/// Per content type, the newest event (highest clock) of each process of the system.
pub(super) async fn latest(
    tx: &Transaction<'_>,
    system: &PublicKey,
    content_types: &[u64],
) -> Result<Vec<wire::SignedEvent>> {
    let statement = tx
        .prepare_cached(
            "SELECT DISTINCT ON (process) signature, event FROM events
             WHERE system = $1 AND content_type = $2
             ORDER BY process, logical_clock DESC",
        )
        .await?;
    let system = &system.as_bytes()[..];
    let mut events = Vec::new();
    for &content_type in content_types {
        let rows = tx.query(&statement, &[&system, &int(content_type)]).await?;
        events.extend(rows.iter().map(|row| signed_from_row(row, 0)));
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

fn feed_row(row: &Row) -> FeedRow {
    FeedRow {
        event: signed_from_row(row, 0),
        ms: row.get(2),
        process: row.get(3),
        clock: row.get(4),
    }
}

pub(super) async fn index(
    tx: &Transaction<'_>,
    query: &IndexQuery,
    moderation: Option<&str>,
) -> Result<IndexPage> {
    let system = &query.system.as_bytes()[..];
    let content_type = int(query.content_type);
    let limit = query.limit as i64;
    let order = "ORDER BY feed_ms DESC, feed_process DESC, feed_lc DESC";
    let rows = match stored_cursor(query.cursor) {
        StoredCursor::Start => {
            tx.query(
                &format!(
                    "SELECT {FEED_COLUMNS} FROM events WHERE system = $1 AND feed_type = $2 AND {}
                     {order} LIMIT $3",
                    visible("events", 4)
                ),
                &[&system, &content_type, &limit, &moderation],
            )
            .await?
        }
        StoredCursor::BeforeMillis(before) => {
            tx.query(
                &format!(
                    "SELECT {FEED_COLUMNS} FROM events
                     WHERE system = $1 AND feed_type = $2 AND feed_ms < $3 AND {} {order} LIMIT $4",
                    visible("events", 5)
                ),
                &[&system, &content_type, &before, &limit, &moderation],
            )
            .await?
        }
        StoredCursor::AtOrBefore { ms, process, clock } => {
            tx.query(
                &format!(
                    "SELECT {FEED_COLUMNS} FROM events
                     WHERE system = $1 AND feed_type = $2
                       AND (feed_ms, feed_process, feed_lc) <= ($3, $4, $5)
                       AND {} {order} LIMIT $6",
                    visible("events", 7)
                ),
                &[
                    &system,
                    &content_type,
                    &ms,
                    &&process.as_bytes()[..],
                    &clock,
                    &limit,
                    &moderation,
                ],
            )
            .await?
        }
    };
    let mut rows: Vec<FeedRow> = rows.iter().map(feed_row).collect();
    let full = rows.len() as i64 == limit && limit > 0;
    if full {
        complete_last_millisecond(tx, query, &mut rows, moderation).await?;
    }
    let next = full.then(|| rows.last().map(feed_cursor)).flatten();
    let proof = proof(tx, query, &rows, moderation).await?;
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
async fn complete_last_millisecond(
    tx: &Transaction<'_>,
    query: &IndexQuery,
    rows: &mut Vec<FeedRow>,
    moderation: Option<&str>,
) -> Result<()> {
    let Some(last) = rows.last() else {
        return Ok(());
    };
    let more = tx
        .query(
            &format!(
                "SELECT {FEED_COLUMNS} FROM events
                 WHERE system = $1 AND feed_type = $2 AND feed_ms = $3
                   AND (feed_process, feed_lc) < ($4, $5) AND {}
                 ORDER BY feed_process DESC, feed_lc DESC LIMIT $6",
                visible("events", 7)
            ),
            &[
                &&query.system.as_bytes()[..],
                &int(query.content_type),
                &last.ms,
                &last.process,
                &last.clock,
                &TIE_ROWS_MAX,
                &moderation,
            ],
        )
        .await?;
    rows.extend(more.iter().map(feed_row));
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
async fn proof(
    tx: &Transaction<'_>,
    query: &IndexQuery,
    rows: &[FeedRow],
    moderation: Option<&str>,
) -> Result<Vec<wire::SignedEvent>> {
    let (Some(latest), Some(earliest)) = (rows.first(), rows.last()) else {
        return Ok(Vec::new());
    };
    let system = &query.system.as_bytes()[..];
    let content_type = int(query.content_type);
    let processes = processes(tx, &query.system).await?;
    let after = tx
        .prepare_cached(&format!(
            "SELECT signature, event FROM events
             WHERE system = $1 AND feed_type = $2 AND feed_process = $3 AND feed_ms >= $4 AND {}
             ORDER BY feed_ms, feed_lc LIMIT 1",
            visible("events", 5)
        ))
        .await?;
    let before = tx
        .prepare_cached(&format!(
            "SELECT signature, event FROM events
             WHERE system = $1 AND feed_type = $2 AND feed_process = $3 AND feed_ms <= $4 AND {}
             ORDER BY feed_ms DESC, feed_lc DESC LIMIT 1",
            visible("events", 5)
        ))
        .await?;
    let mut proof = Vec::new();
    for process in &processes {
        if *process != latest.process {
            let params: [Param<'_>; 5] = [&system, &content_type, process, &latest.ms, &moderation];
            let row = tx.query_opt(&after, &params).await?;
            proof.extend(row.map(|row| signed_from_row(&row, 0)));
        }
        if *process != earliest.process {
            let params: [Param<'_>; 5] =
                [&system, &content_type, process, &earliest.ms, &moderation];
            let row = tx.query_opt(&before, &params).await?;
            proof.extend(row.map(|row| signed_from_row(&row, 0)));
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

pub(super) async fn references(
    tx: &Transaction<'_>,
    query: &ReferencesQuery,
    moderation: Option<&str>,
) -> Result<ReferencesPage> {
    // Spec section 7: a pointer subject (replies to one post) applies no moderation, nor does a
    // system subject; only a bytes subject (a topic) is filtered. (The SQLite engine decides
    // this in its `references_moderated`.)
    let moderation = match query.subject {
        Subject::Pointer(_) | Subject::System(_) => None,
        Subject::Bytes(_) => moderation,
    };
    let (kind, subjects) = subject_keys(&query.subject);
    let mut counts = Vec::with_capacity(query.counts.len());
    for spec in &query.counts {
        counts.push(count(tx, kind, &subjects, spec).await?);
    }
    let Some(events) = &query.events else {
        return Ok(ReferencesPage {
            items: Vec::new(),
            counts,
            cursor: None,
        });
    };
    let page = Page {
        kind,
        from_type: events.from_type.map(int),
        cursor: query.cursor,
        size: query.page_size,
        moderation,
    };
    let items = ranked_items(tx, &subjects, &page).await?;
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
        let mut item_counts = Vec::with_capacity(events.counts.len());
        for spec in &events.counts {
            item_counts.push(
                count(
                    tx,
                    int(content::REFERENCE_POINTER),
                    &[item.slot.to_vec()],
                    spec,
                )
                .await?,
            );
        }
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
        Subject::Pointer(slot) => (int(content::REFERENCE_POINTER), vec![slot.to_vec()]),
        Subject::Bytes(subjects) => (int(content::REFERENCE_BYTES), subjects.clone()),
        Subject::System(key) => (int(content::REFERENCE_SYSTEM), vec![key.to_vec()]),
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
async fn ranked_items(
    tx: &Transaction<'_>,
    subjects: &[Vec<u8>],
    page: &Page<'_>,
) -> Result<Vec<Item>> {
    let mut items = Vec::new();
    for subject in subjects {
        items.extend(ranked_items_of(tx, subject, page).await?);
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
async fn ranked_items_of(
    tx: &Transaction<'_>,
    subject: &[u8],
    page: &Page<'_>,
) -> Result<Vec<Item>> {
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
        // Typed, since a range that needs no cursor leaves some parameters unused.
        let statement = tx
            .prepare_typed_cached(
                &ranked_sql(page.from_type.is_some(), range),
                &[
                    Type::INT8,
                    Type::BYTEA,
                    Type::INT8,
                    Type::INT8,
                    Type::INT8,
                    Type::INT8,
                    Type::TEXT,
                ],
            )
            .await?;
        let rows = tx
            .query(
                &statement,
                &[
                    &page.kind,
                    &subject,
                    &page.from_type,
                    &score,
                    &id,
                    &(left as i64),
                    &page.moderation,
                ],
            )
            .await?;
        for row in rows {
            let (score, id, event): (i64, i64, _) =
                (row.get(0), row.get(1), signed_from_row(&row, 2));
            let (system, process, clock): (Vec<u8>, Vec<u8>, i64) =
                (row.get(4), row.get(5), row.get(6));
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
/// limit, moderation filter (a range that needs no cursor leaves $4 and $5 unused). `refs` has
/// no key of its own: a row's `ctid` tells the twins of one event apart.
fn ranked_sql(of_one_type: bool, range: Range) -> String {
    let of_type = if of_one_type {
        "r.from_type = $3"
    } else {
        "$3::bigint IS NULL"
    };
    let range = match range {
        Range::All => "TRUE",
        Range::RestOfScore => "r.score = $4 AND r.event_id < $5",
        Range::Below => "r.score < $4",
    };
    format!(
        "SELECT r.score, r.event_id, e.signature, e.event, e.system, e.process, e.logical_clock
         FROM refs r JOIN events e ON e.id = r.event_id
         WHERE r.kind = $1 AND r.subject = $2 AND {of_type} AND {range}
           AND NOT EXISTS (SELECT 1 FROM refs twin
                           WHERE twin.event_id = r.event_id AND twin.kind = r.kind
                             AND twin.subject = r.subject AND twin.ctid < r.ctid)
           AND {}
         ORDER BY r.score DESC, r.event_id DESC LIMIT $6",
        visible("e", 7)
    )
}

async fn count(
    tx: &Transaction<'_>,
    kind: i64,
    subjects: &[Vec<u8>],
    spec: &CountSpec,
) -> Result<u64> {
    let mut total = 0i64;
    for subject in subjects {
        let row = match spec {
            CountSpec::LwwValue { value, from_type } => {
                tx.query_one(
                    "SELECT COALESCE(SUM(count), 0)::bigint FROM lww_counts
                     WHERE kind = $1 AND subject = $2 AND value = $3
                       AND ($4::bigint IS NULL OR from_type = $4)",
                    &[&kind, subject, value, &from_type.map(int)],
                )
                .await?
            }
            CountSpec::References { from_type } => {
                tx.query_one(
                    "SELECT COALESCE(SUM(count), 0)::bigint FROM ref_counts
                     WHERE kind = $1 AND subject = $2 AND ($3::bigint IS NULL OR from_type = $3)",
                    &[&kind, subject, &from_type.map(int)],
                )
                .await?
            }
        };
        total += row.get::<_, i64>(0);
    }
    Ok(total.max(0) as u64)
}

/// Every stored edit of the post in `slot` signed by the post's key, in edit order (oldest
/// first).
pub(super) async fn edits(tx: &Transaction<'_>, slot: &[u8]) -> Result<Vec<wire::SignedEvent>> {
    let system = slot.get(..32).unwrap_or_default();
    let rows = tx
        .query(
            "SELECT events.signature, events.event FROM refs JOIN events ON events.id = refs.event_id
             WHERE refs.kind = $1 AND refs.subject = $2 AND refs.from_type = $3
               AND events.system = $4
             ORDER BY COALESCE(events.unix_ms, 0), events.process, events.logical_clock",
            &[
                &int(content::REFERENCE_POINTER),
                &slot,
                &int(content::POST_EDIT),
                &system,
            ],
        )
        .await?;
    Ok(rows.iter().map(|row| signed_from_row(row, 0)).collect())
}

/// The events after `after` in commit order matching `filter` (see [`crate::stream`]).
pub(super) async fn stream_after(
    tx: &Transaction<'_>,
    after: u64,
    filter: &StreamFilter,
    limit: usize,
) -> Result<StreamPage> {
    let head = stream_head(tx).await?;
    // No position is past i64::MAX, the sequence's largest value: nothing comes after such an
    // `after`.
    if i64::try_from(after).is_err() {
        return Ok(StreamPage {
            events: Vec::new(),
            position: after,
            head,
        });
    }
    let last = head.min(after.saturating_add(STREAM_SCAN_MAX));
    let mut sql = String::from(
        "SELECT events.position, events.signature, events.event FROM events
         WHERE events.position > $1 AND events.position <= $2",
    );
    let (after_sql, last_sql) = (after as i64, last as i64);
    let systems: Vec<&[u8]> = filter
        .systems
        .iter()
        .map(|key| &key.as_bytes()[..])
        .collect();
    let content_types: Vec<i64> = filter.content_types.iter().map(|t| int(*t)).collect();
    let reference_kinds: Vec<i64> = filter
        .references
        .iter()
        .map(|(kind, _)| int(*kind))
        .collect();
    let reference_subjects: Vec<&[u8]> = filter
        .references
        .iter()
        .map(|(_, subject)| &subject[..])
        .collect();
    let mut values: Vec<Param<'_>> = vec![&after_sql, &last_sql];
    if !systems.is_empty() {
        values.push(&systems);
        sql.push_str(&format!(" AND events.system = ANY(${})", values.len()));
    }
    if !content_types.is_empty() {
        values.push(&content_types);
        sql.push_str(&format!(
            " AND events.content_type = ANY(${})",
            values.len()
        ));
    }
    if !reference_kinds.is_empty() {
        values.push(&reference_kinds);
        values.push(&reference_subjects);
        let (kinds, subjects) = (values.len() - 1, values.len());
        sql.push_str(&format!(
            " AND events.id IN (SELECT event_id FROM refs
                                WHERE (kind, subject) IN
                                      (SELECT * FROM unnest(${kinds}::bigint[], ${subjects}::bytea[])))"
        ));
    }
    sql.push_str(&format!(" ORDER BY events.position LIMIT {limit}"));
    let events: Vec<(u64, wire::SignedEvent)> = tx
        .query(&sql, &values)
        .await?
        .iter()
        .map(|row| (row.get::<_, i64>(0) as u64, signed_from_row(row, 1)))
        .collect();
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

/// The newest position this read's snapshot holds (0 when it holds none).
///
/// Not the sequence's last value: a sequence is outside transactions, so it also counts the
/// positions of writes still in progress, or committed after this snapshot was taken, and a
/// reader moved past them would never see their events. Every position up to the newest one
/// this snapshot holds belongs to a write that ended before it (writes take positions under the
/// write lock, so they commit in position order): the events of those that are not here were
/// removed or rolled back. After the newest event was removed this is lower than a position
/// already handed out; the sequence still never hands that position out again.
pub(super) async fn stream_head(tx: &Transaction<'_>) -> Result<u64> {
    let row = tx
        .query_one("SELECT COALESCE(MAX(position), 0) FROM events", &[])
        .await?;
    Ok(row.get::<_, i64>(0).max(0) as u64)
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
