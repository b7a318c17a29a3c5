//! The `ingest` phase: pre-encoded `POST /events` batches sent by concurrent clients.
//!
//! Each identity belongs to one worker, and a worker sends its identities' events step by step
//! (every identity's first event, then every second one, ...), so an identity's events arrive in
//! order and a reply usually arrives after the post it answers.

use std::time::{Duration, Instant};

use agora_protocol::wire;
use hdrhistogram::Histogram;
use prost::Message as _;
use serde::Serialize;

use crate::http::{self, Outcome};

/// The header in which Agora counts the events of a 2xx batch that it refused.
const REJECTED_HEADER: &str = "x-agora-rejected";

/// One `POST /events` body and how many events it holds.
#[derive(Debug)]
pub struct Batch {
    pub body: Vec<u8>,
    pub events: usize,
}

/// What the ingest phase measured.
#[derive(Debug, Default, Serialize)]
pub struct IngestReport {
    pub batches: usize,
    pub events_sent: usize,
    /// Events in 2xx batches, minus those the server said it refused (`x-agora-rejected`).
    pub events_accepted: usize,
    /// Events refused inside 2xx batches.
    pub events_rejected: usize,
    pub non_2xx: usize,
    /// Connection errors and timeouts.
    pub transport_errors: usize,
    /// Batches not sent because the phase reached `--ingest-max-secs`.
    pub batches_unsent: usize,
    pub seconds: f64,
    pub events_per_second: f64,
    pub batch_latency: http::LatencySummary,
    pub first_error: Option<String>,
    pub first_rejection: Option<String>,
}

/// Splits the signed events among `workers` and encodes the batches each one sends.
pub fn batches(
    per_identity: Vec<Vec<wire::SignedEvent>>,
    workers: usize,
    batch_events: usize,
) -> Vec<Vec<Batch>> {
    let workers = workers.clamp(1, per_identity.len().max(1));
    let mut owned: Vec<Vec<std::vec::IntoIter<wire::SignedEvent>>> =
        (0..workers).map(|_| Vec::new()).collect();
    for (identity, events) in per_identity.into_iter().enumerate() {
        owned[identity % workers].push(events.into_iter());
    }
    owned
        .into_iter()
        .map(|streams| encode(interleave(streams), batch_events))
        .collect()
}

/// Takes one event of each stream in turn until all are empty.
fn interleave(mut streams: Vec<std::vec::IntoIter<wire::SignedEvent>>) -> Vec<wire::SignedEvent> {
    let mut out = Vec::with_capacity(streams.iter().map(ExactSizeIterator::len).sum());
    loop {
        let before = out.len();
        out.extend(streams.iter_mut().filter_map(Iterator::next));
        if out.len() == before {
            return out;
        }
    }
}

fn encode(events: Vec<wire::SignedEvent>, batch_events: usize) -> Vec<Batch> {
    events
        .chunks(batch_events.max(1))
        .map(|chunk| Batch {
            body: wire::Events {
                events: chunk.to_vec(),
            }
            .encode_to_vec(),
            events: chunk.len(),
        })
        .collect()
}

/// Sends every worker's batches concurrently and waits for all of them.
pub async fn run(
    clients: &[reqwest::Client],
    server: &str,
    workers: Vec<Vec<Batch>>,
    max_duration: Duration,
) -> anyhow::Result<IngestReport> {
    let url = format!("{server}/events");
    let started = Instant::now();
    let deadline = started + max_duration;
    let tasks: Vec<_> = workers
        .into_iter()
        .zip(clients.iter().cycle())
        .map(|(batches, client)| {
            tokio::spawn(worker(client.clone(), url.clone(), batches, deadline))
        })
        .collect();
    let mut report = IngestReport::default();
    let mut histogram = http::histogram();
    for task in tasks {
        let done = task.await?;
        merge(&mut report, &mut histogram, done)?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    report.events_per_second = report.events_accepted as f64 / report.seconds.max(1e-9);
    report.batch_latency = http::LatencySummary::of(&histogram);
    Ok(report)
}

/// One worker's tally.
struct WorkerTally {
    report: IngestReport,
    histogram: Histogram<u64>,
}

async fn worker(
    client: reqwest::Client,
    url: String,
    batches: Vec<Batch>,
    deadline: Instant,
) -> WorkerTally {
    let mut tally = WorkerTally {
        report: IngestReport::default(),
        histogram: http::histogram(),
    };
    let total = batches.len();
    for (index, batch) in batches.into_iter().enumerate() {
        if Instant::now() >= deadline {
            tally.report.batches_unsent = total - index;
            break;
        }
        send(&client, &url, batch, &mut tally).await;
    }
    tally
}

async fn send(client: &reqwest::Client, url: &str, batch: Batch, tally: &mut WorkerTally) {
    let report = &mut tally.report;
    report.batches += 1;
    report.events_sent += batch.events;
    let request = client
        .post(url)
        .header("content-type", "application/octet-stream")
        .body(batch.body);
    let (outcome, elapsed) = http::exchange(request).await;
    http::record(&mut tally.histogram, elapsed);
    match outcome {
        Outcome::Transport(error) => {
            report.transport_errors += 1;
            report.first_error.get_or_insert(error);
        }
        Outcome::Status { status, body, .. } if !status.is_success() => {
            report.non_2xx += 1;
            report
                .first_error
                .get_or_insert_with(|| http::describe(status, &body));
        }
        Outcome::Status { headers, body, .. } => {
            let rejected = headers
                .get(REJECTED_HEADER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.parse::<usize>().ok())
                .unwrap_or(0)
                .min(batch.events);
            report.events_accepted += batch.events - rejected;
            report.events_rejected += rejected;
            if rejected > 0 {
                report
                    .first_rejection
                    .get_or_insert_with(|| http::truncate(&String::from_utf8_lossy(&body)));
            }
        }
    }
}

fn merge(
    total: &mut IngestReport,
    histogram: &mut Histogram<u64>,
    done: WorkerTally,
) -> anyhow::Result<()> {
    let part = done.report;
    total.batches += part.batches;
    total.events_sent += part.events_sent;
    total.events_accepted += part.events_accepted;
    total.events_rejected += part.events_rejected;
    total.non_2xx += part.non_2xx;
    total.transport_errors += part.transport_errors;
    total.batches_unsent += part.batches_unsent;
    if total.first_error.is_none() {
        total.first_error = part.first_error;
    }
    if total.first_rejection.is_none() {
        total.first_rejection = part.first_rejection;
    }
    histogram.add(&done.histogram)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(identity: u8, clock: u8) -> wire::SignedEvent {
        wire::SignedEvent {
            signature: vec![identity].into(),
            event: vec![clock].into(),
            moderation_tags: Vec::new(),
        }
    }

    #[test]
    fn each_identity_stays_on_one_worker_in_order() {
        let per_identity: Vec<Vec<wire::SignedEvent>> = (0..5u8)
            .map(|identity| (1..=3u8).map(|clock| event(identity, clock)).collect())
            .collect();
        let workers = batches(per_identity, 2, 4);
        assert_eq!(workers.len(), 2);
        let mut seen: Vec<Vec<(u8, u8)>> = Vec::new();
        for batches in &workers {
            let mut sent = Vec::new();
            for batch in batches {
                assert!(batch.events <= 4);
                let decoded = wire::Events::decode(batch.body.as_slice()).expect("decodes");
                assert_eq!(decoded.events.len(), batch.events);
                sent.extend(decoded.events.iter().map(|e| (e.signature[0], e.event[0])));
            }
            seen.push(sent);
        }
        // Worker 0 owns identities 0, 2 and 4, step by step.
        assert_eq!(
            seen[0],
            vec![
                (0, 1),
                (2, 1),
                (4, 1),
                (0, 2),
                (2, 2),
                (4, 2),
                (0, 3),
                (2, 3),
                (4, 3)
            ]
        );
        assert_eq!(seen[1].len(), 6);
    }
}
