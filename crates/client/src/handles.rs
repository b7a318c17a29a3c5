//! Handles on servers: claiming one with proof of ownership, and resolving one everywhere.
//!
//! A claim fetches a fresh challenge from each server and signs it together with the handle
//! (Agora's extension of `POST /claim_handle`, docs/protocol.md), so no one else can take or
//! move the binding afterwards. Each server is asked on its own: one failure never stops the
//! others, and the result names which answered and which failed.

use std::collections::HashSet;

use agora_protocol::{PublicKey, SecretKey, proof, wire};
use futures::future::join_all;
use prost::Message as _;

use crate::client::normalize_server;
use crate::remote::Remote;
use crate::{Client, Gathered, ServerError, ServerFailure};

/// What one server maps a handle to: a system, or nothing (it answered 404).
pub type HandleAnswer = (String, Option<PublicKey>);

impl Client {
    /// Claims `handle` for this identity on each of `servers`, signed over a fresh challenge of
    /// that server. `answered` lists the servers that bound it.
    pub async fn claim_handle(&self, handle: &str, servers: &[String]) -> Gathered<()> {
        let servers = distinct(servers);
        let claims = servers.iter().map(|server| async move {
            let remote = Remote {
                http: &self.http,
                base: server,
            };
            (server.clone(), self.claim_handle_on(remote, handle).await)
        });
        let mut gathered = Gathered {
            value: (),
            answered: Vec::new(),
            failed: Vec::new(),
        };
        for (server, result) in join_all(claims).await {
            match result {
                Ok(()) => gathered.answered.push(server),
                Err(error) => gathered.failed.push(ServerFailure { server, error }),
            }
        }
        gathered
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
        let servers = distinct(servers);
        let releases = servers.iter().map(|server| async move {
            let remote = Remote {
                http: &self.http,
                base: server,
            };
            (server.clone(), self.release_handle_on(remote).await)
        });
        let mut gathered = Gathered {
            value: Vec::new(),
            answered: Vec::new(),
            failed: Vec::new(),
        };
        for (server, result) in join_all(releases).await {
            match result {
                Ok(message) => {
                    gathered.answered.push(server.clone());
                    gathered.value.push((server, message));
                }
                Err(error) => gathered.failed.push(ServerFailure { server, error }),
            }
        }
        gathered
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
        let servers = distinct(servers);
        let asked = servers.iter().map(|server| async move {
            let remote = Remote {
                http: &self.http,
                base: server,
            };
            (server.clone(), resolve_on(remote, handle).await)
        });
        let mut gathered = Gathered {
            value: Vec::new(),
            answered: Vec::new(),
            failed: Vec::new(),
        };
        for (server, result) in join_all(asked).await {
            match result {
                Ok(system) => {
                    gathered.answered.push(server.clone());
                    gathered.value.push((server, system));
                }
                Err(error) => gathered.failed.push(ServerFailure { server, error }),
            }
        }
        gathered
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

async fn resolve_on(remote: Remote<'_>, handle: &str) -> Result<Option<PublicKey>, ServerError> {
    let request = remote
        .http
        .get(format!("{}/resolve_handle", remote.base))
        .query(&[("handle", handle)]);
    let body = match remote.read(request).await {
        Ok(body) => body,
        Err(ServerError::Status { status, .. }) if status == reqwest::StatusCode::NOT_FOUND => {
            return Ok(None);
        }
        Err(error) => return Err(error),
    };
    let wire = wire::PublicKey::decode(body).map_err(|error| malformed("public key", error))?;
    PublicKey::try_from(&wire)
        .map(Some)
        .map_err(|error| malformed("public key", error))
}

fn distinct(servers: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    servers
        .iter()
        .map(|server| normalize_server(server))
        .filter(|server| !server.is_empty() && seen.insert(server.clone()))
        .collect()
}

fn malformed(what: &'static str, reason: impl ToString) -> ServerError {
    ServerError::Malformed {
        what,
        reason: reason.to_string(),
    }
}
