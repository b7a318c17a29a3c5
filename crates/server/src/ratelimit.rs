//! Rate limits: token buckets per client address and per identity, for the requests one client
//! could use to crowd out everyone else: writes, handle claims, challenges and the expensive
//! reads. Over a limit the answer is 429 with `Retry-After`; addresses on the operator's
//! allow-list are never limited.
//!
//! The defaults leave room for a person and for the official clients (a first sync pushes a whole
//! history at once), so only floods meet them. Buckets are kept per key and the idle ones are
//! dropped, so a flood of new addresses costs bounded memory.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use agora_protocol::PublicKey;
use agora_store::Store;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::AppState;

/// One limit: a sustained rate per second and a burst.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl Rate {
    const fn new(per_second: u32, burst: u32) -> Self {
        Self { per_second, burst }
    }

    fn quota(self) -> Quota {
        let per_second = NonZeroU32::new(self.per_second.max(1)).expect("at least 1");
        let burst = NonZeroU32::new(self.burst.max(1)).expect("at least 1");
        Quota::per_second(per_second).allow_burst(burst)
    }
}

/// The limits a server applies. `Default` is what `agora serve` runs with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Off: nothing is limited.
    pub enabled: bool,
    /// `POST /events` requests per client address.
    pub writes_per_address: Rate,
    /// Events in `POST /events` per client address, counted before their signatures are
    /// checked, so one address cannot make the server verify more than this.
    pub events_per_address: Rate,
    /// Events per identity (the signing key), summed over every address it writes from.
    pub events_per_identity: Rate,
    /// Handle claims and releases per client address.
    pub handles_per_address: Rate,
    /// Handle claims and releases per identity.
    pub handles_per_identity: Rate,
    /// `GET /challenge` per client address.
    pub challenges_per_address: Rate,
    /// Search, explore, trending, recommendations and `/query_references` per client address.
    pub expensive_reads_per_address: Rate,
    /// Addresses never limited (the operator's own tools, a load generator).
    pub allow: Vec<IpAddr>,
    /// Proxies whose `X-Forwarded-For` names the client (the address they forward for is the
    /// one limited).
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            writes_per_address: Rate::new(50, 500),
            events_per_address: Rate::new(1_000, 20_000),
            events_per_identity: Rate::new(500, 10_000),
            handles_per_address: Rate::new(1, 10),
            handles_per_identity: Rate::new(1, 5),
            challenges_per_address: Rate::new(5, 50),
            expensive_reads_per_address: Rate::new(20, 200),
            allow: Vec::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// What a request is limited as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Class {
    Write,
    Handle,
    Challenge,
    ExpensiveRead,
}

impl Class {
    fn of(method: &Method, path: &str) -> Option<Self> {
        match (method.as_str(), path) {
            ("POST", "/events") => Some(Self::Write),
            ("POST", "/claim_handle" | "/release_handle") => Some(Self::Handle),
            ("GET", "/challenge") => Some(Self::Challenge),
            (
                "GET",
                "/search"
                | "/explore"
                | "/top_string_references"
                | "/recommended_profiles"
                | "/query_references",
            ) => Some(Self::ExpensiveRead),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Write => "writes per address",
            Self::Handle => "handle claims per address",
            Self::Challenge => "challenges per address",
            Self::ExpensiveRead => "expensive reads per address",
        }
    }
}

/// The keyed buckets of every limit.
pub struct Limiter {
    config: RateLimits,
    per_address: [(Class, DefaultKeyedRateLimiter<IpAddr>); 4],
    events_per_address: DefaultKeyedRateLimiter<IpAddr>,
    events_per_identity: DefaultKeyedRateLimiter<[u8; 32]>,
    handles_per_identity: DefaultKeyedRateLimiter<[u8; 32]>,
}

/// What an identity is limited in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PerIdentity {
    Events,
    Handles,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("config", &self.config)
            .finish()
    }
}

/// Why a request was refused: which limit, and when to try again.
#[derive(Debug)]
pub struct Limited {
    pub limit: &'static str,
    pub retry_after: Duration,
}

impl IntoResponse for Limited {
    fn into_response(self) -> Response {
        let seconds = self.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        let mut response = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!(
                "too many requests: over this server's limit of {}; retry in {seconds} s",
                self.limit
            ),
        )
            .into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&seconds.to_string()).expect("digits"),
        );
        response
    }
}

impl Limiter {
    pub fn new(config: RateLimits) -> Self {
        fn keyed<K: std::hash::Hash + Eq + Clone>(rate: Rate) -> DefaultKeyedRateLimiter<K> {
            DefaultKeyedRateLimiter::keyed(rate.quota())
        }
        Self {
            per_address: [
                (Class::Write, keyed(config.writes_per_address)),
                (Class::Handle, keyed(config.handles_per_address)),
                (Class::Challenge, keyed(config.challenges_per_address)),
                (
                    Class::ExpensiveRead,
                    keyed(config.expensive_reads_per_address),
                ),
            ],
            events_per_address: keyed(config.events_per_address),
            events_per_identity: keyed(config.events_per_identity),
            handles_per_identity: keyed(config.handles_per_identity),
            config,
        }
    }

    /// The address a request is limited under: the peer, or the client a trusted proxy names.
    fn client(&self, peer: IpAddr, forwarded: Option<&HeaderValue>) -> IpAddr {
        if !self.config.trusted_proxies.contains(&peer) {
            return peer;
        }
        forwarded
            .and_then(|value| value.to_str().ok())
            .and_then(|list| list.split(',').next_back())
            .and_then(|last| last.trim().parse().ok())
            .unwrap_or(peer)
    }

    fn exempt(&self, client: IpAddr) -> bool {
        !self.config.enabled || self.config.allow.contains(&client)
    }

    fn check_address(&self, class: Class, client: IpAddr) -> Result<(), Limited> {
        let (_, limiter) = self
            .per_address
            .iter()
            .find(|(known, _)| *known == class)
            .expect("every class has a limiter");
        limiter.check_key(&client).map_err(|not_until| Limited {
            limit: class.label(),
            retry_after: not_until.wait_time_from(DefaultClock::default().now()),
        })
    }

    /// Spends `count` events of the client address's allowance, unless it is exempt; `None`
    /// (no address known) is never limited here.
    pub fn check_address_events(&self, client: Option<IpAddr>, count: u32) -> Result<(), Limited> {
        let Some(client) = client.filter(|client| !self.exempt(*client)) else {
            return Ok(());
        };
        spend(
            &self.events_per_address,
            &client,
            count,
            "events per address",
        )
    }

    /// Spends `count` of `identity`'s allowance of `what`, unless the client is exempt.
    pub fn check_identity(
        &self,
        what: PerIdentity,
        client: Option<IpAddr>,
        identity: &PublicKey,
        count: u32,
    ) -> Result<(), Limited> {
        if client.is_some_and(|client| self.exempt(client)) || !self.config.enabled {
            return Ok(());
        }
        let (limiter, limit) = match what {
            PerIdentity::Events => (&self.events_per_identity, "events per identity"),
            PerIdentity::Handles => (&self.handles_per_identity, "handle claims per identity"),
        };
        spend(limiter, identity.as_bytes(), count, limit)
    }

    /// Drops the buckets of keys that are back to full, so memory follows the active clients.
    pub fn forget_idle(&self) {
        for (_, limiter) in &self.per_address {
            limiter.retain_recent();
        }
        self.events_per_address.retain_recent();
        self.events_per_identity.retain_recent();
        self.handles_per_identity.retain_recent();
    }
}

/// Spends `count` of `key`'s allowance in `limiter`, named `limit` in a refusal.
fn spend<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    count: u32,
    limit: &'static str,
) -> Result<(), Limited> {
    let Some(count) = NonZeroU32::new(count) else {
        return Ok(());
    };
    let limited = |retry_after| Limited { limit, retry_after };
    match limiter.check_key_n(key, count) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(not_until)) => Err(limited(
            not_until.wait_time_from(DefaultClock::default().now()),
        )),
        // More events in one batch than the whole burst: never allowed at once.
        Err(_) => Err(limited(Duration::from_secs(1))),
    }
}

/// Drops idle buckets every minute while the server runs.
pub fn start_forgetting<S: Send + Sync + 'static>(state: &Arc<AppState<S>>) {
    let state = Arc::downgrade(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let Some(state) = state.upgrade() else {
                return;
            };
            state.limiter.forget_idle();
        }
    });
}

/// The client address of a request, as the limits see it.
pub fn client_of<S>(
    state: &AppState<S>,
    request_peer: Option<SocketAddr>,
    forwarded: Option<&HeaderValue>,
) -> Option<IpAddr> {
    request_peer.map(|peer| state.limiter.client(peer.ip(), forwarded))
}

/// How long a request refused by a per-address limit is held before its 429 goes out.
const REFUSAL_DELAY: Duration = Duration::from_secs(1);

/// The 429 of a per-address limit, sent a second late: a refusal's `Retry-After` is at least a
/// second, so a client that honours it waits no longer, while each connection of a flood gets
/// one answer a second and the server stops spending its CPU on refusals sent back to back.
/// The per-address connection cap bounds the requests held.
pub async fn refuse(limited: Limited) -> Response {
    tokio::time::sleep(REFUSAL_DELAY).await;
    limited.into_response()
}

/// Refuses a limited request with 429 before it reaches its handler.
pub async fn limit<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(class) = Class::of(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let client = client_of(&state, peer, request.headers().get("x-forwarded-for"));
    if let Some(client) = client
        && !state.limiter.exempt(client)
        && let Err(limited) = state.limiter.check_address(class, client)
    {
        tracing::debug!(%client, limit = limited.limit, "rate limited");
        return refuse(limited).await;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_refused_with_a_time_to_wait_and_the_allow_list_is_exempt() {
        let config = RateLimits {
            expensive_reads_per_address: Rate::new(1, 3),
            allow: vec![[10, 0, 0, 9].into()],
            ..RateLimits::default()
        };
        let limiter = Limiter::new(config);
        let client: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..3 {
            limiter
                .check_address(Class::ExpensiveRead, client)
                .expect("within the burst");
        }
        let refused = limiter
            .check_address(Class::ExpensiveRead, client)
            .expect_err("over the burst");
        assert!(
            refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(1)
        );
        assert!(limiter.exempt([10, 0, 0, 9].into()));
        let other: IpAddr = [10, 0, 0, 2].into();
        assert!(
            limiter.check_address(Class::ExpensiveRead, other).is_ok(),
            "per address"
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_and_no_one_else_can() {
        let limiter = Limiter::new(RateLimits {
            trusted_proxies: vec![[127, 0, 0, 1].into()],
            ..RateLimits::default()
        });
        let forwarded = HeaderValue::from_static("203.0.113.7, 198.51.100.2");
        let via_proxy = limiter.client([127, 0, 0, 1].into(), Some(&forwarded));
        assert_eq!(via_proxy, IpAddr::from([198, 51, 100, 2]));
        let direct = limiter.client([192, 0, 2, 1].into(), Some(&forwarded));
        assert_eq!(direct, IpAddr::from([192, 0, 2, 1]));
    }
}
