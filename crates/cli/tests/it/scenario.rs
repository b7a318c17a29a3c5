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

use crate::support::{
    agora, entry, event_pointer, failed_servers, identity, link_to, sorted_texts, system_of,
};

/// The servers given, sorted (the order servers are asked in is not what this test is about).
fn sorted<'a>(servers: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut servers: Vec<&str> = servers.into_iter().collect();
    servers.sort_unstable();
    servers
}

/// The servers named in a `failed` list, sorted.
fn failed(json: &Value) -> Vec<&str> {
    sorted(failed_servers(json))
}

/// The servers named in an `answered` list, sorted.
fn answered(json: &Value) -> Vec<&str> {
    sorted(
        json["answered"]
            .as_array()
            .unwrap_or_else(|| panic!("answered is an array: {json}"))
            .iter()
            .map(|server| server.as_str().expect("server")),
    )
}

/// The post of a feed with this text.
fn find<'a>(posts: &'a Value, text: &str) -> &'a Value {
    entry(posts, "text", text)
}

/// The error a `failed` list gives for `server`.
fn error_of<'a>(json: &'a Value, server: &str) -> &'a str {
    entry(&json["failed"], "server", server)["error"]
        .as_str()
        .expect("error")
}

/// Runs `sync --json` in `home`: its answer, and its one pull entry for `system`.
async fn sync_pull(home: &Path, system: &PublicKey) -> (Value, Value) {
    let sync = agora(home, &["sync", "--json"]).await.reported_json();
    let pull = entry(&sync["pull"], "system", &system.to_string()).clone();
    (sync, pull)
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

/// The client of the identity in `home` (no CLI runs meanwhile).
async fn open(home: &Path) -> Client {
    Client::open(Home::open(home).expect("home"))
        .await
        .expect("client")
}

/// What the author's own store holds of its own system.
async fn own_ranges(home: &Path) -> Vec<ProcessRanges> {
    let client = open(home).await;
    client
        .store()
        .ranges(client.system())
        .await
        .expect("own ranges")
}

/// The event in `slot` as the identity in `home` holds it.
async fn held(home: &Path, slot: &Pointer) -> VerifiedEvent {
    open(home)
        .await
        .load(slot)
        .await
        .expect("load")
        .unwrap_or_else(|| panic!("{} holds the event", home.display()))
}

/// Publishes a post and returns the `--json` answer.
async fn post(home: &Path, args: &[&str]) -> Value {
    let args = [&["post"][..], args, &["--json"]].concat();
    agora(home, &args).await.reported_json()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_follows_an_author_across_servers_that_fail_and_lie() {
    let mut a = TestServer::start().await;
    let mut b = TestServer::start().await;
    let c = TestServer::start().await;
    let (url_a, url_b, url_c) = (a.url(), b.url(), c.url());

    // The author publishes to A and B: a profile, two posts and a reply.
    let author = tempfile::tempdir().expect("tempdir");
    let link = identity(author.path(), &[&url_a, &url_b]).await;
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
    let system = match Link::parse(&link).expect("a link") {
        Link::System {
            system,
            mut servers,
        } => {
            servers.sort();
            assert_eq!(servers, sorted([url_a.as_str(), url_b.as_str()]), "{link}");
            system
        }
        other => panic!("not a system link: {other:?}"),
    };

    // The reader's own server is C; following the link fetches the author from A and B.
    let reader = tempfile::tempdir().expect("tempdir");
    identity(reader.path(), &[&url_c]).await;
    let followed = agora(reader.path(), &["follow", &link, "--json"])
        .await
        .json();
    assert!(sent_to(&followed, &url_c).is_some(), "{followed}");
    assert_eq!(failed(&followed), Vec::<&str>::new(), "{followed}");
    let servers = agora(reader.path(), &["server", "list", "--json"])
        .await
        .json();
    assert_eq!(
        servers["servers"][0]["server"],
        json!(url_c),
        "the reader added only C: {servers}"
    );
    assert_eq!(
        servers["servers"].as_array().map(Vec::len),
        Some(1),
        "{servers}"
    );
    assert_eq!(servers["servers"][0]["answered"], true, "{servers}");
    // `sync` has no link to go by: it finds A and B in the author's own SERVER events.
    let (sync, pull) = sync_pull(reader.path(), &system).await;
    assert_eq!(pull["failed"], json!([]), "{sync}");
    assert!(answered(&pull).contains(&url_a.as_str()), "{sync}");

    let feed = agora(reader.path(), &["feed", "--json"]).await.json()["posts"].take();
    // What the reader should see of the author, sorted by text.
    let mut expected = vec!["a reply", "first post", "second post"];
    assert_eq!(sorted_texts(&feed), expected);
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
        .reported_json();
    assert_eq!(
        (&shown["username"], &shown["description"]),
        (&json!("Ada"), &json!("writes on two servers")),
        "{shown}"
    );
    assert_eq!(failed(&shown), Vec::<&str>::new(), "{shown}");

    // A goes down. The author's next post reaches B only; the reader reads it from B.
    a.stop().await;
    let while_down = post(author.path(), &["written while A is down"]).await;
    expected.push("written while A is down");
    assert_eq!(sent_to(&while_down, &url_b), Some(1), "{while_down}");
    assert_eq!(failed(&while_down), [url_a.as_str()], "{while_down}");
    let (sync, pull) = sync_pull(reader.path(), &system).await;
    assert_eq!(pull["received"], 1, "{sync}");
    assert!(answered(&pull).contains(&url_b.as_str()), "{sync}");
    assert_eq!(failed(&pull), [url_a.as_str()], "{sync}");
    let text = agora(reader.path(), &["sync"]).await.partial();
    assert!(text.contains(&format!("FAILED server {url_a}")), "{text}");
    let shown = agora(reader.path(), &["show", &link, "--json"])
        .await
        .reported_json();
    assert_eq!(sorted_texts(&shown["posts"]), expected, "{shown}");
    assert_eq!(shown["username"], "Ada", "{shown}");
    assert_eq!(
        answered(&shown),
        sorted([url_b.as_str(), url_c.as_str()]),
        "{shown}"
    );
    assert_eq!(failed(&shown), [url_a.as_str()], "{shown}");
    let feed = agora(reader.path(), &["feed", "--json"]).await.json()["posts"].take();
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
    let (sync, pull) = sync_pull(reader.path(), &system).await;
    assert_eq!(pull["received"], 0, "{sync}");
    assert_eq!(
        failed(&pull),
        sorted([url_a.as_str(), url_b.as_str()]),
        "{sync}"
    );
    let error = error_of(&pull, &url_b);
    assert!(error.contains("served an invalid event"), "{error}");
    let text = agora(reader.path(), &["sync"]).await.partial();
    assert!(
        text.contains(&format!("FAILED server {url_b}: served an invalid event"))
            && !text.contains(INJECTED_TEXT),
        "{text}"
    );
    let feed = agora(reader.path(), &["feed", "--json"]).await.json()["posts"].take();
    assert_eq!(
        sorted_texts(&feed),
        expected,
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
    let sync = agora(author.path(), &["sync", "--json"])
        .await
        .reported_json();
    assert_eq!(sent_to(&sync["push"], &url_a), Some(2), "{sync}");
    assert_eq!(sent_to(&sync["push"], &url_b), Some(0), "{sync}");
    assert_eq!(server_ranges(&url_a, &system).await, own, "A holds all now");
    let again = agora(author.path(), &["sync", "--json"])
        .await
        .reported_json();
    assert_eq!(
        (
            sent_to(&again["push"], &url_a),
            sent_to(&again["push"], &url_b)
        ),
        (Some(0), Some(0)),
        "nothing is sent twice: {again}"
    );

    // The reader now gets the true post from A, byte for byte what the author signed.
    expected.push("written while B lies");
    let (sync, pull) = sync_pull(reader.path(), &system).await;
    assert_eq!(pull["received"], 1, "{sync}");
    assert!(answered(&pull).contains(&url_a.as_str()), "{sync}");
    let feed = agora(reader.path(), &["feed", "--json"]).await.json()["posts"].take();
    assert_eq!(sorted_texts(&feed), expected, "{feed}");
    let slot = event_pointer(
        find(&feed, "written while B lies")["link"]
            .as_str()
            .expect("link"),
    );
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
    identity(fresh.path(), &[]).await;
    let b_first = link_to(system, &[&url_b, &url_a]);
    let text = agora(fresh.path(), &["show", &b_first]).await.partial();
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
    let system = system_of(&identity(author.path(), &[&honest.url()]).await);
    agora(author.path(), &["profile", "--name", "Ada"])
        .await
        .ok();
    post(author.path(), &["the truth"]).await;

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
        let only_liar = link_to(system, &[&liar.url()]);
        let reader = tempfile::tempdir().expect("tempdir");
        identity(reader.path(), &[]).await;
        let shown = agora(reader.path(), &["show", &only_liar, "--json"])
            .await
            .unanswered_json();
        assert_eq!(
            shown["posts"],
            json!([]),
            "{lies:?}: nothing is taken from a liar: {shown}"
        );
        assert_eq!(shown["username"], Value::Null, "{lies:?}: {shown}");
        assert_eq!(failed(&shown), [liar.url()], "{lies:?}: {shown}");
        let error = error_of(&shown, &liar.url());
        assert!(error.contains(says), "{lies:?}: {error}");

        let liar_first = link_to(system, &[&liar.url(), &honest.url()]);
        let text = agora(reader.path(), &["show", &liar_first]).await.partial();
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
