//! `references` items: who referenced a subject, best first, each with its own counts, paged
//! with a cursor that neither skips nor repeats (spec section 6.3).

use agora_protocol::author::Draft;
use agora_protocol::content::{self, REFERENCE_BYTES, opinion};
use agora_protocol::{VerifiedEvent, wire};
use agora_store::{ReferencesCursor, Store, Subject};

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
