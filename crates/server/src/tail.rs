//! The recent tail of the store's commit log, read once for all live subscribers.
//!
//! Without it every subscription reads the store on every commit: with a thousand subscribers,
//! a thousand reads per post. One task reads what was committed after the tail's end (woken by
//! this node's commits, and polling for other nodes') and keeps the newest events in memory;
//! a subscription whose position lies within the tail filters it in memory, and any other
//! reads the store as before. The tail is only a copy of what the store says, so nothing in
//! it is needed for correctness.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};

use agora_protocol::{Reference, wire};
use agora_store::{Store, StreamFilter, StreamPage};
use prost::Message as _;
use tokio::sync::watch;

use crate::AppState;

/// Most events the tail keeps, and most bytes of them.
const TAIL_EVENTS_MAX: usize = 10_000;
const TAIL_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Events one refill reads from the store.
const REFILL_EVENTS: usize = 1_000;

/// One committed event and what filters look at.
#[derive(Debug)]
struct Entry {
    position: u64,
    signed: wire::SignedEvent,
    system: Vec<u8>,
    content_type: u64,
    subjects: Vec<(u64, Vec<u8>)>,
}

impl Entry {
    fn of(position: u64, signed: wire::SignedEvent) -> Self {
        let event = wire::Event::decode(signed.event.clone()).unwrap_or_default();
        let system = event
            .system
            .as_ref()
            .map(|key| key.key.to_vec())
            .unwrap_or_default();
        let subjects = event
            .references
            .iter()
            .filter_map(|reference| Reference::parse(reference).ok()?.subject_key())
            .collect();
        Self {
            position,
            signed,
            system,
            content_type: event.content_type,
            subjects,
        }
    }

    fn matches(&self, filter: &StreamFilter) -> bool {
        (filter.systems.is_empty()
            || filter
                .systems
                .iter()
                .any(|key| key.as_bytes().as_slice() == self.system))
            && (filter.content_types.is_empty()
                || filter.content_types.contains(&self.content_type))
            && (filter.references.is_empty()
                || self
                    .subjects
                    .iter()
                    .any(|subject| filter.references.contains(subject)))
    }
}

/// The events after `covered_from` up to `covered_to`, all of them, in commit order.
#[derive(Debug, Default)]
struct Ring {
    covered_from: u64,
    covered_to: u64,
    entries: VecDeque<Entry>,
    bytes: usize,
}

#[derive(Debug)]
pub struct Tail {
    ring: RwLock<Ring>,
    /// Bumped after every refill, so subscriptions read the new tail.
    updated: watch::Sender<u64>,
}

impl Tail {
    fn new(start: u64) -> Self {
        Self {
            ring: RwLock::new(Ring {
                covered_from: start,
                covered_to: start,
                ..Ring::default()
            }),
            updated: watch::channel(0).0,
        }
    }

    pub fn updates(&self) -> watch::Receiver<u64> {
        self.updated.subscribe()
    }

    /// The page after `position` matching `filter`, when the tail holds everything after it;
    /// `None` sends the subscription to the store.
    pub fn page_after(
        &self,
        position: u64,
        filter: &StreamFilter,
        limit: usize,
    ) -> Option<StreamPage> {
        let ring = self
            .ring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if position < ring.covered_from || position > ring.covered_to {
            return None;
        }
        let start = ring
            .entries
            .partition_point(|entry| entry.position <= position);
        let mut events = Vec::new();
        let mut last = ring.covered_to;
        for entry in ring.entries.iter().skip(start) {
            if entry.matches(filter) {
                events.push((entry.position, entry.signed.clone()));
                if events.len() == limit {
                    last = entry.position;
                    break;
                }
            }
        }
        Some(StreamPage {
            events,
            position: last,
            head: ring.covered_to,
        })
    }

    fn covered_to(&self) -> u64 {
        self.ring
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .covered_to
    }

    /// Appends a page the store gave after `covered_to`, and forgets the oldest beyond the caps.
    fn append(&self, page: StreamPage) {
        {
            let mut ring = self
                .ring
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            for (position, signed) in page.events {
                ring.bytes += signed.event.len();
                ring.entries.push_back(Entry::of(position, signed));
            }
            ring.covered_to = ring.covered_to.max(page.position);
            while ring.entries.len() > TAIL_EVENTS_MAX || ring.bytes > TAIL_BYTES_MAX {
                let Some(oldest) = ring.entries.pop_front() else {
                    break;
                };
                ring.bytes -= oldest.signed.event.len();
                ring.covered_from = oldest.position;
            }
        }
        self.updated.send_modify(|count| *count += 1);
    }
}

/// Starts the task that keeps the tail; it ends when the server closes.
pub fn start<S: Store>(state: &Arc<AppState<S>>) {
    let state = Arc::clone(state);
    tokio::spawn(async move {
        let start = match state.store.stream_head().await {
            Ok(head) => head,
            Err(error) => {
                tracing::warn!(%error, "no stream tail: subscriptions read the store");
                return;
            }
        };
        let tail = Arc::new(Tail::new(start));
        if state.live.tail.set(Arc::clone(&tail)).is_err() {
            return;
        }
        refill(&state, &tail).await;
    });
}

async fn refill<S: Store>(state: &AppState<S>, tail: &Tail) {
    let mut commits = state.live.commits();
    let mut closing = state.live.closing();
    loop {
        commits.mark_unchanged();
        let page = match state
            .store
            .stream_after(tail.covered_to(), StreamFilter::default(), REFILL_EVENTS)
            .await
        {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "stream tail read failed");
                tokio::time::sleep(state.config.stream.poll_interval).await;
                continue;
            }
        };
        let behind = page.position < page.head;
        tail.append(page);
        if behind {
            continue;
        }
        tokio::select! {
            _ = commits.changed() => {}
            _ = closing.changed() => return,
            () = tokio::time::sleep(state.config.stream.poll_interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_protocol::author::Author;
    use agora_protocol::{Process, SecretKey};

    fn page(author: &mut Author, positions: std::ops::RangeInclusive<u64>) -> StreamPage {
        let events: Vec<(u64, wire::SignedEvent)> = positions
            .clone()
            .map(|at| (at, author.post("tail", at).expect("sign").to_signed()))
            .collect();
        StreamPage {
            events,
            position: *positions.end(),
            head: *positions.end(),
        }
    }

    #[test]
    fn the_tail_serves_what_it_covers_and_sends_older_positions_to_the_store() {
        let mut alice = Author::new(SecretKey::from_seed(&[1; 32]), Process::random());
        let mut bob = Author::new(SecretKey::from_seed(&[2; 32]), Process::random());
        let tail = Tail::new(10);
        tail.append(page(&mut alice, 11..=13));
        tail.append(page(&mut bob, 14..=14));
        let everything = StreamFilter::default();
        let read = tail.page_after(10, &everything, 100).expect("covered");
        let positions: Vec<u64> = read.events.iter().map(|(at, _)| *at).collect();
        assert_eq!(positions, [11, 12, 13, 14]);
        assert_eq!((read.position, read.head), (14, 14));
        let only_bob = StreamFilter {
            systems: vec![bob.system()],
            ..StreamFilter::default()
        };
        let read = tail.page_after(11, &only_bob, 100).expect("covered");
        assert_eq!(read.events.len(), 1);
        assert_eq!(read.events[0].0, 14);
        let first_two = tail.page_after(10, &everything, 2).expect("covered");
        assert_eq!(first_two.position, 12, "a full page ends at its last event");
        assert!(
            tail.page_after(9, &everything, 100).is_none(),
            "before the tail: the store"
        );
        assert!(
            tail.page_after(15, &everything, 100).is_none(),
            "past the tail: the store"
        );
    }
}
