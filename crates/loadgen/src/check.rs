//! Untimed answers checks: what the plan says a correct server must answer, compared with what it
//! answers, for a sample of identities and posts. A load test that only counts 2xx would miss a
//! fast server that drops likes or returns the wrong head.

use std::collections::HashMap;

use agora_protocol::{VerifiedEvent, content, wire};
use prost::Message as _;
use rand::seq::SliceRandom as _;
use serde::Serialize;

use crate::http::{self, Outcome};
use crate::plan::{self, Action, Plan, PostId};
use crate::read;

/// Identities and posts checked per run.
const IDENTITIES_CHECKED: usize = 50;
const POSTS_CHECKED: usize = 200;
/// Posts searched for by their made-up word (live ones must be found, deleted ones must not).
const SEARCHES_CHECKED: usize = 50;
/// Names this module's random stream (see [`plan::seeded_rng`]).
const TAG_CHECK: u64 = 0x6368_6563_6b00;
/// Failures described in the report; the rest are only counted.
const FAILURES_SHOWN: usize = 5;

/// What the checks found.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    pub checked: usize,
    pub failed: usize,
    pub failures: Vec<String>,
}

impl CheckReport {
    fn record(&mut self, result: Result<(), String>) {
        self.checked += 1;
        if let Err(failure) = result {
            self.failed += 1;
            if self.failures.len() < FAILURES_SHOWN {
                self.failures.push(failure);
            }
        }
    }
}

/// Likes, dislikes and replies a correct server counts for a post: each voter's latest opinion,
/// and replies that were not deleted.
pub fn expected_post_stats(plan: &Plan) -> HashMap<PostId, [u64; 3]> {
    let deleted = plan::deleted(&plan.actions);
    let mut latest_votes: HashMap<(usize, PostId), bool> = HashMap::new();
    let mut stats: HashMap<PostId, [u64; 3]> = HashMap::new();
    for (identity, actions) in plan.actions.iter().enumerate() {
        for (step, action) in actions.iter().enumerate() {
            match *action {
                Action::Opinion { subject, like } | Action::Revote { subject, like } => {
                    latest_votes.insert((identity, subject), like);
                }
                Action::Reply { parent } => {
                    let reply = PostId {
                        identity: identity as u32,
                        step: step as u32,
                    };
                    if !deleted.contains(&reply) {
                        stats.entry(parent).or_default()[2] += 1;
                    }
                }
                _ => {}
            }
        }
    }
    for ((_, subject), like) in latest_votes {
        stats.entry(subject).or_default()[usize::from(!like)] += 1;
    }
    stats
}

/// Runs every check on a sample drawn from the seed.
pub async fn run(client: &reqwest::Client, server: &str, plan: &Plan) -> CheckReport {
    let mut rng = plan::seeded_rng(plan.config.seed, TAG_CHECK);
    let mut report = CheckReport::default();
    let identities: Vec<usize> = (0..plan.identities.len())
        .filter(|&identity| plan.actions[identity].len() >= 2)
        .collect();
    for &identity in identities.choose_multiple(&mut rng, IDENTITIES_CHECKED) {
        let checker = Checker {
            client,
            server,
            plan,
            identity,
        };
        report.record(checker.ranges().await);
        report.record(checker.head().await);
        report.record(checker.latest().await);
    }
    let stats = expected_post_stats(plan);
    for &post in plan.live_posts.choose_multiple(&mut rng, POSTS_CHECKED) {
        let expected = stats.get(&post).copied().unwrap_or_default();
        report.record(post_stats(client, server, plan, post, expected).await);
    }
    let searchable = |post: &&PostId| {
        plan::has_unique_word(plan.actions[post.identity as usize][post.step as usize])
    };
    let live: Vec<PostId> = plan.live_posts.iter().filter(searchable).copied().collect();
    for &post in live.choose_multiple(&mut rng, SEARCHES_CHECKED) {
        report.record(search(client, server, plan, post, true).await);
    }
    let mut deleted: Vec<PostId> = plan::deleted(&plan.actions)
        .iter()
        .filter(searchable)
        .copied()
        .collect();
    deleted.sort_by_key(|post| (post.identity, post.step));
    for &post in deleted.choose_multiple(&mut rng, SEARCHES_CHECKED) {
        report.record(search(client, server, plan, post, false).await);
    }
    report.record(explore_order(client, server).await);
    report
}

/// Searches for a post's made-up word, and the same word with a typo: a live post must be on
/// the first page both times, a deleted one never.
async fn search(
    client: &reqwest::Client,
    server: &str,
    plan: &Plan,
    post: PostId,
    live: bool,
) -> Result<(), String> {
    let word = plan::unique_word(plan.config.seed, post.identity as usize, post.step as usize);
    let system = plan.identities[post.identity as usize].system;
    for query in [word.clone(), read::typo(&word)] {
        let url = format!("{server}/search?search={query}&limit=10");
        let page: wire::ResultEventsAndRelatedEventsAndCursor = get(client, &url).await?;
        let events = page.result_events.unwrap_or_default();
        let mut found = false;
        for signed in &events.events {
            let event = VerifiedEvent::verify(signed)
                .map_err(|error| format!("GET {url}: a result does not verify: {error}"))?;
            found |= *event.system() == system && event.logical_clock() == u64::from(post.step) + 1;
        }
        if found != live {
            let state = if live { "live" } else { "deleted" };
            return Err(format!(
                "GET /search?search={query}: {state} post {}/{} found: {found}",
                post.identity,
                post.step + 1
            ));
        }
    }
    Ok(())
}

/// The first explore pages are posts, newest first (the plan's times are all in the past).
async fn explore_order(client: &reqwest::Client, server: &str) -> Result<(), String> {
    let url = format!("{server}/explore?limit=50");
    let page: wire::ResultEventsAndRelatedEventsAndCursor = get(client, &url).await?;
    let events = page.result_events.unwrap_or_default().events;
    if events.is_empty() {
        return Err("GET /explore: no posts".into());
    }
    let mut times = Vec::with_capacity(events.len());
    for signed in &events {
        let event = VerifiedEvent::verify(signed)
            .map_err(|error| format!("GET /explore: a result does not verify: {error}"))?;
        if event.content_type() != content::POST {
            return Err(format!("GET /explore: type {} event", event.content_type()));
        }
        times.push(event.unix_milliseconds().unwrap_or_default());
    }
    if times.windows(2).any(|pair| pair[0] < pair[1]) {
        return Err(format!("GET /explore: not newest first: {times:?}"));
    }
    Ok(())
}

/// Checks of one identity.
struct Checker<'a> {
    client: &'a reqwest::Client,
    server: &'a str,
    plan: &'a Plan,
    identity: usize,
}

impl Checker<'_> {
    fn system(&self) -> String {
        self.plan.identities[self.identity].system.to_query_param()
    }

    /// Every clock is held (deleted ones count), so one range from 1 to the last clock.
    async fn ranges(&self) -> Result<(), String> {
        let url = format!("{}/ranges?system={}", self.server, self.system());
        let got: wire::RangesForSystem = get(self.client, &url).await?;
        let got: Vec<(String, Vec<(u64, u64)>)> = got
            .ranges_for_processes
            .iter()
            .map(|entry| {
                let process = entry.process.as_ref().map(|p| hex(&p.process));
                let ranges = entry.ranges.iter().map(|r| (r.low, r.high)).collect();
                (process.unwrap_or_default(), ranges)
            })
            .collect();
        let process = hex(self.plan.identities[self.identity].process.as_bytes());
        let expected = vec![(process, vec![(1, self.last_clock())])];
        same(
            &format!("GET /ranges of identity {}", self.identity),
            &expected,
            &got,
        )
    }

    /// The head is the last event: nothing deletes it, and there is no SYSTEM_PROCESSES event.
    async fn head(&self) -> Result<(), String> {
        let url = format!("{}/head?system={}", self.server, self.system());
        let got: wire::Events = get(self.client, &url).await?;
        let clocks = clocks(&got)?;
        let what = format!("GET /head of identity {} (logical clocks)", self.identity);
        same(&what, &vec![self.last_clock()], &clocks)
    }

    /// The latest USERNAME and DESCRIPTION of the only process.
    async fn latest(&self) -> Result<(), String> {
        let types = wire::RepeatedUInt64 {
            numbers: vec![content::USERNAME, content::DESCRIPTION],
        };
        let url = format!(
            "{}/query_latest?system={}&event_types={}",
            self.server,
            self.system(),
            agora_protocol::encoding::base64url_encode(&types.encode_to_vec())
        );
        let got: wire::Events = get(self.client, &url).await?;
        let mut clocks = clocks(&got)?;
        clocks.sort_unstable();
        let actions = &self.plan.actions[self.identity];
        let last_of = |wanted: Action| {
            actions
                .iter()
                .rposition(|action| *action == wanted)
                .map(|step| step as u64 + 1)
        };
        let mut expected: Vec<u64> = [last_of(Action::Username), last_of(Action::Description)]
            .into_iter()
            .flatten()
            .collect();
        expected.sort_unstable();
        let what = format!(
            "GET /query_latest [5, 6] of identity {} (logical clocks)",
            self.identity
        );
        same(&what, &expected, &clocks)
    }

    fn last_clock(&self) -> u64 {
        self.plan.actions[self.identity].len() as u64
    }
}

/// The post-stats call's top-level counts: [likes, dislikes, replies].
async fn post_stats(
    client: &reqwest::Client,
    server: &str,
    plan: &Plan,
    post: PostId,
    expected: [u64; 3],
) -> Result<(), String> {
    let url = format!(
        "{server}/query_references?query={}",
        read::post_stats_query(plan, post)
    );
    let got: wire::QueryReferencesResponse = get(client, &url).await?;
    let what = format!(
        "GET /query_references counts [likes, dislikes, replies] of post {}/{}",
        post.identity,
        post.step + 1
    );
    same(&what, &expected.to_vec(), &got.counts)
}

async fn get<M: prost::Message + Default>(
    client: &reqwest::Client,
    url: &str,
) -> Result<M, String> {
    match http::exchange(client.get(url)).await.0 {
        Outcome::Transport(error) => Err(format!("GET {url}: {error}")),
        Outcome::Status { status, body, .. } if !status.is_success() => {
            Err(format!("GET {url}: {}", http::describe(status, &body)))
        }
        Outcome::Status { body, .. } => {
            M::decode(body).map_err(|error| format!("GET {url}: undecodable body: {error}"))
        }
    }
}

fn clocks(events: &wire::Events) -> Result<Vec<u64>, String> {
    events
        .events
        .iter()
        .map(|signed| {
            VerifiedEvent::verify(signed)
                .map(|event| event.logical_clock())
                .map_err(|error| format!("a returned event does not verify: {error}"))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn same<T: PartialEq + std::fmt::Debug>(what: &str, expected: &T, got: &T) -> Result<(), String> {
    if expected == got {
        Ok(())
    } else {
        Err(format!("{what}: expected {expected:?}, got {got:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::PlanConfig;

    #[test]
    fn stats_follow_the_latest_vote_and_skip_deleted_replies() {
        let plan = Plan::new(PlanConfig {
            seed: 5,
            identities: 50,
            events: 5_000,
        });
        let stats = expected_post_stats(&plan);
        let votes: u64 = stats
            .values()
            .map(|[like, dislike, _]| like + dislike)
            .sum();
        let replies: u64 = stats.values().map(|[_, _, replies]| replies).sum();
        let mix: HashMap<_, _> = plan.mix().into_iter().collect();
        let opinions = (mix[&plan::ActionKind::Like] + mix[&plan::ActionKind::Dislike]) as u64;
        // Re-votes replace votes, so the count is the opinions, at most.
        assert!(
            votes <= opinions && votes > opinions / 2,
            "{votes} of {opinions}"
        );
        assert!(replies <= mix[&plan::ActionKind::Reply] as u64);
        assert!(replies > 0);
    }
}
