//! Deletes: the target disappears everywhere, its slot stays held by a tombstone that takes its
//! place in feeds, and a target arriving late is never served (spec sections 3.5, 5.3, 6.1).

use agora_protocol::content;
use agora_store::{IndexCursor, IngestOutcome::*, ProcessRanges, Store};

use super::support::*;

pub async fn delete_removes_target_and_leaves_tombstone<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let a = alice.post("a", 100).expect("post");
    let b = alice.post("b", 200).expect("post");
    let c = alice.post("c", 300).expect("post");
    let delete_b = alice.delete(&b, 400).expect("delete");
    ingest_new(&store, [&a, &b, &c]).await;
    ingest_new(&store, [&delete_b]).await;
    let system = alice.system();

    assert_eq!(served(&store, system).await, [(1, 1), (1, 3), (1, 4)]);
    let target_slot = store
        .events_in_ranges(
            system,
            vec![ProcessRanges {
                process: process(1),
                ranges: vec![(2, 2)],
            }],
            10,
        )
        .await
        .expect("events_in_ranges");
    assert!(
        target_slot.is_empty(),
        "the DELETE is served for its own slot only, not the target's"
    );
    assert_eq!(held(&store, system).await, [(1, vec![(1, 4)])]);
    let page = index(&store, system, content::POST, IndexCursor::Start, 10).await;
    assert_eq!(slots(&page.events), [(1, 3), (1, 4), (1, 1)]);
    assert_eq!(
        positions(&page.events),
        [(300, 1, 3), (200, 1, 2), (100, 1, 1)],
        "the tombstone sits where the deleted post was"
    );
    assert_eq!(latest(&store, system, &[content::POST]).await, [(1, 3)]);

    let delete_c = alice.delete(&c, 500).expect("delete");
    ingest_new(&store, [&delete_c]).await;

    assert_eq!(latest(&store, system, &[content::POST]).await, [(1, 1)]);
    assert_eq!(served(&store, system).await, [(1, 1), (1, 4), (1, 5)]);
    let page = index(&store, system, content::POST, IndexCursor::Start, 10).await;
    assert_eq!(slots(&page.events), [(1, 5), (1, 4), (1, 1)]);
    assert_eq!(
        positions(&page.events),
        [(300, 1, 3), (200, 1, 2), (100, 1, 1)]
    );
}

pub async fn delete_arriving_before_target_wins<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let a = alice.post("a", 100).expect("post");
    let b = alice.post("b", 200).expect("post");
    let delete_b = alice.delete(&b, 300).expect("delete");
    ingest_new(&store, [&a, &delete_b]).await;

    assert_eq!(ingest(&store, [&b]).await, [AlreadyDeleted]);
    assert_eq!(
        ingest(&store, [&b]).await,
        [AlreadyDeleted],
        "and on every retry"
    );

    let system = alice.system();
    assert_eq!(served(&store, system).await, [(1, 1), (1, 3)]);
    assert_eq!(held(&store, system).await, [(1, vec![(1, 3)])]);
    let page = index(&store, system, content::POST, IndexCursor::Start, 10).await;
    assert_eq!(slots(&page.events), [(1, 3), (1, 1)]);
    assert_eq!(positions(&page.events), [(200, 1, 2), (100, 1, 1)]);
    assert_eq!(latest(&store, system, &[content::POST]).await, [(1, 1)]);
}

pub async fn delete_and_target_in_one_batch<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let x = alice.post("x", 100).expect("post");
    let y = alice.post("y", 200).expect("post");
    let delete_x = alice.delete(&x, 300).expect("delete");
    let delete_y = alice.delete(&y, 400).expect("delete");

    assert_eq!(
        ingest(&store, [&delete_x, &x]).await,
        [Stored, AlreadyDeleted]
    );
    let outcomes = ingest(&store, [&y, &delete_y]).await;
    assert!(outcomes[0].is_accepted(), "{outcomes:?}");
    assert_eq!(outcomes[1], Stored);

    let system = alice.system();
    assert_eq!(served(&store, system).await, [(1, 3), (1, 4)]);
    assert_eq!(held(&store, system).await, [(1, vec![(1, 4)])]);
    let page = index(&store, system, content::POST, IndexCursor::Start, 10).await;
    assert_eq!(slots(&page.events), [(1, 4), (1, 3)]);
    assert_eq!(positions(&page.events), [(200, 1, 2), (100, 1, 1)]);
    assert_eq!(latest(&store, system, &[content::POST]).await, []);
    assert_eq!(
        ingest(&store, [&x, &y]).await,
        [AlreadyDeleted, AlreadyDeleted]
    );
}

/// Two devices (or one client retrying) delete the same event: the deleted slot must still be
/// held once, so ranges stay valid for official clients, and the feed shows one tombstone.
pub async fn repeated_deletes_keep_one_tombstone<S: Store>(store: S) {
    let mut phone = author(1, 1);
    let mut laptop = author(1, 2);
    let a = phone.post("a", 100).expect("post");
    let b = phone.post("b", 200).expect("post");
    let c = phone.post("c", 300).expect("post");
    let b_from_phone = phone.delete(&b, 400).expect("delete");
    let b_from_laptop = laptop.delete(&b, 410).expect("delete");
    let b_from_laptop_again = laptop.delete(&b, 420).expect("delete");
    ingest_new(&store, [&a, &b, &c, &b_from_phone]).await;
    let outcomes = ingest(&store, [&b_from_laptop, &b_from_laptop_again]).await;
    assert!(outcomes.iter().all(|o| o.is_accepted()), "{outcomes:?}");

    let system = phone.system();
    assert_eq!(
        held(&store, system).await,
        [(1, vec![(1, 4)]), (2, vec![(1, 2)])]
    );
    assert_eq!(
        whole_feed(&store, system, content::POST).await,
        [(300, 1, 3), (200, 1, 2), (100, 1, 1)],
        "one cell for the deleted slot"
    );

    // Both deletes of `d` arrive, in one batch, before `d` itself.
    let d = phone.post("d", 500).expect("post");
    let d_from_laptop = laptop.delete(&d, 510).expect("delete");
    let d_from_phone = phone.delete(&d, 520).expect("delete");
    let outcomes = ingest(&store, [&d_from_laptop, &d_from_phone]).await;
    assert!(outcomes.iter().all(|o| o.is_accepted()), "{outcomes:?}");
    assert_eq!(ingest(&store, [&d]).await, [AlreadyDeleted]);

    assert_eq!(
        held(&store, system).await,
        [(1, vec![(1, 6)]), (2, vec![(1, 3)])]
    );
    assert_eq!(
        whole_feed(&store, system, content::POST).await,
        [(500, 1, 5), (300, 1, 3), (200, 1, 2), (100, 1, 1)]
    );
    assert_eq!(
        served(&store, system).await,
        [(1, 1), (1, 3), (1, 4), (1, 6), (2, 1), (2, 2), (2, 3)]
    );
}

pub async fn delete_of_a_delete_is_rejected<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let a = alice.post("a", 100).expect("post");
    let delete_a = alice.delete(&a, 200).expect("delete");
    let delete_delete = alice.delete(&delete_a, 300).expect("delete");
    ingest_new(&store, [&a, &delete_a]).await;

    let outcomes = ingest(&store, [&delete_delete]).await;
    assert_rejected(&outcomes[0], "delete");

    let system = alice.system();
    assert_eq!(served(&store, system).await, [(1, 2)], "a stays deleted");
    assert_eq!(held(&store, system).await, [(1, vec![(1, 2)])]);
    assert_eq!(
        whole_feed(&store, system, content::POST).await,
        [(100, 1, 1)]
    );
}

/// The same, with the delete-of-delete ingested before the DELETE it targets: its body says it
/// targets a DELETE, so the store can refuse it without seeing the target. Accepting it would
/// leave a tombstone on the first DELETE's slot, so that DELETE would be dropped on arrival and
/// the post the user deleted would be served forever.
pub async fn delete_of_a_delete_arriving_first_is_rejected<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let a = alice.post("a", 100).expect("post");
    let delete_a = alice.delete(&a, 200).expect("delete");
    let delete_delete = alice.delete(&delete_a, 300).expect("delete");
    ingest_new(&store, [&a]).await;

    let outcomes = ingest(&store, [&delete_delete]).await;
    assert_rejected(&outcomes[0], "delete");
    assert_eq!(ingest(&store, [&delete_a]).await, [Stored]);

    let system = alice.system();
    assert_eq!(served(&store, system).await, [(1, 2)], "a is deleted");
    assert_eq!(
        whole_feed(&store, system, content::POST).await,
        [(100, 1, 1)]
    );
}
