//! Several writers at once. Each test gets the nodes of one store ([`super::Engine::nodes`]):
//! several handles over one database where the engine runs as several nodes, otherwise one
//! store shared by every task. Writers race on purpose; the answers must be exact.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use agora_protocol::VerifiedEvent;
use agora_protocol::content::opinion;
use agora_store::{HandleClaimOutcome, IngestOutcome, Store, StreamFilter};

use super::support::*;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Runs one task per item at once, each on the node `index % nodes`, and collects the answers
/// in item order.
async fn race<S: Store, T, R, F>(nodes: &[Arc<S>], items: Vec<T>, work: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(Arc<S>, T) -> BoxFuture<R> + Send + Sync + 'static,
{
    let work = Arc::new(work);
    let tasks: Vec<_> = items
        .into_iter()
        .enumerate()
        .map(|(index, item)| {
            let node = Arc::clone(&nodes[index % nodes.len()]);
            let work = Arc::clone(&work);
            tokio::spawn(async move { work(node, item).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }
    answers
}

/// The same batch sent through every node at once, eight times: each event is stored exactly
/// once, every other answer says it was already there, and every node serves the one copy.
pub async fn the_same_events_from_many_writers_are_stored_once<S: Store>(nodes: Vec<Arc<S>>) {
    let mut alice = author(1, 1);
    let events: Vec<VerifiedEvent> = (0..20)
        .map(|n| alice.post(&format!("post {n}"), 100 + n).expect("post"))
        .collect();
    let answers = race(&nodes, vec![events.clone(); 8], |node, batch| {
        Box::pin(async move { node.ingest(batch).await.expect("ingest") })
    })
    .await;
    for (index, _) in events.iter().enumerate() {
        let stored = answers
            .iter()
            .filter(|outcomes| outcomes[index] == IngestOutcome::Stored)
            .count();
        assert_eq!(stored, 1, "event {index}: {answers:?}");
        assert!(
            answers.iter().all(|outcomes| outcomes[index].is_accepted()),
            "{answers:?}"
        );
    }
    for node in &nodes {
        assert_eq!(served(node.as_ref(), alice.system()).await.len(), 20);
        assert_eq!(
            held(node.as_ref(), alice.system()).await,
            [(1, vec![(1, 20)])]
        );
    }
}

/// Twelve systems like a post while each also changes its mind, every opinion its own write on
/// its own task: the counts equal what the winning opinions say, on every node.
pub async fn opinions_racing_on_many_writers_count_exactly<S: Store>(nodes: Vec<Arc<S>>) {
    let mut alice = author(1, 1);
    let post = alice.post("post", 100).expect("post");
    ingest_new(nodes[0].as_ref(), [&post]).await;
    let mut opinions = Vec::new();
    let (mut likes, mut dislikes) = (0, 0);
    for seed in 2..14_u8 {
        let mut voter = author(seed, seed);
        let first = voter
            .opinion(&post.pointer(), opinion::DISLIKE, 200)
            .expect("opinion");
        let last_value = if seed % 3 == 0 {
            opinion::DISLIKE
        } else {
            opinion::LIKE
        };
        let last = voter
            .opinion(&post.pointer(), last_value, 300)
            .expect("opinion");
        if last_value == opinion::LIKE {
            likes += 1;
        } else {
            dislikes += 1;
        }
        // The later opinion often arrives first.
        if seed % 2 == 0 {
            opinions.extend([last, first]);
        } else {
            opinions.extend([first, last]);
        }
    }
    let answers = race(&nodes, opinions, |node, opinion| {
        Box::pin(async move { node.ingest(vec![opinion]).await.expect("ingest") })
    })
    .await;
    assert!(
        answers
            .iter()
            .all(|outcomes| outcomes == &[IngestOutcome::Stored]),
        "{answers:?}"
    );
    for node in &nodes {
        assert_eq!(
            counts(node.as_ref(), &post).await,
            Counts::new(likes, dislikes, 0)
        );
    }
}

/// Eight systems claim one handle at the same moment, through every node: exactly one holds
/// it, and every other claim names that holder.
pub async fn a_handle_raced_by_many_claimants_has_one_holder<S: Store>(nodes: Vec<Arc<S>>) {
    let claimants: Vec<_> = (1..=8_u8).map(|seed| author(seed, seed).system()).collect();
    let answers = race(&nodes, claimants.clone(), |node, system| {
        Box::pin(async move {
            node.claim_handle(system, "contested".into(), false)
                .await
                .expect("claim")
        })
    })
    .await;
    let winners: Vec<usize> = answers
        .iter()
        .enumerate()
        .filter(|(_, outcome)| **outcome == HandleClaimOutcome::Bound)
        .map(|(index, _)| index)
        .collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    let holder = claimants[winners[0]];
    for (index, outcome) in answers.iter().enumerate() {
        if index != winners[0] {
            assert_eq!(*outcome, HandleClaimOutcome::Taken(holder), "{answers:?}");
        }
    }
    for node in &nodes {
        let binding = node
            .resolve_handle("contested".into())
            .await
            .expect("resolve")
            .expect("bound");
        assert_eq!(binding.system, holder);
    }
}

/// A subscriber follows the stream while writers commit at once through every node: it reads
/// every stored event exactly once, in increasing positions, and nothing else.
pub async fn a_stream_reader_misses_nothing_from_concurrent_writers<S: Store>(nodes: Vec<Arc<S>>) {
    let batches: Vec<Vec<VerifiedEvent>> = (1..=8_u8)
        .map(|seed| {
            let mut writer = author(seed, seed);
            (0..25)
                .map(|n| writer.post(&format!("{seed} {n}"), 100 + n).expect("post"))
                .collect()
        })
        .collect();
    let expected: BTreeSet<(u8, u64)> = batches.iter().flatten().map(slot_of).collect();
    let reader = Arc::clone(&nodes[nodes.len() - 1]);
    let following = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut after = 0;
        while seen.len() < 200 {
            let page = reader
                .stream_after(after, StreamFilter::default(), 7)
                .await
                .expect("stream");
            for (position, event) in page.events {
                assert!(position > after, "positions increase");
                seen.push(slot(&event));
                after = position;
            }
            after = after.max(page.position);
            tokio::task::yield_now().await;
        }
        seen
    });
    // Each writer sends its posts in small batches, interleaving with the others.
    let writes: Vec<Vec<VerifiedEvent>> = batches
        .into_iter()
        .flat_map(|batch| batch.chunks(5).map(<[_]>::to_vec).collect::<Vec<_>>())
        .collect();
    race(&nodes, writes, |node, batch| {
        Box::pin(async move {
            let outcomes = node.ingest(batch).await.expect("ingest");
            assert!(outcomes.iter().all(|o| *o == IngestOutcome::Stored));
        })
    })
    .await;
    let seen = tokio::time::timeout(std::time::Duration::from_secs(30), following)
        .await
        .expect("the reader catches up")
        .expect("task");
    let distinct: BTreeSet<(u8, u64)> = seen.iter().copied().collect();
    assert_eq!(distinct.len(), seen.len(), "nothing read twice");
    assert_eq!(distinct, expected, "every stored event read");
}
