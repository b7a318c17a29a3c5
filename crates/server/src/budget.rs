//! The memory request bodies may take at once. Every body is read whole before it is decoded,
//! so without a budget the memory a server needs grows with the number of large requests in
//! flight; with it, a request waits for its share (its declared length, at most the largest
//! body) and is answered 503 with `Retry-After` when none frees within the body timeout.
//! [`WholeBody`] reads a body into one buffer of its declared length, so a body in flight costs
//! its length once.

use std::sync::Arc;
use std::time::Duration;

use agora_store::Store;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use tokio::sync::Semaphore;

use crate::AppState;
use crate::error::ApiError;

/// Permits are KiB, so a budget of terabytes still fits a semaphore's count.
const UNIT: u64 = 1024;

/// The body budget's semaphore.
#[derive(Debug)]
pub struct BodyBudget {
    permits: Arc<Semaphore>,
    total: u64,
}

impl BodyBudget {
    pub fn new(bytes: u64) -> Self {
        let units = (bytes / UNIT).max(1);
        Self {
            permits: Arc::new(Semaphore::new(
                usize::try_from(units).unwrap_or(Semaphore::MAX_PERMITS),
            )),
            total: units,
        }
    }
}

/// Holds a request's share of the budget while it is handled.
pub async fn reserve<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    request: Request,
    next: Next,
) -> Response {
    let body_max = state.config.limits.body_bytes_max as u64;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    let has_body = declared.is_some_and(|length| length > 0)
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    if !has_body {
        return next.run(request).await;
    }
    // A body longer than the limit is refused by the handler's limit; it needs no share.
    let bytes = declared.unwrap_or(body_max).min(body_max);
    let budget = &state.body_budget;
    let units = (bytes.div_ceil(UNIT)).clamp(1, budget.total);
    let wait = state.config.connections.body_read_timeout;
    let acquired = tokio::time::timeout(
        wait,
        Arc::clone(&budget.permits).acquire_many_owned(u32::try_from(units).unwrap_or(u32::MAX)),
    )
    .await;
    let Ok(Ok(_share)) = acquired else {
        return busy(wait);
    };
    next.run(request).await
}

fn busy(wait: Duration) -> Response {
    let mut response = crate::respond::text(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "this server is receiving as many request bodies as it holds at once; nothing was \
             stored; try again (waited {} s)",
            wait.as_secs()
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
    response.into_response()
}

/// A request body read whole, at most `body_bytes_max` bytes. Its chunks are copied into one
/// buffer allocated from the declared length as they arrive; gathering the chunks first and
/// joining them afterwards (axum's `Bytes`) holds every body twice at its peak.
#[derive(Debug)]
pub struct WholeBody(pub Bytes);

impl<S: Store> FromRequest<Arc<AppState<S>>> for WholeBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<AppState<S>>) -> Result<Self, ApiError> {
        let max = state.config.limits.body_bytes_max;
        let too_large = || ApiError::TooLarge(format!("the body is over the limit of {max} bytes"));
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > max as u64) {
            return Err(too_large());
        }
        let capacity = declared.map_or(0, |length| usize::try_from(length).unwrap_or(max));
        let mut body = BytesMut::with_capacity(capacity);
        let mut chunks = request.into_body().into_data_stream();
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk
                .map_err(|error| ApiError::bad(format!("the body could not be read: {error}")))?;
            if body.len() + chunk.len() > max {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Self(body.freeze()))
    }
}
