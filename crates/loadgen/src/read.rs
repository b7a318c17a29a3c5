//! The `read` phase: each read route in turn, for a fixed time, from concurrent clients.
//!
//! Request URLs are built before the clock starts, from the plan's identities and live posts, so
//! the loop only sends, reads and records.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agora_protocol::encoding::base64url_encode;
use agora_protocol::{author, content, wire};
use hdrhistogram::Histogram;
use prost::Message as _;
use rand::Rng as _;
use rand::rngs::StdRng;
use serde::Serialize;

use crate::http::{self, Outcome};
use crate::plan::{self, Plan, PostId};
use crate::sign;

/// Names this module's random stream (see [`plan::seeded_rng`]).
const TAG_READ: u64 = 0x7265_6164;
/// Distinct URLs prepared per route; workers cycle through them.
const URLS_PER_ROUTE: usize = 8_192;
/// `GET /events` asks for at most this many clocks, as official clients do.
const EVENTS_RANGE_CLOCKS_MAX: u64 = 20;
/// Post stats ask for replies and likes, and `/query_latest` for the profile.
const LATEST_TYPES: [u64; 2] = [content::USERNAME, content::DESCRIPTION];
/// The trending windows official clients ask for.
const TIME_RANGES: [&str; 4] = ["12h", "1d", "7d", "30d"];

/// The read routes, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum Route {
    Events,
    Ranges,
    Head,
    QueryLatest,
    QueryIndex,
    QueryReferences,
    Search,
    Explore,
    TopStringReferences,
    RecommendedProfiles,
}

impl Route {
    pub const ALL: [Self; 10] = [
        Self::Events,
        Self::Ranges,
        Self::Head,
        Self::QueryLatest,
        Self::QueryIndex,
        Self::QueryReferences,
        Self::Search,
        Self::Explore,
        Self::TopStringReferences,
        Self::RecommendedProfiles,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Self::Events => "/events",
            Self::Ranges => "/ranges",
            Self::Head => "/head",
            Self::QueryLatest => "/query_latest",
            Self::QueryIndex => "/query_index",
            Self::QueryReferences => "/query_references",
            Self::Search => "/search",
            Self::Explore => "/explore",
            Self::TopStringReferences => "/top_string_references",
            Self::RecommendedProfiles => "/recommended_profiles",
        }
    }
}

/// What one route measured.
#[derive(Debug, Serialize)]
pub struct RouteReport {
    pub route: &'static str,
    pub requests: usize,
    pub seconds: f64,
    pub requests_per_second: f64,
    #[serde(flatten)]
    pub latency: http::LatencySummary,
    /// Non-2xx responses, transport errors, and 2xx bodies that do not decode.
    pub errors: usize,
    /// 2xx responses that decode but hold nothing (no events, no ranges, no items or counts).
    pub empty: usize,
    pub first_error: Option<String>,
}

/// How a read phase runs.
#[derive(Clone, Copy, Debug)]
pub struct ReadSettings<'a> {
    pub duration: Duration,
    pub requests_max: usize,
    /// The routes to measure, in [`Route::ALL`] order; all of them when empty.
    pub routes: &'a [Route],
}

/// Runs every route in turn with one worker per client.
pub async fn run(
    clients: &[reqwest::Client],
    server: &str,
    plan: &Plan,
    settings: ReadSettings<'_>,
) -> anyhow::Result<Vec<RouteReport>> {
    let mut rng = plan::seeded_rng(plan.config.seed, TAG_READ);
    let mut reports = Vec::new();
    for route in Route::ALL {
        // Every route's URLs are drawn, measured or not, so a route asks for the same
        // requests whichever others run.
        let urls = Arc::new(route_urls(route, server, plan, &mut rng)?);
        if !settings.routes.is_empty() && !settings.routes.contains(&route) {
            continue;
        }
        eprintln!(
            "read: GET {} for {:.0} s",
            route.path(),
            settings.duration.as_secs_f64()
        );
        reports.push(run_route(clients, route, urls, settings).await?);
    }
    Ok(reports)
}

/// Prepared URLs for one route, or an error when the plan has nothing to ask about.
pub(crate) fn route_urls(
    route: Route,
    server: &str,
    plan: &Plan,
    rng: &mut StdRng,
) -> anyhow::Result<Vec<String>> {
    let with_events: Vec<usize> = (0..plan.identities.len())
        .filter(|&identity| !plan.actions[identity].is_empty())
        .collect();
    anyhow::ensure!(!with_events.is_empty(), "the plan has no events to read");
    if matches!(route, Route::QueryReferences | Route::Search) {
        anyhow::ensure!(!plan.live_posts.is_empty(), "the plan has no posts to read");
    }
    Ok((0..URLS_PER_ROUTE)
        .map(|_| {
            let identity = with_events[rng.gen_range(0..with_events.len())];
            let post = plan
                .live_posts
                .get(rng.gen_range(0..plan.live_posts.len().max(1)));
            url(route, server, plan, identity, post.copied(), rng)
        })
        .collect())
}

fn url(
    route: Route,
    server: &str,
    plan: &Plan,
    identity: usize,
    post: Option<PostId>,
    rng: &mut StdRng,
) -> String {
    let system = plan.identities[identity].system.to_query_param();
    let path = route.path();
    match route {
        Route::Events => {
            let ranges = events_ranges(plan, identity, rng);
            format!("{server}{path}?system={system}&ranges={ranges}")
        }
        Route::Ranges | Route::Head => format!("{server}{path}?system={system}"),
        Route::QueryLatest => {
            let types = wire::RepeatedUInt64 {
                numbers: LATEST_TYPES.to_vec(),
            };
            let types = base64url_encode(&types.encode_to_vec());
            format!("{server}{path}?system={system}&event_types={types}")
        }
        Route::QueryIndex => format!(
            "{server}{path}?system={system}&content_type={}&limit=10",
            content::POST
        ),
        Route::QueryReferences => {
            let post = post.unwrap_or_else(|| unreachable!("checked by route_urls"));
            let query = post_stats_query(plan, post);
            format!("{server}{path}?query={query}")
        }
        Route::Search => {
            let post = post.unwrap_or_else(|| unreachable!("checked by route_urls"));
            let words = search_words(plan, post, rng);
            format!("{server}{path}?search={words}&limit=10")
        }
        Route::Explore => {
            // Half the first page, half a page deep in the feed, as a scrolling client asks.
            let cursor = if rng.gen_bool(0.5) {
                String::new()
            } else {
                let step = rng.gen_range(0..plan.actions[identity].len());
                let mut bytes = (plan::unix_milliseconds(identity, step) as i64)
                    .to_le_bytes()
                    .to_vec();
                bytes.extend_from_slice(&i64::MAX.to_le_bytes());
                format!("&cursor={}", base64url_encode(&bytes))
            };
            format!("{server}{path}?limit=10{cursor}")
        }
        Route::TopStringReferences => {
            let range = TIME_RANGES[rng.gen_range(0..TIME_RANGES.len())];
            let query = if rng.gen_bool(0.5) {
                let topic = plan::TOPICS[rng.gen_range(0..plan::TOPICS.len())];
                format!("&query={}", &topic[..2])
            } else {
                String::new()
            };
            format!("{server}{path}?time_range={range}{query}")
        }
        Route::RecommendedProfiles => format!("{server}{path}"),
    }
}

/// What a search asks for: a common word, or the made-up word of one post, exactly or with one
/// letter changed (a typo the server should forgive).
fn search_words(plan: &Plan, post: PostId, rng: &mut StdRng) -> String {
    let action = plan.actions[post.identity as usize][post.step as usize];
    let choice = rng.gen_range(0..4);
    if choice == 0 || !plan::has_unique_word(action) {
        return sign::WORDS[rng.gen_range(0..sign::WORDS.len())].to_owned();
    }
    let word = plan::unique_word(plan.config.seed, post.identity as usize, post.step as usize);
    if choice == 1 { typo(&word) } else { word }
}

/// The word with its middle letter replaced by the next one of the alphabet.
pub fn typo(word: &str) -> String {
    let mut letters: Vec<u8> = word.bytes().collect();
    let middle = letters.len() / 2;
    if let Some(letter) = letters.get_mut(middle) {
        *letter = if *letter == b'z' { b'a' } else { *letter + 1 };
    }
    String::from_utf8_lossy(&letters).into_owned()
}

/// A `RangesForSystem` for one process and up to 20 consecutive clocks of the identity.
fn events_ranges(plan: &Plan, identity: usize, rng: &mut StdRng) -> String {
    let clocks = plan.actions[identity].len() as u64;
    let low = rng.gen_range(1..=clocks);
    let high = (low + rng.gen_range(0..EVENTS_RANGE_CLOCKS_MAX)).min(clocks);
    let ranges = wire::RangesForSystem {
        ranges_for_processes: vec![wire::RangesForProcess {
            process: Some(plan.identities[identity].process.to_wire()),
            ranges: vec![wire::Range { low, high }],
        }],
    };
    base64url_encode(&ranges.encode_to_vec())
}

/// The official clients' post-stats call: replies, plus counts of likes, dislikes and replies.
pub fn post_stats_query(plan: &Plan, post: PostId) -> String {
    let request = author::post_stats_request(&plan.pointer(post));
    base64url_encode(&request.encode_to_vec())
}

async fn run_route(
    clients: &[reqwest::Client],
    route: Route,
    urls: Arc<Vec<String>>,
    settings: ReadSettings<'_>,
) -> anyhow::Result<RouteReport> {
    let issued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + settings.duration;
    let tasks: Vec<_> = clients
        .iter()
        .map(|client| {
            let worker = Worker {
                client: client.clone(),
                route,
                urls: Arc::clone(&urls),
                issued: Arc::clone(&issued),
                requests_max: settings.requests_max,
                deadline,
            };
            tokio::spawn(worker.run())
        })
        .collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await?)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(RouteReport {
        route: route.path(),
        requests: tally.requests,
        seconds,
        requests_per_second: tally.requests as f64 / seconds.max(1e-9),
        latency: http::LatencySummary::of(&tally.histogram),
        errors: tally.errors,
        empty: tally.empty,
        first_error: tally.first_error,
    })
}

/// One client's loop over a route; stops at the deadline or when the route's budget is spent.
struct Worker {
    client: reqwest::Client,
    route: Route,
    urls: Arc<Vec<String>>,
    /// Requests started by all workers of this route: the shared budget.
    issued: Arc<AtomicUsize>,
    requests_max: usize,
    deadline: Instant,
}

impl Worker {
    async fn run(self) -> Tally {
        let mut tally = Tally::default();
        while Instant::now() < self.deadline {
            let number = self.issued.fetch_add(1, Ordering::Relaxed);
            if number >= self.requests_max {
                break;
            }
            let url = &self.urls[number % self.urls.len()];
            let (outcome, elapsed) = http::exchange(self.client.get(url)).await;
            http::record(&mut tally.histogram, elapsed);
            tally.requests += 1;
            tally.count(self.route, outcome);
        }
        tally
    }
}

/// Counts of one worker, merged into the route's.
#[derive(Debug)]
struct Tally {
    requests: usize,
    errors: usize,
    empty: usize,
    first_error: Option<String>,
    histogram: Histogram<u64>,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            requests: 0,
            errors: 0,
            empty: 0,
            first_error: None,
            histogram: http::histogram(),
        }
    }
}

impl Tally {
    fn count(&mut self, route: Route, outcome: Outcome) {
        let problem = match outcome {
            Outcome::Transport(error) => Some(error),
            Outcome::Status { status, body, .. } if !status.is_success() => {
                Some(http::describe(status, &body))
            }
            Outcome::Status { body, .. } => match check_body(route, &body) {
                Ok(Content::Empty) => {
                    self.empty += 1;
                    None
                }
                Ok(Content::Some) => None,
                Err(error) => Some(format!("200 with a bad body: {error}")),
            },
        };
        if let Some(problem) = problem {
            self.errors += 1;
            self.first_error.get_or_insert(problem);
        }
    }

    fn merge(&mut self, other: Tally) -> anyhow::Result<()> {
        self.requests += other.requests;
        self.errors += other.errors;
        self.empty += other.empty;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.histogram.add(&other.histogram)?;
        Ok(())
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Content {
    Empty,
    Some,
}

/// Decodes a 2xx body as the route's message and says whether it holds anything.
fn check_body(route: Route, body: &[u8]) -> Result<Content, String> {
    let empty = match route {
        Route::Events | Route::Head | Route::QueryLatest => {
            decode::<wire::Events>(body)?.events.is_empty()
        }
        Route::Ranges => decode::<wire::RangesForSystem>(body)?
            .ranges_for_processes
            .is_empty(),
        Route::QueryIndex => decode::<wire::QueryIndexResponse>(body)?.events.is_empty(),
        Route::Search | Route::Explore => {
            decode::<wire::ResultEventsAndRelatedEventsAndCursor>(body)?
                .result_events
                .is_none_or(|events| events.events.is_empty())
        }
        Route::TopStringReferences => decode::<wire::ResultTopStringReferences>(body)?
            .buckets
            .is_empty(),
        Route::RecommendedProfiles => decode::<wire::PublicKeys>(body)?.systems.is_empty(),
        Route::QueryReferences => {
            let response = decode::<wire::QueryReferencesResponse>(body)?;
            if response.counts.len() != 3 {
                return Err(format!(
                    "post stats must have 3 counts, got {}",
                    response.counts.len()
                ));
            }
            response.items.is_empty() && response.counts.iter().all(|&count| count == 0)
        }
    };
    Ok(if empty { Content::Empty } else { Content::Some })
}

fn decode<M: prost::Message + Default>(body: &[u8]) -> Result<M, String> {
    M::decode(body).map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests {
    use agora_protocol::encoding::base64url_decode;
    use rand::SeedableRng as _;

    use super::*;
    use crate::plan::PlanConfig;

    fn plan() -> Plan {
        Plan::new(PlanConfig {
            seed: 4,
            identities: 30,
            events: 900,
        })
    }

    #[test]
    fn events_ranges_stay_inside_the_identity_and_under_twenty_clocks() {
        let plan = plan();
        let mut rng = StdRng::seed_from_u64(1);
        for identity in 0..plan.identities.len() {
            let text = events_ranges(&plan, identity, &mut rng);
            let bytes = base64url_decode(&text).expect("base64url");
            let ranges = wire::RangesForSystem::decode(bytes.as_slice()).expect("decodes");
            let range = &ranges.ranges_for_processes[0].ranges[0];
            assert!(1 <= range.low && range.low <= range.high);
            assert!(range.high - range.low < EVENTS_RANGE_CLOCKS_MAX);
            assert!(range.high <= plan.actions[identity].len() as u64);
        }
    }

    #[test]
    fn urls_are_deterministic_per_seed() {
        let plan = plan();
        let urls = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            route_urls(Route::QueryReferences, "http://x", &plan, &mut rng).expect("urls")
        };
        assert_eq!(urls(1), urls(1));
        assert!(urls(1)[0].starts_with("http://x/query_references?query="));
    }

    #[test]
    fn searches_ask_for_common_words_made_up_words_and_typos() {
        let plan = plan();
        let mut rng = StdRng::seed_from_u64(2);
        let urls = route_urls(Route::Search, "http://x", &plan, &mut rng).expect("urls");
        let words: Vec<&str> = urls
            .iter()
            .map(|url| {
                let rest = url
                    .strip_prefix("http://x/search?search=")
                    .expect("search url");
                rest.strip_suffix("&limit=10").expect("limit")
            })
            .collect();
        assert!(words.iter().any(|word| sign::WORDS.contains(word)));
        assert!(
            words
                .iter()
                .any(|word| word.len() == 10 && !sign::WORDS.contains(word))
        );
        assert_eq!(typo("abcdz"), "abddz");
        assert_eq!(typo("abzde"), "abade");
    }

    #[test]
    fn bodies_are_checked_per_route() {
        let no_results = wire::ResultEventsAndRelatedEventsAndCursor::default().encode_to_vec();
        assert_eq!(check_body(Route::Search, &no_results), Ok(Content::Empty));
        assert_eq!(check_body(Route::Explore, &no_results), Ok(Content::Empty));
        let topics = wire::ResultTopStringReferences {
            buckets: vec![wire::AggregationBucket {
                key: b"rust".to_vec().into(),
                value: 2,
            }],
        };
        assert_eq!(
            check_body(Route::TopStringReferences, &topics.encode_to_vec()),
            Ok(Content::Some)
        );
        assert!(check_body(Route::RecommendedProfiles, &[0xff]).is_err());
        let empty_events = wire::Events::default().encode_to_vec();
        assert_eq!(check_body(Route::Head, &empty_events), Ok(Content::Empty));
        assert!(check_body(Route::QueryReferences, &empty_events).is_err());
        let stats = wire::QueryReferencesResponse {
            counts: vec![0, 1, 0],
            ..Default::default()
        };
        assert_eq!(
            check_body(Route::QueryReferences, &stats.encode_to_vec()),
            Ok(Content::Some)
        );
        assert!(check_body(Route::Ranges, &[0xff, 0xff]).is_err());
    }
}
