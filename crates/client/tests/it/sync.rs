//! Push and pull against real servers: every server gets what it lacks once, readers verify
//! everything and fail over when a server is down.

use agora_client::{Client, ServerError, verify_served};
use agora_protocol::{PublicKey, SecretKey, VerifiedEvent, wire};
use agora_store::{ProcessRanges, Store as _};
use agora_testnet::TestServer;
use prost::Message as _;

use crate::publish::client_in;

/// A server's `/ranges` for `system`, in the store's shape.
async fn ranges_on(server: &str, system: &PublicKey) -> Vec<ProcessRanges> {
    let url = format!("{server}/ranges?system={}", system.to_query_param());
    let body = reqwest::get(url)
        .await
        .expect("ranges")
        .bytes()
        .await
        .expect("body");
    let message = wire::RangesForSystem::decode(body).expect("ranges decode");
    message
        .ranges_for_processes
        .iter()
        .map(|p| ProcessRanges {
            process: p.process.as_ref().expect("process").try_into().expect("16"),
            ranges: p.ranges.iter().map(|r| (r.low, r.high)).collect(),
        })
        .collect()
}

async fn local_ranges(client: &Client) -> Vec<ProcessRanges> {
    client
        .store()
        .ranges(client.system())
        .await
        .expect("local ranges")
}

/// Publishes two servers, two posts, a profile and a follow: 7 events.
async fn publish_a_profile(author: &Client, servers: [&str; 2]) {
    for server in servers {
        author.add_server(server).await.expect("add server");
    }
    author.post("first", None, None).await.expect("post");
    author.post("second", None, None).await.expect("post");
    author.set_username("ann").await.expect("name");
    author
        .set_description("writes things")
        .await
        .expect("description");
    author
        .follow(&SecretKey::generate().public_key())
        .await
        .expect("follow");
}

fn texts(posts: &[agora_client::PostView]) -> Vec<&str> {
    posts.iter().map(|post| post.text.as_str()).collect()
}

#[tokio::test]
async fn push_sends_every_server_what_it_lacks_exactly_once() {
    let (a, b) = (TestServer::start().await, TestServer::start().await);
    let dir = tempfile::tempdir().expect("tempdir");
    let author = client_in(dir.path()).await;
    publish_a_profile(&author, [&a.url(), &b.url()]).await;

    let report = author.push().await.expect("push");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        (report.sent_to(&a.url()), report.sent_to(&b.url())),
        (Some(7), Some(7))
    );
    let local = local_ranges(&author).await;
    assert_eq!(ranges_on(&a.url(), &author.system()).await, local);
    assert_eq!(ranges_on(&b.url(), &author.system()).await, local);

    let again = author.push().await.expect("second push");
    assert_eq!(
        (again.sent_to(&a.url()), again.sent_to(&b.url())),
        (Some(0), Some(0))
    );
}

#[tokio::test]
async fn reader_pulls_from_hints_and_fails_over_when_a_server_is_down() {
    let (mut a, b) = (TestServer::start().await, TestServer::start().await);
    let (a_url, b_url) = (a.url(), b.url());
    let author_dir = tempfile::tempdir().expect("tempdir");
    let author = client_in(author_dir.path()).await;
    publish_a_profile(&author, [&a_url, &b_url]).await;
    author.push().await.expect("push");

    let reader_dir = tempfile::tempdir().expect("tempdir");
    let reader = client_in(reader_dir.path()).await;
    let hints = [a_url.clone(), b_url.clone()];
    let pulled = reader.pull(author.system(), &hints).await.expect("pull");
    assert_eq!(pulled.value, 7);
    assert_eq!(pulled.answered, hints);
    assert!(pulled.failed.is_empty(), "{:?}", pulled.failed);
    let posts = reader.posts(author.system()).await.expect("posts");
    assert_eq!(texts(&posts), ["second", "first"]);
    let profile = reader.profile(author.system()).await.expect("profile");
    assert_eq!(profile.username.as_deref(), Some("ann"));
    assert_eq!(profile.description.as_deref(), Some("writes things"));

    a.stop().await;
    let late_dir = tempfile::tempdir().expect("tempdir");
    let late_reader = client_in(late_dir.path()).await;
    let pulled = late_reader
        .pull(author.system(), &hints)
        .await
        .expect("pull");
    assert_eq!((pulled.value, pulled.answered.clone()), (7, vec![b_url]));
    assert_eq!(pulled.failed.len(), 1);
    assert_eq!(pulled.failed[0].server, a_url);
    assert!(matches!(pulled.failed[0].error, ServerError::Request(_)));
    assert!(
        pulled.failed[0].to_string().contains(&a_url),
        "{}",
        pulled.failed[0]
    );
    let posts = late_reader.posts(author.system()).await.expect("posts");
    assert_eq!(texts(&posts), ["second", "first"]);
}

#[tokio::test]
async fn served_events_are_rejected_when_altered_or_of_another_system() {
    let dir = tempfile::tempdir().expect("tempdir");
    let author = client_in(dir.path()).await;
    let pointer = author.post("genuine", None, None).await.expect("post");
    let genuine = author.load(&pointer).await.expect("load").expect("stored");
    let system = author.system();
    let server = "http://liar.example";
    assert!(verify_served(server, &system, &genuine.to_signed()).is_ok());

    let mut altered = genuine.to_signed();
    let mut bytes = altered.event.to_vec();
    *bytes.last_mut().expect("bytes") ^= 1;
    altered.event = bytes.into();
    let failure = verify_served(server, &system, &altered).expect_err("altered");
    assert!(
        matches!(failure.error, ServerError::InvalidEvent(_)),
        "{failure}"
    );
    assert!(failure.to_string().contains(server), "{failure}");

    let other = agora_protocol::author::Author::new(SecretKey::generate(), author.process())
        .post("not ann's", 1)
        .expect("sign");
    let failure = verify_served(server, &system, &other.to_signed()).expect_err("foreign");
    assert!(
        matches!(failure.error, ServerError::WrongSystem { .. }),
        "{failure}"
    );
    assert!(failure.to_string().contains(server), "{failure}");
    assert!(failure.to_string().contains("another system"), "{failure}");

    let forged = wire::SignedEvent {
        signature: other.signature().to_vec().into(),
        ..genuine.to_signed()
    };
    assert!(VerifiedEvent::verify(&forged).is_err());
    assert!(verify_served(server, &system, &forged).is_err());
}

#[tokio::test]
async fn a_server_that_was_down_gets_exactly_what_it_missed() {
    let (mut a, b) = (TestServer::start().await, TestServer::start().await);
    let (old_a, b_url) = (a.url(), b.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let author = client_in(dir.path()).await;
    author.add_server(&old_a).await.expect("add");
    author.add_server(&b_url).await.expect("add");
    let first = author.post("first", None, None).await.expect("post");
    assert_eq!(author.push().await.expect("push").sent_to(&old_a), Some(3));

    a.stop().await;
    for text in ["two", "three", "four"] {
        author.post(text, None, None).await.expect("post");
    }
    author.delete(&first).await.expect("delete");
    let report = author.push().await.expect("push");
    assert_eq!(report.sent_to(&b_url), Some(4));
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].server, old_a);

    a.restart().await; // same store, new port
    let new_a = a.url();
    author.remove_server(&old_a).await.expect("remove");
    author.add_server(&new_a).await.expect("add");
    let report = author.push().await.expect("push");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    // 3 posts + 1 delete while down, then the 2 server-list changes.
    assert_eq!(report.sent_to(&new_a), Some(6));
    assert_eq!(report.sent_to(&b_url), Some(2));
    assert_eq!(
        ranges_on(&new_a, &author.system()).await,
        local_ranges(&author).await
    );

    let reader_dir = tempfile::tempdir().expect("tempdir");
    let reader = client_in(reader_dir.path()).await;
    reader.pull(author.system(), &[new_a]).await.expect("pull");
    let posts = reader.posts(author.system()).await.expect("posts");
    assert_eq!(texts(&posts), ["four", "three", "two"]);
}

#[tokio::test]
async fn a_server_answering_an_error_is_reported_and_the_others_still_get_events() {
    let good = TestServer::start().await;
    let broken = format!("{}/no-such-prefix", good.url());
    let dir = tempfile::tempdir().expect("tempdir");
    let author = client_in(dir.path()).await;
    author.add_server(&broken).await.expect("add");
    author.add_server(&good.url()).await.expect("add");
    author.post("hello", None, None).await.expect("post");

    let report = author.push().await.expect("push");
    assert_eq!(report.sent_to(&good.url()), Some(3));
    assert_eq!(report.failed.len(), 1);
    let failure = &report.failed[0];
    assert_eq!(failure.server, broken);
    assert!(
        matches!(&failure.error, ServerError::Status { status, .. } if status.as_u16() == 404),
        "{failure}"
    );
}
