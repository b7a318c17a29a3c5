//! The typo vocabulary on PostgreSQL (the SQLite engine's `sqlite/vocabulary.rs`): every word of
//! a live searchable text ([`crate::discovery::searchable_text`]) with how many live events hold
//! it, and its typo keys ([`crate::discovery::typo_keys`]), so a search finds a term's longer
//! forms and typos with a bounded number of index seeks whatever the vocabulary's size. Ingest
//! counts an event's words in ([`learn`]); removal, by whatever path, counts them out
//! ([`forget`]), and a word whose count reaches zero leaves with its keys: purging a flooder
//! takes its words away.
//!
//! Declared from `discovery.rs`, the only module that uses it. Words are counted in or out with
//! one statement per direction (arrays unnested): once per ingest batch ([`batched`]), once per
//! event on other write paths.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use agora_protocol::wire;
use deadpool_postgres::Transaction;
use prost::Message as _;

use crate::postgres::cached::Cached as _;

use crate::StoreError;
use crate::discovery::{
    FORM_EXTRA_CHARS_MAX, FORM_TERM_CHARS_MIN, SearchKind, WordMatch, searchable_text, typo_keys,
    typo_probes, word_match, words,
};

type Result<T> = std::result::Result<T, StoreError>;

/// The `kind` column of a search kind's words.
pub(super) fn kind_code(kind: SearchKind) -> i64 {
    match kind {
        SearchKind::Messages => 0,
        SearchKind::Profiles => 1,
    }
}

/// Most longer forms, and most typos, one query term expands to: the ones the most events hold.
/// Bounds the full-text query a term becomes, however many near words a flood adds.
pub(super) const EXPANSIONS_MAX: usize = 128;

/// Most vocabulary rows one lookup reads (one word length of forms, or one typo probe).
const ROWS_PER_LOOKUP_MAX: i64 = 1_024;

tokio::task_local! {
    /// The vocabulary changes of the batch being applied ([`batched`]): words counted in and out
    /// by (kind, word), written once when the batch ends.
    static PENDING: RefCell<HashMap<(i64, String), i64>>;
}

/// Runs `apply` (the events of one write transaction) with its vocabulary changes gathered and
/// written once at its end, a statement per direction. A common word's row is then updated once
/// a batch: updated once per event, its versions pile up within the transaction (PostgreSQL
/// keeps every version until the transaction ends), and each update walked all of them: it was
/// most of the cost of ingest. Nothing in a write transaction reads the vocabulary, so the
/// result is the same.
pub(super) async fn batched<T>(
    tx: &Transaction<'_>,
    apply: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let (applied, pending) = PENDING
        .scope(RefCell::new(HashMap::new()), async {
            let applied = apply.await;
            (applied, PENDING.with(RefCell::take))
        })
        .await;
    let applied = applied?;
    let mut by_kind: HashMap<i64, Vec<(String, i64)>> = HashMap::new();
    for ((kind, word), delta) in pending {
        if delta != 0 {
            by_kind.entry(kind).or_default().push((word, delta));
        }
    }
    for (kind, deltas) in by_kind {
        count(tx, kind, deltas).await?;
    }
    Ok(applied)
}

/// Counts the words of a newly stored event into the vocabulary.
pub(super) async fn learn(tx: &Transaction<'_>, event: &wire::Event) -> Result<()> {
    let Some((kind, text)) = searchable_text(event) else {
        return Ok(());
    };
    counted(tx, kind_code(kind), distinct_words(&text), 1).await
}

/// Counts the words of a stored event out of the vocabulary, before its row is deleted; a word
/// no live event holds any more leaves with its typo keys.
pub(super) async fn forget(tx: &Transaction<'_>, event_id: i64) -> Result<()> {
    let bytes: Option<Vec<u8>> = tx
        .query_opt(
            "SELECT event FROM events WHERE id = $1 AND content_type IN (3, 5, 6, 1003)",
            &[&event_id],
        )
        .await?
        .map(|row| row.get(0));
    let Some(event) = bytes.and_then(|bytes| wire::Event::decode(bytes.as_slice()).ok()) else {
        return Ok(());
    };
    let Some((kind, text)) = searchable_text(&event) else {
        return Ok(());
    };
    counted(tx, kind_code(kind), distinct_words(&text), -1).await
}

/// Adds `delta` to each word's count: into the batch's pending changes inside [`batched`], at
/// once outside it.
async fn counted(
    tx: &Transaction<'_>,
    kind: i64,
    words: BTreeSet<String>,
    delta: i64,
) -> Result<()> {
    let words = match PENDING.try_with(|pending| {
        let mut pending = pending.borrow_mut();
        for word in &words {
            *pending.entry((kind, word.clone())).or_default() += delta;
        }
    }) {
        Ok(()) => return Ok(()),
        Err(_) => words,
    };
    count(
        tx,
        kind,
        words.into_iter().map(|word| (word, delta)).collect(),
    )
    .await
}

/// Adds each delta to its word's count: a word new to the vocabulary gets its typo keys, and
/// one no live event holds any more leaves with them.
async fn count(tx: &Transaction<'_>, kind: i64, deltas: Vec<(String, i64)>) -> Result<()> {
    let (added, removed): (Vec<_>, Vec<_>) = deltas.into_iter().partition(|(_, delta)| *delta > 0);
    if !added.is_empty() {
        count_in(tx, kind, added).await?;
    }
    if !removed.is_empty() {
        count_out(tx, kind, removed).await?;
    }
    Ok(())
}

async fn count_in(tx: &Transaction<'_>, kind: i64, added: Vec<(String, i64)>) -> Result<()> {
    let lengths: Vec<i64> = added.iter().map(|(word, _)| length(word)).collect();
    let (words, deltas): (Vec<String>, Vec<i64>) = added.into_iter().unzip();
    let delta_of: HashMap<&str, i64> = words
        .iter()
        .map(String::as_str)
        .zip(deltas.iter().copied())
        .collect();
    let counted = tx
        .query(
            "INSERT INTO search_vocabulary (kind, length, word, events)
             SELECT $1, t.length, t.word, t.delta
             FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS t (word, length, delta)
             ON CONFLICT (kind, length, word)
             DO UPDATE SET events = search_vocabulary.events + excluded.events
             RETURNING id, word, events",
            &[&kind, &words, &lengths, &deltas],
        )
        .await?;
    let (mut keys, mut ids) = (Vec::new(), Vec::new());
    for row in counted {
        let (id, word, events): (i64, String, i64) = (row.get(0), row.get(1), row.get(2));
        // New to the vocabulary: its count is what this change added.
        if delta_of.get(word.as_str()) == Some(&events) {
            for key in typo_keys(&word) {
                keys.push(key);
                ids.push(id);
            }
        }
    }
    if !keys.is_empty() {
        tx.execute(
            "INSERT INTO search_typo_keys (kind, key, word)
             SELECT $1, t.key, t.word FROM unnest($2::text[], $3::bigint[]) AS t (key, word)
             ON CONFLICT DO NOTHING",
            &[&kind, &keys, &ids],
        )
        .await?;
    }
    Ok(())
}

async fn count_out(tx: &Transaction<'_>, kind: i64, removed: Vec<(String, i64)>) -> Result<()> {
    let lengths: Vec<i64> = removed.iter().map(|(word, _)| length(word)).collect();
    let (words, deltas): (Vec<String>, Vec<i64>) = removed.into_iter().unzip();
    let counted = tx
        .query(
            "UPDATE search_vocabulary v SET events = v.events + t.delta
             FROM unnest($2::text[], $3::bigint[], $4::bigint[]) AS t (word, length, delta)
             WHERE v.kind = $1 AND v.length = t.length AND v.word = t.word
             RETURNING v.id, v.word, v.events",
            &[&kind, &words, &lengths, &deltas],
        )
        .await?;
    let (mut keys, mut ids, mut gone) = (Vec::new(), Vec::new(), Vec::new());
    for row in counted {
        let (id, word, events): (i64, String, i64) = (row.get(0), row.get(1), row.get(2));
        if events <= 0 {
            for key in typo_keys(&word) {
                keys.push(key);
                ids.push(id);
            }
            gone.push(id);
        }
    }
    if !keys.is_empty() {
        tx.execute(
            "DELETE FROM search_typo_keys k
             USING unnest($2::text[], $3::bigint[]) AS t (key, word)
             WHERE k.kind = $1 AND k.key = t.key AND k.word = t.word",
            &[&kind, &keys, &ids],
        )
        .await?;
    }
    if !gone.is_empty() {
        tx.execute(
            "DELETE FROM search_vocabulary WHERE id = ANY($1::bigint[])",
            &[&gone],
        )
        .await?;
    }
    Ok(())
}

/// The words of a text, each once, but for words too long to index ([`super::indexable`]):
/// no search can reach them (the documents leave them out too).
fn distinct_words(text: &str) -> BTreeSet<String> {
    words(text).filter(|word| super::indexable(word)).collect()
}

/// A word's length, as the vocabulary keys it.
fn length(word: &str) -> i64 {
    word.chars().count() as i64
}

/// Words of the vocabulary that are longer forms of `term` ([`WordMatch::Form`]), the ones the
/// most events hold first, at most [`EXPANSIONS_MAX`]: for each length in reach, one seek to
/// the term's place among the words of that length.
pub(super) async fn forms(
    tx: &Transaction<'_>,
    kind: SearchKind,
    term: &str,
) -> Result<Vec<String>> {
    let chars = term.chars().count();
    if chars < FORM_TERM_CHARS_MIN {
        return Ok(Vec::new());
    }
    let statement = tx
        .prepare_cached(
            "SELECT word, events FROM search_vocabulary
             WHERE kind = $1 AND length = $2 AND word > $3 AND word < $4
             LIMIT $5",
        )
        .await?;
    let end = format!("{term}{}", char::MAX);
    let (kind, end) = (&kind_code(kind), &end);
    // One lookup per length, sent together: the connection pipelines them.
    let lookups = (chars + 1..=chars + FORM_EXTRA_CHARS_MAX).map(|length| {
        let statement = &statement;
        async move {
            tx.query(
                statement,
                &[kind, &(length as i64), &term, end, &ROWS_PER_LOOKUP_MAX],
            )
            .await
        }
    });
    let mut found = HashMap::new();
    for rows in futures::future::try_join_all(lookups).await? {
        for row in rows {
            let (word, events): (String, i64) = (row.get(0), row.get(1));
            if word_match(term, &word) == Some(WordMatch::Form) {
                found.insert(word, events);
            }
        }
    }
    Ok(commonest(found))
}

/// Words of the vocabulary that are typos of `term` ([`WordMatch::Typo`]), the ones the most
/// events hold first, at most [`EXPANSIONS_MAX`]: one seek in the typo keys per probe of the
/// term ([`typo_probes`]).
pub(super) async fn typos(
    tx: &Transaction<'_>,
    kind: SearchKind,
    term: &str,
) -> Result<Vec<String>> {
    let probes = typo_probes(term);
    if probes.is_empty() {
        return Ok(Vec::new());
    }
    let statement = tx
        .prepare_cached(
            "SELECT v.word, v.events FROM search_typo_keys k
             JOIN search_vocabulary v ON v.id = k.word
             WHERE k.kind = $1 AND k.key = $2
             LIMIT $3",
        )
        .await?;
    let kind = &kind_code(kind);
    // One seek per probe, sent together: the connection pipelines them.
    let seeks = probes.iter().map(|probe| {
        let statement = &statement;
        async move {
            tx.query(statement, &[kind, probe, &ROWS_PER_LOOKUP_MAX])
                .await
        }
    });
    let mut found = HashMap::new();
    for rows in futures::future::try_join_all(seeks).await? {
        for row in rows {
            let (word, events): (String, i64) = (row.get(0), row.get(1));
            if !found.contains_key(&word) && word_match(term, &word) == Some(WordMatch::Typo) {
                found.insert(word, events);
            }
        }
    }
    Ok(commonest(found))
}

/// The words held by the most events first (ties in word order), at most [`EXPANSIONS_MAX`].
fn commonest(found: HashMap<String, i64>) -> Vec<String> {
    let mut words: Vec<(i64, String)> = found
        .into_iter()
        .map(|(word, events)| (events, word))
        .collect();
    words.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    words.truncate(EXPANSIONS_MAX);
    words.into_iter().map(|(_, word)| word).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use agora_protocol::author::Author;
    use agora_protocol::{Process, SecretKey, VerifiedEvent, content};

    use super::*;
    use crate::Store as _;
    use crate::postgres::{PgOptions, PgStore};

    /// A store in a schema of its own in the test database (as the conformance suite's), and a
    /// client on it; the schema is dropped by [`drop_schema`].
    async fn store(schema: &str) -> (PgStore, deadpool_postgres::Object) {
        let url = std::env::var("AGORA_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("the test database answers (is PostgreSQL running?)");
        tokio::spawn(connection);
        client
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("schema");
        let store = PgStore::open(PgOptions {
            schema: Some(schema.to_owned()),
            connections_max: 2,
            ..PgOptions::new(url)
        })
        .await
        .expect("store opens");
        let client = store.client().await.expect("client");
        (store, client)
    }

    async fn drop_schema(client: &deadpool_postgres::Object, schema: &str) {
        client
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .await
            .expect("drop schema");
    }

    /// The vocabulary holds exactly the words of the live searchable texts, each counted once
    /// per event holding it, and every word's typo keys and nothing else.
    async fn assert_counts_live_texts(client: &deadpool_postgres::Object) {
        let mut expected: BTreeMap<(i64, String), i64> = BTreeMap::new();
        let rows = client
            .query(
                "SELECT event FROM events WHERE content_type IN (3, 5, 6, 1003)",
                &[],
            )
            .await
            .expect("events");
        for row in rows {
            let bytes: Vec<u8> = row.get(0);
            let event = wire::Event::decode(bytes.as_slice()).expect("stored events decode");
            if let Some((kind, text)) = searchable_text(&event) {
                for word in distinct_words(&text) {
                    *expected.entry((kind_code(kind), word)).or_default() += 1;
                }
            }
        }
        let mut stored: BTreeMap<(i64, String), i64> = BTreeMap::new();
        for row in client
            .query(
                "SELECT kind, word, events, length FROM search_vocabulary",
                &[],
            )
            .await
            .expect("vocabulary")
        {
            let word: String = row.get(1);
            assert_eq!(row.get::<_, i64>(3), word.chars().count() as i64, "{word}");
            stored.insert((row.get(0), word), row.get(2));
        }
        assert_eq!(stored, expected, "the vocabulary counts the live texts");
        let keys: i64 = client
            .query_one("SELECT count(*) FROM search_typo_keys", &[])
            .await
            .expect("count")
            .get(0);
        let expected_keys: usize = expected.keys().map(|(_, word)| typo_keys(word).len()).sum();
        assert_eq!(
            keys, expected_keys as i64,
            "each word has its typo keys and no others"
        );
        let dangling: i64 = client
            .query_one(
                "SELECT count(*) FROM search_typo_keys k
                 LEFT JOIN search_vocabulary v ON v.id = k.word AND v.kind = k.kind
                 WHERE v.id IS NULL",
                &[],
            )
            .await
            .expect("count")
            .get(0);
        assert_eq!(dangling, 0, "typo keys of words that left");
    }

    fn author(seed: u8) -> Author {
        Author::new(
            SecretKey::from_seed(&[seed; 32]),
            Process::from_bytes(&[seed; 16]).expect("16 bytes"),
        )
    }

    async fn ingest(store: &PgStore, events: &[VerifiedEvent]) {
        store.ingest(events.to_vec()).await.expect("ingest");
    }

    async fn lookup(
        client: &mut deadpool_postgres::Object,
        kind: SearchKind,
        term: &str,
        forms_not_typos: bool,
    ) -> Vec<String> {
        let tx = client.transaction().await.expect("transaction");
        let found = if forms_not_typos {
            forms(&tx, kind, term).await
        } else {
            typos(&tx, kind, term).await
        };
        tx.commit().await.expect("commit");
        found.expect("lookup")
    }

    async fn size(client: &deadpool_postgres::Object) -> (i64, i64) {
        let row = client
            .query_one(
                "SELECT (SELECT count(*) FROM search_vocabulary),
                        (SELECT count(*) FROM search_typo_keys)",
                &[],
            )
            .await
            .expect("size");
        (row.get(0), row.get(1))
    }

    /// A word stays while any live event holds it and goes with the last; a flood of near
    /// words leaves no trace once its events are deleted, and the typo lookup is back to what
    /// it was.
    #[tokio::test(flavor = "multi_thread")]
    async fn words_leave_with_their_last_event_and_a_removed_flood_leaves_nothing() {
        let schema = format!("agora_vocabulary_{:016x}", rand::random::<u64>());
        let (store, mut client) = store(&schema).await;
        let mut alice = author(1);
        let first = alice.post("Walrus sighting", 100).expect("sign");
        let second = alice.post("another walrus", 101).expect("sign");
        let name = alice
            .set_element(content::USERNAME, b"Walrus fan", 102)
            .expect("sign");
        ingest(&store, &[first.clone(), second.clone(), name.clone()]).await;
        assert_counts_live_texts(&client).await;
        assert_eq!(
            lookup(&mut client, SearchKind::Messages, "walrsu", false).await,
            ["walrus"]
        );
        assert_eq!(
            lookup(&mut client, SearchKind::Profiles, "walrsu", false).await,
            ["walrus"]
        );
        let before = size(&client).await;

        let mut flooder = author(2);
        let letters: Vec<char> = ('a'..='z').collect();
        let flood: Vec<VerifiedEvent> = letters
            .iter()
            .flat_map(|a| {
                letters
                    .iter()
                    .map(move |b| format!("wal{a}{b}us walrus{a}{b}"))
            })
            .enumerate()
            .map(|(n, text)| flooder.post(&text, 200 + n as u64).expect("sign"))
            .collect();
        ingest(&store, &flood).await;
        assert_counts_live_texts(&client).await;
        // walrusaa … walruszz: each two edits from "walruses", and longer forms of "walrus".
        assert_eq!(
            lookup(&mut client, SearchKind::Messages, "walruses", false)
                .await
                .len(),
            EXPANSIONS_MAX,
            "a term expands to a bounded number of typos"
        );
        assert_eq!(
            lookup(&mut client, SearchKind::Messages, "walrus", true)
                .await
                .len(),
            EXPANSIONS_MAX
        );
        let deletes: Vec<VerifiedEvent> = flood
            .iter()
            .enumerate()
            .map(|(n, event)| flooder.delete(event, 2_000 + n as u64).expect("sign"))
            .collect();
        ingest(&store, &deletes).await;
        assert_eq!(
            size(&client).await,
            before,
            "the flood's words and keys are gone"
        );
        assert_eq!(
            lookup(&mut client, SearchKind::Messages, "walruses", false).await,
            ["walrus"],
            "only the words of the posts that stay"
        );

        let delete = alice.delete(&first, 3_000).expect("sign");
        ingest(&store, &[delete]).await;
        assert_counts_live_texts(&client).await;
        let delete = alice.delete(&second, 3_001).expect("sign");
        ingest(&store, &[delete]).await;
        assert!(
            lookup(&mut client, SearchKind::Messages, "walrsu", false)
                .await
                .is_empty(),
            "gone with its last post"
        );
        assert_eq!(
            lookup(&mut client, SearchKind::Profiles, "walrsu", false).await,
            ["walrus"],
            "the profile's words are counted apart"
        );
        let delete = alice.delete(&name, 3_002).expect("sign");
        ingest(&store, &[delete]).await;
        assert_eq!(size(&client).await, (0, 0));
        let profiles: i64 = client
            .query_one("SELECT count(*) FROM profiles", &[])
            .await
            .expect("count")
            .get(0);
        assert_eq!(profiles, 0, "no document for an identity without fields");

        // One batch counts its words once, at its end: a word two posts share, a post deleted
        // in the batch that brought it, and a word that leaves and comes back.
        let mut bob = author(3);
        let kept = bob.post("zebra crossing", 10).expect("sign");
        ingest(&store, std::slice::from_ref(&kept)).await;
        let shared = bob.post("zebra herd", 11).expect("sign");
        let fleeting = bob.post("fleeting zebra", 12).expect("sign");
        let batch = [
            shared.clone(),
            fleeting.clone(),
            bob.delete(&fleeting, 13).expect("sign"),
            bob.delete(&kept, 14).expect("sign"),
            bob.post("crossing again", 15).expect("sign"),
        ];
        ingest(&store, &batch).await;
        assert_counts_live_texts(&client).await;
        assert!(
            lookup(&mut client, SearchKind::Messages, "fleetign", false)
                .await
                .is_empty(),
            "a post deleted in its own batch leaves no word"
        );
        assert_eq!(
            lookup(&mut client, SearchKind::Messages, "zebar", false).await,
            ["zebra"]
        );
        drop_schema(&client, &schema).await;
    }
}
