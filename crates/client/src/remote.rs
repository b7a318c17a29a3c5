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

/// One server, reached through the client's shared HTTP pool.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Remote<'a> {
    pub http: &'a reqwest::Client,
    pub base: &'a str,
}

impl Remote<'_> {
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

    /// Sends a batch; a server that refuses any event of it counts as failed.
    pub async fn publish(&self, events: Vec<wire::SignedEvent>) -> Result<(), ServerError> {
        let body = wire::Events { events }.encode_to_vec();
        let request = self.http.post(format!("{}/events", self.base)).body(body);
        let response = request.send().await.map_err(ServerError::Request)?;
        let rejected = response
            .headers()
            .get("x-agora-rejected")
            .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
        let response = checked(response).await?;
        match rejected {
            Some(rejected) if rejected > 0 => Err(ServerError::Rejected {
                rejected,
                body: error_body(response).await,
            }),
            _ => Ok(()),
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

    pub(crate) async fn read(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<bytes::Bytes, ServerError> {
        let response = request.send().await.map_err(ServerError::Request)?;
        checked(response)
            .await?
            .bytes()
            .await
            .map_err(ServerError::Request)
    }
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
    let text = response.text().await.unwrap_or_default();
    text.trim().chars().take(ERROR_BODY_CHARS_MAX).collect()
}

/// A server's answer that did not decode as `what`.
pub(crate) fn malformed(what: &'static str, reason: impl ToString) -> ServerError {
    ServerError::Malformed {
        what,
        reason: reason.to_string(),
    }
}
