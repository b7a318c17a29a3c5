//! Mirroring over real servers: a server keeps an identity readable after the only server its
//! author used stops, takes what is published there after mirroring began, catches up after a
//! restart, and refuses (and names) a peer that alters events.

use std::time::Duration;

use agora_protocol::PublicKey;
use agora_server::ServerConfig;
use agora_server::mirror::{MirrorConfig, MirrorPolicy};
use agora_testnet::TestServer;
use agora_testnet::lying::{Lies, LyingServer};
use serde_json::Value;

use crate::support::{Http, author, clocks};

fn mirroring(peer: &str, identities: Vec<PublicKey>) -> ServerConfig {
    mirroring_with(peer, MirrorPolicy::Identities(identities))
}

fn mirroring_with(peer: &str, policy: MirrorPolicy) -> ServerConfig {
    ServerConfig {
        mirrors: vec![MirrorConfig {
            peer: peer.to_owned(),
            policy,
        }],
        ..ServerConfig::default()
    }
}

/// Waits (polling, at most 20 s) until `server` holds exactly `expected` clocks of the author.
async fn until_held(http: &Http, author: &agora_protocol::author::Author, expected: &[u64]) {
    for _ in 0..200 {
        if clocks(&http.events(author, 1, 100).await) == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the mirror holds {:?}, expected {expected:?}",
        clocks(&http.events(author, 1, 100).await)
    );
}

async fn mirror_status(http: &Http) -> Value {
    let answer = http.get("/mirrors").await;
    serde_json::from_slice::<Value>(&answer.body).expect("JSON")[0].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_keeps_an_identity_readable_after_its_only_server_stops() {
    let mut a = TestServer::start().await;
    let a_http = Http::new(a.url());
    let mut alice = author(1);
    let mut bystander = author(2);
    for n in 1..=3 {
        let post = alice.post(&format!("post {n}"), 1_000 + n).expect("sign");
        a_http.publish(&[&post]).await;
    }
    a_http
        .publish(&[&bystander.post("not mirrored", 1_000).expect("sign")])
        .await;

    let mut b = TestServer::start_with(mirroring(&a.url(), vec![alice.system()])).await;
    let b_http = Http::new(b.url());
    until_held(&b_http, &alice, &[1, 2, 3]).await;

    // Published to A after mirroring began: B takes it from A's stream.
    let fourth = alice.post("post 4", 1_004).expect("sign");
    a_http.publish(&[&fourth]).await;
    until_held(&b_http, &alice, &[1, 2, 3, 4]).await;
    assert!(
        clocks(&b_http.events(&bystander, 1, 100).await).is_empty(),
        "only the listed identity is mirrored"
    );

    // B restarts while A gets a fifth post; B catches up when it is back.
    b.stop().await;
    let fifth = alice.post("post 5", 1_005).expect("sign");
    a_http.publish(&[&fifth]).await;
    b.restart().await;
    let b_http = Http::new(b.url());
    until_held(&b_http, &alice, &[1, 2, 3, 4, 5]).await;

    a.stop().await;
    let status = mirror_status(&b_http).await;
    assert_eq!(status["peer"], a_http.base.as_str());
    assert_eq!(status["refused"], 0, "{status}");
    // A reader who only knows B reads all of alice's posts.
    assert_eq!(
        clocks(&b_http.events(&alice, 1, 100).await),
        [1, 2, 3, 4, 5]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_refuses_what_a_lying_peer_alters_and_names_the_peer() {
    let a = TestServer::start().await;
    let a_http = Http::new(a.url());
    let mut alice = author(1);
    let first = alice.post("first", 1_001).expect("sign");
    let second = alice.post("second", 1_002).expect("sign");
    a_http.publish(&[&first, &second]).await;
    let liar = LyingServer::start_with(&a.url(), ([127, 0, 0, 1], 0).into(), Lies::BOTH).await;

    let b = TestServer::start_with(mirroring(&liar.url(), vec![alice.system()])).await;
    let b_http = Http::new(b.url());
    let mut status = Value::Null;
    for _ in 0..200 {
        status = mirror_status(&b_http).await;
        if status["refused"].as_u64() >= Some(2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(status["refused"].as_u64() >= Some(2), "{status}");
    let error = status["last_error"].as_str().expect("an error");
    assert!(error.contains(&liar.url()), "the peer is named: {error}");
    // The altered first event was not taken; the honest second one was.
    assert_eq!(clocks(&b_http.events(&alice, 1, 100).await), [2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mirror_takes_whom_its_users_follow_and_respects_its_curation() {
    let a = TestServer::start().await;
    let a_http = Http::new(a.url());
    let (mut alice, mut carol, mut reader) = (author(1), author(3), author(4));
    for author in [&mut alice, &mut carol] {
        let post = author.post("only on A", 1_001).expect("sign");
        a_http.publish(&[&post]).await;
    }
    // B's users are the identities whose servers include B's public address.
    let b_url = "https://b.example";
    let b = TestServer::start_with(mirroring_with(
        &a.url(),
        MirrorPolicy::FollowedByUsers {
            server_urls: vec![b_url.to_owned()],
            refresh: Duration::from_millis(200),
        },
    ))
    .await;
    let b_http = Http::new(b.url());
    let uses_b = reader
        .set_member(
            agora_protocol::content::SERVER,
            b_url.as_bytes(),
            true,
            1_000,
        )
        .expect("sign");
    let follows = reader.follow(&alice.system(), true, 1_001).expect("sign");
    b_http.publish(&[&uses_b, &follows]).await;
    until_held(&b_http, &alice, &[1]).await;
    assert!(
        clocks(&b_http.events(&carol, 1, 100).await).is_empty(),
        "nobody on B follows carol"
    );
    let status = mirror_status(&b_http).await;
    assert_eq!(
        status["policy"],
        "1 identities followed by this server's users"
    );

    // B refuses to store alice from now on: the mirror stores none of her later posts.
    let link = agora_protocol::links::Link::System {
        system: alice.system(),
        servers: Vec::new(),
    }
    .to_url();
    let target = agora_store::CensorTarget::from_link(&link).expect("link");
    let store = agora_store::sqlite::SqliteStore::open(
        b.data_dir(),
        agora_store::sqlite::SqliteOptions::default(),
    )
    .expect("store");
    agora_store::Store::censor(&store, target, agora_store::CensorshipKind::RefuseStorage)
        .await
        .expect("censor");
    let later = alice.post("refused on B", 1_002).expect("sign");
    a_http.publish(&[&later]).await;
    for _ in 0..100 {
        if mirror_status(&b_http).await["refused"].as_u64() >= Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(clocks(&b_http.events(&alice, 1, 100).await).is_empty());
    let status = mirror_status(&b_http).await;
    assert!(status["refused"].as_u64() >= Some(1), "{status}");
}
