//! Integration tests of the protocol crate: golden wire vectors, property tests, and arbitrary
//! input to every parser of untrusted bytes.

mod fuzz;
mod golden;
mod properties;
