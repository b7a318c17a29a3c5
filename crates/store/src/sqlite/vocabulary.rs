//! The typo vocabulary in SQLite: every word of a live searchable text
//! ([`crate::discovery::searchable_text`]) with how many live events hold it, and its typo keys
//! ([`crate::discovery::typo_keys`]), so a search finds a term's longer forms and typos with a
//! bounded number of index seeks whatever the vocabulary's size. Ingest counts an event's words
//! in ([`learn`]); removal, by whatever path, counts them out ([`forget`]), and a word whose
//! count reaches zero leaves with its keys: purging a flooder takes its words away.
//!
//! Stores older than this kept a `search_words` table that only grew; [`rebuild_once`] counts
//! the live events into the new tables at open, once, and drops it.

use std::collections::{BTreeSet, HashMap};

use agora_protocol::wire;
use prost::Message as _;
use rusqlite::{Connection, OptionalExtension as _, params};

use crate::discovery::{
    FORM_EXTRA_CHARS_MAX, FORM_TERM_CHARS_MIN, SearchKind, WordMatch, searchable_text, typo_keys,
    typo_probes, word_match, words,
};

/// The `kind` column of a search kind's words.
pub(super) fn kind_code(kind: SearchKind) -> i64 {
    match kind {
        SearchKind::Messages => 0,
        SearchKind::Profiles => 1,
    }
}

/// Most longer forms, and most typos, one query term expands to: the ones the most events hold.
/// Bounds the full-text expression a term becomes, however many near words a flood adds.
pub(super) const EXPANSIONS_MAX: usize = 128;

/// Most vocabulary rows one lookup reads (one word length of forms, or one typo probe).
const ROWS_PER_LOOKUP_MAX: i64 = 1_024;

/// Counts the words of a newly stored event into the vocabulary.
pub(super) fn learn(connection: &Connection, event: &wire::Event) -> rusqlite::Result<()> {
    let Some((kind, text)) = searchable_text(event) else {
        return Ok(());
    };
    let kind = kind_code(kind);
    let mut count_in = connection.prepare_cached(
        "INSERT INTO search_vocabulary (kind, length, word, events) VALUES (?1, ?2, ?3, 1)
         ON CONFLICT (kind, length, word) DO UPDATE SET events = events + 1
         RETURNING id, events",
    )?;
    let mut add_key = connection.prepare_cached(
        "INSERT OR IGNORE INTO search_typo_keys (kind, key, word) VALUES (?1, ?2, ?3)",
    )?;
    for word in distinct_words(&text) {
        let length = word.chars().count() as i64;
        let (id, events): (i64, i64) = count_in.query_row(params![kind, length, word], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?;
        if events == 1 {
            for key in typo_keys(&word) {
                add_key.execute(params![kind, key, id])?;
            }
        }
    }
    Ok(())
}

/// Counts the words of a stored event out of the vocabulary, before its row is deleted; a word
/// no live event holds any more leaves with its typo keys.
pub(super) fn forget(connection: &Connection, event_id: i64) -> rusqlite::Result<()> {
    let bytes: Option<Vec<u8>> = connection
        .prepare_cached(
            "SELECT event FROM events WHERE id = ?1 AND content_type IN (3, 5, 6, 1003)",
        )?
        .query_row([event_id], |row| row.get(0))
        .optional()?;
    let Some(event) = bytes.and_then(|bytes| wire::Event::decode(bytes.as_slice()).ok()) else {
        return Ok(());
    };
    let Some((kind, text)) = searchable_text(&event) else {
        return Ok(());
    };
    let kind = kind_code(kind);
    let mut count_out = connection.prepare_cached(
        "UPDATE search_vocabulary SET events = events - 1
         WHERE kind = ?1 AND length = ?2 AND word = ?3
         RETURNING id, events",
    )?;
    let mut remove_key = connection.prepare_cached(
        "DELETE FROM search_typo_keys WHERE kind = ?1 AND key = ?2 AND word = ?3",
    )?;
    let mut remove_word =
        connection.prepare_cached("DELETE FROM search_vocabulary WHERE id = ?1")?;
    for word in distinct_words(&text) {
        let length = word.chars().count() as i64;
        let counted: Option<(i64, i64)> = count_out
            .query_row(params![kind, length, word], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        let Some((id, events)) = counted else {
            continue;
        };
        if events <= 0 {
            for key in typo_keys(&word) {
                remove_key.execute(params![kind, key, id])?;
            }
            remove_word.execute([id])?;
        }
    }
    Ok(())
}

/// The words of a text, each once.
fn distinct_words(text: &str) -> BTreeSet<String> {
    words(text).collect()
}

/// Words of the vocabulary that are longer forms of `term` ([`WordMatch::Form`]), the ones the
/// most events hold first, at most [`EXPANSIONS_MAX`]: for each length in reach, one seek to
/// the term's place among the words of that length.
pub(super) fn forms(
    connection: &Connection,
    kind: SearchKind,
    term: &str,
) -> rusqlite::Result<Vec<String>> {
    let chars = term.chars().count();
    if chars < FORM_TERM_CHARS_MIN {
        return Ok(Vec::new());
    }
    let mut statement = connection.prepare_cached(
        "SELECT word, events FROM search_vocabulary
         WHERE kind = ?1 AND length = ?2 AND word > ?3 AND word < ?4
         LIMIT ?5",
    )?;
    let mut found = HashMap::new();
    for length in chars + 1..=chars + FORM_EXTRA_CHARS_MAX {
        let rows = statement.query_map(
            params![
                kind_code(kind),
                length as i64,
                term,
                format!("{term}{}", char::MAX),
                ROWS_PER_LOOKUP_MAX
            ],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
        )?;
        for row in rows {
            let (word, events) = row?;
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
pub(super) fn typos(
    connection: &Connection,
    kind: SearchKind,
    term: &str,
) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection.prepare_cached(
        "SELECT v.word, v.events FROM search_typo_keys k
         JOIN search_vocabulary v ON v.id = k.word
         WHERE k.kind = ?1 AND k.key = ?2
         LIMIT ?3",
    )?;
    let mut found = HashMap::new();
    for probe in typo_probes(term) {
        let rows = statement.query_map(
            params![kind_code(kind), probe, ROWS_PER_LOOKUP_MAX],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?)),
        )?;
        for row in rows {
            let (word, events) = row?;
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

/// Builds the vocabulary from the live events of a store made before it, once: a store that
/// still has the old grow-only `search_words` table is counted in, and the table dropped, in
/// one transaction.
pub(super) fn rebuild_once(connection: &mut Connection) -> rusqlite::Result<()> {
    let old: bool = connection
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_words'")?
        .exists([])?;
    if !old {
        return Ok(());
    }
    tracing::info!(
        "counting the live texts into the typo vocabulary, once (minutes for millions of events)"
    );
    let started = std::time::Instant::now();
    let tx = connection.transaction()?;
    tx.execute("DELETE FROM search_typo_keys", [])?;
    tx.execute("DELETE FROM search_vocabulary", [])?;
    let mut events = 0_u64;
    {
        let mut statement =
            tx.prepare("SELECT event FROM events WHERE content_type IN (3, 5, 6, 1003)")?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            let bytes = row.get_ref(0)?.as_blob().map_err(rusqlite::Error::from)?;
            if let Ok(event) = wire::Event::decode(bytes) {
                learn(&tx, &event)?;
                events += 1;
            }
        }
    }
    tx.execute("DROP TABLE search_words", [])?;
    tx.commit()?;
    tracing::info!(
        events,
        seconds = started.elapsed().as_secs_f64(),
        "counted the live texts into the typo vocabulary"
    );
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use agora_protocol::author::Author;
    use agora_protocol::{Process, SecretKey, content};
    use proptest::prelude::*;

    use super::*;
    use crate::sqlite::discovery::tests::database;

    /// The vocabulary holds exactly the words of the live searchable texts, each counted once
    /// per event holding it, and every word's typo keys and nothing else.
    pub(in crate::sqlite) fn assert_counts_live_texts(connection: &Connection) {
        let mut expected: BTreeMap<(i64, String), i64> = BTreeMap::new();
        let mut texts = connection
            .prepare("SELECT event FROM events WHERE content_type IN (3, 5, 6, 1003)")
            .expect("prepare");
        let events: Vec<Vec<u8>> = texts
            .query_map([], |row| row.get(0))
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        for bytes in events {
            let event = wire::Event::decode(bytes.as_slice()).expect("stored events decode");
            if let Some((kind, text)) = searchable_text(&event) {
                for word in distinct_words(&text) {
                    *expected.entry((kind_code(kind), word)).or_default() += 1;
                }
            }
        }
        let mut rows = connection
            .prepare("SELECT kind, word, events, length FROM search_vocabulary")
            .expect("prepare");
        let stored: BTreeMap<(i64, String), i64> = rows
            .query_map([], |row| {
                let word: String = row.get(1)?;
                assert_eq!(row.get::<_, i64>(3)?, word.chars().count() as i64, "{word}");
                Ok(((row.get(0)?, word), row.get(2)?))
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows");
        assert_eq!(stored, expected, "the vocabulary counts the live texts");
        let keys: i64 = connection
            .query_row("SELECT count(*) FROM search_typo_keys", [], |row| {
                row.get(0)
            })
            .expect("count");
        let expected_keys: usize = expected.keys().map(|(_, word)| typo_keys(word).len()).sum();
        assert_eq!(
            keys, expected_keys as i64,
            "each word has its typo keys and no others"
        );
        let dangling: i64 = connection
            .query_row(
                "SELECT count(*) FROM search_typo_keys k
                 LEFT JOIN search_vocabulary v ON v.id = k.word AND v.kind = k.kind
                 WHERE v.id IS NULL",
                [],
                |row| row.get(0),
            )
            .expect("count");
        assert_eq!(dangling, 0, "typo keys of words that left");
    }

    fn author(seed: u8) -> Author {
        Author::new(
            SecretKey::from_seed(&[seed; 32]),
            Process::from_bytes(&[seed; 16]).expect("16 bytes"),
        )
    }

    fn ingest(connection: &mut Connection, events: &[agora_protocol::VerifiedEvent]) {
        let tx = connection.transaction().expect("transaction");
        for event in events {
            crate::sqlite::ingest::apply(&tx, event, 1_000).expect("ingest");
        }
        tx.commit().expect("commit");
    }

    fn remove(connection: &mut Connection, event: &agora_protocol::VerifiedEvent) {
        let tx = connection.transaction().expect("transaction");
        let removed = crate::sqlite::ingest::remove_event(
            &tx,
            event.system().as_bytes(),
            event.process().as_bytes(),
            event.logical_clock() as i64,
        )
        .expect("remove");
        assert!(removed);
        tx.commit().expect("commit");
    }

    fn size(connection: &Connection) -> (i64, i64) {
        connection
            .query_row(
                "SELECT (SELECT count(*) FROM search_vocabulary),
                        (SELECT count(*) FROM search_typo_keys)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("size")
    }

    /// A word stays while any live event holds it and goes with the last; a flood of near
    /// words leaves no trace once its events are removed, and the typo lookup is back to what
    /// it was.
    #[test]
    fn words_leave_with_their_last_event_and_a_removed_flood_leaves_nothing() {
        let mut connection = database();
        let mut alice = author(1);
        let first = alice.post("Walrus sighting", 100).expect("sign");
        let second = alice.post("another walrus", 101).expect("sign");
        let name = alice
            .set_element(content::USERNAME, b"Walrus fan", 102)
            .expect("sign");
        ingest(
            &mut connection,
            &[first.clone(), second.clone(), name.clone()],
        );
        assert_counts_live_texts(&connection);
        let walrus = |connection: &Connection| -> Option<i64> {
            connection
                .query_row(
                    "SELECT events FROM search_vocabulary WHERE kind = 0 AND word = 'walrus'",
                    [],
                    |row| row.get(0),
                )
                .optional()
                .expect("read")
        };
        assert_eq!(walrus(&connection), Some(2));
        assert_eq!(
            typos(&connection, SearchKind::Messages, "walrsu").expect("typos"),
            ["walrus"]
        );
        assert_eq!(
            typos(&connection, SearchKind::Profiles, "walrsu").expect("typos"),
            ["walrus"]
        );
        let before = size(&connection);

        let mut flooder = author(2);
        let letters: Vec<char> = ('a'..='z').collect();
        let flood: Vec<_> = letters
            .iter()
            .flat_map(|a| {
                letters
                    .iter()
                    .map(move |b| format!("wal{a}{b}us walrus{a}{b}"))
            })
            .enumerate()
            .map(|(n, text)| flooder.post(&text, 200 + n as u64).expect("sign"))
            .collect();
        ingest(&mut connection, &flood);
        assert_counts_live_texts(&connection);
        // walrusaa … walruszz: each two edits from "walruses", and longer forms of "walrus".
        let flooded = typos(&connection, SearchKind::Messages, "walruses").expect("typos");
        assert_eq!(
            flooded.len(),
            EXPANSIONS_MAX,
            "a term expands to a bounded number of typos"
        );
        assert_eq!(
            forms(&connection, SearchKind::Messages, "walrus")
                .expect("forms")
                .len(),
            EXPANSIONS_MAX
        );
        for event in &flood {
            remove(&mut connection, event);
        }
        assert_eq!(
            size(&connection),
            before,
            "the flood's words and keys are gone"
        );
        assert_eq!(
            typos(&connection, SearchKind::Messages, "walruses").expect("typos"),
            ["walrus"],
            "only the words of the posts that stay"
        );

        remove(&mut connection, &first);
        assert_eq!(
            walrus(&connection),
            Some(1),
            "the other post still holds it"
        );
        assert_counts_live_texts(&connection);
        remove(&mut connection, &second);
        assert_eq!(walrus(&connection), None, "gone with its last post");
        assert!(
            typos(&connection, SearchKind::Messages, "walrsu")
                .expect("typos")
                .is_empty()
        );
        assert_eq!(
            typos(&connection, SearchKind::Profiles, "walrsu").expect("typos"),
            ["walrus"],
            "the profile's words are counted apart"
        );
        remove(&mut connection, &name);
        assert_eq!(size(&connection), (0, 0));
    }

    /// The commonest near words win when a term has more than the bound.
    #[test]
    fn the_commonest_typos_are_kept() {
        let mut connection = database();
        let mut alice = author(1);
        let mut events = Vec::new();
        let mut at = 100;
        for (word, copies) in [("walros", 3), ("walrut", 2), ("walrux", 1)] {
            for _ in 0..copies {
                events.push(alice.post(word, at).expect("sign"));
                at += 1;
            }
        }
        ingest(&mut connection, &events);
        assert_eq!(
            typos(&connection, SearchKind::Messages, "walrus").expect("typos"),
            ["walros", "walrut", "walrux"]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The index finds exactly the typos a comparison with every vocabulary word finds.
        #[test]
        fn typos_are_those_a_full_scan_finds(
            vocabulary in prop::collection::vec("[ab][abc]{1,9}", 1..60),
            terms in prop::collection::vec("[ab][abc]{1,9}", 1..8),
        ) {
            let mut connection = database();
            let tx = connection.transaction().expect("transaction");
            for word in &vocabulary {
                let event = wire::Event {
                    content_type: agora_protocol::content::POST,
                    content: wire::Post { content: Some(word.clone()), ..Default::default() }
                        .encode_to_vec()
                        .into(),
                    ..Default::default()
                };
                learn(&tx, &event).expect("learn");
            }
            tx.commit().expect("commit");
            for term in &terms {
                let mut scanned: Vec<String> = vocabulary
                    .iter()
                    .filter(|word| word_match(term, word) == Some(WordMatch::Typo))
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let mut found = typos(&connection, SearchKind::Messages, term).expect("typos");
                scanned.sort();
                found.sort();
                prop_assert_eq!(found, scanned, "typos of {}", term);
            }
        }
    }
}
