//! Copying a whole SQLite store into an empty PostgreSQL one (`agora admin migrate --to`), so
//! a server keeps its users when it grows past one machine, and checking the copy.
//!
//! Events are the store: every derived row (tombstones, counts, winners, scores, search,
//! claims, revocations, labels) is a function of the live events, so the copy re-ingests them
//! in the order they were stored and the target's own ingest rebuilds the rest. What is not a
//! function of events is copied as it is: handles, censorships, the challenge key and the
//! spends not yet expired. Stream positions start afresh: live subscribers resubscribe.

use std::collections::BTreeSet;

use agora_protocol::PublicKey;

use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::{CensorTarget, IngestLimits, IngestOutcome, Store, StoreError};

/// Events read and ingested per step.
const EVENTS_PER_STEP: usize = 1_000;

/// No limit: a stored event was accepted under its server's limits, whatever they are now.
const STORED: IngestLimits = IngestLimits {
    event_bytes_max: usize::MAX,
    post_text_bytes_max: usize::MAX,
};

/// What a copy moved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub events: usize,
    pub systems: usize,
    pub handles: usize,
    pub censorships: usize,
    pub spent_challenges: usize,
}

/// Copies `source` into `target`, which must hold no event, vacuums and analyzes it (a bulk load
/// leaves the planner without statistics), then checks that every system's ranges, every handle and every censorship read the same from both. `progress` hears the
/// number of events copied so far after each step.
pub async fn sqlite_to_postgres(
    source: &SqliteStore,
    target: &PgStore,
    now_ms: u64,
    progress: impl Fn(usize),
) -> Result<Copied, StoreError> {
    if !target.is_empty().await? {
        return Err(StoreError::Invalid(
            "the target database already holds events; migrate into an empty one".into(),
        ));
    }
    let mut copied = Copied::default();
    target.adopt_challenge_key(source.challenge_key()).await?;
    for (challenge, expires_ms) in source.spent_challenges(now_ms).await? {
        target
            .spend_challenge(challenge, expires_ms, now_ms)
            .await?;
        copied.spent_challenges += 1;
    }
    let censorships = source.censorships().await?;
    for censorship in &censorships {
        target
            .censor(censorship.target.clone(), censorship.kind)
            .await?;
    }
    copied.censorships = censorships.len();

    let mut systems = BTreeSet::new();
    let mut after = 0;
    loop {
        let page = source.events_after(after, EVENTS_PER_STEP).await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = *last;
        let signed = page.into_iter().map(|(_, event)| event).collect();
        let mut events = Vec::new();
        for prepared in crate::prepare_batch(signed, STORED) {
            let event = prepared.map_err(|reason| {
                StoreError::Corrupt(format!("a stored event no longer verifies: {reason}"))
            })?;
            systems.insert(*event.system().as_bytes());
            events.push(event);
        }
        for outcome in target.ingest(events).await? {
            match outcome {
                IngestOutcome::Stored => copied.events += 1,
                IngestOutcome::Rejected(rejection) => {
                    return Err(StoreError::Invalid(format!(
                        "the target refused a stored event: {rejection}"
                    )));
                }
                // A repeated DELETE of a slot and such: held already, as in the source.
                IngestOutcome::Duplicate | IngestOutcome::AlreadyDeleted => {}
            }
        }
        progress(copied.events);
    }
    copied.systems = systems.len();

    let handles = source.handles().await?;
    for binding in &handles {
        target
            .claim_handle(binding.system, binding.handle.clone(), binding.proven)
            .await?;
    }
    copied.handles = handles.len();

    target.vacuum_analyze().await?;
    verify(source, target, &systems).await?;
    Ok(copied)
}

/// Checks that `target` reads as `source` does: the ranges of every system, every handle, and
/// the censorships in force.
async fn verify(
    source: &SqliteStore,
    target: &PgStore,
    systems: &BTreeSet<[u8; 32]>,
) -> Result<(), StoreError> {
    let differs = |what: String| StoreError::Invalid(format!("the copy differs: {what}"));
    for bytes in systems {
        let system =
            PublicKey::from_bytes(bytes).map_err(|error| StoreError::Corrupt(error.to_string()))?;
        if source.ranges(system).await? != target.ranges(system).await? {
            return Err(differs(format!("the ranges of {system}")));
        }
    }
    for binding in source.handles().await? {
        let copied = target.resolve_handle(binding.handle.clone()).await?;
        if copied.as_ref() != Some(&binding) {
            return Err(differs(format!("the handle {}", binding.handle)));
        }
    }
    let in_force = |censorships: Vec<crate::Censorship>| -> BTreeSet<(Vec<u8>, &'static str)> {
        censorships
            .into_iter()
            .map(|censorship| {
                let target = match censorship.target {
                    CensorTarget::System(system) => system.as_bytes().to_vec(),
                    CensorTarget::Event {
                        system,
                        process,
                        logical_clock,
                    } => [
                        &system.as_bytes()[..],
                        process.as_bytes(),
                        &logical_clock.to_be_bytes(),
                    ]
                    .concat(),
                };
                (target, censorship.kind.as_str())
            })
            .collect()
    };
    if in_force(source.censorships().await?) != in_force(target.censorships().await?) {
        return Err(differs("the censorships in force".into()));
    }
    Ok(())
}
