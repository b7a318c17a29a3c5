//! The last-writer-wins order of `agora_protocol::crdt` (spec section 3.3) as engines write it
//! in SQL, so every query that picks a winner (opinions, profile fields) sorts one way.
//!
//! Rows of LWW writes carry `lww_ms` (the element's unix milliseconds, a signed 64-bit integer
//! that ingest keeps below 2^63, `bounds.rs`) and `process` (16 bytes, which SQLite BLOBs and
//! PostgreSQL `bytea` both compare as unsigned bytes). Sorted by [`winner_first!`], the first
//! row is the write `crdt::LwwStamp` orders last. The conformance test
//! `opinion_ties_go_to_the_process_the_lww_order_names` holds every engine to it.

/// `ORDER BY` terms putting the winning LWW write first; a literal, for `concat!`.
macro_rules! winner_first {
    () => {
        "lww_ms DESC, process DESC"
    };
}

pub(crate) use winner_first;
