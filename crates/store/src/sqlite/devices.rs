//! Device revocations on SQLite: the `device_revocations` index of stored DEVICE_REVOKE events,
//! read for the ingest rules, and dropping what a late revocation cuts off. The rules are
//! engine-neutral ([`crate::devices`]); this only finds and removes rows.

use agora_protocol::devices::Revocation;
use agora_protocol::{PublicKey, VerifiedEvent};
use rusqlite::{Transaction, params};

use super::ingest::clock_sql;
use crate::prepare::signed_event;

/// After a DEVICE_REVOKE was stored as row `id`: indexes it and removes the device's stored
/// events that it does not keep, with everything derived from them. Returns how many went.
pub(super) fn record(
    tx: &Transaction<'_>,
    event: &VerifiedEvent,
    id: i64,
) -> rusqlite::Result<usize> {
    let Some(revocation) = crate::devices::revocation(event) else {
        return Ok(0);
    };
    let device = revocation.device.as_bytes().as_slice();
    tx.prepare_cached(
        "INSERT OR IGNORE INTO device_revocations (event_id, device) VALUES (?1, ?2)",
    )?
    .execute(params![id, device])?;
    let slots: Vec<(Vec<u8>, i64)> = tx
        .prepare_cached("SELECT process, logical_clock FROM events WHERE system = ?1")?
        .query_map([device], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut removed = 0;
    for (process, clock) in slots {
        let kept = agora_protocol::Process::from_bytes(&process)
            .is_ok_and(|process| revocation.permits(&process, clock as u64));
        if !kept && super::curation::remove_slot(tx, device, &process, clock_sql(clock as u64))? {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Every stored revocation of `device`, read back from its event.
pub(super) fn revocations(
    tx: &Transaction<'_>,
    device: &PublicKey,
) -> rusqlite::Result<Vec<Revocation>> {
    let rows: Vec<(Vec<u8>, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT events.signature, events.event FROM device_revocations
             JOIN events ON events.id = device_revocations.event_id
             WHERE device_revocations.device = ?1",
        )?
        .query_map([device.as_bytes().as_slice()], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(signature, event)| {
            VerifiedEvent::verify(&signed_event(signature, event)).ok()
        })
        .filter_map(|event| crate::devices::revocation(&event))
        .collect())
}
