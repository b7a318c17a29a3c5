//! The server's configuration: one typed struct, every field with its default.

use std::net::SocketAddr;
use std::time::Duration;

use agora_store::IngestLimits;

/// How a server listens and what it accepts. `Default` is `agora serve` with no flags.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:8081`, the reference server's port; port 0
    /// picks a free port (tests).
    pub listen: SocketAddr,
    pub limits: Limits,
    /// Challenges, purge and handles (`crate::identity`).
    pub identity: IdentityConfig,
    /// The operator token for `/censor` and `/uncensor`. Default none: operator routes
    /// answer 403.
    pub admin_token: Option<AdminToken>,
    /// Live subscriptions (`GET /stream`).
    pub stream: crate::live::StreamConfig,
    /// Peers whose identities this server keeps copies of. Default none.
    pub mirrors: Vec<crate::mirror::MirrorConfig>,
    /// Serve the embedded web client at `/` (`crate::web`). Default on; the API routes are the
    /// same either way.
    pub web_client: bool,
    /// Connection caps and timeouts (`crate::connections`).
    pub connections: crate::connections::ConnectionLimits,
    /// Rate limits per client address and per identity (`crate::ratelimit`).
    pub rate_limits: crate::ratelimit::RateLimits,
}

/// The operator's secret. Its `Debug` form hides the value, so logging a config never leaks it.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// A token; `None` when it is empty (an empty token would let an empty header in).
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        (!token.is_empty()).then_some(Self(token))
    }

    /// The secret bytes, for the constant-time comparison only.
    pub(crate) fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// Who may bind a handle without proof (docs/protocol.md, "Identity routes").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HandlePolicy {
    /// Default. Unsigned claims (what official clients send) bind free handles and move a
    /// system whose current binding is unsigned, as in the reference server, so anyone can
    /// bind or move an unproven system's handle. A binding made with proof can only be changed
    /// by another signed claim of the same system.
    #[default]
    Open,
    /// Every claim must carry a challenge signed by the system; unsigned claims get 401.
    Proof,
}

/// Challenges (`GET /challenge`) and the signed requests that spend them.
#[derive(Clone, Debug)]
pub struct IdentityConfig {
    /// Who may claim handles without proof. Default [`HandlePolicy::Open`].
    pub handle_policy: HandlePolicy,
    /// HMAC key for challenges. Unset (the default): the store's own key, made at random with
    /// the store, which every node over the store shares.
    pub challenge_key: Option<Vec<u8>>,
    /// How long a challenge may be spent after it was issued. Default 5 minutes.
    pub challenge_lifetime: Duration,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            handle_policy: HandlePolicy::default(),
            challenge_key: None,
            challenge_lifetime: Duration::from_secs(5 * 60),
        }
    }
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
    /// Most bytes of request bodies held at once, over all requests; a request waits for its
    /// share (503 when none frees in time). Default 256 MiB.
    pub body_budget_bytes: u64,
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
            identity: IdentityConfig::default(),
            admin_token: None,
            stream: crate::live::StreamConfig::default(),
            mirrors: Vec::new(),
            web_client: true,
            connections: crate::connections::ConnectionLimits::default(),
            rate_limits: crate::ratelimit::RateLimits::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_bytes_max: 32 * 1024 * 1024,
            body_budget_bytes: 256 * 1024 * 1024,
            events_per_batch_max: 1_000,
            ingest: IngestLimits::default(),
            query_limit_max: 1_000,
            events_per_response_max: 2_000,
            event_types_max: 64,
        }
    }
}
