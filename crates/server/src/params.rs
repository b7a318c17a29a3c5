//! Parsing query parameters: each failure names the parameter and what was wrong with it.

use agora_protocol::PublicKey;
use agora_protocol::encoding::base64url_decode;
use prost::Message;
use serde::Deserialize;

use crate::error::ApiError;

/// Every query parameter a route may read. All are optional here, so a request never fails in
/// extraction with a generic message; each handler says which it needs.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    pub system: Option<String>,
    pub ranges: Option<String>,
    pub event_types: Option<String>,
    pub content_type: Option<String>,
    pub after: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub query: Option<String>,
    pub moderation_filters: Option<String>,
    /// `/stream` filters.
    pub systems: Option<String>,
    pub content_types: Option<String>,
    pub references: Option<String>,
}

pub fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .ok_or_else(|| ApiError::bad(format!("missing query parameter `{name}`")))
}

pub fn system(params: &Params) -> Result<PublicKey, ApiError> {
    let text = required(&params.system, "system")?;
    PublicKey::from_query_param(text)
        .map_err(|error| ApiError::bad(format!("invalid `system` parameter: {error}")))
}

/// A base64url protobuf parameter such as `ranges`, `event_types` or `query`.
pub fn protobuf<M: Message + Default>(value: &Option<String>, name: &str) -> Result<M, ApiError> {
    let bytes = base64url_decode(required(value, name)?)
        .map_err(|error| ApiError::bad(format!("`{name}` is not base64url: {error}")))?;
    M::decode(bytes.as_slice())
        .map_err(|error| ApiError::bad(format!("`{name}` is not a valid protobuf: {error}")))
}

pub fn number(value: &Option<String>, name: &str) -> Result<Option<u64>, ApiError> {
    value
        .as_deref()
        .map(|text| {
            text.trim().parse::<u64>().map_err(|_| {
                ApiError::bad(format!(
                    "`{name}` must be a non-negative whole number, got {text:?}"
                ))
            })
        })
        .transpose()
}

/// `limit`, defaulting to `default` and cut to `max`.
pub fn limit(params: &Params, default: usize, max: usize) -> Result<usize, ApiError> {
    let asked = number(&params.limit, "limit")?.map_or(default, |limit| limit as usize);
    Ok(asked.min(max))
}

/// One filter of the `moderation_filters` parameter (spec section 7), as sent.
#[derive(Debug, Deserialize)]
struct ModerationFilter {
    name: String,
    max_level: i64,
    strict_mode: bool,
}

/// Parses `moderation_filters` (absent: no filters). A malformed value is the client's mistake
/// and is named; whether the filters hide anything is up to the store's labeler.
pub fn moderation_filters(
    params: &Params,
) -> Result<Vec<agora_store::moderation::ModerationFilter>, ApiError> {
    let Some(text) = params.moderation_filters.as_deref() else {
        return Ok(Vec::new());
    };
    let filters: Vec<ModerationFilter> = serde_json::from_str(text).map_err(|error| {
        ApiError::bad(format!(
            "`moderation_filters` must be a JSON array of {{name, max_level, strict_mode}}: {error}"
        ))
    })?;
    Ok(filters
        .into_iter()
        .map(|filter| agora_store::moderation::ModerationFilter {
            name: filter.name,
            max_level: filter.max_level,
            strict_mode: filter.strict_mode,
        })
        .collect())
}
