//! HTTP integration tests: real servers on port 0 (agora-testnet), real keys, real requests.

mod bad_input;
mod ingest;
mod reads;
mod shutdown;
mod support;
