//! `references` items: who referenced a subject, best first, each with its own counts, paged
//! with a cursor that neither skips nor repeats (spec section 6.3).

use agora_protocol::author::{Draft, pointer_reference};
use agora_protocol::content::{self, REFERENCE_BYTES, opinion};
use agora_protocol::{VerifiedEvent, wire};
use agora_store::{ReferencesCursor, ReferencesQuery, ReferencingEvents, Store, Subject};
use prost::Message as _;

use super::support::*;

/// Replies r1..r4 to a post: r2 has two likes, r4 a like and a dislike, r3 a dislike, r1 a
/// reply of its own. Order: score (likes − dislikes) descending, then newest first.
pub async fn replies_are_ordered_by_score_then_newest<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let mut carol = author(3, 3);
    let mut dave = author(4, 4);
    let post = alice.post("post", 100).expect("post");
    let replies: Vec<_> = (1..=4)
        .map(|n| {
            bob.reply(&format!("r{n}"), &post.pointer(), 100 + n)
                .expect("reply")
        })
        .collect();
    let [r1, r2, r3, r4] = [0, 1, 2, 3].map(|i| replies[i].pointer());
    let reactions = [
        carol.opinion(&r2, opinion::LIKE, 200).expect("opinion"),
        dave.opinion(&r2, opinion::LIKE, 201).expect("opinion"),
        carol.opinion(&r4, opinion::LIKE, 202).expect("opinion"),
        dave.opinion(&r4, opinion::DISLIKE, 203).expect("opinion"),
        carol.opinion(&r3, opinion::DISLIKE, 204).expect("opinion"),
        dave.reply("nested", &r1, 205).expect("reply"),
        carol
            .opinion(&post.pointer(), opinion::LIKE, 206)
            .expect("opinion"),
    ];
    ingest_new(&store, std::iter::once(&post).chain(&replies)).await;
    ingest_new(&store, &reactions).await;

    let page = replies_page(&store, Subject::Pointer(post.slot_key()), None, 20).await;
    assert_eq!(
        items(&page),
        [
            ((2, 2), Counts::new(2, 0, 0)),
            ((2, 4), Counts::new(1, 1, 0)),
            ((2, 1), Counts::new(0, 0, 1)),
            ((2, 3), Counts::new(0, 1, 0)),
        ]
    );
    assert_eq!(
        page.counts,
        [1, 0, 4],
        "the post's own likes, dislikes, replies"
    );
    assert_eq!(page.cursor, None, "a page that is not full has no cursor");
}

/// 45 replies with mixed scores, read in pages of several sizes: every reply exactly once, in
/// the same order as one big page.
pub async fn paging_replies_returns_each_once<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let mut carol = author(3, 3);
    let mut dave = author(4, 4);
    let post = alice.post("post", 100).expect("post");
    let replies: Vec<_> = (1..=45)
        .map(|n| {
            bob.reply(&format!("reply {n}"), &post.pointer(), 100 + n)
                .expect("reply")
        })
        .collect();
    let mut reactions = Vec::new();
    for (i, reply) in replies.iter().enumerate() {
        if i % 4 == 0 {
            reactions.push(
                carol
                    .opinion(&reply.pointer(), opinion::LIKE, 500)
                    .expect("like"),
            );
        }
        if i % 7 == 0 {
            reactions.push(
                dave.opinion(&reply.pointer(), opinion::DISLIKE, 500)
                    .expect("dislike"),
            );
        }
    }
    ingest_new(&store, std::iter::once(&post).chain(&replies)).await;
    ingest_new(&store, &reactions).await;
    let subject = Subject::Pointer(post.slot_key());

    let everything = replies_page(&store, subject.clone(), None, 100).await;
    let order: Vec<Slot> = items(&everything)
        .into_iter()
        .map(|(slot, _)| slot)
        .collect();
    let mut expected: Vec<(i64, u64)> = (0..45u64)
        .map(|i| {
            let score = i64::from(i % 4 == 0) - i64::from(i % 7 == 0);
            (score, i + 1)
        })
        .collect();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    let expected: Vec<Slot> = expected.into_iter().map(|(_, clock)| (2, clock)).collect();
    assert_eq!(order, expected, "score descending, then newest first");

    for page_size in [2, 20, 45] {
        let (paged, page_lengths) = read_all_pages(&store, &subject, page_size).await;
        assert_eq!(
            paged, order,
            "page size {page_size}: each reply once, in order"
        );
        let (last, full) = page_lengths.split_last().expect("at least one page");
        assert!(
            full.iter().all(|&length| length == page_size),
            "{page_lengths:?}"
        );
        assert!(*last <= page_size, "{page_lengths:?}");
    }
    assert_eq!(read_all_pages(&store, &subject, 20).await.1, [20, 20, 5]);
}

/// Follows cursors until a page comes back without one; returns the items and page lengths.
async fn read_all_pages<S: Store>(
    store: &S,
    subject: &Subject,
    page_size: usize,
) -> (Vec<Slot>, Vec<usize>) {
    let mut cursor = None;
    let mut slots = Vec::new();
    let mut lengths = Vec::new();
    loop {
        let page = replies_page(store, subject.clone(), cursor, page_size).await;
        slots.extend(items(&page).into_iter().map(|(slot, _)| slot));
        lengths.push(page.items.len());
        let Some(next) = page.cursor else {
            return (slots, lengths);
        };
        cursor = Some(ReferencesCursor::decode(&next).expect("cursor decodes"));
        assert!(lengths.len() <= 100, "paging does not end: {lengths:?}");
    }
}

/// A topic spelled two ways is one subject set: posts and opinions on either spelling count
/// and list together, and nothing from another topic leaks in.
pub async fn bytes_subjects_count_and_list_across_the_union<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let mut carol = author(3, 3);
    let mut dave = author(4, 4);
    let posts = [
        alice.topic_post("a", "rust", 100).expect("post"),
        bob.topic_post("b", "Rust", 200).expect("post"),
        carol.topic_post("c", "go", 300).expect("post"),
        alice.topic_post("d", "rust", 400).expect("post"),
    ];
    let opinions = [
        bytes_opinion(&mut dave, "rust", opinion::LIKE, 500),
        bytes_opinion(&mut carol, "Rust", opinion::LIKE, 510),
        bytes_opinion(&mut bob, "go", opinion::DISLIKE, 520),
    ];
    ingest_new(&store, posts.iter().chain(&opinions)).await;

    let union = Subject::Bytes(vec![b"rust".to_vec(), b"Rust".to_vec()]);
    let page = replies_page(&store, union, None, 20).await;
    let listed: Vec<Slot> = items(&page).into_iter().map(|(slot, _)| slot).collect();
    assert_eq!(
        listed,
        [(1, 2), (2, 1), (1, 1)],
        "newest first, across both spellings"
    );
    assert_eq!(
        page.counts,
        [2, 0, 3],
        "likes, dislikes and posts across both spellings"
    );

    let go = replies_page(&store, Subject::Bytes(vec![b"go".to_vec()]), None, 20).await;
    assert_eq!(items(&go), [((3, 1), Counts::new(0, 0, 0))]);
    assert_eq!(go.counts, [0, 1, 1]);
}

fn bytes_opinion(
    author: &mut agora_protocol::author::Author,
    topic: &str,
    value: &[u8],
    unix_milliseconds: u64,
) -> VerifiedEvent {
    let draft = Draft {
        content_type: content::OPINION,
        lww_element: Some(wire::LwwElement {
            value: value.to_vec().into(),
            unix_milliseconds,
        }),
        references: vec![wire::Reference {
            reference_type: REFERENCE_BYTES,
            reference: topic.as_bytes().to_vec().into(),
        }],
        ..Draft::default()
    };
    author.publish(draft, unix_milliseconds).expect("opinion")
}

/// The slots of one page of every event referencing `post`, whatever its type.
async fn any_type_page<S: Store>(
    store: &S,
    post: &VerifiedEvent,
    cursor: Option<ReferencesCursor>,
    page_size: usize,
) -> (Vec<Slot>, Option<ReferencesCursor>) {
    let page = store
        .references(ReferencesQuery {
            subject: Subject::Pointer(post.slot_key()),
            events: Some(ReferencingEvents {
                from_type: None,
                counts: Vec::new(),
            }),
            counts: Vec::new(),
            cursor,
            page_size,
        })
        .await
        .expect("references");
    let cursor = page
        .cursor
        .map(|bytes| ReferencesCursor::decode(&bytes).expect("cursor decodes"));
    let slots = page.items.iter().map(|(event, _)| slot(event)).collect();
    (slots, cursor)
}

/// The order follows every change of a reply's likes and dislikes: an opinion stored before
/// its reply, a like, a re-vote to a dislike, a deleted like, and an author removed with all
/// their opinions.
pub async fn reply_order_follows_opinions_as_they_change<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let mut carol = author(3, 3);
    let mut dave = author(4, 4);
    let post = alice.post("post", 100).expect("post");
    let [r1, r2, r3] = [1, 2, 3].map(|n| {
        bob.reply(&format!("r{n}"), &post.pointer(), 100 + n)
            .expect("reply")
    });
    let early_like = carol
        .opinion(&r3.pointer(), opinion::LIKE, 200)
        .expect("like");
    ingest_new(&store, [&post, &early_like]).await;
    ingest_new(&store, [&r1, &r2, &r3]).await;
    let order = || async {
        let page = replies_page(&store, Subject::Pointer(post.slot_key()), None, 20).await;
        items(&page)
            .into_iter()
            .map(|(slot, _)| slot)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        order().await,
        [(2, 3), (2, 2), (2, 1)],
        "liked before it came"
    );

    let dave_like = dave
        .opinion(&r1.pointer(), opinion::LIKE, 210)
        .expect("like");
    ingest_new(&store, [&dave_like]).await;
    assert_eq!(
        order().await,
        [(2, 3), (2, 1), (2, 2)],
        "equal scores, newest first"
    );

    let revote = carol
        .opinion(&r3.pointer(), opinion::DISLIKE, 220)
        .expect("dislike");
    ingest_new(&store, [&revote]).await;
    assert_eq!(order().await, [(2, 1), (2, 2), (2, 3)], "the re-vote wins");

    let unlike = dave.delete(&dave_like, 230).expect("delete");
    ingest_new(&store, [&unlike]).await;
    assert_eq!(
        order().await,
        [(2, 2), (2, 1), (2, 3)],
        "the deleted like is gone"
    );

    store.remove_system(carol.system()).await.expect("remove");
    assert_eq!(
        order().await,
        [(2, 3), (2, 2), (2, 1)],
        "carol's opinions are gone"
    );
}

/// An event that references the subject twice is one item, and pages of every type of
/// referencing event (replies and opinions together) list each event once, in score order.
pub async fn any_type_pages_list_each_referencing_event_once<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let mut carol = author(3, 3);
    let post = alice.post("post", 100).expect("post");
    let twice = bob
        .publish(
            Draft {
                content_type: content::POST,
                content: wire::Post {
                    content: Some("twice".into()),
                    image: None,
                }
                .encode_to_vec(),
                references: vec![pointer_reference(&post.pointer()); 2],
                ..Draft::default()
            },
            110,
        )
        .expect("reply");
    let mut events = vec![post.clone(), twice.clone()];
    for n in 0..7 {
        events.push(
            bob.reply(&format!("reply {n}"), &post.pointer(), 120 + n)
                .expect("reply"),
        );
    }
    events.push(
        carol
            .opinion(&post.pointer(), opinion::LIKE, 130)
            .expect("like"),
    );
    events.push(
        bob.opinion(&post.pointer(), opinion::LIKE, 131)
            .expect("like"),
    );
    events.push(
        carol
            .opinion(&twice.pointer(), opinion::LIKE, 140)
            .expect("like"),
    );
    ingest_new(&store, &events).await;

    let (everything, cursor) = any_type_page(&store, &post, None, 100).await;
    assert_eq!(cursor, None);
    // The liked reply first; then, all scoring 0, newest first: Bob's like (his clock 9),
    // Carol's like, and the replies.
    let mut expected = vec![(2, 1), (2, 9), (3, 1)];
    expected.extend((2..=8).rev().map(|clock| (2, clock)));
    assert_eq!(everything, expected);

    for page_size in [1, 3, 4] {
        let mut paged = Vec::new();
        let mut cursor = None;
        loop {
            let (slots, next) = any_type_page(&store, &post, cursor, page_size).await;
            assert!(slots.len() <= page_size);
            paged.extend(slots);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
            assert!(paged.len() <= 100, "paging does not end");
        }
        assert_eq!(paged, everything, "page size {page_size}");
    }
}
