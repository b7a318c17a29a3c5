//! Operator routes: `POST /censor` (spec section 4.3) and Agora's `POST /uncensor`, behind the
//! operator token.
//!
//! The token is the `authorization` header exactly as the official tooling sends it (the raw
//! value), or the same value after `Bearer `. It is compared in constant time and never logged.
//! Without a configured token the routes answer 403, so an operator cannot expose them by
//! accident.

use std::sync::Arc;

use agora_protocol::links::LinkError;
use agora_store::{CensorTarget, CensorshipKind, Store};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq as _;

use crate::AppState;
use crate::budget::WholeBody;
use crate::error::ApiError;
use crate::respond::text;

/// The query of `/censor`.
#[derive(Debug, Default, Deserialize)]
pub struct CensorParams {
    censorship_type: Option<String>,
}

/// `POST /censor?censorship_type=do_not_recommend|refuse_storage`, body = a system or event
/// link. Censoring again is a success that changes nothing (or strengthens the kind).
pub async fn censor<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    params: Result<Query<CensorParams>, axum::extract::rejection::QueryRejection>,
    WholeBody(body): WholeBody,
) -> Response {
    if let Err(denied) = authorize(&state, &headers) {
        return denied.into_response();
    }
    let result = async {
        let Query(params) =
            params.map_err(|error| ApiError::bad(format!("invalid query string: {error}")))?;
        let kind = censorship_kind(params.censorship_type.as_deref())?;
        let target = target(&body)?;
        let outcome = state.store.censor(target, kind).await?;
        let message = match (outcome.changed, outcome.kind == kind) {
            (true, _) => format!(
                "censored: {}; {} stored event(s) removed\n",
                outcome.kind, outcome.events_removed
            ),
            (false, true) => format!("already censored: {}\n", outcome.kind),
            (false, false) => format!(
                "already censored more strongly: {} stays in force\n",
                outcome.kind
            ),
        };
        Ok::<_, ApiError>(text(StatusCode::OK, message))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /uncensor` (Agora extension), body = a system or event link: lifts the censorship of
/// the target. What refuse_storage removed stays removed until someone publishes it again.
pub async fn uncensor<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    headers: HeaderMap,
    WholeBody(body): WholeBody,
) -> Response {
    if let Err(denied) = authorize(&state, &headers) {
        return denied.into_response();
    }
    let result = async {
        let target = target(&body)?;
        let message = match state.store.uncensor(target).await? {
            Some(kind) => format!("lifted: {kind}\n"),
            None => "not censored: nothing to lift\n".to_owned(),
        };
        Ok::<_, ApiError>(text(StatusCode::OK, message))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Why an operator request was turned away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Denied {
    /// No token configured: 403.
    Disabled,
    /// No `authorization` header: 401.
    Missing,
    /// A header that is not the token: 401.
    Wrong,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let message = match self {
            Self::Disabled => {
                return text(
                    StatusCode::FORBIDDEN,
                    "operator routes are disabled: start the server with --admin-token\n"
                        .to_owned(),
                );
            }
            Self::Missing => "missing `authorization` header: operator routes need the admin token",
            Self::Wrong => "wrong admin token in the `authorization` header",
        };
        let mut response = text(StatusCode::UNAUTHORIZED, format!("{message}\n"));
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"agora operator\""),
        );
        response
    }
}

/// Checks the `authorization` header against the configured token, in constant time.
fn authorize<S>(state: &AppState<S>, headers: &HeaderMap) -> Result<(), Denied> {
    let token = state.config.admin_token.as_ref().ok_or(Denied::Disabled)?;
    let given = headers
        .get(header::AUTHORIZATION)
        .ok_or(Denied::Missing)?
        .as_bytes();
    let expected = token.expose();
    let raw_matches = given.ct_eq(expected);
    let bearer_matches = match given.strip_prefix(b"Bearer ") {
        Some(rest) => rest.ct_eq(expected),
        None => 0.into(),
    };
    if bool::from(raw_matches | bearer_matches) {
        Ok(())
    } else {
        Err(Denied::Wrong)
    }
}

fn censorship_kind(value: Option<&str>) -> Result<CensorshipKind, ApiError> {
    let value = value.ok_or_else(|| {
        ApiError::bad(
            "missing query parameter `censorship_type` (do_not_recommend or refuse_storage)",
        )
    })?;
    match value {
        "do_not_recommend" => Ok(CensorshipKind::DoNotRecommend),
        "refuse_storage" => Ok(CensorshipKind::RefuseStorage),
        other => Err(ApiError::bad(format!(
            "invalid `censorship_type` {other:?}: expected do_not_recommend or refuse_storage"
        ))),
    }
}

/// The body: a URL whose last path segment is base64url(URLInfo), or a `polycentric://` link.
fn target(body: &[u8]) -> Result<CensorTarget, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad("body is not UTF-8 text: expected a system or event link"))?;
    if CensorTarget::link_text(text).is_empty() {
        return Err(ApiError::bad(
            "empty body: expected a system or event link (URL ending in base64url URLInfo)",
        ));
    }
    CensorTarget::from_link(text).map_err(|error| match error {
        LinkError::UrlType(url_type) => ApiError::bad(format!(
            "Unknown URL type {url_type}: only system (1) and event (2) links can be censored"
        )),
        error => ApiError::bad(format!("body is not a system or event link: {error}")),
    })
}
