//! Offline use (issue 3): with every one of the identity's servers down, `profile`, `post`, a
//! reply, `follow` and `like` succeed from the local store and name the failed servers, `feed`
//! shows the new post, `sync` exits 3, and once the same servers come back one `sync` delivers
//! everything they missed.

use std::path::Path;

use agora_client::{Client, Home};
use agora_protocol::links::Link;
use agora_protocol::{PublicKey, wire};
use agora_store::{ProcessRanges, Store as _};
use agora_testnet::TestServer;
use prost::Message as _;
use serde_json::{Value, json};

use crate::support::{agora, failed_servers, identity, link_to, sorted_texts, system_of, texts};

/// The exit status `agora sync --help` documents for "no server answered".
const EXIT_NO_SERVER_ANSWERED: i32 = 3;

/// The ranges of `system` that the server at `url` holds, from its `/ranges`.
async fn server_ranges(url: &str, system: &PublicKey) -> Vec<ProcessRanges> {
    let response = reqwest::get(format!("{url}/ranges?system={}", system.to_query_param()))
        .await
        .expect("GET /ranges");
    assert!(response.status().is_success(), "{url}/ranges: {response:?}");
    let body = response.bytes().await.expect("ranges body");
    let message = wire::RangesForSystem::decode(body).expect("a RangesForSystem");
    ProcessRanges::from_wire(&message).expect("valid ranges")
}

/// The ranges of the identity's own events in its local store, and its system.
async fn own_ranges(home: &Path) -> (PublicKey, Vec<ProcessRanges>) {
    let client = Client::open(Home::open(home).expect("home"))
        .await
        .expect("client");
    let system = client.system();
    let ranges = client.store().ranges(system).await.expect("local ranges");
    (system, ranges)
}

/// The event link `link` with `server` as its only hint.
fn event_link_on(link: &str, server: &str) -> String {
    match Link::parse(link).expect("link") {
        Link::Event {
            system,
            process,
            logical_clock,
            ..
        } => Link::Event {
            system,
            process,
            logical_clock,
            servers: vec![server.to_owned()],
        }
        .to_url(),
        other => panic!("not an event link: {other:?}"),
    }
}

/// How many events the ranges cover.
fn event_count(ranges: &[ProcessRanges]) -> u64 {
    ranges
        .iter()
        .flat_map(|process| &process.ranges)
        .map(|(low, high)| high - low + 1)
        .sum()
}

/// The failed servers of a `--json` answer, sorted.
fn sorted_failed(answer: &Value) -> Vec<&str> {
    let mut failed = failed_servers(answer);
    failed.sort_unstable();
    failed
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_works_with_all_servers_down_and_one_sync_delivers_everything() {
    let mut first = TestServer::start().await;
    let mut second = TestServer::start().await;
    let mut urls = [first.url(), second.url()];
    urls.sort_unstable();

    let friend = tempfile::tempdir().expect("tempdir");
    let friend_system = system_of(&identity(friend.path(), &[&urls[0]]).await);
    let friend_link = link_to(friend_system, &[&urls[0]]);

    let home = tempfile::tempdir().expect("tempdir");
    let system = system_of(&identity(home.path(), &[&urls[0], &urls[1]]).await);
    let before = agora(home.path(), &["post", "written online", "--json"])
        .await
        .json();
    assert_eq!(before["failed"], json!([]), "{before}");
    let (_, online) = own_ranges(home.path()).await;
    for url in &urls {
        assert_eq!(server_ranges(url, &system).await, online, "{url} before");
    }

    first.stop().await;
    second.stop().await;

    // Every command succeeds from the local store and names both servers as failed.
    let profile = agora(
        home.path(),
        &[
            "profile",
            "--name",
            "offliner",
            "--description",
            "written on a plane",
            "--json",
        ],
    )
    .await
    .unanswered_json();
    assert_eq!(sorted_failed(&profile), urls, "{profile}");
    let post = agora(home.path(), &["post", "written offline", "--json"])
        .await
        .unanswered_json();
    assert_eq!(sorted_failed(&post), urls, "{post}");
    assert_eq!(post["sent"], json!([]), "{post}");
    let post_link = post["link"].as_str().expect("link").to_owned();
    let reply = agora(
        home.path(),
        &[
            "post",
            "a reply offline",
            "--reply-to",
            &post_link,
            "--json",
        ],
    )
    .await
    .unanswered_json();
    assert_eq!(sorted_failed(&reply), urls, "{reply}");
    let follow = agora(home.path(), &["follow", &friend_link, "--json"])
        .await
        .unanswered_json();
    assert_eq!(sorted_failed(&follow), urls, "{follow}");
    let like = agora(home.path(), &["like", &post_link, "--json"])
        .await
        .unanswered_json();
    assert_eq!(sorted_failed(&like), urls, "{like}");

    // The feed is read from the local store.
    let feed = agora(home.path(), &["feed", "--json"]).await.json()["posts"].take();
    let feed_texts = texts(&feed);
    for text in ["written offline", "a reply offline", "written online"] {
        assert!(feed_texts.contains(&text), "{text:?} in {feed}");
    }
    let shown = agora(home.path(), &["profile", "--json"]).await.json();
    assert_eq!(shown["username"], "offliner", "{shown}");
    assert_eq!(shown["description"], "written on a plane", "{shown}");

    // With no server answering, sync fails with its documented status and names both.
    let down = agora(home.path(), &["sync", "--json"]).await;
    assert_eq!(down.code, Some(EXIT_NO_SERVER_ANSWERED), "{}", down.stderr);
    let down: Value = serde_json::from_str(&down.stdout).expect("sync --json output");
    assert_eq!(sorted_failed(&down["push"]), urls, "{down}");
    assert_eq!(down["push"]["sent"], json!([]), "{down}");

    // The same servers come back; one sync sends each of them everything it missed.
    first.resume().await;
    second.resume().await;
    let (_, offline) = own_ranges(home.path()).await;
    let missed = event_count(&offline) - event_count(&online);
    assert!(
        missed >= 5,
        "profile, post, reply, follow and like: {missed}"
    );
    let synced = agora(home.path(), &["sync", "--json"]).await.json();
    assert_eq!(synced["push"]["failed"], json!([]), "{synced}");
    let mut sent: Vec<(String, u64)> = synced["push"]["sent"]
        .as_array()
        .expect("sent")
        .iter()
        .map(|entry| {
            let server = entry["server"].as_str().expect("server").to_owned();
            (server, entry["events"].as_u64().expect("events"))
        })
        .collect();
    sent.sort_unstable();
    assert_eq!(
        sent,
        urls.iter()
            .map(|url| (url.clone(), missed))
            .collect::<Vec<_>>(),
        "{synced}"
    );
    for url in &urls {
        assert_eq!(server_ranges(url, &system).await, offline, "{url} after");
    }

    let again = agora(home.path(), &["sync", "--json"]).await.json();
    assert_eq!(again["push"]["failed"], json!([]), "{again}");
    for entry in again["push"]["sent"].as_array().expect("sent") {
        assert_eq!(entry["events"], 0, "{again}");
    }
    assert_eq!(
        again["push"]["sent"].as_array().map(Vec::len),
        Some(2),
        "{again}"
    );

    // Each server alone (the other one down again) serves all of it to a new reader.
    let (first_url, second_url) = (first.url(), second.url());
    second.stop().await;
    read_alone(&first_url, system, &post_link).await;
    second.resume().await;
    first.stop().await;
    read_alone(&second_url, system, &post_link).await;
}

/// A new reader that can reach only the server at `url` sees the profile, the posts and the
/// reply of `system`, and the like and the reply counted on the post of `post_link`.
async fn read_alone(url: &str, system: PublicKey, post_link: &str) {
    let reader = tempfile::tempdir().expect("tempdir");
    identity(reader.path(), &[]).await;
    let read = agora(reader.path(), &["show", &link_to(system, &[url]), "--json"])
        .await
        .done_json();
    assert_eq!(read["username"], "offliner", "{url}: {read}");
    assert_eq!(read["description"], "written on a plane", "{url}: {read}");
    assert_eq!(
        sorted_texts(&read["posts"]),
        ["a reply offline", "written offline", "written online"],
        "{url}: {read}"
    );

    let post_on = event_link_on(post_link, url);
    let stats = agora(reader.path(), &["show", &post_on, "--json"])
        .await
        .done_json();
    assert_eq!(stats["post"]["text"], "written offline", "{url}: {stats}");
    assert_eq!(
        (&stats["likes"], &stats["replies"]),
        (&json!(1), &json!(1)),
        "{url}: {stats}"
    );
    assert_eq!(texts(&stats["reply_posts"]), ["a reply offline"], "{stats}");
    assert_eq!(stats["answered"], json!([url]), "{url}: {stats}");
}
