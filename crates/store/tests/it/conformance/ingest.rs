//! Dedupe on (system, process, clock) and the held ranges a sync client reconciles against.

use agora_protocol::author::{Author, Draft};
use agora_protocol::devices::{acceptance_draft, authorization_draft, revocation_draft};
use agora_protocol::{PublicKey, SecretKey, content, wire};
use agora_store::bounds::STORED_MAX;
use agora_store::{IndexCursor, IngestOutcome, IngestOutcome::*, ProcessRanges, Store};

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

/// Process `process_number` of the system with seed `seed`, resumed after `clock`.
fn author_after(seed: u8, process_number: u8, clock: u64) -> Author {
    Author::resume(
        SecretKey::from_seed(&[seed; 32]),
        process(process_number),
        clock,
        Vec::new(),
    )
}

/// 2^63 - 1: the largest clock or time an engine stores.
const TOP: u64 = STORED_MAX;

pub async fn clocks_and_times_order_up_to_the_bound_and_larger_ones_are_refused<S: Store>(
    store: S,
) {
    let mut alice = author(1, 1);
    let low = alice.post("low", 1_000).expect("post");
    let top = author_after(1, 1, TOP - 1).post("top", TOP).expect("post");
    ingest_new(&store, [&top, &low]).await;

    let over_clock = author_after(1, 2, TOP).post("over", 1).expect("post");
    let max_clock = author_after(1, 3, u64::MAX - 1)
        .post("max", 1)
        .expect("post");
    let over_time = author(1, 4).post("later", TOP + 1).expect("post");
    let outcomes = ingest(&store, [&over_clock, &max_clock, &over_time]).await;
    let named = |outcome: &IngestOutcome, field: &str| matches!(outcome, Rejected(reason) if reason.to_string().starts_with(&format!("{field} is ")));
    assert!(named(&outcomes[0], "logical_clock"), "{outcomes:?}");
    assert!(named(&outcomes[1], "logical_clock"), "{outcomes:?}");
    assert!(named(&outcomes[2], "unix_milliseconds"), "{outcomes:?}");

    let system = alice.system();
    assert_eq!(
        held(&store, system).await,
        [(1, vec![(1, 1), (TOP, TOP)])],
        "nothing of the refused events"
    );
    let in_ranges = |low, high| in_ranges(&store, system, (low, high));
    assert_eq!(in_ranges(1, u64::MAX).await, [(1, 1), (1, TOP)]);
    assert_eq!(in_ranges(TOP, u64::MAX).await, [(1, TOP)]);
    assert_eq!(in_ranges(TOP + 1, u64::MAX).await, []);
    let head = store.head(system).await.expect("head");
    assert_eq!(slots(&head), [(1, TOP)]);
    assert_eq!(latest(&store, system, &[content::POST]).await, [(1, TOP)]);

    let feed = |cursor| post_feed(&store, system, cursor);
    let both = [(TOP, 1, TOP), (1_000, 1, 1)];
    assert_eq!(feed(IndexCursor::Start).await, both);
    for before in [TOP + 1, u64::MAX] {
        assert_eq!(feed(IndexCursor::BeforeMillis(before)).await, both);
    }
    assert_eq!(feed(IndexCursor::BeforeMillis(TOP)).await, [(1_000, 1, 1)]);
    let after = |unix_milliseconds, logical_clock| IndexCursor::After {
        unix_milliseconds,
        process: process(1),
        logical_clock,
    };
    assert_eq!(feed(after(u64::MAX, u64::MAX)).await, both);
    assert_eq!(feed(after(TOP, u64::MAX)).await, both);
    assert_eq!(feed(after(TOP, TOP + 1)).await, both);
    assert_eq!(feed(after(TOP, TOP)).await, [(1_000, 1, 1)]);
    assert_eq!(feed(after(TOP, 0)).await, [(1_000, 1, 1)]);
}

/// The slots `events_in_ranges` serves for one range asked of processes 1 to 4.
async fn in_ranges<S: Store>(store: &S, system: PublicKey, range: (u64, u64)) -> Vec<Slot> {
    let ranges = (1..=4)
        .map(|number| ProcessRanges {
            process: process(number),
            ranges: vec![range],
        })
        .collect();
    let events = store.events_in_ranges(system, ranges, 100).await;
    slots(&events.expect("events_in_ranges"))
}

/// One page of the POST feed from `cursor`.
async fn post_feed<S: Store>(store: &S, system: PublicKey, cursor: IndexCursor) -> Vec<Position> {
    positions(&index(store, system, content::POST, cursor, 10).await.events)
}

pub async fn last_writer_wins_at_the_bound_and_larger_writes_are_refused<S: Store>(store: S) {
    let mut bob = author(2, 1);
    let post = bob.post("judge me", 1_000).expect("post");
    let like = author(1, 1)
        .opinion(&post.pointer(), content::opinion::LIKE, TOP)
        .expect("opinion");
    let dislike = author(1, 2)
        .opinion(&post.pointer(), content::opinion::DISLIKE, 2_000)
        .expect("opinion");
    ingest_new(&store, [&post, &like, &dislike]).await;
    assert_eq!(
        counts(&store, &post).await,
        Counts::new(1, 0, 0),
        "TOP wins"
    );

    let draft = Draft {
        content_type: content::OPINION,
        lww_element: Some(wire::LwwElement {
            value: content::opinion::DISLIKE.to_vec().into(),
            unix_milliseconds: TOP + 1,
        }),
        references: vec![agora_protocol::author::pointer_reference(&post.pointer())],
        ..Draft::default()
    };
    let over = author(1, 3).publish(draft, 3_000).expect("opinion");
    let outcomes = ingest(&store, [&over]).await;
    assert!(
        matches!(&outcomes[0], Rejected(reason)
            if reason.to_string().starts_with("lww_element.unix_milliseconds is 9223372036854775808")),
        "{outcomes:?}"
    );
    assert_eq!(counts(&store, &post).await, Counts::new(1, 0, 0));

    let target = author_after(2, 2, TOP - 1).post("far", 1).expect("post");
    ingest_new(&store, [&target]).await;
    let far_delete = |clock: u64| {
        let body = wire::Delete {
            process: Some(process(2).to_wire()),
            logical_clock: clock,
            indices: Some(wire::Indices::default()),
            unix_milliseconds: Some(1),
            content_type: content::POST,
        };
        let draft = Draft {
            content_type: content::DELETE,
            content: prost::Message::encode_to_vec(&body),
            ..Draft::default()
        };
        author(2, 3).publish(draft, 4_000).expect("delete")
    };
    let outcomes = ingest(&store, [&far_delete(TOP + 1)]).await;
    assert!(
        matches!(&outcomes[0], Rejected(reason)
            if reason.to_string().starts_with("delete body logical_clock is")),
        "{outcomes:?}"
    );
    ingest_new(&store, [&far_delete(TOP)]).await;
    assert_eq!(
        held(&store, bob.system()).await,
        [(1, vec![(1, 1)]), (2, vec![(TOP, TOP)]), (3, vec![(1, 1)])],
        "the tombstone at 2^63 - 1 is held; nothing of the refused delete"
    );
}

/// A batch sent again answers Duplicate for what is stored, except where the batch itself
/// changes a slot before reaching it, exactly as when each event is decided in turn: a delete
/// ahead of its target makes the target AlreadyDeleted, and a revocation ahead of a device's
/// stored post removes it, so the post is refused.
pub async fn a_batch_sent_again_answers_as_each_event_in_turn<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let x = alice.post("x", 100).expect("post");
    let y = alice.post("y", 200).expect("post");
    assert_eq!(ingest(&store, [&x, &y]).await, [Stored, Stored]);
    assert_eq!(ingest(&store, [&x, &y]).await, [Duplicate, Duplicate]);
    let delete_x = alice.delete(&x, 300).expect("delete");
    assert_eq!(
        ingest(&store, [&y, &delete_x, &x]).await,
        [Duplicate, Stored, AlreadyDeleted]
    );
    assert_eq!(served(&store, alice.system()).await, [(1, 2), (1, 3)]);

    let mut phone = author(2, 2);
    let accept = phone
        .publish(acceptance_draft(&alice.system()), 400)
        .expect("accept");
    let authorize = alice
        .publish(authorization_draft(&accept, "phone"), 401)
        .expect("authorize");
    let kept = phone.post("kept", 402).expect("post");
    let cut = phone.post("cut", 403).expect("post");
    ingest_new(&store, [&accept, &authorize, &kept, &cut]).await;
    let revoke = alice
        .publish(revocation_draft(&accept, &[(phone.process(), 2)]), 404)
        .expect("revoke");
    let outcomes = ingest(&store, [&kept, &revoke, &cut]).await;
    assert_eq!(outcomes[..2], [Duplicate, Stored], "{outcomes:?}");
    assert!(matches!(outcomes[2], Rejected(_)), "{outcomes:?}");
    assert_eq!(served(&store, phone.system()).await, [(2, 1), (2, 2)]);
}
