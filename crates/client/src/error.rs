//! The client's error type: each message names what failed and, where it helps, what to do.

use std::path::PathBuf;

use agora_protocol::{EventError, Pointer};
use agora_store::StoreError;

/// Why a client operation failed. Failures of one server during sync are not errors of the
/// operation: they are reported beside the result (see `Gathered`).
///
/// Pointers are boxed: a `Pointer` keeps its decompressed key, and every `Result` would
/// otherwise carry its size.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "an identity already exists at {}; refusing to overwrite it (choose another directory)",
        path.display()
    )]
    IdentityExists { path: PathBuf },
    #[error("cannot read or write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} is malformed: {reason}", path.display())]
    Malformed { path: PathBuf, reason: String },
    #[error(
        "{} is readable by group or others (mode {mode:o}); run `chmod 600` on it",
        path.display()
    )]
    KeyPermissions { path: PathBuf, mode: u32 },
    #[error("local store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot sign event: {0}")]
    Sign(#[from] EventError),
    #[error("local store refused an event: {0}")]
    Refused(String),
    #[error("post text is {0} bytes, over the limit of {max}", max = agora_protocol::content::POST_TEXT_BYTES_MAX)]
    PostTooLong(usize),
    #[error("event {0:?} is not in the local store; pull it first")]
    NotFound(Box<Pointer>),
    #[error("cannot delete {0:?}: it belongs to another system")]
    NotOwn(Box<Pointer>),
    #[error("cannot delete {0:?}: it is a delete itself")]
    DeleteOfDelete(Box<Pointer>),
    #[error(transparent)]
    Image(#[from] crate::ImageError),
    #[error(
        "this home is a device, and only the identity's root key may {0}: run the command where \
         the root key is, or restore it from the recovery words (`agora recovery restore`)"
    )]
    NotRoot(String),
    #[error("{0}")]
    Device(String),
    #[error("cannot use the CA certificate: {0}")]
    CaCertificate(String),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[source] reqwest::Error),
}
