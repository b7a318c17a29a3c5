//! Integration tests of the store crate: one conformance suite that every engine runs, plus the
//! batch preparation that happens before any engine sees an event.

mod conformance;
mod prepare;
mod sqlite;
