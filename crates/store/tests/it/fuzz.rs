//! Arbitrary input to the store's parsers of operator and peer input: labeler rules files, and
//! the ranges a server or a peer advertises (reconciliation must stay exact, and reading what
//! a peer claims must cost requests in proportion to what it serves, however much it claims).

use std::collections::BTreeSet;

use agora_protocol::Process;
use agora_store::ProcessRanges;
use agora_store::moderation::{LEVEL_MAX, Labeler, RulesError};
use agora_store::reconcile::{Walk, subtract};
use proptest::collection::vec;
use proptest::prelude::*;

const CASES: u32 = 256;

/// A rules line: well formed, nearly so, or anything.
fn rule_line() -> impl Strategy<Value = String> {
    let category = prop_oneof!["[a-z0-9_-]{1,8}", "[A-Za-z0-9_.-]{0,8}", any::<String>()];
    let level = prop_oneof![
        "[0-3]",
        "[0-9]{1,3}",
        Just("-1".to_owned()),
        any::<String>()
    ];
    let pattern = prop_oneof![
        "[a-z ]{0,12}",
        r"/[a-z()\[\]*+?|{}0-9\\.^$ ]{0,16}/",
        any::<String>(),
    ];
    prop_oneof![
        4 => (category, level, pattern)
            .prop_map(|(category, level, pattern)| format!("{category} {level} {pattern}")),
        1 => Just(String::new()),
        1 => Just("# a comment".to_owned()),
        1 => any::<String>(),
    ]
}

fn rules_text() -> impl Strategy<Value = String> {
    vec(rule_line(), 0..8).prop_map(|lines| lines.join("\n"))
}

fn valid_category(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// Rules compile, or the error names the first line that does not: every line before it
    /// compiles and that line alone does not.
    #[test]
    fn rules_compile_or_name_the_first_bad_line(text in rules_text(), sample in any::<String>()) {
        match Labeler::parse(&text) {
            Ok(labeler) => {
                let categories = labeler.categories();
                prop_assert!(categories.iter().all(|name| valid_category(name)));
                prop_assert!(categories.windows(2).all(|pair| pair[0] < pair[1]));
                let tags = labeler.label_text(&sample);
                prop_assert_eq!(tags.len(), categories.len());
                prop_assert!(tags.iter().all(|(_, level)| *level <= LEVEL_MAX));
            }
            Err(RulesError::Line { line, message }) => {
                let lines: Vec<&str> = text.lines().collect();
                prop_assert!(line >= 1 && line <= lines.len(), "line {line} of {}", lines.len());
                prop_assert!(!message.is_empty());
                prop_assert!(Labeler::parse(&lines[..line - 1].join("\n")).is_ok());
                prop_assert!(Labeler::parse(lines[line - 1]).is_err());
            }
            Err(RulesError::Build(message)) => prop_assert!(!message.is_empty()),
            Err(other) => prop_assert!(false, "parsing text cannot fail to read: {other}"),
        }
    }

    /// A line whose category breaks the rules is refused by that line's number.
    #[test]
    fn a_bad_category_is_named_by_its_line(
        before in vec("[a-z]{1,6} [0-3] [a-z]{1,8}", 0..5),
        category in "[a-z]{0,3}[A-Z.!@ä][a-z]{0,3}",
    ) {
        let text = format!("{}\n{category} 1 word\n", before.join("\n"));
        let error = Labeler::parse(&text).expect_err("an upper-case or odd category");
        let line = before.len() + 1 + usize::from(before.is_empty());
        let expected = format!("labeler rules line {line}:");
        prop_assert!(error.to_string().starts_with(&expected), "{error}");
    }

    /// Whatever ranges a peer advertises, the difference is sorted, disjoint and outside what
    /// is held.
    #[test]
    fn arbitrary_advertised_ranges_subtract_exactly(
        advertised in vec(clock_pairs(), 0..6),
        held in vec(clock_pairs(), 0..6),
    ) {
        let wanted = subtract(&on(advertised), &on(held.clone()));
        let ranges: Vec<(u64, u64)> = wanted.iter().flat_map(|p| p.ranges.clone()).collect();
        for pair in ranges.windows(2) {
            prop_assert!(pair[0].1 < pair[1].0, "sorted and disjoint: {ranges:?}");
        }
        for &(low, high) in &ranges {
            prop_assert!(low <= high);
            let overlaps = held
                .iter()
                .any(|&(h_low, h_high)| h_low <= h_high && h_low <= high && low <= h_high);
            prop_assert!(!overlaps, "{low}..={high} is held");
        }
    }

    /// A walk over whatever a peer advertises reads every wanted event the peer serves, asks
    /// only for wanted clocks, and asks a number of times bounded by what was served, however
    /// many clocks the peer claims (up to 2^64).
    #[test]
    fn a_walk_reads_what_is_served_in_requests_bounded_by_it(
        advertised in vec(clock_pairs(), 0..6),
        held in vec(clock_pairs(), 0..4),
        served_by_peer in vec(prop_oneof![any::<u64>(), 0u64..200], 0..30),
        per_answer_max in 1usize..5,
        width_min in 1u64..40,
    ) {
        let wanted = subtract(&on(advertised), &on(held));
        let wanted_ranges: Vec<(u64, u64)> = wanted.iter().flat_map(|p| p.ranges.clone()).collect();
        let is_wanted = |clock: u64| wanted_ranges.iter().any(|&(low, high)| low <= clock && clock <= high);
        let expected: BTreeSet<u64> = served_by_peer.iter().copied().filter(|c| is_wanted(*c)).collect();
        let bound = 67 * (expected.len() + 1);
        let mut walk = Walk::new(wanted, width_min);
        let mut read = BTreeSet::new();
        let mut requests = 0;
        while let Some(piece) = walk.next_piece() {
            requests += 1;
            prop_assert!(requests <= bound, "{requests} requests for {} events", expected.len());
            let in_piece = |clock: &u64| piece.ranges.iter().any(|&(low, high)| low <= *clock && *clock <= high);
            for &(low, high) in &piece.ranges {
                prop_assert!(is_wanted(low) && is_wanted(high), "asked for {low}..={high}");
            }
            let answer: BTreeSet<u64> = served_by_peer.iter().copied().filter(in_piece).collect();
            let answer: Vec<u64> = answer.into_iter().take(per_answer_max).collect();
            read.extend(&answer);
            walk.served(&piece, answer);
        }
        prop_assert_eq!(read, expected);
    }
}

/// Clock ranges as a peer may send them: anything, or small and overlapping.
fn clock_pairs() -> impl Strategy<Value = (u64, u64)> {
    prop_oneof![(any::<u64>(), any::<u64>()), (0u64..100, 0u64..100)]
}

/// `ranges` of one process.
fn on(ranges: Vec<(u64, u64)>) -> Vec<ProcessRanges> {
    let process = Process::from_bytes(&[1; 16]).expect("16");
    vec![ProcessRanges { process, ranges }]
}
