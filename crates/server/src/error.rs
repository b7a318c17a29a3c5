//! The one HTTP error type: 4xx with a message the client can act on, 5xx with a generic body
//! while the detail goes to the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    TooLarge(String),
    /// Missing, expired, replayed or forged proof (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The request conflicts with what is stored, e.g. a handle held by another system (409).
    #[error("{0}")]
    Conflict(String),
    /// A per-client cap was reached (429).
    #[error("{0}")]
    TooManyRequests(String),
    /// The store cannot take writes now (503, with `Retry-After`): busy, read-only, stopped.
    #[error("{0}")]
    Unavailable(String),
    /// The store's disk is full (507); reads still work.
    #[error("{0}")]
    InsufficientStorage(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }
}

impl From<agora_store::StoreError> for ApiError {
    fn from(error: agora_store::StoreError) -> Self {
        use agora_store::StoreError;
        match error {
            StoreError::Full(detail) => {
                tracing::error!(%detail, "a write failed: the disk is full");
                Self::InsufficientStorage(
                    "this server's disk is full: nothing was stored; try again later".into(),
                )
            }
            StoreError::Busy => Self::Unavailable(
                "this server is busy writing: nothing was stored; try again in a moment".into(),
            ),
            StoreError::ReadOnly(detail) => {
                tracing::error!(%detail, "a write failed: the store is read-only");
                Self::Unavailable("this server cannot store anything now; try again later".into())
            }
            StoreError::WriterGone => {
                tracing::error!("a write failed: the store's writer has stopped");
                Self::Unavailable("this server cannot store anything now; try again later".into())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            Self::NotFound(message) => (StatusCode::NOT_FOUND, message),
            Self::TooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, message),
            Self::Unauthorized(message) => (StatusCode::UNAUTHORIZED, message),
            Self::Conflict(message) => (StatusCode::CONFLICT, message),
            Self::TooManyRequests(message) => (StatusCode::TOO_MANY_REQUESTS, message),
            Self::InsufficientStorage(message) => (StatusCode::INSUFFICIENT_STORAGE, message),
            Self::Unavailable(message) => {
                let mut response = crate::respond::text(StatusCode::SERVICE_UNAVAILABLE, message);
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from_static("1"),
                );
                return response;
            }
            Self::Internal(detail) => {
                tracing::error!(%detail, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal server error".to_owned(),
                )
            }
        };
        crate::respond::text(status, body)
    }
}
