//! Identity routes over HTTP: challenges (fresh, single-use, authentic), purge, handles with and
//! without proof, and vouched claims.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agora_protocol::author::{Author, Draft, pointer_reference};
use agora_protocol::encoding::base64url_encode;
use agora_protocol::links::Link;
use agora_protocol::{PublicKey, VerifiedEvent, content, proof, wire};
use agora_server::ServerConfig;
use agora_server::config::{AdminToken, HandlePolicy, IdentityConfig};
use agora_server::identity::ChallengeKeeper;
use agora_testnet::TestServer;
use prost::Message;
use reqwest::StatusCode;

use crate::support::{Answer, Http, author};

async fn challenge(http: &Http) -> wire::HarborChallengeResponse {
    http.get("/challenge").await.decode()
}

fn challenge_bytes(challenge: &wire::HarborChallengeResponse) -> Vec<u8> {
    wire::HarborChallengeResponseBody::decode(challenge.body.clone())
        .expect("challenge body")
        .challenge
        .to_vec()
}

/// A purge request of `author`'s system, signed by `signer`.
fn purge_request(
    author: &Author,
    signer: &Author,
    challenge: &wire::HarborChallengeResponse,
) -> Vec<u8> {
    wire::HarborValidateRequest {
        challenge: Some(challenge.clone()),
        system: Some(author.system().to_wire()),
        signature: signer
            .secret()
            .sign(&challenge_bytes(challenge))
            .to_vec()
            .into(),
    }
    .encode_to_vec()
}

fn unsigned_claim(system: &PublicKey, handle: &str) -> Vec<u8> {
    wire::ClaimHandleRequest {
        system: Some(system.to_wire()),
        handle: handle.to_owned(),
        challenge: None,
        signature: Default::default(),
    }
    .encode_to_vec()
}

/// A claim of `handle` for `system`, with a fresh challenge signed by `signer`.
async fn signed_claim(http: &Http, system: &PublicKey, signer: &Author, handle: &str) -> Answer {
    let challenge = challenge(http).await;
    let message = proof::claim_handle_message(&challenge_bytes(&challenge), handle);
    let request = wire::ClaimHandleRequest {
        system: Some(system.to_wire()),
        handle: handle.to_owned(),
        challenge: Some(challenge),
        signature: signer.secret().sign(&message).to_vec().into(),
    };
    http.post_raw("/claim_handle", request.encode_to_vec())
        .await
}

async fn resolve(http: &Http, handle: &str) -> Answer {
    http.get(&format!("/resolve_handle?handle={handle}")).await
}

async fn resolves_to(http: &Http, handle: &str) -> Option<PublicKey> {
    let answer = resolve(http, handle).await;
    if answer.status == StatusCode::NOT_FOUND {
        return None;
    }
    let wire: wire::PublicKey = answer.decode();
    Some(PublicKey::try_from(&wire).expect("a valid key"))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

#[tokio::test]
async fn challenges_are_fresh_random_and_authenticated() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let answer = http.get("/challenge").await;
    assert_eq!(answer.headers["cache-control"], "no-cache");
    let first: wire::HarborChallengeResponse = answer.decode();
    let second = challenge(&http).await;
    assert_eq!(first.hmac.len(), 32, "HMAC-SHA256");
    let body = wire::HarborChallengeResponseBody::decode(first.body.clone()).expect("body");
    assert_eq!(body.challenge.len(), 32);
    assert!(body.created_on > 1_600_000_000_000, "created_on is unix ms");
    assert_ne!(challenge_bytes(&first), challenge_bytes(&second));
}

#[tokio::test]
async fn purge_removes_the_system_and_its_handle_and_nothing_else() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut bob) = (author(1), author(2));
    let alice_post = alice.post("mine", 1_000).expect("sign");
    let bob_post = bob.post("bob's", 1_000).expect("sign");
    assert_eq!(
        http.publish(&[&alice_post, &bob_post]).await.status,
        StatusCode::OK
    );
    for (who, handle) in [(&alice, "alice"), (&bob, "bob")] {
        let answer = http
            .post_raw("/claim_handle", unsigned_claim(&who.system(), handle))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }

    let challenge = challenge(&http).await;
    let answer = http
        .post_raw("/purge", purge_request(&alice, &alice, &challenge))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());

    assert!(http.ranges(&alice.system()).await.is_empty());
    assert_eq!(resolves_to(&http, "alice").await, None);
    assert_eq!(http.events(&bob, 1, 1).await.len(), 1);
    assert_eq!(resolves_to(&http, "bob").await, Some(bob.system()));
}

/// `POST {path}` of `link` with the operator token of [`operator_server`]; the status.
async fn operator_post(base: &str, path: &str, link: String) -> StatusCode {
    reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("authorization", OPERATOR_TOKEN)
        .body(link)
        .send()
        .await
        .expect("request")
        .status()
}

const OPERATOR_TOKEN: &str = "identity-operator-token";

#[tokio::test]
async fn a_system_refused_storage_loses_its_handle_and_cannot_claim_one() {
    let server = TestServer::start_with(ServerConfig {
        admin_token: AdminToken::new(OPERATOR_TOKEN),
        ..ServerConfig::default()
    })
    .await;
    let base = server.url();
    let http = Http::new(base.clone());
    let alice = author(1);
    let answer = signed_claim(&http, &alice.system(), &alice, "alice").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let link = Link::System {
        system: alice.system(),
        servers: vec![],
    }
    .to_url();
    assert_eq!(
        operator_post(
            &base,
            "/censor?censorship_type=refuse_storage",
            link.clone()
        )
        .await,
        StatusCode::OK
    );
    assert_eq!(resolves_to(&http, "alice").await, None, "released at once");

    let unsigned = http
        .post_raw("/claim_handle", unsigned_claim(&alice.system(), "alice"))
        .await;
    let signed = signed_claim(&http, &alice.system(), &alice, "alice2").await;
    for answer in [unsigned, signed] {
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{}", answer.text());
        assert!(
            answer.text().contains("refuses storage of this system"),
            "{}",
            answer.text()
        );
    }
    assert_eq!(resolves_to(&http, "alice").await, None);
    assert_eq!(resolves_to(&http, "alice2").await, None);

    assert_eq!(
        operator_post(&base, "/uncensor", link).await,
        StatusCode::OK
    );
    let answer = http
        .post_raw("/claim_handle", unsigned_claim(&alice.system(), "alice"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(resolves_to(&http, "alice").await, Some(alice.system()));
}

#[tokio::test]
async fn purge_signed_by_another_system_changes_nothing() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mallory) = (author(1), author(3));
    let post = alice.post("keep me", 1_000).expect("sign");
    http.publish(&[&post]).await;
    let challenge = challenge(&http).await;
    let answer = http
        .post_raw("/purge", purge_request(&alice, &mallory, &challenge))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("signature"), "{}", answer.text());
    assert_eq!(http.events(&alice, 1, 1).await.len(), 1);
}

#[tokio::test]
async fn a_challenge_is_spent_once() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let challenge = challenge(&http).await;
    let request = purge_request(&alice, &alice, &challenge);
    assert_eq!(
        http.post_raw("/purge", request.clone()).await.status,
        StatusCode::OK
    );

    let post = alice.post("after the purge", 2_000).expect("sign");
    http.publish(&[&post]).await;
    let replay = http.post_raw("/purge", request).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert!(replay.text().contains("already used"), "{}", replay.text());
    assert_eq!(
        http.events(&alice, 1, 1).await.len(),
        1,
        "the replay removed nothing"
    );

    // Nor can a spent challenge prove a handle claim.
    let message = proof::claim_handle_message(&challenge_bytes(&challenge), "alice");
    let claim = wire::ClaimHandleRequest {
        system: Some(alice.system().to_wire()),
        handle: "alice".into(),
        challenge: Some(challenge),
        signature: alice.secret().sign(&message).to_vec().into(),
    };
    let answer = http.post_raw("/claim_handle", claim.encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(resolves_to(&http, "alice").await, None);
}

/// A challenge made with the server's own (configured) key but the given creation time.
fn challenge_created_at(key: &[u8], created_on: u64) -> wire::HarborChallengeResponse {
    let keeper = ChallengeKeeper::new(
        &IdentityConfig {
            challenge_key: Some(key.to_vec()),
            ..IdentityConfig::default()
        },
        [0; 32],
    );
    let body = wire::HarborChallengeResponseBody {
        challenge: vec![9; 32].into(),
        created_on,
    }
    .encode_to_vec();
    wire::HarborChallengeResponse {
        hmac: keeper.sign(&body).into(),
        body: body.into(),
    }
}

#[tokio::test]
async fn old_and_future_challenges_are_refused_and_named() {
    let key = b"a test key".to_vec();
    let server = TestServer::start_with(ServerConfig {
        identity: IdentityConfig {
            challenge_key: Some(key.clone()),
            challenge_lifetime: Duration::from_secs(60),
            ..IdentityConfig::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let post = alice.post("keep me", 1_000).expect("sign");
    http.publish(&[&post]).await;

    let cases = [
        (now_ms() - 10 * 60 * 1_000, "expired"),
        (now_ms() + 10 * 60 * 1_000, "in the future"),
    ];
    for (created_on, named) in cases {
        let challenge = challenge_created_at(&key, created_on);
        let answer = http
            .post_raw("/purge", purge_request(&alice, &alice, &challenge))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{named}");
        assert!(answer.text().contains(named), "{}", answer.text());
    }
    assert_eq!(http.events(&alice, 1, 1).await.len(), 1);

    // Issued by this key before the server started and still within its lifetime: accepted,
    // since the store, not the process, remembers which challenges were spent.
    let before_start = challenge_created_at(&key, now_ms() - 50 * 1_000);
    let answer = http
        .post_raw("/purge", purge_request(&alice, &alice, &before_start))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(http.events(&alice, 1, 1).await.len(), 0);

    // The same 32 bytes made again at another time are the same challenge: spent.
    let again = challenge_created_at(&key, now_ms());
    let answer = http
        .post_raw("/purge", purge_request(&alice, &alice, &again))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.text().contains("already used"), "{}", answer.text());
}

/// With no configured key, the key is the store's: a challenge issued before a restart is
/// spent after it, once, and a restart does not forget the spend.
#[tokio::test]
async fn a_challenge_outlives_a_restart_and_is_spent_once_across_restarts() {
    let mut server = TestServer::start().await;
    let mut alice = author(1);
    let post = alice.post("keep me", 1_000).expect("sign");
    Http::new(server.url()).publish(&[&post]).await;
    let issued = challenge(&Http::new(server.url())).await;

    server.restart().await;
    let http = Http::new(server.url());
    let answer = http
        .post_raw("/purge", purge_request(&alice, &alice, &issued))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(http.events(&alice, 1, 1).await.len(), 0);

    server.restart().await;
    let http = Http::new(server.url());
    http.publish(&[&post]).await;
    let answer = http
        .post_raw("/purge", purge_request(&alice, &alice, &issued))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.text().contains("already used"), "{}", answer.text());
    assert_eq!(http.events(&alice, 1, 1).await.len(), 1, "nothing purged");
}

#[tokio::test]
async fn forged_challenges_are_refused() {
    let server = TestServer::start().await;
    let other = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let post = alice.post("keep me", 1_000).expect("sign");
    http.publish(&[&post]).await;

    let mut tampered = challenge(&http).await;
    let mut hmac = tampered.hmac.to_vec();
    hmac[0] ^= 1;
    tampered.hmac = hmac.into();
    let foreign = challenge(&Http::new(other.url())).await;
    for forged in [tampered, foreign] {
        let answer = http
            .post_raw("/purge", purge_request(&alice, &alice, &forged))
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert!(answer.text().contains("hmac"), "{}", answer.text());
    }
    assert_eq!(http.events(&alice, 1, 1).await.len(), 1);
}

#[tokio::test]
async fn malformed_purge_requests_are_named() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let answer = http.post_raw("/purge", vec![0xff, 0xff]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.text().contains("HarborValidateRequest"),
        "{}",
        answer.text()
    );
    let no_system = wire::HarborValidateRequest {
        challenge: Some(challenge(&http).await),
        system: None,
        signature: vec![0; 64].into(),
    };
    let answer = http.post_raw("/purge", no_system.encode_to_vec()).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("`system`"), "{}", answer.text());
}

#[tokio::test]
async fn unsigned_handles_bind_move_and_resolve() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (alice, bob) = (author(1), author(2));
    let claim = |system: &PublicKey, handle: &str| unsigned_claim(system, handle);

    assert_eq!(
        http.post_raw("/claim_handle", claim(&alice.system(), "alice"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(resolves_to(&http, "alice").await, Some(alice.system()));
    assert_eq!(
        resolves_to(&http, "ALICE").await,
        Some(alice.system()),
        "handles compare without regard to case"
    );
    let taken = http
        .post_raw("/claim_handle", claim(&bob.system(), "Alice"))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT, "{}", taken.text());
    assert!(
        taken.text().contains(&alice.system().to_string()),
        "{}",
        taken.text()
    );

    // Claiming another handle moves the binding.
    assert_eq!(
        http.post_raw("/claim_handle", claim(&alice.system(), "alice_2"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(resolves_to(&http, "alice").await, None);
    assert_eq!(resolves_to(&http, "alice_2").await, Some(alice.system()));

    let taken = http
        .post_raw("/claim_handle", claim(&bob.system(), "alice_2"))
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert!(
        taken.text().contains(&alice.system().to_string()),
        "{}",
        taken.text()
    );
    assert_eq!(resolves_to(&http, "alice_2").await, Some(alice.system()));

    let unknown = resolve(&http, "nobody").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.text().contains("nobody"), "{}", unknown.text());
}

#[tokio::test]
async fn bad_handles_are_refused_with_the_reference_messages() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let alice = author(1);
    let length = "Handle must be between 1 and 64 characters";
    let characters =
        "Handle may only have uppercase and lowercase letters, numbers, dashes, and underscores";
    let too_long = "a".repeat(65);
    let longest = "b".repeat(64);
    for (handle, message) in [
        ("", length),
        (too_long.as_str(), length),
        ("has space", characters),
        ("dot.name", characters),
        ("émile", characters),
    ] {
        let answer = http
            .post_raw("/claim_handle", unsigned_claim(&alice.system(), handle))
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{handle:?}");
        assert_eq!(answer.text(), message, "{handle:?}");
    }
    let answer = http
        .post_raw("/claim_handle", unsigned_claim(&alice.system(), &longest))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "64 bytes is allowed");
    let missing = http.get("/resolve_handle").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(missing.text().contains("handle"), "{}", missing.text());
    let garbage = http.post_raw("/claim_handle", vec![0xff]).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_handle_bound_with_proof_is_kept_from_everyone_else() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (alice, bob) = (author(1), author(2));
    let answer = signed_claim(&http, &alice.system(), &alice, "alice").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());

    // An unsigned claim cannot move alice's proven binding.
    let moved = http
        .post_raw("/claim_handle", unsigned_claim(&alice.system(), "mallory"))
        .await;
    assert_eq!(moved.status, StatusCode::UNAUTHORIZED);
    assert!(moved.text().contains("proof"), "{}", moved.text());
    // Nor can bob take the handle, unsigned or with his own proof.
    let unsigned = http
        .post_raw("/claim_handle", unsigned_claim(&bob.system(), "alice"))
        .await;
    assert_eq!(unsigned.status, StatusCode::CONFLICT);
    let proven = signed_claim(&http, &bob.system(), &bob, "alice").await;
    assert_eq!(proven.status, StatusCode::CONFLICT);
    let proven_other_case = signed_claim(&http, &bob.system(), &bob, "ALICE").await;
    assert_eq!(
        proven_other_case.status,
        StatusCode::CONFLICT,
        "{}",
        proven_other_case.text()
    );
    // Nor sign for alice's system.
    let impostor = signed_claim(&http, &alice.system(), &bob, "bobs-alice").await;
    assert_eq!(impostor.status, StatusCode::BAD_REQUEST);
    assert!(impostor.text().contains("signature"), "{}", impostor.text());
    assert_eq!(resolves_to(&http, "alice").await, Some(alice.system()));
    assert_eq!(resolves_to(&http, "mallory").await, None);
    assert_eq!(resolves_to(&http, "bobs-alice").await, None);

    // Alice herself, with proof, moves to another handle and frees the first.
    let answer = signed_claim(&http, &alice.system(), &alice, "alice-new").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(resolves_to(&http, "alice-new").await, Some(alice.system()));
    assert_eq!(resolves_to(&http, "alice").await, None);
}

#[tokio::test]
async fn a_signature_over_another_handle_proves_nothing() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let alice = author(1);
    let challenge = challenge(&http).await;
    let message = proof::claim_handle_message(&challenge_bytes(&challenge), "alice");
    let request = wire::ClaimHandleRequest {
        system: Some(alice.system().to_wire()),
        handle: "other".into(),
        challenge: Some(challenge),
        signature: alice.secret().sign(&message).to_vec().into(),
    };
    let answer = http
        .post_raw("/claim_handle", request.encode_to_vec())
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(resolves_to(&http, "other").await, None);
}

#[tokio::test]
async fn proof_policy_refuses_unsigned_claims() {
    let server = TestServer::start_with(ServerConfig {
        identity: IdentityConfig {
            handle_policy: HandlePolicy::Proof,
            ..IdentityConfig::default()
        },
        ..ServerConfig::default()
    })
    .await;
    let http = Http::new(server.url());
    let alice = author(1);
    let answer = http
        .post_raw("/claim_handle", unsigned_claim(&alice.system(), "alice"))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer.text().contains("requires proof"),
        "{}",
        answer.text()
    );
    assert_eq!(resolves_to(&http, "alice").await, None);
    let answer = signed_claim(&http, &alice.system(), &alice, "alice").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(resolves_to(&http, "alice").await, Some(alice.system()));
}

fn claim_event(author: &mut Author, claim_type: u64, fields: &[(u64, &str)]) -> VerifiedEvent {
    let claim = wire::Claim {
        claim_type,
        claim_fields: fields
            .iter()
            .map(|(key, value)| wire::ClaimFieldEntry {
                key: *key,
                value: (*value).to_owned(),
            })
            .collect(),
    };
    let draft = Draft {
        content_type: content::CLAIM,
        content: claim.encode_to_vec(),
        ..Draft::default()
    };
    author.publish(draft, 1_000).expect("sign")
}

fn vouch_event(voucher: &mut Author, claim: &VerifiedEvent, unix_ms: u64) -> VerifiedEvent {
    let draft = Draft {
        content_type: content::VOUCH,
        content: wire::Vouch {}.encode_to_vec(),
        references: vec![pointer_reference(&claim.pointer())],
        ..Draft::default()
    };
    voucher.publish(draft, unix_ms).expect("sign")
}

async fn resolve_claim(
    http: &Http,
    trust_root: &PublicKey,
    query: wire::query_claim_to_system_request::Query,
) -> wire::QueryClaimToSystemResponse {
    let request = wire::QueryClaimToSystemRequest {
        claim_type: 10,
        trust_root: Some(trust_root.to_wire()),
        query: Some(query),
    };
    let path = format!(
        "/resolve_claim?query={}",
        base64url_encode(&request.encode_to_vec())
    );
    http.get(&path).await.decode()
}

async fn find_pair(http: &Http, claiming: &PublicKey, vouching: &PublicKey) -> Answer {
    let request = wire::FindClaimAndVouchRequest {
        vouching_system: Some(vouching.to_wire()),
        claiming_system: Some(claiming.to_wire()),
        fields: vec![wire::ClaimFieldEntry {
            key: 0,
            value: "alice-gh".into(),
        }],
        claim_type: 10,
    };
    let path = format!(
        "/find_claim_and_vouch?query={}",
        base64url_encode(&request.encode_to_vec())
    );
    http.get(&path).await
}

#[tokio::test]
async fn claims_resolve_only_with_a_vouch_from_the_trust_root() {
    use wire::query_claim_to_system_request::Query;
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut verifier, mut stranger) = (author(1), author(7), author(8));
    let claim = claim_event(&mut alice, 10, &[(0, "alice-gh"), (1, "12345")]);
    let other_type = claim_event(&mut alice, 5, &[(0, "alice-gh")]);
    let old_vouch = vouch_event(&mut verifier, &claim, 2_000);
    let new_vouch = vouch_event(&mut verifier, &claim, 3_000);
    let stranger_vouch = vouch_event(&mut stranger, &claim, 4_000);
    let answer = http
        .publish(&[&claim, &other_type, &old_vouch, &new_vouch, &stranger_vouch])
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());

    let any = resolve_claim(
        &http,
        &verifier.system(),
        Query::MatchAnyField("alice-gh".into()),
    )
    .await;
    assert_eq!(any.matches.len(), 2, "one match per (claim, vouch) pair");
    assert_eq!(any.matches[0].claim.as_ref(), Some(&claim.to_signed()));
    assert_eq!(
        any.matches[0].proof_chain,
        vec![new_vouch.to_signed()],
        "newest vouch first"
    );
    assert_eq!(any.matches[1].proof_chain, vec![old_vouch.to_signed()]);

    let all = |fields: &[(u64, &str)]| {
        Query::MatchAllFields(wire::QueryClaimToSystemRequestMatchAll {
            fields: fields
                .iter()
                .map(|(key, value)| wire::ClaimFieldEntry {
                    key: *key,
                    value: (*value).into(),
                })
                .collect(),
        })
    };
    let both = resolve_claim(
        &http,
        &verifier.system(),
        all(&[(0, "alice-gh"), (1, "12345")]),
    )
    .await;
    assert_eq!(both.matches.len(), 2);
    let wrong = resolve_claim(
        &http,
        &verifier.system(),
        all(&[(0, "alice-gh"), (1, "999")]),
    )
    .await;
    assert!(wrong.matches.is_empty());
    let unvouched_root = author(9);
    let none = resolve_claim(
        &http,
        &unvouched_root.system(),
        Query::MatchAnyField("alice-gh".into()),
    )
    .await;
    assert!(none.matches.is_empty(), "no vouch from this trust root");

    let found = find_pair(&http, &alice.system(), &verifier.system()).await;
    let found: wire::FindClaimAndVouchResponse = found.decode();
    assert_eq!(found.claim, Some(claim.to_signed()));
    assert_eq!(found.vouch, Some(new_vouch.to_signed()), "the latest vouch");
    let missing = find_pair(&http, &alice.system(), &unvouched_root.system()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.text(), "pair not found");

    // Deleting the claim removes it from both queries.
    let delete = alice.delete(&claim, 5_000).expect("sign");
    http.publish(&[&delete]).await;
    let gone = resolve_claim(
        &http,
        &verifier.system(),
        Query::MatchAnyField("alice-gh".into()),
    )
    .await;
    assert!(gone.matches.is_empty());
    let missing = find_pair(&http, &alice.system(), &verifier.system()).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_claim_queries_are_named() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let cases = [
        "/resolve_claim".to_owned(),
        "/resolve_claim?query=!!".to_owned(),
        format!(
            "/resolve_claim?query={}",
            base64url_encode(
                &wire::QueryClaimToSystemRequest {
                    claim_type: 1,
                    trust_root: Some(author(1).system().to_wire()),
                    query: None,
                }
                .encode_to_vec()
            )
        ),
        "/find_claim_and_vouch?query=AAAA".to_owned(),
        format!(
            "/find_claim_and_vouch?query={}",
            base64url_encode(
                &wire::FindClaimAndVouchRequest {
                    vouching_system: Some(author(1).system().to_wire()),
                    claiming_system: None,
                    fields: vec![],
                    claim_type: 1,
                }
                .encode_to_vec()
            )
        ),
    ];
    for path in cases {
        let answer = http.get(&path).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.text()
        );
        assert!(!answer.text().is_empty());
    }
}

#[tokio::test]
async fn a_signed_release_frees_the_handle_and_a_purge_signature_does_not() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (alice, bob) = (author(1), author(2));
    let answer = signed_claim(&http, &alice.system(), &alice, "alice").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());

    // A purge-style signature (over the bare challenge) is not a release.
    let challenge = challenge(&http).await;
    let answer = http
        .post_raw("/release_handle", purge_request(&alice, &alice, &challenge))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(resolves_to(&http, "alice").await, Some(alice.system()));

    let challenge = self::challenge(&http).await;
    let message = proof::release_handle_message(&challenge_bytes(&challenge));
    let release = wire::HarborValidateRequest {
        challenge: Some(challenge),
        system: Some(alice.system().to_wire()),
        signature: alice.secret().sign(&message).to_vec().into(),
    };
    let answer = http
        .post_raw("/release_handle", release.encode_to_vec())
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert!(answer.text().contains("released"), "{}", answer.text());
    assert_eq!(resolves_to(&http, "alice").await, None);
    let answer = http
        .post_raw("/claim_handle", unsigned_claim(&bob.system(), "alice"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
}
