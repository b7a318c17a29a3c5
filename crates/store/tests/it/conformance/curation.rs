//! Operator curation: removing a system or one event with every derived count kept exact, and
//! the two censorship strengths (do_not_recommend keeps storage; refuse_storage removes and
//! refuses at ingest).

use agora_protocol::content::{self, opinion};
use agora_store::{CensorTarget, CensorshipKind, IngestOutcome, Store};

use super::support::*;

/// Bob likes and replies to Alice's post, has his own post that Carol likes and replies to, and
/// deleted one of his posts. Removing Bob leaves Alice's and Carol's counts as if Bob had never
/// published, and nothing of Bob's is served or listed in ranges.
pub async fn removing_a_system_keeps_other_counters_exact<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let mut carol = author(3, 3);
    let post = alice.post("alice's post", 100).expect("post");
    let bob_like = bob
        .opinion(&post.pointer(), opinion::LIKE, 200)
        .expect("like");
    let bob_reply = bob
        .reply("bob replies", &post.pointer(), 210)
        .expect("reply");
    let carol_like = carol
        .opinion(&post.pointer(), opinion::LIKE, 220)
        .expect("like");
    let carol_reply = carol
        .reply("carol replies", &post.pointer(), 230)
        .expect("reply");
    let bob_post = bob.post("bob's own post", 300).expect("post");
    let carol_on_bob = carol
        .opinion(&bob_post.pointer(), opinion::DISLIKE, 310)
        .expect("opinion");
    let carol_reply_to_bob = carol
        .reply("carol answers bob", &bob_post.pointer(), 320)
        .expect("reply");
    let bob_regret = bob.post("regret", 400).expect("post");
    let bob_delete = bob.delete(&bob_regret, 410).expect("delete");
    ingest_new(
        &store,
        [
            &post,
            &bob_like,
            &bob_reply,
            &carol_like,
            &carol_reply,
            &bob_post,
            &carol_on_bob,
            &carol_reply_to_bob,
            &bob_regret,
            &bob_delete,
        ],
    )
    .await;
    assert_eq!(counts(&store, &post).await, Counts::new(2, 0, 2));
    assert_eq!(held(&store, bob.system()).await, [(2, vec![(1, 5)])]);

    let removed = store.remove_system(bob.system()).await.expect("remove");
    assert_eq!(removed, 4, "like, reply, post and delete were stored");
    assert_eq!(served(&store, bob.system()).await, []);
    assert_eq!(held(&store, bob.system()).await, [], "tombstones go too");
    assert_eq!(latest(&store, bob.system(), &[content::POST]).await, []);
    assert_eq!(whole_feed(&store, bob.system(), content::POST).await, []);
    assert_eq!(
        counts(&store, &post).await,
        Counts::new(1, 0, 1),
        "only carol's like and reply remain"
    );
    let page = replies_page(
        &store,
        agora_store::Subject::Pointer(post.slot_key()),
        None,
        20,
    )
    .await;
    let listed: Vec<Slot> = items(&page).into_iter().map(|(slot, _)| slot).collect();
    assert_eq!(listed, [(3, 2)], "bob's reply is no longer listed");
    // Carol's events about Bob's post are hers and stay.
    assert_eq!(served(&store, carol.system()).await.len(), 4);
    assert_eq!(counts(&store, &bob_post).await, Counts::new(0, 1, 1));

    // Nothing refuses Bob: publishing again stores again, and counts come back exactly.
    ingest_new(&store, [&bob_like, &bob_reply]).await;
    assert_eq!(counts(&store, &post).await, Counts::new(2, 0, 2));
    assert_eq!(store.remove_system(bob.system()).await.expect("again"), 2);
    assert_eq!(store.remove_system(bob.system()).await.expect("empty"), 0);
}

/// Removing one slot: a winning opinion falls back to the system's earlier one, a second
/// removal finds nothing, and removing a DELETE frees the slot it had tombstoned.
pub async fn removing_an_event_falls_back_and_frees_tombstones<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let post = alice.post("post", 100).expect("post");
    let like = bob
        .opinion(&post.pointer(), opinion::LIKE, 200)
        .expect("like");
    let dislike = bob
        .opinion(&post.pointer(), opinion::DISLIKE, 300)
        .expect("dislike");
    let draft = alice.post("draft", 400).expect("post");
    let delete_draft = alice.delete(&draft, 500).expect("delete");
    ingest_new(&store, [&post, &like, &dislike, &draft, &delete_draft]).await;
    assert_eq!(counts(&store, &post).await, Counts::new(0, 1, 0));

    let removed = store
        .remove_event(bob.system(), *dislike.process(), dislike.logical_clock())
        .await
        .expect("remove");
    assert!(removed, "the dislike was stored");
    assert_eq!(
        counts(&store, &post).await,
        Counts::new(1, 0, 0),
        "bob's earlier like is his live opinion again"
    );
    assert_eq!(served(&store, bob.system()).await, [(2, 1)]);
    let again = store
        .remove_event(bob.system(), *dislike.process(), dislike.logical_clock())
        .await
        .expect("remove again");
    assert!(!again, "nothing is left in that slot");

    assert_eq!(held(&store, alice.system()).await, [(1, vec![(1, 3)])]);
    let removed = store
        .remove_event(
            alice.system(),
            *delete_draft.process(),
            delete_draft.logical_clock(),
        )
        .await
        .expect("remove delete");
    assert!(removed);
    assert_eq!(
        held(&store, alice.system()).await,
        [(1, vec![(1, 1)])],
        "the delete and its tombstone are gone"
    );
}

pub async fn refuse_storage_of_a_system_removes_and_refuses_it<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let post = alice.post("post", 100).expect("post");
    let bob_like = bob
        .opinion(&post.pointer(), opinion::LIKE, 200)
        .expect("like");
    let bob_post = bob.post("spam", 300).expect("post");
    ingest_new(&store, [&post, &bob_like, &bob_post]).await;

    let outcome = store
        .censor(
            CensorTarget::System(bob.system()),
            CensorshipKind::RefuseStorage,
        )
        .await
        .expect("censor");
    assert_eq!(outcome.kind, CensorshipKind::RefuseStorage);
    assert!(outcome.changed);
    assert_eq!(outcome.events_removed, 2);
    assert_eq!(served(&store, bob.system()).await, []);
    assert_eq!(held(&store, bob.system()).await, []);
    assert_eq!(counts(&store, &post).await, Counts::new(0, 0, 0));

    let more = bob.post("more spam", 400).expect("post");
    let outcomes = ingest(
        &store,
        [&bob_post, &more, &alice.post("fine", 500).expect("post")],
    )
    .await;
    assert_rejected(&outcomes[0], "refuses to store");
    assert_rejected(&outcomes[1], "refuses to store");
    assert_eq!(outcomes[2], IngestOutcome::Stored, "others are unaffected");
    assert_eq!(served(&store, bob.system()).await, []);

    // Lifting the censorship lets Bob publish again; what was removed stays removed.
    let lifted = store
        .uncensor(CensorTarget::System(bob.system()))
        .await
        .expect("uncensor");
    assert_eq!(lifted, Some(CensorshipKind::RefuseStorage));
    assert_eq!(served(&store, bob.system()).await, []);
    ingest_new(&store, [&more]).await;
    assert_eq!(served(&store, bob.system()).await, [(2, 3)]);
}

pub async fn refuse_storage_of_an_event_refuses_only_its_slot<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let keep = alice.post("keep", 100).expect("post");
    let bad = alice.post("bad", 200).expect("post");
    let later = alice.post("later", 300).expect("post");
    ingest_new(&store, [&keep, &bad]).await;
    let target = CensorTarget::Event {
        system: alice.system(),
        process: *bad.process(),
        logical_clock: bad.logical_clock(),
    };
    let outcome = store
        .censor(target.clone(), CensorshipKind::RefuseStorage)
        .await
        .expect("censor");
    assert_eq!(outcome.events_removed, 1);
    assert_eq!(served(&store, alice.system()).await, [(1, 1)]);
    let outcomes = ingest(&store, [&bad, &later]).await;
    assert_rejected(&outcomes[0], "refuses to store this event");
    assert_eq!(outcomes[1], IngestOutcome::Stored);
    assert_eq!(served(&store, alice.system()).await, [(1, 1), (1, 3)]);
    // The author may still delete the refused slot: a tombstone holds no content.
    let delete_bad = alice.delete(&bad, 400).expect("delete");
    ingest_new(&store, [&delete_bad]).await;
    assert_eq!(held(&store, alice.system()).await, [(1, vec![(1, 4)])]);
}

pub async fn do_not_recommend_keeps_storage<S: Store>(store: S) {
    let mut alice = author(1, 1);
    let post = alice.post("post", 100).expect("post");
    ingest_new(&store, [&post]).await;
    let outcome = store
        .censor(
            CensorTarget::System(alice.system()),
            CensorshipKind::DoNotRecommend,
        )
        .await
        .expect("censor");
    assert_eq!(outcome.events_removed, 0);
    assert_eq!(served(&store, alice.system()).await, [(1, 1)]);
    let next = alice.post("next", 200).expect("post");
    ingest_new(&store, [&next]).await;
    assert_eq!(served(&store, alice.system()).await, [(1, 1), (1, 2)]);
}

/// Censoring twice changes nothing; a stronger kind replaces a weaker one and never the reverse;
/// the list shows what is in force; lifting twice finds nothing the second time.
pub async fn censoring_is_idempotent_and_only_strengthens<S: Store>(store: S) {
    let alice = author(1, 1).system();
    let mut bob = author(2, 2);
    let bob_post = bob.post("post", 100).expect("post");
    let event = CensorTarget::Event {
        system: bob.system(),
        process: *bob_post.process(),
        logical_clock: bob_post.logical_clock(),
    };
    let system = CensorTarget::System(alice);
    let first = store
        .censor(system.clone(), CensorshipKind::DoNotRecommend)
        .await
        .expect("censor");
    assert!(first.changed);
    let second = store
        .censor(system.clone(), CensorshipKind::DoNotRecommend)
        .await
        .expect("censor twice");
    assert!(!second.changed);
    let stronger = store
        .censor(system.clone(), CensorshipKind::RefuseStorage)
        .await
        .expect("strengthen");
    assert!(stronger.changed);
    assert_eq!(stronger.kind, CensorshipKind::RefuseStorage);
    let weaker = store
        .censor(system.clone(), CensorshipKind::DoNotRecommend)
        .await
        .expect("weaker");
    assert!(!weaker.changed);
    assert_eq!(weaker.kind, CensorshipKind::RefuseStorage, "never weakened");
    store
        .censor(event.clone(), CensorshipKind::DoNotRecommend)
        .await
        .expect("censor event");

    let list = store.censorships().await.expect("list");
    let listed: Vec<(CensorTarget, CensorshipKind)> = list
        .into_iter()
        .map(|censorship| (censorship.target, censorship.kind))
        .collect();
    assert_eq!(
        listed,
        [
            (system.clone(), CensorshipKind::RefuseStorage),
            (event.clone(), CensorshipKind::DoNotRecommend),
        ]
    );
    assert_eq!(
        store.uncensor(event.clone()).await.expect("lift"),
        Some(CensorshipKind::DoNotRecommend)
    );
    assert_eq!(store.uncensor(event).await.expect("lift again"), None);
    assert_eq!(store.censorships().await.expect("list").len(), 1);
}
