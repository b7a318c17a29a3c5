//! The user commands run as a person runs them: the `agora` binary as a subprocess, one home
//! directory per identity, against real servers.

use std::path::Path;

use agora_client::{Client, Home};
use agora_protocol::PublicKey;
use agora_protocol::links::Link;
use agora_testnet::TestServer;

use crate::support::{DEAD_SERVER, agora};

/// A new identity with `servers`, returning its system key.
async fn author(home: &Path, servers: &[&str]) -> PublicKey {
    let printed = agora(home, &["init", "--json"]).await.json()["system"]
        .as_str()
        .expect("system")
        .to_owned();
    for server in servers {
        agora(home, &["server", "add", server, "--force"]).await;
    }
    let system = system_of(home).await;
    assert_eq!(
        system.to_string(),
        printed,
        "init prints the key's one text form"
    );
    system
}

/// The post texts of `system` that `server` holds, read by a fresh reader that asks only it.
async fn posts_on(server: &str, system: PublicKey) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let reader = Client::open(Home::init(dir.path()).expect("home"))
        .await
        .expect("client");
    let gathered = reader
        .pull(system, &[server.to_owned()])
        .await
        .expect("pull");
    assert!(gathered.failed.is_empty(), "{:?}", gathered.failed);
    let posts = reader.posts(system).await.expect("posts");
    posts.into_iter().map(|post| post.text).collect()
}

/// The system key `agora whoami` prints in the official form, read back.
async fn system_of(home: &Path) -> PublicKey {
    let printed = agora(home, &["link"]).await.ok();
    match Link::parse(&printed).expect("a system link") {
        Link::System { system, .. } => system,
        other => panic!("not a system link: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn init_whoami_and_link_round_trip() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().expect("tempdir");
    let init = agora(home.path(), &["init", "--name", "alice"]).await.ok();
    assert!(init.contains("created identity"), "{init}");
    agora(home.path(), &["server", "add", &server.url()])
        .await
        .ok();

    let whoami = agora(home.path(), &["whoami", "--json"]).await.json();
    let system = whoami["system"].as_str().expect("system");
    assert_eq!(whoami["username"], "alice");
    assert_eq!(whoami["servers"], serde_json::json!([server.url()]));
    assert!(whoami["process"].as_str().is_some_and(|p| !p.is_empty()));
    let text = agora(home.path(), &["whoami"]).await.ok();
    assert!(
        text.contains(system) && text.contains(&server.url()),
        "{text}"
    );

    let printed = agora(home.path(), &["link"]).await.ok();
    assert!(printed.starts_with("polycentric://"), "{printed}");
    let Link::System {
        system: linked,
        servers,
    } = Link::parse(&printed).expect("the link parses")
    else {
        panic!("not a system link: {printed}");
    };
    assert_eq!(linked.to_string(), system);
    assert_eq!(servers, [server.url()]);
    let again = agora(home.path(), &["init"]).await;
    assert!(
        !again.success && again.stderr.contains("already exists"),
        "{}",
        again.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_reaches_both_servers_and_prints_its_link() {
    let (first, second) = (TestServer::start().await, TestServer::start().await);
    let home = tempfile::tempdir().expect("tempdir");
    let system = author(home.path(), &[&first.url(), &second.url()]).await;

    let post = agora(home.path(), &["post", "hello both", "--json"])
        .await
        .json();
    let sent: Vec<&str> = post["sent"]
        .as_array()
        .expect("sent")
        .iter()
        .map(|entry| entry["server"].as_str().expect("server"))
        .collect();
    assert_eq!(sent.len(), 2, "{post}");
    assert!(sent.contains(&first.url().as_str()) && sent.contains(&second.url().as_str()));
    assert_eq!(post["failed"], serde_json::json!([]));
    let Link::Event {
        system: linked,
        servers,
        ..
    } = Link::parse(post["link"].as_str().expect("link")).expect("event link")
    else {
        panic!("not an event link: {post}");
    };
    assert_eq!(linked, system);
    assert_eq!(servers.len(), 2);

    for server in [&first, &second] {
        assert_eq!(posts_on(&server.url(), system).await, ["hello both"]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_post_succeeds_while_a_server_is_down_and_names_it() {
    let live = TestServer::start().await;
    let home = tempfile::tempdir().expect("tempdir");
    let system = author(home.path(), &[&live.url(), DEAD_SERVER]).await;

    let text = agora(home.path(), &["post", "one is down"]).await.partial();
    let short = format!("posted {}/", system.abbreviation());
    assert!(
        text.starts_with(&short),
        "the short form, not a link: {text}"
    );
    assert!(text.contains(&format!("sent to {}", live.url())), "{text}");
    assert!(
        text.contains(&format!("FAILED server {DEAD_SERVER}")),
        "{text}"
    );
    assert!(text.contains("next `agora sync`"), "{text}");
    assert_eq!(posts_on(&live.url(), system).await, ["one is down"]);

    let alone = tempfile::tempdir().expect("tempdir");
    author(alone.path(), &[DEAD_SERVER]).await;
    let json = agora(alone.path(), &["post", "nobody listens", "--json"])
        .await
        .unanswered_json();
    assert_eq!(json["sent"], serde_json::json!([]));
    assert_eq!(json["failed"][0]["server"], DEAD_SERVER);
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_sends_what_a_new_server_lacks_and_fetches_followed_posts() {
    let server = TestServer::start().await;
    let alice = tempfile::tempdir().expect("tempdir");
    let alice_system = author(alice.path(), &[]).await;
    agora(alice.path(), &["post", "before any server"])
        .await
        .ok();
    let added = agora(alice.path(), &["server", "add", &server.url(), "--json"])
        .await
        .json();
    assert_eq!(added["push"]["sent"][0]["server"], server.url());
    let alice_link = agora(alice.path(), &["link"]).await.ok();

    let bob = tempfile::tempdir().expect("tempdir");
    author(bob.path(), &[]).await;
    agora(bob.path(), &["follow", alice_link.trim()]).await.ok();
    let post = agora(alice.path(), &["post", "after the follow", "--json"])
        .await
        .json();
    let sync = agora(bob.path(), &["sync", "--json"]).await.json();
    let pulled = sync["pull"]
        .as_array()
        .expect("pull")
        .iter()
        .find(|entry| entry["system"] == alice_system.to_string().as_str())
        .unwrap_or_else(|| panic!("alice is synced: {sync}"))
        .clone();
    assert_eq!(pulled["received"], 1, "{sync}");
    assert_eq!(pulled["answered"], serde_json::json!([server.url()]));

    let link = post["link"].as_str().expect("link");
    let liked = agora(bob.path(), &["like", link, "--json"]).await.json();
    assert!(
        liked["link"]
            .as_str()
            .is_some_and(|l| l.starts_with("polycentric://"))
    );
    let refused = agora(bob.path(), &["delete", link]).await;
    assert!(
        !refused.success && refused.stderr.contains("only your own events"),
        "{}",
        refused.stderr
    );
    let deleted = agora(alice.path(), &["delete", link]).await.ok();
    assert!(deleted.starts_with("deleted"), "{deleted}");
    // A deleted post is named as deleted, not as missing, by its link and its short form.
    let short = post["event"].as_str().expect("short form");
    for named in [link, short] {
        agora(alice.path(), &["show", named])
            .await
            .bad_input("was deleted by its author");
    }
    assert_eq!(
        posts_on(&server.url(), alice_system).await,
        ["before any server"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_home_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nobody");
    for args in [
        &["whoami"][..],
        &["post", "hi"],
        &["sync"],
        &["server", "list"],
    ] {
        let run = agora(&missing, args).await;
        assert!(!run.success, "{args:?} succeeds without an identity");
        assert!(
            run.stderr.contains("no identity in") && run.stderr.contains("agora init"),
            "{args:?}: {}",
            run.stderr
        );
    }
    let bad_link = agora(dir.path(), &["init"]).await;
    assert!(bad_link.success);
    let run = agora(dir.path(), &["follow", "not-a-link"]).await;
    assert_eq!(
        run.code,
        Some(crate::support::EXIT_BAD_INPUT),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("\"not-a-link\"") && run.stderr.contains("@handle"),
        "names what was wrong and what is expected: {}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn servers_are_listed_and_removed_and_replies_and_opinions_publish() {
    let server = TestServer::start().await;
    let home = tempfile::tempdir().expect("tempdir");
    let system = author(home.path(), &[&server.url(), DEAD_SERVER]).await;
    // The list says which server answers now, and its version; one is down: exit 4.
    let listed = agora(home.path(), &["--json", "server", "list"])
        .await
        .partial_json();
    let live = crate::support::entry(&listed["servers"], "server", &server.url());
    assert_eq!(live["answered"], true, "{listed}");
    assert!(
        live["version"].as_str().is_some_and(|v| !v.is_empty()),
        "{listed}"
    );
    let dead = crate::support::entry(&listed["servers"], "server", DEAD_SERVER);
    assert_eq!(dead["answered"], false, "{listed}");
    let text = agora(home.path(), &["server", "list"]).await.partial();
    assert!(text.contains("FAILED") && text.contains(" ok "), "{text}");
    agora(
        home.path(),
        &["server", "remove", &format!("{DEAD_SERVER}/")],
    )
    .await
    .ok();
    let listed = agora(home.path(), &["server", "list", "--json"])
        .await
        .json();
    assert_eq!(listed["servers"][0]["server"], server.url(), "{listed}");
    assert_eq!(
        listed["servers"].as_array().map(Vec::len),
        Some(1),
        "{listed}"
    );
    // Removing a server that is not in the list is an error, and changes nothing.
    agora(home.path(), &["server", "remove", DEAD_SERVER])
        .await
        .bad_input("not one of your servers");
    let bad = agora(home.path(), &["server", "add", "127.0.0.1:1"]).await;
    assert!(
        bad.code == Some(crate::support::EXIT_BAD_INPUT) && bad.stderr.contains("http://"),
        "{}",
        bad.stderr
    );
    // A URL in any case is the same server; a dead one is refused unless forced.
    let shouting = server.url().replace("http://", "HTTP://");
    let again = agora(home.path(), &["server", "add", &shouting]).await;
    assert!(
        again.stderr.contains("already one of your servers"),
        "{}",
        again.stderr
    );
    let dead = agora(home.path(), &["server", "add", DEAD_SERVER]).await;
    assert_eq!(
        dead.code,
        Some(crate::support::EXIT_BAD_INPUT),
        "{}",
        dead.stderr
    );
    assert!(dead.stderr.contains("--force"), "{}", dead.stderr);
    let listed = agora(home.path(), &["server", "list", "--json"])
        .await
        .json();
    assert_eq!(
        listed["servers"].as_array().map(Vec::len),
        Some(1),
        "unchanged: {listed}"
    );

    let first = agora(home.path(), &["post", "first", "--json"])
        .await
        .json();
    let first = first["link"].as_str().expect("link");
    let reply = agora(
        home.path(),
        &[
            "post",
            "reply",
            "--reply-to",
            first,
            "--topic",
            "t",
            "--json",
        ],
    )
    .await
    .json();
    assert_eq!(reply["sent"][0]["server"], server.url(), "{reply}");
    for command in ["dislike", "unlike"] {
        let done = agora(home.path(), &[command, first, "--json"]).await.json();
        assert_eq!(done["failed"], serde_json::json!([]), "{command}: {done}");
    }
    let own_link = agora(home.path(), &["link"]).await.ok();
    let system_link = agora(home.path(), &["like", own_link.trim()]).await;
    assert!(
        system_link.code == Some(crate::support::EXIT_BAD_INPUT)
            && system_link.stderr.contains("names a person, not a post"),
        "{}",
        system_link.stderr
    );
    agora(home.path(), &["unfollow", own_link.trim()])
        .await
        .ok();
    let mut posts = posts_on(&server.url(), system).await;
    posts.sort();
    assert_eq!(posts, ["first", "reply"]);
}
