//! Post edits at ingest (docs/protocol.md, "Edits"): which edits a store refuses. Engine-
//! neutral; an engine finds what is stored in the edited slot and keeps search on the latest
//! version.

use agora_protocol::edits::edit_target;
use agora_protocol::{VerifiedEvent, content};

use crate::ingest::SlotState;

/// Why `edit` must be refused, given what its target slot holds: only the post's own key may
/// edit it, only posts are edited, and a deleted post stays deleted.
pub fn refusal(edit: &VerifiedEvent, slot: SlotState) -> Option<String> {
    let target = edit_target(edit)?;
    if target.system != *edit.system() {
        return Some(format!(
            "only the post's author can edit it: the post is {}'s, the edit is signed by {}",
            target.system,
            edit.system()
        ));
    }
    match slot {
        SlotState::Empty => None,
        SlotState::Deleted => Some("the post was deleted; a deleted post stays deleted".into()),
        SlotState::Stored(content::POST) => None,
        SlotState::Stored(other) => Some(format!(
            "an edit must refer to a post; the event it names is of type {other}"
        )),
    }
}
