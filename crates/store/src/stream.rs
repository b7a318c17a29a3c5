//! Live subscriptions (docs/protocol.md, "Live stream"): every stored event gets a position in
//! the store's commit order, and a subscriber reads the events after its position that match
//! its filter, page by page.
//!
//! Contract for every engine: positions only grow, are never reused (a removed event's position
//! stays spent), and once a position is visible to a reader no event with a smaller position
//! becomes visible later. So a subscriber that has seen everything up to P and asks for what is
//! after P misses nothing and repeats nothing. SQLite keeps it with one writer and an
//! AUTOINCREMENT sequence; an engine with several writers must hand out positions in commit
//! order (for example under a lock taken just before commit).

use agora_protocol::{PublicKey, wire};

/// What a subscriber wants; an empty list means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamFilter {
    /// Events signed by one of these keys.
    pub systems: Vec<PublicKey>,
    /// Events of one of these content types.
    pub content_types: Vec<u64>,
    /// Events that reference one of these subjects (kind and subject key, as the reference
    /// index stores them: 2 with a pointer's slot key, 3 with raw bytes).
    pub references: Vec<(u64, Vec<u8>)>,
}

/// One page of a subscription.
#[derive(Clone, Debug, Default)]
pub struct StreamPage {
    /// The matching events after the asked position, oldest first, each with its position.
    pub events: Vec<(u64, wire::SignedEvent)>,
    /// Where the next page starts: the last position this read covered, even when nothing in
    /// that stretch matched (so a narrow filter does not rescan it).
    pub position: u64,
    /// The newest position in the store when the page was read: the subscriber has caught up
    /// when `position` reaches it.
    pub head: u64,
}

/// How many positions one read looks at, at most, whatever the filter: the cost of a page is
/// bounded even when almost nothing matches.
pub const STREAM_SCAN_MAX: u64 = 10_000;

/// Most bytes of one Server-Sent Events message a reader keeps: an event is at most 1 MiB, and
/// base64url in a message. A peer's longer message (one endless line) is cut off instead.
pub const MESSAGE_BYTES_MAX: usize = 4 * 1024 * 1024;

/// The bytes of the message still open after `chunk`, given `pending` before it (messages end
/// at a blank line).
pub fn open_message_bytes(pending: usize, chunk: &[u8]) -> usize {
    match chunk.windows(2).rposition(|pair| pair == b"\n\n") {
        Some(end) => chunk.len() - end - 2,
        None => pending + chunk.len(),
    }
}
