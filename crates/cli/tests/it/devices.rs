//! One identity on several devices, with the `agora` binary against real servers: pairing
//! across two homes through the real flow, a reader who sees one person, a lost device revoked
//! from the recovery words on a fresh machine (also when the revocation reaches a server late),
//! and the commands' errors.

use std::path::Path;

use agora_testnet::TestServer;
use serde_json::Value;

use crate::support::{Pairing, agora, agora_input, entry, identity, pair, system_of, texts};

async fn post(home: &Path, text: &str) -> Value {
    agora(home, &["post", text, "--json"]).await.json()
}

/// The texts of a home's feed after a sync.
async fn synced_feed(home: &Path) -> Value {
    agora(home, &["sync"]).await;
    agora(home, &["feed", "--json", "--limit", "50"])
        .await
        .json()["posts"]
        .take()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_paired_devices_publish_as_one_person_that_a_reader_follows_by_link() {
    let (a, b, c) = (
        TestServer::start().await,
        TestServer::start().await,
        TestServer::start().await,
    );
    let dirs = tempfile::tempdir().expect("tempdir");
    let (laptop, phone, reader) = (
        dirs.path().join("laptop"),
        dirs.path().join("phone"),
        dirs.path().join("reader"),
    );
    let link = identity(&laptop, &[&a.url(), &b.url()]).await;
    agora(&laptop, &["profile", "--name", "alice"]).await.ok();
    post(&laptop, "one from the laptop").await;

    // The wrong words are refused before anything is signed.
    let refused = Pairing::start(&phone, &link);
    let no = agora_input(&laptop, &["device", "approve", &refused.code], "n\n").await;
    assert!(!no.success);
    assert!(no.stderr.contains("not approved"), "{}", no.stderr);
    let listed = agora(&laptop, &["device", "list", "--json"]).await.json();
    assert_eq!(
        listed["devices"].as_array().map(Vec::len),
        Some(0),
        "{listed}"
    );
    drop(refused);
    let phone_key = {
        // The same home keeps waiting when pairing is run again.
        let paired = pair(&laptop, &phone, &link, "phone").await;
        assert_eq!(paired["paired"], true, "{paired}");
        assert_eq!(paired["name"], "phone");
        assert_eq!(paired["username"], "alice");
        paired["device"].as_str().expect("device").to_owned()
    };

    // The phone is a device of alice: her link, her profile, her servers, her earlier posts.
    let whoami = agora(&phone, &["whoami", "--json"]).await.json();
    assert_eq!(whoami["system"], system_of(&link).to_string());
    assert_eq!(whoami["device"], phone_key.as_str());
    assert_eq!(whoami["username"], "alice");
    assert_eq!(agora(&phone, &["link"]).await.ok().trim(), link);
    let phone_feed = synced_feed(&phone).await;
    assert_eq!(texts(&phone_feed), ["one from the laptop"]);

    post(&phone, "one from the phone").await;
    post(&laptop, "another from the laptop").await;
    let listed = agora(&laptop, &["device", "list", "--json"]).await.json();
    let device = entry(&listed["devices"], "name", "phone");
    assert_eq!(device["key"], phone_key.as_str());
    assert_eq!(device["revoked"], false);

    // A reader on C alone follows alice's link and finds both devices' posts, as one person, in
    // order, from the servers the link names.
    identity(&reader, &[&c.url()]).await;
    agora(&reader, &["follow", &link]).await.ok();
    let feed = synced_feed(&reader).await;
    assert_eq!(
        texts(&feed),
        [
            "another from the laptop",
            "one from the phone",
            "one from the laptop"
        ]
    );
    for post in feed.as_array().expect("posts") {
        assert_eq!(post["system"], system_of(&link).to_string(), "{post}");
        assert_eq!(post["username"], "alice", "{post}");
    }
    assert_eq!(
        entry(&feed, "text", "one from the phone")["device"],
        phone_key.as_str()
    );

    // A name set on the phone is alice's name everywhere, whichever device wrote it last.
    agora(&phone, &["profile", "--name", "alice (new)"])
        .await
        .ok();
    let shown = agora(&reader, &["show", &link, "--json"]).await.json();
    assert_eq!(shown["username"], "alice (new)");
    assert_eq!(texts(&shown["posts"]).len(), 3);
    // Search on a server of alice's finds the phone's post as alice's.
    agora(&reader, &["server", "add", &a.url()]).await.ok();
    let found = agora(&reader, &["search", "phone", "--json"]).await.json();
    let result = entry(&found["results"], "text", "one from the phone");
    assert_eq!(result["system"], system_of(&link).to_string(), "{found}");
    assert_eq!(result["username"], "alice (new)");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_device_is_revoked_from_the_recovery_words_and_its_later_posts_never_show() {
    let (a, mut b) = (TestServer::start().await, TestServer::start().await);
    let (a_url, b_url) = (a.url(), b.url());
    let dirs = tempfile::tempdir().expect("tempdir");
    let home = |name: &str| dirs.path().join(name);
    let (laptop, phone, rescue, new_phone, reader) = (
        home("laptop"),
        home("phone"),
        home("rescue"),
        home("new-phone"),
        home("reader"),
    );
    let link = identity(&laptop, &[&a_url, &b_url]).await;
    let words_run = agora(&laptop, &["recovery", "show"]).await;
    assert!(words_run.stderr.contains("WARNING"), "{}", words_run.stderr);
    let words = words_run.ok();
    assert_eq!(words.split_whitespace().count(), 24);
    for command in [
        vec!["whoami"],
        vec!["link"],
        vec!["device", "list"],
        vec!["export", "--json"],
    ] {
        let out = agora(&laptop, &command).await;
        if command[0] != "export" {
            assert!(
                !out.stdout.contains(words.trim()),
                "{command:?} printed the words"
            );
        }
    }
    pair(&laptop, &phone, &link, "phone").await;
    post(&phone, "before the phone was lost").await;
    // The laptop is gone too; everything else happens from the words.
    drop(laptop);

    // A mistyped word is caught; the right words restore the identity on a fresh home.
    let mut wrong: Vec<&str> = words.split_whitespace().collect();
    wrong.swap(0, 1);
    let typo = agora_input(
        &rescue,
        &["recovery", "restore", "--server", &a_url],
        &wrong.join(" "),
    )
    .await;
    assert!(
        !typo.success && typo.stderr.contains("checksum"),
        "{}",
        typo.stderr
    );
    let restored = agora_input(
        &rescue,
        &["recovery", "restore", "--server", &a_url, "--json"],
        &words,
    )
    .await
    .json();
    assert_eq!(restored["identity"], system_of(&link).to_string());
    assert_eq!(
        entry(&restored["devices"], "name", "phone")["revoked"],
        false
    );

    // B is down while the phone is revoked: only A gets the revocation now.
    b.stop().await;
    let revoked = agora(&rescue, &["device", "revoke", "phone", "--json"])
        .await
        .json();
    assert_eq!(revoked["name"], "phone");
    // The phone signed its acceptance (clock 1) and one post (clock 2): both stay valid.
    assert_eq!(revoked["bounds"][0]["last_logical_clock"], 2, "{revoked}");
    let again = agora(&rescue, &["device", "revoke", "phone"]).await;
    assert!(
        !again.success && again.stderr.contains("already revoked"),
        "{}",
        again.stderr
    );
    let unknown = agora(&rescue, &["device", "revoke", "tablet"]).await;
    assert!(
        !unknown.success && unknown.stderr.contains("unknown device"),
        "{}",
        unknown.stderr
    );
    let root = agora(
        &rescue,
        &["device", "revoke", &system_of(&link).to_string()],
    )
    .await;
    assert!(
        !root.success && root.stderr.contains("root key"),
        "{}",
        root.stderr
    );
    b.resume().await;

    // The thief still holds the phone's key and posts: A refuses it for good with the reason
    // (the phone's client records it and never offers it to A again); B, which has not heard
    // of the revocation yet, takes it.
    let stolen = post(&phone, "posted by a thief").await;
    let refusal = entry(&stolen["refused"], "server", &a_url)["reason"]
        .as_str()
        .expect("reason")
        .to_owned();
    assert!(refusal.contains("was revoked"), "{refusal}");
    assert!(
        stolen["sent"]
            .as_array()
            .is_some_and(|sent| sent.iter().any(|s| s["server"] == b_url.as_str())),
        "{stolen}"
    );
    // A device cannot approve or revoke.
    let not_root = agora(&phone, &["device", "revoke", "phone"]).await;
    assert!(
        !not_root.success && not_root.stderr.contains("root key"),
        "{}",
        not_root.stderr
    );

    // A reader who asks B first still never sees the thief's post: A gives the revocation.
    identity(&reader, &[&b_url]).await;
    let hinted = crate::support::link_to(system_of(&link), &[&b_url, &a_url]);
    agora(&reader, &["follow", &hinted]).await.ok();
    let feed = synced_feed(&reader).await;
    assert_eq!(texts(&feed), ["before the phone was lost"]);

    // The revocation reaches B with the rescue home's next sync, and B drops the late post.
    let phone_system = entry(&restored["devices"], "name", "phone")["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let held_before = b_clocks(&b_url, &phone_system).await;
    assert_eq!(held_before, 3, "B holds the thief's post");
    agora(&rescue, &["sync"]).await.ok();
    assert_eq!(
        b_clocks(&b_url, &phone_system).await,
        2,
        "B dropped the thief's post"
    );

    // A new phone is paired from the rescue home and posts as alice.
    pair(&rescue, &new_phone, &link, "new phone").await;
    post(&new_phone, "from the new phone").await;
    let feed = synced_feed(&reader).await;
    assert_eq!(
        texts(&feed),
        ["from the new phone", "before the phone was lost"]
    );
    let listed = agora(&rescue, &["device", "list", "--json"]).await.json();
    assert_eq!(entry(&listed["devices"], "name", "phone")["revoked"], true);
    assert_eq!(
        entry(&listed["devices"], "name", "new phone")["revoked"],
        false
    );
}

/// The highest clock server `url` holds of the system `key` (text form), by `GET /ranges`.
async fn b_clocks(url: &str, key: &str) -> u64 {
    let system = agora_protocol::PublicKey::parse_text(key).expect("key");
    let response = reqwest::get(format!("{url}/ranges?system={}", system.to_query_param()))
        .await
        .expect("GET /ranges");
    let body = response.bytes().await.expect("body");
    let ranges =
        <agora_protocol::wire::RangesForSystem as prost::Message>::decode(body).expect("ranges");
    ranges
        .ranges_for_processes
        .iter()
        .flat_map(|process| process.ranges.iter().map(|range| range.high))
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn device_commands_explain_what_went_wrong() {
    let server = TestServer::start().await;
    let dirs = tempfile::tempdir().expect("tempdir");
    let root = dirs.path().join("root");
    identity(&root, &[&server.url()]).await;
    let bad_code = agora(&root, &["device", "approve", "not-a-code", "--yes"]).await;
    assert!(
        !bad_code.success && bad_code.stderr.contains("pairing code"),
        "{}",
        bad_code.stderr
    );
    let stranger = {
        let other = dirs.path().join("other");
        identity(&other, &[&server.url()]).await;
        agora(&other, &["whoami", "--json"]).await.json()["system"]
            .as_str()
            .expect("system")
            .to_owned()
    };
    let unknown = agora(&root, &["device", "approve", &stranger, "--yes"]).await;
    assert!(
        !unknown.success
            && unknown
                .stderr
                .contains("no server of this identity holds a pairing request"),
        "{}",
        unknown.stderr
    );
    let forget = agora(&root, &["recovery", "forget"]).await;
    assert!(
        !forget.success && forget.stderr.contains("--i-have-the-words"),
        "{}",
        forget.stderr
    );
    let bad_words = agora_input(
        &dirs.path().join("fresh"),
        &["recovery", "restore", "--server", &server.url()],
        "abandon ability able about",
    )
    .await;
    assert!(
        !bad_words.success && bad_words.stderr.contains("expected 24 recovery words"),
        "{}",
        bad_words.stderr
    );

    // Forgetting the root keeps the identity and makes this home a device of it.
    let before = agora(&root, &["whoami", "--json"]).await.json();
    let forgot = agora(
        &root,
        &["recovery", "forget", "--i-have-the-words", "--json"],
    )
    .await
    .json();
    assert_eq!(forgot["identity"], before["system"]);
    let after = agora(&root, &["whoami", "--json"]).await.json();
    assert_eq!(after["system"], before["system"]);
    assert_eq!(after["device"], forgot["device"]);
    let words = agora(&root, &["recovery", "show"]).await;
    assert!(
        !words.success && words.stderr.contains("root key"),
        "{}",
        words.stderr
    );
    let posted = post(&root, "after forgetting").await;
    assert!(
        posted["sent"]
            .as_array()
            .is_some_and(|sent| !sent.is_empty()),
        "{posted}"
    );
}
