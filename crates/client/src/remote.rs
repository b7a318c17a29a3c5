//! Speaking the wire protocol to one server: `/ranges`, `GET /events` and `POST /events`. Every
//! failure is a [`ServerError`], which sync reports against that server and moves on.

use agora_protocol::encoding::base64url_encode;
use agora_protocol::{PublicKey, wire};
use agora_store::ProcessRanges;
use prost::Message as _;

/// Why one server's answer was not used.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Displayed with its causes, which say what went wrong below HTTP (refused connection,
    /// untrusted certificate, timeout).
    #[error("request failed: {}", with_causes(.0))]
    Request(#[source] reqwest::Error),
    #[error("answered {status}: {body}")]
    Status {
        status: reqwest::StatusCode,
        body: String,
    },
    #[error("refused {rejected} of the events: {body}")]
    Rejected { rejected: usize, body: String },
    #[error("answered a malformed {what}: {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("served an invalid event: {0}")]
    InvalidEvent(String),
    #[error("served an event of another system ({served}) when asked for {asked}")]
    WrongSystem { asked: String, served: String },
    #[error("local store failed while syncing: {0}")]
    Local(String),
    /// The answer was longer than the client reads from a server.
    #[error("answered more than {} MiB; the rest was not read", .0 / (1024 * 1024))]
    TooLarge(usize),
    /// The server did not answer an earlier request of this run (connection refused or timed
    /// out), so it is not asked again: one dead server costs one timeout, not one per step.
    #[error("not asked again: {0}")]
    Unreachable(String),
}

impl ServerError {
    /// Whether trying again later may succeed: the server was unreachable, busy or failing.
    /// A refusal of the request itself (a 4xx other than 408 and 429, a malformed or forged
    /// answer) is not.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Request(_) | Self::Unreachable(_) | Self::Local(_) => true,
            Self::Status { status, .. } => {
                status.is_server_error()
                    || *status == reqwest::StatusCode::REQUEST_TIMEOUT
                    || *status == reqwest::StatusCode::TOO_MANY_REQUESTS
            }
            Self::Rejected { .. }
            | Self::TooLarge(_)
            | Self::Malformed { .. }
            | Self::InvalidEvent(_)
            | Self::WrongSystem { .. } => false,
        }
    }
}

/// An error and each of its causes, `: `-separated, without repeating one that the previous
/// message already contains.
fn with_causes(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Longest response body kept in an error message.
const ERROR_BODY_CHARS_MAX: usize = 300;

/// Most bytes read of one answer: a page of events of 20 clocks, each a 512 KiB image section,
/// is about 10 MiB, so this leaves room while a server streaming an endless body costs at most
/// this much memory.
pub const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Most bytes read of an error answer, a refusal list or `/version`.
const SMALL_BODY_BYTES_MAX: usize = 1024 * 1024;

/// The body of `response`, read chunk by chunk and abandoned once it passes `limit` bytes.
pub(crate) async fn body_within(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<bytes::Bytes, ServerError> {
    if response
        .content_length()
        .is_some_and(|length| length > limit as u64)
    {
        return Err(ServerError::TooLarge(limit));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(ServerError::Request)? {
        if body.len() + chunk.len() > limit {
            return Err(ServerError::TooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Servers that did not answer during this client's run, with why; shared by every request.
pub(crate) type Unreachable = std::sync::Mutex<std::collections::HashMap<String, String>>;

/// One server, reached through the client's shared HTTP pool.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Remote<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
    pub unreachable: &'a Unreachable,
}

impl Remote<'_> {
    /// Sends `request` unless this server already failed to answer in this run; a refused
    /// connection or a timeout marks it for the rest of the run.
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ServerError> {
        if let Some(reason) = self.unreachable_reason() {
            return Err(ServerError::Unreachable(reason));
        }
        request.send().await.map_err(|error| self.failed(error))
    }

    fn unreachable_reason(&self) -> Option<String> {
        let known = self.unreachable.lock().unwrap_or_else(|p| p.into_inner());
        known.get(self.base).cloned()
    }

    /// A request error, remembered when it says the server does not answer. The URL is left out
    /// of its message: the server is named beside it.
    fn failed(&self, error: reqwest::Error) -> ServerError {
        let error = error.without_url();
        if error.is_connect() || error.is_timeout() {
            let mut known = self.unreachable.lock().unwrap_or_else(|p| p.into_inner());
            known
                .entry(self.base.to_owned())
                .or_insert_with(|| with_causes(&error));
        }
        ServerError::Request(error)
    }

    pub async fn ranges(&self, system: &PublicKey) -> Result<Vec<ProcessRanges>, ServerError> {
        let url = format!("{}/ranges?system={}", self.base, system.to_query_param());
        let body = self.read(self.http.get(url)).await?;
        let message =
            wire::RangesForSystem::decode(body).map_err(|error| malformed("ranges", error))?;
        ProcessRanges::from_wire(&message).map_err(|error| malformed("ranges", error))
    }

    /// The events of `system` in `ranges`, unverified: the caller verifies every one.
    pub async fn events(
        &self,
        system: &PublicKey,
        ranges: &ProcessRanges,
    ) -> Result<Vec<wire::SignedEvent>, ServerError> {
        let url = format!("{}{}", self.base, ranges.events_path(system));
        let body = self.read(self.http.get(url)).await?;
        let events = wire::Events::decode(body).map_err(|error| malformed("events", error))?;
        Ok(events.events)
    }

    /// Sends a batch. Returns the events the server refused for good, by position in the batch
    /// with its reason: an Agora server names each (docs/protocol.md, "per-event rejections");
    /// any server refusing a batch of one event with a 4xx other than 408/429 refuses that event.
    /// Anything else that went wrong is an error, and the batch is sent again next time.
    pub async fn publish(
        &self,
        events: Vec<wire::SignedEvent>,
    ) -> Result<Vec<(usize, String)>, ServerError> {
        let count = events.len();
        let body = wire::Events { events }.encode_to_vec();
        let request = self.http.post(format!("{}/events", self.base)).body(body);
        let response = self.send(request).await?;
        let rejected = response
            .headers()
            .get("x-agora-rejected")
            .and_then(|value| value.to_str().ok()?.parse::<usize>().ok())
            .unwrap_or(0);
        let status = response.status();
        if rejected > 0 && (status.is_success() || status == reqwest::StatusCode::BAD_REQUEST) {
            let body = body_within(response, SMALL_BODY_BYTES_MAX).await?;
            let body = String::from_utf8_lossy(&body).into_owned();
            let named = per_event_rejections(&body, count);
            if named.len() == rejected {
                return Ok(named);
            }
            return Err(ServerError::Rejected {
                rejected,
                body: body.trim().chars().take(ERROR_BODY_CHARS_MAX).collect(),
            });
        }
        match checked(response).await {
            Ok(_) => Ok(Vec::new()),
            Err(error) if count == 1 && !error.is_transient() => Ok(vec![(0, error.to_string())]),
            Err(error) => Err(error),
        }
    }

    /// `/query_latest`: per process and type, the latest event of `system`, each verified
    /// (signature, system, content rules).
    pub async fn latest(
        &self,
        system: &PublicKey,
        content_types: &[u64],
    ) -> Result<Vec<agora_protocol::VerifiedEvent>, ServerError> {
        let types = wire::RepeatedUInt64 {
            numbers: content_types.to_vec(),
        };
        let url = format!(
            "{}/query_latest?system={}&event_types={}",
            self.base,
            system.to_query_param(),
            base64url_encode(&types.encode_to_vec())
        );
        let body = self.read(self.http.get(url)).await?;
        let answer =
            wire::Events::decode(body).map_err(|error| malformed("query_latest answer", error))?;
        answer
            .events
            .iter()
            .map(|signed| crate::sync::check_served(system, signed))
            .collect()
    }

    /// `GET /version`: what a Polycentric server answers there (JSON with a `sha`, and Agora's
    /// `version`), as one line; anything else is not a Polycentric server.
    pub async fn version(&self) -> Result<String, ServerError> {
        let body = self
            .read(self.http.get(format!("{}/version", self.base)))
            .await?;
        let answer: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            malformed(
                "/version (not JSON: is this a Polycentric server?)",
                String::from_utf8_lossy(&body[..body.len().min(80)]),
            )
        })?;
        let sha = answer.get("sha").and_then(serde_json::Value::as_str);
        let version = answer.get("version").and_then(serde_json::Value::as_str);
        match (version, sha) {
            (Some(version), Some(sha)) => Ok(format!("{version} (commit {sha})")),
            (None, Some(sha)) => Ok(format!("commit {sha}")),
            _ => Err(malformed(
                "/version (no `sha`: is this a Polycentric server?)",
                answer.to_string().chars().take(80).collect::<String>(),
            )),
        }
    }

    pub(crate) async fn read(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<bytes::Bytes, ServerError> {
        let response = self.send(request).await?;
        match body_within(checked(response).await?, RESPONSE_BYTES_MAX).await {
            Err(ServerError::Request(error)) => Err(self.failed(error)),
            other => other,
        }
    }
}

/// The `event <position> rejected: <reason>` lines of an Agora server's answer, for positions
/// within a batch of `count` events.
fn per_event_rejections(body: &str, count: usize) -> Vec<(usize, String)> {
    body.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("event ")?;
            let (position, reason) = rest.split_once(" rejected: ")?;
            let position: usize = position.parse().ok()?;
            (position < count).then(|| (position, reason.to_owned()))
        })
        .collect()
}

/// The response when its status is a success, else the status and the start of its body.
pub(crate) async fn checked(response: reqwest::Response) -> Result<reqwest::Response, ServerError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    Err(ServerError::Status {
        status,
        body: error_body(response).await,
    })
}

async fn error_body(response: reqwest::Response) -> String {
    let body = body_within(response, SMALL_BODY_BYTES_MAX)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    text.trim().chars().take(ERROR_BODY_CHARS_MAX).collect()
}

/// A server's answer that did not decode as `what`.
pub(crate) fn malformed(what: &'static str, reason: impl ToString) -> ServerError {
    ServerError::Malformed {
        what,
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_event_rejection_lines_are_read_and_others_ignored() {
        let body = "event 0 rejected: refused by this server's operator\n\
                    event 2 rejected: device revoked: a: b\nnoise\nevent 9 rejected: out of batch\n";
        assert_eq!(
            per_event_rejections(body, 3),
            [
                (0, "refused by this server's operator".to_owned()),
                (2, "device revoked: a: b".to_owned())
            ]
        );
    }
}
