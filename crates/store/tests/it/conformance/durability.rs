//! Durability: what a store acknowledged as stored is served again after a restart, with the
//! same counters, tombstones and feeds.

use agora_protocol::content::{self, opinion};
use agora_protocol::{PublicKey, wire};
use agora_store::{IndexCursor, IngestOutcome::*, Store};

use super::support::*;

/// A system's held ranges as [`held`] returns them.
type Held = Vec<(u8, Vec<(u64, u64)>)>;

/// Everything a client can read about the systems of a test.
#[derive(Debug, PartialEq)]
struct Snapshot {
    events: Vec<Vec<wire::SignedEvent>>,
    ranges: Vec<Held>,
    feeds: Vec<Vec<wire::SignedEvent>>,
    heads: Vec<Vec<Slot>>,
    latest: Vec<Vec<Slot>>,
    counts: Vec<Counts>,
}

impl Snapshot {
    async fn take<S: Store>(
        store: &S,
        systems: &[PublicKey],
        subjects: &[&agora_protocol::VerifiedEvent],
    ) -> Self {
        let mut snapshot = Self {
            events: Vec::new(),
            ranges: Vec::new(),
            feeds: Vec::new(),
            heads: Vec::new(),
            latest: Vec::new(),
            counts: Vec::new(),
        };
        for &system in systems {
            snapshot.events.push(served_events(store, system).await);
            snapshot.ranges.push(held(store, system).await);
            let feed = index(store, system, content::POST, IndexCursor::Start, 1000).await;
            snapshot.feeds.push(feed.events);
            snapshot
                .heads
                .push(sorted_slots(&store.head(system).await.expect("head")));
            snapshot
                .latest
                .push(latest(store, system, &[content::POST, content::USERNAME]).await);
        }
        for subject in subjects {
            snapshot.counts.push(counts(store, subject).await);
        }
        snapshot
    }
}

pub async fn stored_events_survive_reopen<S: Store>(open: impl Fn() -> S) {
    let mut alice = author(1, 1);
    let mut bob = author(2, 2);
    let mut carol = author(3, 3);
    let post = alice.post("post", 100).expect("post");
    let name = alice
        .set_element(content::USERNAME, b"alice", 110)
        .expect("name");
    let kept = bob.reply("kept", &post.pointer(), 200).expect("reply");
    let removed = bob.reply("removed", &post.pointer(), 210).expect("reply");
    let reactions = [
        carol
            .opinion(&post.pointer(), opinion::LIKE, 300)
            .expect("like"),
        bob.opinion(&post.pointer(), opinion::DISLIKE, 310)
            .expect("dislike"),
        carol
            .opinion(&kept.pointer(), opinion::LIKE, 320)
            .expect("like"),
        bob.delete(&removed, 330).expect("delete"),
    ];
    let all: Vec<_> = [&post, &name, &kept, &removed]
        .into_iter()
        .chain(&reactions)
        .cloned()
        .collect();
    let systems = [alice.system(), bob.system(), carol.system()];

    let store = open();
    ingest_new(&store, &all).await;
    let before = Snapshot::take(&store, &systems, &[&post, &kept]).await;
    assert_eq!(before.counts, [Counts::new(1, 1, 1), Counts::new(1, 0, 0)]);
    assert_eq!(
        before.events.iter().map(Vec::len).sum::<usize>(),
        all.len() - 1
    );
    drop(store);

    let store = open();
    let after = Snapshot::take(&store, &systems, &[&post, &kept]).await;
    assert_eq!(after, before, "the reopened store serves the same");

    let outcomes = ingest(&store, &all).await;
    let expected: Vec<_> = all
        .iter()
        .map(|event| {
            if event.slot_key() == removed.slot_key() {
                AlreadyDeleted
            } else {
                Duplicate
            }
        })
        .collect();
    assert_eq!(outcomes, expected, "dedupe and tombstones survive too");
    assert_eq!(
        Snapshot::take(&store, &systems, &[&post, &kept]).await,
        before
    );
}
