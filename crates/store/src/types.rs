//! Values that cross the store contract.

use agora_protocol::{Process, PublicKey, wire};

/// A failure of the store itself (not of the caller's input).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine itself failed; `engine` names it (`sqlite`), `source` is its own error.
    #[error("{engine}: {source}")]
    Engine {
        engine: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot open store at {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("store writer has stopped")]
    WriterGone,
    #[error("cannot start the store thread {name}: {source}")]
    Thread {
        name: &'static str,
        source: std::io::Error,
    },
    /// The disk (or the store's quota) is full: nothing more can be written until space
    /// returns. Reads still work.
    #[error("the store's disk is full: {0}")]
    Full(String),
    /// The store cannot be written at all now (a read-only file or file system).
    #[error("the store cannot be written: {0}")]
    ReadOnly(String),
    /// The write queue is full: the writer is behind; try again shortly.
    #[error("the store's write queue is full")]
    Busy,
    #[error("stored event is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
}

/// What ingest did with one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Newly stored (and durable).
    Stored,
    /// Already held: nothing changed.
    Duplicate,
    /// Its slot was deleted before it arrived: dropped, and the tombstone stands for it.
    AlreadyDeleted,
    /// Refused, with a reason naming what was wrong.
    Rejected(crate::ingest::Rejection),
}

impl IngestOutcome {
    /// Whether the sender may consider the event delivered (a retry would change nothing).
    pub fn is_accepted(&self) -> bool {
        !matches!(self, Self::Rejected(_))
    }
}

/// Where a page of a per-type feed starts, newest first. Both bounds are exclusive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IndexCursor {
    /// The newest events.
    #[default]
    Start,
    /// The official `after` parameter: events strictly older than this millisecond.
    BeforeMillis(u64),
    /// Agora's cursor: events strictly after this position in feed order, so a page boundary
    /// inside one millisecond loses nothing.
    After {
        unix_milliseconds: u64,
        process: Process,
        logical_clock: u64,
    },
}

impl IndexCursor {
    pub const BYTES: usize = 8 + 16 + 8;

    pub fn encode(unix_milliseconds: u64, process: &Process, logical_clock: u64) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(Self::BYTES);
        bytes.extend_from_slice(&unix_milliseconds.to_be_bytes());
        bytes.extend_from_slice(process.as_bytes());
        bytes.extend_from_slice(&logical_clock.to_be_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != Self::BYTES {
            return None;
        }
        let (ms, rest) = bytes.split_at(8);
        let (process, clock) = rest.split_at(16);
        Some(Self::After {
            unix_milliseconds: u64::from_be_bytes(ms.try_into().ok()?),
            process: Process::from_bytes(process).ok()?,
            logical_clock: u64::from_be_bytes(clock.try_into().ok()?),
        })
    }
}

#[derive(Clone, Debug)]
pub struct IndexQuery {
    pub system: PublicKey,
    pub content_type: u64,
    pub cursor: IndexCursor,
    pub limit: usize,
}

#[derive(Clone, Debug, Default)]
pub struct IndexPage {
    pub events: Vec<wire::SignedEvent>,
    pub proof: Vec<wire::SignedEvent>,
    /// Where the next page starts, when this one was full.
    pub next: Option<Vec<u8>>,
}

/// A subject of a references query: a pointer's slot key, a set of byte strings, or a system's
/// key (Agora: the FOLLOW events naming it, docs/protocol.md "Followers").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Pointer([u8; 56]),
    Bytes(Vec<Vec<u8>>),
    System([u8; 32]),
}

/// One count to compute: LWW-element references with a value, or plain references.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CountSpec {
    LwwValue {
        value: Vec<u8>,
        from_type: Option<u64>,
    },
    References {
        from_type: Option<u64>,
    },
}

#[derive(Clone, Debug)]
pub struct ReferencesQuery {
    pub subject: Subject,
    /// Present when the caller wants the referencing events themselves.
    pub events: Option<ReferencingEvents>,
    pub counts: Vec<CountSpec>,
    pub cursor: Option<ReferencesCursor>,
    pub page_size: usize,
}

#[derive(Clone, Debug)]
pub struct ReferencingEvents {
    pub from_type: Option<u64>,
    pub counts: Vec<CountSpec>,
}

/// Keyset position in a references page: items are ordered by (likes − dislikes, arrival)
/// descending, and the next page starts strictly after this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReferencesCursor {
    pub score: i64,
    pub id: i64,
}

impl ReferencesCursor {
    pub const BYTES: usize = 16;

    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = self.score.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.id.to_be_bytes());
        bytes
    }

    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let (score, id) = bytes.split_at_checked(8)?;
        Some(Self {
            score: i64::from_be_bytes(score.try_into().ok()?),
            id: i64::from_be_bytes(id.try_into().ok()?),
        })
    }
}

#[derive(Clone, Debug, Default)]
pub struct ReferencesPage {
    pub items: Vec<(wire::SignedEvent, Vec<u64>)>,
    pub counts: Vec<u64>,
    pub cursor: Option<Vec<u8>>,
}
