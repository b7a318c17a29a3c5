//! Integration tests of the protocol crate: golden wire vectors and property tests.

mod golden;
mod properties;
