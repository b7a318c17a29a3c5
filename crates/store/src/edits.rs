//! Post edits at ingest (docs/protocol.md, "Edits"): which edits a store refuses. Engine-
//! neutral; an engine finds what is stored in the edited slot and keeps search on the latest
//! version.

use agora_protocol::edits::edit_target;
use agora_protocol::{VerifiedEvent, content};

/// What is stored in the slot an edit refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EditedSlot {
    /// Nothing yet: the edit waits for its post.
    Empty,
    /// A tombstone: the post was deleted.
    Deleted,
    /// An event of this content type.
    Stored(u64),
}

/// Why `edit` must be refused, given what its target slot holds: only the post's own key may
/// edit it, only posts are edited, and a deleted post stays deleted.
pub fn refusal(edit: &VerifiedEvent, slot: EditedSlot) -> Option<String> {
    let target = edit_target(edit)?;
    if target.system != *edit.system() {
        return Some(format!(
            "only the post's author can edit it: the post is {}'s, the edit is signed by {}",
            target.system,
            edit.system()
        ));
    }
    match slot {
        EditedSlot::Empty => None,
        EditedSlot::Deleted => Some("the post was deleted; a deleted post stays deleted".into()),
        EditedSlot::Stored(content::POST) => None,
        EditedSlot::Stored(other) => Some(format!(
            "an edit must refer to a post; the event it names is of type {other}"
        )),
    }
}
