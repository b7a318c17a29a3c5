//! Handles on servers: claiming one with proof of ownership, and resolving one everywhere.
//!
//! A claim fetches a fresh challenge from each server and signs it together with the handle
//! (Agora's extension of `POST /claim_handle`, docs/protocol.md), so no one else can take or
//! move the binding afterwards. Each server is asked on its own: one failure never stops the
//! others, and the result names which answered and which failed.

use agora_protocol::{PublicKey, SecretKey, proof, wire};
use prost::Message as _;

use crate::remote::{Remote, checked, malformed};
use crate::{Client, Gathered, ServerError};

/// What one server maps a handle to: a holder, or nothing (it answered 404).
pub type HandleAnswer = (String, Option<HandleHolder>);

/// The system a server binds a handle to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandleHolder {
    pub system: PublicKey,
    /// The holder proved the binding with a signed claim (an Agora server says so in the
    /// `x-agora-handle-proven` header; other servers never do).
    pub proven: bool,
}

impl Client {
    /// Claims `handle` for this identity on each of `servers`, signed over a fresh challenge of
    /// that server. `answered` lists the servers that bound it.
    pub async fn claim_handle(&self, handle: &str, servers: &[String]) -> Gathered<()> {
        self.ask_each(servers, "handle claim", |server| async move {
            self.claim_handle_on(self.remote(&server), handle).await
        })
        .await
        .with_value(())
    }

    async fn claim_handle_on(&self, remote: Remote<'_>, handle: &str) -> Result<(), ServerError> {
        let (challenge, bytes) = fetch_challenge(remote).await?;
        let message = proof::claim_handle_message(&bytes, handle);
        let signature = SecretKey::from_seed(&self.secret_seed()).sign(&message);
        let request = wire::ClaimHandleRequest {
            system: Some(self.system().to_wire()),
            handle: handle.to_owned(),
            challenge: Some(challenge),
            signature: signature.to_vec().into(),
        };
        let post = remote
            .http
            .post(format!("{}/claim_handle", remote.base))
            .body(request.encode_to_vec());
        remote.read(post).await.map(|_| ())
    }

    /// Gives up this identity's handle on each of `servers`, with a signed challenge of each
    /// (Agora's `POST /release_handle`). `value` holds each answering server's message.
    pub async fn release_handle(&self, servers: &[String]) -> Gathered<Vec<(String, String)>> {
        self.ask_each(servers, "handle release", |server| async move {
            self.release_handle_on(self.remote(&server)).await
        })
        .await
    }

    async fn release_handle_on(&self, remote: Remote<'_>) -> Result<String, ServerError> {
        let (challenge, bytes) = fetch_challenge(remote).await?;
        let message = proof::release_handle_message(&bytes);
        let signature = SecretKey::from_seed(&self.secret_seed()).sign(&message);
        let request = wire::HarborValidateRequest {
            challenge: Some(challenge),
            system: Some(self.system().to_wire()),
            signature: signature.to_vec().into(),
        };
        let post = remote
            .http
            .post(format!("{}/release_handle", remote.base))
            .body(request.encode_to_vec());
        let body = remote.read(post).await?;
        Ok(String::from_utf8_lossy(&body).trim().to_owned())
    }

    /// Asks each of `servers` which system holds `handle`. Servers that do not know it answer
    /// `None`; servers that fail are listed in `failed`.
    pub async fn resolve_handle(
        &self,
        handle: &str,
        servers: &[String],
    ) -> Gathered<Vec<HandleAnswer>> {
        self.ask_each(servers, "handle resolution", |server| async move {
            resolve_on(self.remote(&server), handle).await
        })
        .await
    }
}

/// A fresh challenge of the server, and its 32 random bytes (what gets signed).
async fn fetch_challenge(
    remote: Remote<'_>,
) -> Result<(wire::HarborChallengeResponse, Vec<u8>), ServerError> {
    let body = remote
        .read(remote.http.get(format!("{}/challenge", remote.base)))
        .await?;
    let challenge = wire::HarborChallengeResponse::decode(body)
        .map_err(|error| malformed("challenge", error))?;
    let challenge_body = wire::HarborChallengeResponseBody::decode(challenge.body.clone())
        .map_err(|error| malformed("challenge", error))?;
    Ok((challenge, challenge_body.challenge.to_vec()))
}

async fn resolve_on(remote: Remote<'_>, handle: &str) -> Result<Option<HandleHolder>, ServerError> {
    let request = remote
        .http
        .get(format!("{}/resolve_handle", remote.base))
        .query(&[("handle", handle)]);
    let response = remote.send(request).await?;
    let response = match checked(response).await {
        Ok(response) => response,
        Err(ServerError::Status { status, .. }) if status == reqwest::StatusCode::NOT_FOUND => {
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let proven = response
        .headers()
        .get("x-agora-handle-proven")
        .is_some_and(|value| value.as_bytes() == b"true");
    let body = crate::remote::body_within(response, crate::remote::RESPONSE_BYTES_MAX).await?;
    let wire = wire::PublicKey::decode(body).map_err(|error| malformed("public key", error))?;
    let system = PublicKey::try_from(&wire).map_err(|error| malformed("public key", error))?;
    Ok(Some(HandleHolder { system, proven }))
}
