//! Counters: likes and dislikes from each system's winning opinion, and reference counts from
//! live events only, whatever order events and deletes arrive in (spec section 5.4, with the
//! reference server's drift fixed).

use agora_protocol::author::{Draft, pointer_reference};
use agora_protocol::content::{self, opinion};
use agora_protocol::{VerifiedEvent, wire};
use agora_store::{CountSpec, ReferencesQuery, Store, Subject};

use super::support::*;

pub async fn revote_keeps_only_the_latest_opinion<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let post = alice.post("post", 100).expect("post");
    let like = bob
        .opinion(&post.pointer(), opinion::LIKE, 200)
        .expect("like");
    let dislike = bob
        .opinion(&post.pointer(), opinion::DISLIKE, 300)
        .expect("dislike");

    ingest_new(&store, [&post, &like]).await;
    assert_eq!(counts(&store, &post).await, Counts::new(1, 0, 0));
    ingest_new(&store, [&dislike]).await;
    assert_eq!(counts(&store, &post).await, Counts::new(0, 1, 0));
}

/// Bob likes, goes neutral, then dislikes; Carol likes. Every arrival order (one event per
/// batch) must give the in-order result: one like (Carol), one dislike (Bob).
pub async fn opinions_count_the_same_in_any_arrival_order<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let mut carol = author(3, 3);
    for (round, order) in permutations(4).into_iter().enumerate() {
        let post = alice.post(&format!("post {round}"), 100).expect("post");
        let subject = post.pointer();
        let opinions = [
            bob.opinion(&subject, opinion::LIKE, 10).expect("opinion"),
            bob.opinion(&subject, opinion::NEUTRAL, 20)
                .expect("opinion"),
            bob.opinion(&subject, opinion::DISLIKE, 30)
                .expect("opinion"),
            carol.opinion(&subject, opinion::LIKE, 15).expect("opinion"),
        ];
        ingest_new(&store, [&post]).await;
        for &index in &order {
            ingest_new(&store, [&opinions[index]]).await;
        }
        assert_eq!(
            counts(&store, &post).await,
            Counts::new(1, 1, 0),
            "arrival order {order:?}"
        );
    }
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut result = Vec::new();
    for shorter in permutations(n - 1) {
        for at in 0..=shorter.len() {
            let mut order = shorter.clone();
            order.insert(at, n - 1);
            result.push(order);
        }
    }
    result
}

pub async fn neutral_clears_a_like<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let post = alice.post("post", 100).expect("post");
    let like = bob
        .opinion(&post.pointer(), opinion::LIKE, 200)
        .expect("like");
    let neutral = bob
        .opinion(&post.pointer(), opinion::NEUTRAL, 300)
        .expect("neutral");
    ingest_new(&store, [&post, &like, &neutral]).await;

    assert_eq!(counts(&store, &post).await, Counts::new(0, 0, 0));
}

pub async fn deleting_the_winning_opinion_falls_back<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let post = alice.post("post", 100).expect("post");
    let like = bob
        .opinion(&post.pointer(), opinion::LIKE, 200)
        .expect("like");
    let dislike = bob
        .opinion(&post.pointer(), opinion::DISLIKE, 300)
        .expect("dislike");
    ingest_new(&store, [&post, &like, &dislike]).await;
    assert_eq!(counts(&store, &post).await, Counts::new(0, 1, 0));

    let delete_dislike = bob.delete(&dislike, 400).expect("delete");
    ingest_new(&store, [&delete_dislike]).await;
    assert_eq!(
        counts(&store, &post).await,
        Counts::new(1, 0, 0),
        "bob's earlier like is his live opinion again"
    );

    let delete_like = bob.delete(&like, 500).expect("delete");
    ingest_new(&store, [&delete_like]).await;
    assert_eq!(counts(&store, &post).await, Counts::new(0, 0, 0));
}

pub async fn deleting_a_reply_decrements_replies<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let mut carol = author(3, 3);
    let post = alice.post("post", 100).expect("post");
    let first = bob.reply("first", &post.pointer(), 200).expect("reply");
    let second = bob.reply("second", &post.pointer(), 300).expect("reply");
    let third = carol.reply("third", &post.pointer(), 400).expect("reply");
    ingest_new(&store, [&post, &first, &second, &third]).await;
    assert_eq!(counts(&store, &post).await, Counts::new(0, 0, 3));

    let delete_first = bob.delete(&first, 500).expect("delete");
    ingest_new(&store, [&delete_first]).await;
    assert_eq!(counts(&store, &post).await, Counts::new(0, 0, 2));
    let page = replies_page(&store, Subject::Pointer(post.slot_key()), None, 20).await;
    let listed: Vec<Slot> = items(&page).into_iter().map(|(slot, _)| slot).collect();
    assert_eq!(listed, [(3, 1), (2, 2)], "the deleted reply is not listed");

    // A reply whose delete arrives first never counts.
    let late = carol.reply("late", &post.pointer(), 600).expect("reply");
    let delete_late = carol.delete(&late, 700).expect("delete");
    ingest_new(&store, [&delete_late]).await;
    ingest(&store, [&late]).await;
    assert_eq!(counts(&store, &post).await, Counts::new(0, 0, 2));
}

/// Opinions count once per system: a second device of the same person replaces the first
/// device's opinion instead of adding to it.
pub async fn likes_count_once_per_system<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob_phone = author(2, 2);
    let mut bob_laptop = author(2, 12);
    let mut carol = author(3, 3);
    let mut dave = author(4, 4);
    let post = alice.post("post", 100).expect("post");
    let subject = post.pointer();
    ingest_new(&store, [&post]).await;

    let from_bob = bob_phone
        .opinion(&subject, opinion::LIKE, 200)
        .expect("like");
    let from_carol = carol.opinion(&subject, opinion::LIKE, 210).expect("like");
    ingest_new(&store, [&from_bob, &from_carol]).await;
    assert_eq!(counts(&store, &post).await, Counts::new(2, 0, 0));

    let from_bob_laptop = bob_laptop
        .opinion(&subject, opinion::LIKE, 300)
        .expect("like");
    let from_dave = dave
        .opinion(&subject, opinion::DISLIKE, 310)
        .expect("dislike");
    ingest_new(&store, [&from_bob_laptop, &from_dave]).await;
    assert_eq!(counts(&store, &post).await, Counts::new(2, 1, 0));
}

pub async fn reference_counts_by_from_type<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let mut carol = author(3, 3);
    let mut dave = author(4, 4);
    let claim = alice.publish(claim_draft(), 100).expect("claim");
    let subject = claim.pointer();
    let events = [
        bob.reply("reply", &subject, 200).expect("reply"),
        carol.reply("reply", &subject, 210).expect("reply"),
        bob.opinion(&subject, opinion::LIKE, 220).expect("like"),
        dave.publish(vouch_draft(&claim), 230).expect("vouch"),
    ];
    ingest_new(&store, std::iter::once(&claim).chain(&events)).await;

    let references = |from_type| CountSpec::References { from_type };
    let likes = |from_type| CountSpec::LwwValue {
        value: opinion::LIKE.to_vec(),
        from_type,
    };
    check_counts(
        &store,
        &claim,
        &[
            (references(Some(content::POST)), 2),
            (references(Some(content::OPINION)), 1),
            (references(Some(content::VOUCH)), 1),
            (references(Some(content::USERNAME)), 0),
            (references(None), 4),
            (likes(Some(content::OPINION)), 1),
            (likes(Some(content::POST)), 0),
            (likes(None), 1),
        ],
    )
    .await;
}

/// Asks for every count of `specs` in one query and compares each with its expected value.
async fn check_counts<S: Store>(store: &S, subject: &VerifiedEvent, specs: &[(CountSpec, u64)]) {
    let page = store
        .references(ReferencesQuery {
            subject: Subject::Pointer(subject.slot_key()),
            events: None,
            counts: specs.iter().map(|(spec, _)| spec.clone()).collect(),
            cursor: None,
            page_size: 20,
        })
        .await
        .expect("references");
    let expected: Vec<u64> = specs.iter().map(|(_, count)| *count).collect();
    assert_eq!(page.counts, expected, "counts for {specs:?}");
}

fn claim_draft() -> Draft {
    Draft {
        content_type: content::CLAIM,
        content: prost::Message::encode_to_vec(&wire::Claim {
            claim_type: 1,
            claim_fields: vec![wire::ClaimFieldEntry {
                key: 0,
                value: "alice".into(),
            }],
        }),
        ..Draft::default()
    }
}

fn vouch_draft(claim: &VerifiedEvent) -> Draft {
    Draft {
        content_type: content::VOUCH,
        references: vec![pointer_reference(&claim.pointer())],
        ..Draft::default()
    }
}

/// Bob's opinions of one post from three of his processes, all at the same millisecond: the
/// one the LWW order of `agora_protocol::crdt` puts last wins in every arrival order (process
/// bytes compared unsigned, 0x90 above 0x7f), and deleting winners falls back in that order.
pub async fn opinion_ties_go_to_the_process_the_lww_order_names<S: Store>(store: S) {
    use agora_protocol::crdt::LwwStamp;

    let mut alice = author(1, 1);
    let mut bobs = [author(2, 0x05), author(2, 0x7f), author(2, 0x90)];
    let values = [opinion::LIKE, opinion::NEUTRAL, opinion::DISLIKE];
    let counts_of = |value: &[u8]| match value {
        v if v == opinion::LIKE => Counts::new(1, 0, 0),
        v if v == opinion::DISLIKE => Counts::new(0, 1, 0),
        _ => Counts::new(0, 0, 0),
    };
    for (round, order) in permutations(3).into_iter().enumerate() {
        let post = alice.post(&format!("post {round}"), 100).expect("post");
        let opinions: Vec<VerifiedEvent> = bobs
            .iter_mut()
            .zip(values)
            .map(|(bob, value)| bob.opinion(&post.pointer(), value, 200).expect("opinion"))
            .collect();
        ingest_new(&store, [&post]).await;
        for &index in &order {
            ingest_new(&store, [&opinions[index]]).await;
        }
        // Winners first, by the protocol crate's order.
        let mut ranked: Vec<usize> = (0..3).collect();
        ranked.sort_by_key(|&index| {
            std::cmp::Reverse(LwwStamp {
                unix_milliseconds: 200,
                process: bobs[index].process(),
            })
        });
        for (deleted, &winner) in ranked.iter().enumerate() {
            assert_eq!(
                counts(&store, &post).await,
                counts_of(values[winner]),
                "arrival order {order:?}, {deleted} winners deleted"
            );
            let delete = bobs[winner]
                .delete(&opinions[winner], 300 + round as u64)
                .expect("delete");
            ingest_new(&store, [&delete]).await;
        }
        assert_eq!(counts(&store, &post).await, Counts::new(0, 0, 0));
    }
}
