//! HTTP integration tests: real servers on port 0 (agora-testnet), real keys, real requests.

mod bad_input;
mod curation;
mod devices;
mod discovery;
mod edge_values;
mod fuzz;
mod identity;
mod ingest;
mod mirror;
mod moderation;
mod observe;
mod ratelimit;
mod reads;
mod shutdown;
mod stream;
mod support;
