//! Post edits (Agora extension; docs/protocol.md, "Edits"): a POST_EDIT event carries a post's
//! new text and refers to the post; the latest edit by the post's own key wins, and every
//! version stays readable. Official clients never see a changed post: the original's signed
//! bytes are untouched, and the edit is an event of a type they skip.

use prost::Message as _;

use crate::author::{Draft, pointer_reference};
use crate::content::POST_EDIT;
use crate::event::{Reference, VerifiedEvent};
use crate::keys::Pointer;
use crate::wire;

/// What an author publishes to give `post` the text `text`.
pub fn edit_draft(post: &Pointer, text: &str) -> Draft {
    let body = wire::Post {
        content: Some(text.to_owned()),
        image: None,
    };
    Draft {
        content_type: POST_EDIT,
        content: body.encode_to_vec(),
        references: vec![pointer_reference(post)],
        ..Draft::default()
    }
}

/// The post an edit refers to, when `event` is a well-formed edit.
pub fn edit_target(event: &VerifiedEvent) -> Option<Pointer> {
    if event.content_type() != POST_EDIT {
        return None;
    }
    match event.references() {
        [Reference::Pointer(pointer)] => Some(*pointer),
        _ => None,
    }
}

/// The edited text of an edit.
pub fn edit_text(event: &VerifiedEvent) -> Option<String> {
    wire::Post::decode(event.event().content.clone())
        .ok()
        .and_then(|post| post.content)
}

/// Where an edit stands among the edits of one post: later event time wins, then the larger
/// process, then the larger clock, so every reader picks the same latest version.
pub fn edit_order(event: &VerifiedEvent) -> (u64, [u8; 16], u64) {
    (
        event.unix_milliseconds().unwrap_or(0),
        *event.process().as_bytes(),
        event.logical_clock(),
    )
}

/// The content rule of POST_EDIT: a `Post` body with text within `text_bytes_max`, and exactly
/// one reference, a pointer to the edited post.
pub fn check(event: &VerifiedEvent, text_bytes_max: usize) -> Result<(), String> {
    let text = edit_text(event).ok_or("an edit must carry a Post body with text")?;
    if text.len() > text_bytes_max {
        return Err(format!(
            "edited text is {} bytes, over the limit of {text_bytes_max}",
            text.len()
        ));
    }
    if edit_target(event).is_none() {
        return Err("an edit must have exactly one reference: a pointer to the post".into());
    }
    Ok(())
}
