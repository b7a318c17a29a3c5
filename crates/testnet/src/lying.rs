//! A misbehaving server for tests: [`LyingServer`] listens on 127.0.0.1:0 and forwards every
//! request to an honest upstream Agora server, passing status and body through unchanged, except
//! for successful `GET /events` answers, which it corrupts in two ways:
//!
//! - it flips one byte inside the first event's signed `event` bytes (the last byte, so the event
//!   still decodes but its signature no longer matches): an *altered* event;
//! - it appends one extra event, validly signed, but by another, freshly generated key, so it
//!   belongs to a system that was not asked for: an *injected* event, a post whose text is
//!   [`INJECTED_TEXT`].
//!
//! A correct client rejects both and reports this server as failed.
//!
//! Successful `GET /search` and `GET /explore` answers get the first kind of lie too: the first
//! result event is altered the same way. `GET /stream` is passed through as it streams.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use agora_protocol::author::Author;
use agora_protocol::{Process, SecretKey, wire};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, StatusCode, header};
use axum::response::Response;
use prost::Message as _;

use crate::served::Served;

/// The text of the post the lying server injects into every `GET /events` answer.
pub const INJECTED_TEXT: &str = "injected by a lying server";

/// Largest request body forwarded upstream.
const BODY_BYTES_MAX: usize = 64 * 1024 * 1024;

/// A running lying proxy in front of one upstream server.
#[derive(Debug)]
pub struct LyingServer {
    served: Served,
}

#[derive(Clone, Debug)]
struct Upstream {
    base: String,
    http: reqwest::Client,
    lies: Lies,
}

/// Which lies a [`LyingServer`] tells in its `GET /events` answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lies {
    /// Flip a byte of the first event's signed bytes.
    pub alter: bool,
    /// Append a post validly signed by another key.
    pub inject: bool,
}

impl Lies {
    /// Both lies, what [`LyingServer::start`] tells.
    pub const BOTH: Self = Self {
        alter: true,
        inject: true,
    };
    /// Only the altered event.
    pub const ALTER: Self = Self {
        alter: true,
        inject: false,
    };
    /// Only the injected event.
    pub const INJECT: Self = Self {
        alter: false,
        inject: true,
    };
}

impl LyingServer {
    /// Starts the proxy in front of `upstream_url` (an honest server's base URL).
    pub async fn start(upstream_url: &str) -> Self {
        Self::start_at(upstream_url, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts the proxy on `address`, e.g. where an honest server listened until it was stopped,
    /// so that clients that knew that server now reach the liar.
    pub async fn start_at(upstream_url: &str, address: SocketAddr) -> Self {
        Self::start_with(upstream_url, address, Lies::BOTH).await
    }

    /// Starts the proxy on `address`, telling only `lies`.
    pub async fn start_with(upstream_url: &str, address: SocketAddr, lies: Lies) -> Self {
        let upstream = Upstream {
            base: upstream_url.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            lies,
        };
        let app = axum::Router::new().fallback(forward).with_state(upstream);
        Self {
            served: Served::start(app, address, "lying server").await,
        }
    }

    pub fn url(&self) -> String {
        self.served.url.clone()
    }

    /// Stops the proxy; its address then refuses connections.
    pub async fn stop(&mut self) {
        self.served.stop().await;
    }
}

async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    match forward_inner(&upstream, request).await {
        Ok(response) => response,
        Err(error) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(format!(
                "lying server: upstream failed: {error}"
            )))
            .expect("a plain response"),
    }
}

async fn forward_inner(upstream: &Upstream, request: Request) -> Result<Response, String> {
    let (parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), ToString::to_string);
    let is_get_events = parts.method == axum::http::Method::GET && parts.uri.path() == "/events";
    let is_discovery = parts.method == axum::http::Method::GET
        && matches!(parts.uri.path(), "/search" | "/explore");
    let body = axum::body::to_bytes(body, BODY_BYTES_MAX)
        .await
        .map_err(|error| error.to_string())?;
    let mut outgoing = upstream
        .http
        .request(parts.method, format!("{}{path_and_query}", upstream.base))
        .body(body);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) && name != header::HOST {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing.send().await.map_err(|error| error.to_string())?;
    let status = answer.status();
    let headers = answer.headers().clone();
    if parts.uri.path() == "/stream" {
        // A live stream never ends: passed through as it comes (its events are not altered).
        let mut response = Response::builder().status(status);
        for (name, value) in &headers {
            if !hop_by_hop(name) && name != header::CONTENT_LENGTH {
                response = response.header(name, value);
            }
        }
        return response
            .body(Body::from_stream(answer.bytes_stream()))
            .map_err(|error| error.to_string());
    }
    let mut body = answer.bytes().await.map_err(|error| error.to_string())?;
    if is_get_events && status.is_success() {
        body = lie(&body, upstream.lies)?;
    }
    if is_discovery && status.is_success() {
        body = lie_in_results(&body)?;
    }
    let mut response = Response::builder().status(status);
    for (name, value) in &headers {
        if !hop_by_hop(name) && name != header::CONTENT_LENGTH {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from(body))
        .map_err(|error| error.to_string())
}

/// Alters the first event of a `wire::Events` answer and appends an injected one, as `lies` say.
fn lie(body: &[u8], lies: Lies) -> Result<bytes::Bytes, String> {
    let mut events = wire::Events::decode(body).map_err(|error| error.to_string())?;
    if let Some(first) = events.events.first_mut().filter(|_| lies.alter) {
        let mut altered = first.event.to_vec();
        if let Some(last) = altered.last_mut() {
            *last ^= 0x01;
        }
        first.event = altered.into();
    }
    if lies.inject {
        events.events.push(injected()?);
    }
    Ok(events.encode_to_vec().into())
}

/// Alters the first result event of a `/search` or `/explore` answer.
fn lie_in_results(body: &[u8]) -> Result<bytes::Bytes, String> {
    let mut answer = wire::ResultEventsAndRelatedEventsAndCursor::decode(body)
        .map_err(|error| error.to_string())?;
    if let Some(first) = answer
        .result_events
        .as_mut()
        .and_then(|events| events.events.first_mut())
    {
        alter(first);
    }
    Ok(answer.encode_to_vec().into())
}

/// Flips the last byte of the signed bytes: the event still decodes, its signature fails.
fn alter(event: &mut wire::SignedEvent) {
    let mut altered = event.event.to_vec();
    if let Some(last) = altered.last_mut() {
        *last ^= 0x01;
    }
    event.event = altered.into();
}

/// A post validly signed by a fresh key: an event of a system nobody asked for.
fn injected() -> Result<wire::SignedEvent, String> {
    let mut author = Author::new(SecretKey::generate(), Process::random());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|error| error.to_string())?;
    let millis = u64::try_from(now.as_millis()).map_err(|error| error.to_string())?;
    let event = author
        .post(INJECTED_TEXT, millis)
        .map_err(|error| error.to_string())?;
    Ok(event.to_signed())
}

fn hop_by_hop(name: &HeaderName) -> bool {
    [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
    ]
    .contains(name)
        || name.as_str() == "keep-alive"
}
