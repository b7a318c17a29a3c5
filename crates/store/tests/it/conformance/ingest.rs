//! Dedupe on (system, process, clock) and the held ranges a sync client reconciles against.

use agora_protocol::content;
use agora_store::{IngestOutcome::*, ProcessRanges, Store};

use super::support::*;

pub async fn duplicate_in_one_batch_is_stored_once<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let first = alice.post("first", 100).expect("post");
    let second = alice.post("second", 200).expect("post");

    let outcomes = ingest(&store, [&first, &first, &second, &second]).await;

    assert_eq!(outcomes, [Stored, Duplicate, Stored, Duplicate]);
    assert_eq!(served(&store, alice.system()).await, [(1, 1), (1, 2)]);
    assert_eq!(held(&store, alice.system()).await, [(1, vec![(1, 2)])]);
    assert_eq!(
        whole_feed(&store, alice.system(), content::POST).await,
        [(200, 1, 2), (100, 1, 1)]
    );
}

pub async fn duplicate_across_batches_is_stored_once<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let posts: Vec<_> = (1..=3)
        .map(|n| alice.post(&format!("post {n}"), 100 * n).expect("post"))
        .collect();

    assert_eq!(
        ingest(&store, [&posts[0], &posts[1]]).await,
        [Stored, Stored]
    );
    assert_eq!(
        ingest(&store, [&posts[1], &posts[2], &posts[0]]).await,
        [Duplicate, Stored, Duplicate]
    );

    let events = served_events(&store, alice.system()).await;
    let expected: Vec<_> = posts.iter().map(|post| post.to_signed()).collect();
    assert_eq!(
        events, expected,
        "each event once, with its exact signed bytes"
    );
    assert_eq!(held(&store, alice.system()).await, [(1, vec![(1, 3)])]);
    assert_eq!(
        whole_feed(&store, alice.system(), content::POST).await,
        [(300, 1, 3), (200, 1, 2), (100, 1, 1)]
    );
}

pub async fn ranges_collapse_runs_and_keep_gaps<S: Store>(store: S) {
    let mut phone = author(1, 1);
    let mut laptop = author(1, 2);
    let posts: Vec<_> = (1..=7)
        .map(|n| phone.post(&format!("post {n}"), n).expect("post"))
        .collect();
    let from_laptop = laptop.post("laptop", 50).expect("post");
    // Clocks 3 and 6 never arrive.
    ingest_new(
        &store,
        [
            &posts[0],
            &posts[1],
            &posts[3],
            &posts[4],
            &posts[6],
            &from_laptop,
        ],
    )
    .await;

    assert_eq!(
        held(&store, phone.system()).await,
        [(1, vec![(1, 2), (4, 5), (7, 7)]), (2, vec![(1, 1)])]
    );
    let in_range = store
        .events_in_ranges(
            phone.system(),
            vec![ProcessRanges {
                process: process(1),
                ranges: vec![(2, 4)],
            }],
            100,
        )
        .await
        .expect("events_in_ranges");
    assert_eq!(slots(&in_range), [(1, 2), (1, 4)]);
    let limited = store
        .events_in_ranges(
            phone.system(),
            vec![ProcessRanges {
                process: process(1),
                ranges: vec![(1, 7)],
            }],
            2,
        )
        .await
        .expect("events_in_ranges");
    assert_eq!(
        slots(&limited),
        [(1, 1), (1, 2)],
        "limit keeps the lowest clocks"
    );
}
