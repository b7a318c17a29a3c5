//! Live subscriptions (docs/protocol.md, "Live stream"): positions follow commit order, only
//! grow and are never reused, and filters by system, type and reference select exactly.

use agora_protocol::content;
use agora_store::{Store, StreamFilter};

use super::support::*;

pub async fn stream_reads_in_commit_order_with_filters<S: Store>(store: S) {
    assert_eq!(store.stream_head().await.expect("head"), 0);
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let a = alice.post("a", 100).expect("post");
    let b = alice.post("b", 200).expect("post");
    let c = bob.post("c", 50).expect("post");
    let like = alice
        .opinion(&c.pointer(), content::opinion::LIKE, 300)
        .expect("like");
    ingest_new(&store, [&a, &b]).await;
    ingest_new(&store, [&c, &like]).await;

    let read = |filter: StreamFilter, after: u64, limit: usize| {
        let store = &store;
        async move {
            let page = store
                .stream_after(after, filter, limit)
                .await
                .expect("stream");
            let slots: Vec<Slot> = page.events.iter().map(|(_, event)| slot(event)).collect();
            let positions: Vec<u64> = page.events.iter().map(|(position, _)| *position).collect();
            (slots, positions, page.position)
        }
    };
    let (slots, positions, last) = read(StreamFilter::default(), 0, 10).await;
    assert_eq!(
        slots,
        [(1, 1), (1, 2), (2, 1), (1, 3)],
        "commit order, not event time"
    );
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "{positions:?}"
    );
    assert_eq!(last, positions[3]);
    assert_eq!(store.stream_head().await.expect("head"), last);

    let only = |filter: StreamFilter| async move { read(filter, 0, 10).await.0 };
    let systems = StreamFilter {
        systems: vec![bob.system()],
        ..StreamFilter::default()
    };
    assert_eq!(only(systems).await, [(2, 1)]);
    let types = StreamFilter {
        content_types: vec![content::OPINION],
        ..StreamFilter::default()
    };
    assert_eq!(only(types).await, [(1, 3)]);
    let references = StreamFilter {
        references: vec![(content::REFERENCE_POINTER, c.slot_key().to_vec())],
        ..StreamFilter::default()
    };
    assert_eq!(only(references).await, [(1, 3)]);

    // Pages resume exactly where the last one ended.
    let (first, _, position) = read(StreamFilter::default(), 0, 2).await;
    assert_eq!(first, [(1, 1), (1, 2)]);
    let (rest, _, _) = read(StreamFilter::default(), position, 10).await;
    assert_eq!(rest, [(2, 1), (1, 3)]);
    // A filter that matches nothing still moves the position to what it read.
    let nobody = StreamFilter {
        systems: vec![author(9, 9).system()],
        ..StreamFilter::default()
    };
    assert_eq!(read(nobody, 0, 10).await.2, last);

    // A removed event's position is never handed out again.
    let delete = alice.delete(&like, 400).expect("delete");
    ingest_new(&store, [&delete]).await;
    let (slots, positions, _) = read(StreamFilter::default(), 0, 10).await;
    assert_eq!(slots, [(1, 1), (1, 2), (2, 1), (1, 4)]);
    assert!(positions[3] > last, "{positions:?} after {last}");
}
