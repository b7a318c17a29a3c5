//! Discovery across servers: search, explore, trending topics and recommended profiles, asked of
//! several servers at once. Every served event is verified; a server that serves one that does
//! not verify is named as failed and its whole answer is dropped. The answers are merged without
//! duplicates and every result keeps the servers that returned it, so a reader sees who curated
//! what and a server that hides something cannot make it vanish.
//!
//! Merging:
//! - message search: one result per event slot (system, process, clock), ordered by its best
//!   position on any server's page, then by how many servers returned it, then newest first;
//! - explore: one result per slot, newest first, replies left out as official clients do (spec
//!   section 6.7). A post is ordered by its own time unless it claims to be from further ahead
//!   than the servers' margin; every server's own order is kept (see [`explore_order`]);
//! - profile search and recommendations: one result per identity, ordered by best position (for
//!   recommendations first by how many servers recommended it);
//! - trending: one result per topic, counting each post once however many servers hold it:
//!   the servers' counts summed, less one for every extra server that serves the same post in
//!   the window (a topic only one server returned needs no such read). Counts per topic are
//!   all `/top_string_references` gives, so the posts of a topic two servers returned are read
//!   from each of them (`/query_references` with the topic as a bytes reference). Posts past
//!   the first [`TOPIC_POSTS_READ_MAX`] a server serves for a topic, and posts dated further
//!   ahead than the servers' margin (which servers window by their arrival), count as that
//!   server's own. `/query_references` still serves posts an operator curated out of
//!   discovery, so a post that one server curated out and another counts can make the count one
//!   lower than the distinct posts (never lower than one server's count). The spec's
//!   client sums the counts and divides by the number of answers, which counts a post held by
//!   every server once but one held by some of them less than once.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use agora_protocol::crdt::{LwwStamp, lww_element_replaces};
use agora_protocol::encoding::base64url_encode;
use agora_protocol::{PublicKey, Reference, VerifiedEvent, content, wire};
use agora_store::discovery::FUTURE_MARGIN_MS;
use futures::future::join_all;
use prost::Message as _;

use crate::read::{post_view, reply_target};
use crate::remote::{Remote, ServerError, malformed};
use crate::{Client, FeedPost, Gathered, Profile, ServerFailure};

/// One merged result and the servers (base URLs) that returned it, in the order asked.
#[derive(Clone, Debug)]
pub struct Found<T> {
    pub item: T,
    pub servers: Vec<String>,
}

/// An identity found by profile search or recommended by a server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundProfile {
    pub system: PublicKey,
    pub username: Option<String>,
    pub description: Option<String>,
}

/// A trending topic: its text and how many distinct posts carry it on the servers that returned
/// it (module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topic {
    pub topic: String,
    pub count: u64,
}

/// The window `/top_string_references` counts over (spec section 6.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimeRange {
    Hours12,
    Day,
    Week,
    #[default]
    Month,
}

impl TimeRange {
    /// How far back the window reaches, as servers count it.
    pub fn window_ms(self) -> i64 {
        const HOUR_MS: i64 = 60 * 60 * 1000;
        match self {
            Self::Hours12 => 12 * HOUR_MS,
            Self::Day => 24 * HOUR_MS,
            Self::Week => 7 * 24 * HOUR_MS,
            Self::Month => 30 * 24 * HOUR_MS,
        }
    }

    /// The `time_range` query value.
    pub fn as_param(self) -> &'static str {
        match self {
            Self::Hours12 => "12h",
            Self::Day => "1d",
            Self::Week => "7d",
            Self::Month => "30d",
        }
    }
}

/// A time range that is not one of `12h`, `1d`, `7d`, `30d`.
#[derive(Debug, thiserror::Error)]
#[error("time range {0:?} is not one of 12h, 1d, 7d, 30d")]
pub struct TimeRangeError(String);

impl FromStr for TimeRange {
    type Err = TimeRangeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "12h" => Ok(Self::Hours12),
            "1d" => Ok(Self::Day),
            "7d" => Ok(Self::Week),
            "30d" => Ok(Self::Month),
            other => Err(TimeRangeError(other.to_owned())),
        }
    }
}

impl Client {
    /// Posts matching `text` on every one of `servers`, merged by relevance (module docs).
    pub async fn search_posts(
        &self,
        servers: &[String],
        text: &str,
        limit: usize,
    ) -> Gathered<Vec<Found<FeedPost>>> {
        let page = EventsPage::search(text, limit, "messages");
        let mut gathered = self.ask_all(servers, &page).await;
        let mut answers = std::mem::take(&mut gathered.value);
        self.keep_edits(&mut answers).await;
        let mut merged = merge(answers, slot_of, |_, _| {});
        merged.retain(|entry| entry.item.content_type() == content::POST);
        merged.sort_by_key(|entry| {
            (
                entry.best_rank,
                std::cmp::Reverse(entry.servers.len()),
                std::cmp::Reverse(entry.item.unix_milliseconds()),
            )
        });
        self.posts_found(gathered, merged, limit).await
    }

    /// Recent posts of everyone on every one of `servers`, newest first, without replies.
    pub async fn explore(
        &self,
        servers: &[String],
        limit: usize,
    ) -> Gathered<Vec<Found<FeedPost>>> {
        let page = EventsPage {
            path: "/explore",
            params: vec![("limit", limit.to_string())],
        };
        let mut gathered = self.ask_all(servers, &page).await;
        let mut answers = std::mem::take(&mut gathered.value);
        self.keep_edits(&mut answers).await;
        let answers = explore_order(answers, now_ms());
        let mut merged = merge(
            answers,
            |post: &Explored| slot_of(&post.event),
            |kept, other| kept.order_ms = kept.order_ms.max(other.order_ms),
        );
        merged.retain(|entry| {
            entry.item.event.content_type() == content::POST
                && reply_target(&entry.item.event).is_none()
        });
        merged.sort_by_key(|entry| {
            (
                std::cmp::Reverse(entry.item.order_ms),
                entry.best_rank,
                std::cmp::Reverse(entry.item.event.slot_key()),
            )
        });
        let merged = merged
            .into_iter()
            .map(|entry| Merged {
                item: entry.item.event,
                best_rank: entry.best_rank,
                servers: entry.servers,
            })
            .collect();
        self.posts_found(gathered, merged, limit).await
    }

    /// Identities whose username or description matches `text`, one result per identity.
    pub async fn search_profiles(
        &self,
        servers: &[String],
        text: &str,
        limit: usize,
    ) -> Gathered<Vec<Found<FoundProfile>>> {
        let page = ProfilesPage(EventsPage::search(text, limit, "profiles"));
        let mut gathered = self.ask_all(servers, &page).await;
        let answers = std::mem::take(&mut gathered.value);
        let mut merged = merge(answers, |profile: &Partial| profile.system, Partial::absorb);
        merged.sort_by_key(|entry| (entry.best_rank, std::cmp::Reverse(entry.servers.len())));
        merged.truncate(limit);
        let found = merged
            .into_iter()
            .map(|entry| (entry.item.finish(), entry.servers))
            .collect();
        let found = self.complete_profiles(found).await;
        gathered.with_value(self.people(found).await)
    }

    /// The most used topics on every one of `servers`; `prefix` narrows them (spec section 6.6).
    pub async fn trending(
        &self,
        servers: &[String],
        range: TimeRange,
        prefix: Option<&str>,
        limit: usize,
    ) -> Gathered<Vec<Found<Topic>>> {
        let mut params = vec![
            ("limit", limit.to_string()),
            ("time_range", range.as_param().to_owned()),
        ];
        if let Some(prefix) = prefix {
            params.push(("query", prefix.to_owned()));
        }
        let gathered = self.ask_all(servers, &TopTopics { params }).await;
        let window = Window::ending(now_ms(), range);
        let mut gathered = self.read_shared_topics(gathered, window).await;
        let answers = std::mem::take(&mut gathered.value);
        let merged = merge(
            answers,
            |topic: &TopicPosts| topic.topic.topic.clone(),
            TopicPosts::absorb,
        );
        let merged = merged
            .into_iter()
            .map(|entry| Merged {
                item: entry.item.finish(),
                best_rank: entry.best_rank,
                servers: entry.servers,
            })
            .collect();
        gathered.with_value(rank_topics(merged, limit))
    }

    /// Beside each server's topics, the posts it serves in `window` for each topic another
    /// server also returned (none for the others: nothing to count twice). A server whose posts
    /// cannot be read, or that serves one that does not verify or does not carry the topic, is
    /// failed for the whole query and its counts are left out.
    async fn read_shared_topics(
        &self,
        gathered: Gathered<Vec<(String, Vec<Topic>)>>,
        window: Window,
    ) -> Gathered<Vec<(String, Vec<TopicPosts>)>> {
        let mut returned: HashMap<&str, usize> = HashMap::new();
        for (_, topics) in &gathered.value {
            for topic in topics {
                *returned.entry(topic.topic.as_str()).or_default() += 1;
            }
        }
        let shared: HashSet<&str> = returned
            .into_iter()
            .filter(|(_, servers)| *servers > 1)
            .map(|(topic, _)| topic)
            .collect();
        let reads = gathered.value.iter().map(|(server, topics)| {
            let remote = self.remote(server);
            let shared = &shared;
            join_all(topics.iter().map(move |topic| async move {
                let posts = if shared.contains(topic.topic.as_str()) {
                    remote.topic_posts(&topic.topic, window).await?
                } else {
                    HashSet::new()
                };
                Ok(TopicPosts {
                    topic: topic.clone(),
                    posts,
                    count_max: topic.count,
                })
            }))
        });
        let read: Vec<Vec<Result<TopicPosts, ServerError>>> = join_all(reads).await;
        let mut kept = Gathered {
            value: Vec::new(),
            answered: Vec::new(),
            failed: gathered.failed,
        };
        for ((server, _), topics) in gathered.value.into_iter().zip(read) {
            match topics.into_iter().collect::<Result<Vec<_>, _>>() {
                Ok(topics) => {
                    kept.answered.push(server.clone());
                    kept.value.push((server, topics));
                }
                Err(error) => {
                    tracing::warn!(%server, %error, "trending topic posts failed");
                    kept.failed.push(ServerFailure { server, error });
                }
            }
        }
        kept
    }

    /// The identities `servers` recommend, each once, with its current username when a server
    /// that recommended it serves one.
    pub async fn recommended(
        &self,
        servers: &[String],
        limit: usize,
    ) -> Gathered<Vec<Found<FoundProfile>>> {
        let mut gathered = self.ask_all(servers, &Recommended).await;
        let answers = std::mem::take(&mut gathered.value);
        let mut merged = merge(answers, |system| *system, |_, _| {});
        merged.sort_by_key(|entry| {
            (
                std::cmp::Reverse(entry.servers.len()),
                entry.best_rank,
                entry.item,
            )
        });
        merged.truncate(limit);
        let found = merged
            .into_iter()
            .map(|entry| {
                let profile = FoundProfile {
                    system: entry.item,
                    username: None,
                    description: None,
                };
                (profile, entry.servers)
            })
            .collect();
        let found = self.complete_profiles(found).await;
        gathered.with_value(self.people(found).await)
    }

    /// Asks every server at once; each answer is kept beside its server, each failure named.
    async fn ask_all<A: Ask>(
        &self,
        servers: &[String],
        ask: &A,
    ) -> Gathered<Vec<(String, Vec<A::Item>)>> {
        self.ask_each(servers, "discovery query", |server| async move {
            ask.ask(self.remote(&server)).await
        })
        .await
    }

    /// Turns merged post events into feed posts with their authors' usernames.
    async fn posts_found<A>(
        &self,
        gathered: Gathered<A>,
        mut merged: Vec<Merged<VerifiedEvent>>,
        limit: usize,
    ) -> Gathered<Vec<Found<FeedPost>>> {
        merged.truncate(limit);
        let authors: Vec<(PublicKey, Vec<String>)> = merged
            .iter()
            .map(|entry| (*entry.item.system(), entry.servers.clone()))
            .collect();
        let identities = self.identities_of(&authors).await;
        let blocked = self.blocked().await.unwrap_or_default();
        merged.retain(|entry| !blocked.contains(&identities[entry.item.system()]));
        // Kept locally (each was verified), so the short form printed for a result names it in
        // a later command (`agora like KEY/CLOCK`).
        let results = merged.iter().map(|entry| entry.item.clone()).collect();
        if let Err(error) = agora_store::Store::ingest(&self.store, results).await {
            tracing::warn!(%error, "cannot keep results locally");
        }
        let people: Vec<(PublicKey, Vec<String>)> = authors
            .iter()
            .map(|(system, servers)| (identities[system], servers.clone()))
            .collect();
        let profiles = self.profiles_from(people).await;
        let latest = self
            .latest_edits(merged.iter().map(|entry| entry.item.slot_key()).collect())
            .await;
        let found = merged
            .into_iter()
            .filter_map(|entry| {
                let post = post_view(&entry.item)?;
                let post = latest
                    .get(&post.pointer.slot_key())
                    .map_or(post.clone(), |edit| crate::read::with_edit(post, edit));
                let identity = identities[entry.item.system()];
                let username = profiles
                    .get(&identity)
                    .and_then(|profile| profile.username.clone());
                let item = FeedPost {
                    identity,
                    username,
                    reply_to: reply_target(&entry.item),
                    post,
                };
                Some(Found {
                    item,
                    servers: entry.servers,
                })
            })
            .collect();
        gathered.with_value(found)
    }

    /// Stores the edits servers sent beside their results (each verified, and refused by the
    /// local store unless signed by its post's key) and leaves only the results.
    async fn keep_edits(&self, answers: &mut [(String, Vec<VerifiedEvent>)]) {
        for (_, events) in answers.iter_mut() {
            let (edits, results): (Vec<_>, Vec<_>) = std::mem::take(events)
                .into_iter()
                .partition(|event| event.content_type() == content::POST_EDIT);
            *events = results;
            if let Err(error) = agora_store::Store::ingest(&self.store, edits).await {
                tracing::warn!(%error, "cannot keep edits locally");
            }
        }
    }

    /// The identity of each system (a device's identity, else the system itself), asking the
    /// servers that returned it when the local store does not know; lookups run concurrently.
    async fn identities_of(
        &self,
        systems: &[(PublicKey, Vec<String>)],
    ) -> HashMap<PublicKey, PublicKey> {
        let mut seen = HashSet::new();
        let lookups = systems
            .iter()
            .filter(|(system, _)| seen.insert(*system))
            .map(|(system, servers)| async move {
                let identity = self.learn_identity(*system, servers).await;
                (*system, identity.unwrap_or(*system))
            });
        join_all(lookups).await.into_iter().collect()
    }

    /// Profiles found per system become one per person: a device's entry is its identity's,
    /// with the identity's current profile, merged with the identity's own entry. Blocked
    /// identities are left out.
    async fn people(&self, found: Vec<Found<FoundProfile>>) -> Vec<Found<FoundProfile>> {
        let systems: Vec<(PublicKey, Vec<String>)> = found
            .iter()
            .map(|entry| (entry.item.system, entry.servers.clone()))
            .collect();
        let identities = self.identities_of(&systems).await;
        let blocked = self.blocked().await.unwrap_or_default();
        let mut people: Vec<Found<FoundProfile>> = Vec::new();
        for mut entry in found {
            let identity = identities[&entry.item.system];
            if blocked.contains(&identity) {
                continue;
            }
            if identity != entry.item.system {
                let profile = self.profile(identity).await.unwrap_or_default();
                entry.item = FoundProfile {
                    system: identity,
                    username: profile.username,
                    description: profile.description,
                };
            }
            match people
                .iter_mut()
                .find(|known| known.item.system == identity)
            {
                Some(known) => {
                    for server in entry.servers {
                        if !known.servers.contains(&server) {
                            known.servers.push(server);
                        }
                    }
                }
                None => people.push(entry),
            }
        }
        people
    }

    /// Fills in missing usernames and descriptions from the servers that returned each identity.
    async fn complete_profiles(
        &self,
        found: Vec<(FoundProfile, Vec<String>)>,
    ) -> Vec<Found<FoundProfile>> {
        let missing: Vec<(PublicKey, Vec<String>)> = found
            .iter()
            .filter(|(profile, _)| profile.username.is_none() || profile.description.is_none())
            .map(|(profile, servers)| (profile.system, servers.clone()))
            .collect();
        let known = self.profiles_from(missing).await;
        found
            .into_iter()
            .map(|(mut item, servers)| {
                if let Some(profile) = known.get(&item.system) {
                    item.username = item.username.or_else(|| profile.username.clone());
                    item.description = item.description.or_else(|| profile.description.clone());
                }
                Found { item, servers }
            })
            .collect()
    }

    /// Each system's current username and description: from the local store when it has a
    /// username, else from the first of the given servers that serves a verified one. Lookups
    /// run concurrently; one that fails only leaves the name out.
    pub async fn profiles_from(
        &self,
        systems: Vec<(PublicKey, Vec<String>)>,
    ) -> HashMap<PublicKey, Profile> {
        let mut seen = HashSet::new();
        let lookups =
            systems
                .into_iter()
                .filter(|(system, _)| seen.insert(*system))
                .map(|(system, servers)| async move {
                    (system, self.profile_of(system, &servers).await)
                });
        join_all(lookups).await.into_iter().collect()
    }

    async fn profile_of(&self, system: PublicKey, servers: &[String]) -> Profile {
        if let Ok(local) = self.profile(system).await
            && local.username.is_some()
        {
            return local;
        }
        for server in servers {
            let remote = self.remote(server);
            match latest_profile(remote, &system).await {
                Ok(profile) if profile.username.is_some() => return profile,
                Ok(_) => {}
                Err(error) => tracing::debug!(%server, %error, "profile lookup failed"),
            }
        }
        Profile::default()
    }
}

/// One discovery query, asked of each server the same way.
trait Ask {
    type Item;
    async fn ask(&self, remote: Remote<'_>) -> Result<Vec<Self::Item>, ServerError>;
}

/// `/search` or `/explore`: a page of events.
struct EventsPage {
    path: &'static str,
    params: Vec<(&'static str, String)>,
}

impl EventsPage {
    fn search(text: &str, limit: usize, search_type: &str) -> Self {
        Self {
            path: "/search",
            params: vec![
                ("search", text.to_owned()),
                ("limit", limit.to_string()),
                ("search_type", search_type.to_owned()),
            ],
        }
    }
}

impl Ask for EventsPage {
    type Item = VerifiedEvent;

    /// Every event verified, else the whole answer is refused.
    async fn ask(&self, remote: Remote<'_>) -> Result<Vec<VerifiedEvent>, ServerError> {
        let body = remote.get(self.path, &self.params).await?;
        let answer = wire::ResultEventsAndRelatedEventsAndCursor::decode(body)
            .map_err(|error| malformed("search or explore answer", error))?;
        let mut events = answer
            .result_events
            .map(|events| events.events)
            .unwrap_or_default();
        // The latest edit of each result post (Agora servers send them as related events).
        events.extend(
            answer
                .related_events
                .map(|related| related.events)
                .unwrap_or_default()
                .into_iter()
                .filter(is_edit),
        );
        verify_all(&events)
    }
}

/// Whether a served event is a post edit (checked by type only; it is verified with the rest).
fn is_edit(signed: &wire::SignedEvent) -> bool {
    wire::Event::decode(signed.event.clone())
        .is_ok_and(|event| event.content_type == content::POST_EDIT)
}

/// Profile search: USERNAME and DESCRIPTION events grouped per identity.
struct ProfilesPage(EventsPage);

impl Ask for ProfilesPage {
    type Item = Partial;

    async fn ask(&self, remote: Remote<'_>) -> Result<Vec<Partial>, ServerError> {
        Ok(profiles_of(&self.0.ask(remote).await?))
    }
}

/// `/top_string_references`.
struct TopTopics {
    params: Vec<(&'static str, String)>,
}

impl Ask for TopTopics {
    type Item = Topic;

    async fn ask(&self, remote: Remote<'_>) -> Result<Vec<Topic>, ServerError> {
        let body = remote.get("/top_string_references", &self.params).await?;
        let answer = wire::ResultTopStringReferences::decode(body)
            .map_err(|error| malformed("top_string_references answer", error))?;
        Ok(topics_of(&answer))
    }
}

/// Most posts read from one server for one topic when looking for posts several servers hold
/// (servers send 20 a page, so at most 25 requests).
const TOPIC_POSTS_READ_MAX: usize = 500;

/// The window trending counts posts in, as servers order them (`FUTURE_MARGIN_MS`).
#[derive(Clone, Copy, Debug)]
struct Window {
    since_ms: i64,
    now_ms: i64,
}

impl Window {
    fn ending(now_ms: i64, range: TimeRange) -> Self {
        Self {
            since_ms: now_ms.saturating_sub(range.window_ms()),
            now_ms,
        }
    }

    /// Whether every server counts `post` in the window. A post dated further ahead than the
    /// margin is counted by its arrival on each server, which only that server knows: it is
    /// never taken for another server's copy.
    fn holds(&self, post: &VerifiedEvent) -> bool {
        let latest_plausible = self.now_ms.saturating_add(FUTURE_MARGIN_MS);
        post.unix_milliseconds()
            .and_then(|ms| i64::try_from(ms).ok())
            .is_some_and(|ms| (self.since_ms..=latest_plausible).contains(&ms))
    }
}

/// One server's trending topic, with the posts it serves for it in the window (read only for
/// topics another server also returned).
#[derive(Debug)]
struct TopicPosts {
    topic: Topic,
    /// Slots of the posts.
    posts: HashSet<[u8; 56]>,
    /// The highest count one server gave: the distinct posts are at least as many.
    count_max: u64,
}

impl TopicPosts {
    /// Adds another server's count, less the posts both serve, each already counted.
    fn absorb(&mut self, other: TopicPosts) {
        let copies = other
            .posts
            .iter()
            .filter(|slot| self.posts.contains(*slot))
            .count() as u64;
        self.topic.count = self
            .topic
            .count
            .saturating_add(other.topic.count)
            .saturating_sub(copies);
        self.count_max = self.count_max.max(other.topic.count);
        self.posts.extend(other.posts);
    }

    fn finish(self) -> Topic {
        Topic {
            count: self.topic.count.max(self.count_max),
            ..self.topic
        }
    }
}

impl Remote<'_> {
    /// The slots of the posts this server serves for `topic` (a bytes reference) that `window`
    /// holds, from at most [`TOPIC_POSTS_READ_MAX`] posts. Every post is verified and must carry
    /// the topic, else the server is failed.
    async fn topic_posts(
        &self,
        topic: &str,
        window: Window,
    ) -> Result<HashSet<[u8; 56]>, ServerError> {
        let mut request = wire::QueryReferencesRequest {
            reference: Some(wire::Reference {
                reference_type: content::REFERENCE_BYTES,
                reference: topic.as_bytes().to_vec().into(),
            }),
            request_events: Some(wire::QueryReferencesRequestEvents {
                from_type: Some(content::POST),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut posts = HashSet::new();
        let mut read = 0;
        loop {
            let query = base64url_encode(&request.encode_to_vec());
            let body = self.get("/query_references", &[("query", query)]).await?;
            let page = wire::QueryReferencesResponse::decode(body)
                .map_err(|error| malformed("query_references answer", error))?;
            let served: Vec<wire::SignedEvent> = page
                .items
                .into_iter()
                .filter_map(|item| item.event)
                .collect();
            for post in verify_all(&served)? {
                if !carries_topic(&post, topic) {
                    return Err(ServerError::InvalidEvent(format!(
                        "a post served for topic {topic:?} does not carry it"
                    )));
                }
                if window.holds(&post) {
                    posts.insert(post.slot_key());
                }
            }
            read += served.len();
            match page.cursor {
                Some(cursor) if !served.is_empty() && read < TOPIC_POSTS_READ_MAX => {
                    request.cursor = Some(cursor);
                }
                _ => return Ok(posts),
            }
        }
    }
}

/// Whether `event` is a POST with `topic` as a bytes reference.
fn carries_topic(event: &VerifiedEvent, topic: &str) -> bool {
    event.content_type() == content::POST
        && event
            .references()
            .iter()
            .any(|reference| matches!(reference, Reference::Bytes(bytes) if bytes[..] == *topic.as_bytes()))
}

/// `/recommended_profiles`.
struct Recommended;

impl Ask for Recommended {
    type Item = PublicKey;

    async fn ask(&self, remote: Remote<'_>) -> Result<Vec<PublicKey>, ServerError> {
        let body = remote.get("/recommended_profiles", &[]).await?;
        let keys = wire::PublicKeys::decode(body)
            .map_err(|error| malformed("recommended_profiles answer", error))?;
        keys.systems
            .iter()
            .map(|key| {
                PublicKey::try_from(key)
                    .map_err(|error| malformed("recommended_profiles answer", error))
            })
            .collect()
    }
}

impl Remote<'_> {
    /// `GET path?params` on this server: the body of a successful answer.
    async fn get(
        &self,
        path: &str,
        params: &[(&str, String)],
    ) -> Result<bytes::Bytes, ServerError> {
        let request = self.http.get(format!("{}{path}", self.base)).query(params);
        self.read(request).await
    }
}

/// Verifies every served event: the signature over its exact bytes and the content rules.
fn verify_all(served: &[wire::SignedEvent]) -> Result<Vec<VerifiedEvent>, ServerError> {
    served
        .iter()
        .map(|signed| {
            let event = VerifiedEvent::verify(signed)
                .map_err(|error| ServerError::InvalidEvent(error.to_string()))?;
            content::check(&event, content::POST_TEXT_BYTES_MAX)
                .map_err(ServerError::InvalidEvent)?;
            Ok(event)
        })
        .collect()
}

/// A system's latest USERNAME and DESCRIPTION as one server holds them (`/query_latest`),
/// verified and resolved by the LWW rule.
async fn latest_profile(remote: Remote<'_>, system: &PublicKey) -> Result<Profile, ServerError> {
    let events = remote
        .latest(system, &[content::USERNAME, content::DESCRIPTION])
        .await?;
    let mut partial = Partial::new(*system);
    for event in &events {
        partial.add(event);
    }
    Ok(partial.finish().into())
}

impl From<FoundProfile> for Profile {
    fn from(profile: FoundProfile) -> Self {
        Self {
            username: profile.username,
            description: profile.description,
        }
    }
}

/// Profile search answers are USERNAME and DESCRIPTION events: grouped per identity in the
/// order the server ranked them.
fn profiles_of(events: &[VerifiedEvent]) -> Vec<Partial> {
    let mut profiles: Vec<Partial> = Vec::new();
    for event in events {
        match profiles.iter_mut().find(|p| p.system == *event.system()) {
            Some(profile) => profile.add(event),
            None => {
                let mut profile = Partial::new(*event.system());
                profile.add(event);
                profiles.push(profile);
            }
        }
    }
    profiles
}

/// A profile being assembled from LWW element events: per field, the winning write so far.
#[derive(Clone, Debug)]
struct Partial {
    system: PublicKey,
    username: Option<(LwwStamp, String)>,
    description: Option<(LwwStamp, String)>,
}

impl Partial {
    fn new(system: PublicKey) -> Self {
        Self {
            system,
            username: None,
            description: None,
        }
    }

    /// Takes `event`'s value when it is a USERNAME or DESCRIPTION write newer than the held one.
    fn add(&mut self, event: &VerifiedEvent) {
        let field = match event.content_type() {
            content::USERNAME => &mut self.username,
            content::DESCRIPTION => &mut self.description,
            _ => return,
        };
        let Some(element) = event.event().lww_element.as_ref() else {
            return;
        };
        let Ok(value) = String::from_utf8(element.value.to_vec()) else {
            return;
        };
        let stamp = LwwStamp {
            unix_milliseconds: element.unix_milliseconds,
            process: *event.process(),
        };
        replace_if_newer(field, (stamp, value));
    }

    /// Merges another server's view of the same identity.
    fn absorb(&mut self, other: Partial) {
        if let Some(username) = other.username {
            replace_if_newer(&mut self.username, username);
        }
        if let Some(description) = other.description {
            replace_if_newer(&mut self.description, description);
        }
    }

    fn finish(self) -> FoundProfile {
        FoundProfile {
            system: self.system,
            username: self.username.map(|(_, value)| value),
            description: self.description.map(|(_, value)| value),
        }
    }
}

fn replace_if_newer(field: &mut Option<(LwwStamp, String)>, candidate: (LwwStamp, String)) {
    if field
        .as_ref()
        .is_none_or(|(current, _)| lww_element_replaces(&candidate.0, current))
    {
        *field = Some(candidate);
    }
}

/// The buckets of a trending answer as topics; keys are shown as UTF-8 text.
fn topics_of(answer: &wire::ResultTopStringReferences) -> Vec<Topic> {
    answer
        .buckets
        .iter()
        .map(|bucket| Topic {
            topic: String::from_utf8_lossy(&bucket.key).into_owned(),
            count: u64::try_from(bucket.value).unwrap_or(0),
        })
        .collect()
}

/// Topics by summed count, then by how many servers returned them, then by text.
fn rank_topics(mut merged: Vec<Merged<Topic>>, limit: usize) -> Vec<Found<Topic>> {
    merged.sort_by(|a, b| {
        b.item
            .count
            .cmp(&a.item.count)
            .then(b.servers.len().cmp(&a.servers.len()))
            .then_with(|| a.item.topic.cmp(&b.item.topic))
    });
    merged
        .into_iter()
        .take(limit)
        .map(|entry| Found {
            item: entry.item,
            servers: entry.servers,
        })
        .collect()
}

/// One result while merging: the item, its best (smallest) position on any server's answer,
/// and the servers that returned it.
#[derive(Debug)]
struct Merged<T> {
    item: T,
    best_rank: usize,
    servers: Vec<String>,
}

/// Merges per-server answers, in the order given, into one entry per key. A key seen again
/// calls `combine(kept, other)`, keeps the better rank and adds the server once.
fn merge<T, K: Eq + Hash>(
    answers: Vec<(String, Vec<T>)>,
    key: impl Fn(&T) -> K,
    combine: impl Fn(&mut T, T),
) -> Vec<Merged<T>> {
    let mut merged: Vec<Merged<T>> = Vec::new();
    let mut index: HashMap<K, usize> = HashMap::new();
    for (server, items) in answers {
        for (rank, item) in items.into_iter().enumerate() {
            let Some(&at) = index.get(&key(&item)) else {
                index.insert(key(&item), merged.len());
                merged.push(Merged {
                    item,
                    best_rank: rank,
                    servers: vec![server.clone()],
                });
                continue;
            };
            let entry = &mut merged[at];
            entry.best_rank = entry.best_rank.min(rank);
            if !entry.servers.contains(&server) {
                entry.servers.push(server.clone());
            }
            combine(&mut entry.item, item);
        }
    }
    merged
}

/// An explored post and the time it is ordered by when answers are merged.
struct Explored {
    event: VerifiedEvent,
    order_ms: i64,
}

/// Gives each post of each server's explore page the time it is merged by, so a post that
/// claims a far-future date cannot pin itself to the top of the merge, as servers already
/// ensure for their own pages (`agora_store::discovery::FUTURE_MARGIN_MS`).
///
/// A post's time counts when it is at most the servers' margin past `now_ms`; a post dated
/// further ahead was ordered by its arrival, which is no later than now. Each page is newest
/// first, so a post also takes no later a time than the posts the server put above it: the
/// merge keeps every server's own order.
fn explore_order(
    answers: Vec<(String, Vec<VerifiedEvent>)>,
    now_ms: i64,
) -> Vec<(String, Vec<Explored>)> {
    let latest_plausible = now_ms.saturating_add(FUTURE_MARGIN_MS);
    answers
        .into_iter()
        .map(|(server, events)| {
            let mut above = i64::MAX;
            let posts = events
                .into_iter()
                .map(|event| {
                    let claimed = event
                        .unix_milliseconds()
                        .and_then(|ms| i64::try_from(ms).ok())
                        .unwrap_or(i64::MAX);
                    let own = if claimed > latest_plausible {
                        now_ms
                    } else {
                        claimed
                    };
                    above = above.min(own);
                    Explored {
                        event,
                        order_ms: above,
                    }
                })
                .collect();
            (server, posts)
        })
        .collect()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

fn slot_of(event: &VerifiedEvent) -> [u8; 56] {
    event.slot_key()
}

#[cfg(test)]
mod tests {
    use agora_protocol::author::Author;
    use agora_protocol::{Process, SecretKey};

    use super::*;

    fn author(seed: u8) -> Author {
        Author::new(
            SecretKey::from_seed(&[seed; 32]),
            Process::from_bytes(&[seed; 16]).expect("16 bytes"),
        )
    }

    fn post(author: &mut Author, text: &str, ms: u64) -> VerifiedEvent {
        author.post(text, ms).expect("post signs")
    }

    fn answer<T>(server: &str, items: Vec<T>) -> (String, Vec<T>) {
        (server.to_owned(), items)
    }

    #[test]
    fn an_event_on_two_servers_is_one_result_naming_both() {
        let mut alice = author(1);
        let (shared, only_b) = (
            post(&mut alice, "shared", 10),
            post(&mut alice, "b only", 20),
        );
        let merged = merge(
            vec![
                answer("http://a", vec![shared.clone()]),
                answer("http://b", vec![only_b.clone(), shared.clone()]),
            ],
            slot_of,
            |_, _| {},
        );
        let found: Vec<(Vec<u8>, Vec<String>, usize)> = merged
            .iter()
            .map(|entry| {
                (
                    entry.item.event_bytes().to_vec(),
                    entry.servers.clone(),
                    entry.best_rank,
                )
            })
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    shared.event_bytes().to_vec(),
                    vec!["http://a".to_owned(), "http://b".to_owned()],
                    0
                ),
                (
                    only_b.event_bytes().to_vec(),
                    vec!["http://b".to_owned()],
                    0
                ),
            ]
        );
    }

    #[test]
    fn a_server_repeating_an_item_is_named_once() {
        let merged = merge(
            vec![answer("http://a", vec![7_u8, 7, 7])],
            |item| *item,
            |_, _| {},
        );
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].servers, vec!["http://a".to_owned()]);
    }

    #[test]
    fn trending_ranks_topics_by_their_merged_count() {
        let topic = |text: &str, count| Topic {
            topic: text.to_owned(),
            count,
        };
        let merged = merge(
            vec![
                answer("http://a", vec![topic("rust", 5), topic("cats", 4)]),
                answer("http://b", vec![topic("cats", 3), topic("dogs", 6)]),
            ],
            |topic: &Topic| topic.topic.clone(),
            |kept, other| kept.count += other.count,
        );
        let ranked: Vec<(String, u64, usize)> = rank_topics(merged, 2)
            .into_iter()
            .map(|found| (found.item.topic, found.item.count, found.servers.len()))
            .collect();
        assert_eq!(
            ranked,
            vec![("cats".to_owned(), 7, 2), ("dogs".to_owned(), 6, 1)]
        );
    }

    #[test]
    fn trending_counts_each_post_once_and_never_below_one_servers_count() {
        let mut alice = author(1);
        let [p1, p2, p3] =
            ["one", "two", "three"].map(|text| post(&mut alice, text, 10).slot_key());
        let topic = |count, posts: &[[u8; 56]]| TopicPosts {
            topic: Topic {
                topic: "walrus".to_owned(),
                count,
            },
            posts: posts.iter().copied().collect(),
            count_max: count,
        };
        let counted = |answers: Vec<TopicPosts>| {
            let merged = merge(
                answers
                    .into_iter()
                    .enumerate()
                    .map(|(n, topic)| answer(&format!("http://{n}"), vec![topic]))
                    .collect(),
                |topic: &TopicPosts| topic.topic.topic.clone(),
                TopicPosts::absorb,
            );
            merged
                .into_iter()
                .map(|entry| entry.item.finish().count)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            counted(vec![
                topic(2, &[p1, p2]),
                topic(2, &[p2, p3]),
                topic(1, &[p2])
            ]),
            [3],
            "a post on three servers counts once"
        );
        assert_eq!(
            counted(vec![topic(1, &[p1]), topic(10, &[p1])]),
            [10],
            "posts a server counted but did not serve count as its own"
        );
        assert_eq!(
            counted(vec![topic(1, &[p1, p2]), topic(1, &[p2])]),
            [1],
            "never below one server's count"
        );
    }

    #[test]
    fn profile_answers_group_per_identity_and_keep_the_newest_write() {
        let mut alice = author(1);
        let old = alice
            .set_element(content::USERNAME, b"old name", 10)
            .expect("signs");
        let new = alice
            .set_element(content::USERNAME, b"new name", 20)
            .expect("signs");
        let about = alice
            .set_element(content::DESCRIPTION, b"about", 15)
            .expect("signs");
        let from_a = profiles_of(&[new, about]);
        let from_b = profiles_of(&[old]);
        assert_eq!(
            from_a.len(),
            1,
            "two events of one identity are one profile"
        );
        let merged = merge(
            vec![answer("http://b", from_b), answer("http://a", from_a)],
            |profile: &Partial| profile.system,
            Partial::absorb,
        );
        assert_eq!(merged.len(), 1);
        let profile = merged.into_iter().next().expect("one").item.finish();
        assert_eq!(profile.username.as_deref(), Some("new name"));
        assert_eq!(profile.description.as_deref(), Some("about"));
    }

    #[test]
    fn an_altered_event_fails_the_whole_answer() {
        let mut alice = author(1);
        let good = post(&mut alice, "good", 10).to_signed();
        let mut forged = post(&mut alice, "forged", 11).to_signed();
        let mut bytes = forged.event.to_vec();
        if let Some(last) = bytes.last_mut() {
            *last ^= 1;
        }
        forged.event = bytes.into();
        assert_eq!(
            verify_all(std::slice::from_ref(&good))
                .expect("verifies")
                .len(),
            1
        );
        assert!(matches!(
            verify_all(&[good, forged]),
            Err(ServerError::InvalidEvent(_))
        ));
    }

    #[test]
    fn explore_keeps_each_servers_order_and_caps_future_dates() {
        let now = 1_000_000_000;
        let mut alice = author(1);
        let future = post(&mut alice, "future", 4_102_444_800_000);
        let skewed = post(&mut alice, "skewed", 1_000_000_000 + 60_000);
        let old = post(&mut alice, "old", 5);
        let orders = |answers| -> Vec<Vec<i64>> {
            explore_order(answers, now)
                .into_iter()
                .map(|(_, posts)| posts.iter().map(|post| post.order_ms).collect())
                .collect()
        };
        assert_eq!(
            orders(vec![
                answer("http://a", vec![future.clone(), old.clone()]),
                answer(
                    "http://b",
                    vec![skewed.clone(), future.clone(), old.clone()]
                ),
            ]),
            vec![vec![now, 5], vec![now + 60_000, now, 5]],
            "a far-future date counts as now; one within the margin counts as itself"
        );
        assert_eq!(
            orders(vec![answer("http://a", vec![old, future])]),
            vec![vec![5, 5]],
            "never above a post the server put before it"
        );
    }

    #[test]
    fn time_ranges_are_the_four_the_spec_names() {
        for range in ["12h", "1d", "7d", "30d"] {
            let parsed: TimeRange = range.parse().expect("a range");
            assert_eq!(parsed.as_param(), range);
        }
        assert!("2d".parse::<TimeRange>().is_err());
    }
}
