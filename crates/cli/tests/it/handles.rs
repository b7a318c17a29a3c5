//! `agora handle claim` and `agora handle resolve` against real servers: a claim with proof on
//! every server, a line per server (a dead one named), and a proven binding nobody else can move.

use std::path::Path;

use agora_protocol::links::Link;
use agora_protocol::{PublicKey, wire};
use agora_testnet::TestServer;
use prost::Message as _;
use serde_json::{Value, json};

use crate::support::{DEAD_SERVER, agora};

async fn identity(home: &Path, servers: &[&str]) -> PublicKey {
    agora(home, &["init"]).await.ok();
    for server in servers {
        agora(home, &["server", "add", server, "--force"]).await;
    }
    match Link::parse(agora(home, &["link"]).await.ok().trim()).expect("a link") {
        Link::System { system, .. } => system,
        other => panic!("not a system link: {other:?}"),
    }
}

/// `agora handle resolve NAME --json`: server → system (or null).
async fn resolve(home: &Path, name: &str) -> Value {
    let resolved = agora(home, &["handle", "resolve", name, "--json"])
        .await
        .reported_json();
    let mut answers = serde_json::Map::new();
    for answer in resolved["answers"].as_array().expect("answers") {
        let server = answer["server"].as_str().expect("server").to_owned();
        answers.insert(server, answer["system"].clone());
    }
    Value::Object(answers)
}

#[tokio::test]
async fn a_claim_with_proof_binds_on_every_server_and_stays_put() {
    let (first, second) = (TestServer::start().await, TestServer::start().await);
    let (one, two) = (first.url(), second.url());
    let homes = tempfile::tempdir().expect("tempdir");
    let (alice_home, bob_home) = (homes.path().join("alice"), homes.path().join("bob"));
    let alice = identity(&alice_home, &[&one, &two, DEAD_SERVER]).await;
    let bob = identity(&bob_home, &[&one, &two]).await;

    let claimed = agora(&alice_home, &["handle", "claim", "alice", "--json"])
        .await
        .partial_json();
    let mut servers: Vec<&str> = claimed["claimed"]
        .as_array()
        .expect("claimed")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    servers.sort_unstable();
    let mut expected = vec![one.as_str(), two.as_str()];
    expected.sort_unstable();
    assert_eq!(servers, expected, "{claimed}");
    assert_eq!(claimed["failed"][0]["server"], DEAD_SERVER, "{claimed}");

    let text = agora(&bob_home, &["handle", "resolve", "alice"]).await.ok();
    assert!(
        text.contains(&format!("{one}: @alice -> {alice} (proven)")),
        "{text}"
    );

    // A person is named by handle, key or link alike: each follows the same identity.
    let alice_link = agora(&alice_home, &["link"]).await.ok();
    for (form, named) in [
        ("handle", "@alice".to_owned()),
        ("key", alice.to_string()),
        ("link", alice_link.trim().to_owned()),
    ] {
        // Alice lists a dead server, so following her may name it (exit 4).
        let followed = agora(&bob_home, &["follow", &named, "--json"]).await;
        assert!(
            matches!(followed.code, Some(0 | 4)),
            "{form}: {}",
            followed.stderr
        );
        let followed = crate::support::parse_json(&followed.stdout);
        assert_eq!(followed["system"], alice.to_string(), "{form}: {followed}");
        let listed = agora(&bob_home, &["following", "--json"]).await.json();
        assert_eq!(
            listed["following"][0]["system"],
            alice.to_string(),
            "{form}"
        );
        let unfollowed = agora(&bob_home, &["unfollow", &named]).await;
        assert!(
            matches!(unfollowed.code, Some(0 | 4)),
            "{form}: {}",
            unfollowed.stderr
        );
        let listed = agora(&bob_home, &["following", "--json"]).await.json();
        assert_eq!(listed["following"], json!([]), "{form}: unfollowed");
    }
    agora(&bob_home, &["follow", "@nobody-has-this"])
        .await
        .bad_input("@nobody-has-this");
    assert_eq!(
        resolve(&bob_home, "alice").await,
        json!({ one.clone(): alice.to_string(), two.clone(): alice.to_string() })
    );

    // Bob cannot take it, and an official-style unsigned claim cannot move alice away.
    let refused = agora(&bob_home, &["handle", "claim", "alice"]).await;
    assert!(!refused.success);
    assert!(refused.stderr.contains("taken"), "{}", refused.stderr);
    let unsigned = wire::ClaimHandleRequest {
        system: Some(alice.to_wire()),
        handle: "squatted".into(),
        challenge: None,
        signature: Default::default(),
    };
    let response = reqwest::Client::new()
        .post(format!("{one}/claim_handle"))
        .body(unsigned.encode_to_vec())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert_eq!(resolve(&bob_home, "squatted").await[&one], Value::Null);

    // Alice moves to another handle; the first is free again everywhere.
    agora(&alice_home, &["handle", "claim", "alice2"])
        .await
        .partial();
    let old = resolve(&bob_home, "alice").await;
    assert_eq!(old, json!({ one.clone(): null, two.clone(): null }));
    let bob_claims = agora(&bob_home, &["handle", "claim", "alice", "--json"])
        .await
        .json();
    assert_eq!(bob_claims["failed"], json!([]), "{bob_claims}");
    assert_eq!(resolve(&alice_home, "alice").await[&two], bob.to_string());

    // Alice gives her handle up on every server (the dead one named), and it is free.
    let released = agora(&alice_home, &["handle", "release", "--json"])
        .await
        .partial_json();
    assert_eq!(
        released["released"].as_array().map(Vec::len),
        Some(2),
        "{released}"
    );
    assert!(
        released["released"][0]["message"]
            .as_str()
            .expect("message")
            .contains("alice2")
    );
    assert_eq!(released["failed"][0]["server"], DEAD_SERVER, "{released}");
    let freed = resolve(&bob_home, "alice2").await;
    assert_eq!(freed, json!({ one.clone(): null, two.clone(): null }));
}

#[tokio::test(flavor = "multi_thread")]
async fn servers_that_disagree_on_a_handle_are_named_and_the_proven_binding_wins() {
    let (first, second) = (TestServer::start().await, TestServer::start().await);
    let (one, two) = (first.url(), second.url());
    let homes = tempfile::tempdir().expect("tempdir");
    let (alice_home, carol_home) = (homes.path().join("alice"), homes.path().join("carol"));
    let alice = identity(&alice_home, &[&one]).await;
    agora(&alice_home, &["handle", "claim", "sam"]).await.ok();
    // On the second server someone else holds "sam", claimed the official clients' way
    // (unsigned, so unproven).
    let squatter = agora_protocol::SecretKey::generate().public_key();
    let unsigned = wire::ClaimHandleRequest {
        system: Some(squatter.to_wire()),
        handle: "sam".into(),
        challenge: None,
        signature: Default::default(),
    };
    let response = reqwest::Client::new()
        .post(format!("{two}/claim_handle"))
        .body(unsigned.encode_to_vec())
        .send()
        .await
        .expect("request");
    assert!(response.status().is_success(), "{}", response.status());

    identity(&carol_home, &[&two, &one]).await;
    let followed = agora(&carol_home, &["follow", "@sam", "--json"]).await;
    let json = crate::support::parse_json(&followed.stdout);
    assert_eq!(
        json["system"],
        alice.to_string(),
        "the proven binding: {json}"
    );
    assert!(
        followed.stderr.contains("disagree about @sam")
            && followed
                .stderr
                .contains(&format!("{one} says {alice} (proven)"))
            && followed.stderr.contains(&squatter.to_string()),
        "{}",
        followed.stderr
    );
}

#[tokio::test]
async fn a_bad_handle_is_refused_by_every_server_with_its_reason() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().expect("tempdir");
    identity(home.path(), &[&server.url()]).await;
    let refused = agora(home.path(), &["handle", "claim", "no spaces"]).await;
    assert_eq!(
        refused.code,
        Some(1),
        "answered, and refused: {}",
        refused.stderr
    );
    // The reason, wrapped to the terminal's width.
    let reason = refused
        .stderr
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        reason.contains("Handle may only have"),
        "{}",
        refused.stderr
    );
}

/// The official client's own handle and purge flow (`interop/handles.test.mjs`) against a real
/// `agora serve` with its default (`open`) handle policy.
#[test]
fn the_official_client_claims_resolves_and_purges_through_agora() {
    let dir = crate::support::install_official_client();
    let data_dir = tempfile::tempdir().expect("tempdir");
    let served = crate::support::serve(data_dir.path());
    let output = std::process::Command::new("node")
        .args(["--test", "--test-reporter=spec", "handles.test.mjs"])
        .current_dir(&dir)
        .env("AGORA_SERVER", &served.url)
        .output()
        .expect("node is installed");
    let report = String::from_utf8_lossy(&output.stdout);
    let stopped_cleanly = crate::support::terminate(served);
    assert!(
        output.status.success(),
        "official client handle tests failed:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        report.contains("pass 6"),
        "all 6 handle tests ran:\n{report}"
    );
    assert!(stopped_cleanly, "the server stopped cleanly");
}
