//! The reading commands (`profile`, `feed`, `show`) run as a person runs them: the `agora` binary
//! as a subprocess, one home directory per identity, against real servers.

use std::path::Path;

use agora_client::{Client, Home};
use agora_protocol::Pointer;
use agora_protocol::links::Link;
use agora_testnet::TestServer;
use serde_json::json;

use crate::support::{DEAD_SERVER, agora, identity, texts};

/// Posts `text` and returns the post's event link.
async fn post(home: &Path, args: &[&str]) -> String {
    let mut args = args.to_vec();
    args.extend(["--json"]);
    let posted = agora(home, &[&["post"][..], &args].concat())
        .await
        .done_json();
    posted["link"].as_str().expect("link").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_profile_set_is_shown_to_another_identity_by_link() {
    let mut server = TestServer::start().await;
    let alice = tempfile::tempdir().expect("tempdir");
    let alice_link = identity(alice.path(), &[&server.url()]).await;
    let set = agora(
        alice.path(),
        &[
            "profile",
            "--name",
            "alice",
            "--description",
            "hi",
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(set["sent"][0]["server"], server.url(), "{set}");
    assert_eq!(
        (&set["username"], &set["description"]),
        (&json!("alice"), &json!("hi"))
    );
    let own = agora(alice.path(), &["profile"]).await.ok();
    assert!(
        own.contains("username:    alice") && own.contains("description:\n  hi\n"),
        "{own}"
    );
    post(alice.path(), &["first words"]).await;

    let bob = tempfile::tempdir().expect("tempdir");
    identity(bob.path(), &[]).await;
    let shown = agora(bob.path(), &["show", &alice_link, "--json"])
        .await
        .json();
    assert_eq!(
        (&shown["username"], &shown["description"]),
        (&json!("alice"), &json!("hi"))
    );
    assert_eq!(texts(&shown["posts"]), ["first words"]);
    assert_eq!(shown["answered"], json!([server.url()]));
    let profile = agora(bob.path(), &["profile", &alice_link, "--json"])
        .await
        .json();
    assert_eq!(profile["username"], "alice", "{profile}");

    let url = server.url();
    server.stop().await;
    let offline = agora(bob.path(), &["show", &alice_link]).await.unanswered();
    assert!(
        offline.contains("warning: no server answered")
            && offline.contains(&url)
            && offline.contains("username:    alice")
            && offline.contains("first words"),
        "{offline}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_merges_followed_posts_newest_first_and_works_offline() {
    let mut server = TestServer::start().await;
    let (alice, carol, bob) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    let alice_link = identity(alice.path(), &[&server.url()]).await;
    agora(alice.path(), &["profile", "--name", "alice"])
        .await
        .ok();
    let carol_link = identity(carol.path(), &[&server.url()]).await;
    post(alice.path(), &["a1"]).await;
    let c1 = post(carol.path(), &["c1"]).await;
    identity(bob.path(), &[]).await;
    for link in [&alice_link, &carol_link] {
        agora(bob.path(), &["follow", link]).await.ok();
    }
    post(alice.path(), &["a2", "--reply-to", &c1]).await;
    agora(bob.path(), &["sync"]).await.ok();
    post(bob.path(), &["b1"]).await;

    let feed = agora(bob.path(), &["feed", "--json"]).await.json()["posts"].take();
    assert_eq!(texts(&feed), ["b1", "a2", "c1", "a1"]);
    assert_eq!(feed[1]["username"], "alice");
    assert_eq!(feed[1]["reply_to"], c1.as_str(), "{feed}");
    assert!(feed[2].get("reply_to").is_none(), "{feed}");
    let times: Vec<u64> = feed
        .as_array()
        .expect("array")
        .iter()
        .map(|post| post["unix_milliseconds"].as_u64().expect("time"))
        .collect();
    assert!(times.windows(2).all(|pair| pair[0] >= pair[1]), "{times:?}");

    server.stop().await;
    let offline = agora(bob.path(), &["feed", "--limit", "2", "--json"])
        .await
        .json()["posts"]
        .take();
    assert_eq!(texts(&offline), ["b1", "a2"]);
    // Text output names posts by their short form, marks replies, and fits 80 columns.
    let text = agora(bob.path(), &["feed"]).await.ok();
    assert!(
        text.contains("alice") && text.contains("\n  a2\n") && text.contains("↳ reply to"),
        "{text}"
    );
    assert!(!text.contains("polycentric://"), "{text}");
    assert!(
        text.lines().all(|line| line.chars().count() <= 80),
        "{text}"
    );
    let long = agora(bob.path(), &["feed", "--long"]).await.ok();
    assert!(long.contains("polycentric://"), "{long}");
}

#[tokio::test(flavor = "multi_thread")]
async fn showing_a_post_counts_its_likes_and_replies_and_names_the_servers() {
    let server = TestServer::start().await;
    let (alice, bob, carol) = (
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    );
    identity(alice.path(), &[&server.url(), DEAD_SERVER]).await;
    let link = post(alice.path(), &["a post worth liking"]).await;
    identity(bob.path(), &[&server.url()]).await;
    agora(bob.path(), &["like", &link]).await.ok();
    post(bob.path(), &["a reply", "--reply-to", &link]).await;
    identity(carol.path(), &[&server.url()]).await;
    agora(carol.path(), &["like", &link]).await.ok();

    let reader = tempfile::tempdir().expect("tempdir");
    identity(reader.path(), &[]).await;
    let shown = agora(reader.path(), &["show", &link, "--json"])
        .await
        .partial_json();
    assert_eq!(shown["post"]["text"], "a post worth liking", "{shown}");
    assert_eq!(
        (&shown["likes"], &shown["dislikes"], &shown["replies"]),
        (&json!(2), &json!(0), &json!(1)),
        "{shown}"
    );
    assert_eq!(texts(&shown["reply_posts"]), ["a reply"]);
    assert_eq!(shown["answered"], json!([server.url()]));
    assert_eq!(shown["failed"][0]["server"], DEAD_SERVER, "{shown}");
    let text = agora(reader.path(), &["show", &link]).await.partial();
    assert!(
        text.contains("likes: 2  dislikes: 0  replies: 1")
            && text.contains("\n      a reply\n")
            && text.contains(&format!("FAILED server {DEAD_SERVER}")),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn showing_a_post_follows_the_reply_pages_up_to_the_limit() {
    let server = TestServer::start().await;
    let alice = tempfile::tempdir().expect("tempdir");
    identity(alice.path(), &[&server.url()]).await;
    let link = post(alice.path(), &["popular"]).await;
    let Link::Event {
        system,
        process,
        logical_clock,
        ..
    } = Link::parse(&link).expect("event link")
    else {
        panic!("not an event link: {link}");
    };

    // 25 replies, more than one server page of 20, published through the library for speed.
    let dir = tempfile::tempdir().expect("tempdir");
    let bob = Client::open(Home::init(dir.path()).expect("home"))
        .await
        .expect("client");
    bob.add_server(&server.url()).await.expect("server");
    bob.pull(system, &[server.url()]).await.expect("pull");
    let slot = Pointer {
        system,
        process,
        logical_clock,
        digest: None,
    };
    let parent = bob
        .load(&slot)
        .await
        .expect("load")
        .expect("held")
        .pointer();
    for index in 0..25 {
        bob.post(&format!("reply {index}"), Some(&parent), None)
            .await
            .expect("reply");
    }
    assert!(bob.push().await.expect("push").failed.is_empty());

    let reader = tempfile::tempdir().expect("tempdir");
    identity(reader.path(), &[]).await;
    let all = agora(reader.path(), &["show", &link, "--json"])
        .await
        .json();
    assert_eq!(all["replies"], 25, "{all}");
    let mut listed: Vec<&str> = texts(&all["reply_posts"]);
    listed.sort_unstable();
    let mut expected: Vec<String> = (0..25).map(|index| format!("reply {index}")).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected, "every page is listed");
    assert_eq!(all["more_replies"], 0);

    let few = agora(reader.path(), &["show", &link, "--limit", "5", "--json"])
        .await
        .json();
    assert_eq!(texts(&few["reply_posts"]).len(), 5, "{few}");
    assert_eq!(few["more_replies"], 20, "{few}");
    let text = agora(reader.path(), &["show", &link, "--limit", "5"])
        .await
        .ok();
    assert!(text.contains("20 more replies"), "{text}");
}
