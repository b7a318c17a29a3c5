//! Handles, claims and challenges on PostgreSQL (the SQLite engine's `sqlite/identity.rs`):
//! the `handles`, `claims` and `claim_fields` tables.
//!
//! Claims are recorded by ingest in the same transaction as their event, and removed with the
//! event row (their foreign keys cascade), so no removal path can leave a claim behind. Vouches
//! are found through the `refs` table ingest already keeps.

use agora_protocol::{PublicKey, VerifiedEvent, content, wire};
use deadpool_postgres::Transaction;
use prost::Message as _;
use tokio_postgres::{Client, Row};

use super::cached::Cached as _;

use super::int;
use crate::prepare::signed_event;
use crate::{
    ClaimFieldMatch, ClaimQuery, ClaimVouchQuery, HandleBinding, HandleClaimOutcome, HandleFacts,
    StoreError, VouchedClaim,
};

type Result<T> = std::result::Result<T, StoreError>;

/// Spent challenges pruned per spend (as the SQLite engine).
const SPENT_PRUNE_PER_SPEND: i64 = 8;

/// The store's challenge key, made at the first start (by whichever node gets there first).
pub(super) async fn challenge_key(client: &Client) -> Result<[u8; 32]> {
    let mut key = [0_u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut key);
    client
        .execute(
            "INSERT INTO store_settings (name, value) VALUES ('challenge_key', $1)
             ON CONFLICT (name) DO NOTHING",
            &[&&key[..]],
        )
        .await?;
    let stored: Vec<u8> = client
        .query_one(
            "SELECT value FROM store_settings WHERE name = 'challenge_key'",
            &[],
        )
        .await?
        .get(0);
    stored
        .try_into()
        .map_err(|_| StoreError::Corrupt("the stored challenge key is not 32 bytes".into()))
}

/// Records a spend unless the challenge was spent already; prunes a few expired spends.
pub(super) async fn spend_challenge(
    client: &Client,
    challenge: &[u8; 32],
    expires_ms: u64,
    now_ms: u64,
) -> Result<bool> {
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    client
        .execute(
            "DELETE FROM spent_challenges WHERE challenge IN (SELECT challenge FROM spent_challenges
             WHERE expires_ms < $1 ORDER BY expires_ms LIMIT $2)",
            &[&now, &SPENT_PRUNE_PER_SPEND],
        )
        .await?;
    let inserted = client
        .execute(
            "INSERT INTO spent_challenges (challenge, expires_ms) VALUES ($1, $2)
             ON CONFLICT (challenge) DO NOTHING",
            &[
                &&challenge[..],
                &i64::try_from(expires_ms).unwrap_or(i64::MAX),
            ],
        )
        .await?;
    Ok(inserted == 1)
}

/// Records a newly inserted CLAIM event (row `id`) and its fields. Other types are ignored, and
/// so is a claim body that does not decode (ingest's content check refuses those first).
pub(super) async fn record_claim(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    id: i64,
) -> Result<()> {
    if event.content_type() != content::CLAIM {
        return Ok(());
    }
    let Ok(claim) = wire::Claim::decode(&event.event().content[..]) else {
        return Ok(());
    };
    tx.execute(
        "INSERT INTO claims (event_id, system, claim_type) VALUES ($1, $2, $3)",
        &[&id, &&event.system().as_bytes()[..], &int(claim.claim_type)],
    )
    .await?;
    for field in &claim.claim_fields {
        tx.execute(
            "INSERT INTO claim_fields (event_id, key, value) VALUES ($1, $2, $3)",
            &[&id, &int(field.key), &field.value],
        )
        .await?;
    }
    Ok(())
}

/// The key `handles.folded` holds and handles are looked up by: the SQLite engine compares
/// handles with `COLLATE NOCASE`, which folds ASCII letters only, and so does this (handles
/// are ASCII, so it folds them exactly; anything else compares as spelled, as there).
fn folded(handle: &str) -> String {
    handle.to_ascii_lowercase()
}

/// Binds a handle in a write transaction; see [`crate::Store::claim_handle`].
pub(super) async fn claim_handle(
    tx: &Transaction<'_>,
    system: &PublicKey,
    handle: &str,
    proven: bool,
    now_ms: i64,
) -> Result<HandleClaimOutcome> {
    let key = &system.as_bytes()[..];
    let refused = tx
        .query_opt(
            "SELECT 1 FROM censored_systems WHERE system = $1 AND kind = 'refuse_storage'",
            &[&key],
        )
        .await?
        .is_some();
    let (holder, current) =
        futures::try_join!(binding_of_handle(tx, handle), binding_of_system(tx, system))?;
    let facts = HandleFacts {
        refused,
        holder,
        current,
    };
    if let Some(outcome) = crate::identity::decide_claim(system, handle, proven, facts) {
        return Ok(outcome);
    }
    tx.execute("DELETE FROM handles WHERE system = $1", &[&key])
        .await?;
    tx.execute(
        "INSERT INTO handles (handle, folded, system, proven, updated_ms)
         VALUES ($1, $2, $3, $4, $5)",
        &[&handle, &folded(handle), &key, &proven, &now_ms],
    )
    .await?;
    Ok(HandleClaimOutcome::Bound)
}

/// Removes the system's binding; returns the handle it held.
pub(super) async fn release_handle(
    tx: &Transaction<'_>,
    system: &PublicKey,
) -> Result<Option<String>> {
    let released = binding_of_system(tx, system)
        .await?
        .map(|binding| binding.handle);
    tx.execute(
        "DELETE FROM handles WHERE system = $1",
        &[&&system.as_bytes()[..]],
    )
    .await?;
    Ok(released)
}

/// The binding of `handle` in any case, spelled as it was claimed.
pub(super) async fn binding_of_handle(
    tx: &Transaction<'_>,
    handle: &str,
) -> Result<Option<HandleBinding>> {
    tx.query_opt(
        "SELECT handle, system, proven FROM handles WHERE folded = $1",
        &[&folded(handle)],
    )
    .await?
    .map(binding)
    .transpose()
}

async fn binding_of_system(
    tx: &Transaction<'_>,
    system: &PublicKey,
) -> Result<Option<HandleBinding>> {
    tx.query_opt(
        "SELECT handle, system, proven FROM handles WHERE system = $1",
        &[&&system.as_bytes()[..]],
    )
    .await?
    .map(binding)
    .transpose()
}

fn binding(row: Row) -> Result<HandleBinding> {
    let (handle, system, proven): (String, Vec<u8>, bool) = (row.get(0), row.get(1), row.get(2));
    let system = PublicKey::from_bytes(&system)
        .map_err(|error| StoreError::Corrupt(format!("handle {handle:?} system: {error}")))?;
    Ok(HandleBinding {
        handle,
        system,
        proven,
    })
}

/// A stored claim: its row id and signed event, and where it sits (for finding vouches).
struct ClaimRow {
    id: i64,
    signed: wire::SignedEvent,
    slot: Vec<u8>,
}

/// `/resolve_claim` (spec section 6.4), with at most `query.limit` results.
pub(super) async fn resolve_claims(
    tx: &Transaction<'_>,
    query: &ClaimQuery,
) -> Result<Vec<VouchedClaim>> {
    let candidates = match &query.fields {
        ClaimFieldMatch::AnyField(value) => claims_with_value(tx, query.claim_type, value).await?,
        ClaimFieldMatch::AllFields(fields) => {
            claims_with_fields(tx, query.claim_type, None, fields).await?
        }
    };
    let mut matches = Vec::new();
    for claim in candidates {
        for vouch in vouches(tx, &claim.slot, &query.trust_root).await? {
            matches.push((vouch.0, claim.id, claim.signed.clone(), vouch.1));
        }
    }
    // Newest vouch first; ties in a stable order so pages are repeatable.
    matches.sort_by(|left, right| right.0.cmp(&left.0).then(left.1.cmp(&right.1)));
    matches.truncate(query.limit);
    Ok(matches
        .into_iter()
        .map(|(_, _, claim, vouch)| VouchedClaim { claim, vouch })
        .collect())
}

/// `/find_claim_and_vouch`: the latest vouch over every matching claim of the system.
pub(super) async fn find_claim_and_vouch(
    tx: &Transaction<'_>,
    query: &ClaimVouchQuery,
) -> Result<Option<VouchedClaim>> {
    let candidates = claims_with_fields(
        tx,
        query.claim_type,
        Some(&query.claiming_system),
        &query.fields,
    )
    .await?;
    let mut best: Option<(i64, VouchedClaim)> = None;
    for claim in candidates {
        let latest = vouches(tx, &claim.slot, &query.vouching_system)
            .await?
            .into_iter()
            .next()
            .filter(|(vouch_ms, _)| best.as_ref().is_none_or(|(best_ms, _)| vouch_ms > best_ms));
        if let Some((vouch_ms, vouch)) = latest {
            best = Some((
                vouch_ms,
                VouchedClaim {
                    claim: claim.signed,
                    vouch,
                },
            ));
        }
    }
    Ok(best.map(|(_, found)| found))
}

const CLAIM_COLUMNS: &str = "e.id, e.signature, e.event, e.system, e.process, e.logical_clock";

fn claim_row(row: &Row) -> ClaimRow {
    let mut slot: Vec<u8> = row.get(3);
    slot.extend_from_slice(&row.get::<_, Vec<u8>>(4));
    slot.extend_from_slice(&(row.get::<_, i64>(5) as u64).to_be_bytes());
    ClaimRow {
        id: row.get(0),
        signed: signed_event(row.get(1), row.get(2)),
        slot,
    }
}

async fn claims_with_value(
    tx: &Transaction<'_>,
    claim_type: u64,
    value: &str,
) -> Result<Vec<ClaimRow>> {
    let sql = format!(
        "SELECT DISTINCT {CLAIM_COLUMNS} FROM claim_fields f
         JOIN claims c ON c.event_id = f.event_id
         JOIN events e ON e.id = c.event_id
         WHERE f.value = $1 AND c.claim_type = $2"
    );
    let rows = tx.query(&sql, &[&value, &int(claim_type)]).await?;
    Ok(rows.iter().map(claim_row).collect())
}

/// Claims of a type (of one system, when given) holding every (key, value) pair.
async fn claims_with_fields(
    tx: &Transaction<'_>,
    claim_type: u64,
    system: Option<&PublicKey>,
    fields: &[(u64, String)],
) -> Result<Vec<ClaimRow>> {
    let system = system.map(|system| system.as_bytes().to_vec());
    // With a field to match, start from the claims holding its value (indexed); without one,
    // every claim of the type (of the system, when given) matches.
    let candidates = match fields.first() {
        Some((key, value)) => {
            let sql = format!(
                "SELECT DISTINCT {CLAIM_COLUMNS} FROM claim_fields f
                 JOIN claims c ON c.event_id = f.event_id
                 JOIN events e ON e.id = c.event_id
                 WHERE f.value = $1 AND f.key = $2 AND c.claim_type = $3
                   AND ($4::bytea IS NULL OR c.system = $4)"
            );
            tx.query(&sql, &[value, &int(*key), &int(claim_type), &system])
                .await?
        }
        None => {
            let sql = format!(
                "SELECT {CLAIM_COLUMNS} FROM claims c JOIN events e ON e.id = c.event_id
                 WHERE c.claim_type = $1 AND ($2::bytea IS NULL OR c.system = $2)"
            );
            tx.query(&sql, &[&int(claim_type), &system]).await?
        }
    };
    let mut matching = Vec::new();
    for candidate in candidates.iter().map(claim_row) {
        if holds_fields(tx, candidate.id, fields).await? {
            matching.push(candidate);
        }
    }
    Ok(matching)
}

async fn holds_fields(tx: &Transaction<'_>, id: i64, fields: &[(u64, String)]) -> Result<bool> {
    if fields.is_empty() {
        return Ok(true);
    }
    let statement = tx
        .prepare_cached(
            "SELECT 1 FROM claim_fields WHERE event_id = $1 AND key = $2 AND value = $3",
        )
        .await?;
    for (key, value) in fields {
        if tx
            .query_opt(&statement, &[&id, &int(*key), value])
            .await?
            .is_none()
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Live VOUCH events of `voucher` pointing at the claim's slot, newest first, with their time.
/// A vouch without a time sorts last, as SQLite orders NULL below every value.
async fn vouches(
    tx: &Transaction<'_>,
    claim_slot: &[u8],
    voucher: &PublicKey,
) -> Result<Vec<(i64, wire::SignedEvent)>> {
    let rows = tx
        .query(
            "SELECT COALESCE(v.unix_ms, 0), v.signature, v.event FROM refs r
             JOIN events v ON v.id = r.event_id
             WHERE r.kind = $1 AND r.subject = $2 AND r.from_type = $3 AND v.system = $4
             ORDER BY v.unix_ms DESC NULLS LAST, v.id DESC",
            &[
                &int(content::REFERENCE_POINTER),
                &claim_slot,
                &int(content::VOUCH),
                &&voucher.as_bytes()[..],
            ],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| (row.get(0), signed_event(row.get(1), row.get(2))))
        .collect())
}
