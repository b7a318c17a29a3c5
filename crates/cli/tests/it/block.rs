//! `agora block`: a blocked identity's posts, replies and profile leave the feed, the reply
//! list of a post, search and explore, and come back when unblocked.

use agora_testnet::TestServer;
use serde_json::Value;

use crate::support::{agora, identity, texts};

fn result_texts(found: &Value) -> Vec<&str> {
    texts(&found["results"])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocked_identity_is_hidden_everywhere_until_unblocked() {
    let server = TestServer::start().await;
    let url = server.url();
    let dirs = tempfile::tempdir().expect("tempdir");
    let (alice, bob, reader) = (
        dirs.path().join("alice"),
        dirs.path().join("bob"),
        dirs.path().join("reader"),
    );
    let alice_link = identity(&alice, &[&url]).await;
    let bob_link = identity(&bob, &[&url]).await;
    identity(&reader, &[&url]).await;
    agora(&bob, &["profile", "--name", "bob the walrus"])
        .await
        .ok();
    let post = agora(&alice, &["post", "walrus facts", "--json"])
        .await
        .json();
    let post_link = post["link"].as_str().expect("link").to_owned();
    agora(&bob, &["post", "walrus spam", "--reply-to", &post_link])
        .await
        .ok();
    agora(&bob, &["post", "more walrus spam"]).await.ok();
    for link in [&alice_link, &bob_link] {
        agora(&reader, &["follow", link]).await.ok();
    }
    agora(&reader, &["sync"]).await.ok();
    let seen = |args: &'static [&'static str]| {
        let reader = reader.clone();
        async move { agora(&reader, args).await.json() }
    };
    assert_eq!(
        texts(&seen(&["feed", "--json"]).await),
        ["more walrus spam", "walrus spam", "walrus facts"]
    );

    let blocked = agora(&reader, &["block", &bob_link, "--json"]).await.json();
    assert!(
        blocked["sent"]
            .as_array()
            .is_some_and(|sent| !sent.is_empty()),
        "{blocked}"
    );
    assert_eq!(texts(&seen(&["feed", "--json"]).await), ["walrus facts"]);
    let shown = agora(&reader, &["show", &post_link, "--json"]).await.json();
    assert_eq!(texts(&shown["reply_posts"]).len(), 0, "{shown}");
    assert_eq!(
        result_texts(&seen(&["search", "walrus", "--json"]).await),
        ["walrus facts"]
    );
    assert_eq!(
        result_texts(&seen(&["explore", "--json"]).await),
        ["walrus facts"]
    );
    let people = seen(&["search", "walrus", "--profiles", "--json"]).await;
    assert_eq!(
        people["results"].as_array().map(Vec::len),
        Some(0),
        "{people}"
    );
    let list = seen(&["blocked", "--json"]).await;
    assert_eq!(list["blocked"][0]["username"], "bob the walrus");
    let yourself = agora(&reader, &["block", &agora(&reader, &["link"]).await.ok()]).await;
    assert!(
        !yourself.success && yourself.stderr.contains("yourself"),
        "{}",
        yourself.stderr
    );

    agora(&reader, &["unblock", &bob_link]).await.ok();
    assert_eq!(texts(&seen(&["feed", "--json"]).await).len(), 3);
    let shown = agora(&reader, &["show", &post_link, "--json"]).await.json();
    assert_eq!(texts(&shown["reply_posts"]), ["walrus spam"]);
    assert_eq!(
        seen(&["blocked", "--json"]).await["blocked"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}
