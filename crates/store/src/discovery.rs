//! Values of the discovery queries: search, explore, trending topics and recommended profiles.
//!
//! Cursors are opaque bytes to clients; they are defined here so every engine pages the same way.

use std::collections::BTreeSet;

use agora_protocol::wire;
use unicode_normalization::UnicodeNormalization as _;
use unicode_normalization::char::is_combining_mark;

/// How far past its arrival time a post's own timestamp may be and still order it in explore
/// and trending (clock skew). A post dated further ahead is ordered by its arrival time instead,
/// so a future-dated post cannot pin itself to the top (spec section 13, item 13).
pub const FUTURE_MARGIN_MS: i64 = 10 * 60 * 1000;

/// Most query terms one search uses; further terms are ignored.
pub const SEARCH_TERMS_MAX: usize = 8;

/// Which documents a search looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SearchKind {
    /// The text of live POST events, and nothing else.
    #[default]
    Messages,
    /// Each identity's current username and description.
    Profiles,
}

#[derive(Clone, Debug)]
pub struct SearchQuery {
    pub text: String,
    pub kind: SearchKind,
    /// Where the page starts; `None` for the first page.
    pub cursor: Option<SearchCursor>,
    pub limit: usize,
}

/// Keyset position in a search. Results are ordered by (score, document id) descending, where
/// the score is the document's [`relevance`] to the query, and a search only ever sees documents
/// whose id is at most `pinned_id`, fixed by its first page, so documents added while a client
/// pages neither shift nor join the pages it has not seen yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SearchCursor {
    pub pinned_id: i64,
    pub score: i64,
    pub id: i64,
}

impl SearchCursor {
    pub const BYTES: usize = 24;

    /// Three little-endian i64: pinned id, score, id.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(Self::BYTES);
        bytes.extend_from_slice(&self.pinned_id.to_le_bytes());
        bytes.extend_from_slice(&self.score.to_le_bytes());
        bytes.extend_from_slice(&self.id.to_le_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::BYTES {
            return None;
        }
        let word = |at: usize| bytes[at..at + 8].try_into().ok().map(i64::from_le_bytes);
        Some(Self {
            pinned_id: word(0)?,
            score: word(8)?,
            id: word(16)?,
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct SearchPage {
    pub events: Vec<wire::SignedEvent>,
    /// Where the next page starts. Always present, as official clients expect: an exhausted
    /// search returns an empty page, which is where they stop.
    pub cursor: Vec<u8>,
}

/// Keyset position in explore: the spec's 16 bytes, little-endian order time then event id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExploreCursor {
    pub order_ms: i64,
    pub id: i64,
}

impl ExploreCursor {
    pub const BYTES: usize = 16;

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = self.order_ms.to_le_bytes().to_vec();
        bytes.extend_from_slice(&self.id.to_le_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::BYTES {
            return None;
        }
        let (ms, id) = bytes.split_at(8);
        Some(Self {
            order_ms: i64::from_le_bytes(ms.try_into().ok()?),
            id: i64::from_le_bytes(id.try_into().ok()?),
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct ExplorePage {
    /// Live POST events, newest (by order time) first.
    pub events: Vec<wire::SignedEvent>,
    /// Where the next page starts; present whenever the page is not empty.
    pub cursor: Option<Vec<u8>>,
}

#[derive(Clone, Debug)]
pub struct TrendingQuery {
    /// Only topics starting with this text, compared without case and leading '/'.
    pub prefix: Option<String>,
    /// Count posts whose order time is at least this (unix ms).
    pub since_ms: i64,
    pub limit: usize,
}

/// One trending topic: its text and how many live posts in the window carry it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicCount {
    pub topic: String,
    pub count: u64,
}

/// The words of a text as the index tokenizes it: runs of letters and digits, folded as the
/// index folds them (see [`fold`]), so the typo vocabulary and the index agree.
pub fn words(text: &str) -> impl Iterator<Item = String> {
    fold(text)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_owned)
        .collect::<Vec<_>>()
        .into_iter()
}

/// Text as the full-text index compares it: lower case with accents dropped (Unicode NFKD
/// without combining marks, as the FTS5 tokenizer's `remove_diacritics 2` does), so `Café` and
/// `cafe` are one word.
fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The terms a search looks up: its [`words`], without repeats, at most [`SEARCH_TERMS_MAX`].
pub fn search_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for term in words(text) {
        if !terms.contains(&term) {
            terms.push(term);
        }
        if terms.len() == SEARCH_TERMS_MAX {
            break;
        }
    }
    terms
}

/// Typo tolerance: how many edits a vocabulary term may be from a query term of this many
/// characters and still match it. Short words get none, since nearly every short word is one
/// edit from many others.
pub fn typo_distance(term_chars: usize) -> usize {
    match term_chars {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// Shortest query term whose longer forms are searched: shorter ones begin too many words.
pub const FORM_TERM_CHARS_MIN: usize = 3;

/// Most characters a word form may add to the end of a query term (`walrus` → `walruses`,
/// `run` → `running`).
pub const FORM_EXTRA_CHARS_MAX: usize = 4;

/// How a word of a document matches a query term, worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WordMatch {
    /// A few edits away (see [`typo_distance`]), with the same first letter.
    Typo,
    /// The term with a few more characters at its end (see [`FORM_EXTRA_CHARS_MAX`]).
    Form,
    /// The term itself.
    Exact,
}

impl WordMatch {
    /// What the match adds to a document's [`relevance`]. One exact term outweighs a typo in
    /// each of two others, while a typo of a second term still lifts a document above one that
    /// holds only the first.
    pub fn score(self) -> i64 {
        match self {
            Self::Typo => 1,
            Self::Form => 2,
            Self::Exact => 3,
        }
    }
}

/// How `word` matches the query `term`, both folded as [`words`] folds them; `None` when it does
/// not. Edits are counted as optimal string alignment does, so two swapped neighbouring letters
/// (`wlarus` for `walrus`) are one edit. Engines find candidate words however they like (an
/// index, a vocabulary), but decide with this function, so every engine ranks alike.
pub fn word_match(term: &str, word: &str) -> Option<WordMatch> {
    if word == term {
        return Some(WordMatch::Exact);
    }
    let (term_chars, word_chars) = (term.chars().count(), word.chars().count());
    if term_chars >= FORM_TERM_CHARS_MIN
        && word_chars > term_chars
        && word_chars - term_chars <= FORM_EXTRA_CHARS_MAX
        && word.starts_with(term)
    {
        return Some(WordMatch::Form);
    }
    let distance = typo_distance(term_chars);
    let typo = distance > 0
        && term.chars().next() == word.chars().next()
        && term_chars.abs_diff(word_chars) <= distance
        && strsim::osa_distance(term, word) <= distance;
    typo.then_some(WordMatch::Typo)
}

/// A document's relevance to a query: for each term, the [`WordMatch::score`] of its best
/// match in the document (nothing when none), summed. It depends only on the document and the
/// query, so a search's pages stay consistent however the index grows. Documents of equal
/// relevance are ordered newest first.
pub fn relevance(best_matches: impl IntoIterator<Item = Option<WordMatch>>) -> i64 {
    best_matches
        .into_iter()
        .flatten()
        .map(WordMatch::score)
        .sum()
}

/// The [`relevance`] of a text to the query `terms` ([`search_terms`]).
pub fn text_relevance(terms: &[String], text: &str) -> i64 {
    let text_words: Vec<String> = words(text).collect();
    relevance(terms.iter().map(|term| {
        text_words
            .iter()
            .filter_map(|word| word_match(term, word))
            .max()
    }))
}

/// Typo keys and probes are made from this many first characters of a word (see [`typo_keys`]).
pub const TYPO_KEY_CHARS: usize = 7;

/// The typo keys of a vocabulary word: every distinct string made by deleting up to a few of the
/// characters after the first from the word's first [`TYPO_KEY_CHARS`]. A word is a typo of a
/// term ([`word_match`]) only if one of the word's keys is one of the term's [`typo_probes`], so
/// an index of the keys finds a term's typos with one lookup per probe, whatever the
/// vocabulary's size (a deletion-neighbourhood index); candidates are then checked with
/// [`word_match`]. Cutting both to the same first characters keeps that true (what an edit
/// pushes out of one side's window is at most what the other side's edits account for) and
/// halves a long word's keys. The first character is never deleted, since a typo keeps it.
/// Words no term can reach get none.
pub fn typo_keys(word: &str) -> Vec<String> {
    let chars = word.chars().count();
    // An alignment of word and term with k edits, `inserted` of them characters only the term
    // has, reaches a common string by deleting k - inserted characters of the word (a
    // substitution or a swap deletes one on each side); the term is at least as many
    // characters longer as it has inserted characters. When either is cut to the key window,
    // characters the term inserted push others out of its window, and the word may need all k.
    let deletions = (chars.saturating_sub(2)..=chars + 2)
        .filter_map(|term_chars| {
            let distance = typo_distance(term_chars);
            let cut = chars.max(term_chars) > TYPO_KEY_CHARS;
            let inserted = if cut {
                0
            } else {
                term_chars.saturating_sub(chars)
            };
            (distance > 0 && term_chars.abs_diff(chars) <= distance).then(|| distance - inserted)
        })
        .max();
    deletions.map_or_else(Vec::new, |deletions| {
        deletion_neighbourhood(key_window(word), deletions)
    })
}

/// The first [`TYPO_KEY_CHARS`] characters of a word.
fn key_window(word: &str) -> &str {
    match word.char_indices().nth(TYPO_KEY_CHARS) {
        Some((end, _)) => &word[..end],
        None => word,
    }
}

/// The strings whose words in the typo-key index may be typos of `term` (see [`typo_keys`]):
/// the term's first [`TYPO_KEY_CHARS`] characters with up to [`typo_distance`] of those after
/// the first deleted. None for a term too short to have typos.
pub fn typo_probes(term: &str) -> Vec<String> {
    match typo_distance(term.chars().count()) {
        0 => Vec::new(),
        distance => deletion_neighbourhood(key_window(term), distance),
    }
}

/// `word` and every distinct string made from it by deleting up to `deletions` characters after
/// the first, in a fixed order.
fn deletion_neighbourhood(word: &str, deletions: usize) -> Vec<String> {
    let mut found: BTreeSet<Vec<char>> = BTreeSet::new();
    let mut frontier = vec![word.chars().collect::<Vec<char>>()];
    found.insert(frontier[0].clone());
    for _ in 0..deletions {
        let mut next = Vec::new();
        for chars in &frontier {
            for skip in 1..chars.len() {
                let mut shorter = chars.clone();
                shorter.remove(skip);
                if found.insert(shorter.clone()) {
                    next.push(shorter);
                }
            }
        }
        frontier = next;
    }
    found
        .into_iter()
        .map(|chars| chars.into_iter().collect())
        .collect()
}

/// The search documents an event's text goes into, and that text: a post's or a post edit's
/// text into [`SearchKind::Messages`], a username's or description's value into
/// [`SearchKind::Profiles`]. `None` for other events and for events without text. Engines
/// keep their typo vocabulary from exactly these texts, counting each word once per event, so
/// a word leaves the vocabulary when the last live event holding it goes.
pub fn searchable_text(event: &wire::Event) -> Option<(SearchKind, String)> {
    use agora_protocol::content;
    use prost::Message as _;
    let (kind, text) = match event.content_type {
        content::POST | content::POST_EDIT => (
            SearchKind::Messages,
            wire::Post::decode(event.content.as_ref()).ok()?.content?,
        ),
        content::USERNAME | content::DESCRIPTION => (
            SearchKind::Profiles,
            String::from_utf8_lossy(event.lww_element.as_ref()?.value.as_ref()).into_owned(),
        ),
        _ => return None,
    };
    (!text.trim().is_empty()).then_some((kind, text))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_other_lengths() {
        let search = SearchCursor {
            pinned_id: 9,
            score: 3,
            id: -4,
        };
        assert_eq!(SearchCursor::decode(&search.encode()), Some(search));
        assert_eq!(SearchCursor::decode(&[0; 8]), None);
        let explore = ExploreCursor {
            order_ms: 1_700_000_000_000,
            id: 12,
        };
        assert_eq!(explore.encode()[..8], 1_700_000_000_000_i64.to_le_bytes());
        assert_eq!(ExploreCursor::decode(&explore.encode()), Some(explore));
        assert_eq!(ExploreCursor::decode(&[0; 15]), None);
    }

    /// The typo-key index finds every typo: for every pair of words over a two-letter alphabet
    /// (where nearly every pair is a few edits apart) up to 9 letters, the term's probes share a
    /// key with the word whenever the word is a typo of the term.
    #[test]
    fn every_typo_of_a_term_shares_a_typo_key_with_it() {
        let mut all: Vec<String> = vec![String::new()];
        let mut words = Vec::new();
        for _ in 0..9 {
            all = all
                .iter()
                .flat_map(|word| ["a", "b"].map(|letter| format!("{word}{letter}")))
                .collect();
            words.extend(all.iter().cloned());
        }
        let keys: Vec<HashSet<String>> = words
            .iter()
            .map(|word| typo_keys(word).into_iter().collect())
            .collect();
        let mut typos = 0;
        for term in &words {
            let probes = typo_probes(term);
            for (word, keys) in words.iter().zip(&keys) {
                if word_match(term, word) == Some(WordMatch::Typo) {
                    typos += 1;
                    assert!(
                        probes.iter().any(|probe| keys.contains(probe)),
                        "{word} is a typo of {term} but shares no key"
                    );
                }
            }
        }
        assert!(typos > 10_000, "the alphabet makes many typos: {typos}");
        assert!(typo_probes("cat").is_empty(), "three letters have no typos");
        assert_eq!(
            typo_keys("ca"),
            Vec::<String>::new(),
            "no term reaches two letters"
        );
        assert_eq!(
            typo_keys("cat"),
            vec!["cat"],
            "cats reaches cat by one deletion"
        );
        assert!(
            !typo_keys("walrus").contains(&"alrus".to_owned()),
            "the first letter stays"
        );
        assert!(
            typo_keys("walruses")
                .iter()
                .all(|key| key.starts_with('w') && key.len() <= 7),
            "keys come from the first seven letters"
        );
        assert_eq!(typo_keys("walruses").len(), 1 + 6 + 15);
    }

    #[test]
    fn searchable_text_is_the_text_of_posts_edits_and_profile_fields() {
        use agora_protocol::content;
        use prost::Message as _;
        let post = |content_type, text: &str| wire::Event {
            content_type,
            content: wire::Post {
                content: Some(text.to_owned()),
                ..Default::default()
            }
            .encode_to_vec()
            .into(),
            ..Default::default()
        };
        assert_eq!(
            searchable_text(&post(content::POST, "walrus")),
            Some((SearchKind::Messages, "walrus".to_owned()))
        );
        assert_eq!(
            searchable_text(&post(content::POST_EDIT, "walruses")),
            Some((SearchKind::Messages, "walruses".to_owned()))
        );
        assert_eq!(searchable_text(&post(content::POST, "  ")), None);
        assert_eq!(searchable_text(&post(content::FOLLOW, "walrus")), None);
        let name = wire::Event {
            content_type: content::USERNAME,
            lww_element: Some(wire::LwwElement {
                value: b"Ferdinand".to_vec().into(),
                unix_milliseconds: 1,
            }),
            ..Default::default()
        };
        assert_eq!(
            searchable_text(&name),
            Some((SearchKind::Profiles, "Ferdinand".to_owned()))
        );
    }

    #[test]
    fn words_match_exactly_by_form_or_by_typo() {
        let cases = [
            ("walrus", "walrus", Some(WordMatch::Exact)),
            ("walrus", "walruses", Some(WordMatch::Form)),
            ("run", "running", Some(WordMatch::Form)),
            ("walrus", "walrusesque", None),
            ("wa", "walrus", None),
            ("walrus", "wlarus", Some(WordMatch::Typo)),
            ("wlarus", "walrus", Some(WordMatch::Typo)),
            ("walrus", "walrsu", Some(WordMatch::Typo)),
            ("walrus", "walnut", None),
            ("walrus", "alrus", None),
            ("elephant", "elpehnat", Some(WordMatch::Typo)),
            ("walruses", "walrus", Some(WordMatch::Typo)),
            ("cat", "cta", None),
            ("cat", "cats", Some(WordMatch::Form)),
        ];
        for (term, word, want) in cases {
            assert_eq!(word_match(term, word), want, "{term} ~ {word}");
        }
    }

    #[test]
    fn relevance_ranks_exact_over_forms_over_typos_and_more_terms_first() {
        let terms = search_terms("walrus sighting");
        let ranked = [
            "walrus sighting",
            "walrus sightings",
            "walruses sightings",
            "walrus",
            "walruses",
            "walrsu",
            "seal",
        ];
        let scores: Vec<i64> = ranked
            .iter()
            .map(|text| text_relevance(&terms, text))
            .collect();
        assert!(
            scores.windows(2).all(|pair| pair[0] > pair[1]),
            "{ranked:?} scored {scores:?}"
        );
        assert_eq!(scores.last(), Some(&0));
        assert!(
            text_relevance(&terms, "walrus") > text_relevance(&terms, "wlarus sightng"),
            "one exact term outweighs typos of both"
        );
    }

    #[test]
    fn terms_are_folded_words_without_repeats() {
        assert_eq!(
            search_terms("Hello, hello WORLD! Café-42 cafe ÉCOLE"),
            ["hello", "world", "cafe", "42", "ecole"]
        );
        assert!(search_terms("  !!! ").is_empty());
    }
}
