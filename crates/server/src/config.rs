//! The server's configuration: one typed struct, every field with its default.

use std::net::SocketAddr;

use agora_store::IngestLimits;

/// How a server listens and what it accepts. `Default` is `agora serve` with no flags.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:8081`, the reference server's port; port 0
    /// picks a free port (tests).
    pub listen: SocketAddr,
    pub limits: Limits,
}

/// Every limit the server enforces, so no request can make it do unbounded work.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request body, in bytes. Default 32 MiB (a 20-event batch of 512 KiB blob
    /// sections, the largest an official client sends, is about 10 MiB). Over it: 413.
    pub body_bytes_max: usize,
    /// Most events in one `POST /events`. Default 1 000. Over it: 413.
    pub events_per_batch_max: usize,
    /// Largest serialized event (default 1 MiB) and post text (default 10 000 bytes).
    pub ingest: IngestLimits,
    /// Largest page a `limit` parameter may ask for; larger values are cut to it. Default 1 000.
    pub query_limit_max: usize,
    /// Most events one `GET /events` returns; clients ask again for the rest. Default 2 000.
    pub events_per_response_max: usize,
    /// Most content types one `/query_latest` may ask for. Default 64. Over it: 400.
    pub event_types_max: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            limits: Limits::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes_max: 32 * 1024 * 1024,
            events_per_batch_max: 1_000,
            ingest: IngestLimits::default(),
            query_limit_max: 1_000,
            events_per_response_max: 2_000,
            event_types_max: 64,
        }
    }
}
