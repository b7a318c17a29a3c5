//! Mirroring (docs/protocol.md, "Mirroring"): a server keeps copies of identities it does not
//! receive directly, from a peer server, so content outlives the servers its author chose.
//!
//! Per peer, a task opens the peer's live stream (`GET /stream`), backfills what it lacks of
//! each mirrored identity through `/ranges` and `/events`, then stores what the stream brings,
//! resuming from its last position after either side was down (and backfilling again). Every
//! event is verified (signature, content rules, and that it belongs to a mirrored identity) and
//! ingested like a published one, so the server's own curation and revocations apply; an event
//! the peer altered or forged is refused, counted and logged with the peer's name.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use agora_protocol::encoding::base64url_decode;
use agora_protocol::{Process, PublicKey, VerifiedEvent, wire};
use agora_store::{IngestOutcome, ProcessRanges, Store, prepare_batch};
use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use prost::Message as _;
use serde::Serialize;

use crate::AppState;

/// Most bytes read of one peer answer (a page of events of 20 clocks of 512 KiB sections is
/// about 10 MiB).
const PEER_ANSWER_BYTES_MAX: usize = 64 * 1024 * 1024;

/// One peer to mirror and what to take from it.
#[derive(Clone, Debug)]
pub struct MirrorConfig {
    /// The peer's base URL.
    pub peer: String,
    pub policy: MirrorPolicy,
}

/// Which identities a mirror takes from its peer.
#[derive(Clone, Debug)]
pub enum MirrorPolicy {
    /// Everything the peer streams.
    Everything,
    /// These identities.
    Identities(Vec<PublicKey>),
    /// The identities this server's own users follow: the users are the identities whose
    /// SERVER set names one of `server_urls` (this server's public addresses). Worked out again
    /// every `refresh`.
    FollowedByUsers {
        server_urls: Vec<String>,
        refresh: Duration,
    },
}

impl MirrorPolicy {
    fn describe(&self) -> String {
        match self {
            Self::Everything => "everything".to_owned(),
            Self::Identities(list) => format!("{} identities", list.len()),
            Self::FollowedByUsers { .. } => "followed by this server's users".to_owned(),
        }
    }
}

/// What a mirror has done, for `GET /mirrors`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct MirrorStatus {
    pub peer: String,
    /// `everything`, or the number of identities mirrored.
    pub policy: String,
    /// Whether the peer's stream is open now.
    pub connected: bool,
    /// Events stored from the peer (not counting ones already held).
    pub stored: u64,
    /// Events the peer served that were refused: altered, forged, of an identity not mirrored,
    /// or refused by this server's rules.
    pub refused: u64,
    /// The peer's stream position this mirror has reached, and the peer's newest when it last
    /// said; their difference is the lag, in the peer's positions.
    pub position: Option<u64>,
    pub peer_head: Option<u64>,
    pub last_error: Option<String>,
}

/// The mirrors of one server, shared with `GET /mirrors`.
#[derive(Debug, Default)]
pub struct Mirrors {
    statuses: Mutex<Vec<MirrorStatus>>,
}

impl Mirrors {
    pub fn statuses(&self) -> Vec<MirrorStatus> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<MirrorStatus>> {
        self.statuses
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn update(&self, index: usize, change: impl FnOnce(&mut MirrorStatus)) {
        if let Some(status) = self.lock().get_mut(index) {
            change(status);
        }
    }
}

/// How long a mirror waits before it tries a failed peer again (doubling up to a minute).
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(60);
/// Clocks asked per `GET /events` while backfilling (wider across clocks the peer advertised
/// and did not serve: `agora_store::reconcile::Walk`).
const BACKFILL_CLOCKS: u64 = 500;
/// Most streamed events stored in one batch, and how long a batch waits for more.
const STREAM_BATCH_EVENTS: usize = 1_000;
const STREAM_BATCH_WAIT: Duration = Duration::from_millis(20);

/// Starts one task per configured mirror; they end when the server closes.
pub fn start<S: Store>(state: &Arc<AppState<S>>) {
    let mirrors = state.config.mirrors.clone();
    {
        let mut statuses = state.mirrors.lock();
        for mirror in &mirrors {
            statuses.push(MirrorStatus {
                peer: mirror.peer.clone(),
                policy: mirror.policy.describe(),
                ..MirrorStatus::default()
            });
        }
    }
    for (index, mirror) in mirrors.into_iter().enumerate() {
        tokio::spawn(run(Arc::clone(state), index, mirror));
    }
}

async fn run<S: Store>(state: Arc<AppState<S>>, index: usize, mirror: MirrorConfig) {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60))
        .build();
    let Ok(http) = http else {
        tracing::error!(peer = %mirror.peer, "cannot build the mirror's HTTP client");
        return;
    };
    let mut peer = Peer {
        http,
        base: mirror.peer.trim_end_matches('/').to_owned(),
        identities: Vec::new(),
        everything: matches!(mirror.policy, MirrorPolicy::Everything),
    };
    let mut closing = state.live.closing();
    let mut position: Option<u64> = None;
    let mut retry = RETRY_FIRST;
    loop {
        // Which identities, and for how long this session may run before they are worked out
        // again (a policy that never changes runs until the stream ends).
        let refresh = match &mirror.policy {
            MirrorPolicy::Everything => None,
            MirrorPolicy::Identities(list) => {
                peer.identities = list.clone();
                None
            }
            MirrorPolicy::FollowedByUsers {
                server_urls,
                refresh,
            } => {
                match followed_by_users(&state.store, server_urls).await {
                    Ok(followed) => {
                        if followed != peer.identities {
                            // Another set of systems: the peer's positions of the old filter
                            // do not carry over, so backfill again from the start.
                            position = None;
                        }
                        peer.identities = followed;
                    }
                    Err(error) => tracing::warn!(%error, "cannot work out whom users follow"),
                }
                state.mirrors.update(index, |status| {
                    status.policy = format!(
                        "{} identities followed by this server's users",
                        peer.identities.len()
                    );
                });
                Some(*refresh)
            }
        };
        let result = if !peer.everything && peer.identities.is_empty() {
            Ok(())
        } else {
            let session = peer.session(&state, index, &mut position);
            let bounded = async {
                match refresh {
                    Some(refresh) => tokio::time::timeout(refresh, session)
                        .await
                        .unwrap_or(Ok(())),
                    None => session.await,
                }
            };
            tokio::select! {
                result = bounded => result,
                _ = closing.changed() => return,
            }
        };
        state
            .mirrors
            .update(index, |status| status.connected = false);
        let pause = match result {
            Ok(()) => {
                retry = RETRY_FIRST;
                refresh.map_or(RETRY_FIRST, |refresh| refresh.min(RETRY_FIRST))
            }
            Err(error) => {
                tracing::warn!(peer = %peer.base, %error, "mirror failed; retrying");
                state
                    .mirrors
                    .update(index, |status| status.last_error = Some(error));
                let pause = retry;
                retry = (retry * 2).min(RETRY_MAX);
                pause
            }
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = closing.changed() => return,
        }
    }
}

/// The identities followed (FOLLOW sets, by the LWW rule) by every identity whose SERVER set
/// names one of `server_urls`, read from this server's store.
async fn followed_by_users<S: Store>(
    store: &S,
    server_urls: &[String],
) -> Result<Vec<PublicKey>, agora_store::StoreError> {
    let urls: Vec<String> = server_urls
        .iter()
        .map(|url| url.trim_end_matches('/').to_owned())
        .collect();
    // Every stored SERVER write, through the stream log, page by page.
    let mut writes: std::collections::BTreeMap<PublicKey, Vec<wire::LwwElementSet>> =
        std::collections::BTreeMap::new();
    let filter = agora_store::StreamFilter {
        content_types: vec![agora_protocol::content::SERVER],
        ..agora_store::StreamFilter::default()
    };
    let mut position = 0;
    loop {
        let page = store.stream_after(position, filter.clone(), 1_000).await?;
        for (_, signed) in &page.events {
            if let Some((system, write)) = stored_set_write(signed) {
                writes.entry(system).or_default().push(write);
            }
        }
        position = page.position;
        if position >= page.head {
            break;
        }
    }
    let mut followed = std::collections::BTreeSet::new();
    for (user, server_writes) in writes {
        let servers = agora_protocol::crdt::set_members(&server_writes);
        let listed = servers.iter().any(|server| {
            std::str::from_utf8(server)
                .is_ok_and(|server| urls.iter().any(|url| url == server.trim_end_matches('/')))
        });
        if listed {
            followed.extend(follows_of(store, user).await?);
        }
    }
    Ok(followed.into_iter().collect())
}

/// The members of `system`'s FOLLOW set in the store.
async fn follows_of<S: Store>(
    store: &S,
    system: PublicKey,
) -> Result<Vec<PublicKey>, agora_store::StoreError> {
    let mut writes = Vec::new();
    let mut cursor = agora_store::IndexCursor::Start;
    loop {
        let page = store
            .index(agora_store::IndexQuery {
                system,
                content_type: agora_protocol::content::FOLLOW,
                cursor,
                limit: 1_000,
            })
            .await?;
        writes.extend(
            page.events
                .iter()
                .filter_map(stored_set_write)
                .map(|(_, write)| write),
        );
        match page
            .next
            .as_deref()
            .and_then(agora_store::IndexCursor::decode)
        {
            Some(next) => cursor = next,
            None => break,
        }
    }
    Ok(agora_protocol::crdt::set_members(&writes)
        .iter()
        .filter_map(|value| wire::PublicKey::decode(value.as_slice()).ok())
        .filter_map(|key| PublicKey::try_from(&key).ok())
        .collect())
}

/// One peer and the HTTP client that reaches it.
struct Peer {
    http: reqwest::Client,
    base: String,
    /// The identities mirrored now (unless `everything`).
    identities: Vec<PublicKey>,
    /// Whether everything the peer streams is taken.
    everything: bool,
}

impl Peer {
    /// One connection: open the stream, backfill, then store what the stream brings until it
    /// ends or fails.
    async fn session<S: Store>(
        &self,
        state: &AppState<S>,
        index: usize,
        position: &mut Option<u64>,
    ) -> Result<(), String> {
        let keys: Vec<String> = self
            .identities
            .iter()
            .map(PublicKey::to_query_param)
            .collect();
        let mut request = self
            .http
            .get(format!("{}/stream", self.base))
            .query(&[("systems", keys.join(","))]);
        // Everything the peer has: from its first position the first time.
        let resume = position.or(self.everything.then_some(0));
        if let Some(resume) = resume {
            request = request.header("last-event-id", resume.to_string());
        }
        let response = request
            .send()
            .await
            .map_err(|error| format!("stream: {error}"))?;
        if !response.status().is_success() {
            return Err(format!("stream answered {}", response.status()));
        }
        // A message longer than any event can be (one endless line) is cut off, not buffered.
        let mut pending = 0_usize;
        let bounded = response.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            pending = agora_store::stream::open_message_bytes(pending, &chunk);
            if pending > agora_store::stream::MESSAGE_BYTES_MAX {
                return Err(std::io::Error::other("a stream message longer than 4 MiB"));
            }
            Ok(chunk)
        });
        let mut messages = bounded.eventsource();
        let mut backfilled = false;
        while let Some(first) = messages.next().await {
            // Whatever follows within a moment joins the batch: a peer catching up streams into
            // a few large transactions, and a live event waits at most STREAM_BATCH_WAIT.
            let mut chunk = vec![first];
            while chunk.len() < STREAM_BATCH_EVENTS {
                match tokio::time::timeout(STREAM_BATCH_WAIT, messages.next()).await {
                    Ok(Some(message)) => chunk.push(message),
                    Ok(None) | Err(_) => break,
                }
            }
            let mut batch = Vec::new();
            let mut last = None;
            for message in chunk {
                let message = message.map_err(|error| format!("stream: {error}"))?;
                let at: u64 = message
                    .id
                    .parse()
                    .map_err(|_| format!("stream position {:?} is not a number", message.id))?;
                match message.event.as_str() {
                    "position" => {
                        let head = message.data.trim().parse::<u64>().ok();
                        state.mirrors.update(index, |status| {
                            status.connected = true;
                            status.peer_head = head.or(status.peer_head);
                        });
                        if !backfilled {
                            // After the stream is open, so nothing between the two is missed.
                            for identity in &self.identities {
                                self.backfill(state, index, identity).await?;
                            }
                            backfilled = true;
                        }
                    }
                    "event" => match decode_streamed(&message.data) {
                        Some(signed) => batch.push(signed),
                        None => self.refuse(state, index, "a stream event that does not decode"),
                    },
                    _ => {}
                }
                last = Some(at);
            }
            self.store(state, index, batch).await?;
            if let Some(at) = last {
                *position = Some(at);
                state.mirrors.update(index, |status| {
                    status.position = Some(at);
                    status.peer_head = Some(status.peer_head.unwrap_or(0).max(at));
                });
            }
        }
        Ok(())
    }

    /// Fetches what this server lacks of `identity` (the ranges difference), page by page.
    async fn backfill<S: Store>(
        &self,
        state: &AppState<S>,
        index: usize,
        identity: &PublicKey,
    ) -> Result<(), String> {
        let remote = self.ranges(identity).await?;
        let local = state
            .store
            .ranges(*identity)
            .await
            .map_err(|error| error.to_string())?;
        let wanted = agora_store::reconcile::subtract(&remote, &local);
        let mut walk = agora_store::reconcile::Walk::new(wanted, BACKFILL_CLOCKS);
        while let Some(piece) = walk.next_piece() {
            let served = self.events(identity, &piece).await?;
            let (own, foreign): (Vec<_>, Vec<_>) = served
                .into_iter()
                .partition(|signed| signed_system(signed).as_ref() == Some(identity));
            for _ in &foreign {
                self.refuse(state, index, "an event of another identity than was asked");
            }
            // Only events that verified count as served: unsigned ones cost a peer nothing.
            let slots = self.store(state, index, own).await?;
            let clocks = slots
                .into_iter()
                .filter(|(process, _)| *process == piece.process)
                .map(|(_, clock)| clock);
            walk.served(&piece, clocks);
        }
        Ok(())
    }

    async fn ranges(&self, system: &PublicKey) -> Result<Vec<ProcessRanges>, String> {
        let url = format!("{}/ranges?system={}", self.base, system.to_query_param());
        let body = self.get(&url).await?;
        let message = wire::RangesForSystem::decode(body).map_err(|error| error.to_string())?;
        ProcessRanges::from_wire(&message).map_err(|error| error.to_string())
    }

    async fn events(
        &self,
        system: &PublicKey,
        ranges: &ProcessRanges,
    ) -> Result<Vec<wire::SignedEvent>, String> {
        let url = format!("{}{}", self.base, ranges.events_path(system));
        let body = self.get(&url).await?;
        Ok(wire::Events::decode(body)
            .map_err(|error| error.to_string())?
            .events)
    }

    async fn get(&self, url: &str) -> Result<bytes::Bytes, String> {
        let response = self
            .http
            .get(url)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .map_err(|error| error.to_string())?;
        if !response.status().is_success() {
            return Err(format!("{url} answered {}", response.status()));
        }
        // A peer's answer is read within a bound, so an endless one cannot take the memory.
        let mut response = response;
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(|error| error.to_string())? {
            if body.len() + chunk.len() > PEER_ANSWER_BYTES_MAX {
                return Err(format!(
                    "{url} answered more than {} MiB",
                    PEER_ANSWER_BYTES_MAX / (1024 * 1024)
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }

    /// Verifies and ingests what the peer served; refusals are counted, never stored. Returns
    /// the (process, clock) of every event that verified.
    async fn store<S: Store>(
        &self,
        state: &AppState<S>,
        index: usize,
        served: Vec<wire::SignedEvent>,
    ) -> Result<Vec<(Process, u64)>, String> {
        if served.is_empty() {
            return Ok(Vec::new());
        }
        let limits = state.config.limits.ingest;
        let prepared = tokio::task::spawn_blocking(move || prepare_batch(served, limits))
            .await
            .map_err(|error| error.to_string())?;
        let mut verified: Vec<VerifiedEvent> = Vec::new();
        for result in prepared {
            match result {
                Ok(event) if self.wanted(&event) => verified.push(event),
                Ok(_) => self.refuse(state, index, "an event of an identity not mirrored"),
                Err(reason) => self.refuse(state, index, &reason),
            }
        }
        let slots = verified
            .iter()
            .map(|event| (*event.process(), event.logical_clock()))
            .collect();
        let outcomes = state
            .store
            .ingest(verified)
            .await
            .map_err(|error| error.to_string())?;
        let stored = outcomes
            .iter()
            .filter(|outcome| **outcome == IngestOutcome::Stored)
            .count() as u64;
        for outcome in &outcomes {
            if let IngestOutcome::Rejected(reason) = outcome {
                self.refuse(state, index, &reason.to_string());
            }
        }
        if stored > 0 {
            state.live.committed();
            state
                .mirrors
                .update(index, |status| status.stored += stored);
        }
        Ok(slots)
    }

    /// Whether an event belongs to what this mirror takes. A mirrored identity's device keys
    /// are mirrored with it once they are identities of their own in the list.
    fn wanted(&self, event: &VerifiedEvent) -> bool {
        self.everything || self.identities.contains(event.system())
    }

    fn refuse<S: Store>(&self, state: &AppState<S>, index: usize, reason: &str) {
        tracing::warn!(peer = %self.base, %reason, "mirror refused an event the peer served");
        state.mirrors.update(index, |status| {
            status.refused += 1;
            status.last_error = Some(format!("refused an event from {}: {reason}", self.base));
        });
    }
}

/// The signer and LWW set write of an event read from this server's own store. Stored events
/// were verified when they came in, so this decodes without checking the signature again.
fn stored_set_write(signed: &wire::SignedEvent) -> Option<(PublicKey, wire::LwwElementSet)> {
    let event = wire::Event::decode(signed.event.clone()).ok()?;
    let system = PublicKey::try_from(event.system.as_ref()?).ok()?;
    Some((system, event.lww_element_set?))
}

fn decode_streamed(data: &str) -> Option<wire::SignedEvent> {
    let bytes = base64url_decode(data).ok()?;
    wire::SignedEvent::decode(bytes.as_slice()).ok()
}

fn signed_system(signed: &wire::SignedEvent) -> Option<PublicKey> {
    let event = wire::Event::decode(signed.event.clone()).ok()?;
    PublicKey::try_from(event.system.as_ref()?).ok()
}

/// `GET /mirrors`: each mirror's peer, policy, counts, position and last error, as JSON.
pub async fn statuses<S: Store>(
    axum::extract::State(state): axum::extract::State<Arc<AppState<S>>>,
) -> axum::Json<Vec<MirrorStatus>> {
    axum::Json(state.mirrors.statuses())
}
