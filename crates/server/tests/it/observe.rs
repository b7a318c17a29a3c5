//! What an operator reads: `GET /metrics` in the Prometheus text format (parsed back here with
//! a Prometheus text-format parser) and the build's commit in `/version`.

use agora_protocol::wire;
use agora_testnet::TestServer;
use prometheus_parse::{Sample, Scrape, Value};
use prost::Message as _;

use crate::support::{Http, author};

/// The value of the sample `name` whose labels include every `(label, value)` of `labels`.
fn sample(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|sample: &&Sample| sample.metric == name)
        .find(|sample| {
            labels
                .iter()
                .all(|(label, value)| sample.labels.get(label) == Some(*value))
        })
        .map(|sample| match sample.value {
            Value::Counter(value) | Value::Gauge(value) | Value::Untyped(value) => value,
            Value::Histogram(ref buckets) => buckets.last().map_or(0.0, |bucket| bucket.count),
            Value::Summary(_) => f64::NAN,
        })
}

async fn scrape(http: &Http) -> Scrape {
    let answer = http.get("/metrics").await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let content_type = answer.headers["content-type"].to_str().expect("ascii");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let lines = answer
        .text()
        .lines()
        .map(|line| Ok(line.to_owned()))
        .collect::<Vec<_>>();
    Scrape::parse(lines.into_iter()).expect("the Prometheus text format")
}

#[tokio::test]
async fn metrics_count_requests_ingest_outcomes_and_the_store_size() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let mut alice = author(41);
    let posts: Vec<_> = (0..3)
        .map(|n| alice.post(&format!("post {n}"), 1_000 + n).expect("sign"))
        .collect();
    assert_eq!(
        http.publish(&posts.iter().collect::<Vec<_>>()).await.status,
        200
    );
    // One forged event: its signature is another event's.
    let mut forged = alice.post("forged", 2_000).expect("sign").to_signed();
    forged.signature = posts[0].to_signed().signature;
    let body = wire::Events {
        events: vec![forged],
    }
    .encode_to_vec();
    assert_eq!(http.post_raw("/events", body).await.status, 400);
    let system = alice.secret().public_key().to_query_param();
    assert_eq!(
        http.get(&format!("/ranges?system={system}")).await.status,
        200
    );
    assert_eq!(http.get("/no/such/route").await.status, 404);

    let scrape = scrape(&http).await;
    let requests = "agora_http_requests_total";
    assert_eq!(
        sample(
            &scrape,
            requests,
            &[("route", "/events"), ("method", "POST"), ("status", "200")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &scrape,
            requests,
            &[("route", "/events"), ("status", "400")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, requests, &[("route", "/ranges")]),
        Some(1.0)
    );
    // A path outside the routes is one label, never the path itself (which may hold a key).
    assert_eq!(
        sample(&scrape, requests, &[("route", "other"), ("status", "404")]),
        Some(1.0)
    );
    assert!(
        !scrape
            .samples
            .iter()
            .any(|s| s.labels.values().any(|v| v.contains(&system)))
    );
    let ingested = "agora_ingest_events_total";
    assert_eq!(
        sample(&scrape, ingested, &[("outcome", "stored")]),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &scrape,
            ingested,
            &[("outcome", "rejected"), ("reason", "signature")]
        ),
        Some(1.0)
    );
    let latency = sample(
        &scrape,
        "agora_http_request_duration_seconds_count",
        &[("route", "/events")],
    )
    .or_else(|| {
        sample(
            &scrape,
            "agora_http_request_duration_seconds",
            &[("route", "/events")],
        )
    });
    assert_eq!(latency, Some(2.0), "a latency histogram per route");
    assert!(sample(&scrape, "agora_store_bytes", &[]).is_some_and(|bytes| bytes > 0.0));
}

#[tokio::test]
async fn version_names_the_commit_this_server_was_built_from() {
    let server = TestServer::start().await;
    let http = Http::new(server.url());
    let answer = http.get("/version").await;
    let version: serde_json::Value = serde_json::from_slice(&answer.body).expect("JSON");
    let sha = version["sha"].as_str().expect("sha");
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("git runs");
    assert!(head.status.success(), "this test runs in a git checkout");
    assert_eq!(sha, String::from_utf8_lossy(&head.stdout).trim());
}
