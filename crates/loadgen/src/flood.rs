//! `--phase flood`: what one flooding source costs everyone else.
//!
//! A normal client (one address, a steady open-loop mix of the reads a person's client makes:
//! events, profile, search, post stats) is measured alone, then during each flood from one other
//! address: writes, handle claims, challenges, searches with typos, reference pages. Each flood
//! sends as fast as its connections allow. The server must run with its rate limits on and
//! without the normal client or the flooder on its allow-list; both addresses are loopback
//! (`--normal-address`, `--flood-address`). The figure that matters is the normal client's p99
//! during a flood against its p99 alone.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_protocol::author::Author;
use agora_protocol::{Process, SecretKey, wire};
use prost::Message as _;
use serde::Serialize;
use tokio::task::JoinSet;

use crate::http::{self, Outcome};
use crate::plan::{self, Plan};
use crate::read::{self, Route};

/// Names this module's random stream (see [`plan::seeded_rng`]).
const TAG_FLOOD: u64 = 0x66_6c6f_6f64;
/// Events the write flood signs and sends over and over, in batches of [`FLOOD_BATCH`].
const FLOOD_EVENTS: usize = 2_000;
const FLOOD_BATCH: usize = 100;
/// The routes the normal client asks, in turn.
const NORMAL_ROUTES: [Route; 4] = [
    Route::Events,
    Route::QueryLatest,
    Route::Search,
    Route::QueryReferences,
];

/// How a flood phase runs.
#[derive(Clone, Copy, Debug)]
pub struct FloodSettings {
    /// How long the normal client is measured alone and during each flood.
    pub duration: Duration,
    /// The normal client's requests per second.
    pub normal_per_second: f64,
    pub normal_address: IpAddr,
    pub flood_address: IpAddr,
    /// The flooder's concurrent connections.
    pub flood_connections: usize,
    pub timeout: Duration,
}

/// The kinds of flood, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flood {
    Writes,
    HandleClaims,
    Challenges,
    Searches,
    References,
}

impl Flood {
    const ALL: [Self; 5] = [
        Self::Writes,
        Self::HandleClaims,
        Self::Challenges,
        Self::Searches,
        Self::References,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Writes => "POST /events",
            Self::HandleClaims => "POST /claim_handle",
            Self::Challenges => "GET /challenge",
            Self::Searches => "GET /search",
            Self::References => "GET /query_references",
        }
    }
}

/// The normal client's figures over one window.
#[derive(Debug, Serialize)]
pub struct NormalReport {
    pub requests: usize,
    /// Anything but a 2xx answer, including 429s and transport errors.
    pub errors: usize,
    pub first_error: Option<String>,
    #[serde(flatten)]
    pub latency: http::LatencySummary,
}

/// One flood and what the normal client saw during it.
#[derive(Debug, Serialize)]
pub struct FloodRun {
    pub flood: &'static str,
    pub normal: NormalReport,
    /// The normal client's p99 during the flood over its p99 alone.
    pub p99_ratio: f64,
    pub flood_requests: usize,
    pub flood_per_second: f64,
    pub flood_2xx: usize,
    pub flood_429: usize,
    /// Other statuses and transport errors.
    pub flood_other: usize,
}

#[derive(Debug, Serialize)]
pub struct FloodReport {
    pub normal_per_second: f64,
    pub flood_connections: usize,
    pub seconds_per_window: f64,
    pub unloaded: NormalReport,
    pub floods: Vec<FloodRun>,
}

pub async fn run(
    server: &str,
    plan: &Plan,
    settings: FloodSettings,
) -> anyhow::Result<FloodReport> {
    let mut rng = plan::seeded_rng(plan.config.seed, TAG_FLOOD);
    let mut normal_urls = Vec::new();
    for route in NORMAL_ROUTES {
        normal_urls.push(read::route_urls(route, server, plan, &mut rng)?);
    }
    // One request of each route in turn.
    let normal_urls: Arc<Vec<String>> = Arc::new(
        (0..normal_urls[0].len())
            .flat_map(|index| normal_urls.iter().map(move |urls| urls[index].clone()))
            .collect(),
    );
    let floods = FloodRequests::new(server, plan, &mut rng)?;
    let normal_client = client(settings.normal_address, settings.timeout)?;
    // Warms the server's caches and connections; not measured.
    let warm_up = FloodSettings {
        duration: settings.duration.min(Duration::from_secs(5)),
        ..settings
    };
    normal(&normal_client, &normal_urls, warm_up).await;
    eprintln!(
        "flood: the normal client alone for {:.0} s",
        settings.duration.as_secs_f64()
    );
    let unloaded = normal(&normal_client, &normal_urls, settings).await;
    let mut runs = Vec::new();
    for flood in Flood::ALL {
        eprintln!("flood: {} from {}", flood.name(), settings.flood_address);
        let flooders = (0..settings.flood_connections)
            .map(|_| client(settings.flood_address, settings.timeout))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let deadline = Instant::now() + settings.duration;
        let started = Instant::now();
        let mut flooding = JoinSet::new();
        for (worker, flooder) in flooders.into_iter().enumerate() {
            flooding.spawn(flood_worker(
                flooder,
                floods.clone(),
                flood,
                worker,
                deadline,
            ));
        }
        // Let the flood reach its pace (and spend its bursts) before measuring.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let during = normal(&normal_client, &normal_urls, settings).await;
        let mut tally = FloodTally::default();
        while let Some(done) = flooding.join_next().await {
            tally.merge(done?);
        }
        let seconds = started.elapsed().as_secs_f64();
        runs.push(FloodRun {
            flood: flood.name(),
            p99_ratio: during.latency.p99_ms / unloaded.latency.p99_ms.max(1e-9),
            normal: during,
            flood_requests: tally.requests,
            flood_per_second: tally.requests as f64 / seconds.max(1e-9),
            flood_2xx: tally.ok,
            flood_429: tally.limited,
            flood_other: tally.other,
        });
        // The buckets refill, and the server settles, before the next flood.
        tokio::time::sleep(settings.duration.min(Duration::from_secs(2))).await;
    }
    Ok(FloodReport {
        normal_per_second: settings.normal_per_second,
        flood_connections: settings.flood_connections,
        seconds_per_window: settings.duration.as_secs_f64(),
        unloaded,
        floods: runs,
    })
}

/// A client whose connections leave from `address`.
fn client(address: IpAddr, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(http::client_builder(timeout)
        .local_address(address)
        .build()?)
}

/// The normal client for one window: a request every `1 / normal_per_second` seconds whatever
/// the answers take (open loop, so a slow server cannot hide its slowness by slowing the
/// client down).
async fn normal(
    client: &reqwest::Client,
    urls: &Arc<Vec<String>>,
    settings: FloodSettings,
) -> NormalReport {
    let mut ticks =
        tokio::time::interval(Duration::from_secs_f64(1.0 / settings.normal_per_second));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let deadline = Instant::now() + settings.duration;
    let mut requests = JoinSet::new();
    let mut next = 0;
    while Instant::now() < deadline {
        ticks.tick().await;
        let request = client.get(&urls[next % urls.len()]);
        next += 1;
        requests.spawn(http::exchange(request));
    }
    let mut histogram = http::histogram();
    let mut report = NormalReport {
        requests: 0,
        errors: 0,
        first_error: None,
        latency: http::LatencySummary::default(),
    };
    while let Some(done) = requests.join_next().await {
        let Ok((outcome, elapsed)) = done else {
            report.errors += 1;
            continue;
        };
        report.requests += 1;
        http::record(&mut histogram, elapsed);
        let error = match outcome {
            Outcome::Status { status, .. } if status.is_success() => None,
            Outcome::Status { status, body, .. } => Some(http::describe(status, &body)),
            Outcome::Transport(error) => Some(error),
        };
        if let Some(error) = error {
            report.errors += 1;
            report.first_error.get_or_insert(error);
        }
    }
    report.latency = http::LatencySummary::of(&histogram);
    report
}

/// What each flood sends, built before any clock starts.
#[derive(Clone)]
struct FloodRequests {
    events_url: String,
    /// Batches of valid posts by one identity of the flooder's, sent over and over.
    batches: Arc<Vec<Vec<u8>>>,
    claim_url: String,
    challenge_url: String,
    searches: Arc<Vec<String>>,
    references: Arc<Vec<String>>,
}

impl FloodRequests {
    fn new(server: &str, plan: &Plan, rng: &mut rand::rngs::StdRng) -> anyhow::Result<Self> {
        let seed = plan.config.seed ^ TAG_FLOOD;
        let mut key = [0; 32];
        for (chunk, word) in key.chunks_mut(8).zip(0_u64..) {
            chunk.copy_from_slice(&(seed ^ word).to_le_bytes());
        }
        let mut flooder = Author::new(SecretKey::from_seed(&key), Process::from_bytes(&key[..16])?);
        let mut events = Vec::with_capacity(FLOOD_EVENTS);
        for step in 0..FLOOD_EVENTS {
            let text = format!("flood {step} {}", plan::unique_word(seed, 0, step));
            events.push(
                flooder
                    .post(&text, 1_700_000_000_000 + step as u64)?
                    .to_signed(),
            );
        }
        let batches = events
            .chunks(FLOOD_BATCH)
            .map(|chunk| {
                wire::Events {
                    events: chunk.to_vec(),
                }
                .encode_to_vec()
            })
            .collect();
        Ok(Self {
            events_url: format!("{server}/events"),
            batches: Arc::new(batches),
            claim_url: format!("{server}/claim_handle"),
            challenge_url: format!("{server}/challenge"),
            searches: Arc::new(read::route_urls(Route::Search, server, plan, rng)?),
            references: Arc::new(read::route_urls(Route::QueryReferences, server, plan, rng)?),
        })
    }

    fn request(
        &self,
        client: &reqwest::Client,
        flood: Flood,
        number: usize,
    ) -> reqwest::RequestBuilder {
        match flood {
            Flood::Writes => client
                .post(&self.events_url)
                .body(self.batches[number % self.batches.len()].clone()),
            // Not a claim at all: the handle limit is checked before the body is read.
            Flood::HandleClaims => client.post(&self.claim_url).body(vec![0xff; 64]),
            Flood::Challenges => client.get(&self.challenge_url),
            Flood::Searches => client.get(&self.searches[number % self.searches.len()]),
            Flood::References => client.get(&self.references[number % self.references.len()]),
        }
    }
}

#[derive(Debug, Default)]
struct FloodTally {
    requests: usize,
    ok: usize,
    limited: usize,
    other: usize,
}

impl FloodTally {
    fn merge(&mut self, other: Self) {
        self.requests += other.requests;
        self.ok += other.ok;
        self.limited += other.limited;
        self.other += other.other;
    }
}

/// One flooding connection: requests back to back until the deadline.
async fn flood_worker(
    client: reqwest::Client,
    requests: FloodRequests,
    flood: Flood,
    worker: usize,
    deadline: Instant,
) -> FloodTally {
    let mut tally = FloodTally::default();
    let mut number = worker * 7_919;
    while Instant::now() < deadline {
        let (outcome, _) = http::exchange(requests.request(&client, flood, number)).await;
        number += 1;
        tally.requests += 1;
        match outcome {
            Outcome::Status { status, .. } if status.is_success() => tally.ok += 1,
            Outcome::Status { status, .. } if status.as_u16() == 429 => tally.limited += 1,
            _ => tally.other += 1,
        }
    }
    tally
}
