//! Values of operator curation (`POST /censor`, `agora admin`): what an operator can censor,
//! how strongly, and what a censorship did.
//!
//! Two strengths, as in the reference server (spec section 4.3), but both enforced here:
//! - [`CensorshipKind::DoNotRecommend`] keeps storage as it is; discovery routes (search,
//!   explore, trending, recommended profiles) leave the target out. Sync routes keep serving it.
//! - [`CensorshipKind::RefuseStorage`] removes what is stored of the target and refuses it at
//!   ingest from then on.

use std::fmt;

use agora_protocol::{Process, PublicKey};

/// How strongly a target is censored. `RefuseStorage` is the stronger and implies the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CensorshipKind {
    /// Stored and served as usual, never recommended by discovery routes.
    DoNotRecommend,
    /// Removed, and refused at ingest.
    RefuseStorage,
}

impl CensorshipKind {
    /// The name used on the wire (`censorship_type`) and in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::DoNotRecommend => "do_not_recommend",
            Self::RefuseStorage => "refuse_storage",
        }
    }

    /// Reads a wire or database name; `-` may stand for `_` (command-line spelling).
    pub fn parse(text: &str) -> Option<Self> {
        match text.replace('-', "_").as_str() {
            "do_not_recommend" => Some(Self::DoNotRecommend),
            "refuse_storage" => Some(Self::RefuseStorage),
            _ => None,
        }
    }
}

impl fmt::Display for CensorshipKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is censored: a whole system, or one event slot of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CensorTarget {
    System(PublicKey),
    Event {
        system: PublicKey,
        process: Process,
        logical_clock: u64,
    },
}

impl CensorTarget {
    /// The system the target belongs to.
    pub fn system(&self) -> &PublicKey {
        match self {
            Self::System(system) | Self::Event { system, .. } => system,
        }
    }
}

/// One censorship in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Censorship {
    pub target: CensorTarget,
    pub kind: CensorshipKind,
    /// When the current kind was set, in Unix milliseconds.
    pub created_ms: u64,
}

/// What [`crate::Store::censor`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CensorOutcome {
    /// The kind in force now: the stronger of the requested and any earlier one.
    pub kind: CensorshipKind,
    /// Whether anything changed (false when the same or a stronger kind was already in force).
    pub changed: bool,
    /// Stored events removed by this call (refuse_storage only).
    pub events_removed: usize,
}
