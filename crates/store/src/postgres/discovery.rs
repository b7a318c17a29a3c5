//! Discovery on PostgreSQL (the SQLite engine's `sqlite/discovery.rs` and
//! `sqlite/vocabulary.rs`): the rows written at ingest (post words in a tsvector, explore order,
//! topics, profile fields and documents), search, explore, trending topics and recommended
//! profiles.
//!
//! Removal: the rows derived from one event (post words, explore, topics, profile fields)
//! reference it `ON DELETE CASCADE`, so they go whatever path deletes the event row; what is
//! derived from several events (the typo vocabulary's counts, an identity's profile document) is
//! rewritten by [`forget_event`], which the one removal path (ingest's `remove_event`) calls
//! just before the event row goes.
//!
//! Search documents hold exactly the folded words of [`crate::discovery::words`] (a tsvector
//! made with `array_to_tsvector`, so no parser or dictionary of PostgreSQL's is involved), and a
//! search looks up exact words with a tsquery of quoted lexemes over a GIN index: the index, the
//! vocabulary and the ranking agree on what a word is.

#[path = "vocabulary.rs"]
mod vocabulary;

use std::collections::{HashMap, HashSet};

use agora_protocol::{PublicKey, Reference, VerifiedEvent, content, wire};
use deadpool_postgres::Transaction;
use prost::Message as _;

use super::cached::Cached as _;

use crate::StoreError;
use crate::discovery::{
    ExploreCursor, ExplorePage, FUTURE_MARGIN_MS, SearchCursor, SearchKind, SearchPage,
    SearchQuery, TopicCount, TrendingQuery, WordMatch, search_terms, text_relevance, words,
};
use crate::prepare::signed_event;

type Result<T> = std::result::Result<T, StoreError>;

/// The SQL condition that event `e` is not curated out, by its system or by itself.
const NOT_CENSORED: &str = "NOT EXISTS (SELECT 1 FROM censored_systems c WHERE c.system = e.system)
     AND NOT EXISTS (SELECT 1 FROM censored_events c WHERE c.system = e.system
                     AND c.process = e.process AND c.logical_clock = e.logical_clock)";

/// The last character, so `[prefix, prefix + LAST_CHAR)` is every string starting with `prefix`
/// (compared as UTF-8 bytes, which order as the characters do).
const LAST_CHAR: char = '\u{10FFFF}';

/// Most distinct identities each leg of a walk of recommended profiles (from a random key to the
/// end, then from the start to that key) looks at before giving up.
const RECOMMEND_STEPS_MAX: usize = 1_000;

/// Longest word, in UTF-8 bytes, that documents and the vocabulary hold: under PostgreSQL's
/// limits on a tsvector lexeme (2 047 bytes) and on a B-tree index entry (about 2 700 bytes).
/// A longer word cannot be stored there, so no search finds it (posts are at most 10 000
/// bytes, so only a freak word is this long).
const WORD_BYTES_MAX: usize = 2_000;

/// Most bytes of words one search document holds: a tsvector's lexemes take at most 1 MiB.
/// Only a profile field near the event size limit comes close; its first words are kept.
const DOCUMENT_BYTES_MAX: usize = 1_000_000;

/// Whether a word fits in the search index and the vocabulary ([`WORD_BYTES_MAX`]).
fn indexable(word: &str) -> bool {
    word.len() <= WORD_BYTES_MAX
}

/// The distinct indexable words of `texts`, in order of appearance, within
/// [`DOCUMENT_BYTES_MAX`]: what a search document holds.
fn document_words<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut bytes = 0;
    let mut kept = Vec::new();
    for text in texts {
        for word in words(text) {
            if !indexable(&word) || seen.contains(&word) {
                continue;
            }
            bytes += word.len();
            if bytes > DOCUMENT_BYTES_MAX {
                return kept;
            }
            seen.insert(word.clone());
            kept.push(word);
        }
    }
    kept
}

/// Writes the discovery rows of a just-stored event (row `id`), inside the ingest transaction.
pub(super) async fn index_event(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    id: i64,
    received_ms: i64,
) -> Result<()> {
    // The vocabulary and the documents are disjoint tables: both go out together.
    let documents = async {
        match event.content_type() {
            content::POST => index_post(tx, event, id, received_ms).await,
            content::USERNAME | content::DESCRIPTION => index_profile_field(tx, event, id).await,
            _ => Ok(()),
        }
    };
    futures::try_join!(vocabulary::learn(tx, event.event()), documents)?;
    Ok(())
}

/// Runs the events of one write transaction with their typo-vocabulary changes written once at
/// its end ([`vocabulary::batched`]).
pub(super) async fn vocabulary_batched<T>(
    tx: &Transaction<'_>,
    apply: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    vocabulary::batched(tx, apply).await
}

/// Counts out the words of an event that is leaving (row `id`), before its row goes, and
/// rewrites its identity's profile document without it when it is a profile field. The other
/// derived rows follow the event row's deletion (`ON DELETE CASCADE`).
pub(super) async fn forget_event(tx: &Transaction<'_>, id: i64) -> Result<()> {
    vocabulary::forget(tx, id).await?;
    let field = tx
        .query_opt(
            "DELETE FROM profile_fields WHERE event_id = $1 RETURNING system",
            &[&id],
        )
        .await?;
    if let Some(row) = field {
        let system: Vec<u8> = row.get(0);
        rewrite_profile(tx, &system).await?;
    }
    Ok(())
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

/// The text of a POST's (or POST_EDIT's) content; empty when it has none.
fn post_text(content: &[u8]) -> String {
    wire::Post::decode(content)
        .ok()
        .and_then(|post| post.content)
        .unwrap_or_default()
}

/// Writes the search document of post row `id` with the words of `text`.
async fn write_post_document(tx: &Transaction<'_>, id: i64, text: &str) -> Result<()> {
    tx.execute(
        "WITH document AS (
             INSERT INTO post_search (id, words) VALUES ($1, array_to_tsvector($2::text[]))
         )
         INSERT INTO post_words (word, id) SELECT word, $1 FROM unnest($2::text[]) AS word",
        &[&id, &document_words([text])],
    )
    .await?;
    Ok(())
}

async fn index_post(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    id: i64,
    received_ms: i64,
) -> Result<()> {
    let order_ms = order_ms(event, received_ms);
    let system = event.system().as_bytes().as_slice();
    let text = post_text(&event.event().content);
    let slot = event.slot_key();
    let mut seen: HashSet<&str> = HashSet::new();
    let (mut topics, mut folded) = (Vec::new(), Vec::new());
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
        topics.push(topic.as_bytes());
        folded.push(fold_topic(topic).into_bytes());
    }
    // Independent rows, sent together.
    let document = async {
        match text.trim().is_empty() {
            true => Ok(()),
            false => write_post_document(tx, id, &text).await,
        }
    };
    let topics = async {
        if topics.is_empty() {
            return Ok(0);
        }
        tx.execute(
            "INSERT INTO topics (event_id, topic, folded, order_ms)
             SELECT $1, t.topic, t.folded, $4 FROM unnest($2::bytea[], $3::bytea[]) AS t (topic, folded)",
            &[&id, &topics, &folded, &order_ms],
        )
        .await
        .map_err(StoreError::from)
    };
    let (_, _, edited, _) = futures::try_join!(
        async {
            tx.execute(
                "INSERT INTO explore (event_id, system, order_ms) VALUES ($1, $2, $3)",
                &[&id, &system, &order_ms],
            )
            .await
            .map_err(StoreError::from)
        },
        document,
        // Edits that arrived before their post: search shows the latest version at once.
        async {
            tx.query_opt(
                "SELECT 1 FROM refs WHERE kind = $1 AND subject = $2 AND from_type = $3 LIMIT 1",
                &[
                    &(content::REFERENCE_POINTER as i64),
                    &&slot[..],
                    &(content::POST_EDIT as i64),
                ],
            )
            .await
            .map_err(StoreError::from)
        },
        topics,
    )?;
    if edited.is_some() {
        reindex_post(tx, &slot).await?;
    }
    Ok(())
}

/// How topics compare for prefix queries: without case and without the leading '/' some
/// clients write.
fn fold_topic(topic: &str) -> String {
    topic.trim_start_matches('/').to_lowercase()
}

async fn index_profile_field(tx: &Transaction<'_>, event: &VerifiedEvent, id: i64) -> Result<()> {
    let Some(element) = event.event().lww_element.as_ref() else {
        return Ok(());
    };
    let system = event.system().as_bytes().as_slice();
    tx.execute(
        "INSERT INTO profile_fields (event_id, system, content_type, lww_ms, process, value)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &id,
            &system,
            &(event.content_type() as i64),
            &i64::try_from(element.unix_milliseconds).unwrap_or(i64::MAX),
            &event.process().as_bytes().as_slice(),
            &&element.value[..],
        ],
    )
    .await?;
    // The identity's search document is rewritten from the winners.
    rewrite_profile(tx, system).await
}

/// Rewrites the search document of `system` from the current winners of its USERNAME and
/// DESCRIPTION (in the LWW order of lww.rs, `winner_first!`), under a new id above every other;
/// an identity without live fields has none. Called whenever a field write comes or goes.
async fn rewrite_profile(tx: &Transaction<'_>, system: &[u8]) -> Result<()> {
    let row = tx
        .query_one(
            concat!(
                "SELECT (SELECT value FROM profile_fields WHERE system = $1 AND content_type = 5
                         ORDER BY ",
                crate::lww::winner_first!(),
                " LIMIT 1),
                        (SELECT value FROM profile_fields WHERE system = $1 AND content_type = 6
                         ORDER BY ",
                crate::lww::winner_first!(),
                " LIMIT 1)"
            ),
            &[&system],
        )
        .await?;
    let fields: Vec<String> = [row.get::<_, Option<Vec<u8>>>(0), row.get(1)]
        .into_iter()
        .flatten()
        .map(|value| String::from_utf8_lossy(&value).into_owned())
        .collect();
    if fields.is_empty() {
        tx.execute("DELETE FROM profiles WHERE system = $1", &[&system])
            .await?;
        return Ok(());
    }
    let words = document_words(fields.iter().map(String::as_str));
    tx.execute(
        "INSERT INTO profiles (system, id, words)
         VALUES ($1, nextval('profile_ids'), array_to_tsvector($2::text[]))
         ON CONFLICT (system) DO UPDATE SET id = excluded.id, words = excluded.words",
        &[&system, &words],
    )
    .await?;
    Ok(())
}

/// Indexes the post stored in `slot` (if any) under its latest version: the text of its latest
/// edit by its own key, else its own text. Called when an edit comes or goes, and when a post
/// arrives after its edits.
pub(super) async fn reindex_post(tx: &Transaction<'_>, slot: &[u8]) -> Result<()> {
    if slot.len() != 56 {
        return Ok(());
    }
    let (system, rest) = slot.split_at(32);
    let (process, clock) = rest.split_at(16);
    let clock = i64::from_be_bytes(clock.try_into().unwrap_or([0; 8]));
    let post = tx
        .query_opt(
            "SELECT id, event FROM events
             WHERE system = $1 AND process = $2 AND logical_clock = $3 AND content_type = $4",
            &[&system, &process, &clock, &(content::POST as i64)],
        )
        .await?;
    let Some(post) = post else {
        return Ok(());
    };
    let (post_id, post_bytes): (i64, Vec<u8>) = (post.get(0), post.get(1));
    let latest: Option<Vec<u8>> = tx
        .query_opt(
            "SELECT events.event FROM refs JOIN events ON events.id = refs.event_id
             WHERE refs.kind = $1 AND refs.subject = $2 AND refs.from_type = $3
               AND events.system = $4
             ORDER BY COALESCE(events.unix_ms, 0) DESC, events.process DESC,
                      events.logical_clock DESC
             LIMIT 1",
            &[
                &(content::REFERENCE_POINTER as i64),
                &slot,
                &(content::POST_EDIT as i64),
                &system,
            ],
        )
        .await?
        .map(|row| row.get(0));
    let has_edits = latest.is_some();
    let text = |bytes: Vec<u8>| {
        wire::Event::decode(bytes.as_slice())
            .map(|event| post_text(&event.content))
            .unwrap_or_default()
    };
    let text = text(latest.unwrap_or(post_bytes));
    if !has_edits && text.is_empty() {
        return Ok(());
    }
    tx.execute("DELETE FROM post_search WHERE id = $1", &[&post_id])
        .await?;
    if !text.trim().is_empty() {
        write_post_document(tx, post_id, &text).await?;
    }
    Ok(())
}

/// The search documents and vocabulary a search kind reads.
struct SearchIndex {
    /// The table of documents: `id` and `words` (a tsvector) columns.
    documents: &'static str,
    /// Its words in the typo vocabulary.
    kind: SearchKind,
    /// Highest document id now, which pins a new search.
    max_id: &'static str,
    /// The table of the documents' words by (word, id), when there is one.
    words: Option<&'static str>,
}

const MESSAGES: SearchIndex = SearchIndex {
    documents: "post_search",
    kind: SearchKind::Messages,
    max_id: "SELECT coalesce(max(id), 0) FROM events",
    words: Some("post_words"),
};

const PROFILES: SearchIndex = SearchIndex {
    documents: "profiles",
    kind: SearchKind::Profiles,
    max_id: "SELECT coalesce(max(id), 0) FROM profiles",
    words: None,
};

pub(super) async fn search(
    tx: &Transaction<'_>,
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
            pinned_id: tx.query_one(index.max_id, &[]).await?.get(0),
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
    let mut candidates = Candidates::new(tx, index, &terms, cursor).await?;
    while shown < query.limit {
        // As many candidates as the page still needs, read together: never one past the hit
        // that fills the page, so the cursor stops where the page does.
        let mut batch = Vec::new();
        while batch.len() < query.limit - shown {
            match candidates.next(tx, index).await? {
                Some(candidate) => batch.push(candidate),
                None => break,
            }
        }
        if batch.is_empty() {
            break;
        }
        let mut hits = match query.kind {
            SearchKind::Messages => live_posts(tx, &batch, moderation).await?,
            SearchKind::Profiles => shown_profiles(tx, &batch, &terms, moderation).await?,
        };
        for (score, id) in batch {
            page.cursor = SearchCursor {
                score,
                id,
                ..cursor
            }
            .encode();
            let visible = hits.remove(&id).unwrap_or_default();
            if !visible.is_empty() {
                shown += 1;
                page.events.extend(visible);
            }
        }
    }
    Ok(page)
}

/// Whether the event row `id` may be shown under the filters `moderation` (the SQLite engine's
/// `moderation::shown`), for pages assembled one event at a time.
async fn moderation_shows(tx: &Transaction<'_>, id: i64, moderation: Option<&str>) -> Result<bool> {
    if moderation.is_none() {
        return Ok(true);
    }
    let row = tx
        .query_opt(
            &format!(
                "SELECT {} FROM events WHERE id = $1",
                super::moderation::visible("events", 2)
            ),
            &[&id, &moderation],
        )
        .await?;
    // A condition that is NULL hides, as it does in a WHERE clause.
    Ok(row.is_none_or(|row| row.get::<_, Option<bool>>(0).unwrap_or(false)))
}

/// A word as a tsquery lexeme: quoted, so no character of it is read as query syntax.
fn lexeme(word: &str) -> String {
    format!("'{}'", word.replace('\\', "\\\\").replace('\'', "''"))
}

/// A tsquery matching any of `words`; `None` when none can be in a document.
fn any_of(words: &[String]) -> Option<String> {
    let lexemes: Vec<String> = words
        .iter()
        .filter(|word| indexable(word))
        .map(|word| lexeme(word))
        .collect();
    (!lexemes.is_empty()).then(|| lexemes.join(" | "))
}

/// One query term's words: the term itself, and the words of the vocabulary that are its longer
/// forms or its typos, each list without the words no document can hold.
struct TermWords {
    exact: Vec<String>,
    forms: Vec<String>,
    typos: Vec<String>,
}

/// One kind of match of a one-term query: its score, its words, and the words of the better
/// kinds, whose documents it leaves out (so every document is in one kind).
struct Tier {
    score: i64,
    words: Vec<String>,
    better: Vec<String>,
}

impl Tier {
    /// The tier as a tsquery over search documents.
    fn query(&self) -> String {
        let words = any_of(&self.words).unwrap_or_default();
        match any_of(&self.better) {
            None => words,
            Some(better) => format!("({words}) & !({better})"),
        }
    }
}

impl TermWords {
    /// Reads the term's word forms and typo neighbours from the vocabulary.
    async fn find(tx: &Transaction<'_>, index: &SearchIndex, term: &str) -> Result<Self> {
        let searchable = |words: Vec<String>| -> Vec<String> {
            words.into_iter().filter(|word| indexable(word)).collect()
        };
        let (forms, typos) = futures::try_join!(
            vocabulary::forms(tx, index.kind, term),
            vocabulary::typos(tx, index.kind, term)
        )?;
        Ok(Self {
            exact: searchable(vec![term.to_owned()]),
            forms: searchable(forms),
            typos: searchable(typos),
        })
    }

    /// Each kind of match that has words, best first.
    fn tiers(self) -> Vec<Tier> {
        let mut tiers = Vec::new();
        let mut better: Vec<String> = Vec::new();
        for (kind, words) in [
            (WordMatch::Exact, self.exact),
            (WordMatch::Form, self.forms),
            (WordMatch::Typo, self.typos),
        ] {
            if words.is_empty() {
                continue;
            }
            tiers.push(Tier {
                score: kind.score(),
                words: words.clone(),
                better: better.clone(),
            });
            better.extend(words);
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
    /// The kinds after the current one, best first.
    tiers: std::vec::IntoIter<Tier>,
    /// The kind being streamed; `None` once all are done.
    current: Option<Tier>,
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
    async fn new(
        tx: &Transaction<'_>,
        index: &SearchIndex,
        terms: &[String],
        cursor: SearchCursor,
    ) -> Result<Self> {
        if let [term] = terms {
            let tiers = TermWords::find(tx, index, term).await?.tiers();
            return Ok(Self::Streamed(Stream::after(tiers, cursor)));
        }
        let ranked = ranked_documents(tx, index, terms, &cursor).await?;
        Ok(Self::Ranked(ranked.into_iter()))
    }

    async fn next(
        &mut self,
        tx: &Transaction<'_>,
        index: &SearchIndex,
    ) -> Result<Option<(i64, i64)>> {
        match self {
            Self::Ranked(ranked) => Ok(ranked.next()),
            Self::Streamed(stream) => stream.next(tx, index).await,
        }
    }
}

impl Stream {
    /// The stream past `cursor`: kinds scoring above it were all shown, and the cursor's own
    /// kind resumes below its document.
    fn after(tiers: Vec<Tier>, cursor: SearchCursor) -> Self {
        let mut tiers = tiers
            .into_iter()
            .filter(|tier| tier.score <= cursor.score)
            .collect::<Vec<_>>()
            .into_iter();
        let current = tiers.next();
        let before_id = match &current {
            Some(tier) if tier.score == cursor.score => cursor.id,
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

    async fn next(
        &mut self,
        tx: &Transaction<'_>,
        index: &SearchIndex,
    ) -> Result<Option<(i64, i64)>> {
        loop {
            let Some(tier) = &self.current else {
                return Ok(None);
            };
            if let Some(id) = self.chunk.next() {
                return Ok(Some((tier.score, id)));
            }
            if self.exhausted {
                self.current = self.tiers.next();
                self.before_id = i64::MAX;
                self.exhausted = false;
                continue;
            }
            let rows = match index.words {
                // Each word's newest documents are a range of its index, read backwards: the
                // chunk is the newest of the words' chunks, and the kind is exhausted when all
                // of them together hold fewer than a chunk.
                Some(words) => {
                    tx.query(
                        &format!(
                            "SELECT DISTINCT x.id FROM unnest($1::text[]) AS t (word)
                             CROSS JOIN LATERAL (
                                 SELECT w.id FROM {words} w
                                 WHERE w.word = t.word AND w.id <= $2 AND w.id < $3
                                   AND NOT EXISTS (SELECT 1 FROM {words} b
                                                   WHERE b.word = ANY($4::text[]) AND b.id = w.id)
                                 ORDER BY w.id DESC LIMIT $5) AS x
                             ORDER BY x.id DESC LIMIT $5"
                        ),
                        &[
                            &tier.words,
                            &self.pinned_id,
                            &self.before_id,
                            &tier.better,
                            &STREAM_CHUNK,
                        ],
                    )
                    .await?
                }
                None => {
                    tx.query(
                        &format!(
                            "SELECT id FROM {} WHERE words @@ $1::text::tsquery
                               AND id <= $2 AND id < $3
                             ORDER BY id DESC LIMIT $4",
                            index.documents
                        ),
                        &[
                            &tier.query(),
                            &self.pinned_id,
                            &self.before_id,
                            &STREAM_CHUNK,
                        ],
                    )
                    .await?
                }
            };
            let ids: Vec<i64> = rows.into_iter().map(|row| row.get(0)).collect();
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
async fn ranked_documents(
    tx: &Transaction<'_>,
    index: &SearchIndex,
    terms: &[String],
    cursor: &SearchCursor,
) -> Result<Vec<(i64, i64)>> {
    let mut scores: HashMap<i64, i64> = HashMap::new();
    let statement = tx
        .prepare_cached(&format!(
            "SELECT id FROM {} WHERE words @@ $1::text::tsquery AND id <= $2",
            index.documents
        ))
        .await?;
    for term in terms {
        let words = TermWords::find(tx, index, term).await?;
        // Worst kind first, so a better match of the same document overwrites it.
        let mut best: HashMap<i64, WordMatch> = HashMap::new();
        for (kind, query) in [
            (WordMatch::Typo, &words.typos),
            (WordMatch::Form, &words.forms),
            (WordMatch::Exact, &words.exact),
        ] {
            let Some(query) = any_of(query) else {
                continue;
            };
            for row in tx.query(&statement, &[&query, &cursor.pinned_id]).await? {
                best.insert(row.get(0), kind);
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

/// The live, not curated-out POSTs that `moderation` shows among the candidates, by document
/// (event) id, in one statement.
async fn live_posts(
    tx: &Transaction<'_>,
    candidates: &[(i64, i64)],
    moderation: Option<&str>,
) -> Result<HashMap<i64, Vec<wire::SignedEvent>>> {
    let ids: Vec<i64> = candidates.iter().map(|&(_, id)| id).collect();
    let rows = tx
        .query(
            &format!(
                "SELECT e.id, e.signature, e.event FROM events e
                 WHERE e.id = ANY($1) AND e.content_type = 3 AND {NOT_CENSORED} AND {}",
                // moderation: filters apply here; a condition that is NULL hides
                super::moderation::visible("e", 2)
            ),
            &[&ids, &moderation],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.get(0), vec![signed_event(row.get(1), row.get(2))]))
        .collect())
}

/// The events that show each candidate profile document under `moderation` (a profile hit may
/// be two events), by document id; a document none of whose events shows is left out.
async fn shown_profiles(
    tx: &Transaction<'_>,
    candidates: &[(i64, i64)],
    terms: &[String],
    moderation: Option<&str>,
) -> Result<HashMap<i64, Vec<wire::SignedEvent>>> {
    let mut shown = HashMap::new();
    for &(_, profile_id) in candidates {
        let mut visible = Vec::new();
        for (event_id, event) in matching_profile_events(tx, profile_id, terms).await? {
            if moderation_shows(tx, event_id, moderation).await? {
                visible.push(event);
            }
        }
        if !visible.is_empty() {
            shown.insert(profile_id, visible);
        }
    }
    Ok(shown)
}

/// The current USERNAME and DESCRIPTION events of a profile document's identity that match the
/// query, with their event ids: the best matching field first, the username on a tie, as the
/// reference server answers a profile search with the event of the field that matched. When
/// neither field matches by itself (a document that matched through a word the other field
/// holds cannot be, as both come from [`words`]; kept as the SQLite engine has it), both are
/// returned, username first.
async fn matching_profile_events(
    tx: &Transaction<'_>,
    profile_id: i64,
    terms: &[String],
) -> Result<Vec<(i64, wire::SignedEvent)>> {
    let winner = tx
        .prepare_cached(&format!(
            "SELECT e.id, e.signature, e.event, f.value FROM events e
             JOIN profile_fields f ON f.event_id = e.id
             WHERE e.id = (SELECT f.event_id FROM profiles p
                           JOIN profile_fields f ON f.system = p.system AND f.content_type = $2
                           WHERE p.id = $1 ORDER BY {} LIMIT 1)
               AND {NOT_CENSORED}",
            crate::lww::winner_first!()
        ))
        .await?;
    let mut fields: Vec<(i64, (i64, wire::SignedEvent))> = Vec::new();
    for content_type in [content::USERNAME, content::DESCRIPTION] {
        let field = tx
            .query_opt(&winner, &[&profile_id, &(content_type as i64)])
            .await?
            .map(|row| {
                let value: Vec<u8> = row.get(3);
                let event = (row.get(0), signed_event(row.get(1), row.get(2)));
                (
                    text_relevance(terms, &String::from_utf8_lossy(&value)),
                    event,
                )
            });
        fields.extend(field);
    }
    if fields.iter().any(|(relevance, _)| *relevance > 0) {
        fields.retain(|(relevance, _)| *relevance > 0);
        // Stable: the username stays first among equals.
        fields.sort_by_key(|(relevance, _)| std::cmp::Reverse(*relevance));
    }
    Ok(fields.into_iter().map(|(_, event)| event).collect())
}

pub(super) async fn explore(
    tx: &Transaction<'_>,
    cursor: Option<ExploreCursor>,
    limit: usize,
    moderation: Option<&str>,
) -> Result<ExplorePage> {
    let after = cursor.unwrap_or(ExploreCursor {
        order_ms: i64::MAX,
        id: i64::MAX,
    });
    let rows = tx
        .query(
            &format!(
                "SELECT x.order_ms, x.event_id, e.signature, e.event
                 FROM explore x JOIN events e ON e.id = x.event_id
                 WHERE (x.order_ms, x.event_id) < ($1, $2) AND {NOT_CENSORED} AND {}
                 ORDER BY x.order_ms DESC, x.event_id DESC LIMIT $3",
                // moderation: filters apply here (in the query, so pages stay full)
                super::moderation::visible("e", 4)
            ),
            &[&after.order_ms, &after.id, &(limit as i64), &moderation],
        )
        .await?;
    let mut page = ExplorePage::default();
    for row in rows {
        let position = ExploreCursor {
            order_ms: row.get(0),
            id: row.get(1),
        };
        page.cursor = Some(position.encode());
        page.events.push(signed_event(row.get(2), row.get(3)));
    }
    Ok(page)
}

pub(super) async fn trending(
    tx: &Transaction<'_>,
    query: &TrendingQuery,
) -> Result<Vec<TopicCount>> {
    let prefix = query.prefix.as_deref().map(fold_topic).unwrap_or_default();
    let end = format!("{prefix}{LAST_CHAR}");
    let rows = tx
        .query(
            &format!(
                "SELECT t.topic, count(*) AS posts
                 FROM topics t JOIN events e ON e.id = t.event_id
                 WHERE t.order_ms >= $1 AND t.folded >= $2 AND t.folded < $3 AND {NOT_CENSORED}
                 GROUP BY t.topic ORDER BY posts DESC, t.topic LIMIT $4"
            ),
            &[
                &query.since_ms,
                &prefix.as_bytes(),
                &end.as_bytes(),
                &(query.limit as i64),
            ],
        )
        .await?;
    rows.into_iter()
        .map(|row| {
            let topic = String::from_utf8(row.get(0))
                .map_err(|error| StoreError::Corrupt(format!("stored topic: {error}")))?;
            Ok(TopicCount {
                topic,
                count: row.get::<_, i64>(1) as u64,
            })
        })
        .collect()
}

/// Up to `count` distinct identities that each have a live post that is not curated out (by
/// its event or its system) and that `moderation` shows: a walk in key order from a random key
/// to the end, then from the start up to that key, so each call shows a different slice of the
/// identities and costs one index seek per identity looked at (plus a probe of its posts). Each
/// leg is one statement, a recursive walk that PostgreSQL evaluates only as far as the outer
/// `LIMIT` fetches, instead of two round trips per identity.
pub(super) async fn recommended(
    tx: &Transaction<'_>,
    count: usize,
    moderation: Option<&str>,
) -> Result<Vec<PublicKey>> {
    // $1 exclusive lower bound, $2 exclusive upper bound (NULL: none), $3 steps, $4 count,
    // $5 moderation filters.
    let walk = tx
        .prepare_cached(&format!(
            "WITH RECURSIVE walk(system, steps) AS (
                 (SELECT system, 1 FROM explore
                  WHERE system > $1 AND ($2::bytea IS NULL OR system < $2)
                  ORDER BY system LIMIT 1)
               UNION ALL
                 SELECT (SELECT x.system FROM explore x
                         WHERE x.system > walk.system AND ($2::bytea IS NULL OR x.system < $2)
                         ORDER BY x.system LIMIT 1),
                        walk.steps + 1
                 FROM walk WHERE walk.system IS NOT NULL AND walk.steps < $3
             )
             SELECT walk.system FROM walk
             WHERE walk.system IS NOT NULL AND EXISTS (
                 SELECT 1 FROM explore x JOIN events e ON e.id = x.event_id
                 WHERE x.system = walk.system AND {NOT_CENSORED} AND {})
             LIMIT $4",
            super::moderation::visible("e", 5)
        ))
        .await?;
    let mut start = [0_u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut start);
    let steps = RECOMMEND_STEPS_MAX as i32;
    let (first, none): (&[u8], Option<&[u8]>) = (&[], None);
    let mut found: Vec<Vec<u8>> = tx
        .query(
            &walk,
            &[&&start[..], &none, &steps, &(count as i64), &moderation],
        )
        .await?
        .into_iter()
        .map(|row| row.get(0))
        .collect();
    if found.len() < count {
        let wanted = (count - found.len()) as i64;
        let wrapped = tx
            .query(
                &walk,
                &[&first, &Some(&start[..]), &steps, &wanted, &moderation],
            )
            .await?;
        found.extend(wrapped.into_iter().map(|row| row.get::<_, Vec<u8>>(0)));
    }
    found
        .into_iter()
        .map(|system| {
            PublicKey::from_bytes(&system)
                .map_err(|error| StoreError::Corrupt(format!("stored system key: {error}")))
        })
        .collect()
}
