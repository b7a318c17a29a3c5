//! Shared fixtures: authors with fixed keys, and readers that turn store answers into short
//! values (slots, positions, counts) so each assertion reads like the scenario it checks.
//!
//! Every test gives each process a distinct number (its 16 bytes all equal that number), so a
//! slot `(process, clock)` names one event even when several systems take part.

use agora_protocol::author::Author;
use agora_protocol::{Process, PublicKey, SecretKey, VerifiedEvent, content, wire};
use agora_store::{
    CountSpec, IndexCursor, IndexPage, IndexQuery, IngestOutcome, ProcessRanges, ReferencesCursor,
    ReferencesPage, ReferencesQuery, ReferencingEvents, Store, Subject,
};

/// Larger than any clock a test publishes; small enough to stay a positive SQL integer.
const CLOCK_MAX: u64 = 1 << 40;

/// The process numbers [`served`] asks for.
const PROCESSES_MAX: u8 = 32;

/// A slot: (process number, logical clock).
pub type Slot = (u8, u64);

/// A place in a per-type feed: (unix ms, process number, logical clock).
pub type Position = (u64, u8, u64);

pub fn process(number: u8) -> Process {
    Process::from_bytes(&[number; 16]).expect("16 bytes")
}

/// Process `process` of the system whose secret key has the seed `[seed; 32]`.
pub fn author(seed: u8, process_number: u8) -> Author {
    Author::new(SecretKey::from_seed(&[seed; 32]), process(process_number))
}

/// The slot of a served event. Verifies the signature again, so every assertion on slots also
/// shows that the store served the exact signed bytes.
pub fn slot(signed: &wire::SignedEvent) -> Slot {
    slot_of(&VerifiedEvent::verify(signed).expect("served events verify"))
}

pub fn slot_of(event: &VerifiedEvent) -> Slot {
    (event.process().as_bytes()[0], event.logical_clock())
}

pub fn slots(events: &[wire::SignedEvent]) -> Vec<Slot> {
    events.iter().map(slot).collect()
}

pub fn sorted_slots(events: &[wire::SignedEvent]) -> Vec<Slot> {
    let mut slots = slots(events);
    slots.sort_unstable();
    slots
}

/// Where a feed cell sits: the event's own time and slot, or for a tombstone (a DELETE) the
/// time and slot of the event it deleted.
pub fn position(signed: &wire::SignedEvent) -> Position {
    let event = VerifiedEvent::verify(signed).expect("served events verify");
    match event.delete_body().expect("served deletes parse") {
        Some(delete) => (
            delete
                .unix_milliseconds
                .expect("delete carries the target's time"),
            delete.process.as_bytes()[0],
            delete.logical_clock,
        ),
        None => (
            event.unix_milliseconds().expect("test events carry a time"),
            event.process().as_bytes()[0],
            event.logical_clock(),
        ),
    }
}

pub fn positions(events: &[wire::SignedEvent]) -> Vec<Position> {
    events.iter().map(position).collect()
}

/// Feed order: strictly decreasing by (ms, process, clock), as official clients require.
pub fn assert_strictly_decreasing(positions: &[Position]) {
    for pair in positions.windows(2) {
        assert!(
            pair[0] > pair[1],
            "feed not strictly decreasing: {positions:?}"
        );
    }
}

pub async fn ingest<'a, S: Store>(
    store: &S,
    events: impl IntoIterator<Item = &'a VerifiedEvent>,
) -> Vec<IngestOutcome> {
    let events: Vec<VerifiedEvent> = events.into_iter().cloned().collect();
    store.ingest(events).await.expect("ingest succeeds")
}

/// Ingests events that are all new and asserts each was stored.
pub async fn ingest_new<'a, S: Store>(
    store: &S,
    events: impl IntoIterator<Item = &'a VerifiedEvent>,
) {
    let outcomes = ingest(store, events).await;
    assert!(
        outcomes
            .iter()
            .all(|outcome| *outcome == IngestOutcome::Stored),
        "expected every event stored: {outcomes:?}"
    );
}

/// Every event the store serves for the system, over all clocks of every process number a test
/// uses, in (process, clock) order.
pub async fn served<S: Store>(store: &S, system: PublicKey) -> Vec<Slot> {
    slots(&served_events(store, system).await)
}

pub async fn served_events<S: Store>(store: &S, system: PublicKey) -> Vec<wire::SignedEvent> {
    let ranges = (1..=PROCESSES_MAX)
        .map(|number| ProcessRanges {
            process: process(number),
            ranges: vec![(1, CLOCK_MAX)],
        })
        .collect();
    store
        .events_in_ranges(system, ranges, 100_000)
        .await
        .expect("events_in_ranges")
}

/// The held ranges of a system as (process number, ranges), after checking the invariants
/// official clients enforce: processes in byte order; per process, ranges sorted with
/// low ≤ high and each high + 1 < the next low (no overlap, no adjacency).
pub async fn held<S: Store>(store: &S, system: PublicKey) -> Vec<(u8, Vec<(u64, u64)>)> {
    let ranges = store.ranges(system).await.expect("ranges");
    for pair in ranges.windows(2) {
        assert!(
            pair[0].process < pair[1].process,
            "processes out of order or repeated: {ranges:?}"
        );
    }
    for process_ranges in &ranges {
        assert!(
            !process_ranges.ranges.is_empty(),
            "empty process: {ranges:?}"
        );
        for &(low, high) in &process_ranges.ranges {
            assert!(low <= high, "inverted range: {ranges:?}");
        }
        for pair in process_ranges.ranges.windows(2) {
            assert!(
                pair[0].1 + 1 < pair[1].0,
                "overlapping or adjacent ranges: {ranges:?}"
            );
        }
    }
    ranges
        .into_iter()
        .map(|process_ranges| (process_ranges.process.as_bytes()[0], process_ranges.ranges))
        .collect()
}

pub async fn index<S: Store>(
    store: &S,
    system: PublicKey,
    content_type: u64,
    cursor: IndexCursor,
    limit: usize,
) -> IndexPage {
    store
        .index(IndexQuery {
            system,
            content_type,
            cursor,
            limit,
        })
        .await
        .expect("index")
}

/// The whole feed of one type in one page.
pub async fn whole_feed<S: Store>(
    store: &S,
    system: PublicKey,
    content_type: u64,
) -> Vec<Position> {
    let page = index(store, system, content_type, IndexCursor::Start, 100_000).await;
    positions(&page.events)
}

pub async fn latest<S: Store>(store: &S, system: PublicKey, content_types: &[u64]) -> Vec<Slot> {
    let events = store
        .latest(system, content_types.to_vec())
        .await
        .expect("latest");
    sorted_slots(&events)
}

/// What a post's stats line shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counts {
    pub likes: u64,
    pub dislikes: u64,
    pub replies: u64,
}

impl Counts {
    pub const fn new(likes: u64, dislikes: u64, replies: u64) -> Self {
        Self {
            likes,
            dislikes,
            replies,
        }
    }

    fn from_slice(counts: &[u64]) -> Self {
        match counts {
            &[likes, dislikes, replies] => Self::new(likes, dislikes, replies),
            other => panic!("expected three counts, got {other:?}"),
        }
    }
}

/// The counts official clients ask for: likes, dislikes (from OPINION) and replies (POST).
pub fn stats_specs() -> Vec<CountSpec> {
    vec![
        CountSpec::LwwValue {
            value: content::opinion::LIKE.to_vec(),
            from_type: Some(content::OPINION),
        },
        CountSpec::LwwValue {
            value: content::opinion::DISLIKE.to_vec(),
            from_type: Some(content::OPINION),
        },
        CountSpec::References {
            from_type: Some(content::POST),
        },
    ]
}

pub async fn counts<S: Store>(store: &S, subject: &VerifiedEvent) -> Counts {
    let page = store
        .references(ReferencesQuery {
            subject: Subject::Pointer(subject.slot_key()),
            events: None,
            counts: stats_specs(),
            cursor: None,
            page_size: 20,
        })
        .await
        .expect("references");
    Counts::from_slice(&page.counts)
}

/// One page of the replies to `subject`, each with its own stats, as a comment list asks.
pub async fn replies_page<S: Store>(
    store: &S,
    subject: Subject,
    cursor: Option<ReferencesCursor>,
    page_size: usize,
) -> ReferencesPage {
    store
        .references(ReferencesQuery {
            subject,
            events: Some(ReferencingEvents {
                from_type: Some(content::POST),
                counts: stats_specs(),
            }),
            counts: stats_specs(),
            cursor,
            page_size,
        })
        .await
        .expect("references")
}

/// The items of a references page as (slot, stats).
pub fn items(page: &ReferencesPage) -> Vec<(Slot, Counts)> {
    page.items
        .iter()
        .map(|(event, counts)| (slot(event), Counts::from_slice(counts)))
        .collect()
}

pub fn assert_rejected(outcome: &IngestOutcome, needle: &str) {
    match outcome {
        IngestOutcome::Rejected(reason) => {
            assert!(
                reason.to_string().contains(needle),
                "reason {reason:?} should name {needle:?}"
            )
        }
        other => panic!("expected a rejection naming {needle:?}, got {other:?}"),
    }
}
