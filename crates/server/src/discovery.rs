//! The discovery routes: `/search`, `/explore`, `/top_string_references` and
//! `/recommended_profiles` (spec sections 6.5 to 6.8). Parse, call the store, encode.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use agora_protocol::encoding::base64_any_decode;
use agora_protocol::wire;
use agora_store::moderation::ReadFilter;
use agora_store::{
    ExploreCursor, SearchCursor, SearchKind, SearchQuery, Store, TopicCount, TrendingQuery,
};
use axum::extract::{Query, State};
use axum::response::Response;
use bytes::Bytes;
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::params::{self, Params};
use crate::respond::protobuf;

/// Results per page when `limit` is absent, as in the reference server.
const LIMIT_DEFAULT: usize = 10;
/// Most topics `/top_string_references` returns, as in the reference server.
const TOPICS_MAX: usize = 10;
/// Most identities `/recommended_profiles` returns.
const RECOMMENDED_MAX: usize = 10;
/// Longest `search` text and topic `query` prefix, in bytes.
const SEARCH_BYTES_MAX: usize = 1_000;
const TOPIC_PREFIX_BYTES_MAX: usize = 256;
/// The reference's cache policies (spec section 4.2).
const CACHE_EXPLORE: &str = "public, s-maxage=5, max-age=5";
const CACHE_TOPICS: &str = "public, s-maxage=60, max-age=60";

const HOUR_MS: i64 = 60 * 60 * 1000;

/// The query parameters of the discovery routes: the common ones plus their own.
#[derive(Debug, Default, Deserialize)]
pub struct DiscoveryParams {
    #[serde(flatten)]
    common: Params,
    search: Option<String>,
    search_type: Option<String>,
    time_range: Option<String>,
}

/// A page of results; `related` carries the latest edit of each result post (Agora's edits,
/// docs/protocol.md "Edits"), which official clients ignore.
fn events_page(
    events: Vec<wire::SignedEvent>,
    related: Vec<wire::SignedEvent>,
    cursor: Option<Vec<u8>>,
    cache_control: Option<&'static str>,
) -> Response {
    // moderation: filters apply in the store (search_moderated, explore_moderated)
    let message = wire::ResultEventsAndRelatedEventsAndCursor {
        result_events: Some(wire::Events { events }),
        related_events: Some(wire::Events { events: related }),
        cursor: cursor.map(Bytes::from),
    };
    protobuf(&message, cache_control)
}

/// The latest edit of each POST among `events`.
async fn latest_edits<S: Store>(
    store: &S,
    events: &[wire::SignedEvent],
) -> Result<Vec<wire::SignedEvent>, ApiError> {
    // Stored events were verified when they came in: reading their slot needs no signature.
    let slot = |signed: &wire::SignedEvent| {
        let event = <wire::Event as prost::Message>::decode(signed.event.clone()).ok()?;
        if event.content_type != agora_protocol::content::POST {
            return None;
        }
        agora_protocol::keys::stored_slot_key(&event)
    };
    let slots: Vec<[u8; 56]> = events.iter().filter_map(slot).collect();
    if slots.is_empty() {
        return Ok(Vec::new());
    }
    Ok(store.latest_edits(slots).await?)
}

/// What `/search` and `/explore` page by: how many results, from where, and what the
/// `moderation_filters` hide.
struct Paging<C> {
    limit: usize,
    cursor: Option<C>,
    filter: ReadFilter,
}

impl<C> Paging<C> {
    /// Reads `limit` (up to `limit_max`), `cursor` and `moderation_filters`, in that order. The
    /// cursor is base64 in either alphabet, padded or not (spec section 2.4), of the `size` bytes
    /// a previous `route` page returned, which `decode` reads.
    fn parse(
        params: &Params,
        limit_max: usize,
        route: &str,
        size: usize,
        decode: impl Fn(&[u8]) -> Option<C>,
    ) -> Result<Self, ApiError> {
        let limit = params::limit(params, LIMIT_DEFAULT, limit_max)?;
        let cursor = match params.cursor.as_deref() {
            None => None,
            Some(text) => {
                let bytes = base64_any_decode(text)
                    .map_err(|error| ApiError::bad(format!("`cursor` is not base64: {error}")))?;
                let cursor = decode(&bytes).ok_or_else(|| {
                    ApiError::bad(format!(
                        "`cursor` must be the {size} bytes a previous {route} page returned, got {}",
                        bytes.len()
                    ))
                })?;
                Some(cursor)
            }
        };
        let filter = ReadFilter::with_defaults(params::moderation_filters(params)?);
        Ok(Self {
            limit,
            cursor,
            filter,
        })
    }
}

fn search_kind(value: Option<&str>) -> Result<SearchKind, ApiError> {
    match value {
        None | Some("messages") => Ok(SearchKind::Messages),
        Some("profiles") => Ok(SearchKind::Profiles),
        Some(other) => Err(ApiError::bad(format!(
            "`search_type` must be `messages` or `profiles`, got {other:?}"
        ))),
    }
}

/// `GET /search`: one page of posts (or profiles) matching the text, best first.
pub async fn search<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<DiscoveryParams>,
) -> Result<Response, ApiError> {
    let text = params::required(&params.search, "search")?;
    if text.trim().is_empty() {
        return Err(ApiError::bad("`search` must not be empty"));
    }
    if text.len() > SEARCH_BYTES_MAX {
        return Err(ApiError::bad(format!(
            "`search` is {} bytes, over the limit of {SEARCH_BYTES_MAX}",
            text.len()
        )));
    }
    let kind = search_kind(params.search_type.as_deref())?;
    let paging = Paging::parse(
        &params.common,
        state.config.limits.query_limit_max,
        "search",
        SearchCursor::BYTES,
        SearchCursor::decode,
    )?;
    let page = state
        .store
        .search_moderated(
            SearchQuery {
                text: text.to_owned(),
                kind,
                cursor: paging.cursor,
                limit: paging.limit,
            },
            paging.filter,
        )
        .await?;
    let related = latest_edits(&state.store, &page.events).await?;
    Ok(events_page(page.events, related, Some(page.cursor), None))
}

/// `GET /explore`: every live post, newest first, keyset-paged.
pub async fn explore<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<DiscoveryParams>,
) -> Result<Response, ApiError> {
    let paging = Paging::parse(
        &params.common,
        state.config.limits.query_limit_max,
        "explore",
        ExploreCursor::BYTES,
        ExploreCursor::decode,
    )?;
    let page = state
        .store
        .explore_moderated(paging.cursor, paging.limit, paging.filter)
        .await?;
    let related = latest_edits(&state.store, &page.events).await?;
    Ok(events_page(
        page.events,
        related,
        page.cursor,
        Some(CACHE_EXPLORE),
    ))
}

/// The window of a `time_range` value, in milliseconds.
fn time_range_ms(value: Option<&str>) -> Result<i64, ApiError> {
    match value {
        Some("12h") => Ok(12 * HOUR_MS),
        Some("1d") => Ok(24 * HOUR_MS),
        Some("7d") => Ok(7 * 24 * HOUR_MS),
        None | Some("30d") => Ok(30 * 24 * HOUR_MS),
        Some(other) => Err(ApiError::bad(format!(
            "`time_range` must be one of 12h, 1d, 7d, 30d, got {other:?}"
        ))),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as i64)
}

/// `GET /top_string_references`: trending topics, most posted first.
pub async fn top_string_references<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<DiscoveryParams>,
) -> Result<Response, ApiError> {
    let window_ms = time_range_ms(params.time_range.as_deref())?;
    let limit = params::limit(&params.common, TOPICS_MAX, TOPICS_MAX)?;
    let prefix = params.common.query.filter(|prefix| !prefix.is_empty());
    if let Some(prefix) = &prefix
        && prefix.len() > TOPIC_PREFIX_BYTES_MAX
    {
        return Err(ApiError::bad(format!(
            "`query` is {} bytes, over the limit of {TOPIC_PREFIX_BYTES_MAX}",
            prefix.len()
        )));
    }
    let topics = state
        .store
        .trending_topics(TrendingQuery {
            prefix,
            since_ms: now_ms() - window_ms,
            limit,
        })
        .await?;
    let message = wire::ResultTopStringReferences {
        buckets: topics
            .into_iter()
            .map(|TopicCount { topic, count }| wire::AggregationBucket {
                key: topic.into_bytes().into(),
                value: i64::try_from(count).unwrap_or(i64::MAX),
            })
            .collect(),
    };
    Ok(protobuf(&message, Some(CACHE_TOPICS)))
}

/// `GET /recommended_profiles`: up to ten identities, each with a live post that is neither
/// curated out nor hidden by `moderation_filters` (defaults added), different each call.
pub async fn recommended_profiles<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<DiscoveryParams>,
) -> Result<Response, ApiError> {
    let filter = ReadFilter::with_defaults(params::moderation_filters(&params.common)?);
    // moderation: filters apply here (an identity needs a live post the filters show)
    let systems = state
        .store
        .recommended_profiles_moderated(RECOMMENDED_MAX, filter)
        .await?;
    let message = wire::PublicKeys {
        systems: systems.iter().map(|system| system.to_wire()).collect(),
    };
    Ok(protobuf(&message, Some(CACHE_EXPLORE)))
}
