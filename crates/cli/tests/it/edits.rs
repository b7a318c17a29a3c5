//! `agora edit`: the latest version shows in `feed`, `show`, search and explore, marked edited;
//! `show --history` lists every version; only the author can edit; a deleted post stays
//! deleted.

use agora_testnet::TestServer;
use serde_json::Value;

use crate::support::{agora, identity, texts};

fn first_result(found: &Value) -> &Value {
    &found["results"][0]
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edit_shows_everywhere_as_the_latest_version_with_its_history() {
    let server = TestServer::start().await;
    let url = server.url();
    let dirs = tempfile::tempdir().expect("tempdir");
    let (alice, bob) = (dirs.path().join("alice"), dirs.path().join("bob"));
    let link = identity(&alice, &[&url]).await;
    identity(&bob, &[&url]).await;
    agora(&bob, &["follow", &link]).await.ok();
    let posted = agora(&alice, &["post", "a walrus story", "--json"])
        .await
        .json();
    let post = posted["link"].as_str().expect("link").to_owned();

    let edited = agora(&alice, &["edit", &post, "a narwhal story", "--json"])
        .await
        .json();
    assert!(
        edited["sent"]
            .as_array()
            .is_some_and(|sent| !sent.is_empty()),
        "{edited}"
    );

    agora(&bob, &["sync"]).await.ok();
    let feed = agora(&bob, &["feed", "--json"]).await.json()["posts"].take();
    assert_eq!(texts(&feed), ["a narwhal story"]);
    assert!(feed[0]["edited_ms"].is_u64(), "{feed}");
    let feed_text = agora(&bob, &["feed"]).await.ok();
    let header = feed_text.lines().next().unwrap_or_default();
    assert!(header.ends_with("(edited)"), "{feed_text}");
    assert!(feed_text.contains("\n  a narwhal story\n"), "{feed_text}");

    let shown = agora(&bob, &["show", &post, "--history", "--json"])
        .await
        .json();
    assert_eq!(shown["post"]["text"], "a narwhal story");
    let versions: Vec<&str> = shown["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|version| version["text"].as_str().expect("text"))
        .collect();
    assert_eq!(versions, ["a walrus story", "a narwhal story"]);

    let found = agora(&bob, &["search", "narwhal", "--json"]).await.json();
    assert_eq!(first_result(&found)["text"], "a narwhal story", "{found}");
    assert!(first_result(&found)["edited_ms"].is_u64());
    let old = agora(&bob, &["search", "walrus", "--json"]).await.json();
    assert_eq!(old["results"].as_array().map(Vec::len), Some(0), "{old}");
    let explored = agora(&bob, &["explore", "--json"]).await.json();
    assert_eq!(first_result(&explored)["text"], "a narwhal story");

    // Only the author edits; a deleted post stays deleted.
    let foreign = agora(&bob, &["edit", &post, "bob was here"]).await;
    assert!(
        !foreign.success && foreign.stderr.contains("only its author"),
        "{}",
        foreign.stderr
    );
    agora(&alice, &["delete", &post]).await.ok();
    let after = agora(&alice, &["edit", &post, "back from the dead"]).await;
    assert!(!after.success, "{}", after.stdout);
    agora(&bob, &["sync"]).await.ok();
    let feed = agora(&bob, &["feed", "--json"]).await.json()["posts"].take();
    assert_eq!(texts(&feed).len(), 0, "{feed}");
}
