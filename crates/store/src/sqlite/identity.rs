//! Handles and claims in SQLite: the `handles`, `claims` and `claim_fields` tables.
//!
//! Claims are recorded by ingest in the same transaction as their event, and removed by the
//! `claims_follow_events` trigger whenever the event row goes, so no removal path can leave a
//! claim behind. Vouches are found through the `refs` table ingest already keeps. Stores older
//! than the claims table get their CLAIM events indexed once at open ([`prepare`]).

use agora_protocol::{PublicKey, VerifiedEvent, content, wire};
use prost::Message as _;
use rusqlite::{Connection, OptionalExtension as _, Transaction, params};

use crate::prepare::{decode_event, signed_event};
use crate::{
    ClaimFieldMatch, ClaimQuery, ClaimVouchQuery, HandleBinding, HandleClaimOutcome, HandleFacts,
    StoreError, VouchedClaim,
};

type Result<T> = std::result::Result<T, StoreError>;

/// Records a newly inserted CLAIM event (row `id`) and its fields. Other types are ignored, and
/// so is a claim body that does not decode (ingest's content check refuses those first).
pub(super) fn record_claim(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    id: i64,
) -> rusqlite::Result<()> {
    if event.content_type() != content::CLAIM {
        return Ok(());
    }
    index_claim(tx, id, event.system().as_bytes(), &event.event().content)
}

/// Writes the `claims` and `claim_fields` rows of the CLAIM event `id` from its content.
fn index_claim(
    connection: &Connection,
    id: i64,
    system: &[u8],
    body: &[u8],
) -> rusqlite::Result<()> {
    let Ok(claim) = wire::Claim::decode(body) else {
        return Ok(());
    };
    connection
        .prepare_cached("INSERT INTO claims (event_id, system, claim_type) VALUES (?1, ?2, ?3)")?
        .execute(params![id, system, claim.claim_type as i64])?;
    let mut insert = connection
        .prepare_cached("INSERT INTO claim_fields (event_id, key, value) VALUES (?1, ?2, ?3)")?;
    for field in &claim.claim_fields {
        insert.execute(params![id, field.key as i64, field.value])?;
    }
    Ok(())
}

/// Spent challenges pruned per spend: more than one, so the table shrinks whenever expired
/// rows wait, and bounded, so no spend pays for a backlog.
const SPENT_PRUNE_PER_SPEND: i64 = 8;

/// The store's challenge key (migration 2 writes it).
pub(super) fn challenge_key(connection: &Connection) -> Result<[u8; 32]> {
    let key: Vec<u8> = connection.query_row(
        "SELECT value FROM store_settings WHERE name = 'challenge_key'",
        [],
        |row| row.get(0),
    )?;
    key.try_into()
        .map_err(|_| StoreError::Corrupt("the stored challenge key is not 32 bytes".into()))
}

/// Records a spend unless the challenge was spent already; prunes a few expired spends.
pub(super) fn spend_challenge(
    tx: &Transaction<'_>,
    challenge: &[u8; 32],
    expires_ms: u64,
    now_ms: u64,
) -> Result<bool> {
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    tx.prepare_cached(
        "DELETE FROM spent_challenges WHERE challenge IN (SELECT challenge FROM spent_challenges
         WHERE expires_ms < ?1 ORDER BY expires_ms LIMIT ?2)",
    )?
    .execute(params![now, SPENT_PRUNE_PER_SPEND])?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO spent_challenges (challenge, expires_ms) VALUES (?1, ?2)
             ON CONFLICT (challenge) DO NOTHING",
        )?
        .execute(params![
            &challenge[..],
            i64::try_from(expires_ms).unwrap_or(i64::MAX)
        ])?;
    Ok(inserted == 1)
}

/// Every handle binding, by handle.
pub(super) fn all_bindings(connection: &Connection) -> Result<Vec<HandleBinding>> {
    let mut statement =
        connection.prepare_cached("SELECT handle, system, proven FROM handles ORDER BY handle")?;
    let rows = statement.query_map([], |row| {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, Vec<u8>>(1)?,
            row.get::<_, bool>(2)?,
        ))
    })?;
    let mut bindings = Vec::new();
    for row in rows {
        let (handle, system, proven) = row?;
        let system = PublicKey::from_bytes(&system)
            .map_err(|error| StoreError::Corrupt(error.to_string()))?;
        bindings.push(HandleBinding {
            handle,
            system,
            proven,
        });
    }
    Ok(bindings)
}

/// Every spend that has not expired by `now_ms`.
pub(super) fn spent_challenges(
    connection: &Connection,
    now_ms: u64,
) -> Result<Vec<([u8; 32], u64)>> {
    let mut statement = connection.prepare_cached(
        "SELECT challenge, expires_ms FROM spent_challenges WHERE expires_ms >= ?1",
    )?;
    let rows = statement.query_map([i64::try_from(now_ms).unwrap_or(i64::MAX)], |row| {
        Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, i64>(1)?))
    })?;
    let mut spent = Vec::new();
    for row in rows {
        let (challenge, expires_ms) = row?;
        if let Ok(challenge) = <[u8; 32]>::try_from(challenge) {
            spent.push((challenge, expires_ms as u64));
        }
    }
    Ok(spent)
}

/// The `identity_meta` key present once every stored CLAIM is indexed.
const CLAIMS_INDEXED: &str = "claims_indexed";

/// Indexes the CLAIM events stored before the claims table existed, once, before the server
/// takes requests. A store that already did (or was created with the table) costs one lookup.
/// The backfill is one transaction, so a crash leaves the marker unset and the next open redoes
/// it from scratch. VOUCH events need nothing: they are found through `refs`, which ingest has
/// always kept.
pub(super) fn prepare(connection: &mut Connection) -> Result<()> {
    let indexed = connection
        .prepare_cached("SELECT 1 FROM identity_meta WHERE key = ?1")?
        .exists([CLAIMS_INDEXED])?;
    if indexed {
        return Ok(());
    }
    let tx = connection.transaction()?;
    tx.execute("DELETE FROM claim_fields", [])?;
    tx.execute("DELETE FROM claims", [])?;
    let stored: Vec<(i64, Vec<u8>, Vec<u8>)> = tx
        .prepare("SELECT id, system, event FROM events WHERE content_type = ?1")?
        .query_map([content::CLAIM as i64], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    for (id, system, bytes) in &stored {
        index_claim(&tx, *id, system, &decode_event(bytes)?.content)?;
    }
    tx.execute(
        "INSERT INTO identity_meta (key, value) VALUES (?1, '1')",
        [CLAIMS_INDEXED],
    )?;
    tx.commit()?;
    if !stored.is_empty() {
        tracing::info!(
            claims = stored.len(),
            "indexed claims stored before the claims table"
        );
    }
    Ok(())
}

/// Makes handles unique whatever their case, once, in a store made when they were
/// case-sensitive: where bindings differ only in case (`alice` and `Alice`), the oldest
/// (earliest `updated_ms`, then the first inserted) stays and the others are released. A
/// released system keeps its events and may claim another handle, or this one once its holder
/// lets it go; it is logged, since its owner may wonder where its handle went. The
/// `handles_folded` index is the marker: it is created in the same transaction, and it would
/// refuse the duplicates this removes.
pub(super) fn fold_handles(connection: &mut Connection) -> Result<()> {
    let folded = connection
        .prepare_cached(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'handles_folded'",
        )?
        .exists([])?;
    if folded {
        return Ok(());
    }
    let tx = connection.transaction()?;
    let released: Vec<(i64, String, Vec<u8>)> = tx
        .prepare(
            "SELECT rowid, handle, system FROM (
                 SELECT rowid, handle, system,
                        row_number() OVER (PARTITION BY lower(handle)
                                           ORDER BY updated_ms, rowid) AS rank
                 FROM handles)
             WHERE rank > 1",
        )?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (rowid, handle, system) in &released {
        tx.execute("DELETE FROM handles WHERE rowid = ?1", [rowid])?;
        let system = PublicKey::from_bytes(system)
            .map_or_else(|_| "(unreadable key)".to_owned(), |key| key.to_string());
        tracing::warn!(
            handle,
            system,
            "released a handle that differs only in case from an older binding"
        );
    }
    tx.execute(
        "CREATE UNIQUE INDEX handles_folded ON handles (handle COLLATE NOCASE)",
        [],
    )?;
    tx.commit()?;
    Ok(())
}

/// Binds a handle in the writer's transaction; see [`crate::Store::claim_handle`].
pub(super) fn claim_handle(
    tx: &Transaction<'_>,
    system: &PublicKey,
    handle: &str,
    proven: bool,
    now_ms: i64,
) -> Result<HandleClaimOutcome> {
    let refused = tx
        .prepare_cached(
            "SELECT 1 FROM censored_systems WHERE system = ?1 AND kind = 'refuse_storage'",
        )?
        .exists([system.as_bytes().as_slice()])?;
    let facts = HandleFacts {
        refused,
        holder: binding_of_handle(tx, handle)?,
        current: binding_of_system(tx, system)?,
    };
    if let Some(outcome) = crate::identity::decide_claim(system, handle, proven, facts) {
        return Ok(outcome);
    }
    tx.prepare_cached("DELETE FROM handles WHERE system = ?1")?
        .execute([system.as_bytes().as_slice()])?;
    tx.prepare_cached(
        "INSERT INTO handles (handle, system, proven, updated_ms) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![
        handle,
        system.as_bytes().as_slice(),
        proven,
        now_ms
    ])?;
    Ok(HandleClaimOutcome::Bound)
}

/// Removes the system's binding; returns the handle it held.
pub(super) fn release_handle(tx: &Transaction<'_>, system: &PublicKey) -> Result<Option<String>> {
    let released = binding_of_system(tx, system)?.map(|binding| binding.handle);
    tx.prepare_cached("DELETE FROM handles WHERE system = ?1")?
        .execute([system.as_bytes().as_slice()])?;
    Ok(released)
}

/// The binding of `handle` in any case (handles are ASCII, so `NOCASE` folds them exactly),
/// spelled as it was claimed.
pub(super) fn binding_of_handle(
    connection: &Connection,
    handle: &str,
) -> Result<Option<HandleBinding>> {
    let row: Option<(String, Vec<u8>, bool)> = connection
        .prepare_cached(
            "SELECT handle, system, proven FROM handles WHERE handle = ?1 COLLATE NOCASE",
        )?
        .query_row([handle], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .optional()?;
    row.map(binding).transpose()
}

fn binding_of_system(connection: &Connection, system: &PublicKey) -> Result<Option<HandleBinding>> {
    let row: Option<(String, Vec<u8>, bool)> = connection
        .prepare_cached("SELECT handle, system, proven FROM handles WHERE system = ?1")?
        .query_row([system.as_bytes().as_slice()], |row| {
            Ok((row.get(0)?, row.get(1)?, row.get(2)?))
        })
        .optional()?;
    row.map(binding).transpose()
}

fn binding((handle, system, proven): (String, Vec<u8>, bool)) -> Result<HandleBinding> {
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
pub(super) fn resolve_claims(
    connection: &Connection,
    query: &ClaimQuery,
) -> Result<Vec<VouchedClaim>> {
    let candidates = match &query.fields {
        ClaimFieldMatch::AnyField(value) => claims_with_value(connection, query.claim_type, value)?,
        ClaimFieldMatch::AllFields(fields) => {
            claims_with_fields(connection, query.claim_type, None, fields)?
        }
    };
    let mut matches = Vec::new();
    for claim in candidates {
        for vouch in vouches(connection, &claim.slot, &query.trust_root)? {
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
pub(super) fn find_claim_and_vouch(
    connection: &Connection,
    query: &ClaimVouchQuery,
) -> Result<Option<VouchedClaim>> {
    let candidates = claims_with_fields(
        connection,
        query.claim_type,
        Some(&query.claiming_system),
        &query.fields,
    )?;
    let mut best: Option<(i64, VouchedClaim)> = None;
    for claim in candidates {
        let latest = vouches(connection, &claim.slot, &query.vouching_system)?
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

fn claim_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<ClaimRow> {
    let mut slot: Vec<u8> = row.get(3)?;
    slot.extend_from_slice(&row.get::<_, Vec<u8>>(4)?);
    slot.extend_from_slice(&(row.get::<_, i64>(5)? as u64).to_be_bytes());
    Ok(ClaimRow {
        id: row.get(0)?,
        signed: signed_event(row.get(1)?, row.get(2)?),
        slot,
    })
}

fn claims_with_value(
    connection: &Connection,
    claim_type: u64,
    value: &str,
) -> Result<Vec<ClaimRow>> {
    let sql = format!(
        "SELECT DISTINCT {CLAIM_COLUMNS} FROM claim_fields f
         JOIN claims c ON c.event_id = f.event_id
         JOIN events e ON e.id = c.event_id
         WHERE f.value = ?1 AND c.claim_type = ?2"
    );
    let rows = connection
        .prepare_cached(&sql)?
        .query_map(params![value, claim_type as i64], claim_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Claims of a type (of one system, when given) holding every (key, value) pair.
fn claims_with_fields(
    connection: &Connection,
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
                 WHERE f.value = ?1 AND f.key = ?2 AND c.claim_type = ?3
                   AND (?4 IS NULL OR c.system = ?4)"
            );
            connection
                .prepare_cached(&sql)?
                .query_map(
                    params![value, *key as i64, claim_type as i64, system],
                    claim_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
        None => {
            let sql = format!(
                "SELECT {CLAIM_COLUMNS} FROM claims c JOIN events e ON e.id = c.event_id
                 WHERE c.claim_type = ?1 AND (?2 IS NULL OR c.system = ?2)"
            );
            connection
                .prepare_cached(&sql)?
                .query_map(params![claim_type as i64, system], claim_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?
        }
    };
    let mut matching = Vec::new();
    for candidate in candidates {
        if holds_fields(connection, candidate.id, fields)? {
            matching.push(candidate);
        }
    }
    Ok(matching)
}

fn holds_fields(connection: &Connection, id: i64, fields: &[(u64, String)]) -> Result<bool> {
    let mut statement = connection.prepare_cached(
        "SELECT 1 FROM claim_fields WHERE event_id = ?1 AND key = ?2 AND value = ?3",
    )?;
    for (key, value) in fields {
        if !statement.exists(params![id, *key as i64, value])? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Live VOUCH events of `voucher` pointing at the claim's slot, newest first, with their time.
fn vouches(
    connection: &Connection,
    claim_slot: &[u8],
    voucher: &PublicKey,
) -> Result<Vec<(i64, wire::SignedEvent)>> {
    let rows = connection
        .prepare_cached(
            "SELECT COALESCE(v.unix_ms, 0), v.signature, v.event FROM refs r
             JOIN events v ON v.id = r.event_id
             WHERE r.kind = ?1 AND r.subject = ?2 AND r.from_type = ?3 AND v.system = ?4
             ORDER BY v.unix_ms DESC, v.id DESC",
        )?
        .query_map(
            params![
                content::REFERENCE_POINTER as i64,
                claim_slot,
                content::VOUCH as i64,
                voucher.as_bytes().as_slice()
            ],
            |row| Ok((row.get(0)?, signed_event(row.get(1)?, row.get(2)?))),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    //! The one-time claims backfill at open, on a store whose claims rows (and marker) are gone
    //! as in a store written before the claims table existed.

    use agora_protocol::author::{Draft, pointer_reference};
    use agora_protocol::content;
    use rusqlite::Connection;

    use crate::sqlite::curation::tests::{author, claim};
    use crate::sqlite::{SqliteOptions, SqliteStore};
    use crate::{ClaimFieldMatch, ClaimQuery, ClaimVouchQuery, IngestOutcome, Store as _};

    async fn resolved(store: &SqliteStore, trust_root: agora_protocol::PublicKey) -> usize {
        store
            .resolve_claims(ClaimQuery {
                claim_type: 1,
                trust_root,
                fields: ClaimFieldMatch::AnyField("alice@example".into()),
                limit: 10,
            })
            .await
            .expect("resolve")
            .len()
    }

    fn rows(connection: &Connection, table: &str) -> i64 {
        connection
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .expect("count")
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn claims_stored_before_the_claims_table_are_indexed_once_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (mut alice, mut verifier) = (author(1), author(7));
        let claim = claim(&mut alice, "alice@example", 100);
        let vouch = verifier
            .publish(
                Draft {
                    content_type: content::VOUCH,
                    references: vec![pointer_reference(&claim.pointer())],
                    ..Draft::default()
                },
                200,
            )
            .expect("vouch");

        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        let outcomes = store
            .ingest(vec![claim.clone(), vouch.clone()])
            .await
            .expect("ingest");
        assert_eq!(outcomes, vec![IngestOutcome::Stored; 2]);
        assert_eq!(resolved(&store, verifier.system()).await, 1);

        // What a store from before the claims table looks like: events, no claim rows, no
        // marker, no schema version.
        let raw = Connection::open(dir.path().join(SqliteStore::FILE_NAME)).expect("raw");
        raw.execute_batch(
            "DELETE FROM claims; DELETE FROM claim_fields; DELETE FROM identity_meta;
             PRAGMA user_version = 0;",
        )
        .expect("forget claims");
        assert_eq!(
            resolved(&store, verifier.system()).await,
            0,
            "the claim is unindexed"
        );
        drop(store);

        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen");
        assert_eq!(
            resolved(&store, verifier.system()).await,
            1,
            "resolve_claim finds it"
        );
        let found = store
            .find_claim_and_vouch(ClaimVouchQuery {
                claim_type: 1,
                claiming_system: alice.system(),
                vouching_system: verifier.system(),
                fields: vec![(1, "alice@example".into())],
            })
            .await
            .expect("find")
            .expect("the pair");
        assert_eq!(found.claim, claim.to_signed());
        assert_eq!(found.vouch, vouch.to_signed());
        drop(store);

        // Indexed once: the backfill set the marker, and a later open that finds it scans
        // nothing (the rows removed behind its back stay removed).
        let claims_marker: i64 = raw
            .query_row(
                "SELECT COUNT(*) FROM identity_meta WHERE key = ?1",
                [super::CLAIMS_INDEXED],
                |row| row.get(0),
            )
            .expect("marker");
        assert_eq!(claims_marker, 1);
        raw.execute_batch("DELETE FROM claims; DELETE FROM claim_fields;")
            .expect("forget rows");
        let _store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen");
        assert_eq!(rows(&raw, "claims"), 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn bindings_differing_only_in_case_keep_the_oldest_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("open");
        drop(store);
        let (alice, bob, carol) = (author(1), author(2), author(3));
        // A store from when handles were case-sensitive: no folded index, and bindings that
        // differ only in case. Bob's `Alice` is the oldest; Carol's `carol` has no twin.
        let raw = Connection::open(dir.path().join(SqliteStore::FILE_NAME)).expect("raw");
        raw.execute_batch("DROP INDEX handles_folded; PRAGMA user_version = 0;")
            .expect("old store");
        let mut insert = raw
            .prepare(
                "INSERT INTO handles (handle, system, proven, updated_ms) VALUES (?1, ?2, ?3, ?4)",
            )
            .expect("prepare");
        for (handle, who, proven, updated_ms) in [
            ("alice", &alice, true, 200),
            ("Alice", &bob, false, 100),
            ("carol", &carol, false, 300),
        ] {
            insert
                .execute(rusqlite::params![
                    handle,
                    who.system().as_bytes().as_slice(),
                    proven,
                    updated_ms
                ])
                .expect("insert");
        }

        let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("reopen");
        let found = store
            .resolve_handle("ALICE".into())
            .await
            .expect("resolve")
            .expect("bound");
        assert_eq!(
            (found.handle.as_str(), found.system),
            ("Alice", bob.system())
        );
        assert_eq!(rows(&raw, "handles"), 2, "alice's binding is released");
        assert_eq!(
            store
                .claim_handle(alice.system(), "ALICE".into(), true)
                .await
                .expect("claim"),
            crate::HandleClaimOutcome::Taken(bob.system())
        );
        let carol_found = store.resolve_handle("Carol".into()).await.expect("resolve");
        assert_eq!(carol_found.map(|b| b.system), Some(carol.system()));
    }
}
