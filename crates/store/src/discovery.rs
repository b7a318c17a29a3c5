//! Values of the discovery queries: search, explore, trending topics and recommended profiles.
//!
//! Cursors are opaque bytes to clients; they are defined here so every engine pages the same way.

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

/// Keyset position in a search. Results are ordered by (score, document id) descending, and a
/// search only ever sees documents whose id is at most `pinned_id`, fixed by its first page, so
/// documents added while a client pages neither shift nor join the pages it has not seen yet.
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

#[cfg(test)]
mod tests {
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

    #[test]
    fn terms_are_folded_words_without_repeats() {
        assert_eq!(
            search_terms("Hello, hello WORLD! Café-42 cafe ÉCOLE"),
            ["hello", "world", "cafe", "42", "ecole"]
        );
        assert!(search_terms("  !!! ").is_empty());
    }
}
