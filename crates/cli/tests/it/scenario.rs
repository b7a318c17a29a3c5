//! The multi-server scenario of a person's day, end to end with the `agora` binary: an author on
//! servers A and B, a reader on server C who knows the author only through the author's link.
//! A goes down and comes back, B is replaced by a server that lies, and the reader still sees
//! exactly what the author wrote; A gets exactly the events it missed.

use std::path::Path;

use agora_client::{Client, Home};
use agora_protocol::links::Link;
use agora_protocol::{Pointer, PublicKey, VerifiedEvent, wire};
use agora_store::{ProcessRanges, Store as _};
use agora_testnet::TestServer;
use agora_testnet::lying::{INJECTED_TEXT, Lies, LyingServer};
use prost::Message as _;
use serde_json::{Value, json};

use crate::support::agora;

/// The posts of a `feed --json` or `show --json` answer, by text, sorted.
fn texts(posts: &Value) -> Vec<String> {
    let mut texts: Vec<String> = posts
        .as_array()
        .unwrap_or_else(|| panic!("an array: {posts}"))
        .iter()
        .map(|post| post["text"].as_str().expect("text").to_owned())
        .collect();
    texts.sort();
    texts
}

/// The post of a feed with this text.
fn find<'a>(posts: &'a Value, text: &str) -> &'a Value {
    posts
        .as_array()
        .and_then(|posts| posts.iter().find(|post| post["text"] == text))
        .unwrap_or_else(|| panic!("no post {text:?} in {posts}"))
}

/// The servers named in a `failed` list, sorted (the order servers are asked in is not
/// what this test is about).
fn failed(json: &Value) -> Vec<&str> {
    let mut servers: Vec<&str> = json["failed"]
        .as_array()
        .unwrap_or_else(|| panic!("failed is an array: {json}"))
        .iter()
        .map(|failure| failure["server"].as_str().expect("server"))
        .collect();
    servers.sort_unstable();
    servers
}

fn sorted<const N: usize>(servers: [&String; N]) -> Vec<&str> {
    let mut servers: Vec<&str> = servers.iter().map(|server| server.as_str()).collect();
    servers.sort_unstable();
    servers
}

/// The error a `failed` list gives for `server`.
fn error_of<'a>(json: &'a Value, server: &str) -> &'a str {
    json["failed"]
        .as_array()
        .and_then(|list| list.iter().find(|failure| failure["server"] == server))
        .and_then(|failure| failure["error"].as_str())
        .unwrap_or_else(|| panic!("{server} is not named as failed in {json}"))
}

/// The servers named in an `answered` list, sorted.
fn answered(json: &Value) -> Vec<&str> {
    let mut servers: Vec<&str> = json["answered"]
        .as_array()
        .unwrap_or_else(|| panic!("answered is an array: {json}"))
        .iter()
        .map(|server| server.as_str().expect("server"))
        .collect();
    servers.sort_unstable();
    servers
}

/// The one pull entry of `sync --json` for `system`.
fn pull_of<'a>(sync: &'a Value, system: &PublicKey) -> &'a Value {
    sync["pull"]
        .as_array()
        .and_then(|pulls| {
            pulls
                .iter()
                .find(|pull| pull["system"] == system.to_string())
        })
        .unwrap_or_else(|| panic!("no pull of {system} in {sync}"))
}

/// Events sent to `server` according to a push report.
fn sent_to(push: &Value, server: &str) -> Option<u64> {
    push["sent"]
        .as_array()?
        .iter()
        .find(|sent| sent["server"] == server)
        .and_then(|sent| sent["events"].as_u64())
}

/// What a server says it holds of `system`: `GET /ranges`, as any client asks it.
async fn server_ranges(server: &str, system: &PublicKey) -> Vec<ProcessRanges> {
    let url = format!("{server}/ranges?system={}", system.to_query_param());
    let response = reqwest::get(&url).await.expect("GET /ranges");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    let body = response.bytes().await.expect("ranges body");
    let message = wire::RangesForSystem::decode(body).expect("a RangesForSystem");
    ProcessRanges::from_wire(&message).expect("valid ranges")
}

/// How many events some ranges cover.
fn count(ranges: &[ProcessRanges]) -> u64 {
    ranges
        .iter()
        .flat_map(|process| &process.ranges)
        .map(|(low, high)| high - low + 1)
        .sum()
}

/// What the author's own store holds of its own system (no CLI runs meanwhile).
async fn own_ranges(home: &Path) -> Vec<ProcessRanges> {
    let client = Client::open(Home::open(home).expect("home"))
        .await
        .expect("client");
    client
        .store()
        .ranges(client.system())
        .await
        .expect("own ranges")
}

/// The event in `slot` as the identity in `home` holds it.
async fn held(home: &Path, slot: &Pointer) -> VerifiedEvent {
    let client = Client::open(Home::open(home).expect("home"))
        .await
        .expect("client");
    client
        .load(slot)
        .await
        .expect("load")
        .unwrap_or_else(|| panic!("{} holds the event", home.display()))
}

/// Publishes a post and returns the `--json` answer.
async fn post(home: &Path, args: &[&str]) -> Value {
    let args = [&["post"][..], args, &["--json"]].concat();
    agora(home, &args).await.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_follows_an_author_across_servers_that_fail_and_lie() {
    let mut a = TestServer::start().await;
    let mut b = TestServer::start().await;
    let c = TestServer::start().await;
    let (url_a, url_b, url_c) = (a.url(), b.url(), c.url());

    // The author publishes to A and B: a profile, two posts and a reply.
    let author = tempfile::tempdir().expect("tempdir");
    agora(author.path(), &["init"]).await.ok();
    for server in [&url_a, &url_b] {
        agora(author.path(), &["server", "add", server]).await.ok();
    }
    let profile = agora(
        author.path(),
        &[
            "profile",
            "--name",
            "Ada",
            "--description",
            "writes on two servers",
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(profile["failed"], json!([]), "{profile}");
    let first = post(author.path(), &["first post"]).await;
    assert_eq!(failed(&first), Vec::<&str>::new(), "{first}");
    assert_eq!(
        (sent_to(&first, &url_a), sent_to(&first, &url_b)),
        (Some(1), Some(1)),
        "{first}"
    );
    let first_link = first["link"].as_str().expect("link").to_owned();
    post(author.path(), &["second post"]).await;
    post(author.path(), &["a reply", "--reply-to", &first_link]).await;

    // The author's link carries A and B as hints; it is all the reader knows of the author.
    let link = agora(author.path(), &["link"]).await.ok().trim().to_owned();
    let system = match Link::parse(&link).expect("a link") {
        Link::System {
            system,
            mut servers,
        } => {
            servers.sort();
            assert_eq!(servers, sorted([&url_a, &url_b]), "{link}");
            system
        }
        other => panic!("not a system link: {other:?}"),
    };

    // The reader's own server is C; following the link fetches the author from A and B.
    let reader = tempfile::tempdir().expect("tempdir");
    agora(reader.path(), &["init"]).await.ok();
    agora(reader.path(), &["server", "add", &url_c]).await.ok();
    let followed = agora(reader.path(), &["follow", &link, "--json"])
        .await
        .json();
    assert!(sent_to(&followed, &url_c).is_some(), "{followed}");
    assert_eq!(failed(&followed), Vec::<&str>::new(), "{followed}");
    let servers = agora(reader.path(), &["server", "list", "--json"])
        .await
        .json();
    assert_eq!(
        servers["servers"],
        json!([url_c]),
        "the reader added only C"
    );
    // `sync` has no link to go by: it finds A and B in the author's own SERVER events.
    let sync = agora(reader.path(), &["sync", "--json"]).await.json();
    let pull = pull_of(&sync, &system);
    assert_eq!(pull["failed"], json!([]), "{sync}");
    assert!(answered(pull).contains(&url_a.as_str()), "{sync}");

    let feed = agora(reader.path(), &["feed", "--json"]).await.json();
    assert_eq!(texts(&feed), ["a reply", "first post", "second post"]);
    let reply = find(&feed, "a reply");
    assert_eq!(reply["username"], "Ada", "{feed}");
    assert_eq!(reply["system"], system.to_string());
    assert_eq!(
        reply["reply_to"],
        find(&feed, "first post")["link"],
        "the reply points at the first post: {feed}"
    );
    let text = agora(reader.path(), &["feed"]).await.ok();
    assert!(
        text.contains("Ada") && text.contains("a reply") && text.contains("second post"),
        "{text}"
    );
    let shown = agora(reader.path(), &["show", &link, "--json"])
        .await
        .json();
    assert_eq!(
        (&shown["username"], &shown["description"]),
        (&json!("Ada"), &json!("writes on two servers")),
        "{shown}"
    );
    assert_eq!(failed(&shown), Vec::<&str>::new(), "{shown}");

    // A goes down. The author's next post reaches B only; the reader reads it from B.
    a.stop().await;
    let while_down = post(author.path(), &["written while A is down"]).await;
    assert_eq!(sent_to(&while_down, &url_b), Some(1), "{while_down}");
    assert_eq!(failed(&while_down), [url_a.as_str()], "{while_down}");
    let sync = agora(reader.path(), &["sync", "--json"]).await.json();
    let pull = pull_of(&sync, &system);
    assert_eq!(pull["received"], 1, "{sync}");
    assert!(answered(pull).contains(&url_b.as_str()), "{sync}");
    assert_eq!(failed(pull), [url_a.as_str()], "{sync}");
    let text = agora(reader.path(), &["sync"]).await.ok();
    assert!(text.contains(&format!("FAILED server {url_a}")), "{text}");
    let shown = agora(reader.path(), &["show", &link, "--json"])
        .await
        .json();
    assert_eq!(
        texts(&shown["posts"]),
        [
            "a reply",
            "first post",
            "second post",
            "written while A is down"
        ],
        "{shown}"
    );
    assert_eq!(shown["username"], "Ada", "{shown}");
    assert_eq!(answered(&shown), sorted([&url_b, &url_c]), "{shown}");
    assert_eq!(failed(&shown), [url_a.as_str()], "{shown}");
    let feed = agora(reader.path(), &["feed", "--json"]).await.json();
    assert_eq!(
        find(&feed, "written while A is down")["username"],
        "Ada",
        "{feed}"
    );

    // B is replaced, at its address and over its data, by a server that alters the first event
    // of every `GET /events` answer and appends a post signed by another key.
    let b_address = b.address();
    b.restart().await;
    let mut liar = LyingServer::start_at(&b.url(), b_address).await;
    assert_eq!(liar.url(), url_b, "the liar answers at B's address");
    let lied_about = post(author.path(), &["written while B lies"]).await;
    assert_eq!(sent_to(&lied_about, &url_b), Some(1), "{lied_about}");

    // With A down and B lying, the reader takes nothing from B and names it.
    let sync = agora(reader.path(), &["sync", "--json"]).await.json();
    let pull = pull_of(&sync, &system);
    assert_eq!(pull["received"], 0, "{sync}");
    assert_eq!(failed(pull), sorted([&url_a, &url_b]), "{sync}");
    let error = error_of(pull, &url_b);
    assert!(error.contains("served an invalid event"), "{error}");
    let text = agora(reader.path(), &["sync"]).await.ok();
    assert!(
        text.contains(&format!("FAILED server {url_b}: served an invalid event"))
            && !text.contains(INJECTED_TEXT),
        "{text}"
    );
    let feed = agora(reader.path(), &["feed", "--json"]).await.json();
    assert_eq!(
        texts(&feed),
        [
            "a reply",
            "first post",
            "second post",
            "written while A is down"
        ],
        "neither the altered nor the injected event was taken: {feed}"
    );

    // A comes back at its address. It missed two events; the author's next sync sends exactly
    // those, and nothing to B, which has everything.
    a.resume().await;
    assert_eq!(a.url(), url_a);
    let own = own_ranges(author.path()).await;
    let held_by_a = server_ranges(&url_a, &system).await;
    assert_eq!(
        count(&own) - count(&held_by_a),
        2,
        "A missed two: {held_by_a:?}"
    );
    assert_eq!(server_ranges(&url_b, &system).await, own, "B holds all");
    let sync = agora(author.path(), &["sync", "--json"]).await.json();
    assert_eq!(sent_to(&sync["push"], &url_a), Some(2), "{sync}");
    assert_eq!(sent_to(&sync["push"], &url_b), Some(0), "{sync}");
    assert_eq!(server_ranges(&url_a, &system).await, own, "A holds all now");
    let again = agora(author.path(), &["sync", "--json"]).await.json();
    assert_eq!(
        (
            sent_to(&again["push"], &url_a),
            sent_to(&again["push"], &url_b)
        ),
        (Some(0), Some(0)),
        "nothing is sent twice: {again}"
    );

    // The reader now gets the true post from A, byte for byte what the author signed.
    let sync = agora(reader.path(), &["sync", "--json"]).await.json();
    let pull = pull_of(&sync, &system);
    assert_eq!(pull["received"], 1, "{sync}");
    assert!(answered(pull).contains(&url_a.as_str()), "{sync}");
    let feed = agora(reader.path(), &["feed", "--json"]).await.json();
    assert_eq!(
        texts(&feed),
        [
            "a reply",
            "first post",
            "second post",
            "written while A is down",
            "written while B lies"
        ],
        "{feed}"
    );
    let latest = Link::parse(
        find(&feed, "written while B lies")["link"]
            .as_str()
            .expect("link"),
    )
    .expect("an event link");
    let Link::Event {
        process,
        logical_clock,
        ..
    } = latest
    else {
        panic!("not an event link: {latest:?}");
    };
    let slot = Pointer {
        system,
        process,
        logical_clock,
        digest: None,
    };
    let (reader_copy, author_copy) = (
        held(reader.path(), &slot).await,
        held(author.path(), &slot).await,
    );
    assert_eq!(
        reader_copy.pointer().digest,
        author_copy.pointer().digest,
        "the reader holds the author's exact bytes"
    );

    // A fresh reader who lists B first sees B named as the liar and the truth from A.
    let fresh = tempfile::tempdir().expect("tempdir");
    agora(fresh.path(), &["init"]).await.ok();
    let b_first = Link::System {
        system,
        servers: vec![url_b.clone(), url_a.clone()],
    }
    .to_url();
    let text = agora(fresh.path(), &["show", &b_first]).await.ok();
    assert!(
        text.contains(&format!("FAILED server {url_b}: served an invalid event"))
            && text.contains("written while B lies")
            && text.contains("Ada")
            && !text.contains(INJECTED_TEXT),
        "{text}"
    );
    liar.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_lie_alone_is_caught_and_the_liar_named() {
    let honest = TestServer::start().await;
    let author = tempfile::tempdir().expect("tempdir");
    agora(author.path(), &["init"]).await.ok();
    agora(author.path(), &["server", "add", &honest.url()])
        .await
        .ok();
    agora(author.path(), &["profile", "--name", "Ada"])
        .await
        .ok();
    post(author.path(), &["the truth"]).await;
    let link = agora(author.path(), &["link"]).await.ok().trim().to_owned();
    let Link::System { system, .. } = Link::parse(&link).expect("a link") else {
        panic!("not a system link: {link}");
    };

    for (lies, says) in [
        (Lies::ALTER, "served an invalid event"),
        (Lies::INJECT, "served an event of another system"),
    ] {
        let mut liar = LyingServer::start_with(
            &honest.url(),
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
            lies,
        )
        .await;
        let only_liar = Link::System {
            system,
            servers: vec![liar.url()],
        }
        .to_url();
        let reader = tempfile::tempdir().expect("tempdir");
        agora(reader.path(), &["init"]).await.ok();
        let shown = agora(reader.path(), &["show", &only_liar, "--json"])
            .await
            .json();
        assert_eq!(
            shown["posts"],
            json!([]),
            "{lies:?}: nothing is taken from a liar: {shown}"
        );
        assert_eq!(shown["username"], Value::Null, "{lies:?}: {shown}");
        assert_eq!(failed(&shown), [liar.url()], "{lies:?}: {shown}");
        let error = error_of(&shown, &liar.url());
        assert!(error.contains(says), "{lies:?}: {error}");

        let liar_first = Link::System {
            system,
            servers: vec![liar.url(), honest.url()],
        }
        .to_url();
        let text = agora(reader.path(), &["show", &liar_first]).await.ok();
        assert!(
            text.contains(&format!("FAILED server {}: {says}", liar.url()))
                && text.contains("Ada")
                && text.contains("the truth")
                && !text.contains(INJECTED_TEXT),
            "{lies:?}: {text}"
        );
        liar.stop().await;
    }
}
