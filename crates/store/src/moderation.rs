//! Local moderation: a labeler configured by a rules file, and the read filters of spec
//! section 7.
//!
//! The reference server tags posts through a cloud service; Agora labels them itself, at ingest,
//! from words and patterns the operator lists. Labels are the server's own opinion: they travel
//! beside the signed bytes (`SignedEvent.moderation_tags`), never inside them, and only hide
//! events from this server's filtered reads.
//!
//! # Rules file
//!
//! One rule per line: `CATEGORY LEVEL PATTERN`. Blank lines and lines starting with `#` are
//! ignored.
//!
//! - `CATEGORY`: the tag name, made of `a-z`, `0-9`, `_` and `-` (e.g. `hate`, `spam`).
//! - `LEVEL`: 0 to 3, the tag level an event gets when the pattern matches (the highest
//!   matching level wins).
//! - `PATTERN`: the rest of the line. `/…/` is a regular expression (the `regex` crate's syntax,
//!   matched as written; add `(?i)` for case-insensitive); anything else is a word or phrase
//!   matched case-insensitively on word boundaries.
//!
//! Every event the labeler looks at gets one tag per category named in the file, level 0 when
//! nothing matched, so strict filters on those categories behave.

use std::collections::BTreeMap;
use std::path::Path;

use agora_protocol::{content, wire};
use prost::Message as _;
use regex::{Regex, RegexSet};
use sha2::{Digest as _, Sha256};

/// The content types the labeler reads and the filters apply to: posts, usernames and
/// descriptions. Avatars (type 9, moderated by the reference) are images, which word rules
/// cannot label, so they always pass.
pub const MODERATED_TYPES: [u64; 3] = [content::POST, content::USERNAME, content::DESCRIPTION];

/// Highest level a rule may give (the reference's levels are Azure severity ÷ 2, so 0..=3).
pub const LEVEL_MAX: u32 = 3;

/// Whether events of `content_type` are labeled and filtered.
pub fn is_moderated(content_type: u64) -> bool {
    MODERATED_TYPES.contains(&content_type)
}

/// A rules file that cannot be used; the server refuses to start with it.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read labeler rules {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("labeler rules line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("labeler rules: {0}")]
    Build(String),
}

/// The local labeler: compiled rules and the categories they name.
#[derive(Debug)]
pub struct Labeler {
    /// Every rule's pattern, matched in one pass.
    set: RegexSet,
    /// Category and level of each pattern, in `set` order.
    rules: Vec<(String, u32)>,
    /// Every category named by a rule, sorted.
    categories: Vec<String>,
    /// SHA-256 of the rules text, hex: stored events labeled by other rules are relabeled.
    digest: String,
}

impl Labeler {
    /// Reads and compiles a rules file.
    pub fn load(path: &Path) -> Result<Self, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Compiles rules text; an error names the first bad line (1-based).
    pub fn parse(text: &str) -> Result<Self, RulesError> {
        let mut patterns = Vec::new();
        let mut rules = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |message: String| RulesError::Line {
                line: index + 1,
                message,
            };
            let (category, rest) = split_word(line);
            let (level, pattern) = split_word(rest);
            if pattern.is_empty() {
                return Err(bad(format!(
                    "expected `CATEGORY LEVEL PATTERN`, got {line:?}"
                )));
            }
            if !category
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            {
                return Err(bad(format!(
                    "category {category:?} may only use a-z, 0-9, `_` and `-`"
                )));
            }
            let level: u32 = level
                .parse()
                .ok()
                .filter(|level| *level <= LEVEL_MAX)
                .ok_or_else(|| bad(format!("level must be 0 to {LEVEL_MAX}, got {level:?}")))?;
            let regex = match pattern
                .strip_prefix('/')
                .and_then(|inner| inner.strip_suffix('/'))
            {
                Some(inner) if !inner.is_empty() => inner.to_owned(),
                _ => format!(r"(?i)\b{}\b", regex::escape(pattern)),
            };
            Regex::new(&regex).map_err(|error| bad(format!("bad pattern {pattern:?}: {error}")))?;
            patterns.push(regex);
            rules.push((category.to_owned(), level));
        }
        let set = RegexSet::new(&patterns).map_err(|error| RulesError::Build(error.to_string()))?;
        let mut categories: Vec<String> = rules.iter().map(|(name, _)| name.clone()).collect();
        categories.sort();
        categories.dedup();
        let digest = Sha256::digest(text.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Ok(Self {
            set,
            rules,
            categories,
            digest,
        })
    }

    /// Every category the rules name, sorted.
    pub fn categories(&self) -> &[String] {
        &self.categories
    }

    /// Identifies these rules, so labels made by other rules can be told apart.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// One tag per category, in category order: the highest level of a matching rule, else 0.
    pub fn label_text(&self, text: &str) -> Vec<(String, u32)> {
        let mut levels: BTreeMap<&str, u32> = self
            .categories
            .iter()
            .map(|name| (name.as_str(), 0))
            .collect();
        for index in self.set.matches(text).iter() {
            if let Some((name, level)) = self.rules.get(index)
                && let Some(current) = levels.get_mut(name.as_str())
            {
                *current = (*current).max(*level);
            }
        }
        levels
            .into_iter()
            .map(|(name, level)| (name.to_owned(), level))
            .collect()
    }

    /// The tags of an event, or `None` when its type is not moderated.
    pub fn label_event(&self, event: &wire::Event) -> Option<Vec<(String, u32)>> {
        let text = moderated_text(event)?;
        Some(self.label_text(&text))
    }
}

/// The text the labeler reads: a post's text, or a username's or description's value. An
/// unreadable body is labeled as empty text (ingest already refused malformed ones).
fn moderated_text(event: &wire::Event) -> Option<String> {
    match event.content_type {
        content::POST => Some(
            wire::Post::decode(event.content.clone())
                .ok()
                .and_then(|post| post.content)
                .unwrap_or_default(),
        ),
        content::USERNAME | content::DESCRIPTION => Some(
            event
                .lww_element
                .as_ref()
                .map(|element| String::from_utf8_lossy(&element.value).into_owned())
                .unwrap_or_default(),
        ),
        _ => None,
    }
}

/// The first whitespace-separated word of `text`, and the trimmed rest.
fn split_word(text: &str) -> (&str, &str) {
    match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    }
}

/// One `moderation_filters` entry: hide events tagged `name` above `max_level`; with
/// `strict_mode`, also hide events without a `name` tag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModerationFilter {
    pub name: String,
    pub max_level: i64,
    pub strict_mode: bool,
}

/// The filters the reference adds on most read paths for names the client did not supply
/// (spec section 7): violence ≤ 1, hate ≤ 2, sexual ≤ 1, all strict.
pub const DEFAULT_FILTERS: [(&str, i64); 3] = [("violence", 1), ("hate", 2), ("sexual", 1)];

/// What a read asks of moderation: the client's filters, and whether the route adds the
/// defaults for names it did not supply. `Default` (no filters, no defaults) hides nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadFilter {
    pub filters: Vec<ModerationFilter>,
    pub add_defaults: bool,
}

impl ReadFilter {
    /// The filters `/query_index`, `/query_references` (bytes subject), `/search` and
    /// `/explore` apply: the client's, plus the defaults.
    pub fn with_defaults(filters: Vec<ModerationFilter>) -> Self {
        Self {
            filters,
            add_defaults: true,
        }
    }

    /// The filters `GET /events` applies: exactly the client's.
    pub fn supplied(filters: Vec<ModerationFilter>) -> Self {
        Self {
            filters,
            add_defaults: false,
        }
    }

    /// The filters to apply under `labeler`, or `None` when there is no labeler (moderation
    /// off: nothing is hidden). Defaults are added only for categories the rules name: a
    /// strict default on a category the operator never labels would hide every post.
    pub fn effective(&self, labeler: Option<&Labeler>) -> Option<Vec<ModerationFilter>> {
        let labeler = labeler?;
        let mut filters = self.filters.clone();
        if self.add_defaults {
            for (name, max_level) in DEFAULT_FILTERS {
                let supplied = filters.iter().any(|filter| filter.name == name);
                let known = labeler.categories().iter().any(|known| known == name);
                if !supplied && known {
                    filters.push(ModerationFilter {
                        name: name.to_owned(),
                        max_level,
                        strict_mode: true,
                    });
                }
            }
        }
        Some(filters)
    }
}

/// Whether an event with `tags` passes `filters` (spec section 7, step 5), for engines that
/// filter outside SQL and for tests.
pub fn passes(tags: &[(String, u32)], filters: &[ModerationFilter]) -> bool {
    filters.iter().all(
        |filter| match tags.iter().find(|(name, _)| *name == filter.name) {
            Some((_, level)) => i64::from(*level) <= filter.max_level,
            None => !filter.strict_mode,
        },
    )
}

/// The filters of a read as one SQL parameter for an engine (a JSON array of
/// `[name, max_level, strict]`), or `None` when nothing is filtered.
pub fn filter_param(filter: &ReadFilter, labeler: Option<&Labeler>) -> Option<String> {
    let filters: Vec<ModerationFilter> = filter.effective(labeler)?;
    if filters.is_empty() {
        // Only status-based hiding would apply, and unlabeled events show (LAZY).
        return None;
    }
    let array: Vec<serde_json::Value> = filters
        .iter()
        .map(|filter| serde_json::json!([filter.name, filter.max_level, filter.strict_mode]))
        .collect();
    Some(serde_json::Value::Array(array).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_whole_words_case_insensitively_and_patterns_as_written() {
        let labeler = Labeler::parse("# comment\n\nspam 2 buy now\nhate 3 /gr+r/\nspam 1 cheap\n")
            .expect("valid rules");
        assert_eq!(labeler.categories(), ["hate", "spam"]);
        assert_eq!(
            labeler.label_text("BUY NOW, so cheap"),
            vec![("hate".into(), 0), ("spam".into(), 2)]
        );
        assert_eq!(
            labeler.label_text("cheapest buy nowhere"),
            vec![("hate".into(), 0), ("spam".into(), 0)]
        );
        assert_eq!(
            labeler.label_text("grrr"),
            vec![("hate".into(), 3), ("spam".into(), 0)]
        );
        assert_eq!(
            labeler.label_text("GRRR"),
            vec![("hate".into(), 0), ("spam".into(), 0)]
        );
    }

    #[test]
    fn a_bad_line_is_named() {
        for (text, line, says) in [
            ("spam 1 ok\nspam 9 word\n", 2, "level must be 0 to 3"),
            ("\n# c\nSpam 1 word\n", 3, "category"),
            (
                "spam 1 ok\nspam 1\n",
                2,
                "expected `CATEGORY LEVEL PATTERN`",
            ),
            ("spam 1 /(unclosed/\n", 1, "bad pattern"),
        ] {
            let error = Labeler::parse(text).expect_err("bad rules");
            let message = error.to_string();
            assert!(
                message.contains(&format!("line {line}:")) && message.contains(says),
                "{text:?} gave {message}"
            );
        }
    }

    #[test]
    fn defaults_are_added_only_for_categories_the_rules_name() {
        let labeler = Labeler::parse("hate 3 grr\n").expect("valid");
        let asked = ReadFilter::with_defaults(vec![]);
        assert_eq!(
            asked.effective(Some(&labeler)),
            Some(vec![ModerationFilter {
                name: "hate".into(),
                max_level: 2,
                strict_mode: true
            }])
        );
        assert_eq!(asked.effective(None), None);
        assert_eq!(
            ReadFilter::supplied(vec![]).effective(Some(&labeler)),
            Some(vec![])
        );
    }

    #[test]
    fn filters_follow_the_reference_rules() {
        let tags = vec![("hate".to_owned(), 2)];
        let filter = |name: &str, max_level, strict_mode| ModerationFilter {
            name: name.into(),
            max_level,
            strict_mode,
        };
        assert!(passes(&tags, &[filter("hate", 2, true)]));
        assert!(!passes(&tags, &[filter("hate", 1, false)]));
        assert!(passes(&tags, &[filter("spam", 0, false)]));
        assert!(!passes(&tags, &[filter("spam", 3, true)]));
    }
}
