//! Integration tests of the store crate: one conformance suite that every engine runs, plus the
//! batch preparation that happens before any engine sees an event, and arbitrary input to the
//! parsers of operator and peer input.

mod conformance;
mod fuzz;
mod postgres;
mod prepare;
mod sqlite;
