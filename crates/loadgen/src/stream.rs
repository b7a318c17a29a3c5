//! `agora loadgen --phase stream`: the latency of the live stream (`GET /stream`) from the
//! moment a post is sent to the moment each of many subscribers receives it.
//!
//! N subscribers open unfiltered subscriptions and wait until each has its starting position;
//! then one identity publishes posts one by one at a steady rate, and every subscriber records,
//! per post, the time since that post was sent. The server needs a per-address subscription cap
//! of at least N (`agora serve --stream-subscriptions-per-address-max`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agora_protocol::author::Author;
use agora_protocol::encoding::base64url_decode;
use agora_protocol::{Process, SecretKey, wire};
use anyhow::Context as _;
use eventsource_stream::Eventsource as _;
use futures::StreamExt as _;
use hdrhistogram::Histogram;
use prost::Message as _;
use serde::Serialize;
use tokio::sync::Barrier;

/// What the stream phase measured.
#[derive(Debug, Serialize)]
pub struct StreamReport {
    pub subscribers: usize,
    pub posts: usize,
    pub posts_per_second: f64,
    /// Deliveries expected (subscribers × posts) and received within the run.
    pub deliveries_expected: u64,
    pub deliveries: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

const TEXT_PREFIX: &str = "stream benchmark post ";

pub async fn run(
    server: &str,
    subscribers: usize,
    posts: usize,
    posts_per_second: f64,
) -> anyhow::Result<StreamReport> {
    let started = Instant::now();
    // When each post was sent, in microseconds since `started` (0: not yet).
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..posts).map(|_| AtomicU64::new(0)).collect());
    let ready = Arc::new(Barrier::new(subscribers + 1));
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(0)
        .build()?;
    let mut tasks = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let (http, server, sent, ready) = (
            http.clone(),
            server.to_owned(),
            Arc::clone(&sent),
            Arc::clone(&ready),
        );
        tasks.push(tokio::spawn(async move {
            subscribe(&http, &server, &sent, &ready, started, posts).await
        }));
    }
    eprintln!("stream: waiting for {subscribers} subscribers to connect");
    ready.wait().await;
    eprintln!("stream: publishing {posts} posts at {posts_per_second}/s");
    let mut author = Author::new(SecretKey::generate(), Process::random());
    let interval = Duration::from_secs_f64(1.0 / posts_per_second.max(0.001));
    let publishing = Instant::now();
    for index in 0..posts {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as u64;
        let post = author.post(&format!("{TEXT_PREFIX}{index}"), now_ms)?;
        let body = wire::Events {
            events: vec![post.to_signed()],
        }
        .encode_to_vec();
        sent[index].store(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        let answer = http
            .post(format!("{server}/events"))
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(
            answer.status().is_success(),
            "publishing answered {}",
            answer.status()
        );
        let next = publishing + interval * (index as u32 + 1);
        tokio::time::sleep_until(next.into()).await;
    }
    let rate = posts as f64 / publishing.elapsed().as_secs_f64();
    let mut merged = Histogram::<u64>::new(3)?;
    let mut deliveries = 0;
    for task in tasks {
        let histogram = task.await.context("subscriber task")??;
        deliveries += histogram.len();
        merged.add(&histogram)?;
    }
    let ms = |quantile: f64| merged.value_at_quantile(quantile) as f64 / 1000.0;
    Ok(StreamReport {
        subscribers,
        posts,
        posts_per_second: rate,
        deliveries_expected: (subscribers * posts) as u64,
        deliveries,
        p50_ms: ms(0.5),
        p90_ms: ms(0.9),
        p99_ms: ms(0.99),
        max_ms: merged.max() as f64 / 1000.0,
    })
}

/// One subscriber: its latencies in microseconds, until it saw every post or 30 s passed
/// without one.
async fn subscribe(
    http: &reqwest::Client,
    server: &str,
    sent: &[AtomicU64],
    ready: &Barrier,
    started: Instant,
    posts: usize,
) -> anyhow::Result<Histogram<u64>> {
    let mut histogram = Histogram::<u64>::new(3)?;
    let response = http.get(format!("{server}/stream")).send().await;
    let mut events = match response {
        Ok(response) if response.status().is_success() => response.bytes_stream().eventsource(),
        Ok(response) => {
            ready.wait().await;
            anyhow::bail!("subscribing answered {}", response.status());
        }
        Err(error) => {
            ready.wait().await;
            return Err(error.into());
        }
    };
    let mut waiting = true;
    let mut seen = 0;
    while seen < posts {
        let next = tokio::time::timeout(Duration::from_secs(30), events.next()).await;
        let Ok(Some(Ok(message))) = next else {
            break;
        };
        if message.event == "position" && waiting {
            waiting = false;
            ready.wait().await;
            continue;
        }
        let now = started.elapsed().as_micros() as u64;
        let Some(index) = post_index(&message.data) else {
            continue;
        };
        let at = sent
            .get(index)
            .map_or(0, |sent| sent.load(Ordering::Relaxed));
        if at > 0 {
            histogram.record(now.saturating_sub(at).max(1))?;
            seen += 1;
        }
    }
    if waiting {
        ready.wait().await;
    }
    Ok(histogram)
}

fn post_index(data: &str) -> Option<usize> {
    let bytes = base64url_decode(data).ok()?;
    let signed = wire::SignedEvent::decode(bytes.as_slice()).ok()?;
    let event = wire::Event::decode(signed.event).ok()?;
    let post = wire::Post::decode(event.content).ok()?;
    post.content?.strip_prefix(TEXT_PREFIX)?.parse().ok()
}
