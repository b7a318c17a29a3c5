//! Discovery in SQLite: the rows written at ingest (post text in FTS5, explore order, topics,
//! profile fields) and the queries over them. Removal is not here: the AFTER DELETE triggers of
//! schema.sql drop the derived rows whatever path deletes an event.

use std::collections::{HashMap, HashSet};

use agora_protocol::{PublicKey, Reference, VerifiedEvent, content, wire};
use prost::Message as _;
use rusqlite::{Connection, OptionalExtension as _, Transaction, params};

use crate::StoreError;
use crate::discovery::{
    ExploreCursor, ExplorePage, FUTURE_MARGIN_MS, SearchCursor, SearchKind, SearchPage,
    SearchQuery, TopicCount, TrendingQuery, WordMatch, search_terms, text_relevance,
};
use crate::prepare::signed_event;

type Result<T> = std::result::Result<T, StoreError>;

/// The SQL condition that event `e` is not curated out, by its system or by itself.
const NOT_CENSORED: &str = "NOT EXISTS (SELECT 1 FROM censored_systems c WHERE c.system = e.system)
     AND NOT EXISTS (SELECT 1 FROM censored_events c WHERE c.system = e.system
                     AND c.process = e.process AND c.logical_clock = e.logical_clock)";

/// The last character, so `[prefix, prefix + LAST_CHAR)` is every string starting with `prefix`.
const LAST_CHAR: char = '\u{10FFFF}';

/// Most distinct identities one walk of recommended profiles looks at before giving up.
const RECOMMEND_STEPS_MAX: usize = 1_000;

/// Writes what discovery needs about a newly stored event, inside the ingest transaction.
pub(super) fn index_event(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    id: i64,
    received_ms: i64,
) -> rusqlite::Result<()> {
    super::vocabulary::learn(tx, event.event())?;
    match event.content_type() {
        content::POST => index_post(tx, event, id, received_ms),
        content::USERNAME | content::DESCRIPTION => index_profile_field(tx, event, id),
        _ => Ok(()),
    }
}

/// The time a post is ordered by: its own when plausible, its arrival when it claims to be from
/// further ahead than the margin allows.
fn order_ms(event: &VerifiedEvent, received_ms: i64) -> i64 {
    let latest_plausible = received_ms.saturating_add(FUTURE_MARGIN_MS);
    match event.unix_milliseconds().map(i64::try_from) {
        Some(Ok(ms)) if ms <= latest_plausible => ms,
        _ => received_ms,
    }
}

fn index_post(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    id: i64,
    received_ms: i64,
) -> rusqlite::Result<()> {
    let order_ms = order_ms(event, received_ms);
    tx.prepare_cached("INSERT INTO explore (event_id, system, order_ms) VALUES (?1, ?2, ?3)")?
        .execute(params![id, event.system().as_bytes().as_slice(), order_ms])?;
    let text = wire::Post::decode(event.event().content.clone())
        .ok()
        .and_then(|post| post.content)
        .unwrap_or_default();
    if !text.trim().is_empty() {
        tx.prepare_cached("INSERT INTO post_search (rowid, text) VALUES (?1, ?2)")?
            .execute(params![id, text])?;
    }
    // Edits that arrived before their post: search shows the latest version at once.
    let slot = event.slot_key();
    let edited = tx
        .prepare_cached("SELECT 1 FROM refs WHERE kind = ?1 AND subject = ?2 AND from_type = ?3")?
        .exists(params![
            content::REFERENCE_POINTER as i64,
            slot.as_slice(),
            content::POST_EDIT as i64
        ])?;
    if edited {
        reindex_post(tx, &slot)?;
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for reference in event.references() {
        let Reference::Bytes(bytes) = reference else {
            continue;
        };
        let Ok(topic) = std::str::from_utf8(bytes) else {
            continue;
        };
        if topic.is_empty() || !seen.insert(topic) {
            continue;
        }
        tx.prepare_cached(
            "INSERT INTO topics (event_id, topic, folded, order_ms) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![id, topic, fold_topic(topic), order_ms])?;
    }
    Ok(())
}

/// How topics compare for prefix queries: without case and without the leading '/' some
/// clients write.
fn fold_topic(topic: &str) -> String {
    topic.trim_start_matches('/').to_lowercase()
}

fn index_profile_field(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    id: i64,
) -> rusqlite::Result<()> {
    let Some(element) = event.event().lww_element.as_ref() else {
        return Ok(());
    };
    let value = String::from_utf8_lossy(&element.value);
    // The insert trigger rewrites the identity's search document from the winners.
    tx.prepare_cached(
        "INSERT INTO profile_fields (event_id, system, content_type, lww_ms, process, value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        id,
        event.system().as_bytes().as_slice(),
        event.content_type() as i64,
        i64::try_from(element.unix_milliseconds).unwrap_or(i64::MAX),
        event.process().as_bytes().as_slice(),
        value.as_ref(),
    ])?;
    Ok(())
}

/// Indexes the post stored in `slot` (if any) under its latest version: the text of its latest
/// edit by its own key, else its own text. Called when an edit comes or goes, and when a post
/// arrives after its edits.
pub(super) fn reindex_post(tx: &Transaction<'_>, slot: &[u8]) -> rusqlite::Result<()> {
    if slot.len() != 56 {
        return Ok(());
    }
    let (system, rest) = slot.split_at(32);
    let (process, clock) = rest.split_at(16);
    let clock = i64::from_be_bytes(clock.try_into().unwrap_or([0; 8]));
    let post: Option<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT id, event FROM events
             WHERE system = ?1 AND process = ?2 AND logical_clock = ?3 AND content_type = ?4",
        )?
        .query_row(
            params![system, process, clock, content::POST as i64],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?;
    let Some((post_id, post_bytes)) = post else {
        return Ok(());
    };
    let latest: Option<Vec<u8>> = tx
        .prepare_cached(
            "SELECT events.event FROM refs JOIN events ON events.id = refs.event_id
             WHERE refs.kind = ?1 AND refs.subject = ?2 AND refs.from_type = ?3
               AND events.system = ?4
             ORDER BY COALESCE(events.unix_ms, 0) DESC, events.process DESC,
                      events.logical_clock DESC
             LIMIT 1",
        )?
        .query_row(
            params![
                content::REFERENCE_POINTER as i64,
                slot,
                content::POST_EDIT as i64,
                system
            ],
            |row| row.get(0),
        )
        .optional()?;
    let has_edits = latest.is_some();
    let text = |bytes: Vec<u8>| {
        wire::Event::decode(bytes.as_slice())
            .ok()
            .and_then(|event| wire::Post::decode(event.content).ok())
            .and_then(|post| post.content)
            .unwrap_or_default()
    };
    let text = text(latest.unwrap_or(post_bytes));
    if !has_edits && text.is_empty() {
        return Ok(());
    }
    tx.prepare_cached("DELETE FROM post_search WHERE rowid = ?1")?
        .execute([post_id])?;
    if !text.trim().is_empty() {
        tx.prepare_cached("INSERT INTO post_search (rowid, text) VALUES (?1, ?2)")?
            .execute(params![post_id, text])?;
    }
    Ok(())
}

/// The full-text tables, whose segments the idle writer merges.
const FULL_TEXT_TABLES: [&str; 2] = ["post_search", "profile_search"];

/// Leaf pages one idle merge step writes per table: a few milliseconds.
const MERGE_PAGES: i64 = 64;

/// FTS5 keeps each index as segments that writes add and merges combine; a term is looked up in
/// every segment, so a search's cost grows with their number (26 segments on a store of a
/// million events, which made a search several times slower than on one). Idle merge steps
/// combine any two segments of a level (`usermerge` 2), keeping about one per level.
pub(super) fn prepare_merging(connection: &Connection) -> rusqlite::Result<()> {
    for table in FULL_TEXT_TABLES {
        connection.execute(
            &format!("INSERT INTO {table}({table}, rank) VALUES ('usermerge', 2)"),
            [],
        )?;
    }
    Ok(())
}

/// One step of merging the full-text indexes' segments, for a writer with nothing else to do;
/// whether it did any work (when it did none, the indexes are merged as far as they go until
/// the next write).
pub(super) fn merge_step(connection: &Connection) -> rusqlite::Result<bool> {
    let mut worked = false;
    for table in FULL_TEXT_TABLES {
        // FTS5 keeps the index's structure, merge progress included, in the row with id 10.
        let structure = || -> rusqlite::Result<Option<Vec<u8>>> {
            connection
                .prepare_cached(&format!("SELECT block FROM {table}_data WHERE id = 10"))?
                .query_row([], |row| row.get(0))
                .optional()
        };
        let before = structure()?;
        connection
            .prepare_cached(&format!(
                "INSERT INTO {table}({table}, rank) VALUES ('merge', {MERGE_PAGES})"
            ))?
            .execute([])?;
        worked |= structure()? != before;
    }
    Ok(worked)
}

/// The full-text index and vocabulary a search kind reads.
struct SearchIndex {
    documents: &'static str,
    /// Its words in the typo vocabulary.
    kind: SearchKind,
    /// Highest document id now, which pins a new search.
    max_id: &'static str,
}

const MESSAGES: SearchIndex = SearchIndex {
    documents: "post_search",
    kind: SearchKind::Messages,
    max_id: "SELECT coalesce(max(id), 0) FROM events",
};

const PROFILES: SearchIndex = SearchIndex {
    documents: "profile_search",
    kind: SearchKind::Profiles,
    max_id: "SELECT coalesce(max(id), 0) FROM profiles",
};

pub(super) fn search(
    connection: &Connection,
    query: &SearchQuery,
    moderation: Option<&str>,
) -> Result<SearchPage> {
    let index = match query.kind {
        SearchKind::Messages => &MESSAGES,
        SearchKind::Profiles => &PROFILES,
    };
    let cursor = match query.cursor {
        Some(cursor) => cursor,
        None => SearchCursor {
            pinned_id: connection.query_row(index.max_id, [], |row| row.get(0))?,
            score: i64::MAX,
            id: i64::MAX,
        },
    };
    let terms = search_terms(&query.text);
    let mut page = SearchPage {
        events: Vec::new(),
        cursor: cursor.encode(),
    };
    let mut shown = 0;
    let mut candidates = Candidates::new(connection, index, &terms, cursor)?;
    while shown < query.limit {
        let Some((score, id)) = candidates.next(connection, index)? else {
            break;
        };
        let events: Vec<(i64, wire::SignedEvent)> = match query.kind {
            SearchKind::Messages => live_post(connection, id)?
                .map(|event| (id, event))
                .into_iter()
                .collect(),
            SearchKind::Profiles => matching_profile_events(connection, id, &terms)?,
        };
        page.cursor = SearchCursor {
            score,
            id,
            ..cursor
        }
        .encode();
        // moderation: filters apply here, per event (a profile hit may be two events)
        let mut visible = Vec::with_capacity(events.len());
        for (event_id, event) in events {
            if super::moderation::shown(connection, event_id, moderation)? {
                visible.push(event);
            }
        }
        if !visible.is_empty() {
            shown += 1;
            page.events.extend(visible);
        }
    }
    Ok(page)
}

/// One query term as FTS5 expressions: the term itself, and the words of the vocabulary that
/// are its longer forms or its typos (each empty when there are none).
struct TermWords {
    exact: String,
    forms: String,
    typos: String,
}

impl TermWords {
    /// Reads the term's word forms and typo neighbours from the vocabulary.
    fn find(connection: &Connection, index: &SearchIndex, term: &str) -> Result<Self> {
        Ok(Self {
            exact: fts_phrase(term),
            forms: any_of(&super::vocabulary::forms(connection, index.kind, term)?),
            typos: any_of(&super::vocabulary::typos(connection, index.kind, term)?),
        })
    }

    /// The FTS5 expression of each kind of match that has words, with its score, best first;
    /// each leaves out the documents a better one holds, so every document is in one of them.
    fn tiers(&self) -> Vec<(i64, String)> {
        let mut tiers = vec![(WordMatch::Exact.score(), self.exact.clone())];
        if !self.forms.is_empty() {
            tiers.push((
                WordMatch::Form.score(),
                format!("({}) NOT ({})", self.forms, self.exact),
            ));
        }
        if !self.typos.is_empty() {
            let better = if self.forms.is_empty() {
                self.exact.clone()
            } else {
                format!("{} OR {}", self.exact, self.forms)
            };
            tiers.push((
                WordMatch::Typo.score(),
                format!("({}) NOT ({better})", self.typos),
            ));
        }
        tiers
    }
}

/// Ranked documents after a cursor, best first. A one-term query (the common case) streams
/// each kind of match newest first from the index in chunks, best kind first, instead of
/// scoring every match: within one kind, every document has the same score.
enum Candidates {
    Ranked(std::vec::IntoIter<(i64, i64)>),
    Streamed(Stream),
}

/// The matches of a one-term query, one kind of match after the other.
struct Stream {
    /// (score, FTS5 expression) of the kinds after the current one, best first.
    tiers: std::vec::IntoIter<(i64, String)>,
    /// The kind being streamed; `None` once all are done.
    current: Option<(i64, String)>,
    pinned_id: i64,
    /// The current kind continues below this document id.
    before_id: i64,
    chunk: std::vec::IntoIter<i64>,
    /// The current kind has no documents left after `chunk`.
    exhausted: bool,
}

/// Documents one chunk of the one-term stream reads.
const STREAM_CHUNK: i64 = 64;

impl Candidates {
    fn new(
        connection: &Connection,
        index: &SearchIndex,
        terms: &[String],
        cursor: SearchCursor,
    ) -> Result<Self> {
        if let [term] = terms {
            let tiers = TermWords::find(connection, index, term)?.tiers();
            return Ok(Self::Streamed(Stream::after(tiers, cursor)));
        }
        let ranked = ranked_documents(connection, index, terms, &cursor)?;
        Ok(Self::Ranked(ranked.into_iter()))
    }

    fn next(&mut self, connection: &Connection, index: &SearchIndex) -> Result<Option<(i64, i64)>> {
        match self {
            Self::Ranked(ranked) => Ok(ranked.next()),
            Self::Streamed(stream) => stream.next(connection, index),
        }
    }
}

impl Stream {
    /// The stream past `cursor`: kinds scoring above it were all shown, and the cursor's own
    /// kind resumes below its document.
    fn after(tiers: Vec<(i64, String)>, cursor: SearchCursor) -> Self {
        let mut tiers = tiers
            .into_iter()
            .filter(|(score, _)| *score <= cursor.score)
            .collect::<Vec<_>>()
            .into_iter();
        let current = tiers.next();
        let before_id = match &current {
            Some((score, _)) if *score == cursor.score => cursor.id,
            _ => i64::MAX,
        };
        Self {
            tiers,
            current,
            pinned_id: cursor.pinned_id,
            before_id,
            chunk: Vec::new().into_iter(),
            exhausted: false,
        }
    }

    fn next(&mut self, connection: &Connection, index: &SearchIndex) -> Result<Option<(i64, i64)>> {
        loop {
            let Some((score, expression)) = &self.current else {
                return Ok(None);
            };
            if let Some(id) = self.chunk.next() {
                return Ok(Some((*score, id)));
            }
            if self.exhausted {
                self.current = self.tiers.next();
                self.before_id = i64::MAX;
                self.exhausted = false;
                continue;
            }
            let ids: Vec<i64> = connection
                .prepare_cached(&format!(
                    "SELECT rowid FROM {0} WHERE {0} MATCH ?1 AND rowid <= ?2 AND rowid < ?3
                     ORDER BY rowid DESC LIMIT ?4",
                    index.documents
                ))?
                .query_map(
                    params![expression, self.pinned_id, self.before_id, STREAM_CHUNK],
                    |row| row.get(0),
                )?
                .collect::<rusqlite::Result<_>>()?;
            self.exhausted = (ids.len() as i64) < STREAM_CHUNK;
            if let Some(&last) = ids.last() {
                self.before_id = last;
            }
            self.chunk = ids.into_iter();
        }
    }
}

/// Documents matching any term, at most `cursor.pinned_id` and strictly after the cursor, best
/// first: by [`crate::discovery::relevance`] (each term's best match, exact, form or typo,
/// scored and summed), ties to the newer document. The score is deterministic, so pages stay
/// consistent while the index grows.
fn ranked_documents(
    connection: &Connection,
    index: &SearchIndex,
    terms: &[String],
    cursor: &SearchCursor,
) -> Result<Vec<(i64, i64)>> {
    let mut scores: HashMap<i64, i64> = HashMap::new();
    let mut statement = connection.prepare_cached(&format!(
        "SELECT rowid FROM {0} WHERE {0} MATCH ?1 AND rowid <= ?2",
        index.documents
    ))?;
    for term in terms {
        let words = TermWords::find(connection, index, term)?;
        // Worst kind first, so a better match of the same document overwrites it.
        let mut best: HashMap<i64, WordMatch> = HashMap::new();
        for (kind, expression) in [
            (WordMatch::Typo, &words.typos),
            (WordMatch::Form, &words.forms),
            (WordMatch::Exact, &words.exact),
        ] {
            if expression.is_empty() {
                continue;
            }
            let ids = statement.query_map(params![expression, cursor.pinned_id], |row| {
                row.get::<_, i64>(0)
            })?;
            for id in ids {
                best.insert(id?, kind);
            }
        }
        for (id, kind) in best {
            *scores.entry(id).or_default() += kind.score();
        }
    }
    let mut ranked: Vec<(i64, i64)> = scores
        .into_iter()
        .map(|(id, score)| (score, id))
        .filter(|&key| key < (cursor.score, cursor.id))
        .collect();
    ranked.sort_unstable_by(|a, b| b.cmp(a));
    Ok(ranked)
}

/// A term as an FTS5 string, so no character of it is read as query syntax.
fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// An FTS5 expression matching any of `words`; empty for none.
fn any_of(words: &[String]) -> String {
    let phrases: Vec<String> = words.iter().map(|word| fts_phrase(word)).collect();
    phrases.join(" OR ")
}

/// A live, not curated-out POST by event id.
fn live_post(connection: &Connection, id: i64) -> Result<Option<wire::SignedEvent>> {
    Ok(connection
        .prepare_cached(&format!(
            "SELECT e.signature, e.event FROM events e
             WHERE e.id = ?1 AND e.content_type = 3 AND {NOT_CENSORED}"
        ))?
        .query_row([id], |row| Ok(signed_event(row.get(0)?, row.get(1)?)))
        .optional()?)
}

/// The current USERNAME and DESCRIPTION events of a profile document's identity that match the
/// query, with their event ids: the best matching field first, the username on a tie, as the
/// reference server answers a profile search with the event of the field that matched. When
/// neither field matches by itself (the tokenizer and [`words`] disagree on some rare
/// character), both are returned, username first.
fn matching_profile_events(
    connection: &Connection,
    profile_id: i64,
    terms: &[String],
) -> Result<Vec<(i64, wire::SignedEvent)>> {
    let mut winner = connection.prepare_cached(&format!(
        "SELECT e.id, e.signature, e.event, f.value FROM events e
         JOIN profile_fields f ON f.event_id = e.id
         WHERE e.id = (SELECT f.event_id FROM profiles p
                       JOIN profile_fields f ON f.system = p.system AND f.content_type = ?2
                       WHERE p.id = ?1 ORDER BY {} LIMIT 1)
           AND {NOT_CENSORED}",
        crate::lww::winner_first!()
    ))?;
    let mut fields: Vec<(i64, (i64, wire::SignedEvent))> = Vec::new();
    for content_type in [content::USERNAME, content::DESCRIPTION] {
        let field = winner
            .query_row(params![profile_id, content_type as i64], |row| {
                let value: String = row.get(3)?;
                let event = (row.get(0)?, signed_event(row.get(1)?, row.get(2)?));
                Ok((text_relevance(terms, &value), event))
            })
            .optional()?;
        fields.extend(field);
    }
    if fields.iter().any(|(relevance, _)| *relevance > 0) {
        fields.retain(|(relevance, _)| *relevance > 0);
        // Stable: the username stays first among equals.
        fields.sort_by_key(|(relevance, _)| std::cmp::Reverse(*relevance));
    }
    Ok(fields.into_iter().map(|(_, event)| event).collect())
}

pub(super) fn explore(
    connection: &Connection,
    cursor: Option<ExploreCursor>,
    limit: usize,
    moderation: Option<&str>,
) -> Result<ExplorePage> {
    let after = cursor.unwrap_or(ExploreCursor {
        order_ms: i64::MAX,
        id: i64::MAX,
    });
    let mut statement = connection.prepare_cached(&format!(
        "SELECT x.order_ms, x.event_id, e.signature, e.event
         FROM explore x JOIN events e ON e.id = x.event_id
         WHERE (x.order_ms, x.event_id) < (?1, ?2) AND {NOT_CENSORED} AND {}
         ORDER BY x.order_ms DESC, x.event_id DESC LIMIT ?3",
        // moderation: filters apply here (in the query, so pages stay full)
        super::moderation::visible("e", 4)
    ))?;
    let rows = statement.query_map(
        params![after.order_ms, after.id, limit as i64, moderation],
        |row| {
            Ok((
                ExploreCursor {
                    order_ms: row.get(0)?,
                    id: row.get(1)?,
                },
                signed_event(row.get(2)?, row.get(3)?),
            ))
        },
    )?;
    let mut page = ExplorePage::default();
    for row in rows {
        let (position, event) = row?;
        page.cursor = Some(position.encode());
        page.events.push(event);
    }
    Ok(page)
}

pub(super) fn trending(connection: &Connection, query: &TrendingQuery) -> Result<Vec<TopicCount>> {
    let prefix = query.prefix.as_deref().map(fold_topic).unwrap_or_default();
    let mut statement = connection.prepare_cached(&format!(
        "SELECT t.topic, count(*) AS posts
         FROM topics t JOIN events e ON e.id = t.event_id
         WHERE t.order_ms >= ?1 AND t.folded >= ?2 AND t.folded < ?3 AND {NOT_CENSORED}
         GROUP BY t.topic ORDER BY posts DESC, t.topic LIMIT ?4"
    ))?;
    let rows = statement.query_map(
        params![
            query.since_ms,
            prefix,
            format!("{prefix}{LAST_CHAR}"),
            query.limit as i64
        ],
        |row| {
            Ok(TopicCount {
                topic: row.get(0)?,
                count: row.get::<_, i64>(1)? as u64,
            })
        },
    )?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Up to `count` distinct identities that each have a live post that is not curated out (by
/// its event or its system) and that `moderation` shows: a walk in key order from a random key,
/// wrapping once, so each call shows a different slice of the identities and costs one index
/// seek per identity looked at (plus a probe of its posts).
pub(super) fn recommended(
    connection: &Connection,
    count: usize,
    moderation: Option<&str>,
) -> Result<Vec<PublicKey>> {
    let mut next = connection
        .prepare_cached("SELECT system FROM explore WHERE system > ?1 ORDER BY system LIMIT 1")?;
    let mut qualifies = connection.prepare_cached(&format!(
        "SELECT 1 FROM explore x JOIN events e ON e.id = x.event_id
         WHERE x.system = ?1 AND {NOT_CENSORED} AND {} LIMIT 1",
        super::moderation::visible("e", 2)
    ))?;
    let start: Vec<u8> = connection.query_row("SELECT randomblob(32)", [], |row| row.get(0))?;
    let mut last = start;
    let mut wrapped = false;
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut systems = Vec::new();
    for _ in 0..RECOMMEND_STEPS_MAX {
        if systems.len() == count {
            break;
        }
        let found: Option<Vec<u8>> = next.query_row([&last], |row| row.get(0)).optional()?;
        let Some(system) = found else {
            if wrapped {
                break;
            }
            wrapped = true;
            last = Vec::new();
            continue;
        };
        if !seen.insert(system.clone()) {
            break;
        }
        if qualifies.exists(params![&system, moderation])? {
            let key = PublicKey::from_bytes(&system)
                .map_err(|error| StoreError::Corrupt(format!("stored system key: {error}")))?;
            systems.push(key);
        }
        last = system;
    }
    Ok(systems)
}

#[cfg(test)]
pub(super) mod tests {
    use agora_protocol::author::Author;
    use agora_protocol::{Process, SecretKey};

    use super::*;

    /// An in-memory database with the schema.
    pub(in crate::sqlite) fn database() -> Connection {
        let connection = Connection::open_in_memory().expect("in-memory database");
        connection
            .execute_batch(include_str!("schema.sql"))
            .expect("schema applies");
        connection
    }

    fn apply(connection: &mut Connection, events: &[&VerifiedEvent]) {
        let tx = connection.transaction().expect("transaction");
        for event in events {
            super::super::ingest::apply(&tx, event, 1_000).expect("ingest");
        }
        tx.commit().expect("commit");
    }

    fn count(connection: &Connection, sql: &str) -> i64 {
        connection
            .query_row(sql, [], |row| row.get(0))
            .expect("count")
    }

    /// Idle merge steps leave the post index in fewer segments, with the same answers, and
    /// report when there is nothing left to merge.
    #[test]
    fn idle_merge_steps_leave_fewer_segments_and_the_same_answers() {
        let mut connection = database();
        prepare_merging(&connection).expect("usermerge");
        let mut alice = Author::new(
            SecretKey::from_seed(&[1; 32]),
            Process::from_bytes(&[1; 16]).expect("16 bytes"),
        );
        // One transaction per post: each adds a segment.
        for n in 0..40 {
            let post = alice
                .post(&format!("walrus number{n}"), 100 + n)
                .expect("sign");
            apply(&mut connection, &[&post]);
        }
        let segments = |connection: &Connection| {
            count(
                connection,
                "SELECT count(DISTINCT segid) FROM post_search_idx",
            )
        };
        let answers = |connection: &Connection| {
            search(
                connection,
                &SearchQuery {
                    text: "walrsu".to_owned(),
                    kind: SearchKind::Messages,
                    cursor: None,
                    limit: 100,
                },
                None,
            )
            .expect("search")
            .events
        };
        let (before, found) = (segments(&connection), answers(&connection));
        assert!(before > 2, "separate writes made segments: {before}");
        assert_eq!(found.len(), 40);
        let mut steps = 0;
        while merge_step(&connection).expect("merge step") {
            steps += 1;
            assert!(steps < 1_000, "merging ends");
        }
        let after = segments(&connection);
        assert!(after < before, "{before} segments became {after}");
        assert_eq!(answers(&connection), found);
        assert!(
            !merge_step(&connection).expect("merge step"),
            "nothing left to merge"
        );
    }

    /// Hundreds of forms and typos of one word make long FTS5 expressions, which still run, in
    /// the one-term stream and in the ranked path.
    #[test]
    fn a_word_with_hundreds_of_forms_and_typos_is_searched() {
        let mut connection = database();
        let mut alice = Author::new(
            SecretKey::from_seed(&[1; 32]),
            Process::from_bytes(&[1; 16]).expect("16 bytes"),
        );
        let letters: Vec<char> = ('a'..='z').collect();
        let mut posts = Vec::new();
        for (n, (a, b)) in letters
            .iter()
            .flat_map(|a| letters.iter().map(move |b| (a, b)))
            .enumerate()
            .take(400)
        {
            let text = format!("walrus{a}{b} walr{a}s");
            posts.push(alice.post(&text, 100 + n as u64).expect("sign"));
        }
        apply(&mut connection, &posts.iter().collect::<Vec<_>>());
        for text in ["walrus", "walrus walrux"] {
            let page = search(
                &connection,
                &SearchQuery {
                    text: text.to_owned(),
                    kind: SearchKind::Messages,
                    cursor: None,
                    limit: 500,
                },
                None,
            )
            .expect("search");
            assert_eq!(page.events.len(), 400, "{text}");
        }
    }

    /// Whatever deletes an event row (purge and refuse_storage delete directly), the triggers
    /// take every derived row with it, and a profile falls back to the remaining winner.
    #[test]
    fn deleting_event_rows_directly_removes_every_derived_row() {
        let mut connection = database();
        let mut alice = Author::new(
            SecretKey::from_seed(&[1; 32]),
            Process::from_bytes(&[1; 16]).expect("16 bytes"),
        );
        let post = alice
            .topic_post("walrus sighting", "sea", 100)
            .expect("sign");
        let old_name = alice
            .set_element(content::USERNAME, b"Ferdinand", 100)
            .expect("sign");
        let new_name = alice
            .set_element(content::USERNAME, b"Leopold", 200)
            .expect("sign");
        apply(&mut connection, &[&post, &old_name, &new_name]);
        let name_matches = |connection: &Connection, name: &str| {
            count(
                connection,
                &format!("SELECT count(*) FROM profile_search WHERE profile_search MATCH '{name}'"),
            )
        };
        assert_eq!(
            count(
                &connection,
                "SELECT count(*) FROM post_search WHERE post_search MATCH 'walrus'"
            ),
            1
        );
        assert_eq!(name_matches(&connection, "leopold"), 1);
        assert_eq!(name_matches(&connection, "ferdinand"), 0);

        connection
            .execute(
                "DELETE FROM events WHERE content_type = 3 OR logical_clock = 3",
                [],
            )
            .expect("direct delete");

        for sql in [
            "SELECT count(*) FROM post_search WHERE post_search MATCH 'walrus'",
            "SELECT count(*) FROM explore",
            "SELECT count(*) FROM topics",
        ] {
            assert_eq!(count(&connection, sql), 0, "{sql}");
        }
        assert_eq!(name_matches(&connection, "leopold"), 0);
        assert_eq!(
            name_matches(&connection, "ferdinand"),
            1,
            "the former name is current again"
        );

        connection
            .execute("DELETE FROM events", [])
            .expect("purge everything");
        assert_eq!(name_matches(&connection, "ferdinand"), 0);
        assert_eq!(count(&connection, "SELECT count(*) FROM profile_fields"), 0);
    }
}
