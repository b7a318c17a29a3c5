//! Crash consistency: `agora serve` killed with SIGKILL in the middle of ingest, then started
//! again on the same data directory, serves every event it acknowledged with a 200, byte for
//! byte (the store commits before it answers: WAL with `synchronous=FULL`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use agora_protocol::author::Author;
use agora_protocol::encoding::base64url_encode;
use agora_protocol::{Process, PublicKey, SecretKey, VerifiedEvent, wire};
use prost::Message as _;

use crate::support::{serve_unlimited, terminate};

/// Concurrent writers, each its own identity.
const WRITERS: u8 = 4;
/// Events in one `POST /events`.
const BATCH_EVENTS: u64 = 20;
/// Batches acknowledged in a round before the server is killed; the writers keep sending.
const BATCHES_BEFORE_KILL: usize = 12;
/// Kills and restarts.
const ROUNDS: usize = 3;
/// Clocks asked for in one `GET /events` when checking.
const CHECK_CLOCKS: u64 = 200;

/// One writer: sends batches of posts until the server stops answering, and returns its author
/// (to go on from its clocks) and every event of a batch answered 200.
pub(crate) async fn write(
    http: reqwest::Client,
    url: String,
    mut author: Author,
    acknowledged_batches: Arc<AtomicUsize>,
) -> (Author, Vec<VerifiedEvent>) {
    let mut acknowledged = Vec::new();
    loop {
        let batch: Vec<VerifiedEvent> = (0..BATCH_EVENTS)
            .map(|at| {
                let clock = author.logical_clock();
                author
                    .post(
                        &format!("event {clock} of a crash test"),
                        1_000 + clock + at,
                    )
                    .expect("sign")
            })
            .collect();
        let body = wire::Events {
            events: batch.iter().map(VerifiedEvent::to_signed).collect(),
        }
        .encode_to_vec();
        let Ok(response) = http.post(format!("{url}/events")).body(body).send().await else {
            // Killed: this batch may or may not be stored, and was never acknowledged.
            return (author, acknowledged);
        };
        if response.status() != reqwest::StatusCode::OK {
            return (author, acknowledged);
        }
        assert!(
            response.headers().get("x-agora-rejected").is_none(),
            "valid posts are all stored"
        );
        acknowledged.extend(batch);
        acknowledged_batches.fetch_add(1, Ordering::SeqCst);
    }
}

/// Asserts that the server at `url` serves every one of `events`, byte for byte.
pub(crate) async fn assert_served(http: &reqwest::Client, url: &str, events: &[VerifiedEvent]) {
    let mut missing: HashMap<[u8; 56], &VerifiedEvent> = events
        .iter()
        .map(|event| (event.slot_key(), event))
        .collect();
    let windows: BTreeSet<(PublicKey, Process, u64)> = events
        .iter()
        .map(|event| {
            let low = 1 + (event.logical_clock() - 1) / CHECK_CLOCKS * CHECK_CLOCKS;
            (*event.system(), *event.process(), low)
        })
        .collect();
    for (system, process, low) in windows {
        let ranges = wire::RangesForSystem {
            ranges_for_processes: vec![wire::RangesForProcess {
                process: Some(process.to_wire()),
                ranges: vec![wire::Range {
                    low,
                    high: low + CHECK_CLOCKS - 1,
                }],
            }],
        };
        let path = format!(
            "{url}/events?system={}&ranges={}",
            system.to_query_param(),
            base64url_encode(&ranges.encode_to_vec())
        );
        let response = http.get(path).send().await.expect("the server answers");
        let served = wire::Events::decode(response.bytes().await.expect("body")).expect("events");
        for signed in &served.events {
            let event = VerifiedEvent::verify(signed).expect("served events verify");
            if let Some(expected) = missing.remove(&event.slot_key()) {
                assert_eq!(event.event_bytes(), expected.event_bytes());
            }
        }
    }
    let lost: Vec<(String, u64)> = missing
        .values()
        .map(|event| (event.system().abbreviation(), event.logical_clock()))
        .collect();
    assert!(lost.is_empty(), "acknowledged, then lost: {lost:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_a_kill_during_ingest() {
    let data_dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("http client");
    let mut authors: Vec<Author> = (0..WRITERS)
        .map(|writer| {
            let seed = 40 + writer;
            Author::new(
                SecretKey::from_seed(&[seed; 32]),
                Process::from_bytes(&[seed; 16]).expect("16"),
            )
        })
        .collect();
    let mut acknowledged: Vec<VerifiedEvent> = Vec::new();
    for round in 0..ROUNDS {
        let mut served = serve_unlimited(data_dir.path(), &[]);
        assert_served(&http, &served.url, &acknowledged).await;

        let batches = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = authors
            .drain(..)
            .map(|author| {
                tokio::spawn(write(
                    http.clone(),
                    served.url.clone(),
                    author,
                    Arc::clone(&batches),
                ))
            })
            .collect();
        let acknowledging = async {
            while batches.load(Ordering::SeqCst) < BATCHES_BEFORE_KILL {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(60), acknowledging)
            .await
            .expect("the server acknowledges batches");
        served.child.kill().expect("SIGKILL");
        served.child.wait().expect("killed");
        for writer in writers {
            let (author, events) = writer.await.expect("writer");
            authors.push(author);
            acknowledged.extend(events);
        }
        let at_least = (round + 1) * BATCHES_BEFORE_KILL * BATCH_EVENTS as usize;
        assert!(
            acknowledged.len() >= at_least,
            "round {round}: {} events acknowledged, expected {at_least} or more",
            acknowledged.len()
        );
    }

    let served = serve_unlimited(data_dir.path(), &[]);
    assert_served(&http, &served.url, &acknowledged).await;
    assert!(terminate(served), "a clean stop after the crashes");
}
