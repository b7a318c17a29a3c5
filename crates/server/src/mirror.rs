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
use agora_protocol::{PublicKey, VerifiedEvent, wire};
use agora_store::{IngestOutcome, ProcessRanges, Store, prepare_batch};
use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use prost::Message as _;
use serde::Serialize;

use crate::AppState;

/// One peer to mirror and what to take from it.
#[derive(Clone, Debug)]
pub struct MirrorConfig {
    /// The peer's base URL.
    pub peer: String,
    /// The identities to mirror; empty: everything the peer has.
    pub identities: Vec<PublicKey>,
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
/// Clocks asked per `GET /events` while backfilling.
const BACKFILL_CLOCKS: u64 = 500;

/// Starts one task per configured mirror; they end when the server closes.
pub fn start<S: Store>(state: &Arc<AppState<S>>) {
    let mirrors = state.config.mirrors.clone();
    {
        let mut statuses = state.mirrors.lock();
        for mirror in &mirrors {
            statuses.push(MirrorStatus {
                peer: mirror.peer.clone(),
                policy: if mirror.identities.is_empty() {
                    "everything".to_owned()
                } else {
                    format!("{} identities", mirror.identities.len())
                },
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
    let peer = Peer {
        http,
        base: mirror.peer.trim_end_matches('/').to_owned(),
        identities: mirror.identities,
    };
    let mut closing = state.live.closing();
    let mut position: Option<u64> = None;
    let mut retry = RETRY_FIRST;
    loop {
        let session = peer.session(&state, index, &mut position);
        let result = tokio::select! {
            result = session => result,
            _ = closing.changed() => return,
        };
        state
            .mirrors
            .update(index, |status| status.connected = false);
        match result {
            Ok(()) => retry = RETRY_FIRST,
            Err(error) => {
                tracing::warn!(peer = %peer.base, %error, "mirror failed; retrying");
                state
                    .mirrors
                    .update(index, |status| status.last_error = Some(error));
            }
        }
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            _ = closing.changed() => return,
        }
        retry = (retry * 2).min(RETRY_MAX);
    }
}

/// One peer and the HTTP client that reaches it.
struct Peer {
    http: reqwest::Client,
    base: String,
    identities: Vec<PublicKey>,
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
        let resume = position.or(self.identities.is_empty().then_some(0));
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
        let mut events = response.bytes_stream().eventsource();
        let mut backfilled = false;
        while let Some(message) = events.next().await {
            let message = message.map_err(|error| format!("stream: {error}"))?;
            let at: u64 = message
                .id
                .parse()
                .map_err(|_| format!("stream position {:?} is not a number", message.id))?;
            if message.event == "position" {
                state.mirrors.update(index, |status| {
                    status.connected = true;
                    status.peer_head = Some(status.peer_head.unwrap_or(0).max(at));
                });
                if !backfilled {
                    // Backfill after the stream is open, so nothing between the two is missed.
                    for identity in &self.identities {
                        self.backfill(state, index, identity).await?;
                    }
                    backfilled = true;
                }
            } else if message.event == "event" {
                let signed = base64url_decode(&message.data)
                    .ok()
                    .and_then(|bytes| wire::SignedEvent::decode(bytes.as_slice()).ok());
                match signed {
                    Some(signed) => self.store(state, index, vec![signed]).await?,
                    None => self.refuse(state, index, "a stream event that does not decode"),
                }
                state.mirrors.update(index, |status| {
                    status.peer_head = Some(status.peer_head.unwrap_or(0).max(at));
                });
            }
            *position = Some(at);
            state
                .mirrors
                .update(index, |status| status.position = Some(at));
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
        for wanted in agora_store::reconcile::subtract(&remote, &local) {
            for piece in
                agora_store::reconcile::chunks(std::slice::from_ref(&wanted), BACKFILL_CLOCKS)
            {
                let served = self.events(identity, &piece).await?;
                let (own, foreign): (Vec<_>, Vec<_>) = served
                    .into_iter()
                    .partition(|signed| signed_system(signed).as_ref() == Some(identity));
                for _ in &foreign {
                    self.refuse(state, index, "an event of another identity than was asked");
                }
                self.store(state, index, own).await?;
            }
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
        response.bytes().await.map_err(|error| error.to_string())
    }

    /// Verifies and ingests what the peer served; refusals are counted, never stored.
    async fn store<S: Store>(
        &self,
        state: &AppState<S>,
        index: usize,
        served: Vec<wire::SignedEvent>,
    ) -> Result<(), String> {
        if served.is_empty() {
            return Ok(());
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
                self.refuse(state, index, reason);
            }
        }
        if stored > 0 {
            state.live.committed();
            state
                .mirrors
                .update(index, |status| status.stored += stored);
        }
        Ok(())
    }

    /// Whether an event belongs to what this mirror takes. A mirrored identity's device keys
    /// are mirrored with it once they are identities of their own in the list.
    fn wanted(&self, event: &VerifiedEvent) -> bool {
        self.identities.is_empty() || self.identities.contains(event.system())
    }

    fn refuse<S: Store>(&self, state: &AppState<S>, index: usize, reason: &str) {
        tracing::warn!(peer = %self.base, %reason, "mirror refused an event the peer served");
        state.mirrors.update(index, |status| {
            status.refused += 1;
            status.last_error = Some(format!("refused an event from {}: {reason}", self.base));
        });
    }
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
