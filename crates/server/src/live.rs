//! `GET /stream` (Agora extension; docs/protocol.md, "Live stream"): new events pushed to a
//! subscriber as Server-Sent Events as soon as they are committed, with a resume position.
//!
//! Each subscription is a task that reads the store after its position ([`Store::stream_after`])
//! and hands events to the response through a small bounded channel, so memory per subscriber
//! is bounded: a subscriber that stops reading for [`StreamConfig::slow_consumer_timeout`] is
//! dropped, and resumes from the last position it received. The task wakes when this node
//! commits, and polls the store besides, so commits of other nodes over a shared database reach
//! it too: nothing in memory is needed for correctness.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora_protocol::Reference;
use agora_protocol::encoding::{base64url_decode, base64url_encode};
use agora_protocol::{PublicKey, wire};
use agora_store::{Store, StreamFilter};
use axum::Extension;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use prost::Message as _;
use tokio::sync::{mpsc, watch};

use crate::AppState;
use crate::error::ApiError;
use crate::params::{self, Params};

/// How live subscriptions behave; every field has a default a public server can run with.
#[derive(Clone, Copy, Debug)]
pub struct StreamConfig {
    /// Most open subscriptions from one client address. Default 16; one more: 429.
    pub subscriptions_per_address_max: usize,
    /// How often an idle subscription gets a comment line, so proxies keep it open. Default 15 s.
    pub heartbeat: Duration,
    /// How long a subscriber may leave events unread before it is dropped. Default 30 s.
    pub slow_consumer_timeout: Duration,
    /// How often a subscription looks at the store for commits made elsewhere (another node
    /// over the same database). Default 1 s.
    pub poll_interval: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            subscriptions_per_address_max: 16,
            heartbeat: Duration::from_secs(15),
            slow_consumer_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Events one subscriber may have sent but unread at the server: with events of at most 1 MiB,
/// the memory one subscriber holds is bounded by this many of them.
const SUBSCRIBER_BUFFER_EVENTS: usize = 16;
/// Events one store read gives a subscription.
const PAGE_EVENTS: usize = 100;
/// Most keys, content types and references one subscription may name.
const FILTER_ITEMS_MAX: usize = 1_000;

/// The live side of a server: commit notifications, shutdown, and subscriptions per address.
#[derive(Debug)]
pub struct Live {
    /// Bumped after every ingest on this node that stored something.
    commits: watch::Sender<u64>,
    /// Set when the server shuts down, so every subscription ends and shutdown can finish.
    closing: watch::Sender<bool>,
    /// Open subscriptions per client address, for the cap.
    open: Mutex<HashMap<IpAddr, usize>>,
    /// The recent commit log in memory, once a running server started it (`crate::tail`).
    pub(crate) tail: std::sync::OnceLock<Arc<crate::tail::Tail>>,
}

impl Default for Live {
    fn default() -> Self {
        Self {
            commits: watch::channel(0).0,
            closing: watch::channel(false).0,
            open: Mutex::new(HashMap::new()),
            tail: std::sync::OnceLock::new(),
        }
    }
}

impl Live {
    /// Wakes every subscription: this node committed new events.
    pub fn committed(&self) {
        self.commits.send_modify(|count| *count += 1);
    }

    /// Ends every subscription (server shutdown).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    /// A receiver that changes after this node commits.
    pub(crate) fn commits(&self) -> watch::Receiver<u64> {
        self.commits.subscribe()
    }

    /// A receiver that changes when the server starts shutting down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Open subscriptions, for tests and metrics.
    pub fn open_subscriptions(&self) -> usize {
        self.lock().values().sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One open subscription of an address; dropping it frees the slot.
struct Slot {
    live: Arc<Live>,
    address: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.live.lock();
        if let Some(count) = open.get_mut(&self.address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

/// `GET /stream?systems=&content_types=&references=&after=`: see the module docs.
pub async fn stream<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let filter = filter(&params)?;
    let resume = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::bad("`Last-Event-ID` must be a position (a number)"))?,
        ),
        None => params::number(&params.after, "after")?,
    };
    let address = connection.map_or(IpAddr::from([0, 0, 0, 0]), |Extension(info)| info.0.ip());
    let config = state.config.stream;
    let slot = {
        let mut open = state.live.lock();
        let count = open.entry(address).or_default();
        if *count >= config.subscriptions_per_address_max {
            return Err(ApiError::TooManyRequests(format!(
                "{address} already has {count} open subscriptions, the most one address may \
                 have; close one first"
            )));
        }
        *count += 1;
        Slot {
            live: Arc::clone(&state.live),
            address,
        }
    };
    let head = state.store.stream_head().await?;
    let start = resume.unwrap_or(head);
    let (sender, receiver) = mpsc::channel(SUBSCRIBER_BUFFER_EVENTS);
    // The first message names the starting position (its id), so a client that sees no event
    // can still resume from where it began, and the newest position now (its data), so it can
    // tell how far behind it starts.
    let _ = sender
        .send(
            Event::default()
                .event("position")
                .id(start.to_string())
                .data(head.to_string()),
        )
        .await;
    tokio::spawn(subscription(
        Arc::clone(&state),
        filter,
        start,
        sender,
        slot,
    ));
    let events = futures_stream(receiver);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(config.heartbeat))
        .into_response())
}

/// The receiving end as the response body's stream.
fn futures_stream(
    receiver: mpsc::Receiver<Event>,
) -> impl futures::Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|event| (Ok(event), receiver))
    })
}

/// Reads the store after `position` and sends what matches, until the subscriber goes, is too
/// slow, or the server closes.
async fn subscription<S: Store>(
    state: Arc<AppState<S>>,
    filter: StreamFilter,
    mut position: u64,
    sender: mpsc::Sender<Event>,
    _slot: Slot,
) {
    let config = state.config.stream;
    let mut commits = state.live.commits.subscribe();
    let mut closing = state.live.closing.subscribe();
    let mut tail_updates = state.live.tail.get().map(|tail| tail.updates());
    loop {
        if *closing.borrow() {
            return;
        }
        commits.mark_unchanged();
        if let Some(updates) = tail_updates.as_mut() {
            updates.mark_unchanged();
        }
        let from_tail = state
            .live
            .tail
            .get()
            .and_then(|tail| tail.page_after(position, &filter, PAGE_EVENTS));
        let page = match from_tail {
            Some(page) => page,
            None => match state
                .store
                .stream_after(position, filter.clone(), PAGE_EVENTS)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    tracing::warn!(%error, "stream read failed; closing the subscription");
                    return;
                }
            },
        };
        for (at, signed) in page.events {
            let event = Event::default()
                .event("event")
                .id(at.to_string())
                .data(base64url_encode(&signed.encode_to_vec()));
            match tokio::time::timeout(config.slow_consumer_timeout, sender.send(event)).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return,
                Err(_) => {
                    tracing::info!(position = at, "dropping a subscriber that stopped reading");
                    return;
                }
            }
        }
        position = page.position;
        if position < page.head {
            continue;
        }
        let tail_updated = async {
            match tail_updates.as_mut() {
                Some(updates) => {
                    let _ = updates.changed().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = commits.changed() => {}
            () = tail_updated => {}
            _ = closing.changed() => {}
            () = tokio::time::sleep(config.poll_interval) => {}
            () = sender.closed() => return,
        }
    }
}

/// The subscription's filter from `systems`, `content_types` and `references`: comma-separated
/// lists of base64url `PublicKey`s, decimal numbers, and base64url `Reference`s.
fn filter(params: &Params) -> Result<StreamFilter, ApiError> {
    let systems = list(&params.systems, "systems", |item| {
        PublicKey::from_query_param(item).map_err(|error| error.to_string())
    })?;
    let content_types = list(&params.content_types, "content_types", |item| {
        item.parse::<u64>().map_err(|error| error.to_string())
    })?;
    let references = list(&params.references, "references", |item| {
        let bytes = base64url_decode(item).map_err(|error| error.to_string())?;
        let wire = wire::Reference::decode(bytes.as_slice()).map_err(|error| error.to_string())?;
        let reference = Reference::parse(&wire)?;
        reference
            .subject_key()
            .ok_or_else(|| "a system reference is not indexed; use a pointer or bytes".to_owned())
    })?;
    Ok(StreamFilter {
        systems,
        content_types,
        references,
    })
}

fn list<T>(
    value: &Option<String>,
    name: &str,
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ApiError> {
    let Some(text) = value.as_deref().filter(|text| !text.is_empty()) else {
        return Ok(Vec::new());
    };
    let items: Vec<&str> = text.split(',').collect();
    if items.len() > FILTER_ITEMS_MAX {
        return Err(ApiError::bad(format!(
            "`{name}` names {} items, over the limit of {FILTER_ITEMS_MAX}",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            parse(item.trim())
                .map_err(|error| ApiError::bad(format!("`{name}` item {index}: {error}")))
        })
        .collect()
}
