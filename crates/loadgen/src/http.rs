//! One timed HTTP exchange and the latency figures built from many of them.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Serialize;

/// Latencies are recorded in microseconds, up to this (one minute); longer ones are clamped.
const LATENCY_MICROSECONDS_MAX: u64 = 60_000_000;
/// Error bodies are cut to this many characters in reports.
const ERROR_BODY_CHARS_MAX: usize = 300;
/// Sent on every request, as official clients send theirs.
const USER_AGENT: &str = concat!("agora-loadgen/", env!("CARGO_PKG_VERSION"));

/// How a request ended.
#[derive(Debug)]
pub enum Outcome {
    Status {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    /// No complete response: connection refused, reset, or timed out.
    Transport(String),
}

/// A client for one simulated user: its own connection, bounded by `timeout` per request.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    client_builder(timeout).build()
}

/// The settings of [`client`], for a client that needs more of them.
pub fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .tcp_nodelay(true)
        .pool_max_idle_per_host(4)
        .default_headers(default_headers())
}

fn default_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-polycentric-user-agent",
        reqwest::header::HeaderValue::from_static(USER_AGENT),
    );
    headers
}

/// Sends the request and reads the whole body; the time covers both.
pub async fn exchange(request: reqwest::RequestBuilder) -> (Outcome, Duration) {
    let started = Instant::now();
    let outcome = match request.send().await {
        Ok(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            match response.bytes().await {
                Ok(body) => Outcome::Status {
                    status,
                    headers,
                    body,
                },
                Err(error) => Outcome::Transport(format!("reading the body: {error}")),
            }
        }
        Err(error) => Outcome::Transport(error_chain(&error)),
    };
    (outcome, started.elapsed())
}

/// The error with its causes, since reqwest's own message is often just "error sending request".
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MICROSECONDS_MAX, 3)
        .unwrap_or_else(|_| unreachable!("constant bounds are valid"))
}

pub fn record(histogram: &mut Histogram<u64>, elapsed: Duration) {
    let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    histogram.saturating_record(micros.clamp(1, LATENCY_MICROSECONDS_MAX));
}

/// `"<status>: <body>"`, the body cut short.
pub fn describe(status: StatusCode, body: &[u8]) -> String {
    truncate(&format!("{status}: {}", String::from_utf8_lossy(body)))
}

pub fn truncate(text: &str) -> String {
    let text = text.trim_end();
    match text.char_indices().nth(ERROR_BODY_CHARS_MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct LatencySummary {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LatencySummary {
    pub fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        let ms = |micros: u64| micros as f64 / 1_000.0;
        Self {
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            max_ms: ms(histogram.max()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary() {
        let long = "é".repeat(1_000);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), ERROR_BODY_CHARS_MAX + 1);
        assert_eq!(truncate("short\n"), "short");
    }

    #[test]
    fn summaries_are_in_milliseconds() {
        let mut histogram = histogram();
        for micros in [1_000, 2_000, 3_000] {
            record(&mut histogram, Duration::from_micros(micros));
        }
        let summary = LatencySummary::of(&histogram);
        assert!((summary.p50_ms - 2.0).abs() < 0.01, "{summary:?}");
        assert!((summary.max_ms - 3.0).abs() < 0.01, "{summary:?}");
    }
}
