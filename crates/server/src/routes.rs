//! The Polycentric sync routes. Handlers are thin: parse, call the store, encode.

use std::net::SocketAddr;
use std::sync::Arc;

use agora_protocol::{Pointer, PublicKey, wire};
use agora_store::moderation::ReadFilter;
use agora_store::{
    CountSpec, IndexCursor, IndexQuery, IngestOutcome, ProcessRanges, ReferencesCursor,
    ReferencesQuery, ReferencingEvents, Store, Subject, prepare_batch,
};
use axum::Extension;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use prost::Message;

use crate::AppState;
use crate::budget::WholeBody;
use crate::error::ApiError;
use crate::params::{self, Params};
use crate::respond::protobuf;

/// The reference's cache policy for event reads (spec section 4.2).
const CACHE_EVENTS: &str = "public, s-maxage=3600, max-age=5";
/// References pages are fixed at 20 items, as in the reference server.
const REFERENCES_PAGE_SIZE: usize = 20;
/// Most extra byte subjects one references query may name.
const EXTRA_BYTE_REFERENCES_MAX: usize = 64;

fn events_message(events: Vec<wire::SignedEvent>) -> wire::Events {
    wire::Events { events }
}

/// `POST /events`: verifies every event in parallel, stores the valid ones, and names each
/// rejected one. The status is 200 when at least one event was accepted (official clients only
/// look for 2xx, and the gap shows in `/ranges`), 400 when every event was refused.
pub async fn post_events<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    WholeBody(body): WholeBody,
) -> Result<Response, ApiError> {
    let batch = wire::Events::decode(body)
        .map_err(|error| ApiError::bad(format!("body is not a valid Events protobuf: {error}")))?;
    let limits = state.config.limits;
    if batch.events.len() > limits.events_per_batch_max {
        return Err(ApiError::TooLarge(format!(
            "batch has {} events, over the limit of {}",
            batch.events.len(),
            limits.events_per_batch_max
        )));
    }
    let total = batch.events.len();
    // The address's allowance of events, before any signature is checked: verification is the
    // costly part of a write, and the address is the one thing a client cannot forge.
    let client = crate::ratelimit::client_of(
        &state,
        connection.map(|Extension(ConnectInfo(peer))| peer),
        headers.get("x-forwarded-for"),
    );
    if let Err(limited) = state
        .limiter
        .check_address_events(client, u32::try_from(total).unwrap_or(u32::MAX))
    {
        return Ok(crate::ratelimit::refuse(limited).await);
    }
    let prepared = tokio::task::spawn_blocking(move || prepare_batch(batch.events, limits.ingest))
        .await
        .map_err(|error| ApiError::Internal(format!("verification task failed: {error}")))?;
    let mut rejections: Vec<(usize, String)> = Vec::new();
    let mut verified = Vec::with_capacity(total);
    let mut positions = Vec::with_capacity(total);
    for (position, result) in prepared.into_iter().enumerate() {
        match result {
            Ok(event) => {
                verified.push(event);
                positions.push(position);
            }
            Err(reason) => rejections.push((position, reason)),
        }
    }
    // Each identity's allowance, for the whole batch at once: a batch over it is refused with
    // 429 and nothing of it is stored (the client sends it again later).
    let mut per_system: std::collections::HashMap<PublicKey, u32> = Default::default();
    for event in &verified {
        *per_system.entry(*event.system()).or_default() += 1;
    }
    for (system, count) in per_system {
        let checked = state.limiter.check_identity(
            crate::ratelimit::PerIdentity::Events,
            client,
            &system,
            count,
        );
        if let Err(limited) = checked {
            return Ok(limited.into_response());
        }
    }
    let outcomes = state.store.ingest(verified).await?;
    state.metrics.ingest(&rejections, &outcomes);
    if outcomes.contains(&IngestOutcome::Stored) {
        state.live.committed();
    }
    for (position, outcome) in positions.into_iter().zip(outcomes) {
        if let IngestOutcome::Rejected(reason) = outcome {
            rejections.push((position, reason.to_string()));
        }
    }
    Ok(ingest_response(total, rejections))
}

fn ingest_response(total: usize, mut rejections: Vec<(usize, String)>) -> Response {
    if rejections.is_empty() {
        return StatusCode::OK.into_response();
    }
    rejections.sort_by_key(|(position, _)| *position);
    let status = if rejections.len() == total {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let body: String = rejections
        .iter()
        .map(|(position, reason)| format!("event {position} rejected: {reason}\n"))
        .collect();
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (
                header::HeaderName::from_static("x-agora-rejected"),
                rejections.len().to_string(),
            ),
        ],
        body,
    )
        .into_response()
}

pub async fn get_events<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let system = params::system(&params)?;
    let ranges: wire::RangesForSystem = params::protobuf(&params.ranges, "ranges")?;
    // Spec section 7: `GET /events` applies the supplied filters only, no defaults.
    let filter = ReadFilter::supplied(params::moderation_filters(&params)?);
    let ranges = ProcessRanges::from_wire(&ranges)
        .map_err(|error| ApiError::bad(format!("`ranges`: {error}")))?;
    let limit = state.config.limits.events_per_response_max;
    let events = state
        .store
        .events_in_ranges_moderated(system, ranges, limit, filter)
        .await?;
    Ok(protobuf(&events_message(events), Some(CACHE_EVENTS)))
}

pub async fn head<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let system = params::system(&params)?;
    // Validated only: the reference filters head's SYSTEM_PROCESSES lookup, a type it never
    // moderates (spec section 7).
    params::moderation_filters(&params)?;
    Ok(protobuf(
        &events_message(state.store.head(system).await?),
        Some(CACHE_EVENTS),
    ))
}

pub async fn ranges<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let system = params::system(&params)?;
    let ranges = state.store.ranges(system).await?;
    let message = ProcessRanges::to_wire(&ranges);
    Ok(protobuf(&message, Some("no-cache")))
}

pub async fn query_latest<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let system = params::system(&params)?;
    let types: wire::RepeatedUInt64 = params::protobuf(&params.event_types, "event_types")?;
    let max = state.config.limits.event_types_max;
    if types.numbers.len() > max {
        return Err(ApiError::bad(format!(
            "`event_types` names {} types, over the limit of {max}",
            types.numbers.len()
        )));
    }
    let events = state.store.latest(system, types.numbers).await?;
    Ok(protobuf(&events_message(events), Some(CACHE_EVENTS)))
}

pub async fn query_index<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let system = params::system(&params)?;
    let content_type = params::number(&params.content_type, "content_type")?
        .ok_or_else(|| ApiError::bad("missing query parameter `content_type`"))?;
    let filter = ReadFilter::with_defaults(params::moderation_filters(&params)?);
    let limit = params::limit(&params, 10, state.config.limits.query_limit_max)?;
    let cursor = index_cursor(&params)?;
    let page = state
        .store
        .index_moderated(
            IndexQuery {
                system,
                content_type,
                cursor,
                limit,
            },
            filter,
        )
        .await?;
    let message = wire::QueryIndexResponse {
        events: page.events,
        proof: page.proof,
        cursor: page.next.map(Bytes::from),
    };
    Ok(protobuf(&message, Some(CACHE_EVENTS)))
}

/// Agora's `cursor` (base64url, from a previous response) wins over the official `after`.
fn index_cursor(params: &Params) -> Result<IndexCursor, ApiError> {
    if let Some(text) = &params.cursor {
        let bytes = agora_protocol::encoding::base64url_decode(text)
            .map_err(|error| ApiError::bad(format!("`cursor` is not base64url: {error}")))?;
        return IndexCursor::decode(&bytes).ok_or_else(|| {
            ApiError::bad(format!(
                "`cursor` must be the {} bytes a previous page returned",
                IndexCursor::BYTES
            ))
        });
    }
    Ok(params::number(&params.after, "after")?
        .map_or(IndexCursor::Start, IndexCursor::BeforeMillis))
}

pub async fn query_references<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let request: wire::QueryReferencesRequest = params::protobuf(&params.query, "query")?;
    // The store applies no moderation to a pointer subject (spec section 7).
    let filter = ReadFilter::with_defaults(params::moderation_filters(&params)?);
    let query = references_query(request)?;
    let page = state.store.references_moderated(query, filter).await?;
    let message = wire::QueryReferencesResponse {
        items: page
            .items
            .into_iter()
            .map(|(event, counts)| wire::QueryReferencesResponseEventItem {
                event: Some(event),
                counts,
            })
            .collect(),
        related_events: Vec::new(),
        cursor: page.cursor.map(Bytes::from),
        counts: page.counts,
    };
    Ok(protobuf(&message, Some(CACHE_EVENTS)))
}

fn references_query(request: wire::QueryReferencesRequest) -> Result<ReferencesQuery, ApiError> {
    let reference = request
        .reference
        .ok_or_else(|| ApiError::bad("`query` has no reference"))?;
    let subject = match agora_protocol::Reference::parse(&reference).map_err(ApiError::bad)? {
        // Agora: the FOLLOW events naming the system (docs/protocol.md, "Followers").
        agora_protocol::Reference::System(system) => {
            if !request.extra_byte_references.is_empty() {
                return Err(ApiError::bad(
                    "cannot use extra_byte_references with system reference",
                ));
            }
            Subject::System(*system.as_bytes())
        }
        agora_protocol::Reference::Pointer(pointer) => {
            if !request.extra_byte_references.is_empty() {
                return Err(ApiError::bad(
                    "cannot use extra_byte_references with pointer reference",
                ));
            }
            Subject::Pointer(
                Pointer {
                    digest: None,
                    ..pointer
                }
                .slot_key(),
            )
        }
        agora_protocol::Reference::Bytes(bytes) => {
            if request.extra_byte_references.len() > EXTRA_BYTE_REFERENCES_MAX {
                return Err(ApiError::bad(format!(
                    "extra_byte_references has {} entries, over the limit of {EXTRA_BYTE_REFERENCES_MAX}",
                    request.extra_byte_references.len()
                )));
            }
            let mut subjects = vec![bytes.to_vec()];
            for extra in request.extra_byte_references {
                if !subjects.iter().any(|known| known[..] == extra[..]) {
                    subjects.push(extra.to_vec());
                }
            }
            Subject::Bytes(subjects)
        }
    };
    let cursor = request
        .cursor
        .map(|bytes| {
            ReferencesCursor::decode(&bytes)
                .filter(|_| bytes.len() == ReferencesCursor::BYTES)
                .ok_or_else(|| {
                    ApiError::bad(format!(
                        "cursor must be the {} bytes a previous page returned",
                        ReferencesCursor::BYTES
                    ))
                })
        })
        .transpose()?;
    let counts = count_specs(
        &request.count_lww_element_references,
        &request.count_references,
    );
    let events = request.request_events.map(|events| ReferencingEvents {
        from_type: events.from_type,
        counts: count_specs(
            &events.count_lww_element_references,
            &events.count_references,
        ),
    });
    Ok(ReferencesQuery {
        subject,
        events,
        counts,
        cursor,
        page_size: REFERENCES_PAGE_SIZE,
    })
}

/// LWW counts first, then reference counts: the order the response's counts come in.
fn count_specs(
    lww: &[wire::QueryReferencesRequestCountLwwElementReferences],
    references: &[wire::QueryReferencesRequestCountReferences],
) -> Vec<CountSpec> {
    lww.iter()
        .map(|count| CountSpec::LwwValue {
            value: count.value.to_vec(),
            from_type: count.from_type,
        })
        .chain(references.iter().map(|count| CountSpec::References {
            from_type: count.from_type,
        }))
        .collect()
}

pub async fn version() -> Response {
    let sha = option_env!("AGORA_GIT_SHA").unwrap_or("unknown");
    axum::Json(serde_json::json!({ "sha": sha, "version": env!("CARGO_PKG_VERSION") }))
        .into_response()
}

/// `GET /health`: 200 when the store answers reads and takes writes; 503 naming the problem
/// when either fails (a full disk, a read-only store, a stopped writer).
pub async fn health<S: Store>(State(state): State<Arc<AppState<S>>>) -> Response {
    let db = state.store.healthy().await;
    let writes = state.store.write_problem();
    let healthy = db && writes.is_none();
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = serde_json::json!({
        "db": db,
        "writes": writes.as_deref().unwrap_or("ok"),
        "status": if healthy { "ok" } else { "degraded" },
    });
    (status, axum::Json(body)).into_response()
}
