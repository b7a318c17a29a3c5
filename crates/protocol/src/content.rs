//! Content-type and reference-type numbers (spec sections 3.2 and 3.4).
//!
//! Content is opaque to the server except for the few types whose rules it enforces; any other
//! number is stored and served unchanged.

/// A content-type number. Unknown numbers are valid and opaque.
pub type ContentType = u64;

pub const DELETE: ContentType = 1;
pub const SYSTEM_PROCESSES: ContentType = 2;
pub const POST: ContentType = 3;
pub const FOLLOW: ContentType = 4;
pub const USERNAME: ContentType = 5;
pub const DESCRIPTION: ContentType = 6;
pub const BLOB_META: ContentType = 7;
pub const BLOB_SECTION: ContentType = 8;
pub const AVATAR: ContentType = 9;
pub const SERVER: ContentType = 10;
pub const VOUCH: ContentType = 11;
pub const CLAIM: ContentType = 12;
pub const BANNER: ContentType = 13;
pub const OPINION: ContentType = 14;
pub const STORE: ContentType = 15;
pub const AUTHORITY: ContentType = 16;
pub const JOIN_TOPIC: ContentType = 17;
pub const BLOCK: ContentType = 18;
pub const BLOCK_TOPIC: ContentType = 19;

/// Agora extension types (docs/protocol.md), numbered from 1000, far above every client's.
/// Device keys: a device's acceptance of an identity, the identity's authorization of a device,
/// and its revocation (see [`crate::devices`]).
pub const DEVICE_ACCEPT: ContentType = 1000;
pub const DEVICE_AUTHORIZE: ContentType = 1001;
pub const DEVICE_REVOKE: ContentType = 1002;
/// A post's new text, referring to the post (see [`crate::edits`]).
pub const POST_EDIT: ContentType = 1003;

/// The largest post text, in UTF-8 bytes, that the reference server accepts.
pub const POST_TEXT_BYTES_MAX: usize = 10_000;

/// Opinion values carried in an OPINION event's `lww_element.value`.
pub mod opinion {
    pub const LIKE: &[u8] = &[1];
    pub const DISLIKE: &[u8] = &[2];
    pub const NEUTRAL: &[u8] = &[3];
}

/// A reference-type number (spec section 3.4).
pub type ReferenceType = u64;

pub const REFERENCE_SYSTEM: ReferenceType = 1;
pub const REFERENCE_POINTER: ReferenceType = 2;
pub const REFERENCE_BYTES: ReferenceType = 3;

/// Key type 1, the only one: Ed25519.
pub const KEY_TYPE_ED25519: u64 = 1;
/// Digest type 1, the only one: SHA-256.
pub const DIGEST_TYPE_SHA256: u64 = 1;

/// Checks the rules the server enforces on the content of the few types it reads (spec section
/// 5.1 step 6, and section 3.5): the reference server answered these with 500; we name them.
pub fn check(verified: &crate::VerifiedEvent, post_text_bytes_max: usize) -> Result<(), String> {
    use prost::Message as _;
    let event = verified.event();
    let utf8 = |value: &[u8], what: &str| {
        std::str::from_utf8(value)
            .map(|_| ())
            .map_err(|_| format!("{what} value is not UTF-8"))
    };
    match event.content_type {
        DELETE => {
            let delete = crate::wire::Delete::decode(event.content.clone())
                .map_err(|error| format!("malformed Delete body: {error}"))?;
            let process = delete.process.ok_or("delete body is missing process")?;
            if process.process.len() != 16 {
                return Err(format!(
                    "delete target process must be 16 bytes, got {}",
                    process.process.len()
                ));
            }
            if delete.content_type == DELETE {
                return Err("a delete cannot target another delete".into());
            }
            if delete.indices.is_none() {
                return Err("delete body is missing indices".into());
            }
            if crate::devices::is_device_statement(delete.content_type) {
                return Err(
                    "device statements cannot be deleted; revoke the device instead".into(),
                );
            }
        }
        POST => {
            let post = crate::wire::Post::decode(event.content.clone())
                .map_err(|error| format!("malformed Post body: {error}"))?;
            let text = post.content.ok_or("post has no content")?;
            if text.len() > post_text_bytes_max {
                return Err(format!(
                    "post text is {} bytes, over the limit of {post_text_bytes_max}",
                    text.len()
                ));
            }
        }
        USERNAME | DESCRIPTION | STORE => {
            let element = event
                .lww_element
                .as_ref()
                .ok_or("event must have lww_element")?;
            utf8(&element.value, "lww_element")?;
        }
        OPINION => {
            event
                .lww_element
                .as_ref()
                .ok_or("opinion must have lww_element")?;
            if event.references.is_empty() {
                return Err("opinion must reference its subject".into());
            }
        }
        SERVER | AUTHORITY => {
            let element = event
                .lww_element_set
                .as_ref()
                .ok_or("event must have lww_element_set")?;
            utf8(&element.value, "lww_element_set")?;
        }
        CLAIM => {
            crate::wire::Claim::decode(event.content.clone())
                .map_err(|error| format!("malformed Claim body: {error}"))?;
        }
        DEVICE_ACCEPT | DEVICE_AUTHORIZE | DEVICE_REVOKE => crate::devices::check(verified)?,
        POST_EDIT => crate::edits::check(verified, post_text_bytes_max)?,
        _ => {}
    }
    Ok(())
}
