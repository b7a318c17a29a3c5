//! Latency of one `GET /query_references` page as a post's replies grow (issue 12, item 4).
//!
//! For each reply count: a fresh store and server on port 0, one post with that many replies
//! (from 100 authors, some of them liked or disliked by 10 others), then page reads of the
//! official clients' post-stats request ([`post_stats_request`]: replies with events, and the
//! post's likes, dislikes and replies) over HTTP, one at a time. Prints p50 and p99 of the first
//! page and of the third page (the cursor of two full pages).
//!
//! ```text
//! cargo run --release -p agora-server --example references_latency -- \
//!     --replies 100,10000,100000 --reads 200
//! ```
//!
//! Each measurement stops after `--reads` pages or 30 seconds, whichever comes first.

use std::time::{Duration, Instant};

use agora_protocol::author::{Author, post_stats_request};
use agora_protocol::content::opinion;
use agora_protocol::encoding::base64url_encode;
use agora_protocol::{Pointer, Process, SecretKey, VerifiedEvent, wire};
use agora_server::{Server, ServerConfig};
use agora_store::sqlite::{SqliteOptions, SqliteStore};
use agora_store::{IngestOutcome, Store as _};
use prost::Message as _;

/// Authors of the replies; each signs its share with clocks counting up.
const REPLIERS: u64 = 100;
/// Authors of the opinions: at most one each per reply.
const OPINIONATED: u64 = 10;
/// Page reads of one measurement stop after this long, whatever `--reads` says.
const MEASURE_MAX: Duration = Duration::from_secs(30);

struct Args {
    replies: Vec<u64>,
    reads: usize,
}

fn args() -> Args {
    let mut parsed = Args {
        replies: vec![100, 10_000, 100_000],
        reads: 200,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        let value = words.next().unwrap_or_default();
        match word.as_str() {
            "--replies" => {
                parsed.replies = value
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .parse()
                            .expect("--replies: numbers separated by ','")
                    })
                    .collect();
            }
            "--reads" => parsed.reads = value.parse().expect("--reads: a number"),
            other => panic!("unknown argument {other:?} (--replies N,N,… --reads N)"),
        }
    }
    parsed
}

fn author(seed: u64) -> Author {
    let mut key = [0u8; 32];
    key[..8].copy_from_slice(&seed.to_be_bytes());
    key[31] = 1;
    let mut process = [0u8; 16];
    process[..8].copy_from_slice(&seed.to_be_bytes());
    Author::new(
        SecretKey::from_seed(&key),
        Process::from_bytes(&process).expect("16 bytes"),
    )
}

/// The replies to `post` and the opinions on them, signed on every core. Reply n gets a like
/// from each of the first `n % 4` opinion authors when n is a multiple of 10, and a dislike
/// from the last one when n is a multiple of 50, so scores spread from -1 to 3.
fn sign(post: &Pointer, replies: u64) -> Vec<VerifiedEvent> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let replies_signed: Vec<Vec<VerifiedEvent>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                scope.spawn(move || {
                    let mut signed = Vec::new();
                    // Each worker signs for its own repliers, so their clocks stay in order.
                    for replier in (1..=REPLIERS).filter(|r| r % threads == worker) {
                        let mut author = author(replier);
                        for n in (replier - 1..replies).step_by(REPLIERS as usize) {
                            let text = format!("reply {n}");
                            signed.push(author.reply(&text, post, 1_000 + n).expect("reply"));
                        }
                    }
                    signed
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("signer"))
            .collect()
    });
    let replies_signed: Vec<VerifiedEvent> = replies_signed.into_iter().flatten().collect();
    let mut opinions = Vec::new();
    let mut opinionated: Vec<Author> = (0..OPINIONATED).map(|n| author(1_000 + n)).collect();
    for reply in &replies_signed {
        let n: u64 = reply.unix_milliseconds().unwrap_or(0) - 1_000;
        if n.is_multiple_of(10) {
            for liker in opinionated.iter_mut().take((n % 4) as usize) {
                opinions.push(liker.opinion(&reply.pointer(), opinion::LIKE, 2_000 + n));
            }
        }
        if n.is_multiple_of(50) {
            let disliker = opinionated.last_mut().expect("some");
            opinions.push(disliker.opinion(&reply.pointer(), opinion::DISLIKE, 2_000 + n));
        }
    }
    let opinions = opinions.into_iter().map(|o| o.expect("opinion"));
    replies_signed.into_iter().chain(opinions).collect()
}

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Reads the page of `request` until `reads` reads or [`MEASURE_MAX`]; (p50, p99, reads).
async fn measure(
    client: &reqwest::Client,
    url: &str,
    request: &wire::QueryReferencesRequest,
    reads: usize,
) -> (Duration, Duration, usize) {
    let target = format!(
        "{url}/query_references?query={}",
        base64url_encode(&request.encode_to_vec())
    );
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(reads);
    while latencies.len() < reads && started.elapsed() < MEASURE_MAX {
        let begun = Instant::now();
        let response = client.get(&target).send().await.expect("request");
        assert!(response.status().is_success(), "{}", response.status());
        let body = response.bytes().await.expect("body");
        latencies.push(begun.elapsed());
        let page = wire::QueryReferencesResponse::decode(body).expect("response");
        assert!(!page.items.is_empty(), "a page of replies: {page:?}");
    }
    latencies.sort_unstable();
    (
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.len(),
    )
}

/// The request for the page after `pages` full pages.
async fn request_after(
    client: &reqwest::Client,
    url: &str,
    first: &wire::QueryReferencesRequest,
    pages: usize,
) -> wire::QueryReferencesRequest {
    let mut request = first.clone();
    for _ in 0..pages {
        let target = format!(
            "{url}/query_references?query={}",
            base64url_encode(&request.encode_to_vec())
        );
        let body = client
            .get(&target)
            .send()
            .await
            .expect("request")
            .bytes()
            .await
            .expect("body");
        let page = wire::QueryReferencesResponse::decode(body).expect("response");
        request.cursor = page.cursor;
    }
    request
}

async fn run_one(replies: u64, reads: usize) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(dir.path(), SqliteOptions::default()).expect("store");
    let mut config = ServerConfig {
        listen: ([127, 0, 0, 1], 0).into(),
        ..ServerConfig::default()
    };
    config.rate_limits.enabled = false;
    let server = Server::bind(config, store.clone()).await.expect("bind");

    let started = Instant::now();
    let post = author(0).post("the post", 500).expect("post");
    let pointer = post.pointer();
    let events = tokio::task::spawn_blocking(move || sign(&pointer, replies))
        .await
        .expect("signing");
    let signed = events.len();
    let mut events = std::iter::once(post.clone()).chain(events).peekable();
    while events.peek().is_some() {
        let batch: Vec<VerifiedEvent> = events.by_ref().take(5_000).collect();
        let outcomes = store.ingest(batch).await.expect("ingest");
        if let Some(refused) = outcomes.iter().find(|o| **o != IngestOutcome::Stored) {
            panic!("an event was not stored: {refused:?}");
        }
    }
    let filled = started.elapsed();

    let client = reqwest::Client::new();
    let url = server.url();
    let first = post_stats_request(&post.pointer());
    let (first_p50, first_p99, first_reads) = measure(&client, &url, &first, reads).await;
    let later = request_after(&client, &url, &first, 2).await;
    let (later_p50, later_p99, later_reads) = if later.cursor.is_some() {
        measure(&client, &url, &later, reads).await
    } else {
        (Duration::ZERO, Duration::ZERO, 0)
    };
    println!(
        "{replies:>7} replies ({signed} events, filled in {:.1} s): first page p50 {:.2} ms \
         p99 {:.2} ms ({first_reads} reads); page 3 p50 {:.2} ms p99 {:.2} ms ({later_reads} reads)",
        filled.as_secs_f64(),
        first_p50.as_secs_f64() * 1e3,
        first_p99.as_secs_f64() * 1e3,
        later_p50.as_secs_f64() * 1e3,
        later_p99.as_secs_f64() * 1e3,
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::main]
async fn main() {
    let args = args();
    for &replies in &args.replies {
        run_one(replies, args.reads).await;
    }
}
