//! Identity routes: challenges, purge, handles (with Agora's proof of ownership) and claims
//! (spec sections 4.3 and 6.4; our changes are in docs/protocol.md, "Identity routes").
//!
//! A challenge is 32 random bytes and the time it was issued, authenticated with an HMAC under
//! the store's challenge key (or a configured one). Unlike the reference server, a challenge
//! expires ([`IdentityConfig`]'s `challenge_lifetime`) and can be spent once: the store records
//! each spend until the challenge expires, so every node over one store, before and after a
//! restart, accepts a challenge any of them issued and refuses it once spent.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_protocol::{PublicKey, proof, wire};
use agora_store::{
    ClaimFieldMatch, ClaimQuery, ClaimVouchQuery, HandleClaimOutcome, Store, VouchedClaim,
};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hmac::{Hmac, Mac as _};
use prost::Message;
use rand::RngCore as _;
use serde::Deserialize;
use sha2::Sha256;

use crate::AppState;
use crate::budget::WholeBody;
use crate::config::{HandlePolicy, IdentityConfig};
use crate::error::ApiError;
use crate::params::{self, Params};
use crate::respond::{protobuf, text};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of random challenge, as in the reference server.
pub const CHALLENGE_BYTES: usize = 32;
/// How far in the future a challenge's `created_on` may be (clock steps between instances that
/// share a key); anything later is refused.
pub const CHALLENGE_FUTURE_SKEW_MS: u64 = 5_000;
/// Longest handle, in UTF-8 bytes (spec section 4.3).
pub const HANDLE_BYTES_MAX: usize = 64;

const CACHE_CLAIMS: &str = "public, s-maxage=3600, max-age=5";

/// Issues challenges and checks them; the store remembers which were spent.
pub struct ChallengeKeeper {
    /// Keyed HMAC, cloned per use: the key never leaves it.
    mac: HmacSha256,
    /// How long after `created_on` a challenge may be spent.
    lifetime_ms: u64,
}

/// A challenge that passed every check but the store's: its bytes, and when it expires.
#[derive(Debug, PartialEq, Eq)]
pub struct Spendable {
    pub challenge: [u8; CHALLENGE_BYTES],
    pub expires_ms: u64,
}

impl std::fmt::Debug for ChallengeKeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChallengeKeeper")
            .field("lifetime_ms", &self.lifetime_ms)
            .finish_non_exhaustive()
    }
}

/// Why a challenge cannot be spent. Each is a 401 naming the reason.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChallengeError {
    #[error("challenge was not issued by this server (hmac mismatch)")]
    Forged,
    #[error("challenge body is malformed")]
    Malformed,
    #[error("challenge expired: issued {age_ms} ms ago, lifetime is {lifetime_ms} ms")]
    Expired { age_ms: u64, lifetime_ms: u64 },
    #[error("challenge created_on is in the future")]
    FromTheFuture,
    #[error("challenge was already used")]
    Replayed,
    #[error("signature does not verify for this system and challenge")]
    BadSignature,
}

impl From<ChallengeError> for ApiError {
    fn from(error: ChallengeError) -> Self {
        match error {
            // The reference answers a bad signature with 400; we keep that.
            ChallengeError::BadSignature | ChallengeError::Malformed => {
                ApiError::bad(error.to_string())
            }
            other => ApiError::Unauthorized(other.to_string()),
        }
    }
}

impl ChallengeKeeper {
    /// A keeper with the configured key, or the store's when none is set.
    pub fn new(config: &IdentityConfig, stored_key: [u8; 32]) -> Self {
        let key = config.challenge_key.as_deref().unwrap_or(&stored_key);
        Self {
            mac: HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length"),
            lifetime_ms: u64::try_from(config.challenge_lifetime.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// A new challenge issued at `now_ms`.
    pub fn issue(&self, now_ms: u64) -> wire::HarborChallengeResponse {
        let mut challenge = [0u8; CHALLENGE_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut challenge);
        let body = wire::HarborChallengeResponseBody {
            challenge: Bytes::copy_from_slice(&challenge),
            created_on: now_ms,
        }
        .encode_to_vec();
        let hmac = self.sign(&body);
        wire::HarborChallengeResponse {
            body: body.into(),
            hmac: hmac.into(),
        }
    }

    /// The HMAC of a challenge body under this server's key.
    pub fn sign(&self, body: &[u8]) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    /// Checks a challenge: the HMAC (constant time), the age, then `signed_by` on the
    /// challenge bytes. Only a challenge that passes is spent ([`spend`]), so a refused request
    /// leaves it usable.
    pub fn check(
        &self,
        challenge: &wire::HarborChallengeResponse,
        now_ms: u64,
        signed_by: impl FnOnce(&[u8]) -> bool,
    ) -> Result<Spendable, ChallengeError> {
        let mut mac = self.mac.clone();
        mac.update(&challenge.body);
        mac.verify_slice(&challenge.hmac)
            .map_err(|_| ChallengeError::Forged)?;
        let body = wire::HarborChallengeResponseBody::decode(challenge.body.clone())
            .map_err(|_| ChallengeError::Malformed)?;
        let bytes: [u8; CHALLENGE_BYTES] = body
            .challenge
            .as_ref()
            .try_into()
            .map_err(|_| ChallengeError::Malformed)?;
        if body.created_on > now_ms.saturating_add(CHALLENGE_FUTURE_SKEW_MS) {
            return Err(ChallengeError::FromTheFuture);
        }
        let age_ms = now_ms.saturating_sub(body.created_on);
        if age_ms > self.lifetime_ms {
            return Err(ChallengeError::Expired {
                age_ms,
                lifetime_ms: self.lifetime_ms,
            });
        }
        if !signed_by(&bytes) {
            return Err(ChallengeError::BadSignature);
        }
        Ok(Spendable {
            challenge: bytes,
            expires_ms: body.created_on.saturating_add(self.lifetime_ms),
        })
    }
}

/// Checks a challenge ([`ChallengeKeeper::check`]) and spends it in the store, once for every
/// node over it.
pub async fn spend<S: Store>(
    state: &AppState<S>,
    challenge: &wire::HarborChallengeResponse,
    signed_by: impl FnOnce(&[u8]) -> bool,
) -> Result<(), ApiError> {
    let now = now_ms();
    let spendable = state.challenges.check(challenge, now, signed_by)?;
    let spent = state
        .store
        .spend_challenge(spendable.challenge, spendable.expires_ms, now)
        .await?;
    if !spent {
        return Err(ChallengeError::Replayed.into());
    }
    Ok(())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64
}

fn system_of(wire: Option<&wire::PublicKey>, name: &str) -> Result<PublicKey, ApiError> {
    let wire = wire.ok_or_else(|| ApiError::bad(format!("`{name}` is missing")))?;
    PublicKey::try_from(wire).map_err(|error| ApiError::bad(format!("invalid `{name}`: {error}")))
}

/// `GET /challenge`.
pub async fn challenge<S: Store>(State(state): State<Arc<AppState<S>>>) -> Response {
    protobuf(&state.challenges.issue(now_ms()), Some("no-cache"))
}

/// Decodes a protobuf request body; a 400 names the message type expected.
fn decode_body<M: Message + Default>(body: Bytes, name: &str) -> Result<M, ApiError> {
    M::decode(body)
        .map_err(|error| ApiError::bad(format!("body is not a valid {name} protobuf: {error}")))
}

/// The system of a `HarborValidateRequest` body (purge, release_handle), once its challenge is
/// spent with the system's signature over `message(challenge bytes)`.
async fn validated_system<S: Store>(
    state: &AppState<S>,
    body: Bytes,
    message: impl FnOnce(&[u8]) -> Vec<u8>,
) -> Result<PublicKey, ApiError> {
    let request: wire::HarborValidateRequest = decode_body(body, "HarborValidateRequest")?;
    let system = system_of(request.system.as_ref(), "system")?;
    let challenge = request
        .challenge
        .as_ref()
        .ok_or_else(|| ApiError::bad("`challenge` is missing"))?;
    spend(state, challenge, |bytes| {
        proof::verify(&system, &message(bytes), &request.signature)
    })
    .await?;
    Ok(system)
}

/// `POST /purge`: the system's self-service "delete my data". The request carries a challenge
/// and the system's signature over its 32 bytes (as official clients sign it); the challenge
/// must be fresh and unspent. Every event of the system goes, with everything derived from
/// them and its handle, in one store transaction.
pub async fn purge<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    WholeBody(body): WholeBody,
) -> Result<Response, ApiError> {
    let system = validated_system(&state, body, <[u8]>::to_vec).await?;
    let removed = state.store.remove_system(system).await?;
    tracing::info!(?system, removed, "purged a system at its request");
    Ok(StatusCode::OK.into_response())
}

/// Checks a handle as the reference does, with its messages.
pub fn check_handle(handle: &str) -> Result<(), ApiError> {
    if handle.is_empty() || handle.len() > HANDLE_BYTES_MAX {
        return Err(ApiError::bad("Handle must be between 1 and 64 characters"));
    }
    if !handle
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-')
    {
        return Err(ApiError::bad(
            "Handle may only have uppercase and lowercase letters, numbers, dashes, and underscores",
        ));
    }
    Ok(())
}

/// `POST /claim_handle`: binds a handle, with or without proof (see [`HandlePolicy`]).
pub async fn claim_handle<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    connection: Option<axum::Extension<axum::extract::ConnectInfo<std::net::SocketAddr>>>,
    headers: axum::http::HeaderMap,
    WholeBody(body): WholeBody,
) -> Result<Response, ApiError> {
    let request: wire::ClaimHandleRequest = decode_body(body, "ClaimHandleRequest")?;
    let system = system_of(request.system.as_ref(), "system")?;
    check_handle(&request.handle)?;
    let client = crate::ratelimit::client_of(
        &state,
        connection.map(|axum::Extension(axum::extract::ConnectInfo(peer))| peer),
        headers.get("x-forwarded-for"),
    );
    let allowed =
        state
            .limiter
            .check_identity(crate::ratelimit::PerIdentity::Handles, client, &system, 1);
    if let Err(limited) = allowed {
        return Ok(limited.into_response());
    }
    let proven = match (&request.challenge, request.signature.is_empty()) {
        (None, true) => false,
        (Some(challenge), false) => {
            let message = |bytes: &[u8]| proof::claim_handle_message(bytes, &request.handle);
            spend(&state, challenge, |bytes| {
                proof::verify(&system, &message(bytes), &request.signature)
            })
            .await?;
            true
        }
        _ => {
            return Err(ApiError::bad(
                "a signed claim needs both `challenge` and `signature`",
            ));
        }
    };
    if !proven && state.config.identity.handle_policy == HandlePolicy::Proof {
        return Err(ApiError::Unauthorized(
            "this server requires proof of ownership to claim a handle: sign a challenge from \
             GET /challenge (see Agora's docs/protocol.md)"
                .into(),
        ));
    }
    let handle = request.handle;
    match state
        .store
        .claim_handle(system, handle.clone(), proven)
        .await?
    {
        HandleClaimOutcome::Bound => Ok(StatusCode::OK.into_response()),
        HandleClaimOutcome::Taken(holder) => Err(ApiError::Conflict(format!(
            "handle {handle:?} is taken by system {holder}"
        ))),
        HandleClaimOutcome::SystemRefused => Ok(text(
            StatusCode::FORBIDDEN,
            "this server refuses storage of this system (operator curation), so it cannot \
             claim a handle here"
                .to_owned(),
        )),
        HandleClaimOutcome::ProvenBindingNeedsProof { current } => {
            Err(ApiError::Unauthorized(format!(
                "this system's handle {current:?} was claimed with proof; only a claim signed \
                 by the system can change it"
            )))
        }
    }
}

/// `POST /release_handle` (extension): the system gives up its handle. The body is a
/// `HarborValidateRequest` whose signature covers [`proof::release_handle_message`], so a purge
/// signature cannot release a handle nor the reverse. 200 either way; the body says what
/// happened.
pub async fn release_handle<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    WholeBody(body): WholeBody,
) -> Result<Response, ApiError> {
    let system = validated_system(&state, body, proof::release_handle_message).await?;
    let message = match state.store.release_handle(system).await? {
        Some(handle) => format!("released handle {handle:?}"),
        None => "this system held no handle".to_owned(),
    };
    Ok(text(StatusCode::OK, message))
}

/// The `handle` parameter of `/resolve_handle`.
#[derive(Debug, Deserialize)]
pub struct HandleParams {
    handle: Option<String>,
}

/// `GET /resolve_handle?handle=`: the system's `PublicKey`, or 404.
pub async fn resolve_handle<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<HandleParams>,
) -> Result<Response, ApiError> {
    let handle = params::required(&params.handle, "handle")?;
    check_handle(handle)?;
    let binding = state
        .store
        .resolve_handle(handle.to_owned())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no system holds handle {handle:?}")))?;
    let mut response = protobuf(&binding.system.to_wire(), None);
    // Agora's addition: whether the holder proved the binding with a signed claim.
    let proven = if binding.proven { "true" } else { "false" };
    response.headers_mut().insert(
        axum::http::HeaderName::from_static("x-agora-handle-proven"),
        axum::http::HeaderValue::from_static(proven),
    );
    Ok(response)
}

fn fields(entries: &[wire::ClaimFieldEntry]) -> Vec<(u64, String)> {
    entries
        .iter()
        .map(|entry| (entry.key, entry.value.clone()))
        .collect()
}

/// `GET /resolve_claim?query=` (spec section 6.4), at most `query_limit_max` matches.
pub async fn resolve_claim<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let request: wire::QueryClaimToSystemRequest = params::protobuf(&params.query, "query")?;
    let trust_root = system_of(request.trust_root.as_ref(), "trust_root")?;
    let fields = match request.query {
        Some(wire::query_claim_to_system_request::Query::MatchAnyField(value)) => {
            ClaimFieldMatch::AnyField(value)
        }
        Some(wire::query_claim_to_system_request::Query::MatchAllFields(all)) => {
            ClaimFieldMatch::AllFields(fields(&all.fields))
        }
        None => {
            return Err(ApiError::bad(
                "`query` needs match_any_field or match_all_fields",
            ));
        }
    };
    let matches = state
        .store
        .resolve_claims(ClaimQuery {
            claim_type: request.claim_type,
            trust_root,
            fields,
            limit: state.config.limits.query_limit_max,
        })
        .await?;
    let response = wire::QueryClaimToSystemResponse {
        matches: matches
            .into_iter()
            .map(
                |VouchedClaim { claim, vouch }| wire::QueryClaimToSystemResponseMatch {
                    claim: Some(claim),
                    proof_chain: vec![vouch],
                },
            )
            .collect(),
    };
    Ok(protobuf(&response, Some(CACHE_CLAIMS)))
}

/// `GET /find_claim_and_vouch?query=`: 404 "pair not found" without a match.
pub async fn find_claim_and_vouch<S: Store>(
    State(state): State<Arc<AppState<S>>>,
    Query(params): Query<Params>,
) -> Result<Response, ApiError> {
    let request: wire::FindClaimAndVouchRequest = params::protobuf(&params.query, "query")?;
    let query = ClaimVouchQuery {
        claim_type: request.claim_type,
        claiming_system: system_of(request.claiming_system.as_ref(), "claiming_system")?,
        vouching_system: system_of(request.vouching_system.as_ref(), "vouching_system")?,
        fields: fields(&request.fields),
    };
    let found = state
        .store
        .find_claim_and_vouch(query)
        .await?
        .ok_or_else(|| ApiError::NotFound("pair not found".into()))?;
    let response = wire::FindClaimAndVouchResponse {
        vouch: Some(found.vouch),
        claim: Some(found.claim),
    };
    Ok(protobuf(&response, Some("no-cache")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keeper(lifetime: Duration) -> ChallengeKeeper {
        ChallengeKeeper::new(
            &IdentityConfig {
                challenge_lifetime: lifetime,
                ..IdentityConfig::default()
            },
            [7; 32],
        )
    }

    #[test]
    fn a_challenge_passes_only_when_signed_and_expires_a_lifetime_after_issue() {
        let keeper = keeper(Duration::from_secs(60));
        let now = now_ms();
        let challenge = keeper.issue(now);
        assert_eq!(
            keeper.check(&challenge, now, |_| false),
            Err(ChallengeError::BadSignature)
        );
        let spendable = keeper.check(&challenge, now, |_| true).expect("passes");
        assert_eq!(spendable.expires_ms, now + 60_000);
        let foreign = ChallengeKeeper::new(&IdentityConfig::default(), [8; 32]).issue(now);
        assert_eq!(
            keeper.check(&foreign, now, |_| true),
            Err(ChallengeError::Forged),
            "a challenge under another key"
        );
    }

    #[test]
    fn expiry_and_the_future_are_measured_from_created_on() {
        let keeper = keeper(Duration::from_secs(60));
        let now = now_ms();
        let challenge = keeper.issue(now);
        let late = now + 60_001;
        assert!(matches!(
            keeper.check(&challenge, late, |_| true),
            Err(ChallengeError::Expired { .. })
        ));
        let early = now - CHALLENGE_FUTURE_SKEW_MS - 1;
        assert_eq!(
            keeper.check(&challenge, early, |_| true),
            Err(ChallengeError::FromTheFuture)
        );
        assert!(keeper.check(&challenge, now + 60_000, |_| true).is_ok());
    }
}
