//! `GET /stream` over real HTTP: a subscriber gets new events as they commit, filtered, resumes
//! exactly once after a disconnect, is dropped (not buffered) when it stops reading, is capped
//! per address, and never keeps a shutdown waiting.

use std::time::Duration;

use agora_protocol::encoding::base64url_decode;
use agora_protocol::{VerifiedEvent, wire};
use agora_server::ServerConfig;
use agora_server::live::StreamConfig;
use agora_testnet::TestServer;
use prost::Message as _;
use reqwest::StatusCode;

use crate::support::{Http, author};

/// One Server-Sent Events subscription, read message by message.
struct Subscription {
    response: reqwest::Response,
    pending: String,
}

/// One message: its `event` name, `id` and `data`.
#[derive(Debug)]
struct Message {
    kind: String,
    id: u64,
    data: String,
}

impl Subscription {
    async fn open(base: &str, query: &str, last_event_id: Option<u64>) -> Self {
        let mut request = reqwest::Client::new().get(format!("{base}/stream?{query}"));
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request.send().await.expect("subscribe");
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            pending: String::new(),
        }
    }

    /// The next message that is not a heartbeat, or `None` when the stream ended.
    async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let mut message = Message {
                    kind: String::new(),
                    id: 0,
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        message.kind = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("id:") {
                        message.id = value.trim().parse().expect("numeric id");
                    } else if let Some(value) = line.strip_prefix("data:") {
                        message.data = value.trim().to_owned();
                    }
                }
                if message.kind.is_empty() {
                    continue; // a heartbeat comment
                }
                return Some(message);
            }
            let chunk = self.response.chunk().await.expect("read the stream")?;
            self.pending
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// The next event, within `wait`.
    async fn event_within(&mut self, wait: Duration) -> (u64, VerifiedEvent) {
        let message = tokio::time::timeout(wait, self.next())
            .await
            .expect("an event arrives in time")
            .expect("the stream is open");
        assert_eq!(message.kind, "event", "{message:?}");
        let bytes = base64url_decode(&message.data).expect("base64url");
        let signed = wire::SignedEvent::decode(bytes.as_slice()).expect("SignedEvent");
        (
            message.id,
            VerifiedEvent::verify(&signed).expect("verifies"),
        )
    }
}

fn text_of(event: &VerifiedEvent) -> String {
    wire::Post::decode(event.event().content.clone())
        .expect("post")
        .content
        .expect("text")
}

#[tokio::test]
async fn a_subscriber_gets_new_events_at_once_and_resumes_exactly_once() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let (mut alice, mut bob) = (author(1), author(2));
    let query = format!("systems={}", alice.system().to_query_param());
    let mut live = Subscription::open(&server.url(), &query, None).await;
    let start = live.next().await.expect("the position message");
    assert_eq!(start.kind, "position");

    let first = alice.post("first", 1_000).expect("sign");
    let other = bob.post("not for this subscriber", 1_001).expect("sign");
    http.publish(&[&other, &first]).await;
    let (_, got) = live.event_within(Duration::from_secs(10)).await;
    assert_eq!(text_of(&got), "first", "bob's post is filtered out");

    let mut last = 0;
    for n in 2..=5 {
        let post = alice.post(&format!("post {n}"), 1_000 + n).expect("sign");
        http.publish(&[&post]).await;
    }
    for n in 2..=3 {
        let (id, event) = live.event_within(Duration::from_secs(5)).await;
        assert_eq!(text_of(&event), format!("post {n}"));
        last = id;
    }
    drop(live); // a forced disconnect after post 3

    for n in 6..=8 {
        let post = alice.post(&format!("post {n}"), 1_000 + n).expect("sign");
        http.publish(&[&post]).await;
    }
    let mut resumed = Subscription::open(&server.url(), &query, Some(last)).await;
    let position = resumed.next().await.expect("position");
    assert_eq!(position.id, last);
    let mut texts = Vec::new();
    for _ in 4..=8 {
        texts.push(text_of(
            &resumed.event_within(Duration::from_secs(5)).await.1,
        ));
    }
    assert_eq!(texts, ["post 4", "post 5", "post 6", "post 7", "post 8"]);
    let ninth = alice.post("post 9", 1_009).expect("sign");
    http.publish(&[&ninth]).await;
    assert_eq!(
        text_of(&resumed.event_within(Duration::from_secs(5)).await.1),
        "post 9",
        "nothing was repeated before it"
    );
}

#[tokio::test]
async fn a_position_past_every_stored_one_gets_nothing_until_it_is_reached() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let before = alice.post("before", 1_000).expect("sign");
    http.publish(&[&before]).await;
    for after in [1 << 63, u64::MAX] {
        let mut live = Subscription::open(&server.url(), &format!("after={after}"), None).await;
        let start = live.next().await.expect("the position message");
        assert_eq!((start.kind.as_str(), start.id), ("position", after));
        let later = alice.post("later", 2_000).expect("sign");
        http.publish(&[&later]).await;
        let nothing = tokio::time::timeout(Duration::from_millis(500), live.next()).await;
        assert!(nothing.is_err(), "after={after}: got {nothing:?}");
    }
    let answer = http.get("/stream?after=18446744073709551616").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.text().contains("`after`"), "{}", answer.text());
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_dropped_and_resumes_from_its_position() {
    let config = ServerConfig {
        stream: StreamConfig {
            slow_consumer_timeout: Duration::from_millis(300),
            ..StreamConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let http = Http::new(server.url());
    let mut alice = author(1);
    let query = format!("systems={}", alice.system().to_query_param());
    let mut slow = Subscription::open(&server.url(), &query, Some(0)).await;
    slow.next().await.expect("position");
    // Far more than the socket buffers hold: 3 000 posts of 9 000 bytes, about 36 MB as SSE.
    let filler = "x".repeat(9_000);
    let total = 3_000;
    let posts: Vec<VerifiedEvent> = (0..total)
        .map(|n| {
            alice
                .post(&format!("{n} {filler}"), 1_000 + n)
                .expect("sign")
        })
        .collect();
    for batch in posts.chunks(500) {
        let refs: Vec<&VerifiedEvent> = batch.iter().collect();
        assert_eq!(http.publish(&refs).await.status, StatusCode::OK);
    }
    // The subscriber read nothing while the server tried to send; now it reads what it was
    // sent before it was dropped, then the end of the stream.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let mut received = Vec::new();
    while let Some(message) = slow.next().await {
        received.push(message.id);
    }
    assert!(
        !received.is_empty() && received.len() < total as usize,
        "dropped after {} of {total} events",
        received.len()
    );
    let last = *received.last().expect("some");
    let mut resumed = Subscription::open(&server.url(), &query, Some(last)).await;
    resumed.next().await.expect("position");
    let mut rest = 0;
    while rest + received.len() < total as usize {
        let (id, _) = resumed.event_within(Duration::from_secs(10)).await;
        assert!(id > last);
        rest += 1;
    }
    assert_eq!(
        rest + received.len(),
        total as usize,
        "every event exactly once"
    );
}

#[tokio::test]
async fn subscriptions_are_capped_per_address_and_bad_filters_named() {
    let config = ServerConfig {
        stream: StreamConfig {
            subscriptions_per_address_max: 2,
            ..StreamConfig::default()
        },
        ..ServerConfig::default()
    };
    let server = TestServer::start_with(config).await;
    let first = Subscription::open(&server.url(), "", None).await;
    let _second = Subscription::open(&server.url(), "", None).await;
    let refused = reqwest::get(format!("{}/stream", server.url()))
        .await
        .expect("request");
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        refused
            .text()
            .await
            .expect("body")
            .contains("open subscriptions")
    );
    drop(first);
    // The slot is freed once the server notices the subscriber went.
    let mut reopened = None;
    for _ in 0..50 {
        let answer = reqwest::get(format!("{}/stream", server.url()))
            .await
            .expect("request");
        if answer.status() == StatusCode::OK {
            reopened = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reopened.is_some(), "a freed slot can be taken again");

    let http = Http::new(server.url());
    let bad = http.get("/stream?systems=nonsense").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("`systems` item 0"), "{}", bad.text());
    let bad = http.get("/stream?content_types=3,x").await;
    assert!(
        bad.text().contains("`content_types` item 1"),
        "{}",
        bad.text()
    );
}

#[tokio::test]
async fn shutdown_ends_open_subscriptions() {
    let mut server = TestServer::start().await;
    let mut live = Subscription::open(&server.url(), "", None).await;
    live.next().await.expect("position");
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .expect("shutdown does not wait for the subscriber");
    assert!(live.next().await.is_none(), "the stream ended");
}
