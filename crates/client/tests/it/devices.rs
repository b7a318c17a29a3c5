//! Reading an identity with devices (docs/protocol.md, "Devices"): a key that only claims an
//! identity is not taken for it, an authorized device is, and a follower sees one person.

use agora_client::{Client, Home};
use agora_testnet::TestServer;

use crate::publish::client_in;

/// A new device of `root`'s identity in `dir`, accepted and authorized, pushed to `server`.
async fn device_of(root: &Client, dir: &std::path::Path, name: &str) -> Client {
    let device = Client::open(Home::init_device(dir, &root.identity()).expect("device home"))
        .await
        .expect("device opens");
    let servers = root.servers().await.expect("servers");
    device
        .pull(root.identity(), &servers)
        .await
        .expect("pull the identity");
    let acceptance = device.accept_identity().await.expect("accept");
    device.push().await.expect("push");
    root.pull(device.system(), &servers).await.expect("pull");
    root.authorize_device(&acceptance, name)
        .await
        .expect("authorize");
    let report = root.push().await.expect("push");
    assert!(report.failed.is_empty(), "{report:?}");
    device
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_that_only_claims_an_identity_is_not_that_identity() {
    let server = TestServer::start().await;
    let dirs = tempfile::tempdir().expect("tempdir");
    let alice = client_in(&dirs.path().join("alice")).await;
    alice.add_server(&server.url()).await.expect("server");
    alice.set_username("alice").await.expect("name");
    alice.push().await.expect("push");

    // Mallory's key claims to be a device of alice: it accepts her, and she never authorized it.
    let mallory = Client::open(
        Home::init_device(&dirs.path().join("mallory"), &alice.identity()).expect("home"),
    )
    .await
    .expect("opens");
    mallory
        .pull(alice.identity(), &[server.url()])
        .await
        .expect("pull alice");
    mallory.accept_identity().await.expect("accept");
    mallory.set_username("alice").await.expect("name");
    mallory.post("I am alice", None, None).await.expect("post");
    let report = mallory.push().await.expect("push");
    assert_eq!(report.sent.len(), 1, "{report:?}");
    // A real device of alice posts too.
    let phone = device_of(&alice, &dirs.path().join("phone"), "phone").await;
    phone
        .post("alice from her phone", None, None)
        .await
        .expect("post");
    phone.push().await.expect("push");

    let reader = client_in(&dirs.path().join("reader")).await;
    let hints = [server.url()];
    let learned = reader
        .learn_identity(mallory.system(), &hints)
        .await
        .expect("learn");
    assert_eq!(
        learned,
        mallory.system(),
        "a claim alone does not make a device"
    );
    let learned = reader
        .learn_identity(phone.system(), &hints)
        .await
        .expect("learn");
    assert_eq!(learned, alice.identity());
    reader.follow(&alice.identity()).await.expect("follow");
    reader
        .pull_identity(alice.identity(), &hints)
        .await
        .expect("pull");
    let feed = reader.home_feed(10).await.expect("feed");
    let texts: Vec<&str> = feed.iter().map(|item| item.post.text.as_str()).collect();
    assert_eq!(texts, ["alice from her phone"]);
    assert_eq!(feed[0].identity, alice.identity());
    assert_eq!(feed[0].username.as_deref(), Some("alice"));
    let members = reader.members(alice.identity()).await.expect("members");
    assert_eq!(members, vec![alice.identity(), phone.system()]);
}
