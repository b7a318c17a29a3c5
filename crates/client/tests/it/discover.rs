//! Discovery across real servers, as the client merges it.

use std::time::{SystemTime, UNIX_EPOCH};

use agora_client::TimeRange;
use agora_protocol::author::Author;
use agora_protocol::{Process, SecretKey, VerifiedEvent, wire};
use agora_testnet::TestServer;
use prost::Message as _;

use crate::publish::client_in;

/// 2100-01-01 in Unix milliseconds.
const YEAR_2100_MS: u64 = 4_102_444_800_000;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

fn author(seed: u8) -> Author {
    Author::new(
        SecretKey::from_seed(&[seed; 32]),
        Process::from_bytes(&[seed; 16]).expect("16 bytes"),
    )
}

async fn publish(server: &str, event: &VerifiedEvent) {
    let answer = reqwest::Client::new()
        .post(format!("{server}/events"))
        .body(
            wire::Events {
                events: vec![event.to_signed()],
            }
            .encode_to_vec(),
        )
        .send()
        .await
        .expect("request");
    assert!(answer.status().is_success(), "{}", answer.status());
}

/// A post dated in 2100 is ordered by its arrival on the server, and the merge of several
/// servers' explore pages must not put it back on top by its claimed date.
#[tokio::test]
async fn explore_does_not_let_a_future_dated_post_pin_itself_to_the_top() {
    let (a, b) = (TestServer::start().await, TestServer::start().await);
    let future = author(1)
        .post("from the future", YEAR_2100_MS)
        .expect("sign");
    publish(&a.url(), &future).await;
    publish(&b.url(), &future).await;
    // Within the servers' margin, so ordered by its own time, after the other post arrived.
    let recent = author(2)
        .post("posted just now", now_ms() + 5 * 60 * 1000)
        .expect("sign");
    publish(&a.url(), &recent).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let reader = client_in(dir.path()).await;
    let explored = reader.explore(&[a.url(), b.url()], 10).await;
    assert!(explored.failed.is_empty(), "{:?}", explored.failed);
    let texts: Vec<&str> = explored
        .value
        .iter()
        .map(|found| found.item.post.text.as_str())
        .collect();
    assert_eq!(texts, ["posted just now", "from the future"]);
}

/// Two servers holding the same post count it once in trending, while posts each server holds
/// alone still add up.
#[tokio::test]
async fn trending_counts_a_post_two_servers_hold_once() {
    let (a, b) = (TestServer::start().await, TestServer::start().await);
    let hour_ago = now_ms() - 60 * 60 * 1000;
    let mut alice = author(1);
    let shared = alice
        .topic_post("a walrus on both servers", "walrus", hour_ago)
        .expect("sign");
    let seal_on_a = alice
        .topic_post("a seal on one", "seals", hour_ago)
        .expect("sign");
    let seal_on_b = author(2)
        .topic_post("a seal on the other", "seals", hour_ago)
        .expect("sign");
    for (server, event) in [
        (&a, &shared),
        (&b, &shared),
        (&a, &seal_on_a),
        (&b, &seal_on_b),
    ] {
        publish(&server.url(), event).await;
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let reader = client_in(dir.path()).await;
    let servers = [a.url(), b.url()];
    let trending = reader.trending(&servers, TimeRange::Month, None, 10).await;
    assert!(trending.failed.is_empty(), "{:?}", trending.failed);
    let counts: Vec<(&str, u64, usize)> = trending
        .value
        .iter()
        .map(|found| {
            (
                found.item.topic.as_str(),
                found.item.count,
                found.servers.len(),
            )
        })
        .collect();
    assert_eq!(counts, [("seals", 2, 2), ("walrus", 1, 2)]);
}
