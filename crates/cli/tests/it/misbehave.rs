//! Misbehaving and unreachable servers: a lying server (altered and injected events) is named and
//! ignored while honest servers still serve the truth, and every user command works offline and
//! delivers later.

use std::path::Path;

use agora_client::{Client, Home};
use agora_protocol::PublicKey;
use agora_testnet::TestServer;
use agora_testnet::lying::{INJECTED_TEXT, LyingServer};
use serde_json::json;

use crate::support::{self, DEAD_SERVER, agora, failed_servers, link_to, sorted_texts, system_of};

/// A new identity in `home` with `servers`, returning its system key.
async fn identity(home: &Path, servers: &[&str]) -> PublicKey {
    system_of(&support::identity(home, servers).await)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lying_server_is_named_and_cannot_alter_or_inject_posts() {
    let mut honest = TestServer::start().await;
    let behind = TestServer::start().await;
    let mut lying = LyingServer::start(&behind.url()).await;
    let (lie, truth) = (lying.url(), honest.url());

    let author = tempfile::tempdir().expect("tempdir");
    let system = identity(author.path(), &[&truth, &behind.url()]).await;
    agora(author.path(), &["profile", "--name", "author"])
        .await
        .ok();
    for text in ["true one", "true two"] {
        let posted = agora(author.path(), &["post", text, "--json"]).await.json();
        assert_eq!(posted["failed"], json!([]), "{posted}");
    }
    let link = link_to(system, &[&lie, &truth]);

    // `show` asks the lying server first, rejects its answer and names it, then reads the truth.
    let reader = tempfile::tempdir().expect("tempdir");
    identity(reader.path(), &[]).await;
    let shown = agora(reader.path(), &["show", &link, "--json"])
        .await
        .partial_json();
    assert_eq!(
        sorted_texts(&shown["posts"]),
        ["true one", "true two"],
        "{shown}"
    );
    assert_eq!(shown["username"], "author", "{shown}");
    assert_eq!(shown["answered"], json!([truth]), "{shown}");
    assert_eq!(failed_servers(&shown), [lie.as_str()], "{shown}");
    let error = shown["failed"][0]["error"].as_str().expect("error");
    assert!(error.contains("invalid event"), "{error}");

    let other = tempfile::tempdir().expect("tempdir");
    identity(other.path(), &[]).await;
    let text = agora(other.path(), &["show", &link]).await.partial();
    assert!(
        text.contains("true one") && text.contains("true two") && !text.contains(INJECTED_TEXT),
        "{text}"
    );
    assert!(
        text.contains(&format!("FAILED server {lie}: served an invalid event")),
        "text output names the misbehaving server even when another answered: {text}"
    );

    // `sync` pulls new posts from the reader's own (lying) server first, then the honest ones.
    agora(reader.path(), &["server", "add", &lie, "--force"]).await;
    agora(reader.path(), &["follow", &link]).await.ok();
    agora(author.path(), &["post", "true three"]).await.ok();
    let sync = agora(reader.path(), &["sync"]).await.partial();
    assert!(
        sync.contains(&format!("FAILED server {lie}: served an invalid event")),
        "{sync}"
    );
    let feed = agora(reader.path(), &["feed", "--json"]).await.json()["posts"].take();
    assert_eq!(
        sorted_texts(&feed),
        ["true one", "true three", "true two"],
        "{feed}"
    );

    // With the honest server down, the lying server alone shows nothing it altered or injected.
    honest.stop().await;
    let alone = tempfile::tempdir().expect("tempdir");
    identity(alone.path(), &[&lie]).await;
    let shown = agora(alone.path(), &["show", &link, "--json"])
        .await
        .unanswered_json();
    assert_eq!(shown["posts"], json!([]), "{shown}");
    assert_eq!(shown["answered"], json!([]), "{shown}");
    assert_eq!(failed_servers(&shown), [lie.as_str(), truth.as_str()]);
    let text = agora(alone.path(), &["show", &link]).await.unanswered();
    assert!(
        text.contains("warning: no server answered")
            && text.contains(&format!("FAILED server {lie}")),
        "{text}"
    );
    agora(alone.path(), &["follow", &link]).await.unanswered();
    // The liar took the push but served forged events: some failed.
    let sync = agora(alone.path(), &["sync"]).await.partial();
    assert!(
        sync.contains(&format!("FAILED server {lie}: served an invalid event"))
            && !sync.contains(INJECTED_TEXT),
        "{sync}"
    );
    let feed = agora(alone.path(), &["feed", "--json"]).await.json()["posts"].take();
    let truths = ["true one", "true three", "true two"];
    assert!(
        sorted_texts(&feed).iter().all(|text| truths.contains(text)),
        "{feed}"
    );
    lying.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_works_offline_and_a_later_server_gets_everything() {
    let friend = tempfile::tempdir().expect("tempdir");
    let friend_system = identity(friend.path(), &[]).await;
    let friend_link = link_to(friend_system, &[DEAD_SERVER]);

    let home = tempfile::tempdir().expect("tempdir");
    let system = identity(home.path(), &[DEAD_SERVER]).await;
    let failed = format!("FAILED server {DEAD_SERVER}");
    for args in [
        &["post", "written offline"][..],
        &["follow", &friend_link],
        &["profile", "--name", "offliner"],
    ] {
        let text = agora(home.path(), args).await.unanswered();
        assert!(text.contains(&failed), "{args:?}: {text}");
    }
    let feed = agora(home.path(), &["feed"]).await.ok();
    assert!(feed.contains("written offline"), "{feed}");

    let server = TestServer::start().await;
    let added = agora(home.path(), &["server", "add", &server.url(), "--json"])
        .await
        .partial_json();
    let sent = added["push"]["sent"][0]["events"].as_u64().expect("sent");
    assert_eq!(added["push"]["sent"][0]["server"], server.url(), "{added}");

    // A fresh reader asking only that server gets every event, the post and the name.
    let dir = tempfile::tempdir().expect("tempdir");
    let reader = Client::open(Home::init(dir.path()).expect("home"))
        .await
        .expect("client");
    let pulled = reader.pull(system, &[server.url()]).await.expect("pull");
    assert!(pulled.failed.is_empty(), "{:?}", pulled.failed);
    assert_eq!(
        pulled.value as u64, sent,
        "the server holds all sent events"
    );
    let own = tempfile::tempdir().expect("tempdir");
    identity(own.path(), &[]).await;
    let shown = agora(
        own.path(),
        &["show", &link_to(system, &[&server.url()]), "--json"],
    )
    .await
    .json();
    assert_eq!(shown["username"], "offliner", "{shown}");
    assert_eq!(
        sorted_texts(&shown["posts"]),
        ["written offline"],
        "{shown}"
    );
    let sync = agora(home.path(), &["sync", "--json"]).await.partial_json();
    assert_eq!(sync["push"]["sent"][0]["events"], 0, "{sync}");
}
