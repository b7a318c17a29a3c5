//! The Agora client library: one identity kept in a home directory, an offline-first local
//! store, publishing to every one of the identity's servers, and reads that succeed from any
//! server that has the data.
//!
//! Every event that enters the local store is a [`agora_protocol::VerifiedEvent`]: own events are
//! signed here, and events from servers are verified (signature and system) before ingest.

mod client;
mod devices;
mod discover;
mod error;
mod export;
mod handles;
mod home;
mod images;
mod read;
mod recovery;
mod refusals;
mod remote;
mod state;
mod sync;
mod watch;

pub use client::{Client, ClientOptions, REQUEST_TIMEOUT, normalize_server};
pub use devices::{Device, PAIRING_POLL};
pub use discover::{Found, FoundProfile, TimeRange, TimeRangeError, Topic};
pub use error::ClientError;
pub use export::{Bundle, BundleError, import_bundle};
pub use handles::{HandleAnswer, HandleHolder};
pub use home::Home;
pub use images::{
    AVATAR_SIDES, BLOB_SECTION_BYTES_MAX, IMAGE_SECTIONS_MAX, ImageError, PNG_MIME,
    POST_IMAGE_SIDE_MAX, Png, avatar_images, post_image, reassemble,
};
pub use read::{FeedPost, PostStats, post_manifest, post_stats_request, post_view, reply_target};
pub use recovery::{
    RECOVERY_WORDS, RecoveryError, confirmation_words, recovery_words, secret_from_words,
};
pub use refusals::Refusal;
pub use remote::ServerError;
pub use state::{ImageInfo, PostView, Profile};
pub use sync::{
    Gathered, PULL_CLOCKS, PUSH_BYTES_MAX, PUSH_CLOCKS_MAX, ServerFailure, SyncReport,
    verify_served,
};
pub use watch::{WATCH_RECONNECT, Watched};
